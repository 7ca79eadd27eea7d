//! [`Console`]: one method per operator action, each audited in `control.operator_audit`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use xiaobao_db::seed::{REGIONS_CSV, regions_under};
use xiaobao_db::{Db, NewTenant, ProvisionOutcome, RulesSeed, SharedCalendar, TenantStatus};
use xiaobao_domain::{AcademicYear, Clock, Failure, Outcome, Refusal};
use xiaobao_identity::PasswordHasher;
use xiaobao_identity::totp::{self as id_totp, TotpKeys};

use crate::audit::{self, AuditRow, OperatorActor};
use crate::calendar_file::{self, FileProblem, YearChange};
use crate::operators::{self, OperatorIdentity};
use crate::{db, totp};

/// A signed-in operator acting at the clock's time.
#[derive(Clone)]
pub struct OperatorCaller {
    pub db: Db,
    pub operator: OperatorIdentity,
    pub ip: Option<String>,
    pub clock: Clock,
    pub calendar: SharedCalendar,
}

/// The console's actions for one operator.
pub struct Console {
    pub(crate) caller: OperatorCaller,
}

/// A programme of the catalog.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformTenant)]
pub struct TenantView {
    pub slug: String,
    pub name_zh: String,
    pub root_region_code: String,
    pub cluster: String,
    /// `provisioning`, `active` or `archived`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// Where a new programme's first rules come from.
#[derive(Debug, Clone)]
pub enum RulesSource {
    /// A rules document (TOML), as uploaded.
    Document(String),
    /// The version in force of that year in another programme.
    CopyFrom(String),
}

/// A programme to open.
#[derive(Debug, Clone)]
pub struct TenantInput {
    pub slug: String,
    pub name_zh: String,
    pub root_region_code: String,
    pub cluster: String,
    pub academic_year: String,
    pub rules: Option<RulesSource>,
}

/// A configured database cluster and how it answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    pub name: String,
    pub reachable: bool,
    /// Round trip of one query, in milliseconds (when reachable).
    pub latency_ms: Option<f64>,
    pub server_version: Option<String>,
    /// Active programmes placed on it.
    pub tenants: usize,
    pub pool_size: u32,
    pub pool_idle: usize,
    pub pool_max: u32,
    /// Why it is not reachable.
    pub error: Option<String>,
}

/// A stored year of the national calendar.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarYearView {
    pub year: i32,
    pub off_days: usize,
    pub work_days: usize,
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

/// What a calendar file changes, and the document an import of it stores.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarPreview {
    pub years: Vec<YearChange>,
    /// The calendar as TOML: what `确认导入` sends back.
    pub document: String,
}

/// An operator's own two-factor state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OperatorTwoFactor)]
pub struct TwoFactorStatus {
    pub enabled_at: Option<DateTime<Utc>>,
    pub pending: bool,
    pub recovery_codes_left: i64,
}

/// A started enrolment.
#[derive(Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// The issuer label of the operators' authenticator entry.
const CONSOLE_LABEL: &str = "运营控制台";

fn field(name: &'static str, message: impl Into<String>) -> Failure {
    Refusal::invalid_field(name, message).into()
}

fn file_refusal(p: &FileProblem, field_name: &'static str) -> Failure {
    match p {
        FileProblem::TooLarge => Refusal::too_large(p.message()).on(field_name).into(),
        other => Refusal::invalid("invalid_calendar", other.message())
            .on(field_name)
            .into(),
    }
}

impl Console {
    pub fn new(caller: OperatorCaller) -> Self {
        Self { caller }
    }

    pub(crate) fn actor(&self) -> OperatorActor {
        let o = &self.caller.operator;
        OperatorActor::operator(o.operator_id, &o.display_name, self.caller.ip.clone())
    }

    async fn audit(
        &self,
        action: &str,
        entity: &str,
        id: Option<&str>,
        detail: serde_json::Value,
    ) -> Outcome<()> {
        audit::record(
            self.caller.db.clusters.main(),
            &self.actor(),
            action,
            entity,
            id,
            detail,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Tenants
    // -----------------------------------------------------------------------------------------

    pub async fn tenants(&self) -> Outcome<Vec<TenantView>> {
        let main = self.caller.db.clusters.main();
        self.caller.db.catalog.reload(main).await?;
        Ok(self
            .caller
            .db
            .catalog
            .all()
            .into_iter()
            .map(|t| TenantView {
                slug: t.slug.clone(),
                name_zh: t.name_zh.clone(),
                root_region_code: t.root_region_code.clone(),
                cluster: t.cluster.clone(),
                status: match t.status {
                    TenantStatus::Provisioning => "provisioning",
                    TenantStatus::Active => "active",
                    TenantStatus::Archived => "archived",
                }
                .into(),
                created_at: t.created_at,
                archived_at: t.archived_at,
            })
            .collect())
    }

    /// The configured cluster names.
    pub fn cluster_names(&self) -> Vec<String> {
        self.caller
            .db
            .clusters
            .names()
            .map(str::to_string)
            .collect()
    }

    /// Opens a programme: checked first (slug, name, region, cluster, year, rules), then
    /// provisioned, then audited.
    pub async fn create_tenant(&self, input: TenantInput) -> Outcome<TenantView> {
        let slug = input.slug.trim().to_string();
        xiaobao_db::validate_slug(&slug).map_err(|e| field("slug", e.to_string()))?;
        let name = input.name_zh.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(field(
                "name_zh",
                "请填写项目中文名称（1–100 个字，不含换行等特殊字符）",
            ));
        }
        let root = input.root_region_code.trim().to_string();
        if root.len() != 6 || !root.bytes().all(|b| b.is_ascii_digit()) {
            return Err(field(
                "root_region_code",
                "根地区代码应为 6 位数字（GB/T 2260），如 410000",
            ));
        }
        let regions = regions_under(REGIONS_CSV, &root).map_err(|_| {
            field(
                "root_region_code",
                format!("地区代码 {root} 不在平台的 GB/T 2260 地区数据中"),
            )
        })?;
        let cluster = input.cluster.trim().to_string();
        if self.caller.db.clusters.get(&cluster).is_err() {
            return Err(field("cluster", format!("数据库集群“{cluster}”未配置")));
        }
        let year = AcademicYear::parse(input.academic_year.trim())
            .map_err(|_| field("academic_year", "学年格式应为 2026-2027"))?;
        let main = self.caller.db.clusters.main();
        self.caller.db.catalog.reload(main).await?;
        if self.caller.db.catalog.get(&slug).is_some() {
            return Err(Refusal::conflict(
                "slug_taken",
                format!("租户标识 {slug} 已被使用（含已归档的项目）"),
            )
            .on("slug")
            .into());
        }
        let (document, source) = match input.rules {
            None => {
                return Err(field(
                    "rules_file",
                    "请上传方案规则文件，或选择从已有项目复制",
                ));
            }
            Some(RulesSource::Document(doc)) => {
                xiaobao_programme::check_document(year, &doc).map_err(|p| {
                    let mut r = Refusal::from(p);
                    r.field = Some("rules_file".into());
                    Failure::from(r)
                })?;
                (doc, json!({"uploaded": true}))
            }
            Some(RulesSource::CopyFrom(from)) => {
                let from = from.trim().to_string();
                let tenant = self
                    .caller
                    .db
                    .active_tenant(&from)
                    .map_err(|_| field("copy_from", format!("没有名为 {from} 的在用项目")))?;
                let mut tx = self.caller.db.tenant_tx(&tenant).await?;
                let current = xiaobao_db::rules::current(&mut tx, &year.to_string()).await?;
                tx.commit().await?;
                let Some(current) = current else {
                    return Err(field(
                        "copy_from",
                        format!("项目 {from} 没有 {year} 学年的规则"),
                    ));
                };
                (
                    current.document,
                    json!({"copied_from": from, "version": current.version}),
                )
            }
        };
        let new = NewTenant {
            slug: slug.clone(),
            name_zh: name.clone(),
            root_region_code: root.clone(),
            cluster: cluster.clone(),
        };
        let rules = RulesSeed {
            academic_year: year.to_string(),
            document,
        };
        let db = self.caller.db.clone();
        let outcome = provisioning(move || async move {
            db.provisioner()
                .create(&new, &regions, Some(&rules))
                .await
                .map_err(|e| match e {
                    xiaobao_db::DbError::Invalid(m) => field("slug", m),
                    other => Failure::from(other),
                })
        })
        .await?;
        if outcome != ProvisionOutcome::Created {
            return Err(
                Refusal::conflict("slug_taken", format!("租户标识 {slug} 已被使用"))
                    .on("slug")
                    .into(),
            );
        }
        self.audit(
            "tenant.created",
            "tenant",
            Some(&slug),
            json!({"name_zh": name, "root_region_code": root, "cluster": cluster,
                   "academic_year": year.to_string(), "rules": source}),
        )
        .await?;
        self.tenants()
            .await?
            .into_iter()
            .find(|t| t.slug == slug)
            .ok_or_else(|| Failure::internal("the new tenant is not in the catalog"))
    }

    /// Archives a programme; `confirm` must repeat its slug.
    pub async fn archive_tenant(&self, slug: &str, confirm: &str) -> Outcome<TenantView> {
        let tenant = self
            .caller
            .db
            .catalog
            .get(slug)
            .ok_or_else(|| Refusal::out_of_scope("tenant", slug))?;
        if tenant.status == TenantStatus::Archived {
            return Err(Refusal::conflict("already_archived", "该项目已归档").into());
        }
        if confirm.trim() != slug {
            return Err(field(
                "confirm",
                format!("请输入租户标识 {slug} 以确认归档"),
            ));
        }
        let db = self.caller.db.clone();
        let owned = slug.to_string();
        let schema =
            provisioning(move || async move { Ok(db.provisioner().archive(&owned).await?) })
                .await?;
        self.audit(
            "tenant.archived",
            "tenant",
            Some(slug),
            json!({"schema": schema}),
        )
        .await?;
        self.tenants()
            .await?
            .into_iter()
            .find(|t| t.slug == slug)
            .ok_or_else(|| Failure::internal("the archived tenant is not in the catalog"))
    }

    // -----------------------------------------------------------------------------------------
    // Clusters
    // -----------------------------------------------------------------------------------------

    pub async fn clusters(&self) -> Outcome<Vec<ClusterView>> {
        let db = &self.caller.db;
        let tenants = db.catalog.all();
        let mut out = Vec::new();
        for name in db.clusters.names() {
            let pool = db.clusters.get(name)?;
            let started = Instant::now();
            let answer = tokio::time::timeout(
                Duration::from_secs(3),
                sqlx::query_scalar!(r#"select current_setting('server_version') as "v!""#)
                    .fetch_one(pool),
            )
            .await;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let (reachable, version, error) = match answer {
                Ok(Ok(v)) => (true, Some(v), None),
                Ok(Err(e)) => {
                    tracing::warn!(cluster = name, error = %e, "cluster health check failed");
                    (false, None, Some("无法连接".to_string()))
                }
                Err(_) => (false, None, Some("3 秒内无应答".to_string())),
            };
            out.push(ClusterView {
                name: name.to_string(),
                reachable,
                latency_ms: reachable.then_some((elapsed * 10.0).round() / 10.0),
                server_version: version,
                tenants: tenants
                    .iter()
                    .filter(|t| t.cluster == name && t.status == TenantStatus::Active)
                    .count(),
                pool_size: pool.size(),
                pool_idle: pool.num_idle(),
                pool_max: pool.options().get_max_connections(),
                error,
            });
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Holiday calendars
    // -----------------------------------------------------------------------------------------

    pub async fn calendar_years(&self) -> Outcome<Vec<CalendarYearView>> {
        Ok(xiaobao_db::stored_years(self.caller.db.clusters.main())
            .await?
            .into_iter()
            .map(|y| CalendarYearView {
                year: y.year,
                off_days: y.off_days.len(),
                work_days: y.work_days.len(),
                source: y.source,
                updated_at: y.updated_at,
            })
            .collect())
    }

    /// What an uploaded file (TOML or XLSX) would change; nothing is stored.
    pub async fn preview_calendar(&self, bytes: Vec<u8>) -> Outcome<CalendarPreview> {
        let parsed = tokio::task::spawn_blocking(move || calendar_file::parse(&bytes))
            .await
            .map_err(Failure::internal)?;
        let calendar = parsed.map_err(|p| file_refusal(&p, "file"))?;
        let stored = xiaobao_db::load_calendar(self.caller.db.clusters.main()).await?;
        Ok(CalendarPreview {
            years: calendar_file::changes(&stored, &calendar),
            document: calendar_file::to_toml(&calendar),
        })
    }

    /// Imports a previewed calendar (its `document`): the years it holds replace the stored
    /// ones, and the calendar in force is reloaded at once.
    pub async fn import_calendar(&self, document: &str, source: &str) -> Outcome<CalendarPreview> {
        if document.trim().is_empty() {
            return Err(field("document", "请先上传日历文件并预览，再确认导入"));
        }
        let calendar =
            calendar_file::parse(document.as_bytes()).map_err(|p| file_refusal(&p, "document"))?;
        let main = self.caller.db.clusters.main();
        let mut tx = main.begin().await.map_err(db)?;
        // One import at a time: the difference audited is the one applied.
        sqlx::query!("lock table control.holiday_calendars in share row exclusive mode")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let stored = xiaobao_db::load_calendar(main).await?;
        let years = calendar_file::changes(&stored, &calendar);
        let source = source.trim();
        let source = if source.is_empty() {
            "运营控制台导入"
        } else {
            source
        };
        let source: String = source.chars().take(200).collect();
        let stored_years = xiaobao_db::store_calendar(&mut tx, &calendar, &source).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "calendar.imported",
            "holiday_calendar",
            Some(
                &stored_years
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            json!({"source": source, "changes": years}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        self.caller.calendar.reload(main).await?;
        Ok(CalendarPreview {
            years,
            document: calendar_file::to_toml(&calendar),
        })
    }

    // -----------------------------------------------------------------------------------------
    // The audit trail
    // -----------------------------------------------------------------------------------------

    pub async fn audit_trail(&self, action: Option<&str>) -> Outcome<Vec<AuditRow>> {
        let action = action.map(str::trim).filter(|a| !a.is_empty());
        audit::list(self.caller.db.clusters.main(), action, 200).await
    }

    // -----------------------------------------------------------------------------------------
    // One's own account
    // -----------------------------------------------------------------------------------------

    /// Changes one's password (the current one, the new one twice); answers the new identity.
    pub async fn change_password(
        &self,
        hasher: &PasswordHasher,
        current: &str,
        new: &str,
        repeat: &str,
    ) -> Outcome<OperatorIdentity> {
        let main = self.caller.db.clusters.main();
        let me = &self.caller.operator;
        let row = operators::get(main, me.operator_id)
            .await?
            .ok_or_else(|| Refusal::not_found("账号不存在"))?;
        let right = match &row.password_hash {
            Some(h) => hasher.verify(current, h).await,
            None => false,
        };
        if !right {
            return Err(field("current_password", "当前密码不正确"));
        }
        if new != repeat {
            return Err(field("new_password_repeat", "两次输入的新密码不一致"));
        }
        xiaobao_identity::check_new_password(new, &row.login_name)
            .map_err(|p| field("new_password", p.to_string()))?;
        if hasher
            .verify(new, row.password_hash.as_deref().unwrap_or_default())
            .await
        {
            return Err(field("new_password", "新密码不能与当前密码相同"));
        }
        let hash = hasher.hash(new).await.map_err(Failure::from)?;
        operators::store_password(main, me.operator_id, &hash, false).await?;
        self.audit(
            "operator.password_changed",
            "operator",
            Some(&me.operator_id.to_string()),
            json!({}),
        )
        .await?;
        let fresh = operators::get(main, me.operator_id)
            .await?
            .ok_or_else(|| Refusal::not_found("账号不存在"))?;
        Ok(OperatorIdentity {
            must_change_password: false,
            epoch: fresh.session_epoch,
            ..me.clone()
        })
    }

    pub async fn two_factor_status(&self) -> Outcome<TwoFactorStatus> {
        let mut conn = self.caller.db.clusters.main().acquire().await.map_err(db)?;
        let id = self.caller.operator.operator_id;
        let row = sqlx::query!(
            "select enabled_at from control.operator_totp where operator_id = $1",
            id
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        Ok(TwoFactorStatus {
            enabled_at: row.as_ref().and_then(|r| r.enabled_at),
            pending: row.as_ref().is_some_and(|r| r.enabled_at.is_none()),
            recovery_codes_left: totp::recovery_codes_left(&mut conn, id).await?,
        })
    }

    fn enrolment(&self, secret: &[u8]) -> Enrolment {
        Enrolment {
            secret_base32: id_totp::base32(secret),
            otpauth_uri: id_totp::otpauth_uri(
                CONSOLE_LABEL,
                &self.caller.operator.login_name,
                secret,
            ),
        }
    }

    /// Starts an enrolment: a new secret, sealed at once.
    pub async fn begin_two_factor(&self, keys: &TotpKeys) -> Outcome<Enrolment> {
        let id = self.caller.operator.operator_id;
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        if totp::is_enabled(&mut tx, id).await? {
            return Err(Refusal::conflict("two_factor_enabled", "两步验证已开启").into());
        }
        let secret = id_totp::new_secret();
        let sealed = keys.seal(id, &secret).map_err(Failure::internal)?;
        totp::store_pending(&mut tx, id, &sealed).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "totp.enrolment_started",
            "operator",
            Some(&id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(self.enrolment(&secret))
    }

    /// The pending enrolment, to show its QR code again.
    pub async fn pending_two_factor(&self, keys: &TotpKeys) -> Outcome<Option<Enrolment>> {
        let id = self.caller.operator.operator_id;
        let mut conn = self.caller.db.clusters.main().acquire().await.map_err(db)?;
        let row = totp::row_for_update(&mut conn, id).await?;
        Ok(match row {
            Some(r) if r.enabled_at.is_none() => {
                let secret = keys.open(id, &r.secret_sealed).map_err(Failure::internal)?;
                Some(self.enrolment(&secret))
            }
            _ => None,
        })
    }

    /// Confirms the enrolment with a current code; answers the recovery codes (shown once).
    pub async fn confirm_two_factor(&self, keys: &TotpKeys, code: &str) -> Outcome<Vec<String>> {
        let id = self.caller.operator.operator_id;
        let now = self.caller.clock.now();
        let mut tx = self.caller.db.clusters.main().begin().await.map_err(db)?;
        let row = totp::row_for_update(&mut tx, id).await?;
        let Some(row) = row.filter(|r| r.enabled_at.is_none()) else {
            return Err(Refusal::conflict(
                "no_pending_enrolment",
                "没有待确认的两步验证设置，请重新开始",
            )
            .into());
        };
        let secret = keys
            .open(id, &row.secret_sealed)
            .map_err(Failure::internal)?;
        let Some(step) = id_totp::matching_step(&secret, code.trim(), now, None) else {
            return Err(Refusal::invalid(
                "invalid_second_factor",
                "动态验证码不正确，请输入身份验证器当前显示的 6 位数字",
            )
            .on("code")
            .into());
        };
        let codes = totp::enable(&mut tx, id, step, now).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "totp.enabled",
            "operator",
            Some(&id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(codes)
    }

    /// Turns two-factor sign-in off (the password and a current code or a recovery code).
    pub async fn disable_two_factor(
        &self,
        keys: &TotpKeys,
        hasher: &PasswordHasher,
        password: &str,
        code: &str,
    ) -> Outcome<()> {
        let id = self.caller.operator.operator_id;
        let main = self.caller.db.clusters.main();
        let row = operators::get(main, id)
            .await?
            .ok_or_else(|| Refusal::not_found("账号不存在"))?;
        let right = match &row.password_hash {
            Some(h) => hasher.verify(password, h).await,
            None => false,
        };
        if !right {
            return Err(field("password", "密码不正确"));
        }
        let mut tx = main.begin().await.map_err(db)?;
        let Some(t) = totp::row_for_update(&mut tx, id)
            .await?
            .filter(|r| r.enabled_at.is_some())
        else {
            return Err(Refusal::conflict("two_factor_disabled", "两步验证未开启").into());
        };
        if totp::check_and_use(&mut tx, keys, id, &t, code.trim(), self.caller.clock.now())
            .await?
            .is_none()
        {
            return Err(field("code", "动态验证码或恢复码不正确"));
        }
        totp::remove(&mut tx, id).await?;
        audit::record(
            &mut *tx,
            &self.actor(),
            "totp.disabled",
            "operator",
            Some(&id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

/// Runs provisioning on a blocking thread driven by the runtime's handle: the provisioner's
/// futures are not provably `Send` (a compiler limitation with their borrowed arguments), and
/// a handler's future must be.
async fn provisioning<T, F, Fut>(f: F) -> Outcome<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Outcome<T>>,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(f()))
        .await
        .map_err(Failure::internal)?
}
