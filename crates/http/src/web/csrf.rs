//! Cross-site request forgery protection: a synchronizer token.
//!
//! Each session holds a random token ([`crate::web::session::SessionData::csrf_token`]); every form
//! carries it in the hidden field `csrf_token` (template macro `csrf_field` in
//! `templates/macros.html`), scripts send it in the `X-CSRF-Token` header. The [`verify`]
//! middleware checks every POST, PUT, PATCH and DELETE before any handler runs:
//!
//! - a form body (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) —
//!   what another site can make a browser send — always needs the token of the session bound
//!   to the request's tenant;
//! - any other body needs the header whenever the request carries the session cookie (a JSON
//!   call relying on the cookie); without the cookie there is no ambient authority to abuse.
//!
//! A failed check is a 403: a Chinese page, or the JSON error `csrf_failed` under `/api/`.

use std::fmt;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use tower_sessions::Session;

use crate::AppState;
use crate::web::error::ApiError;
use crate::web::error::PageError;
use crate::web::session::{load_data, scope_of_path};
use crate::web::tenant::TenantBase;

/// The form field carrying the token.
pub const FIELD: &str = "csrf_token";
/// The header carrying the token for script requests.
pub const HEADER: &str = "x-csrf-token";

/// A session's CSRF token, as put into forms. 32 random bytes, URL-safe base64 (no escaping
/// needed in HTML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// A new random token.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub(crate) fn from_stored(token: &str) -> Self {
        Self(token.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an unsafe request's body is, for the check.
enum BodyKind {
    Urlencoded,
    Multipart(String),
    /// A form encoding a page can send cross-site but whose token we cannot read.
    OtherForm,
    NotForm,
}

fn body_kind(headers: &HeaderMap) -> BodyKind {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => BodyKind::Urlencoded,
        "multipart/form-data" => multer::parse_boundary(content_type)
            .map(BodyKind::Multipart)
            .unwrap_or(BodyKind::OtherForm),
        "text/plain" => BodyKind::OtherForm,
        _ => BodyKind::NotForm,
    }
}

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| {
            pair.trim()
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == name)
        })
}

/// Compares in time independent of where the inputs differ.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How much of a multipart body is read, at most, looking for the token field. Forms put the
/// token first, before any file; the rest of the body is not read by the check.
const MULTIPART_PREFIX_BYTES: usize = 64 * 1024;

/// Reads a multipart body only until its `csrf_token` field (or [`MULTIPART_PREFIX_BYTES`]),
/// and gives back the body whole — the part read, then the rest still unread — with the token
/// when one was found.
async fn multipart_token(body: Body, boundary: String) -> (Body, Option<String>) {
    let mut rest = body.into_data_stream();
    let mut read: Vec<Bytes> = Vec::new();
    let token = {
        let mut total = 0usize;
        let prefix = futures::stream::poll_fn(|cx| {
            if total > MULTIPART_PREFIX_BYTES {
                return std::task::Poll::Ready(None);
            }
            match futures::Stream::poll_next(std::pin::Pin::new(&mut rest), cx) {
                std::task::Poll::Ready(Some(Ok(chunk))) => {
                    total += chunk.len();
                    read.push(chunk.clone());
                    std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(chunk)))
                }
                std::task::Poll::Ready(Some(Err(e))) => {
                    std::task::Poll::Ready(Some(Err(std::io::Error::other(e))))
                }
                std::task::Poll::Ready(None) => std::task::Poll::Ready(None),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        });
        let mut multipart = multer::Multipart::new(prefix, boundary);
        let mut token = None;
        while let Ok(Some(field)) = multipart.next_field().await {
            if field.name() == Some(FIELD) {
                token = field.text().await.ok();
                break;
            }
            if field.file_name().is_some() {
                // A file before the token: the token is not where forms put it.
                break;
            }
        }
        token
    };
    let replay = futures::stream::iter(read.into_iter().map(Ok::<_, axum::Error>));
    (Body::from_stream(replay.chain(rest)), token)
}

/// The middleware: checks the token of every unsafe request (see the module documentation).
pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return next.run(request).await;
    }
    let kind = body_kind(request.headers());
    let cookie = has_cookie(request.headers(), &state.config.session.cookie_name);
    if matches!(kind, BodyKind::NotForm) && !cookie {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    let scope = scope_of_path(&path).to_string();
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return refuse(&state, &request, &scope, "no session layer");
    };
    let expected = match load_data(&session, &scope).await {
        Ok(Some(data)) => data.csrf_token,
        Ok(None) => return refuse(&state, &request, &scope, "no session for this tenant"),
        Err(error) => {
            tracing::error!(%error, "session store");
            return PageError::Unavailable.into_response();
        }
    };
    let header_token = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (request, provided) = match (header_token, kind) {
        (Some(token), _) => (request, Some(token)),
        (None, BodyKind::Urlencoded) => {
            let (request, body) = match buffer(request, &state).await {
                Ok(x) => x,
                Err(response) => return response,
            };
            let token = form_urlencoded::parse(&body)
                .find(|(k, _)| k == FIELD)
                .map(|(_, v)| v.into_owned());
            (request, token)
        }
        (None, BodyKind::Multipart(boundary)) => {
            let (parts, body) = request.into_parts();
            let (body, token) = multipart_token(body, boundary).await;
            (Request::from_parts(parts, body), token)
        }
        (None, BodyKind::OtherForm | BodyKind::NotForm) => (request, None),
    };
    match provided {
        Some(token) if same_token(token.as_bytes(), expected.as_bytes()) => next.run(request).await,
        Some(_) => refuse(&state, &request, &scope, "wrong token"),
        None => refuse(&state, &request, &scope, "missing token"),
    }
}

/// Reads a form body (bounded by the route's limit, `server.form_limit_bytes` on all but the
/// upload routes) and puts it back for the handler.
async fn buffer(request: Request, state: &AppState) -> Result<(Request, Bytes), Response> {
    let limit = request
        .extensions()
        .get::<crate::web::middleware::BodyLimit>()
        .map_or(state.config.server.form_limit_bytes, |l| l.0);
    let path = request.uri().path().to_string();
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes)),
        Err(_) => Err(crate::web::middleware::too_large(&path, limit)),
    }
}

fn refuse(state: &AppState, request: &Request, scope: &str, why: &'static str) -> Response {
    tracing::warn!(
        csrf.failure = why,
        tenant.slug = scope,
        "request refused: CSRF check failed"
    );
    let path = request.uri().path();
    let accepts_json = |h: &HeaderMap, name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    let headers = request.headers();
    if path.starts_with("/api/")
        || accepts_json(headers, header::CONTENT_TYPE)
        || (accepts_json(headers, header::ACCEPT)
            && !headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html")))
    {
        return ApiError::Forbidden {
            code: "csrf_failed",
            message: "请求未通过安全校验（CSRF 令牌缺失或无效），请刷新页面后重试".into(),
        }
        .into_response();
    }
    let tenant = (!scope.is_empty())
        .then(|| state.db.active_tenant(scope).ok())
        .flatten()
        .map(|t| {
            let base = TenantBase::of(request.extensions(), &t.slug);
            (t, base)
        });
    PageError::CsrfRejected(tenant).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_html_safe() {
        let a = CsrfToken::generate();
        let b = CsrfToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abc", b"abd"));
        assert!(!same_token(b"abc", b"abcd"));
        assert!(!same_token(b"", b"a"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; xb_session=abc; b=2".parse().expect("header"),
        );
        assert!(has_cookie(&h, "xb_session"));
        assert!(!has_cookie(&h, "xb"));
    }

    async fn whole(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    #[tokio::test]
    async fn the_token_is_found_in_a_multipart_body_which_comes_back_whole() {
        let text =
            "--XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n--XX--\r\n";
        let (body, token) = multipart_token(Body::from(text), "XX".into()).await;
        assert_eq!(token.as_deref(), Some("tok"));
        assert_eq!(whole(body).await, text.as_bytes());
    }

    #[tokio::test]
    async fn a_large_multipart_body_is_not_read_past_its_token() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let head = "--XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n";
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        // 32 MiB of file after the token, in 64 KiB chunks, counted as they are pulled.
        let chunks = std::iter::once(Bytes::from(head))
            .chain(std::iter::repeat_with(|| Bytes::from(vec![b'a'; 64 * 1024])).take(512));
        let stream = futures::stream::iter(chunks).map(move |c| {
            counter.fetch_add(c.len(), Ordering::SeqCst);
            Ok::<_, std::io::Error>(c)
        });
        let (body, token) = multipart_token(Body::from_stream(stream), "XX".into()).await;
        assert_eq!(token.as_deref(), Some("tok"));
        assert!(
            pulled.load(Ordering::SeqCst) <= 2 * MULTIPART_PREFIX_BYTES,
            "the check read {} bytes",
            pulled.load(Ordering::SeqCst)
        );
        assert_eq!(whole(body).await.len(), head.len() + 512 * 64 * 1024);
    }

    #[tokio::test]
    async fn a_file_before_the_token_is_no_token() {
        let text = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nabc\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n--XX--\r\n";
        let (body, token) = multipart_token(Body::from(text), "XX".into()).await;
        assert_eq!(token, None);
        assert_eq!(whole(body).await, text.as_bytes());
    }
}
