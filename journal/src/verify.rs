//! Offline verification of a journal directory.
//!
//! [`verify`] walks every segment and reports each place where the chain is broken: a
//! record modified (CRC or hash mismatch), removed (seq gap), inserted or reordered (seq
//! out of order, broken link), a segment removed or replaced (gap between segments), a
//! torn tail. It cannot see truncation at a record boundary — a shorter chain is still a
//! valid chain — so [`verify_against`] also takes a head recorded earlier (a checkpoint
//! kept outside the journal) and reports when the chain no longer reaches it, and
//! [`verify_with_checkpoints`] checks a list of signed [`Checkpoint`]s the same way.

use std::fmt;
use std::path::{Path, PathBuf};

mod heads;

use crate::checkpoint::Checkpoint;
use crate::error::JournalError;
use crate::format::{Decoded, HEADER_LEN, Hash, SegmentHeader, decode_record};
use crate::index::ChainHead;
use crate::keys::PublicKey;
use crate::retention::{JournalStart, RETENTION_CUT, RetentionCut};
use crate::seal::{DataKey, Keyring, load_data_key};
use crate::segment::{find_next_record, list_segments, read_segment};
use heads::Heads;

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
    /// The record at the expected head's seq has a different hash (history rewritten),
    /// or there is no valid record at that seq.
    HeadMismatch,
    /// A checkpoint that cannot be trusted: its signature does not verify, it names
    /// another key, or it is out of order with the checkpoints before it.
    BadCheckpoint,
    /// In an encrypted segment, given the key: the data key file is missing or does not
    /// open, or a record does not open with the data key (altered or moved, with its
    /// hash recomputed; or the `.dek` file is not this segment's).
    SealBroken,
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
    /// Every problem found, in chain order (the first is where the damage starts).
    /// Empty when the chain is intact.
    pub problems: Vec<Problem>,
    /// What the expected heads showed: all zero for [`verify`]; the one head of
    /// [`verify_against`] counts as one checkpoint.
    pub checkpoints: CheckpointSummary,
    /// Encrypted segments and records, and how many records were opened.
    pub encryption: EncryptionSummary,
    /// How the journal begins: at record 1, after a retention cut the chain records, or
    /// after records removed with no record of it.
    pub start: JournalStart,
}

/// What [`verify_opening`] found encrypted, and opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionSummary {
    /// Encrypted segments (format version 2).
    pub segments: usize,
    /// Records in them.
    pub records: u64,
    /// Records whose payload opened with the key given: 0 without a key, when their
    /// chain (over the stored bytes) is still checked but their contents are not.
    pub opened: u64,
    /// A key-encryption key was given.
    pub key_given: bool,
}

impl EncryptionSummary {
    /// Encrypted records whose contents were not checked: no key was given, or they did
    /// not open (each of those is also a [`ProblemKind::SealBroken`]).
    pub fn unopened(&self) -> u64 {
        self.records - self.opened
    }
}

/// How the checkpoints given to [`verify_with_checkpoints`] fared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointSummary {
    /// Checkpoints given.
    pub total: usize,
    /// Checkpoints whose record was found with the signed hash.
    pub verified: usize,
    /// Checkpoints older than the oldest retained record (segments removed by
    /// retention): they can no longer be checked. Not a failure.
    pub skipped: usize,
    /// Checkpoints whose signature or key did not verify: reported as
    /// [`ProblemKind::BadCheckpoint`] and not used.
    pub rejected: usize,
    /// Highest seq a checkpoint verified. Records after it are protected by the hash
    /// chain alone: their removal at the end of the journal cannot be detected.
    pub last_verified_seq: Option<u64>,
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
    Walker::new(Heads::none()).walk(dir)
}

/// [`verify`], and also checks that the chain still reaches `expected`, a head recorded
/// earlier (from [`Journal::head`](crate::Journal::head)) and kept outside the journal:
/// reports [`ProblemKind::Truncated`] if the chain ends before `expected.seq` and
/// [`ProblemKind::HeadMismatch`] if the record at that seq has another hash. A head older
/// than the oldest retained segment can only be checked if it is the record just before it.
pub fn verify_against(dir: &Path, expected: ChainHead) -> Result<VerifyReport, JournalError> {
    Walker::new(Heads::single(expected)).walk(dir)
}

/// [`verify`], and also checks every signed checkpoint (as read by
/// [`read_checkpoints`](crate::read_checkpoints), in the order they were made) against the
/// chain, with the public key of the key that signed them:
///
/// - a checkpoint whose signature does not verify, that names another key, or that is out
///   of order (a lower seq, or an earlier time, than one before it; another hash for the
///   same seq) is a [`ProblemKind::BadCheckpoint`]; only checkpoints whose signature
///   verifies are used below;
/// - a checkpoint older than the oldest retained record (retention removed its segment)
///   is counted as [`CheckpointSummary::skipped`], not a problem;
/// - the record at each checkpoint's seq must exist and have the signed hash, else
///   [`ProblemKind::HeadMismatch`] at that seq: this catches a history rewritten
///   consistently (every hash after the change recomputed), which the chain alone cannot;
/// - if the journal ends before the last checkpoint's seq: [`ProblemKind::Truncated`].
///
/// Records appended after the last checkpoint are protected by the chain only: cutting
/// them off the end leaves a valid, shorter chain that no checkpoint contradicts.
/// [`CheckpointSummary::last_verified_seq`] says how far the checkpoints reach.
pub fn verify_with_checkpoints(
    dir: &Path,
    checkpoints: &[Checkpoint],
    key: &PublicKey,
) -> Result<VerifyReport, JournalError> {
    Walker::new(Heads::checkpoints(checkpoints, key)).walk(dir)
}

/// [`verify`] (`checkpoints` `None`) or [`verify_with_checkpoints`], that also hands
/// `visit` each record the chain walk accepts, in chain order, from the same single read
/// of the segments. A caller checking other stores against the journal (as `trailmark
/// verify` checks the archive and metadata stores) reads the events this way; records
/// the report finds damaged are still visited when they decode, so act on them only
/// together with the report.
pub fn verify_visiting(
    dir: &Path,
    checkpoints: Option<(&[Checkpoint], &PublicKey)>,
    visit: &mut dyn FnMut(&crate::StoredRecord),
) -> Result<VerifyReport, JournalError> {
    verify_opening(dir, checkpoints, None, visit)
}

/// [`verify_visiting`] for a journal that may be encrypted: with `keyring`, every
/// encrypted record is also opened (its data key and its authentication tag checked;
/// [`ProblemKind::SealBroken`] when not) and visited with its payload opened. Without
/// it, encrypted records are chain-checked over their stored bytes but not visited, and
/// [`VerifyReport::encryption`] says how many were left unopened.
pub fn verify_opening(
    dir: &Path,
    checkpoints: Option<(&[Checkpoint], &PublicKey)>,
    keyring: Option<&Keyring>,
    visit: &mut dyn FnMut(&crate::StoredRecord),
) -> Result<VerifyReport, JournalError> {
    let heads = match checkpoints {
        Some((checkpoints, key)) => Heads::checkpoints(checkpoints, key),
        None => Heads::none(),
    };
    let mut walker = Walker::new(heads);
    walker.visit = Some(visit);
    walker.keyring = keyring;
    walker.report.encryption.key_given = keyring.is_some();
    walker.walk(dir)
}

struct Walker<'v> {
    report: VerifyReport,
    /// The next expected seq and the hash it must link to; `None` before the first segment.
    expected: Option<(u64, Hash)>,
    /// After unreadable bytes, the next record is accepted as the new baseline.
    resync: bool,
    heads: Heads,
    last_path: PathBuf,
    last_offset: u64,
    visit: Option<&'v mut dyn FnMut(&crate::StoredRecord)>,
    keyring: Option<&'v Keyring>,
    /// The current segment is encrypted.
    sealed: bool,
    /// Its data key, when a keyring was given and the key opened.
    dek: Option<DataKey>,
    /// The current record opened, to visit instead of the stored one.
    opened: Option<crate::StoredRecord>,
    /// The current record is encrypted (in an encrypted segment, and not a cut record).
    record_sealed: bool,
    /// The first segment's link to the record before it.
    first_prev_hash: Hash,
    /// Retention cut records accepted: (seq, cut).
    cuts: Vec<(u64, RetentionCut)>,
}

impl Walker<'_> {
    fn new(heads: Heads) -> Self {
        Walker {
            report: VerifyReport {
                segments: 0,
                records: 0,
                first_seq: 1,
                last_seq: 0,
                head_hash: [0; 32],
                problems: Vec::new(),
                checkpoints: CheckpointSummary::default(),
                encryption: EncryptionSummary::default(),
                start: JournalStart::Genesis,
            },
            expected: None,
            resync: false,
            heads,
            last_path: PathBuf::new(),
            last_offset: 0,
            visit: None,
            keyring: None,
            sealed: false,
            dek: None,
            opened: None,
            record_sealed: false,
            first_prev_hash: [0; 32],
            cuts: Vec::new(),
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
        if let Some((next, hash)) = self.expected {
            self.report.last_seq = next.saturating_sub(1);
            self.report.head_hash = hash;
        }
        let path = if self.last_path.as_os_str().is_empty() {
            dir.to_path_buf()
        } else {
            self.last_path.clone()
        };
        self.explain_start(dir);
        let last_seq = self.expected.map_or(0, |(next, _)| next.saturating_sub(1));
        self.report.checkpoints =
            self.heads
                .finish(last_seq, &mut self.report.problems, &path, self.last_offset);
        Ok(self.report)
    }

    /// Sets [`VerifyReport::start`]: a journal that begins after record 1 is explained
    /// by a retained cut record that removed at least the records before its start; a
    /// cut record that ends exactly there must name the hash the first segment links to.
    fn explain_start(&mut self, dir: &Path) {
        let first_seq = self.report.first_seq;
        if first_seq <= 1 || self.report.segments == 0 {
            return;
        }
        let exact = self.cuts.iter().rev().find(|(_, c)| c.before == first_seq);
        let covering = exact.or_else(|| self.cuts.iter().rev().find(|(_, c)| c.before > first_seq));
        self.report.start = match covering {
            Some((at, cut)) => {
                let (at, cut) = (*at, cut.clone());
                let linked = hex::encode(self.first_prev_hash);
                if cut.before == first_seq && cut.last_removed_hash != linked {
                    let path = list_segments(dir)
                        .ok()
                        .and_then(|s| s.first().map(|(_, p)| p.clone()))
                        .unwrap_or_else(|| dir.to_path_buf());
                    self.problem(
                        ProblemKind::SegmentGap,
                        Some(first_seq),
                        &path,
                        0,
                        format!(
                            "the retention cut recorded at seq {at} removed records up to a record with hash {}, but the first segment links to {linked}: the first segment was replaced",
                            cut.last_removed_hash
                        ),
                    );
                }
                JournalStart::RetentionCut {
                    first_seq,
                    recorded_at: at,
                }
            }
            None => JournalStart::Unexplained { first_seq },
        };
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
                self.first_prev_hash = header.prev_hash;
                let before = header.first_seq.saturating_sub(1);
                self.heads
                    .start(before, header.prev_hash, &mut self.report.problems, path);
            }
            Some((seq, hash))
                if !self.resync && (seq != header.first_seq || hash != header.prev_hash) =>
            {
                let detail = format!(
                    "segment starts at seq {} but the chain so far ends at seq {}{}: a segment was removed, replaced or inserted",
                    header.first_seq,
                    seq.saturating_sub(1),
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
        self.sealed = header.sealed;
        self.dek = None;
        if header.sealed {
            self.report.encryption.segments += 1;
            if let Some(keyring) = self.keyring {
                match load_data_key(keyring, path, header.first_seq) {
                    Ok(dek) => self.dek = Some(dek),
                    Err(e) => self.problem(
                        ProblemKind::SealBroken,
                        Some(header.first_seq),
                        path,
                        0,
                        format!("the segment's records cannot be opened: {e}"),
                    ),
                }
            }
        }

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
        self.opened = None;
        self.record_sealed = self.sealed && record.kind != RETENTION_CUT;
        if self.record_sealed {
            self.report.encryption.records += 1;
            if let Some(dek) = &self.dek {
                match dek.open(record.seq, record.kind, &record.payload) {
                    Some(plain) => {
                        self.report.encryption.opened += 1;
                        let mut opened = record.clone();
                        opened.sealed_payload = Some(std::mem::replace(&mut opened.payload, plain));
                        self.opened = Some(opened);
                    }
                    None => self.problem(
                        ProblemKind::SealBroken,
                        Some(record.seq),
                        path,
                        offset,
                        "the record does not open with its segment's data key (altered or moved)"
                            .to_owned(),
                    ),
                }
            }
        }
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
                self.accept(record, path, offset);
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
            self.accept(record, path, offset);
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
            self.accept(record, path, offset);
        }
    }

    fn accept(&mut self, record: &crate::StoredRecord, path: &Path, offset: u64) {
        if let Some(visit) = self.visit.as_mut() {
            // An encrypted record is visited opened, or not at all.
            match (self.record_sealed, &self.opened) {
                (false, _) => visit(record),
                (true, Some(opened)) => visit(opened),
                (true, None) => {}
            }
        }
        if record.kind == RETENTION_CUT
            && let Some(cut) = RetentionCut::from_payload(&record.payload)
        {
            self.cuts.push((record.seq, cut));
        }
        self.expected = Some((record.seq.saturating_add(1), record.hash));
        self.heads.reach(
            record.seq,
            record.hash,
            &mut self.report.problems,
            path,
            offset,
        );
    }
}
