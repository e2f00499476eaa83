//! Group commit for metadata puts.
//!
//! With `synchronous = FULL` every commit costs one fsync of the WAL, and one
//! connection can only commit one transaction at a time. Puts from many
//! threads therefore queue up, and whichever thread finds no batch in flight
//! becomes the leader: it takes every queued put (up to [`MAX_BATCH`]),
//! inserts them in one transaction, commits once, and hands each caller its
//! own outcome. Callers that arrive meanwhile wait for the next batch. A lone
//! caller is a batch of one, so nothing waits on a timer.
//!
//! A store whose puts only need to be durable after `sync()`
//! ([`Writer::deferred`]) goes further: puts, even one after another from
//! one thread (the deliveries of one batch), share one open transaction,
//! committed by the next `sync()`, by a read of the store, or once it holds
//! [`MAX_DEFERRED`] puts. The puts of a transaction are kept until it commits,
//! so a transaction SQLite rolls back (an I/O error, a full disk) is written
//! again before the next commit instead of losing puts that already
//! returned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, TransactionBehavior, params};

use super::query::COLUMNS;
use super::sqlite_error;
use crate::{BackendError, BackendResult, ChangeRecord, PutOutcome};

/// Most puts committed in one transaction; bounds the latency of a batch.
const MAX_BATCH: usize = 256;

/// Most puts a deferred writer keeps in its open transaction before it
/// commits without waiting for `sync`: records inserted at random places in
/// the entity index dirty a page each, and a page dirtied again in the same
/// transaction is written to the WAL once.
const MAX_DEFERRED: usize = 4096;

/// The write connection and the queue of puts waiting for it.
#[derive(Debug)]
pub(crate) struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    batch_done: Condvar,
    commits: AtomicU64,
    /// `Some` for a deferred writer: the puts not yet committed. Locked only
    /// while `conn` is held.
    deferred: Option<Mutex<Uncommitted>>,
}

/// The puts of a deferred writer since its last commit.
#[derive(Debug, Default)]
struct Uncommitted {
    /// A transaction is open on the connection and holds every put in
    /// `puts`. False with puts left means a commit failed or SQLite rolled
    /// the transaction back: they are written again first.
    open: bool,
    puts: Vec<ChangeRecord>,
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
    /// A group-commit writer: a put returns once committed.
    pub(crate) fn new(conn: Connection) -> Self {
        Self::with(conn, None)
    }

    /// A deferred writer: a put returns once in the open transaction, which
    /// [`Writer::commit_pending`] commits.
    pub(crate) fn deferred(conn: Connection) -> Self {
        Self::with(conn, Some(Mutex::default()))
    }

    fn with(conn: Connection, deferred: Option<Mutex<Uncommitted>>) -> Self {
        Writer {
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue::default()),
            batch_done: Condvar::new(),
            commits: AtomicU64::new(0),
            deferred,
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

    /// Insert `record` unless its event id is stored; return once committed
    /// (group commit) or in the open transaction (deferred).
    pub(crate) fn put(&self, record: &ChangeRecord) -> BackendResult<PutOutcome> {
        self.put_many(std::slice::from_ref(record))
            .pop()
            .unwrap_or_else(|| Err(BackendError::Transient("metadata: no outcome".into())))
    }

    /// Insert each of `records` unless its event id is stored: deferred,
    /// into the open transaction; otherwise queued together (so they share a
    /// transaction when they fit in one) and returned once all are
    /// committed. One outcome per record, in order.
    pub(crate) fn put_many(&self, records: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        if let Some(deferred) = &self.deferred {
            // Once the transaction cannot be opened (the file locked by
            // another process, a full disk), the rest of the batch fails
            // with it at once: each put waiting out the busy timeout in
            // turn would stall the plugin call for a timeout per record.
            let mut blocked: Option<String> = None;
            return records
                .iter()
                .map(|record| {
                    if let Some(first) = &blocked {
                        let e = BackendError::Transient(format!(
                            "not tried after an earlier put of the batch failed: {first}"
                        ));
                        return Err(event_error(e, &record.event_id));
                    }
                    let outcome = self.put_deferred(deferred, record);
                    if let Err(BackendError::Transient(m)) = &outcome {
                        blocked = Some(m.clone());
                    }
                    outcome
                })
                .collect();
        }
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

    /// Deferred put: into the open transaction (opened, and refilled after a
    /// rollback, as needed); committed at once when it holds [`MAX_DEFERRED`].
    fn put_deferred(
        &self,
        deferred: &Mutex<Uncommitted>,
        record: &ChangeRecord,
    ) -> BackendResult<PutOutcome> {
        let conn = lock(&self.conn);
        let mut pending = lock(deferred);
        reopen(&conn, &mut pending)?;
        let inserted = insert(&conn, record);
        if conn.is_autocommit() {
            // SQLite rolled the transaction back (I/O error, full disk):
            // the puts in it are written again before the next commit.
            pending.open = false;
        }
        let outcome = inserted.map_err(|e| event_error(e, &record.event_id))?;
        pending.puts.push(record.clone());
        if pending.puts.len() >= MAX_DEFERRED {
            // A failed commit keeps the puts for the next one (or `sync`,
            // which reports the failure); this put is in them either way.
            let _ = self.commit_locked(&conn, &mut pending);
        }
        Ok(outcome)
    }

    /// Commit a deferred writer's open transaction (no-op for a group-commit
    /// writer or when nothing is pending). Until it succeeds, the puts stay
    /// pending and are written again by the next attempt.
    pub(crate) fn commit_pending(&self) -> BackendResult<()> {
        let Some(deferred) = &self.deferred else {
            return Ok(());
        };
        let conn = lock(&self.conn);
        let mut pending = lock(deferred);
        self.commit_locked(&conn, &mut pending)
    }

    /// Run `work` on the write connection between puts: a deferred
    /// writer's open transaction is committed first, so `work` runs its own
    /// (short) transaction. Puts wait while it runs.
    pub(crate) fn between_puts<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> BackendResult<T> {
        let conn = lock(&self.conn);
        if let Some(deferred) = &self.deferred {
            let mut pending = lock(deferred);
            self.commit_locked(&conn, &mut pending)?;
        }
        let result = work(&conn).map_err(sqlite_error)?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(result)
    }

    fn commit_locked(&self, conn: &Connection, pending: &mut Uncommitted) -> BackendResult<()> {
        if pending.puts.is_empty() && !pending.open {
            return Ok(());
        }
        reopen(conn, pending)?;
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                pending.open = false;
                pending.puts.clear();
                self.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                pending.open = false;
                Err(sqlite_error(e))
            }
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
            for (_, r) in batch {
                outcomes.push(match insert(&tx, r) {
                    Ok(outcome) => Ok(outcome),
                    Err(e @ BackendError::Invalid(_)) => Err(event_error(e, &r.event_id)),
                    Err(e) => return Err(e),
                });
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

/// Open a deferred writer's transaction if none is, writing again the puts
/// a failed commit or a rollback left pending.
fn reopen(conn: &Connection, pending: &mut Uncommitted) -> BackendResult<()> {
    // In autocommit mode the connection has no transaction: whatever was
    // open was rolled back, so its puts are written again.
    if pending.open && !conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(sqlite_error)?;
    for r in &pending.puts {
        if let Err(e) = insert(conn, r) {
            // A put that went in before goes in again, or nothing does.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e);
        }
    }
    pending.open = true;
    Ok(())
}

/// Insert `r` unless its event id is stored (in the caller's transaction).
fn insert(conn: &Connection, r: &ChangeRecord) -> BackendResult<PutOutcome> {
    let mut insert = conn
        .prepare_cached(&format!(
            "INSERT INTO changes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(ts, event_id) DO NOTHING"
        ))
        .map_err(sqlite_error)?;
    let inserted = insert
        .execute(params![
            r.event_id,
            r.source,
            r.entity_type,
            r.entity_id,
            r.operation,
            r.ts,
            r.author,
            r.archive_key,
            r.attributes,
            r.rules.join(" "),
        ])
        .map_err(sqlite_error)?;
    Ok(if inserted == 1 {
        PutOutcome::Inserted
    } else {
        PutOutcome::AlreadyPresent
    })
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

impl Drop for Writer {
    /// Commit what a deferred writer still holds: a clean close keeps its
    /// puts (a crash loses them, as it may lose any put before `sync`).
    fn drop(&mut self) {
        if let Err(e) = self.commit_pending() {
            tracing::warn!(error = %e, "metadata: could not commit the last puts at close; their deliveries run again");
        }
    }
}
