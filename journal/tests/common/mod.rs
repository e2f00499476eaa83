//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use trailmark_journal::format::{self, Decoded, HEADER_LEN};
use trailmark_journal::{Journal, JournalOptions, NewRecord};

/// Options with small segments so tests roll several.
pub fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes: 4096,
        index_interval: 4,
        ..JournalOptions::default()
    }
}

/// A record whose payload names its number.
pub fn rec(i: u64) -> NewRecord {
    NewRecord {
        kind: (i % 7) as u8,
        payload: format!("record-{i:05}-{}", "x".repeat((i % 50) as usize)).into_bytes(),
    }
}

/// Opens a journal in `dir` and appends records 1..=n, one durable append each.
pub fn journal_with(dir: &Path, n: u64, options: JournalOptions) -> Journal {
    let journal = Journal::open(dir, options).expect("open journal");
    for i in 1..=n {
        let seqs = journal.append_wait(vec![rec(i)]).expect("append");
        assert_eq!(seqs, vec![i]);
    }
    journal
}

/// Segment files of `dir`, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list journal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// `(seq, offset, len)` of every record in a segment file.
pub fn record_spans(path: &Path) -> Vec<(u64, usize, usize)> {
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
pub fn edit_file(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).expect("read segment");
    edit(&mut bytes);
    fs::write(path, bytes).expect("write segment");
}
