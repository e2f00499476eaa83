//! Invalid patterns are rejected with the JSON path and a reason.

use trailmark_pattern::{PathSegment, Pattern};

/// (pattern, expected path display, expected reason substring)
const CASES: &[(&str, &str, &str)] = &[
    // Shape.
    ("[]", "$", "must be a JSON object"),
    ("\"x\"", "$", "must be a JSON object"),
    ("null", "$", "must be a JSON object"),
    ("{}", "$", "empty object"),
    ("{\"a\": {}}", "$.a", "empty object"),
    ("{\"a\": \"x\"}", "$.a", "must be an array"),
    ("{\"a\": 5}", "$.a", "must be an array"),
    ("{\"a\": null}", "$.a", "must be an array"),
    ("{\"a\": []}", "$.a", "empty array"),
    (
        "{\"detail\": {\"operation\": [[\"x\"]]}}",
        "$.detail.operation[0]",
        "nested arrays",
    ),
    ("{\"a\": [1, {}]}", "$.a[1]", "empty operator object"),
    (
        "{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}",
        "$.a[0]",
        "exactly one key",
    ),
    ("{not json", "$", "invalid JSON"),
    // Unknown operators.
    (
        "{\"detail\": {\"operation\": [{\"contains\": \"x\"}]}}",
        "$.detail.operation[0].contains",
        "unknown operator \"contains\"",
    ),
    (
        "{\"a\": [{\"Prefix\": \"x\"}]}",
        "$.a[0].Prefix",
        "unknown operator",
    ),
    (
        "{\"a\": [{\"prefix\": {\"ignore-case\": \"x\"}}]}",
        "$.a[0].prefix.ignore-case",
        "equals-ignore-case",
    ),
    (
        "{\"a\": [{\"anything-but\": {\"contains\": \"x\"}}]}",
        "$.a[0].anything-but.contains",
        "unknown \"anything-but\" operator",
    ),
    // Operand types.
    (
        "{\"a\": [{\"prefix\": 5}]}",
        "$.a[0].prefix",
        "needs a string",
    ),
    (
        "{\"a\": [{\"suffix\": [\"x\"]}]}",
        "$.a[0].suffix",
        "needs a string",
    ),
    (
        "{\"a\": [{\"equals-ignore-case\": 1}]}",
        "$.a[0].equals-ignore-case",
        "needs a string",
    ),
    (
        "{\"a\": [{\"prefix\": {\"equals-ignore-case\": 1}}]}",
        "$.a[0].prefix.equals-ignore-case",
        "needs a string",
    ),
    (
        "{\"a\": [{\"exists\": \"true\"}]}",
        "$.a[0].exists",
        "true or false",
    ),
    (
        "{\"a\": [{\"exists\": 1}]}",
        "$.a[0].exists",
        "true or false",
    ),
    ("{\"a\": [{\"cidr\": 10}]}", "$.a[0].cidr", "needs a string"),
    (
        "{\"a\": [{\"wildcard\": 1}]}",
        "$.a[0].wildcard",
        "needs a string",
    ),
    (
        "{\"a\": [{\"anything-but\": []}]}",
        "$.a[0].anything-but",
        "empty array",
    ),
    (
        "{\"a\": [{\"anything-but\": [true]}]}",
        "$.a[0].anything-but[0]",
        "strings or numbers",
    ),
    (
        "{\"a\": [{\"anything-but\": null}]}",
        "$.a[0].anything-but",
        "strings or numbers",
    ),
    (
        "{\"a\": [{\"anything-but\": {\"prefix\": 1}}]}",
        "$.a[0].anything-but.prefix",
        "needs a string",
    ),
    (
        "{\"a\": [{\"anything-but\": {\"equals-ignore-case\": []}}]}",
        "$.a[0].anything-but.equals-ignore-case",
        "empty array",
    ),
    (
        "{\"a\": [{\"anything-but\": {\"equals-ignore-case\": [1]}}]}",
        "$.a[0].anything-but.equals-ignore-case[0]",
        "needs a string",
    ),
    // Numeric.
    (
        "{\"a\": [{\"numeric\": 5}]}",
        "$.a[0].numeric",
        "needs an array",
    ),
    (
        "{\"a\": [{\"numeric\": []}]}",
        "$.a[0].numeric",
        "1 or 2 comparisons",
    ),
    (
        "{\"a\": [{\"numeric\": [\">\", 1, \"<\"]}]}",
        "$.a[0].numeric",
        "1 or 2 comparisons",
    ),
    (
        "{\"a\": [{\"numeric\": [\">\", 1, \"<\", 5, \"=\", 3]}]}",
        "$.a[0].numeric",
        "1 or 2 comparisons",
    ),
    (
        "{\"a\": [{\"numeric\": [\"!=\", 1]}]}",
        "$.a[0].numeric[0]",
        "unknown comparison",
    ),
    (
        "{\"a\": [{\"numeric\": [1, \">\"]}]}",
        "$.a[0].numeric[0]",
        "comparison operator",
    ),
    (
        "{\"a\": [{\"numeric\": [\">\", \"1\"]}]}",
        "$.a[0].numeric[1]",
        "needs a number",
    ),
    (
        "{\"a\": [{\"numeric\": [\">\", 5e10]}]}",
        "$.a[0].numeric[1]",
        "out of range",
    ),
    (
        "{\"a\": [{\"numeric\": [\"<\", -5000000001]}]}",
        "$.a[0].numeric[1]",
        "out of range",
    ),
    (
        "{\"a\": [{\"numeric\": [\"=\", 0.0000001]}]}",
        "$.a[0].numeric[1]",
        "6 digits",
    ),
    (
        "{\"a\": [{\"numeric\": [\">\", 1, \">\", 2]}]}",
        "$.a[0].numeric[2]",
        "same direction",
    ),
    (
        "{\"a\": [{\"numeric\": [\"=\", 1, \"<\", 2]}]}",
        "$.a[0].numeric[0]",
        "cannot be combined",
    ),
    // Empty ranges and equal bounds are valid (as in EventBridge); an upper bound
    // written before the lower bound is not.
    (
        "{\"a\": [{\"numeric\": [\"<\", 1, \">\", 5]}]}",
        "$.a[0].numeric[0]",
        "lower bound (>, >=) comes first",
    ),
    (
        "{\"a\": [{\"numeric\": [\"<=\", 5, \">=\", 5]}]}",
        "$.a[0].numeric[0]",
        "lower bound (>, >=) comes first",
    ),
    // CIDR.
    (
        "{\"ip\": [{\"cidr\": \"10.0.0.0\"}]}",
        "$.ip[0].cidr",
        "invalid CIDR",
    ),
    (
        "{\"ip\": [{\"cidr\": \"10.0.0.0/33\"}]}",
        "$.ip[0].cidr",
        "invalid CIDR",
    ),
    (
        "{\"ip\": [{\"cidr\": \"300.0.0.0/8\"}]}",
        "$.ip[0].cidr",
        "invalid CIDR",
    ),
    (
        "{\"ip\": [{\"cidr\": \"2001:db8::/129\"}]}",
        "$.ip[0].cidr",
        "invalid CIDR",
    ),
    (
        "{\"ip\": [{\"cidr\": \"10.0.0.0/-1\"}]}",
        "$.ip[0].cidr",
        "invalid CIDR",
    ),
    // Wildcard.
    (
        "{\"a\": [{\"wildcard\": \"a**b\"}]}",
        "$.a[0].wildcard",
        "consecutive",
    ),
    (
        "{\"a\": [{\"wildcard\": \"a\\\\b\"}]}",
        "$.a[0].wildcard",
        "invalid escape",
    ),
    (
        "{\"a\": [{\"anything-but\": {\"wildcard\": \"**\"}}]}",
        "$.a[0].anything-but.wildcard",
        "consecutive",
    ),
    (
        "{\"a\": [{\"wildcard\": \"*a*b*c*d*e*f*g*h*i\"}]}",
        "$.a[0].wildcard",
        "the limit is",
    ),
    // $or.
    ("{\"$or\": {\"a\": [1]}}", "$.$or", "must be an array"),
    ("{\"$or\": [{\"a\": [1]}]}", "$.$or", "at least 2"),
    (
        "{\"$or\": [{\"a\": [1]}, \"b\"]}",
        "$.$or[1]",
        "must be objects",
    ),
    ("{\"$or\": [{\"a\": [1]}, {}]}", "$.$or[1]", "empty object"),
    (
        "{\"x\": {\"$or\": [{\"a\": []}, {\"b\": [1]}]}}",
        "$.x.$or[0].a",
        "empty array",
    ),
    // Keys that need quoting in the path display.
    (
        "{\"a.b\": {\"c d\": 1}}",
        "$[\"a.b\"][\"c d\"]",
        "must be an array",
    ),
];

#[test]
fn invalid_patterns_are_rejected_with_path_and_reason() {
    assert!(CASES.len() >= 40);
    for (pattern, path, reason) in CASES {
        let err = match Pattern::parse_str(pattern) {
            Ok(_) => panic!("accepted invalid pattern {pattern}"),
            Err(e) => e,
        };
        assert_eq!(err.path_display(), *path, "path for {pattern}: {err}");
        assert!(err.reason.contains(reason), "reason for {pattern}: {err}");
        assert_eq!(
            err.to_string(),
            format!("{}: {}", err.path_display(), err.reason)
        );
    }
}

#[test]
fn error_path_segments_are_structured() {
    let err =
        Pattern::parse_str(r#"{"detail": {"operation": [{"numeric": [">", "x"]}]}}"#).unwrap_err();
    assert_eq!(
        err.path,
        vec![
            PathSegment::Key("detail".into()),
            PathSegment::Key("operation".into()),
            PathSegment::Index(0),
            PathSegment::Key("numeric".into()),
            PathSegment::Index(1),
        ]
    );
    assert_eq!(
        err.to_string(),
        "$.detail.operation[0].numeric[1]: \"numeric\" needs a number here, got a string"
    );
}

#[test]
fn pattern_size_limit() {
    let long = "x".repeat(2100);
    let err = Pattern::parse_str(&format!(r#"{{"a": ["{long}"]}}"#)).unwrap_err();
    assert!(err.reason.contains("limit is 2048"), "{err}");
    assert!(err.path.is_empty());
    // Whitespace does not count: the compact form is measured.
    let ok = format!("{{\"a\":{}[\"{}\"]}}", " ".repeat(3000), "x".repeat(100));
    assert!(Pattern::parse_str(&ok).is_ok());
}

#[test]
fn or_expansion_limit() {
    // 2^9 = 512 combinations from nine independent two-way $or groups.
    let mut obj = serde_json::Map::new();
    for i in 0..9 {
        obj.insert(
            format!("k{i}"),
            serde_json::json!({"$or": [{"a": [1]}, {"b": [2]}]}),
        );
    }
    let err = Pattern::parse(&serde_json::Value::Object(obj)).unwrap_err();
    assert!(err.reason.contains("too complex"), "{err}");
    assert!(err.reason.contains("256"), "{err}");
}
