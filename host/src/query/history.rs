//! `GET /v1/entities/{type}/{id}/history`: the versions of one entity, oldest
//! first, a page at a time, each with the body archived for its event.
//!
//! An entity is (source, entity type, entity id): `?source=S` returns only
//! the versions `S` reported; without it, every source's versions of that
//! type and id, each naming its source. Pages follow `next-cursor` as
//! `/v1/changes` does (`limit` 1 to [`MAX_LIMIT`](super::MAX_LIMIT), default
//! [`DEFAULT_LIMIT`](super::DEFAULT_LIMIT)).
//!
//! One version whose body cannot be read (a bad or missing key, a backend
//! error) never breaks the history: it comes back with `body: null` and a
//! `body-error` saying why, and the other versions are served.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailmark_backends::{ArchiveStore, ChangeRecord, HistoryQuery};
use utoipa::{IntoParams, ToSchema};

use super::{ChangeView, QueryError, QueryState, blocking, checked_limit};
use crate::server::access::ResultCount;
use crate::server::api_error::{ApiError, ApiPath, ApiQuery};
use crate::store_retention::settings::RetentionSettings;

/// Query string of the history route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only the versions this source reported.
    source: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next-cursor` of the previous page.
    #[param(inline)]
    cursor: Option<crate::server::params::HistoryCursor>,
}

/// One version in an entity's history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Version {
    /// The change record (it names its source).
    #[serde(flatten)]
    pub change: ChangeView,
    /// The body archived for this event; `null` when none was archived or it
    /// cannot be read.
    pub body: Option<Value>,
    /// Why the archived body cannot be read, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_error: Option<String>,
    /// Why there is no body when retention removed it (`[retention]
    /// archive`): not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_removed: Option<String>,
}

/// One page of `GET /v1/entities/{type}/{id}/history`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct History {
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// The source asked for; absent when every source's versions are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Oldest first.
    pub versions: Vec<Version>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The versions of one entity, oldest first, each with its archived body.
#[utoipa::path(get, path = "/v1/entities/{entity_type}/{entity_id}/history", tag = "trail",
    params(
        ("entity_type" = String, Path, description = "The entity type (`entity-type` of the detail)."),
        ("entity_id" = String, Path, description = "The entity id (`entity-id` of the detail)."),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "One page of the entity's versions.", body = History),
        (status = 400, description = "A bad limit or cursor.", body = ApiError),
        (status = 503, description = "A store is unavailable.", body = ApiError),
    ))]
pub(super) async fn history(
    State(state): State<QueryState>,
    ApiPath((entity_type, entity_id)): ApiPath<(String, String)>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<(Extension<ResultCount>, Json<History>), QueryError> {
    let query = HistoryQuery {
        entity_type,
        entity_id,
        source: params.source,
        limit: checked_limit(params.limit)?,
        cursor: params.cursor.map(|c| c.0),
    };
    let history = blocking(move || {
        let page = state.metadata.history(&query)?;
        Ok(History {
            versions: page
                .records
                .into_iter()
                .map(|record| version(state.archive.as_ref(), &state.retention, record))
                .collect(),
            entity_type: query.entity_type,
            entity_id: query.entity_id,
            source: query.source,
            next_cursor: page.next_cursor,
        })
    })
    .await?;
    let count = ResultCount(history.versions.len() as u64);
    Ok((Extension(count), Json(history)))
}

/// `record` with its body, or with why its body cannot be read, or with
/// the retention rule that removed it.
fn version(
    archive: &dyn ArchiveStore,
    retention: &RetentionSettings,
    record: ChangeRecord,
) -> Version {
    let mut body_removed = None;
    let (body, body_error) = match record.archive_key.as_deref() {
        None => (None, None),
        Some(key) => match archive.get(key) {
            Ok(Some(bytes)) => (Some(body_value(&bytes)), None),
            Ok(None) => {
                body_removed = retention.removed_body(
                    &record.source,
                    &record.entity_type,
                    record.ts,
                    trailmark_backend_api::when::now_ms(),
                );
                let missing = format!("no body is stored under archive key {key:?}");
                (None, body_removed.is_none().then_some(missing))
            }
            Err(error) => (None, Some(error.to_string())),
        },
    };
    if let Some(error) = &body_error {
        tracing::warn!(event_id = %record.event_id, %error, "history: a version's body cannot be read");
    }
    Version {
        change: record.into(),
        body,
        body_error,
        body_removed,
    }
}

/// A body as JSON, or as text when it is not JSON.
fn body_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
