//! Crash safety: a child process appends and prints every acknowledged seq; the test
//! SIGKILLs it, reopens the journal and checks that every acknowledged record is there,
//! intact. The child is this test binary re-executed with an environment variable.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trailmark_journal::{Journal, JournalOptions, Keyring, NewRecord, verify, verify_opening};

const CHILD_DIR_ENV: &str = "TRAILMARK_JOURNAL_CRASH_CHILD_DIR";
/// Set to a key file: the child's journal is encrypted with it.
const CHILD_KEY_ENV: &str = "TRAILMARK_JOURNAL_CRASH_CHILD_KEY";

fn options(key_file: Option<&Path>) -> JournalOptions {
    JournalOptions {
        segment_bytes: 16 * 1024,
        encryption: key_file.map(|path| {
            Arc::new(
                Keyring::load_or_create(path)
                    .expect("key-encryption key file")
                    .0,
            )
        }),
        ..JournalOptions::default()
    }
}

/// The child's body; a no-op unless run by `acknowledged_appends_survive_sigkill`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let key = std::env::var(CHILD_KEY_ENV).ok().filter(|k| !k.is_empty());
    let options = options(key.as_deref().map(Path::new));
    let journal = Arc::new(Journal::open(Path::new(&dir), options).expect("child opens journal"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let payload = format!("pid{}-t{t}-{i}", std::process::id());
                    let record = NewRecord {
                        kind: 1,
                        payload: payload.clone().into_bytes(),
                    };
                    if i % 5 == 4 {
                        // Unacknowledged traffic in between: may or may not survive.
                        journal
                            .append_nosync(vec![record])
                            .expect("child append_nosync");
                        continue;
                    }
                    let seqs = journal.append_wait(vec![record]).expect("child append");
                    println!("ACK {} {payload}", seqs[0]);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    sigkill_rounds(dir.path(), None);
}

#[test]
fn acknowledged_encrypted_appends_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = tempfile::tempdir().expect("tempdir");
    let key_file = key.path().join("journal.kek");
    sigkill_rounds(dir.path(), Some(&key_file));
    let report = verify_opening(
        dir.path(),
        None,
        options(Some(&key_file)).encryption.as_deref(),
        &mut |_| {},
    )
    .expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(report.encryption.records >= 600);
    assert_eq!(report.encryption.opened, report.encryption.records);
}

/// Three rounds of: a child appends, is SIGKILLed; every acknowledged record is there.
fn sigkill_rounds(dir: &Path, key_file: Option<&Path>) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for round in 1..=3 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir)
            .env(CHILD_KEY_ENV, key_file.unwrap_or(Path::new("")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut this_round = 0;
        // Kill it mid-flight, after some acknowledgements.
        while this_round < 200 && Instant::now() < deadline {
            let Some(line) = lines.next() else { break };
            if parse_ack(&line.expect("child output"), &mut acked) {
                this_round += 1;
            }
        }
        child.kill().expect("SIGKILL child");
        child.wait().expect("reap child");
        // Acks printed before the kill are still in the pipe.
        for line in lines {
            let Ok(line) = line else { break };
            parse_ack(&line, &mut acked);
        }
        assert!(
            this_round >= 200,
            "round {round}: child acknowledged only {this_round} appends"
        );

        let journal = Journal::open(dir, options(key_file)).expect("reopen after SIGKILL");
        for (seq, payload) in &acked {
            let record = journal
                .read(*seq)
                .expect("read acknowledged record")
                .unwrap_or_else(|| panic!("round {round}: acknowledged seq {seq} is missing"));
            assert_eq!(record.payload, payload.as_bytes(), "seq {seq}");
        }
        let head = journal.head();
        journal.close().expect("close");
        let report = verify(dir).expect("verify");
        assert!(report.is_intact(), "round {round}: {:?}", report.problems);
        assert_eq!(report.head(), head);
    }
    assert!(acked.len() >= 600);
}

/// Records an `ACK <seq> <payload>` line; returns whether it was one.
fn parse_ack(line: &str, acked: &mut BTreeMap<u64, String>) -> bool {
    let mut parts = line.splitn(3, ' ');
    let (Some("ACK"), Some(seq), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let seq: u64 = seq.parse().expect("ACK line carries a seq");
    let previous = acked.insert(seq, payload.to_owned());
    assert!(previous.is_none(), "seq {seq} acknowledged twice");
    true
}
