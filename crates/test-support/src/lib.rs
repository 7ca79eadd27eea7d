//! Test support: a [`TestApp`] on its own fresh databases (one per test) on the real
//! PostgreSQL clusters the test command starts, with the real router.
//!
//! Environment (set by `infra/test/run.sh`):
//! - `XIAOBAO_TEST_DATABASE_URL` — a superuser URL of cluster A (main);
//! - `XIAOBAO_TEST_DATABASE_URL_B` — a superuser URL of a second cluster B;
//! - `XIAOBAO_TEST_REDIS_URL` — Redis;
//! - `XIAOBAO_TEST_WEBDRIVER_URL`, `XIAOBAO_TEST_CHROMIUM` — chromedriver and Chromium for the
//!   browser tests ([`browser`]).

#![expect(
    clippy::unwrap_used,
    reason = "test support panics with context on setup failure"
)]

pub mod browser;

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;
use tower::ServiceExt;
use xiaobao_config::{Config, DatabaseMode, Secret};
use xiaobao_db::seed::{REGIONS_CSV, regions_under};
use xiaobao_db::{ClusterUrls, Db, NewTenant, ProvisionOutcome};
use xiaobao_domain::{AccountType, Clock, Role};
use xiaobao_http::{AppState, SessionData, SignedIn};

pub use browser::Browser;

/// Superuser URL of test cluster A.
pub fn cluster_a_url() -> String {
    std::env::var("XIAOBAO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Superuser URL of test cluster B; the placement tests need it.
pub fn cluster_b_url() -> String {
    std::env::var("XIAOBAO_TEST_DATABASE_URL_B").expect(
        "XIAOBAO_TEST_DATABASE_URL_B is not set: run the suite with infra/test/run.sh, which starts a second PostgreSQL cluster",
    )
}

pub fn redis_url() -> Option<String> {
    std::env::var("XIAOBAO_TEST_REDIS_URL").ok()
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// Drops test databases and roles left by earlier runs that were killed (older than 2 h).
async fn sweep(url: &str) {
    let Ok(mut conn) = PgConnection::connect(url).await else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stale: Vec<String> =
        sqlx::query_scalar!("select datname from pg_database where datname like 'xbt\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in stale {
        let born: u64 = name
            .split('_')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if now.saturating_sub(born) > 7200 {
            // Runtime SQL: DDL naming a database.
            let _ = conn
                .execute(format!("drop database if exists \"{name}\" with (force)").as_str())
                .await;
            drop_roles(&mut conn, &name).await;
        }
    }
}

async fn drop_roles(conn: &mut PgConnection, prefix: &str) {
    let roles: Vec<String> = sqlx::query_scalar!(
        r#"select rolname as "rolname!" from pg_roles where rolname like $1 || '\_%'"#,
        prefix
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for role in roles {
        // Runtime SQL: DDL naming a role.
        let _ = conn
            .execute(format!("drop role if exists \"{role}\"").as_str())
            .await;
    }
}

/// A running application on fresh databases.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    /// Name of the test databases (same on both clusters) and prefix of the tenant roles.
    pub name: String,
    /// Superuser URLs of the test databases: cluster name → URL.
    pub urls: ClusterUrls,
    /// Servers started by [`TestApp::serve`], stopped at cleanup.
    servers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The application's clock (shared with `state`): fixed at the moment the app started
    /// until a test moves it ([`Clock::set_china`], [`Clock::advance`]).
    pub clock: Clock,
    /// Set once the databases, roles and files are gone (or going): the cleanup runs once,
    /// whether [`TestApp::cleanup`] ran it or the drop.
    cleaned: bool,
}

/// A moment of the 2025-2026 enrolment season in China time: after the year's cover start and
/// before its schools' deadline (09-30) in every demo programme.
pub const ENROLMENT_SEASON: &str = "2025-09-15 10:00";

/// The day of [`ENROLMENT_SEASON`]: the demo programmes of the tests are seeded as on that day
/// (rules for 2025-2026 as the programmes wrote them, and for 2024-2025), whatever the date.
#[must_use]
pub fn enrolment_season_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 9, 15).expect("a date")
}

/// Options for [`TestApp::start`].
#[derive(Default)]
pub struct TestAppOptions {
    /// Also create a database on cluster B, configured as cluster `b`.
    pub second_cluster: bool,
    /// Connect Redis (from `XIAOBAO_TEST_REDIS_URL`); sessions then live in Redis.
    pub redis: bool,
}

impl TestApp {
    /// An app on one fresh database of cluster A.
    pub async fn init() -> Self {
        Self::start(TestAppOptions::default()).await
    }

    pub async fn start(options: TestAppOptions) -> Self {
        Self::start_configured(options, |_| {}).await
    }

    /// Like [`TestApp::start`], with the configuration changed by `configure` before the app
    /// is built.
    pub async fn start_configured(
        options: TestAppOptions,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let a = cluster_a_url();
        SWEPT.get_or_init(|| sweep(&a)).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let rand = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("xbt_{now}_{}", &rand[..8]);
        let mut urls = ClusterUrls::new();
        let mut clusters = vec![("main", a)];
        if options.second_cluster {
            clusters.push(("b", cluster_b_url()));
        }
        for (cluster, url) in clusters {
            let mut conn = PgConnection::connect(&url).await.unwrap_or_else(|e| {
                panic!("cannot reach test cluster {cluster} ({e}): run infra/test/run.sh")
            });
            conn.execute(format!("create database \"{name}\"").as_str())
                .await
                .unwrap();
            urls.insert(cluster.to_string(), with_database(&url, &name));
        }
        let mut config = Config::default();
        config.database.mode = DatabaseMode::External;
        config.database.url = Some(Secret::new(urls["main"].clone()));
        config.database.role_prefix = name.clone();
        config.database.max_connections = 5;
        config.demo.seed = Some(false);
        // External mode requires every key; fixed ones, different per key, so that two
        // states built from one configuration share them (and nothing writes a key file).
        config.personal_data.id_key = Some(Secret::new(TEST_ID_KEY));
        config.storage.download_key = Some(Secret::new(TEST_DOWNLOAD_KEY));
        config.auth.secret_key = Some(Secret::new(TEST_AUTH_SECRET_KEY));
        // Cheaper hashing keeps the suite fast; the benchmark measures the real settings.
        config.auth.argon2_memory_kib = 8 * 1024;
        config.auth.argon2_iterations = 1;
        config.storage.local_dir = std::env::temp_dir().join(&name).join("objects");
        config.storage.upload_dir = std::env::temp_dir().join(&name).join("uploads");
        if options.redis {
            config.redis.url = redis_url().map(Secret::new);
            assert!(
                config.redis.url.is_some(),
                "XIAOBAO_TEST_REDIS_URL is not set: run infra/test/run.sh"
            );
        }
        for (cluster, url) in &urls {
            if cluster != "main" {
                config
                    .database
                    .clusters
                    .insert(cluster.clone(), Secret::new(url.clone()));
            }
        }
        configure(&mut config);
        // Fixed from the start: nothing in a test moves unless the test moves it.
        let clock = Clock::fixed(Clock::system().now());
        let state = xiaobao::build_state_at(config, &urls, clock.clone())
            .await
            .unwrap();
        let router = xiaobao_http::build_router(state.clone());
        Self {
            state,
            router,
            name,
            urls,
            servers: Mutex::new(Vec::new()),
            clock,
            cleaned: false,
        }
    }

    /// Serves the real router on a loopback port (for a browser) and returns its base URL,
    /// e.g. `http://127.0.0.1:41234`. The server stops when the app is cleaned up or dropped.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        let server = tokio::spawn(async move {
            let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        self.servers.lock().unwrap().push(server);
        format!("http://{addr}")
    }

    /// A `Cookie` header value for a session signed in to `slug` as `role`, as the identity
    /// context's sign-in will create it.
    pub async fn signed_in_cookie(&self, slug: &str, role: Role, display_name: &str) -> String {
        // A real account (sessions are checked against their account's standing), shown
        // under `display_name`, whose viewer sees no rows.
        let tenant = self.state.db.active_tenant(slug).unwrap();
        let login = format!("cookie-{}", uuid::Uuid::new_v4().simple());
        let roles = [role];
        let mut spec = AccountSpec::new(display_name, &tenant.root_region_code, &roles);
        spec.login_name = Some(&login);
        let account = self.account(slug, spec).await;
        let viewer = xiaobao_identity::Viewer {
            account_id: account.account_id,
            org_id: 0,
            org_kind: String::new(),
            roles: vec![role],
            region_code: String::new(),
            // A path no region has: such a session sees no rows.
            region_path: "-".into(),
            company_id: None,
            display_name: display_name.to_string(),
        };
        let mut user = SignedIn::new(viewer, false);
        user.role = role;
        let mut tx = self.state.db.tenant_tx(&tenant).await.unwrap();
        user.epoch = sqlx::query_scalar!(
            "select session_epoch from accounts where account_id = $1",
            account.account_id
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let data = SessionData::new(slug, Some(user));
        let idle = std::time::Duration::from_secs(self.state.config.session.idle_timeout_mins * 60);
        let id = self.state.sessions.open(&data, idle).await.unwrap();
        format!("{}={id}", self.state.config.session.cookie_name)
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Provisions a tenant with the region tree under `root` and no rules.
    pub async fn tenant(&self, slug: &str, root: &str, cluster: &str) -> ProvisionOutcome {
        let regions = regions_under(REGIONS_CSV, root).unwrap();
        self.db()
            .provisioner()
            .create(
                &NewTenant {
                    slug: slug.into(),
                    name_zh: format!("{slug} 测试项目"),
                    root_region_code: root.into(),
                    cluster: cluster.into(),
                },
                &regions,
                None,
            )
            .await
            .unwrap()
    }

    /// Provisions the three demo programmes as on [`enrolment_season_day`].
    pub async fn with_demo_tenants(self) -> Self {
        xiaobao::seed_demo_tenants(self.db(), enrolment_season_day())
            .await
            .unwrap();
        self
    }

    /// A superuser connection to the test database of a cluster.
    pub async fn superuser(&self, cluster: &str) -> PgConnection {
        PgConnection::connect(&self.urls[cluster]).await.unwrap()
    }

    /// Sends a request through the real router.
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// GET with a `Host` header, for host-named tenants.
    pub async fn get_on_host(&self, host: &str, uri: &str) -> TestResponse {
        self.request(
            Request::get(uri)
                .header("host", host)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// GET with a `Cookie` header.
    pub async fn get_with_cookie(&self, uri: &str, cookie: &str) -> TestResponse {
        self.request(
            Request::get(uri)
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// POSTs an urlencoded form, with a `Cookie` header when given.
    pub async fn post_form(
        &self,
        uri: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request =
            Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.request(request.body(Body::from(body)).unwrap()).await
    }

    /// Loads a page that carries a form and returns its session cookie (`name=value`, for a
    /// `Cookie` header) and CSRF token.
    pub async fn form_session(&self, uri: &str) -> (String, String) {
        let r = self.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        let name = &self.state.config.session.cookie_name;
        let value = r
            .cookie(name)
            .unwrap_or_else(|| panic!("{uri} set no {name} cookie"));
        let token = r
            .csrf_token()
            .unwrap_or_else(|| panic!("{uri} has no csrf_token field"));
        (format!("{name}={value}"), token)
    }

    /// Creates an active organisation with one account holding `roles`, whose password is
    /// [`TEST_PASSWORD`] (already changed, so nothing is forced). Schools get a contact and
    /// a mobile; insurer branches the level their role implies and company `company_id`.
    pub async fn account(&self, slug: &str, spec: AccountSpec<'_>) -> TestAccount {
        use xiaobao_identity::orgs::{self, NewOrganisation, OrgKind};
        let tenant = self.state.db.active_tenant(slug).unwrap();
        let actor = xiaobao_audit::Actor::cli("test");
        let kind = match spec.roles[0] {
            Role::ProgrammeAuthority => OrgKind::Authority,
            Role::CityDepartment | Role::CountyDepartment => OrgKind::Department,
            Role::School | Role::CentralSchool => OrgKind::School,
            Role::InsurerProvince | Role::InsurerCity | Role::InsurerCounty => {
                OrgKind::InsurerBranch
            }
            Role::Broker | Role::PlatformOperator => OrgKind::BrokerOffice,
        };
        let account_type = spec.roles[0].account_type().unwrap_or(AccountType::Broker);
        let mut org = NewOrganisation::basic(kind, spec.name, spec.region_code);
        if kind == OrgKind::School {
            org.nature = Some(spec.nature.unwrap_or("public").into());
            org.school_type = Some(spec.school_type.unwrap_or("primary").into());
            org.contact_name = Some("联系人".into());
            org.contact_mobile = Some(
                spec.mobile
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("139{:08}", rand_digits())),
            );
        }
        if kind == OrgKind::InsurerBranch {
            org.company_id = Some(spec.company_id.unwrap_or(1));
            org.company_name = Some(spec.company_name.unwrap_or("测试保险公司").into());
            org.branch_level = Some(match spec.roles[0] {
                Role::InsurerProvince => "province",
                Role::InsurerCity => "city",
                _ => "county",
            });
            org.parent_org_id = spec.parent_org_id;
        }
        if kind == OrgKind::BrokerOffice {
            org.company_id = spec.company_id;
        }
        let mut tx = self.state.db.tenant_tx(&tenant).await.unwrap();
        let org_id = orgs::create(&mut tx, &actor, &org)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("region {} does not exist", spec.region_code));
        let login_name = spec.login_name.unwrap_or(spec.name).to_string();
        let account_id = xiaobao_identity::accounts::create(
            &mut tx,
            &actor,
            org_id,
            account_type,
            &login_name,
            spec.name,
            spec.roles,
        )
        .await
        .unwrap();
        let hash = self.state.auth.hasher.hash(TEST_PASSWORD).await.unwrap();
        xiaobao_identity::accounts::set_password_hash(&mut tx, account_id, &hash)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        TestAccount {
            account_id,
            org_id,
            account_type,
            login_name,
            password: TEST_PASSWORD.to_string(),
            mobile: org.contact_mobile,
        }
    }

    /// Opens the 2025-2026 enrolment of tenant `slug` with its own rules (deadlines as the
    /// programme set them), with `admissions` (company id, company name, region code) added
    /// to the default ones. Unless the clock already stands in 2025-2026, it is moved to
    /// [`ENROLMENT_SEASON`]. Returns the year.
    pub async fn open_enrolment_year(
        &self,
        slug: &str,
        admissions: &[(i64, &str, &str)],
    ) -> String {
        let year = "2025-2026".to_string();
        if self.clock.academic_year().to_string() != year {
            assert!(self.clock.set_china(ENROLMENT_SEASON));
        }
        let tenant = self.state.db.active_tenant(slug).unwrap();
        let mut tx = self.state.db.tenant_tx(&tenant).await.unwrap();
        let actor = xiaobao_audit::Actor::cli("test");
        // The companies the rules admit (Liupanshui's tender lots) exist on the platform.
        let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, self.clock.academic_year())
            .await
            .unwrap()
            .expect("rules of the year");
        let mut companies = Vec::new();
        for insurer in &rules.enrolment().insurers {
            let c = xiaobao_identity::companies::ensure(
                self.state.db.clusters.main(),
                "insurer",
                &insurer.company,
                &insurer.company,
            )
            .await
            .unwrap();
            companies.push(xiaobao_enrolment::years::CompanyRef {
                company_id: c.company_id,
                name: c.name,
            });
        }
        xiaobao_enrolment::years::open(&mut tx, self.clock.academic_year(), &companies, &actor)
            .await
            .unwrap()
            .expect("year opens");
        for (company_id, name, region) in admissions {
            sqlx::query!(
                "insert into admitted_insurers (academic_year, company_id, company_name, \
                 region_code, region_path) select $1, $2, $3, region_code, path from regions \
                 where region_code = $4 on conflict do nothing",
                year,
                company_id,
                name,
                region,
            )
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        year
    }

    /// Signs in through the login form; returns the session cookie and its CSRF token.
    pub async fn sign_in(&self, slug: &str, account: &TestAccount) -> SignedInSession {
        self.sign_in_with(
            slug,
            account.account_type,
            &account.login_name,
            &account.password,
        )
        .await
        .unwrap_or_else(|r| {
            panic!(
                "sign-in of {} failed: {} {}",
                account.login_name,
                r.status,
                r.text()
            )
        })
    }

    /// Signs in through the login form with any credentials: the session, or the response.
    pub async fn sign_in_with(
        &self,
        slug: &str,
        account_type: AccountType,
        login_name: &str,
        password: &str,
    ) -> Result<SignedInSession, TestResponse> {
        let (cookie, token) = self.form_session(&format!("/t/{slug}/login")).await;
        let r = self
            .post_form(
                &format!("/t/{slug}/login"),
                Some(&cookie),
                &[
                    ("csrf_token", &token),
                    ("account_type", account_type.as_str()),
                    ("login_name", login_name),
                    ("password", password),
                ],
            )
            .await;
        if r.status != StatusCode::SEE_OTHER {
            return Err(r);
        }
        let name = &self.state.config.session.cookie_name;
        let value = r.cookie(name).expect("a new session cookie on sign-in");
        let cookie = format!("{name}={value}");
        let location = r
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        // The CSRF token of the new session, from a page with a form (the header's logout form).
        let page = self
            .get_with_cookie(&format!("/t/{slug}/account/password"), &cookie)
            .await;
        let csrf = page.csrf_token().unwrap_or_default();
        Ok(SignedInSession {
            cookie,
            csrf,
            location,
        })
    }

    /// POSTs a form as a signed-in session (the CSRF token added).
    pub async fn post_as(
        &self,
        session: &SignedInSession,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> TestResponse {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &session.csrf)];
        all.extend_from_slice(fields);
        self.post_form(uri, Some(&session.cookie), &all).await
    }

    /// Sends a JSON request as a signed-in session (cookie and `X-CSRF-Token`).
    pub async fn json_as(
        &self,
        session: &SignedInSession,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("cookie", &session.cookie)
            .header("x-csrf-token", &session.csrf);
        let body = match body {
            Some(v) => {
                request = request.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.request(request.body(body).unwrap()).await
    }

    /// Drops the test databases and tenant roles, removes the temporary directories and
    /// stops the servers of [`TestApp::serve`], after closing the pools gracefully; panics when
    /// a step fails. Dropping a `TestApp` does the same (also when its test panics), so a test
    /// calls this only to see the cleanup happen at a chosen point.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        self.stop_servers();
        self.state.db.clusters.close().await;
        if let Err(e) = self.teardown().run().await {
            panic!("cleanup of {}: {e}", self.name);
        }
    }

    fn stop_servers(&mut self) {
        let servers = self
            .servers
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for server in servers.drain(..) {
            server.abort();
        }
    }

    fn teardown(&self) -> Teardown {
        let mut admin = vec![cluster_a_url()];
        if self.urls.contains_key("b") {
            admin.extend(std::env::var("XIAOBAO_TEST_DATABASE_URL_B").ok());
        }
        Teardown {
            name: self.name.clone(),
            admin,
        }
    }
}

impl Drop for TestApp {
    /// The cleanup of [`TestApp::cleanup`], unless it already ran. Drop cannot wait for a
    /// future, and the test's runtime may be single-threaded (blocked here) or shutting down:
    /// the pools are only marked closed (no new connection, none handed out), and the
    /// databases are dropped over new superuser connections on a runtime of its own in a
    /// thread of its own, whose `with (force)` ends the pools' remaining sessions. Failures
    /// are reported on standard error, never as a panic (which would abort a test already
    /// unwinding).
    fn drop(&mut self) {
        if std::mem::replace(&mut self.cleaned, true) {
            return;
        }
        self.stop_servers();
        for pool in self.state.db.clusters.pools() {
            // `close` marks the pool closed before its future is first polled; the idle
            // connections it would end are ended by the server instead.
            std::mem::drop(pool.close());
        }
        let teardown = self.teardown();
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("no runtime: {e}"))?;
            runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(60), teardown.run())
                    .await
                    .map_err(|_| "timed out after 60 s".to_string())?
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of test databases {}: {e}", self.name),
            Err(_) => eprintln!("cleanup of test databases {} panicked", self.name),
        }
    }
}

/// What the cleanup of a [`TestApp`] needs, apart from the app itself.
struct Teardown {
    /// The test databases' name and the tenant roles' prefix.
    name: String,
    /// Superuser URLs of the clusters that hold a test database.
    admin: Vec<String>,
}

impl Teardown {
    /// Drops the test database and the tenant roles on every cluster, then the temporary
    /// directories; goes on past a failing step and reports the first failure.
    async fn run(&self) -> Result<(), String> {
        let mut failure = None;
        for url in &self.admin {
            let outcome = async {
                let mut conn = PgConnection::connect(url)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                conn.execute(
                    format!("drop database if exists \"{}\" with (force)", self.name).as_str(),
                )
                .await
                .map_err(|e| format!("drop database: {e}"))?;
                drop_roles(&mut conn, &self.name).await;
                Ok::<(), String>(())
            }
            .await;
            if let Err(e) = outcome {
                failure.get_or_insert(e);
            }
        }
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
        failure.map_or(Ok(()), Err)
    }
}

/// `personal_data.id_key` of every [`TestApp`].
pub const TEST_ID_KEY: &str = "test-id-key-0123456789abcdef0123456789abcdef";
/// `storage.download_key` of every [`TestApp`].
pub const TEST_DOWNLOAD_KEY: &str = "test-download-key-0123456789abcdef0123456789";
/// `auth.secret_key` of every [`TestApp`].
pub const TEST_AUTH_SECRET_KEY: &str = "test-auth-secret-key-0123456789abcdef012345";

/// The password of accounts made by [`TestApp::account`].
pub const TEST_PASSWORD: &str = "Test2026pw";

fn rand_digits() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 100_000_000) as u32
}

/// What [`TestApp::account`] creates.
#[derive(Debug, Clone, Copy)]
pub struct AccountSpec<'a> {
    /// The organisation's name (and the login name unless `login_name` is given).
    pub name: &'a str,
    pub region_code: &'a str,
    /// The first role decides the organisation's kind and the account type.
    pub roles: &'a [Role],
    pub login_name: Option<&'a str>,
    pub mobile: Option<&'a str>,
    pub company_id: Option<i64>,
    pub parent_org_id: Option<i64>,
    /// Schools: `public` (default) or `private`.
    pub nature: Option<&'a str>,
    /// Schools: a school type code, `primary` by default.
    pub school_type: Option<&'a str>,
    /// Insurer branches: the company's name (default 测试保险公司).
    pub company_name: Option<&'a str>,
}

impl<'a> AccountSpec<'a> {
    pub fn new(name: &'a str, region_code: &'a str, roles: &'a [Role]) -> Self {
        Self {
            name,
            region_code,
            roles,
            login_name: None,
            mobile: None,
            company_id: None,
            parent_org_id: None,
            nature: None,
            school_type: None,
            company_name: None,
        }
    }
}

/// An account made by [`TestApp::account`].
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub account_id: i64,
    pub org_id: i64,
    pub account_type: AccountType,
    pub login_name: String,
    pub password: String,
    pub mobile: Option<String>,
}

/// A signed-in browser session: the `Cookie` header value and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct SignedInSession {
    pub cookie: String,
    pub csrf: String,
    /// Where the login redirected to.
    pub location: String,
}

/// A collected response.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The whole `Set-Cookie` header that sets cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.split_once('=').is_some_and(|(k, _)| k.trim() == name))
            .map(str::to_string)
    }

    /// The value cookie `name` is set to.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.set_cookie(name)?;
        let (_, rest) = header.split_once('=')?;
        Some(rest.split(';').next().unwrap_or("").to_string())
    }

    /// The value of the page's first `csrf_token` field.
    pub fn csrf_token(&self) -> Option<String> {
        let html = self.text();
        let at = html.find("name=\"csrf_token\" value=\"")?;
        let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
        Some(rest[..rest.find('"')?].to_string())
    }
}
