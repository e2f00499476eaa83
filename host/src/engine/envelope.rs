//! The EventBridge JSON envelope of an event, as patterns see it and as the
//! API returns it: `detail` as an object, not as text.

use serde::Serialize;
use serde_json::value::RawValue;
use trailmark_backends::Event;

/// The envelope's fields before `detail`, in EventBridge's order.
#[derive(Serialize)]
struct Head<'a> {
    version: &'a str,
    id: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    source: &'a str,
    account: &'a str,
    time: &'a str,
    region: &'a str,
    resources: &'a [String],
}

/// The event as EventBridge JSON bytes. `detail` is inserted verbatim when it
/// is valid JSON (ingest guarantees an object); otherwise as `{}`.
pub fn to_json(event: &Event) -> Vec<u8> {
    let detail = serde_json::from_str::<&RawValue>(&event.detail).map_or("{}", RawValue::get);
    let mut out = Vec::new();
    write(event, detail, &mut out);
    out
}

/// The event as EventBridge JSON bytes into `out` (cleared first), like
/// [`to_json`] but with `detail` inserted verbatim, unchecked: for a reader
/// that validates the whole envelope anyway (the rule matcher), so the
/// detail text is not parsed once more just to be copied.
pub fn write_for_matching(event: &Event, out: &mut Vec<u8>) {
    write(event, &event.detail, out);
}

/// The envelope of `event` with `detail` (JSON text) into `out`.
fn write(event: &Event, detail: &str, out: &mut Vec<u8>) {
    out.clear();
    let head = Head {
        version: &event.version,
        id: &event.id,
        detail_type: &event.detail_type,
        source: &event.source,
        account: &event.account,
        time: &event.time,
        region: &event.region,
        resources: &event.resources,
    };
    serde_json::to_writer(&mut *out, &head).expect("serializing plain strings cannot fail");
    out.pop(); // the closing `}`
    out.extend_from_slice(b",\"detail\":");
    out.extend_from_slice(detail.as_bytes());
    out.push(b'}');
}

/// The event as an EventBridge JSON value.
pub fn to_value(event: &Event) -> serde_json::Value {
    serde_json::from_slice(&to_json(event)).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_an_object() {
        let e = Event {
            id: "1".into(),
            version: "0".into(),
            source: "s".into(),
            detail_type: "t".into(),
            time: "2026-11-25T10:00:00Z".into(),
            account: "000000000000".into(),
            region: "local".into(),
            resources: vec![],
            detail: r#"{"a":1}"#.into(),
        };
        let v = to_value(&e);
        assert_eq!(v["detail"]["a"], 1);
        assert_eq!(v["detail-type"], "t");
        assert_eq!(
            String::from_utf8(to_json(&e)).expect("UTF-8"),
            r#"{"version":"0","id":"1","detail-type":"t","source":"s","account":"000000000000","time":"2026-11-25T10:00:00Z","region":"local","resources":[],"detail":{"a":1}}"#
        );
        let mut out = b"left over".to_vec();
        write_for_matching(&e, &mut out);
        assert_eq!(out, to_json(&e), "the same bytes when the detail is JSON");
        let broken = Event {
            detail: "{\"a\":".into(),
            ..e
        };
        assert_eq!(to_value(&broken)["detail"], serde_json::json!({}));
    }
}
