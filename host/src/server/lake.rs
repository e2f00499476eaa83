//! `POST /v1/admin/lake/flush`: read the journal up to its head and close
//! the lake's open files now (what `trailmark lake flush` calls), so the
//! events acknowledged so far are readable in Parquet without waiting for
//! the size or age limit. Admin scope.
//!
//! ```json
//! {"files": ["changes/dt=2026-11-25/part-….parquet"], "rows": 12, "bytes": 4817,
//!  "through": 40, "lake": "/var/lib/trailmark/lake"}
//! ```
//!
//! With the lake off (`[lake] enabled = false`) the answer is 404.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api_error::ApiError;
use crate::lake::LakeExport;

/// What a flush published.
#[derive(Debug, Serialize, ToSchema)]
struct Flushed {
    /// The files published, relative to the lake.
    files: Vec<String>,
    /// Rows in them.
    rows: u64,
    /// Their bytes.
    bytes: u64,
    /// The journal sequence the lake now holds everything up to.
    through: u64,
    /// Where the lake is (a directory or `s3://…`).
    lake: String,
}

/// The route's declaration (see [`super::openapi`]).
pub(crate) fn api() -> OpenApiRouter<Option<Arc<LakeExport>>> {
    OpenApiRouter::default().routes(routes!(flush))
}

/// The route, over the running exporter (none: the lake is off).
pub fn router(lake: Option<Arc<LakeExport>>) -> Router {
    api().with_state(lake).split_for_parts().0
}

/// Close the lake's open files now: every event acknowledged so far is
/// readable in Parquet (what `trailmark lake flush` calls).
#[utoipa::path(post, path = "/v1/admin/lake/flush", tag = "admin",
    responses(
        (status = 200, description = "The files published.", body = Flushed),
        (status = 404, description = "The lake is off on this server.", body = ApiError),
        (status = 500, description = "The files could not be published.", body = ApiError),
    ))]
async fn flush(State(lake): State<Option<Arc<LakeExport>>>) -> Response {
    let Some(lake) = lake else {
        return ApiError::not_found("the lake is off on this server ([lake] enabled = false)")
            .into_response();
    };
    match lake.flush().await {
        Ok(published) => Json(Flushed {
            files: published.files,
            rows: published.rows,
            bytes: published.bytes,
            through: published.through,
            lake: lake.location().to_owned(),
        })
        .into_response(),
        Err(message) => ApiError::internal(message).into_response(),
    }
}
