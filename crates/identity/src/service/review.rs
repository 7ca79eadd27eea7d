//! 注册审核: the registrations of schools in the reviewer's region, approved (the school
//! becomes active and its contact receives the set-password link by SMS, together) or
//! refused with a reason (the school learns it by SMS). A decided registration is a
//! conflict (409) on every route.

use xiaobao_domain::ids::{Id, OrgId};
use xiaobao_domain::{Failure, OrgStatus, Outcome, Refusal};
use xiaobao_notify::{Notification, Template as Message};

use super::SetPasswordLink;
use crate::codes::{CodePurpose, Codes};
use crate::registration::{self, DecideProblem, Registration};
use crate::{Caller, SchoolScope};

/// Registrations listed at most.
pub const LIST_LIMIT: i64 = 200;

/// A registration's status as people read it.
#[must_use]
pub fn status_label(status: OrgStatus) -> &'static str {
    match status {
        OrgStatus::Pending => "待审核",
        OrgStatus::Active => "已通过",
        OrgStatus::Refused => "已退回",
        OrgStatus::Deregistered => "已注销",
    }
}

/// The reviews of one reviewer.
#[derive(Clone, Debug)]
pub struct Reviews {
    caller: Caller,
}

fn missing(org_id: i64) -> Failure {
    Refusal::not_found("注册申请不存在")
        .about("organisation", org_id)
        .into()
}

fn refused(org_id: i64, p: DecideProblem) -> Failure {
    match p {
        DecideProblem::NotFound => missing(org_id),
        DecideProblem::AlreadyDecided(status) => Refusal::conflict(
            "already_decided",
            format!("该注册申请已处理（{}），无需重复操作", status_label(status)),
        )
        .into(),
    }
}

/// A refusal reason, trimmed; refused on `reason` when missing, too short or too long.
pub fn check_reason(reason: &str) -> Outcome<String> {
    let reason = reason.trim();
    let problem = if reason.is_empty() {
        "请填写退回原因"
    } else if reason.chars().count() < 2 {
        "退回原因至少 2 个字"
    } else if reason.chars().count() > 500 {
        "退回原因最多 500 个字"
    } else {
        return Ok(reason.to_string());
    };
    Err(Refusal::invalid_field("reason", problem).into())
}

impl Reviews {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    fn scope(&self) -> SchoolScope {
        self.caller.viewer.school_scope()
    }

    /// The registrations of the scope with this status, oldest first.
    pub async fn list(&self, status: OrgStatus) -> Outcome<Vec<Registration>> {
        let mut tx = self.caller.tx().await?;
        let rows = registration::list(&mut tx, &self.scope(), status, LIST_LIMIT).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// One registration of the scope.
    pub async fn get(&self, org_id: OrgId) -> Outcome<Registration> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        let row = registration::get(&mut tx, &self.scope(), org_id).await?;
        tx.commit().await?;
        row.ok_or_else(|| missing(org_id))
    }

    /// Approves: the school active, audited, its set-password link issued and the SMS to its
    /// contact queued, in one transaction.
    pub async fn approve(
        &self,
        org_id: OrgId,
        codes: &Codes,
        link: &SetPasswordLink,
    ) -> Outcome<()> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        let approved = registration::approve(&mut tx, &self.caller.actor, &self.scope(), org_id)
            .await?
            .map_err(|p| refused(org_id, p))?;
        let token = codes
            .issue_link_token(
                &mut tx,
                approved.account_id,
                CodePurpose::SetPassword,
                link.ttl,
            )
            .await?;
        xiaobao_notify::queue(
            &mut tx,
            &Notification::sms(
                approved.contact_mobile.clone(),
                Message::RegistrationApproved {
                    school_name: approved.school_name.clone(),
                    set_password_url: format!("{}?token={token}", link.activate_url),
                },
            ),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        tracing::info!(tenant.slug = %self.caller.tenant.slug, org.id = approved.org_id, "registration approved");
        Ok(())
    }

    /// Refuses with the reason (see [`check_reason`]); the school learns it by SMS to the
    /// contact it registered, with the refusal.
    pub async fn refuse(&self, org_id: OrgId, reason: &str) -> Outcome<()> {
        let org_id = org_id.get();
        let reason = check_reason(reason)?;
        let mut tx = self.caller.tx().await?;
        registration::refuse(&mut tx, &self.caller.actor, &self.scope(), org_id, &reason)
            .await?
            .map_err(|p| refused(org_id, p))?;
        if let Some((school_name, Some(mobile))) = registration::contact_of(&mut tx, org_id).await?
        {
            xiaobao_notify::queue(
                &mut tx,
                &Notification::sms(
                    mobile,
                    Message::RegistrationRefused {
                        school_name,
                        reason: reason.clone(),
                    },
                ),
            )
            .await
            .map_err(Failure::internal)?;
        }
        tx.commit().await?;
        Ok(())
    }
}
