//! Grants and limits as rule files write them, and where their errors point.

use std::path::Path;

use trailmark_runtime::{ArchiveGrant, Quota};

use crate::rules::{Rule, load_str};

const HEAD: &str = "name: r\npattern: {source: [a]}\nplugin: p\n";

fn rule(tail: &str) -> Rule {
    load_str(Path::new("r.yaml"), &format!("{HEAD}{tail}"))
        .unwrap_or_else(|e| panic!("valid rule: {e:?}"))
        .rule
}

fn errors(tail: &str) -> String {
    let errors = load_str(Path::new("r.yaml"), &format!("{HEAD}{tail}"))
        .err()
        .unwrap_or_else(|| panic!("invalid rule: {tail}"));
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
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
    let text = errors("grants:\n  archive: {read: [com.bank], write-prefix: \"../x/\"}\n");
    assert!(text.contains("r.yaml:5:"), "{text}");
    assert!(
        text.contains("`grants.archive.read`: \"com.bank\" is not a key prefix"),
        "{text}"
    );
    assert!(
        text.contains("`grants.archive.write-prefix`: \"../x/\" is not a key prefix"),
        "{text}"
    );
    let text = errors("grants:\n  archive: {write: x/}\n");
    assert!(
        text.contains("unknown key `write` in grants.archive"),
        "{text}"
    );
    let text = errors("grants:\n  archive: yes please\n");
    assert!(text.contains("r.yaml:5:"), "{text}");
    assert!(text.contains("must be true, false, or a mapping"), "{text}");
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
    let text = errors("limits:\n  archive-puts: many\n");
    assert!(text.contains("r.yaml:5:"), "{text}");
    assert!(
        text.contains("`limits.archive-puts` must be a whole number of calls"),
        "{text}"
    );
    let text = errors("limits:\n  archive-put-bytes: 1TiB\n");
    assert!(
        text.contains("`limits.archive-put-bytes` must be a size such as 1MiB"),
        "{text}"
    );
    let text = errors("limits:\n  error-text: 10\n");
    assert!(
        text.contains("`limits.error-text` must be from 256 to"),
        "{text}"
    );
    let text = errors("limits:\n  puts: 3\n");
    assert!(
        text.contains("unknown key `puts` in limits; use timeout, memory, archive-put-bytes"),
        "{text}"
    );
}

#[test]
fn plugin_names_follow_the_one_rule_plugin_new_uses() {
    for (name, why) in [
        ("Audit", "start with a letter"),
        ("9lives", "start with a letter"),
        ("audit.books", "contains '.'"),
        ("aUdit", "contains 'U'"),
    ] {
        let text = load_str(
            Path::new("r.yaml"),
            &format!("name: r\npattern: {{source: [a]}}\nplugin: {name}\n"),
        )
        .err()
        .map(|e| {
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
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
    let e = errors("order: fifo\n");
    assert!(
        e.contains("r.yaml:4:") && e.contains("`order` must be `entity`"),
        "{e}"
    );
}

fn lake_rule(text: &str) -> Result<Rule, String> {
    load_str(Path::new("rules/lake.yaml"), text)
        .map(|loaded| loaded.rule)
        .map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
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
    let unknown = lake_rule("name: l\npattern: {source: [a]}\ntarget: s3\n").expect_err("refused");
    assert!(unknown.starts_with("rules/lake.yaml:3:9:"), "{unknown}");
    assert!(
        unknown.contains("`s3`") && unknown.contains("`lake`"),
        "{unknown}"
    );
    let both = lake_rule("name: l\npattern: {source: [a]}\nplugin: p\ntarget: lake\n")
        .expect_err("refused");
    assert!(both.starts_with("rules/lake.yaml:4:1:"), "{both}");
    assert!(both.contains("either `target: lake` or a plugin"), "{both}");
    let config = lake_rule("name: l\npattern: {source: [a]}\ntarget: lake\nconfig: {a: 1}\n")
        .expect_err("refused");
    assert!(
        config.contains("rules/lake.yaml:4:1:") && config.contains("remove `config`"),
        "{config}"
    );
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
    let region = lake_rule(
        "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf:\n  custom-source: t\n  \
         region: Frankfurt\n  account-id: \"012345678901\"\n",
    )
    .expect_err("refused");
    assert!(region.starts_with("rules/lake.yaml:6:11:"), "{region}");
    assert!(
        region.contains("`Frankfurt`") && region.contains("us-east-1"),
        "{region}"
    );
    let missing = lake_rule(
        "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf: {custom-source: t, region: us-east-1}\n",
    )
    .expect_err("refused");
    assert!(
        missing.starts_with("rules/lake.yaml:4:") && missing.contains("needs `account-id`"),
        "{missing}"
    );
    let unknown = lake_rule(
        "name: sl\npattern: {source: [a]}\ntarget: lake\nocsf: {custom-source: t, region: us-east-1, account-id: \"012345678901\", class: 3004}\n",
    )
    .expect_err("refused");
    assert!(unknown.contains("unknown key `class`"), "{unknown}");
    let without_target =
        lake_rule("name: sl\npattern: {source: [a]}\nplugin: p\nocsf: {custom-source: t}\n")
            .expect_err("refused");
    assert!(
        without_target.starts_with("rules/lake.yaml:4:1:")
            && without_target.contains("add `target: lake`"),
        "{without_target}"
    );
}
