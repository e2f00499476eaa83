//! One run file: index entries sorted by (hash, sequence), immutable once
//! written.
//!
//! Layout (little-endian): a 64-byte header, then `count` records of 16
//! bytes, each an [`IdHash`] (8 bytes) and a journal sequence (8 bytes).
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `TMIDXRUN` |
//! | 8..12 | format version (1) |
//! | 12..16 | CRC-32 (`crc32fast`) of bytes 16..64, then of the records |
//! | 16..24 | record count |
//! | 24..32 | lowest sequence |
//! | 32..40 | highest sequence |
//! | 40..48 | first run number covered |
//! | 48..56 | last run number covered |
//! | 56..64 | zero |
//!
//! A run is named for the run numbers it covers,
//! `000000000001-000000000008.run`: a merge of runs 1 to 8 replaces them,
//! and at open a run whose numbers another covers is a merge's leftover
//! input. Sequence ranges are in the header, not the name: the pipeline
//! adds entries in journal order (from the journal's completion callback),
//! but recovery's re-index after a run that a crash left behind may file
//! an event twice, so two runs' ranges may overlap (a lookup answers each
//! sequence once).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{IdHash, IndexError};

const MAGIC: &[u8; 8] = b"TMIDXRUN";
const VERSION: u32 = 1;
/// Bytes before the first record.
pub(super) const HEADER: u64 = 64;
/// Bytes per record.
const RECORD: usize = 16;

/// A run keeps at most this many fence keys in memory (32 KiB), so memory
/// grows with the number of runs, not with the entries they hold.
const MAX_FENCES: u64 = 4096;

/// Records between fence keys: one block of them is read per lookup
/// (4 KiB for runs up to a million entries, 64 KiB at the size cap).
fn stride_for(count: u64) -> u64 {
    count.div_ceil(MAX_FENCES).max(256)
}

/// An entry as stored: (hash, sequence).
pub(super) type Entry = (IdHash, u64);

/// A run file held open for lookups and merges.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) path: PathBuf,
    pub(super) ids: RangeInclusive<u64>,
    pub(super) count: u64,
    pub(super) min_seq: u64,
    pub(super) max_seq: u64,
    crc: u32,
    file: File,
    /// The hash of every `stride`-th record.
    fences: Vec<i64>,
    stride: u64,
}

/// The file name of the run covering run numbers `ids`.
pub(super) fn name(ids: &RangeInclusive<u64>) -> String {
    format!("{:012}-{:012}.run", ids.start(), ids.end())
}

/// The run numbers a file name covers, if it names a run.
pub(super) fn parse_name(name: &str) -> Option<RangeInclusive<u64>> {
    let (first, last) = name.strip_suffix(".run")?.split_once('-')?;
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last).then_some(first..=last)
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(path: &Path, what: &str) -> IndexError {
    IndexError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned()),
    }
}

fn encode(&(hash, seq): &Entry) -> [u8; RECORD] {
    let mut bytes = [0; RECORD];
    bytes[..8].copy_from_slice(&hash.0.to_le_bytes());
    bytes[8..].copy_from_slice(&seq.to_le_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Entry {
    let word = |at: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        w
    };
    (
        IdHash(i64::from_le_bytes(word(0))),
        u64::from_le_bytes(word(8)),
    )
}

/// The header's fields after the checksum (bytes 16..64).
fn header_tail(count: u64, min: u64, max: u64, ids: &RangeInclusive<u64>) -> [u8; 48] {
    let mut tail = [0; 48];
    for (i, v) in [count, min, max, *ids.start(), *ids.end()]
        .iter()
        .enumerate()
    {
        tail[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    tail
}

/// Write `entries` (sorted by hash, then sequence; `expected` of them at
/// most) as the run covering run numbers `ids` in `dir`: to a temporary
/// name, synced, renamed into place (replacing a run of the same name),
/// then the directory synced. `None` if `entries` was empty (no file is
/// left). The temp name is `<name>.tmp`, which `load` removes after a crash.
pub(super) fn write(
    dir: &Path,
    ids: RangeInclusive<u64>,
    expected: u64,
    entries: impl Iterator<Item = Result<Entry, IndexError>>,
) -> Result<Option<Run>, IndexError> {
    let durable = |e: trailmark_durable_file::Error| io_error(&e.path)(e.source);
    let path = dir.join(name(&ids));
    let mut pending = trailmark_durable_file::Replace::new(&path)
        .temp_path(dir.join(format!("{}.tmp", name(&ids))))
        .begin()
        .map_err(durable)?;
    // On an error or no entries, dropping `pending` removes the temp file.
    let temp = pending.temp_path().to_owned();
    let Some(written) = write_temp(&temp, pending.file(), &ids, expected, entries)? else {
        return Ok(None);
    };
    pending.commit().map_err(durable)?;
    Ok(Some(Run { path, ..written }))
}

/// Writes the run to `file` (the temp file at `temp`), unsynced.
fn write_temp(
    temp: &Path,
    file: &File,
    ids: &RangeInclusive<u64>,
    expected: u64,
    entries: impl Iterator<Item = Result<Entry, IndexError>>,
) -> Result<Option<Run>, IndexError> {
    let fail = io_error(temp);
    let mut out = BufWriter::with_capacity(256 << 10, file);
    out.write_all(&[0; HEADER as usize]).map_err(&fail)?;
    let stride = stride_for(expected);
    let mut body = crc32fast::Hasher::new();
    let (mut count, mut min, mut max) = (0u64, u64::MAX, 0u64);
    let mut fences = Vec::new();
    for entry in entries {
        let entry = entry?;
        if count % stride == 0 {
            fences.push(entry.0.0);
        }
        let bytes = encode(&entry);
        body.update(&bytes);
        out.write_all(&bytes).map_err(&fail)?;
        count += 1;
        min = min.min(entry.1);
        max = max.max(entry.1);
    }
    if count == 0 {
        return Ok(None);
    }
    out.flush().map_err(&fail)?;
    drop(out);
    let tail = header_tail(count, min, max, ids);
    let crc = checksum(&tail, body);
    file.write_all_at(&header(crc, &tail), 0).map_err(&fail)?;
    Ok(Some(Run {
        path: temp.to_owned(),
        ids: ids.clone(),
        count,
        min_seq: min,
        max_seq: max,
        crc,
        file: file.try_clone().map_err(&fail)?,
        fences,
        stride,
    }))
}

/// The checksum of a run: its header's fields after the checksum, then its
/// records (`body` has hashed the records).
fn checksum(tail: &[u8; 48], body: crc32fast::Hasher) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(tail);
    crc.combine(&body);
    crc.finalize()
}

fn header(crc: u32, tail: &[u8; 48]) -> [u8; HEADER as usize] {
    let mut header = [0; HEADER as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header[16..].copy_from_slice(tail);
    header
}

impl Run {
    /// Open run file `path` and check it whole: header, size, order and
    /// checksum. Reads the file once, sequentially.
    pub(super) fn open(path: &Path) -> Result<Run, IndexError> {
        let fail = io_error(path);
        let file = File::open(path).map_err(&fail)?;
        let mut head = [0; HEADER as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|_| corrupt(path, "shorter than a run's header"))?;
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(w)
        };
        if &head[..8] != MAGIC {
            return Err(corrupt(path, "not a run file (bad magic)"));
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version != VERSION {
            return Err(corrupt(path, "unknown run format version"));
        }
        let crc = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        let (count, min_seq, max_seq) = (word(16), word(24), word(32));
        let ids = word(40)..=word(48);
        let len = file.metadata().map_err(&fail)?.len();
        if count == 0 || Some(len) != count.checked_mul(RECORD as u64).map(|b| b + HEADER) {
            return Err(corrupt(path, "size does not match its record count"));
        }
        if path.file_name().and_then(|n| n.to_str()) != Some(name(&ids).as_str()) {
            return Err(corrupt(path, "header names other runs than the file name"));
        }
        let stride = stride_for(count);
        let mut fences = Vec::with_capacity(count.div_ceil(stride) as usize);
        let mut body = crc32fast::Hasher::new();
        let mut cursor = Cursor::new(&file, count);
        let mut previous = None;
        let mut i = 0;
        while let Some(entry) = cursor.next_entry(&mut body).map_err(&fail)? {
            if previous.is_some_and(|p| p > entry) || entry.1 < min_seq || entry.1 > max_seq {
                return Err(corrupt(path, "records out of order or out of range"));
            }
            if i % stride == 0 {
                fences.push(entry.0.0);
            }
            previous = Some(entry);
            i += 1;
        }
        let tail: [u8; 48] = head[16..].try_into().expect("64-byte header");
        if checksum(&tail, body) != crc {
            return Err(corrupt(path, "checksum mismatch"));
        }
        Ok(Run {
            path: path.to_owned(),
            ids,
            count,
            min_seq,
            max_seq,
            crc,
            file,
            fences,
            stride,
        })
    }

    /// Append to `out` the sequences at or above `cut` filed under `hash`.
    /// Reads the one block of records (or, for a hash that spans blocks,
    /// the few) between fence keys where `hash` would be.
    pub(super) fn find(
        &self,
        hash: IdHash,
        cut: u64,
        out: &mut Vec<u64>,
    ) -> Result<(), IndexError> {
        let mut block = self
            .fences
            .partition_point(|&f| f < hash.0)
            .saturating_sub(1) as u64;
        let mut buf = Vec::new();
        loop {
            let start = block * self.stride;
            if start >= self.count {
                return Ok(());
            }
            let n = self.stride.min(self.count - start) as usize;
            buf.resize(n * RECORD, 0);
            self.file
                .read_exact_at(&mut buf, HEADER + start * RECORD as u64)
                .map_err(io_error(&self.path))?;
            for record in buf.chunks_exact(RECORD) {
                let (h, seq) = decode(record);
                if h > hash {
                    return Ok(());
                }
                if h == hash && seq >= cut {
                    out.push(seq);
                }
            }
            block += 1;
        }
    }

    /// The run's records in order, read sequentially; the last item is an
    /// error if the checksum no longer matches.
    pub(super) fn entries(&self) -> impl Iterator<Item = Result<Entry, IndexError>> + '_ {
        let mut cursor = Cursor::new(&self.file, self.count);
        let mut body = crc32fast::Hasher::new();
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match cursor.next_entry(&mut body) {
                Ok(Some(entry)) => Some(Ok(entry)),
                Ok(None) => {
                    done = true;
                    let tail = header_tail(self.count, self.min_seq, self.max_seq, &self.ids);
                    let crc = checksum(&tail, std::mem::take(&mut body));
                    (crc != self.crc).then(|| Err(corrupt(&self.path, "checksum mismatch")))
                }
                Err(e) => {
                    done = true;
                    Some(Err(io_error(&self.path)(e)))
                }
            }
        })
    }
}

/// Reads a run's records sequentially, a large block at a time, with
/// `pread` (the file's offset is not shared state).
struct Cursor<'a> {
    file: &'a File,
    left: u64,
    offset: u64,
    buf: Vec<u8>,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Records per read.
    const BLOCK: u64 = 16_384;

    fn new(file: &'a File, count: u64) -> Cursor<'a> {
        Cursor {
            file,
            left: count,
            offset: HEADER,
            buf: Vec::new(),
            at: 0,
        }
    }

    fn next_entry(&mut self, crc: &mut crc32fast::Hasher) -> std::io::Result<Option<Entry>> {
        if self.at == self.buf.len() {
            if self.left == 0 {
                return Ok(None);
            }
            let n = self.left.min(Self::BLOCK);
            self.buf.resize(n as usize * RECORD, 0);
            self.file.read_exact_at(&mut self.buf, self.offset)?;
            crc.update(&self.buf);
            self.offset += n * RECORD as u64;
            self.left -= n;
            self.at = 0;
        }
        let entry = decode(&self.buf[self.at..self.at + RECORD]);
        self.at += RECORD;
        Ok(Some(entry))
    }
}
