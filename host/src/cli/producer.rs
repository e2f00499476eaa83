//! The producer side, for `trailmark events put FILE|-`: read entries in the
//! AWS CLI's `put-events --entries` JSON format and send them with the real
//! `aws-sdk-eventbridge` client, to a Trailmark host or to EventBridge itself.
//!
//! Credentials (the request is signed with SigV4, as for AWS): the
//! [`AccessKey`] given (the CLI passes the one a server created in its data
//! directory), else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`) when both are set in the environment, else fixed
//! dummy credentials, which servers refuse with a clear 401. Region: `AWS_REGION`/`AWS_DEFAULT_REGION`, else
//! `us-east-1`. No profile files or instance metadata are consulted.
//!
//! A Trailmark host also takes a bearer token with the `put` scope on the
//! same endpoint: [`sdk_client_with_token`] sends it instead of a signature,
//! through the same SDK client (batching, retries and error handling alike).

use std::io::Read;
use std::path::Path;

use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, environment::EnvironmentVariableCredentialsProvider};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_eventbridge::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Entries per PutEvents call, EventBridge's maximum.
pub const BATCH_SIZE: usize = 10;

/// Region used when the environment names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// One entry to put, as the AWS CLI takes it for `put-events --entries`:
/// `{"Source", "DetailType", "Detail", "Resources", "Time", "EventBusName",
/// "TraceHeader"}`. Unknown fields are refused, as the CLI refuses them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutEntry {
    /// Event source.
    pub source: Option<String>,
    /// Event detail type.
    pub detail_type: Option<String>,
    /// Detail as JSON text. In files, a JSON object is also taken and sent as
    /// its compact text.
    #[serde(default, deserialize_with = "detail_text")]
    pub detail: Option<String>,
    /// Resources the event concerns.
    pub resources: Option<Vec<String>>,
    /// Event time. In files: epoch seconds (a number) or RFC 3339 text.
    #[serde(default, deserialize_with = "entry_time")]
    pub time: Option<OffsetDateTime>,
    /// Target bus (a Trailmark host has one bus and ignores it).
    pub event_bus_name: Option<String>,
    /// X-Ray trace header (a Trailmark host ignores it).
    pub trace_header: Option<String>,
}

/// The result for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged, rename_all_fields = "kebab-case")]
pub enum PutOutcome {
    /// Accepted under this event id.
    Accepted {
        /// The id the receiver assigned.
        event_id: String,
    },
    /// Refused. `code` is the entry's `ErrorCode`, or the request's error code
    /// when the whole call failed (e.g. `ThrottlingException`), `NotSent` when
    /// an earlier call could not reach the endpoint, or `RequestFailed`.
    Failed {
        /// Error code.
        error_code: String,
        /// Error message.
        error_message: String,
    },
}

/// Per-entry results of a put, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PutSummary {
    /// One outcome per input entry, in input order.
    pub entries: Vec<PutOutcome>,
}

impl PutSummary {
    /// How many entries were accepted.
    pub fn accepted(&self) -> usize {
        self.entries
            .iter()
            .filter(|outcome| matches!(outcome, PutOutcome::Accepted { .. }))
            .count()
    }

    /// How many entries failed.
    pub fn failed(&self) -> usize {
        self.entries.len() - self.accepted()
    }
}

/// Why a put could not run at all. Per-entry and per-call failures are not
/// errors: they are reported in [`PutSummary`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("endpoint {0:?} is not an http:// or https:// URL")]
    InvalidEndpoint(String),
    /// The entries file could not be read.
    #[error("cannot read entries from {path}: {source}")]
    Read {
        /// The path, or `-` for standard input.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The entries are not the AWS CLI `--entries` JSON format.
    #[error("entries are not a JSON array of PutEvents entries: {0}")]
    Parse(#[from] serde_json::Error),
    /// There were no entries to put.
    #[error("no entries to put")]
    NoEntries,
}

/// Parse entries in the AWS CLI `--entries` format (a JSON array of entries).
pub fn parse_entries(json: &str) -> Result<Vec<PutEntry>, ClientError> {
    Ok(serde_json::from_str(json)?)
}

/// Read entries from a file, or from standard input when `path` is `-`.
pub fn read_entries(path: &str) -> Result<Vec<PutEntry>, ClientError> {
    let read_error = |source| ClientError::Read {
        path: path.to_owned(),
        source,
    };
    let text = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_error)?;
        text
    } else {
        std::fs::read_to_string(Path::new(path)).map_err(read_error)?
    };
    parse_entries(&text)
}

/// An access key pair to sign requests with.
#[derive(Clone)]
pub struct AccessKey {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"***")
            .finish()
    }
}

/// An EventBridge client for `endpoint`, on rustls with ring (no aws-lc), with
/// the credentials and region described in the module docs.
pub async fn sdk_client(endpoint: &str, key: Option<AccessKey>) -> Result<Client, ClientError> {
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(ClientError::InvalidEndpoint(endpoint.to_owned()));
    }
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(DEFAULT_REGION);
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .endpoint_url(endpoint)
        .region(region);
    let loader = if let Some(key) = key {
        loader.credentials_provider(Credentials::new(
            key.id,
            key.secret,
            None,
            None,
            "trailmark-access-key",
        ))
    } else if env_has_credentials() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader.credentials_provider(Credentials::new(
            "trailmark",
            "trailmark",
            None,
            None,
            "trailmark-dummy",
        ))
    };
    Ok(Client::new(&loader.load().await))
}

fn env_has_credentials() -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

/// An EventBridge client for a Trailmark `endpoint` that authenticates with
/// the bearer `token` instead of a SigV4 signature (Trailmark's own scoped
/// tokens; AWS itself accepts no such thing).
pub async fn sdk_client_with_token(endpoint: &str, token: &str) -> Result<Client, ClientError> {
    let signed = sdk_client(endpoint, None).await?;
    let config = signed
        .config()
        .to_builder()
        .interceptor(BearerToken(format!("Bearer {token}")))
        .build();
    Ok(Client::from_conf(config))
}

/// Replaces the signature the SDK computed with a bearer token, after
/// signing and before the request goes out.
struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

impl Intercept for BearerToken {
    fn name(&self) -> &'static str {
        "TrailmarkBearerToken"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let headers = context.request_mut().headers_mut();
        headers.remove("x-amz-security-token");
        headers.insert("authorization", self.0.clone());
        Ok(())
    }
}

/// Put `entries` to the EventBridge-compatible `endpoint`, in calls of
/// [`BATCH_SIZE`], and report every entry's outcome in input order.
pub async fn put_events_via_sdk(
    endpoint: &str,
    key: Option<AccessKey>,
    entries: Vec<PutEntry>,
) -> Result<PutSummary, ClientError> {
    let client = sdk_client(endpoint, key).await?;
    put_events_with_client(&client, entries).await
}

/// Put `entries` with an existing client, in calls of [`BATCH_SIZE`].
///
/// A call that fails as a whole (e.g. throttled after the SDK's retries)
/// marks its entries failed with the call's error code and the next calls go
/// on; a call that cannot reach the endpoint at all marks the remaining
/// entries `NotSent` and stops.
pub async fn put_events_with_client(
    client: &Client,
    entries: Vec<PutEntry>,
) -> Result<PutSummary, ClientError> {
    if entries.is_empty() {
        return Err(ClientError::NoEntries);
    }
    let total = entries.len();
    let mut summary = PutSummary::default();
    for batch in entries.chunks(BATCH_SIZE) {
        let request: Vec<_> = batch.iter().map(request_entry).collect();
        match client.put_events().set_entries(Some(request)).send().await {
            Ok(output) => {
                let results = output.entries();
                for index in 0..batch.len() {
                    summary.entries.push(match results.get(index) {
                        Some(result) => match result.event_id() {
                            Some(id) => PutOutcome::Accepted {
                                event_id: id.to_owned(),
                            },
                            None => failed(
                                result.error_code().unwrap_or("Unknown"),
                                result.error_message().unwrap_or_default(),
                            ),
                        },
                        None => {
                            failed("MissingResult", "the response has no result for this entry")
                        }
                    });
                }
            }
            Err(error) => {
                let unreachable = matches!(
                    error,
                    SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
                );
                let code = error.code().unwrap_or("RequestFailed").to_owned();
                let message = error
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| DisplayErrorContext(&error).to_string());
                tracing::warn!(code = %code, error = %DisplayErrorContext(&error), "PutEvents call failed");
                for _ in batch {
                    summary.entries.push(failed(&code, &message));
                }
                if unreachable {
                    while summary.entries.len() < total {
                        summary.entries.push(failed(
                            "NotSent",
                            "not sent: an earlier call could not reach the endpoint",
                        ));
                    }
                    break;
                }
            }
        }
    }
    Ok(summary)
}

fn failed(code: &str, message: &str) -> PutOutcome {
    PutOutcome::Failed {
        error_code: code.to_owned(),
        error_message: message.to_owned(),
    }
}

fn request_entry(entry: &PutEntry) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .set_source(entry.source.clone())
        .set_detail_type(entry.detail_type.clone())
        .set_detail(entry.detail.clone())
        .set_resources(entry.resources.clone())
        .set_time(
            entry.time.map(|time| {
                DateTime::from_secs_and_nanos(time.unix_timestamp(), time.nanosecond())
            }),
        )
        .set_event_bus_name(entry.event_bus_name.clone())
        .set_trace_header(entry.trace_header.clone())
        .build()
}

fn detail_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(value @ Value::Object(_)) => Some(value.to_string()),
        Some(_) => {
            return Err(serde::de::Error::custom(
                "Detail must be JSON text or a JSON object",
            ));
        }
    })
}

fn entry_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => {
            let seconds = number
                .as_f64()
                .ok_or_else(|| D::Error::custom("Time is not a number of seconds"))?;
            let nanos = (seconds * 1e9).round();
            if !nanos.is_finite() {
                return Err(D::Error::custom("Time is out of range"));
            }
            OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
                .map(Some)
                .map_err(|e| D::Error::custom(format!("Time is out of range: {e}")))
        }
        Some(Value::String(text)) => OffsetDateTime::parse(&text, &Rfc3339)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("Time {text:?} is not RFC 3339: {e}"))),
        Some(_) => Err(D::Error::custom(
            "Time must be epoch seconds or an RFC 3339 string",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aws_cli_entries_format() {
        let entries = parse_entries(
            r#"[{"Source": "com.example.books", "DetailType": "Object State Change",
                 "Detail": "{\"operation\": \"insert\"}", "Resources": ["arn:aws:x"],
                 "Time": 1764070101, "EventBusName": "default"},
                {"Source": "s", "DetailType": "t", "Detail": {"a": 1},
                 "Time": "2026-01-02T03:04:05Z"}]"#,
        )
        .expect("valid entries");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].detail.as_deref(),
            Some(r#"{"operation": "insert"}"#)
        );
        assert_eq!(
            entries[0].time.map(OffsetDateTime::unix_timestamp),
            Some(1_764_070_101)
        );
        assert_eq!(entries[1].detail.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(
            entries[1].time.map(OffsetDateTime::unix_timestamp),
            Some(1_767_323_045)
        );
    }

    #[test]
    fn refuses_unknown_fields_and_bad_shapes() {
        for bad in [
            r#"[{"Source": "s", "Sauce": "typo"}]"#,
            r#"{"Source": "s"}"#,
            r#"[{"Detail": [1]}]"#,
            r#"[{"Time": "yesterday"}]"#,
        ] {
            assert!(
                matches!(parse_entries(bad), Err(ClientError::Parse(_))),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_non_http_endpoints() {
        let error = put_events_via_sdk("localhost:8080", None, vec![PutEntry::default()])
            .await
            .expect_err("no scheme");
        assert!(matches!(error, ClientError::InvalidEndpoint(_)));
    }
}
