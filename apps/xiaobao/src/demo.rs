//! Demo accounts of the demo programmes (embedded default only, `demo.seed`): the authority, an
//! education department for every city and county, a few schools, an insurer's province branch
//! and a broker office, all with the demo password printed on start. Real programmes never get
//! default passwords: their accounts set one through a one-time code.

use sqlx::PgConnection;
use xiaobao_audit::Actor;
use xiaobao_db::Db;
use xiaobao_domain::{AccountType, Role};
use xiaobao_identity::orgs::{self, NewOrganisation, OrgKind};
use xiaobao_identity::{PasswordHasher, accounts, companies};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "Demo2026xb";

/// The platform login of the demo broker, granted in every demo programme.
pub const DEMO_BROKER_IDENTITY: &str = "broker-group";

/// A demo login, for the start banner.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub tenant: String,
    pub account_type: AccountType,
    pub login_name: String,
    pub what: String,
}

struct Plan {
    slug: &'static str,
    authority: &'static str,
    /// The county where the demo schools are.
    county: &'static str,
    schools: &'static [(&'static str, &'static str, &'static str)],
    insurer_branch: &'static str,
    insurer_login: &'static str,
    /// The branch's level: a city programme's top branch is a city branch.
    insurer_role: Role,
    broker_login: &'static str,
}

const PLANS: &[Plan] = &[
    Plan {
        slug: "henan",
        authority: "河南省教育厅",
        county: "410105",
        schools: &[
            ("郑州市金水区文化路第一小学", "public", "primary"),
            ("郑州市金水区纬五路第二小学", "public", "primary"),
            ("郑州市金水区启明幼儿园", "private", "kindergarten"),
        ],
        insurer_branch: "中国人民财产保险股份有限公司河南省分公司",
        insurer_login: "picc-henan",
        insurer_role: Role::InsurerProvince,
        broker_login: "broker-henan",
    },
    Plan {
        slug: "liupanshui",
        authority: "六盘水市教育局",
        county: "520201",
        schools: &[
            ("六盘水市钟山区第一小学", "public", "primary"),
            ("六盘水市钟山区明德中学", "private", "junior_high"),
        ],
        insurer_branch: "中国人民财产保险股份有限公司六盘水市分公司",
        insurer_login: "picc-liupanshui",
        insurer_role: Role::InsurerCity,
        broker_login: "broker-liupanshui",
    },
    Plan {
        slug: "shanghai",
        authority: "上海市教育委员会",
        county: "310104",
        schools: &[
            ("上海市徐汇区向阳小学", "public", "primary"),
            ("上海市徐汇区位育中学", "public", "senior_high"),
        ],
        insurer_branch: "中国人民财产保险股份有限公司上海市分公司",
        insurer_login: "picc-shanghai",
        insurer_role: Role::InsurerProvince,
        broker_login: "broker-shanghai",
    },
];

/// Creates the demo accounts of the demo tenants that do not have them yet; returns the logins
/// to print.
pub async fn seed_demo_accounts(
    db: &Db,
    hasher: &PasswordHasher,
) -> anyhow::Result<Vec<DemoLogin>> {
    let insurer = companies::ensure(
        db.clusters.main(),
        "insurer",
        "中国人民财产保险股份有限公司",
        "人保财险",
    )
    .await?;
    let broker = companies::ensure(
        db.clusters.main(),
        "broker",
        "示例保险经纪有限公司",
        "示例经纪",
    )
    .await?;
    let hash = hasher.hash(DEMO_PASSWORD).await?;
    let mut logins = Vec::new();
    // One platform login of the broker, granted every demo programme (切换项目).
    let main = db.clusters.main();
    let group: Option<i64> =
        sqlx::query_scalar("select identity_id from control.identities where login_name = $1")
            .bind(DEMO_BROKER_IDENTITY)
            .fetch_optional(main)
            .await?;
    let group = match group {
        Some(id) => id,
        None => {
            let id = xiaobao_identity::platform::create(
                main,
                DEMO_BROKER_IDENTITY,
                "示例保险经纪有限公司（总部）",
                Some(broker.company_id),
            )
            .await?;
            xiaobao_identity::platform::store_password(main, id, &hash, false).await?;
            id
        }
    };
    for plan in PLANS {
        let Ok(tenant) = db.active_tenant(plan.slug) else {
            continue;
        };
        let mut tx = db.tenant_tx(&tenant).await?;
        let present: bool = sqlx::query_scalar("select exists (select 1 from accounts)")
            .fetch_one(&mut *tx)
            .await?;
        if !present {
            seed_one(
                &mut tx,
                plan,
                &hash,
                (insurer.company_id, &insurer.name),
                (broker.company_id, &broker.name),
            )
            .await?;
        }
        // The demo year is open for enrolment, its insurers admitted from the branches above.
        let companies = [xiaobao_enrolment::years::CompanyRef {
            company_id: insurer.company_id,
            name: insurer.name.clone(),
        }];
        for year in xiaobao_db::rules::years(&mut tx).await? {
            if xiaobao_enrolment::years::get(&mut tx, &year)
                .await?
                .is_none()
            {
                let opened = xiaobao_enrolment::years::open(
                    &mut tx,
                    &year,
                    &companies,
                    &xiaobao_audit::Actor::system(),
                )
                .await?;
                if let Err(problem) = opened {
                    tracing::warn!(%problem, year, "demo year not opened");
                }
            }
        }
        tx.commit().await?;
        let login = |t: AccountType, name: &str, what: &str| DemoLogin {
            tenant: plan.slug.to_string(),
            account_type: t,
            login_name: name.to_string(),
            what: what.to_string(),
        };
        let county: Option<String> = {
            let mut tx = db.tenant_tx(&tenant).await?;
            let name = sqlx::query_scalar("select name from regions where region_code = $1")
                .bind(plan.county)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            name
        };
        logins.push(login(AccountType::Authority, plan.authority, "主管部门"));
        if let Some(county) = county {
            logins.push(login(AccountType::Department, &county, "县区教育部门"));
        }
        if let Some((school, _, _)) = plan.schools.first() {
            logins.push(login(AccountType::School, school, "学校"));
        }
        logins.push(login(
            AccountType::Insurer,
            plan.insurer_login,
            plan.insurer_role.label(),
        ));
        logins.push(login(AccountType::Broker, plan.broker_login, "经纪机构"));
        let broker_account: Option<i64> = {
            let mut tx = db.tenant_tx(&tenant).await?;
            let id = sqlx::query_scalar(
                "select account_id from accounts where account_type = 'broker' and login_name = $1",
            )
            .bind(plan.broker_login)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        };
        if let Some(account_id) = broker_account {
            xiaobao_identity::platform::grant(main, group, tenant.tenant_id, account_id).await?;
            logins.push(login(
                AccountType::Broker,
                DEMO_BROKER_IDENTITY,
                "经纪机构平台账号，可切换项目",
            ));
        }
    }
    Ok(logins)
}

async fn seed_one(
    conn: &mut PgConnection,
    plan: &Plan,
    hash: &str,
    insurer: (i64, &str),
    broker: (i64, &str),
) -> anyhow::Result<()> {
    let actor = Actor::system();
    let root: (String, String) =
        sqlx::query_as("select region_code, name from regions where parent_code is null limit 1")
            .fetch_one(&mut *conn)
            .await?;
    let mut made: Vec<i64> = Vec::new();
    // The authority.
    let org = orgs::create(
        conn,
        &actor,
        &NewOrganisation::basic(OrgKind::Authority, plan.authority, &root.0),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("root region missing"))?;
    made.push(
        accounts::create(
            conn,
            &actor,
            org,
            AccountType::Authority,
            plan.authority,
            plan.authority,
            &[Role::ProgrammeAuthority],
        )
        .await?,
    );
    // A department per city and county (the root itself is the authority's).
    let regions: Vec<(String, String, String)> = sqlx::query_as(
        "select region_code, name, level from regions where level in ('city', 'county') \
         and parent_code is not null order by path",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (code, name, level) in regions {
        let role = if level == "city" {
            Role::CityDepartment
        } else {
            Role::CountyDepartment
        };
        let taken: bool = sqlx::query_scalar(
            "select exists (select 1 from accounts where account_type = 'department' and login_name = $1)",
        )
        .bind(&name)
        .fetch_one(&mut *conn)
        .await?;
        let login_name = if taken {
            let parent: String = sqlx::query_scalar(
                "select p.name from regions r join regions p on p.region_code = r.parent_code where r.region_code = $1",
            )
            .bind(&code)
            .fetch_one(&mut *conn)
            .await?;
            format!("{parent}{name}")
        } else {
            name.clone()
        };
        let display = format!("{name}教育局");
        let org = orgs::create(
            conn,
            &actor,
            &NewOrganisation::basic(OrgKind::Department, &display, &code),
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("region {code} missing"))?;
        made.push(
            accounts::create(
                conn,
                &actor,
                org,
                AccountType::Department,
                &login_name,
                &display,
                &[role],
            )
            .await?,
        );
    }
    // Schools of one county.
    for (i, (name, nature, school_type)) in plan.schools.iter().enumerate() {
        let mut org = NewOrganisation::basic(OrgKind::School, name, plan.county);
        org.nature = Some(nature.to_string());
        org.school_type = Some(school_type.to_string());
        org.address = Some("演示地址".into());
        org.principal = Some("张校长".into());
        org.contact_name = Some("李老师".into());
        org.contact_mobile = Some(format!("1380000{:04}", 1001 + i));
        if let Some(org) = orgs::create(conn, &actor, &org).await? {
            made.push(
                accounts::create(
                    conn,
                    &actor,
                    org,
                    AccountType::School,
                    name,
                    name,
                    &[Role::School],
                )
                .await?,
            );
        }
    }
    // The insurer's province branch and a broker office at the root.
    let mut branch = NewOrganisation::basic(OrgKind::InsurerBranch, plan.insurer_branch, &root.0);
    branch.company_id = Some(insurer.0);
    branch.company_name = Some(insurer.1.to_string());
    branch.branch_level = Some(if plan.insurer_role == Role::InsurerCity {
        "city"
    } else {
        "province"
    });
    let org = orgs::create(conn, &actor, &branch)
        .await?
        .ok_or_else(|| anyhow::anyhow!("root region missing"))?;
    made.push(
        accounts::create(
            conn,
            &actor,
            org,
            AccountType::Insurer,
            plan.insurer_login,
            plan.insurer_branch,
            &[plan.insurer_role],
        )
        .await?,
    );
    let mut office = NewOrganisation::basic(
        OrgKind::BrokerOffice,
        &format!("{}{}服务部", broker.1, root.1),
        &root.0,
    );
    office.company_id = Some(broker.0);
    office.company_name = Some(broker.1.to_string());
    let org = orgs::create(conn, &actor, &office)
        .await?
        .ok_or_else(|| anyhow::anyhow!("root region missing"))?;
    made.push(
        accounts::create(
            conn,
            &actor,
            org,
            AccountType::Broker,
            plan.broker_login,
            &office.name,
            &[Role::Broker],
        )
        .await?,
    );
    for account in made {
        accounts::set_password_hash(conn, account, hash).await?;
    }
    Ok(())
}
