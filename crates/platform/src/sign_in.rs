//! Signing an operator in: rate limit per login name, lock-out on the operator's row (checked
//! before the password), the same answer and work for unknown names and wrong passwords, then
//! the second factor when the operator has one. Every outcome naming an operator is audited.

use chrono::{DateTime, Utc};
use serde_json::json;
use xiaobao_db::Db;
use xiaobao_domain::{Clock, Outcome, Refusal, RefusalClass};
use xiaobao_identity::totp::{Factor, TotpKeys};
use xiaobao_identity::{LoginPolicy, PasswordHasher, RateLimiter, Verdict};

use crate::audit::{self, OperatorActor};
use crate::operators::{self, OperatorIdentity, OperatorRow};
use crate::{db, totp};

/// Someone at the console's sign-in page.
#[derive(Clone)]
pub struct OperatorGuest {
    pub db: Db,
    pub ip: Option<String>,
    pub clock: Clock,
}

/// Where a right password leads.
#[derive(Debug, Clone)]
pub enum SignInStep {
    /// Signed in.
    Done(OperatorIdentity),
    /// The operator has a second factor: it is asked for next.
    SecondFactor(OperatorIdentity),
}

const INVALID: &str = "登录名或密码错误";

fn invalid() -> Refusal {
    Refusal::new(
        RefusalClass::Unauthenticated,
        "invalid_credentials",
        INVALID,
    )
}

fn locked(until: DateTime<Utc>) -> Refusal {
    let local = xiaobao_identity::login::cst_hm(until);
    Refusal::new(
        RefusalClass::Locked,
        "account_locked",
        format!("登录失败次数过多，账号已锁定至 {local}（北京时间），请稍后再试"),
    )
}

fn identity(
    row: &OperatorRow,
    two_factor: bool,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> OperatorIdentity {
    let expired = row
        .password_changed_at
        .is_some_and(|at| at + max_age <= now);
    OperatorIdentity {
        operator_id: row.operator_id,
        login_name: row.login_name.clone(),
        display_name: row.display_name.clone(),
        must_change_password: row.must_change_password || expired,
        two_factor,
        epoch: row.session_epoch,
    }
}

impl OperatorGuest {
    fn actor(&self, row: &OperatorRow) -> OperatorActor {
        OperatorActor::operator(row.operator_id, &row.display_name, self.ip.clone())
    }

    /// Counts a failed attempt (password or second factor) and locks at the threshold.
    async fn failed(
        &self,
        policy: &LoginPolicy,
        row: &OperatorRow,
        action: &str,
    ) -> Outcome<Refusal> {
        let main = self.db.clusters.main();
        let failed: i32 = sqlx::query_scalar!(
            "update control.operators set failed_logins = failed_logins + 1 \
             where operator_id = $1 returning failed_logins",
            row.operator_id,
        )
        .fetch_one(main)
        .await
        .map_err(db)?;
        let actor = self.actor(row);
        audit::record(
            main,
            &actor,
            action,
            "operator",
            Some(&row.operator_id.to_string()),
            json!({}),
        )
        .await?;
        if i64::from(failed) >= i64::from(policy.lockout_threshold) {
            let until = self.clock.now() + policy.lockout;
            sqlx::query!(
                "update control.operators set locked_until = $2, failed_logins = 0 \
                 where operator_id = $1",
                row.operator_id,
                until,
            )
            .execute(main)
            .await
            .map_err(db)?;
            audit::record(
                main,
                &actor,
                "operator.locked",
                "operator",
                Some(&row.operator_id.to_string()),
                json!({}),
            )
            .await?;
            return Ok(locked(until));
        }
        Ok(invalid())
    }

    /// The password step.
    pub async fn sign_in(
        &self,
        hasher: &PasswordHasher,
        limiter: &RateLimiter,
        policy: &LoginPolicy,
        login_name: &str,
        password: &str,
    ) -> Outcome<SignInStep> {
        let login_name = login_name.trim();
        if login_name.is_empty() || password.is_empty() {
            return Err(Refusal::invalid_field("login_name", "请输入登录名和密码").into());
        }
        let key = format!(
            "login:operator:{}",
            login_name.chars().take(60).collect::<String>()
        );
        if let Verdict::Refused { retry_after_secs } = limiter
            .hit(&key, policy.per_account)
            .await
            .map_err(xiaobao_domain::Failure::from)?
        {
            return Err(Refusal::rate_limited(
                "rate_limited",
                "登录尝试过于频繁，请稍后再试",
                retry_after_secs,
            )
            .into());
        }
        let main = self.db.clusters.main();
        let Some(row) = operators::by_login(main, login_name).await? else {
            hasher.verify_dummy(password).await;
            return Err(invalid().into());
        };
        let now = self.clock.now();
        if let Some(until) = row.locked_until.filter(|u| *u > now) {
            audit::record(
                main,
                &self.actor(&row),
                "login.refused_locked",
                "operator",
                Some(&row.operator_id.to_string()),
                json!({}),
            )
            .await?;
            return Err(locked(until).into());
        }
        let ok = match &row.password_hash {
            Some(h) => hasher.verify(password, h).await,
            None => {
                hasher.verify_dummy(password).await;
                false
            }
        };
        if !ok {
            return Err(self.failed(policy, &row, "login.failed").await?.into());
        }
        if row.status != "active" {
            return Err(Refusal::forbidden("account_disabled", "该运营账号已停用").into());
        }
        let mut conn = main.acquire().await.map_err(db)?;
        let two_factor = totp::is_enabled(&mut conn, row.operator_id).await?;
        drop(conn);
        if two_factor {
            audit::record(
                main,
                &self.actor(&row),
                "login.password_verified",
                "operator",
                Some(&row.operator_id.to_string()),
                json!({}),
            )
            .await?;
            return Ok(SignInStep::SecondFactor(identity(
                &row,
                false,
                now,
                policy.password_max_age,
            )));
        }
        sqlx::query!(
            "update control.operators set failed_logins = 0 where operator_id = $1",
            row.operator_id
        )
        .execute(main)
        .await
        .map_err(db)?;
        audit::record(
            main,
            &self.actor(&row),
            "login.succeeded",
            "operator",
            Some(&row.operator_id.to_string()),
            json!({}),
        )
        .await?;
        Ok(SignInStep::Done(identity(
            &row,
            false,
            now,
            policy.password_max_age,
        )))
    }

    /// The second step: a current code or a recovery code.
    pub async fn second_factor(
        &self,
        keys: &TotpKeys,
        policy: &LoginPolicy,
        pending: &OperatorIdentity,
        input: &str,
    ) -> Outcome<OperatorIdentity> {
        let main = self.db.clusters.main();
        let Some(row) = operators::get(main, pending.operator_id).await? else {
            return Err(invalid().into());
        };
        let now = self.clock.now();
        if let Some(until) = row.locked_until.filter(|u| *u > now) {
            return Err(locked(until).into());
        }
        let mut tx = main.begin().await.map_err(db)?;
        let Some(totp_row) = totp::row_for_update(&mut tx, row.operator_id).await? else {
            return Err(invalid().into());
        };
        let factor =
            totp::check_and_use(&mut tx, keys, row.operator_id, &totp_row, input.trim(), now)
                .await?;
        let Some(factor) = factor else {
            drop(tx);
            let refusal = self
                .failed(policy, &row, "login.second_factor.failed")
                .await?;
            return Err(if refusal.class == RefusalClass::Locked {
                refusal
            } else {
                Refusal::invalid("invalid_second_factor", "动态验证码或恢复码不正确")
                    .on("totp_code")
            }
            .into());
        };
        sqlx::query!(
            "update control.operators set failed_logins = 0 where operator_id = $1",
            row.operator_id
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let actor = self.actor(&row);
        let id = row.operator_id.to_string();
        audit::record(
            &mut *tx,
            &actor,
            "login.second_factor.succeeded",
            "operator",
            Some(&id),
            json!({}),
        )
        .await?;
        if factor == Factor::RecoveryCode {
            audit::record(
                &mut *tx,
                &actor,
                "totp.recovery_code_used",
                "operator",
                Some(&id),
                json!({}),
            )
            .await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(identity(&row, true, now, policy.password_max_age))
    }
}
