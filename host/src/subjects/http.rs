//! The HTTP side of erasure: `POST /v1/admin/erase` (admin scope; the guard
//! journals it as a `trailmark.admin-action` with its body, the subject id,
//! before it runs), and the layer that opens tokens in the query API's
//! answers.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::api_error::{ApiError, ApiJson, Refused};

use super::{KeyError, Subjects};

/// Largest answer the opening layer reads (a page of 1000 versions with bodies).
const MAX_ANSWER: usize = 256 << 20;

/// Body of `POST /v1/admin/erase`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EraseRequest {
    /// The subject id (`trailmark subjects id VALUE`), never the value itself:
    /// the request body is journaled.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    subject_id: String,
}

/// The answer of `POST /v1/admin/erase`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct Erased {
    /// The subject id.
    subject_id: String,
    /// Whether this call destroyed the key.
    erased: bool,
    /// Whether the key was gone already (erased before, or never made).
    already_erased: bool,
}

/// The route's declaration (see [`crate::server::openapi`]).
pub(crate) fn api() -> OpenApiRouter<Option<Arc<Subjects>>> {
    OpenApiRouter::default().routes(routes!(erase))
}

/// `POST /v1/admin/erase`; without `[subjects]` it answers 409.
pub fn router(subjects: Option<Arc<Subjects>>) -> Router {
    api().with_state(subjects).split_for_parts().0
}

/// Erase one data subject: destroy the key their values were sealed with,
/// so they read `[erased]` everywhere while the chain still verifies.
/// Idempotent. Journaled (the subject id, never the value) before it runs.
#[utoipa::path(post, path = "/v1/admin/erase", tag = "admin",
    request_body = EraseRequest,
    responses(
        (status = 200, description = "Erased now, or already.", body = Erased),
        (status = 400, description = "Not a subject id, or a bad body.", body = ApiError),
        (status = 409, description = "`NotConfigured`: no `[subjects]` paths, so nothing is sealed per subject.", body = ApiError),
        (status = 500, description = "The key store failed.", body = ApiError),
    ))]
async fn erase(
    State(subjects): State<Option<Arc<Subjects>>>,
    ApiJson(request): ApiJson<EraseRequest>,
) -> Response {
    let Some(subjects) = subjects else {
        return Refused(
            StatusCode::CONFLICT,
            ApiError::new(
                "NotConfigured",
                "no [subjects] paths are configured: nothing is sealed per subject, so nothing can be erased this way",
            ),
        )
        .into_response();
    };
    let id = request.subject_id.clone();
    let result = tokio::task::spawn_blocking(move || subjects.keys().erase(&id)).await;
    match result {
        Ok(Ok(erased)) => {
            tracing::info!(subject = %request.subject_id, erased, "subject erasure");
            Json(Erased {
                subject_id: request.subject_id,
                erased,
                already_erased: !erased,
            })
            .into_response()
        }
        Ok(Err(e @ KeyError::BadId(_))) => ApiError::bad_request(e.to_string()).into_response(),
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Middleware for the query API and `GET /v1/events/{id}`: opens every
/// token in the JSON answer of a `GET` (its value, or `[erased]`).
pub async fn open_tokens(
    State(subjects): State<Arc<Subjects>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
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

/// Middleware for every authenticated route: an `author=VALUE` query
/// parameter asks for what the stores hold, the value's token when `author`
/// is a subject path, so `GET /v1/changes?author=alice` finds alice's
/// changes. It runs before the read is audited, so the access record holds
/// the token, not the value. A value whose subject has no key (erased, or
/// never seen) is left as it is.
pub async fn seal_author_param(
    State(subjects): State<Arc<Subjects>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(query) = request.uri().query().filter(|q| q.contains("author=")) else {
        return next.run(request).await;
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let Some(author) = pairs
        .iter()
        .find(|(k, _)| k == "author")
        .map(|(_, v)| v.clone())
    else {
        return next.run(request).await;
    };
    // A key not in memory is read from its file: off the async threads.
    let token = match tokio::task::spawn_blocking(move || subjects.author_token(&author)).await {
        Ok(Ok(Some(token))) => token,
        Ok(Ok(None)) => return next.run(request).await,
        Ok(Err(e)) => return ApiError::internal(e).into_response(),
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| {
            let v = if k == "author" {
                token.as_str()
            } else {
                v.as_str()
            };
            (k.as_str(), v)
        }))
        .finish();
    let path_and_query = format!("{}?{query}", request.uri().path());
    let mut parts = request.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(e) => return ApiError::internal(e).into_response(),
    }
    match Uri::from_parts(parts) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return ApiError::internal(e).into_response(),
    }
    next.run(request).await
}
