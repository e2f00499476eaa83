//! Property test: the compiled matcher agrees with the reference interpreter on random
//! patterns and events, several patterns at once, ids checked.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use trailmark_pattern::{MatcherBuilder, Pattern};

const KEYS: &[&str] = &["a", "b", "c"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("x")),
        Just(json!("X")),
        Just(json!("xy")),
        Just(json!("yx")),
        Just(json!("")),
        Just(json!("10.0.0.7")),
        Just(json!("ß")),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(3)),
        Just(json!(3.0)),
        Just(json!(-1.5)),
        Just(json!(7e9)),
        Just(json!(true)),
        Just(json!(false)),
        Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..3).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS), event_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn cond() -> impl Strategy<Value = Value> {
    prop_oneof![
        scalar(),
        Just(json!({"prefix": "x"})),
        Just(json!({"prefix": ""})),
        Just(json!({"suffix": "x"})),
        Just(json!({"prefix": {"equals-ignore-case": "X"}})),
        Just(json!({"suffix": {"equals-ignore-case": "Y"}})),
        Just(json!({"equals-ignore-case": "x"})),
        Just(json!({"equals-ignore-case": "SS"})),
        Just(json!({"wildcard": "x*"})),
        Just(json!({"wildcard": "*x*"})),
        Just(json!({"wildcard": "*"})),
        Just(json!({"anything-but": "x"})),
        Just(json!({"anything-but": [3, "xy"]})),
        Just(json!({"anything-but": {"prefix": "x"}})),
        Just(json!({"anything-but": {"suffix": "x"}})),
        Just(json!({"anything-but": {"wildcard": "*y"}})),
        Just(json!({"anything-but": {"equals-ignore-case": ["X", "Y"]}})),
        Just(json!({"numeric": [">", 0]})),
        Just(json!({"numeric": ["<=", 1]})),
        Just(json!({"numeric": ["=", 3]})),
        Just(json!({"numeric": [">=", -1.5, "<", 3]})),
        Just(json!({"cidr": "10.0.0.0/8"})),
        Just(json!({"exists": true})),
        Just(json!({"exists": false})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(cond(), 1..3).prop_map(Value::Array)
}

fn pattern_object() -> impl Strategy<Value = Value> {
    let base = prop::collection::btree_map(prop::sample::select(KEYS), leaf(), 1..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    base.prop_recursive(2, 12, 3, |inner| {
        (
            prop::collection::btree_map(
                prop::sample::select(KEYS),
                prop_oneof![leaf(), inner.clone()],
                1..3,
            ),
            prop::option::of(prop::collection::vec(inner, 2..3)),
        )
            .prop_map(|(m, or)| {
                let mut obj: Map<String, Value> =
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                if let Some(alts) = or {
                    obj.insert("$or".into(), Value::Array(alts));
                }
                Value::Object(obj)
            })
    })
}

fn patterns() -> impl Strategy<Value = Vec<Pattern>> {
    prop::collection::vec(pattern_object(), 1..6).prop_map(|vs| {
        vs.iter()
            .filter_map(|v| Pattern::parse(v).ok())
            .collect::<Vec<_>>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees_with_interpreter(pats in patterns(), events in prop::collection::vec(event(), 1..5)) {
        let mut b = MatcherBuilder::new();
        for (i, p) in pats.iter().enumerate() {
            b.add(i as u32 * 10, p);
        }
        let m = b.build();
        for ev in &events {
            let expected: Vec<u32> = pats
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches(ev))
                .map(|(i, _)| i as u32 * 10)
                .collect();
            prop_assert_eq!(&m.matches_value(ev), &expected, "event {}", ev);
            let bytes = ev.to_string();
            prop_assert_eq!(&m.matches_json(bytes.as_bytes()).unwrap(), &expected, "bytes {}", ev);
            for (i, p) in pats.iter().enumerate() {
                prop_assert_eq!(p.explain(ev).is_none(), expected.contains(&(i as u32 * 10)));
            }
        }
    }
}
