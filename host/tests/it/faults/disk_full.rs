//! The journal's disk fills up under load: ingest answers 503 naming the
//! full disk and acknowledges nothing it could not sync, `/readyz` turns
//! unready; when space returns the server takes events again by itself,
//! everything acknowledged survives a SIGKILL, and the journal verifies.
//!
//! The disk is a real one: a tmpfs of 2 MiB mounted on the journal's
//! directory, grown with `mount -o remount`. Mounting needs root with
//! CAP_SYS_ADMIN; without it the test says so and is skipped.

use std::time::Duration;

use super::load::{self, Load};
use super::tmpfs::Tmpfs;
use crate::common::Setup;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_full_journal_disk_refuses_with_503_and_ingest_resumes_when_space_returns() {
    let setup = Setup::new().standard();
    // Small segments: the disk fills up at a segment's end too.
    setup.config("[journal]\nsegment-size = \"256KiB\"\n");
    let journal = setup.path().join("data/journal");
    let Some(disk) = Tmpfs::mount(&journal, "2m") else {
        return;
    };
    let server = setup.start();
    let load = Load::start(&server, 3, "diskfull");
    server.wait_until(WAIT, "ingest to answer 503", |_| load.refused(503) > 0);

    // Full: a clear 503 (nothing of the request acknowledged), the host
    // unready while the load keeps the disk full.
    let body = load.refusal(503).expect("a 503");
    assert_eq!(body["__type"], "ServiceUnavailableException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("disk is full"),
        "{body}"
    );
    server.wait_until(WAIT, "/readyz to answer 503 naming the full disk", |s| {
        s.get("/readyz").is_ok_and(|(code, readiness)| {
            code == 503
                && readiness["journal"]
                    .as_str()
                    .unwrap_or("")
                    .contains("disk is full")
        })
    });
    assert!(server.metric("trailmark_journal_full_total").unwrap_or(0.0) > 0.0);
    let log = server.log();
    assert!(log.contains("journal disk full"), "{log}");

    // Space returns: the same process takes events again.
    disk.resize("64m");
    server.wait_until(WAIT, "/readyz to answer 200", |s| {
        s.get("/readyz").is_ok_and(|(code, _)| code == 200)
    });
    load.wait_for_more(300, WAIT, &server);
    let acked = load.stop();
    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "diskfull", &acked, WAIT);

    // What was acknowledged was synced: it survives a SIGKILL.
    server.kill();
    let server = setup.start();
    load::wait_drained(&server, WAIT);
    load::assert_each_change_once(&server, "diskfull", &acked, WAIT);
    load::assert_each_archived(&setup.path().join("data"), &acked);
    load::assert_clean_stop(server);
    load::assert_verifies(setup.path());
    drop(disk);
}

/// Every read of the trail is audited, so when the journal cannot take the
/// read's access record (its disk is full), the read fails closed: 503
/// naming the reason, and no data. Once space returns, reads answer again.
#[test]
fn reads_fail_closed_with_503_while_the_journal_cannot_take_their_access_record() {
    let setup = Setup::new().standard();
    let journal = setup.path().join("data/journal");
    let Some(disk) = Tmpfs::mount(&journal, "4m") else {
        return;
    };
    let server = setup.start();
    let (status, _) = server.get("/v1/changes").expect("read");
    assert_eq!(status, 200, "a read with room in the journal");

    // Take every byte left on the journal's disk.
    let filler = journal.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while file.write_all(&byte).is_ok() {
            byte[0] = 1;
        }
    }
    // The segment's last page may still hold a few records (tmpfs
    // allocates by the page): read until the journal finds no room.
    let mut reads = 0;
    let (status, body) = loop {
        let (status, body) = server.get("/v1/changes").expect("read");
        reads += 1;
        if status != 200 || reads == 100 {
            break (status, body);
        }
    };
    assert_eq!(status, 503, "after {reads} reads: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not be journaled")),
        "{body}"
    );
    assert!(
        body.get("changes").is_none(),
        "no data without its record: {body}"
    );

    // Space returns: reads answer again, with their records.
    std::fs::remove_file(&filler).expect("free the disk");
    server.wait_until(WAIT, "a read to answer 200 again", |s| {
        s.get("/v1/changes").is_ok_and(|(code, _)| code == 200)
    });
    let (status, access) = server.get("/v1/access?route=/v1/changes").expect("access");
    assert_eq!(status, 200, "{access}");
    assert!(
        access["access"].as_array().is_some_and(|a| !a.is_empty()),
        "{access}"
    );
    assert!(server.stop().success());
    drop(disk);
}
