//! The signed-in account as every query sees it, and the region scope derived from it.
//!
//! Scope is data, not policy: `policies/` says whether a role may list schools at all; the
//! scope says which rows. Every list and every read by id applies it in SQL, and a row outside
//! it reads as absent (404), never as forbidden.

use serde::{Deserialize, Serialize};
use xiaobao_audit::Actor;
use xiaobao_domain::Role;

/// The account behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub account_id: i64,
    pub org_id: i64,
    /// The organisation's kind (`school`, `department`, …).
    pub org_kind: String,
    pub roles: Vec<Role>,
    pub region_code: String,
    /// The organisation's region path (`410000.410100.410105`).
    pub region_path: String,
    pub company_id: Option<i64>,
    /// Shown in the header ("欢迎您，金水区教育局").
    pub display_name: String,
}

/// Which schools a viewer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchoolScope {
    /// Every school whose region path starts with this prefix.
    Region { path_prefix: String },
    /// A central school: itself and the schools assigned to it.
    Central { org_id: i64 },
    /// A school: itself only.
    Own { org_id: i64 },
    /// Nothing.
    None,
}

impl SchoolScope {
    /// The SQL condition on an `organisations` row aliased `o`, with its one parameter at
    /// `$n` (bind [`SchoolScope::param`] there).
    pub fn condition(&self, n: usize) -> String {
        match self {
            SchoolScope::Region { .. } => format!("o.region_path like ${n} || '%'"),
            SchoolScope::Central { .. } => {
                format!("(o.org_id = ${n} or o.central_school_id = ${n})")
            }
            SchoolScope::Own { .. } => format!("o.org_id = ${n}"),
            SchoolScope::None => format!("(false and ${n} is null)"),
        }
    }

    /// The value bound to the condition's parameter.
    pub fn param(&self) -> ScopeParam {
        match self {
            SchoolScope::Region { path_prefix } => ScopeParam::Text(path_prefix.clone()),
            SchoolScope::Central { org_id } | SchoolScope::Own { org_id } => {
                ScopeParam::Id(*org_id)
            }
            SchoolScope::None => ScopeParam::Text(String::new()),
        }
    }
}

/// A scope's bind value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeParam {
    Text(String),
    Id(i64),
}

impl Viewer {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The role that picks the navigation: the most specific one held.
    pub fn primary_role(&self) -> Option<Role> {
        const ORDER: [Role; 9] = [
            Role::ProgrammeAuthority,
            Role::CityDepartment,
            Role::CountyDepartment,
            Role::CentralSchool,
            Role::School,
            Role::InsurerProvince,
            Role::InsurerCity,
            Role::InsurerCounty,
            Role::Broker,
        ];
        ORDER.into_iter().find(|r| self.has(*r))
    }

    /// The schools this viewer may see.
    pub fn school_scope(&self) -> SchoolScope {
        if self.has(Role::ProgrammeAuthority)
            || self.has(Role::CityDepartment)
            || self.has(Role::CountyDepartment)
            || self.has(Role::Broker)
        {
            SchoolScope::Region {
                path_prefix: self.region_path.clone(),
            }
        } else if self.has(Role::CentralSchool) {
            SchoolScope::Central {
                org_id: self.org_id,
            }
        } else if self.has(Role::School) {
            SchoolScope::Own {
                org_id: self.org_id,
            }
        } else {
            // Insurer branches see schools through the enrolments that chose their company.
            SchoolScope::None
        }
    }

    /// The audit actor of a request by this viewer.
    pub fn actor(&self, ip: Option<String>, user_agent: Option<String>) -> Actor {
        Actor {
            account_id: Some(self.account_id),
            org_id: Some(self.org_id),
            on_behalf_of_org_id: None,
            label: format!("account:{} {}", self.account_id, self.display_name),
            ip,
            user_agent,
        }
    }
}
