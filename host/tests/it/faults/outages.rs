//! Backend outages under load, each cleared while the server runs: a
//! webhook that hangs past its timeout, the SQLite metadata file locked by
//! another process, the archive's disk full. Each ends with every event
//! delivered once the fault clears, the retries in `/metrics`, no dead
//! letters (the retry policy did not run out) and no duplicate change
//! records.

use std::time::Duration;

use super::destination::{Destination, Mode};
use super::load::{self, Load};
use super::tmpfs::Tmpfs;
use crate::common::{Server, Setup};

const WAIT: Duration = Duration::from_secs(120);

/// `trailmark_retries_total` of `rule`.
fn retries(server: &Server, rule: &str) -> f64 {
    server.retries(rule).unwrap_or(0.0)
}

/// The closing checks every outage shares.
fn assert_recovered(
    server: &Server,
    setup: &Setup,
    author: &str,
    acked: &std::collections::HashSet<String>,
) {
    load::wait_drained(server, WAIT);
    load::assert_each_change_once(server, author, acked, WAIT);
    load::assert_each_archived(&setup.path().join("data"), acked);
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
}

#[test]
fn a_webhook_hanging_past_its_timeout_gets_each_event_once_it_answers() {
    let hooks = Destination::start(Mode::Answer);
    let setup = Setup::new().standard();
    // Retries every second at most, so the test does not wait for backoff.
    setup.config("[dispatch]\nretry-max = \"1s\"\n");
    hooks.install_with_rule(&setup, "hooks", "300ms", ", batch: true");
    let server = setup.start();
    let load = Load::start(&server, 3, "hang");
    load.wait_for_more(200, WAIT, &server);
    hooks.set(Mode::Hang);
    server.wait_until(WAIT, "retries of the hanging webhook", |s| {
        retries(s, "hooks") > 0.0
    });
    load.wait_for_more(500, WAIT, &server);
    hooks.set(Mode::Answer);
    load.wait_for_more(200, WAIT, &server);
    let acked = load.stop();

    assert_recovered(&server, &setup, "hang", &acked);
    hooks.assert_each_once(&acked);
    let log = server.log();
    assert!(log.contains("timed out"), "no timeout logged:\n{log}");
}

#[test]
fn a_metadata_file_locked_by_another_process_is_written_once_the_lock_goes() {
    let setup = Setup::new().standard();
    let server = setup.start();
    let load = Load::start(&server, 3, "locked");
    load.wait_for_more(200, WAIT, &server);
    {
        // Another process's writer: an exclusive transaction held longer
        // than the store's busy timeout (5 s).
        let other = rusqlite::Connection::open(setup.path().join("data/metadata.sqlite"))
            .expect("open the metadata file");
        other
            .execute_batch("BEGIN EXCLUSIVE")
            .expect("take the write lock");
        server.wait_until(WAIT, "retries while the file is locked", |s| {
            retries(s, "metadata") > 0.0
        });
        load.wait_for_more(200, WAIT, &server);
        other.execute_batch("ROLLBACK").expect("release the lock");
    }
    load.wait_for_more(200, WAIT, &server);
    let acked = load.stop();
    assert_recovered(&server, &setup, "locked", &acked);
}

#[test]
fn an_archive_disk_that_fills_up_takes_every_body_once_space_returns() {
    let setup = Setup::new().standard();
    let archive = setup.path().join("data/archive");
    let Some(disk) = Tmpfs::mount(&archive, "1m") else {
        return;
    };
    let server = setup.start();
    let load = Load::start(&server, 3, "archivefull");
    server.wait_until(WAIT, "retries of the full archive", |s| {
        retries(s, "archive") > 0.0
    });
    load.wait_for_more(200, WAIT, &server);
    disk.resize("64m");
    load.wait_for_more(200, WAIT, &server);
    let acked = load.stop();
    assert_recovered(&server, &setup, "archivefull", &acked);
    assert!(server.stop().success());
    drop(disk);
}
