//! The HTTP side of erasure: `POST /v1/admin/erase` (admin scope; the guard
//! journals it as a `trailmark.admin-action` with its body, the subject id,
//! before it runs), and the layer that opens tokens in the query API's
//! answers.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{KeyError, Subjects};

/// Largest answer the opening layer reads (a page of 1000 versions with bodies).
const MAX_ANSWER: usize = 256 << 20;

/// Body of `POST /v1/admin/erase`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EraseRequest {
    /// The subject id (`trailmark subjects id VALUE`), never the value itself:
    /// the request body is journaled.
    subject_id: String,
}

/// `POST /v1/admin/erase`; without `[subjects]` it answers 409.
pub fn router(subjects: Option<Arc<Subjects>>) -> Router {
    Router::new()
        .route("/v1/admin/erase", post(erase))
        .with_state(subjects)
}

async fn erase(
    State(subjects): State<Option<Arc<Subjects>>>,
    Json(request): Json<EraseRequest>,
) -> Response {
    let Some(subjects) = subjects else {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": "NotConfigured", "message": "no [subjects] paths are configured: nothing is sealed per subject, so nothing can be erased this way"})),
        )
            .into_response();
    };
    let id = request.subject_id.clone();
    let result = tokio::task::spawn_blocking(move || subjects.keys().erase(&id)).await;
    match result {
        Ok(Ok(erased)) => {
            tracing::info!(subject = %request.subject_id, erased, "subject erasure");
            Json(json!({"subject-id": request.subject_id, "erased": erased, "already-erased": !erased}))
                .into_response()
        }
        Ok(Err(e @ KeyError::BadId(_))) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "BadRequest", "message": e.to_string()})),
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal", "message": e.to_string()})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "Internal", "message": e.to_string()})),
        )
            .into_response(),
    }
}

/// Middleware for the query API: opens every token in a JSON answer (its
/// value, or `[erased]`).
pub async fn open_tokens(
    State(subjects): State<Arc<Subjects>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "answer too large to open",
        )
            .into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    subjects.open_json(&mut value);
    let bytes = serde_json::to_vec(&value).expect("JSON serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
