//! Who acts in a programme: the roles of accounts, and the account types a person picks on the
//! login page (seed 001: "请注意选择账号类型").
//!
//! A role says what kind of organisation an account acts for; the region subtree it may see is
//! data of that organisation, not part of the role. Permissions per role live in `policies/`.

use serde::{Deserialize, Serialize};

/// The role of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The SaaS operator: creates tenants, emergency support; sees no personal data by default.
    PlatformOperator,
    /// The education authority running the programme (省/市教育厅/局, 装备中心): whole tenant.
    ProgrammeAuthority,
    /// A city education department (市教育局), its city's subtree.
    CityDepartment,
    /// A county or district education department (县/区教育局), its county's subtree.
    CountyDepartment,
    /// A township central school (中心校): itself and the schools assigned to it.
    CentralSchool,
    /// A school (a teaching point, public or private).
    School,
    /// An insurer's province branch (保险公司省级分公司): creates city and county accounts.
    InsurerProvince,
    /// An insurer's city branch (市级分公司): creates county accounts.
    InsurerCity,
    /// An insurer's county or district branch (县区支公司).
    InsurerCounty,
    /// An insurance broker (保险经纪公司) serving the programme.
    Broker,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 10] = [
        Role::PlatformOperator,
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

    /// The Chinese name shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Role::PlatformOperator => "平台运营",
            Role::ProgrammeAuthority => "主管部门",
            Role::CityDepartment => "市级教育部门",
            Role::CountyDepartment => "县区教育部门",
            Role::CentralSchool => "中心校",
            Role::School => "学校",
            Role::InsurerProvince => "保险公司省级分公司",
            Role::InsurerCity => "保险公司市级分公司",
            Role::InsurerCounty => "保险公司县区支公司",
            Role::Broker => "经纪机构",
        }
    }

    /// The stable identifier used in storage and policies (`county_department`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformOperator => "platform_operator",
            Role::ProgrammeAuthority => "programme_authority",
            Role::CityDepartment => "city_department",
            Role::CountyDepartment => "county_department",
            Role::CentralSchool => "central_school",
            Role::School => "school",
            Role::InsurerProvince => "insurer_province",
            Role::InsurerCity => "insurer_city",
            Role::InsurerCounty => "insurer_county",
            Role::Broker => "broker",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The login tab an account of this role signs in under; the platform operator signs in
    /// on the platform, not on a programme's login page.
    pub fn account_type(self) -> Option<AccountType> {
        match self {
            Role::PlatformOperator => None,
            Role::ProgrammeAuthority => Some(AccountType::Authority),
            Role::CityDepartment | Role::CountyDepartment => Some(AccountType::Department),
            Role::CentralSchool | Role::School => Some(AccountType::School),
            Role::InsurerProvince | Role::InsurerCity | Role::InsurerCounty => {
                Some(AccountType::Insurer)
            }
            Role::Broker => Some(AccountType::Broker),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The account type chosen on a programme's login page, before the login name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// Schools and central schools; login name: the school's full name or the contact's mobile.
    School,
    /// City and county education departments; login name: the region name (金水区).
    Department,
    /// Insurer branches; login names are created by the parent branch.
    Insurer,
    /// Brokers.
    Broker,
    /// The programme authority.
    Authority,
}

impl AccountType {
    /// The login tabs, in the order shown (the old system's three first).
    pub const ALL: [AccountType; 5] = [
        AccountType::School,
        AccountType::Department,
        AccountType::Insurer,
        AccountType::Broker,
        AccountType::Authority,
    ];

    /// The tab's Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            AccountType::School => "学校",
            AccountType::Department => "教育部门",
            AccountType::Insurer => "承保机构",
            AccountType::Broker => "经纪机构",
            AccountType::Authority => "主管部门",
        }
    }

    /// The identifier used in forms and URLs (`?type=department`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::School => "school",
            AccountType::Department => "department",
            AccountType::Insurer => "insurer",
            AccountType::Broker => "broker",
            AccountType::Authority => "authority",
        }
    }

    /// Parses [`AccountType::as_str`].
    pub fn parse(s: &str) -> Option<AccountType> {
        AccountType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_round_trip_and_match_serde() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).ok(),
                Some(serde_json::Value::String(role.as_str().into()))
            );
        }
        for t in AccountType::ALL {
            assert_eq!(AccountType::parse(t.as_str()), Some(t));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn every_programme_role_has_a_login_tab() {
        for role in Role::ALL {
            assert_eq!(
                role.account_type().is_none(),
                role == Role::PlatformOperator,
                "{role}"
            );
        }
        assert_eq!(
            Role::CentralSchool.account_type(),
            Some(AccountType::School)
        );
        assert_eq!(Role::InsurerCity.account_type(), Some(AccountType::Insurer));
    }
}
