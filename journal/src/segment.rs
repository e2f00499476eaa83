//! Segment files: naming, listing, scanning, directory fsync.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{
    BODY_FIXED, Decoded, HEADER_LEN, Hash, PREFIX_LEN, SegmentHeader, decode_record, u64_at,
};

/// File-name suffix of segment files.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";

/// Name of the segment file whose first record is `first_seq`: 20 zero-padded digits, so
/// names sort in sequence order.
pub(crate) fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name back into its first sequence number.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lists the segment files of `dir`, sorted by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io(dir, "list directory", e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, "list directory", e))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(first_seq, _)| *first_seq);
    Ok(segments)
}

/// Reads a whole segment file.
pub(crate) fn read_segment(path: &Path) -> Result<Vec<u8>, JournalError> {
    fs::read(path).map_err(|e| JournalError::io(path, "read segment", e))
}

/// Why a scan stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// The bytes from the stop offset to the end hold no valid record: a torn write.
    Torn,
    /// A record fails its checks and valid records follow it, or a CRC-valid record
    /// breaks the chain: damage, not a torn write.
    Corrupt,
}

/// Where and why a scan stopped.
#[derive(Debug, Clone)]
pub(crate) struct ScanStop {
    /// Offset of the first bad byte (start of the bad record).
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
    /// Torn tail or real damage.
    pub kind: StopKind,
}

/// What a scan of one segment found.
#[derive(Debug, Clone)]
pub(crate) struct SegmentScan {
    /// The segment's header.
    pub header: SegmentHeader,
    /// Number of valid records.
    pub records: u64,
    /// Seq of the last valid record (`header.first_seq - 1` if none).
    pub last_seq: u64,
    /// Hash of the last valid record (`header.prev_hash` if none).
    pub last_hash: Hash,
    /// Timestamp of the last valid record (`i64::MIN` if none).
    pub last_timestamp_ms: i64,
    /// Offset just past the last valid record.
    pub valid_len: u64,
    /// Sparse index: `(seq, offset)` every `index_interval` records, starting with the first.
    pub sparse: Vec<(u64, u64)>,
    /// Set when the scan stopped before the end of the file.
    pub stop: Option<ScanStop>,
}

/// Scans a segment's bytes: header, then every record's length, CRC, seq, link and hash.
///
/// Returns an error only when the header itself is unreadable.
pub(crate) fn scan_segment(
    path: &Path,
    bytes: &[u8],
    index_interval: u64,
) -> Result<SegmentScan, JournalError> {
    let header = SegmentHeader::decode(bytes).map_err(|r| JournalError::corrupt(path, 0, r))?;
    let mut scan = SegmentScan {
        header,
        records: 0,
        last_seq: header.first_seq - 1,
        last_hash: header.prev_hash,
        last_timestamp_ms: i64::MIN,
        valid_len: HEADER_LEN as u64,
        sparse: Vec::new(),
        stop: None,
    };
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        let expected = scan.last_seq + 1;
        let stop = |reason: String, kind| ScanStop {
            offset: offset as u64,
            reason,
            kind,
        };
        match decode_record(&bytes[offset..]) {
            Decoded::Record(record, len) => {
                let problem = if record.seq != expected {
                    Some(format!("expected seq {expected}, found {}", record.seq))
                } else if record.prev_hash != scan.last_hash {
                    Some(format!(
                        "record {} does not link to the previous record's hash",
                        record.seq
                    ))
                } else if record.computed_hash() != record.hash {
                    Some(format!(
                        "record {} hash mismatch (contents modified)",
                        record.seq
                    ))
                } else {
                    None
                };
                if let Some(reason) = problem {
                    scan.stop = Some(stop(reason, StopKind::Corrupt));
                    return Ok(scan);
                }
                if (record.seq - header.first_seq).is_multiple_of(index_interval) {
                    scan.sparse.push((record.seq, offset as u64));
                }
                scan.records += 1;
                scan.last_seq = record.seq;
                scan.last_hash = record.hash;
                scan.last_timestamp_ms = record.timestamp_ms;
                offset += len;
                scan.valid_len = offset as u64;
            }
            Decoded::Incomplete => {
                scan.stop = Some(stop(
                    "incomplete record at end of file".to_owned(),
                    StopKind::Torn,
                ));
                return Ok(scan);
            }
            Decoded::Invalid(reason) => {
                let min_seq = header.first_seq;
                let kind = match find_next_record(bytes, offset + 1, min_seq) {
                    Some(next) => {
                        scan.stop = Some(stop(
                            format!("{reason}; valid records follow at offset {next}"),
                            StopKind::Corrupt,
                        ));
                        return Ok(scan);
                    }
                    None => StopKind::Torn,
                };
                scan.stop = Some(stop(reason, kind));
                return Ok(scan);
            }
        }
    }
    Ok(scan)
}

/// Finds the first offset at or after `from` where a CRC-valid record with a plausible
/// sequence number (`>= min_seq`, and not beyond what the remaining bytes could hold)
/// starts. Used to tell a torn tail from damage in the middle, and by `verify` to resync.
pub(crate) fn find_next_record(bytes: &[u8], from: usize, min_seq: u64) -> Option<usize> {
    let min_record = PREFIX_LEN + BODY_FIXED;
    let mut offset = from;
    while offset + min_record <= bytes.len() {
        // Cheap filter before the CRC: a plausible sequence number.
        let seq = u64_at(bytes, offset + PREFIX_LEN);
        let max_seq = min_seq.saturating_add((bytes.len() / min_record) as u64 + 1);
        if (min_seq..=max_seq).contains(&seq)
            && matches!(decode_record(&bytes[offset..]), Decoded::Record(..))
        {
            return Some(offset);
        }
        offset += 1;
    }
    None
}

/// Truncates a segment file to `len` bytes and makes that durable.
pub(crate) fn truncate_segment(path: &Path, len: u64) -> Result<(), JournalError> {
    let file = File::options()
        .write(true)
        .open(path)
        .map_err(|e| JournalError::io(path, "open for truncation", e))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io(path, "truncate torn tail", e))
}

/// Creates a new segment file holding only `header`, durably (file and directory fsynced).
/// A crash before that may leave it empty or short: recovery completes or removes it.
pub(crate) fn create_segment(
    dir: &Path,
    header: &SegmentHeader,
) -> Result<(PathBuf, File), io::Error> {
    let path = dir.join(segment_file_name(header.first_seq));
    // The operating system's error itself, not durable-file's wrapper: the
    // writer tells a full disk (resumable) from a failure by its errno.
    let file = trailmark_durable_file::create_new_synced(&path, &header.encode(), None)
        .map_err(|e| e.source)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{GENESIS_HASH, encode_record};

    fn segment(n: u64) -> Vec<u8> {
        let mut bytes = SegmentHeader {
            first_seq: 1,
            prev_hash: GENESIS_HASH,
            sealed: false,
        }
        .encode()
        .to_vec();
        let mut prev = GENESIS_HASH;
        for seq in 1..=n {
            prev = encode_record(&mut bytes, &prev, seq, 1, seq as i64, b"abcdefgh");
        }
        bytes
    }

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_name("00000000000000000042.seg"), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
    }

    #[test]
    fn scan_reads_all_and_builds_sparse_index() {
        let bytes = segment(10);
        let scan = scan_segment(Path::new("s"), &bytes, 4).expect("header is valid");
        assert!(scan.stop.is_none());
        assert_eq!(scan.records, 10);
        assert_eq!(scan.last_seq, 10);
        assert_eq!(scan.valid_len, bytes.len() as u64);
        let seqs: Vec<u64> = scan.sparse.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![1, 5, 9]);
    }

    #[test]
    fn garbage_tail_is_torn_but_damage_before_valid_records_is_corrupt() {
        let mut bytes = segment(3);
        let good = bytes.len();
        bytes.extend_from_slice(&[0xAB; 50]);
        let scan = scan_segment(Path::new("s"), &bytes, 4).expect("header is valid");
        let stop = scan.stop.expect("garbage stops the scan");
        assert_eq!(stop.kind, StopKind::Torn);
        assert_eq!(stop.offset, good as u64);

        let mut bytes = segment(3);
        bytes[HEADER_LEN + 30] ^= 0xFF;
        let scan = scan_segment(Path::new("s"), &bytes, 4).expect("header is valid");
        let stop = scan.stop.expect("damage stops the scan");
        assert_eq!(stop.kind, StopKind::Corrupt);
        assert_eq!(stop.offset, HEADER_LEN as u64);
    }
}
