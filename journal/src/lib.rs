//! Durable, append-only, SHA-256 hash-chained, group-committed log.
//!
//! The journal stores opaque records (`kind` byte + payload bytes); the host decides what
//! they mean (ingested events, delivery outcomes, audit records). It is a synchronous
//! library with its own writer thread: async callers bridge through the completion
//! callback of [`Journal::append`] (for example by sending on a oneshot channel).
//!
//! - **Layout**: a directory of segment files `00000000000000000001.seg`, each named by
//!   its first sequence number and rolled at [`JournalOptions::segment_bytes`]. The byte
//!   format, including the exact hash input, is documented in [`format`](mod@format).
//! - **Chain**: every record carries `prev_hash` and `hash = SHA-256(prev_hash ‖ seq ‖
//!   kind ‖ timestamp_ms ‖ payload)`; each segment header carries the hash of the record
//!   before its first one, so the chain verifies across segments and after retention.
//! - **Group commit**: appends go over a bounded channel to the writer thread, which
//!   writes everything pending with one write and one `fdatasync`, then completes each
//!   caller. N concurrent appenders cost about one fsync per batch. A written-only append
//!   may skip the hand-off: [`Journal::offer_now`] writes it on the caller's thread when
//!   the writer is idle (same chain, same failure handling, never an fsync there).
//! - **Visibility**: readers see a record once it is durable. A reader therefore never
//!   acts on a record a crash could take back.
//! - **Recovery**: [`Journal::open`] checks every segment; a torn write at the tail is
//!   truncated with a warning, any other damage is an error. [`verify`] and
//!   [`verify_against`] report damage precisely, offline.
//! - **Signed checkpoints**: [`Journal::checkpoint`] signs the durable head with an
//!   Ed25519 [`CheckpointKey`]; kept in a [`CheckpointLog`] (and copied elsewhere), they
//!   let [`verify_with_checkpoints`] catch a history rewritten consistently or truncated,
//!   up to the last checkpoint. See [`checkpoint`](mod@checkpoint) for what they do not catch.
//!
//! ```
//! use trailmark_journal::{Journal, JournalOptions, NewRecord};
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::open(dir.path(), JournalOptions::default())?;
//! let seqs = journal.append_wait(vec![NewRecord { kind: 1, payload: b"hello".to_vec() }])?;
//! assert_eq!(seqs, vec![1]);
//! let record = journal.read(1)?.expect("record 1 was just appended");
//! assert_eq!(record.payload, b"hello");
//! let checkpoint = journal.head();
//! journal.close()?;
//! assert!(trailmark_journal::verify_against(dir.path(), checkpoint)?.is_intact());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod checkpoint;
pub mod cut;
mod error;
pub mod format;
mod index;
mod keys;
mod reader;
mod recovery;
pub mod retention;
pub mod seal;
mod segment;
mod verify;
mod writer;

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

pub use checkpoint::{Checkpoint, CheckpointLog, read_checkpoints};
pub use error::{CheckpointError, IoError, JournalError};
pub use format::{Hash, StoredRecord};
pub use index::ChainHead;
pub use keys::{CheckpointKey, DOCUMENT_PREFIX, PublicKey, public_path};
pub use reader::ReadIter;
pub use retention::{JournalStart, RETENTION_CUT, RetentionCut};
pub use seal::{
    ExternalKek, Keyring, Rotation, StoreKey, XChaCha20Poly1305, Xaes256Gcm, data_key_path,
    rotate_key_file,
};
pub use verify::{
    CheckpointSummary, EncryptionSummary, Problem, ProblemKind, VerifyReport, verify,
    verify_against, verify_opening, verify_visiting, verify_with_checkpoints,
};

use index::Shared;
pub use writer::AppendDone;
use writer::{Request, Writer, WriterCell};

/// Name of the lock file that keeps two journals off one directory.
const LOCK_FILE: &str = "LOCK";

/// Tuning knobs; [`Default`] suits an event journal.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// A segment is closed and a new one started once the next record would take it
    /// past this size (a single larger record still gets a segment of its own).
    /// Default 64 MiB.
    pub segment_bytes: u64,
    /// Most records one group commit takes from the queue. Default 4096.
    pub max_batch_records: usize,
    /// Largest payload accepted by `append`. Default 16 MiB.
    pub max_record_bytes: usize,
    /// Append requests that may wait for the writer before `append` blocks and
    /// `try_append` answers [`JournalError::Busy`]. Default 1024.
    pub queue_capacity: usize,
    /// One sparse-index entry (seq → file offset) every this many records; reading a
    /// given seq scans at most this many records. Default 64.
    pub index_interval: u64,
    /// Records appended with [`Completion::AfterWrite`] are fsynced at the latest this long
    /// after the writer goes idle. Default 100 ms.
    pub nosync_flush_interval: Duration,
    /// What `open` does when the last segment is damaged before its end (a bad record
    /// followed by valid ones, or a CRC-valid record that breaks the chain) — which is
    /// not a plain torn write. `false` (default): refuse to open with
    /// [`JournalError::Corrupt`]. `true`: cut the segment at the first bad record, save
    /// the cut bytes beside it as `<segment>.damaged-<offset>`, and log an error. Meant
    /// for recovery after a power loss that persisted the pages of an unsynced batch out
    /// of order; run [`verify`] first to see what would be cut.
    pub repair_damaged_tail: bool,
    /// Encryption at rest: when set, every new segment is encrypted with its own data key
    /// sealed by this keyring's current key (see [`seal`](mod@seal)). `open` then refuses
    /// a journal that holds unencrypted records ([`JournalError::NotEncrypted`]); when not
    /// set, it refuses an encrypted one ([`JournalError::KeyRequired`]). Default `None`.
    pub encryption: Option<Arc<Keyring>>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 * 1024 * 1024,
            max_batch_records: 4096,
            max_record_bytes: 16 * 1024 * 1024,
            queue_capacity: 1024,
            index_interval: 64,
            nosync_flush_interval: Duration::from_millis(100),
            repair_damaged_tail: false,
            encryption: None,
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<(), JournalError> {
        let fail = |m: &str| Err(JournalError::InvalidOptions(m.to_owned()));
        if self.segment_bytes < 4096 {
            return fail("segment_bytes must be at least 4096");
        }
        if self.max_batch_records == 0 || self.queue_capacity == 0 || self.index_interval == 0 {
            return fail("max_batch_records, queue_capacity and index_interval must be at least 1");
        }
        let overhead = if self.encryption.is_some() {
            seal::SEAL_OVERHEAD
        } else {
            0
        };
        if self.max_record_bytes + overhead > format::MAX_PAYLOAD {
            return fail("max_record_bytes must fit the format's u32 record length");
        }
        Ok(())
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// Caller-defined kind.
    pub kind: u8,
    /// Caller-defined payload.
    pub payload: Vec<u8>,
}

/// When an append completes (calls its `done`): after the fsync, or after
/// the write. (Not to be confused with the backends' `Durability`, which says
/// when a store's writes are durable.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// After the records are fsynced (the default for anything that is acknowledged).
    AfterFsync,
    /// As soon as the records are written to the OS; they are fsynced with the next
    /// batch or within [`JournalOptions::nosync_flush_interval`]. A crash (power loss)
    /// may lose them; a process crash does not.
    AfterWrite,
}

/// Writer statistics since open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Group commits that wrote records.
    pub batches: u64,
    /// `fdatasync` calls.
    pub fsyncs: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// An open journal. `Send + Sync`: share it through an `Arc`.
///
/// Dropping it flushes pending records and stops the writer, like [`Journal::close`]
/// (which also reports a final error).
pub struct Journal {
    shared: Arc<Shared>,
    tx: Option<SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// The writer's state: its thread's, and a caller's that writes itself
    /// ([`Journal::offer_now`]).
    cell: WriterCell,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`.
    ///
    /// Scans and checks every segment; a torn write at the tail is truncated away (logged
    /// as a warning); any other damage is a [`JournalError::Corrupt`]. Fails with
    /// [`JournalError::Locked`] if another `Journal` has the directory open.
    pub fn open(dir: &Path, options: JournalOptions) -> Result<Journal, JournalError> {
        options.validate()?;
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, "create directory", e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                trailmark_durable_file::sync_dir(parent)?;
            }
        }
        let lock = lock_dir(dir)?;
        let (index, start) = recovery::recover(dir, &options)?;
        let queue_capacity = options.queue_capacity;
        let shared = Arc::new(Shared::new(dir.to_path_buf(), options, index));
        let (tx, rx) = mpsc::sync_channel(queue_capacity);
        // The writer thread owns the lock: it is released when the last write is done.
        let cell: WriterCell = Arc::new(std::sync::Mutex::new(Some(Writer::new(
            Arc::clone(&shared),
            start,
            lock,
        ))));
        let handle = std::thread::Builder::new()
            .name("journal-writer".to_owned())
            .spawn({
                let cell = Arc::clone(&cell);
                move || writer::run(&cell, rx)
            })
            .map_err(|e| JournalError::io(dir, "spawn writer thread", e))?;
        Ok(Journal {
            shared,
            tx: Some(tx),
            writer: Some(handle),
            cell,
        })
    }

    /// Durable append: `done` is called on the writer thread after the records are
    /// fsynced, with their seqs (contiguous, in order). Blocks while the queue is full.
    /// Keep `done` short (send on a channel): it runs on the writer thread, so it must not
    /// call the journal's blocking methods (`append*`, `sync`, `close`), which wait for
    /// that same thread. Oversized records (and empty appends) are answered at once, on
    /// the calling thread.
    pub fn append(
        &self,
        records: Vec<NewRecord>,
        done: Box<dyn FnOnce(Result<Vec<u64>, JournalError>) + Send>,
    ) {
        self.append_with(records, Completion::AfterFsync, done);
    }

    /// Append with a chosen [`Completion`]; blocks while the queue is full.
    pub fn append_with(&self, records: Vec<NewRecord>, completion: Completion, done: AppendDone) {
        let Some((tx, request)) = self.append_request(records, completion, done) else {
            return;
        };
        if let Err(mpsc::SendError(request)) = tx.send(request) {
            fail_request(request, JournalError::Closed);
        }
    }

    /// Like [`Journal::append_with`] but never blocks: when the queue is full, `done` is
    /// called at once (on this thread) with [`JournalError::Busy`], so the caller can
    /// push back on its producer (HTTP 503).
    pub fn try_append(&self, records: Vec<NewRecord>, completion: Completion, done: AppendDone) {
        let Some((tx, request)) = self.append_request(records, completion, done) else {
            return;
        };
        match tx.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(request)) => fail_request(request, JournalError::Busy),
            Err(TrySendError::Disconnected(request)) => fail_request(request, JournalError::Closed),
        }
    }

    /// Like [`Journal::try_append`], but a request the full queue has no room
    /// for is handed back whole (records and `done` untouched) instead of
    /// failing, so an async caller queues without a thread hop in the common
    /// case and waits for room off its async threads only when the writer is
    /// behind ([`Journal::append_unqueued`]).
    pub fn offer(
        &self,
        records: Vec<NewRecord>,
        completion: Completion,
        done: AppendDone,
    ) -> Result<(), Unqueued> {
        let Some((tx, request)) = self.append_request(records, completion, done) else {
            return Ok(());
        };
        queue_or_hand_back(tx, request)
    }

    /// A written-only append ([`Completion::AfterWrite`]) without a thread
    /// hop when none is needed: when the writer thread is idle, the records
    /// are written on this thread and `done` is called here, before this
    /// returns; that saves waking the writer and being woken back, most of
    /// the cost of a small append. When the writer is busy (or the append
    /// must fsync, roll a segment, or meets a full or failed disk) it is
    /// queued as [`Journal::offer`] does, and handed back if the queue is
    /// full. The write is a `pwrite` to the page cache, never an fsync.
    pub fn offer_now(&self, records: Vec<NewRecord>, done: AppendDone) -> Result<(), Unqueued> {
        let Some((tx, request)) = self.append_request(records, Completion::AfterWrite, done) else {
            return Ok(());
        };
        let request = match writer::write_now(&self.cell, request) {
            Ok(started_timer) => {
                if started_timer {
                    // The thread may be waiting without a timer; when the
                    // queue is full it is busy and reads the timer anyway.
                    let _ = tx.try_send(Request::Wake);
                }
                return Ok(());
            }
            Err(request) => request,
        };
        queue_or_hand_back(tx, request)
    }

    /// Queue what [`Journal::offer`] had no room for; blocks while the queue
    /// is full.
    pub fn append_unqueued(&self, unqueued: Unqueued) {
        let Some(tx) = &self.tx else {
            fail_request(unqueued.0, JournalError::Closed);
            return;
        };
        if let Err(mpsc::SendError(request)) = tx.send(unqueued.0) {
            fail_request(request, JournalError::Closed);
        }
    }

    /// Blocking durable append; returns the records' seqs.
    pub fn append_wait(&self, records: Vec<NewRecord>) -> Result<Vec<u64>, JournalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.append(
            records,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.recv().unwrap_or(Err(JournalError::Closed))
    }

    /// [`Journal::append_wait`] for the journal's own records of a reserved kind.
    fn append_reserved(&self, records: Vec<NewRecord>) -> Result<Vec<u64>, JournalError> {
        let Some(tx) = &self.tx else {
            return Err(JournalError::Closed);
        };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let request = Request::Append {
            records,
            completion: Completion::AfterFsync,
            done: Box::new(move |result| {
                let _ = done_tx.send(result);
            }),
        };
        if let Err(mpsc::SendError(request)) = tx.send(request) {
            fail_request(request, JournalError::Closed);
        }
        done_rx.recv().unwrap_or(Err(JournalError::Closed))
    }

    /// Blocking append that returns once the records are written to the OS, without
    /// waiting for their fsync ([`Completion::AfterWrite`]). They survive a process crash
    /// and a clean close, and ride on the next fsync; readers see them once fsynced.
    pub fn append_nosync(&self, records: Vec<NewRecord>) -> Result<(), JournalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.append_with(
            records,
            Completion::AfterWrite,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.recv().unwrap_or(Err(JournalError::Closed)).map(|_| ())
    }

    /// Fsyncs everything written so far (including [`Completion::AfterWrite`] records) and
    /// makes it visible to readers.
    pub fn sync(&self) -> Result<(), JournalError> {
        let tx = self.tx.as_ref().ok_or(JournalError::Closed)?;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let done = Box::new(move |result| {
            let _ = done_tx.send(result);
        });
        tx.send(Request::Sync { done })
            .map_err(|_| JournalError::Closed)?;
        done_rx.recv().unwrap_or(Err(JournalError::Closed))
    }

    /// Records with `seq >=` the given one (0 and 1 both mean "from the first record"),
    /// in order, including everything durable so far. Yields [`JournalError::Removed`]
    /// first if `seq` is older than the oldest retained record.
    pub fn read_from(&self, seq: u64) -> ReadIter {
        ReadIter::new(Arc::clone(&self.shared), seq)
    }

    /// The record `seq`, or `None` if it is not retained or not yet durable.
    pub fn read(&self, seq: u64) -> Result<Option<StoredRecord>, JournalError> {
        {
            let index = self.shared.index();
            if seq == 0 || seq < index.first_seq() || seq > index.head.seq {
                return Ok(None);
            }
        }
        match self.read_from(seq).next() {
            Some(Ok(record)) => Ok(Some(record)),
            Some(Err(JournalError::Removed { .. })) | None => Ok(None),
            Some(Err(error)) => Err(error),
        }
    }

    /// The seq of the first retained record journaled at or after `time_ms`
    /// (milliseconds since the Unix epoch), or the next seq to be written
    /// when none is. The writer stamps each record no earlier than the one
    /// before it, so times never go back along the chain and a binary search
    /// reads about log2(records) of them, not all: what a reader after "the
    /// last hour" needs, whatever the journal retains.
    pub fn first_seq_at(&self, time_ms: i64) -> Result<u64, JournalError> {
        let (mut low, mut high) = {
            let index = self.shared.index();
            (index.first_seq(), index.head.seq + 1)
        };
        // Every record before `low` is older than `time_ms`; `high` is the
        // end or a record at or after it.
        while low < high {
            let mid = low + (high - low) / 2;
            match self.read(mid)? {
                Some(record) if record.timestamp_ms >= time_ms => high = mid,
                // Older, or removed by retention meanwhile (older still).
                _ => low = mid + 1,
            }
        }
        Ok(low)
    }

    /// The last durable record's seq and hash (seq 0 when empty). Store it outside the
    /// journal as a checkpoint for [`verify_against`].
    pub fn head(&self) -> ChainHead {
        self.shared.index().head
    }

    /// Makes everything appended so far durable ([`Journal::sync`]), then signs the
    /// durable head at `time_ms` (milliseconds since the Unix epoch).
    ///
    /// To skip a checkpoint when nothing was appended since the last one, compare
    /// [`Journal::head`]`().seq` with [`CheckpointLog::last`] first. Blocking (it waits
    /// for an fsync): call it off async threads.
    pub fn checkpoint(
        &self,
        key: &CheckpointKey,
        time_ms: i64,
    ) -> Result<Checkpoint, JournalError> {
        self.sync()?;
        Ok(Checkpoint::sign(&self.head(), time_ms, key))
    }

    /// The oldest retained seq (the next seq to be written, if nothing is retained).
    pub fn first_seq(&self) -> u64 {
        self.shared.index().first_seq()
    }

    /// Retention: removes whole segments whose records are all `< seq`, oldest first,
    /// never the active segment. Returns how many segments were removed. The chain still
    /// verifies afterwards: the next segment's header holds the link.
    pub fn remove_segments_before(&self, seq: u64) -> Result<usize, JournalError> {
        let removed: Vec<PathBuf> = {
            let mut index = self.shared.index_mut();
            let segments = &index.segments;
            let count = (0..segments.len().saturating_sub(1))
                .take_while(|&i| segments[i + 1].first_seq <= seq)
                .count();
            index.segments.drain(..count).map(|s| s.path).collect()
        };
        if removed.is_empty() {
            return Ok(0);
        }
        for path in &removed {
            fs::remove_file(path).map_err(|e| JournalError::io(path, "remove segment", e))?;
            seal::remove_data_key(path)?;
            tracing::info!(path = %path.display(), "journal: segment removed by retention");
        }
        trailmark_durable_file::sync_dir(&self.shared.dir)?;
        Ok(removed.len())
    }

    /// Retention that the chain records: when whole segments hold only records `< seq`,
    /// first appends (durably) a [`RetentionCut`] record saying that the records before
    /// the first kept segment are removed, and the hash of the last removed one; then
    /// removes those segments as [`Journal::remove_segments_before`] does. `verify` then
    /// reports the journal's late start as a retention cut ([`JournalStart`]), not as
    /// records gone missing. Returns how many segments were removed.
    ///
    /// A crash between the record and the removal leaves the segments in place (the
    /// record then describes a cut not yet done; the next call does it).
    pub fn retention_cut(&self, seq: u64, reason: &str) -> Result<usize, JournalError> {
        let cut = {
            let index = self.shared.index();
            let segments = &index.segments;
            let count = (0..segments.len().saturating_sub(1))
                .take_while(|&i| segments[i + 1].first_seq <= seq)
                .count();
            if count == 0 {
                return Ok(0);
            }
            segments[count].first_seq
        };
        let last_removed = self.read(cut - 1)?.ok_or_else(|| {
            JournalError::corrupt(
                &self.shared.dir,
                0,
                format!("record {} to cut after is not readable", cut - 1),
            )
        })?;
        let record = RetentionCut {
            before: cut,
            last_removed_hash: hex::encode(last_removed.hash),
            reason: reason.to_owned(),
        };
        self.append_reserved(vec![NewRecord {
            kind: RETENTION_CUT,
            payload: record.to_payload(),
        }])?;
        self.remove_segments_before(cut)
    }

    /// Bytes of durable data in the retained segments (headers included).
    pub fn disk_usage(&self) -> u64 {
        self.shared
            .index()
            .segments
            .iter()
            .map(|s| s.durable_len)
            .sum()
    }

    /// Writer statistics since open (batches, fsyncs, records, bytes).
    pub fn stats(&self) -> JournalStats {
        let c = &self.shared.counters;
        JournalStats {
            batches: c.batches.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Flushes and fsyncs everything appended, stops the writer, releases the lock.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), JournalError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        if writer::is_writing_now() {
            // The last handle was dropped inside an append callback (on the writer
            // thread, or on a caller's writing for itself). The writer cannot wait for
            // itself: with the sender gone it drains the queue, fsyncs and exits once
            // this callback returns.
            drop(tx);
            self.writer = None;
            return Ok(());
        }
        let (done_tx, done_rx) = mpsc::channel();
        let result = match tx.send(Request::Shutdown { done: done_tx }) {
            Ok(()) => done_rx.recv().unwrap_or(Err(JournalError::Closed)),
            Err(_) => Err(JournalError::Closed),
        };
        drop(tx);
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("journal writer thread panicked");
        }
        result
    }

    /// The append request to queue for `records`, and the queue; `None` when
    /// `done` was answered at once: oversized payloads, an empty append, or a
    /// closed journal.
    fn append_request(
        &self,
        records: Vec<NewRecord>,
        completion: Completion,
        done: AppendDone,
    ) -> Option<(&SyncSender<Request>, Request)> {
        let max = self.shared.options.max_record_bytes;
        if let Some(big) = records.iter().find(|r| r.payload.len() > max) {
            done(Err(JournalError::RecordTooLarge {
                size: big.payload.len(),
                max,
            }));
            return None;
        }
        if records.is_empty() {
            done(Ok(Vec::new()));
            return None;
        }
        if records.iter().any(|r| r.kind == RETENTION_CUT) {
            done(Err(JournalError::ReservedKind(RETENTION_CUT)));
            return None;
        }
        let Some(tx) = &self.tx else {
            done(Err(JournalError::Closed));
            return None;
        };
        let request = Request::Append {
            records,
            completion,
            done,
        };
        Some((tx, request))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(error = %error, "journal: closing on drop failed");
        }
    }
}

/// An append [`Journal::offer`] found no room for in the writer's queue,
/// to be queued with [`Journal::append_unqueued`].
pub struct Unqueued(Request);

impl std::fmt::Debug for Unqueued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unqueued")
    }
}

/// Queue `request` if the queue has room; hand it back if it is full (for
/// [`Journal::append_unqueued`]); fail it if the writer is gone.
fn queue_or_hand_back(tx: &SyncSender<Request>, request: Request) -> Result<(), Unqueued> {
    match tx.try_send(request) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(request)) => Err(Unqueued(request)),
        Err(TrySendError::Disconnected(request)) => {
            fail_request(request, JournalError::Closed);
            Ok(())
        }
    }
}

/// Calls the callback of a request that never reached the writer.
fn fail_request(request: Request, error: JournalError) {
    match request {
        Request::Append { done, .. } => done(Err(error)),
        Request::Sync { done } => done(Err(error)),
        Request::Shutdown { done } => {
            let _ = done.send(Err(error));
        }
        Request::Wake => {}
    }
}

/// Takes the directory's lock file (advisory `flock`, released when the journal closes).
pub(crate) fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, "open lock file", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { path }),
        Err(TryLockError::Error(e)) => Err(JournalError::io(&path, "lock", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_and_its_reader_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        fn sendable<T: Send>() {}
        shareable::<Journal>();
        shareable::<JournalError>();
        sendable::<ReadIter>();
    }

    #[test]
    fn unusable_options_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        for options in [
            JournalOptions {
                segment_bytes: 100,
                ..JournalOptions::default()
            },
            JournalOptions {
                max_batch_records: 0,
                ..JournalOptions::default()
            },
            JournalOptions {
                index_interval: 0,
                ..JournalOptions::default()
            },
        ] {
            let err = Journal::open(dir.path(), options).expect_err("invalid");
            assert!(matches!(err, JournalError::InvalidOptions(_)), "{err}");
        }
    }
}
