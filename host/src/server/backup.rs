//! `POST /v1/admin/backup`: take a backup of this server's data directory
//! now (what `trailmark backup --to` calls). Admin scope; the guard
//! journals the request as an admin action before it runs.
//!
//! ```json
//! {"to": "/var/backups/trailmark", "keep": 7, "include-secrets": false}
//! ```
//!
//! `to` is a directory on the server's machine (absolute: the server's
//! working directory is not the caller's) or `s3://BUCKET/PREFIX`. The
//! answer is the backup's report; a failure is 500 with the reason, and no
//! new backup (the previous ones are intact).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::backup::schedule::BackupStatus;
use crate::backup::{BackupError, BackupOptions, Source};

/// What the backup route needs.
#[derive(Clone)]
pub struct BackupApi {
    /// The data directory and what writes to it.
    pub source: Arc<Source>,
    /// One backup at a time; the last good one.
    pub status: Arc<BackupStatus>,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BackupRequest {
    to: String,
    #[serde(default = "default_keep")]
    keep: usize,
    #[serde(default)]
    include_secrets: bool,
}

fn default_keep() -> usize {
    7
}

/// The route.
pub fn router(api: BackupApi) -> Router {
    Router::new()
        .route("/v1/admin/backup", post(backup))
        .with_state(api)
}

async fn backup(State(api): State<BackupApi>, Json(request): Json<BackupRequest>) -> Response {
    let relative = !request.to.starts_with("s3://") && !request.to.starts_with('/');
    if relative {
        let message = format!(
            "`to` must be an absolute directory on the server's machine or s3://BUCKET/PREFIX, got `{}`",
            request.to
        );
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "BadRequest", "message": message})),
        )
            .into_response();
    }
    let options = BackupOptions {
        keep: request.keep,
        secrets: request.include_secrets,
    };
    match api
        .status
        .run(api.source.clone(), request.to, options)
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(e) => {
            let status = match e {
                BackupError::Refused(_) => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (
                status,
                Json(json!({"error": "BackupFailed", "message": e.to_string()})),
            )
                .into_response()
        }
    }
}
