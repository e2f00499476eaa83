//! The in-memory view of the journal shared by the writer and readers.
//!
//! Only durable (fsynced) records are published here, so a reader never sees a record that
//! a crash could still take away — and never sees a sequence number that could later be
//! reused for a different record.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::JournalOptions;
use crate::format::Hash;
use crate::seal::DataKey;

/// The last durable record: its sequence number and hash. Keep it somewhere else (a
/// checkpoint) and [`verify_against`](crate::verify_against) can detect truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    /// Sequence number of the last record (0 for an empty journal).
    pub seq: u64,
    /// Its hash (all zeros for an empty journal).
    pub hash: Hash,
}

impl ChainHead {
    /// The hash as lowercase hex.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// One segment as readers see it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    /// Sequence number of the segment's first record.
    pub first_seq: u64,
    /// The segment file.
    pub path: PathBuf,
    /// Bytes of the file that are durable and valid (header included).
    pub durable_len: u64,
    /// Seq of the last durable record in the segment (`first_seq - 1` if none).
    pub last_seq: u64,
    /// `(seq, offset)` every `index_interval` records.
    pub sparse: Vec<(u64, u64)>,
    /// The segment's data key, when it is encrypted.
    pub dek: Option<Arc<DataKey>>,
}

/// Where a reader starts looking for a seq: see [`Index::locate`].
pub(crate) struct Located {
    pub first_seq: u64,
    pub path: PathBuf,
    pub offset: u64,
    pub end: u64,
    pub dek: Option<Arc<DataKey>>,
}

/// Segments (oldest first; the last is the active one) and the durable head.
#[derive(Debug)]
pub(crate) struct Index {
    /// Never empty while the journal is open.
    pub segments: Vec<SegmentInfo>,
    /// Last durable record.
    pub head: ChainHead,
}

impl Index {
    /// Oldest retained sequence number.
    pub(crate) fn first_seq(&self) -> u64 {
        self.segments.first().map_or(1, |s| s.first_seq)
    }

    /// Where to start reading to find `seq`: the segment's first seq, path, a record offset
    /// at or before `seq`, the segment's durable length and data key. `None` if `seq` is
    /// not retained or not yet durable.
    pub(crate) fn locate(&self, seq: u64) -> Option<Located> {
        if seq < self.first_seq() || seq > self.head.seq {
            return None;
        }
        let at = self.segments.partition_point(|s| s.first_seq <= seq);
        let segment = &self.segments[at.checked_sub(1)?];
        let sparse_at = segment.sparse.partition_point(|(s, _)| *s <= seq);
        let offset = match sparse_at.checked_sub(1) {
            Some(i) => segment.sparse[i].1,
            None => crate::format::HEADER_LEN as u64,
        };
        Some(Located {
            first_seq: segment.first_seq,
            path: segment.path.clone(),
            offset,
            end: segment.durable_len,
            dek: segment.dek.clone(),
        })
    }
}

/// Counters the writer keeps; see [`JournalStats`](crate::JournalStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub batches: AtomicU64,
    pub fsyncs: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by the `Journal` handle, its readers and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The journal directory.
    pub dir: PathBuf,
    /// Options the journal was opened with.
    pub options: JournalOptions,
    index: RwLock<Index>,
    /// Writer statistics.
    pub counters: Counters,
}

impl Shared {
    pub(crate) fn new(dir: PathBuf, options: JournalOptions, index: Index) -> Self {
        Shared {
            dir,
            options,
            index: RwLock::new(index),
            counters: Counters::default(),
        }
    }

    /// Read access to the index. A panic while holding the lock cannot leave it
    /// half-updated (updates are plain field stores), so poisoning is ignored.
    pub(crate) fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write access to the index.
    pub(crate) fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}
