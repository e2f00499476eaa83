//! The HTTP auth layer: every route but `/healthz` needs credentials.
//!
//! [`guard`] runs before every handler. It finds the scope the route needs
//! ([`required_scope`]), authenticates the request (a bearer token, or AWS
//! Signature Version 4 over the exact bytes received), checks the scope, and
//! hands the [`Principal`](trailmark_auth::Principal) to the handler as a request extension (ingest uses
//! it to check event sources). Every refusal (401, 403) and every admin
//! action (a `POST` under `/v1/admin/`) is itself journaled as an audit event
//! before the answer goes out, so rules can alert on them and `trailmark
//! query --source trailmark` lists them:
//!
//! ```json
//! {"source": "trailmark", "detail-type": "Object State Change",
//!  "detail": {"entity-type": "trailmark.auth-failure", "entity-id": "<request id>",
//!             "operation": "insert", "ts": "...", "author": "<principal or 'anonymous'>",
//!             "data": {"status": 401, "reason": "...", "method": "GET", "path": "/v1/changes",
//!                      "remote": "127.0.0.1:50312"}}}
//! ```
//!
//! Admin actions have `entity-type` `trailmark.admin-action` and carry the
//! request body (the ids replayed or purged). No secret is ever logged or
//! journaled: reasons come from [`AuthFailure`], which never repeats one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::{info, warn};
use trailmark_auth::{AuthFailure, Authenticator, RequestView, Scope, needs_body};
use trailmark_backends::Event;

use crate::ingest::{AMZ_JSON_1_1, Intake, Refusal};
use crate::metrics::Metrics;
use crate::timespec::{format_ms, now_ms};

/// The `source` of the audit events the host writes about itself.
pub const AUDIT_SOURCE: &str = "trailmark";

/// What the auth layer needs.
pub struct AuthState {
    /// Checks credentials.
    pub authenticator: Authenticator,
    /// Where audit events about refusals and admin actions go.
    pub intake: Arc<dyn Intake>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Largest body read to check a signature or record an admin action.
    pub max_body_bytes: usize,
    /// Account id for audit events' envelopes.
    pub account: String,
    /// Region for audit events' envelopes.
    pub region: String,
}

/// The scope a request needs, or `None` for the one open route.
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    match path {
        "/healthz" => None,
        // EventBridge-compatible API (PutEvents, TestEventPattern) and native put.
        "/" => Some(Scope::Put),
        "/v1/events" if method == Method::POST => Some(Scope::Put),
        _ if path.starts_with("/v1/events/") => Some(Scope::Query),
        _ if path.starts_with("/v1/changes") || path.starts_with("/v1/entities/") => {
            Some(Scope::Query)
        }
        // Status, rules, plugins, dead letters, replay, reload, metrics, readiness,
        // and any unknown path (so probing finds nothing without credentials).
        _ => Some(Scope::Admin),
    }
}

/// The middleware: authenticate, authorize, record refusals and admin actions.
pub async fn guard(State(state): State<Arc<AuthState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let Some(scope) = required_scope(&method, &path) else {
        return next.run(request).await;
    };
    let aws = path == "/";
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.to_string());
    let admin_action = scope == Scope::Admin && method == Method::POST;
    let (mut parts, body) = request.into_parts();

    // The body is read here only when the signature covers it or an admin
    // action is recorded with it; otherwise the handler streams it.
    let (buffered, unread): (Option<Bytes>, Option<Body>) =
        if needs_body(&parts.headers) || admin_action {
            match axum::body::to_bytes(body, state.max_body_bytes).await {
                Ok(bytes) => (Some(bytes), None),
                Err(_) => {
                    let message = format!(
                        "request body exceeds the limit of {} bytes",
                        state.max_body_bytes
                    );
                    let code = if aws {
                        "ValidationException"
                    } else {
                        "payload-too-large"
                    };
                    return refuse_plain(StatusCode::PAYLOAD_TOO_LARGE, code, &message, aws);
                }
            }
        } else {
            (None, Some(body))
        };
    let view = RequestView {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: buffered.as_deref().unwrap_or_default(),
    };
    let principal = state
        .authenticator
        .authenticate(&view, SystemTime::now())
        .and_then(|p| p.require(scope).map(|()| p));
    let principal = match principal {
        Ok(p) => p,
        Err(failure) => {
            let who = match &failure {
                AuthFailure::AccessDenied { principal, .. } => principal.clone(),
                _ => "anonymous".to_owned(),
            };
            state
                .record_refusal(
                    &who,
                    failure.status(),
                    &failure.to_string(),
                    &method,
                    &path,
                    remote.as_deref(),
                )
                .await;
            return refuse(&failure, aws);
        }
    };

    let body = match (&buffered, unread) {
        (Some(bytes), _) => Body::from(bytes.clone()),
        (None, Some(body)) => body,
        (None, None) => Body::empty(),
    };
    parts.extensions.insert(principal.clone());
    let response = next.run(Request::from_parts(parts, body)).await;

    if let Some(Refusal(reason)) = response.extensions().get::<Refusal>() {
        state
            .record_refusal(
                &principal.name,
                response.status().as_u16(),
                reason,
                &method,
                &path,
                remote.as_deref(),
            )
            .await;
    } else if admin_action && response.status().is_success() {
        let request_body = buffered
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .unwrap_or(Value::Null);
        state
            .record(
                "trailmark.admin-action",
                &principal.name,
                json!({
                    "action": path.trim_start_matches("/v1/admin/"),
                    "method": method.as_str(),
                    "path": path,
                    "status": response.status().as_u16(),
                    "request": request_body,
                    "remote": remote,
                }),
            )
            .await;
    }
    response
}

impl AuthState {
    async fn record_refusal(
        &self,
        who: &str,
        status: u16,
        reason: &str,
        method: &Method,
        path: &str,
        remote: Option<&str>,
    ) {
        self.metrics.auth_refusals.fetch_add(1, Relaxed);
        info!(status, principal = who, %method, path, remote, reason, "request refused");
        self.record(
            "trailmark.auth-failure",
            who,
            json!({
                "status": status,
                "reason": reason,
                "method": method.as_str(),
                "path": crate::ingest::truncate_for_message(path, 1024),
                "remote": remote,
            }),
        )
        .await;
    }

    /// Journal one audit event about the host itself.
    async fn record(&self, entity_type: &str, author: &str, data: Value) {
        let now = now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let detail = json!({
            "entity-type": entity_type,
            "entity-id": id,
            "operation": "insert",
            "ts": format_ms(now),
            "author": author,
            "data": data,
        });
        let event = Event {
            id,
            version: "0".to_owned(),
            source: AUDIT_SOURCE.to_owned(),
            detail_type: "Object State Change".to_owned(),
            time: format_ms(now),
            account: self.account.clone(),
            region: self.region.clone(),
            resources: Vec::new(),
            detail: detail.to_string(),
        };
        if let Err(e) = self.intake.submit(vec![event]).await {
            self.metrics.audit_unrecorded.fetch_add(1, Relaxed);
            warn!(error = %e, entity_type, author, "cannot journal an audit event about this host");
        }
    }
}

/// Answer a refused request in the API's own error shape.
fn refuse(failure: &AuthFailure, aws: bool) -> Response {
    let status = StatusCode::from_u16(failure.status()).unwrap_or(StatusCode::FORBIDDEN);
    let code = if aws {
        failure.aws_code()
    } else if status == StatusCode::UNAUTHORIZED {
        "unauthorized"
    } else {
        "forbidden"
    };
    let mut response = refuse_plain(status, code, &failure.to_string(), aws);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"trailmark\""),
        );
    }
    response
}

fn refuse_plain(status: StatusCode, code: &str, message: &str, aws: bool) -> Response {
    if aws {
        let body = json!({"__type": code, "message": message}).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_1_1));
        if let Ok(v) = HeaderValue::from_str(code) {
            headers.insert("x-amzn-ErrorType", v);
        }
        response
    } else {
        (
            status,
            axum::Json(json!({"error": code, "message": message})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_healthz_is_open_and_each_route_needs_its_scope() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_scope(&get, "/healthz"), None);
        assert_eq!(required_scope(&post, "/"), Some(Scope::Put));
        assert_eq!(required_scope(&post, "/v1/events"), Some(Scope::Put));
        assert_eq!(required_scope(&get, "/v1/events/abc"), Some(Scope::Query));
        assert_eq!(required_scope(&get, "/v1/changes"), Some(Scope::Query));
        assert_eq!(
            required_scope(&get, "/v1/entities/book/1/history"),
            Some(Scope::Query)
        );
        for admin in [
            "/metrics",
            "/readyz",
            "/v1/admin/status",
            "/v1/admin/reload",
            "/nope",
        ] {
            assert_eq!(required_scope(&get, admin), Some(Scope::Admin), "{admin}");
        }
    }
}
