//! The wall clock jumps back an hour under load (an NTP step, a VM restored
//! from a snapshot): the journal keeps its order, retries do not wait an
//! hour, and retention neither removes what it should keep nor stops.
//!
//! The jump is real for the server process only: libfaketime
//! (`LD_PRELOAD`) shifts `CLOCK_REALTIME` by the offset in a file the test
//! rewrites, and leaves the monotonic clock alone, as a stepped wall clock
//! does. Where libfaketime is not installed the test says so and is
//! skipped (`cargo xtask test` installs it and requires it).

use std::path::Path;
use std::time::Duration;

use super::load::{self, ATTEMPTS_RULE, Load};
use crate::common::{
    Server, Setup, first_event_id, put_accepted, skip_unless_required, state_change,
};

const WAIT: Duration = Duration::from_secs(60);

/// Debian's libfaketime for this machine (package `libfaketime`).
fn libfaketime() -> std::path::PathBuf {
    Path::new("/usr/lib")
        .join(format!("{}-linux-gnu", std::env::consts::ARCH))
        .join("faketime/libfaketimeMT.so.1")
}

fn found(server: &Server, id: &str) -> bool {
    server
        .get(&format!("/v1/events/{id}"))
        .is_ok_and(|(status, _)| status == 200)
}

/// Set the server's wall clock offset (libfaketime's `+0`, `-1h`, ...); it
/// reads the file again within a second.
fn set_clock(file: &Path, offset: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, offset).expect("write offset");
    std::fs::rename(&tmp, file).expect("rename offset");
}

#[test]
fn the_wall_clock_jumping_back_an_hour_reorders_nothing_and_delays_no_retry() {
    let libfaketime = libfaketime();
    if !libfaketime.is_file() {
        skip_unless_required("TRAILMARK_FAULT_CLOCK", "libfaketime");
        return;
    }
    let setup = Setup::new().standard();
    setup.plugin("flaky", "fixture-flaky");
    // Every event needs two retries (1 s apart at most) to reach `attempts`.
    setup.test_rule(
        "attempts",
        "flaky",
        &ATTEMPTS_RULE.replace("succeed_after: 1", "succeed_after: 3"),
    );
    // The data lake holds retention back until its open files close
    // (default after 15 min): closed after a second here.
    setup.config(
        "[journal]\nretention = \"2s\"\nsegment-size = \"64KiB\"\n\n[dispatch]\nretry-max = \"1s\"\n\n[lake]\nmax-file-age = \"1s\"\n",
    );
    let clock = setup.path().join("faketime");
    set_clock(&clock, "+0");
    let server = Server::start_with(setup.path(), |cmd| {
        cmd.env("LD_PRELOAD", &libfaketime)
            .env("FAKETIME_TIMESTAMP_FILE", &clock)
            .env("FAKETIME_CACHE_DURATION", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    });
    let data = || Some(serde_json::json!({"n": 1}));
    let before = first_event_id(&put_accepted(
        &server,
        &[state_change("doc", "before", "insert", "clock", data())],
    ));
    let load = Load::start(&server, 2, "clock");
    load.wait_for_more(300, WAIT, &server);

    set_clock(&clock, "-1h");
    server.wait_until(WAIT, "the server's clock to go back", |s| {
        let after = first_event_id(&put_accepted(
            s,
            &[state_change("doc", "probe", "insert", "clock", data())],
        ));
        let (_, event) = s.get(&format!("/v1/events/{after}")).expect("event");
        let time = event["time"].as_str().unwrap_or("").to_owned();
        let (_, first) = s.get(&format!("/v1/events/{before}")).expect("event");
        time.as_str() < first["time"].as_str().unwrap_or("")
    });
    // An hour "before" the first event, the events accepted now still get
    // their retries (one second apart, not an hour), and retention (2 s)
    // removes nothing it should keep.
    load.wait_for_more(300, WAIT, &server);
    let acked = load.stop();
    load::wait_drained(&server, WAIT);
    assert!(found(&server, &before), "retention removed an event early");

    // The clock comes back: retention goes on.
    set_clock(&clock, "+0");
    server.wait_until(WAIT, "retention to remove the first events", |s| {
        !found(s, &before)
    });
    load::assert_each_change_once(&server, "clock", &acked, WAIT);
    let attempts = load::attempts(&setup.path().join("data"));
    for id in &acked {
        assert!(
            attempts.get(id).is_some_and(|n| *n >= 3),
            "event {id}: {:?} attempts",
            attempts.get(id)
        );
    }
    load::assert_clean_stop(server);

    // The journal's records are in order, their times never going back.
    let journal = trailmark_journal::Journal::open(
        &setup.path().join("data/journal"),
        trailmark_journal::JournalOptions::default(),
    )
    .expect("open the journal");
    let mut last: Option<(u64, i64)> = None;
    for record in journal.read_from(journal.first_seq()) {
        let record = record.expect("record");
        if let Some((seq, ts)) = last {
            assert_eq!(record.seq, seq + 1);
            assert!(
                record.timestamp_ms >= ts,
                "record {} went back in time",
                record.seq
            );
        }
        last = Some((record.seq, record.timestamp_ms));
    }
    drop(journal);
    load::assert_verifies(setup.path());
}
