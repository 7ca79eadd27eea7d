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
    /// The parameters of the scope's one static SQL condition (see [`SchoolScopeArgs`]).
    pub fn args(&self) -> SchoolScopeArgs {
        match self {
            SchoolScope::Region { path_prefix } => SchoolScopeArgs {
                region_prefix: Some(path_prefix.clone()),
                ..SchoolScopeArgs::default()
            },
            SchoolScope::Central { org_id } => SchoolScopeArgs {
                org_id: Some(*org_id),
                central_school_id: Some(*org_id),
                ..SchoolScopeArgs::default()
            },
            SchoolScope::Own { org_id } => SchoolScopeArgs {
                org_id: Some(*org_id),
                ..SchoolScopeArgs::default()
            },
            SchoolScope::None => SchoolScopeArgs::default(),
        }
    }
}

/// A [`SchoolScope`] as the parameters of one static SQL condition on an `organisations` row
/// aliased `o`, with the parameters in this order at `$a`, `$b`, `$c`:
///
/// ```sql
/// (o.region_path like $a || '%' or o.org_id = $b or o.central_school_id = $c)
/// ```
///
/// A parameter that is `null` makes its comparison `null`, so only the scope's own arm can hold:
/// a region scope sets only `region_prefix`, a central school `org_id` and `central_school_id`
/// (both its own id), a school `org_id`, and [`SchoolScope::None`] nothing, which matches no row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchoolScopeArgs {
    pub region_prefix: Option<String>,
    pub org_id: Option<i64>,
    pub central_school_id: Option<i64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_sets_only_its_own_parameters() {
        let region = SchoolScope::Region {
            path_prefix: "410000.410100".into(),
        };
        assert_eq!(
            region.args(),
            SchoolScopeArgs {
                region_prefix: Some("410000.410100".into()),
                org_id: None,
                central_school_id: None,
            }
        );
        assert_eq!(
            SchoolScope::Central { org_id: 7 }.args(),
            SchoolScopeArgs {
                region_prefix: None,
                org_id: Some(7),
                central_school_id: Some(7),
            }
        );
        assert_eq!(
            SchoolScope::Own { org_id: 9 }.args(),
            SchoolScopeArgs {
                region_prefix: None,
                org_id: Some(9),
                central_school_id: None,
            }
        );
        assert_eq!(SchoolScope::None.args(), SchoolScopeArgs::default());
    }
}
