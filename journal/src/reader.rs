//! Reading records while the writer appends.
//!
//! Readers open segment files on their own file handles and read only up to the durable
//! length published in the index, so they never see a half-written or unsynced record.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use crate::seal::DataKey;

use crate::error::JournalError;
use crate::format::{BODY_FIXED, PREFIX_LEN, StoredRecord, decode_body, u32_at};
use crate::index::{Located, Shared};

/// A position inside one segment file.
struct Cursor {
    first_seq: u64,
    path: PathBuf,
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    dek: Option<Arc<DataKey>>,
}

impl Cursor {
    fn open(located: Located) -> Result<Cursor, io::Error> {
        let mut file = File::open(&located.path)?;
        file.seek(SeekFrom::Start(located.offset))?;
        Ok(Cursor {
            first_seq: located.first_seq,
            path: located.path,
            reader: BufReader::with_capacity(64 * 1024, file),
            pos: located.offset,
            end: located.end,
            dek: located.dek,
        })
    }

    /// Reads the record at `pos` (the caller checked `pos < end`), checking its CRC.
    fn next_record(&mut self) -> Result<StoredRecord, JournalError> {
        let at = self.pos;
        let mut prefix = [0u8; PREFIX_LEN];
        self.reader
            .read_exact(&mut prefix)
            .map_err(|e| JournalError::io(&self.path, "read record", e))?;
        let len = u32_at(&prefix, 0) as usize;
        if len < BODY_FIXED || at + (PREFIX_LEN + len) as u64 > self.end {
            return Err(JournalError::corrupt(
                &self.path,
                at,
                format!("record length {len} does not fit the segment"),
            ));
        }
        let mut body = vec![0u8; len];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| JournalError::io(&self.path, "read record", e))?;
        if crc32fast::hash(&body) != u32_at(&prefix, 4) {
            return Err(JournalError::corrupt(&self.path, at, "record CRC mismatch"));
        }
        self.pos += (PREFIX_LEN + len) as u64;
        let mut record = decode_body(&body);
        if let Some(dek) = &self.dek
            && record.kind != crate::RETENTION_CUT
        {
            let Some(plain) = dek.open(record.seq, record.kind, &record.payload) else {
                return Err(JournalError::corrupt(
                    &self.path,
                    at,
                    format!(
                        "record {} does not open with its segment's data key (altered, or the .dek file is not this segment's)",
                        record.seq
                    ),
                ));
            };
            record.sealed_payload = Some(std::mem::replace(&mut record.payload, plain));
        }
        Ok(record)
    }
}

/// Iterator over records with `seq >=` a start, in order; returned by
/// [`Journal::read_from`](crate::Journal::read_from).
///
/// It yields every record durable at the time of each `next` call and returns `None`
/// once it has caught up; calling `next` again later yields records appended since
/// (like `tail -f`). After an error it returns `None` for good.
pub struct ReadIter {
    shared: Arc<Shared>,
    next_seq: u64,
    cursor: Option<Cursor>,
    failed: bool,
}

impl ReadIter {
    pub(crate) fn new(shared: Arc<Shared>, seq: u64) -> Self {
        ReadIter {
            shared,
            next_seq: seq.max(1),
            cursor: None,
            failed: false,
        }
    }

    /// The seq the next record yielded will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn step(&mut self) -> Result<Option<StoredRecord>, JournalError> {
        loop {
            if let Some(cursor) = &mut self.cursor {
                if cursor.pos < cursor.end {
                    let record = cursor.next_record()?;
                    if record.seq < self.next_seq {
                        continue; // skipping from a sparse-index entry to the wanted seq
                    }
                    if record.seq != self.next_seq {
                        return Err(JournalError::corrupt(
                            &cursor.path,
                            cursor.pos - record.encoded_len() as u64,
                            format!("expected seq {}, found {}", self.next_seq, record.seq),
                        ));
                    }
                    self.next_seq += 1;
                    return Ok(Some(record));
                }
                // The known extent is exhausted: more may have been published since.
                let grown = self
                    .shared
                    .index()
                    .segments
                    .iter()
                    .rev()
                    .find(|s| s.first_seq == cursor.first_seq)
                    .map(|s| s.durable_len)
                    .filter(|len| *len > cursor.end);
                if let Some(len) = grown {
                    cursor.end = len;
                    continue;
                }
                self.cursor = None;
            }
            let located = {
                let index = self.shared.index();
                if self.next_seq > index.head.seq {
                    return Ok(None);
                }
                let first_seq = index.first_seq();
                if self.next_seq < first_seq {
                    return Err(JournalError::Removed {
                        seq: self.next_seq,
                        first_seq,
                    });
                }
                index.locate(self.next_seq)
            };
            let Some(located) = located else {
                return Ok(None);
            };
            let path = located.path.clone();
            match Cursor::open(located) {
                Ok(cursor) => self.cursor = Some(cursor),
                // Retention removed the segment between the lookup and the open:
                // look again, which reports `Removed`.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if self.shared.index().first_seq() <= self.next_seq {
                        return Err(JournalError::io(path, "open segment", e));
                    }
                }
                Err(e) => return Err(JournalError::io(path, "open segment", e)),
            }
        }
    }
}

impl Iterator for ReadIter {
    type Item = Result<StoredRecord, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(record) => record.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}
