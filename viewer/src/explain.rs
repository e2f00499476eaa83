//! Why an event did or did not match each live rule: for every rule the
//! verdict, the first failing condition (path, what the pattern requires,
//! what the event holds) and the event's value at every field the pattern
//! tests.

use serde_json::Value;
use trailmark_pattern::Pattern;

/// A rule as the running server holds it.
#[derive(Debug, Clone)]
pub struct LiveRule {
    /// Rule name.
    pub name: String,
    /// The plugin it delivers to.
    pub plugin: String,
    /// Disabled rules are shown but never match in the pipeline.
    pub enabled: bool,
    /// The compiled pattern.
    pub pattern: Pattern,
}

/// The event's value at one field the pattern tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Dotted path, e.g. `detail.operation`.
    pub path: String,
    /// The value(s) there as JSON text; `None` when the field is missing.
    pub actual: Option<String>,
}

/// One rule's verdict on one event.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Rule name.
    pub rule: String,
    /// Its plugin.
    pub plugin: String,
    /// Whether the rule is enabled.
    pub enabled: bool,
    /// Whether the pattern matches the event.
    pub matched: bool,
    /// The pattern's conditions in one line.
    pub summary: String,
    /// When not matched: the failing field path.
    pub failed_path: Option<String>,
    /// When not matched: what the pattern requires there.
    pub failed_condition: Option<String>,
    /// When not matched: what the event holds there (`None`: missing).
    pub failed_actual: Option<String>,
    /// The event's value at every field the pattern tests.
    pub fields: Vec<Field>,
}

/// Every rule's verdict on `event` (the EventBridge envelope, `detail` an
/// object), in rule order.
pub fn explain(rules: &[LiveRule], event: &Value) -> Vec<Verdict> {
    rules
        .iter()
        .map(|rule| {
            let mismatch = rule.pattern.explain(event);
            Verdict {
                rule: rule.name.clone(),
                plugin: rule.plugin.clone(),
                enabled: rule.enabled,
                matched: mismatch.is_none(),
                summary: rule.pattern.summary(),
                failed_path: mismatch.as_ref().map(|m| m.path.clone()),
                failed_condition: mismatch.as_ref().map(|m| m.condition.clone()),
                failed_actual: mismatch.and_then(|m| m.found),
                fields: rule
                    .pattern
                    .field_paths()
                    .into_iter()
                    .map(|segments| Field {
                        path: segments.join("."),
                        actual: value_at(event, &segments),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The value(s) at a field path as JSON text; arrays on the way are entered
/// element by element, as patterns do.
fn value_at(event: &Value, segments: &[String]) -> Option<String> {
    let mut found = vec![event];
    for segment in segments {
        found = found
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .filter_map(|v| v.get(segment))
            .collect();
    }
    match found.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, pattern: &str) -> LiveRule {
        LiveRule {
            name: name.into(),
            plugin: "alert".into(),
            enabled: true,
            pattern: Pattern::parse_str(pattern).expect("pattern"),
        }
    }

    #[test]
    fn every_rule_gets_a_verdict_with_the_failing_condition() {
        let rules = [
            rule("delete-alert", r#"{"detail": {"operation": ["delete"]}}"#),
            rule(
                "books",
                r#"{"source": ["com.example.books"], "detail": {"entity-type": ["book"]}}"#,
            ),
        ];
        let event = json!({"source": "com.example.books", "detail": {"operation": "update", "entity-type": "book"}});
        let v = explain(&rules, &event);
        assert_eq!(v.len(), 2);
        assert!(!v[0].matched);
        assert_eq!(v[0].failed_path.as_deref(), Some("detail.operation"));
        assert_eq!(v[0].failed_actual.as_deref(), Some("\"update\""));
        assert!(v[0].failed_condition.as_deref().unwrap().contains("delete"));
        assert!(v[1].matched);
        assert_eq!(
            v[1].fields,
            [
                Field {
                    path: "source".into(),
                    actual: Some("\"com.example.books\"".into())
                },
                Field {
                    path: "detail.entity-type".into(),
                    actual: Some("\"book\"".into())
                },
            ]
        );
    }

    #[test]
    fn missing_fields_and_arrays() {
        let rules = [rule("tagged", r#"{"detail": {"tags": {"name": ["x"]}}}"#)];
        let missing = explain(&rules, &json!({"detail": {}}));
        assert_eq!(missing[0].fields[0].actual, None);
        assert_eq!(missing[0].failed_actual, None);
        let arrays = explain(
            &rules,
            &json!({"detail": {"tags": [{"name": "x"}, {"name": "y"}]}}),
        );
        assert!(arrays[0].matched);
        assert_eq!(arrays[0].fields[0].actual.as_deref(), Some(r#"["x","y"]"#));
    }
}
