//! `verify` finds every kind of tampering, at the right seq, file and offset.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{
    closed_journal, closed_journal_and_head, edit_file, journal_with, record_spans, segment_files,
    small_segments,
};
use trailmark_journal::format::{self, PREFIX_LEN};
use trailmark_journal::{
    ChainHead, JournalOptions, ProblemKind, VerifyReport, verify, verify_against, verify_visiting,
};

/// A closed journal of `n` records in one segment; returns its dir, segment and head.
fn one_segment(n: u64) -> (tempfile::TempDir, PathBuf, ChainHead) {
    let (dir, head) = closed_journal_and_head(n, JournalOptions::default());
    let segment = segment_files(dir.path()).pop().expect("a segment");
    (dir, segment, head)
}

fn kinds(report: &VerifyReport) -> Vec<ProblemKind> {
    report.problems.iter().map(|p| p.kind).collect()
}

fn check(dir: &Path) -> VerifyReport {
    verify(dir).expect("verify runs")
}

#[test]
fn an_untouched_journal_is_intact() {
    let (dir, head) = closed_journal_and_head(120, small_segments());
    let report = check(dir.path());
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 120);
    assert_eq!((report.first_seq, report.last_seq), (1, 120));
    assert_eq!(report.head(), head);
    assert!(report.segments > 1);
    assert!(
        verify_against(dir.path(), head)
            .expect("verify")
            .is_intact()
    );
}

#[test]
fn a_modified_payload_byte_is_reported_at_its_record() {
    let (dir, segment, _) = one_segment(10);
    let (seq, offset, _) = record_spans(&segment)[4];
    edit_file(&segment, |bytes| bytes[offset + PREFIX_LEN + 17] ^= 0x20);
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::InvalidRecord]);
    let problem = &report.problems[0];
    assert_eq!((problem.seq, problem.offset), (Some(seq), offset as u64));
    assert_eq!(problem.path, segment);
    assert!(
        problem.to_string().contains(&format!(":{offset}:")),
        "{problem}"
    );
}

#[test]
fn a_modified_payload_with_a_recomputed_crc_fails_the_hash() {
    let (dir, segment, _) = one_segment(10);
    let (seq, offset, len) = record_spans(&segment)[6];
    edit_file(&segment, |bytes| {
        bytes[offset + PREFIX_LEN + 17] ^= 0x20;
        let crc = crc32fast::hash(&bytes[offset + PREFIX_LEN..offset + len]);
        bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
    });
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::HashMismatch]);
    assert_eq!(report.problems[0].seq, Some(seq));
    assert_eq!(report.problems[0].offset, offset as u64);
}

#[test]
fn a_deleted_record_shows_as_a_gap_where_it_was() {
    let (dir, segment, _) = one_segment(10);
    let (_, offset, len) = record_spans(&segment)[4]; // seq 5
    edit_file(&segment, |bytes| {
        bytes.drain(offset..offset + len);
    });
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::SeqGap]);
    assert_eq!(report.problems[0].seq, Some(6));
    assert_eq!(report.problems[0].offset, offset as u64);
}

#[test]
fn an_inserted_record_is_reported() {
    // A copy of record 3 pasted after record 5.
    let (dir, segment, _) = one_segment(10);
    let spans = record_spans(&segment);
    let (_, at3, len3) = spans[2];
    let (_, at6, _) = spans[5];
    edit_file(&segment, |bytes| {
        let copy = bytes[at3..at3 + len3].to_vec();
        bytes.splice(at6..at6, copy);
    });
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::SeqOutOfOrder]);
    assert_eq!(report.problems[0].seq, Some(3));
    assert_eq!(report.problems[0].offset, at6 as u64);

    // A forged record with a valid CRC and hash, linked to record 5, pasted before 6:
    // the original 6 then no longer fits.
    let (dir, segment, _) = one_segment(10);
    let spans = record_spans(&segment);
    let (_, at6, len6) = spans[5];
    let record5 = read_record(&segment, spans[4].1);
    let mut forged = Vec::new();
    format::encode_record(
        &mut forged,
        &record5.hash,
        6,
        1,
        record5.timestamp_ms,
        b"forged",
    );
    edit_file(&segment, |bytes| {
        bytes.splice(at6..at6, forged.clone());
    });
    let report = check(dir.path());
    assert!(!report.is_intact());
    assert_eq!(report.problems[0].kind, ProblemKind::SeqOutOfOrder);
    assert_eq!(report.problems[0].seq, Some(6));
    assert_eq!(report.problems[0].offset, (at6 + forged.len()) as u64);
    assert_eq!(report.problems[1].kind, ProblemKind::BrokenLink);
    assert_eq!(report.problems[1].seq, Some(7));
    assert_eq!(
        report.problems[1].offset,
        (at6 + forged.len() + len6) as u64
    );
}

#[test]
fn two_swapped_records_are_reported_at_the_first_moved_one() {
    let (dir, segment, _) = one_segment(10);
    let spans = record_spans(&segment);
    let (_, at5, len5) = spans[4];
    let (_, at6, len6) = spans[5];
    edit_file(&segment, |bytes| {
        let five = bytes[at5..at5 + len5].to_vec();
        let six = bytes[at6..at6 + len6].to_vec();
        let swapped = [six, five].concat();
        bytes.splice(at5..at6 + len6, swapped);
    });
    let report = check(dir.path());
    assert_eq!(
        kinds(&report),
        vec![ProblemKind::SeqGap, ProblemKind::SeqOutOfOrder]
    );
    assert_eq!(report.problems[0].seq, Some(6));
    assert_eq!(report.problems[0].offset, at5 as u64);
    assert_eq!(report.problems[1].seq, Some(5));
    assert_eq!(report.problems[1].offset, (at5 + len6) as u64);
}

#[test]
fn a_removed_middle_segment_breaks_the_link_between_segments() {
    let dir = closed_journal(150, small_segments());
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 4);
    fs::remove_file(&segments[2]).expect("remove");
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::SegmentGap]);
    assert_eq!(report.problems[0].path, segments[3]);
    assert_eq!(report.problems[0].offset, 0);
    // Open refuses it too.
    let err = trailmark_journal::Journal::open(dir.path(), small_segments())
        .expect_err("a hole in the chain is not opened");
    assert!(
        err.to_string().contains("does not continue the chain"),
        "{err}"
    );
}

#[test]
fn truncation_is_only_visible_against_an_external_head() {
    let (dir, segment, head) = one_segment(10);
    let (_, at8, _) = record_spans(&segment)[7];
    edit_file(&segment, |bytes| bytes.truncate(at8)); // records 8..=10 gone, cleanly
    let report = check(dir.path());
    assert!(
        report.is_intact(),
        "a shorter chain is still a valid chain: {:?}",
        report.problems
    );
    assert_eq!(report.last_seq, 7);
    let report = verify_against(dir.path(), head).expect("verify");
    assert_eq!(kinds(&report), vec![ProblemKind::Truncated]);
    assert_eq!(report.problems[0].seq, Some(10));

    // Whole trailing segments removed.
    let (dir, head) = closed_journal_and_head(150, small_segments());
    let last = segment_files(dir.path()).pop().expect("segments");
    fs::remove_file(last).expect("remove");
    assert!(check(dir.path()).is_intact());
    assert_eq!(
        kinds(&verify_against(dir.path(), head).expect("verify")),
        vec![ProblemKind::Truncated]
    );
}

#[test]
fn a_rewritten_history_does_not_match_the_checkpoint() {
    let (dir, _, head) = one_segment(10);
    // Replace the journal with another one of the same length.
    for segment in segment_files(dir.path()) {
        fs::remove_file(segment).expect("remove");
    }
    let journal =
        trailmark_journal::Journal::open(dir.path(), JournalOptions::default()).expect("open");
    for i in 0..10 {
        journal
            .append_wait(vec![trailmark_journal::NewRecord {
                kind: 9,
                payload: vec![i],
            }])
            .expect("append");
    }
    journal.close().expect("close");
    assert!(check(dir.path()).is_intact());
    let report = verify_against(dir.path(), head).expect("verify");
    assert_eq!(kinds(&report), vec![ProblemKind::HeadMismatch]);
}

#[test]
fn a_torn_tail_is_reported_as_incomplete() {
    let (dir, segment, _) = one_segment(5);
    edit_file(&segment, |bytes| {
        let len = bytes.len();
        bytes.truncate(len - 10);
    });
    let report = check(dir.path());
    assert_eq!(kinds(&report), vec![ProblemKind::IncompleteRecord]);
    assert_eq!(report.problems[0].seq, Some(5));
}

fn read_record(path: &Path, offset: usize) -> format::StoredRecord {
    let bytes = fs::read(path).expect("read");
    match format::decode_record(&bytes[offset..]) {
        format::Decoded::Record(record, _) => record,
        other => panic!("no record at {offset}: {other:?}"),
    }
}

#[test]
fn verify_visiting_hands_over_every_record_in_chain_order_with_the_same_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), 150, small_segments());
    journal.close().expect("close");
    let mut seen = Vec::new();
    let report = verify_visiting(dir.path(), None, &mut |record| {
        seen.push((record.seq, record.payload.clone()));
    })
    .expect("verify runs");
    assert_eq!(report, check(dir.path()));
    assert_eq!(seen.len(), 150);
    assert!(seen.iter().zip(1..).all(|((seq, _), want)| *seq == want));
    assert_eq!(seen[41].1, common::rec(42).payload);
}
