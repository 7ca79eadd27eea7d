//! Demo accounts of the demo programmes (the embedded default, `demo.seed`): the authority, an
//! education department for every city and county, a few schools, an insurer's province branch
//! and a broker office, all with the demo password printed on start. Only tenants the demo
//! seeding made (`control.tenants.demo`) get them. The password is random, generated at the
//! first start and kept in clear only in a file readable by its owner
//! (`Config::demo_password_path`, `var/secrets/demo-password`), which the start banner shows;
//! the accounts hold only its hash. Real programmes never get default passwords: their accounts
//! set one through a one-time code.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::PgConnection;
use xiaobao_audit::Actor;
use xiaobao_config::Config;
use xiaobao_db::Db;
use xiaobao_domain::{AccountType, Role};
use xiaobao_identity::orgs::{self, NewOrganisation, OrgKind};
use xiaobao_identity::{PasswordHasher, accounts, companies};

/// Length of a generated demo password.
pub const DEMO_PASSWORD_LEN: usize = 12;

/// Letters and digits that cannot be mistaken for one another when read off a terminal.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

/// The demo password and the file that keeps it.
#[derive(Clone)]
pub struct DemoPassword {
    value: String,
    pub path: PathBuf,
    /// Made by this call (the file did not exist).
    pub generated: bool,
}

impl std::fmt::Debug for DemoPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoPassword")
            .field("path", &self.path)
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

impl DemoPassword {
    /// The password in clear (for the start banner).
    pub fn expose(&self) -> &str {
        &self.value
    }
}

/// The demo password of this deployment: read from `demo.password_file`, or generated (12
/// letters and digits meeting the password rules) and written there with mode 0600 when the
/// file does not exist yet.
pub fn demo_password(config: &Config) -> anyhow::Result<DemoPassword> {
    password_at(&config.demo_password_path())
}

fn password_at(path: &Path) -> anyhow::Result<DemoPassword> {
    if let Some(value) = read_password(path)? {
        return Ok(DemoPassword {
            value,
            path: path.to_path_buf(),
            generated: false,
        });
    }
    let value = generate_password();
    if crate::keys::write_new_private(path, format!("{value}\n").as_bytes())? {
        return Ok(DemoPassword {
            value,
            path: path.to_path_buf(),
            generated: true,
        });
    }
    // Another start wrote it first.
    let value = read_password(path)?
        .with_context(|| format!("演示密码文件 {} 无法读取", path.display()))?;
    Ok(DemoPassword {
        value,
        path: path.to_path_buf(),
        generated: false,
    })
}

/// The password kept at `path`, `None` when there is no such file.
pub fn read_password(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("无法读取演示密码文件 {}", path.display()));
        }
    };
    let value = text.trim().to_string();
    xiaobao_identity::password::check_new_password(&value, "").map_err(|problem| {
        anyhow::anyhow!(
            "演示密码文件 {} 中的密码不可用（{problem}）：删除该文件，启动时会生成新的演示密码",
            path.display()
        )
    })?;
    Ok(Some(value))
}

/// 12 random letters and digits, at least one of each.
pub fn generate_password() -> String {
    loop {
        let value: String = (0..DEMO_PASSWORD_LEN)
            .map(|_| char::from(PASSWORD_ALPHABET[rand::random_range(0..PASSWORD_ALPHABET.len())]))
            .collect();
        if xiaobao_identity::password::check_new_password(&value, "").is_ok() {
            return value;
        }
    }
}

/// The platform login of the demo broker, granted in every demo programme.
pub const DEMO_BROKER_IDENTITY: &str = "broker-group";

/// A demo login, for the start banner.
/// The demo's platform operator login (运营控制台, `/platform/login`).
pub const DEMO_OPERATOR: &str = "operator";

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

/// Creates the demo accounts, with password `password`, in the demo tenants (those the demo
/// seeding made) that have no accounts yet; returns the logins to print. Demo accounts still
/// holding an earlier demo password (one hash shared by many accounts, which only this seeding
/// makes) are given `password`, so that the banner's password is the one that works after the
/// password file was lost, or after earlier versions' fixed password. A tenant with a demo
/// slug that the demo did not make gets nothing.
pub async fn seed_demo_accounts(
    db: &Db,
    hasher: &PasswordHasher,
    password: &str,
) -> anyhow::Result<Vec<DemoLogin>> {
    let insurer = companies::ensure(
        db.clusters.main(),
        "insurer",
        "中国人民财产保险股份有限公司",
        "人保财险",
    )
    .await?;
    let (second_name, second_short) = crate::demo_data::SECOND_INSURER;
    let second =
        companies::ensure(db.clusters.main(), "insurer", second_name, second_short).await?;
    let broker = companies::ensure(
        db.clusters.main(),
        "broker",
        "示例保险经纪有限公司",
        "示例经纪",
    )
    .await?;
    let hash = hasher.hash(password).await?;
    let mut logins = Vec::new();
    // The demo's platform operator (运营控制台), made by the demo or left alone; the demo
    // password needs no change at first sign-in.
    sqlx::query!(
        "insert into control.operators (login_name, display_name, password_hash, \
         password_changed_at, must_change_password, demo) \
         values ($1, '演示运营', $2, now(), false, true) on conflict (login_name) do nothing",
        DEMO_OPERATOR,
        hash,
    )
    .execute(db.clusters.main())
    .await?;
    // One platform login of the broker, granted every demo programme (切换项目), made by
    // the demo (marked) or left alone.
    let main = db.clusters.main();
    let group = sqlx::query!(
        "select identity_id, demo, password_hash from control.identities where login_name = $1",
        DEMO_BROKER_IDENTITY,
    )
    .fetch_optional(main)
    .await?
    .map(|r| (r.identity_id, r.demo, r.password_hash));
    let group = match group {
        Some((id, true, current)) => {
            let current_works = match current {
                Some(phc) => hasher.verify(password, &phc).await,
                None => false,
            };
            if !current_works {
                xiaobao_identity::platform::store_password(main, id, &hash, false).await?;
            }
            Some(id)
        }
        Some((_, false, _)) => {
            tracing::warn!(
                login = DEMO_BROKER_IDENTITY,
                "a platform login with the demo broker's name exists and was not made by the demo: it gets no demo grants"
            );
            None
        }
        None => {
            let id: i64 = sqlx::query_scalar!(
                "insert into control.identities (login_name, display_name, company_id, demo) \
                 values ($1, $2, $3, true) returning identity_id",
                DEMO_BROKER_IDENTITY,
                "示例保险经纪有限公司（总部）",
                broker.company_id,
            )
            .fetch_one(main)
            .await?;
            xiaobao_identity::platform::store_password(main, id, &hash, false).await?;
            Some(id)
        }
    };
    for plan in PLANS {
        let Ok(tenant) = db.active_tenant(plan.slug) else {
            continue;
        };
        let demo: bool = sqlx::query_scalar!(
            "select demo from control.tenants where tenant_id = $1",
            tenant.tenant_id
        )
        .fetch_one(main)
        .await?;
        if !demo {
            tracing::warn!(
                tenant.slug = plan.slug,
                "the tenant was not made by the demo seeding: no demo accounts are created in it"
            );
            continue;
        }
        let mut tx = db.tenant_tx(&tenant).await?;
        let present: bool =
            sqlx::query_scalar!(r#"select exists (select 1 from accounts) as "present!""#)
                .fetch_one(&mut *tx)
                .await?;
        if present {
            refresh_demo_password(&mut tx, hasher, password, &hash).await?;
        } else {
            seed_one(
                &mut tx,
                plan,
                &hash,
                (insurer.company_id, &insurer.name),
                (broker.company_id, &broker.name),
            )
            .await?;
        }
        ensure_checker(&mut tx, plan, &hash).await?;
        // The demo year is open for enrolment, its insurers admitted as the rules list them
        // (Liupanshui's tender lots name the second insurer too) or from the branches above.
        let companies = [
            xiaobao_enrolment::years::CompanyRef {
                company_id: insurer.company_id,
                name: insurer.name.clone(),
            },
            xiaobao_enrolment::years::CompanyRef {
                company_id: second.company_id,
                name: second.name.clone(),
            },
        ];
        for year in xiaobao_db::rules::years(&mut tx).await? {
            if xiaobao_enrolment::years::get(&mut tx, year)
                .await?
                .is_none()
            {
                let opened = xiaobao_enrolment::years::open(
                    &mut tx,
                    year,
                    &companies,
                    &xiaobao_audit::Actor::system(),
                )
                .await?;
                if let Err(problem) = opened {
                    tracing::warn!(%problem, %year, "demo year not opened");
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
            let name = sqlx::query_scalar!(
                "select name from regions where region_code = $1",
                plan.county
            )
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            name
        };
        logins.push(login(AccountType::Authority, plan.authority, "主管部门"));
        logins.push(login(
            AccountType::Authority,
            &checker_login(plan.authority),
            "主管部门复核人（审核规则修改）",
        ));
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
            let id = sqlx::query_scalar!(
                "select account_id from accounts where account_type = 'broker' and login_name = $1",
                plan.broker_login,
            )
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        };
        if let (Some(account_id), Some(group)) = (broker_account, group) {
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

/// Gives `hash` (of `password`) to the accounts still sharing a bulk-set demo hash that does
/// not verify `password`. Argon2 salts are random, so only the demo seeding makes several
/// accounts share one hash; a password a holder chose is never touched.
async fn refresh_demo_password(
    conn: &mut PgConnection,
    hasher: &PasswordHasher,
    password: &str,
    hash: &str,
) -> anyhow::Result<()> {
    let shared: Vec<String> = sqlx::query_scalar!(
        r#"select password_hash as "password_hash!" from accounts where password_hash is not null
         group by password_hash having count(*) > 1"#,
    )
    .fetch_all(&mut *conn)
    .await?;
    for old in shared {
        if hasher.verify(password, &old).await {
            continue;
        }
        let ids: Vec<i64> = sqlx::query_scalar!(
            "select account_id from accounts where password_hash = $1",
            old
        )
        .fetch_all(&mut *conn)
        .await?;
        tracing::info!(
            accounts = ids.len(),
            "demo accounts given the current demo password"
        );
        for id in ids {
            accounts::set_password_hash(conn, id, hash).await?;
        }
    }
    Ok(())
}

/// The login of a demo authority's second account, which approves the first one's rule
/// changes: `河南省教育厅复核`.
pub fn checker_login(authority: &str) -> String {
    format!("{authority}复核")
}

/// Gives the demo authority a second account (复核) when it has none: rule changes take effect
/// only when an account other than the proposer's approves them.
async fn ensure_checker(conn: &mut PgConnection, plan: &Plan, hash: &str) -> anyhow::Result<()> {
    let login = checker_login(plan.authority);
    let org: Option<i64> = sqlx::query_scalar!(
        "select a.org_id from accounts a where a.account_type = 'authority' and a.login_name = $1",
        plan.authority,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(org) = org else {
        return Ok(());
    };
    let exists: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from accounts where account_type = 'authority' and login_name = $1) as "exists!""#,
        login,
    )
    .fetch_one(&mut *conn)
    .await?;
    if exists {
        return Ok(());
    }
    let id = accounts::create(
        conn,
        &Actor::system(),
        org,
        AccountType::Authority,
        &login,
        &format!("{}（复核）", plan.authority),
        &[Role::ProgrammeAuthority],
    )
    .await?;
    accounts::set_password_hash(conn, id, hash).await?;
    Ok(())
}

async fn seed_one(
    conn: &mut PgConnection,
    plan: &Plan,
    hash: &str,
    insurer: (i64, &str),
    broker: (i64, &str),
) -> anyhow::Result<()> {
    let actor = Actor::system();
    let root =
        sqlx::query!("select region_code, name from regions where parent_code is null limit 1")
            .fetch_one(&mut *conn)
            .await?;
    let mut made: Vec<i64> = Vec::new();
    // The authority.
    let org = orgs::create(
        conn,
        &actor,
        &NewOrganisation::basic(OrgKind::Authority, plan.authority, &root.region_code),
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
    let regions = sqlx::query!(
        "select region_code, name, level from regions where level in ('city', 'county') \
         and parent_code is not null order by path",
    )
    .fetch_all(&mut *conn)
    .await?;
    for region in regions {
        let (code, name) = (region.region_code, region.name);
        let role = if region.level == "city" {
            Role::CityDepartment
        } else {
            Role::CountyDepartment
        };
        let taken: bool = sqlx::query_scalar!(
            r#"select exists (select 1 from accounts where account_type = 'department' and login_name = $1) as "taken!""#,
            name,
        )
        .fetch_one(&mut *conn)
        .await?;
        let login_name = if taken {
            let parent: String = sqlx::query_scalar!(
                "select p.name from regions r join regions p on p.region_code = r.parent_code where r.region_code = $1",
                code,
            )
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
    let mut branch = NewOrganisation::basic(
        OrgKind::InsurerBranch,
        plan.insurer_branch,
        &root.region_code,
    );
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
        &format!("{}{}服务部", broker.1, root.name),
        &root.region_code,
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn the_demo_password_is_generated_once_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.database.embedded_dir = dir.path().join("pg");
        let path = config.demo_password_path();
        assert_eq!(path, dir.path().join("secrets/demo-password"));
        let first = demo_password(&config).unwrap();
        assert!(first.generated);
        assert_eq!(first.path, path);
        assert_eq!(first.expose().len(), DEMO_PASSWORD_LEN);
        assert_ne!(first.expose(), "Demo2026xb");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            first.expose()
        );
        // Later starts show the same password.
        let second = demo_password(&config).unwrap();
        assert!(!second.generated);
        assert_eq!(second.expose(), first.expose());
        assert_eq!(
            read_password(&path).unwrap().as_deref(),
            Some(first.expose())
        );
        assert!(!format!("{second:?}").contains(first.expose()));
        // A file holding no usable password is refused, not silently replaced.
        std::fs::write(&path, "short\n").unwrap();
        let err = demo_password(&config).unwrap_err().to_string();
        assert!(err.contains("demo-password"), "{err}");
    }

    #[test]
    fn generated_passwords_meet_the_rules_and_differ() {
        let many: std::collections::HashSet<String> =
            (0..200).map(|_| generate_password()).collect();
        assert_eq!(many.len(), 200);
        for p in &many {
            assert_eq!(p.chars().count(), DEMO_PASSWORD_LEN);
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
            xiaobao_identity::check_new_password(p, "金水区").unwrap();
        }
    }
}
