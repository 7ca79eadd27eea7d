//! Region queries (run inside a [`crate::TenantTx`]).

use sqlx::PgConnection;

use crate::DbResult;
use crate::seed::RegionSeed;

/// A region of the tenant's tree.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Region {
    pub region_code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub level: String,
    pub path: String,
}

/// Inserts the regions that are not there yet; existing rows (possibly renamed by the
/// authority since) are left alone.
pub async fn insert_missing(conn: &mut PgConnection, regions: &[RegionSeed]) -> DbResult<u64> {
    let mut inserted = 0;
    for chunk in regions.chunks(500) {
        let codes: Vec<&str> = chunk.iter().map(|r| r.code.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|r| r.name.as_str()).collect();
        let parents: Vec<Option<&str>> = chunk.iter().map(|r| r.parent_code.as_deref()).collect();
        let levels: Vec<&str> = chunk.iter().map(|r| r.level.as_str()).collect();
        let paths: Vec<&str> = chunk.iter().map(|r| r.path.as_str()).collect();
        let orders: Vec<i32> = chunk.iter().map(|r| r.sort_order).collect();
        let result = sqlx::query!(
            "insert into regions (region_code, name, parent_code, level, path, sort_order) \
             select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) \
             on conflict (region_code) do nothing",
            codes as _,
            names as _,
            parents as _,
            levels as _,
            paths as _,
            &orders,
        )
        .execute(&mut *conn)
        .await?;
        inserted += result.rows_affected();
    }
    Ok(inserted)
}

pub async fn get(conn: &mut PgConnection, code: &str) -> DbResult<Option<Region>> {
    Ok(sqlx::query_as!(
        Region,
        "select region_code, name, parent_code, level, path from regions where region_code = $1",
        code,
    )
    .fetch_optional(conn)
    .await?)
}

/// The direct children of a region, in display order.
pub async fn children(conn: &mut PgConnection, code: &str) -> DbResult<Vec<Region>> {
    Ok(sqlx::query_as!(
        Region,
        "select region_code, name, parent_code, level, path from regions \
         where parent_code = $1 order by sort_order, region_code",
        code,
    )
    .fetch_all(conn)
    .await?)
}

/// The tenant's top region (no parent).
pub async fn root(conn: &mut PgConnection) -> DbResult<Option<Region>> {
    Ok(sqlx::query_as!(
        Region,
        "select region_code, name, parent_code, level, path from regions \
         where parent_code is null order by region_code limit 1",
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn count(conn: &mut PgConnection) -> DbResult<i64> {
    Ok(
        sqlx::query_scalar!(r#"select count(*) as "count!" from regions"#)
            .fetch_one(conn)
            .await?,
    )
}
