//! `GET /v1/access`: the access records ([`super::access`]) read back from
//! the journal, newest first (admin scope; itself audited).
//!
//! Filters: `actor` (the principal), `route` (as recorded, e.g.
//! `/v1/changes`), `after` and `before` (RFC 3339, epoch ms, or relative
//! `1h`), `limit` (default 100, at most 1000). Access records are not
//! change records, so this reads the journal: a scan of the records since
//! `after` (or all retained ones).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::ACCESS_DETAIL_TYPE;
use crate::engine::pipeline::Pipeline;
use crate::engine::records::{EventRecord, kind};
use crate::timespec::{format_ms, now_ms, parse_time_ms};

/// Most records one answer holds.
const MAX_LIMIT: usize = 1000;

/// The filters of `GET /v1/access`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessQuery {
    actor: Option<String>,
    route: Option<String>,
    after: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

/// The route.
pub fn router(pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/v1/access", get(list))
        .with_state(pipeline)
}

fn bad(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "BadRequest", "message": message})),
    )
        .into_response()
}

async fn list(
    State(pipeline): State<Arc<Pipeline>>,
    query: Result<Query<AccessQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(e) => {
            return bad(format!(
                "{}; the filters are actor, route, after, before, limit",
                e.body_text()
            ));
        }
    };
    let now = now_ms();
    let time = |key: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|t| parse_time_ms(t, now).map_err(|e| format!("`{key}`: {e}")))
            .transpose()
    };
    let (after, before) = match (time("after", &query.after), time("before", &query.before)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return bad(format!("`limit`: from 1 to {MAX_LIMIT}, got {limit}"));
    }
    let found =
        tokio::task::spawn_blocking(move || scan(&pipeline, &query, after, before, limit)).await;
    match found {
        Ok(Ok((records, more))) => Json(json!({"access": records, "more": more})).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal", "message": format!("reading the journal: {e}")})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal", "message": e.to_string()})),
        )
            .into_response(),
    }
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
        if event.source != crate::ingest::HOST_SOURCE || event.detail_type != ACCESS_DETAIL_TYPE {
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
