//! Grants and limits as rule files write them, and where their errors point.

use std::path::Path;

use trailmark_runtime::{ArchiveGrant, Quota};

use crate::rules::{Rule, load_str};

const HEAD: &str = "name: r\npattern: {source: [a]}\nplugin: p\n";

/// Load `text` as the rule file `path`: the rule, or its errors one a line.
fn load(path: &str, text: &str) -> Result<Rule, String> {
    load_str(Path::new(path), text)
        .map(|loaded| loaded.rule)
        .map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
}

fn rule(tail: &str) -> Rule {
    load("r.yaml", &format!("{HEAD}{tail}")).unwrap_or_else(|e| panic!("valid rule: {e}"))
}

fn errors(tail: &str) -> String {
    load("r.yaml", &format!("{HEAD}{tail}"))
        .err()
        .unwrap_or_else(|| panic!("invalid rule: {tail}"))
}

/// Assert that `errors` (those of the rule file `case`) say each of `needles`.
#[track_caller]
fn assert_says(case: &str, errors: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            errors.contains(needle),
            "{case:?}: `{needle}` missing from:\n{errors}"
        );
    }
}

/// Assert that each rule `tail` after [`HEAD`] is refused saying its needles.
#[track_caller]
fn assert_refused(cases: &[(&str, &[&str])]) {
    for (tail, needles) in cases {
        assert_says(tail, &errors(tail), needles);
    }
}

#[test]
fn archive_true_is_the_events_own_keys() {
    assert_eq!(
        rule("grants: {archive: true}\n").grants.archive,
        Some(ArchiveGrant::default())
    );
    assert_eq!(rule("grants: {archive: false}\n").grants.archive, None);
    assert_eq!(rule("").grants.archive, None);
}

#[test]
fn archive_mapping_names_read_prefixes_and_a_write_prefix() {
    let grants = rule(
        "grants:\n  archive: {read: [\"com.bank/\", \"com.shop/books/\"], write-prefix: redacted/}\n",
    )
    .grants;
    let archive = grants.archive.expect("archive granted");
    assert_eq!(
        archive.read.iter().map(String::as_str).collect::<Vec<_>>(),
        ["com.bank/", "com.shop/books/"]
    );
    assert_eq!(archive.write_prefix.as_deref(), Some("redacted/"));
    assert_eq!(
        archive.to_string(),
        "archive {read: [com.bank/, com.shop/books/], write-prefix: redacted/}"
    );
}

#[test]
fn bad_archive_grants_say_where_and_what() {
    assert_refused(&[
        (
            "grants:\n  archive: {read: [com.bank], write-prefix: \"../x/\"}\n",
            &[
                "r.yaml:5:",
                "`grants.archive.read`: \"com.bank\" is not a key prefix",
                "`grants.archive.write-prefix`: \"../x/\" is not a key prefix",
            ],
        ),
        (
            "grants:\n  archive: {write: x/}\n",
            &["unknown key `write` in grants.archive"],
        ),
        (
            "grants:\n  archive: yes please\n",
            &["r.yaml:5:", "must be true, false, or a mapping"],
        ),
    ]);
}

#[test]
fn quotas_are_set_under_limits_and_default_otherwise() {
    let limits = rule(
        "limits: {timeout: 2s, archive-put-bytes: 8MiB, notifications: 1, error-text: 1024}\n",
    )
    .limits;
    assert_eq!(limits.quotas.get(Quota::ArchivePutBytes), 8 << 20);
    assert_eq!(limits.quotas.get(Quota::Notifications), 1);
    assert_eq!(limits.quotas.get(Quota::ErrorText), 1024);
    assert_eq!(
        limits.quotas.get(Quota::ArchivePuts),
        Quota::ArchivePuts.default_value()
    );
    assert_eq!(rule("").limits.quotas, trailmark_runtime::Quotas::default());
}

#[test]
fn bad_quotas_say_where_and_what() {
    assert_refused(&[
        (
            "limits:\n  archive-puts: many\n",
            &[
                "r.yaml:5:",
                "`limits.archive-puts` must be a whole number of calls",
            ],
        ),
        (
            "limits:\n  archive-put-bytes: 1TiB\n",
            &["`limits.archive-put-bytes` must be a size such as 1MiB"],
        ),
        (
            "limits:\n  error-text: 10\n",
            &["`limits.error-text` must be from 256 to"],
        ),
        (
            "limits:\n  puts: 3\n",
            &["unknown key `puts` in limits; use timeout, memory, archive-put-bytes"],
        ),
    ]);
}

#[test]
fn plugin_names_follow_the_one_rule_plugin_new_uses() {
    for (name, why) in [
        ("Audit", "start with a letter"),
        ("9lives", "start with a letter"),
        ("audit.books", "contains '.'"),
        ("aUdit", "contains 'U'"),
    ] {
        let text = load(
            "r.yaml",
            &format!("name: r\npattern: {{source: [a]}}\nplugin: {name}\n"),
        )
        .err()
        .unwrap_or_else(|| panic!("plugin `{name}` accepted"));
        assert!(text.contains("r.yaml:3:"), "{text}");
        assert!(
            text.contains("not a valid plugin name") && text.contains(why),
            "{name}: {text}"
        );
        assert!(
            crate::cli::plugin_new::PluginNames::new(name).is_err(),
            "`plugin new` agrees about {name}"
        );
    }
    assert_eq!(rule("").plugin.as_deref(), Some("p"));
}

#[test]
fn order_is_any_unless_a_rule_asks_for_entity_and_a_bad_value_points_at_it() {
    use crate::rules::DeliveryOrder;
    assert_eq!(rule("").order, DeliveryOrder::Any);
    assert_eq!(rule("order: any\n").order, DeliveryOrder::Any);
    assert_eq!(rule("order: entity\n").order, DeliveryOrder::Entity);
    assert_refused(&[("order: fifo\n", &["r.yaml:4:", "`order` must be `entity`"])]);
}

fn lake_rule(text: &str) -> Result<Rule, String> {
    load("rules/lake.yaml", text)
}

/// Assert that each lake rule file is refused at its position, saying its
/// needles.
#[track_caller]
fn assert_lake_refused(cases: &[(&str, &str, &[&str])]) {
    for (text, at, needles) in cases {
        let errors = lake_rule(text).expect_err("refused");
        assert!(errors.starts_with(at), "{text:?}: not at `{at}`:\n{errors}");
        assert_says(text, &errors, needles);
    }
}

#[test]
fn target_lake_is_a_rule_without_a_plugin() {
    let rule =
        lake_rule("name: lake\npattern: {detail-type: [\"Object State Change\"]}\ntarget: lake\n")
            .expect("valid");
    assert_eq!(
        rule.target,
        Some(crate::rules::HostTarget::Lake(
            trailmark_lake::Table::Changes
        ))
    );
    assert_eq!(rule.plugin, None);
}

#[test]
fn target_errors_say_where_and_what_is_valid() {
    assert_lake_refused(&[
        (
            "name: l\npattern: {source: [a]}\ntarget: s3\n",
            "rules/lake.yaml:3:9:",
            &["`s3`", "`lake`"],
        ),
        (
            "name: l\npattern: {source: [a]}\nplugin: p\ntarget: lake\n",
            "rules/lake.yaml:4:1:",
            &["either `target: lake` or a plugin"],
        ),
        (
            "name: l\npattern: {source: [a]}\ntarget: lake\nconfig: {a: 1}\n",
            "rules/lake.yaml:",
            &["rules/lake.yaml:4:1:", "remove `config`"],
        ),
    ]);
}

#[test]
fn an_ocsf_lake_rule_names_its_security_lake_source() {
    let rule = lake_rule(
        "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf:\n  custom-source: trailmark\n  \
         region: eu-west-1\n  account-id: \"012345678901\"\n",
    )
    .expect("valid");
    let Some(crate::rules::HostTarget::Lake(trailmark_lake::Table::Ocsf(source))) = rule.target
    else {
        panic!("an OCSF table: {:?}", rule.target);
    };
    assert_eq!(
        (
            source.name.as_str(),
            source.region.as_str(),
            source.account_id.as_str()
        ),
        ("trailmark", "eu-west-1", "012345678901")
    );
}

#[test]
fn ocsf_errors_say_where_and_what_is_valid() {
    assert_lake_refused(&[
        (
            "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf:\n  custom-source: t\n  \
             region: Frankfurt\n  account-id: \"012345678901\"\n",
            "rules/lake.yaml:6:11:",
            &["`Frankfurt`", "us-east-1"],
        ),
        (
            "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf: {custom-source: t, region: us-east-1}\n",
            "rules/lake.yaml:4:",
            &["needs `account-id`"],
        ),
        (
            "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf: {custom-source: t, region: us-east-1, account-id: \"012345678901\", class: 3004}\n",
            "rules/lake.yaml:",
            &["unknown key `class`"],
        ),
        (
            "name: sl\npattern: {source: [a]}\nplugin: p\nocsf: {custom-source: t}\n",
            "rules/lake.yaml:4:1:",
            &["add `target: lake`"],
        ),
    ]);
}
