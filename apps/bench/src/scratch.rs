//! Scratch databases: made for one run, dropped afterwards with the roles named after them.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use sqlx::{Connection, Executor, PgConnection};

/// Seconds since the Unix epoch, used to name scratch databases.
pub fn unix_time() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

/// A database created for one run on the server of a superuser URL.
pub struct ScratchDb {
    admin_url: String,
    /// Database name; also the prefix of the tenant roles made in it (`<name>_t_<slug>`).
    pub name: String,
    /// Superuser URL of this database.
    pub url: String,
}

impl ScratchDb {
    /// Creates database `name` (which must not exist yet) on the server of `admin_url`.
    async fn create(admin_url: &str, name: &str) -> anyhow::Result<Self> {
        let url = with_database(admin_url, name)?;
        let mut admin = connect(admin_url).await?;
        // Runtime: DDL naming a database.
        admin
            .execute(format!("create database {}", quote_ident(name)).as_str())
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await.ok();
        Ok(Self {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
            url,
        })
    }

    /// Drops the database (terminating its sessions) and every role `<name>_t_…`.
    async fn destroy(self) -> anyhow::Result<()> {
        let mut admin = connect(&self.admin_url).await?;
        // Runtime: DDL naming a database.
        admin
            .execute(
                format!(
                    "drop database if exists {} with (force)",
                    quote_ident(&self.name)
                )
                .as_str(),
            )
            .await
            .with_context(|| format!("cannot drop database {}", self.name))?;
        let roles: Vec<String> = sqlx::query_scalar!(
            r#"select rolname::text as "rolname!" from pg_roles where starts_with(rolname, $1 || '_t_')"#,
            self.name,
        )
        .fetch_all(&mut admin)
        .await
        .context("cannot list the tenant roles")?;
        for role in roles {
            // Runtime: DDL naming a role.
            admin
                .execute(format!("drop role if exists {}", quote_ident(&role)).as_str())
                .await
                .with_context(|| format!("cannot drop role {role}"))?;
        }
        admin.close().await.ok();
        Ok(())
    }
}

/// Runs `body` on a fresh database `name`, then drops it and its roles whatever happened,
/// Ctrl-C included.
pub async fn with_scratch_db<T>(
    admin_url: &str,
    name: &str,
    body: impl AsyncFnOnce(&ScratchDb) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = ScratchDb::create(admin_url, name).await?;
    let outcome = tokio::select! {
        outcome = body(&db) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let dropped = db.destroy().await;
    match (outcome, dropped) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(cleanup)) => Err(cleanup.context(format!("cleanup of {name} failed"))),
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(cleanup)) => {
            Err(error.context(format!("cleanup of {name} also failed: {cleanup:#}")))
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL with the superuser URL (--database-url)")
}

/// The same URL with another database name.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("--database-url is not a valid URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.into())
}

/// Quotes an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
