//! The hot-path API: `Session::matches` gives the same ids and errors as
//! `matches_json`, and the captured values as `serde_json` reads them.

use serde_json::{Value, json};
use trailmark_pattern::{MatcherBuilder, Pattern, StateChangeCaptures};

fn builder(patterns: &[&str]) -> MatcherBuilder {
    let mut b = MatcherBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(i as u32, &Pattern::parse_str(p).expect("valid pattern"));
    }
    b
}

#[test]
fn state_change_fields_are_captured() {
    let mut b = builder(&[
        r#"{"detail": {"operation": ["delete"]}}"#,
        r#"{"detail": {"author": [{"suffix": "@example.com"}]}}"#,
    ]);
    let caps = StateChangeCaptures::register(&mut b);
    let mut session = b.build().session();
    let event = r#"{"detail-type": "Object State Change", "detail": {"entity-type": "book",
        "entity-id": "b-\u00e9\"1", "operation": "delete", "ts": 1790000000000,
        "author": "ann@example.com", "data": {"title": "T", "n": [1, {"x": null}]}}, "z": 1}"#;
    let m = session.matches(event.as_bytes()).expect("valid event");
    assert_eq!(m.rules(), &[0, 1]);
    let f = caps.read(&m);
    assert_eq!(f.entity_type.as_deref(), Some("book"));
    assert_eq!(f.entity_id.as_deref(), Some("b-é\"1"));
    assert_eq!(f.operation.as_deref(), Some("delete"));
    assert_eq!(f.author.as_deref(), Some("ann@example.com"));
    let ts = f.ts.expect("ts captured");
    assert_eq!(ts.as_u64(), Some(1_790_000_000_000));
    assert_eq!(ts.as_str(), None);
    let bytes = event.as_bytes();
    let detail: Value = serde_json::from_slice(&bytes[f.detail.expect("detail")]).expect("json");
    let whole: Value = serde_json::from_str(event).expect("json");
    assert_eq!(detail, whole["detail"]);
    assert_eq!(
        &bytes[f.data.expect("data")],
        br#"{"title": "T", "n": [1, {"x": null}]}"#
    );
}

#[test]
fn missing_mistyped_and_array_values() {
    let mut b = builder(&[r#"{"source": ["s"]}"#]);
    let caps = StateChangeCaptures::register(&mut b);
    let list = b.capture(&["list", "x"]);
    let mut session = b.build().session();
    // ts as text, operation a number, no entity-type; `list.x` only inside an array.
    let event = br#"{"source": "s", "detail": {"ts": "2026-11-01T00:00:00Z", "operation": 3},
        "list": [{"x": 1}]}"#;
    let m = session.matches(event).expect("valid event");
    assert_eq!(m.rules(), &[0]);
    let f = caps.read(&m);
    assert_eq!(f.entity_type, None);
    assert_eq!(f.operation, None, "a number is not a string");
    assert_eq!(
        f.ts.and_then(|t| t.as_str()).as_deref(),
        Some("2026-11-01T00:00:00Z")
    );
    assert_eq!(f.data, None);
    assert!(m.capture(list).is_none());
    // An event without detail at all.
    let m = session.matches(br#"{"source": "t"}"#).expect("valid event");
    assert!(m.rules().is_empty());
    assert_eq!(caps.read(&m).detail, None);
}

#[test]
fn duplicate_keys_last_value_wins_for_rules_and_captures() {
    let mut b = builder(&[r#"{"detail": {"operation": ["delete"]}}"#]);
    let op = b.capture(&["detail", "operation"]);
    assert_eq!(
        b.capture(&["detail", "operation"]),
        op,
        "same path, same id"
    );
    let mut session = b.build().session();
    let m = session
        .matches(br#"{"detail": {"operation": "delete", "operation": "update"}}"#)
        .expect("valid");
    assert!(m.rules().is_empty());
    assert_eq!(
        m.capture(op).and_then(|c| c.as_str()).as_deref(),
        Some("update")
    );
    let m = session
        .matches(br#"{"detail": {"operation": "update", "operation": "delete"}}"#)
        .expect("valid");
    assert_eq!(m.rules(), &[0]);
    assert_eq!(
        m.capture(op).and_then(|c| c.as_str()).as_deref(),
        Some("delete")
    );
}

#[test]
fn session_agrees_with_matches_json_and_reuses_state() {
    let b = builder(&[
        r#"{"a": [{"prefix": "x"}], "b": [{"numeric": [">", 1]}]}"#,
        r#"{"c": [{"exists": false}]}"#,
        r#"{"$or": [{"a": ["y"]}, {"d": {"e": [true]}}]}"#,
    ]);
    let matcher = b.build();
    let mut session = matcher.session();
    let events = [
        json!({"a": "xy", "b": 2}),
        json!({"a": "y", "c": 1}),
        json!({"d": {"e": true}, "a": ["x", "q"], "b": [0, 5]}),
        json!({"c": null}),
        json!({}),
    ];
    // Twice over, so that state left by one event cannot leak into the next.
    for _ in 0..2 {
        for e in &events {
            let text = e.to_string();
            let expected = matcher.matches_json(text.as_bytes()).expect("valid");
            let got = session.matches(text.as_bytes()).expect("valid");
            assert_eq!(got.rules(), expected.as_slice(), "{text}");
        }
    }
    for bad in [
        &b"{"[..],
        b"[1]",
        b"{\"a\": 1e400}",
        b"{\"a\": \"\\ud800\"}",
    ] {
        assert_eq!(
            session.matches(bad).map(|m| m.rules().to_vec()),
            matcher.matches_json(bad),
        );
    }
}
