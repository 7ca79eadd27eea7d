//! Insurance and broker companies: platform-level records (`control.companies`) shared by every
//! programme, read and written on the main cluster outside any tenant transaction.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use crate::IdentityError;

/// A company.
#[derive(Debug, Clone, Serialize)]
pub struct Company {
    pub company_id: i64,
    /// `insurer` or `broker`.
    pub kind: String,
    pub name: String,
    pub short_name: String,
}

/// The company of this name, created when missing.
pub async fn ensure(
    main: &PgPool,
    kind: &str,
    name: &str,
    short_name: &str,
) -> Result<Company, IdentityError> {
    sqlx::query!(
        "insert into control.companies (kind, name, short_name) values ($1, $2, $3) \
         on conflict (name) do nothing",
        kind,
        name,
        short_name,
    )
    .execute(main)
    .await?;
    Ok(sqlx::query_as!(
        Company,
        "select company_id, kind, name, short_name from control.companies where name = $1",
        name,
    )
    .fetch_one(main)
    .await?)
}

/// Every company of a kind, by name.
pub async fn list(main: &PgPool, kind: &str) -> Result<Vec<Company>, IdentityError> {
    Ok(sqlx::query_as!(
        Company,
        "select company_id, kind, name, short_name from control.companies where kind = $1 \
         order by name",
        kind,
    )
    .fetch_all(main)
    .await?)
}

pub async fn get(main: &PgPool, company_id: i64) -> Result<Option<Company>, IdentityError> {
    Ok(sqlx::query_as!(
        Company,
        "select company_id, kind, name, short_name from control.companies where company_id = $1",
        company_id,
    )
    .fetch_optional(main)
    .await?)
}

/// A company as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyEntry {
    pub company_id: i64,
    pub kind: String,
    pub name: String,
    pub short_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Every company, insurers first, by name.
pub async fn list_all(executor: impl PgExecutor<'_>) -> Result<Vec<CompanyEntry>, IdentityError> {
    Ok(sqlx::query_as!(
        CompanyEntry,
        "select company_id, kind, name, short_name, created_at from control.companies \
         order by kind desc, name",
    )
    .fetch_all(executor)
    .await?)
}

pub async fn entry(
    executor: impl PgExecutor<'_>,
    company_id: i64,
) -> Result<Option<CompanyEntry>, IdentityError> {
    Ok(sqlx::query_as!(
        CompanyEntry,
        "select company_id, kind, name, short_name, created_at from control.companies \
         where company_id = $1",
        company_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// Creates a company; `None` when its full name is taken.
pub async fn create(
    executor: impl PgExecutor<'_>,
    kind: &str,
    name: &str,
    short_name: &str,
) -> Result<Option<CompanyEntry>, IdentityError> {
    Ok(sqlx::query_as!(
        CompanyEntry,
        "insert into control.companies (kind, name, short_name) values ($1, $2, $3) \
         on conflict (name) do nothing \
         returning company_id, kind, name, short_name, created_at",
        kind,
        name,
        short_name,
    )
    .fetch_optional(executor)
    .await?)
}

/// Sets a company's short name (its full name never changes); the short name it had, `None`
/// when there is no such company.
pub async fn set_short_name(
    executor: impl PgExecutor<'_>,
    company_id: i64,
    short_name: &str,
) -> Result<Option<String>, IdentityError> {
    Ok(sqlx::query_scalar!(
        "update control.companies c set short_name = $2 \
         from (select company_id, short_name from control.companies where company_id = $1 \
               for update) old \
         where c.company_id = old.company_id returning old.short_name",
        company_id,
        short_name,
    )
    .fetch_optional(executor)
    .await?)
}
