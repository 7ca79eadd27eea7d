//! Two-factor sign-in of one's own account (账户信息 → 两步验证): enrolment (a secret shown as a
//! QR code and in base32, confirmed with a current code, then ten recovery codes shown once)
//! and turning it off (the password and a current code); new recovery codes for a current
//! code. Turning it on or off ends the account's other sessions (the session epoch moves, see
//! migration 0016). Platform logins (brokers and insurer
//! head offices signing in with one login in several programmes) are not enrolled here: their
//! password lives on the platform, outside any one programme.

use chrono::{DateTime, Utc};
use xiaobao_audit::Entry;
use xiaobao_domain::{Failure, Outcome, Refusal};

use crate::accounts;
use crate::totp::{self, TotpKeys};
use crate::{Caller, PasswordHasher};

/// The state of the caller's two-factor sign-in.
#[derive(Debug, Clone)]
pub struct TwoFactorStatus {
    /// When it was turned on; `None` when off.
    pub enabled_at: Option<DateTime<Utc>>,
    /// An enrolment waits for its first code.
    pub pending: bool,
    pub recovery_codes_left: i64,
}

/// An enrolment as shown to its holder: the secret for manual entry and the URI the QR code
/// carries. Never logged or audited.
#[derive(Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(..)")
    }
}

/// The two-factor context of one caller, with the programme's sealing keys.
#[derive(Clone, Debug)]
pub struct TwoFactor {
    caller: Caller,
    keys: TotpKeys,
}

fn invalid(field: &'static str, message: &str) -> Failure {
    Refusal::invalid_field(field, message).into()
}

fn platform_login() -> Failure {
    Refusal::invalid(
        "two_factor_unavailable",
        "平台账号（多项目共用的登录）暂不支持在项目内开启两步验证",
    )
    .into()
}

impl TwoFactor {
    #[must_use]
    pub fn new(caller: Caller, keys: TotpKeys) -> Self {
        Self { caller, keys }
    }

    fn account_id(&self) -> i64 {
        self.caller.viewer.account_id
    }

    /// Whether two-factor sign-in is on, or an enrolment waits.
    pub async fn status(&self) -> Outcome<TwoFactorStatus> {
        let mut tx = self.caller.tx().await?;
        let row = sqlx::query!(
            "select enabled_at from account_totp where account_id = $1",
            self.account_id(),
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(crate::IdentityError::from)?;
        let left = totp::recovery_codes_left(&mut tx, self.account_id()).await?;
        tx.commit().await?;
        Ok(TwoFactorStatus {
            enabled_at: row.as_ref().and_then(|r| r.enabled_at),
            pending: row.is_some_and(|r| r.enabled_at.is_none()),
            recovery_codes_left: left,
        })
    }

    /// Starts an enrolment with a new secret (replacing a pending one); refused when two-factor
    /// sign-in is already on. `identity` names a platform login (refused).
    pub async fn begin(&self, identity: Option<i64>) -> Outcome<Enrolment> {
        if identity.is_some() {
            return Err(platform_login());
        }
        let mut tx = self.caller.tx().await?;
        if totp::is_enabled(&mut tx, self.account_id()).await? {
            return Err(Refusal::conflict("two_factor_enabled", "两步验证已开启").into());
        }
        let account = accounts::get(&mut tx, self.account_id())
            .await?
            .ok_or_else(|| Failure::from(Refusal::not_found("账户不存在")))?;
        let secret = totp::new_secret();
        let sealed = self
            .keys
            .seal(self.account_id(), &secret)
            .map_err(Failure::internal)?;
        totp::store_pending(&mut tx, self.account_id(), &sealed).await?;
        tx.commit().await?;
        Ok(self.shown(&account.login_name, &secret))
    }

    /// The pending enrolment, to show again (a reloaded page); `None` when none waits.
    pub async fn pending(&self) -> Outcome<Option<Enrolment>> {
        let mut tx = self.caller.tx().await?;
        let row = totp::row_for_update(&mut tx, self.account_id()).await?;
        let account = accounts::get(&mut tx, self.account_id()).await?;
        tx.commit().await?;
        let (Some(row), Some(account)) = (row, account) else {
            return Ok(None);
        };
        if row.enabled_at.is_some() {
            return Ok(None);
        }
        let secret = self
            .keys
            .open(self.account_id(), &row.secret_sealed)
            .map_err(Failure::internal)?;
        Ok(Some(self.shown(&account.login_name, &secret)))
    }

    fn shown(&self, login_name: &str, secret: &[u8]) -> Enrolment {
        Enrolment {
            secret_base32: totp::base32(secret),
            otpauth_uri: totp::otpauth_uri(&self.caller.tenant.name_zh, login_name, secret),
        }
    }

    /// Confirms the pending enrolment with a current code: two-factor sign-in is on, audited as
    /// `totp.enabled`; answers the ten recovery codes (shown once, stored only hashed).
    pub async fn confirm(&self, code: &str) -> Outcome<Vec<String>> {
        let now = self.caller.clock.now();
        let mut tx = self.caller.tx().await?;
        let row = totp::row_for_update(&mut tx, self.account_id())
            .await?
            .filter(|r| r.enabled_at.is_none())
            .ok_or_else(|| {
                Failure::from(Refusal::conflict(
                    "no_pending_enrolment",
                    "没有待确认的两步验证设置，请重新开始",
                ))
            })?;
        if totp::looks_like_code(code).is_none() {
            return Err(invalid("code", "请输入身份验证器中显示的 6 位数字"));
        }
        let secret = self
            .keys
            .open(self.account_id(), &row.secret_sealed)
            .map_err(Failure::internal)?;
        let Some(step) = totp::matching_step(&secret, code, now, None) else {
            return Err(invalid(
                "code",
                "动态验证码不正确，请确认手机时间准确后输入当前显示的 6 位数字",
            ));
        };
        let codes = totp::new_recovery_codes();
        totp::enable(&mut tx, self.account_id(), step, now, &codes).await?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new("totp.enabled", "account", Some(self.account_id()))
                .detail("remaining", codes.len()),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Replaces the recovery codes by ten new ones (the old ones, used or not, stop working),
    /// given a current code from the authenticator — not a recovery code, so a lost phone
    /// cannot be hidden behind the codes it replaces. Audited as
    /// `totp.recovery_codes_regenerated`; a wrong code as `totp.regenerate_refused`. Answers
    /// the new codes, shown once.
    pub async fn regenerate_recovery_codes(&self, code: &str) -> Outcome<Vec<String>> {
        if totp::looks_like_code(code).is_none() {
            return Err(invalid("code", "请输入身份验证器中显示的 6 位数字"));
        }
        let now = self.caller.clock.now();
        let mut tx = self.caller.tx().await?;
        let Some(row) = totp::row_for_update(&mut tx, self.account_id())
            .await?
            .filter(|r| r.enabled_at.is_some())
        else {
            return Err(Refusal::conflict("two_factor_disabled", "两步验证未开启").into());
        };
        let secret = self
            .keys
            .open(self.account_id(), &row.secret_sealed)
            .map_err(Failure::internal)?;
        let last = row.last_used_step.and_then(|s| u64::try_from(s).ok());
        let Some(step) = totp::matching_step(&secret, code, now, last) else {
            xiaobao_audit::record(
                &mut tx,
                &self.caller.actor,
                Entry::new(
                    "totp.regenerate_refused",
                    "account",
                    Some(self.account_id()),
                )
                .detail("cause", "wrong_code"),
            )
            .await
            .map_err(Failure::internal)?;
            tx.commit().await?;
            return Err(invalid(
                "code",
                "动态验证码不正确，请输入身份验证器中当前显示的 6 位数字",
            ));
        };
        totp::use_step(&mut tx, self.account_id(), step).await?;
        let codes = totp::new_recovery_codes();
        totp::replace_recovery_codes(&mut tx, self.account_id(), &codes).await?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new(
                "totp.recovery_codes_regenerated",
                "account",
                Some(self.account_id()),
            )
            .detail("remaining", codes.len()),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns two-factor sign-in off, given the account's password and a current code (or a
    /// recovery code); audited as `totp.disabled`, a refusal as `totp.disable_refused`.
    pub async fn disable(
        &self,
        hasher: &PasswordHasher,
        password: &str,
        code: &str,
    ) -> Outcome<()> {
        if password.is_empty() {
            return Err(invalid("password", "请输入密码"));
        }
        if code.trim().is_empty() {
            return Err(invalid("code", "请输入动态验证码"));
        }
        let now = self.caller.clock.now();
        let mut tx = self.caller.tx().await?;
        let account = accounts::get(&mut tx, self.account_id())
            .await?
            .ok_or_else(|| Failure::from(Refusal::not_found("账户不存在")))?;
        let Some(row) = totp::row_for_update(&mut tx, self.account_id())
            .await?
            .filter(|r| r.enabled_at.is_some())
        else {
            return Err(Refusal::conflict("two_factor_disabled", "两步验证未开启").into());
        };
        let password_ok = match &account.password_hash {
            Some(hash) => hasher.verify(password, hash).await,
            None => false,
        };
        let refused = if !password_ok {
            Some(("password", "wrong_password", "密码不正确"))
        } else if totp::check_and_use(&mut tx, &self.keys, self.account_id(), &row, code, now)
            .await?
            .is_none()
        {
            Some(("code", "wrong_code", "动态验证码不正确"))
        } else {
            None
        };
        if let Some((field, cause, message)) = refused {
            xiaobao_audit::record(
                &mut tx,
                &self.caller.actor,
                Entry::new("totp.disable_refused", "account", Some(self.account_id()))
                    .detail("cause", cause),
            )
            .await
            .map_err(Failure::internal)?;
            tx.commit().await?;
            return Err(invalid(field, message));
        }
        totp::remove(&mut tx, self.account_id()).await?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            Entry::new("totp.disabled", "account", Some(self.account_id())),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(())
    }
}
