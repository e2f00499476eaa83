//! A fire as an event: source `trailmark`, detail-type `Correlation Match`,
//! its id the fire's own deterministic id, so that a replay re-creates the
//! same event and nothing alerts twice.

use serde_json::{Map, Value, json};
use trailmark_backends::Event;
use trailmark_correlate::Fire;

use crate::rules::correlation::{FIRE_DETAIL_TYPE, FIRE_SOURCE};
use trailmark_backend_api::when::format_ms;

/// The account and region a fire's envelope carries: the server's own
/// (`[server] account` and `region`), as in every event it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireOrigin {
    /// Account id.
    pub account: String,
    /// Region.
    pub region: String,
}

impl Default for FireOrigin {
    /// The configuration's defaults: what an offline run, with no server
    /// configuration, puts in its fires.
    fn default() -> Self {
        Self {
            account: "000000000000".into(),
            region: "local".into(),
        }
    }
}

/// A fire's detail.
fn fire_detail(fire: &Fire) -> Value {
    let group: Map<String, Value> = fire
        .group
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "rule": fire.rule,
        "fire-id": fire.id,
        "group": group,
        "count": fire.count,
        "first": format_ms(fire.first),
        "last": format_ms(fire.last),
        "ts": fire.at,
        "events": fire.events,
    })
}

/// A fire as the event the server journals.
pub fn fire_event(fire: &Fire, origin: &FireOrigin) -> Event {
    Event {
        id: fire.id.clone(),
        version: "0".to_owned(),
        source: FIRE_SOURCE.to_owned(),
        detail_type: FIRE_DETAIL_TYPE.to_owned(),
        time: format_ms(fire.at),
        account: origin.account.clone(),
        region: origin.region.clone(),
        resources: Vec::new(),
        detail: fire_detail(fire).to_string(),
    }
}

/// The EventBridge envelope of a fire.
pub fn fire_envelope(fire: &Fire, origin: &FireOrigin) -> Value {
    json!({
        "version": "0",
        "id": fire.id,
        "detail-type": FIRE_DETAIL_TYPE,
        "source": FIRE_SOURCE,
        "account": origin.account,
        "time": format_ms(fire.at),
        "region": origin.region,
        "resources": [],
        "detail": fire_detail(fire),
    })
}

/// Whether an event is a fire (correlation does not count fires twice:
/// the engine feeds them to the correlations over them itself).
pub fn is_fire(event: &Event) -> bool {
    event.is_correlation_match()
}
