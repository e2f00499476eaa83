//! Retention cuts the chain records: `verify` tells them from records removed otherwise.

mod common;

use std::sync::Arc;

use common::verified_intact;
use trailmark_journal::{
    Journal, JournalError, JournalOptions, JournalStart, Keyring, NewRecord, ProblemKind,
    RETENTION_CUT, verify,
};

fn first_seqs(dir: &std::path::Path) -> Vec<u64> {
    common::segment_files(dir)
        .iter()
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .expect("segment name is its first seq")
        })
        .collect()
}

#[test]
fn a_recorded_retention_cut_verifies_as_a_retention_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::journal_with(dir.path(), 100, common::small_segments());
    let starts = first_seqs(dir.path());
    assert!(starts.len() > 3);
    // The boundary: a cut at a segment's first seq removes the segments before it.
    let removed = journal
        .retention_cut(starts[2], "retention 1d")
        .expect("cut");
    assert_eq!(removed, 2);
    assert_eq!(journal.first_seq(), starts[2]);
    assert_eq!(journal.head().seq, 101, "the cut record is in the chain");
    let cut = journal.read(101).expect("read").expect("101");
    assert_eq!(cut.kind, RETENTION_CUT);
    // One short of the next segment removes nothing and records nothing.
    assert_eq!(journal.retention_cut(starts[3] - 1, "r").expect("cut"), 0);
    assert_eq!(journal.head().seq, 101);
    journal.close().expect("close");

    let report = verified_intact(dir.path());
    assert_eq!(
        report.start,
        JournalStart::RetentionCut {
            first_seq: starts[2],
            recorded_at: 101
        }
    );
}

#[test]
fn segments_removed_without_a_cut_record_are_unexplained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::journal_with(dir.path(), 100, common::small_segments());
    let starts = first_seqs(dir.path());
    journal.retention_cut(starts[1], "retention").expect("cut");
    journal.close().expect("close");
    // Someone removes one more segment than retention did.
    std::fs::remove_file(&common::segment_files(dir.path())[0]).expect("remove");
    let report = verify(dir.path()).expect("verify");
    assert_eq!(
        report.start,
        JournalStart::Unexplained {
            first_seq: starts[2]
        }
    );

    let plain = tempfile::tempdir().expect("tempdir");
    let journal = common::journal_with(plain.path(), 100, common::small_segments());
    assert!(journal.remove_segments_before(60).expect("retention") > 0);
    journal.close().expect("close");
    let report = verify(plain.path()).expect("verify");
    assert!(
        matches!(report.start, JournalStart::Unexplained { .. }),
        "{:?}",
        report.start
    );
}

#[test]
fn a_first_segment_replaced_after_a_cut_is_a_segment_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = common::journal_with(dir.path(), 100, common::small_segments());
    let starts = first_seqs(dir.path());
    journal.retention_cut(starts[1], "retention").expect("cut");
    journal.close().expect("close");
    // Rewrite the first kept segment's header link (and its CRC).
    let first = &common::segment_files(dir.path())[0];
    let mut bytes = std::fs::read(first).expect("read");
    let mut header = trailmark_journal::format::SegmentHeader::decode(&bytes).expect("header");
    header.prev_hash = [7; 32];
    bytes[..trailmark_journal::format::HEADER_LEN].copy_from_slice(&header.encode());
    std::fs::write(first, bytes).expect("write");
    let report = verify(dir.path()).expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::SegmentGap && p.detail.contains("replaced")),
        "{:?}",
        report.problems
    );
}

#[test]
fn an_encrypted_journals_cut_is_explained_without_the_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("journal");
    let (keyring, _) = Keyring::load_or_create(&root.path().join("k.kek")).expect("key");
    let options = JournalOptions {
        encryption: Some(Arc::new(keyring)),
        ..common::small_segments()
    };
    let journal = common::journal_with(&dir, 100, options);
    let starts = first_seqs(&dir);
    journal.retention_cut(starts[1], "retention").expect("cut");
    journal.close().expect("close");
    let report = verified_intact(&dir);
    assert!(
        matches!(report.start, JournalStart::RetentionCut { .. }),
        "{:?}",
        report.start
    );
    assert_eq!(
        report.encryption.records,
        report.records - 1,
        "the cut record is not sealed"
    );
}

#[test]
fn callers_cannot_append_a_retention_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
    let err = journal
        .append_wait(vec![NewRecord {
            kind: RETENTION_CUT,
            payload: b"{}".to_vec(),
        }])
        .expect_err("reserved");
    assert!(matches!(err, JournalError::ReservedKind(255)), "{err}");
}
