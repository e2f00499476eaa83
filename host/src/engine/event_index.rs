//! Where each event is in the journal, by event id, on disk.
//!
//! `GET /v1/events/{id}` and the viewer look events up by id. The index is a
//! SQLite table (`event-index.sqlite` in the data directory) keyed by journal
//! sequence, with a second B-tree on a 64-bit hash of the id, so memory does
//! not grow with the number of events retained: only the entries accepted
//! and not yet written (a bounded [`MAX_PENDING`]) are held in memory, in a
//! map that lookups consult first, so an event can be read back as soon as
//! it is acknowledged.
//!
//! The journal is the truth and the index is derived from it: a writer
//! thread commits entries in batches, without fsync (WAL, `synchronous =
//! NORMAL`), and at start the recovery scan re-indexes every event after the
//! highest sequence the index holds. Retention removes the entries of the
//! segments it removes ([`EventIndex::remove_before`]); a lookup of a removed
//! event finds nothing.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tracing::warn;

/// At most this many accepted events wait in memory for the writer; past it,
/// [`EventIndex::has_room`] says no and producers are answered "busy", as
/// when the journal's queue is full.
pub const MAX_PENDING: usize = 500_000;

/// Why the index could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// SQLite refused.
    #[error("event index {path}: {source}")]
    Sqlite {
        /// The index file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("event index: starting its writer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The on-disk event-id index with its writer thread.
pub struct EventIndex {
    pending: Arc<Mutex<HashMap<String, u64>>>,
    reader: Mutex<Connection>,
    commands: Mutex<Option<Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: String,
}

enum Command {
    Add(Vec<(String, u64)>),
    RemoveBefore(u64),
    Flush(Sender<()>),
}

impl EventIndex {
    /// Open (or create) the index at `path` and start its writer. Entries
    /// outside `retained` (the journal's retained sequence numbers) are
    /// dropped first: retention removed them while the index lagged, or a
    /// repaired journal tail will number new events anew.
    pub fn open(path: &Path, retained: RangeInclusive<u64>) -> Result<EventIndex, IndexError> {
        let name = path.display().to_string();
        let fail = |source| IndexError::Sqlite {
            path: name.clone(),
            source,
        };
        let writer_conn = Connection::open(path).map_err(fail)?;
        writer_conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA cache_size = -2048;
                 CREATE TABLE IF NOT EXISTS events (
                     seq INTEGER PRIMARY KEY,
                     hash INTEGER NOT NULL,
                     id TEXT NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS events_by_hash ON events (hash);",
            )
            .map_err(fail)?;
        writer_conn
            .execute(
                "DELETE FROM events WHERE seq < ?1 OR seq > ?2",
                params![as_sql(*retained.start()), as_sql(*retained.end())],
            )
            .map_err(fail)?;
        let reader = Connection::open(path).map_err(fail)?;
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("event-index".into())
            .spawn({
                let pending = pending.clone();
                let path = name.clone();
                move || write_loop(writer_conn, rx, &pending, &path)
            })
            .map_err(IndexError::Spawn)?;
        Ok(EventIndex {
            pending,
            reader: Mutex::new(reader),
            commands: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            path: name,
        })
    }

    /// Whether there is room for more events (see [`MAX_PENDING`]).
    pub fn has_room(&self) -> bool {
        self.lock_pending().len() < MAX_PENDING
    }

    /// How many entries wait in memory for the writer.
    pub fn pending(&self) -> usize {
        self.lock_pending().len()
    }

    /// Record that the events `entries` (id, sequence) are durable.
    pub fn add(&self, entries: Vec<(String, u64)>) {
        if entries.is_empty() {
            return;
        }
        {
            let mut pending = self.lock_pending();
            for (id, seq) in &entries {
                pending.insert(id.clone(), *seq);
            }
        }
        self.send(Command::Add(entries));
    }

    /// Forget every entry below `seq` (retention removed those segments).
    pub fn remove_before(&self, seq: u64) {
        self.lock_pending().retain(|_, s| *s >= seq);
        self.send(Command::RemoveBefore(seq));
    }

    /// Wait until everything added so far is written.
    pub fn flush(&self) {
        let (tx, rx) = channel();
        self.send(Command::Flush(tx));
        let _ = rx.recv();
    }

    /// The highest sequence number written to disk (0 if none): the recovery
    /// scan indexes what comes after it.
    pub fn high_water(&self) -> Result<u64, IndexError> {
        self.read(|c| c.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0)))
    }

    /// Where event `id` is in the journal, the latest if the id repeats.
    pub fn get(&self, id: &str) -> Result<Option<u64>, IndexError> {
        if let Some(seq) = self.lock_pending().get(id) {
            return Ok(Some(*seq));
        }
        self.read(|c| {
            c.prepare_cached(
                "SELECT seq FROM events WHERE hash = ?1 AND id = ?2 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![hash(id), id], |r| r.get(0))
            .optional()
        })
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, IndexError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|source| IndexError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
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
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

/// A transaction gathers commands for this long (or [`GATHER_ENTRIES`]
/// entries, or until a flush): fewer, larger commits rewrite each index page
/// once per batch instead of once per request. Entries wait in `pending`,
/// where lookups find them.
const GATHER: Duration = Duration::from_millis(50);

/// Entries one transaction takes at most.
const GATHER_ENTRIES: usize = 16_384;

/// The commands of one transaction, starting with `first`.
fn gather(first: Command, commands: &Receiver<Command>) -> Vec<Command> {
    let deadline = Instant::now() + GATHER;
    let size = |c: &Command| match c {
        Command::Add(entries) => entries.len(),
        _ => 0,
    };
    let mut entries = size(&first);
    let mut flush = matches!(first, Command::Flush(_));
    let mut batch = vec![first];
    while !flush && entries < GATHER_ENTRIES {
        let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match commands.recv_timeout(wait) {
            Ok(command) => {
                entries += size(&command);
                flush = matches!(command, Command::Flush(_));
                batch.push(command);
            }
            Err(_) => break,
        }
    }
    batch
}

/// The writer thread: gathers commands, applies them in one transaction,
/// then drops the written entries from `pending`.
fn write_loop(
    mut conn: Connection,
    commands: Receiver<Command>,
    pending: &Mutex<HashMap<String, u64>>,
    path: &str,
) {
    while let Ok(first) = commands.recv() {
        let batch = gather(first, &commands);
        let mut written = Vec::new();
        let mut remove_before = None;
        let mut flushed = Vec::new();
        for command in batch {
            match command {
                Command::Add(entries) => written.extend(entries),
                Command::RemoveBefore(seq) => {
                    remove_before = remove_before.max(Some(seq));
                }
                Command::Flush(done) => flushed.push(done),
            }
        }
        // In hash order, the inserts into the hash index walk its pages in
        // order instead of at random.
        let mut keyed: Vec<(i64, &str, u64)> = written
            .iter()
            .map(|(id, seq)| (hash(id), id.as_str(), *seq))
            .collect();
        keyed.sort_unstable();
        let result = (|| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO events (seq, hash, id) VALUES (?1, ?2, ?3)",
                )?;
                for (hash, id, seq) in &keyed {
                    insert.execute(params![seq, hash, id])?;
                }
            }
            // After the inserts: retention's cut wins over a late entry.
            if let Some(seq) = remove_before {
                tx.execute("DELETE FROM events WHERE seq < ?1", [seq])?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            // The entries stay in memory (lookups still find them) and the
            // next start re-indexes them from the journal.
            warn!(index = path, error = %e, "event index write failed");
        } else {
            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            for (id, seq) in written {
                if pending.get(&id) == Some(&seq) {
                    pending.remove(&id);
                }
            }
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// A sequence number as SQLite stores integers (they stop at `i64::MAX`,
/// which no journal reaches).
fn as_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// FNV-1a, 64 bits, as a SQLite integer: stable across versions and builds
/// (it is stored), and only a filter (the id itself is compared too).
fn hash(id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: RangeInclusive<u64> = 0..=u64::MAX;

    #[test]
    fn entries_are_found_before_and_after_they_are_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add(vec![("a".into(), 1), ("b".into(), 2)]);
        assert_eq!(index.get("a").expect("get"), Some(1));
        index.flush();
        assert_eq!(index.pending(), 0, "written entries leave memory");
        assert_eq!(index.get("b").expect("get"), Some(2));
        assert_eq!(index.get("c").expect("get"), None);
        assert_eq!(index.high_water().expect("high water"), 2);
    }

    #[test]
    fn a_repeated_id_finds_its_latest_event() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add(vec![("a".into(), 1)]);
        index.add(vec![("a".into(), 5)]);
        index.flush();
        assert_eq!(index.get("a").expect("get"), Some(5));
    }

    #[test]
    fn removed_entries_are_gone_from_memory_and_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add((1..=10).map(|s| (format!("e{s}"), s)).collect());
        index.remove_before(6);
        assert_eq!(index.get("e3").expect("get"), None);
        index.flush();
        assert_eq!(index.get("e5").expect("get"), None);
        assert_eq!(index.get("e6").expect("get"), Some(6));
    }

    #[test]
    fn the_index_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("i.sqlite");
        {
            let index = EventIndex::open(&path, ALL).expect("open");
            index.add(vec![("a".into(), 7)]);
        }
        let index = EventIndex::open(&path, ALL).expect("reopen");
        assert_eq!(index.get("a").expect("get"), Some(7));
        assert_eq!(index.high_water().expect("high water"), 7);
    }

    #[test]
    fn entries_outside_the_retained_journal_are_dropped_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("i.sqlite");
        {
            let index = EventIndex::open(&path, ALL).expect("open");
            index.add((1..=9).map(|s| (format!("e{s}"), s)).collect());
        }
        let index = EventIndex::open(&path, 3..=7).expect("reopen");
        assert_eq!(index.get("e2").expect("get"), None, "retention removed it");
        assert_eq!(index.get("e8").expect("get"), None, "the journal lost it");
        assert_eq!(index.get("e5").expect("get"), Some(5));
        assert_eq!(index.high_water().expect("high water"), 7);
    }

    #[test]
    fn ids_that_share_a_hash_are_told_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add(vec![("x".into(), 1)]);
        index.flush();
        // Plant a second id under the same hash, as a collision would.
        index
            .read(|c| {
                c.execute(
                    "INSERT INTO events (seq, hash, id) VALUES (2, ?1, 'y')",
                    [hash("x")],
                )
            })
            .expect("plant");
        assert_eq!(index.get("x").expect("get"), Some(1));
        assert_eq!(index.get("y").expect("get"), None);
    }
}
