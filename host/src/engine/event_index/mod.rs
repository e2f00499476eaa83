//! Where each event is in the journal, by event id, on disk.
//!
//! `GET /v1/events/{id}`, dead-letter replay and the viewer look events up
//! by id. The index is a directory of *runs* (`DATA/event-index/`): files
//! of fixed-size entries, a 64-bit hash of an id ([`IdHash`]) and the
//! journal sequence of its event, sorted by hash, each written once and
//! never changed (`run.rs` has the format). Memory does not grow with the
//! number of events retained: only the entries accepted and not yet in a
//! run (a bounded [`MAX_PENDING`]) are held in memory, in a map that
//! lookups consult first, so an event can be read back as soon as it is
//! acknowledged, and each run keeps at most 4,096 fence keys.
//!
//! Accepting an event costs an append to a buffer: the writer thread sorts
//! what gathered (once 65,536 entries wait, or after 5 s) and writes it as
//! a run, sequentially, then merges runs of similar size in the background so
//! a lookup has few to search (`merge.rs`: a binary search in memory and
//! one block read per run). An earlier version kept a SQLite B-tree on the
//! hash, where each event was a write at a random place in a file that
//! outgrew its cache.
//!
//! The index holds hashes, not ids: a lookup gives the sequences filed under
//! the id's hash ([`EventIndex::candidates`]), and the caller reads those
//! records and keeps the one whose id it asked for.
//!
//! The journal is the truth and the index is derived from it: at start the
//! recovery scan re-indexes every event after the highest sequence in a run
//! ([`EventIndex::high_water`]); a damaged run is deleted with the runs
//! after it. Retention deletes the runs wholly below its cut
//! ([`EventIndex::remove_before`]) and lookups skip the entries below it in
//! the run that straddles it, so a lookup of a removed event finds nothing.

mod load;
mod merge;
mod pending;
mod run;
#[cfg(test)]
mod tests;
mod writer;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use std::thread::JoinHandle;

use pending::Pending;
use run::Run;
use writer::{Command, Writer};

/// At most this many accepted events wait in memory for the writer; past it,
/// [`EventIndex::has_room`] says no and producers are answered "busy", as
/// when the journal's queue is full.
pub const MAX_PENDING: usize = 500_000;

/// Why the index could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A run file or the index directory could not be read or written, or a
    /// run failed its checks.
    #[error("event index {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("event index: starting its writer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The key the index files an event id under: FNV-1a, 64 bits, stable
/// across versions and builds (it is stored). Ids are assigned by the host,
/// so producers cannot aim collisions; a collision costs a second record
/// read, never a wrong answer (the caller compares ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdHash(i64);

impl IdHash {
    /// The hash of event id `id`.
    pub fn of(id: &str) -> IdHash {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        IdHash(i64::from_ne_bytes(h.to_ne_bytes()))
    }
}

/// What the index and its writer share.
struct Shared {
    dir: PathBuf,
    pending: Mutex<Pending>,
    /// The runs, in run order (oldest first).
    runs: RwLock<Vec<Arc<Run>>>,
    /// Retention's cut: entries below it are never answered.
    cut: AtomicU64,
}

impl Shared {
    fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn runs(&self) -> Vec<Arc<Run>> {
        self.runs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn runs_mut(&self) -> RwLockWriteGuard<'_, Vec<Arc<Run>>> {
        self.runs.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The on-disk event-id index with its writer thread.
pub struct EventIndex {
    shared: Arc<Shared>,
    commands: Mutex<Option<Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl EventIndex {
    /// Open (or create) the index in directory `dir` (`DATA/event-index`)
    /// and start its writer. Entries outside `retained` (the journal's
    /// retained sequence numbers) are dropped first: retention removed them
    /// while the index lagged, or a repaired journal tail will number new
    /// events anew. The SQLite index of earlier versions, beside `dir`
    /// (`DATA/event-index.sqlite`), is deleted: the recovery scan re-indexes
    /// the journal once.
    pub fn open(dir: &Path, retained: RangeInclusive<u64>) -> Result<EventIndex, IndexError> {
        let loaded = load::load(dir, &retained)?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            pending: Mutex::new(Pending::default()),
            runs: RwLock::new(loaded.runs),
            cut: AtomicU64::new(*retained.start()),
        });
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("event-index".into())
            .spawn({
                let writer = Writer::new(shared.clone(), loaded.next_id);
                move || writer.serve(&rx)
            })
            .map_err(IndexError::Spawn)?;
        Ok(EventIndex {
            shared,
            commands: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Whether there is room for more events (see [`MAX_PENDING`]).
    pub fn has_room(&self) -> bool {
        self.pending() < MAX_PENDING
    }

    /// How many entries wait in memory for the writer.
    pub fn pending(&self) -> usize {
        self.shared.lock_pending().len()
    }

    /// Record that the events `entries` (id hash, sequence) are durable.
    /// Callers add in journal order (the pipeline does so from the
    /// journal's completion callback): a run then holds every event up to
    /// its highest sequence, which is where [`EventIndex::high_water`] lets
    /// recovery start re-indexing.
    pub fn add(&self, entries: Vec<(IdHash, u64)>) {
        if entries.is_empty() {
            return;
        }
        {
            let mut pending = self.shared.lock_pending();
            for &(hash, seq) in &entries {
                pending.insert(hash, seq);
            }
        }
        self.send(Command::Add(entries));
    }

    /// Forget every entry below `seq` (retention removed those segments).
    pub fn remove_before(&self, seq: u64) {
        self.shared.cut.fetch_max(seq, Ordering::AcqRel);
        self.shared.lock_pending().retain_from(seq);
        self.send(Command::RemoveBefore);
    }

    /// Wait until everything added so far is written.
    pub fn flush(&self) {
        let (tx, rx) = channel();
        self.send(Command::Flush(tx));
        // The writer may be sleeping between looks at its commands.
        if let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            writer.thread().unpark();
        }
        let _ = rx.recv();
    }

    /// The highest sequence number in a run on disk (0 if none): the
    /// recovery scan indexes what comes after it.
    pub fn high_water(&self) -> Result<u64, IndexError> {
        Ok(self
            .shared
            .runs()
            .iter()
            .map(|r| r.max_seq)
            .max()
            .unwrap_or(0))
    }

    /// Where event `id` may be in the journal: the sequences filed under its
    /// hash, latest first. The caller reads them and keeps the record whose
    /// id is `id` (the latest, if the id repeats); usually there is one.
    pub fn candidates(&self, id: &str) -> Result<Vec<u64>, IndexError> {
        let hash = IdHash::of(id);
        let cut = self.shared.cut.load(Ordering::Acquire);
        let mut seqs: Vec<u64> = self
            .shared
            .lock_pending()
            .seqs(hash)
            .filter(|&seq| seq >= cut)
            .collect();
        // After `pending`: the writer lists a run before it drops the run's
        // entries from `pending`, so each entry is found in one or the other.
        for run in self.shared.runs().iter().rev() {
            run.find(hash, cut, &mut seqs)?;
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        Ok(seqs)
    }

    fn send(&self, command: Command) {
        let commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = commands.as_ref() {
            // The writer only stops when the index is dropped.
            let _ = tx.send(command);
        }
    }
}

impl Drop for EventIndex {
    fn drop(&mut self) {
        // The writer writes what waits, then stops.
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}
