//! The index's writer thread: gathers accepted entries into runs, merges
//! runs, and deletes the runs retention has passed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::Shared;
use super::merge;
use super::run::{self, Entry, Run};

/// A run is written once this many entries wait (or [`RUN_AGE`] has
/// passed, or on a flush or shutdown); it holds what gathered by then, a
/// little more under a burst (at most [`super::MAX_PENDING`]).
const RUN_ENTRIES: usize = 65_536;

/// Entries wait at most about this long for their run (then one is written
/// however few there are): it bounds what a slow trickle holds in memory
/// and what a restart re-indexes.
const RUN_AGE: Duration = Duration::from_secs(5);

/// How often the writer looks at its commands while it gathers a run. It
/// sleeps between looks instead of waiting on the channel: a sender then
/// never wakes this thread (a wake per `add` cost every accepted event and
/// every read's access record a context switch); [`super::EventIndex::flush`]
/// and the index's drop unpark it. With nothing gathered it waits on the
/// channel: the first `add` wakes it.
const POLL: Duration = Duration::from_millis(100);

/// After a failed write, the next try waits this long (unless flushed).
const RETRY: Duration = Duration::from_secs(1);

/// What the index asks of its writer.
pub(super) enum Command {
    /// Entries accepted (already in `pending`).
    Add(Vec<Entry>),
    /// Retention raised the cut: delete the runs wholly below it.
    RemoveBefore,
    /// Write what waits, then answer.
    Flush(Sender<()>),
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    /// The run number the next written run takes.
    pub(super) next_id: u64,
    buffer: Vec<Entry>,
    oldest: Option<Instant>,
    retry_at: Option<Instant>,
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>, next_id: u64) -> Writer {
        Writer {
            shared,
            next_id,
            buffer: Vec::new(),
            oldest: None,
            retry_at: None,
        }
    }

    /// Serve `commands` until the index is dropped, then write what waits.
    pub(super) fn serve(mut self, commands: &Receiver<Command>) {
        loop {
            let mut open = true;
            let mut flushes = Vec::new();
            let mut retention = false;
            // With nothing gathered, wait for the first command (one wake
            // per run, none while idle); then look without waiting.
            let mut next = if self.buffer.is_empty() {
                commands.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                commands.try_recv()
            };
            loop {
                match next {
                    Ok(Command::Add(entries)) => {
                        self.oldest.get_or_insert_with(Instant::now);
                        self.buffer.extend(entries);
                    }
                    Ok(Command::RemoveBefore) => retention = true,
                    Ok(Command::Flush(done)) => flushes.push(done),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
                next = commands.try_recv();
            }
            if retention {
                self.remove_passed();
            }
            let now = Instant::now();
            let due =
                self.buffer.len() >= RUN_ENTRIES || self.oldest.is_some_and(|t| now - t >= RUN_AGE);
            let may = self.retry_at.is_none_or(|t| now >= t);
            let forced = !flushes.is_empty() || !open;
            if !self.buffer.is_empty() && (forced || (due && may)) && self.write_run() && open {
                self.merge_runs();
            }
            for done in flushes {
                let _ = done.send(());
            }
            if !open {
                return;
            }
            if !self.buffer.is_empty() {
                std::thread::park_timeout(POLL);
            }
        }
    }

    /// Write the gathered entries as a run; on success they leave
    /// `pending`. On failure they stay there (lookups still find them) and
    /// in the buffer for the next try.
    fn write_run(&mut self) -> bool {
        let shared = self.shared.clone();
        let cut = shared.cut.load(Ordering::Acquire);
        let mut entries = std::mem::take(&mut self.buffer);
        entries.sort_unstable();
        entries.dedup();
        let kept = entries.iter().copied().filter(|e| e.1 >= cut).map(Ok);
        let ids = self.next_id..=self.next_id;
        match run::write(&shared.dir, ids, entries.len() as u64, kept) {
            Ok(run) => {
                if let Some(run) = run {
                    self.next_id += 1;
                    shared.runs_mut().push(Arc::new(run));
                }
                // After the run is listed, so a lookup finds each entry in
                // one place or the other.
                let mut pending = shared.lock_pending();
                for (hash, seq) in entries {
                    pending.remove(hash, seq);
                }
                self.oldest = None;
                self.retry_at = None;
                true
            }
            Err(e) => {
                // The next start re-indexes them from the journal if no
                // later try succeeds.
                warn!(
                    index = %shared.dir.display(),
                    entries = entries.len(),
                    error = %e,
                    "event index write failed; its entries stay in memory"
                );
                entries.append(&mut self.buffer);
                self.buffer = entries;
                self.retry_at = Some(Instant::now() + RETRY);
                false
            }
        }
    }

    /// Merge runs until the policy in [`merge::pick`] is satisfied.
    fn merge_runs(&mut self) {
        loop {
            let runs = self.shared.runs();
            let counts: Vec<u64> = runs.iter().map(|r| r.count).collect();
            let Some(window) = merge::pick(&counts) else {
                return;
            };
            let inputs = &runs[window.clone()];
            let cut = self.shared.cut.load(Ordering::Acquire);
            let started = Instant::now();
            match merge::merge(&self.shared.dir, inputs, cut..=u64::MAX) {
                Ok(merged) => {
                    debug!(
                        runs = inputs.len(),
                        entries = merged.as_ref().map_or(0, |m| m.count),
                        took_ms = started.elapsed().as_millis() as u64,
                        "event index runs merged"
                    );
                    let merged = merged.map(Arc::new);
                    // Only this thread changes the list: `window` still
                    // names the inputs.
                    self.shared
                        .runs_mut()
                        .splice(window, merged.iter().cloned());
                    for input in inputs {
                        if merged.as_ref().is_none_or(|m| m.path != input.path) {
                            remove(input);
                        }
                    }
                }
                Err(e) => {
                    warn!(index = %self.shared.dir.display(), error = %e, "event index merge failed; will retry after the next run");
                    return;
                }
            }
        }
    }

    /// Delete the runs wholly below retention's cut.
    fn remove_passed(&mut self) {
        let cut = self.shared.cut.load(Ordering::Acquire);
        let passed: Vec<Arc<Run>> = {
            let mut runs = self.shared.runs_mut();
            let (passed, kept) = runs.drain(..).partition(|r| r.max_seq < cut);
            *runs = kept;
            passed
        };
        for run in &passed {
            remove(run);
        }
    }
}

/// Delete a run's file (lookups that hold it still read it).
pub(super) fn remove(run: &Run) {
    if let Err(e) = std::fs::remove_file(&run.path) {
        warn!(run = %run.path.display(), error = %e, "could not delete an event index run");
    }
}
