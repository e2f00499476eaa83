//! The EventBridge JSON envelope of an event, as patterns see it and as the
//! API returns it: `detail` as an object, not as text.

use serde::Serialize;
use serde_json::value::RawValue;
use trailmark_backends::Event;

#[derive(Serialize)]
struct Envelope<'a> {
    version: &'a str,
    id: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    source: &'a str,
    account: &'a str,
    time: &'a str,
    region: &'a str,
    resources: &'a [String],
    detail: &'a RawValue,
}

/// The event as EventBridge JSON bytes. `detail` is inserted verbatim when it
/// is valid JSON (ingest guarantees an object); otherwise as `{}`.
pub fn to_json(event: &Event) -> Vec<u8> {
    let empty: &RawValue = serde_json::from_str("{}").expect("`{}` is JSON");
    let detail: &RawValue = serde_json::from_str(&event.detail).unwrap_or(empty);
    let envelope = Envelope {
        version: &event.version,
        id: &event.id,
        detail_type: &event.detail_type,
        source: &event.source,
        account: &event.account,
        time: &event.time,
        region: &event.region,
        resources: &event.resources,
        detail,
    };
    serde_json::to_vec(&envelope).expect("serializing plain strings cannot fail")
}

/// The fields of the envelope before `detail`, in [`Envelope`]'s order.
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

/// The event as EventBridge JSON bytes into `out` (cleared first), like
/// [`to_json`] but with `detail` inserted verbatim, unchecked: for a reader
/// that validates the whole envelope anyway (the rule matcher), so the
/// detail text is not parsed once more just to be copied.
pub fn write_for_matching(event: &Event, out: &mut Vec<u8>) {
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
    out.extend_from_slice(event.detail.as_bytes());
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
        let mut out = b"left over".to_vec();
        write_for_matching(&e, &mut out);
        assert_eq!(out, to_json(&e), "the same bytes when the detail is JSON");
    }
}
