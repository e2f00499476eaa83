//! Golden timelines: a rule, timed events, the exact fires. Window edges,
//! equal timestamps, tumbling boundaries, session gaps, the four examples of
//! issue 16 and the Sigma specification's own correlation examples.

mod common;

use common::{Timed, brief, engine, reference, run};
use trailmark_correlate::{
    AfterFire, Condition, Correlation, Engine, Kind, Limits, Millis, Window,
};

const S: Millis = 1_000;
const M: Millis = 60 * S;
const H: Millis = 60 * M;

fn count(name: &str, rules: &[&str], by: &[&str], span: Millis, cond: Condition) -> Correlation {
    Correlation::new(
        name,
        Kind::EventCount,
        rules.iter().map(|r| (*r).to_owned()).collect(),
        by.iter().map(|r| (*r).to_owned()).collect(),
        span,
        cond,
    )
}

fn gt(n: u64) -> Condition {
    Condition {
        gt: Some(n),
        ..Condition::default()
    }
}

fn gte(n: u64) -> Condition {
    Condition::at_least(n)
}

fn lt(n: u64) -> Condition {
    Condition {
        lt: Some(n),
        ..Condition::default()
    }
}

fn ev(id: &str, t: Millis, rule: &str, fields: &[(&str, &str)]) -> Timed {
    Timed::new(id, t, &[rule], fields)
}

/// Run the engine over the events in time order (the order written, among
/// equal times), check none was late, and check it against the reference.
fn fires_of(c: Correlation, events: &[Timed]) -> Vec<trailmark_correlate::Fire> {
    let mut in_time = events.to_vec();
    in_time.sort_by_key(|e| e.time);
    let mut e = engine(vec![c.clone()]);
    let fires = run(&mut e, &in_time);
    assert_eq!(e.stats()[0].1.late, 0);
    assert_eq!(fires, reference(&c, events), "engine and reference agree");
    fires
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---- window edges -------------------------------------------------------

#[test]
fn an_event_exactly_timespan_earlier_is_inside_the_sliding_window() {
    let c = count("c", &["r"], &["u"], 1000, gte(2));
    let at_edge = [
        ev("a", 0, "r", &[("u", "x")]),
        ev("b", 1000, "r", &[("u", "x")]),
    ];
    assert_eq!(
        brief(&fires_of(c.clone(), &at_edge)),
        [(1000, 0, 1000, 2, ids(&["x"]), ids(&["a", "b"]))]
    );
    let past_edge = [
        ev("a", 0, "r", &[("u", "x")]),
        ev("b", 1001, "r", &[("u", "x")]),
    ];
    assert_eq!(fires_of(c, &past_edge), []);
}

#[test]
fn equal_timestamps_are_taken_in_id_order_whatever_the_arrival() {
    let c = count("c", &["r"], &["u"], 1000, gte(2));
    let forward = [
        ev("a", 5, "r", &[("u", "x")]),
        ev("b", 5, "r", &[("u", "x")]),
        ev("c", 5, "r", &[("u", "x")]),
    ];
    let mut backward = forward.clone();
    backward.reverse();
    let expected = [(5, 5, 5, 2, ids(&["x"]), ids(&["a", "b"]))];
    assert_eq!(brief(&fires_of(c.clone(), &forward)), expected);
    assert_eq!(brief(&fires_of(c, &backward)), expected);
}

#[test]
fn a_tumbling_boundary_starts_the_next_window() {
    let mut c = count("c", &["r"], &["u"], 1000, gte(2));
    c.window = Window::Tumbling;
    let across = [
        ev("a", 999, "r", &[("u", "x")]),
        ev("b", 1000, "r", &[("u", "x")]),
    ];
    assert_eq!(fires_of(c.clone(), &across), []);
    let within = [
        ev("a", 1000, "r", &[("u", "x")]),
        ev("b", 1999, "r", &[("u", "x")]),
    ];
    assert_eq!(
        brief(&fires_of(c.clone(), &within)),
        [(1999, 1000, 1999, 2, ids(&["x"]), ids(&["a", "b"]))]
    );
    // An upper bound is decided when the window closes, at its last instant.
    c.condition = lt(2);
    assert_eq!(
        brief(&fires_of(c, &across)),
        [
            (999, 999, 999, 1, ids(&["x"]), ids(&["a"])),
            (1999, 1000, 1000, 1, ids(&["x"]), ids(&["b"]))
        ]
    );
}

#[test]
fn a_session_lasts_while_gaps_are_at_most_the_timespan() {
    let mut c = count(
        "c",
        &["r"],
        &["u"],
        100,
        Condition {
            gte: Some(1),
            lte: Some(10),
            ..Condition::default()
        },
    );
    c.window = Window::Session;
    let events = [
        ev("a", 0, "r", &[("u", "x")]),
        ev("b", 100, "r", &[("u", "x")]),
        ev("c", 200, "r", &[("u", "x")]),
        ev("d", 301, "r", &[("u", "x")]),
    ];
    assert_eq!(
        brief(&fires_of(c, &events)),
        [
            (300, 0, 200, 3, ids(&["x"]), ids(&["a", "b", "c"])),
            (401, 301, 301, 1, ids(&["x"]), ids(&["d"]))
        ]
    );
}

#[test]
fn suppress_keeps_a_group_quiet_then_lets_it_fire_again() {
    let mut c = count("c", &["r"], &["u"], 1000, gte(2));
    c.after_fire = AfterFire::Suppress(500);
    let events: Vec<Timed> = [0, 100, 200, 600, 700]
        .iter()
        .enumerate()
        .map(|(i, &t)| ev(&format!("e{i}"), t, "r", &[("u", "x")]))
        .collect();
    // Fires at 100; quiet through 600; fires again at 700.
    let fires = fires_of(c, &events);
    assert_eq!(fires.iter().map(|f| f.at).collect::<Vec<_>>(), [100, 700]);
}

#[test]
fn events_missing_a_group_field_are_not_counted() {
    let c = count("c", &["r"], &["u"], 1000, gte(2));
    let events = [
        ev("a", 0, "r", &[("u", "x")]),
        ev("b", 1, "r", &[("v", "x")]),
    ];
    assert_eq!(fires_of(c, &events), []);
}

// ---- the issue's four examples -----------------------------------------

#[test]
fn more_than_20_deletes_by_one_author_in_5_minutes() {
    let c = count(
        "mass-deletes",
        &["delete"],
        &["detail.author"],
        5 * M,
        gt(20),
    );
    // Mallory's 21 deletes take 200 seconds; Alice makes only 20; Bob's 21
    // take 5 minutes and 10 seconds: never 21 in 5 minutes.
    let authors = [
        ("m", 21, 10 * S, "mallory"),
        ("a", 20, 10 * S, "alice"),
        ("b", 21, 15_500, "bob"),
    ];
    let events: Vec<Timed> = authors
        .into_iter()
        .flat_map(|(prefix, deletes, every, author)| {
            (0..deletes).map(move |i| {
                let id = format!("{prefix}{i:02}");
                ev(&id, i * every, "delete", &[("detail.author", author)])
            })
        })
        .collect();
    let fires = fires_of(c, &events);
    assert_eq!(fires.len(), 1, "{fires:?}");
    assert_eq!(
        fires[0].group,
        [("detail.author".to_owned(), "mallory".to_owned())]
    );
    assert_eq!(fires[0].count, 21);
    assert_eq!((fires[0].first, fires[0].last), (0, 200 * S));
    assert_eq!(fires[0].events.len(), 21);
}

#[test]
fn one_user_touching_more_than_100_distinct_customers_in_an_hour() {
    let mut c = count(
        "many-customers",
        &["change"],
        &["detail.author"],
        H,
        gt(100),
    );
    c.kind = Kind::ValueCount {
        field: "detail.customer".into(),
    };
    let mut events = Vec::new();
    for i in 0..101 {
        let customer = format!("cust-{i}");
        events.push(Timed::new(
            &format!("u{i:03}"),
            i * 30 * S,
            &["change"],
            &[("detail.author", "eve"), ("detail.customer", &customer)],
        ));
    }
    // 300 changes, but only 100 distinct customers.
    for i in 0..300 {
        let customer = format!("cust-{}", i % 100);
        events.push(Timed::new(
            &format!("v{i:03}"),
            i * S,
            &["change"],
            &[("detail.author", "dave"), ("detail.customer", &customer)],
        ));
    }
    let fires = fires_of(c, &events);
    assert_eq!(fires.len(), 1, "{fires:?}");
    assert_eq!(fires[0].group[0].1, "eve");
    assert_eq!(fires[0].count, 101);
}

#[test]
fn an_entity_updated_after_it_was_deleted() {
    let c = Correlation::new(
        "update-after-delete",
        Kind::TemporalOrdered,
        ids(&["delete", "update"]),
        ids(&["detail.entity-id"]),
        86_400 * S,
        Condition::default(),
    );
    let events = [
        ev("d1", 0, "delete", &[("detail.entity-id", "book-1")]),
        ev("u1", 5 * M, "update", &[("detail.entity-id", "book-1")]),
        // Updated, then deleted: in order, nothing wrong.
        ev("u2", 0, "update", &[("detail.entity-id", "book-2")]),
        ev("d2", 5 * M, "delete", &[("detail.entity-id", "book-2")]),
        // Deleted and updated at the same instant: not "after".
        ev("d3", M, "delete", &[("detail.entity-id", "book-3")]),
        ev("u3", M, "update", &[("detail.entity-id", "book-3")]),
    ];
    assert_eq!(
        brief(&fires_of(c, &events)),
        [(5 * M, 0, 5 * M, 2, ids(&["book-1"]), ids(&["d1", "u1"]))]
    );
}

#[test]
fn an_admin_action_with_no_approval_within_10_minutes() {
    let mut c = count(
        "unapproved-admin",
        &["admin-action"],
        &["detail.request"],
        10 * M,
        Condition::default(),
    );
    c.absent = ids(&["approval"]);
    let events = [
        ev("a1", 0, "admin-action", &[("detail.request", "r1")]),
        ev("p1", 5 * M, "approval", &[("detail.request", "r1")]),
        ev("a2", 0, "admin-action", &[("detail.request", "r2")]),
        ev("a3", 0, "admin-action", &[("detail.request", "r3")]),
        ev("p3", 11 * M, "approval", &[("detail.request", "r3")]),
        // Approved at the very instant: in time.
        ev("a4", 0, "admin-action", &[("detail.request", "r4")]),
        ev("p4", 0, "approval", &[("detail.request", "r4")]),
    ];
    assert_eq!(
        brief(&fires_of(c, &events)),
        [
            (10 * M, 0, 0, 1, ids(&["r2"]), ids(&["a2"])),
            (10 * M, 0, 0, 1, ids(&["r3"]), ids(&["a3"])),
        ]
    );
}

#[test]
fn absence_fires_only_once_the_window_has_closed() {
    let mut c = count(
        "unapproved-admin",
        &["admin-action"],
        &["r"],
        10 * M,
        Condition::default(),
    );
    c.absent = ids(&["approval"]);
    let mut e = engine(vec![c]);
    let fields: std::collections::BTreeMap<String, String> =
        [("r".to_owned(), "r1".to_owned())].into_iter().collect();
    let event = trailmark_correlate::Event {
        id: "a1",
        time: 0,
        fields: &fields,
    };
    assert_eq!(e.process(&event, &["admin-action"]), []);
    assert_eq!(
        e.advance(10 * M),
        [],
        "the window's last instant still counts"
    );
    let fires = e.advance(10 * M + 1);
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].at, 10 * M);
}

// ---- the Sigma specification's examples ---------------------------------

#[test]
fn sigma_many_failed_logins() {
    // event_count, rules [failed_login], group-by ComputerName, 1h, gte 100.
    let c = count(
        "many_failed_logins",
        &["failed_login"],
        &["ComputerName"],
        H,
        gte(100),
    );
    let events: Vec<Timed> = (0..100)
        .map(|i| {
            ev(
                &format!("f{i:03}"),
                i * 36 * S,
                "failed_login",
                &[("ComputerName", "ws1")],
            )
        })
        .collect();
    let fires = fires_of(c.clone(), &events);
    assert_eq!(fires.len(), 1);
    assert_eq!(
        (fires[0].first, fires[0].last, fires[0].count),
        (0, 99 * 36 * S, 100)
    );
    assert_eq!(fires_of(c, &events[..99]), []);
}

#[test]
fn sigma_failed_logins_from_many_users_per_source_and_destination() {
    // value_count of User, group-by ComputerName and WorkstationName, 1d, gte 100.
    let mut c = count(
        "failed_login",
        &["failed_logon"],
        &["ComputerName", "WorkstationName"],
        86_400 * S,
        gte(100),
    );
    c.kind = Kind::ValueCount {
        field: "User".into(),
    };
    let events: Vec<Timed> = (0..100)
        .map(|i| {
            let user = format!("user{i}");
            Timed::new(
                &format!("f{i:03}"),
                i * M,
                &["failed_logon"],
                &[
                    ("ComputerName", "srv"),
                    ("WorkstationName", "ws9"),
                    ("User", &user),
                ],
            )
        })
        .collect();
    let fires = fires_of(c, &events);
    assert_eq!(fires.len(), 1);
    assert_eq!(
        fires[0].group,
        [
            ("ComputerName".to_owned(), "srv".to_owned()),
            ("WorkstationName".to_owned(), "ws9".to_owned())
        ]
    );
}

#[test]
fn sigma_recon_commands_in_any_order() {
    // temporal, rules recon_cmd_a/b/c, group-by ComputerName and User, 5m.
    let c = Correlation::new(
        "recon",
        Kind::Temporal,
        ids(&["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"]),
        ids(&["ComputerName", "User"]),
        5 * M,
        Condition::at_least(3),
    );
    let on = |id: &str, t, rule, user| ev(id, t, rule, &[("ComputerName", "h1"), ("User", user)]);
    let events = [
        on("c", 0, "recon_cmd_c", "ann"),
        on("a", M, "recon_cmd_a", "ann"),
        on("b", 5 * M, "recon_cmd_b", "ann"),
        // Another user: c is 5 minutes and 1 ms before b.
        on("c2", 0, "recon_cmd_c", "ben"),
        on("a2", M, "recon_cmd_a", "ben"),
        on("b2", 5 * M + 1, "recon_cmd_b", "ben"),
    ];
    assert_eq!(
        brief(&fires_of(c, &events)),
        [(
            5 * M,
            0,
            5 * M,
            3,
            ids(&["h1", "ann"]),
            ids(&["c", "a", "b"])
        )]
    );
}

#[test]
fn sigma_failed_logins_followed_by_a_successful_login_chained() {
    // The specification's full example: an event_count correlation feeds a
    // temporal_ordered one.
    let multiple = count(
        "multiple_failed_login",
        &["failed_login"],
        &["User"],
        10 * M,
        gte(10),
    );
    let chained = Correlation::new(
        "failed_then_success",
        Kind::TemporalOrdered,
        ids(&["multiple_failed_login", "successful_login"]),
        ids(&["User"]),
        10 * M,
        Condition::default(),
    );
    let mut e = engine(vec![chained, multiple]);
    let mut events: Vec<Timed> = (0..10)
        .map(|i| {
            ev(
                &format!("f{i}"),
                i * 10 * S,
                "failed_login",
                &[("User", "root")],
            )
        })
        .collect();
    events.push(ev("ok", 3 * M, "successful_login", &[("User", "root")]));
    // A success with no burst before it.
    events.push(ev("ok2", 3 * M, "successful_login", &[("User", "guest")]));
    let fires = run(&mut e, &events);
    let rules: Vec<&str> = fires.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["multiple_failed_login", "failed_then_success"]);
    let inner = &fires[0];
    let outer = &fires[1];
    assert_eq!(outer.events, [inner.id.clone(), "ok".to_owned()]);
    assert_eq!((outer.first, outer.last), (90 * S, 3 * M));
}

#[test]
fn sigma_aliases_join_differently_named_fields() {
    let mut c = Correlation::new(
        "alias",
        Kind::Temporal,
        ids(&["internal_error", "new_network_connection"]),
        ids(&["internal_ip", "remote_ip"]),
        10 * S,
        Condition::at_least(2),
    );
    c.aliases.insert(
        "internal_ip".into(),
        [
            ("internal_error".to_owned(), "destination.ip".to_owned()),
            ("new_network_connection".to_owned(), "source.ip".to_owned()),
        ]
        .into_iter()
        .collect(),
    );
    c.aliases.insert(
        "remote_ip".into(),
        [
            ("internal_error".to_owned(), "source.ip".to_owned()),
            (
                "new_network_connection".to_owned(),
                "destination.ip".to_owned(),
            ),
        ]
        .into_iter()
        .collect(),
    );
    let events = [
        ev(
            "err",
            0,
            "internal_error",
            &[("destination.ip", "10.0.0.1"), ("source.ip", "6.6.6.6")],
        ),
        ev(
            "conn",
            5 * S,
            "new_network_connection",
            &[("source.ip", "10.0.0.1"), ("destination.ip", "6.6.6.6")],
        ),
        // The same addresses the wrong way round: another group.
        ev(
            "conn2",
            6 * S,
            "new_network_connection",
            &[("source.ip", "6.6.6.6"), ("destination.ip", "10.0.0.1")],
        ),
    ];
    assert_eq!(
        brief(&fires_of(c, &events)),
        [(
            5 * S,
            0,
            5 * S,
            2,
            ids(&["10.0.0.1", "6.6.6.6"]),
            ids(&["err", "conn"])
        )]
    );
}

// ---- engine-level behaviour ---------------------------------------------

#[test]
fn fire_ids_are_the_same_on_every_run() {
    let c = count("c", &["r"], &["u"], 1000, gte(2));
    let events = [
        ev("a", 0, "r", &[("u", "x")]),
        ev("b", 10, "r", &[("u", "x")]),
    ];
    let first = run(&mut engine(vec![c.clone()]), &events);
    let again = run(&mut engine(vec![c]), &events);
    assert_eq!(first[0].id, again[0].id);
}

#[test]
fn a_changed_correlation_starts_fresh_and_an_unchanged_one_keeps_its_state() {
    let c = count("c", &["r"], &["u"], 1000, gte(2));
    let other = count("d", &["r"], &["u"], 1000, gte(2));
    let mut e = engine(vec![c.clone(), other.clone()]);
    common::feed(&mut e, &[ev("a", 0, "r", &[("u", "x")])]);
    let snapshot = e.snapshot();
    let mut changed = other.clone();
    changed.timespan = 2000;
    let mut after = engine(vec![c, changed]);
    let restored = after.restore(snapshot);
    assert_eq!(restored.kept, ["c"]);
    assert_eq!(restored.fresh, ["d"]);
    let fires = run(&mut after, &[ev("b", 10, "r", &[("u", "x")])]);
    assert_eq!(
        fires.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
}

#[test]
fn cycles_between_correlations_are_refused() {
    let a = count("a", &["b"], &["u"], 1000, gte(2));
    let b = count("b", &["a"], &["u"], 1000, gte(2));
    let err = Engine::new(vec![a, b], Limits::default()).unwrap_err();
    assert!(err.to_string().contains("a → b → a"), "{err}");
}

#[test]
fn a_flood_of_a_million_groups_stays_under_the_cap_and_spares_other_rules() {
    let flooded = count("flooded", &["noise"], &["u"], H, gte(5));
    let steady = count("steady", &["signal"], &["u"], H, gte(3));
    let cap = 10_000;
    let mut e = Engine::new(
        vec![flooded, steady],
        Limits {
            max_groups: cap,
            ..Limits::default()
        },
    )
    .expect("valid");
    let mut fires = Vec::new();
    let mut signal = 0;
    for i in 0..1_000_000i64 {
        let mut fields = std::collections::BTreeMap::new();
        if i % 100_000 == 0 {
            fields.insert("u".to_owned(), "admin".to_owned());
            let id = format!("s{signal}");
            signal += 1;
            let event = trailmark_correlate::Event {
                id: &id,
                time: i,
                fields: &fields,
            };
            fires.extend(e.process(&event, &["signal"]));
        }
        fields.insert("u".to_owned(), format!("user{i}"));
        let id = format!("n{i}");
        let event = trailmark_correlate::Event {
            id: &id,
            time: i,
            fields: &fields,
        };
        fires.extend(e.process(&event, &["noise"]));
        if i % 1000 == 0 {
            let stats = e.stats();
            assert!(stats[0].1.groups <= cap as u64, "{stats:?}");
        }
    }
    fires.extend(e.flush());
    let stats = e.stats();
    assert_eq!(stats[0].0, "flooded");
    assert_eq!(stats[0].1.evictions, 1_000_000 - cap as u64);
    assert_eq!(stats[1].1.evictions, 0, "the other rule lost nothing");
    let steady: Vec<_> = fires.iter().filter(|f| f.rule == "steady").collect();
    assert_eq!(steady.len(), 3, "10 signals, threshold 3, reset: 3 fires");
}
