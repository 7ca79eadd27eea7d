//! Stored statuses as types: each is a `text` column with a `check` constraint in the tenant
//! schema, read and written through sqlx as its stored word, compared in code as a variant.

use std::fmt;
use std::str::FromStr;

/// A stored word that names no status of its kind (the schema's `check` constraint makes this a
/// bug, never an input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("未知的{kind}状态：“{word}”")]
pub struct UnknownStatus {
    /// The kind of status.
    pub kind: &'static str,
    /// The word as stored.
    pub word: String,
}

/// Reads and writes a type as a PostgreSQL `text` value through its `Display` and `FromStr`.
macro_rules! text_column {
    ($ty:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(text.parse::<$ty>()?)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<sqlx::Postgres>>::encode(self.to_string(), buf)
            }
        }
    };
}
pub(crate) use text_column;

/// Declares a status enum with its stored words.
macro_rules! statuses {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every status of this kind, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(word: &str) -> Result<Self, UnknownStatus> {
                match word {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownStatus { kind: $kind, word: word.to_owned() }),
                }
            }
        }

        text_column!($name);
    };
}

statuses! {
    /// An organisation's standing (`organisations.status`).
    OrgStatus, "机构" {
        /// Registered, waiting for the department's decision.
        Pending => "pending",
        /// In the programme.
        Active => "active",
        /// Registration refused.
        Refused => "refused",
        /// Left the programme (merged or closed).
        Deregistered => "deregistered",
    }
}

statuses! {
    /// An account's or a platform login's standing (`accounts.status`, `identities.status`).
    AccountStatus, "账号" {
        /// May sign in.
        Active => "active",
        /// May not sign in.
        Disabled => "disabled",
    }
}

statuses! {
    /// Where a request waiting on someone's decision stands: registrations, school changes,
    /// enrolment modifications and second-insurer requests.
    RequestStatus, "申请" {
        /// Waiting for a decision.
        Pending => "pending",
        /// Approved.
        Approved => "approved",
        /// Refused, with a reason.
        Refused => "refused",
        /// Withdrawn by the requester.
        Withdrawn => "withdrawn",
    }
}

statuses! {
    /// An enrolment's stored stage (`enrolments.status`).
    EnrolmentStage, "投保" {
        /// Being prepared by the school.
        Draft => "draft",
        /// Submitted with a roster and an insurer.
        Submitted => "submitted",
        /// Underwritten by the insurer.
        Underwritten => "underwritten",
    }
}

statuses! {
    /// An endorsement's stage (`endorsements.status`).
    EndorsementStatus, "批单" {
        /// Requested, not yet issued.
        Pending => "pending",
        /// Issued by the insurer.
        Issued => "issued",
    }
}

impl RequestStatus {
    /// Whether a decision has been taken (anything but pending).
    pub fn is_decided(self) -> bool {
        self != RequestStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_word() {
        for s in OrgStatus::ALL {
            assert_eq!(s.as_str().parse::<OrgStatus>(), Ok(*s));
        }
        for s in RequestStatus::ALL {
            assert_eq!(s.to_string().parse::<RequestStatus>(), Ok(*s));
        }
        for s in EnrolmentStage::ALL {
            assert_eq!(s.as_str().parse::<EnrolmentStage>(), Ok(*s));
        }
    }

    #[test]
    fn an_unknown_word_names_its_kind() {
        let err = "open".parse::<EnrolmentStage>().expect_err("not a stage");
        assert_eq!(err.kind, "投保");
        assert_eq!(err.to_string(), "未知的投保状态：“open”");
        assert!("Active".parse::<AccountStatus>().is_err());
    }

    #[test]
    fn serde_uses_the_stored_word() {
        assert_eq!(
            serde_json::to_string(&EnrolmentStage::Underwritten).expect("serialises"),
            "\"underwritten\""
        );
        let back: OrgStatus = serde_json::from_str("\"deregistered\"").expect("parses");
        assert_eq!(back, OrgStatus::Deregistered);
    }
}
