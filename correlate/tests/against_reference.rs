//! The engine against the brute-force reference on random rules and
//! streams: in order, permuted within the lateness allowance, and cut by a
//! snapshot and restore at a random point.

mod common;

use common::{Timed, engine, feed, reference, run};
use proptest::prelude::*;
use trailmark_correlate::{
    AfterFire, Condition, Correlation, Engine, Kind, Limits, Millis, Snapshot, Window,
};

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::EventCount),
        Just(Kind::ValueCount { field: "v".into() }),
        Just(Kind::Temporal),
        Just(Kind::TemporalOrdered),
    ]
}

fn condition(kind: &Kind, window: Window, rules: usize) -> BoxedStrategy<Condition> {
    let max = match kind {
        Kind::Temporal => rules as u64,
        _ => 5,
    };
    match (kind, window) {
        (Kind::TemporalOrdered, _) => Just(Condition::default()).boxed(),
        (_, Window::Sliding) => prop_oneof![
            (1..=max).prop_map(|n| Condition {
                gte: Some(n),
                ..Condition::default()
            }),
            (0..max).prop_map(|n| Condition {
                gt: Some(n),
                ..Condition::default()
            }),
        ]
        .boxed(),
        _ => prop_oneof![
            (1..=max).prop_map(|n| Condition {
                gte: Some(n),
                ..Condition::default()
            }),
            (1..=max).prop_map(|n| Condition {
                lt: Some(n),
                ..Condition::default()
            }),
            (1..=max).prop_map(|n| Condition {
                eq: Some(n),
                ..Condition::default()
            }),
            (0..max, 1..=max).prop_map(|(a, b)| Condition {
                gt: Some(a),
                lte: Some(a + b),
                ..Condition::default()
            }),
            (1..=max).prop_map(|n| Condition {
                neq: Some(n),
                ..Condition::default()
            }),
        ]
        .boxed(),
    }
}

fn correlation() -> impl Strategy<Value = Correlation> {
    (
        kind(),
        prop_oneof![
            Just(Window::Sliding),
            Just(Window::Tumbling),
            Just(Window::Session)
        ],
        1usize..=3,
        prop_oneof![Just(100i64), Just(250), Just(1000)],
        prop_oneof![
            Just(AfterFire::Reset),
            (1i64..500).prop_map(AfterFire::Suppress)
        ],
        0i64..=100,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            |(kind, window, rules, span, after, lateness, absence, alias)| {
                let absence = absence && kind == Kind::EventCount && window == Window::Sliding;
                let window = if absence { Window::Sliding } else { window };
                condition(&kind, window, rules).prop_map(move |condition| {
                    let mut c = Correlation::new(
                        "c",
                        kind.clone(),
                        (0..rules).map(|i| format!("r{i}")).collect(),
                        vec!["g".into()],
                        span,
                        condition,
                    );
                    c.window = window;
                    c.after_fire = after;
                    c.lateness = lateness.min(span);
                    if absence {
                        c.absent = vec!["x".into()];
                        c.condition = Condition::default();
                    }
                    if alias {
                        // Rule r0 keeps its group in another field.
                        c.aliases.insert(
                            "g".into(),
                            [("r0".to_owned(), "g0".to_owned())].into_iter().collect(),
                        );
                    }
                    c
                })
            },
        )
}

fn stream() -> impl Strategy<Value = Vec<Timed>> {
    prop::collection::vec(
        (
            0i64..3000,
            prop::sample::subsequence(vec!["r0", "r1", "r2", "x"], 1..=2),
            prop::option::weighted(0.95, prop::sample::select(vec!["a", "b", "c"])),
            prop::sample::select(vec!["0", "1", "2", "3", "4", "5"]),
        ),
        0..60,
    )
    .prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (time, matched, group, value))| {
                let mut fields = vec![("v", value)];
                if let Some(g) = group {
                    fields.push(("g", g));
                    fields.push(("g0", g));
                }
                Timed::new(&format!("e{i:03}"), time, &matched, &fields)
            })
            .collect()
    })
}

/// The events in an arrival order within the lateness allowance: each
/// delayed by up to `lateness`, then sorted by arrival.
fn within_lateness(mut events: Vec<Timed>, lateness: Millis, jitter: &[u16]) -> Vec<Timed> {
    events.sort_by_key(|e| e.time);
    let mut keyed: Vec<(Millis, usize, Timed)> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let delay = jitter.get(i).map_or(0, |&j| Millis::from(j)) % (lateness + 1);
            (e.time + delay, i, e)
        })
        .collect();
    keyed.sort_by_key(|(arrival, i, _)| (*arrival, *i));
    keyed.into_iter().map(|(_, _, e)| e).collect()
}

fn new_engine(c: &Correlation) -> Engine {
    Engine::new(vec![c.clone()], Limits::default()).expect("generated correlations are valid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn engine_agrees_with_the_reference_in_any_order_within_lateness(
        c in correlation(),
        events in stream(),
        jitter in prop::collection::vec(any::<u16>(), 60),
    ) {
        prop_assert_eq!(c.check(), vec![]);
        let expected = reference(&c, &events);
        let arrival = within_lateness(events, c.lateness, &jitter);
        let mut eng = new_engine(&c);
        let got = run(&mut eng, &arrival);
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(eng.stats()[0].1.late, 0, "nothing within the allowance is late");
    }

    #[test]
    fn snapshot_after_any_prefix_gives_the_same_fires(
        c in correlation(),
        events in stream(),
        jitter in prop::collection::vec(any::<u16>(), 60),
        cut in any::<prop::sample::Index>(),
    ) {
        let arrival = within_lateness(events, c.lateness, &jitter);
        let whole = run(&mut new_engine(&c), &arrival);
        let cut = if arrival.is_empty() { 0 } else { cut.index(arrival.len() + 1) };
        let mut first = new_engine(&c);
        let mut fires = feed(&mut first, &arrival[..cut]);
        // Through the bytes a host would store.
        let text = serde_json::to_string(&first.snapshot()).expect("snapshots serialize");
        let snapshot: Snapshot = serde_json::from_str(&text).expect("and read back");
        let mut second = new_engine(&c);
        let restored = second.restore(snapshot);
        prop_assert_eq!(restored.kept, vec!["c".to_owned()]);
        fires.extend(run(&mut second, &arrival[cut..]));
        fires.sort();
        prop_assert_eq!(fires, whole);
    }
}

#[test]
fn events_later_than_the_allowance_are_counted_and_skipped() {
    let mut c = Correlation::new(
        "c",
        Kind::EventCount,
        vec!["r0".into()],
        vec!["g".into()],
        1000,
        Condition::at_least(2),
    );
    c.lateness = 100;
    let mut e = engine(vec![c]);
    let events = [
        Timed::new("a", 1000, &["r0"], &[("g", "x")]),
        Timed::new("b", 901, &["r0"], &[("g", "x")]),
        Timed::new("c", 899, &["r0"], &[("g", "x")]),
    ];
    // Not late until the clock passes its time plus the allowance: a at
    // 1000 makes the frontier 900; 901 is in, 899 is late.
    let fires = run(&mut e, &events);
    assert_eq!(e.stats()[0].1.late, 1);
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].events, ["b", "a"]);
}
