//! The navigation (操作导航) of each role, after the screens of the system we replace (seed 001).
//!
//! A menu entry whose page does not exist yet is shown disabled and marked "即将开放", never as
//! a link that would answer 404. When an issue adds a page it gives its [`Section`] a path.

use xiaobao_domain::Role;

/// A place in a programme's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// 系统首页
    Home,
    /// 登录 (anonymous visitors)
    Login,
    /// 投保数据: a school's (or a broker's) enrolment per product.
    Enrolment,
    /// 承保数据: an insurer's rosters to download and policies to upload.
    Underwriting,
    /// 投保进度: a department's (or the authority's) schools submitted vs not.
    EnrolmentProgress,
    /// 修改审核: modification and second-insurer requests to review.
    EnrolmentRequests,
    /// 花名册冲突: ID numbers two schools of the region insure under different names.
    RosterConflicts,
    /// 学年管理: the authority opens academic years.
    EnrolmentYears,
    /// 保费统计: premium totals by county, city, insurer and programme.
    Premiums,
    /// 学校数据: schools of the region, their progress and contacts.
    Schools,
    /// 中心校管理: marking central schools and assigning schools to them.
    CentralSchools,
    /// 所辖学校: a central school's schools.
    AssignedSchools,
    /// 数据提交: a department's annual statistics table.
    StatisticsSubmission,
    /// 数据统计
    Statistics,
    /// 未决案件
    PendingClaims,
    /// 理赔案件
    SettledClaims,
    /// 分支账号管理 (province branch)
    BranchAccounts,
    /// 县区账号管理 (city branch)
    CountyAccounts,
    /// 项目规则: the programme's products, rates and deadlines.
    ProgrammeRules,
    /// 注册审核: a department reviews schools' self-registrations.
    Registrations,
    /// 学校信息: a school's own record and its change requests.
    SchoolProfile,
    /// 导入学校: bulk onboarding of schools from a spreadsheet.
    Onboarding,
    /// 导入教育部门: bulk onboarding of education departments (the authority).
    OnboardingDepartments,
    /// 审计日志: the authority searches the audit trail.
    AuditLog,
    /// 消息发送记录: notifications and their delivery attempts.
    NotificationLog,
    /// 后台任务: background jobs, dead ones to retry.
    Jobs,
    /// 项目管理: the platform's tenants.
    Programmes,
    /// 账户信息
    Account,
}

impl Section {
    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Section::Home => "系统首页",
            Section::Login => "登录",
            Section::Enrolment => "投保数据",
            Section::Underwriting => "承保数据",
            Section::EnrolmentProgress => "投保进度",
            Section::EnrolmentRequests => "修改审核",
            Section::RosterConflicts => "花名册冲突",
            Section::EnrolmentYears => "学年管理",
            Section::Premiums => "保费统计",
            Section::Schools => "学校数据",
            Section::CentralSchools => "中心校管理",
            Section::AssignedSchools => "所辖学校",
            Section::StatisticsSubmission => "数据提交",
            Section::Statistics => "数据统计",
            Section::PendingClaims => "未决案件",
            Section::SettledClaims => "理赔案件",
            Section::BranchAccounts => "分支账号管理",
            Section::CountyAccounts => "县区账号管理",
            Section::ProgrammeRules => "项目规则",
            Section::Registrations => "注册审核",
            Section::SchoolProfile => "学校信息",
            Section::Onboarding => "导入学校",
            Section::OnboardingDepartments => "导入教育部门",
            Section::AuditLog => "审计日志",
            Section::NotificationLog => "消息发送记录",
            Section::Jobs => "后台任务",
            Section::Programmes => "项目管理",
            Section::Account => "账户信息",
        }
    }

    /// The page's path below the tenant base (`/t/{slug}/` or `/` on a tenant host), or
    /// `None` while the page does not exist.
    pub fn path(self) -> Option<&'static str> {
        match self {
            Section::Home => Some(""),
            Section::Login => Some("login"),
            Section::Account => Some("account"),
            Section::Registrations => Some("registrations"),
            Section::SchoolProfile => Some("school"),
            Section::Onboarding => Some("onboarding/schools"),
            Section::OnboardingDepartments => Some("onboarding/departments"),
            Section::BranchAccounts | Section::CountyAccounts => Some("branches"),
            Section::AuditLog => Some("admin/audit"),
            Section::NotificationLog => Some("admin/notifications"),
            Section::Jobs => Some("admin/jobs"),
            Section::Schools => Some("schools"),
            Section::CentralSchools => Some("central-schools"),
            Section::AssignedSchools => Some("assigned-schools"),
            Section::Enrolment => Some("enrolment"),
            Section::Underwriting => Some("underwriting"),
            Section::EnrolmentProgress => Some("enrolment/progress"),
            Section::EnrolmentRequests => Some("enrolment/requests"),
            Section::RosterConflicts => Some("enrolment/conflicts"),
            Section::EnrolmentYears => Some("enrolment/years"),
            Section::Premiums => Some("enrolment/premiums"),
            Section::ProgrammeRules => Some("rules"),
            _ => None,
        }
    }
}

/// The menu of a role; `None` is an anonymous visitor.
pub fn sections(role: Option<Role>) -> &'static [Section] {
    use Section::*;
    match role {
        None => &[Home, Login],
        Some(Role::School) => &[Home, Enrolment, SchoolProfile, Account],
        Some(Role::CentralSchool) => &[Home, Enrolment, SchoolProfile, AssignedSchools, Account],
        Some(Role::CityDepartment | Role::CountyDepartment) => &[
            Home,
            Schools,
            EnrolmentProgress,
            EnrolmentRequests,
            RosterConflicts,
            Premiums,
            Registrations,
            CentralSchools,
            Onboarding,
            StatisticsSubmission,
            Statistics,
            PendingClaims,
            SettledClaims,
            Account,
        ],
        Some(Role::ProgrammeAuthority) => &[
            Home,
            Schools,
            EnrolmentYears,
            EnrolmentProgress,
            RosterConflicts,
            Premiums,
            Statistics,
            PendingClaims,
            SettledClaims,
            ProgrammeRules,
            OnboardingDepartments,
            Onboarding,
            AuditLog,
            NotificationLog,
            Jobs,
            Account,
        ],
        Some(Role::InsurerProvince) => &[
            Home,
            Underwriting,
            EnrolmentRequests,
            PendingClaims,
            SettledClaims,
            BranchAccounts,
            Account,
        ],
        Some(Role::InsurerCity) => &[
            Home,
            Underwriting,
            EnrolmentRequests,
            PendingClaims,
            SettledClaims,
            CountyAccounts,
            Account,
        ],
        Some(Role::InsurerCounty) => &[
            Home,
            Underwriting,
            EnrolmentRequests,
            PendingClaims,
            SettledClaims,
            Account,
        ],
        Some(Role::Broker) => &[
            Home,
            Schools,
            Enrolment,
            PendingClaims,
            SettledClaims,
            Statistics,
            Account,
        ],
        Some(Role::PlatformOperator) => &[Home, Programmes, Account],
    }
}

/// One entry of a rendered menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    pub label: &'static str,
    /// The link; `None` renders a disabled "即将开放" entry.
    pub href: Option<String>,
    /// The page being shown.
    pub current: bool,
}

/// The menu of a role below a tenant base (`/t/henan/` or `/`), `current` highlighted.
pub fn menu(role: Option<Role>, base: &str, current: Option<Section>) -> Vec<NavItem> {
    sections(role)
        .iter()
        .map(|s| NavItem {
            label: s.label(),
            href: s.path().map(|p| format!("{base}{p}")),
            current: Some(*s) == current,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(role: Option<Role>) -> Vec<&'static str> {
        sections(role).iter().map(|s| s.label()).collect()
    }

    #[test]
    fn menus_follow_the_screens_of_the_old_system() {
        assert_eq!(labels(None), ["系统首页", "登录"]);
        assert_eq!(
            labels(Some(Role::School)),
            ["系统首页", "投保数据", "学校信息", "账户信息"]
        );
        assert_eq!(
            labels(Some(Role::CountyDepartment)),
            [
                "系统首页",
                "学校数据",
                "投保进度",
                "修改审核",
                "花名册冲突",
                "保费统计",
                "注册审核",
                "中心校管理",
                "导入学校",
                "数据提交",
                "数据统计",
                "未决案件",
                "理赔案件",
                "账户信息"
            ]
        );
        assert!(labels(Some(Role::CentralSchool)).contains(&"所辖学校"));
        assert!(labels(Some(Role::InsurerProvince)).contains(&"分支账号管理"));
        assert!(labels(Some(Role::InsurerCity)).contains(&"县区账号管理"));
        let county = labels(Some(Role::InsurerCounty));
        assert!(!county.contains(&"分支账号管理") && !county.contains(&"县区账号管理"));
        let authority = labels(Some(Role::ProgrammeAuthority));
        assert_eq!(
            authority[authority.len() - 4..],
            ["审计日志", "消息发送记录", "后台任务", "账户信息"]
        );
        for role in [Role::CityDepartment, Role::School, Role::InsurerProvince] {
            assert!(!labels(Some(role)).contains(&"审计日志"), "{role}");
        }
    }

    #[test]
    fn every_role_starts_at_home_and_ends_with_its_account() {
        for role in Role::ALL {
            let s = sections(Some(role));
            assert_eq!(s.first(), Some(&Section::Home), "{role}");
            assert_eq!(s.last(), Some(&Section::Account), "{role}");
        }
    }

    #[test]
    fn pages_that_do_not_exist_yet_are_not_links() {
        let items = menu(Some(Role::CityDepartment), "/t/henan/", Some(Section::Home));
        assert_eq!(items[0].href.as_deref(), Some("/t/henan/"));
        assert!(items[0].current);
        assert!(items[1..].iter().all(|i| !i.current));
        for (section, item) in sections(Some(Role::CityDepartment)).iter().zip(&items) {
            assert_eq!(item.href.is_some(), section.path().is_some(), "{section:?}");
        }
        let pending = items.iter().find(|i| i.label == "未决案件");
        assert_eq!(pending.and_then(|i| i.href.as_deref()), None);
        let anonymous = menu(None, "/", Some(Section::Login));
        assert_eq!(anonymous[1].href.as_deref(), Some("/login"));
        assert!(anonymous[1].current);
    }

    #[test]
    fn branch_and_administration_pages_are_links() {
        let href = |role, label| {
            menu(Some(role), "/t/henan/", None)
                .into_iter()
                .find(|i| i.label == label)
                .and_then(|i| i.href)
        };
        assert_eq!(
            href(Role::InsurerProvince, "分支账号管理").as_deref(),
            Some("/t/henan/branches")
        );
        assert_eq!(
            href(Role::InsurerCity, "县区账号管理").as_deref(),
            Some("/t/henan/branches")
        );
        assert_eq!(
            href(Role::ProgrammeAuthority, "审计日志").as_deref(),
            Some("/t/henan/admin/audit")
        );
        assert_eq!(
            href(Role::ProgrammeAuthority, "消息发送记录").as_deref(),
            Some("/t/henan/admin/notifications")
        );
        assert_eq!(
            href(Role::ProgrammeAuthority, "后台任务").as_deref(),
            Some("/t/henan/admin/jobs")
        );
    }
}
