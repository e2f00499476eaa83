//! Where each event is in the journal, by event id, on disk.
//!
//! `GET /v1/events/{id}` and the viewer look events up by id. The index is a
//! SQLite table (`event-index.sqlite` in the data directory) keyed by journal
//! sequence, with a second B-tree on a 64-bit hash of the id ([`IdHash`]), so
//! memory does not grow with the number of events retained: only the entries
//! accepted and not yet written (a bounded [`MAX_PENDING`]) are held in
//! memory, in a map that lookups consult first, so an event can be read back
//! as soon as it is acknowledged.
//!
//! The index holds hashes, not ids: a lookup gives the sequences filed under
//! the id's hash ([`EventIndex::candidates`]), and the caller reads those
//! records and keeps the one whose id it asked for. Rows are 16 bytes of
//! payload instead of ~60, and accepting an event copies no id.
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
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
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

/// Entries accepted and not yet written: one sequence per hash, the latest,
/// and the rare entries a colliding hash displaced.
#[derive(Debug, Default)]
struct Pending {
    latest: HashMap<IdHash, u64>,
    displaced: Vec<(IdHash, u64)>,
}

impl Pending {
    fn len(&self) -> usize {
        self.latest.len() + self.displaced.len()
    }

    fn insert(&mut self, hash: IdHash, seq: u64) {
        if let Some(old) = self.latest.insert(hash, seq)
            && old != seq
        {
            self.displaced.push((hash, old.min(seq)));
            self.latest.insert(hash, old.max(seq));
        }
    }

    fn remove(&mut self, hash: IdHash, seq: u64) {
        if self.latest.get(&hash) == Some(&seq) {
            self.latest.remove(&hash);
        }
        if !self.displaced.is_empty() {
            self.displaced.retain(|&entry| entry != (hash, seq));
        }
    }

    fn retain_from(&mut self, first: u64) {
        self.latest.retain(|_, seq| *seq >= first);
        self.displaced.retain(|(_, seq)| *seq >= first);
    }

    fn seqs(&self, hash: IdHash) -> impl Iterator<Item = u64> + '_ {
        let displaced = self.displaced.iter().filter(move |(h, _)| *h == hash);
        self.latest
            .get(&hash)
            .copied()
            .into_iter()
            .chain(displaced.map(|&(_, seq)| seq))
    }
}

/// The on-disk event-id index with its writer thread.
pub struct EventIndex {
    pending: Arc<Mutex<Pending>>,
    reader: Mutex<Connection>,
    commands: Mutex<Option<Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: String,
}

enum Command {
    Add(Vec<(IdHash, u64)>),
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
                     hash INTEGER NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS events_by_hash ON events (hash);",
            )
            .map_err(fail)?;
        // Indexes written before 0.2 kept each id beside its hash.
        let has_ids: bool = writer_conn
            .query_row(
                "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'id'",
                [],
                |row| row.get(0),
            )
            .map_err(fail)?;
        if has_ids {
            writer_conn
                .execute_batch("ALTER TABLE events DROP COLUMN id; VACUUM;")
                .map_err(fail)?;
        }
        writer_conn
            .execute(
                "DELETE FROM events WHERE seq < ?1 OR seq > ?2",
                params![as_sql(*retained.start()), as_sql(*retained.end())],
            )
            .map_err(fail)?;
        let reader = Connection::open(path).map_err(fail)?;
        let pending = Arc::new(Mutex::new(Pending::default()));
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

    /// Record that the events `entries` (id hash, sequence) are durable.
    pub fn add(&self, entries: Vec<(IdHash, u64)>) {
        if entries.is_empty() {
            return;
        }
        {
            let mut pending = self.lock_pending();
            for &(hash, seq) in &entries {
                pending.insert(hash, seq);
            }
        }
        self.send(Command::Add(entries));
    }

    /// Forget every entry below `seq` (retention removed those segments).
    pub fn remove_before(&self, seq: u64) {
        self.lock_pending().retain_from(seq);
        self.send(Command::RemoveBefore(seq));
    }

    /// Wait until everything added so far is written.
    pub fn flush(&self) {
        let (tx, rx) = channel();
        self.send(Command::Flush(tx));
        // The writer may be sleeping out its gathering window.
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

    /// The highest sequence number written to disk (0 if none): the recovery
    /// scan indexes what comes after it.
    pub fn high_water(&self) -> Result<u64, IndexError> {
        self.read(|c| c.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0)))
    }

    /// Where event `id` may be in the journal: the sequences filed under its
    /// hash, latest first. The caller reads them and keeps the record whose
    /// id is `id` (the latest, if the id repeats); usually there is one.
    pub fn candidates(&self, id: &str) -> Result<Vec<u64>, IndexError> {
        let hash = IdHash::of(id);
        let mut seqs: Vec<u64> = self.lock_pending().seqs(hash).collect();
        let stored = self.read(|c| {
            c.prepare_cached("SELECT seq FROM events WHERE hash = ?1 ORDER BY seq DESC")?
                .query_map([hash.0], |r| r.get::<_, u64>(0))?
                .collect::<Result<Vec<u64>, _>>()
        })?;
        seqs.extend(stored);
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        Ok(seqs)
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

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
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
            writer.thread().unpark();
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
///
/// It sleeps out the window instead of waiting on the channel: a sender
/// then never wakes this thread (a wake per `add` cost every accepted event
/// and every read's access record a context switch); [`EventIndex::flush`]
/// and the index's drop unpark it.
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
        match commands.try_recv() {
            Ok(command) => {
                entries += size(&command);
                flush = matches!(command, Command::Flush(_));
                batch.push(command);
            }
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                std::thread::park_timeout(wait);
            }
        }
    }
    batch
}

/// The writer thread: gathers commands, applies them in one transaction,
/// then drops the written entries from `pending`.
fn write_loop(
    mut conn: Connection,
    commands: Receiver<Command>,
    pending: &Mutex<Pending>,
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
        written.sort_unstable();
        let result = (|| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT OR REPLACE INTO events (seq, hash) VALUES (?1, ?2)")?;
                for (hash, seq) in &written {
                    insert.execute(params![as_sql(*seq), hash.0])?;
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
            for (hash, seq) in written {
                pending.remove(hash, seq);
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: RangeInclusive<u64> = 0..=u64::MAX;

    fn entries(ids: &[(&str, u64)]) -> Vec<(IdHash, u64)> {
        ids.iter().map(|&(id, seq)| (IdHash::of(id), seq)).collect()
    }

    fn found(index: &EventIndex, id: &str) -> Vec<u64> {
        index.candidates(id).expect("candidates")
    }

    #[test]
    fn entries_are_found_before_and_after_they_are_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add(entries(&[("a", 1), ("b", 2)]));
        assert_eq!(found(&index, "a"), [1]);
        index.flush();
        assert_eq!(index.pending(), 0, "written entries leave memory");
        assert_eq!(found(&index, "b"), [2]);
        assert!(found(&index, "c").is_empty());
        assert_eq!(index.high_water().expect("high water"), 2);
    }

    #[test]
    fn a_repeated_id_gives_its_latest_event_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        index.add(entries(&[("a", 1)]));
        index.add(entries(&[("a", 5)]));
        assert_eq!(found(&index, "a"), [5, 1], "while pending");
        index.flush();
        assert_eq!(found(&index, "a"), [5, 1], "once written");
    }

    #[test]
    fn removed_entries_are_gone_from_memory_and_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        let ids: Vec<String> = (1..=10).map(|s| format!("e{s}")).collect();
        index.add(
            ids.iter()
                .zip(1..)
                .map(|(id, seq)| (IdHash::of(id), seq))
                .collect(),
        );
        index.remove_before(6);
        assert!(found(&index, "e3").is_empty());
        index.flush();
        assert!(found(&index, "e5").is_empty());
        assert_eq!(found(&index, "e6"), [6]);
    }

    #[test]
    fn the_index_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("i.sqlite");
        {
            let index = EventIndex::open(&path, ALL).expect("open");
            index.add(entries(&[("a", 7)]));
        }
        let index = EventIndex::open(&path, ALL).expect("reopen");
        assert_eq!(found(&index, "a"), [7]);
        assert_eq!(index.high_water().expect("high water"), 7);
    }

    #[test]
    fn entries_outside_the_retained_journal_are_dropped_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("i.sqlite");
        let ids: Vec<String> = (1..=9).map(|s| format!("e{s}")).collect();
        {
            let index = EventIndex::open(&path, ALL).expect("open");
            index.add(
                ids.iter()
                    .zip(1..)
                    .map(|(id, seq)| (IdHash::of(id), seq))
                    .collect(),
            );
        }
        let index = EventIndex::open(&path, 3..=7).expect("reopen");
        assert!(found(&index, "e2").is_empty(), "retention removed it");
        assert!(found(&index, "e8").is_empty(), "the journal lost it");
        assert_eq!(found(&index, "e5"), [5]);
        assert_eq!(index.high_water().expect("high water"), 7);
    }

    #[test]
    fn colliding_hashes_give_every_candidate_latest_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let index = EventIndex::open(&dir.path().join("i.sqlite"), ALL).expect("open");
        let x = IdHash::of("x");
        // Two events under one hash while pending, as a collision would file
        // them, then a third planted on disk.
        index.add(vec![(x, 1), (x, 3)]);
        assert_eq!(found(&index, "x"), [3, 1]);
        index.flush();
        index
            .read(|c| c.execute("INSERT INTO events (seq, hash) VALUES (2, ?1)", [x.0]))
            .expect("plant");
        assert_eq!(found(&index, "x"), [3, 2, 1]);
        assert!(found(&index, "y").is_empty());
    }

    #[test]
    fn an_index_that_kept_ids_is_migrated_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("i.sqlite");
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(
                "CREATE TABLE events (seq INTEGER PRIMARY KEY, hash INTEGER NOT NULL, id TEXT NOT NULL);
                 CREATE INDEX events_by_hash ON events (hash);",
            )
            .expect("old schema");
            conn.execute(
                "INSERT INTO events (seq, hash, id) VALUES (4, ?1, 'old')",
                [IdHash::of("old").0],
            )
            .expect("old row");
        }
        let index = EventIndex::open(&path, ALL).expect("open");
        assert_eq!(found(&index, "old"), [4]);
        assert_eq!(index.high_water().expect("high water"), 4);
        index.add(entries(&[("new", 5)]));
        index.flush();
        assert_eq!(found(&index, "new"), [5]);
    }
}
