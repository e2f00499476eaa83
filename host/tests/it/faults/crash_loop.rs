//! A crash loop: the server killed with SIGKILL 20 times at random moments
//! under load and started again each time. Every acknowledged event reaches
//! every rule, and the metadata store holds its change record once.

use std::time::Duration;

use super::load::{self, ATTEMPTS_RULE, Load};
use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn twenty_sigkills_under_load_lose_nothing_acknowledged_and_store_each_change_once() {
    let setup = Setup::new().standard();
    setup.plugin("flaky", "fixture-flaky");
    setup.test_rule("attempts", "flaky", ATTEMPTS_RULE);
    let mut server = setup.start();
    let load = Load::start(&server, 3, "crashloop");
    let mut rng = fastrand::Rng::new();
    eprintln!("crash loop seed {}", rng.get_seed());
    for _ in 0..20 {
        // Some traffic on this life, then a kill at a random moment of it.
        load.wait_for_more(10, WAIT, &server);
        std::thread::sleep(Duration::from_millis(rng.u64(0..400)));
        server.kill();
        server = setup.start();
        load.retarget(&server);
    }
    load.wait_for_more(10, WAIT, &server);
    let acked = load.stop();

    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "crashloop", &acked, WAIT);
    let data = setup.path().join("data");
    load::assert_each_archived(&data, &acked);
    // At least once: a kill between a delivery and its journaled outcome
    // delivers it again after the restart.
    let attempts = load::attempts(&data);
    for id in &acked {
        assert!(
            attempts.contains_key(id),
            "event {id} never reached `attempts`"
        );
    }
    load::assert_clean_stop(server);
    load::assert_verifies(setup.path());
}
