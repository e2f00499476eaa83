//! Table-driven tests of every operator, checked on the interpreter and the matcher.

mod common;

use common::check;
use serde_json::{Value, json};

fn table(pattern: &str, cases: &[(Value, bool)]) {
    for (event, expected) in cases {
        check(pattern, event, *expected);
    }
}

#[test]
fn exact_strings_numbers_booleans_null() {
    table(
        r#"{"source": ["aws.ec2", "aws.s3"]}"#,
        &[
            (json!({"source": "aws.ec2"}), true),
            (json!({"source": "aws.s3"}), true),
            (json!({"source": "aws.EC2"}), false),
            (json!({"source": ["x", "aws.s3"]}), true),
            (json!({"source": ["x", "y"]}), false),
            (json!({"other": "aws.ec2"}), false),
            (json!({"source": {"x": "aws.ec2"}}), false),
        ],
    );
    table(
        r#"{"a": [true]}"#,
        &[
            (json!({"a": true}), true),
            (json!({"a": "true"}), false),
            (json!({"a": false}), false),
        ],
    );
    table(
        r#"{"a": [null]}"#,
        &[
            (json!({"a": null}), true),
            (json!({"a": ""}), false),
            (json!({}), false),
        ],
    );
    table(
        r#"{"a": [""]}"#,
        &[(json!({"a": ""}), true), (json!({"a": null}), false)],
    );
    // Strings and numbers never equal each other.
    table(
        r#"{"a": ["3"]}"#,
        &[(json!({"a": 3}), false), (json!({"a": "3"}), true)],
    );
}

#[test]
fn exact_numbers_compare_by_value() {
    for pattern in [r#"{"n": [3]}"#, r#"{"n": [3.0]}"#, r#"{"n": [300e-2]}"#] {
        let cases = [
            (serde_json::from_str::<Value>(r#"{"n": 3}"#).unwrap(), true),
            (serde_json::from_str(r#"{"n": 3.0}"#).unwrap(), true),
            (serde_json::from_str(r#"{"n": 300e-2}"#).unwrap(), true),
            (serde_json::from_str(r#"{"n": 3.000001}"#).unwrap(), false),
            (serde_json::from_str(r#"{"n": "3"}"#).unwrap(), false),
        ];
        table(pattern, &cases);
    }
    table(
        r#"{"n": [18446744073709551615]}"#,
        &[
            (json!({"n": 18446744073709551615u64}), true),
            (json!({"n": 18446744073709551614u64}), false),
        ],
    );
    table(
        r#"{"n": [0]}"#,
        &[(serde_json::from_str(r#"{"n": -0.0}"#).unwrap(), true)],
    );
}

#[test]
fn nested_paths_are_segments() {
    table(
        r#"{"a.b": ["x"]}"#,
        &[
            (json!({"a.b": "x"}), true),
            (json!({"a": {"b": "x"}}), false),
        ],
    );
    table(
        r#"{"a": {"b": ["x"]}}"#,
        &[
            (json!({"a.b": "x"}), false),
            (json!({"a": {"b": "x"}}), true),
        ],
    );
}

#[test]
fn prefix_and_suffix() {
    // From the guide: "time" starting with "2017-10-02".
    table(
        r#"{"time": [{"prefix": "2017-10-02"}]}"#,
        &[
            (json!({"time": "2017-10-02T18:43:48Z"}), true),
            (json!({"time": "2017-10-03T18:43:48Z"}), false),
            (json!({"time": 2017}), false),
        ],
    );
    table(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        &[
            (json!({"FileName": "image.png"}), true),
            (json!({"FileName": "image.PNG"}), false),
            (json!({"FileName": "png"}), false),
        ],
    );
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "AbC"}}]}"#,
        &[
            (json!({"a": "abcdef"}), true),
            (json!({"a": "ABCdef"}), true),
            (json!({"a": "xabc"}), false),
        ],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": ".PNG"}}]}"#,
        &[(json!({"a": "x.png"}), true), (json!({"a": "x.pn"}), false)],
    );
    table(
        r#"{"a": [{"prefix": ""}]}"#,
        &[
            (json!({"a": ""}), true),
            (json!({"a": "x"}), true),
            (json!({"a": 1}), false),
        ],
    );
    // Multi-byte characters: prefixes are character-aligned.
    table(
        r#"{"a": [{"prefix": "é"}]}"#,
        &[(json!({"a": "été"}), true), (json!({"a": "e"}), false)],
    );
}

#[test]
fn equals_ignore_case_is_per_character() {
    table(
        r#"{"name": [{"equals-ignore-case": "alice"}]}"#,
        &[
            (json!({"name": "ALICE"}), true),
            (json!({"name": "aLiCe"}), true),
            (json!({"name": "alice "}), false),
        ],
    );
    table(
        r#"{"name": [{"equals-ignore-case": "ÄÖÜ"}]}"#,
        &[(json!({"name": "äöü"}), true)],
    );
    // Not full Unicode folding: ß does not expand to SS.
    table(
        r#"{"name": [{"equals-ignore-case": "straße"}]}"#,
        &[
            (json!({"name": "STRASSE"}), false),
            (json!({"name": "STRAßE"}), true),
        ],
    );
    // Greek final sigma: upper-casing both sigmas gives Σ, so they are equal as in Java.
    table(
        r#"{"name": [{"equals-ignore-case": "ς"}]}"#,
        &[(json!({"name": "σ"}), true), (json!({"name": "Σ"}), true)],
    );
}

#[test]
fn wildcard_and_escapes() {
    table(
        r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#,
        &[
            (
                json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}),
                true,
            ),
            (
                json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}),
                false,
            ),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "a\\*b"}]}"#,
        &[(json!({"a": "a*b"}), true), (json!({"a": "axb"}), false)],
    );
    table(
        r#"{"a": [{"wildcard": "a\\\\*"}]}"#,
        &[
            (json!({"a": "a\\"}), true),
            (json!({"a": "a\\xyz"}), true),
            (json!({"a": "ab"}), false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "*"}]}"#,
        &[
            (json!({"a": ""}), true),
            (json!({"a": 5}), false),
            (json!({}), false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "*.png"}]}"#,
        &[
            (json!({"a": "dir/x.png"}), true),
            (json!({"a": "x.jpg"}), false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "ab*ab"}]}"#,
        &[
            (json!({"a": "ab"}), false),
            (json!({"a": "abab"}), true),
            (json!({"a": "abxab"}), true),
        ],
    );
}

#[test]
fn anything_but_forms() {
    table(
        r#"{"state": [{"anything-but": "initializing"}]}"#,
        &[
            (json!({"state": "running"}), true),
            (json!({"state": "initializing"}), false),
            (json!({}), false),
            (json!({"state": null}), true),
            (json!({"state": ["initializing", "running"]}), true),
            (json!({"state": ["initializing"]}), false),
        ],
    );
    table(
        r#"{"x": [{"anything-but": [100, 200, 300]}]}"#,
        &[
            (json!({"x": 100}), false),
            (serde_json::from_str(r#"{"x": 1e2}"#).unwrap(), false),
            (json!({"x": 150}), true),
            (json!({"x": "100"}), true),
        ],
    );
    table(
        r#"{"state": [{"anything-but": {"prefix": "init"}}]}"#,
        &[
            (json!({"state": "initializing"}), false),
            (json!({"state": "running"}), true),
            (json!({"state": 5}), false),
        ],
    );
    table(
        r#"{"FileName": [{"anything-but": {"suffix": ".txt"}}]}"#,
        &[
            (json!({"FileName": "a.txt"}), false),
            (json!({"FileName": "a.png"}), true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#,
        &[
            (json!({"a": "/usr/lib/x"}), false),
            (json!({"a": "/usr/bin/x"}), true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["Alice", "BOB"]}}]}"#,
        &[
            (json!({"a": "alice"}), false),
            (json!({"a": "bob"}), false),
            (json!({"a": "carol"}), true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": "Alice"}}]}"#,
        &[(json!({"a": "ALICE"}), false), (json!({"a": "bob"}), true)],
    );
}

#[test]
fn numeric_ranges() {
    let p = r#"{"c": [{"numeric": [">", 0, "<=", 5]}]}"#;
    table(
        p,
        &[
            (json!({"c": 0}), false),
            (json!({"c": 0.000001}), true),
            (json!({"c": 5}), true),
            (json!({"c": 5.000001}), false),
            (json!({"c": "3"}), false),
            (json!({"c": [9, 3]}), true),
        ],
    );
    table(
        r#"{"c": [{"numeric": ["=", 3.018e2]}]}"#,
        &[(json!({"c": 301.8}), true), (json!({"c": 301}), false)],
    );
    table(
        r#"{"c": [{"numeric": ["<", -1]}]}"#,
        &[
            (json!({"c": -1.5}), true),
            (json!({"c": -1}), false),
            (json!({"c": -5e9}), true),
        ],
    );
    table(
        r#"{"c": [{"numeric": [">=", 5000000000]}]}"#,
        &[(json!({"c": 5e9}), true), (json!({"c": 6e9}), false)],
    );
    table(
        r#"{"c": [{"numeric": ["<=", 10]}, {"numeric": [">=", 100]}]}"#,
        &[
            (json!({"c": 10}), true),
            (json!({"c": 50}), false),
            (json!({"c": 100}), true),
        ],
    );
}

#[test]
fn cidr_ranges() {
    table(
        r#"{"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}"#,
        &[
            (json!({"sourceIPAddress": "10.0.0.255"}), true),
            (json!({"sourceIPAddress": "10.0.1.0"}), false),
            (json!({"sourceIPAddress": "not an ip"}), false),
            (json!({"sourceIPAddress": "2001:db8::1"}), false),
        ],
    );
    table(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[
            (json!({"ip": "2001:db8:1::1"}), true),
            (json!({"ip": "2001:db9::1"}), false),
        ],
    );
}

#[test]
fn exists_semantics() {
    let yes = r#"{"detail": {"c": [{"exists": true}]}}"#;
    let no = r#"{"detail": {"c": [{"exists": false}]}}"#;
    let cases = [
        (json!({"detail": {"c": "x"}}), true),
        (json!({"detail": {"c": null}}), true),
        (json!({"detail": {"c": ""}}), true),
        (json!({"detail": {"c": {"d": 1}}}), false),
        (json!({"detail": {"c": []}}), false),
        (json!({"detail": {"c": [1]}}), true),
        (json!({"detail": {}}), false),
        (json!({}), false),
    ];
    for (event, present) in &cases {
        check(yes, event, *present);
        check(no, event, !*present);
    }
    // exists:false OR a value.
    table(
        r#"{"a": [{"exists": false}, "x"]}"#,
        &[
            (json!({}), true),
            (json!({"a": "x"}), true),
            (json!({"a": "y"}), false),
        ],
    );
    // A top-level exists:false-only pattern matches events without the field.
    table(
        r#"{"z": [{"exists": false}]}"#,
        &[(json!({"a": 1}), true), (json!({"z": 1}), false)],
    );
}

#[test]
fn array_consistency() {
    let p = r#"{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}"#;
    table(
        p,
        &[
            (
                json!({"employees": [
                    {"firstName": "John", "lastName": "Doe"},
                    {"firstName": "Anna", "lastName": "Smith"},
                    {"firstName": "Peter", "lastName": "Jones"}]}),
                false,
            ),
            (
                json!({"employees": [
                    {"firstName": "John", "lastName": "Doe"},
                    {"firstName": "Anna", "lastName": "Jones"}]}),
                true,
            ),
            (
                json!({"employees": [[{"firstName": "Anna", "lastName": "Jones"}], [{"firstName": "x"}]]}),
                true,
            ),
        ],
    );
    table(
        r#"{"employees": {"firstName": ["Anna"]}}"#,
        &[(
            json!({"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]}),
            true,
        )],
    );
    // Fields in different arrays are independent.
    table(
        r#"{"a": {"x": [1]}, "b": {"y": [2]}}"#,
        &[(
            json!({"a": [{"x": 0}, {"x": 1}], "b": [{"y": 2}, {"y": 3}]}),
            true,
        )],
    );
    // A value outside the array combines with any element.
    table(
        r#"{"a": {"x": [1], "z": [3]}}"#,
        &[(json!({"a": {"x": [0, 1], "z": 3}}), true)],
    );
}

#[test]
fn or_at_any_level() {
    let p = r#"{
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"],
             "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Service"]}
        ]}"#;
    table(
        p,
        &[
            (
                json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"}),
                true,
            ),
            (
                json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}),
                true,
            ),
            (
                json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"}),
                false,
            ),
            (
                json!({"source": "aws.cloudwatch", "scope": "Service"}),
                true,
            ),
            (json!({"source": "aws.ec2", "scope": "Service"}), false),
        ],
    );
    table(
        r#"{"detail": {"$or": [{"a": [1]}, {"b": [{"exists": false}]}]}}"#,
        &[
            (json!({"detail": {"a": 1, "b": 1}}), true),
            (json!({"detail": {"b": 1}}), false),
            (json!({"detail": {"c": 1}}), true),
        ],
    );
}

#[test]
fn explain_names_the_failing_field() {
    use trailmark_pattern::Pattern;
    let p = Pattern::parse_str(
        r#"{"detail-type": ["Object State Change"], "detail": {"operation": ["delete"]}}"#,
    )
    .unwrap();
    let m = p
        .explain(&json!({"detail-type": "Object State Change", "detail": {"operation": "insert"}}))
        .unwrap();
    assert_eq!(m.path, "detail.operation");
    assert_eq!(m.condition, "= \"delete\"");
    assert_eq!(m.found.as_deref(), Some("\"insert\""));
    assert_eq!(
        m.to_string(),
        "field `detail.operation` is \"insert\" but the pattern requires = \"delete\""
    );
    let missing = p
        .explain(&json!({"detail-type": "Object State Change"}))
        .unwrap();
    assert_eq!(missing.found, None);
    assert!(missing.to_string().contains("is missing"));
    assert_eq!(
        p.summary(),
        "detail-type = \"Object State Change\", detail.operation = \"delete\""
    );
    assert_eq!(p.fields(), vec!["detail-type", "detail.operation"]);
}

#[test]
fn explain_reports_array_consistency() {
    use trailmark_pattern::Pattern;
    let p = Pattern::parse_str(r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#).unwrap();
    let m = p
        .explain(&json!({"e": [{"f": "Anna", "l": "x"}, {"f": "y", "l": "Jones"}]}))
        .unwrap();
    assert!(m.condition.contains("same array element"), "{m}");
}
