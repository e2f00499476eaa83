//! Retention cuts the chain records: before old segments are removed, a record of the
//! reserved kind [`RETENTION_CUT`] says which records go and the hash of the last one,
//! so [`verify`](crate::verify) can tell a journal that starts late because retention
//! removed its beginning from one whose beginning was removed by someone else.
//!
//! The record is never encrypted (it holds sequence numbers and a hash, no event data),
//! so a verifier without the key still reads it.

use serde::{Deserialize, Serialize};

/// The record kind reserved for retention cuts; `append` refuses it from callers.
pub const RETENTION_CUT: u8 = 255;

/// What a retention cut record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetentionCut {
    /// Records with a lower seq are removed by this cut.
    pub before: u64,
    /// Hash (hex) of record `before - 1`, the last removed: the first kept segment's
    /// header links to it.
    pub last_removed_hash: String,
    /// Why (for example `"retention 30d"`), as the caller gave it.
    pub reason: String,
}

impl RetentionCut {
    /// The record's payload.
    pub(crate) fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a retention cut serializes to JSON")
    }

    /// Reads a retention cut record's payload.
    pub fn from_payload(payload: &[u8]) -> Option<RetentionCut> {
        serde_json::from_slice(payload).ok()
    }
}

/// How a verified journal begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalStart {
    /// At record 1: nothing was removed.
    Genesis,
    /// After records removed by a retention cut the chain records (at `recorded_at`).
    RetentionCut {
        /// The first retained record.
        first_seq: u64,
        /// Seq of the cut record that explains it.
        recorded_at: u64,
    },
    /// After records whose removal no retained cut record explains: removed outside
    /// retention (by hand, or by a version that did not record its cuts).
    Unexplained {
        /// The first retained record.
        first_seq: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Journal, JournalOptions, NewRecord, verify};

    #[test]
    fn a_crash_between_the_cut_record_and_the_removal_loses_nothing_and_the_next_pass_finishes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = JournalOptions {
            segment_bytes: 4096,
            ..JournalOptions::default()
        };
        let journal = Journal::open(dir.path(), options.clone()).expect("open");
        for i in 0..100u32 {
            let payload = format!("record {i} {}", "q".repeat(80)).into_bytes();
            journal
                .append_wait(vec![NewRecord { kind: 1, payload }])
                .expect("append");
        }
        let second = journal.shared.index().segments[1].first_seq;
        let last = journal.read(second - 1).expect("read").expect("record");
        // The cut record is durable; the process dies before removing anything.
        journal
            .append_reserved(vec![NewRecord {
                kind: RETENTION_CUT,
                payload: RetentionCut {
                    before: second,
                    last_removed_hash: hex::encode(last.hash),
                    reason: "retention".to_owned(),
                }
                .to_payload(),
            }])
            .expect("append cut");
        drop(journal);

        let report = verify(dir.path()).expect("verify");
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.start, JournalStart::Genesis, "nothing removed yet");
        let journal = Journal::open(dir.path(), options).expect("reopen");
        assert_eq!(journal.read(1).expect("read").expect("1").seq, 1);
        assert_eq!(journal.retention_cut(second, "retention").expect("cut"), 1);
        journal.close().expect("close");
        let report = verify(dir.path()).expect("verify");
        assert!(report.is_intact(), "{:?}", report.problems);
        assert!(
            matches!(report.start, JournalStart::RetentionCut { first_seq, .. } if first_seq == second)
        );
    }
}
