//! A real browser for end-to-end tests: headless Chromium driven through chromedriver
//! (WebDriver) with fantoccini.
//!
//! Environment (set by `infra/test/run.sh`):
//! - `XIAOBAO_TEST_WEBDRIVER_URL` — chromedriver, e.g. `http://127.0.0.1:59515` (required:
//!   without it the browser tests fail, they are never skipped);
//! - `XIAOBAO_TEST_CHROMIUM` — the Chromium binary (default `/usr/bin/chromium` when present).
//!
//! Each [`Browser`] is a fresh Chromium with its own temporary profile. Screenshots go to
//! `<target dir>/test-artefacts/screenshots/` ([`screenshots_dir`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Where test artefacts go: `$CARGO_TARGET_DIR/test-artefacts` (relative to the workspace
/// when relative), else `<workspace>/target/test-artefacts`.
pub fn artefacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap_or(workspace);
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("test-artefacts")
}

/// Where [`Browser::screenshot`] saves PNGs.
pub fn screenshots_dir() -> PathBuf {
    artefacts_dir().join("screenshots")
}

fn webdriver_url() -> String {
    std::env::var("XIAOBAO_TEST_WEBDRIVER_URL").unwrap_or_else(|_| {
        panic!(
            "XIAOBAO_TEST_WEBDRIVER_URL is not set: the browser tests need chromedriver and \
             Chromium; run the suite with infra/test/run.sh, which starts them \
             (or start `chromedriver --port=59515` and set XIAOBAO_TEST_WEBDRIVER_URL=http://127.0.0.1:59515)"
        )
    })
}

fn chromium_binary() -> String {
    if let Ok(path) = std::env::var("XIAOBAO_TEST_CHROMIUM") {
        return path;
    }
    let default = "/usr/bin/chromium";
    assert!(
        Path::new(default).exists(),
        "XIAOBAO_TEST_CHROMIUM is not set and {default} does not exist: run infra/test/run.sh, \
         which installs Chromium"
    );
    default.to_string()
}

/// A headless Chromium session. Call [`Browser::close`] at the end; if a test panics first,
/// dropping it ends the WebDriver session anyway.
pub struct Browser {
    client: Option<Client>,
    webdriver: String,
    session_id: Option<String>,
    profile: PathBuf,
}

impl Browser {
    /// Starts Chromium at 1366×768 with a fresh profile.
    pub async fn start() -> Self {
        let webdriver = webdriver_url();
        let profile =
            std::env::temp_dir().join(format!("xbt-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("temporary Chromium profile");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=zh-CN".into(),
            "--window-size=1366,768".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium_binary(), "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Chromium through chromedriver at {webdriver} ({e}): run the \
                     suite with infra/test/run.sh"
                )
            });
        let session_id = client.session_id().await.ok().flatten();
        let browser = Self {
            client: Some(client),
            webdriver,
            session_id,
            profile,
        };
        browser.resize(1366, 768).await;
        browser
    }

    /// The fantoccini client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("browser is open")
    }

    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Makes the viewport (`innerWidth` × `innerHeight`) exactly `width` × `height`.
    pub async fn resize(&self, width: u32, height: u32) {
        let client = self.client();
        let want = (i64::from(width), i64::from(height));
        let mut window = want;
        let mut got = (0, 0);
        for _ in 0..5 {
            let w = u32::try_from(window.0).unwrap_or(width);
            let h = u32::try_from(window.1).unwrap_or(height);
            client.set_window_size(w, h).await.expect("set window size");
            // The window manager applies the size asynchronously: wait until it settles.
            got = self.viewport_i64().await;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let now = self.viewport_i64().await;
                if now == got {
                    break;
                }
                got = now;
            }
            if got == want {
                return;
            }
            // Window decorations take some room: grow the window by the difference.
            window = (window.0 + want.0 - got.0, window.1 + want.1 - got.1);
        }
        panic!("cannot make the viewport {width}×{height}: it stays {got:?}");
    }

    async fn viewport_i64(&self) -> (i64, i64) {
        let (w, h) = self.viewport().await;
        (
            i64::try_from(w).unwrap_or_default(),
            i64::try_from(h).unwrap_or_default(),
        )
    }

    /// `innerWidth`, `innerHeight`.
    pub async fn viewport(&self) -> (u64, u64) {
        let v = self
            .client()
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("viewport");
        (
            v[0].as_u64().unwrap_or_default(),
            v[1].as_u64().unwrap_or_default(),
        )
    }

    /// `document.documentElement.scrollWidth` and `innerWidth`: the page overflows
    /// horizontally when the first exceeds the second.
    pub async fn widths(&self) -> (u64, u64) {
        let v = self
            .client()
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .expect("widths");
        (
            v[0].as_u64().unwrap_or_default(),
            v[1].as_u64().unwrap_or_default(),
        )
    }

    /// Panics when the page is wider than the viewport.
    pub async fn assert_no_horizontal_overflow(&self, what: &str) {
        let (scroll, inner) = self.widths().await;
        assert!(
            scroll <= inner,
            "{what}: the page is {scroll}px wide in a {inner}px viewport (horizontal overflow)"
        );
    }

    /// The document's title.
    pub async fn title(&self) -> String {
        self.client().title().await.expect("title")
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .expect("element text")
    }

    /// The visible text of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self
            .client()
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
        {
            out.push(e.text().await.expect("element text"));
        }
        out
    }

    /// A property of the first element matching `css` (`value`, `placeholder`, …).
    pub async fn property(&self, css: &str, name: &str) -> Option<String> {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .prop(name)
            .await
            .expect("property")
    }

    pub async fn click(&self, css: &str) {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Types into the field matching `css` after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        e.clear().await.expect("clear field");
        e.send_keys(text).await.expect("type into field");
    }

    /// Waits (up to 10 s) until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str) {
        self.client()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
    }

    /// Replaces the browser's cookies for the page being shown with `cookie` (`name=value`,
    /// as [`crate::TestApp::signed_in_cookie`] returns), sent like the session cookie:
    /// path `/`, HttpOnly, SameSite=Lax.
    pub async fn set_cookie(&self, cookie: &str) {
        let client = self.client();
        let url = client.current_url().await.expect("current URL");
        let host = url
            .host_str()
            .expect("a page with a host is shown")
            .to_string();
        let mut c =
            fantoccini::cookies::Cookie::parse(format!("{cookie}; Path=/; HttpOnly; SameSite=Lax"))
                .expect("name=value");
        c.set_domain(host);
        client.delete_all_cookies().await.expect("delete cookies");
        client.add_cookie(c).await.expect("add cookie");
    }

    /// Saves a PNG of the viewport as `screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client().screenshot().await.expect("screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the WebDriver session (Chromium exits) and removes the profile.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        self.session_id = None;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked never reached `close`: end the session with a plain blocking
        // request, since the test's runtime may already be gone.
        if let Some(id) = self.session_id.take() {
            delete_session(&self.webdriver, &id);
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn delete_session(webdriver: &str, id: &str) {
    let Ok(url) = url::Url::parse(webdriver) else {
        return;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect((host, port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let path = format!("{}/session/{id}", url.path().trim_end_matches('/'));
    let request = format!(
        "DELETE {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}
