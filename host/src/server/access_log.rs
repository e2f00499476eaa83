//! `GET /v1/access`: the access records ([`super::access`]) read back from
//! the journal, newest first (admin scope; itself audited).
//!
//! Filters: `actor` (the principal), `route` (as recorded, e.g.
//! `/v1/changes`), `after` and `before` (RFC 3339, epoch ms, or relative
//! `1h`), `limit` (default 100, at most 1000). Access records are not
//! change records, so this reads the journal: a scan of the records since
//! `after` (or all retained ones).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::ResultCount;
use super::api_error::{ApiError, ApiQuery, Refused, off_thread};

use crate::engine::pipeline::Pipeline;
use crate::engine::records::{EventRecord, kind};
use trailmark_backend_api::when::{format_ms, now_ms, parse_time_ms};

/// Most records one answer holds.
const MAX_LIMIT: usize = 1000;

/// The filters of `GET /v1/access`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AccessQuery {
    /// Only this principal's reads.
    actor: Option<String>,
    /// Only this route, as recorded (e.g. `/v1/changes`).
    route: Option<String>,
    /// From this time.
    #[param(inline)]
    after: Option<super::params::TimeText>,
    /// Up to this time.
    #[param(inline)]
    before: Option<super::params::TimeText>,
    /// At most this many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The body of `GET /v1/access`.
#[derive(Debug, Serialize, ToSchema)]
struct AccessPage {
    /// Access records, newest first: who (principal, token id or access key
    /// id, how they authenticated), when, request id, method, route,
    /// normalised query, result count and bytes, status, remote address and
    /// user agent.
    access: Vec<Value>,
    /// Whether older records matched past `limit`.
    more: bool,
}

/// The route's declaration (see [`super::openapi`]).
pub(crate) fn api() -> OpenApiRouter<Arc<Pipeline>> {
    OpenApiRouter::default().routes(routes!(list))
}

/// The route.
pub fn router(pipeline: Arc<Pipeline>) -> Router {
    api().with_state(pipeline).split_for_parts().0
}

/// The access log: every authenticated read of the trail, newest first.
#[utoipa::path(get, path = "/v1/access", tag = "operations", params(AccessQuery),
    responses(
        (status = 200, description = "Access records.", body = AccessPage),
        (status = 400, description = "A bad filter, time or limit.", body = ApiError),
        (status = 500, description = "The journal could not be read.", body = ApiError),
    ))]
async fn list(
    State(pipeline): State<Arc<Pipeline>>,
    ApiQuery(query): ApiQuery<AccessQuery>,
) -> Result<(Extension<ResultCount>, Json<AccessPage>), Refused> {
    let now = now_ms();
    let time = |key: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|t| parse_time_ms(t, now).map_err(|e| format!("`{key}`: {e}")))
            .transpose()
    };
    let (after, before) = match (
        time("after", &query.after.as_ref().map(|t| t.0.clone())),
        time("before", &query.before.as_ref().map(|t| t.0.clone())),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(ApiError::bad_request(e)),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit`: from 1 to {MAX_LIMIT}, got {limit}"
        )));
    }
    let (access, more) = off_thread(move || scan(&pipeline, &query, after, before, limit))
        .await?
        .map_err(|e| ApiError::internal(format!("reading the journal: {e}")))?;
    Ok((
        Extension(ResultCount(access.len() as u64)),
        Json(AccessPage { access, more }),
    ))
}

/// The newest `limit` access records matching `query`, newest first, and
/// whether there were more.
fn scan(
    pipeline: &Pipeline,
    query: &AccessQuery,
    after: Option<i64>,
    before: Option<i64>,
    limit: usize,
) -> Result<(Vec<Value>, bool), trailmark_journal::JournalError> {
    let journal = pipeline.journal();
    // Access records ride the group commit: a read's record is written
    // before it is answered but readers see records once synced. Sync
    // first, so the log lists every read answered before this one.
    journal.sync()?;
    let mut kept = std::collections::VecDeque::with_capacity(limit + 1);
    let mut more = false;
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if record.kind != kind::EVENT
            || after.is_some_and(|a| record.timestamp_ms < a)
            || before.is_some_and(|b| record.timestamp_ms >= b)
        {
            continue;
        }
        let Ok(event) = serde_json::from_slice::<EventRecord>(&record.payload) else {
            continue;
        };
        let event = event.event;
        if !event.is_trail_access() {
            continue;
        }
        let Ok(mut detail) = serde_json::from_str::<Value>(&event.detail) else {
            continue;
        };
        if query
            .actor
            .as_deref()
            .is_some_and(|a| detail["principal"] != a)
            || query.route.as_deref().is_some_and(|r| detail["route"] != r)
        {
            continue;
        }
        detail["seq"] = json!(record.seq);
        detail["journaled"] = json!(format_ms(record.timestamp_ms));
        kept.push_back(detail);
        if kept.len() > limit {
            kept.pop_front();
            more = true;
        }
    }
    Ok((kept.into_iter().rev().collect(), more))
}
