//! The HTTP auth layer: every route but `/healthz` and `/readyz` needs
//! credentials.
//!
//! `/readyz` answers without credentials, as orchestrators' probes send
//! none; a request to it that does carry credentials is checked like any
//! other (the `metrics` scope), and only then (a [`Principal`] in the
//! request's extensions) does the answer name the rules held and why.
//!
//! [`guard`] runs before every handler. It finds the scope the route needs
//! ([`required_scope`]) and authenticates the request on its headers first:
//! a bearer token and its scope, or for AWS Signature Version 4 the key id,
//! the replay window, the credential scope and the key's scopes. Nothing of
//! the body is read for a request refused there, so a client without
//! credentials cannot make the server hold memory for it. Only a SigV4
//! request that passed that phase has its body read (the signature covers
//! it), and only within a global byte budget (`server.auth-body-budget`):
//! when the budget is spent the answer is 503 at once, before reading.
//!
//! The [`Principal`](trailmark_auth::Principal) goes to the handler as a
//! request extension (ingest uses it to check event sources). Refusals (401,
//! 403) and admin actions (a `POST` under `/v1/admin/`) are journaled as
//! audit events on the host's reserved path into the journal (never refused
//! for backpressure), so rules can alert on them and `trailmark query
//! --source trailmark` lists them:
//!
//! ```json
//! {"source": "trailmark", "detail-type": "Object State Change",
//!  "detail": {"entity-type": "trailmark.auth-failure", "entity-id": "<request id>",
//!             "operation": "insert", "ts": "...", "author": "<principal or 'anonymous'>",
//!             "data": {"status": 401, "reason": "...", "method": "GET", "path": "/v1/changes",
//!                      "remote": "127.0.0.1:50312"}}}
//! ```
//!
//! Per remote address and principal, the first refusal of an interval
//! (`server.refusal-interval`) is journaled at once and the rest are counted
//! into one aggregate record when the interval ends, `"data": {"count": n,
//! "since": "...", ...}` (see [`RefusalLog`]). Every client-supplied value in
//! a record (reason, path, principal) is bounded and control characters are
//! escaped.
//!
//! Admin actions have `entity-type` `trailmark.admin-action` and carry the
//! request body (the ids replayed or purged). The record is journaled before
//! the action runs; when it cannot be, the action does not run and the
//! answer is 503. No secret is ever logged or journaled: reasons come from
//! [`AuthFailure`], which never repeats one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};
use trailmark_auth::{AuthFailure, Authenticator, HeaderCheck, Principal, RequestView, Scope};
use trailmark_backends::Event;

use super::refusals::{Admit, RefusalKey, RefusalLog, RefusalSample};
use crate::ingest::{AMZ_JSON_1_1, BodyError, Intake, Refusal, read_limited};
use crate::metrics::Metrics;
use trailmark_backend_api::when::{format_ms, now_ms};

/// Longest reason, path or principal name put in a record or log line.
const REFLECT_CHARS: usize = 256;

/// What the auth layer needs.
pub struct AuthState {
    /// Checks credentials (shared with the viewer's sign-in).
    pub authenticator: Arc<Authenticator>,
    /// Where audit events about refusals and admin actions go (its reserved
    /// path, [`Intake::submit_host`]).
    pub intake: Arc<dyn Intake>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Largest body read to check a signature or record an admin action.
    pub max_body_bytes: usize,
    /// Bytes that bodies read for signature checks may hold at once, all
    /// requests together (`server.auth-body-budget`).
    pub body_budget: Arc<Semaphore>,
    /// Which refusals to journal one by one, which to count.
    pub refusals: RefusalLog,
    /// Account id for audit events' envelopes.
    pub account: String,
    /// Region for audit events' envelopes.
    pub region: String,
}

/// Whether `path` answers without credentials, and with which scope when
/// credentials are sent anyway.
fn open_route(method: &Method, path: &str) -> Option<Option<Scope>> {
    match path {
        "/healthz" => Some(None),
        // The API's description holds no trail data (and is in the repo).
        "/openapi.json" if method == Method::GET => Some(None),
        "/readyz" if method == Method::GET => Some(Some(Scope::Metrics)),
        _ => None,
    }
}

/// The scope a request needs, or `None` for the open routes (`/healthz`,
/// and `/readyz` when it comes without credentials).
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    match path {
        "/healthz" => None,
        "/openapi.json" if method == Method::GET => None,
        "/readyz" if method == Method::GET => None,
        // EventBridge-compatible API (PutEvents, TestEventPattern) and native put.
        "/" => Some(Scope::Put),
        "/v1/events" if method == Method::POST => Some(Scope::Put),
        _ if path.starts_with("/v1/events/") => Some(Scope::Query),
        _ if path.starts_with("/v1/changes") || path.starts_with("/v1/entities/") => {
            Some(Scope::Query)
        }
        "/v1/export" if method == Method::GET => Some(Scope::Query),
        // Read-only operational views for scrapers and probes (admin may too).
        "/metrics" if method == Method::GET => Some(Scope::Metrics),
        // Status, rules, plugins, dead letters, replay, reload, and any
        // unknown path (so probing finds nothing without credentials).
        _ => Some(Scope::Admin),
    }
}

/// The request, as far as the guard and its records need it.
struct Asked {
    method: Method,
    path: String,
    remote: Option<SocketAddr>,
    aws: bool,
}

/// The middleware: authenticate on the headers, then (SigV4 only) on the
/// body within the budget; authorize; record refusals and admin actions.
pub async fn guard(State(state): State<Arc<AuthState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let credentialed = request.headers().contains_key(header::AUTHORIZATION);
    let scope = match (open_route(&method, &path), credentialed) {
        // An open route asked with credentials: checked like any other.
        (Some(Some(scope)), true) => scope,
        (Some(_), _) => return next.run(request).await,
        (None, _) => match required_scope(&method, &path) {
            Some(scope) => scope,
            None => return next.run(request).await,
        },
    };
    let asked = Asked {
        aws: path == "/",
        remote: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| *a),
        method,
        path,
    };
    let admin_action = scope == Scope::Admin && asked.method == Method::POST;
    let (mut parts, body) = request.into_parts();
    let now = SystemTime::now();

    // Header phase: nothing of the body is read before it passes.
    let view = RequestView {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &[],
    };
    let checked = state.authenticator.check_headers(&view, now).and_then(|c| {
        let principal = match &c {
            HeaderCheck::Done(done) => &done.principal,
            HeaderCheck::NeedsBody(pending) => pending.principal(),
        };
        principal.require(scope).map(|()| c)
    });
    let checked = match checked {
        Ok(c) => c,
        Err(failure) => return state.refused(&failure, &asked).await,
    };

    // Body phase, SigV4 only: read the body within the budget, then check
    // the signature over it.
    let (principal, body, _budget): (Principal, Body, Option<OwnedSemaphorePermit>) = match checked
    {
        HeaderCheck::Done(done) => (done.principal, body, None),
        HeaderCheck::NeedsBody(pending) => {
            let permit = match state.reserve_body(&body) {
                Ok(p) => p,
                Err(response) => return response.answer(asked.aws),
            };
            let bytes = match read_limited(&parts.headers, body, state.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(error) => return body_refusal(&error).answer(asked.aws),
            };
            let view = RequestView {
                body: &bytes,
                ..view
            };
            match state.authenticator.check_body(pending, &view) {
                Ok(done) => (done.principal, Body::from(bytes), Some(permit)),
                Err(failure) => return state.refused(&failure, &asked).await,
            }
        }
    };
    let body = if admin_action {
        // Journaled before it runs: no record, no action.
        let bytes = match read_limited(&parts.headers, body, state.max_body_bytes).await {
            Ok(bytes) => bytes,
            Err(error) => return body_refusal(&error).answer(asked.aws),
        };
        if let Err(response) = state.record_admin_action(&principal, &asked, &bytes).await {
            return response;
        }
        Body::from(bytes)
    } else {
        body
    };

    parts.extensions.insert(principal.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Some(Refusal(reason)) = response.extensions().get::<Refusal>() {
        state
            .record_refusal(&principal.name, response.status().as_u16(), reason, &asked)
            .await;
    }
    response
}

/// A refusal answered before the handler, in either API's error shape.
struct Early {
    status: StatusCode,
    aws_code: &'static str,
    code: &'static str,
    message: String,
}

impl Early {
    fn answer(self, aws: bool) -> Response {
        let code = if aws { self.aws_code } else { self.code };
        let mut response = refuse_plain(self.status, code, &self.message, aws);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn body_refusal(error: &BodyError) -> Early {
    let (status, aws_code, code) = match error {
        BodyError::TooLarge { .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationException",
            "payload-too-large",
        ),
        BodyError::Timeout(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "request-timeout",
        ),
        BodyError::Read(_) => (
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "invalid-request",
        ),
    };
    Early {
        status,
        aws_code,
        code,
        message: error.to_string(),
    }
}

impl AuthState {
    /// Reserve room in the body budget for a body about to be read for a
    /// signature check: its known length (`Content-Length`, or none at all
    /// for a request without a body), or the body limit when it is unknown.
    /// Refuses at once (413 past the limit, 503 when the budget is spent),
    /// never waits.
    fn reserve_body(&self, body: &Body) -> Result<OwnedSemaphorePermit, Early> {
        let limit = self.max_body_bytes as u64;
        let hint = http_body::Body::size_hint(body);
        let want = match hint.upper() {
            _ if hint.lower() > limit => {
                return Err(body_refusal(&BodyError::TooLarge {
                    limit: self.max_body_bytes,
                }));
            }
            Some(n) => n.min(limit),
            None => limit,
        };
        let want = u32::try_from(want.max(1)).unwrap_or(u32::MAX);
        self.body_budget
            .clone()
            .try_acquire_many_owned(want)
            .map_err(|_| {
                self.metrics.auth_budget_refused.fetch_add(1, Relaxed);
                Early {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    aws_code: "ThrottlingException",
                    code: "busy",
                    message: "the server is reading as many signed bodies as it may hold; retry with backoff".to_owned(),
                }
            })
    }

    /// Record a refusal from the header or body phase and answer it.
    async fn refused(&self, failure: &AuthFailure, asked: &Asked) -> Response {
        let who = match failure {
            AuthFailure::AccessDenied { principal, .. } => principal.as_str(),
            _ => "anonymous",
        };
        self.record_refusal(who, failure.status(), &failure.to_string(), asked)
            .await;
        refuse(failure, asked.aws)
    }

    /// Journal a viewer export before it runs (`trailmark.export`, by the
    /// principal, with the query and format); `Err` when it cannot be.
    pub async fn record_export(&self, who: &str, query: &str, format: &str) -> Result<(), ()> {
        let data = json!({
            "query": trailmark_auth::printable(query, REFLECT_CHARS * 4),
            "format": format,
        });
        self.record("trailmark.export", who, data).await
    }

    /// Journal an admin action the viewer is about to run (a dead-letter
    /// replay or purge from its operations page) as the guard journals the
    /// admin API's: `trailmark.admin-action`, by the principal, with the
    /// action, the viewer's path and what was asked. `Err` when it cannot
    /// be journaled: the action must not run.
    pub async fn record_viewer_admin_action(
        &self,
        who: &str,
        action: &str,
        path: &str,
        request: Value,
        remote: Option<SocketAddr>,
    ) -> Result<(), ()> {
        let data = json!({
            "action": trailmark_auth::printable(action, REFLECT_CHARS),
            "method": "POST",
            "path": trailmark_auth::printable(path, REFLECT_CHARS),
            "request": request,
            "remote": remote.map(|a| a.to_string()),
        });
        self.record("trailmark.admin-action", who, data).await
    }

    /// Record a refusal answered outside the guard (the viewer's sign-in
    /// and its forms), exactly as the guard's own are recorded.
    pub async fn record_form_refusal(
        &self,
        who: &str,
        status: u16,
        reason: &str,
        path: &str,
        remote: Option<SocketAddr>,
    ) {
        let asked = Asked {
            method: Method::POST,
            path: path.to_owned(),
            remote,
            aws: false,
        };
        self.record_refusal(who, status, reason, &asked).await;
    }

    async fn record_refusal(&self, who: &str, status: u16, reason: &str, asked: &Asked) {
        self.metrics.auth_refusals.fetch_add(1, Relaxed);
        let who = trailmark_auth::printable(who, REFLECT_CHARS);
        let sample = RefusalSample {
            status,
            reason: trailmark_auth::printable(reason, REFLECT_CHARS),
            method: asked.method.as_str().to_owned(),
            path: trailmark_auth::printable(&asked.path, REFLECT_CHARS),
        };
        let remote = asked.remote.map(|a| a.to_string());
        let key = RefusalKey {
            remote: asked.remote.map(|a| RefusalKey::network(a.ip())),
            who: who.clone(),
        };
        match self
            .refusals
            .admit(key, sample.clone(), Instant::now(), now_ms())
        {
            Admit::Counted => {
                self.metrics.auth_refusals_aggregated.fetch_add(1, Relaxed);
            }
            Admit::Record => {
                info!(status, principal = %who, method = %sample.method, path = %sample.path,
                      remote, reason = %sample.reason, "request refused");
                let data = json!({
                    "status": status,
                    "reason": sample.reason,
                    "method": sample.method,
                    "path": sample.path,
                    "remote": remote,
                });
                let _ = self.record("trailmark.auth-failure", &who, data).await;
            }
        }
    }

    /// Journal the aggregates of the refusal intervals that have ended.
    pub async fn flush_refusals(&self) {
        self.flush_refusals_at(Instant::now()).await;
    }

    /// Journal every aggregate still counting, ended or not (at shutdown).
    pub async fn flush_refusals_now(&self) {
        self.flush_refusals_at(Instant::now() + self.refusals.interval())
            .await;
    }

    async fn flush_refusals_at(&self, at: Instant) {
        for aggregate in self.refusals.due(at) {
            let remote = aggregate.key.remote.map(|ip| ip.to_string());
            info!(count = aggregate.count, principal = %aggregate.key.who, remote,
                  "refusals counted in the last interval");
            let data = json!({
                "count": aggregate.count,
                "since": format_ms(aggregate.since_ms),
                "status": aggregate.last.status,
                "reason": aggregate.last.reason,
                "method": aggregate.last.method,
                "path": aggregate.last.path,
                "remote": remote,
            });
            let _ = self
                .record("trailmark.auth-failure", &aggregate.key.who, data)
                .await;
        }
    }

    /// Journal the admin action about to run; a 503 answer when it cannot be.
    async fn record_admin_action(
        &self,
        principal: &Principal,
        asked: &Asked,
        body: &[u8],
    ) -> Result<(), Response> {
        let request_body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        let data = json!({
            "action": trailmark_auth::printable(asked.path.trim_start_matches("/v1/admin/"), REFLECT_CHARS),
            "method": asked.method.as_str(),
            "path": trailmark_auth::printable(&asked.path, REFLECT_CHARS),
            "request": request_body,
            "remote": asked.remote.map(|a| a.to_string()),
        });
        self.record("trailmark.admin-action", &principal.name, data)
            .await
            .map_err(|()| {
                Early {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    aws_code: "ThrottlingException",
                    code: "unavailable",
                    message: "the admin action was not run: its audit record could not be journaled; retry later".to_owned(),
                }
                .answer(asked.aws)
            })
    }

    /// Journal one audit event about the host itself, on the reserved path.
    async fn record(&self, entity_type: &str, author: &str, data: Value) -> Result<(), ()> {
        let event = Event {
            account: self.account.clone(),
            region: self.region.clone(),
            ..crate::ingest::host_record(entity_type, "insert", author, data)
        };
        let recorded = self.intake.submit_host(vec![event]).await;
        if recorded.is_ok() {
            self.metrics.host_records.fetch_add(1, Relaxed);
        }
        recorded.map_err(|e| {
            self.metrics.audit_unrecorded.fetch_add(1, Relaxed);
            warn!(error = %e, entity_type, author, "cannot journal an audit event about this host");
        })
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
    fn only_healthz_and_readyz_are_open_and_each_route_needs_its_scope() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_scope(&get, "/healthz"), None);
        assert_eq!(required_scope(&get, "/readyz"), None);
        assert_eq!(open_route(&get, "/readyz"), Some(Some(Scope::Metrics)));
        assert_eq!(required_scope(&post, "/readyz"), Some(Scope::Admin));
        assert_eq!(required_scope(&post, "/"), Some(Scope::Put));
        assert_eq!(required_scope(&post, "/v1/events"), Some(Scope::Put));
        assert_eq!(required_scope(&get, "/v1/events/abc"), Some(Scope::Query));
        assert_eq!(required_scope(&get, "/v1/changes"), Some(Scope::Query));
        assert_eq!(required_scope(&get, "/v1/export"), Some(Scope::Query));
        assert_eq!(required_scope(&post, "/v1/export"), Some(Scope::Admin));
        assert_eq!(
            required_scope(&get, "/v1/entities/book/1/history"),
            Some(Scope::Query)
        );
        assert_eq!(required_scope(&get, "/metrics"), Some(Scope::Metrics));
        assert_eq!(required_scope(&post, "/metrics"), Some(Scope::Admin));
        for admin in ["/v1/admin/status", "/v1/admin/reload", "/nope"] {
            assert_eq!(required_scope(&get, admin), Some(Scope::Admin), "{admin}");
        }
    }
}

#[cfg(test)]
mod guard_tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;
    use trailmark_auth::{AuthOptions, TokenSpec, hash_token};

    use super::*;
    use crate::ingest::{BoxFuture, IntakeError};

    const ADMIN: &str = "tmk_admin_token_for_guard_tests_0123456789";

    /// An intake whose journal refuses every write, or takes every one.
    struct Journal {
        fails: bool,
        written: std::sync::Mutex<Vec<Event>>,
    }

    impl Intake for Journal {
        fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
            self.submit_host(events)
        }
        fn submit_host(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
            let result = if self.fails {
                Err(IntakeError::Unavailable("journal closed".into()))
            } else {
                self.written
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(events);
                Ok(())
            };
            Box::pin(async move { result })
        }
        fn get(&self, _: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
            Box::pin(async { Ok(None) })
        }
    }

    const KEY_ID: &str = "TMKGUARDTESTKEY00001";

    fn app(journal: Arc<Journal>, ran: Arc<AtomicBool>) -> Router {
        app_with_budget(journal, ran, 4 << 20)
    }

    fn app_with_budget(journal: Arc<Journal>, ran: Arc<AtomicBool>, budget: usize) -> Router {
        let authenticator = Authenticator::new(
            &[TokenSpec {
                name: "admin".into(),
                hash: hash_token(ADMIN),
                scopes: vec![Scope::Admin],
                sources: vec![],
            }],
            &[trailmark_auth::AccessKeySpec {
                id: KEY_ID.into(),
                name: None,
                secret: Some(trailmark_auth::Secret::new("not-a-real-secret")),
                secret_file: None,
                scopes: vec![Scope::Admin],
                sources: vec![],
            }],
            AuthOptions::default(),
        )
        .expect("valid credentials");
        let state = Arc::new(AuthState {
            authenticator: Arc::new(authenticator),
            intake: journal,
            metrics: Arc::new(Metrics::default()),
            max_body_bytes: 1 << 20,
            body_budget: Arc::new(Semaphore::new(budget)),
            refusals: RefusalLog::new(Duration::from_secs(60), 100),
            account: "000000000000".into(),
            region: "local".into(),
        });
        Router::new()
            .route(
                "/v1/admin/dlq/purge",
                post(move || async move {
                    ran.store(true, Relaxed);
                    "purged"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(state, guard))
    }

    fn journal(fails: bool) -> Arc<Journal> {
        Arc::new(Journal {
            fails,
            written: Default::default(),
        })
    }

    fn purge(token: Option<&str>, body: Body) -> Request {
        let mut builder = Request::post("/v1/admin/dlq/purge");
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        builder.body(body).expect("request")
    }

    #[tokio::test]
    async fn an_admin_action_whose_record_cannot_be_journaled_does_not_run() {
        let journal = journal(true);
        let ran = Arc::new(AtomicBool::new(false));
        let response = app(journal, ran.clone())
            .oneshot(purge(Some(ADMIN), Body::from("{\"ids\":[1]}")))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!ran.load(Relaxed), "the purge did not run");
    }

    #[tokio::test]
    async fn an_admin_action_is_journaled_before_it_runs() {
        let journal = journal(false);
        let ran = Arc::new(AtomicBool::new(false));
        let response = app(journal.clone(), ran.clone())
            .oneshot(purge(Some(ADMIN), Body::from("{\"ids\":[1]}")))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(ran.load(Relaxed));
        let written = journal.written.lock().expect("lock");
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].source, "trailmark");
        assert!(
            written[0].detail.contains("\"ids\":[1]"),
            "{}",
            written[0].detail
        );
    }

    fn amz_now() -> String {
        time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .expect("formats")
    }

    #[tokio::test]
    async fn a_signed_body_past_the_budget_is_refused_with_503_unread() {
        let journal = journal(false);
        let ran = Arc::new(AtomicBool::new(false));
        // Room for 512 KiB of signed bodies; the body limit is 1 MiB.
        let app = app_with_budget(journal, ran.clone(), 512 << 10);
        let amz_date = amz_now();
        // A known key, a fresh date and the right scope pass the header
        // phase; the (wrong) signature would only be checked on the body.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={KEY_ID}/{}/us-east-1/events/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            &amz_date[..8],
            "0".repeat(64)
        );
        let read = Arc::new(AtomicBool::new(false));
        let request = Request::post("/v1/admin/dlq/purge")
            .header("authorization", &authorization)
            .header("x-amz-date", &amz_date)
            .header("host", "localhost")
            .header("content-length", (1 << 20).to_string())
            .body(Body::new(Watched(read.clone(), Some(1 << 20))))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!read.load(Relaxed), "refused before reading");
        assert!(!ran.load(Relaxed));

        // A body that fits is read, and its bad signature refused.
        let request = Request::post("/v1/admin/dlq/purge")
            .header("authorization", &authorization)
            .header("x-amz-date", &amz_date)
            .header("host", "localhost")
            .body(Body::from("{}"))
            .expect("request");
        let response = app.oneshot(request).await.expect("answer");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!ran.load(Relaxed));
    }

    /// A body (of a known size, when given) that notes whether anyone read it.
    struct Watched(Arc<AtomicBool>, Option<u64>);

    impl http_body::Body for Watched {
        type Data = axum::body::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            self.0.store(true, Relaxed);
            std::task::Poll::Ready(None)
        }
        fn size_hint(&self) -> http_body::SizeHint {
            self.1
                .map(http_body::SizeHint::with_exact)
                .unwrap_or_default()
        }
    }

    #[tokio::test]
    async fn requests_refused_on_their_headers_have_no_byte_of_body_read() {
        let journal = journal(false);
        let ran = Arc::new(AtomicBool::new(false));
        let app = app(journal.clone(), ran.clone());
        let amz_date = amz_now();
        let sigv4 = format!(
            "AWS4-HMAC-SHA256 Credential=TMKNOSUCHKEY/{}/us-east-1/events/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            &amz_date[..8],
            "0".repeat(64)
        );
        for (authorization, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (
                Some("Bearer tmk_wrong".to_owned()),
                StatusCode::UNAUTHORIZED,
            ),
            (Some(sigv4), StatusCode::UNAUTHORIZED),
        ] {
            let read = Arc::new(AtomicBool::new(false));
            let mut builder = Request::post("/v1/admin/dlq/purge")
                .header("content-length", "2097152")
                .header("x-amz-date", &amz_date)
                .header("host", "localhost");
            if let Some(a) = &authorization {
                builder = builder.header("authorization", a);
            }
            let request = builder
                .body(Body::new(Watched(read.clone(), None)))
                .expect("request");
            let response = app.clone().oneshot(request).await.expect("answer");
            assert_eq!(response.status(), status, "{authorization:?}");
            assert!(!read.load(Relaxed), "{authorization:?}: body untouched");
        }
        assert!(!ran.load(Relaxed));
        // The first refusal from this (unknown) address is journaled, the
        // others counted into its interval's aggregate.
        assert_eq!(journal.written.lock().expect("lock").len(), 1);
    }
}
