//! The query API over the metadata and archive backends: change records by
//! author, entity, operation, source and time, newest first and paginated;
//! and the history of one entity with each version's body (see [`history`]).

pub mod history;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailmark_backends::{ArchiveStore, BackendError, ChangeQuery, ChangeRecord, MetadataStore};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::access::ResultCount;
use crate::server::api_error::{ApiError, ApiQuery};
use crate::server::params::{ChangesCursor, TimeText};
use trailmark_backend_api::when::{format_ms, now_ms, parse_time_ms};

/// Default and maximum page sizes (of changes and of history versions).
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` a query may ask for.
pub const MAX_LIMIT: usize = 1000;

/// What the query handlers read from.
#[derive(Clone)]
pub struct QueryState {
    /// Change records.
    pub metadata: Arc<dyn MetadataStore>,
    /// Entity bodies.
    pub archive: Arc<dyn ArchiveStore>,
    /// `[retention]`: tells a body retention removed from a missing one.
    pub retention: Arc<crate::store_retention::settings::RetentionSettings>,
}

/// The routes' declarations (see [`crate::server::openapi`]).
pub(crate) fn api() -> OpenApiRouter<QueryState> {
    OpenApiRouter::default()
        .routes(routes!(changes))
        .routes(routes!(history::history))
}

/// Routes: `GET /v1/changes` and `GET /v1/entities/{type}/{id}/history`.
pub fn router(state: QueryState) -> Router {
    api().with_state(state).split_for_parts().0
}

/// Query string of `GET /v1/changes`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// Only changes by this author.
    author: Option<String>,
    /// Only this entity type.
    entity_type: Option<String>,
    /// Only this entity id.
    entity_id: Option<String>,
    /// Only `insert`, `update` or `delete`.
    #[param(pattern = "^(insert|update|delete)$")]
    operation: Option<String>,
    /// Only events from this source.
    source: Option<String>,
    /// From this time.
    #[param(inline)]
    since: Option<TimeText>,
    /// Up to this time.
    #[param(inline)]
    until: Option<TimeText>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next-cursor` of the previous page.
    #[param(inline)]
    cursor: Option<ChangesCursor>,
}

/// A change record as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ChangeView {
    /// The reporting event.
    pub event_id: String,
    /// Event source.
    pub source: String,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// insert, update or delete.
    pub operation: String,
    /// RFC 3339 time of the change.
    pub time: String,
    /// Milliseconds since the epoch.
    pub ts: i64,
    /// Who made the change.
    pub author: String,
    /// Where the body was archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_key: Option<String>,
    /// Extra attributes.
    pub attributes: Value,
    /// The rules the event matched when it was journaled (none for records
    /// stored before they were kept).
    #[serde(default)]
    pub rules: Vec<String>,
}

impl From<ChangeRecord> for ChangeView {
    fn from(r: ChangeRecord) -> Self {
        Self {
            time: format_ms(r.ts),
            attributes: serde_json::from_str(&r.attributes).unwrap_or(Value::Null),
            event_id: r.event_id,
            source: r.source,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            operation: r.operation,
            ts: r.ts,
            author: r.author,
            archive_key: r.archive_key,
            rules: r.rules,
        }
    }
}

/// One page of `GET /v1/changes`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ChangesPage {
    /// Newest first.
    pub changes: Vec<ChangeView>,
    /// Pass as `cursor` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A query API error, rendered as `{"error": .., "message": ..}`.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The backend failed.
    #[error("backend: {0}")]
    Backend(String),
}

impl From<BackendError> for QueryError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Invalid(m) => QueryError::BadRequest(m),
            other => QueryError::Backend(other.to_string()),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            QueryError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            QueryError::Backend(_) => (StatusCode::SERVICE_UNAVAILABLE, "BackendUnavailable"),
        };
        (status, Json(ApiError::new(code, self.to_string()))).into_response()
    }
}

/// Turn query parameters into a backend query.
pub fn to_query(p: ChangesParams, now: i64) -> Result<ChangeQuery, QueryError> {
    let time = |field: &str, v: Option<TimeText>| -> Result<Option<i64>, QueryError> {
        v.map(|TimeText(t)| {
            parse_time_ms(&t, now).map_err(|e| QueryError::BadRequest(format!("`{field}`: {e}")))
        })
        .transpose()
    };
    let limit = checked_limit(p.limit)?;
    if let Some(op) = &p.operation
        && !matches!(op.as_str(), "insert" | "update" | "delete")
    {
        return Err(QueryError::BadRequest(format!(
            "`operation` is insert, update or delete; got `{op}`"
        )));
    }
    Ok(ChangeQuery {
        since: time("since", p.since)?,
        until: time("until", p.until)?,
        author: p.author,
        entity_type: p.entity_type,
        entity_id: p.entity_id,
        operation: p.operation,
        source: p.source,
        limit,
        cursor: p.cursor.map(|c| c.0),
    })
}

/// A `limit` parameter: [`DEFAULT_LIMIT`] when absent, else 1 to [`MAX_LIMIT`].
fn checked_limit(limit: Option<usize>) -> Result<usize, QueryError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(QueryError::BadRequest(format!(
            "`limit` must be from 1 to {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// Run blocking backend work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QueryError::Backend(e.to_string()))?
}

/// Change records, newest first, a page at a time: filter by author,
/// entity, operation, source and time; follow `next-cursor` for more.
#[utoipa::path(get, path = "/v1/changes", tag = "trail", params(ChangesParams),
    responses(
        (status = 200, description = "One page of change records.", body = ChangesPage),
        (status = 400, description = "A bad filter, time or limit.", body = ApiError),
        (status = 503, description = "The metadata store is unavailable.", body = ApiError),
    ))]
async fn changes(
    State(state): State<QueryState>,
    ApiQuery(params): ApiQuery<ChangesParams>,
) -> Result<(Extension<ResultCount>, Json<ChangesPage>), QueryError> {
    let query = to_query(params, now_ms())?;
    let metadata = state.metadata.clone();
    let page = blocking(move || Ok(metadata.query(&query)?)).await?;
    let count = ResultCount(page.records.len() as u64);
    Ok((
        Extension(count),
        Json(ChangesPage {
            changes: page.records.into_iter().map(ChangeView::from).collect(),
            next_cursor: page.next_cursor,
        }),
    ))
}
