//! Typed configuration, loaded once at start: embedded defaults → optional TOML file →
//! environment variables (`XIAOBAO_SECTION__KEY`). A missing or wrong value fails at start
//! with a message that names the variable and says how to fix it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret value (URL with password, key): never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Name of the cluster that holds the control schema (the tenant catalog).
pub const MAIN_CLUSTER: &str = "main";

/// The whole configuration of one service process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub session: SessionConfig,
    pub storage: StorageConfig,
    pub mail: MailConfig,
    pub jobs: JobsConfig,
    pub outbox: OutboxConfig,
    pub demo: DemoConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    #[serde(default)]
    pub personal_data: PersonalDataConfig,
    #[serde(default)]
    pub keys: KeysConfig,
}

/// Where the embedded default keeps the keys it generates (see `docs/SECURITY.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The keyring file of the embedded default (mode 0600, in a 0700 directory). Unset:
    /// `secrets/keyring.toml` beside the embedded cluster's directory (`var/secrets/keyring.toml`
    /// with the default `database.embedded_dir`). Relative paths are taken against the current
    /// directory at start. Never written in external mode.
    pub file: Option<PathBuf>,
}

/// The id of a key when none is configured.
pub const DEFAULT_KEY_ID: u8 = 1;

fn default_key_id() -> u8 {
    DEFAULT_KEY_ID
}

/// Keys protecting personal data (resident ID numbers in rosters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalDataConfig {
    /// Master key (at least 32 characters) from which each programme's ID encryption and
    /// matching keys are derived. Losing it makes stored ID numbers unreadable; every instance
    /// must share it. Required in external mode; in the embedded default it comes from the
    /// keyring file (`keys.file`) unless set here.
    pub id_key: Option<Secret>,
    /// Id (1–255) of `id_key`, recorded in every ID it seals; a new key gets a new id.
    #[serde(default = "default_key_id")]
    pub id_key_id: u8,
    /// During a rotation: the key being replaced, so IDs it sealed still open until
    /// `xiaobao keys reseal` has re-sealed them.
    pub previous_id_key: Option<Secret>,
    /// Id of `previous_id_key`.
    #[serde(default = "default_key_id")]
    pub previous_id_key_id: u8,
    /// Key of the ID match hash (duplicate and cross-school checks). Unset: `id_key`. The
    /// match hash must never change, so when `id_key` is rotated this is set to the first
    /// `id_key`.
    pub match_key: Option<Secret>,
}

impl Default for PersonalDataConfig {
    fn default() -> Self {
        Self {
            id_key: None,
            id_key_id: DEFAULT_KEY_ID,
            previous_id_key: None,
            previous_id_key_id: DEFAULT_KEY_ID,
            match_key: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Host names `<slug>.<base_domain>` select a tenant (e.g. `henan.localhost`).
    pub base_domain: String,
    /// Public base URL printed on start and used in links (defaults to `http://<listen>`).
    pub public_url: Option<String>,
    /// Largest request body accepted on the upload routes (rosters, imports, registration
    /// documents), in bytes.
    pub body_limit_bytes: usize,
    /// Largest request body accepted on every other route (forms and JSON), in bytes.
    #[serde(default = "default_form_limit")]
    pub form_limit_bytes: usize,
    /// Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` / `X-Real-IP`
    /// headers are believed; requests from anywhere else are judged by their peer address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Requests taking longer than this are answered with 503.
    pub request_timeout_secs: u64,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
}

/// Where PostgreSQL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseMode {
    /// Start a private cluster under `embedded_dir` from the machine's PostgreSQL binaries.
    Embedded,
    /// Use the clusters given in `url` / `clusters`.
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub mode: DatabaseMode,
    /// Data directory of the embedded cluster.
    pub embedded_dir: PathBuf,
    /// Loopback port of the embedded cluster.
    pub embedded_port: u16,
    /// URL of the main cluster (external mode); holds the control schema.
    pub url: Option<Secret>,
    /// Further clusters tenants can be placed on: name → URL.
    #[serde(default)]
    pub clusters: BTreeMap<String, Secret>,
    /// Connections per cluster pool.
    pub max_connections: u32,
    /// Prefix of the per-tenant database roles (`<prefix>_t_<slug>`); roles are cluster-wide,
    /// so two deployments sharing a cluster need different prefixes.
    pub role_prefix: String,
    /// Statement timeout for request transactions, in milliseconds.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Redis URL; when absent sessions, rate limits and caches stay in-process.
    pub url: Option<Secret>,
}

/// The browser session cookie (sessions live in Redis when `redis.url` is set, else in-process).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Name of the session cookie.
    pub cookie_name: String,
    /// Send the cookie with `Secure` (HTTPS only). Unset: on when `server.public_url` is
    /// `https://…`, off otherwise (loopback development over plain HTTP).
    pub cookie_secure: Option<bool>,
    /// Minutes without a request after which a session ends (等保: session time-out).
    pub idle_timeout_mins: u64,
    /// Hours after sign-in after which a session ends however active it is.
    #[serde(default = "default_absolute_timeout_hours")]
    pub absolute_timeout_hours: u64,
}

/// Which object store holds documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under `local_dir`.
    Local,
    /// An S3-compatible service (Aliyun OSS in production).
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Directory for the local backend.
    pub local_dir: PathBuf,
    /// Where uploads are staged (hashed, checked) before they go to the store.
    pub upload_dir: PathBuf,
    /// S3: endpoint URL; for Aliyun OSS the bucket's own host
    /// (`https://<bucket>.oss-cn-hangzhou.aliyuncs.com`) with `s3_virtual_hosted_style`.
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    /// S3 region, e.g. `cn-hangzhou`.
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// The endpoint names the bucket (Aliyun OSS), rather than the bucket being in the path.
    pub s3_virtual_hosted_style: bool,
    /// Allow a plain `http://` endpoint (loopback test servers only).
    pub s3_allow_http: bool,
    /// Key (at least 32 characters) signing document download links; several instances
    /// must share it. Required in external mode; in the embedded default it comes from the
    /// keyring file (`keys.file`) unless set here.
    pub download_key: Option<Secret>,
    /// Id (1–255) of `download_key`, for the key check at start; a new key gets a new id.
    #[serde(default = "default_key_id")]
    pub download_key_id: u8,
}

/// Where outgoing mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// `.eml` files under `outbox.dir` (the embedded default).
    Outbox,
    Smtp,
}

/// TLS towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// Sender, e.g. `校保 <noreply@example.cn>`.
    pub from: String,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    pub smtp_tls: SmtpTlsMode,
    pub smtp_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Run the background worker inside `run` (the embedded default); a deployment with a
    /// separate `xiaobao worker` process turns this off.
    pub embedded_worker: bool,
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    pub poll_interval_secs: u64,
    /// How long a claimed job stays reserved before another worker may take it over.
    pub lease_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Directory where outgoing mail and SMS are written when no gateway is configured.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Provision the demo tenants (`henan`, `liupanshui`, `shanghai`) and their demo accounts
    /// on start. Unset: on in the embedded default, off in external mode (see
    /// [`Config::demo_seed`]).
    pub seed: Option<bool>,
    /// Where the generated demo password is kept in clear (mode 0600) for the start banner.
    /// Unset: `secrets/demo-password` beside the embedded cluster's directory.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// Passwords, lock-out, rate limits and one-time codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB (with `argon2_iterations`, chosen so one login costs
    /// 50–200 ms of one core; `xiaobao-bench auth` prints the figure).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// A password must be changed this many days after it was set.
    pub password_max_age_days: u32,
    /// Holders are warned (SMS or mail) this many days before their password expires.
    pub password_warn_days: u32,
    /// Failed logins in a row from one client address that lock the account for that address.
    pub lockout_threshold: u32,
    /// Failed logins in a row from any address that lock the account for every address.
    #[serde(default = "default_account_lockout_threshold")]
    pub account_lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout_mins: u32,
    /// Login attempts allowed per client IP per minute (Redis when configured).
    pub login_per_ip_per_minute: u32,
    /// Login attempts allowed per login name per 15 minutes.
    pub login_per_account_per_15min: u32,
    /// SMS codes sent per mobile per hour.
    pub codes_per_mobile_per_hour: u32,
    /// How long an SMS code stays valid.
    pub code_ttl_mins: u32,
    /// How long a set-password link stays valid.
    pub link_ttl_hours: u32,
    /// Key (at least 32 characters) hashing one-time codes and signing set-password links;
    /// several instances must share it. Required in external mode; in the embedded default it
    /// comes from the keyring file (`keys.file`) unless set here.
    pub secret_key: Option<Secret>,
    /// Id (1–255) of `secret_key`, for the key check at start; a new key gets a new id.
    #[serde(default = "default_key_id")]
    pub secret_key_id: u8,
    /// Programme authority accounts must turn on two-factor sign-in (TOTP) before anything
    /// else: every page sends them to the enrolment page until they have. Off in the embedded
    /// demo default and the tests; set it (`XIAOBAO_AUTH__REQUIRE_TOTP_FOR_ADMINS=true`) in
    /// production (等保 level 3 asks two factors of administrators).
    #[serde(default)]
    pub require_totp_for_admins: bool,
    /// Platform operators must turn on two-factor sign-in (TOTP) before using the console
    /// (`XIAOBAO_AUTH__REQUIRE_TOTP_FOR_OPERATORS=true`; set it in production, like
    /// `require_totp_for_admins`).
    #[serde(default)]
    pub require_totp_for_operators: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,xiaobao=debug`.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                base_domain: "localhost".into(),
                public_url: None,
                body_limit_bytes: 32 * 1024 * 1024,
                form_limit_bytes: default_form_limit(),
                trusted_proxies: Vec::new(),
                request_timeout_secs: 60,
                shutdown_grace_secs: 10,
            },
            database: DatabaseConfig {
                mode: DatabaseMode::Embedded,
                embedded_dir: PathBuf::from("var/pg"),
                embedded_port: 54320,
                url: None,
                clusters: BTreeMap::new(),
                max_connections: 20,
                role_prefix: "xiaobao".into(),
                statement_timeout_ms: 30_000,
            },
            redis: RedisConfig { url: None },
            session: SessionConfig {
                cookie_name: "xb_session".into(),
                cookie_secure: None,
                idle_timeout_mins: 30,
                absolute_timeout_hours: default_absolute_timeout_hours(),
            },
            storage: StorageConfig {
                backend: StorageBackend::Local,
                local_dir: PathBuf::from("var/objects"),
                upload_dir: PathBuf::from("var/uploads"),
                s3_endpoint: None,
                s3_bucket: None,
                s3_region: "cn-hangzhou".into(),
                s3_access_key_id: None,
                s3_secret_access_key: None,
                s3_virtual_hosted_style: true,
                s3_allow_http: false,
                download_key: None,
                download_key_id: DEFAULT_KEY_ID,
            },
            mail: MailConfig {
                transport: MailTransport::Outbox,
                from: "校保 <noreply@xiaobao.localhost>".into(),
                smtp_host: None,
                smtp_port: 587,
                smtp_username: None,
                smtp_password: None,
                smtp_tls: SmtpTlsMode::Starttls,
                smtp_timeout_secs: 30,
            },
            jobs: JobsConfig {
                embedded_worker: true,
                concurrency: 4,
                poll_interval_secs: 5,
                lease_secs: 60,
            },
            outbox: OutboxConfig {
                dir: PathBuf::from("var/outbox"),
            },
            demo: DemoConfig {
                seed: None,
                password_file: None,
            },
            auth: AuthConfig {
                argon2_memory_kib: 64 * 1024,
                argon2_iterations: 2,
                password_max_age_days: 90,
                password_warn_days: 7,
                lockout_threshold: 5,
                account_lockout_threshold: default_account_lockout_threshold(),
                lockout_mins: 15,
                login_per_ip_per_minute: 60,
                login_per_account_per_15min: 20,
                codes_per_mobile_per_hour: 5,
                code_ttl_mins: 10,
                link_ttl_hours: 72,
                secret_key: None,
                secret_key_id: DEFAULT_KEY_ID,
                require_totp_for_admins: false,
                require_totp_for_operators: false,
            },
            personal_data: PersonalDataConfig::default(),
            keys: KeysConfig::default(),
            log: LogConfig {
                format: LogFormat::Pretty,
                filter: "info".into(),
            },
        }
    }
}

/// A configuration that could not be loaded, with the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "配置文件 {path} 不存在（XIAOBAO_CONFIG 指向的文件）：请检查路径，或去掉 XIAOBAO_CONFIG 以使用内置默认值"
    )]
    MissingFile { path: PathBuf },
    #[error(
        "配置无效：{0}。配置项可写在 XIAOBAO_CONFIG 指定的 TOML 文件中，或以环境变量 XIAOBAO_<节>__<键> 给出（例如 XIAOBAO_SERVER__LISTEN=127.0.0.1:8080）；全部配置项见 README"
    )]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then the file named by `XIAOBAO_CONFIG` (if set), then `XIAOBAO_*`
    /// environment variables.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os("XIAOBAO_CONFIG").map(PathBuf::from);
        Self::load_from(file.as_deref(), environment())
    }

    /// Loads with an explicit file and environment provider (used by tests).
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        // `XIAOBAO_CONFIG` names the file, and `XIAOBAO_TEST_*` belong to the test suite:
        // neither is a configuration key.
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.database.mode == DatabaseMode::External && self.database.url.is_none() {
            return invalid(
                "database.mode = external 时必须给出 database.url（环境变量 XIAOBAO_DATABASE__URL，例如 postgres://xiaobao@db:5432/xiaobao）",
            );
        }
        if self.database.clusters.contains_key(MAIN_CLUSTER) {
            return invalid("database.clusters 中不能再定义名为 main 的集群：main 即 database.url");
        }
        for name in self.database.clusters.keys() {
            if !valid_ident(name) {
                return invalid(&format!(
                    "集群名 {name:?} 无效：只能使用小写字母、数字和下划线，以字母开头"
                ));
            }
        }
        if !valid_ident(&self.database.role_prefix) || self.database.role_prefix.len() > 24 {
            return invalid(
                "database.role_prefix 无效：只能使用小写字母、数字和下划线，以字母开头，最长 24 个字符",
            );
        }
        if self.storage.backend == StorageBackend::S3
            && (self.storage.s3_endpoint.is_none()
                || self.storage.s3_bucket.is_none()
                || self.storage.s3_access_key_id.is_none()
                || self.storage.s3_secret_access_key.is_none())
        {
            return invalid(
                "storage.backend = s3 时必须给出 XIAOBAO_STORAGE__S3_ENDPOINT、XIAOBAO_STORAGE__S3_BUCKET、XIAOBAO_STORAGE__S3_ACCESS_KEY_ID 和 XIAOBAO_STORAGE__S3_SECRET_ACCESS_KEY",
            );
        }
        if self
            .storage
            .download_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return invalid("storage.download_key（XIAOBAO_STORAGE__DOWNLOAD_KEY）至少 32 个字符");
        }
        if self
            .auth
            .secret_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return invalid("auth.secret_key（XIAOBAO_AUTH__SECRET_KEY）至少 32 个字符");
        }
        if self
            .personal_data
            .id_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return invalid("personal_data.id_key（XIAOBAO_PERSONAL_DATA__ID_KEY）至少 32 个字符");
        }
        let p = &self.personal_data;
        if p.previous_id_key
            .as_ref()
            .is_some_and(|k| k.expose().len() < 32)
        {
            return invalid(
                "personal_data.previous_id_key（XIAOBAO_PERSONAL_DATA__PREVIOUS_ID_KEY）至少 32 个字符",
            );
        }
        if p.match_key.as_ref().is_some_and(|k| k.expose().len() < 32) {
            return invalid(
                "personal_data.match_key（XIAOBAO_PERSONAL_DATA__MATCH_KEY）至少 32 个字符",
            );
        }
        for (id, name) in [
            (
                p.id_key_id,
                "personal_data.id_key_id（XIAOBAO_PERSONAL_DATA__ID_KEY_ID）",
            ),
            (
                p.previous_id_key_id,
                "personal_data.previous_id_key_id（XIAOBAO_PERSONAL_DATA__PREVIOUS_ID_KEY_ID）",
            ),
            (
                self.storage.download_key_id,
                "storage.download_key_id（XIAOBAO_STORAGE__DOWNLOAD_KEY_ID）",
            ),
            (
                self.auth.secret_key_id,
                "auth.secret_key_id（XIAOBAO_AUTH__SECRET_KEY_ID）",
            ),
        ] {
            if id == 0 {
                return invalid(&format!("{name} 必须在 1 到 255 之间"));
            }
        }
        if p.previous_id_key.is_some() && p.previous_id_key_id == p.id_key_id {
            return invalid(
                "personal_data.previous_id_key_id 不能与 personal_data.id_key_id 相同：新密钥要用新的编号",
            );
        }
        let missing = self.missing_external_keys();
        if !missing.is_empty() {
            return invalid(&external_keys_message(&missing));
        }
        let a = &self.auth;
        if a.argon2_memory_kib < 8 * 1024 || a.argon2_iterations == 0 {
            return invalid(
                "auth.argon2_memory_kib 不能小于 8192，auth.argon2_iterations 必须大于 0",
            );
        }
        if a.lockout_threshold == 0
            || a.lockout_mins == 0
            || a.password_max_age_days == 0
            || a.code_ttl_mins == 0
            || a.link_ttl_hours == 0
            || a.login_per_ip_per_minute == 0
            || a.login_per_account_per_15min == 0
            || a.codes_per_mobile_per_hour == 0
        {
            return invalid("auth 节的次数、时长必须大于 0");
        }
        if a.account_lockout_threshold <= a.lockout_threshold {
            return invalid(
                "auth.account_lockout_threshold 必须大于 auth.lockout_threshold（整个账号锁定的次数应多于单个地址锁定的次数）",
            );
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp_host.is_none() {
            return invalid(
                "mail.transport = smtp 时必须给出 mail.smtp_host（XIAOBAO_MAIL__SMTP_HOST）",
            );
        }
        if self.jobs.concurrency == 0
            || self.jobs.lease_secs < 5
            || self.jobs.poll_interval_secs == 0
        {
            return invalid(
                "jobs.concurrency 与 jobs.poll_interval_secs 必须大于 0，jobs.lease_secs 不能小于 5",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections 必须大于 0");
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes 不能小于 1024");
        }
        if self.server.form_limit_bytes < 1024
            || self.server.form_limit_bytes > self.server.body_limit_bytes
        {
            return invalid(
                "server.form_limit_bytes 不能小于 1024，也不能大于 server.body_limit_bytes",
            );
        }
        for proxy in &self.server.trusted_proxies {
            if parse_cidr(proxy).is_none() {
                return invalid(&format!(
                    "server.trusted_proxies 中的「{proxy}」不是有效的 IP 地址或网段（例如 10.0.0.5 或 10.0.0.0/8）"
                ));
            }
        }
        if let Some(url) = &self.server.public_url
            && url::Url::parse(url).is_err()
        {
            return invalid("server.public_url 不是有效的 URL（例如 https://xiaobao.example.cn）");
        }
        let name = &self.session.cookie_name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return invalid(
                "session.cookie_name 无效：只能使用字母、数字、下划线和连字符（例如 xb_session）",
            );
        }
        if !(1..=1440).contains(&self.session.idle_timeout_mins) {
            return invalid("session.idle_timeout_mins 必须在 1 到 1440（分钟）之间");
        }
        if !(1..=168).contains(&self.session.absolute_timeout_hours) {
            return invalid("session.absolute_timeout_hours 必须在 1 到 168（小时）之间");
        }
        Ok(())
    }

    /// The keys external mode requires and the configuration lacks, as the environment
    /// variables that set them (empty in the embedded default).
    pub fn missing_external_keys(&self) -> Vec<&'static str> {
        if self.database.mode != DatabaseMode::External {
            return Vec::new();
        }
        let mut missing = Vec::new();
        if self.personal_data.id_key.is_none() {
            missing.push("XIAOBAO_PERSONAL_DATA__ID_KEY");
        }
        if self.storage.download_key.is_none() {
            missing.push("XIAOBAO_STORAGE__DOWNLOAD_KEY");
        }
        if self.auth.secret_key.is_none() {
            missing.push("XIAOBAO_AUTH__SECRET_KEY");
        }
        missing
    }

    /// Whether the demo programmes and accounts are seeded on start: `demo.seed` when set,
    /// else on exactly in the embedded default.
    pub fn demo_seed(&self) -> bool {
        self.demo
            .seed
            .unwrap_or(self.database.mode == DatabaseMode::Embedded)
    }

    /// The directory beside the embedded cluster's (`var` with the defaults), absolute.
    fn data_root(&self) -> PathBuf {
        let cluster = absolute(&self.database.embedded_dir);
        cluster.parent().map(Path::to_path_buf).unwrap_or(cluster)
    }

    /// The keyring file of the embedded default, absolute (`keys.file`, else
    /// `<embedded_dir>/../secrets/keyring.toml`).
    pub fn keyring_path(&self) -> PathBuf {
        match &self.keys.file {
            Some(path) => absolute(path),
            None => self.data_root().join("secrets").join("keyring.toml"),
        }
    }

    /// The clear demo password's file, absolute (`demo.password_file`, else
    /// `<embedded_dir>/../secrets/demo-password`).
    pub fn demo_password_path(&self) -> PathBuf {
        match &self.demo.password_file {
            Some(path) => absolute(path),
            None => self.data_root().join("secrets").join("demo-password"),
        }
    }

    /// Whether the session cookie carries `Secure`: `session.cookie_secure` when set, else
    /// whether the public URL is HTTPS.
    pub fn session_cookie_secure(&self) -> bool {
        self.session
            .cookie_secure
            .unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    /// Base URL for links and the start banner.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

/// The `XIAOBAO_*` variables, less `XIAOBAO_CONFIG` (it names the file) and `XIAOBAO_TEST_*`
/// (they belong to the test suite).
pub fn environment() -> Env {
    Env::prefixed("XIAOBAO_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.starts_with("test_")
        })
        .split("__")
}

/// The message refusing external mode without its keys, naming each missing variable.
pub fn external_keys_message(missing: &[&str]) -> String {
    format!(
        "database.mode = external 时必须配置全部密钥（每个至少 32 个随机字符，所有实例相同），缺少：{}。可用 `openssl rand -hex 32` 生成；说明见 docs/SECURITY.md",
        missing.join("、")
    )
}

/// `path` made absolute against the current directory.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Lowercase identifier usable in role, schema and cluster names.
pub fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn describe(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let var = format!("XIAOBAO_{}", e.path.join("__").to_uppercase());
            if path.is_empty() {
                e.kind.to_string()
            } else {
                format!("{path}（环境变量 {var}）: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn default_account_lockout_threshold() -> u32 {
    30
}

fn default_absolute_timeout_hours() -> u64 {
    12
}

fn default_form_limit() -> usize {
    64 * 1024
}

/// An IP address or CIDR range (`10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`): the network
/// address and prefix length, or `None` when it is neither.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let text = text.trim();
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

/// Whether `ip` lies in the range `net`/`bits` (IPv4-mapped IPv6 addresses count as IPv4).
pub fn cidr_contains(net: (std::net::IpAddr, u8), ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(net.1)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(net.1)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure's error type"
)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load() -> Result<Config, ConfigError> {
        Config::load_from(None, environment())
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "XIAOBAO_SERVER__TRUSTED_PROXIES",
                "[\"10.0.0.0/8\", \"::1\"]",
            );
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.server.trusted_proxies, ["10.0.0.0/8", "::1"]);
            jail.set_env("XIAOBAO_SERVER__TRUSTED_PROXIES", "[\"10.0.0.0/33\"]");
            let e = load().expect_err("a /33 is no range");
            assert!(e.to_string().contains("server.trusted_proxies"), "{e}");
            Ok(())
        });
        let net = parse_cidr("10.1.0.0/16").expect("range");
        assert!(cidr_contains(net, "10.1.200.3".parse().expect("ip")));
        assert!(!cidr_contains(net, "10.2.0.1".parse().expect("ip")));
        assert!(cidr_contains(net, "::ffff:10.1.0.9".parse().expect("ip")));
        let one = parse_cidr("127.0.0.2").expect("address");
        assert!(cidr_contains(one, "127.0.0.2".parse().expect("ip")));
        assert!(!cidr_contains(one, "127.0.0.3".parse().expect("ip")));
        assert!(cidr_contains(
            parse_cidr("0.0.0.0/0").expect("all"),
            "8.8.8.8".parse().expect("ip")
        ));
        assert!(parse_cidr("example.cn").is_none());
        assert!(parse_cidr("::/129").is_none());
    }

    #[test]
    fn defaults_are_embedded_and_valid() {
        Jail::expect_with(|_| {
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.database.mode, DatabaseMode::Embedded);
            assert!(c.redis.url.is_none());
            assert_eq!(c.storage.backend, StorageBackend::Local);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "x.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\nbase_domain = \"example.cn\"\n",
            )?;
            jail.set_env("XIAOBAO_SERVER__LISTEN", "127.0.0.1:9100");
            let c = Config::load_from(Some(Path::new("x.toml")), environment())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.server.listen.port(), 9100);
            assert_eq!(c.server.base_domain, "example.cn");
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("XIAOBAO_SERVER__LISTEN", "not an address");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("XIAOBAO_SERVER__LISTEN"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn external_mode_without_url_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("XIAOBAO_DATABASE__MODE", "external");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("XIAOBAO_DATABASE__URL"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn external_mode_requires_every_key_and_names_the_missing_ones() {
        Jail::expect_with(|jail| {
            jail.set_env("XIAOBAO_DATABASE__MODE", "external");
            jail.set_env("XIAOBAO_DATABASE__URL", "postgres://xiaobao@db/xiaobao");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            for var in [
                "XIAOBAO_PERSONAL_DATA__ID_KEY",
                "XIAOBAO_STORAGE__DOWNLOAD_KEY",
                "XIAOBAO_AUTH__SECRET_KEY",
            ] {
                assert!(err.contains(var), "{var}: {err}");
            }
            jail.set_env("XIAOBAO_PERSONAL_DATA__ID_KEY", "i".repeat(32));
            jail.set_env("XIAOBAO_AUTH__SECRET_KEY", "a".repeat(32));
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("XIAOBAO_STORAGE__DOWNLOAD_KEY"), "{err}");
            assert!(!err.contains("XIAOBAO_AUTH__SECRET_KEY"), "{err}");
            jail.set_env("XIAOBAO_STORAGE__DOWNLOAD_KEY", "short");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("至少 32 个字符"), "{err}");
            jail.set_env("XIAOBAO_STORAGE__DOWNLOAD_KEY", "d".repeat(32));
            let c = load().map_err(|e| e.to_string())?;
            assert!(c.missing_external_keys().is_empty());
            assert!(!c.demo_seed(), "external mode seeds no demo by default");
            assert_eq!(c.personal_data.id_key_id, 1);
            jail.set_env("XIAOBAO_DEMO__SEED", "true");
            assert!(load().map_err(|e| e.to_string())?.demo_seed());
            Ok(())
        });
    }

    #[test]
    fn key_ids_and_the_previous_key_are_checked() {
        Jail::expect_with(|jail| {
            jail.set_env("XIAOBAO_PERSONAL_DATA__ID_KEY_ID", "0");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("XIAOBAO_PERSONAL_DATA__ID_KEY_ID"), "{err}");
            jail.set_env("XIAOBAO_PERSONAL_DATA__ID_KEY_ID", "256");
            assert!(load().is_err(), "ids fit one byte");
            jail.set_env("XIAOBAO_PERSONAL_DATA__ID_KEY_ID", "2");
            jail.set_env("XIAOBAO_PERSONAL_DATA__PREVIOUS_ID_KEY", "p".repeat(32));
            jail.set_env("XIAOBAO_PERSONAL_DATA__PREVIOUS_ID_KEY_ID", "2");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("previous_id_key_id"), "{err}");
            jail.set_env("XIAOBAO_PERSONAL_DATA__PREVIOUS_ID_KEY_ID", "1");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.personal_data.previous_id_key_id, 1);
            Ok(())
        });
    }

    #[test]
    fn the_embedded_default_keeps_its_secrets_beside_its_cluster() {
        Jail::expect_with(|jail| {
            let c = load().map_err(|e| e.to_string())?;
            assert!(c.demo_seed(), "the embedded default seeds the demo");
            let here = std::env::current_dir().map_err(|e| e.to_string())?;
            assert_eq!(c.keyring_path(), here.join("var/secrets/keyring.toml"));
            assert_eq!(
                c.demo_password_path(),
                here.join("var/secrets/demo-password")
            );
            jail.set_env("XIAOBAO_DATABASE__EMBEDDED_DIR", "/srv/xiaobao/pg");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(
                c.keyring_path(),
                Path::new("/srv/xiaobao/secrets/keyring.toml")
            );
            jail.set_env("XIAOBAO_KEYS__FILE", "keys/ring.toml");
            jail.set_env("XIAOBAO_DEMO__SEED", "false");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.keyring_path(), here.join("keys/ring.toml"));
            assert!(!c.demo_seed());
            Ok(())
        });
    }

    #[test]
    fn the_session_cookie_is_secure_exactly_when_served_over_https() {
        Jail::expect_with(|jail| {
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.session.cookie_name, "xb_session");
            assert_eq!(c.session.idle_timeout_mins, 30);
            assert!(!c.session_cookie_secure(), "loopback HTTP by default");
            jail.set_env("XIAOBAO_SERVER__PUBLIC_URL", "https://xiaobao.example.cn");
            let c = load().map_err(|e| e.to_string())?;
            assert!(c.session_cookie_secure());
            jail.set_env("XIAOBAO_SESSION__COOKIE_SECURE", "false");
            let c = load().map_err(|e| e.to_string())?;
            assert!(!c.session_cookie_secure(), "an explicit setting wins");
            jail.set_env("XIAOBAO_SESSION__IDLE_TIMEOUT_MINS", "0");
            let err = load().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("idle_timeout_mins"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("XIAOBAO_SERVER__LISTN", "127.0.0.1:1");
            assert!(load().is_err());
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_refused() {
        let err = Config::load_from(
            Some(Path::new("/nonexistent/xiaobao.toml")),
            Env::prefixed("XIAOBAO_TEST_NOTHING_"),
        );
        assert!(matches!(err, Err(ConfigError::MissingFile { .. })));
    }
}
