//! HTTP ingest: where producers hand events to the host.
//!
//! [`router`] serves two APIs over one [`Intake`]:
//!
//! - `POST /` — Amazon EventBridge compatible, AWS JSON 1.1 protocol, chosen by
//!   the `X-Amz-Target` header. `AWSEvents.PutEvents` takes the same request and
//!   gives the same response and errors as EventBridge, so the AWS SDKs and
//!   CLI work unchanged when pointed here (`--endpoint-url`). See
//!   [`put_events`] and [`AwsError`].
//! - `POST /v1/events`, `GET /v1/events/{id}` — the native JSON API. See
//!   [`native`] and [`NativeError`].
//!
//! Both check the same [`IngestLimits`] and fill the envelope as EventBridge does:
//! the host assigns `id` (UUID v4), `version` `"0"`, `account` and `region`,
//! and `time` when the producer gave none. Valid entries go forward to the
//! [`Intake`] together; a request is acknowledged only once the intake says
//! they are durable. When the intake is busy, or `max_in_flight` requests
//! are already being handled, producers get HTTP 503 (`ThrottlingException`
//! on `POST /`, which the AWS SDKs retry with backoff), never an unbounded
//! queue.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use trailmark::ingest::{router, IngestLimits, IngestState, Intake};
//! # async fn serve(intake: Arc<dyn Intake>) -> std::io::Result<()> {
//! let state = IngestState {
//!     intake,
//!     limits: IngestLimits::default(),
//!     account: "000000000000".to_owned(),
//!     region: "us-east-1".to_owned(),
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router(state)).await
//! # }
//! ```

mod aws_error;
mod aws_json;
mod body;
mod checked_json;
mod entry;
mod intake;
mod limits;
pub mod native;
pub mod put_events;
mod schema;
pub mod test_pattern;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use aws_error::{AMZ_JSON_1_1, AwsError};
pub use aws_json::{AwsOperation, aws_json_response};
pub(crate) use body::{BodyError, read_limited};
pub use body::{BodyTimeout, truncate_for_message};
pub use intake::{BoxFuture, Intake, IntakeError};
pub use limits::{IngestLimits, IngestOptions, entry_size};
pub use native::NativeError;

/// The `source` of the records the host writes about itself.
pub use trailmark_event::HOST_SOURCE;

/// A record the host writes about itself: an `Object State Change` from
/// [`HOST_SOURCE`], made now with a fresh id, whose detail is a change
/// record of `entity_type` (its `entity-id` the event's id) by `author`
/// with `data`. Account and region are empty; set them where they are known.
pub fn host_record(
    entity_type: &str,
    operation: &str,
    author: &str,
    data: serde_json::Value,
) -> trailmark_event::Event {
    use trailmark_backend_api::when::{format_ms, now_ms};
    let now = now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let detail = serde_json::json!({
        "entity-type": entity_type,
        "entity-id": id,
        "operation": operation,
        "ts": format_ms(now),
        "author": author,
        "data": data,
    });
    trailmark_event::Event {
        id,
        version: "0".to_owned(),
        source: HOST_SOURCE.to_owned(),
        detail_type: trailmark_event::STATE_CHANGE.to_owned(),
        time: format_ms(now),
        account: String::new(),
        region: String::new(),
        resources: Vec::new(),
        detail: detail.to_string(),
    }
}

/// Whether producers may not use `source`: [`HOST_SOURCE`], which only the
/// host writes (so its records cannot be forged), and every `aws.*`, which
/// EventBridge reserves for AWS services. Both HTTP APIs refuse such an
/// entry (`NotAuthorizedForSourceException` on PutEvents, as EventBridge
/// does; `reserved-source` on the native API); the others go on.
pub fn is_reserved_source(source: &str) -> bool {
    source == HOST_SOURCE || source.starts_with("aws.")
}

/// Put on a response that refused a request for lack of permission, so the
/// server's auth layer can record the refusal in the journal.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

/// Check that `principal` (when the request carried one) may put every
/// event's source; the message names the first that it may not.
pub(crate) fn check_sources(
    principal: Option<&trailmark_auth::Principal>,
    events: &[trailmark_backends::Event],
) -> Result<(), String> {
    let Some(principal) = principal else {
        return Ok(());
    };
    match events.iter().find(|e| !principal.may_put_source(&e.source)) {
        None => Ok(()),
        Some(e) => Err(format!(
            "{} may not put events with source {:?} (allowed: {})",
            principal.name,
            body::truncate_for_message(&e.source, 256),
            principal.sources.patterns().join(", ")
        )),
    }
}

/// What the ingest handlers share.
#[derive(Clone)]
pub struct IngestState {
    /// Where accepted events go.
    pub intake: Arc<dyn Intake>,
    /// Request limits.
    pub limits: IngestLimits,
    /// Account id put in every event's envelope.
    pub account: String,
    /// Region put in every event's envelope.
    pub region: String,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestState")
            .field("limits", &self.limits)
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What the handlers hold: the caller's state and the in-flight permits.
pub(crate) struct Shared {
    pub state: IngestState,
    in_flight: tokio::sync::Semaphore,
    /// Requests in flight per principal name (only names with at least one).
    per_principal: Mutex<HashMap<String, usize>>,
}

/// One admitted `POST`: frees its places when dropped.
pub(crate) struct Admission<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    principal: Option<(&'a Shared, String)>,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some((shared, name)) = self.principal.take() {
            let mut counts = shared
                .per_principal
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = counts.get_mut(&name) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&name);
                }
            }
        }
    }
}

impl Shared {
    fn new(state: IngestState) -> Self {
        Self {
            in_flight: tokio::sync::Semaphore::new(
                state
                    .limits
                    .max_in_flight
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            ),
            state,
            per_principal: Mutex::default(),
        }
    }

    /// A place to handle one `POST`, or `None` when `max_in_flight` requests
    /// are already being handled, or `max_in_flight_per_principal` of this
    /// principal's.
    pub(crate) fn admit(
        &self,
        principal: Option<&trailmark_auth::Principal>,
    ) -> Option<Admission<'_>> {
        let permit = self.in_flight.try_acquire().ok()?;
        let Some(principal) = principal else {
            return Some(Admission {
                _permit: permit,
                principal: None,
            });
        };
        let mut counts = self.per_principal.lock().unwrap_or_else(|e| e.into_inner());
        let held = counts.entry(principal.name.clone()).or_default();
        if *held >= self.state.limits.max_in_flight_per_principal {
            tracing::info!(
                principal = %principal.name,
                limit = self.state.limits.max_in_flight_per_principal,
                "principal over its in-flight limit; refused with 503"
            );
            return None;
        }
        *held += 1;
        Some(Admission {
            _permit: permit,
            principal: Some((self, principal.name.clone())),
        })
    }
}

/// The routes' declarations (see [`crate::server::openapi`]).
pub(crate) fn api() -> utoipa_axum::router::OpenApiRouter<Arc<Shared>> {
    utoipa_axum::router::OpenApiRouter::default()
        .routes(utoipa_axum::routes!(aws_json::handle))
        .routes(utoipa_axum::routes!(native::put))
        .routes(utoipa_axum::routes!(native::get))
}

/// The ingest routes, ready to serve or to merge into the host's router.
/// Unknown paths answer 404 and wrong methods 405, both as JSON errors.
pub fn router(state: IngestState) -> Router {
    api()
        .split_for_parts()
        .0
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::new(Shared::new(state)))
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let message = format!(
        "no route for {method} {}",
        body::truncate_for_message(uri.path(), 200)
    );
    let body = serde_json::json!({ "error": "not-found", "message": message });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!(
        "{method} is not allowed on {}",
        body::truncate_for_message(uri.path(), 200)
    );
    let body = serde_json::json!({ "error": "method-not-allowed", "message": message });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
