//! 学校注册 for visitors: the checks against what is recorded (a region of the programme, a
//! school name and a contact mobile not taken yet), and the registration itself — the
//! qualification document stored, the organisation `pending` with its account without a
//! password and the document attached, all audited in one transaction.

use bytes::Bytes;
use xiaobao_domain::{AccountStatus, Failure, OrgStatus, Outcome, Refusal};
use xiaobao_storage::{DocumentKind, DocumentMeta, Documents, StorageError};

use crate::accounts::{self, Account};
use crate::codes::{CodeError, CodePurpose, Codes};
use crate::registration::{self, NewRegistration, RegisterProblem, Registered, RegistrationRegion};
use crate::{Authenticated, Guest};

/// What is already recorded against a registration's fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clashes {
    /// The region is not a county or 市直 of the programme.
    pub region_invalid: bool,
    pub name_taken: bool,
    pub mobile_taken: bool,
}

/// The qualification document as uploaded.
#[derive(Debug, Clone)]
pub struct Qualification {
    pub file_name: String,
    pub bytes: Bytes,
}

impl From<RegisterProblem> for Refusal {
    fn from(p: RegisterProblem) -> Self {
        let code = match p {
            RegisterProblem::NameTaken => "name_taken",
            RegisterProblem::MobileTaken => "mobile_taken",
            RegisterProblem::RegionInvalid => "bad_region",
            RegisterProblem::OutsideCentral => "region_outside_central",
        };
        Refusal::invalid(code, p.to_string()).on(p.field())
    }
}

/// Registration for one visitor.
#[derive(Clone, Debug)]
pub struct Registrations {
    guest: Guest,
}

/// A set-password link that cannot be used (unknown, used, expired, or its account closed).
fn link_unusable() -> Failure {
    Refusal::new(
        xiaobao_domain::RefusalClass::NotFound,
        "link_unusable",
        "链接无效或已过期",
    )
    .into()
}

fn usable(a: &Account) -> bool {
    a.status == AccountStatus::Active && a.org_status == OrgStatus::Active
}

impl Registrations {
    #[must_use]
    pub fn new(guest: Guest) -> Self {
        Self { guest }
    }

    /// The regions a school registers in (counties and 市直), grouped by their parent.
    pub async fn regions(&self) -> Outcome<Vec<RegistrationRegion>> {
        let mut tx = self.guest.tx().await?;
        let rows = registration::regions(&mut tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The account of a set-password link, checked but not used up.
    pub async fn link_account(&self, codes: &Codes, token: &str) -> Outcome<Account> {
        let mut tx = self.guest.tx().await?;
        let account = match codes
            .link_account(&mut tx, CodePurpose::SetPassword, token)
            .await?
        {
            Some(id) => accounts::get(&mut tx, id).await?,
            None => None,
        };
        tx.commit().await?;
        account.filter(usable).ok_or_else(link_unusable)
    }

    /// Uses a set-password link up: its account, to be signed in with the password to be set
    /// first; audited as `account.activated`. A wrong secret counts towards the link's tries.
    pub async fn activate(&self, codes: &Codes, token: &str) -> Outcome<Authenticated> {
        let mut tx = self.guest.tx().await?;
        let account_id = match codes
            .consume_link_token(&mut tx, CodePurpose::SetPassword, token)
            .await
        {
            Ok(id) => id,
            Err(CodeError::Internal(e)) => return Err(e.into()),
            Err(_) => {
                tx.commit().await?;
                return Err(link_unusable());
            }
        };
        let account = accounts::get(&mut tx, account_id)
            .await?
            .filter(usable)
            .ok_or_else(link_unusable)?;
        let roles = accounts::roles(&mut tx, account_id).await?;
        let actor = xiaobao_audit::Actor {
            account_id: Some(account.account_id),
            org_id: Some(account.org_id),
            label: format!("account:{} {}", account.account_id, account.display_name),
            ..self.guest.actor.clone()
        };
        xiaobao_audit::record(
            &mut tx,
            &actor,
            xiaobao_audit::Entry::new("account.activated", "account", Some(account_id))
                .detail("had_password", account.password_hash.is_some()),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(Authenticated {
            account,
            roles,
            must_change_password: true,
            password_expires_at: None,
            // An activated account has just got its first password: no second factor yet.
            second_factor_pending: false,
        })
    }

    /// The recorded facts a registration clashes with (`region_code` checked when given).
    pub async fn clashes(
        &self,
        region_code: Option<&str>,
        name: &str,
        mobile: &str,
    ) -> Outcome<Clashes> {
        let mut tx = self.guest.tx().await?;
        let region_invalid = match region_code {
            Some(code) => !crate::school_admin::school_region_exists(&mut tx, code).await?,
            None => false,
        };
        let (name_taken, mobile_taken) = registration::taken(&mut tx, name, mobile).await?;
        tx.commit().await?;
        Ok(Clashes {
            region_invalid,
            name_taken,
            mobile_taken,
        })
    }

    /// Stores the document and records the registration with it. A document the visitor can
    /// fix is refused on `qualification`; a name, mobile or region taken in the meantime on
    /// its field.
    pub async fn register(
        &self,
        documents: &Documents,
        reg: &NewRegistration,
        upload: Qualification,
    ) -> Outcome<Registered> {
        self.register_as(documents, reg, upload, None).await
    }

    /// [`Registrations::register`], filed by the central school `registered_by` on the
    /// school's behalf when given (see [`registration::register`]).
    pub async fn register_as(
        &self,
        documents: &Documents,
        reg: &NewRegistration,
        upload: Qualification,
        registered_by: Option<i64>,
    ) -> Outcome<Registered> {
        let tenant = &self.guest.tenant;
        let kind = DocumentKind::Qualification;
        let body =
            futures::stream::once(async move { Ok::<_, std::convert::Infallible>(upload.bytes) });
        let stored = documents
            .put_stream(tenant.tenant_id, kind, &upload.file_name, body)
            .await
            .map_err(on_qualification)?;
        let mut tx = self.guest.tx().await?;
        let registered = registration::register(&mut tx, &self.guest.actor, reg, registered_by)
            .await?
            .map_err(Refusal::from)?;
        let document = documents
            .record(
                &mut tx,
                tenant,
                &stored,
                &DocumentMeta {
                    kind,
                    owner_kind: "organisation".into(),
                    owner_id: registered.org_id.to_string(),
                    uploaded_by: match registered_by {
                        Some(central) => format!("central_school:{central}"),
                        None => format!("registration:{}", registered.org_id),
                    },
                },
            )
            .await
            .map_err(Failure::internal)?;
        registration::attach_qualification(&mut tx, registered.org_id, document.document_id)
            .await?;
        tx.commit().await?;
        tracing::info!(tenant.slug = %tenant.slug, org.id = registered.org_id, "school registered");
        Ok(registered)
    }
}

/// A storage failure of the qualification document: the visitor's to fix on its field, or
/// the service's.
fn on_qualification(e: StorageError) -> Failure {
    if e.is_user_caused() {
        Refusal::invalid_field("qualification", e.to_string()).into()
    } else {
        Failure::internal(e)
    }
}
