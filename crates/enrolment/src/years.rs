//! Academic years: opened by the programme authority from the rules in force, with the insurers
//! each region admits.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{AcademicYear, Deadline, ProgrammeRules};

use crate::{EnrolmentError, Outcome, Problem, rules_for};

/// An insurer company as the platform knows it (`control.companies`, read by the caller on the
/// main cluster: a tenant transaction sees only its own schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CompanyRef {
    pub company_id: i64,
    pub name: String,
}

/// An opened year.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = OpenedYear)]
pub struct YearRow {
    #[schema(value_type = String)]
    pub academic_year: AcademicYear,
    pub rules_version: i32,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
}

/// One admission: a company in a region subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Admission {
    pub company_id: i64,
    pub company_name: String,
    pub region_code: String,
    pub region_name: String,
}

/// What the year page shows about a year with rules.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AcademicYearView)]
pub struct YearView {
    #[schema(value_type = String)]
    pub academic_year: AcademicYear,
    pub opened: Option<YearRow>,
    pub rules_version: Option<i32>,
    pub products: Vec<ProductSummary>,
    /// Pairs of the deadline's name and its date.
    #[schema(value_type = Vec<Vec<String>>)]
    pub deadlines: Vec<(String, NaiveDate)>,
    pub admissions: Vec<Admission>,
    pub cover_start: NaiveDate,
    pub cover_end: NaiveDate,
}

/// A product as the year page lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductSummary {
    pub code: String,
    pub name: String,
    pub insured: String,
}

/// Every year that has rules, newest first, with whether it is open.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<YearView>, EnrolmentError> {
    let mut out = Vec::new();
    for year in xiaobao_db::rules::years(conn).await? {
        if let Some(v) = view(conn, year).await? {
            out.push(v);
        }
    }
    Ok(out)
}

/// One year's view, `None` when it has no rules.
pub async fn view(
    conn: &mut PgConnection,
    year: AcademicYear,
) -> Result<Option<YearView>, EnrolmentError> {
    let Some((version, rules)) = rules_for(conn, year).await? else {
        return Ok(None);
    };
    let opened = get(conn, year).await?;
    let admissions = admissions(conn, year).await?;
    let ay = rules.academic_year();
    Ok(Some(YearView {
        academic_year: year,
        opened,
        rules_version: Some(version),
        products: rules
            .products()
            .iter()
            .map(|p| ProductSummary {
                code: p.code.clone(),
                name: p.name.clone(),
                insured: p.insured.label().to_string(),
            })
            .collect(),
        deadlines: Deadline::ALL
            .iter()
            .map(|d| (d.label().to_string(), rules.deadline(*d, ay)))
            .collect(),
        admissions,
        cover_start: rules.cover_start_date(ay),
        cover_end: ay.last_day(),
    }))
}

/// The opened year, if any.
pub async fn get(
    conn: &mut PgConnection,
    year: AcademicYear,
) -> Result<Option<YearRow>, EnrolmentError> {
    Ok(sqlx::query_as!(
        YearRow,
        "select academic_year as \"academic_year: AcademicYear\", rules_version, opened_by, \
         opened_at from academic_years \
         where academic_year = $1",
        year as _,
    )
    .fetch_optional(conn)
    .await?)
}

/// The year in force: the academic year containing `today` (China time), when it is open.
/// An expired year is never the current one: before the authority opens the new year there
/// is none, and pages show [`previous`] read-only.
pub async fn current(
    conn: &mut PgConnection,
    today: NaiveDate,
) -> Result<Option<AcademicYear>, EnrolmentError> {
    let containing = AcademicYear::containing_date(today);
    Ok(get(conn, containing).await?.map(|row| row.academic_year))
}

/// The newest open year before the one containing `today` (上一学年), if any.
pub async fn previous(
    conn: &mut PgConnection,
    today: NaiveDate,
) -> Result<Option<AcademicYear>, EnrolmentError> {
    let containing = AcademicYear::containing_date(today);
    Ok(sqlx::query_scalar!(
        "select academic_year as \"academic_year: AcademicYear\" from academic_years \
         where academic_year < $1 order by academic_year desc limit 1",
        containing as _,
    )
    .fetch_optional(conn)
    .await?)
}

/// Every admission of a year.
pub async fn admissions(
    conn: &mut PgConnection,
    year: AcademicYear,
) -> Result<Vec<Admission>, EnrolmentError> {
    Ok(sqlx::query_as!(
        Admission,
        "select a.company_id, a.company_name, a.region_code, r.name as region_name \
         from admitted_insurers a join regions r on r.region_code = a.region_code \
         where a.academic_year = $1 order by a.company_name, a.region_path",
        year as _,
    )
    .fetch_all(conn)
    .await?)
}

/// The companies a school at `school_path` may choose: admitted for its region or above.
pub async fn admitted_for(
    conn: &mut PgConnection,
    year: AcademicYear,
    school_path: &str,
) -> Result<Vec<CompanyRef>, EnrolmentError> {
    Ok(sqlx::query_as!(
        CompanyRef,
        "select distinct company_id, company_name as name from admitted_insurers \
         where academic_year = $1 and ($2 || '.') like region_path || '.%' \
         order by company_name",
        year as _,
        school_path,
    )
    .fetch_all(conn)
    .await?)
}

/// Opens `year` from the rules in force: records the rules version and the admissions, from
/// the rules' `[[enrolment.insurers]]` (names resolved against `companies`) or, when the rules
/// list none, every insurer company with an active branch in the programme, in its branch's
/// region.
pub async fn open(
    conn: &mut PgConnection,
    year: AcademicYear,
    companies: &[CompanyRef],
    actor: &Actor,
) -> Outcome<YearRow> {
    let Some((version, rules)) = rules_for(conn, year).await? else {
        return Ok(Err(Problem::NoRules(year.to_string())));
    };
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext('xiaobao-year:' || $1))",
        year as _
    )
    .fetch_one(&mut *conn)
    .await?;
    if get(conn, year).await?.is_some() {
        return Ok(Err(Problem::YearAlreadyOpen(year.to_string())));
    }
    let admissions = match planned_admissions(conn, &rules, companies).await? {
        Ok(a) => a,
        Err(p) => return Ok(Err(p)),
    };
    let row = sqlx::query_as!(
        YearRow,
        "insert into academic_years (academic_year, rules_version, opened_by) \
         values ($1, $2, $3) returning academic_year as \"academic_year: AcademicYear\", rules_version, opened_by, \
         opened_at",
        year as _,
        version,
        actor.label,
    )
    .fetch_one(&mut *conn)
    .await?;
    for (company, region_code) in &admissions {
        insert_admission(conn, year, company, region_code).await?;
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("enrolment.year_opened", "academic_year", Some(year))
            .detail("rules_version", version)
            .detail(
                "admissions",
                admissions
                    .iter()
                    .map(|(c, r)| format!("{} {}", c.name, r))
                    .collect::<Vec<_>>(),
            ),
    )
    .await?;
    Ok(Ok(row))
}

/// Records that `company` is admitted in `region_code`'s subtree in `year`; `false` when it
/// already was (or the region does not exist).
async fn insert_admission(
    conn: &mut PgConnection,
    year: AcademicYear,
    company: &CompanyRef,
    region_code: &str,
) -> Result<bool, EnrolmentError> {
    let done = sqlx::query!(
        "insert into admitted_insurers \
             (academic_year, company_id, company_name, region_code, region_path) \
             select $1, $2, $3, r.region_code, r.path from regions r where r.region_code = $4 \
             on conflict do nothing",
        year as _,
        company.company_id,
        company.name,
        region_code,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn region_exists(conn: &mut PgConnection, code: &str) -> Result<bool, EnrolmentError> {
    Ok(sqlx::query_scalar!(
        "select exists (select 1 from regions where region_code = $1) as \"exists!\"",
        code
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Admits `company` in the subtree of `region_code` in the opened `year` (an insurer the
/// rules did not list when the year was opened, e.g. a tender lot's second insurer); audited.
/// `Ok(false)` when it was admitted there already.
pub async fn admit(
    conn: &mut PgConnection,
    year: AcademicYear,
    company: &CompanyRef,
    region_code: &str,
    actor: &Actor,
) -> Outcome<bool> {
    if get(conn, year).await?.is_none() {
        return Ok(Err(Problem::YearNotOpen(year.to_string())));
    }
    if !region_exists(conn, region_code).await? {
        return Ok(Err(Problem::UnknownRegion(region_code.to_string())));
    }
    if !insert_admission(conn, year, company, region_code).await? {
        return Ok(Ok(false));
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("enrolment.insurer_admitted", "academic_year", Some(year))
            .detail("company", &company.name)
            .detail("region_code", region_code),
    )
    .await?;
    Ok(Ok(true))
}

async fn planned_admissions(
    conn: &mut PgConnection,
    rules: &ProgrammeRules,
    companies: &[CompanyRef],
) -> Outcome<Vec<(CompanyRef, String)>> {
    let listed = &rules.enrolment().insurers;
    if listed.is_empty() {
        let rows = sqlx::query!(
            "select distinct company_id as \"company_id!\", \
             coalesce(company_name, name) as \"name!\", region_code \
             from organisations where kind = 'insurer_branch' and status = 'active' \
             and company_id is not null",
        )
        .fetch_all(&mut *conn)
        .await?;
        return Ok(Ok(rows
            .into_iter()
            .map(|r| {
                let company = CompanyRef {
                    company_id: r.company_id,
                    name: r.name,
                };
                (company, r.region_code)
            })
            .collect()));
    }
    let mut out = Vec::new();
    for insurer in listed {
        let Some(company) = companies.iter().find(|c| c.name == insurer.company.trim()) else {
            return Ok(Err(Problem::UnknownCompany(insurer.company.clone())));
        };
        for code in &insurer.regions {
            if !region_exists(conn, code).await? {
                return Ok(Err(Problem::UnknownRegion(code.clone())));
            }
            out.push((company.clone(), code.clone()));
        }
    }
    Ok(Ok(out))
}

/// Whether an enrolment of `year` with the company named `company` lies in the subtree of
/// `region_code` (an admission there cannot be withdrawn: enrolments keep their insurer).
pub async fn admission_in_use(
    conn: &mut PgConnection,
    year: AcademicYear,
    company: &str,
    region_code: &str,
) -> Result<bool, EnrolmentError> {
    Ok(sqlx::query_scalar!(
        "select exists (select 1 from enrolments e join regions r on r.region_code = $3 \
         where e.academic_year = $1 and (e.region_path || '.') like r.path || '.%' \
         and (e.company_name = $2 or e.company_id in (select a.company_id from admitted_insurers a \
              where a.academic_year = $1 and a.company_name = $2))) as \"used!\"",
        year as _,
        company,
        region_code,
    )
    .fetch_one(conn)
    .await?)
}

/// The admissions of an opened `year` brought in line with a change of its rules: `added`
/// admitted, `removed` (company name, region code) withdrawn; audited as one entry. The caller
/// has checked that no enrolment uses a removed admission ([`admission_in_use`]) and that the
/// regions exist. `Ok(false)` when the year is not open (nothing to change).
pub async fn sync_admissions(
    conn: &mut PgConnection,
    year: AcademicYear,
    added: &[(CompanyRef, String)],
    removed: &[(String, String)],
    actor: &Actor,
) -> Result<bool, EnrolmentError> {
    if get(conn, year).await?.is_none() {
        return Ok(false);
    }
    let mut admitted = Vec::new();
    for (company, code) in added {
        if insert_admission(conn, year, company, code).await? {
            admitted.push(format!("{} {code}", company.name));
        }
    }
    let mut withdrawn = Vec::new();
    for (company, code) in removed {
        let done = sqlx::query!(
            "delete from admitted_insurers \
             where academic_year = $1 and company_name = $2 and region_code = $3",
            year as _,
            company,
            code,
        )
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            withdrawn.push(format!("{company} {code}"));
        }
    }
    if !admitted.is_empty() || !withdrawn.is_empty() {
        xiaobao_audit::record(
            conn,
            actor,
            Entry::new("enrolment.admissions_changed", "academic_year", Some(year))
                .detail("admitted", admitted)
                .detail("withdrawn", withdrawn),
        )
        .await?;
    }
    Ok(true)
}

/// Whether a region of this code exists in the programme.
pub async fn region_known(conn: &mut PgConnection, code: &str) -> Result<bool, EnrolmentError> {
    region_exists(conn, code).await
}
