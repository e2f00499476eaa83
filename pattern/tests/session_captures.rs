//! Property test: what a `Session` captures at a path is exactly the value `serde_json`
//! finds there (outside arrays), and its ids are those of `matches_json`.

use proptest::prelude::*;
use serde_json::{Value, json};
use trailmark_pattern::{MatcherBuilder, Pattern};

const KEYS: &[&str] = &["a", "b", "c\"q", "é"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("x")),
        Just(json!("a\"b\\c\u{1F600}\n")),
        Just(json!("")),
        Just(json!(0)),
        Just(json!(-12)),
        Just(json!(3.25)),
        Just(json!(1e300)),
        Just(json!(true)),
        Just(Value::Null),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let value = scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..3).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    });
    prop::collection::btree_map(prop::sample::select(KEYS), value, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// The value at `path` through objects only (what a capture reports).
fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn captures_are_what_serde_json_reads(ev in event(), pretty in any::<bool>()) {
        let paths: [&[&str]; 5] = [&["a"], &["a", "b"], &["c\"q", "é"], &["b", "a", "a"], &["é"]];
        let mut b = MatcherBuilder::new();
        b.add(1, &Pattern::parse_str(r#"{"a": {"b": [{"exists": true}]}}"#).expect("valid"));
        b.add(2, &Pattern::parse_str(r#"{"é": [{"prefix": "a\"b"}, 0]}"#).expect("valid"));
        let ids: Vec<_> = paths.iter().map(|p| b.capture(p)).collect();
        let matcher = b.build();
        let mut session = matcher.session();
        let text = if pretty { serde_json::to_string_pretty(&ev) } else { serde_json::to_string(&ev) }
            .expect("serializable");
        let expected = matcher.matches_json(text.as_bytes()).expect("valid");
        let m = session.matches(text.as_bytes()).expect("valid event");
        prop_assert_eq!(m.rules(), expected.as_slice());
        for (path, id) in paths.iter().zip(&ids) {
            let got = m.capture(*id).map(|c| {
                let v: Value = serde_json::from_slice(c.raw()).expect("a capture is JSON");
                if let Some(s) = v.as_str() {
                    assert_eq!(c.as_str().as_deref(), Some(s));
                }
                v
            });
            prop_assert_eq!(got.as_ref(), at(&ev, path), "path {:?} in {}", path, text);
        }
    }
}
