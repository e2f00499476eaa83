//! Every read of the trail is audited: one `Trail Access` record per
//! authenticated request that reads trail data, journaled before the data
//! is released.
//!
//! [`audit`] runs inside the auth guard (it sees the request's
//! [`Principal`]). For a trail read ([`is_trail_read`]: changes, history,
//! an event by id, export, dead letters, the access log itself) it runs the
//! handler, then journals one event on the host's access path
//! ([`Intake::submit_access`]: written with the journal's group commit,
//! the read does not wait for its own fsync) and only then answers:
//!
//! ```json
//! {"source": "trailmark", "detail-type": "Trail Access",
//!  "detail": {"request-id": "...", "principal": "ci", "auth": "bearer-token",
//!             "at": "...", "method": "GET", "route": "/v1/changes",
//!             "path": "/v1/changes", "query": "entity-type=book&limit=10",
//!             "status": 200, "results": 10, "bytes": 5120,
//!             "remote": "127.0.0.1:50312", "user-agent": "curl/8.5.0"}}
//! ```
//!
//! When the journal cannot take the record (full disk, a poisoned or closed
//! journal, a full queue) the read fails closed: 503 with the reason, and
//! the data is not sent, as Vault refuses requests when no audit device
//! can write. An export's record carries its query and, as it streams, no
//! count or size (never its rows). Access records are events, so rules can
//! match them (`source: [trailmark]`, `detail-type: [Trail Access]`); the
//! standard `host-records` rule matches only `Object State Change`, so they
//! are not stored as change records: `GET /v1/access` reads them from the
//! journal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trailmark_auth::{Principal, PrincipalKind};
use trailmark_backends::Event;

use crate::ingest::Intake;
use trailmark_backend_api::when::{format_ms, now_ms};

use trailmark_event::TRAIL_ACCESS;

/// Largest JSON answer read back to count its results; larger ones are
/// recorded without a count.
const COUNT_LIMIT: usize = 64 << 20;

/// Longest query, path or user agent put in a record.
const REFLECT_CHARS: usize = 1024;

/// What the access audit needs.
pub struct AccessAudit {
    /// The journal's access path.
    pub intake: Arc<dyn Intake>,
    /// Account id for the records' envelopes.
    pub account: String,
    /// Region for the records' envelopes.
    pub region: String,
    /// Counts reads refused for want of their record.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Whether a request reads trail data (and so is audited).
pub fn is_trail_read(method: &Method, path: &str) -> bool {
    method == Method::GET
        && (path == "/v1/changes"
            || path.starts_with("/v1/changes/")
            || path.starts_with("/v1/entities/")
            || path.starts_with("/v1/events/")
            || path == "/v1/export"
            || path == "/v1/admin/dlq"
            || path.starts_with("/v1/admin/dlq/")
            || path == "/v1/access")
}

/// How many results a read answered: put on its response by the handler
/// (`(Extension(ResultCount(n)), Json(..))`), so the audit records the
/// count without reading the answer back. Answers without it are read
/// back and counted ([`counted`]).
#[derive(Debug, Clone, Copy)]
pub struct ResultCount(pub u64);

/// Whether a viewer page shows trail data (and so is audited): the
/// search page, an entity's history, an event, the export download, the
/// live tail and the dead letters.
pub fn is_viewer_trail_read(method: &Method, path: &str) -> bool {
    method == Method::GET
        && (path == "/"
            || path.starts_with("/ui/entities/")
            || path.starts_with("/ui/events/")
            || path == "/ui/export"
            || path == "/ui/live"
            || path == "/ui/dead-letters")
}

/// The middleware for the API; see the [module docs](self).
pub async fn audit(
    State(state): State<Arc<AccessAudit>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_trail_read(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        // Not authenticated here (the guard answered, or an open route).
        return next.run(request).await;
    };
    let auth = match principal.kind {
        PrincipalKind::Token => "bearer-token",
        PrincipalKind::AccessKey => "sigv4",
    };
    audited(&state, &principal, auth, request, next).await
}

/// What the viewer's audit needs: the audit and the viewer's sessions.
pub struct ViewerAudit {
    /// Where access records go.
    pub audit: Arc<AccessAudit>,
    /// The viewer, whose session cookies say who reads.
    pub viewer: Arc<trailmark_viewer::ViewerState>,
}

/// The middleware for the viewer's pages: a page that shows trail data,
/// asked with a live session, is audited like an API read (`auth`:
/// `viewer-session`); without a session the viewer answers its sign-in
/// page, which shows nothing of the trail.
pub async fn audit_viewer(
    State(state): State<Arc<ViewerAudit>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_viewer_trail_read(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let Some(principal) = state.viewer.reader(request.headers()) else {
        return next.run(request).await;
    };
    audited(&state.audit, &principal, "viewer-session", request, next).await
}

/// Run the read, journal its access record, then answer (503 instead when
/// the record cannot be journaled).
async fn audited(
    state: &AccessAudit,
    principal: &Principal,
    auth: &str,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let request_id = uuid::Uuid::new_v4().to_string();
    let at = now_ms();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_owned());
    let query = normalized_query(request.uri().query());
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.to_string());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| trailmark_auth::printable(v, REFLECT_CHARS));
    let method = request.method().as_str().to_owned();
    let streamed = matches!(path.as_str(), "/v1/export" | "/ui/export" | "/ui/live");

    let response = next.run(request).await;
    let told = response.extensions().get::<ResultCount>().copied();
    let (mut response, results, bytes) = match told {
        _ if streamed => (response, None, None),
        Some(ResultCount(n)) => {
            let bytes = axum::body::HttpBody::size_hint(response.body()).exact();
            let results = if response.status().is_success() { n } else { 0 };
            (response, Some(results), bytes)
        }
        None => counted(response).await,
    };
    let detail = AccessDetail {
        request_id: &request_id,
        principal: trailmark_auth::printable(&principal.name, REFLECT_CHARS),
        auth,
        at: format_ms(at),
        method: &method,
        route: &route,
        path: trailmark_auth::printable(&path, REFLECT_CHARS),
        query: &query,
        status: response.status().as_u16(),
        results,
        bytes,
        remote: remote.as_deref(),
        user_agent: user_agent.as_deref(),
    };
    let event = Event {
        id: request_id.clone(),
        version: "0".to_owned(),
        source: crate::ingest::HOST_SOURCE.to_owned(),
        detail_type: TRAIL_ACCESS.to_owned(),
        time: format_ms(at),
        account: state.account.clone(),
        region: state.region.clone(),
        resources: Vec::new(),
        detail: serde_json::to_string(&detail).expect("plain record serializes"),
    };
    if let Err(e) = state.intake.submit_access(vec![event]).await {
        state
            .metrics
            .access_unrecorded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(error = %e, principal = %principal.name, route = %route,
                       "a read was refused: its access record could not be journaled");
        let message = format!(
            "the read was not answered: its access record could not be journaled ({e}); every \
             read of the trail is audited, so reads fail closed until the journal takes writes"
        );
        let mut refused = (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "unavailable", "message": message})),
        )
            .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return refused;
    }
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// An access record's detail, written straight to its JSON text (no
/// intermediate value: one is built per read).
#[derive(serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct AccessDetail<'a> {
    request_id: &'a str,
    principal: String,
    auth: &'a str,
    at: String,
    method: &'a str,
    route: &'a str,
    path: String,
    query: &'a str,
    status: u16,
    results: Option<u64>,
    bytes: Option<u64>,
    remote: Option<&'a str>,
    user_agent: Option<&'a str>,
}

/// The query string as `key=value` pairs, decoded, sorted, re-encoded:
/// the same query written two ways is recorded the same.
fn normalized_query(query: Option<&str>) -> String {
    let Some(query) = query else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = form_pairs(query);
    pairs.sort();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    trailmark_auth::printable(&text, REFLECT_CHARS)
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Read a JSON answer back to count its results (the length of its list,
/// or 1 for one object found); its size in bytes.
async fn counted(response: Response) -> (Response, Option<u64>, Option<u64>) {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, COUNT_LIMIT).await else {
        let failed = (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({"error": "Internal", "message": "the answer could not be read to audit it"}),
            ),
        )
            .into_response();
        return (failed, None, None);
    };
    let size = bytes.len() as u64;
    let results = if parts.status.is_success() {
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .map(|v| count(&v))
    } else {
        Some(0)
    };
    (
        Response::from_parts(parts, Body::from(bytes)),
        results,
        Some(size),
    )
}

fn count(answer: &Value) -> u64 {
    const LISTS: [&str; 5] = ["changes", "versions", "dead-letters", "records", "access"];
    LISTS
        .iter()
        .find_map(|k| answer.get(*k).and_then(Value::as_array))
        .map_or(1, |list| list.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::ingest::{BoxFuture, IntakeError};

    /// A journal that takes every access record, or refuses every one.
    struct Journal {
        refuses: bool,
        written: Mutex<Vec<Event>>,
    }

    impl Intake for Journal {
        fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
            let result = if self.refuses {
                Err(IntakeError::Unavailable(
                    "journal poisoned: disk full".into(),
                ))
            } else {
                self.written.lock().expect("lock").extend(events);
                Ok(())
            };
            Box::pin(async move { result })
        }
        fn get(&self, _: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
            Box::pin(async { Ok(None) })
        }
    }

    fn app(journal: Arc<Journal>, ran: Arc<AtomicBool>) -> Router {
        let principal = Principal {
            name: "ci".into(),
            kind: PrincipalKind::Token,
            scopes: vec![trailmark_auth::Scope::Query],
            sources: trailmark_auth::SourceFilter::default(),
        };
        Router::new()
            .route(
                "/v1/changes",
                get(move || async move {
                    ran.store(true, Relaxed);
                    axum::Json(json!({"changes": [{"a": 1}, {"a": 2}]}))
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(AccessAudit {
                    intake: journal,
                    account: "000000000000".into(),
                    region: "local".into(),
                    metrics: Arc::default(),
                }),
                audit,
            ))
            .layer(axum::Extension(principal))
    }

    async fn read(app: Router) -> Response {
        let request = Request::get("/v1/changes?limit=2")
            .header("user-agent", "test")
            .body(Body::empty())
            .expect("request");
        app.oneshot(request).await.expect("answer")
    }

    #[tokio::test]
    async fn a_read_whose_access_record_cannot_be_journaled_is_refused_with_503() {
        let journal = Arc::new(Journal {
            refuses: true,
            written: Mutex::default(),
        });
        let ran = Arc::new(AtomicBool::new(false));
        let response = read(app(journal, ran)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("changes"), "the data is not sent: {text}");
        assert!(
            text.contains("access record could not be journaled"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_read_is_answered_after_one_access_record_with_its_fields() {
        let journal = Arc::new(Journal {
            refuses: false,
            written: Mutex::default(),
        });
        let ran = Arc::new(AtomicBool::new(false));
        let response = read(app(journal.clone(), ran.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(ran.load(Relaxed));
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id")
            .to_owned();
        let written = journal.written.lock().expect("lock");
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].source, "trailmark");
        assert_eq!(written[0].detail_type, TRAIL_ACCESS);
        let detail: Value = serde_json::from_str(&written[0].detail).expect("JSON");
        assert_eq!(detail["request-id"], request_id);
        assert_eq!(detail["principal"], "ci");
        assert_eq!(detail["auth"], "bearer-token");
        assert_eq!(detail["route"], "/v1/changes");
        assert_eq!(detail["query"], "limit=2");
        assert_eq!(detail["status"], 200);
        assert_eq!(detail["results"], 2);
        assert!(detail["bytes"].as_u64().is_some_and(|b| b > 10), "{detail}");
        assert_eq!(detail["user-agent"], "test");
    }

    #[test]
    fn a_query_written_two_ways_is_recorded_the_same() {
        assert_eq!(
            normalized_query(Some("limit=10&entity-type=book")),
            normalized_query(Some("entity-type=b%6Fok&limit=10"))
        );
        assert_eq!(normalized_query(Some("q=a+b")), "q=a%20b");
        assert_eq!(normalized_query(None), "");
    }

    #[test]
    fn trail_reads_are_the_routes_that_show_trail_data() {
        let get = Method::GET;
        for path in [
            "/v1/changes",
            "/v1/entities/book/1/history",
            "/v1/events/abc",
            "/v1/export",
            "/v1/admin/dlq",
            "/v1/admin/dlq/3",
            "/v1/access",
        ] {
            assert!(is_trail_read(&get, path), "{path}");
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/v1/admin/status",
            "/v1/admin/rules",
        ] {
            assert!(!is_trail_read(&get, path), "{path}");
        }
        assert!(!is_trail_read(&Method::POST, "/v1/admin/dlq/replay"));
    }
}
