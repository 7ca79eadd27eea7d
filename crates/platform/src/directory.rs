//! The console's directory: insurance and broker companies (`control.companies`) and the
//! platform logins of brokers and insurer head offices (`control.identities`, granted in
//! programmes by `control.identity_grants`). Each action owns its control transaction and is
//! audited in `control.operator_audit` on it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_identity::PasswordHasher;
use xiaobao_identity::companies as co;
use xiaobao_identity::platform as pf;

use crate::audit;
use crate::console::Console;
use crate::{db, operators};

/// An insurance or broker company.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformCompany)]
pub struct CompanyView {
    pub company_id: i64,
    /// `insurer` (保险公司) or `broker` (经纪公司).
    pub kind: String,
    /// The full name: fixed once created (programmes keep copies of it).
    pub name: String,
    pub short_name: String,
    pub created_at: DateTime<Utc>,
}

impl From<co::CompanyEntry> for CompanyView {
    fn from(c: co::CompanyEntry) -> Self {
        Self {
            company_id: c.company_id,
            kind: c.kind,
            name: c.name,
            short_name: c.short_name,
            created_at: c.created_at,
        }
    }
}

/// A company to create.
#[derive(Debug, Clone, Default)]
pub struct CompanyInput {
    pub kind: String,
    pub name: String,
    pub short_name: String,
}

/// A programme a platform login is granted in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformLoginGrant)]
pub struct GrantView {
    pub tenant_slug: String,
    pub tenant_name: String,
    /// The programme's account the login acts as.
    pub account_id: i64,
    pub granted_at: DateTime<Utc>,
}

/// A platform login of a broker or an insurer head office.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformLogin)]
pub struct LoginView {
    pub identity_id: i64,
    pub login_name: String,
    pub display_name: String,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// The password was set by an operator and is changed at the next sign-in.
    pub must_change_password: bool,
    pub grants: Vec<GrantView>,
    pub created_at: DateTime<Utc>,
}

/// A login and its one-time password (shown once; changed at first sign-in).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformLoginPassword)]
pub struct LoginWithPassword {
    pub login: LoginView,
    pub one_time_password: String,
}

/// A platform login to create.
#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub login_name: String,
    pub display_name: String,
    pub company_id: Option<i64>,
}

fn field(name: &'static str, message: impl Into<String>) -> Failure {
    Refusal::invalid_field(name, message).into()
}

fn no_login(identity_id: i64) -> Failure {
    Refusal::not_found("没有这个平台账号")
        .about("platform_login", identity_id)
        .into()
}

fn kind_label(kind: &str) -> &'static str {
    if kind == "insurer" {
        "保险公司"
    } else {
        "经纪公司"
    }
}

impl Console {
    // -----------------------------------------------------------------------------------------
    // Companies
    // -----------------------------------------------------------------------------------------

    pub async fn companies(&self) -> Outcome<Vec<CompanyView>> {
        Ok(co::list_all(self.caller.db.clusters.main())
            .await?
            .into_iter()
            .map(CompanyView::from)
            .collect())
    }

    /// Creates a company (kind, full name 2–100 characters and unique, short name 1–30).
    pub async fn create_company(&self, input: CompanyInput) -> Outcome<CompanyView> {
        let kind = input.kind.trim();
        if kind != "insurer" && kind != "broker" {
            return Err(field("kind", "请选择公司类型：保险公司或经纪公司"));
        }
        let name = input.name.trim();
        if !(2..=100).contains(&name.chars().count()) {
            return Err(field("name", "公司全称应为 2–100 个字"));
        }
        let short = input.short_name.trim();
        if !(1..=30).contains(&short.chars().count()) {
            return Err(field("short_name", "简称应为 1–30 个字"));
        }
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        let Some(created) = co::create(&mut *tx, kind, name, short).await? else {
            return Err(Refusal::conflict(
                "company_name_taken",
                format!("已有名为“{name}”的公司，公司全称不能重复"),
            )
            .on("name")
            .into());
        };
        audit::record(
            &mut *tx,
            &self.actor(),
            "company.created",
            "company",
            Some(&created.company_id.to_string()),
            json!({"kind": kind, "name": name, "short_name": short}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(created.into())
    }

    /// Changes a company's short name (its full name stays as created).
    pub async fn set_company_short_name(
        &self,
        company_id: i64,
        short_name: &str,
    ) -> Outcome<CompanyView> {
        let short = short_name.trim();
        if !(1..=30).contains(&short.chars().count()) {
            return Err(field("short_name", "简称应为 1–30 个字"));
        }
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        let Some(before) = co::set_short_name(&mut *tx, company_id, short).await? else {
            return Err(Refusal::not_found("没有这家公司")
                .about("company", company_id)
                .into());
        };
        audit::record(
            &mut *tx,
            &self.actor(),
            "company.short_name_changed",
            "company",
            Some(&company_id.to_string()),
            json!({"from": before, "to": short}),
        )
        .await?;
        let after = co::entry(&mut *tx, company_id)
            .await?
            .ok_or_else(|| Failure::internal("the company vanished"))?;
        tx.commit().await.map_err(db)?;
        Ok(after.into())
    }

    // -----------------------------------------------------------------------------------------
    // Platform logins
    // -----------------------------------------------------------------------------------------

    async fn login_views(&self, identity_id: Option<i64>) -> Outcome<Vec<LoginView>> {
        let main = self.caller.db.clusters.main();
        self.caller.db.catalog.reload(main).await?;
        let tenants: HashMap<i64, (String, String)> = self
            .caller
            .db
            .catalog
            .all()
            .into_iter()
            .map(|t| (t.tenant_id, (t.slug.clone(), t.name_zh.clone())))
            .collect();
        let mut grants: HashMap<i64, Vec<GrantView>> = HashMap::new();
        for g in pf::all_grants(main, identity_id).await? {
            let (slug, name) = tenants
                .get(&g.tenant_id)
                .cloned()
                .unwrap_or_else(|| (g.tenant_id.to_string(), format!("#{}", g.tenant_id)));
            grants.entry(g.identity_id).or_default().push(GrantView {
                tenant_slug: slug,
                tenant_name: name,
                account_id: g.account_id,
                granted_at: g.granted_at,
            });
        }
        Ok(pf::list(main, identity_id)
            .await?
            .into_iter()
            .map(|i| LoginView {
                grants: grants.remove(&i.identity_id).unwrap_or_default(),
                identity_id: i.identity_id,
                login_name: i.login_name,
                display_name: i.display_name,
                company_id: i.company_id,
                company_name: i.company_name,
                status: i.status,
                must_change_password: i.must_change_password,
                created_at: i.created_at,
            })
            .collect())
    }

    pub async fn platform_logins(&self) -> Outcome<Vec<LoginView>> {
        self.login_views(None).await
    }

    pub async fn platform_login(&self, identity_id: i64) -> Outcome<LoginView> {
        self.login_views(Some(identity_id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| no_login(identity_id))
    }

    /// Creates a platform login of a company with a one-time password (changed at first
    /// sign-in); the password is answered once and never stored or audited in clear.
    pub async fn create_platform_login(
        &self,
        hasher: &PasswordHasher,
        input: LoginInput,
    ) -> Outcome<LoginWithPassword> {
        let login = input.login_name.trim();
        operators::check_login_name(login)?;
        let display = input.display_name.trim();
        if !(1..=100).contains(&display.chars().count()) {
            return Err(field("display_name", "请填写显示名称（1–100 个字）"));
        }
        let Some(company_id) = input.company_id else {
            return Err(field("company_id", "请选择所属公司"));
        };
        let main = self.caller.db.clusters.main();
        let Some(company) = co::entry(main, company_id).await? else {
            return Err(field("company_id", "所选公司不存在，请从列表中选择"));
        };
        let password = operators::one_time_password();
        let hash = hasher.hash(&password).await.map_err(Failure::from)?;
        let mut tx = main.begin().await.map_err(db)?;
        let taken = sqlx::query_scalar!(
            "select identity_id from control.identities where login_name = $1",
            login
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if taken.is_some() {
            return Err(
                Refusal::conflict("login_name_taken", format!("登录名 {login} 已被使用"))
                    .on("login_name")
                    .into(),
            );
        }
        let id = pf::create(&mut *tx, login, display, Some(company_id)).await?;
        pf::store_password(&mut *tx, id, &hash, true).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "platform_login.created",
            "platform_login",
            Some(&id.to_string()),
            json!({"login_name": login, "display_name": display,
                   "company_id": company_id, "company": company.name}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(LoginWithPassword {
            login: self.platform_login(id).await?,
            one_time_password: password,
        })
    }

    /// A new one-time password for a login (changed at its next sign-in; lock-out lifted).
    pub async fn reset_platform_password(
        &self,
        hasher: &PasswordHasher,
        identity_id: i64,
    ) -> Outcome<LoginWithPassword> {
        let password = operators::one_time_password();
        let hash = hasher.hash(&password).await.map_err(Failure::from)?;
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        let exists = sqlx::query_scalar!(
            "select identity_id from control.identities where identity_id = $1 for update",
            identity_id
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if exists.is_none() {
            return Err(no_login(identity_id));
        }
        pf::store_password(&mut *tx, identity_id, &hash, true).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "platform_login.password_reset",
            "platform_login",
            Some(&identity_id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(LoginWithPassword {
            login: self.platform_login(identity_id).await?,
            one_time_password: password,
        })
    }

    /// Disables (`active = false`) or enables a login.
    pub async fn set_platform_login_active(
        &self,
        identity_id: i64,
        active: bool,
    ) -> Outcome<LoginView> {
        let status = if active { "active" } else { "disabled" };
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        let Some(before) = pf::set_status(&mut *tx, identity_id, status).await? else {
            return Err(no_login(identity_id));
        };
        if before == status {
            return Err(Refusal::conflict(
                "status_unchanged",
                if active {
                    "该平台账号已是启用状态"
                } else {
                    "该平台账号已停用"
                },
            )
            .into());
        }
        audit::record(
            &mut *tx,
            &self.actor(),
            if active {
                "platform_login.enabled"
            } else {
                "platform_login.disabled"
            },
            "platform_login",
            Some(&identity_id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        self.platform_login(identity_id).await
    }

    /// Lets a login act in a programme as one of its broker or insurer accounts, named by its
    /// login name in that programme (an earlier grant there is replaced).
    pub async fn grant_platform_login(
        &self,
        identity_id: i64,
        tenant_slug: &str,
        account_login: &str,
    ) -> Outcome<LoginView> {
        let slug = tenant_slug.trim();
        let account_login = account_login.trim();
        let xdb = &self.caller.db;
        let main = xdb.clusters.main();
        xdb.catalog.reload(main).await?;
        let tenant = xdb
            .active_tenant(slug)
            .map_err(|_| field("tenant", "请选择一个在用的项目"))?;
        if account_login.is_empty() {
            return Err(field("account_login", "请填写该项目中账号的登录名"));
        }
        let mut ttx = xdb.tenant_tx(&tenant).await?;
        let account = sqlx::query!(
            "select account_id, account_type, status from accounts where login_name = $1",
            account_login,
        )
        .fetch_optional(&mut *ttx)
        .await
        .map_err(db)?;
        ttx.commit().await?;
        let Some(account) = account else {
            return Err(field(
                "account_login",
                format!(
                    "项目“{}”中没有登录名为 {account_login} 的账号",
                    tenant.name_zh
                ),
            ));
        };
        if account.account_type != "broker" && account.account_type != "insurer" {
            let label = xiaobao_domain::AccountType::parse(&account.account_type)
                .map(|t| t.label())
                .unwrap_or("其他");
            return Err(field(
                "account_login",
                format!(
                    "{account_login} 是{label}账号；平台账号只能授权为经纪机构或承保机构的账号"
                ),
            ));
        }
        if account.status != "active" {
            return Err(field(
                "account_login",
                format!("账号 {account_login} 已停用，不能授权"),
            ));
        }
        let mut tx = main.begin().await.map_err(db)?;
        let exists = sqlx::query_scalar!(
            "select identity_id from control.identities where identity_id = $1 for update",
            identity_id
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if exists.is_none() {
            return Err(no_login(identity_id));
        }
        pf::grant(&mut *tx, identity_id, tenant.tenant_id, account.account_id).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "platform_login.granted",
            "platform_login",
            Some(&identity_id.to_string()),
            json!({"tenant": slug, "account_id": account.account_id,
                   "account_type": account.account_type}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        self.platform_login(identity_id).await
    }

    /// Ends a login's grant in a programme.
    pub async fn revoke_platform_grant(
        &self,
        identity_id: i64,
        tenant_slug: &str,
    ) -> Outcome<LoginView> {
        let slug = tenant_slug.trim();
        let xdb = &self.caller.db;
        let main = xdb.clusters.main();
        xdb.catalog.reload(main).await?;
        let tenant = xdb
            .catalog
            .get(slug)
            .ok_or_else(|| Refusal::not_found("没有这个项目").about("tenant", slug))?;
        let mut tx = main.begin().await.map_err(db)?;
        if !pf::revoke(&mut *tx, identity_id, tenant.tenant_id).await? {
            return Err(Refusal::not_found("该平台账号在此项目没有授权")
                .about("platform_login", identity_id)
                .into());
        }
        audit::record(
            &mut *tx,
            &self.actor(),
            "platform_login.revoked",
            "platform_login",
            Some(&identity_id.to_string()),
            json!({"tenant": slug}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        self.platform_login(identity_id).await
    }
}

/// The label of a company kind.
pub fn company_kind_label(kind: &str) -> &'static str {
    kind_label(kind)
}
