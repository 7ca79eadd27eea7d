//! National working-day calendars, stored as data in `control.holiday_calendars`.
//!
//! Every process holds the stored years as one [`WorkCalendar`] behind a [`SharedCalendar`]:
//! an import replaces it at once in the importing process, and a trigger's
//! `NOTIFY xiaobao_calendar` makes every other process reload it ([`SharedCalendar::listen`]),
//! so a due date computed after an import uses the imported year.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
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

/// Stores (replacing) every year of `calendar` on the caller's connection or transaction.
pub async fn store_calendar(
    conn: &mut PgConnection,
    calendar: &WorkCalendar,
    source: &str,
) -> DbResult<Vec<i32>> {
    let mut years = Vec::new();
    for year in calendar.known_years() {
        let (off, work) = calendar.year_days(year);
        sqlx::query!(
            "insert into control.holiday_calendars (year, off_days, work_days, source) \
             values ($1, $2, $3, $4) on conflict (year) do update set off_days = excluded.off_days, \
             work_days = excluded.work_days, source = excluded.source, updated_at = now()",
            year,
            &off,
            &work,
            source,
        )
        .execute(&mut *conn)
        .await?;
        years.push(year);
    }
    Ok(years)
}

/// One stored year of the calendar.
#[derive(Debug, Clone)]
pub struct StoredYear {
    pub year: i32,
    pub off_days: Vec<NaiveDate>,
    pub work_days: Vec<NaiveDate>,
    pub source: String,
    pub updated_at: DateTime<Utc>,
}

/// Every stored year, ascending.
pub async fn stored_years(pool: &PgPool) -> DbResult<Vec<StoredYear>> {
    Ok(sqlx::query_as!(
        StoredYear,
        "select year, off_days, work_days, source, updated_at from control.holiday_calendars \
         order by year",
    )
    .fetch_all(pool)
    .await?)
}

/// The working-day calendar a process uses, replaceable while it runs: readers take the
/// calendar in force ([`SharedCalendar::current`]) and keep it for the request.
#[derive(Clone)]
pub struct SharedCalendar {
    inner: Arc<RwLock<Arc<WorkCalendar>>>,
}

impl std::fmt::Debug for SharedCalendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCalendar")
            .field("years", &self.current().known_years())
            .finish()
    }
}

impl SharedCalendar {
    pub fn new(calendar: WorkCalendar) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Arc::new(calendar))),
        }
    }

    /// The calendar in force.
    pub fn current(&self) -> Arc<WorkCalendar> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `calendar` in force.
    pub fn replace(&self, calendar: WorkCalendar) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(calendar);
    }

    /// Reads the stored years again and puts them in force.
    pub async fn reload(&self, pool: &PgPool) -> DbResult<()> {
        self.replace(load_calendar(pool).await?);
        Ok(())
    }

    /// Keeps the calendar current: reloads on every `xiaobao_calendar` notification, and every
    /// ten minutes in case one was missed while reconnecting. Runs until the task is dropped.
    pub async fn listen(self, pool: PgPool) {
        loop {
            if let Err(error) = self.listen_once(&pool).await {
                tracing::warn!(%error, "calendar listener failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn listen_once(&self, pool: &PgPool) -> DbResult<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen("xiaobao_calendar").await?;
        self.reload(pool).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(600), listener.recv()).await {
                Ok(notification) => {
                    notification?;
                }
                Err(_elapsed) => {}
            }
            self.reload(pool).await?;
        }
    }
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
