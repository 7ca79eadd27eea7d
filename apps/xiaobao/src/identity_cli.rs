//! `xiaobao identity …`: platform logins of brokers and insurer head offices that work in
//! several programmes (创建、授权、设置密码).

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use xiaobao_db::Db;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Creates a platform login (without a password).
    Create {
        #[arg(long)]
        login: String,
        /// The name shown to people, e.g. 某某保险经纪有限公司（总部）.
        #[arg(long)]
        name: String,
        /// The company (insurer or broker) by its full name, when it is one of the platform's.
        #[arg(long)]
        company: Option<String>,
    },
    /// Lets a platform login act in a programme as one of its accounts (broker or insurer).
    Grant {
        #[arg(long)]
        login: String,
        #[arg(long)]
        tenant: String,
        /// The programme's account it acts as (its login name under the broker or insurer tab).
        #[arg(long)]
        account: String,
    },
    /// Sets a password read from standard input; the holder must change it at first sign-in.
    SetPassword {
        #[arg(long)]
        login: String,
    },
}

#[expect(clippy::print_stdout, reason = "admin commands print their results")]
pub async fn run(
    db: &Db,
    config: &xiaobao_config::Config,
    command: IdentityCommand,
) -> anyhow::Result<()> {
    let main = db.clusters.main();
    let find = async |login: &str| -> anyhow::Result<i64> {
        sqlx::query_scalar!(
            "select identity_id from control.identities where login_name = $1",
            login
        )
        .fetch_optional(main)
        .await?
        .with_context(|| format!("没有平台账号 {login}"))
    };
    match command {
        IdentityCommand::Create {
            login,
            name,
            company,
        } => {
            let company_id = match company {
                Some(c) => Some(
                    sqlx::query_scalar!(
                        "select company_id from control.companies where name = $1",
                        c,
                    )
                    .fetch_optional(main)
                    .await?
                    .with_context(|| format!("没有公司 {c}"))?,
                ),
                None => None,
            };
            let id = xiaobao_identity::platform::create(main, &login, &name, company_id).await?;
            println!("已创建平台账号 {login}（#{id}），尚未设置密码");
        }
        IdentityCommand::Grant {
            login,
            tenant,
            account,
        } => {
            let identity = find(&login).await?;
            let t = db.active_tenant(&tenant)?;
            let mut tx = db.tenant_tx(&t).await?;
            let account_id: Option<i64> = sqlx::query_scalar!(
                "select account_id from accounts where account_type in ('broker', 'insurer') \
                 and login_name = $1 and status = 'active'",
                account,
            )
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            let Some(account_id) = account_id else {
                bail!("项目 {tenant} 中没有在用的经纪机构或承保机构账号 {account}");
            };
            xiaobao_identity::platform::grant(main, identity, t.tenant_id, account_id).await?;
            println!("平台账号 {login} 可在 {tenant} 以 {account} 的身份办理业务");
        }
        IdentityCommand::SetPassword { login } => {
            let identity = find(&login).await?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if let Err(problem) = xiaobao_identity::check_new_password(password, &login) {
                bail!("{problem}");
            }
            let hasher = xiaobao_identity::PasswordHasher::new(
                config.auth.argon2_memory_kib,
                config.auth.argon2_iterations,
            )?;
            let hash = hasher.hash(password).await?;
            xiaobao_identity::platform::store_password(main, identity, &hash, true).await?;
            println!("已设置 {login} 的密码；首次登录时须修改");
        }
    }
    Ok(())
}
