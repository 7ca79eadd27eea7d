//! Who may do what: casbin RBAC with domains over the reviewed files in `policies/`.
//!
//! The model (`policies/model.conf`) and the role → permission policy (`policies/policy.csv`)
//! are compiled into the binary, so the running service enforces exactly the reviewed files.
//! Loading checks every policy line against the roles of [`Role`] and the permissions of
//! [`Permission::ALL`]: a typo fails at start, not as a silent deny.
//!
//! Requests are decided by [`Authz::allows`], which looks the roles of the signed-in account
//! (read from `account_roles` at sign-in) up in a table computed from the casbin enforcer when
//! the policy is loaded — casbin stays the source of truth; the table only saves evaluating the
//! matcher on every request. [`Authz::enforcer`] gives the enforcer itself (benchmarks, tools).
//!
//! What this decides is the *kind* of access (may a county department list schools at all);
//! *which* rows are visible is region scope, applied in SQL by every query.

use std::collections::HashSet;

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use xiaobao_domain::Role;

/// The model file, as reviewed.
pub const MODEL: &str = include_str!("../../../policies/model.conf");
/// The role → permission policy, as reviewed.
pub const POLICY: &str = include_str!("../../../policies/policy.csv");

/// A resource and an action on it, as named in `policies/policy.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
}

macro_rules! permissions {
    ($($name:ident = ($res:literal, $act:literal), $doc:literal;)*) => {
        impl Permission {
            $(#[doc = $doc] pub const $name: Permission = Permission { resource: $res, action: $act };)*
            /// Every permission the service checks.
            pub const ALL: &'static [Permission] = &[$(Permission::$name),*];
        }
    };
}

permissions! {
    ACCOUNT_READ = ("account", "read"), "One's own account page.";
    ACCOUNT_CHANGE_PASSWORD = ("account", "change_password"), "Changing one's own password.";
    ACCOUNT_TWO_FACTOR = ("account", "two_factor"), "Turning one's own two-factor sign-in (TOTP) on or off.";
    SCHOOL_PROFILE_READ = ("school_profile", "read"), "A school's own record.";
    SCHOOL_PROFILE_REQUEST_CHANGE = ("school_profile", "request_change"), "A school asking for a new name or region, or deregistration.";
    SCHOOL_PROFILE_EDIT = ("school_profile", "edit"), "A school changing its own basic information, and its contact mobile with an SMS code.";
    SCHOOLS_LIST = ("schools", "list"), "Listing the schools in one's scope.";
    SCHOOLS_READ = ("schools", "read"), "Reading one school in one's scope.";
    SCHOOLS_MANAGE = ("schools", "manage"), "Changing a school's contact mobile, resetting its password.";
    REGISTRATIONS_DECIDE = ("registrations", "decide"), "Approving or refusing school registrations.";
    CHANGE_REQUESTS_DECIDE = ("change_requests", "decide"), "Deciding schools' change requests.";
    CENTRAL_SCHOOLS_MANAGE = ("central_schools", "manage"), "Marking central schools and assigning schools to them.";
    ASSIGNED_SCHOOLS_LIST = ("assigned_schools", "list"), "A central school listing the schools assigned to it (所辖学校).";
    ASSIGNED_SCHOOLS_REGISTER = ("assigned_schools", "register"), "A central school registering a school of its county on its behalf (增加所辖学校).";
    ASSIGNED_SCHOOLS_MANAGE = ("assigned_schools", "manage"), "A central school changing the contact mobile of a school assigned to it.";
    BRANCH_ACCOUNTS_LIST = ("branch_accounts", "list"), "Listing the insurer branch accounts below one's branch.";
    BRANCH_ACCOUNTS_CREATE = ("branch_accounts", "create"), "Opening insurer branch accounts below one's branch.";
    ONBOARDING_IMPORT_DEPARTMENTS = ("onboarding", "import_departments"), "Importing education departments from a spreadsheet.";
    ONBOARDING_IMPORT_SCHOOLS = ("onboarding", "import_schools"), "Importing schools from a spreadsheet.";
    AUDIT_LOG_READ = ("audit_log", "read"), "Searching the audit trail.";
    NOTIFICATIONS_READ = ("notifications", "read"), "Seeing notification delivery attempts.";
    JOBS_READ = ("jobs", "read"), "Seeing background jobs, dead ones included.";
    JOBS_RETRY = ("jobs", "retry"), "Putting dead jobs back in the queue.";
    ENROLMENT_YEARS_MANAGE = ("enrolment_years", "manage"), "Opening an academic year for enrolment.";
    ENROLMENT_READ = ("enrolment", "read"), "A school's enrolment page (its own, or a school in one's scope).";
    ENROLMENT_EDIT = ("enrolment", "edit"), "Entering headcount and insurer, uploading rosters, submitting, requesting changes — for one's own school or on a school's behalf.";
    ENROLMENT_PROGRESS = ("enrolment", "progress"), "Enrolment progress and premium totals of one's region.";
    ENROLMENT_REOPEN = ("enrolment", "reopen"), "Letting a school submit after the deadline.";
    ENROLMENT_REQUESTS_DECIDE = ("enrolment_requests", "decide"), "Reviewing modification and second-insurer requests.";
    ROSTER_CONFLICTS_RESOLVE = ("roster_conflicts", "resolve"), "Seeing and resolving ID numbers that two schools of one's region insure under different names.";
    UNDERWRITING_LIST = ("underwriting", "list"), "An insurer branch's enrolments, endorsements and region archives.";
    UNDERWRITING_RECEIVE = ("underwriting", "receive"), "Marking enrolments received and endorsements issued.";
    ROSTERS_DOWNLOAD = ("rosters", "download"), "Downloading an accepted roster (ID numbers masked).";
    RULES_READ = ("programme_rules", "read"), "The programme's rules: versions, their differences, proposals.";
    RULES_PROPOSE = ("programme_rules", "propose"), "Proposing a change of the rules, withdrawing one's own proposal.";
    RULES_DECIDE = ("programme_rules", "decide"), "Approving or refusing another account's proposal (maker-checker).";
    ROSTERS_UNMASKED = ("rosters", "unmasked"), "Seeing roster ID numbers in full (underwriting); every such view is audited.";
    PLATFORM_ACCOUNT = ("platform_account", "manage"), "A platform operator's own password and two-factor sign-in.";
    PLATFORM_TENANTS = ("platform_tenants", "manage"), "Listing, opening and archiving programmes (tenants).";
    PLATFORM_CLUSTERS = ("platform_clusters", "read"), "The database clusters and their health.";
    PLATFORM_CALENDARS = ("platform_calendars", "manage"), "Previewing and importing national holiday calendars.";
    PLATFORM_AUDIT = ("platform_audit", "read"), "The platform operators' audit trail.";
    PLATFORM_COMPANIES = ("platform_companies", "manage"), "Listing and creating insurance and broker companies, editing their short names.";
    PLATFORM_LOGINS = ("platform_logins", "manage"), "Platform logins of brokers and insurer head offices: creating, resetting passwords, disabling, granting in programmes.";
}

impl Permission {
    pub fn find(resource: &str, action: &str) -> Option<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.resource == resource && p.action == action)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error("policy line {line}: {message}")]
    Policy { line: usize, message: String },
    #[error(transparent)]
    Casbin(#[from] casbin::Error),
}

/// The loaded policy.
pub struct Authz {
    enforcer: Enforcer,
    table: HashSet<(Role, Permission)>,
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authz")
            .field("grants", &self.table.len())
            .finish()
    }
}

/// Parses policy text into `p` rules, checking roles and permissions.
pub fn parse_policy(text: &str) -> Result<Vec<(Role, Permission)>, AuthzError> {
    let mut rules = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |message: String| AuthzError::Policy {
            line: i + 1,
            message,
        };
        if fields.len() != 5 || fields[0] != "p" {
            return Err(bad(format!(
                "expected `p, role, domain, resource, action`: {line}"
            )));
        }
        let role =
            Role::parse(fields[1]).ok_or_else(|| bad(format!("unknown role {}", fields[1])))?;
        if fields[2] != "*" {
            return Err(bad(
                "the policy applies to every tenant: domain must be *".into()
            ));
        }
        let permission = Permission::find(fields[3], fields[4])
            .ok_or_else(|| bad(format!("unknown permission {}:{}", fields[3], fields[4])))?;
        if rules.contains(&(role, permission)) {
            return Err(bad(format!(
                "duplicate rule {} {permission}",
                role.as_str()
            )));
        }
        rules.push((role, permission));
    }
    Ok(rules)
}

impl Authz {
    /// The reviewed policy of `policies/`.
    pub async fn load() -> Result<Self, AuthzError> {
        Self::from_text(MODEL, POLICY).await
    }

    /// A policy from text (tests of the loader).
    pub async fn from_text(model: &str, policy: &str) -> Result<Self, AuthzError> {
        let rules = parse_policy(policy)?;
        let model = DefaultModel::from_str(model).await?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
        enforcer.enable_auto_save(false);
        let lines: Vec<Vec<String>> = rules
            .iter()
            .map(|(role, p)| {
                vec![
                    role.as_str().to_string(),
                    "*".to_string(),
                    p.resource.to_string(),
                    p.action.to_string(),
                ]
            })
            .collect();
        if !lines.is_empty() {
            enforcer.add_policies(lines).await?;
        }
        // The decision table: casbin decides every role × permission once.
        let mut table = HashSet::new();
        for role in Role::ALL {
            for p in Permission::ALL {
                if enforcer.enforce((role.as_str(), "_", p.resource, p.action))? {
                    table.insert((role, *p));
                }
            }
        }
        Ok(Self { enforcer, table })
    }

    /// Whether any of `roles` holds `permission`.
    pub fn allows(&self, roles: &[Role], permission: Permission) -> bool {
        roles.iter().any(|r| self.table.contains(&(*r, permission)))
    }

    /// The roles holding `permission`, in [`Role::ALL`] order.
    pub fn roles_with(&self, permission: Permission) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.table.contains(&(*r, permission)))
            .collect()
    }

    /// The casbin enforcer with the policy loaded (account assignments may be added to it).
    pub fn enforcer(&self) -> &Enforcer {
        &self.enforcer
    }

    /// Mutable access to the enforcer, for loading `g` assignments (benchmarks, tools).
    pub fn enforcer_mut(&mut self) -> &mut Enforcer {
        &mut self.enforcer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_reviewed_policy_loads_and_decides() {
        let authz = Authz::load().await.expect("policy");
        assert!(authz.allows(&[Role::CountyDepartment], Permission::SCHOOLS_LIST));
        assert!(!authz.allows(&[Role::School], Permission::SCHOOLS_LIST));
        assert!(authz.allows(
            &[Role::School, Role::CentralSchool],
            Permission::SCHOOLS_LIST
        ));
        assert!(authz.allows(&[Role::InsurerCity], Permission::BRANCH_ACCOUNTS_CREATE));
        assert!(!authz.allows(&[Role::InsurerCounty], Permission::BRANCH_ACCOUNTS_CREATE));
        assert!(!authz.allows(&[], Permission::ACCOUNT_READ));
        // Every role of a programme reaches its own account page.
        for role in Role::ALL
            .into_iter()
            .filter(|r| *r != Role::PlatformOperator)
        {
            assert!(authz.allows(&[role], Permission::ACCOUNT_READ), "{role:?}");
        }
    }

    #[tokio::test]
    async fn accounts_get_their_roles_in_their_tenant_only() {
        let mut authz = Authz::load().await.expect("policy");
        authz
            .enforcer_mut()
            .add_grouping_policy(vec![
                "account:7".into(),
                "county_department".into(),
                "henan".into(),
            ])
            .await
            .expect("assignment");
        let e = authz.enforcer();
        assert!(
            e.enforce(("account:7", "henan", "schools", "list"))
                .expect("enforce")
        );
        assert!(
            !e.enforce(("account:7", "shanghai", "schools", "list"))
                .expect("enforce")
        );
        assert!(
            !e.enforce(("account:7", "henan", "audit_log", "read"))
                .expect("enforce")
        );
    }

    #[tokio::test]
    async fn mistakes_in_the_policy_are_refused_with_their_line() {
        for (text, needle) in [
            ("p, admin, *, schools, list", "unknown role"),
            ("\np, school, *, schools, delete", "unknown permission"),
            ("p, school, henan, account, read", "domain must be *"),
            (
                "p, school, *, account, read\np, school, *, account, read",
                "duplicate",
            ),
            ("g, a, b", "expected"),
        ] {
            let err = Authz::from_text(MODEL, text).await.expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
