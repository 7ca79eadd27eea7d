//! The one shape of an expected failure: every action of every context answers
//! `Result<T, Refusal>`, and the web layer maps a refusal to HTTP in exactly one place (a page
//! re-rendered with the message beside the form, or the API's status and JSON error).
//!
//! A refusal has a stable machine-readable `code`, a [`RefusalClass`] that decides the status,
//! an optional `field` the person has to correct, and a Chinese message addressed to them. A
//! miss outside the viewer's scope is a `NotFound` refusal that names what was looked for
//! ([`Refusal::out_of_scope`]); the web layer audits it once.
//!
//! ```
//! use xiaobao_domain::{Refusal, RefusalClass};
//!
//! let r = Refusal::invalid("bad_headcount", "投保人数应在 1 到 1000000 之间").on("headcount");
//! assert_eq!(r.class, RefusalClass::Invalid);
//! assert_eq!(r.field.as_deref(), Some("headcount"));
//! assert_eq!(r.to_string(), "投保人数应在 1 到 1000000 之间");
//! let miss = Refusal::out_of_scope("enrolment", 42);
//! assert!(miss.is_not_found() && miss.subject.is_some());
//! ```

use std::borrow::Cow;
use std::fmt;

/// What kind of refusal it is; the web layer derives the HTTP status from it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalClass {
    /// The thing does not exist, or is outside the viewer's scope (which reads the same).
    NotFound,
    /// The current state forbids the action (already decided, already submitted, …).
    Conflict,
    /// The input is wrong; `field` says where when one field is.
    Invalid,
    /// A file or body past a limit.
    TooLarge,
    /// Too many attempts in a window; `retry_after_secs` says when to try again.
    RateLimited,
    /// The viewer may not do this (beyond the route's permission).
    Forbidden,
    /// No valid session or credentials.
    Unauthenticated,
    /// The account is locked for a while.
    Locked,
}

/// What a not-found refusal was looking for: an entity kind and its id as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub entity: Cow<'static, str>,
    pub id: String,
}

/// An expected failure of an action (see the module documentation). `Display` is the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub class: RefusalClass,
    /// Stable, machine-readable, e.g. `not_found`, `deadline_passed`.
    pub code: Cow<'static, str>,
    /// The input field to correct, when one is.
    pub field: Option<Cow<'static, str>>,
    /// For people, in Chinese.
    pub message: String,
    /// For rate limits and lock-outs: seconds until a new attempt may succeed.
    pub retry_after_secs: Option<u64>,
    /// For a miss outside the viewer's scope: what was looked for (audited once by the edge).
    pub subject: Option<Subject>,
}

impl Refusal {
    /// A refusal of `class` with `code` and `message`.
    pub fn new(
        class: RefusalClass,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            class,
            code: code.into(),
            field: None,
            message: message.into(),
            retry_after_secs: None,
            subject: None,
        }
    }

    /// Not found (code `not_found`).
    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalClass::NotFound, "not_found", message)
    }

    /// A miss outside the viewer's scope (or of nothing at all — the two read the same):
    /// `not_found`, naming the entity and id for the audit trail.
    pub fn out_of_scope(entity: impl Into<Cow<'static, str>>, id: impl fmt::Display) -> Refusal {
        Refusal {
            subject: Some(Subject {
                entity: entity.into(),
                id: id.to_string(),
            }),
            ..Refusal::not_found("记录不存在或不在管辖范围内")
        }
    }

    pub fn conflict(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalClass::Conflict, code, message)
    }

    pub fn invalid(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalClass::Invalid, code, message)
    }

    /// Invalid input in `field` (code `invalid_input`).
    pub fn invalid_field(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal::invalid("invalid_input", message).on(field)
    }

    /// Past a size or structure limit (code `payload_too_large`).
    pub fn too_large(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalClass::TooLarge, "payload_too_large", message)
    }

    pub fn rate_limited(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Refusal {
        Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Refusal::new(RefusalClass::RateLimited, code, message)
        }
    }

    pub fn forbidden(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalClass::Forbidden, code, message)
    }

    /// The same refusal about `field`.
    #[must_use]
    pub fn on(mut self, field: impl Into<Cow<'static, str>>) -> Refusal {
        self.field = Some(field.into());
        self
    }

    /// The same refusal naming what was looked for (for a not-found one, audited).
    #[must_use]
    pub fn about(mut self, entity: impl Into<Cow<'static, str>>, id: impl fmt::Display) -> Refusal {
        self.subject = Some(Subject {
            entity: entity.into(),
            id: id.to_string(),
        });
        self
    }

    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.class == RefusalClass::NotFound
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Why an action did not happen: refused (an expected answer, see [`Refusal`]), or a failure
/// nobody can correct from the outside (a dependency not answering, a bug), which the web
/// layer logs once and answers 503 or 500 without detail.
#[derive(Debug)]
pub enum Failure {
    Refused(Box<Refusal>),
    /// A dependency (the database pool, the store) did not answer in time.
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    /// An internal failure from any error.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Failure {
        Failure::Internal(e.into())
    }

    /// The same failure; a not-found refusal that names nothing yet names `entity` and `id`
    /// (so the edge audits the miss against what was asked for).
    #[must_use]
    pub fn about(self, entity: &'static str, id: impl fmt::Display) -> Failure {
        match self {
            Failure::Refused(r) if r.is_not_found() && r.subject.is_none() => {
                Failure::Refused(Box::new(r.about(entity, id)))
            }
            other => other,
        }
    }

    /// The refusal, when it is one.
    #[must_use]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Failure::Refused(r) => Some(r),
            _ => None,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(Box::new(r))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(r) => write!(f, "refused: {} ({})", r.code, r.message),
            Failure::Unavailable(e) => write!(f, "unavailable: {e}"),
            Failure::Internal(e) => write!(f, "internal: {e}"),
        }
    }
}

impl std::error::Error for Failure {}

/// What an action answers: its value, or why it was not done.
pub type Outcome<T> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_keep_code_class_and_field() {
        let r = Refusal::rate_limited("too_many_uploads", "上传过于频繁", 60).on("file");
        assert_eq!(r.class, RefusalClass::RateLimited);
        assert_eq!(r.code, "too_many_uploads");
        assert_eq!(r.retry_after_secs, Some(60));
        assert_eq!(r.field.as_deref(), Some("file"));
        let miss = Refusal::out_of_scope("organisation", 7);
        assert_eq!(miss.code, "not_found");
        assert_eq!(
            miss.subject,
            Some(Subject {
                entity: "organisation".into(),
                id: "7".into()
            })
        );
        assert!(!Refusal::conflict("already_decided", "已处理").is_not_found());
    }
}
