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
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api_error::{ApiError, ApiJson, Refused};
use crate::backup::BackupReport;

use crate::backup::schedule::BackupStatus;
use crate::backup::{BackupError, BackupOptions, Source};

/// What the backup route needs.
#[derive(Clone)]
pub struct BackupApi {
    /// The data directory and what writes to it.
    pub source: Arc<Source>,
    /// One backup at a time; the last good one.
    pub status: Arc<BackupStatus>,
    /// `[backup]`: where the API may write (`api-destinations`).
    pub settings: Arc<crate::backup::schedule::BackupSettings>,
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BackupRequest {
    /// An absolute directory on the server's machine, or `s3://BUCKET/PREFIX`.
    #[schema(
        example = "/var/backups/trailmark",
        pattern = "^(/|s3://[a-z0-9][a-z0-9.-]{2,62}/?)[^\\u0000]*$"
    )]
    to: String,
    /// Backups to keep there (older ones are removed); default 7.
    #[serde(default = "default_keep", deserialize_with = "super::params::integer")]
    #[schema(default = 7, maximum = 100000)]
    keep: usize,
    /// Also copy the checkpoint's private key, tokens and access keys.
    #[serde(default)]
    include_secrets: bool,
}

fn default_keep() -> usize {
    7
}

/// The route's declaration (see [`super::openapi`]).
pub(crate) fn api() -> OpenApiRouter<BackupApi> {
    OpenApiRouter::default().routes(routes!(backup))
}

/// The route.
pub fn router(api: BackupApi) -> Router {
    self::api().with_state(api).split_for_parts().0
}

/// Take a backup of this server's data directory now, incremental against
/// the destination's previous ones (what `trailmark backup --to` calls).
#[utoipa::path(post, path = "/v1/admin/backup", tag = "admin",
    request_body = BackupRequest,
    responses(
        (status = 200, description = "The backup is complete and its manifest written.", body = BackupReport),
        (status = 400, description = "A bad body or destination.", body = ApiError),
        (status = 403, description = "`destination-not-allowed`: outside `[backup] api-destinations` (or the credential lacks the admin scope).", body = ApiError),
        (status = 409, description = "Refused (another backup is running, or the destination is not a backup directory).", body = ApiError),
        (status = 500, description = "The backup failed; the previous ones are intact.", body = ApiError),
    ))]
async fn backup(
    State(api): State<BackupApi>,
    ApiJson(request): ApiJson<BackupRequest>,
) -> Response {
    let relative = !request.to.starts_with("s3://") && !request.to.starts_with('/');
    if relative {
        let message = format!(
            "`to` must be an absolute directory on the server's machine or s3://BUCKET/PREFIX, got `{}`",
            request.to
        );
        return ApiError::bad_request(message).into_response();
    }
    if !api.settings.allows(&request.to) {
        let message = format!(
            "`{}` is not under a directory this server's `[backup] api-destinations` allows",
            request.to
        );
        return Refused(
            StatusCode::FORBIDDEN,
            ApiError::new("destination-not-allowed", message),
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
            Refused(status, ApiError::new("BackupFailed", e.to_string())).into_response()
        }
    }
}
