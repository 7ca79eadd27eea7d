//! What departments and the authority watch: per region, how many schools have submitted each
//! product; the schools that have not; premium totals per school, county, city, insurer and
//! programme; and the reminders sent before the deadline to schools that have not submitted.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_domain::AcademicYear;
use xiaobao_domain::{Deadline, Fen, ProgrammeRules};
use xiaobao_notify::{Notification, Template};

use crate::EnrolmentError;

/// One child region's progress for one product.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RegionProgress {
    pub region_code: String,
    pub region_name: String,
    /// Active schools whose type may enrol in the product.
    pub schools: i64,
    /// Of them, those with a submitted (or underwritten) first enrolment.
    pub submitted: i64,
    pub headcount: i64,
    pub premium_fen: i64,
}

impl RegionProgress {
    pub fn not_submitted(&self) -> i64 {
        self.schools - self.submitted
    }

    pub fn premium_yuan(&self) -> String {
        Fen(self.premium_fen).yuan_string()
    }
}

fn eligible_types(rules: &ProgrammeRules, product: &str) -> Vec<String> {
    rules
        .product(product)
        .map(|p| {
            p.effective_school_types()
                .iter()
                .map(|t| t.code().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Progress of the regions directly below `region_code` (a county lists itself), for one
/// product. Schools are counted by their own region's place in the tree.
pub async fn by_region(
    conn: &mut PgConnection,
    region_code: &str,
    year: AcademicYear,
    product: &str,
    rules: &ProgrammeRules,
) -> Result<Vec<RegionProgress>, EnrolmentError> {
    let types = eligible_types(rules, product);
    // One pass over the schools and one over the enrolments below the parent, each grouped by
    // the child region a row lies in (the code after the parent's in its region path; the
    // parent's own code for rows placed at the parent itself, which only a county that has no
    // children lists).
    Ok(sqlx::query_as!(
        RegionProgress,
        "with parent as (select path from regions where region_code = $1), \
         children as ( \
           select r.region_code, r.name, r.sort_order from regions r where r.parent_code = $1 \
           union all \
           select r.region_code, r.name, r.sort_order from regions r \
           where r.region_code = $1 \
             and not exists (select 1 from regions c where c.parent_code = $1)), \
         s as ( \
           select case when o.region_path = p.path then $1::text \
             else split_part(substr(o.region_path, length(p.path) + 2), '.', 1) end as code, \
             count(*) as n \
           from organisations o, parent p \
           where o.kind = 'school' and o.status = 'active' and o.school_type = any($4) \
             and (o.region_path = p.path or o.region_path like p.path || '.%') \
           group by 1), \
         e as ( \
           select case when e.region_path = p.path then $1::text \
             else split_part(substr(e.region_path, length(p.path) + 2), '.', 1) end as code, \
             count(*) as n, sum(e.headcount) as headcount, sum(e.premium_fen) as premium_fen \
           from enrolments e, parent p \
           where e.academic_year = $2 and e.product_code = $3 and e.seq = 1 \
             and e.status <> 'draft' \
             and (e.region_path = p.path or e.region_path like p.path || '.%') \
           group by 1) \
         select c.region_code as \"region_code!\", c.name as \"region_name!\", \
           coalesce(s.n, 0) as \"schools!\", coalesce(e.n, 0) as \"submitted!\", \
           coalesce(e.headcount, 0)::bigint as \"headcount!\", \
           coalesce(e.premium_fen, 0)::bigint as \"premium_fen!\" \
         from children c left join s on s.code = c.region_code \
           left join e on e.code = c.region_code \
         order by c.sort_order, c.region_code",
        region_code,
        year as _,
        product,
        &types,
    )
    .fetch_all(conn)
    .await?)
}

/// A school that has not submitted a product.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PendingSchool {
    pub org_id: i64,
    pub name: String,
    pub region_name: String,
    pub contact_name: Option<String>,
    pub contact_mobile: Option<String>,
    /// `draft` when started, `None` when never opened.
    pub status: Option<String>,
    pub reopened_until: Option<NaiveDate>,
    /// It had the product in force the year before: unless it submits, its cover lapses
    /// (不得断保).
    pub insured_last_year: bool,
}

/// Active schools under `region_path` that may enrol in `product` and have not submitted it.
pub async fn not_submitted(
    conn: &mut PgConnection,
    region_path: &str,
    year: AcademicYear,
    product: &str,
    rules: &ProgrammeRules,
    limit: i64,
) -> Result<Vec<PendingSchool>, EnrolmentError> {
    let types = eligible_types(rules, product);
    Ok(sqlx::query_as!(
        PendingSchool,
        "select o.org_id, o.name, r.name as region_name, o.contact_name, o.contact_mobile, \
         e.status as \"status?\", ro.reopened_until as \"reopened_until?\", \
         exists (select 1 from enrolments p where p.school_org_id = o.org_id \
           and p.academic_year = $6 and p.product_code = $3 \
           and p.status in ('submitted', 'underwritten')) as \"insured_last_year!\" \
         from organisations o join regions r on r.region_code = o.region_code \
         left join enrolments e on e.school_org_id = o.org_id and e.academic_year = $2 \
           and e.product_code = $3 and e.seq = 1 \
         left join enrolment_reopenings ro on ro.school_org_id = o.org_id and ro.academic_year = $2 \
         where o.kind = 'school' and o.status = 'active' and o.school_type = any($4) \
           and o.region_path like $1 || '%' and (e.status is null or e.status = 'draft') \
         order by o.region_path, o.name limit $5",
        region_path,
        year as _,
        product,
        &types,
        limit,
        year.previous() as _,
    )
    .fetch_all(conn)
    .await?)
}

/// Schools under `region_path` that had `product` in force the year before `year` and have not
/// submitted it for `year`: their cover lapses at the year's start unless they do (不得断保).
pub async fn lapsing(
    conn: &mut PgConnection,
    region_path: &str,
    year: AcademicYear,
    product: &str,
) -> Result<i64, EnrolmentError> {
    Ok(sqlx::query_scalar!(
        "select count(distinct p.school_org_id) as \"n!\" from enrolments p \
         join organisations o on o.org_id = p.school_org_id \
         where p.academic_year = $2 and p.product_code = $3 \
           and p.status in ('submitted', 'underwritten') \
           and o.kind = 'school' and o.status = 'active' and o.region_path like $1 || '%' \
           and not exists (select 1 from enrolments e where e.school_org_id = p.school_org_id \
             and e.academic_year = $4 and e.product_code = $3 and e.status <> 'draft')",
        region_path,
        year.previous() as _,
        product,
        year as _,
    )
    .fetch_one(conn)
    .await?)
}

/// How premium totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalsBy {
    School,
    County,
    City,
    Insurer,
    Programme,
}

impl TotalsBy {
    pub fn label(self) -> &'static str {
        match self {
            Self::School => "学校",
            Self::County => "县区",
            Self::City => "市",
            Self::Insurer => "保险机构",
            Self::Programme => "全项目",
        }
    }
}

/// One line of premium totals.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = PremiumTotalLine)]
pub struct TotalLine {
    /// The group's key: a school's organisation id, a region code, a company id, `all` (the
    /// whole programme), or `total` on a product's total.
    pub key: String,
    /// The group's name (`合计` on a total).
    pub label: String,
    pub product_code: String,
    /// Submitted enrolments counted.
    pub enrolments: i64,
    pub headcount: i64,
    /// Premium in fen (分).
    pub premium_fen: i64,
}

impl TotalLine {
    pub fn premium_yuan(&self) -> String {
        Fen(self.premium_fen).yuan_string()
    }
}

/// Premium of submitted enrolments under `region_path`, per product and group. City and
/// county are the second and third codes of the school's region path.
pub async fn premium_totals(
    conn: &mut PgConnection,
    region_path: &str,
    year: AcademicYear,
    by: TotalsBy,
) -> Result<Vec<TotalLine>, EnrolmentError> {
    // The key per row; the label once per group (a region's name is looked up per group, not
    // per enrolment). One statement per grouping, each checked.
    macro_rules! totals {
        ($key:literal, $row_label:literal, $group_label:literal) => {
            sqlx::query_as!(
                TotalLine,
                "select g.k as \"key!\", coalesce("
                    + $group_label
                    + ", g.k) as \"label!\", g.product_code as \"product_code!\", \
                     g.enrolments as \"enrolments!\", g.headcount as \"headcount!\", \
                     g.premium_fen as \"premium_fen!\" from ( \
                       select "
                    + $key
                    + " as k, min("
                    + $row_label
                    + ") as l, e.product_code, count(*) as enrolments, \
                         coalesce(sum(e.headcount), 0)::bigint as headcount, \
                         coalesce(sum(e.premium_fen), 0)::bigint as premium_fen \
                       from enrolments e join organisations o on o.org_id = e.school_org_id \
                       where e.academic_year = $1 and e.status <> 'draft' \
                         and e.region_path like $2 || '%' \
                       group by 1, e.product_code) g \
                     order by g.k, g.product_code",
                year as _,
                region_path,
            )
            .fetch_all(conn)
            .await?
        };
    }
    Ok(match by {
        TotalsBy::School => totals!("o.org_id::text", "o.name", "g.l"),
        TotalsBy::County => totals!(
            "coalesce(nullif(split_part(e.region_path, '.', 3), ''), split_part(e.region_path, '.', 2))",
            "null::text",
            "(select name from regions where region_code = g.k)"
        ),
        TotalsBy::City => totals!(
            "coalesce(nullif(split_part(e.region_path, '.', 2), ''), split_part(e.region_path, '.', 1))",
            "null::text",
            "(select name from regions where region_code = g.k)"
        ),
        TotalsBy::Insurer => totals!("e.company_id::text", "e.company_name", "g.l"),
        TotalsBy::Programme => totals!("'all'", "'全项目'", "g.l"),
    })
}

/// Sends the reminders due on `today`: for each product and each `reminder_days_before` that
/// falls on today, an SMS to every school that may enrol and has not submitted (once per school,
/// product and day count). Returns how many were queued.
pub async fn send_reminders(
    conn: &mut PgConnection,
    year: AcademicYear,
    rules: &ProgrammeRules,
    today: NaiveDate,
) -> Result<u32, EnrolmentError> {
    let deadline = rules.deadline(Deadline::SchoolEnrolment, rules.academic_year());
    let days_left = (deadline - today).num_days();
    let Some(days) = rules
        .enrolment()
        .reminder_days_before
        .iter()
        .copied()
        .find(|d| i64::from(*d) == days_left)
    else {
        return Ok(0);
    };
    let mut sent = 0;
    for product in rules.products() {
        let types: Vec<String> = product
            .effective_school_types()
            .iter()
            .map(|t| t.code().to_string())
            .collect();
        let due = sqlx::query!(
            "insert into enrolment_reminders (academic_year, school_org_id, product_code, days_before) \
             select $1, o.org_id, $2, $3 from organisations o \
             left join enrolments e on e.school_org_id = o.org_id and e.academic_year = $1 \
               and e.product_code = $2 and e.seq = 1 \
             where o.kind = 'school' and o.status = 'active' and o.school_type = any($4) \
               and (e.status is null or e.status = 'draft') \
             on conflict do nothing \
             returning school_org_id, \
               (select name from organisations where org_id = school_org_id) as \"name!\", \
               (select contact_mobile from organisations where org_id = school_org_id) \
                 as \"contact_mobile?\"",
            year as _,
            product.code,
            i32::try_from(days).unwrap_or(0),
            &types,
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in due {
            let (name, Some(mobile)) = (row.name, row.contact_mobile) else {
                continue;
            };
            xiaobao_notify::queue(
                conn,
                &Notification::sms(
                    mobile,
                    Template::DeadlineReminder {
                        school_name: name,
                        product_name: product.name.clone(),
                        deadline,
                    },
                ),
            )
            .await?;
            sent += 1;
        }
    }
    Ok(sent)
}
