//! Typed ids of what paths and service calls name: an enrolment id cannot be passed where an
//! organisation id is expected, and a path segment that is not an id of the kind is a miss of
//! that kind (its [`Id::ENTITY`] is what the refusal and the audit entry name).
//!
//! ```
//! use xiaobao_domain::ids::{EnrolmentId, Id};
//!
//! let id: EnrolmentId = "42".parse()?;
//! assert_eq!(id.get(), 42);
//! assert_eq!(EnrolmentId::ENTITY, "enrolment");
//! assert!("4a".parse::<EnrolmentId>().is_err());
//! assert!("-1".parse::<EnrolmentId>().is_err());
//! # Ok::<(), xiaobao_domain::ids::NotAnId>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A typed id: a positive `bigint` key of one kind of record.
pub trait Id: Copy + Eq + fmt::Display + FromStr<Err = NotAnId> + From<i64> {
    /// The kind of record, as refusals and audit entries name it (`enrolment`, `organisation`).
    const ENTITY: &'static str;

    /// The key as stored.
    fn get(self) -> i64;
}

/// A path segment or field that is not an id (not a positive integer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("不是有效的编号：{0}")]
pub struct NotAnId(pub String);

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $entity:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl Id for $name {
            const ENTITY: &'static str = $entity;

            fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(raw: i64) -> Self {
                Self(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = NotAnId;

            fn from_str(raw: &str) -> Result<Self, NotAnId> {
                parse_key(raw).map(Self)
            }
        }
    )*};
}

ids! {
    /// An organisation: a school, central school, department, authority, insurer branch, broker.
    OrgId = "organisation";
    /// A school's enrolment in one product for one year.
    EnrolmentId = "enrolment";
    /// One uploaded roster (花名册) of an enrolment.
    RosterId = "roster";
    /// A modification or second-insurer request of a submitted enrolment.
    EnrolmentRequestId = "enrolment_request";
    /// A person insured twice for the same year and product, awaiting resolution.
    RosterConflictId = "roster_conflict";
    /// An endorsement (批单) due from the insurer after an accepted modification.
    EndorsementId = "endorsement";
    /// A school's request to change its registered details.
    ChangeRequestId = "change_request";
    /// A proposed change of a programme's rules, awaiting a second authority account.
    RulesProposalId = "rules_proposal";
}

/// The key of a typed id: digits only (no sign, no spaces), at most 18 of them, not zero.
pub fn parse_key(raw: &str) -> Result<i64, NotAnId> {
    let not = || NotAnId(raw.chars().take(40).collect());
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not());
    }
    match raw.parse::<i64>() {
        Ok(key) if key > 0 => Ok(key),
        _ => Err(not()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_positive_digits() {
        assert_eq!("7".parse::<OrgId>(), Ok(OrgId(7)));
        assert_eq!(
            "999999999999999999".parse::<RosterId>(),
            Ok(RosterId(999_999_999_999_999_999))
        );
        for bad in [
            "",
            "0",
            "-3",
            "+3",
            " 3",
            "3 ",
            "1e3",
            "１２",
            "9999999999999999999",
        ] {
            assert!(bad.parse::<OrgId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn entities_name_the_record() {
        assert_eq!(OrgId::ENTITY, "organisation");
        assert_eq!(ChangeRequestId::ENTITY, "change_request");
        assert_eq!(EnrolmentId(5).to_string(), "5");
        assert_eq!(
            serde_json::to_string(&EnrolmentId(5)).expect("serialises"),
            "5"
        );
    }
}
