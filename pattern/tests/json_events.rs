//! `Matcher::matches_json` scans raw bytes itself; these check it agrees with
//! `serde_json` on escapes, numbers, duplicates and malformed input.

use serde_json::Value;
use trailmark_pattern::{MatcherBuilder, Pattern};

fn matcher(patterns: &[&str]) -> trailmark_pattern::Matcher {
    let mut b = MatcherBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(i as u32, &Pattern::parse_str(p).expect("valid pattern"));
    }
    b.build()
}

fn agree(m: &trailmark_pattern::Matcher, event: &str) -> Vec<u32> {
    let from_bytes = m.matches_json(event.as_bytes()).expect("valid event");
    let v: Value = serde_json::from_str(event).expect("valid JSON");
    assert_eq!(from_bytes, m.matches_value(&v), "bytes vs value on {event}");
    from_bytes
}

#[test]
fn escapes_are_decoded_in_keys_and_values() {
    let m = matcher(&[
        r#"{"k\"ey": ["a\"b\\c/é😀\n"]}"#,
        r#"{"détail": {"x": [1]}}"#,
    ]);
    assert_eq!(
        agree(&m, r#"{"k\"ey": "a\"b\\c\/\u00e9\ud83d\ude00\n"}"#),
        vec![0]
    );
    assert_eq!(
        agree(&m, r#"{"k\u0022ey": "a\u0022b\u005cc/é😀\u000a"}"#),
        vec![0]
    );
    assert_eq!(agree(&m, r#"{"d\u00e9tail": {"x": 1}}"#), vec![1]);
    assert_eq!(agree(&m, r#"{"key": "a\"b\\c/é😀\n"}"#), Vec::<u32>::new());
}

#[test]
fn long_strings_and_skipped_subtrees() {
    let m = matcher(&[r#"{"a": [{"suffix": "end"}]}"#]);
    let long = "x".repeat(1000);
    let event = format!(
        r#"{{"skip": {{"deep": [[[{{"s": "{long}\"\\"}}]]], "n": -1.5e-3}}, "a": "{long}end"}}"#
    );
    assert_eq!(agree(&m, &event), vec![0]);
}

#[test]
fn numbers_match_by_value_from_bytes() {
    let m = matcher(&[r#"{"n": [3]}"#, r#"{"n": [{"numeric": [">", 2.5]}]}"#]);
    for text in ["3", "3.0", "300e-2", "0.3e1", "3E0"] {
        assert_eq!(
            agree(&m, &format!(r#"{{"n": {text}}}"#)),
            vec![0, 1],
            "{text}"
        );
    }
    assert_eq!(agree(&m, r#"{"n": -0}"#), Vec::<u32>::new());
    assert_eq!(
        agree(&m, r#"{"n": 123456789012345678901234567890}"#),
        Vec::<u32>::new()
    );
}

#[test]
fn duplicate_keys_use_the_last_value_like_serde_json() {
    let m = matcher(&[r#"{"a": ["x"]}"#]);
    assert_eq!(agree(&m, r#"{"a": "x", "a": "y"}"#), Vec::<u32>::new());
    assert_eq!(agree(&m, r#"{"a": "y", "a": "x"}"#), vec![0]);
    // Duplicates of keys no pattern uses do not matter.
    assert_eq!(agree(&m, r#"{"b": 1, "b": 2, "a": "x"}"#), vec![0]);
}

#[test]
fn malformed_events_are_rejected() {
    let m = matcher(&[r#"{"a": ["x"]}"#]);
    for bad in [
        "",
        "{",
        "[1]",
        "\"x\"",
        "42",
        r#"{"a": "x",}"#,
        r#"{"a": "x"} x"#,
        r#"{"a": 01}"#,
        r#"{"b": 1.}"#,
        r#"{"b": -}"#,
        r#"{"b": 1e}"#,
        r#"{"b": tru}"#,
        r#"{"b": "\x"}"#,
        r#"{"b": "\ud800"}"#,
        r#"{"b": "\udc00"}"#,
        r#"{"b": 1e400}"#,
        "{\"b\": \"tab\tinside\"}",
        r#"{"b": [1 2]}"#,
        r#"{"b" 1}"#,
    ] {
        assert!(m.matches_json(bad.as_bytes()).is_err(), "accepted {bad:?}");
        assert!(
            serde_json::from_str::<Value>(bad)
                .map(|v| !v.is_object())
                .unwrap_or(true),
            "{bad:?}"
        );
    }
    assert!(m.matches_json(&[b'{', 0xff, b'}']).is_err());
    let err = m.matches_json(b"[1]").unwrap_err();
    assert!(err.to_string().contains("must be a JSON object"), "{err}");
}

#[test]
fn nesting_limit_matches_serde_json() {
    let m = matcher(&[r#"{"a": ["x"]}"#]);
    for depth in [100, 126, 127, 128, 200] {
        let event = format!(r#"{{"z": {}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        let serde_ok = serde_json::from_str::<Value>(&event).is_ok();
        assert_eq!(
            m.matches_json(event.as_bytes()).is_ok(),
            serde_ok,
            "depth {depth}"
        );
    }
}

#[test]
fn matcher_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<trailmark_pattern::Matcher>();
    let m = matcher(&[r#"{"a": ["x"]}"#, r#"{"b": ["y"]}"#]);
    let m2 = m.clone();
    let handle = std::thread::spawn(move || m2.matches_json(br#"{"a": "x"}"#).expect("valid"));
    assert_eq!(handle.join().expect("thread"), vec![0]);
    assert_eq!(m.len(), 2);
    assert!(!m.is_empty());
    assert!(MatcherBuilder::new().build().is_empty());
}

#[test]
fn ids_are_sorted_and_deduplicated() {
    let mut b = MatcherBuilder::new();
    b.add(9, &Pattern::parse_str(r#"{"a": ["x"]}"#).expect("valid"));
    b.add(
        3,
        &Pattern::parse_str(r#"{"a": [{"prefix": "x"}]}"#).expect("valid"),
    );
    b.add(
        9,
        &Pattern::parse_str(r#"{"$or": [{"a": ["x"]}, {"b": [1]}]}"#).expect("valid"),
    );
    let m = b.build();
    assert_eq!(
        m.matches_json(br#"{"a": "x", "b": 1}"#).expect("valid"),
        vec![3, 9]
    );
    assert_eq!(m.len(), 2);
}
