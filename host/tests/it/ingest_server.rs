//! The ingest router served in-process, for the `ingest_*` and
//! `fuzz_regressions` tests: a real ingest server on a free loopback port
//! over the recording intake the handler tests use too, and plain HTTP and
//! SDK clients to talk to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use trailmark::ingest::{BoxFuture, IngestLimits, IngestState, Intake, IntakeError, router};

#[path = "../../src/ingest/tests/recorder.rs"]
mod recorder;
pub(crate) use recorder::Recorder;

/// A running ingest server; stopped when dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub recorder: Arc<Recorder>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serve with the default (EventBridge) limits.
    pub(crate) async fn start() -> Self {
        Self::start_with(IngestLimits::default()).await
    }

    /// Serve with the given limits. The listener is bound before this
    /// returns, so connections queue until the server accepts them.
    pub(crate) async fn start_with(limits: IngestLimits) -> Self {
        let recorder = Arc::new(Recorder::default());
        let state = IngestState {
            intake: recorder.clone(),
            limits,
            account: "111122223333".to_owned(),
            region: "eu-central-1".to_owned(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let task = tokio::spawn(async move {
            axum::serve(listener, router(state))
                .await
                .expect("test server runs");
        });
        Self {
            addr,
            recorder,
            task,
        }
    }

    /// `http://127.0.0.1:port`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP answer with its body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Send one HTTP/1.1 request and read the whole answer.
pub(crate) async fn request(
    server: &TestServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.endpoint()));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(body.into()))
        .expect("valid test request");
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("answer within 30 s")
        .expect("server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// `POST /` as the AWS SDKs send PutEvents.
pub(crate) async fn put_events_raw(server: &TestServer, body: impl Into<Bytes>) -> Answer {
    request(
        server,
        Method::POST,
        "/",
        &[
            ("x-amz-target", "AWSEvents.PutEvents"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        body,
    )
    .await
}

/// A PutEvents entry in the wire format.
pub(crate) fn wire_entry(n: usize) -> Value {
    serde_json::json!({
        "Source": "com.example.books",
        "DetailType": "Object State Change",
        "Detail": format!(r#"{{"entity-type": "book", "entity-id": "{n}", "operation": "insert"}}"#),
    })
}

/// Check that the server still takes a valid PutEvents call.
pub(crate) async fn assert_still_serving(server: &TestServer) {
    let before = server.recorder.events().len();
    let body = serde_json::json!({ "Entries": [wire_entry(0)] }).to_string();
    let answer = put_events_raw(server, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["FailedEntryCount"], 0);
    assert_eq!(server.recorder.events().len(), before + 1);
}

/// The AWS SDK client built by hand (not through `trailmark::cli::producer`):
/// rustls on ring, dummy credentials, fast retries.
pub(crate) fn raw_sdk_client(
    server: &TestServer,
    max_attempts: u32,
) -> aws_sdk_eventbridge::Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
        .endpoint_url(server.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}
