//! Browser sessions: a cookie holding a random id, the data in Redis when `redis.url` is set
//! (shared by every instance behind the load balancer) or in this process otherwise.
//!
//! A session is bound to the scope it was created under — a tenant slug, or the platform —
//! and is ignored under any other: with path-named tenants (`/t/henan/`, `/t/shanghai/`) one
//! browser sends the same cookie to both, so the binding, not the cookie, keeps them apart.
//! Host-named tenants (`henan.example.cn`) get host-only cookies on top of that.
//!
//! The idle time-out slides: a request refreshes the expiry at most once a minute, so an
//! active user is never logged out and an idle one is after `session.idle_timeout_mins`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::{Duration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use xiaobao_config::Config;
use xiaobao_domain::Role;
use xiaobao_identity::Viewer;

use crate::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;

/// The key under which [`SessionData`] is kept in a session record.
const SESSION_KEY: &str = "xb";

/// The idle timer is refreshed at most this often (seconds).
const TOUCH_EVERY_SECS: i64 = 60;

/// What a session holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// The tenant slug the session belongs to, or `""` for the platform.
    pub scope: String,
    /// The synchronizer token every unsafe request of this session must echo.
    pub csrf_token: String,
    /// The signed-in account, when there is one.
    pub user: Option<SignedIn>,
    /// Unix seconds of the last refresh of the idle timer.
    pub seen_at: i64,
    /// Unix seconds of the sign-in (the absolute lifetime counts from here).
    #[serde(default)]
    pub signed_in_at: i64,
    /// A password was right and the account's second factor is asked for: not signed in.
    #[serde(default)]
    pub pending: Option<PendingSignIn>,
    /// The platform operator signed in (platform sessions only, scope `""`).
    #[serde(default)]
    pub operator: Option<xiaobao_platform::OperatorIdentity>,
    /// An operator whose password was right, until the second factor is given.
    #[serde(default)]
    pub operator_pending: Option<PendingOperator>,
}

/// "Operator's password verified, second factor pending", until `expires_at` (Unix seconds
/// of the application's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOperator {
    pub operator: xiaobao_platform::OperatorIdentity,
    pub next: String,
    pub expires_at: i64,
}

/// "Password verified, second factor pending": who would be signed in, where to go then, and
/// until when (Unix seconds of the application's clock) the code may be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub user: SignedIn,
    pub next: String,
    pub expires_at: i64,
}

impl SessionData {
    /// Fresh data for a scope, with a new CSRF token.
    pub fn new(scope: &str, user: Option<SignedIn>) -> Self {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Self {
            scope: scope.to_string(),
            csrf_token: CsrfToken::generate().into_string(),
            user,
            seen_at: now,
            signed_in_at: now,
            pending: None,
            operator: None,
            operator_pending: None,
        }
    }
}

/// The account a session acts for, as read from the tenant's database at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub viewer: Viewer,
    /// The role that picks the navigation and the badge in the header.
    pub role: Role,
    /// Shown in the header ("欢迎您，金水区教育局").
    pub display_name: String,
    /// Only the password page answers until a new password is set.
    pub must_change_password: bool,
    /// Signed in through a platform login (`control.identities`) granted this programme.
    #[serde(default)]
    pub identity_id: Option<i64>,
    /// The account's `session_epoch` at sign-in: the session ends when it moves (password,
    /// status or roles changed; see `crate::validity`).
    #[serde(default)]
    pub epoch: i64,
    /// The account signs in with a second factor (it gave one for this session, or turned it
    /// on during it).
    #[serde(default)]
    pub two_factor: bool,
}

impl SignedIn {
    pub fn new(viewer: Viewer, must_change_password: bool) -> Self {
        let role = viewer.primary_role().unwrap_or(Role::School);
        Self {
            role,
            display_name: viewer.display_name.clone(),
            viewer,
            must_change_password,
            identity_id: None,
            epoch: 0,
            two_factor: false,
        }
    }
}

/// The tenant slug of a (rewritten) request path, or `""` for platform paths.
pub fn scope_of_path(path: &str) -> &str {
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    rest.strip_prefix("/t/")
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
}

/// The session of a request, seen from the scope of its path: data created under another
/// tenant reads as no session at all.
pub struct WebSession {
    state: AppState,
    session: Session,
    scope: String,
    data: Option<SessionData>,
    /// The cookie named a session of another scope: it is replaced, not reused, on write.
    foreign: bool,
}

impl WebSession {
    /// The signed-in account, if any.
    pub fn user(&self) -> Option<&SignedIn> {
        self.data.as_ref().and_then(|d| d.user.as_ref())
    }

    /// The CSRF token for forms, creating the session when there is none for this scope.
    pub async fn csrf_token(&mut self) -> Result<CsrfToken, PageError> {
        if let Some(d) = &self.data {
            return Ok(CsrfToken::from_stored(&d.csrf_token));
        }
        if self.foreign {
            // Never carry another tenant's session over: a new id, nothing of the old data.
            self.session.clear().await;
            self.session.cycle_id().await.map_err(store_failed)?;
            self.foreign = false;
        }
        let data = SessionData::new(&self.scope, None);
        self.session
            .insert(SESSION_KEY, &data)
            .await
            .map_err(store_failed)?;
        let token = CsrfToken::from_stored(&data.csrf_token);
        self.data = Some(data);
        Ok(token)
    }

    /// Signs an account in: a new session id (no fixation) and a new CSRF token, bound to the
    /// account's current session epoch.
    pub async fn sign_in(&mut self, mut user: SignedIn) -> Result<(), PageError> {
        if !self.scope.is_empty() {
            user.epoch =
                crate::web::validity::fetch(&self.state, &self.scope, user.viewer.account_id)
                    .await?
                    .epoch;
        }
        self.session.clear().await;
        self.session.cycle_id().await.map_err(store_failed)?;
        let data = SessionData::new(&self.scope, Some(user));
        self.session
            .insert(SESSION_KEY, &data)
            .await
            .map_err(store_failed)?;
        self.data = Some(data);
        self.foreign = false;
        Ok(())
    }

    /// The sign-in waiting for its second factor, if any.
    pub fn pending(&self) -> Option<&PendingSignIn> {
        self.data.as_ref().and_then(|d| d.pending.as_ref())
    }

    /// Holds a sign-in whose password was right until its second factor is given: a new
    /// session id and CSRF token, nobody signed in.
    pub async fn begin_second_factor(&mut self, pending: PendingSignIn) -> Result<(), PageError> {
        self.session.clear().await;
        self.session.cycle_id().await.map_err(store_failed)?;
        let mut data = SessionData::new(&self.scope, None);
        data.pending = Some(pending);
        self.session
            .insert(SESSION_KEY, &data)
            .await
            .map_err(store_failed)?;
        self.data = Some(data);
        self.foreign = false;
        Ok(())
    }

    /// Drops a pending sign-in (expired, or the account locked meanwhile).
    pub async fn clear_pending(&mut self) -> Result<(), PageError> {
        if let Some(d) = &mut self.data
            && d.pending.take().is_some()
        {
            self.session
                .insert(SESSION_KEY, &*d)
                .await
                .map_err(store_failed)?;
        }
        Ok(())
    }

    /// Replaces the signed-in account's data keeping the session id and CSRF token (two-factor
    /// sign-in turned on or off).
    pub async fn refresh_user(&mut self, user: SignedIn) -> Result<(), PageError> {
        if let Some(d) = &mut self.data {
            d.user = Some(user);
            self.session
                .insert(SESSION_KEY, &*d)
                .await
                .map_err(store_failed)?;
        }
        Ok(())
    }

    /// Replaces the signed-in account's data after a change that moved the account's session
    /// epoch (two-factor sign-in turned on or off), keeping this session: it is stamped with
    /// the account's new epoch, while every other session of the account ends.
    pub async fn restamp_user(&mut self, mut user: SignedIn) -> Result<(), PageError> {
        if !self.scope.is_empty() {
            user.epoch =
                crate::web::validity::fetch(&self.state, &self.scope, user.viewer.account_id)
                    .await?
                    .epoch;
        }
        self.refresh_user(user).await
    }

    /// Replaces the signed-in account's data (after a password change), with a new session id.
    pub async fn update_user(&mut self, user: SignedIn) -> Result<(), PageError> {
        self.sign_in(user).await
    }

    /// The platform operator signed in, if any (platform paths only).
    pub fn operator(&self) -> Option<&xiaobao_platform::OperatorIdentity> {
        self.data.as_ref().and_then(|d| d.operator.as_ref())
    }

    /// The operator sign-in waiting for its second factor, if any.
    pub fn operator_pending(&self) -> Option<&PendingOperator> {
        self.data.as_ref().and_then(|d| d.operator_pending.as_ref())
    }

    /// Signs an operator in (platform paths only): a new session id and CSRF token.
    pub async fn sign_in_operator(
        &mut self,
        operator: xiaobao_platform::OperatorIdentity,
    ) -> Result<(), PageError> {
        self.replace_with(|data| data.operator = Some(operator))
            .await
    }

    /// Holds an operator's sign-in until the second factor is given: nobody signed in.
    pub async fn begin_operator_second_factor(
        &mut self,
        pending: PendingOperator,
    ) -> Result<(), PageError> {
        self.replace_with(|data| data.operator_pending = Some(pending))
            .await
    }

    /// Replaces the signed-in operator's data keeping the session id and CSRF token.
    pub async fn refresh_operator(
        &mut self,
        operator: xiaobao_platform::OperatorIdentity,
    ) -> Result<(), PageError> {
        if let Some(d) = &mut self.data {
            d.operator = Some(operator);
            self.session
                .insert(SESSION_KEY, &*d)
                .await
                .map_err(store_failed)?;
        }
        Ok(())
    }

    /// A new session id and CSRF token holding fresh data of this scope, changed by `fill`.
    async fn replace_with(&mut self, fill: impl FnOnce(&mut SessionData)) -> Result<(), PageError> {
        if !self.scope.is_empty() {
            return Err(PageError::Internal(
                "an operator session is made on platform paths only".into(),
            ));
        }
        self.session.clear().await;
        self.session.cycle_id().await.map_err(store_failed)?;
        let mut data = SessionData::new(&self.scope, None);
        fill(&mut data);
        self.session
            .insert(SESSION_KEY, &data)
            .await
            .map_err(store_failed)?;
        self.data = Some(data);
        self.foreign = false;
        Ok(())
    }

    /// The CSRF token of the current session, if any (the API's login answer).
    pub fn current_csrf(&self) -> Option<String> {
        self.data.as_ref().map(|d| d.csrf_token.clone())
    }

    /// Ends the session: the record is deleted and the cookie removed.
    pub async fn sign_out(&mut self) -> Result<(), PageError> {
        self.session.flush().await.map_err(store_failed)?;
        self.data = None;
        Ok(())
    }
}

fn store_failed(error: tower_sessions::session::Error) -> PageError {
    tracing::error!(%error, "session store");
    PageError::Unavailable
}

/// The data of the request's session if it belongs to `scope`; `Err` when the store failed.
pub async fn load_data(
    session: &Session,
    scope: &str,
) -> Result<Option<SessionData>, tower_sessions::session::Error> {
    // Undecodable data (an older format) reads as no session.
    let data = session.get::<SessionData>(SESSION_KEY).await.or_else(|e| {
        if matches!(e, tower_sessions::session::Error::SerdeJson(_)) {
            Ok(None)
        } else {
            Err(e)
        }
    })?;
    Ok(data.filter(|d| d.scope == scope))
}

/// Like [`load_data`], and a signed-in session that no longer stands (its account's password,
/// status or roles changed, or it is past its absolute lifetime) is deleted and reads as none.
pub async fn load_valid(
    state: &AppState,
    session: &Session,
    scope: &str,
) -> Result<Option<SessionData>, PageError> {
    let data = load_data(session, scope).await.map_err(store_failed)?;
    if let Some(d) = &data
        && let Some(user) = &d.user
        && !crate::web::validity::still_valid(state, scope, user, d.signed_in_at).await?
    {
        session.flush().await.map_err(store_failed)?;
        return Ok(None);
    }
    Ok(data)
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| PageError::Internal("session layer missing".into()))?;
        let scope = scope_of_path(parts.uri.path()).to_string();
        let any = session
            .get::<serde_json::Value>(SESSION_KEY)
            .await
            .map_err(store_failed)?;
        let mut data = load_valid(state, &session, &scope).await?;
        let foreign = any.is_some() && data.is_none();
        if let Some(d) = &mut data {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            if now - d.seen_at >= TOUCH_EVERY_SECS {
                d.seen_at = now;
                session
                    .insert(SESSION_KEY, &*d)
                    .await
                    .map_err(store_failed)?;
            }
        }
        Ok(Self {
            state: state.clone(),
            session,
            scope,
            data,
            foreign,
        })
    }
}

/// The session store: Redis when configured, else this process's memory.
#[derive(Debug, Clone)]
pub struct Sessions(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Memory(Arc<MemoryStore>),
    Redis(RedisStore),
}

impl Sessions {
    /// Redis when a connection is given, else in-process.
    pub fn new(redis: Option<redis::aio::ConnectionManager>) -> Self {
        match redis {
            Some(conn) => Self(Backend::Redis(RedisStore { conn })),
            None => Self(Backend::Memory(Arc::default())),
        }
    }

    /// Whether sessions live in Redis.
    pub fn is_redis(&self) -> bool {
        matches!(self.0, Backend::Redis(_))
    }

    /// Stores a new session holding `data` and returns the cookie value (the session id).
    /// Sign-in goes through [`WebSession::sign_in`]; this is for tests and tools that need a
    /// signed-in session without a login.
    pub async fn open(
        &self,
        data: &SessionData,
        idle_timeout: std::time::Duration,
    ) -> Result<String, session_store::Error> {
        let mut record = Record {
            id: Id::default(),
            data: HashMap::from([(
                SESSION_KEY.to_string(),
                serde_json::to_value(data)
                    .map_err(|e| session_store::Error::Encode(e.to_string()))?,
            )]),
            expiry_date: OffsetDateTime::now_utc()
                + Duration::seconds(i64::try_from(idle_timeout.as_secs()).unwrap_or(i64::MAX)),
        };
        self.create(&mut record).await?;
        Ok(record.id.to_string())
    }

    /// The layer that loads and saves sessions, with the configured cookie.
    pub fn layer(&self, config: &Config) -> SessionManagerLayer<Sessions> {
        let idle = i64::try_from(config.session.idle_timeout_mins).unwrap_or(30) * 60;
        SessionManagerLayer::new(self.clone())
            .with_name(config.session.cookie_name.clone())
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(config.session_cookie_secure())
            .with_expiry(Expiry::OnInactivity(Duration::seconds(idle)))
    }
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(s) => s.create(record),
            Backend::Redis(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(s) => s.save(record),
            Backend::Redis(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match &self.0 {
            Backend::Memory(s) => Ok(s.load(id)),
            Backend::Redis(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match &self.0 {
            Backend::Memory(s) => {
                s.delete(id);
                Ok(())
            }
            Backend::Redis(s) => s.delete(id).await,
        }
    }
}

/// The most sessions kept in process. Each holds well under 2 KB, so the store stays below
/// a few hundred MB even when a client opens sessions as fast as it can.
const MAX_MEMORY_SESSIONS: usize = 100_000;

/// In-process sessions (the embedded default). Expired records are dropped on read and swept
/// once a minute on write, so abandoned sessions do not pile up; at [`MAX_MEMORY_SESSIONS`]
/// the anonymous sessions idle longest go first, then the signed-in ones idle longest.
#[derive(Debug)]
struct MemoryStore {
    inner: Mutex<MemoryInner>,
    capacity: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(MAX_MEMORY_SESSIONS)
    }
}

#[derive(Debug, Default)]
struct MemoryInner {
    records: HashMap<Id, Record>,
    swept_at: i64,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave a record half-written: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(16),
        }
    }

    fn sweep(inner: &mut MemoryInner) {
        let now = OffsetDateTime::now_utc();
        if now.unix_timestamp() - inner.swept_at >= 60 {
            inner.records.retain(|_, r| r.expiry_date > now);
            inner.swept_at = now.unix_timestamp();
        }
    }

    /// Makes room for one more record when the store is full: expired records first, then a
    /// sixteenth of the store, anonymous and longest idle first.
    fn make_room(&self, inner: &mut MemoryInner) {
        if inner.records.len() < self.capacity {
            return;
        }
        let now = OffsetDateTime::now_utc();
        inner.records.retain(|_, r| r.expiry_date > now);
        inner.swept_at = now.unix_timestamp();
        if inner.records.len() < self.capacity {
            return;
        }
        let signed_in = |r: &Record| {
            r.data
                .get(SESSION_KEY)
                .and_then(|d| d.get("user"))
                .is_some_and(|u| !u.is_null())
        };
        let mut ranked: Vec<(bool, OffsetDateTime, Id)> = inner
            .records
            .values()
            .map(|r| (signed_in(r), r.expiry_date, r.id))
            .collect();
        let evict = (self.capacity / 16).max(1);
        ranked.select_nth_unstable_by(evict - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, id) in &ranked[..evict] {
            inner.records.remove(id);
        }
    }

    fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        Self::sweep(&mut inner);
        self.make_room(&mut inner);
        while inner.records.contains_key(&record.id) {
            record.id = Id::default();
        }
        inner.records.insert(record.id, record.clone());
        Ok(())
    }

    fn save(&self, record: &Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        Self::sweep(&mut inner);
        // Only existing sessions are updated: one deleted meanwhile (signed out in another
        // tab) stays deleted.
        if let Some(r) = inner.records.get_mut(&record.id) {
            *r = record.clone();
        }
        Ok(())
    }

    fn load(&self, id: &Id) -> Option<Record> {
        let mut inner = self.lock();
        match inner.records.get(id) {
            Some(r) if r.expiry_date > OffsetDateTime::now_utc() => Some(r.clone()),
            Some(_) => {
                inner.records.remove(id);
                None
            }
            None => None,
        }
    }

    fn delete(&self, id: &Id) {
        self.lock().records.remove(id);
    }
}

/// Sessions in Redis under `xb:session:<id>`, JSON, expiring with the session (`EX`).
#[derive(Clone)]
struct RedisStore {
    conn: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

/// The Redis key of a session.
pub fn redis_key(id: &str) -> String {
    format!("xb:session:{id}")
}

fn backend(e: redis::RedisError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl RedisStore {
    /// `SET key value EX ttl NX|XX`; true when written.
    async fn set(&self, record: &Record, condition: &str) -> session_store::Result<bool> {
        let value =
            serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let ttl = (record.expiry_date - OffsetDateTime::now_utc())
            .whole_seconds()
            .max(1);
        let mut conn = self.conn.clone();
        let written: Option<String> = redis::cmd("SET")
            .arg(redis_key(&record.id.to_string()))
            .arg(value)
            .arg("EX")
            .arg(ttl)
            .arg(condition)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(written.is_some())
    }

    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while !self.set(record, "NX").await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // XX: a session deleted meanwhile (signed out in another tab) stays deleted.
        self.set(record, "XX").await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(redis_key(&id.to_string()))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        value
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(redis_key(&id.to_string()))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_the_tenant_of_the_path() {
        assert_eq!(scope_of_path("/t/henan/login"), "henan");
        assert_eq!(scope_of_path("/t/henan"), "henan");
        assert_eq!(
            scope_of_path("/api/v1/t/shanghai/regions/310000"),
            "shanghai"
        );
        assert_eq!(scope_of_path("/"), "");
        assert_eq!(scope_of_path("/api/v1/tenants"), "");
        assert_eq!(scope_of_path("/static/app.css"), "");
    }

    fn record(expires_in: Duration) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[test]
    fn the_memory_store_is_bounded_and_keeps_signed_in_sessions() {
        let store = MemoryStore::with_capacity(64);
        let mut signed = record(Duration::minutes(1));
        signed.data.insert(
            SESSION_KEY.to_string(),
            serde_json::json!({ "user": { "role": "school" } }),
        );
        store.create(&mut signed).expect("create");
        for _ in 0..1_000 {
            let mut r = record(Duration::minutes(30));
            store.create(&mut r).expect("create");
            assert!(store.lock().records.len() <= 64);
        }
        // The signed-in session outlived a thousand anonymous ones although it expires first.
        assert!(store.load(&signed.id).is_some());
    }

    #[test]
    fn the_memory_store_forgets_expired_and_deleted_sessions() {
        let store = MemoryStore::default();
        let mut live = record(Duration::minutes(30));
        let mut dead = record(Duration::seconds(-1));
        store.create(&mut live).ok();
        store.create(&mut dead).ok();
        assert!(store.load(&live.id).is_some());
        assert!(store.load(&dead.id).is_none(), "expired");
        store.delete(&live.id);
        assert!(store.load(&live.id).is_none());
        // A save after deletion does not bring it back.
        store.save(&live).ok();
        assert!(store.load(&live.id).is_none());
    }
}
