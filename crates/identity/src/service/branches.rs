//! 分支机构: an insurer's province or city branch opens the city and county branches below its
//! own — the account without a password, its set-password link by SMS to the contact, both
//! audited, in one transaction — and lists the branches below it.

use xiaobao_domain::{Failure, Outcome, Refusal};
use xiaobao_notify::{Notification, Template as Message};

use super::SetPasswordLink;
use crate::Caller;
use crate::branches::{self, BranchRefusal, BranchRow, Creator, NewBranch, RegionChoice};
use crate::codes::{CodePurpose, Codes};

/// A refusal of a branch: its field; the level or region of the creator's own (audited) are
/// refused with their own codes.
impl From<BranchRefusal> for Refusal {
    fn from(r: BranchRefusal) -> Self {
        let code = match r {
            BranchRefusal::Invalid { .. } => "invalid_input",
            BranchRefusal::LevelNotAllowed(_) => "level_not_allowed",
            BranchRefusal::OutsideSubtree => "outside_subtree",
        };
        Refusal::invalid(code, r.to_string()).on(r.field())
    }
}

/// What the branches page shows: who opens, the branches below, the regions to open in.
#[derive(Debug)]
pub struct BranchOverview {
    pub creator: Creator,
    pub rows: Vec<BranchRow>,
    pub choices: Vec<RegionChoice>,
}

/// The branches of one insurer branch account.
#[derive(Clone, Debug)]
pub struct Branches {
    caller: Caller,
}

impl Branches {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    async fn creator(&self, conn: &mut sqlx::PgConnection) -> Outcome<Creator> {
        branches::creator(conn, self.caller.viewer.org_id)
            .await?
            .ok_or_else(|| Refusal::not_found("机构不存在").into())
    }

    /// The branches below the caller's, with the regions it may open branches in.
    pub async fn overview(&self) -> Outcome<BranchOverview> {
        let mut tx = self.caller.tx().await?;
        let creator = self.creator(&mut tx).await?;
        let rows = branches::list_below(&mut tx, &creator).await?;
        let choices = branches::region_choices(&mut tx, &creator).await?;
        tx.commit().await?;
        Ok(BranchOverview {
            creator,
            rows,
            choices,
        })
    }

    /// The branches below the caller's.
    pub async fn list(&self) -> Outcome<Vec<BranchRow>> {
        let mut tx = self.caller.tx().await?;
        let creator = self.creator(&mut tx).await?;
        let rows = branches::list_below(&mut tx, &creator).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Opens the branch, issues its set-password link and queues the SMS, in one
    /// transaction; answers the new branch as listed.
    pub async fn create(
        &self,
        input: &NewBranch,
        codes: &Codes,
        link: &SetPasswordLink,
    ) -> Outcome<BranchRow> {
        let actor = &self.caller.actor;
        let mut tx = self.caller.tx().await?;
        let created =
            match branches::create(&mut tx, actor, self.caller.viewer.org_id, input).await? {
                Ok(created) => created,
                Err(refusal) => {
                    // A refusal of scope left its audit row.
                    tx.commit().await?;
                    return Err(Refusal::from(refusal).into());
                }
            };
        let token = codes
            .issue_link_token(
                &mut tx,
                created.account_id,
                CodePurpose::SetPassword,
                link.ttl,
            )
            .await?;
        let notification_id = xiaobao_notify::queue(
            &mut tx,
            &Notification::sms(
                created.contact_mobile.clone(),
                Message::AccountOpened {
                    org_name: created.name.clone(),
                    login_name: created.login_name.clone(),
                    set_password_url: format!("{}?token={token}", link.activate_url),
                },
            ),
        )
        .await
        .map_err(Failure::internal)?;
        xiaobao_audit::record(
            &mut tx,
            actor,
            xiaobao_audit::Entry::new(
                "account.set_password_link_sent",
                "account",
                Some(created.account_id),
            )
            .detail("channel", "sms")
            .detail("contact_mobile", &created.contact_mobile)
            .detail("notification_id", notification_id.0),
        )
        .await
        .map_err(Failure::internal)?;
        let creator = self.creator(&mut tx).await?;
        let row = branches::get_below(&mut tx, &creator, created.org_id)
            .await?
            .ok_or_else(|| Failure::internal("the branch just opened is not below its creator"))?;
        tx.commit().await?;
        Ok(row)
    }
}
