//! Insurance and broker companies: platform-level records (`control.companies`) shared by every
//! programme, read and written on the main cluster outside any tenant transaction.

use serde::Serialize;
use sqlx::PgPool;

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
