//! Cases where the engine used to disagree with EventBridge (issue 14): each kind that
//! was refused although EventBridge accepts it, and each accepted although EventBridge
//! refuses it.

mod common;

use common::check;
use serde_json::json;
use trailmark_pattern::Pattern;

fn refused(pattern: &str, path: &str, reason: &str) {
    let err = match Pattern::parse_str(pattern) {
        Ok(_) => panic!("accepted {pattern}, which EventBridge refuses"),
        Err(e) => e,
    };
    assert_eq!(err.path_display(), path, "path for {pattern}: {err}");
    assert!(err.reason.contains(reason), "reason for {pattern}: {err}");
}

#[test]
fn surrogate_pair_escapes_in_json_patterns() {
    // What `json.dumps({"emoji": ["😀"]})` writes.
    let p = r#"{"emoji": ["\ud83d\ude00"], "tag": [{"prefix": "\ud83c\udf89 "}]}"#;
    check(p, &json!({"emoji": "😀", "tag": "🎉 party"}), true);
    check(p, &json!({"emoji": "😀", "tag": "party"}), false);
    let parsed = Pattern::parse_str(p).expect("valid");
    assert_eq!(parsed.summary(), r#"emoji = "😀", tag prefix "🎉 ""#);
}

#[test]
fn anything_but_string_forms_take_lists() {
    let p = r#"{"a": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}"#;
    check(p, &json!({"a": "/usr/lib/x"}), false);
    check(p, &json!({"a": "/usr/bin/x"}), false);
    check(p, &json!({"a": "/usr/share/x"}), true);
    check(p, &json!({"a": 5}), false);
    let p = r#"{"a": [{"anything-but": {"prefix": ["init", "stop"]}}]}"#;
    check(p, &json!({"a": "initializing"}), false);
    check(p, &json!({"a": "stopping"}), false);
    check(p, &json!({"a": "running"}), true);
    check(p, &json!({"a": ["stopping", "running"]}), true);
    let p = r#"{"a": [{"anything-but": {"suffix": [".txt", ".md"]}}]}"#;
    check(p, &json!({"a": "x.txt"}), false);
    check(p, &json!({"a": "x.md"}), false);
    check(p, &json!({"a": "x.png"}), true);
    let s = Pattern::parse_str(p).expect("valid").summary();
    assert_eq!(s, r#"a anything but suffix [".txt", ".md"]"#);
    // Each list element is checked with its own path.
    refused(
        r#"{"a": [{"anything-but": {"wildcard": ["x*", "a**"]}}]}"#,
        "$.a[0].anything-but.wildcard[1]",
        "consecutive",
    );
    refused(
        r#"{"a": [{"anything-but": {"prefix": ["x", 1]}}]}"#,
        "$.a[0].anything-but.prefix[1]",
        "needs a string",
    );
    refused(
        r#"{"a": [{"anything-but": {"suffix": []}}]}"#,
        "$.a[0].anything-but.suffix",
        "empty array",
    );
}

#[test]
fn numeric_equal_bounds_and_empty_ranges_are_valid() {
    let p = r#"{"c": [{"numeric": [">=", 5, "<=", 5]}]}"#;
    check(p, &json!({"c": 5}), true);
    check(p, &json!({"c": 5.000001}), false);
    check(p, &json!({"c": 4.999999}), false);
    assert_eq!(
        Pattern::parse_str(p).expect("valid").summary(),
        "c numeric = 5"
    );
    // Empty: nothing matches, not even the bounds.
    for p in [
        r#"{"c": [{"numeric": [">", 5, "<", 5]}]}"#,
        r#"{"c": [{"numeric": [">=", 5, "<", 5]}]}"#,
        r#"{"c": [{"numeric": [">", 5, "<=", 5]}]}"#,
        r#"{"c": [{"numeric": [">", 5, "<", 1]}]}"#,
    ] {
        for v in [0.0, 1.0, 3.0, 5.0, 6.0] {
            check(p, &json!({"c": v}), false);
        }
    }
    // An empty range next to a real one in the same array.
    let p = r#"{"c": [{"numeric": [">", 9, "<", 1]}, {"numeric": ["=", 3]}]}"#;
    check(p, &json!({"c": 3}), true);
    check(p, &json!({"c": 0}), false);
}

#[test]
fn numeric_upper_bound_first_is_refused() {
    refused(
        r#"{"c": [{"numeric": ["<", 10, ">", 5]}]}"#,
        "$.c[0].numeric[0]",
        "lower bound (>, >=) comes first",
    );
    refused(
        r#"{"c": [{"numeric": ["<=", 10, ">=", 5]}]}"#,
        "$.c[0].numeric[0]",
        "lower bound (>, >=) comes first",
    );
}

#[test]
fn anything_but_list_mixing_strings_and_numbers_is_refused() {
    refused(
        r#"{"a": [{"anything-but": ["x", 1]}]}"#,
        "$.a[0].anything-but",
        "all strings or all numbers",
    );
    refused(
        r#"{"a": [{"anything-but": [1, 2, "3"]}]}"#,
        "$.a[0].anything-but",
        "all strings or all numbers",
    );
    // Homogeneous lists stay valid.
    check(
        r#"{"a": [{"anything-but": ["x", "y"]}]}"#,
        &json!({"a": "z"}),
        true,
    );
    check(
        r#"{"a": [{"anything-but": [1, 2.5]}]}"#,
        &json!({"a": 2.5}),
        false,
    );
}

#[test]
fn empty_anything_but_prefix_or_suffix_is_refused() {
    refused(
        r#"{"a": [{"anything-but": {"prefix": ""}}]}"#,
        "$.a[0].anything-but.prefix",
        "empty \"prefix\"",
    );
    refused(
        r#"{"a": [{"anything-but": {"suffix": ""}}]}"#,
        "$.a[0].anything-but.suffix",
        "empty \"suffix\"",
    );
    refused(
        r#"{"a": [{"anything-but": {"prefix": ["x", ""]}}]}"#,
        "$.a[0].anything-but.prefix[1]",
        "empty \"prefix\"",
    );
    // A plain empty prefix stays valid (it matches every string).
    check(r#"{"a": [{"prefix": ""}]}"#, &json!({"a": "x"}), true);
}

#[test]
fn operator_names_as_fields_inside_or_are_refused() {
    refused(
        r#"{"$or": [{"numeric": [">", 5]}, {"b": [1]}]}"#,
        "$.$or[0].numeric",
        "operator name",
    );
    refused(
        r#"{"x": {"$or": [{"a": [1]}, {"prefix": ["y"]}]}}"#,
        "$.x.$or[1].prefix",
        "operator name",
    );
    // At any depth inside an alternative, and in a nested $or.
    refused(
        r#"{"$or": [{"a": {"exists": [true]}}, {"b": [1]}]}"#,
        "$.$or[0].a.exists",
        "operator name",
    );
    refused(
        r#"{"$or": [{"a": [1]}, {"$or": [{"b": [1]}, {">=": [2]}]}]}"#,
        "$.$or[1].$or[1][\">=\"]",
        "operator name",
    );
    // Outside $or those names are ordinary fields, as in EventBridge.
    check(r#"{"prefix": ["x"]}"#, &json!({"prefix": "x"}), true);
    check(
        r#"{"$or": [{"a": [{"prefix": "x"}]}, {"b": [1]}]}"#,
        &json!({"a": "xy"}),
        true,
    );
}
