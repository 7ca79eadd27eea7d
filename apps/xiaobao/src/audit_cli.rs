//! `xiaobao audit …`: checks on the tenants' audit trails.

use anyhow::bail;
use clap::Subcommand;
use xiaobao_db::Db;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute every tenant's audit hash chain (or one tenant's) and compare it with its head;
    /// exits with status 1 when any chain is broken.
    Verify {
        /// Only this tenant; every active tenant when omitted.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs an audit subcommand; prints one line per tenant.
#[expect(clippy::print_stdout, reason = "admin commands print their results")]
pub async fn run(db: &Db, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { tenant } => {
            let results = xiaobao_audit::verify_tenants(db, tenant.as_deref()).await?;
            if results.is_empty() {
                println!("没有在用的租户");
            }
            for result in &results {
                println!("{}", result.line());
            }
            let failed: Vec<&str> = results
                .iter()
                .filter(|r| !r.ok())
                .map(|r| r.slug.as_str())
                .collect();
            if !failed.is_empty() {
                bail!("审计链校验未通过：{}", failed.join("、"));
            }
        }
    }
    Ok(())
}
