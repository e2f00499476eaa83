//! The local metadata store: change records in one SQLite file.
//!
//! - WAL journal, so readers never block the writer or each other.
//! - One write connection (SQLite allows one writer at a time anyway) fed by
//!   a group commit: puts from concurrent threads share one transaction and
//!   one fsync (see `writer.rs`); a small pool of read-only connections
//!   serves queries.
//! - `synchronous` is `FULL` by default: a `put` that returned is on disk even
//!   after a power cut, because the dispatcher may advance its cursor past the
//!   event as soon as the plugin returns, and the journal only redelivers
//!   events past that cursor. `NORMAL` is offered for hosts that accept losing
//!   the last moments of metadata on power loss (never on a process crash: in
//!   WAL mode `NORMAL` survives `kill -9`).
//! - Opened with [`Durability::Batched`] ([`SqliteMetadata::open_batched`]),
//!   `NORMAL` is the default and [`MetadataStore::sync`] makes every put
//!   before it durable with one `syncfs` (see [`crate::durability`]). Puts
//!   then also share transactions: they go into one open transaction,
//!   committed by `sync`, by the next read of the store (so a query sees
//!   every put that returned before it) or every 256 puts, rather than one
//!   commit per put (see `writer.rs`).
//! - Schema versioned by `PRAGMA user_version`, migrated at open.

mod expire;
mod filter;
mod query;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};
use serde::Deserialize;

pub use schema::SCHEMA_VERSION;

use crate::durability::{Durability, Unsynced};
use crate::{
    BackendError, BackendResult, ChangePage, ChangeQuery, ChangeRecord, HistoryQuery,
    MetadataStore, PutOutcome, page_size,
};
use trailmark_backend_api::{
    ChangeFilter, ChangeSummary, Expiring, Expiry, SummaryRow, summarize_records,
};

use query::{CHANGES_CURSOR, COLUMNS, Cursor, HISTORY_CURSOR, effective_limit, record_from_row};
use writer::Writer;

/// The write connection's page cache, as SQLite's `cache_size` (negative:
/// KiB): 64 MiB.
const WRITER_CACHE_KIB: i64 = -65_536;
/// How long a connection waits on a lock held by another before giving up
/// with a transient error (checkpoints, other processes).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle read connections kept open; more are opened under load and closed after.
const MAX_IDLE_READERS: usize = 4;

/// SQLite's `synchronous` setting for the metadata file (WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Synchronous {
    /// Fsync the WAL at every commit: a returned `put` survives power loss.
    #[default]
    Full,
    /// Fsync only at checkpoints: survives a process crash, may lose the
    /// latest commits on power loss or an OS crash.
    Normal,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// A [`MetadataStore`] in a SQLite file.
#[derive(Debug)]
pub struct SqliteMetadata {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// `Some` when commits are durable only after [`MetadataStore::sync`].
    unsynced: Option<Unsynced>,
}

impl SqliteMetadata {
    /// Open or create the database at `path` with `synchronous = FULL`.
    pub fn open(path: impl Into<PathBuf>) -> BackendResult<Self> {
        Self::open_with(path, Synchronous::default())
    }

    /// Open or create the database at `path`, creating its directory if
    /// missing, and migrate its schema to [`SCHEMA_VERSION`].
    pub fn open_with(path: impl Into<PathBuf>, synchronous: Synchronous) -> BackendResult<Self> {
        let (path, writer) = Self::open_writer(path.into(), synchronous)?;
        Ok(SqliteMetadata {
            path,
            writer: Writer::new(writer),
            readers: Mutex::new(Vec::new()),
            unsynced: None,
        })
    }

    /// The write connection to the database at `path`, its directory
    /// created, WAL and `synchronous` set, the schema migrated.
    fn open_writer(
        path: PathBuf,
        synchronous: Synchronous,
    ) -> BackendResult<(PathBuf, Connection)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                BackendError::Transient(format!(
                    "metadata: create directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let shown = path.display().to_string();
        let context = |e: rusqlite::Error| annotated(sqlite_error(e), &shown);
        let mut writer = Connection::open(&path).map_err(context)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(context)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(context)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(BackendError::Invalid(format!(
                "metadata database {shown}: cannot use WAL journal mode (got {mode}); \
                 is it on a file system without shared memory support?"
            )));
        }
        writer
            .pragma_update(None, "synchronous", synchronous.pragma_value())
            .map_err(context)?;
        // Inserts land at random places in the entity index (entity ids are
        // random): with SQLite's default 2 MiB page cache most of them would
        // re-read pages from the OS with a system call each.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(context)?;
        // A checkpoint (with its fsyncs) runs in the committing thread,
        // holding the writer: every 8192 WAL pages (32 MiB) rather than
        // SQLite's 1000, as each record dirties several pages.
        writer
            .pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(context)?;
        schema::migrate(&mut writer, &shown)?;
        Ok((path, writer))
    }

    /// Open as [`SqliteMetadata::open_with`], for a caller that calls
    /// [`MetadataStore::sync`] before it relies on puts being durable
    /// ([`Durability::Batched`]). With `Normal`, puts share a transaction
    /// committed (without fsync) by `sync`, a read or every 256 puts, and
    /// `sync` flushes the commits all at once; with `Full` each put is
    /// committed and durable when it returns.
    pub fn open_batched(path: impl Into<PathBuf>, synchronous: Synchronous) -> BackendResult<Self> {
        if synchronous != Synchronous::Normal {
            return Self::open_with(path, synchronous);
        }
        let (path, writer) = Self::open_writer(path.into(), synchronous)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        Ok(SqliteMetadata {
            path,
            writer: Writer::deferred(writer),
            readers: Mutex::new(Vec::new()),
            unsynced: Some(Unsynced::new(dir)),
        })
    }

    /// Open with `synchronous` chosen for `durability` unless given:
    /// `Full` for [`Durability::EachWrite`], `Normal` for
    /// [`Durability::Batched`].
    pub fn open_for(
        path: impl Into<PathBuf>,
        synchronous: Option<Synchronous>,
        durability: Durability,
    ) -> BackendResult<Self> {
        match durability {
            Durability::EachWrite => Self::open_with(path, synchronous.unwrap_or_default()),
            Durability::Batched => {
                Self::open_batched(path, synchronous.unwrap_or(Synchronous::Normal))
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many write transactions puts have committed so far: fewer than
    /// puts when concurrent puts shared a transaction (and its fsync).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// Run `read` on an idle read-only connection (opening one if none is
    /// idle), after committing the puts a deferred writer holds, so a read
    /// sees every put that returned before it.
    fn with_reader<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> BackendResult<T> {
        if let Err(e) = self.writer.commit_pending() {
            // The puts stay pending (the next `sync` reports it); the read
            // goes on without them.
            tracing::warn!(error = %e, "metadata: cannot commit pending puts before a read");
        }
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = read(&conn).map_err(sqlite_error);
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    fn open_reader(&self) -> BackendResult<Connection> {
        let shown = self.path.display().to_string();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| annotated(sqlite_error(e), &shown))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| annotated(sqlite_error(e), &shown))?;
        Ok(conn)
    }
}

impl MetadataStore for SqliteMetadata {
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        if change.event_id.is_empty() {
            return Err(BackendError::Invalid(
                "metadata: change record has an empty event id".into(),
            ));
        }
        let outcome = self.writer.put(change)?;
        if let Some(unsynced) = &self.unsynced {
            unsynced.wrote();
        }
        Ok(outcome)
    }

    fn put_many(&self, changes: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        let mut outcomes = vec![None; changes.len()];
        let mut valid = Vec::with_capacity(changes.len());
        for (i, change) in changes.iter().enumerate() {
            if change.event_id.is_empty() {
                outcomes[i] = Some(Err(BackendError::Invalid(
                    "metadata: change record has an empty event id".into(),
                )));
            } else {
                valid.push((i, change.clone()));
            }
        }
        let records: Vec<ChangeRecord> = valid.iter().map(|(_, c)| c.clone()).collect();
        for ((i, _), outcome) in valid.iter().zip(self.writer.put_many(&records)) {
            outcomes[*i] = Some(outcome);
        }
        if let Some(unsynced) = &self.unsynced {
            unsynced.wrote();
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(BackendError::Transient("metadata: no outcome".into())))
            })
            .collect()
    }

    fn sync(&self) -> BackendResult<()> {
        match &self.unsynced {
            Some(unsynced) => {
                self.writer.commit_pending()?;
                unsynced.sync()
            }
            None => Ok(()),
        }
    }

    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage> {
        let (sql, params) = query::select(query)?;
        self.page(&sql, params, effective_limit(query), CHANGES_CURSOR)
    }

    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
        let (sql, params) = query::select_history(query)?;
        self.page(&sql, params, page_size(query.limit), HISTORY_CURSOR)
    }

    fn query_filtered(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> BackendResult<Option<ChangePage>> {
        let Some((sql, params)) = filter::select_filtered(filter, limit, cursor)? else {
            return Ok(None);
        };
        self.page(&sql, params, page_size(limit), CHANGES_CURSOR)
            .map(Some)
    }

    fn summarize(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        buckets: usize,
    ) -> BackendResult<Option<ChangeSummary>> {
        let Some((sql, params)) = filter::select_summary(filter, limit)? else {
            return Ok(None);
        };
        let rows = self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let complete = rows.len() < limit;
        Ok(Some(summarize_records(
            rows.iter()
                .map(|(author, entity_type, operation, source, ts)| SummaryRow {
                    author,
                    entity_type,
                    operation,
                    source,
                    ts: *ts,
                }),
            buckets,
            complete,
        )))
    }

    fn expiring(&self) -> Option<&dyn Expiring> {
        Some(self)
    }
}

impl Expiring for SqliteMetadata {
    /// One chunk, in its own transaction between puts. Durable after the
    /// next [`MetadataStore::sync`] when opened batched, at once otherwise.
    fn expire(&self, expiry: &Expiry<'_>) -> BackendResult<u64> {
        let removed = self.writer.between_puts(|conn| expire::run(conn, expiry))?;
        if removed > 0
            && let Some(unsynced) = &self.unsynced
        {
            unsynced.wrote();
        }
        Ok(removed)
    }
}

impl SqliteMetadata {
    /// Run a SELECT that asks for `limit + 1` rows; return `limit` of them
    /// and, when the extra row came back, the cursor after the last.
    fn page(
        &self,
        sql: &str,
        params: Vec<rusqlite::types::Value>,
        limit: usize,
        cursor_tag: &str,
    ) -> BackendResult<ChangePage> {
        let mut records = self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params_from_iter(params), record_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records
                .last()
                .map(|last| Cursor::after(last).encode_as(cursor_tag))
        } else {
            None
        };
        Ok(ChangePage {
            records,
            next_cursor,
        })
    }
}

impl SqliteMetadata {
    /// Hand `visit` every record stored in the database at `path`, in
    /// storage order, and return how many there were. The file is opened
    /// read-only: no schema migration, nothing written, so offline checks
    /// (`trailmark verify`) can read a store without changing it.
    pub fn read_all(path: &Path, mut visit: impl FnMut(ChangeRecord)) -> BackendResult<u64> {
        let shown = path.display().to_string();
        let context = |e: rusqlite::Error| annotated(sqlite_error(e), &shown);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(context)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(context)?;
        // A store older than schema 3 (not migrated: nothing is written
        // here) has no `rules` column.
        let has_rules: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM pragma_table_info('changes') WHERE name = 'rules'",
                [],
                |row| row.get(0),
            )
            .map_err(context)?;
        let columns = if has_rules {
            COLUMNS.to_owned()
        } else {
            COLUMNS.replace(", rules", ", '' AS rules")
        };
        let mut stmt = conn
            .prepare(&format!("SELECT {columns} FROM changes ORDER BY rowid"))
            .map_err(context)?;
        let mut count = 0;
        for record in stmt.query_map([], record_from_row).map_err(context)? {
            visit(record.map_err(context)?);
            count += 1;
        }
        Ok(count)
    }

    /// The stored record with this event id, if any. Tests only: no index
    /// is keyed by the event id alone, so this reads the whole table.
    #[cfg(test)]
    pub(crate) fn get(&self, event_id: &str) -> BackendResult<Option<ChangeRecord>> {
        self.with_reader(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM changes WHERE event_id = ?1"
            ))?
            .query_row([event_id], record_from_row)
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
        })
    }
}

/// The idle-reader list holds no invariant a panic could break half-way, so
/// a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Map a SQLite error: a record SQLite refuses (constraint, size) is invalid;
/// locks, full disks and I/O errors are transient.
pub(crate) fn sqlite_error(e: rusqlite::Error) -> BackendError {
    let message = format!("metadata: {e}");
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig) => BackendError::Invalid(message),
        _ => BackendError::Transient(message),
    }
}

fn annotated(e: BackendError, context: &str) -> BackendError {
    match e {
        BackendError::Transient(m) => BackendError::Transient(format!("{m} ({context})")),
        BackendError::Invalid(m) => BackendError::Invalid(format!("{m} ({context})")),
        BackendError::Denied(m) => BackendError::Denied(format!("{m} ({context})")),
    }
}

#[cfg(test)]
mod expire_tests;
#[cfg(test)]
mod tests;
