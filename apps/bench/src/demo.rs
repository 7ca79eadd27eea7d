//! `demo`: the demo seeding on fresh demo programmes — the programmes, their accounts and
//! their demo data (`xiaobao::demo_data`) as the service seeds them at start — in seconds for
//! the first run and for the second (idempotent) one, with what the first made per programme.

use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use crate::app::{self, TempDir};
use crate::scratch::{self, ScratchDb};

#[derive(clap::Args)]
pub struct DemoArgs {}

pub async fn run(admin_url: &str, _args: &DemoArgs) -> anyhow::Result<()> {
    let name = format!("xbbench_{}", scratch::unix_time()?);
    println!("demo: fresh database {name}; dropped at the end");
    scratch::with_scratch_db(admin_url, &name, async |db| measure(db).await).await
}

async fn measure(db: &ScratchDb) -> anyhow::Result<()> {
    let work = TempDir::new(&format!("{}-work", db.name));
    let state = app::build_state(app::config(db, &work, None)).await?;
    let today = state.clock.today();
    let started = Instant::now();
    xiaobao::seed_demo_tenants(&state.db, today).await?;
    let password = xiaobao::demo::generate_password();
    xiaobao::demo::seed_demo_accounts(&state.db, &state.auth.hasher, &password).await?;
    let provisioning = started.elapsed().as_secs_f64();
    println!(
        "demo: programmes and demo accounts provisioned in {provisioning:.2} s (as of {today})"
    );

    let started = Instant::now();
    let first = xiaobao::demo_data::seed_demo_data(&state, &password, today).await?;
    let first_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let second = xiaobao::demo_data::seed_demo_data(&state, &password, today).await?;
    let second_s = started.elapsed().as_secs_f64();
    if second.programmes.iter().any(|p| p.made) {
        bail!("the second run made demo data again");
    }
    let mut per = Vec::new();
    for p in &first.programmes {
        println!(
            "{:<10} {}: {} schools, {} submitted enrolments, {} drafts, {} roster rows, {} modification requests ({} approved, endorsements owed), {} second-insurer requests; {:.2} s",
            p.slug,
            p.academic_year,
            p.schools_made,
            p.submitted,
            p.drafts,
            p.roster_rows,
            p.modification_requests,
            p.endorsements,
            p.second_insurer_requests,
            p.seconds
        );
        per.push(json!({
            "slug": p.slug, "academic_year": p.academic_year, "schools": p.schools_made,
            "submitted": p.submitted, "drafts": p.drafts, "roster_rows": p.roster_rows,
            "modification_requests": p.modification_requests,
            "endorsements": p.endorsements,
            "second_insurer_requests": p.second_insurer_requests, "seconds": p.seconds,
        }));
    }
    println!(
        "demo data: first run {first_s:.2} s (target well under 20 s: {}); second run {second_s:.3} s",
        if first_s < 20.0 { "met" } else { "NOT met" }
    );
    println!(
        "{}",
        json!({"bench": "demo", "first_run_s": first_s, "second_run_s": second_s,
               "provisioning_s": provisioning, "programmes": per})
    );
    Ok(())
}
