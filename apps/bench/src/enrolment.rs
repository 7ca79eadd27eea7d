//! `roster`: roster ingestion (parse + validate + seal + store) of generated 5,000- and
//! 100,000-row rosters as CSV and XLSX, in rows per second, against two floors measured in the
//! same run — a plain `COPY` of the same rows from CSV into an unindexed table, and calamine
//! reading the same XLSX with no other work — and the process's peak memory while ingesting
//! the 100,000-row files.
//!
//! `province`: 50,000 schools and 20 million roster rows in one tenant (the Henan tree); times
//! the county and city progress queries.

use std::io::Cursor;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::PgConnection;
use xiaobao_audit::Actor;
use xiaobao_config::MAIN_CLUSTER;
use xiaobao_db::seed::{REGIONS_CSV, regions_under};
use xiaobao_db::{NewTenant, RulesSeed, Tenant};
use xiaobao_domain::{InsuredGroup, ProgrammeRules, SchoolType};
use xiaobao_enrolment::ingest::{self, RosterResult};
use xiaobao_http::AppState;
use xiaobao_roster::{RosterSpec, parse_roster};

use crate::app::{self, TempDir};
use crate::scratch::{self, ScratchDb};

const YEAR: &str = "2025-2026";

/// [`YEAR`], typed.
fn year() -> xiaobao_domain::AcademicYear {
    YEAR.parse().expect("a valid academic year")
}

#[derive(clap::Args)]
pub struct RosterArgs {
    /// Repetitions of each 5,000-row measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    small_runs: usize,
    /// Repetitions of each 100,000-row measurement.
    #[arg(long, default_value_t = 2)]
    large_runs: usize,
}

#[derive(clap::Args)]
pub struct ProvinceArgs {
    /// Schools in the tenant.
    #[arg(long, default_value_t = 50_000)]
    schools: u32,
    /// Roster rows in the tenant.
    #[arg(long, default_value_t = 20_000_000)]
    roster_rows: u64,
    /// Repetitions of each query (median and worst reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
}

/// A tenant with the Henan tree and rules on a scratch database, and the state to reach it.
async fn henan(
    db: &ScratchDb,
    work: &TempDir,
) -> anyhow::Result<(AppState, std::sync::Arc<Tenant>)> {
    let state = app::build_state(app::config(db, work, Some(8))).await?;
    let regions = regions_under(REGIONS_CSV, "410000").context("Henan region tree")?;
    let rules = xiaobao_domain::programmes::demo_rules("henan").context("Henan rules")?;
    state
        .db
        .provisioner()
        .create(
            &NewTenant {
                slug: "bench".into(),
                name_zh: "基准测试项目".into(),
                root_region_code: "410000".into(),
                cluster: MAIN_CLUSTER.into(),
            },
            &regions,
            Some(&RulesSeed {
                academic_year: YEAR.into(),
                document: rules.to_string(),
            }),
        )
        .await
        .context("cannot provision the bench tenant")?;
    state.db.catalog.reload(state.db.clusters.main()).await?;
    let tenant = state.db.active_tenant("bench")?;
    let mut tx = state.db.tenant_tx(&tenant).await?;
    sqlx::query!(
        "insert into academic_years (academic_year, rules_version, opened_by) values ($1, 1, 'bench')",
        YEAR,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((state, tenant))
}

/// A valid resident ID: Zhengzhou Jinshui (410105), born in 2017, sequence `n`.
fn resident_id(n: u64) -> String {
    let day = 1 + (n % 28);
    let month = 1 + (n / 28) % 12;
    let seq = (n / 336) % 1000;
    let first17 = format!(
        "410105{}{month:02}{day:02}{seq:03}",
        2017 - (n / 336_000) % 3
    );
    let check = xiaobao_domain::resident_id::check_char(&first17);
    format!("{first17}{check}")
}

/// Unique IDs: vary the birth date and sequence so every `n` below 1,008,000 differs.
fn row(n: u64) -> [String; 6] {
    let id = resident_id(n);
    let male = id.as_bytes()[16] % 2 == 1;
    [
        name(n),
        if male { "男" } else { "女" }.to_string(),
        format!(
            "{}年级{}班",
            ["一", "二", "三", "四", "五", "六"][(n % 6) as usize],
            1 + n % 9
        ),
        id,
        format!("G{n:010}"),
        String::new(),
    ]
}

/// A plausible Chinese name (no digits): surname + two given-name characters.
fn name(n: u64) -> String {
    const SURNAMES: [char; 10] = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
    const GIVEN: [char; 10] = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋'];
    let mut s = String::with_capacity(9);
    s.push(SURNAMES[(n % 10) as usize]);
    s.push(GIVEN[((n / 10) % 10) as usize]);
    s.push(GIVEN[((n / 100) % 10) as usize]);
    s
}

const HEADER: [&str; 6] = ["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"];

fn csv(base: u64, rows: u64) -> Vec<u8> {
    let mut out = HEADER.join(",");
    out.push('\n');
    for n in base..base + rows {
        out.push_str(&row(n).join(","));
        out.push('\n');
    }
    out.into_bytes()
}

fn xlsx(base: u64, rows: u64) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h)?;
    }
    for n in 0..rows {
        for (c, v) in row(base + n).iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string((n + 1) as u32, c as u16, v)?;
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

/// Creates a school and its draft enrolment; returns the enrolment id.
async fn school_enrolment(conn: &mut PgConnection, n: u32) -> anyhow::Result<i64> {
    let org_id: i64 = sqlx::query_scalar!(
        "insert into organisations (kind, name, region_code, region_path, nature, school_type, \
         contact_name, contact_mobile) select 'school', $1, region_code, path, 'public', \
         'primary', '联系人', $2 from regions where region_code = '410105' returning org_id",
        format!("基准学校{n}"),
        format!("139{n:08}"),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar!(
        "insert into enrolments (academic_year, school_org_id, product_code, region_path, \
         company_id, company_name) select $1, org_id, 'school_liability', region_path, 1, \
         '基准保险公司' from organisations where org_id = $2 returning enrolment_id",
        YEAR,
        org_id,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Where one ingestion's time went.
#[derive(Clone, Copy)]
struct Phases {
    total: Duration,
    parse: Duration,
    seal: Duration,
    store: Duration,
}

/// One ingestion: parse, validate, seal, then in one transaction the document row, the
/// duplicate check and the `COPY`.
async fn ingest_once(
    state: &AppState,
    tenant: &Tenant,
    rules: &ProgrammeRules,
    enrolment_id: i64,
    bytes: &[u8],
    rows: u64,
) -> anyhow::Result<Phases> {
    let actor = Actor::cli("bench");
    let scope = xiaobao_enrolment::EnrolmentScope {
        schools: xiaobao_identity::SchoolScope::Region {
            path_prefix: String::new(),
        },
        company_id: None,
    };
    let today = chrono::NaiveDate::from_ymd_opt(2025, 9, 10).context("date")?;
    let started = Instant::now();
    let sealer = state.sealer(tenant);
    let spec = RosterSpec {
        group: InsuredGroup::Student,
        school_type: SchoolType::Primary,
        today,
    };
    let parsed = parse_roster(bytes, &spec).map_err(|e| anyhow::anyhow!("roster refused: {e}"))?;
    let parse = started.elapsed();
    let sealed = ingest::seal(&parsed, &sealer);
    drop(parsed);
    let seal = started.elapsed() - parse;
    let mut tx = state.db.tenant_tx(tenant).await?;
    let target = ingest::target(&mut tx, &scope, enrolment_id, rules, today)
        .await?
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let document_id: i64 = sqlx::query_scalar!(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
         size_bytes, sha256, object_key, uploaded_by) values ($1, 'roster', 'enrolment', $2, \
         'roster.csv', 'text/csv', $3, $4, 'tenants/' || $1::bigint || '/sha256/' || substr($4, 1, 2) || '/' || $4, 'bench') \
         returning document_id",
        tenant.tenant_id,
        enrolment_id.to_string(),
        bytes.len() as i64,
        format!("{:064x}", enrolment_id as u128 * 7919 + bytes.len() as u128),
    )
    .fetch_one(&mut *tx)
    .await?;
    let result =
        ingest::accept(&mut tx, &target, document_id, &sealed, rows as u32, &actor).await?;
    tx.commit().await?;
    let total = started.elapsed();
    let phases = Phases {
        total,
        parse,
        seal,
        store: total - parse - seal,
    };
    match result {
        RosterResult::Accepted { rows: r, .. } if u64::from(r) == rows => Ok(phases),
        RosterResult::Accepted { rows: r, .. } => bail!("accepted {r} rows of {rows}"),
        RosterResult::Rejected { problems, .. } => bail!(
            "roster rejected with {} problems, first: {:?}",
            problems.len(),
            problems.first()
        ),
    }
}

/// Plain `COPY … from stdin (format csv)` of the CSV into an unindexed table (an ordinary,
/// logged table like `roster_rows`).
async fn copy_floor(conn: &mut PgConnection, bytes: &[u8]) -> anyhow::Result<Duration> {
    // Runtime: DDL of the bench's own scratch table, which the tenant schema does not have.
    sqlx::query(
        "create table if not exists copy_floor (name text, gender text, class_name text, \
         id text, student_no text, note text)",
    )
    .execute(&mut *conn)
    .await?;
    // Runtime: the bench's scratch table is not in the tenant schema the checker knows.
    sqlx::query("truncate copy_floor")
        .execute(&mut *conn)
        .await?;
    let started = Instant::now();
    // Runtime: COPY.
    let mut copy = conn
        .copy_in_raw("copy copy_floor from stdin with (format csv, header true)")
        .await?;
    for chunk in bytes.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}

/// calamine reading the XLSX into a range, nothing else.
fn calamine_floor(bytes: &[u8]) -> anyhow::Result<(Duration, usize)> {
    use calamine::Reader;
    let started = Instant::now();
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))?;
    let name = book.sheet_names().first().cloned().context("no sheet")?;
    let range = book.worksheet_range(&name)?;
    let rows = range.height();
    Ok((started.elapsed(), rows))
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Peak resident memory of this process (VmHWM) in MiB, and a reset of it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn current_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub async fn roster(admin_url: &str, args: &RosterArgs) -> anyhow::Result<()> {
    let name = format!("xbbench_{}", scratch::unix_time()?);
    println!("roster: fresh database {name}; dropped at the end");
    scratch::with_scratch_db(admin_url, &name, async |db| measure_roster(db, args).await).await
}

async fn measure_roster(db: &ScratchDb, args: &RosterArgs) -> anyhow::Result<()> {
    let work = TempDir::new(&format!("{}-work", db.name));
    let (state, tenant) = henan(db, &work).await?;
    let rules = {
        let mut tx = state.db.tenant_tx(&tenant).await?;
        let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, year())
            .await?
            .context("rules")?;
        rules
    };
    let mut superuser = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await?;
    let mut summary = Vec::new();
    let mut school = 0;
    // Every ingestion uses IDs no earlier one used (the duplicate check would refuse them).
    let mut base = 0u64;
    for (rows, runs) in [(5_000u64, args.small_runs), (100_000u64, args.large_runs)] {
        let csv_bytes = csv(0, rows);
        let xlsx_bytes = xlsx(0, rows)?;
        // Floors.
        let mut copy_times = Vec::new();
        let mut calamine_times = Vec::new();
        for _ in 0..runs {
            copy_times.push(copy_floor(&mut superuser, &csv_bytes).await?);
            let (t, height) = calamine_floor(&xlsx_bytes)?;
            if height as u64 != rows + 1 {
                bail!("calamine read {height} rows, expected {}", rows + 1);
            }
            calamine_times.push(t);
        }
        let copy_rate = rows as f64 / median(copy_times).as_secs_f64();
        let calamine_rate = rows as f64 / median(calamine_times).as_secs_f64();
        for (format, floor, floor_name) in [
            ("csv", copy_rate, "COPY"),
            ("xlsx", calamine_rate, "calamine"),
        ] {
            let mut file_bytes = 0;
            let mut peak = None;
            let mut before = None;
            let mut phases = Vec::new();
            for _ in 0..runs {
                // Each file is made just before its ingestion, outside the measured time.
                let bytes = if format == "csv" {
                    csv(base, rows)
                } else {
                    xlsx(base, rows)?
                };
                base += rows;
                file_bytes = bytes.len();
                school += 1;
                let enrolment_id = {
                    let mut tx = state.db.tenant_tx(&tenant).await?;
                    let id = school_enrolment(&mut tx, school).await?;
                    tx.commit().await?;
                    id
                };
                before = max_of(before, current_rss_mib());
                reset_peak_rss();
                phases
                    .push(ingest_once(&state, &tenant, &rules, enrolment_id, &bytes, rows).await?);
                peak = max_of(peak, peak_rss_mib());
            }
            let total = median(phases.iter().map(|p| p.total).collect());
            let ms = |f: fn(&Phases) -> Duration| {
                median(phases.iter().map(f).collect()).as_secs_f64() * 1000.0
            };
            let (parse, seal, store) = (ms(|p| p.parse), ms(|p| p.seal), ms(|p| p.store));
            let rate = rows as f64 / total.as_secs_f64();
            let ratio = 100.0 * rate / floor;
            println!(
                "{rows:>7} rows {format:<4}: ingestion {rate:>9.0} rows/s; {floor_name} floor {floor:>9.0} rows/s; ingestion = {ratio:.0} % of the floor (target ≥ 50 %: {})",
                if ratio >= 50.0 { "met" } else { "NOT met" }
            );
            println!(
                "{rows:>7} rows {format:<4}: median parse+validate {parse:.1} ms, seal {seal:.1} ms, store (duplicate check + COPY + commit) {store:.1} ms"
            );
            if let (Some(peak), Some(before)) = (peak, before) {
                println!(
                    "{rows:>7} rows {format:<4}: process peak RSS {peak:.0} MiB (resident before {before:.0} MiB; target < 200 MiB: {})",
                    if peak < 200.0 { "met" } else { "NOT met" }
                );
            }
            summary.push(json!({
                "rows": rows, "format": format, "ingestion_rows_per_s": rate,
                "floor": floor_name, "floor_rows_per_s": floor, "percent_of_floor": ratio,
                "parse_ms": parse, "seal_ms": seal, "store_ms": store,
                "peak_rss_mib": peak, "file_bytes": file_bytes,
            }));
        }
        drop((csv_bytes, xlsx_bytes));
    }
    println!("{}", json!({"bench": "roster", "results": summary}));
    Ok(())
}

pub async fn province(admin_url: &str, args: &ProvinceArgs) -> anyhow::Result<()> {
    let name = format!("xbbench_{}", scratch::unix_time()?);
    println!("province: fresh database {name}; dropped at the end");
    scratch::with_scratch_db(admin_url, &name, async |db| {
        measure_province(db, args).await
    })
    .await
}

async fn measure_province(db: &ScratchDb, args: &ProvinceArgs) -> anyhow::Result<()> {
    let work = TempDir::new(&format!("{}-work", db.name));
    let (state, tenant) = henan(db, &work).await?;
    let started = Instant::now();
    let mut tx = state.db.tenant_tx(&tenant).await?;
    // Schools spread over the counties; 85 % submitted the student product, 60 % staff.
    sqlx::query!(
        "with counties as (select region_code, path, row_number() over (order by region_code) - 1 as i, \
           count(*) over () as n from regions where level in ('county', 'direct')) \
         insert into organisations (kind, name, region_code, region_path, nature, school_type, \
           contact_name, contact_mobile) \
         select 'school', '学校' || g, c.region_code, c.path, \
           case when g % 5 = 0 then 'private' else 'public' end, \
           (array['kindergarten','primary','junior_high','senior_high','vocational'])[1 + g % 5], \
           '联系人', '139' || lpad(g::text, 8, '0') \
         from generate_series(1, $1::bigint) g join counties c on c.i = g % c.n",
        i64::from(args.schools),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into enrolments (academic_year, school_org_id, product_code, region_path, company_id, \
           company_name, headcount, rate_fen, premium_fen, status, submitted_at) \
         select $1, org_id, p.code, region_path, 1 + org_id % 3, '保险公司' || (1 + org_id % 3), \
           400, 500, 200000, 'draft', null \
         from organisations o cross join (values ('school_liability', 85), ('staff_liability', 60)) p(code, pct) \
         where o.kind = 'school' and o.org_id % 100 < p.pct",
        YEAR,
    )
    .execute(&mut *tx)
    .await?;
    let enrolments: i64 = sqlx::query_scalar!(r#"select count(*) as "count!" from enrolments"#)
        .fetch_one(&mut *tx)
        .await?;
    // A document and an accepted roster per enrolment (enrolments become submitted with it),
    // then the rows.
    sqlx::query!(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
           size_bytes, sha256, object_key, uploaded_by) \
         select $1, 'roster', 'enrolment', enrolment_id::text, 'r.xlsx', 'text/csv', 1, h, \
           'tenants/' || $1::bigint || '/sha256/' || substr(h, 1, 2) || '/' || h, 'bench' \
         from (select enrolment_id, encode(sha256(enrolment_id::text::bytea), 'hex') h from enrolments) e",
        tenant.tenant_id,
    )
    .execute(&mut *tx)
    .await?;
    let per_roster = (args.roster_rows / enrolments.max(1) as u64).max(1);
    sqlx::query!(
        "insert into rosters (enrolment_id, document_id, status, row_count) \
         select e.enrolment_id, d.document_id, 'accepted', $1 from enrolments e \
         join documents d on d.owner_id = e.enrolment_id::text",
        per_roster as i32,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update enrolments e set roster_id = r.roster_id, headcount = r.row_count, \
         premium_fen = r.row_count * 500, submitted_at = now(), \
         status = case when e.school_org_id % 7 = 0 then 'underwritten' else 'submitted' end \
         from rosters r where r.enrolment_id = e.enrolment_id",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    println!(
        "province: {} schools, {enrolments} enrolments made in {:.1} s; writing {} roster rows ({per_roster} per roster)…",
        args.schools,
        started.elapsed().as_secs_f64(),
        per_roster * enrolments as u64
    );
    let rows_started = Instant::now();
    let roster_ids: Vec<i64> = {
        let mut tx = state.db.tenant_tx(&tenant).await?;
        sqlx::query_scalar!("select roster_id from rosters order by roster_id")
            .fetch_all(&mut *tx)
            .await?
    };
    // Bulk load without the roster row indexes, then build them once (as a restore would):
    // twenty million single inserts into a random-key btree would take hours here.
    {
        let mut tx = state.db.tenant_tx(&tenant).await?;
        sqlx::query!("drop index roster_rows_roster_idx, roster_rows_hash_idx")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    for chunk in roster_ids.chunks(2_000) {
        let mut tx = state.db.tenant_tx(&tenant).await?;
        sqlx::query!(
            "insert into roster_rows (roster_id, row_no, line, name, gender, class_name, id_sealed, \
               id_hash, id_masked, student_no) \
             select r, g, g + 1, '学生' || g, case when g % 2 = 0 then 'F' else 'M' end, '三年级2班', \
               sha256((r * 1000003 + g)::text::bytea) || sha256(g::text::bytea), \
               substr(sha256((r * 7919 + g)::text::bytea), 1, 16), '410105********123X', 'G' || g \
             from unnest($1::bigint[]) r, generate_series(1, $2) g",
            chunk,
            per_roster as i32,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let mut su = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await?;
    let schema = &tenant.schema_name;
    sqlx::query!("set maintenance_work_mem = '1GB'")
        .execute(&mut su)
        .await?;
    // Runtime: DDL naming the tenant's schema, known only at run time.
    for sql in [
        format!(
            "create index roster_rows_roster_idx on {schema}.roster_rows using brin (roster_id)"
        ),
        format!("create index roster_rows_hash_idx on {schema}.roster_rows (id_hash)"),
    ] {
        sqlx::query(&sql).execute(&mut su).await?;
    }
    // Runtime: names the tenant's schema, known only at run time.
    sqlx::query(&format!(
        "analyze {}.organisations, {}.enrolments, {}.roster_rows, {}.regions",
        tenant.schema_name, tenant.schema_name, tenant.schema_name, tenant.schema_name
    ))
    .execute(&mut su)
    .await?;
    println!(
        "province: roster rows written and analysed in {:.0} s",
        rows_started.elapsed().as_secs_f64()
    );

    let mut tx = state.db.tenant_tx(&tenant).await?;
    let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, year())
        .await?
        .context("rules")?;
    let city = "410100";
    let county: String = sqlx::query_scalar!(
        "select region_code from regions where parent_code = $1 and level = 'county' order by region_code limit 1",
        city,
    )
    .fetch_one(&mut *tx)
    .await?;
    let county_path: String =
        sqlx::query_scalar!("select path from regions where region_code = $1", county)
            .fetch_one(&mut *tx)
            .await?;
    let city_path: String =
        sqlx::query_scalar!("select path from regions where region_code = $1", city)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    let mut results = Vec::new();
    let queries: [(&str, &str); 6] = [
        ("county progress (by_region)", "county"),
        ("city progress (by_region)", "city"),
        ("province progress (by_region)", "province"),
        ("county not-submitted list", "county_pending"),
        ("city premium totals by county", "city_premiums"),
        ("province premium totals by insurer", "province_premiums"),
    ];
    for (label, which) in queries {
        let mut times = Vec::new();
        for _ in 0..args.runs {
            let mut tx = state.db.tenant_tx(&tenant).await?;
            let started = Instant::now();
            let n = match which {
                "county" => xiaobao_enrolment::progress::by_region(
                    &mut tx,
                    &county,
                    year(),
                    "school_liability",
                    &rules,
                )
                .await?
                .len(),
                "city" => xiaobao_enrolment::progress::by_region(
                    &mut tx,
                    city,
                    year(),
                    "school_liability",
                    &rules,
                )
                .await?
                .len(),
                "province" => xiaobao_enrolment::progress::by_region(
                    &mut tx,
                    "410000",
                    year(),
                    "school_liability",
                    &rules,
                )
                .await?
                .len(),
                "county_pending" => xiaobao_enrolment::progress::not_submitted(
                    &mut tx,
                    &county_path,
                    year(),
                    "school_liability",
                    &rules,
                    200,
                )
                .await?
                .len(),
                "city_premiums" => xiaobao_enrolment::progress::premium_totals(
                    &mut tx,
                    &city_path,
                    year(),
                    xiaobao_enrolment::progress::TotalsBy::County,
                )
                .await?
                .len(),
                _ => xiaobao_enrolment::progress::premium_totals(
                    &mut tx,
                    "410000",
                    year(),
                    xiaobao_enrolment::progress::TotalsBy::Insurer,
                )
                .await?
                .len(),
            };
            times.push(started.elapsed());
            tx.commit().await?;
            if n == 0 {
                bail!("{label} returned no rows");
            }
        }
        times.sort();
        let med = times[times.len() / 2].as_secs_f64() * 1000.0;
        let worst = times[times.len() - 1].as_secs_f64() * 1000.0;
        let gated = matches!(which, "county" | "city");
        println!(
            "{label:<38} median {med:>7.1} ms, worst {worst:>7.1} ms{}",
            if gated {
                format!(
                    " (target < 200 ms: {})",
                    if worst < 200.0 { "met" } else { "NOT met" }
                )
            } else {
                String::new()
            }
        );
        results.push(json!({"query": label, "median_ms": med, "worst_ms": worst}));
    }
    println!(
        "{}",
        json!({"bench": "province", "schools": args.schools, "enrolments": enrolments,
               "roster_rows": per_roster * enrolments as u64, "results": results})
    );
    Ok(())
}
