//! One's own account: reading it, and the password change every account can make (an account
//! of the programme, or a platform login working in several programmes, whose one password is
//! changed on the control schema and audited in the programme where it was changed).

use xiaobao_domain::{Failure, Outcome, Refusal};

use crate::accounts::{self, Account};
use crate::{Caller, PasswordHasher, PasswordProblem};

/// A password change as asked for.
#[derive(Debug, Default, Clone)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    /// The new password typed again (forms); `None` when not asked for (the API).
    pub confirm: Option<String>,
}

/// The accounts context for one caller.
#[derive(Clone, Debug)]
pub struct Accounts {
    caller: Caller,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Failure {
    Refusal::invalid_field(field, message).into()
}

/// The caller's account (a miss: the account is gone).
fn missing() -> Failure {
    Refusal::not_found("账户不存在").into()
}

impl Accounts {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    /// The caller's own account.
    pub async fn me(&self) -> Outcome<Account> {
        let mut tx = self.caller.tx().await?;
        let account = accounts::get(&mut tx, self.caller.viewer.account_id).await?;
        tx.commit().await?;
        account.ok_or_else(missing)
    }

    /// Whether the caller has a password yet; a platform login (`identity`) always has one.
    pub async fn has_password(&self, identity: Option<i64>) -> Outcome<bool> {
        if identity.is_some() {
            return Ok(true);
        }
        Ok(self.me().await?.password_hash.is_some())
    }

    /// Changes the caller's password; `identity` names a platform login's own identity.
    /// A wrong current password is audited (`account.password_change_refused`) and refused on
    /// `current_password`; a new one that breaks the rules on `new_password`.
    pub async fn change_password(
        &self,
        hasher: &PasswordHasher,
        identity: Option<i64>,
        input: &PasswordChange,
    ) -> Outcome<()> {
        if let Some(identity_id) = identity {
            return self
                .change_identity_password(hasher, identity_id, input)
                .await;
        }
        let mut tx = self.caller.tx().await?;
        let account = accounts::get(&mut tx, self.caller.viewer.account_id)
            .await?
            .ok_or_else(missing)?;
        // An account without a password (activated by its set-password link) sets its first
        // one without a current one.
        if account.password_hash.is_some() && input.current.is_empty() {
            return Err(invalid("current_password", "请输入当前密码"));
        }
        check_typed(input)?;
        let ok = match &account.password_hash {
            Some(hash) => hasher.verify(&input.current, hash).await,
            None => true,
        };
        if !ok {
            xiaobao_audit::record(
                &mut tx,
                &self.caller.actor,
                xiaobao_audit::Entry::new(
                    "account.password_change_refused",
                    "account",
                    Some(account.account_id),
                )
                .detail("cause", "wrong_current_password"),
            )
            .await
            .map_err(Failure::internal)?;
            tx.commit().await?;
            return Err(invalid("current_password", "当前密码不正确"));
        }
        accounts::set_own_password(
            &mut tx,
            hasher,
            &self.caller.actor,
            &account,
            &input.new,
            "account.password_changed",
        )
        .await?
        .map_err(|p| invalid("new_password", p.to_string()))?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_identity_password(
        &self,
        hasher: &PasswordHasher,
        identity_id: i64,
        input: &PasswordChange,
    ) -> Outcome<()> {
        if input.current.is_empty() {
            return Err(invalid("current_password", "请输入当前密码"));
        }
        check_typed(input)?;
        let main = self.caller.db.clusters.main();
        let identity = crate::platform::get(main, identity_id)
            .await?
            .ok_or_else(missing)?;
        let ok = match &identity.password_hash {
            Some(hash) => hasher.verify(&input.current, hash).await,
            None => false,
        };
        let (action, refusal) = if ok {
            crate::platform::change_password(main, hasher, &identity, &input.new)
                .await?
                .map_err(|p| invalid("new_password", p.to_string()))?;
            ("account.password_changed", None)
        } else {
            (
                "account.password_change_refused",
                Some(invalid("current_password", "当前密码不正确")),
            )
        };
        let mut tx = self.caller.tx().await?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            xiaobao_audit::Entry::new(action, "account", Some(self.caller.viewer.account_id))
                .detail("identity_id", identity_id),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        refusal.map_or(Ok(()), Err)
    }
}

/// The new password is given, and typed the same twice where asked.
fn check_typed(input: &PasswordChange) -> Outcome<()> {
    if input.new.is_empty() {
        return Err(invalid("new_password", "请输入新密码"));
    }
    if input
        .confirm
        .as_ref()
        .is_some_and(|c| c.as_str() != input.new)
    {
        return Err(invalid(
            "confirm_password",
            PasswordProblem::Mismatch.to_string(),
        ));
    }
    Ok(())
}
