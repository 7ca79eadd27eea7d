//! `provision`: seconds per tenant for fresh tenants (a city tree and a province tree), then
//! for the idempotent re-provisioning of all of them.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use xiaobao_config::MAIN_CLUSTER;
use xiaobao_db::seed::{REGIONS_CSV, RegionSeed, regions_under};
use xiaobao_db::{Db, NewTenant, ProvisionOutcome, RulesSeed};

use crate::app::{self, TempDir};
use crate::scratch::{self, ScratchDb};
use crate::stats::Spread;

/// Academic year of the seeded rules.
const ACADEMIC_YEAR: &str = "2025-2026";

#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// Tenants with the Liupanshui tree (520200) and rules: `b0001`, `b0002`, …
    #[arg(long, default_value_t = 20)]
    tenants: usize,
    /// Tenants with the full Henan tree (410000): `h0001`, …
    #[arg(long, default_value_t = 3)]
    henan_tenants: usize,
}

/// One kind of tenant to provision: slug prefix, region tree and rules.
struct Kind {
    label: &'static str,
    slug_prefix: &'static str,
    root: &'static str,
    regions: Vec<RegionSeed>,
    rules: RulesSeed,
    count: usize,
}

impl Kind {
    fn new(
        label: &'static str,
        slug_prefix: &'static str,
        root: &'static str,
        rules_of: &str,
        count: usize,
    ) -> anyhow::Result<Self> {
        let regions = regions_under(REGIONS_CSV, root)
            .with_context(|| format!("cannot read the region tree under {root}"))?;
        let document = xiaobao_domain::programmes::demo_rules(rules_of)
            .with_context(|| format!("no demo rules for {rules_of}"))?;
        Ok(Self {
            label,
            slug_prefix,
            root,
            regions,
            rules: RulesSeed {
                academic_year: ACADEMIC_YEAR.to_string(),
                document: document.to_string(),
            },
            count,
        })
    }

    fn tenant(&self, index: usize) -> NewTenant {
        let slug = format!("{}{:04}", self.slug_prefix, index + 1);
        NewTenant {
            name_zh: format!("基准测试项目 {slug}"),
            slug,
            root_region_code: self.root.to_string(),
            cluster: MAIN_CLUSTER.to_string(),
        }
    }

    /// Provisions every tenant of this kind, timing each call and checking its outcome.
    async fn provision(
        &self,
        db: &Db,
        expected: ProvisionOutcome,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(self.count);
        for index in 0..self.count {
            let tenant = self.tenant(index);
            let started = Instant::now();
            let outcome = db
                .provisioner()
                .create(&tenant, &self.regions, Some(&self.rules))
                .await
                .with_context(|| format!("cannot provision tenant {}", tenant.slug))?;
            times.push(started.elapsed());
            if outcome != expected {
                bail!(
                    "tenant {}: expected {expected:?}, got {outcome:?}",
                    tenant.slug
                );
            }
        }
        Ok(times)
    }
}

pub async fn run(admin_url: &str, args: &ProvisionArgs) -> anyhow::Result<()> {
    let kinds = [
        Kind::new("liupanshui tree", "b", "520200", "liupanshui", args.tenants)?,
        Kind::new("henan tree", "h", "410000", "henan", args.henan_tenants)?,
    ];
    let name = format!("xbbench_{}", scratch::unix_time()?);
    println!("provision: fresh database {name}; tenant roles {name}_t_*; dropped at the end");
    scratch::with_scratch_db(admin_url, &name, async |db| measure(db, &kinds).await).await
}

async fn measure(scratch: &ScratchDb, kinds: &[Kind]) -> anyhow::Result<()> {
    let work_dir = TempDir::new(&scratch.name);
    let state = app::build_state(app::config(scratch, &work_dir, None)).await?;
    let db = &state.db;

    let mut report = serde_json::Map::new();
    for kind in kinds {
        let times = kind.provision(db, ProvisionOutcome::Created).await?;
        let spread = Spread::of(&times);
        if let Some(spread) = spread {
            println!(
                "create, {} ({} regions + rules): {} tenants, per tenant {}",
                kind.label,
                kind.regions.len(),
                kind.count,
                spread.line()
            );
        }
        report.insert(
            kind.slug_prefix.to_string(),
            json!({
                "label": kind.label,
                "root_region": kind.root,
                "regions": kind.regions.len(),
                "tenants": kind.count,
                "seconds_per_tenant": spread.map(Spread::to_json),
            }),
        );
    }

    let no_op = ProvisionOutcome::AlreadyPresent {
        migrations_applied: 0,
    };
    let mut again = Vec::new();
    for kind in kinds {
        again.extend(kind.provision(db, no_op).await?);
    }
    let again_spread = Spread::of(&again);
    if let Some(spread) = again_spread {
        println!(
            "re-provision, no-op (all {} tenants): per tenant {}",
            again.len(),
            spread.line()
        );
    }
    state.db.clusters.close().await;

    let summary = json!({
        "bench": "provision",
        "database": scratch.name,
        "create": report,
        "noop": {
            "tenants": again.len(),
            "seconds_per_tenant": again_spread.map(Spread::to_json),
        },
    });
    println!("{summary}");
    Ok(())
}
