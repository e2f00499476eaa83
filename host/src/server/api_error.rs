//! The error body every JSON route answers with (`{"error", "message"}`),
//! and extractors that turn axum's plain-text rejections into it, so a bad
//! query string, path or body gets the same documented JSON shape as any
//! other refusal.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The error body of the native, query and admin APIs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"error": "BadRequest", "message": "`limit` must be from 1 to 1000"}))]
pub struct ApiError {
    /// A stable code (`BadRequest`, `NotFound`, `unauthorized`, …).
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The error body of the AWS JSON endpoint (`POST /`), as the AWS SDKs read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"__type": "ValidationException", "message": "Entries is required"}))]
pub struct AwsErrorBody {
    /// The AWS exception name (`ValidationException`, `ThrottlingException`, …).
    #[serde(rename = "__type")]
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
        }
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Refused {
        Refused(StatusCode::BAD_REQUEST, Self::new("BadRequest", message))
    }

    /// `404 NotFound`.
    pub fn not_found(message: impl Into<String>) -> Refused {
        Refused(StatusCode::NOT_FOUND, Self::new("NotFound", message))
    }

    /// `500 Internal`.
    pub fn internal(message: impl std::fmt::Display) -> Refused {
        Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            Self::new("Internal", message.to_string()),
        )
    }
}

/// Run blocking work (a store or journal call) off the async threads; a
/// task that panicked answers 500 `Internal`. The work's own result is the
/// caller's to map: [`blocking`] maps any error of it to 500.
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refused> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// Run a blocking store call off the async threads; its error, or a task
/// that panicked, answers 500 `Internal`.
pub async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Refused> {
    off_thread(work).await?.map_err(ApiError::internal)
}

/// An [`ApiError`] with its HTTP status: what a handler returns to refuse.
#[derive(Debug, Clone)]
pub struct Refused(pub StatusCode, pub ApiError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

/// `axum::Json`, refusing a body it cannot read with an [`ApiError`]: 415
/// `unsupported-media-type` without `Content-Type: application/json`, else
/// 400 `BadRequest` naming the problem.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Refused;

    async fn from_request(request: Request, state: &S) -> Result<Self, Refused> {
        match <axum::Json<T> as FromRequest<S>>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(e)) => Err(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ApiError::new("unsupported-media-type", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// An absent body (no `Content-Type`) is `None`; a present one is read as
/// [`ApiJson`] reads it.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = Refused;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Refused> {
        if !request
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
        {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

/// `axum::extract::Query`, refusing a bad query string with 400 `BadRequest`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refused> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// `axum::extract::Path`, refusing a bad path segment with 400 `BadRequest`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refused> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}
