//! Group commit for metadata puts.
//!
//! With `synchronous = FULL` every commit costs one fsync of the WAL, and one
//! connection can only commit one transaction at a time. Puts from many
//! threads therefore queue up, and whichever thread finds no batch in flight
//! becomes the leader: it takes every queued put (up to [`MAX_BATCH`]),
//! inserts them in one transaction, commits once, and hands each caller its
//! own outcome. Callers that arrive meanwhile wait for the next batch. A lone
//! caller is a batch of one, so nothing waits on a timer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior, params};

use super::query::COLUMNS;
use super::sqlite_error;
use crate::{BackendError, BackendResult, ChangeRecord, PutOutcome};

/// Most puts committed in one transaction; bounds the latency of a batch.
const MAX_BATCH: usize = 256;

/// The write connection and the queue of puts waiting for it.
#[derive(Debug)]
pub(crate) struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    batch_done: Condvar,
    commits: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, ChangeRecord)>,
    results: HashMap<u64, BackendResult<PutOutcome>>,
    leader_active: bool,
}

/// Every field is updated in single steps under the lock, so a poisoned lock
/// still guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Self {
        Writer {
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue::default()),
            batch_done: Condvar::new(),
            commits: AtomicU64::new(0),
        }
    }

    /// The write connection, for tests; puts go through [`Writer::put`].
    #[cfg(test)]
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// How many write transactions were committed (fewer than puts when
    /// concurrent puts shared them).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Insert `record` unless its event id is stored; return once committed.
    pub(crate) fn put(&self, record: &ChangeRecord) -> BackendResult<PutOutcome> {
        self.put_many(std::slice::from_ref(record))
            .pop()
            .unwrap_or_else(|| Err(BackendError::Transient("metadata: no outcome".into())))
    }

    /// Insert each of `records` unless its event id is stored, queued
    /// together (so they share a transaction when they fit in one); return
    /// once all are committed, one outcome per record, in order.
    pub(crate) fn put_many(&self, records: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        let mut queue = lock(&self.queue);
        let first = queue.next_ticket;
        queue.next_ticket += records.len() as u64;
        queue.pending.extend(
            records
                .iter()
                .enumerate()
                .map(|(i, r)| (first + i as u64, r.clone())),
        );
        let mut outcomes: Vec<Option<BackendResult<PutOutcome>>> = vec![None; records.len()];
        let mut missing = records.len();
        loop {
            for (i, slot) in outcomes.iter_mut().enumerate() {
                if slot.is_none()
                    && let Some(result) = queue.results.remove(&(first + i as u64))
                {
                    *slot = Some(result);
                    missing -= 1;
                }
            }
            if missing == 0 {
                return outcomes.into_iter().flatten().collect();
            }
            if queue.leader_active {
                queue = self
                    .batch_done
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            queue.leader_active = true;
            let take = queue.pending.len().min(MAX_BATCH);
            let batch: Vec<_> = queue.pending.drain(..take).collect();
            drop(queue);
            let mut leader = Leader {
                writer: self,
                tickets: batch.iter().map(|(t, _)| *t).collect(),
                results: None,
            };
            leader.results = Some(self.commit(&batch));
            drop(leader);
            queue = lock(&self.queue);
        }
    }

    /// Insert `batch` in one transaction. A record SQLite refuses fails
    /// alone; any other error rolls the batch back and fails all of it.
    fn commit(&self, batch: &[(u64, ChangeRecord)]) -> Vec<BackendResult<PutOutcome>> {
        let mut conn = lock(&self.conn);
        let mut attempt = || -> Result<Vec<BackendResult<PutOutcome>>, BackendError> {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sqlite_error)?;
            let mut outcomes = Vec::with_capacity(batch.len());
            {
                let mut insert = tx
                    .prepare_cached(&format!(
                        "INSERT INTO changes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT(event_id) DO NOTHING"
                    ))
                    .map_err(sqlite_error)?;
                for (_, r) in batch {
                    let inserted = insert.execute(params![
                        r.event_id,
                        r.source,
                        r.entity_type,
                        r.entity_id,
                        r.operation,
                        r.ts,
                        r.author,
                        r.archive_key,
                        r.attributes,
                    ]);
                    outcomes.push(match inserted.map_err(sqlite_error) {
                        Ok(1) => Ok(PutOutcome::Inserted),
                        Ok(_) => Ok(PutOutcome::AlreadyPresent),
                        Err(e @ BackendError::Invalid(_)) => Err(event_error(e, &r.event_id)),
                        Err(e) => return Err(e),
                    });
                }
            }
            tx.commit().map_err(sqlite_error)?;
            self.commits.fetch_add(1, Ordering::Relaxed);
            Ok(outcomes)
        };
        match attempt() {
            Ok(outcomes) => outcomes,
            Err(e) => batch
                .iter()
                .map(|(_, r)| Err(event_error(e.clone(), &r.event_id)))
                .collect(),
        }
    }
}

fn event_error(e: BackendError, event_id: &str) -> BackendError {
    match e {
        BackendError::Invalid(m) => BackendError::Invalid(format!("{m} (event {event_id})")),
        BackendError::Transient(m) => BackendError::Transient(format!("{m} (event {event_id})")),
        BackendError::Denied(m) => BackendError::Denied(format!("{m} (event {event_id})")),
    }
}

/// The leader's duty, done on drop even if the commit panicked: hand out the
/// results (or an error for each ticket), step down and wake the waiters.
struct Leader<'a> {
    writer: &'a Writer,
    tickets: Vec<u64>,
    results: Option<Vec<BackendResult<PutOutcome>>>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let results = self.results.take().unwrap_or_else(|| {
            let lost = BackendError::Transient("metadata: the batch writer panicked".into());
            vec![Err(lost); self.tickets.len()]
        });
        let mut queue = lock(&self.writer.queue);
        queue.results.extend(self.tickets.drain(..).zip(results));
        queue.leader_active = false;
        self.writer.batch_done.notify_all();
    }
}
