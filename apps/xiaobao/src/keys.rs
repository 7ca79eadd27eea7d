//! The service's keyring: the ID master key (`personal_data.id_key`), the download-link key
//! (`storage.download_key`) and the one-time-code and link key (`auth.secret_key`), each with
//! an id. `docs/SECURITY.md` (section Keys) is the operator's view of this module.
//!
//! - **Embedded default**: three independent keys, each 32 random bytes written as 64
//!   hexadecimal characters, generated once and kept in one file (`Config::keyring_path`,
//!   `var/secrets/keyring.toml` by default), mode 0600 in a 0700 directory, written atomically
//!   (temporary file, then linked into place so that a concurrent start can never replace a
//!   keyring another start already wrote). The key is the text itself, exactly as a configured
//!   key is, so a keyring's values can be moved into `XIAOBAO_*` variables unchanged. A key set
//!   in the configuration takes precedence over the file's. The file is never regenerated once
//!   data exists: a missing keyring with an existing cluster (`PG_VERSION`) or recorded key
//!   checks refuses the start.
//! - **External mode**: all three keys come from the configuration; a missing one refuses the
//!   start, naming its variable. No file is read or written.
//! - **Key checks**: for every purpose and key id, HMAC-SHA256(key, `"xiaobao key check
//!   <purpose>"`) is recorded in `control.key_checks` on first use and compared on every later
//!   start ([`verify`]); a different key under the same id refuses the start.
//! - **Rotation** of the ID key: a new `id_key` with a new `id_key_id`, the old one as
//!   `previous_id_key`, and `match_key` set to the first ID key (the match hash never
//!   changes); then [`reseal`] (`xiaobao keys reseal`) re-seals every stored ID under the new
//!   key, after which the previous key can be removed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use xiaobao_config::{Config, DatabaseMode, Secret};
use xiaobao_db::Db;
use xiaobao_roster::IdSealer;

/// Key-check purpose of the ID sealing keys (current and previous share it: the key id tells
/// them apart).
pub const ID_KEY_PURPOSE: &str = "personal_data.id_key";
/// Key-check purpose of the match-hash key; it has no id of its own (recorded as 0).
pub const MATCH_KEY_PURPOSE: &str = "personal_data.match_key";
pub const DOWNLOAD_KEY_PURPOSE: &str = "storage.download_key";
pub const AUTH_KEY_PURPOSE: &str = "auth.secret_key";

/// The shortest key accepted, in bytes (as the configuration requires 32 characters).
const MIN_KEY_LEN: usize = 32;

/// Where a key came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The configuration (file or environment variable).
    Config,
    /// The embedded default's keyring file.
    Keyring(PathBuf),
}

/// One key: its id and its bytes (never printed by `Debug`).
#[derive(Clone)]
pub struct Key {
    pub id: u8,
    secret: Vec<u8>,
    pub source: KeySource,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Key {{ id: {}, source: {:?}, .. }}",
            self.id, self.source
        )
    }
}

impl Key {
    fn configured(id: u8, secret: &Secret) -> Key {
        Key {
            id,
            secret: secret.expose().as_bytes().to_vec(),
            source: KeySource::Config,
        }
    }

    /// The key's bytes; hand them only to the code that uses the key.
    pub fn expose(&self) -> &[u8] {
        &self.secret
    }
}

/// The service's keys, as [`load`] resolved them.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// Seals new IDs.
    pub id_key: Key,
    /// Still opens IDs it sealed (rotation).
    pub previous_id_key: Option<Key>,
    /// Keys the match hash; `None`: the ID key does.
    pub match_key: Option<Key>,
    pub download_key: Key,
    pub auth_secret: Key,
}

impl Keyring {
    /// The ID keys as one value for `AppState::id_key` / `IdSealer::for_tenant`.
    pub fn id_keys(&self) -> Vec<u8> {
        IdSealer::encode_keys(
            (self.id_key.id, self.id_key.expose()),
            self.previous_id_key.as_ref().map(|k| (k.id, k.expose())),
            self.match_key.as_ref().map(Key::expose),
        )
    }
}

/// The keyring file of the embedded default. Its sections mirror the configuration's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    personal_data: FileIdKey,
    storage: FileDownloadKey,
    auth: FileAuthKey,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIdKey {
    id_key: String,
    id_key_id: u8,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDownloadKey {
    download_key: String,
    download_key_id: u8,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuthKey {
    secret_key: String,
    secret_key_id: u8,
}

const FILE_HEADER: &str = "\
# 校保内置模式的密钥环（自动生成）。这些密钥保护已存的身份证号、下载链接和一次性验证码/链接。
# 请勿删除或修改，不要提交到代码仓库；备份数据库时一并安全备份此文件。
# 每个值就是密钥本身，可原样用作 XIAOBAO_PERSONAL_DATA__ID_KEY 等环境变量。说明见 docs/SECURITY.md。
";

/// Whether the embedded cluster's data directory already holds a cluster (in the configured
/// directory, or where `xiaobao-pgembed` puts it when its service user cannot reach that one).
pub fn embedded_cluster_exists(config: &Config) -> bool {
    let dir = absolute(&config.database.embedded_dir);
    dir.join("PG_VERSION").exists()
        || xiaobao_pgembed::fallback_dir(&dir)
            .join("PG_VERSION")
            .exists()
}

/// Resolves the keys. External mode: from the configuration, every one required. Embedded
/// default: configured keys first, the rest from the keyring file, which is created when
/// missing unless `existing_data` (a cluster or key checks already exist) says that data
/// made with the lost keys may be there — then the start is refused.
pub fn load(config: &Config, existing_data: bool) -> anyhow::Result<Keyring> {
    let p = &config.personal_data;
    let previous_id_key = p
        .previous_id_key
        .as_ref()
        .map(|k| Key::configured(p.previous_id_key_id, k));
    let match_key = p
        .match_key
        .as_ref()
        .map(|k| Key::configured(xiaobao_config::DEFAULT_KEY_ID, k));
    let configured = (
        p.id_key.as_ref().map(|k| Key::configured(p.id_key_id, k)),
        config
            .storage
            .download_key
            .as_ref()
            .map(|k| Key::configured(config.storage.download_key_id, k)),
        config
            .auth
            .secret_key
            .as_ref()
            .map(|k| Key::configured(config.auth.secret_key_id, k)),
    );
    let (id_key, download_key, auth_secret) = match configured {
        (Some(id), Some(download), Some(auth)) => (id, download, auth),
        (id, download, auth) => {
            if config.database.mode == DatabaseMode::External {
                bail!(xiaobao_config::external_keys_message(
                    &config.missing_external_keys()
                ));
            }
            let path = config.keyring_path();
            let file = read_or_create(&path, existing_data)?;
            let from_file = |id: u8, secret: String| Key {
                id,
                secret: secret.into_bytes(),
                source: KeySource::Keyring(path.clone()),
            };
            (
                id.unwrap_or_else(|| {
                    from_file(file.personal_data.id_key_id, file.personal_data.id_key)
                }),
                download.unwrap_or_else(|| {
                    from_file(file.storage.download_key_id, file.storage.download_key)
                }),
                auth.unwrap_or_else(|| from_file(file.auth.secret_key_id, file.auth.secret_key)),
            )
        }
    };
    Ok(Keyring {
        id_key,
        previous_id_key,
        match_key,
        download_key,
        auth_secret,
    })
}

/// The keyring file at `path`, made now when missing and no data exists.
fn read_or_create(path: &Path, existing_data: bool) -> anyhow::Result<KeyringFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => return parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("无法读取密钥环文件 {}", path.display())),
    }
    if existing_data {
        bail!(
            "密钥环文件 {} 不存在，但已有数据（内置数据库已初始化，或数据库中已记录密钥校验值）：\
             不会生成新密钥，否则已存的身份证号将无法解密、已发出的链接全部失效。\
             请从备份恢复该文件（或用 keys.file / XIAOBAO_KEYS__FILE 指向它，\
             或以 XIAOBAO_PERSONAL_DATA__ID_KEY 等配置原来的密钥）后再启动；说明见 docs/SECURITY.md",
            path.display()
        );
    }
    let file = KeyringFile {
        personal_data: FileIdKey {
            id_key: random_key(),
            id_key_id: xiaobao_config::DEFAULT_KEY_ID,
        },
        storage: FileDownloadKey {
            download_key: random_key(),
            download_key_id: xiaobao_config::DEFAULT_KEY_ID,
        },
        auth: FileAuthKey {
            secret_key: random_key(),
            secret_key_id: xiaobao_config::DEFAULT_KEY_ID,
        },
    };
    let text = format!(
        "{FILE_HEADER}\n{}",
        toml::to_string(&file).context("密钥环无法序列化")?
    );
    if write_new_private(path, text.as_bytes())? {
        tracing::info!(path = %path.display(), "keyring generated");
        Ok(file)
    } else {
        // Another process wrote it first: use theirs.
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("无法读取密钥环文件 {}", path.display()))?;
        parse(path, &text)
    }
}

fn parse(path: &Path, text: &str) -> anyhow::Result<KeyringFile> {
    warn_if_readable_by_others(path);
    let file: KeyringFile =
        toml::from_str(text).with_context(|| format!("密钥环文件 {} 格式无效", path.display()))?;
    for (name, key, id) in [
        (
            "personal_data.id_key",
            &file.personal_data.id_key,
            file.personal_data.id_key_id,
        ),
        (
            "storage.download_key",
            &file.storage.download_key,
            file.storage.download_key_id,
        ),
        (
            "auth.secret_key",
            &file.auth.secret_key,
            file.auth.secret_key_id,
        ),
    ] {
        if key.len() < MIN_KEY_LEN || id == 0 {
            bail!(
                "密钥环文件 {} 中的 {name} 无效：密钥至少 {MIN_KEY_LEN} 个字符，编号在 1 到 255 之间",
                path.display()
            );
        }
    }
    Ok(file)
}

/// 32 random bytes as 64 hexadecimal characters.
fn random_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Writes `bytes` to a new file at `path` readable by the owner only, in a directory only the
/// owner can enter, atomically: the content goes to a temporary file that is then linked to
/// `path`. Returns `false`, writing nothing, when `path` already exists.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    let dir = path
        .parent()
        .with_context(|| format!("{} 没有上级目录", path.display()))?;
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut f = options.open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e).with_context(|| format!("无法写入 {}", temp.display()));
    }
    // `hard_link` fails when `path` exists, unlike `rename`: a file another start already
    // wrote is never replaced.
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("无法创建 {}", path.display())),
    }
}

/// Creates `dir` if missing with mode 0700; missing parents get the usual mode (the embedded
/// cluster's service user must still reach its data directory beside `dir`).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("无法创建目录 {}", parent.display()))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("无法创建目录 {}", dir.display())),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the keyring file is readable by others than its owner: chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The check value of `key` for `purpose`: HMAC-SHA256(key, "xiaobao key check <purpose>").
pub fn check_value(key: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("xiaobao key check {purpose}").as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether the catalog already records any key check (data made with some key exists).
pub async fn has_key_checks(db: &Db) -> anyhow::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from control.key_checks) as "exists!""#)
        .fetch_one(db.clusters.main())
        .await
        .context("无法读取 control.key_checks")
}

/// Records the check value of every key not yet recorded, and refuses (naming each key) when
/// a key differs from the one recorded for its purpose and id.
pub async fn verify(db: &Db, keys: &Keyring) -> anyhow::Result<()> {
    struct Check<'a> {
        purpose: &'static str,
        key_id: u8,
        key: &'a Key,
        setting: &'static str,
        consequence: &'static str,
    }
    let mut checks = vec![
        Check {
            purpose: ID_KEY_PURPOSE,
            key_id: keys.id_key.id,
            key: &keys.id_key,
            setting: "personal_data.id_key",
            consequence: "已存的身份证号将无法解密",
        },
        match &keys.match_key {
            Some(key) => Check {
                purpose: MATCH_KEY_PURPOSE,
                key_id: 0,
                key,
                setting: "personal_data.match_key",
                consequence: "身份证号查重将全部失效（personal_data.match_key 应为最初的 personal_data.id_key）",
            },
            None => Check {
                purpose: MATCH_KEY_PURPOSE,
                key_id: 0,
                key: &keys.id_key,
                setting: "personal_data.id_key",
                consequence: "身份证号查重将全部失效（查重哈希的密钥未单独配置时就是 personal_data.id_key；\
                              轮换 id_key 时，须把最初的 id_key 配置为 personal_data.match_key）",
            },
        },
        Check {
            purpose: DOWNLOAD_KEY_PURPOSE,
            key_id: keys.download_key.id,
            key: &keys.download_key,
            setting: "storage.download_key",
            consequence: "已发出的下载链接将全部失效",
        },
        Check {
            purpose: AUTH_KEY_PURPOSE,
            key_id: keys.auth_secret.id,
            key: &keys.auth_secret,
            setting: "auth.secret_key",
            consequence: "已发出的设置密码链接和短信验证码将全部失效",
        },
    ];
    if let Some(previous) = &keys.previous_id_key {
        checks.push(Check {
            purpose: ID_KEY_PURPOSE,
            key_id: previous.id,
            key: previous,
            setting: "personal_data.previous_id_key",
            consequence: "它封存的身份证号将无法解密",
        });
    }
    let main = db.clusters.main();
    let mut problems = Vec::new();
    let mut id_key_failed = false;
    for check in checks {
        let value = check_value(check.key.expose(), check.purpose);
        sqlx::query!(
            "insert into control.key_checks (purpose, key_id, check_value) values ($1, $2, $3) \
             on conflict (purpose, key_id) do nothing",
            check.purpose,
            i32::from(check.key_id),
            value.as_slice(),
        )
        .execute(main)
        .await
        .context("无法写入 control.key_checks")?;
        let stored: Vec<u8> = sqlx::query_scalar!(
            "select check_value from control.key_checks where purpose = $1 and key_id = $2",
            check.purpose,
            i32::from(check.key_id),
        )
        .fetch_one(main)
        .await
        .context("无法读取 control.key_checks")?;
        // A wrong ID key also fails the match check when it keys the match hash: one message.
        let same_failure =
            check.purpose == MATCH_KEY_PURPOSE && keys.match_key.is_none() && id_key_failed;
        if check.purpose == ID_KEY_PURPOSE && check.key_id == keys.id_key.id {
            id_key_failed = stored != value;
        }
        if stored != value && !same_failure {
            let from = match &check.key.source {
                KeySource::Config => format!("来自配置 {}", variable(check.setting)),
                KeySource::Keyring(path) => format!("来自密钥环文件 {}", path.display()),
            };
            let id = if check.purpose == MATCH_KEY_PURPOSE {
                String::new()
            } else {
                format!("密钥编号 {}，", check.key_id)
            };
            problems.push(format!(
                "{} 与已有数据使用的密钥不一致（{id}{from}）：用它启动，{}。\
                 请换回原来的密钥；要换新密钥，请同时使用新的密钥编号，详见 docs/SECURITY.md",
                check.setting, check.consequence
            ));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("；"));
    }
    Ok(())
}

/// The environment variable of a setting (`personal_data.id_key` → `XIAOBAO_PERSONAL_DATA__ID_KEY`).
fn variable(setting: &str) -> String {
    format!(
        "XIAOBAO_{}",
        setting.replace('.', "__").to_ascii_uppercase()
    )
}

/// Loads the keys for a process connected to `db` and checks them against the recorded key
/// checks. In the embedded default a missing keyring is only generated while no cluster and no
/// key check exist.
pub async fn open(config: &Config, db: &Db) -> anyhow::Result<Keyring> {
    let existing = config.database.mode == DatabaseMode::Embedded
        && (embedded_cluster_exists(config) || has_key_checks(db).await?);
    let keys = load(config, existing)?;
    verify(db, &keys).await?;
    Ok(keys)
}

/// What [`reseal`] did in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealReport {
    pub tenant: String,
    /// Roster rows read.
    pub rows: u64,
    /// Rows re-sealed under the current key id.
    pub resealed: u64,
    /// Two-factor secrets (`account_totp`) re-sealed under the current key id.
    pub totp_resealed: u64,
}

/// Re-seals, under the current ID key, every `roster_rows.id_sealed` of the active tenants (or
/// of `tenant`) that another key id sealed, or that is in the format before key ids. Each
/// batch of at most `batch` rows of one roster is one tenant transaction. The match hash is
/// not touched: it does not depend on the sealing key (see `IdSealer`), and every opened ID is
/// checked against its stored hash before it is re-sealed, so a wrong `match_key` stops the
/// run. Safe to run again; rows already under the current key are left alone.
pub async fn reseal(
    db: &Db,
    id_keys: &[u8],
    tenant: Option<&str>,
    batch: usize,
    actor: &xiaobao_audit::Actor,
) -> anyhow::Result<Vec<ResealReport>> {
    let tenants = match tenant {
        Some(slug) => vec![db.active_tenant(slug)?],
        None => db
            .catalog
            .all()
            .into_iter()
            .filter(|t| t.status == xiaobao_db::TenantStatus::Active)
            .collect(),
    };
    let batch = i64::try_from(batch.max(1)).unwrap_or(1000);
    let mut reports = Vec::new();
    for tenant in tenants {
        let sealer = IdSealer::for_tenant(id_keys, &tenant.slug);
        let rosters: Vec<i64> = {
            let mut tx = db.tenant_tx(&tenant).await?;
            let ids = sqlx::query_scalar!("select distinct roster_id from roster_rows order by 1")
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            ids
        };
        let mut report = ResealReport {
            tenant: tenant.slug.clone(),
            rows: 0,
            resealed: 0,
            totp_resealed: 0,
        };
        for roster_id in rosters {
            let mut after = i32::MIN;
            loop {
                let mut tx = db.tenant_tx(&tenant).await?;
                let rows = sqlx::query!(
                    "select row_no, id_sealed, id_hash from roster_rows \
                     where roster_id = $1 and row_no > $2 order by row_no limit $3",
                    roster_id,
                    after,
                    batch,
                )
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = rows.last().map(|r| r.row_no) else {
                    break;
                };
                after = last;
                report.rows += rows.len() as u64;
                let (mut row_nos, mut fresh, mut old) = (Vec::new(), Vec::new(), Vec::new());
                for row in rows {
                    let (row_no, sealed, hash) = (row.row_no, row.id_sealed, row.id_hash);
                    if !sealer.needs_reseal(&sealed) {
                        continue;
                    }
                    let key_id = IdSealer::sealed_key_id(&sealed)
                        .map_or_else(|| "?".to_string(), |id| id.to_string());
                    let id = sealer.open(&sealed).map_err(|_| {
                        anyhow::anyhow!(
                            "租户 {} 花名册 {roster_id} 第 {row_no} 行的身份证号无法解密（封存密钥编号 {key_id}）：\
                             请把封存它的密钥配置为 personal_data.previous_id_key（及其编号 previous_id_key_id）",
                            tenant.slug
                        )
                    })?;
                    if sealer.match_hash(&id).as_slice() != hash.as_slice() {
                        bail!(
                            "租户 {} 花名册 {roster_id} 第 {row_no} 行的查重哈希与当前密钥不符：\
                             personal_data.match_key 应为最初的 personal_data.id_key；未做任何改动的批次已回滚",
                            tenant.slug
                        );
                    }
                    row_nos.push(row_no);
                    fresh.push(sealer.seal(&id));
                    old.push(sealed);
                }
                if !row_nos.is_empty() {
                    let updated = sqlx::query!(
                        "update roster_rows r set id_sealed = u.fresh \
                         from unnest($2::integer[], $3::bytea[], $4::bytea[]) as u(row_no, fresh, old) \
                         where r.roster_id = $1 and r.row_no = u.row_no and r.id_sealed = u.old",
                        roster_id,
                        &row_nos,
                        &fresh,
                        &old,
                    )
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    report.resealed += updated;
                }
                tx.commit().await?;
            }
        }
        if report.resealed > 0 {
            let mut tx = db.tenant_tx(&tenant).await?;
            xiaobao_audit::record(
                &mut tx,
                actor,
                xiaobao_audit::Entry::new("roster.ids_resealed", "roster_rows", None::<i64>)
                    .detail("key_id", sealer.key_id())
                    .detail("rows", report.resealed),
            )
            .await?;
            tx.commit().await?;
        }
        report.totp_resealed = reseal_totp(db, id_keys, &tenant, actor).await?;
        tracing::info!(tenant.slug = %report.tenant, rows = report.rows, resealed = report.resealed, totp_resealed = report.totp_resealed, key_id = sealer.key_id(), "IDs re-sealed");
        reports.push(report);
    }
    Ok(reports)
}

/// Re-seals the tenant's two-factor secrets (`account_totp.secret_sealed`, keys derived from
/// the same ID key set) that another key id sealed, in one tenant transaction; audited as
/// `totp.secrets_resealed`. Returns how many.
async fn reseal_totp(
    db: &Db,
    id_keys: &[u8],
    tenant: &xiaobao_db::Tenant,
    actor: &xiaobao_audit::Actor,
) -> anyhow::Result<u64> {
    use xiaobao_identity::totp::{SEAL_INFO, TotpKeys};
    let keys = TotpKeys::new(&xiaobao_roster::derived_keys(
        id_keys,
        SEAL_INFO,
        &tenant.slug,
    ))
    .context("no TOTP sealing key")?;
    let mut tx = db.tenant_tx(tenant).await?;
    let rows = sqlx::query!(
        "select account_id, secret_sealed from account_totp order by account_id for update"
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut resealed = 0u64;
    for row in rows {
        if !keys.needs_reseal(&row.secret_sealed) {
            continue;
        }
        let secret = keys.open(row.account_id, &row.secret_sealed).map_err(|_| {
            anyhow::anyhow!(
                "租户 {} 账号 {} 的两步验证密钥无法解密：请把封存它的密钥配置为 \
                 personal_data.previous_id_key（及其编号 previous_id_key_id）",
                tenant.slug,
                row.account_id
            )
        })?;
        let fresh = keys.seal(row.account_id, &secret)?;
        sqlx::query!(
            "update account_totp set secret_sealed = $2, updated_at = now() where account_id = $1",
            row.account_id,
            fresh,
        )
        .execute(&mut *tx)
        .await?;
        resealed += 1;
    }
    if resealed > 0 {
        xiaobao_audit::record(
            &mut tx,
            actor,
            xiaobao_audit::Entry::new("totp.secrets_resealed", "account_totp", None::<i64>)
                .detail("key_id", keys.key_id())
                .detail("accounts", resealed),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(resealed)
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn embedded(dir: &Path) -> Config {
        let mut config = Config::default();
        config.database.embedded_dir = dir.join("pg");
        config
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_embedded_keyring_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = embedded(dir.path());
        let path = config.keyring_path();
        assert_eq!(path, dir.path().join("secrets/keyring.toml"));
        let first = load(&config, false).unwrap();
        assert!(path.exists());
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // A missing parent is made as usual: the cluster's service user must reach `pg/`.
        let nested = embedded(&dir.path().join("data"));
        load(&nested, false).unwrap();
        std::fs::create_dir(dir.path().join("reference")).unwrap();
        #[cfg(unix)]
        assert_eq!(
            mode(&dir.path().join("data")),
            mode(&dir.path().join("reference"))
        );
        assert_eq!(first.id_key.id, 1);
        assert_eq!(first.id_key.source, KeySource::Keyring(path.clone()));
        let keys = [
            first.id_key.expose(),
            first.download_key.expose(),
            first.auth_secret.expose(),
        ];
        for key in keys {
            assert_eq!(key.len(), 64, "32 random bytes in hex");
        }
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keyring.toml"]);
        // The second start reads the same keys, even with data existing by then.
        let second = load(&config, true).unwrap();
        assert_eq!(second.id_key.expose(), first.id_key.expose());
        assert_eq!(second.download_key.expose(), first.download_key.expose());
        assert_eq!(second.auth_secret.expose(), first.auth_secret.expose());
        assert_eq!(second.id_keys(), first.id_keys());
        // The file's values are the keys as configuration would give them.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&String::from_utf8(first.id_key.expose().to_vec()).unwrap()));
    }

    #[test]
    fn a_lost_keyring_is_not_regenerated_when_data_exists() {
        let dir = tempfile::tempdir().unwrap();
        let config = embedded(dir.path());
        let err = load(&config, true).unwrap_err().to_string();
        assert!(err.contains("密钥环文件"), "{err}");
        assert!(
            err.contains(&config.keyring_path().display().to_string()),
            "{err}"
        );
        assert!(!config.keyring_path().exists());
        // An initialised cluster counts as data.
        std::fs::create_dir_all(dir.path().join("pg")).unwrap();
        assert!(!embedded_cluster_exists(&config));
        std::fs::write(dir.path().join("pg/PG_VERSION"), "17\n").unwrap();
        assert!(embedded_cluster_exists(&config));
    }

    #[test]
    fn a_configured_key_wins_over_the_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = embedded(dir.path());
        let file = load(&config, false).unwrap();
        config.storage.download_key = Some(Secret::new("d".repeat(40)));
        config.storage.download_key_id = 3;
        let keys = load(&config, true).unwrap();
        assert_eq!(keys.download_key.expose(), "d".repeat(40).as_bytes());
        assert_eq!(keys.download_key.id, 3);
        assert_eq!(keys.download_key.source, KeySource::Config);
        assert_eq!(keys.id_key.expose(), file.id_key.expose());
        // With every key configured the file is not needed at all.
        let other = tempfile::tempdir().unwrap();
        let mut config = embedded(other.path());
        config.personal_data.id_key = Some(Secret::new("i".repeat(32)));
        config.storage.download_key = Some(Secret::new("d".repeat(32)));
        config.auth.secret_key = Some(Secret::new("a".repeat(32)));
        load(&config, true).unwrap();
        assert!(!config.keyring_path().exists());
    }

    #[test]
    fn external_mode_needs_every_key_and_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = embedded(dir.path());
        config.database.mode = DatabaseMode::External;
        config.personal_data.id_key = Some(Secret::new("i".repeat(32)));
        let err = load(&config, false).unwrap_err().to_string();
        assert!(err.contains("XIAOBAO_STORAGE__DOWNLOAD_KEY"), "{err}");
        assert!(err.contains("XIAOBAO_AUTH__SECRET_KEY"), "{err}");
        assert!(!err.contains("XIAOBAO_PERSONAL_DATA__ID_KEY"), "{err}");
        assert!(!dir.path().join("secrets").exists());
    }

    #[test]
    fn a_damaged_keyring_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = embedded(dir.path());
        load(&config, false).unwrap();
        let path = config.keyring_path();
        let text = std::fs::read_to_string(&path).unwrap();
        let key = String::from_utf8(load(&config, true).unwrap().id_key.expose().to_vec()).unwrap();
        std::fs::write(&path, text.replace(&key, "short")).unwrap();
        let err = load(&config, true).unwrap_err().to_string();
        assert!(err.contains("personal_data.id_key"), "{err}");
        std::fs::write(&path, "not toml at all [").unwrap();
        let err = load(&config, true).unwrap_err().to_string();
        assert!(err.contains("格式无效"), "{err}");
    }

    #[test]
    fn a_second_writer_never_replaces_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/file");
        assert!(write_new_private(&path, b"first").unwrap());
        assert!(!write_new_private(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn check_values_differ_by_key_and_purpose() {
        let a = check_value(b"k", ID_KEY_PURPOSE);
        assert_eq!(a, check_value(b"k", ID_KEY_PURPOSE));
        assert_ne!(a, check_value(b"k", MATCH_KEY_PURPOSE));
        assert_ne!(a, check_value(b"l", ID_KEY_PURPOSE));
        assert_eq!(
            variable("personal_data.id_key"),
            "XIAOBAO_PERSONAL_DATA__ID_KEY"
        );
    }
}
