//! A snapshot written by an earlier build of the engine (the one before
//! window state was kept compact: ids packed, digests apart from ids, small
//! state inline) reads back, and correlation goes on from it as if never
//! interrupted. The fixture was written by that build from `prefix()`;
//! `TRAILMARK_WRITE_SNAPSHOT_FIXTURE=1` writes it again from this one.

mod common;

use common::Timed;
use trailmark_correlate::{AfterFire, Condition, Correlation, Engine, Kind, Snapshot};

const FIXTURE: &str = "tests/snapshots/before-compact-state.json";

/// A correlation of `kind` over `rules`, by user, within a second, with
/// some lateness (so a snapshot holds waiting events too).
fn rule(name: &str, kind: Kind, rules: &[&str], condition: Condition) -> Correlation {
    let rules = rules.iter().map(|r| (*r).to_owned()).collect();
    let mut c = Correlation::new(name, kind, rules, vec!["user".into()], 1_000, condition);
    c.lateness = 50;
    c
}

fn rules() -> Vec<Correlation> {
    let mut count = rule("count", Kind::EventCount, &["a"], Condition::at_least(3));
    count.after_fire = AfterFire::Suppress(200);
    let distinct = Kind::ValueCount {
        field: "entity".into(),
    };
    vec![
        count,
        rule("distinct", distinct, &["a", "b"], Condition::at_least(3)),
        rule(
            "temporal",
            Kind::Temporal,
            &["a", "b", "c"],
            Condition::at_least(3),
        ),
        rule(
            "ordered",
            Kind::TemporalOrdered,
            &["a", "b", "c"],
            Condition::default(),
        ),
    ]
}

/// Ids of every form an engine keeps: UUIDs, fire-id-like hex, short text
/// and long text.
fn id(i: usize) -> String {
    match i % 4 {
        0 => format!("0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c{i:04x}"),
        1 => format!("00ff3c8e2f9a4c3e9a578f1d2e3c{i:04x}"),
        2 => format!("e{i}"),
        _ => format!("a-rather-long-event-identifier-of-some-producer-{i}"),
    }
}

fn events(from: usize, to: usize) -> Vec<Timed> {
    let rules = ["a", "b", "c"];
    (from..to)
        .map(|i| {
            let user = format!("u{}", i % 5);
            let entity = format!("x{}", (i * 7) % 4);
            Timed::new(
                &id(i),
                (i as i64) * 37 % 60 + (i as i64) * 20,
                &[rules[i % 3]],
                &[("user", &user), ("entity", &entity)],
            )
        })
        .collect()
}

fn engine() -> Engine {
    common::engine(rules())
}

#[test]
fn a_snapshot_of_the_earlier_format_restores_and_goes_on_the_same() {
    let mut whole = engine();
    let mut expected = common::feed(&mut whole, &events(0, 120));
    let prefix_fires = expected.len();
    let snapshot = whole.snapshot();
    let text = serde_json::to_string_pretty(&snapshot).expect("serializes");
    if std::env::var_os("TRAILMARK_WRITE_SNAPSHOT_FIXTURE").is_some() {
        std::fs::write(FIXTURE, &text).expect("fixture written");
    }
    expected.extend(common::feed(&mut whole, &events(120, 200)));
    expected.extend(whole.flush());

    let fixture = std::fs::read_to_string(FIXTURE).expect("fixture present");
    let old: Snapshot = serde_json::from_str(&fixture).expect("the earlier format reads");
    assert_eq!(old, snapshot, "the same state, whatever build wrote it");
    assert_eq!(
        serde_json::to_string_pretty(&old).expect("serializes"),
        fixture,
        "and it is written back in the same format"
    );
    let mut resumed = engine();
    let restored = resumed.restore(old);
    assert_eq!(restored.kept.len(), 4);
    let mut after = common::feed(&mut resumed, &events(120, 200));
    after.extend(resumed.flush());
    assert!(prefix_fires > 0 && !after.is_empty(), "the stream fires");
    assert_eq!(after, expected[prefix_fires..]);
}

#[test]
fn a_snapshot_of_every_type_goes_through_the_host_s_compact_form() {
    let mut whole = engine();
    common::feed(&mut whole, &events(0, 120));
    let snapshot = whole.snapshot();
    let bytes = postcard::to_stdvec(&snapshot).expect("encodes");
    let back: Snapshot = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, snapshot);
    let json = serde_json::to_vec(&snapshot).expect("json");
    assert!(
        bytes.len() < json.len(),
        "{} against {}",
        bytes.len(),
        json.len()
    );
}
