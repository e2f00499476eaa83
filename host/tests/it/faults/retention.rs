//! Journal retention with rules in force: segments whose events are all
//! delivered everywhere and older than the retention go; a segment holding
//! an event still owed to a rule stays until it is delivered; the change
//! records stay (retention is the journal's); `verify` passes after it.

use std::time::Duration;

use serde_json::Value;

use super::destination::{Destination, Mode};
use super::load::{self, Load};
use crate::common::{Server, Setup, first_event_id, put_accepted, state_change};

const WAIT: Duration = Duration::from_secs(60);

fn first_seq(server: &Server) -> u64 {
    let (_, status) = server.get("/v1/admin/status").expect("status");
    status["journal"]["first-seq"].as_u64().unwrap_or(0)
}

fn data() -> Option<Value> {
    Some(serde_json::json!({"n": 1}))
}

fn found(server: &Server, id: &str) -> bool {
    server
        .get(&format!("/v1/events/{id}"))
        .is_ok_and(|(status, _)| status == 200)
}

#[test]
fn retention_removes_what_every_rule_has_and_keeps_what_one_still_owes() {
    let hooks = Destination::start(Mode::Hang);
    let setup = Setup::new().standard();
    // The data lake holds retention back until its open files close
    // (default after 15 min): closed after a second here.
    setup.config(
        "[journal]\nretention = \"2s\"\nsegment-size = \"64KiB\"\n\n[dispatch]\nretry-max = \"1s\"\n\n[lake]\nmax-file-age = \"1s\"\n",
    );
    hooks.install(&setup, "hooks", "300ms");
    // Only `held` entities go to the (hanging) webhook.
    setup.rule(
        "hooks.yaml",
        "name: hooks\npattern: {source: [com.example.test], detail: {entity-type: [held]}}\n\
         plugin: webhook\ngrants: {http: [hooks]}\nconfig: {destination: hooks}\n",
    );
    let server = setup.start();
    let early = first_event_id(&put_accepted(
        &server,
        &[state_change("doc", "early", "insert", "retention", data())],
    ));
    // Segments of events delivered everywhere before the held one.
    for batch in 0..60 {
        let entries: Vec<Value> = (0..10)
            .map(|i| {
                state_change(
                    "doc",
                    &format!("filler-{batch}-{i}"),
                    "insert",
                    "retention",
                    data(),
                )
            })
            .collect();
        put_accepted(&server, &entries);
    }
    let held = first_event_id(&put_accepted(
        &server,
        &[state_change("held", "h1", "insert", "retention", data())],
    ));
    // More segments after it, delivered everywhere; all older than 2 s soon.
    let load = Load::start(&server, 3, "retention");
    server.wait_until(WAIT, "retention to remove the early segments", |s| {
        !found(s, &early)
    });
    let removed_to = first_seq(&server);
    assert!(removed_to > 1, "first seq {removed_to}");
    // The segment with the owed event stays, however old.
    assert!(found(&server, &held), "an event still owed was removed");
    load.wait_for_more(500, WAIT, &server);
    assert!(found(&server, &held), "an event still owed was removed");

    // Once delivered, it goes too.
    hooks.set(Mode::Answer);
    server.wait_until(WAIT, "the held event to be delivered", |_| {
        hooks.delivered().contains(&held)
    });
    server.wait_until(WAIT, "retention to remove the held event", |s| {
        !found(s, &held)
    });
    let acked = load.stop();
    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "retention", &acked, WAIT);
    // The trail outlives the journal's segments.
    let early_record = server.changes("entity-type=doc&entity-id=early");
    assert_eq!(early_record.len(), 1, "{early_record:?}");
    load::assert_clean_stop(server);
    load::assert_verifies(setup.path());
}
