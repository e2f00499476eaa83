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
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::lake::LakeExport;

/// The route, over the running exporter (none: the lake is off).
pub fn router(lake: Option<Arc<LakeExport>>) -> Router {
    Router::new()
        .route("/v1/admin/lake/flush", post(flush))
        .with_state(lake)
}

async fn flush(State(lake): State<Option<Arc<LakeExport>>>) -> Response {
    let Some(lake) = lake else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "NotFound", "message": "the lake is off on this server ([lake] enabled = false)"})),
        )
            .into_response();
    };
    match lake.flush().await {
        Ok(published) => Json(json!({
            "files": published.files,
            "rows": published.rows,
            "bytes": published.bytes,
            "through": published.through,
            "lake": lake.location(),
        }))
        .into_response(),
        Err(message) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal", "message": message})),
        )
            .into_response(),
    }
}
