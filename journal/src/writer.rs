//! The writer thread: group commit.
//!
//! The writer takes every request waiting in the channel (up to
//! `max_batch_records` records), encodes them into one buffer, writes it with one
//! `write`, runs ONE `fdatasync` for the whole batch, publishes the new records to readers,
//! and only then completes the durable callers. Records appended with
//! [`Completion::AfterWrite`] complete right after the write; they become durable (and
//! visible) with the next fsync, which happens at the latest `nosync_flush_interval` later.
//!
//! The writer's state sits in a [`WriterCell`] (a mutex) that the thread
//! locks around each batch. A written-only append may also be done by its
//! caller, on the caller's thread, when the writer is idle
//! ([`Writer::write_now`]): no hand-off to the writer thread and no wake-up
//! back, which is most of the cost of a small append. It goes through the
//! same [`Writer::process`] as a batch, so the chain, the callbacks' journal
//! order and the failure handling are the same; it is refused (and queued
//! instead) whenever it would have to fsync, roll a segment, or find out
//! whether a full disk has room again.

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::JournalError;
use crate::format::{BODY_FIXED, HEADER_LEN, Hash, PREFIX_LEN, SegmentHeader, encode_record};
use crate::index::{ChainHead, Counters, SegmentInfo, Shared};
use crate::seal::{DataKey, SEAL_OVERHEAD, create_data_key};
use crate::segment::{create_segment, segment_file_name};
use crate::{Completion, NewRecord};

/// Completion callback of an append: called once, on the writer thread, with the
/// records' seqs or the error.
pub type AppendDone = Box<dyn FnOnce(Result<Vec<u64>, JournalError>) + Send>;
/// Callback of a sync barrier.
pub(crate) type SyncDone = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// A message to the writer thread.
pub(crate) enum Request {
    /// Append records.
    Append {
        records: Vec<NewRecord>,
        completion: Completion,
        done: AppendDone,
    },
    /// Make everything written so far durable and visible.
    Sync { done: SyncDone },
    /// Flush and stop.
    Shutdown {
        done: Sender<Result<(), JournalError>>,
    },
    /// Nothing to do: wakes the thread so that it starts the flush timer of
    /// records a caller wrote itself ([`Writer::write_now`]).
    Wake,
}

impl Request {
    fn record_count(&self) -> usize {
        match self {
            Request::Append { records, .. } => records.len(),
            Request::Wake => 0,
            _ => 1,
        }
    }
}

/// Where the chain ends when the writer starts.
pub(crate) struct WriterStart {
    pub file: File,
    pub path: PathBuf,
    pub first_seq: u64,
    pub len: u64,
    pub next_seq: u64,
    pub last_hash: Hash,
    pub last_timestamp_ms: i64,
    /// The active segment's data key, when it is encrypted.
    pub dek: Option<Arc<DataKey>>,
}

/// A failed I/O operation; cloned into every caller of the batch.
#[derive(Clone)]
struct Failure {
    path: PathBuf,
    offset: u64,
    op: &'static str,
    source: Arc<io::Error>,
}

impl Failure {
    fn write_failed(&self) -> JournalError {
        JournalError::WriteFailed {
            path: self.path.clone(),
            offset: self.offset,
            op: self.op,
            source: Arc::clone(&self.source),
        }
    }

    /// A write found the disk (or the user's quota) full: nothing else is
    /// wrong, and a write can succeed again once space is freed. Not a
    /// failed fsync, whatever its errno: after one, the kernel may have
    /// dropped earlier dirty pages, so the writer must stop.
    fn is_out_of_space(&self) -> bool {
        self.op != "fdatasync"
            && matches!(
                self.source.raw_os_error(),
                Some(libc_errno::ENOSPC | libc_errno::EDQUOT)
            )
    }

    fn full(&self) -> JournalError {
        JournalError::Full {
            path: self.path.clone(),
            op: self.op,
            source: Arc::clone(&self.source),
        }
    }

    fn poisoned(&self) -> JournalError {
        JournalError::Poisoned {
            path: self.path.clone(),
            offset: self.offset,
            op: self.op,
            source: Arc::clone(&self.source),
        }
    }
}

/// The errno values of a full disk, as Linux numbers them (the journal
/// writes with positioned I/O on Unix only).
mod libc_errno {
    /// No space left on device.
    pub(super) const ENOSPC: i32 = 28;
    /// Disk quota exceeded.
    pub(super) const EDQUOT: i32 = 122;
}

/// Where the writer was before a batch: what a batch that hit a full disk
/// is rolled back to, so that nothing of it stays in the chain.
struct Mark {
    path: PathBuf,
    first_seq: u64,
    len: u64,
    next_seq: u64,
    last_hash: Hash,
    last_timestamp_ms: i64,
    dirty: bool,
    dirty_since: Option<Instant>,
    rolled: bool,
    /// `pending.len()`, and the last entry's `(last_seq, durable_len, sparse.len())`.
    pending: usize,
    last_pending: Option<(u64, u64, usize)>,
}

/// Bytes written (then removed) to find out whether the disk has room again.
const SPACE_PROBE_BYTES: usize = 64 * 1024;

/// The probe's file in the journal directory; not a segment (see
/// [`crate::segment::parse_segment_name`]), so a leftover is ignored.
const SPACE_PROBE_FILE: &str = ".space-probe";

/// Index changes not yet published (their bytes are not yet fsynced).
struct PendingSegment {
    info: SegmentInfo,
    is_new: bool,
}

struct Append {
    records: Vec<NewRecord>,
    completion: Completion,
    done: AppendDone,
    seqs: Vec<u64>,
}

/// The writer's state; lives on the writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    file: File,
    path: PathBuf,
    first_seq: u64,
    /// Bytes written to the active segment (durable or not).
    len: u64,
    next_seq: u64,
    last_hash: Hash,
    last_timestamp_ms: i64,
    /// The active segment's data key: records are sealed with it when set.
    dek: Option<Arc<DataKey>>,
    buf: Vec<u8>,
    pending: Vec<PendingSegment>,
    /// Bytes written but not yet fsynced.
    dirty: bool,
    /// When the oldest unsynced write happened; bounds how long written-only records
    /// wait for their fsync even under steady traffic.
    dirty_since: Option<Instant>,
    /// A segment was rolled in this batch: sync at its end even if nobody asked.
    rolled: bool,
    poison: Option<Failure>,
    /// The last batch found the disk full (and was rolled back); until a
    /// write succeeds again, sync barriers fail unless a probe finds room.
    full: Option<Failure>,
    /// The directory lock, released when the writer thread ends.
    _lock: File,
}

impl Writer {
    /// Creates the writer for the active segment described by `start`.
    pub(crate) fn new(shared: Arc<Shared>, start: WriterStart, lock: File) -> Self {
        Writer {
            shared,
            file: start.file,
            path: start.path,
            first_seq: start.first_seq,
            len: start.len,
            next_seq: start.next_seq,
            last_hash: start.last_hash,
            last_timestamp_ms: start.last_timestamp_ms,
            dek: start.dek,
            buf: Vec::new(),
            pending: Vec::new(),
            dirty: false,
            dirty_since: None,
            rolled: false,
            poison: None,
            full: None,
            _lock: lock,
        }
    }

    /// Bytes `record` takes in a segment (sealed, when encryption is on).
    fn record_size(&self, record: &NewRecord) -> u64 {
        let overhead = if self.shared.options.encryption.is_some() {
            SEAL_OVERHEAD
        } else {
            0
        };
        (PREFIX_LEN + BODY_FIXED + record.payload.len() + overhead) as u64
    }

    /// Whether written-only records have waited their longest for an fsync.
    fn flush_due(&self) -> bool {
        self.dirty_since
            .is_some_and(|since| since.elapsed() >= self.shared.options.nosync_flush_interval)
    }

    /// Appends `request` (a [`Completion::AfterWrite`] append) on the calling
    /// thread, if that needs no fsync and no segment roll and the writer is
    /// healthy: its callback runs here, before this returns. Otherwise hands
    /// it back untouched, for the queue. `Ok(true)` when this write started
    /// the flush timer (nothing was waiting for an fsync before it).
    fn write_now(&mut self, request: Request) -> Result<bool, Request> {
        let Request::Append {
            records,
            completion: Completion::AfterWrite,
            ..
        } = &request
        else {
            return Err(request);
        };
        let size: u64 = records.iter().map(|r| self.record_size(r)).sum();
        if self.poison.is_some()
            || self.full.is_some()
            || self.rolled
            || self.flush_due()
            || self.len + size > self.shared.options.segment_bytes
        {
            return Err(request);
        }
        let was_clean = self.dirty_since.is_none();
        self.process(vec![request]);
        Ok(was_clean && self.dirty_since.is_some())
    }

    /// Handles one batch; returns true when a shutdown was processed.
    fn process(&mut self, batch: Vec<Request>) -> bool {
        let mut appends = Vec::new();
        let mut barriers = Vec::new();
        let mut shutdown = None;
        for request in batch {
            match request {
                Request::Append {
                    records,
                    completion,
                    done,
                } => appends.push(Append {
                    records,
                    completion,
                    done,
                    seqs: Vec::new(),
                }),
                Request::Sync { done } => barriers.push(done),
                Request::Shutdown { done } => shutdown = Some(done),
                Request::Wake => {}
            }
        }
        let need_sync = self.flush_due()
            || !barriers.is_empty()
            || shutdown.is_some()
            || appends
                .iter()
                .any(|a| a.completion == Completion::AfterFsync);

        let stopping = shutdown.is_some();
        if self.poison.is_none()
            && self.full.is_some()
            && !barriers.is_empty()
            && let Err(failure) = self.probe_space()
        {
            // Still full: a barrier cannot promise that a write would last.
            for done in barriers.drain(..) {
                complete(done, Err(failure.full()));
            }
        }
        let result = match &self.poison {
            Some(failure) => Err(failure.clone()),
            None => {
                let mark = self.mark();
                self.write_batch(&mut appends)
                    .map_err(|failure| self.roll_back(failure, mark))
            }
        };
        match result {
            Ok(()) => {
                if !appends.is_empty() && self.full.take().is_some() {
                    tracing::info!(dir = %self.shared.dir.display(), "journal has space again; appends resume");
                }
            }
            Err(failure) if self.poison.is_none() && failure.is_out_of_space() => {
                self.fail_full(&failure, appends, barriers, shutdown);
                return stopping;
            }
            Err(failure) => {
                self.fail_all(&failure, appends, barriers, shutdown);
                return stopping;
            }
        }
        if !appends.is_empty() {
            Counters::add(&self.shared.counters.batches, 1);
            let records: usize = appends.iter().map(|a| a.seqs.len()).sum();
            Counters::add(&self.shared.counters.records, records as u64);
        }

        // Written-only appends are done as soon as the bytes are in the OS.
        let (durable, written_only): (Vec<Append>, Vec<Append>) = appends
            .into_iter()
            .partition(|a| a.completion == Completion::AfterFsync);
        for append in written_only {
            complete(append.done, Ok(append.seqs));
        }
        let synced = if need_sync || self.rolled {
            self.sync()
        } else {
            Ok(())
        };
        match synced {
            Ok(()) => {
                for append in durable {
                    complete(append.done, Ok(append.seqs));
                }
                for done in barriers {
                    complete(done, Ok(()));
                }
                if let Some(done) = shutdown {
                    let _ = done.send(Ok(()));
                    return true;
                }
                false
            }
            Err(failure) => {
                self.fail_all(&failure, durable, barriers, shutdown);
                stopping
            }
        }
    }

    /// Where the writer is now, to roll a batch back to.
    fn mark(&self) -> Mark {
        Mark {
            path: self.path.clone(),
            first_seq: self.first_seq,
            len: self.len,
            next_seq: self.next_seq,
            last_hash: self.last_hash,
            last_timestamp_ms: self.last_timestamp_ms,
            dirty: self.dirty,
            dirty_since: self.dirty_since,
            rolled: self.rolled,
            pending: self.pending.len(),
            last_pending: self
                .pending
                .last()
                .map(|p| (p.info.last_seq, p.info.durable_len, p.info.sparse.len())),
        }
    }

    /// After a batch failed with a full disk: remove what it wrote (bytes
    /// past the mark, segments it created) so the chain ends where it ended
    /// before, and return the failure. Any other failure, or one while
    /// rolling back, is returned for the caller to poison the writer with.
    fn roll_back(&mut self, failure: Failure, mark: Mark) -> Failure {
        if !failure.is_out_of_space() {
            return failure;
        }
        match self.restore(&mark) {
            Ok(()) => failure,
            Err(undo) => {
                tracing::error!(
                    path = %undo.path.display(),
                    op = undo.op,
                    error = %undo.source,
                    "cannot roll back a batch that found the journal's disk full"
                );
                // Not rolled back: the writer must stop, whatever the errno.
                Failure {
                    source: Arc::new(io::Error::other(undo.source.to_string())),
                    ..undo
                }
            }
        }
    }

    fn restore(&mut self, mark: &Mark) -> Result<(), Failure> {
        self.buf.clear();
        // Segments this batch created (whole or in part) come after the mark's.
        let dir = self.shared.dir.clone();
        let listed = crate::segment::list_segments(&dir).map_err(|e| Failure {
            path: dir.clone(),
            offset: 0,
            op: "list segments",
            source: Arc::new(io::Error::other(e.to_string())),
        })?;
        for (first_seq, path) in listed {
            if first_seq > mark.first_seq {
                std::fs::remove_file(&path).map_err(|e| Failure {
                    path: path.clone(),
                    offset: 0,
                    op: "remove segment",
                    source: Arc::new(e),
                })?;
            }
        }
        if self.first_seq != mark.first_seq {
            self.file = File::options()
                .read(true)
                .write(true)
                .open(&mark.path)
                .map_err(|e| Failure {
                    path: mark.path.clone(),
                    offset: mark.len,
                    op: "reopen segment",
                    source: Arc::new(e),
                })?;
        }
        self.path = mark.path.clone();
        self.file
            .set_len(mark.len)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Failure {
                path: mark.path.clone(),
                offset: mark.len,
                op: "truncate",
                source: Arc::new(e),
            })?;
        self.first_seq = mark.first_seq;
        self.len = mark.len;
        self.next_seq = mark.next_seq;
        self.last_hash = mark.last_hash;
        self.last_timestamp_ms = mark.last_timestamp_ms;
        self.dirty = mark.dirty;
        self.dirty_since = mark.dirty_since;
        self.rolled = mark.rolled;
        self.pending.truncate(mark.pending);
        if let (Some(last), Some((last_seq, durable_len, sparse))) =
            (self.pending.last_mut(), mark.last_pending)
        {
            last.info.last_seq = last_seq;
            last.info.durable_len = durable_len;
            last.info.sparse.truncate(sparse);
        }
        Ok(())
    }

    /// Write and remove a probe file: whether the journal's disk has room.
    fn probe_space(&mut self) -> Result<(), Failure> {
        let path = self.shared.dir.join(SPACE_PROBE_FILE);
        let written = File::create(&path).and_then(|f| f.write_all_at(&[0; SPACE_PROBE_BYTES], 0));
        let _ = std::fs::remove_file(&path);
        match written {
            Ok(()) => {
                tracing::info!(dir = %self.shared.dir.display(), "journal has space again; appends resume");
                self.full = None;
                Ok(())
            }
            Err(e) => Err(self.failure(0, "write space probe", e)),
        }
    }

    /// Fails every caller of a batch that found the disk full (and was
    /// rolled back): the writer goes on, and a later batch may succeed.
    fn fail_full(
        &mut self,
        failure: &Failure,
        appends: Vec<Append>,
        barriers: Vec<SyncDone>,
        shutdown: Option<Sender<Result<(), JournalError>>>,
    ) {
        if self.full.is_none() {
            tracing::error!(
                path = %failure.path.display(),
                op = failure.op,
                error = %failure.source,
                "journal disk full; refusing appends until space is freed"
            );
        }
        self.full = Some(failure.clone());
        for append in appends {
            complete(append.done, Err(failure.full()));
        }
        for done in barriers {
            complete(done, Err(failure.full()));
        }
        if let Some(done) = shutdown {
            let _ = done.send(Err(failure.full()));
        }
    }

    /// Fails every caller of a batch and poisons the writer.
    fn fail_all(
        &mut self,
        failure: &Failure,
        appends: Vec<Append>,
        barriers: Vec<SyncDone>,
        shutdown: Option<Sender<Result<(), JournalError>>>,
    ) {
        // Callers of the batch that failed get `WriteFailed`; once poisoned, later callers
        // get `Poisoned`.
        let already = self.poison.is_some();
        if !already {
            tracing::error!(
                path = %failure.path.display(),
                offset = failure.offset,
                op = failure.op,
                error = %failure.source,
                "journal write failed; rejecting further appends until reopened"
            );
            self.poison = Some(failure.clone());
        }
        // Nothing will be synced any more; stop the idle-flush timer.
        self.dirty_since = None;
        let error = || {
            if already {
                failure.poisoned()
            } else {
                failure.write_failed()
            }
        };
        for append in appends {
            complete(append.done, Err(error()));
        }
        for done in barriers {
            complete(done, Err(error()));
        }
        if let Some(done) = shutdown {
            let _ = done.send(Err(error()));
        }
    }

    /// Encodes and writes every append of the batch (rolling segments as needed).
    fn write_batch(&mut self, appends: &mut [Append]) -> Result<(), Failure> {
        for append in appends.iter_mut() {
            let mut seqs = Vec::with_capacity(append.records.len());
            for record in &append.records {
                seqs.push(self.encode(record)?);
            }
            append.seqs = seqs;
        }
        self.flush_buf()
    }

    /// Encodes one record into the batch buffer and returns its seq.
    fn encode(&mut self, record: &NewRecord) -> Result<u64, Failure> {
        let size = self.record_size(record);
        let segment_len = self.len + self.buf.len() as u64;
        if segment_len > HEADER_LEN as u64 && segment_len + size > self.shared.options.segment_bytes
        {
            self.roll()?;
        }
        let seq = self.next_seq;
        let timestamp_ms = now_ms().max(self.last_timestamp_ms);
        let offset = self.len + self.buf.len() as u64;
        let sealed = match &self.dek {
            // A retention cut holds seqs and a hash: left readable without the key.
            Some(dek) if record.kind != crate::RETENTION_CUT => {
                Some(dek.seal(seq, record.kind, &record.payload))
            }
            _ => None,
        };
        let hash = encode_record(
            &mut self.buf,
            &self.last_hash,
            seq,
            record.kind,
            timestamp_ms,
            sealed.as_deref().unwrap_or(&record.payload),
        );
        let interval = self.shared.options.index_interval;
        let pending = self.pending_active();
        if (seq - pending.info.first_seq).is_multiple_of(interval) {
            pending.info.sparse.push((seq, offset));
        }
        pending.info.last_seq = seq;
        pending.info.durable_len = offset + size;
        self.next_seq += 1;
        self.last_hash = hash;
        self.last_timestamp_ms = timestamp_ms;
        Ok(seq)
    }

    /// The pending update for the active segment, created on first use.
    fn pending_active(&mut self) -> &mut PendingSegment {
        let first_seq = self.first_seq;
        if self.pending.last().map(|p| p.info.first_seq) != Some(first_seq) {
            self.pending.push(PendingSegment {
                info: SegmentInfo {
                    first_seq,
                    path: self.path.clone(),
                    durable_len: self.len,
                    last_seq: self.next_seq - 1,
                    sparse: Vec::new(),
                    dek: self.dek.clone(),
                },
                is_new: false,
            });
        }
        self.pending
            .last_mut()
            .expect("an entry for the active segment was just ensured")
    }

    /// Writes the batch buffer at the end of the active segment.
    fn flush_buf(&mut self) -> Result<(), Failure> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let offset = self.len;
        self.file
            .write_all_at(&self.buf, offset)
            .map_err(|e| self.failure(offset, "write", e))?;
        self.len += self.buf.len() as u64;
        Counters::add(&self.shared.counters.bytes, self.buf.len() as u64);
        self.buf.clear();
        self.dirty = true;
        self.dirty_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Writes the buffer out and fsyncs the active segment if anything is unsynced.
    fn flush_and_fsync(&mut self) -> Result<(), Failure> {
        self.flush_buf()?;
        if self.dirty {
            let offset = self.len;
            self.file
                .sync_data()
                .map_err(|e| self.failure(offset, "fdatasync", e))?;
            self.dirty = false;
            Counters::add(&self.shared.counters.fsyncs, 1);
        }
        Ok(())
    }

    /// Fsyncs the active segment (if anything is unsynced) and publishes pending records.
    fn sync(&mut self) -> Result<(), Failure> {
        self.flush_and_fsync()?;
        self.dirty_since = None;
        self.rolled = false;
        self.publish();
        Ok(())
    }

    /// Fsync after the queue went quiet with written-only records pending (or at exit).
    fn sync_idle(&mut self) {
        if self.poison.is_some() {
            return;
        }
        if let Err(failure) = self.sync() {
            self.fail_all(&failure, Vec::new(), Vec::new(), None);
        }
    }

    /// Closes the active segment (fsynced) and starts a new one at `next_seq`.
    fn roll(&mut self) -> Result<(), Failure> {
        self.flush_and_fsync()?;
        let header = SegmentHeader {
            first_seq: self.next_seq,
            prev_hash: self.last_hash,
            sealed: self.shared.options.encryption.is_some(),
        };
        // The data key file first: an encrypted segment never exists without its key.
        let dek = match &self.shared.options.encryption {
            Some(keyring) => {
                let segment = self.shared.dir.join(segment_file_name(header.first_seq));
                let dek =
                    create_data_key(keyring, &segment, header.first_seq).map_err(|e| Failure {
                        path: segment.clone(),
                        offset: 0,
                        op: "create data key",
                        source: Arc::new(io::Error::other(e.to_string())),
                    })?;
                Some(Arc::new(dek))
            }
            None => None,
        };
        let (path, file) = create_segment(&self.shared.dir, &header).map_err(|e| Failure {
            path: self.shared.dir.clone(),
            offset: 0,
            op: "create segment",
            source: Arc::new(e),
        })?;
        tracing::debug!(path = %path.display(), first_seq = header.first_seq, "journal segment rolled");
        self.pending.push(PendingSegment {
            info: SegmentInfo {
                first_seq: header.first_seq,
                path: path.clone(),
                durable_len: HEADER_LEN as u64,
                last_seq: header.first_seq - 1,
                sparse: Vec::new(),
                dek: dek.clone(),
            },
            is_new: true,
        });
        self.dek = dek;
        self.file = file;
        self.path = path;
        self.first_seq = header.first_seq;
        self.len = HEADER_LEN as u64;
        self.rolled = true;
        Ok(())
    }

    /// Makes fsynced records visible to readers.
    fn publish(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut index = self.shared.index_mut();
        for pending in self.pending.drain(..) {
            if pending.is_new {
                index.segments.push(pending.info);
            } else if let Some(segment) = index
                .segments
                .iter_mut()
                .rev()
                .find(|s| s.first_seq == pending.info.first_seq)
            {
                segment.durable_len = pending.info.durable_len;
                segment.last_seq = pending.info.last_seq;
                segment.sparse.extend(pending.info.sparse);
            }
        }
        index.head = ChainHead {
            seq: self.next_seq - 1,
            hash: self.last_hash,
        };
    }

    fn failure(&self, offset: u64, op: &'static str, error: io::Error) -> Failure {
        Failure {
            path: self.path.clone(),
            offset,
            op,
            source: Arc::new(error),
        }
    }
}

/// The writer's state, shared by its thread and the callers that write
/// themselves; `None` once the thread has stopped.
pub(crate) type WriterCell = Arc<Mutex<Option<Writer>>>;

thread_local! {
    /// Set while this thread holds the writer to write its own append: a
    /// callback that closes the journal then must not wait for the writer
    /// thread, which waits for this one.
    static WRITING_NOW: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is the writer: the writer thread, or a caller inside
/// [`write_now`] (its callback runs there).
pub(crate) fn is_writing_now() -> bool {
    WRITING_NOW.with(Cell::get)
}

fn lock(cell: &WriterCell) -> MutexGuard<'_, Option<Writer>> {
    cell.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends `request` (written-only) on the calling thread when the writer is
/// idle and healthy (see [`Writer::write_now`]); hands it back when the
/// writer is busy, stopped, or the append needs the writer thread.
/// `Ok(true)`: the writer thread must be woken to start its flush timer.
pub(crate) fn write_now(cell: &WriterCell, request: Request) -> Result<bool, Request> {
    let mut guard = match cell.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(request),
    };
    let Some(writer) = guard.as_mut() else {
        return Err(request);
    };
    WRITING_NOW.with(|w| w.set(true));
    let result = writer.write_now(request);
    WRITING_NOW.with(|w| w.set(false));
    result
}

/// The thread body: batches requests until shutdown or until every sender
/// is gone, then takes the writer out of `cell` (releasing the directory
/// lock it owns).
pub(crate) fn run(cell: &WriterCell, rx: Receiver<Request>) {
    WRITING_NOW.with(|w| w.set(true));
    let (flush_interval, max_batch) = match lock(cell).as_ref() {
        Some(w) => (
            w.shared.options.nosync_flush_interval,
            w.shared.options.max_batch_records,
        ),
        None => return,
    };
    loop {
        // Read under the lock: a caller writing for itself sets it, then
        // sends a `Wake`, so a wait started without a timer is woken.
        let dirty_since = lock(cell).as_ref().and_then(|w| w.dirty_since);
        let first = if let Some(since) = dirty_since {
            match rx.recv_timeout(flush_interval.saturating_sub(since.elapsed())) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(writer) = lock(cell).as_mut()
                        && writer.flush_due()
                    {
                        writer.sync_idle();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(request) => request,
                Err(_) => break,
            }
        };
        let mut count = first.record_count();
        let mut batch = vec![first];
        while count < max_batch && !matches!(batch.last(), Some(Request::Shutdown { .. })) {
            match rx.try_recv() {
                Ok(request) => {
                    count += request.record_count();
                    batch.push(request);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let mut guard = lock(cell);
        let Some(writer) = guard.as_mut() else {
            return;
        };
        if writer.process(batch) {
            // Stopped: no caller may write after the final sync.
            guard.take();
            return;
        }
    }
    let mut guard = lock(cell);
    if let Some(writer) = guard.as_mut() {
        writer.sync_idle();
    }
    guard.take();
}

/// Runs a caller's callback; a panicking callback must not take the writer down.
fn complete<T>(done: Box<dyn FnOnce(T) + Send>, value: T) {
    if catch_unwind(AssertUnwindSafe(move || done(value))).is_err() {
        tracing::error!("journal append callback panicked; the writer continues");
    }
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
