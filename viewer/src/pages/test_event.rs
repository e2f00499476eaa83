//! `GET`/`POST /ui/explain`: paste an event, see every live rule's verdict
//! on it. The POST carries the session's CSRF token like every form.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::event::verdict_views;
use super::{Remote, Shared, SignedIn, csrf_refused, render};
use crate::templates::TestEventPage;

/// `GET /ui/explain`: the empty form.
pub(crate) async fn test_event_form(who: SignedIn) -> Response {
    render(StatusCode::OK, &page(&who, String::new()))
}

fn page(who: &SignedIn, event: String) -> TestEventPage {
    TestEventPage {
        chrome: who.chrome(),
        event,
        error: None,
        tested: false,
        verdicts: Vec::new(),
    }
}

/// The form's fields.
#[derive(Deserialize)]
pub(crate) struct TestEventForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    event: String,
}

/// `POST /ui/explain`.
pub(crate) async fn test_event(
    State(state): Shared,
    Remote(remote): Remote,
    who: SignedIn,
    Form(form): Form<TestEventForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&state, &who, &form.csrf, "/ui/explain", remote) {
        return refused;
    }
    let mut out = page(&who, form.event);
    let envelope = match as_envelope(&out.event) {
        Ok(envelope) => envelope,
        Err(error) => {
            out.error = Some(error);
            return render(StatusCode::BAD_REQUEST, &out);
        }
    };
    let trail = state.trail.clone();
    let rules = match tokio::task::spawn_blocking(move || trail.live_rules()).await {
        Ok(rules) => rules,
        Err(e) => {
            out.error = Some(format!("the rules could not be read: {e}"));
            return render(StatusCode::SERVICE_UNAVAILABLE, &out);
        }
    };
    out.verdicts = verdict_views(&rules, &envelope, &[]);
    out.tested = true;
    render(StatusCode::OK, &out)
}

/// The pasted text as the envelope patterns see: an envelope as is, a
/// PutEvents entry (`Source`, `DetailType`, `Detail` as JSON text) turned
/// into one.
fn as_envelope(text: &str) -> Result<Value, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the event is not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("the event must be a JSON object".to_owned());
    };
    if !object.contains_key("DetailType") && !object.contains_key("Detail") {
        return Ok(Value::Object(object));
    }
    let mut envelope = Map::new();
    for (from, to) in [
        ("Source", "source"),
        ("DetailType", "detail-type"),
        ("Resources", "resources"),
    ] {
        if let Some(v) = object.get(from) {
            envelope.insert(to.to_owned(), v.clone());
        }
    }
    if let Some(detail) = object.get("Detail") {
        let parsed = match detail {
            Value::String(text) => {
                serde_json::from_str(text).map_err(|e| format!("`Detail` is not JSON text: {e}"))?
            }
            other => other.clone(),
        };
        envelope.insert("detail".to_owned(), parsed);
    }
    Ok(Value::Object(envelope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_become_envelopes() {
        let entry = r#"{"Source": "s", "DetailType": "Object State Change", "Detail": "{\"operation\": \"delete\"}"}"#;
        assert_eq!(
            as_envelope(entry).unwrap(),
            json!({"source": "s", "detail-type": "Object State Change", "detail": {"operation": "delete"}})
        );
        let envelope = r#"{"source": "s", "detail": {"a": 1}}"#;
        assert_eq!(
            as_envelope(envelope).unwrap(),
            json!({"source": "s", "detail": {"a": 1}})
        );
        assert!(as_envelope("[1]").unwrap_err().contains("object"));
        assert!(as_envelope("{").unwrap_err().contains("not JSON"));
        assert!(
            as_envelope(r#"{"Detail": "{"}"#)
                .unwrap_err()
                .contains("`Detail`")
        );
    }
}
