//! National working-day calendars, stored as data in `control.holiday_calendars`.

use chrono::NaiveDate;
use sqlx::PgPool;
use xiaobao_domain::calendar::WorkCalendar;

use crate::{DbError, DbResult};

/// Stores every year of a calendar file (format of `holidays-cn.toml`), replacing years that
/// are already there. Returns the years stored.
pub async fn import_calendar_toml(pool: &PgPool, toml: &str, source: &str) -> DbResult<Vec<i32>> {
    let calendar = WorkCalendar::from_toml_str(toml)
        .map_err(|e| DbError::Invalid(format!("节假日日历无效：{e}")))?;
    store(pool, &calendar, source, true).await
}

/// Seeds the built-in calendar years that the table does not have yet.
pub(crate) async fn seed_builtin(pool: &PgPool) -> DbResult<()> {
    store(
        pool,
        WorkCalendar::china(),
        "内置：国务院办公厅节假日安排通知",
        false,
    )
    .await?;
    Ok(())
}

async fn store(
    pool: &PgPool,
    calendar: &WorkCalendar,
    source: &str,
    replace: bool,
) -> DbResult<Vec<i32>> {
    let mut years = Vec::new();
    for year in calendar.known_years() {
        let (off, work) = calendar.year_days(year);
        if replace {
            sqlx::query!(
                "insert into control.holiday_calendars (year, off_days, work_days, source) \
                 values ($1, $2, $3, $4) on conflict (year) do update set off_days = excluded.off_days, \
                 work_days = excluded.work_days, source = excluded.source, updated_at = now()",
                year,
                &off,
                &work,
                source,
            )
            .execute(pool)
            .await?;
        } else {
            sqlx::query!(
                "insert into control.holiday_calendars (year, off_days, work_days, source) \
                 values ($1, $2, $3, $4) on conflict (year) do nothing",
                year,
                &off,
                &work,
                source,
            )
            .execute(pool)
            .await?;
        }
        years.push(year);
    }
    Ok(years)
}

/// Loads every stored year into one calendar.
pub async fn load_calendar(pool: &PgPool) -> DbResult<WorkCalendar> {
    let rows: Vec<(i32, Vec<NaiveDate>, Vec<NaiveDate>)> = sqlx::query!(
        "select year, off_days, work_days from control.holiday_calendars order by year",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.year, r.off_days, r.work_days))
    .collect();
    WorkCalendar::from_years(rows)
        .map_err(|e| DbError::Invalid(format!("数据库中的节假日日历无效：{e}")))
}
