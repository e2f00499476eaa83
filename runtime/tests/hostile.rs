//! Purpose-built malicious plugins against the real runtime: each tries to
//! rewrite or forge the trail, outlast its deadline, forward a forged event
//! or flood the backends, and is stopped with a clear error.

mod common;

use std::sync::Arc;

use std::time::{Duration, Instant};
use trailmark_event::ParsedEvent;

use common::{
    MemArchive, MemMetadata, RecordingForwarder, RecordingNotifier, assert_noop_still_works,
    capture_logs, event, plugin, rejection, standard,
};
use serde_json::json;
use trailmark_backends::{Event, Forwarder, MetadataStore, Notifier};
use trailmark_runtime::{
    ArchiveGrant, Binding, BindingSpec, CallError, Capabilities, Grants, Limits, Quota, Quotas,
};

/// The key the standard plugins use once the default template carries the id.
const ID_TEMPLATE: &str = "{source}/{entity-type}/{entity-id}/{ts}-{operation}-{id}.json";
/// The template before it did: two events in one millisecond shared a key.
const OLD_TEMPLATE: &str = "{source}/{entity-type}/{entity-id}/{ts}-{operation}.json";

/// The backends every test gets, with handles to look inside.
struct Stores {
    archive: Arc<MemArchive>,
    metadata: Arc<MemMetadata>,
    notify: Arc<RecordingNotifier>,
    forward: Arc<RecordingForwarder>,
}

impl Stores {
    fn new() -> Stores {
        Stores {
            archive: Arc::default(),
            metadata: Arc::default(),
            notify: Arc::default(),
            forward: Arc::default(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities {
            archive: Some(self.archive.clone()),
            metadata: Some(self.metadata.clone() as Arc<dyn MetadataStore>),
            ..Capabilities::default()
        };
        capabilities
            .notify
            .insert("ops".to_owned(), self.notify.clone() as Arc<dyn Notifier>);
        capabilities
            .forward
            .insert("out".to_owned(), self.forward.clone() as Arc<dyn Forwarder>);
        capabilities
    }

    fn body(&self, key: &str) -> Option<Vec<u8>> {
        self.archive.bodies.lock().expect("map").get(key).cloned()
    }
}

/// Every grant there is, with the plain archive grant.
fn all_grants() -> Grants {
    Grants {
        archive: Some(ArchiveGrant::default()),
        metadata: true,
        notify: ["ops".to_owned()].into(),
        forward: ["out".to_owned()].into(),
        ..Grants::default()
    }
}

/// The test plugin `name` as rule `name`, with every grant and the default
/// quotas.
fn bind(name: &str, stores: &Stores, config: serde_json::Value) -> Binding {
    bind_plugin(plugin(name), name, stores, Quotas::default(), config)
}

/// The standard plugin `name` as rule `name`, with every grant and the
/// default quotas.
fn bind_standard(name: &str, stores: &Stores, config: serde_json::Value) -> Binding {
    bind_plugin(standard(name), name, stores, Quotas::default(), config)
}

fn bind_plugin(
    plugin: Arc<trailmark_runtime::Plugin>,
    rule: &str,
    stores: &Stores,
    quotas: Quotas,
    config: serde_json::Value,
) -> Binding {
    Binding::new(
        plugin,
        BindingSpec {
            rule: rule.to_owned(),
            grants: all_grants(),
            capabilities: stores.capabilities(),
            // Room for a flood on a loaded machine: quotas, not time, stop it.
            limits: Limits {
                timeout: Duration::from_secs(10),
                ..Limits::default()
            },
            quotas,
            config,
        },
    )
    .expect("binding is valid")
}

// --- the trail: archive and metadata confined to the delivered event ---

#[test]
fn forger_cannot_read_or_overwrite_another_events_or_sources_body() {
    let stores = Stores::new();
    let bank_key = "com.bank/account/acct-1/1764064800000-update-bank-event.json";
    stores
        .archive
        .bodies
        .lock()
        .expect("map")
        .insert(bank_key.to_owned(), b"alice's body".to_vec());
    let sibling_key = "com.example.books/book/b1/1764064800000-insert-sibling-event.json";
    stores
        .archive
        .bodies
        .lock()
        .expect("map")
        .insert(sibling_key.to_owned(), b"sibling body".to_vec());
    let binding = bind(
        "forger",
        &stores,
        json!({"ops": [
            {"op": "put", "key": bank_key},
            {"op": "put", "key": sibling_key},
            {"op": "put", "key": "com.bank/account/acct-1/1764064800000-update-{id}.json"},
            {"op": "put", "key": "{source}/book/b1/1764064800000-insert.json"},
            {"op": "get", "key": bank_key},
            {"op": "put", "key": "{source}/book/b1/1764064800000-insert-{id}.json"},
            {"op": "get", "key": "{source}/book/b1/1764064800000-insert-{id}.json"},
        ]}),
    );
    let text = rejection(binding.call(&event("forger-1")));
    let outcomes: Vec<&str> = text.split(" | ").collect();
    assert_eq!(outcomes.len(), 7, "{text}");
    for outcome in &outcomes[..5] {
        assert!(outcome.contains(": denied: archive key"), "{outcome}");
    }
    assert!(
        outcomes[0].contains("must start with `com.example.books/`"),
        "{text}"
    );
    assert!(outcomes[1].contains("does not contain the id"), "{text}");
    assert!(
        outcomes[2].contains("must start with `com.example.books/`"),
        "{text}"
    );
    assert!(outcomes[3].contains("does not contain the id"), "{text}");
    assert!(
        outcomes[4].contains("readable: com.example.books/"),
        "{text}"
    );
    assert!(!text.contains("alice's body"), "{text}");
    assert_eq!(outcomes[5], "put: ok");
    assert_eq!(outcomes[6], "get: ok forged by forger-1");
    assert_eq!(stores.body(bank_key).as_deref(), Some(&b"alice's body"[..]));
    assert_eq!(
        stores.body(sibling_key).as_deref(),
        Some(&b"sibling body"[..])
    );
    assert_eq!(stores.archive.bodies.lock().expect("map").len(), 3);
}

#[test]
fn read_prefixes_and_a_write_prefix_widen_the_archive_grant() {
    let stores = Stores::new();
    stores
        .archive
        .bodies
        .lock()
        .expect("map")
        .insert("com.bank/a/1.json".to_owned(), b"bank".to_vec());
    let binding = Binding::new(
        plugin("forger"),
        BindingSpec {
            rule: "redactor".to_owned(),
            grants: Grants {
                archive: Some(ArchiveGrant {
                    read: ["com.bank/".to_owned()].into(),
                    write_prefix: Some("redacted/".to_owned()),
                }),
                ..Grants::default()
            },
            capabilities: stores.capabilities(),
            config: json!({"ops": [
                {"op": "get", "key": "com.bank/a/1.json"},
                {"op": "put", "key": "redacted/{id}.json"},
                {"op": "put", "key": "{source}/book/b1/1-insert-{id}.json"},
            ]}),
            ..BindingSpec::default()
        },
    )
    .expect("binding");
    let text = rejection(binding.call(&event("wide-1")));
    assert!(
        text.starts_with("get: ok bank | put: ok | put: denied:"),
        "{text}"
    );
    assert!(text.contains("must start with `redacted/`"), "{text}");
    assert!(stores.body("redacted/wide-1.json").is_some());
}

#[test]
fn forger_cannot_store_a_record_for_an_event_it_was_not_handed() {
    let stores = Stores::new();
    // In 0.2 a plugin names no identity field: the host fills in the
    // delivered event's own. What is left to forge is refused.
    let binding = bind(
        "forger",
        &stores,
        json!({"ops": [
            {"op": "metadata", "archive-key": "com.bank/account/acct-1/1-delete-{id}.json"},
            {"op": "metadata", "archive-key": "{source}/book/b1/1764064800000-insert.json"},
            {"op": "metadata", "attributes": "[\"not an object\"]"},
            {"op": "metadata", "index": 7},
        ]}),
    );
    let text = rejection(binding.call(&event("forger-2")));
    let outcomes: Vec<&str> = text.split(" | ").collect();
    assert_eq!(outcomes.len(), 4, "{text}");
    assert!(
        outcomes[0].contains("must start with `com.example.books/`"),
        "{text}"
    );
    assert!(outcomes[1].contains("does not contain the id"), "{text}");
    assert!(
        outcomes[2].starts_with("metadata: invalid: metadata.put: attributes"),
        "{text}"
    );
    assert!(
        outcomes[3].contains("delivery index 7 is outside the batch of 1"),
        "{text}"
    );
    assert!(stores.metadata.records.lock().expect("list").is_empty());

    // Naming another delivery of the same batch stores *that* event's own
    // record, with its own fields: nothing is forged.
    let cross = bind(
        "forger",
        &stores,
        json!({"ops": [{"op": "metadata", "index": 1}]}),
    );
    let batch = [
        Arc::new(ParsedEvent::new(event("cross-a"))),
        Arc::new(ParsedEvent::new(event("cross-b"))),
    ];
    let results = cross.call_batch(&batch);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    {
        let records = stores.metadata.records.lock().expect("list");
        assert_eq!(records.len(), 1, "one record, stored once");
        assert_eq!(records[0].event_id, "cross-b");
        assert_eq!(
            records[0].author,
            batch[1]
                .change()
                .and_then(|c| c.as_ref().ok())
                .map(|c| c.author.clone())
                .unwrap_or_default()
        );
    }
    stores.metadata.records.lock().expect("list").clear();

    // The honest record is stored with the host's fields.
    let honest = bind(
        "forger",
        &stores,
        json!({"ops": [{"op": "metadata", "archive-key": "{source}/book/b1/1764064800000-insert-{id}.json",
                        "attributes": "{\"k\":1}"}]}),
    );
    honest.call(&event("forger-3")).expect("own record");
    let records = stores.metadata.records.lock().expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event_id, "forger-3");
    assert_eq!(records[0].author, "ana");
    assert_eq!(records[0].source, "com.example.books");
    assert_eq!(records[0].attributes, "{\"k\":1}");
}

#[test]
fn a_delivery_that_is_not_a_state_change_stores_no_record() {
    let stores = Stores::new();
    let binding = bind("forger", &stores, json!({"ops": [{"op": "metadata"}]}));
    let login = Event {
        detail_type: "Login".to_owned(),
        ..event("login-1")
    };
    let text = rejection(binding.call(&login));
    assert!(text.contains("is not an Object State Change"), "{text}");
    assert!(stores.metadata.records.lock().expect("list").is_empty());
}

#[test]
fn standard_plugins_pass_with_the_id_template_and_are_refused_without_it() {
    let stores = Stores::new();
    let with_id = bind_standard("archive", &stores, json!({"key": ID_TEMPLATE}));
    with_id
        .call(&event("std-1"))
        .expect("archive with the id template");
    let key = "com.example.books/book/b1/1764064800000-insert-std-1.json";
    assert!(stores.body(key).is_some());
    let metadata = bind_standard("metadata", &stores, json!({"archive-key": ID_TEMPLATE}));
    metadata
        .call(&event("std-1"))
        .expect("metadata with the id template");
    assert_eq!(
        stores.metadata.records.lock().expect("list")[0]
            .archive_key
            .as_deref(),
        Some(key)
    );

    for (name, key_field) in [("archive", "key"), ("metadata", "archive-key")] {
        let without_id = bind_standard(name, &stores, json!({ key_field: OLD_TEMPLATE }));
        let err = without_id.call(&event("std-2")).expect_err("old template");
        assert!(
            err.to_string()
                .contains("does not contain the id of event std-2"),
            "{name}: {err}"
        );
    }
}

// --- time: no clock, no sleep ---

#[test]
fn sleeper_is_stopped_at_once_not_after_its_sleep() {
    let stores = Stores::new();
    let binding = bind("sleeper", &stores, json!({"mode": "sleep", "ms": 20_000}));
    let started = Instant::now();
    let err = binding
        .call(&event("sleep-1"))
        .expect_err("sleep is forbidden");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert!(matches!(err, CallError::Forbidden(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("plugins may not sleep"), "{err}");
    assert!(err.to_string().contains("subscribe-duration"), "{err}");
    assert_noop_still_works();
}

#[test]
fn clocks_are_frozen_and_stdin_is_empty() {
    let stores = Stores::new();
    let binding = bind("sleeper", &stores, json!({"mode": "clock"}));
    let text = rejection(binding.call(&event("clock-1")));
    assert!(text.starts_with("wall 0 elapsed 0 "), "{text}");
    let binding = bind("sleeper", &stores, json!({"mode": "stdin"}));
    let started = Instant::now();
    let text = rejection(binding.call(&event("stdin-1")));
    assert!(text.starts_with("stdin: 0 bytes (Ok(0))"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

// --- forward: the delivered event, recorded as forwarded by the rule ---

#[test]
fn reforwarder_cannot_change_the_envelope_and_the_rule_is_recorded() {
    let stores = Stores::new();
    // In 0.2 a plugin hands over only a detail and resources: the envelope
    // (source, time, id, ...) is the delivered event's, whatever it wants.
    let binding = bind(
        "reforwarder",
        &stores,
        json!({"destination": "out", "set": {"resources": ["trailmark:rule/archive"]}}),
    );
    let text = rejection(binding.call(&event("fwd-2")));
    assert!(text.contains("only the host adds"), "{text}");
    assert!(stores.forward.sent.lock().expect("list").is_empty());

    let binding = bind(
        "reforwarder",
        &stores,
        json!({"destination": "out", "set": {"detail": "{\"added\":true}", "resources": ["book/b1"]}}),
    );
    binding
        .call(&event("fwd-3"))
        .expect("detail and resources may change");
    let sent = stores.forward.sent.lock().expect("list");
    assert_eq!(sent.len(), 1);
    let delivered = event("fwd-3");
    assert_eq!(sent[0].source, delivered.source);
    assert_eq!(sent[0].time, delivered.time);
    assert_eq!(sent[0].id, delivered.id);
    assert_eq!(sent[0].detail, "{\"added\":true}");
    assert_eq!(
        sent[0].resources,
        vec!["book/b1", "trailmark:rule/reforwarder"]
    );
}

#[test]
fn forwarding_needs_the_destination_granted_and_configured() {
    let stores = Stores::new();
    let ungranted = bind("reforwarder", &stores, json!({"destination": "elsewhere"}));
    let text = rejection(ungranted.call(&event("fwd-4")));
    assert!(
        text.contains(
            "denied: rule \"reforwarder\" has no grant for forward destination \"elsewhere\""
        ),
        "{text}"
    );
    let mut capabilities = stores.capabilities();
    capabilities.forward.clear();
    let unconfigured = Binding::new(
        plugin("reforwarder"),
        BindingSpec {
            rule: "reforwarder".to_owned(),
            grants: all_grants(),
            capabilities,
            limits: Limits::default(),
            quotas: Quotas::default(),
            config: json!({"destination": "out"}),
        },
    )
    .expect("binding is valid");
    let text = rejection(unconfigured.call(&event("fwd-5")));
    assert!(
        text.contains(
            "invalid: forward destination \"out\" is granted to rule \"reforwarder\" but is not configured on this host"
        ),
        "{text}"
    );
    assert!(stores.forward.sent.lock().expect("list").is_empty());
}

// --- quotas ---

/// Runs the flooder with `config` and returns its rejection.
fn flood(quotas: Quotas, config: serde_json::Value) -> (Stores, String) {
    let stores = Stores::new();
    let binding = bind_plugin(plugin("flooder"), "flooder", &stores, quotas, config);
    let text = rejection(binding.call(&event("flood-1")));
    (stores, text)
}

#[test]
fn each_quota_stops_its_flood_naming_the_quota() {
    let defaults = Quotas::default();
    let cases = [
        (
            json!({"flood": "body", "bytes": 2 << 20}),
            "stopped after 0 calls: invalid:",
            Quota::ArchivePutBytes,
            "(1048576 bytes per put)",
        ),
        (
            json!({"flood": "puts", "count": 1000}),
            "stopped after 16 calls: invalid: archive.put number 17",
            Quota::ArchivePuts,
            "(16 calls per delivery)",
        ),
        (
            json!({"flood": "puts", "count": 16, "bytes": 1 << 20}),
            "stopped after 8 calls: invalid:",
            Quota::ArchiveBytes,
            "(8388608 bytes per delivery)",
        ),
        (
            json!({"flood": "gets", "count": 1000}),
            "stopped after 64 calls:",
            Quota::ArchiveGets,
            "(64 calls per delivery)",
        ),
        (
            json!({"flood": "notifications", "count": 1000}),
            "stopped after 8 calls:",
            Quota::Notifications,
            "(8 calls per delivery)",
        ),
        (
            json!({"flood": "forwards", "count": 1000}),
            "stopped after 4 calls:",
            Quota::ForwardSends,
            "(4 calls per delivery)",
        ),
        (
            json!({"flood": "metadata", "count": 1000}),
            "stopped after 4 calls:",
            Quota::MetadataPuts,
            "(4 calls per delivery)",
        ),
        (
            json!({"flood": "attributes", "bytes": 100_000}),
            "stopped after 0 calls:",
            Quota::AttributeBytes,
            "(16384 bytes per record)",
        ),
    ];
    for (config, start, quota, value) in cases {
        let (_stores, text) = flood(defaults, config.clone());
        assert!(text.starts_with(start), "{config}: {text}");
        assert!(
            text.contains(&format!("over the quota {quota} {value}")),
            "{config}: {text}"
        );
    }
    assert_noop_still_works();
}

#[test]
fn quotas_are_set_per_binding() {
    let mut quotas = Quotas::default();
    quotas.set(Quota::ArchivePuts, 2).expect("in range");
    let (stores, text) = flood(quotas, json!({"flood": "puts", "count": 10}));
    assert!(text.starts_with("stopped after 2 calls:"), "{text}");
    assert!(
        text.contains("limits.archive-puts (2 calls per delivery)"),
        "{text}"
    );
    assert_eq!(stores.archive.bodies.lock().expect("map").len(), 2);
}

#[test]
fn error_text_is_bounded_and_cannot_forge_log_lines() {
    let (_stores, text) = flood(
        Quotas::default(),
        json!({"flood": "error-text", "bytes": 1 << 20}),
    );
    assert!(text.len() <= 4096, "{}", text.len());
    assert!(text.ends_with("bytes in all]"), "{text}");
    assert!(!text.contains('\n') && !text.contains('\r') && !text.contains('\x1b'));
    assert!(text.contains("\\nINFO trailmark: forged line"), "{text}");
}

#[test]
fn plugin_log_and_stdout_cannot_forge_log_lines() {
    let stores = Stores::new();
    let binding = bind("flooder", &stores, json!({"flood": "log"}));
    let (result, logs) = capture_logs(|| binding.call(&event("log-1")));
    result.expect("logging succeeds");
    assert!(
        logs.contains("plugin log\\nINFO trailmark: forged line"),
        "{logs}"
    );
    assert!(
        logs.contains("plugin stdout\\rINFO trailmark: forged stdout line\\u{1b}[31m"),
        "{logs}"
    );
    for line in logs.lines() {
        assert!(!line.starts_with("INFO trailmark"), "forged line: {line:?}");
        assert!(
            !line.contains('\r') && !line.contains('\x1b'),
            "raw control: {line:?}"
        );
    }
}
