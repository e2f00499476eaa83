//! A slow consumer: one rule's webhook takes 100 ms per event. The other
//! rules keep up, ingest does not push back, the slow rule's backlog waits
//! in the journal rather than in memory, and it catches up afterwards.

use std::time::Duration;

use super::destination::{Destination, Mode};
use super::load::{self, Load};
use crate::common::{self, Setup};

const WAIT: Duration = Duration::from_secs(120);
/// `[dispatch] max-pending`: deliveries held in memory, all lanes together.
const MAX_PENDING: u64 = 400;

#[test]
fn a_rule_slowed_to_100ms_per_event_holds_back_neither_ingest_nor_other_rules() {
    let slow = Destination::start(Mode::Delay(Duration::from_millis(100)));
    let setup = Setup::new().standard();
    setup.config(&format!("[dispatch]\nmax-pending = {MAX_PENDING}\n"));
    slow.install_with_rule(&setup, "slow", "5s", "");
    let server = setup.start();
    let load = Load::start(&server, 4, "slowconsumer");
    let mut most_in_memory = 0;
    let mut most_spilled = 0;
    let target = 3000;
    while load.acked() < target {
        let (_, status) = server.get("/v1/admin/status").expect("status");
        most_in_memory = most_in_memory.max(status["pending-deliveries"].as_u64().unwrap_or(0));
        most_spilled = most_spilled.max(status["spilled-deliveries"].as_u64().unwrap_or(0));
        load.wait_for_more(100, WAIT, &server);
    }
    let throttled = load.refused(503);
    let acked = load.stop();
    assert_eq!(throttled, 0, "ingest pushed back");
    assert_eq!(load_refusals(&server), 0.0, "ingest pushed back");
    // The other rules kept their rate: every change record is stored while
    // the slow rule has delivered a small part of the events.
    load::assert_each_change_once(&server, "slowconsumer", &acked, WAIT);
    let slow_done = slow.delivered().len();
    assert!(
        slow_done < acked.len() / 2,
        "the slow rule delivered {slow_done} of {} as fast as the others",
        acked.len()
    );
    // Its backlog went to the journal; memory held at most the bound.
    assert!(
        most_spilled > 0,
        "the slow rule's backlog never left memory"
    );
    assert!(
        most_in_memory <= MAX_PENDING,
        "{most_in_memory} deliveries in memory, over max-pending {MAX_PENDING}"
    );

    // It catches up once the destination is fast, each event once.
    slow.set(Mode::Answer);
    load::wait_drained(&server, WAIT);
    slow.assert_each_once(&acked);
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
    common::assert_success(&server.cli(&["status"]));
}

/// Requests the server answered 503 (throttled), from its metrics.
fn load_refusals(server: &common::Server) -> f64 {
    server
        .metric("trailmark_ingest_throttled_total")
        .unwrap_or(0.0)
}
