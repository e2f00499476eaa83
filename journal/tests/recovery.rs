//! Opening after a crash: torn tails are recovered, damage elsewhere is refused.

mod common;

use std::fs;

use common::{closed_journal, edit_file, rec, record_spans, segment_files, small_segments};
use trailmark_journal::{Journal, JournalError, JournalOptions, verify};

#[test]
fn a_record_cut_mid_write_is_truncated_and_only_it_is_lost() {
    let dir = closed_journal(10, JournalOptions::default());
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let spans = record_spans(&segment);
    let (seq, offset, len) = spans[9];
    assert_eq!(seq, 10);
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open segment");
    file.set_len((offset + len / 2) as u64).expect("truncate");
    drop(file);

    let journal = Journal::open(dir.path(), JournalOptions::default()).expect("recovers");
    assert_eq!(journal.head().seq, 9, "only the torn record is lost");
    assert_eq!(
        fs::metadata(&segment).expect("stat").len(),
        offset as u64,
        "the torn bytes are gone"
    );
    let seqs = journal.append_wait(vec![rec(10)]).expect("append");
    assert_eq!(
        seqs,
        vec![10],
        "the chain continues from the last good record"
    );
    journal.close().expect("close");
    assert!(verify(dir.path()).expect("verify").is_intact());
}

#[test]
fn garbage_after_the_last_record_is_truncated() {
    for garbage in [
        vec![0u8; 300],
        vec![0xA5; 37],
        b"\x10\x00\x00\x00garbage".to_vec(),
    ] {
        let dir = closed_journal(50, small_segments());
        let segment = segment_files(dir.path()).pop().expect("a segment");
        let good_len = fs::metadata(&segment).expect("stat").len();
        edit_file(&segment, |bytes| bytes.extend_from_slice(&garbage));

        let journal = Journal::open(dir.path(), small_segments()).expect("recovers");
        assert_eq!(journal.head().seq, 50, "no record lost");
        assert_eq!(fs::metadata(&segment).expect("stat").len(), good_len);
        journal.close().expect("close");
        assert!(verify(dir.path()).expect("verify").is_intact());
    }
}

#[test]
fn a_damaged_record_in_the_middle_is_an_error_not_a_truncation() {
    let dir = closed_journal(10, JournalOptions::default());
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let (_, offset, _) = record_spans(&segment)[4];
    let size = fs::metadata(&segment).expect("stat").len();
    edit_file(&segment, |bytes| bytes[offset + 30] ^= 0x01);

    let err = Journal::open(dir.path(), JournalOptions::default()).expect_err("refused");
    match &err {
        JournalError::Corrupt {
            path, offset: at, ..
        } => {
            assert_eq!(path, &segment);
            assert_eq!(*at, offset as u64);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(
        err.to_string().contains("00000000000000000001.seg"),
        "{err}"
    );
    assert_eq!(
        fs::metadata(&segment).expect("stat").len(),
        size,
        "nothing was truncated"
    );
}

#[test]
fn damage_in_an_older_segment_is_an_error() {
    let dir = closed_journal(100, small_segments());
    let first = segment_files(dir.path()).remove(0);
    let (_, offset, len) = *record_spans(&first).last().expect("records");
    // Cut the last record of a non-active segment: looks torn, but is not the tail.
    edit_file(&first, |bytes| bytes.truncate(offset + len - 1));
    let err = Journal::open(dir.path(), small_segments()).expect_err("refused");
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
}

#[test]
fn an_interrupted_segment_creation_is_discarded() {
    let dir = closed_journal(30, small_segments());
    let head = verify(dir.path()).expect("verify").head();
    // A crash right after creating the next segment, before its header reached the disk.
    let next = head.seq + 1;
    fs::write(dir.path().join(format!("{next:020}.seg")), [0u8; 10]).expect("write");
    let journal = Journal::open(dir.path(), small_segments()).expect("recovers");
    assert_eq!(journal.head(), head);
    assert_eq!(
        journal.append_wait(vec![rec(next)]).expect("append"),
        vec![next]
    );
}

#[test]
fn repair_damaged_tail_cuts_the_last_segment_and_keeps_the_cut_bytes() {
    let dir = closed_journal(10, JournalOptions::default());
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let (_, offset, _) = record_spans(&segment)[7]; // seq 8 damaged, 9 and 10 valid
    edit_file(&segment, |bytes| bytes[offset + 30] ^= 0x01);
    let original = fs::read(&segment).expect("read");
    Journal::open(dir.path(), JournalOptions::default()).expect_err("refused by default");

    let options = JournalOptions {
        repair_damaged_tail: true,
        ..JournalOptions::default()
    };
    let journal = Journal::open(dir.path(), options).expect("repaired");
    assert_eq!(journal.head().seq, 7);
    let saved = segment.with_file_name(format!(
        "{}.damaged-{offset}",
        segment
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
    ));
    assert_eq!(
        fs::read(saved).expect("cut bytes saved"),
        original[offset..]
    );
    assert_eq!(journal.append_wait(vec![rec(8)]).expect("append"), vec![8]);
    journal.close().expect("close");
    assert!(verify(dir.path()).expect("verify").is_intact());
}

#[test]
fn a_second_repair_at_the_same_offset_keeps_the_first_repairs_bytes() {
    let dir = closed_journal(10, JournalOptions::default());
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let (_, offset, _) = record_spans(&segment)[7];
    let saved = |suffix: &str| {
        let name = segment.file_name().and_then(|n| n.to_str()).expect("utf-8");
        segment.with_file_name(format!("{name}.damaged-{offset}{suffix}"))
    };
    let repair = || JournalOptions {
        repair_damaged_tail: true,
        ..JournalOptions::default()
    };
    // First damage at seq 8: cut, saved.
    edit_file(&segment, |bytes| bytes[offset + 30] ^= 0x01);
    let first_cut = fs::read(&segment).expect("read")[offset..].to_vec();
    let journal = Journal::open(dir.path(), repair()).expect("repaired");
    journal
        .append_wait((8..=10).map(rec).collect())
        .expect("append");
    journal.close().expect("close");
    // The records written since are damaged at the same place.
    edit_file(&segment, |bytes| bytes[offset + 31] ^= 0x01);
    let second_cut = fs::read(&segment).expect("read")[offset..].to_vec();
    assert_ne!(first_cut, second_cut);
    let journal = Journal::open(dir.path(), repair()).expect("repaired again");
    assert_eq!(journal.head().seq, 7);
    journal.close().expect("close");
    assert_eq!(fs::read(saved("")).expect("first save"), first_cut);
    assert_eq!(fs::read(saved(".1")).expect("second save"), second_cut);
    // No temporary file is left.
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}
