//! A fire as an event: source `trailmark`, detail-type `Correlation Match`,
//! its id the fire's own deterministic id, so that a replay re-creates the
//! same event and nothing alerts twice.

use serde_json::{Map, Value, json};
use trailmark_correlate::Fire;

use crate::rules::correlation::{FIRE_DETAIL_TYPE, FIRE_SOURCE};
use crate::timespec::format_ms;

/// The EventBridge envelope of a fire.
pub fn fire_envelope(fire: &Fire) -> Value {
    let group: Map<String, Value> = fire
        .group
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "version": "0",
        "id": fire.id,
        "detail-type": FIRE_DETAIL_TYPE,
        "source": FIRE_SOURCE,
        "account": "000000000000",
        "time": format_ms(fire.at),
        "region": "local",
        "resources": [],
        "detail": {
            "rule": fire.rule,
            "fire-id": fire.id,
            "group": group,
            "count": fire.count,
            "first": format_ms(fire.first),
            "last": format_ms(fire.last),
            "ts": fire.at,
            "events": fire.events,
        }
    })
}

/// Whether an envelope is a fire (correlation does not count fires twice:
/// the engine feeds them to the correlations over them itself).
pub fn is_fire(envelope: &Value) -> bool {
    envelope.get("source").and_then(Value::as_str) == Some(FIRE_SOURCE)
        && envelope.get("detail-type").and_then(Value::as_str) == Some(FIRE_DETAIL_TYPE)
}
