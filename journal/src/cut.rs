//! Taking a journal apart by sequence number, for copies of it: the segment
//! files in order, the prefix of a segment that ends with a given record
//! (what a backup copies of the live segment), and a closed journal cut
//! after a given record (a point-in-time restore).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{Decoded, HEADER_LEN, decode_record};
use crate::segment::{list_segments, read_segment, truncate_segment};

/// The segment files of the journal in `dir`: (first seq, path), in order.
pub fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    list_segments(dir)
}

/// The length of the prefix of a segment's `bytes` that ends with record
/// `seq` (the header included), or `None` when the segment holds no valid
/// record `seq`. Records are checked for length and CRC, not hash: verify
/// the copy for that.
pub fn prefix_through(bytes: &[u8], seq: u64) -> Option<usize> {
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        match decode_record(&bytes[at..]) {
            Decoded::Record(record, len) => {
                at += len;
                if record.seq == seq {
                    return Some(at);
                }
                if record.seq > seq {
                    return None;
                }
            }
            Decoded::Incomplete | Decoded::Invalid(_) => return None,
        }
    }
    None
}

/// Cut the (closed) journal in `dir` after record `seq`: segments that
/// start after it are removed and the one holding it is truncated to end
/// with it. Fails, changing nothing, when the journal holds no record `seq`.
pub fn truncate_after(dir: &Path, seq: u64) -> Result<(), JournalError> {
    let segments = list_segments(dir)?;
    let Some((_, holding)) = segments.iter().rev().find(|(first, _)| *first <= seq) else {
        return Err(JournalError::corrupt(
            dir,
            0,
            format!("no segment holds record {seq}"),
        ));
    };
    let bytes = read_segment(holding)?;
    let Some(len) = prefix_through(&bytes, seq) else {
        return Err(JournalError::corrupt(
            holding,
            0,
            format!("the segment holds no valid record {seq}"),
        ));
    };
    truncate_segment(holding, len as u64)?;
    for (first, path) in &segments {
        if *first > seq {
            fs::remove_file(path).map_err(|e| JournalError::io(path, "remove segment", e))?;
            crate::seal::remove_data_key(path)?;
        }
    }
    Ok(trailmark_durable_file::sync_dir(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Journal, JournalOptions, NewRecord};

    fn records(n: usize) -> Vec<NewRecord> {
        (0..n)
            .map(|i| NewRecord {
                kind: 1,
                payload: vec![b'x'; 100 + i],
            })
            .collect()
    }

    #[test]
    fn a_journal_cut_after_a_record_ends_there_and_verifies() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = JournalOptions {
            segment_bytes: 4096,
            ..JournalOptions::default()
        };
        let journal = Journal::open(dir.path(), options.clone()).expect("open");
        for _ in 0..10 {
            journal.append_wait(records(10)).expect("append");
        }
        journal.close().expect("close");
        assert!(segment_files(dir.path()).expect("list").len() > 3);

        truncate_after(dir.path(), 42).expect("cut");
        let report = crate::verify(dir.path()).expect("verify");
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.last_seq, 42);
        let journal = Journal::open(dir.path(), options).expect("reopen");
        assert_eq!(journal.head().seq, 42);
        assert_eq!(journal.append_wait(records(1)).expect("append"), vec![43]);
        journal.close().expect("close");

        assert!(truncate_after(dir.path(), 1000).is_err(), "no record 1000");
    }

    #[test]
    fn the_prefix_through_a_record_stops_at_its_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Journal::open(dir.path(), JournalOptions::default()).expect("open");
        journal.append_wait(records(5)).expect("append");
        journal.close().expect("close");
        let (_, path) = segment_files(dir.path()).expect("list").remove(0);
        let bytes = fs::read(path).expect("read");
        let three = prefix_through(&bytes, 3).expect("record 3");
        let five = prefix_through(&bytes, 5).expect("record 5");
        assert_eq!(five, bytes.len());
        assert!(three < five);
        assert_eq!(prefix_through(&bytes, 6), None);
        assert_eq!(prefix_through(&bytes[..five - 1], 5), None, "torn");
    }
}
