//! Document downloads: only through this route, only with a download token that the service
//! issued for that tenant and document (no public bucket URLs). The bytes stream from the
//! store; nothing is held in memory.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use serde::Deserialize;
use xiaobao_storage::DownloadToken;

use crate::AppState;
use crate::web::error::PageError;
use crate::web::tenant::PageTenant;

pub fn router() -> Router<AppState> {
    Router::new().route("/t/{slug}/documents/{id}", get(download_document))
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: Option<String>,
}

/// A Chinese page, branded with the programme, for a refused download.
fn refused(page: &PageTenant, status: StatusCode, title: &str, message: &str) -> Response {
    crate::web::error::error_page(
        status,
        title,
        message,
        Some(&(page.tenant.clone(), page.base.clone())),
    )
}

async fn download_document(
    State(state): State<AppState>,
    page: PageTenant,
    Path((_slug, id)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, PageError> {
    let tenant = &page.tenant;
    let Ok(id) = id.parse::<i64>() else {
        return Err(PageError::NotFound);
    };
    let Some(token) = query.token else {
        return Ok(refused(
            &page,
            StatusCode::FORBIDDEN,
            "无权下载",
            "下载链接不完整，请回到原页面重新点击下载。",
        ));
    };
    if let Err(error) = DownloadToken::verify(
        &state.download_key,
        &tenant.slug,
        id,
        &token,
        state.clock.now(),
    ) {
        tracing::info!(document.id = id, code = error.code(), "download refused");
        return Ok(refused(
            &page,
            StatusCode::FORBIDDEN,
            "下载链接无效或已过期",
            "请回到原页面重新点击下载。",
        ));
    }
    let opened = state.documents.open_in(&state.db, tenant, id).await;
    let (row, stream) = match opened {
        Ok(opened) => opened,
        Err(xiaobao_storage::StorageError::NotFound(_)) => return Err(PageError::NotFound),
        Err(error) => return Err(PageError::Internal(Box::new(error))),
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(row.media_type.mime()),
    );
    headers.insert(header::CONTENT_DISPOSITION, row.content_disposition());
    if let Ok(length) = HeaderValue::from_str(&row.size_bytes.to_string()) {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
