//! `TestEventPattern`: does this EventBridge pattern match this event?
//! Answered by the same matcher the rules use.

use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailmark_pattern::Pattern;

use super::AwsError;
use super::aws_json::{IgnoredFields, parse_request};

/// Request body, as the AWS API reference defines it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request {
    event_pattern: String,
    event: String,
    /// Unknown fields: accepted, ignored (but read as JSON).
    #[serde(flatten)]
    _ignored: IgnoredFields,
}

/// Response body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TestEventPatternResponse {
    /// Whether the pattern matches the event.
    pub result: bool,
}

/// Fields EventBridge requires in the test event.
const REQUIRED: [&str; 7] = [
    "id",
    "account",
    "source",
    "time",
    "region",
    "detail-type",
    "resources",
];

/// Handle a `TestEventPattern` body.
pub fn test_event_pattern(body: &Bytes) -> Result<TestEventPatternResponse, AwsError> {
    let request: Request = parse_request("TestEventPattern", body)?;
    let pattern = Pattern::parse_str(&request.event_pattern)
        .map_err(|e| AwsError::InvalidEventPattern(e.to_string()))?;
    let event: Value = serde_json::from_str(&request.event).map_err(|e| {
        AwsError::Validation(format!(
            "Parameter Event is not valid. Reason: not JSON: {e}"
        ))
    })?;
    let Some(object) = event.as_object() else {
        return Err(AwsError::Validation(
            "Parameter Event is not valid. Reason: it must be a JSON object.".into(),
        ));
    };
    if let Some(missing) = REQUIRED.iter().find(|k| !object.contains_key(**k)) {
        return Err(AwsError::Validation(format!(
            "Parameter Event is not valid. Reason: Provided Event must contain the field `{missing}` \
             (required: {}).",
            REQUIRED.join(", ")
        )));
    }
    Ok(TestEventPatternResponse {
        result: pattern.matches(&event),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pattern: &str, event: &Value) -> Bytes {
        Bytes::from(
            serde_json::json!({"EventPattern": pattern, "Event": event.to_string()}).to_string(),
        )
    }

    fn event() -> Value {
        serde_json::json!({"id": "1", "account": "1", "source": "s", "time": "t", "region": "r",
                           "detail-type": "Object State Change", "resources": [], "detail": {"operation": "delete"}})
    }

    #[test]
    fn matches_and_does_not() {
        let yes =
            test_event_pattern(&body(r#"{"detail":{"operation":["delete"]}}"#, &event())).unwrap();
        assert!(yes.result);
        let no =
            test_event_pattern(&body(r#"{"detail":{"operation":["insert"]}}"#, &event())).unwrap();
        assert!(!no.result);
    }

    #[test]
    fn invalid_pattern_names_the_path() {
        let err = test_event_pattern(&body(
            r#"{"detail":{"operation":[{"prefx":"d"}]}}"#,
            &event(),
        ))
        .unwrap_err();
        assert_eq!(err.code(), "InvalidEventPatternException");
        assert!(err.to_string().contains("detail"), "{err}");
    }

    #[test]
    fn event_needs_the_envelope_fields() {
        let err = test_event_pattern(&body(
            r#"{"source":["s"]}"#,
            &serde_json::json!({"source": "s"}),
        ))
        .unwrap_err();
        assert_eq!(err.code(), "ValidationException");
        assert!(err.to_string().contains("`id`"), "{err}");
    }
}
