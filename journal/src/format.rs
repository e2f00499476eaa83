//! The on-disk byte format of segments and records, and the hash chain.
//!
//! All integers are little-endian.
//!
//! **Segment header** (`HEADER_LEN` = 56 bytes), at offset 0 of every segment file:
//!
//! | bytes | field |
//! |---|---|
//! | 8  | magic `b"TMJRNL\r\n"` |
//! | 4  | format version (`u32`): 1 = payloads stored as given, 2 = payloads sealed with the segment's data key (see [`seal`](mod@crate::seal)) |
//! | 8  | `first_seq` (`u64`): the sequence number the segment's first record has (or will have) |
//! | 32 | `prev_hash`: hash of record `first_seq - 1` (all zeros when `first_seq == 1`) |
//! | 4  | CRC-32 (IEEE) of the 52 bytes above |
//!
//! **Record**, repeated until the end of the file:
//!
//! | bytes | field |
//! |---|---|
//! | 4  | `len` (`u32`): number of bytes after the CRC field (`81 + payload length`) |
//! | 4  | CRC-32 (IEEE) of those `len` bytes |
//! | 8  | `seq` (`u64`) |
//! | 1  | `kind` (`u8`, caller-defined) |
//! | 8  | `timestamp_ms` (`i64`, milliseconds since the Unix epoch) |
//! | n  | payload |
//! | 32 | `prev_hash` |
//! | 32 | `hash` = SHA-256(`prev_hash` ‖ `seq` ‖ `kind` ‖ `timestamp_ms` ‖ payload), fields encoded as above |
//!
//! The CRC catches torn and bit-rotted writes cheaply; the SHA-256 chain catches deliberate
//! edits (which would recompute the CRC). Because every field before the payload has a
//! fixed width and the payload is last, the hash input is unambiguous.
//!
//! In a version 2 segment the payload field holds the sealed payload (nonce ‖ ciphertext
//! ‖ tag) and the hash covers those stored bytes, so the chain verifies without the key.

use sha2::{Digest, Sha256};

/// Magic bytes at the start of every segment file.
pub const MAGIC: [u8; 8] = *b"TMJRNL\r\n";
/// Format version of a segment whose payloads are stored as given.
pub const VERSION: u32 = 1;
/// Format version of a segment whose payloads are sealed with its data key.
pub const VERSION_SEALED: u32 = 2;
/// Size of the segment header.
pub const HEADER_LEN: usize = 56;
/// Size of the `len` + `crc` prefix of a record.
pub const PREFIX_LEN: usize = 8;
/// Size of a record body without its payload.
pub const BODY_FIXED: usize = 8 + 1 + 8 + 32 + 32;
/// Largest payload the format can carry (the `len` field is a `u32`).
pub const MAX_PAYLOAD: usize = u32::MAX as usize - BODY_FIXED;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash that precedes record 1.
pub const GENESIS_HASH: Hash = [0; 32];

/// The decoded header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the segment's first record.
    pub first_seq: u64,
    /// Hash of the record before the first one.
    pub prev_hash: Hash,
    /// Payloads are sealed with the segment's data key (format version 2).
    pub sealed: bool,
}

impl SegmentHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        let version = if self.sealed { VERSION_SEALED } else { VERSION };
        out[8..12].copy_from_slice(&version.to_le_bytes());
        out[12..20].copy_from_slice(&self.first_seq.to_le_bytes());
        out[20..52].copy_from_slice(&self.prev_hash);
        let crc = crc32fast::hash(&out[..52]);
        out[52..56].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a header, explaining what is wrong if it is not valid.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "segment header is {} bytes, expected {HEADER_LEN}",
                bytes.len()
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err("not a journal segment (bad magic)".to_owned());
        }
        let stored_crc = u32_at(bytes, 52);
        if crc32fast::hash(&bytes[..52]) != stored_crc {
            return Err("segment header CRC mismatch".to_owned());
        }
        let version = u32_at(bytes, 8);
        if version != VERSION && version != VERSION_SEALED {
            return Err(format!(
                "unsupported segment format version {version} (this build reads {VERSION} and {VERSION_SEALED})"
            ));
        }
        Ok(SegmentHeader {
            first_seq: u64_at(bytes, 12),
            prev_hash: hash_at(bytes, 20),
            sealed: version == VERSION_SEALED,
        })
    }
}

/// One record as decoded from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Sequence number: starts at 1, contiguous.
    pub seq: u64,
    /// Caller-defined record kind.
    pub kind: u8,
    /// Milliseconds since the Unix epoch, assigned by the journal at append time.
    /// Non-decreasing along the chain.
    pub timestamp_ms: i64,
    /// Caller-defined payload (opened, when its segment is encrypted).
    pub payload: Vec<u8>,
    /// The payload as stored, when its segment is encrypted and `payload` was opened
    /// from it: the bytes the hash covers. `None` for a plaintext segment.
    pub sealed_payload: Option<Vec<u8>>,
    /// This record's hash (see the [format](mod@crate::format) docs).
    pub hash: Hash,
    /// The previous record's hash.
    pub prev_hash: Hash,
}

impl StoredRecord {
    /// Recomputes the hash from the record's fields (over the stored payload).
    pub fn computed_hash(&self) -> Hash {
        record_hash(
            &self.prev_hash,
            self.seq,
            self.kind,
            self.timestamp_ms,
            self.stored_payload(),
        )
    }

    /// The payload as stored on disk: sealed, or the payload itself.
    pub fn stored_payload(&self) -> &[u8] {
        self.sealed_payload.as_deref().unwrap_or(&self.payload)
    }

    /// Size of this record on disk.
    pub fn encoded_len(&self) -> usize {
        PREFIX_LEN + BODY_FIXED + self.stored_payload().len()
    }
}

/// Computes a record hash: SHA-256(`prev_hash` ‖ `seq` LE ‖ `kind` ‖ `timestamp_ms` LE ‖ `payload`).
pub fn record_hash(
    prev_hash: &Hash,
    seq: u64,
    kind: u8,
    timestamp_ms: i64,
    payload: &[u8],
) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(seq.to_le_bytes());
    hasher.update([kind]);
    hasher.update(timestamp_ms.to_le_bytes());
    hasher.update(payload);
    hasher.finalize().into()
}

/// Appends the encoding of one record to `out` and returns its hash.
///
/// The caller guarantees `payload.len() <= MAX_PAYLOAD`.
pub fn encode_record(
    out: &mut Vec<u8>,
    prev_hash: &Hash,
    seq: u64,
    kind: u8,
    timestamp_ms: i64,
    payload: &[u8],
) -> Hash {
    let hash = record_hash(prev_hash, seq, kind, timestamp_ms, payload);
    let body_len = u32::try_from(BODY_FIXED + payload.len())
        .expect("payload size is checked against MAX_PAYLOAD before encoding");
    out.reserve(PREFIX_LEN + body_len as usize);
    out.extend_from_slice(&body_len.to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let body_at = out.len();
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(&hash);
    let crc = crc32fast::hash(&out[body_at..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    hash
}

/// Result of decoding the bytes at some offset.
#[derive(Debug)]
pub enum Decoded {
    /// A record whose CRC checks out, and its total size on disk.
    Record(StoredRecord, usize),
    /// The bytes end before the record does (a torn tail if at the end of the file).
    Incomplete,
    /// The bytes are not a valid record.
    Invalid(String),
}

/// Decodes the record at the start of `bytes`, checking its length and CRC.
///
/// The hash and chain links are *not* checked here; see [`StoredRecord::computed_hash`].
pub fn decode_record(bytes: &[u8]) -> Decoded {
    if bytes.len() < PREFIX_LEN {
        return Decoded::Incomplete;
    }
    let len = u32_at(bytes, 0) as usize;
    if len < BODY_FIXED {
        return Decoded::Invalid(format!(
            "record length {len} is below the minimum {BODY_FIXED}"
        ));
    }
    let Some(body) = bytes.get(PREFIX_LEN..PREFIX_LEN + len) else {
        return Decoded::Incomplete;
    };
    let stored_crc = u32_at(bytes, 4);
    if crc32fast::hash(body) != stored_crc {
        return Decoded::Invalid("record CRC mismatch".to_owned());
    }
    Decoded::Record(decode_body(body), PREFIX_LEN + len)
}

/// Decodes a record body whose CRC is already checked (`body.len() >= BODY_FIXED`).
pub(crate) fn decode_body(body: &[u8]) -> StoredRecord {
    let payload_end = body.len() - 64;
    StoredRecord {
        seq: u64_at(body, 0),
        kind: body[8],
        timestamp_ms: i64::from_le_bytes(
            body[9..17]
                .try_into()
                .expect("slice of 8 bytes converts to [u8; 8]"),
        ),
        payload: body[17..payload_end].to_vec(),
        sealed_payload: None,
        prev_hash: hash_at(body, payload_end),
        hash: hash_at(body, payload_end + 32),
    }
}

/// Reads a little-endian `u32` at `at` (caller checked bounds).
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(
        bytes[at..at + 4]
            .try_into()
            .expect("slice of 4 bytes converts to [u8; 4]"),
    )
}

/// Reads a little-endian `u64` at `at` (caller checked bounds).
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(
        bytes[at..at + 8]
            .try_into()
            .expect("slice of 8 bytes converts to [u8; 8]"),
    )
}

fn hash_at(bytes: &[u8], at: usize) -> Hash {
    bytes[at..at + 32]
        .try_into()
        .expect("slice of 32 bytes converts to [u8; 32]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_hash_matches() {
        let mut buf = Vec::new();
        let hash = encode_record(&mut buf, &GENESIS_HASH, 1, 7, 1234, b"hello");
        assert_eq!(buf.len(), PREFIX_LEN + BODY_FIXED + 5);
        let Decoded::Record(rec, len) = decode_record(&buf) else {
            panic!("valid record did not decode");
        };
        assert_eq!(len, buf.len());
        assert_eq!(rec.seq, 1);
        assert_eq!(rec.kind, 7);
        assert_eq!(rec.timestamp_ms, 1234);
        assert_eq!(rec.payload, b"hello");
        assert_eq!(rec.hash, hash);
        assert_eq!(rec.computed_hash(), hash);
    }

    #[test]
    fn flipped_byte_fails_crc_and_short_bytes_are_incomplete() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &GENESIS_HASH, 1, 0, 0, b"payload");
        assert!(matches!(
            decode_record(&buf[..buf.len() - 1]),
            Decoded::Incomplete
        ));
        buf[20] ^= 1;
        assert!(matches!(decode_record(&buf), Decoded::Invalid(_)));
        assert!(matches!(decode_record(&[0u8; 8]), Decoded::Invalid(_)));
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = SegmentHeader {
            first_seq: 42,
            prev_hash: [9; 32],
            sealed: false,
        };
        let sealed = SegmentHeader {
            sealed: true,
            ..header
        };
        assert_eq!(SegmentHeader::decode(&sealed.encode()), Ok(sealed));
        let mut bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        bytes[13] ^= 1;
        assert!(SegmentHeader::decode(&bytes).is_err());
        assert!(SegmentHeader::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn hash_depends_on_every_field() {
        let base = record_hash(&GENESIS_HASH, 1, 2, 3, b"x");
        assert_ne!(base, record_hash(&[1; 32], 1, 2, 3, b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 2, 2, 3, b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 1, 3, 3, b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 1, 2, 4, b"x"));
        assert_ne!(base, record_hash(&GENESIS_HASH, 1, 2, 3, b"y"));
    }
}
