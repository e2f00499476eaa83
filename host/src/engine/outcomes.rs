//! Delivery outcomes, journaled only once what the deliveries wrote is durable.
//!
//! The local backends run in [`Durability::Batched`] mode: a plugin's archive
//! or metadata write returns once it is in the page cache. [`JournalOutcomes`]
//! queues finished deliveries, and a flusher thread repeatedly takes the
//! queue, calls `sync()` on every backend (one `syncfs` per file system for
//! all the writes since the previous round), and only then appends the
//! round's outcomes, several per journal record ([`OutcomesRecord`], at most
//! [`OUTCOMES_PER_RECORD`] each) in one append. The outcomes of one batch are
//! queued together, so they are journaled in the same write. A journaled
//! outcome therefore always means the delivery's writes are on disk; a crash
//! before that only means the delivery runs again after restart
//! (at-least-once; the metadata store is idempotent).
//!
//! [`Durability::Batched`]: trailmark_backends::Durability::Batched

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::warn;
use trailmark_journal::{Journal, NewRecord};
use trailmark_runtime::Capabilities;

use super::pipeline::OpenDeliveries;
use super::records::{OutcomesRecord, kind};
use crate::dispatch::{Outcome, OutcomeSink};

/// Wait before retrying a failed backend sync (a full disk, an I/O error).
const SYNC_RETRY: Duration = Duration::from_millis(500);

/// Most outcomes one journal record lists (about 10 bytes each), so a round
/// after a large backlog still writes records of modest size.
pub const OUTCOMES_PER_RECORD: usize = 4096;

/// Records final outcomes in the journal after syncing the backends. Outcome
/// records are not themselves awaited for fsync: losing one in a crash only
/// means the delivery is made again.
pub struct JournalOutcomes {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    journal: Arc<Journal>,
    open: Arc<OpenDeliveries>,
    backends: Capabilities,
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    round: Round,
    closing: bool,
}

/// The outcomes finished since the last flush.
#[derive(Default)]
struct Round {
    /// Full records, then the one being filled.
    records: Vec<OutcomesRecord>,
    /// Event seqs of the outcomes, one per delivery (for [`OpenDeliveries`]).
    seqs: Vec<u64>,
}

impl Round {
    fn add(&mut self, rule: &str, outcomes: &[(u64, Outcome)]) {
        for &(seq, outcome) in outcomes {
            let record = match self.records.last_mut() {
                Some(r) if r.len() < OUTCOMES_PER_RECORD => r,
                _ => {
                    self.records.push(OutcomesRecord::default());
                    self.records.last_mut().expect("pushed above")
                }
            };
            let dead_letter = match outcome {
                Outcome::Delivered => None,
                Outcome::DeadLettered { id } => Some(id),
            };
            record.add(rule, seq, dead_letter);
            self.seqs.push(seq);
        }
    }

    fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }
}

impl JournalOutcomes {
    /// Outcomes go to `journal` once `backends` are synced; `open` is updated.
    pub fn new(journal: Arc<Journal>, open: Arc<OpenDeliveries>, backends: Capabilities) -> Self {
        let shared = Arc::new(Shared {
            journal,
            open,
            backends,
            queue: Mutex::default(),
            wake: Condvar::new(),
        });
        let flusher = std::thread::Builder::new()
            .name("outcome-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || shared.run()
            })
            .map_err(|e| warn!(error = %e, "cannot start the outcome flusher; outcomes are journaled inline"))
            .ok();
        JournalOutcomes {
            shared,
            flusher: Mutex::new(flusher),
        }
    }

    /// Journal every queued outcome and stop the flusher. Call after the
    /// dispatcher has drained; later outcomes are journaled inline.
    pub fn close(&self) {
        lock(&self.shared.queue).closing = true;
        self.shared.wake.notify_all();
        if let Some(flusher) = lock(&self.flusher).take() {
            let _ = flusher.join();
        }
        let rest = std::mem::take(&mut lock(&self.shared.queue).round);
        self.shared.flush(rest);
    }
}

impl Drop for JournalOutcomes {
    fn drop(&mut self) {
        self.close();
    }
}

impl OutcomeSink for JournalOutcomes {
    fn opened(&self, seq: u64) {
        self.shared.open.add(seq, 1);
    }

    fn finished(&self, rule: &str, outcomes: &[(u64, Outcome)]) {
        let mut queue = lock(&self.shared.queue);
        if queue.closing {
            drop(queue);
            let mut round = Round::default();
            round.add(rule, outcomes);
            self.shared.flush(round);
        } else {
            queue.round.add(rule, outcomes);
            drop(queue);
            self.shared.wake.notify_one();
        }
    }
}

impl Shared {
    /// Take whatever finished since the last round, make it durable, journal it.
    fn run(&self) {
        loop {
            let round = {
                let mut queue = lock(&self.queue);
                while queue.round.is_empty() && !queue.closing {
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if queue.closing {
                    return;
                }
                std::mem::take(&mut queue.round)
            };
            self.flush(round);
        }
    }

    /// Sync the backends (retrying until it works or the host is closing),
    /// then append the round's records in one write and mark the deliveries
    /// done.
    fn flush(&self, round: Round) {
        if round.is_empty() {
            return;
        }
        let outcomes = round.seqs.len();
        while let Err(e) = self.sync_backends() {
            warn!(error = %e, outcomes, "cannot make delivered writes durable; retrying before journaling their outcomes");
            if lock(&self.queue).closing {
                // Leave them owed: the next start delivers them again.
                return;
            }
            std::thread::sleep(SYNC_RETRY);
        }
        let records = || -> Vec<NewRecord> {
            round
                .records
                .iter()
                .map(|r| NewRecord {
                    kind: kind::OUTCOMES,
                    payload: serde_json::to_vec(r).expect("plain record serializes"),
                })
                .collect()
        };
        // A full disk clears without a restart: keep the outcomes until the
        // journal takes them, or the next start would deliver them again.
        let mut appended = self.journal.append_nosync(records());
        while let Err(e) = appended {
            let full = matches!(e, trailmark_journal::JournalError::Full { .. });
            if !full || lock(&self.queue).closing {
                warn!(outcomes, error = %e, "cannot journal delivery outcomes; they will be redelivered after restart");
                break;
            }
            warn!(outcomes, error = %e, "cannot journal delivery outcomes while the journal's disk is full; retrying");
            std::thread::sleep(SYNC_RETRY);
            appended = self.journal.append_nosync(records());
        }
        for seq in round.seqs {
            self.open.done(seq);
        }
    }

    fn sync_backends(&self) -> Result<(), String> {
        let b = &self.backends;
        let named = |what: &str, r: trailmark_backends::BackendResult<()>| {
            r.map_err(|e| format!("{what}: {e}"))
        };
        if let Some(a) = &b.archive {
            named("archive", a.sync())?;
        }
        if let Some(m) = &b.metadata {
            named("metadata", m.sync())?;
        }
        for (name, n) in &b.notify {
            named(&format!("notify.{name}"), n.sync())?;
        }
        for (name, f) in &b.forward {
            named(&format!("forward.{name}"), f.sync())?;
        }
        Ok(())
    }
}

/// The queue is updated in single steps, so a poisoned lock still guards
/// consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
