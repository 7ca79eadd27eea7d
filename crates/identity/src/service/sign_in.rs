//! Signing in: a programme account's login name and password, or a platform login (a broker
//! or insurer head office) granted this programme, and a platform login switching into
//! another programme it is granted. Failed attempts are committed too: they count towards
//! the lock-out and are audited.

use xiaobao_domain::{AccountStatus, AccountType, Failure, Outcome, Refusal, RefusalClass};

use crate::{
    Authenticated, Guest, LoginAttempt, LoginError, LoginPolicy, PasswordHasher, RateLimiter,
    authenticate, platform,
};

/// What signing in needs beside the visitor: the hasher, the limiter and the policy.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    pub hasher: &'a PasswordHasher,
    pub limiter: &'a RateLimiter,
    pub policy: &'a LoginPolicy,
}

impl From<LoginError> for Failure {
    fn from(e: LoginError) -> Self {
        let message = e.to_string();
        match e {
            LoginError::Locked { .. } => {
                Refusal::new(RefusalClass::Locked, "account_locked", message).into()
            }
            LoginError::RateLimited { retry_after_secs } => {
                Refusal::rate_limited("rate_limited", message, retry_after_secs).into()
            }
            LoginError::SecondFactorRequired => Refusal::new(
                RefusalClass::Unauthenticated,
                "second_factor_required",
                message,
            )
            .on("totp_code")
            .into(),
            LoginError::WrongSecondFactor => Refusal::new(
                RefusalClass::Unauthenticated,
                "invalid_second_factor",
                message,
            )
            .on("totp_code")
            .into(),
            LoginError::Invalid | LoginError::Disabled => Refusal::new(
                RefusalClass::Unauthenticated,
                "invalid_credentials",
                message,
            )
            .into(),
            // Signing in depends on the database and the limiter: their failure is an outage.
            LoginError::Internal(e) => Failure::Unavailable(Box::new(e)),
        }
    }
}

/// Signing in for one visitor.
#[derive(Clone, Debug)]
pub struct SignIn {
    guest: Guest,
}

impl SignIn {
    #[must_use]
    pub fn new(guest: Guest) -> Self {
        Self { guest }
    }

    /// Checks a login name and password of the account type; answers the sign-in and, for a
    /// platform login, its identity.
    pub async fn login(
        &self,
        gate: Gate<'_>,
        kind: AccountType,
        login_name: &str,
        password: &str,
    ) -> Outcome<(Authenticated, Option<i64>)> {
        let tenant = &self.guest.tenant;
        let main = self.guest.db.clusters.main();
        // Brokers and insurer head offices may sign in with a platform login granted this
        // programme.
        let granted = if matches!(kind, AccountType::Broker | AccountType::Insurer) {
            platform::find_granted(main, login_name, tenant.tenant_id).await?
        } else {
            None
        };
        let attempt = LoginAttempt {
            tenant: &tenant.slug,
            account_type: kind,
            login_name,
            password,
            ip: self.guest.actor.ip.clone(),
            user_agent: self.guest.actor.user_agent.clone(),
            now: self.guest.clock.now(),
        };
        let mut tx = self.guest.tx().await?;
        let outcome = match &granted {
            Some((identity, account_id)) => platform::authenticate(
                main,
                &mut tx,
                gate.hasher,
                gate.limiter,
                gate.policy,
                &attempt,
                identity,
                *account_id,
            )
            .await
            .map(|ok| (ok, Some(identity.identity_id))),
            None => authenticate(&mut tx, gate.hasher, gate.limiter, gate.policy, &attempt)
                .await
                .map(|ok| (ok, None)),
        };
        if let Err(LoginError::Internal(error)) = &outcome {
            tracing::error!(%error, "login failed");
        } else {
            tx.commit().await?;
        }
        tracing::info!(tenant.slug = %tenant.slug, login.account_type = kind.as_str(),
            login.ok = outcome.is_ok(), "login attempt");
        Ok(outcome?)
    }

    /// The second step of a sign-in whose password was right (`login` answered
    /// `second_factor_pending`): the account's current code or one of its recovery codes.
    /// Committed whatever the outcome: a wrong code counts towards the lock-out.
    pub async fn second_factor(
        &self,
        gate: Gate<'_>,
        keys: &crate::totp::TotpKeys,
        account_id: i64,
        code: &str,
    ) -> Outcome<crate::totp::Factor> {
        let mut tx = self.guest.tx().await?;
        let attempt = crate::login::SecondFactorAttempt {
            account_id,
            code,
            ip: self.guest.actor.ip.clone(),
            user_agent: self.guest.actor.user_agent.clone(),
            now: self.guest.clock.now(),
        };
        let outcome = crate::login::second_factor(&mut tx, keys, gate.policy, &attempt).await;
        if let Err(LoginError::Internal(error)) = &outcome {
            tracing::error!(%error, "second factor failed");
        } else {
            tx.commit().await?;
        }
        tracing::info!(tenant.slug = %self.guest.tenant.slug, login.ok = outcome.is_ok(),
            "second factor attempt");
        Ok(outcome?)
    }

    /// A platform login entering this programme as the account it is granted here, audited
    /// as `login.switched`. Refused when it has no grant here or is not active.
    pub async fn switch(&self, policy: &LoginPolicy, identity_id: i64) -> Outcome<Authenticated> {
        let tenant = &self.guest.tenant;
        let now = self.guest.clock.now();
        let no = || Failure::from(LoginError::Invalid);
        let main = self.guest.db.clusters.main();
        let account_id = platform::grants(main, identity_id)
            .await?
            .into_iter()
            .find(|(t, _)| *t == tenant.tenant_id)
            .map(|(_, a)| a)
            .ok_or_else(no)?;
        let identity = platform::get(main, identity_id).await?.ok_or_else(no)?;
        if identity.status != AccountStatus::Active
            || identity.locked_until.is_some_and(|u| u > now)
        {
            return Err(no());
        }
        let mut tx = self.guest.tx().await?;
        let ok = platform::enter(&mut tx, policy, &identity, account_id, now)
            .await
            .map_err(|_| no())?;
        let actor = xiaobao_audit::Actor {
            account_id: Some(account_id),
            org_id: Some(ok.account.org_id),
            label: format!("identity:{identity_id} {}", identity.display_name),
            ..self.guest.actor.clone()
        };
        xiaobao_audit::record(
            &mut tx,
            &actor,
            xiaobao_audit::Entry::new("login.switched", "account", Some(account_id))
                .detail("identity_id", identity_id),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(ok)
    }
}
