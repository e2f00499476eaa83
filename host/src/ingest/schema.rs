//! How the ingest routes' request and answer bodies look, for the OpenAPI
//! document ([`crate::server::openapi`]). PutEvents is read by hand for
//! speed ([`super::put_events`]) and the native entry through a `Value`, so
//! these types describe what those readers accept; the schemathesis run in
//! `.ci/run` sends what they describe and checks the answers against it.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

/// One `PutEventsRequestEntry`, as the AWS API reference names its fields.
/// `EventBusName`, `TraceHeader` and unknown fields are accepted and ignored.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
pub(crate) struct PutEventsEntry {
    /// The event's source, e.g. `com.example.books` (`trailmark` is reserved).
    #[schema(example = "com.example.books")]
    source: Option<String>,
    /// The detail type; audit events use `Object State Change`.
    #[schema(example = "Object State Change")]
    detail_type: Option<String>,
    /// The detail: a JSON object, as text. (As in AWS's API, Source,
    /// DetailType and Detail are optional in the schema: an entry missing
    /// one is refused in its result entry, with 200.)
    #[schema(
        example = r#"{"entity-type":"book","entity-id":"42","operation":"insert","ts":1732533000000,"author":"alice","data":{"title":"Dune"}}"#
    )]
    detail: Option<String>,
    /// ARNs or other resource names the event concerns.
    resources: Option<Vec<String>>,
    /// When it happened, in seconds since the epoch (what the AWS SDKs
    /// send; an RFC 3339 text is accepted too); the host's time when absent.
    time: Option<f64>,
    /// Accepted and ignored (Trailmark has one bus).
    event_bus_name: Option<String>,
}

/// `PutEvents` request: 1 to 10 entries (the limit is configurable).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
pub(crate) struct PutEventsInput {
    /// The events: 1 to 10 (the default `[ingest] max-entries-per-put`).
    #[schema(min_items = 1, max_items = 10)]
    entries: Vec<PutEventsEntry>,
}

/// One entry of `POST /v1/events`, in the kebab-case names of the
/// EventBridge envelope. The host assigns `id`, `version`, `account` and
/// `region`; an entry naming them, or any other field, is refused.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NativeEntryInput {
    /// The event's source, e.g. `com.example.books`: any text but the
    /// reserved `trailmark` and `aws.*` (what the pattern says).
    #[schema(
        example = "com.example.books",
        pattern = "^([^at][\\s\\S]*|a|a[^w][\\s\\S]*|aw|aw[^s][\\s\\S]*|aws|aws[^.][\\s\\S]*|t|t[^r][\\s\\S]*|tr|tr[^a][\\s\\S]*|tra|tra[^i][\\s\\S]*|trai|trai[^l][\\s\\S]*|trail|trail[^m][\\s\\S]*|trailm|trailm[^a][\\s\\S]*|trailma|trailma[^r][\\s\\S]*|trailmar|trailmar[^k][\\s\\S]*|trailmark[\\s\\S]+)$"
    )]
    source: String,
    /// The detail type; audit events use `Object State Change`.
    #[schema(example = "Object State Change", min_length = 1)]
    detail_type: String,
    /// The detail, a JSON object.
    #[schema(value_type = Object)]
    detail: Value,
    /// Resource names.
    resources: Option<Vec<String>>,
    /// RFC 3339; the host's time when absent.
    #[schema(
        pattern = "^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    time: Option<String>,
}

/// The body of `POST /v1/events`: one entry, or an array of them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum NativeInput {
    /// One event.
    One(NativeEntryInput),
    /// Several, taken whole or not at all.
    Many(NativeBatch),
}

/// 1 to 10 entries (the default `[ingest] max-entries-per-put`).
#[derive(Serialize)]
#[allow(dead_code)]
pub(crate) struct NativeBatch(Vec<NativeEntryInput>);

impl PartialSchema for NativeBatch {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(NativeEntryInput::schema())
            .min_items(Some(1))
            .max_items(Some(10))
            .description(Some(
                "1 to 10 entries (the default `[ingest] max-entries-per-put`).",
            ))
            .into()
    }
}

impl ToSchema for NativeBatch {}

/// An event in the EventBridge envelope, `detail` as an object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub(crate) struct Envelope {
    /// Always `0`.
    version: String,
    /// The id the host gave it.
    id: String,
    /// Its detail type.
    detail_type: String,
    /// Its source.
    source: String,
    /// The account configured for the host.
    account: String,
    /// When it happened (RFC 3339).
    time: String,
    /// The region configured for the host.
    region: String,
    /// Resource names.
    resources: Vec<String>,
    /// The detail.
    detail: Value,
}
