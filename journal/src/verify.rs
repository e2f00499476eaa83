//! Offline verification of a journal directory.
//!
//! [`verify`] walks every segment and reports each place where the chain is broken: a
//! record modified (CRC or hash mismatch), removed (seq gap), inserted or reordered (seq
//! out of order, broken link), a segment removed or replaced (gap between segments), a
//! torn tail. It cannot see truncation at a record boundary — a shorter chain is still a
//! valid chain — so [`verify_against`] also takes a head recorded earlier (a checkpoint
//! kept outside the journal) and reports when the chain no longer reaches it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{Decoded, HEADER_LEN, Hash, SegmentHeader, decode_record};
use crate::index::ChainHead;
use crate::segment::{find_next_record, list_segments, read_segment};

/// What kind of damage a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A segment header is missing, has a bad magic/CRC, or an unknown version.
    BadHeader,
    /// A segment's file name and header disagree on its first seq.
    MisnamedSegment,
    /// A segment does not continue where the previous one ended (segment removed,
    /// replaced or inserted).
    SegmentGap,
    /// Bytes that are not a valid record (bad length or CRC): modified or damaged.
    InvalidRecord,
    /// The last record of a segment is cut short (a torn write; `open` would truncate it).
    IncompleteRecord,
    /// A record's seq is higher than expected: records were removed (or reordered).
    SeqGap,
    /// A record's seq is lower than expected: a record was inserted, duplicated or
    /// moved.
    SeqOutOfOrder,
    /// A record's `prev_hash` is not the previous record's hash.
    BrokenLink,
    /// A record's stored hash does not match its contents (modified, CRC recomputed).
    HashMismatch,
    /// The chain ends before the expected head: records were truncated.
    Truncated,
    /// The record at the expected head's seq has a different hash: history rewritten.
    HeadMismatch,
}

/// One place where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The seq involved (the record found there, or the one expected).
    pub seq: Option<u64>,
    /// The segment file.
    pub path: PathBuf,
    /// Byte offset in that file.
    pub offset: u64,
    /// Human-readable explanation.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {:?}",
            self.path.display(),
            self.offset,
            self.kind
        )?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files found.
    pub segments: usize,
    /// Records that decoded (whether or not they link correctly).
    pub records: u64,
    /// Seq the first segment starts at (1 unless retention removed older segments).
    pub first_seq: u64,
    /// Seq of the last record (`first_seq - 1` if there are none).
    pub last_seq: u64,
    /// Hash of the last record (the first segment's `prev_hash` if there are none).
    pub head_hash: Hash,
    /// Every problem found, in file order. Empty when the chain is intact.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The chain head found on disk.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.last_seq,
            hash: self.head_hash,
        }
    }
}

/// Walks every segment of `dir` and reports all problems found. Read-only; run it on a
/// journal that is not open for writing (an open journal's unsynced tail may look torn).
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    Walker::new(None).walk(dir)
}

/// [`verify`], and also checks that the chain still reaches `expected`, a head recorded
/// earlier (from [`Journal::head`](crate::Journal::head)) and kept outside the journal:
/// reports [`ProblemKind::Truncated`] if the chain ends before `expected.seq` and
/// [`ProblemKind::HeadMismatch`] if the record at that seq has another hash. A head older
/// than the oldest retained segment can only be checked if it is the record just before it.
pub fn verify_against(dir: &Path, expected: ChainHead) -> Result<VerifyReport, JournalError> {
    Walker::new(Some(expected)).walk(dir)
}

struct Walker {
    report: VerifyReport,
    /// The next expected seq and the hash it must link to; `None` before the first segment.
    expected: Option<(u64, Hash)>,
    /// After unreadable bytes, the next record is accepted as the new baseline.
    resync: bool,
    checkpoint: Option<ChainHead>,
    checkpoint_seen: Option<Hash>,
    last_path: PathBuf,
    last_offset: u64,
}

impl Walker {
    fn new(checkpoint: Option<ChainHead>) -> Self {
        Walker {
            report: VerifyReport {
                segments: 0,
                records: 0,
                first_seq: 1,
                last_seq: 0,
                head_hash: [0; 32],
                problems: Vec::new(),
            },
            expected: None,
            resync: false,
            checkpoint,
            checkpoint_seen: None,
            last_path: PathBuf::new(),
            last_offset: 0,
        }
    }

    fn problem(
        &mut self,
        kind: ProblemKind,
        seq: Option<u64>,
        path: &Path,
        offset: u64,
        detail: String,
    ) {
        self.report.problems.push(Problem {
            kind,
            seq,
            path: path.to_path_buf(),
            offset,
            detail,
        });
    }

    fn walk(mut self, dir: &Path) -> Result<VerifyReport, JournalError> {
        let segments = list_segments(dir)?;
        self.report.segments = segments.len();
        for (name_seq, path) in &segments {
            let bytes = read_segment(path)?;
            self.segment(*name_seq, path, &bytes);
        }
        self.check_head(dir);
        if let Some((next, hash)) = self.expected {
            self.report.last_seq = next - 1;
            self.report.head_hash = hash;
        }
        Ok(self.report)
    }

    fn segment(&mut self, name_seq: u64, path: &Path, bytes: &[u8]) {
        self.last_path = path.to_path_buf();
        self.last_offset = bytes.len() as u64;
        let header = match SegmentHeader::decode(bytes) {
            Ok(header) => header,
            Err(reason) => {
                self.problem(ProblemKind::BadHeader, None, path, 0, reason);
                self.resync = true;
                return;
            }
        };
        if header.first_seq != name_seq {
            let detail = format!(
                "header says first seq {}, file name says {name_seq}",
                header.first_seq
            );
            self.problem(
                ProblemKind::MisnamedSegment,
                Some(header.first_seq),
                path,
                0,
                detail,
            );
        }
        match self.expected {
            None => {
                self.report.first_seq = header.first_seq;
                self.check_checkpoint(header.first_seq - 1, header.prev_hash);
            }
            Some((seq, hash))
                if !self.resync && (seq != header.first_seq || hash != header.prev_hash) =>
            {
                let detail = format!(
                    "segment starts at seq {} but the chain so far ends at seq {}{}: a segment was removed, replaced or inserted",
                    header.first_seq,
                    seq - 1,
                    if seq == header.first_seq {
                        " with another hash"
                    } else {
                        ""
                    },
                );
                self.problem(
                    ProblemKind::SegmentGap,
                    Some(header.first_seq),
                    path,
                    0,
                    detail,
                );
            }
            Some(_) => {}
        }
        self.expected = Some((header.first_seq, header.prev_hash));
        self.resync = false;

        let mut offset = HEADER_LEN;
        while offset < bytes.len() {
            match decode_record(&bytes[offset..]) {
                Decoded::Record(record, len) => {
                    self.record(&record, path, offset as u64);
                    offset += len;
                }
                Decoded::Incomplete => {
                    let detail = format!(
                        "{} trailing bytes hold an incomplete record",
                        bytes.len() - offset
                    );
                    let seq = self.expected.map(|(s, _)| s);
                    self.problem(
                        ProblemKind::IncompleteRecord,
                        seq,
                        path,
                        offset as u64,
                        detail,
                    );
                    break;
                }
                Decoded::Invalid(reason) => {
                    let seq = self.expected.map(|(s, _)| s);
                    let next = find_next_record(bytes, offset + 1, header.first_seq);
                    let detail = match next {
                        Some(n) => format!(
                            "{reason}; {} bytes skipped to the next valid record",
                            n - offset
                        ),
                        None => format!("{reason}; no valid record follows in this segment"),
                    };
                    self.problem(ProblemKind::InvalidRecord, seq, path, offset as u64, detail);
                    self.resync = true;
                    match next {
                        Some(n) => offset = n,
                        None => break,
                    }
                }
            }
        }
    }

    fn record(&mut self, record: &crate::StoredRecord, path: &Path, offset: u64) {
        self.report.records += 1;
        let (expected_seq, expected_prev) = self
            .expected
            .expect("a segment header sets the expectation before records");
        if record.computed_hash() != record.hash {
            let detail = "stored hash does not match the record's contents".to_owned();
            self.problem(
                ProblemKind::HashMismatch,
                Some(record.seq),
                path,
                offset,
                detail,
            );
        }
        if self.resync {
            // The bytes before this record were unreadable: take it as the new baseline
            // unless it goes backwards.
            self.resync = false;
            if record.seq >= expected_seq {
                self.accept(record);
                return;
            }
        }
        if record.seq > expected_seq {
            let detail = format!(
                "expected seq {expected_seq}, found {}: {} record(s) missing here (removed or reordered)",
                record.seq,
                record.seq - expected_seq
            );
            self.problem(ProblemKind::SeqGap, Some(record.seq), path, offset, detail);
            self.accept(record);
        } else if record.seq < expected_seq {
            let detail = format!(
                "expected seq {expected_seq}, found {}: record inserted, duplicated or moved",
                record.seq
            );
            self.problem(
                ProblemKind::SeqOutOfOrder,
                Some(record.seq),
                path,
                offset,
                detail,
            );
            // Skip the intruder: the chain continues from the record before it.
        } else {
            if record.prev_hash != expected_prev {
                let detail = "prev_hash is not the previous record's hash (record replaced or chain spliced)".to_owned();
                self.problem(
                    ProblemKind::BrokenLink,
                    Some(record.seq),
                    path,
                    offset,
                    detail,
                );
            }
            self.accept(record);
        }
    }

    fn accept(&mut self, record: &crate::StoredRecord) {
        self.expected = Some((record.seq + 1, record.hash));
        self.check_checkpoint(record.seq, record.hash);
    }

    fn check_checkpoint(&mut self, seq: u64, hash: Hash) {
        if self.checkpoint.is_some_and(|c| c.seq == seq) {
            self.checkpoint_seen = Some(hash);
        }
    }

    fn check_head(&mut self, dir: &Path) {
        let Some(checkpoint) = self.checkpoint else {
            return;
        };
        let path = if self.last_path.as_os_str().is_empty() {
            dir.to_path_buf()
        } else {
            self.last_path.clone()
        };
        let offset = self.last_offset;
        let last_seq = self.expected.map_or(0, |(next, _)| next - 1);
        match self.checkpoint_seen {
            Some(hash) if hash != checkpoint.hash => {
                let detail = format!(
                    "record {} has hash {}, the checkpoint says {}: history was rewritten",
                    checkpoint.seq,
                    hex::encode(hash),
                    checkpoint.hash_hex()
                );
                self.problem(
                    ProblemKind::HeadMismatch,
                    Some(checkpoint.seq),
                    &path,
                    offset,
                    detail,
                );
            }
            Some(_) => {}
            None if last_seq < checkpoint.seq => {
                let detail = format!(
                    "the chain ends at seq {last_seq}, but the checkpoint head is seq {}: records were truncated",
                    checkpoint.seq
                );
                self.problem(
                    ProblemKind::Truncated,
                    Some(checkpoint.seq),
                    &path,
                    offset,
                    detail,
                );
            }
            // The checkpoint is older than the oldest retained segment.
            None => {}
        }
    }
}
