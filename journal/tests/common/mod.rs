//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use trailmark_journal::format::{self, Decoded, HEADER_LEN, SegmentHeader, StoredRecord};
use trailmark_journal::{ChainHead, Journal, JournalOptions, NewRecord, VerifyReport, verify};

/// Options with small segments so tests roll several.
pub(crate) fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes: 4096,
        index_interval: 4,
        ..JournalOptions::default()
    }
}

/// A record whose payload names its number.
pub(crate) fn rec(i: u64) -> NewRecord {
    NewRecord {
        kind: (i % 7) as u8,
        payload: format!("record-{i:05}-{}", "x".repeat((i % 50) as usize)).into_bytes(),
    }
}

/// Opens a journal in `dir` and appends records 1..=n, one durable append each.
pub(crate) fn journal_with(dir: &Path, n: u64, options: JournalOptions) -> Journal {
    let journal = Journal::open(dir, options).expect("open journal");
    for i in 1..=n {
        let seqs = journal.append_wait(vec![rec(i)]).expect("append");
        assert_eq!(seqs, vec![i]);
    }
    journal
}

/// A temp dir holding a closed journal of records 1..=n.
pub(crate) fn closed_journal(n: u64, options: JournalOptions) -> tempfile::TempDir {
    closed_journal_and_head(n, options).0
}

/// A temp dir holding a closed journal of records 1..=n, and its head.
pub(crate) fn closed_journal_and_head(
    n: u64,
    options: JournalOptions,
) -> (tempfile::TempDir, ChainHead) {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = journal_with(dir.path(), n, options);
    let head = journal.head();
    journal.close().expect("close");
    (dir, head)
}

/// Segment files of `dir`, oldest first.
pub(crate) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list journal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// `(seq, offset, len)` of every record in a segment file.
pub(crate) fn record_spans(path: &Path) -> Vec<(u64, usize, usize)> {
    let bytes = fs::read(path).expect("read segment");
    let mut spans = Vec::new();
    let mut offset = HEADER_LEN;
    while let Decoded::Record(record, len) = format::decode_record(&bytes[offset..]) {
        spans.push((record.seq, offset, len));
        offset += len;
    }
    spans
}

/// Rewrites a segment file with `edit` applied to its bytes.
pub(crate) fn edit_file(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).expect("read segment");
    edit(&mut bytes);
    fs::write(path, bytes).expect("write segment");
}

/// The segment holding `seq` and that record's `(offset, len)` in it.
pub(crate) fn locate(dir: &Path, seq: u64) -> (PathBuf, usize, usize) {
    for segment in segment_files(dir) {
        if let Some((_, offset, len)) = record_spans(&segment).into_iter().find(|s| s.0 == seq) {
            return (segment, offset, len);
        }
    }
    panic!("record {seq} not found");
}

/// Rewrites the whole journal as an attacker who knows the format would: `edit` changes
/// the list of records, then every record is renumbered from the first segment's first
/// seq and every hash (and segment header) recomputed, so the chain is valid again.
/// Segment boundaries stay after the same number of records (the last takes the rest).
pub(crate) fn rewrite_history(dir: &Path, edit: impl FnOnce(&mut Vec<StoredRecord>)) {
    let mut records = Vec::new();
    let mut counts = Vec::new();
    let segments = segment_files(dir);
    let first = SegmentHeader::decode(&fs::read(&segments[0]).expect("read"))
        .expect("first segment header");
    for segment in &segments {
        let bytes = fs::read(segment).expect("read segment");
        let mut offset = HEADER_LEN;
        let mut count = 0;
        while let Decoded::Record(record, len) = format::decode_record(&bytes[offset..]) {
            records.push(record);
            offset += len;
            count += 1;
        }
        counts.push(count);
        fs::remove_file(segment).expect("remove segment");
    }
    edit(&mut records);
    let last = counts.len() - 1;
    counts[last] = records.len() - counts[..last].iter().sum::<usize>();

    let (mut seq, mut prev) = (first.first_seq, first.prev_hash);
    let mut records = records.into_iter();
    for count in counts {
        let header = SegmentHeader {
            first_seq: seq,
            prev_hash: prev,
            sealed: false,
        };
        let mut bytes = header.encode().to_vec();
        for record in records.by_ref().take(count) {
            prev = format::encode_record(
                &mut bytes,
                &prev,
                seq,
                record.kind,
                record.timestamp_ms,
                &record.payload,
            );
            seq += 1;
        }
        fs::write(dir.join(format!("{:020}.seg", header.first_seq)), bytes).expect("write");
    }
}

/// Cuts the journal cleanly after record `last`: later segments removed, its segment
/// truncated at the record boundary.
pub(crate) fn truncate_after(dir: &Path, last: u64) {
    let (segment, offset, len) = locate(dir, last);
    edit_file(&segment, |bytes| bytes.truncate(offset + len));
    for later in segment_files(dir).into_iter().filter(|s| *s > segment) {
        fs::remove_file(later).expect("remove segment");
    }
}

/// Verify the journal in `dir`, failing the test unless it is intact.
pub(crate) fn verified_intact(dir: &Path) -> VerifyReport {
    let report = verify(dir).expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
    report
}
