//! SIGTERM under load: the server stops accepting, finishes or keeps every
//! delivery, and exits 0; the next start delivers what was left, and
//! nothing that had finished a second time.

use std::time::Duration;

use super::destination::{Destination, Mode};
use super::load::{self, ATTEMPTS_RULE, Load};
use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn sigterm_under_load_exits_0_and_the_restart_delivers_each_event_once() {
    // Two rules: `attempts` finishes its deliveries (and counts each one in
    // the archive); `hooks` cannot, its webhook hangs, so at SIGTERM it has
    // deliveries waiting for a retry that the drain cannot finish.
    let hooks = Destination::start(Mode::Hang);
    let setup = Setup::new().standard();
    // Retries every second at most, so the restart's redeliveries start soon.
    setup.config("[dispatch]\nretry-max = \"1s\"\n");
    setup.plugin("flaky", "fixture-flaky");
    setup.test_rule("attempts", "flaky", ATTEMPTS_RULE);
    hooks.install_with_rule(&setup, "hooks", "300ms", ", batch: true");
    let mut server = setup.start();
    let load = Load::start(&server, 4, "sigterm");
    load.wait_for_more(1000, WAIT, &server);
    server.wait_until(WAIT, "the webhook to be called", |_| hooks.requests() > 0);

    let pid = server.child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(signalled.success());
    // The drain (10 s) and the connections' grace (10 s) bound the exit.
    let status = load::wait_exit(&mut server, Duration::from_secs(60));
    assert!(status.success(), "{status}; log:\n{}", server.log());
    let first_log = server.log();
    assert!(first_log.contains("stopped accepting"), "{first_log}");
    assert!(
        first_log.contains("deliveries still pending at shutdown"),
        "the hanging webhook's deliveries were not left owed: {first_log}"
    );
    let acked = load.stop();
    assert!(hooks.delivered().is_empty());
    drop(server);

    hooks.set(Mode::Answer);
    let server = setup.start();
    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "sigterm", &acked, WAIT);
    // What had finished before SIGTERM is not delivered again...
    let attempts = load::attempts(&setup.path().join("data"));
    for id in &acked {
        assert_eq!(
            attempts.get(id),
            Some(&1),
            "acknowledged event {id} was delivered {:?} times to `attempts`",
            attempts.get(id)
        );
    }
    // ... and what had not is delivered after the restart, once.
    hooks.assert_each_once(&acked);
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
}
