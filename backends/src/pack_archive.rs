//! An [`ArchiveStore`] that appends bodies to pack files and finds them
//! through an index, instead of creating a file (and its directories) per
//! key.
//!
//! A file per key costs a temp file, a write, a rename and often a `mkdir`
//! per body: tens of microseconds of file-system work for a 1 KiB body,
//! most of the archive's cost at tens of thousands of events a second. Here
//! a batch of puts ([`ArchiveStore::put_many`]) is one `write` to the current
//! pack and one SQLite transaction on the index.
//!
//! Layout, under the archive root (`<data>/archive`):
//!
//! - `.packs/pack-000001.bin`, … : records appended in order, each
//!   `TMB1` | key length (u32 LE) | body length (u32 LE) | CRC-32 of the body
//!   (u32 LE) | key | body. A pack is closed at [`PACK_LIMIT`] bytes and the
//!   next one started. The key in each record lets the index be rebuilt
//!   from the packs alone.
//! - `.packs/index.sqlite`: `bodies(hash, key, pack, offset, len, crc32,
//!   content_type)`, the offset being the body's, in arrival order, found
//!   through an index on `hash` (the first 8 bytes of the key's SHA-256).
//!   Keys hold entity ids, so an index on the keys themselves took inserts
//!   at random places in a B-tree of ~100-byte entries: about one page
//!   written per body. The hash index's entries are 16 bytes, so the pages
//!   a batch dirties are a fraction of that. Version 1 of the index (keyed
//!   by the key) is rewritten to this at open.
//! - Files of the `files` layout (key `a/b/c` at `<root>/a/b/c`), from an
//!   archive written before packs: still read, and still never overwritten.
//!
//! Keys, `get` and write-once semantics are those of [`FsArchive`]: a body
//! is never replaced; the same bytes again succeed, different bytes are
//! [`BackendError::Invalid`]. A body whose bytes no longer match their
//! CRC (a write torn by a power cut before its sync) is treated as absent:
//! the next put of that key stores it again.
//!
//! Durability: in [`Durability::EachWrite`] mode every put is on disk when
//! it returns (the pack is `fdatasync`ed before the index commits, with
//! `synchronous = FULL`); in [`Durability::Batched`] mode puts return once
//! written into the pack and into the index's open transaction, and
//! [`ArchiveStore::sync`] commits that transaction and makes everything
//! durable with one `syncfs`. Rows SQLite rolls back before then are kept in
//! memory and written again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::durability::Unsynced;
use crate::{
    ArchivePut, ArchiveStore, BackendError, BackendResult, Durability, FsArchive, validate_key,
};

/// The directory of the packs and their index, under the archive root.
pub const PACKS_DIR: &str = ".packs";
/// A pack is closed once it holds this many bytes (256 MiB).
pub const PACK_LIMIT: u64 = 256 << 20;
/// The start of every record.
const MAGIC: &[u8; 4] = b"TMB1";
/// Magic, key length, body length, CRC.
const HEADER: usize = 16;

/// Pack-file archive; see the [module docs](self).
#[derive(Debug)]
pub struct PackArchive {
    root: PathBuf,
    packs: PathBuf,
    /// Reads (and write-once checks) of bodies stored as files before packs.
    files: Option<FsArchive>,
    writer: Mutex<Writer>,
    /// `Some` in [`Durability::Batched`] mode.
    unsynced: Option<Unsynced>,
}

/// The pack being appended to and the index.
#[derive(Debug)]
struct Writer {
    index: Connection,
    pack: u32,
    file: File,
    len: u64,
    durability: Durability,
    /// Batched mode: index rows inserted into the open transaction since
    /// its last commit, written again if SQLite rolled it back.
    uncommitted: Vec<Row>,
}

/// An index row.
#[derive(Debug, Clone)]
struct Row {
    key: String,
    at: Location,
    content_type: String,
    /// The body's event: what retention expires it by (`None`: kept).
    owner: Option<Owner>,
}

/// [`crate::BodyOwner`], owned: an index row's retention columns.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub(crate) source: String,
    pub(crate) entity_type: String,
    pub(crate) entity_id: String,
    pub(crate) ts: i64,
}

/// Most index rows a batched writer keeps uncommitted.
const MAX_UNCOMMITTED: usize = 8192;

const INSERT: &str = "INSERT INTO bodies (hash, key, pack, offset, len, crc32, content_type)
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

const INSERT_OWNED: &str = "INSERT INTO bodies (hash, key, pack, offset, len, crc32, content_type,
                                                source, entity_type, entity_id, ts)
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The index's schema version (`PRAGMA user_version`): 3 adds each body's
/// event (source, entity, ts) for retention, NULL in rows from before;
/// 2 is rows in arrival order found by `hash`; 1 (stored as 0) was rows
/// keyed by `key`.
const INDEX_VERSION: i64 = 3;

/// The index's hash of `key`: the first 8 bytes of its SHA-256. Producers
/// choose entity ids, so a hash they could collide at will would let them
/// pile rows onto one index entry.
fn key_hash(key: &str) -> i64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

impl Writer {
    /// Insert `row`; false when its key is already indexed. Only this
    /// writer inserts (it holds the archive's lock), so looking first is
    /// enough to keep keys unique.
    fn insert(&self, row: &Row) -> BackendResult<bool> {
        if lookup(&self.index, &row.key)?.is_some() {
            return Ok(false);
        }
        let at = row.at;
        let owner = row.owner.as_ref();
        self.index
            .prepare_cached(INSERT_OWNED)
            .and_then(|mut insert| {
                insert.execute(params![
                    key_hash(&row.key),
                    row.key,
                    at.pack,
                    at.offset,
                    at.len,
                    at.crc,
                    row.content_type,
                    owner.map(|o| &o.source),
                    owner.map(|o| &o.entity_type),
                    owner.map(|o| &o.entity_id),
                    owner.map(|o| o.ts),
                ])
            })
            .map_err(index_error)?;
        Ok(true)
    }

    /// Batched mode: open a transaction if none is, writing again the rows
    /// of one SQLite rolled back.
    fn begin(&mut self) -> BackendResult<()> {
        if !self.index.is_autocommit() {
            return Ok(());
        }
        self.index.execute_batch("BEGIN").map_err(index_error)?;
        for row in &self.uncommitted {
            self.insert(row)?;
        }
        Ok(())
    }

    /// Commit the open transaction, if any.
    fn commit(&mut self) -> BackendResult<()> {
        if self.index.is_autocommit() && self.uncommitted.is_empty() {
            return Ok(());
        }
        self.begin()?;
        match self.index.execute_batch("COMMIT") {
            Ok(()) => {
                self.uncommitted.clear();
                Ok(())
            }
            Err(e) => {
                if !self.index.is_autocommit() {
                    let _ = self.index.execute_batch("ROLLBACK");
                }
                Err(index_error(e))
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::warn!(error = %e, "archive: the index's last rows were not committed at close; their bodies will be stored again when redelivered");
        }
    }
}

/// Where an indexed body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Location {
    pack: u32,
    offset: u64,
    len: u32,
    crc: u32,
}

fn lock(writer: &Mutex<Writer>) -> MutexGuard<'_, Writer> {
    writer.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(what: &str, path: &Path, e: io::Error) -> BackendError {
    BackendError::Transient(format!("archive: {what} {}: {e}", path.display()))
}

fn index_error(e: rusqlite::Error) -> BackendError {
    BackendError::Transient(format!("archive index: {e}"))
}

fn pack_name(pack: u32) -> String {
    format!("pack-{pack:06}.bin")
}

impl PackArchive {
    /// Open (creating it if missing) the archive at `root`.
    pub fn open_with(root: impl Into<PathBuf>, durability: Durability) -> BackendResult<Self> {
        let root = root.into();
        let packs = root.join(PACKS_DIR);
        fs::create_dir_all(&packs).map_err(|e| io_error("create", &packs, e))?;
        let has_files = fs::read_dir(&root)
            .map_err(|e| io_error("list", &root, e))?
            .filter_map(Result::ok)
            .any(|entry| entry.file_name() != PACKS_DIR);
        let files = if has_files {
            Some(FsArchive::open_with(&root, durability)?)
        } else {
            None
        };
        let index = open_index(&packs.join("index.sqlite"), durability)?;
        // The newest row's pack (rows are in arrival order; a healed row
        // moved to a newer pack is covered by the pack files on disk).
        let pack: u32 = index
            .query_row(
                "SELECT pack FROM bodies ORDER BY rowid DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(index_error)?
            .unwrap_or(1);
        // Start after the highest pack on disk too: one whose records were
        // written but never indexed (a crash) is not appended to blindly.
        let pack = pack.max(highest_pack(&packs)?);
        let (file, len) = open_pack(&packs, pack)?;
        let unsynced = match durability {
            Durability::EachWrite => None,
            Durability::Batched => Some(Unsynced::new(&root)),
        };
        Ok(PackArchive {
            root,
            packs,
            files,
            writer: Mutex::new(Writer {
                index,
                pack,
                file,
                len,
                durability,
                uncommitted: Vec::new(),
            }),
            unsynced,
        })
    }

    /// The archive's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every key in the packs' index, with whether its body reads back
    /// intact (its CRC matches), in the order they were stored. For
    /// `trailmark verify`.
    pub fn scan(root: &Path, mut each: impl FnMut(&str, Result<(), String>)) -> BackendResult<()> {
        let packs = root.join(PACKS_DIR);
        let path = packs.join("index.sqlite");
        if !path.is_file() {
            return Ok(());
        }
        let index = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(index_error)?;
        let mut rows = index
            .prepare("SELECT key, pack, offset, len, crc32 FROM bodies ORDER BY rowid")
            .map_err(index_error)?;
        let mut rows = rows.query([]).map_err(index_error)?;
        while let Some(row) = rows.next().map_err(index_error)? {
            let key: String = row.get(0).map_err(index_error)?;
            let at = Location {
                pack: row.get(1).map_err(index_error)?,
                offset: row.get(2).map_err(index_error)?,
                len: row.get(3).map_err(index_error)?,
                crc: row.get(4).map_err(index_error)?,
            };
            let check = read_body(&packs, at).and_then(|body| match body {
                Some(_) => Ok(()),
                None => Err(BackendError::Invalid(format!(
                    "its bytes in {} at {} no longer match their CRC-32",
                    pack_name(at.pack),
                    at.offset
                ))),
            });
            each(&key, check.map_err(|e| e.to_string()));
        }
        Ok(())
    }

    /// The indexed body of `key`: `Ok(None)` when the index has no such
    /// key, an error when its bytes are damaged.
    fn get_indexed(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let at = lookup(&lock(&self.writer).index, key)?;
        let Some(at) = at else {
            return Ok(None);
        };
        match read_body(&self.packs, at)? {
            Some(body) => Ok(Some(body)),
            None => Err(BackendError::Invalid(format!(
                "archive key {key:?}: its bytes in {} no longer match their CRC-32 \
                 (a write torn by a power cut, or damage); the next put of the key stores it again",
                pack_name(at.pack)
            ))),
        }
    }

    /// The body stored as a file before packs, if any (never for keys
    /// under the packs directory's name).
    fn get_file(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        match &self.files {
            Some(files) if key.split('/').next() != Some(PACKS_DIR) => files.get(key),
            _ => Ok(None),
        }
    }
}

fn open_index(path: &Path, durability: Durability) -> BackendResult<Connection> {
    let mut index = Connection::open(path).map_err(index_error)?;
    let synchronous = match durability {
        Durability::EachWrite => "FULL",
        Durability::Batched => "NORMAL",
    };
    index
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA cache_size = -32768;
             PRAGMA wal_autocheckpoint = 8192;"
        ))
        .map_err(index_error)?;
    migrate_index(&mut index, path)?;
    Ok(index)
}

/// Bring the index to [`INDEX_VERSION`] in one transaction: create it, or
/// rewrite a version 1 index (rows keyed by `key`) in pack order.
fn migrate_index(index: &mut Connection, path: &Path) -> BackendResult<()> {
    let version: i64 = index
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(index_error)?;
    if version == INDEX_VERSION {
        return Ok(());
    }
    if version > INDEX_VERSION {
        return Err(BackendError::Invalid(format!(
            "archive index {} has version {version}; this Trailmark reads up to \
             {INDEX_VERSION}: upgrade Trailmark",
            path.display()
        )));
    }
    let tx = index
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(index_error)?;
    if version < 2 {
        to_version_2(&tx, path)?;
    }
    // Version 3: each body's event, for retention. Rows from before have
    // NULLs and are never expired. `pack` is indexed so that a pass finds
    // out whether a pack still holds a live body.
    tx.execute_batch(
        "ALTER TABLE bodies ADD COLUMN source TEXT;
         ALTER TABLE bodies ADD COLUMN entity_type TEXT;
         ALTER TABLE bodies ADD COLUMN entity_id TEXT;
         ALTER TABLE bodies ADD COLUMN ts INTEGER;
         CREATE INDEX bodies_by_ts ON bodies (ts) WHERE ts IS NOT NULL;
         CREATE INDEX bodies_by_pack ON bodies (pack);",
    )
    .map_err(index_error)?;
    tx.pragma_update(None, "user_version", INDEX_VERSION)
        .map_err(index_error)?;
    tx.commit().map_err(index_error)
}

/// Create the version 2 table, from a version 1 one if there is one.
fn to_version_2(tx: &rusqlite::Transaction<'_>, path: &Path) -> BackendResult<()> {
    tx.execute_batch(
        "CREATE TABLE bodies_v2 (
             hash INTEGER NOT NULL,
             key TEXT NOT NULL,
             pack INTEGER NOT NULL,
             offset INTEGER NOT NULL,
             len INTEGER NOT NULL,
             crc32 INTEGER NOT NULL,
             content_type TEXT NOT NULL
         );",
    )
    .map_err(index_error)?;
    let version_1: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'bodies'",
            [],
            |row| row.get(0),
        )
        .map_err(index_error)?;
    if version_1 {
        let mut rows = tx
            .prepare(
                "SELECT key, pack, offset, len, crc32, content_type FROM bodies
                 ORDER BY pack, offset",
            )
            .map_err(index_error)?;
        let mut insert = tx
            .prepare(&INSERT.replace("INTO bodies", "INTO bodies_v2"))
            .map_err(index_error)?;
        let mut rows = rows.query([]).map_err(index_error)?;
        let mut moved = 0_u64;
        while let Some(row) = rows.next().map_err(index_error)? {
            let key: String = row.get(0).map_err(index_error)?;
            insert
                .execute(params![
                    key_hash(&key),
                    key,
                    row.get::<_, i64>(1).map_err(index_error)?,
                    row.get::<_, i64>(2).map_err(index_error)?,
                    row.get::<_, i64>(3).map_err(index_error)?,
                    row.get::<_, i64>(4).map_err(index_error)?,
                    row.get::<_, String>(5).map_err(index_error)?,
                ])
                .map_err(index_error)?;
            moved += 1;
        }
        drop((rows, insert));
        tx.execute_batch("DROP TABLE bodies;")
            .map_err(index_error)?;
        tracing::info!(path = %path.display(), rows = moved, "archive index rewritten to version 2");
    }
    tx.execute_batch(
        "ALTER TABLE bodies_v2 RENAME TO bodies;
         CREATE INDEX bodies_by_hash ON bodies (hash);",
    )
    .map_err(index_error)
}

/// The highest pack number in `packs`, or 1.
fn highest_pack(packs: &Path) -> BackendResult<u32> {
    let mut highest = 1;
    for entry in fs::read_dir(packs).map_err(|e| io_error("list", packs, e))? {
        let entry = entry.map_err(|e| io_error("list", packs, e))?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("pack-"))
            .and_then(|n| n.strip_suffix(".bin"))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = number {
            highest = highest.max(number);
        }
    }
    Ok(highest)
}

fn open_pack(packs: &Path, pack: u32) -> BackendResult<(File, u64)> {
    let path = packs.join(pack_name(pack));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    let len = file
        .metadata()
        .map_err(|e| io_error("stat", &path, e))?
        .len();
    Ok((file, len))
}

fn lookup(index: &Connection, key: &str) -> BackendResult<Option<Location>> {
    index
        .prepare_cached("SELECT pack, offset, len, crc32 FROM bodies WHERE hash = ?1 AND key = ?2")
        .map_err(index_error)?
        .query_row(params![key_hash(key), key], |row| {
            Ok(Location {
                pack: row.get(0)?,
                offset: row.get(1)?,
                len: row.get(2)?,
                crc: row.get(3)?,
            })
        })
        .optional()
        .map_err(index_error)
}

/// The body at `at`, or `None` when its bytes do not match their CRC.
fn read_body(packs: &Path, at: Location) -> BackendResult<Option<Vec<u8>>> {
    let path = packs.join(pack_name(at.pack));
    let file = File::open(&path).map_err(|e| io_error("open", &path, e))?;
    let mut body = vec![0; at.len as usize];
    match file.read_exact_at(&mut body, at.offset) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(io_error("read", &path, e)),
    }
    Ok((crc32fast::hash(&body) == at.crc).then_some(body))
}

/// One put's fate within a batch.
enum Plan {
    /// Decided already (stored before, or refused).
    Done(BackendResult<()>),
    /// To append: where its body will be.
    Append(Location),
    /// The same key and bytes as put `j` of the batch: its fate.
    SameAs(usize),
}

impl Writer {
    /// Start the next pack if this one is full.
    /// After an append that failed part way (a full disk): truncate the
    /// pack back to its indexed end. When even that fails, go on after the
    /// torn bytes (unindexed, never read), or in a new pack when the
    /// length cannot be read either.
    fn cut_torn_append(&mut self, path: &Path) {
        if let Err(e) = self.file.set_len(self.len) {
            tracing::warn!(path = %path.display(), error = %e, "archive: cannot cut a failed append; continuing after it");
            self.len = self.file.metadata().map_or(PACK_LIMIT, |m| m.len());
        }
    }

    fn rotate(&mut self, packs: &Path) -> BackendResult<()> {
        if self.len < PACK_LIMIT {
            return Ok(());
        }
        let (file, len) = open_pack(packs, self.pack + 1)?;
        self.pack += 1;
        self.file = file;
        self.len = len;
        Ok(())
    }
}

fn different(key: &str) -> BackendError {
    BackendError::Invalid(format!(
        "archive key {key:?} already holds a different body; a stored body is never \
         replaced (use a key with the event id, such as the default \
         `{{source}}/{{entity-type}}/{{entity-id}}/{{ts}}-{{operation}}-{{id}}.json`)"
    ))
}

impl ArchiveStore for PackArchive {
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()> {
        self.put_many(&[ArchivePut {
            key,
            body,
            content_type,
            owner: None,
        }])
        .pop()
        .unwrap_or_else(|| Err(BackendError::Transient("archive: no outcome".into())))
    }

    fn put_many(&self, puts: &[ArchivePut<'_>]) -> Vec<BackendResult<()>> {
        let mut writer = lock(&self.writer);
        match self.append(&mut writer, puts) {
            Ok(results) => results,
            Err(e) => puts.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        validate_key(key)?;
        match self.get_indexed(key)? {
            Some(body) => Ok(Some(body)),
            None => self.get_file(key),
        }
    }

    fn sync(&self) -> BackendResult<()> {
        match &self.unsynced {
            Some(unsynced) => {
                lock(&self.writer).commit()?;
                unsynced.sync()
            }
            None => Ok(()),
        }
    }

    fn expiring(&self) -> Option<&dyn trailmark_backend_api::Expiring> {
        Some(self)
    }
}

impl PackArchive {
    /// Decide each put, append the new bodies in one write, index them in
    /// one transaction.
    fn append(
        &self,
        writer: &mut Writer,
        puts: &[ArchivePut<'_>],
    ) -> BackendResult<Vec<BackendResult<()>>> {
        writer.rotate(&self.packs)?;
        let mut buffer = Vec::new();
        let mut plans = Vec::with_capacity(puts.len());
        for i in 0..puts.len() {
            let plan = self.plan(writer, puts, &plans, i, &mut buffer)?;
            plans.push(plan);
        }
        if !buffer.is_empty() {
            let path = self.packs.join(pack_name(writer.pack));
            if let Err(e) = writer.file.write_all(&buffer) {
                // A full disk takes part of the write: cut it, or the next
                // append's bodies land after it, not at their offsets.
                writer.cut_torn_append(&path);
                return Err(io_error("append to", &path, e));
            }
            // The bytes are in the file whether or not the sync succeeds.
            writer.len += buffer.len() as u64;
            if writer.durability == Durability::EachWrite {
                writer
                    .file
                    .sync_data()
                    .map_err(|e| io_error("sync", &path, e))?;
            }
            // Each write mode's transaction: one per batch when every put
            // must be durable, else one kept open until `sync`.
            let batched = writer.durability == Durability::Batched;
            if batched {
                writer.begin()?;
            } else {
                writer.index.execute_batch("BEGIN").map_err(index_error)?;
            }
            for (put, plan) in puts.iter().zip(&mut plans) {
                let Plan::Append(at) = *plan else { continue };
                let row = Row {
                    key: put.key.to_owned(),
                    at,
                    content_type: put.content_type.to_owned(),
                    owner: put.owner.map(|o| Owner {
                        source: o.source.to_owned(),
                        entity_type: o.entity_type.to_owned(),
                        entity_id: o.entity_id.to_owned(),
                        ts: o.ts,
                    }),
                };
                // Most keys are new: insert, and only when the key is taken
                // (a redelivery) look at what it holds.
                if writer.insert(&row)? {
                    if batched {
                        writer.uncommitted.push(row);
                    }
                } else {
                    let (fate, replaced) = self.taken(writer, *put, at)?;
                    if replaced && batched {
                        writer.uncommitted.push(row);
                    }
                    *plan = Plan::Done(fate);
                }
            }
            if !batched || writer.uncommitted.len() >= MAX_UNCOMMITTED {
                writer.commit()?;
            }
            if let Some(unsynced) = &self.unsynced {
                unsynced.wrote();
            }
        }
        let fate = |plan: &Plan| match plan {
            Plan::Done(result) => result.clone(),
            Plan::Append(_) => Ok(()),
            Plan::SameAs(_) => Ok(()),
        };
        Ok(plans
            .iter()
            .map(|plan| match plan {
                Plan::SameAs(j) => fate(&plans[*j]),
                other => fate(other),
            })
            .collect())
    }

    /// The fate of a put whose key the index already holds: the same bytes
    /// are a success (the appended copy is left unused), different bytes
    /// are refused, and a torn body is replaced by the appended one (then
    /// the second value is true).
    fn taken(
        &self,
        writer: &Writer,
        put: ArchivePut<'_>,
        appended: Location,
    ) -> BackendResult<(BackendResult<()>, bool)> {
        let Some(stored) = lookup(&writer.index, put.key)? else {
            return Ok((
                Err(BackendError::Transient(format!(
                    "archive key {:?}: the index refused it but does not hold it",
                    put.key
                ))),
                false,
            ));
        };
        match read_body(&self.packs, stored)? {
            Some(body) if body == put.body => Ok((Ok(()), false)),
            Some(_) => Ok((Err(different(put.key)), false)),
            None => {
                writer
                    .index
                    .execute(
                        "UPDATE bodies SET pack = ?3, offset = ?4, len = ?5, crc32 = ?6,
                     content_type = ?7 WHERE hash = ?1 AND key = ?2",
                        params![
                            key_hash(put.key),
                            put.key,
                            appended.pack,
                            appended.offset,
                            appended.len,
                            appended.crc,
                            put.content_type
                        ],
                    )
                    .map_err(index_error)?;
                Ok((Ok(()), true))
            }
        }
    }

    /// What to do with put `i`, given the ones before it in the batch.
    fn plan(
        &self,
        writer: &Writer,
        puts: &[ArchivePut<'_>],
        earlier: &[Plan],
        i: usize,
        buffer: &mut Vec<u8>,
    ) -> BackendResult<Plan> {
        let put = puts[i];
        if let Err(e) = validate_key(put.key) {
            return Ok(Plan::Done(Err(e)));
        }
        let Ok(len) = u32::try_from(put.body.len()) else {
            return Ok(Plan::Done(Err(BackendError::Invalid(format!(
                "archive key {:?}: a body of {} bytes is over 4 GiB",
                put.key,
                put.body.len()
            )))));
        };
        // The same key earlier in this batch.
        if let Some(j) = puts[..i].iter().rposition(|p| p.key == put.key) {
            return Ok(match &earlier[j] {
                Plan::Done(Err(_)) => Plan::Done(Err(BackendError::Transient(format!(
                    "archive key {:?}: an earlier put of it in this batch failed",
                    put.key
                )))),
                _ if puts[j].body != put.body => Plan::Done(Err(different(put.key))),
                Plan::SameAs(first) => Plan::SameAs(*first),
                _ => Plan::SameAs(j),
            });
        }
        // A body stored as a file before packs (the index is checked when
        // the row is inserted: see `taken`).
        if let Some(stored) = self.get_file(put.key)? {
            return Ok(Plan::Done(if stored == put.body {
                Ok(())
            } else {
                Err(different(put.key))
            }));
        }
        let key_len = u32::try_from(put.key.len()).unwrap_or(u32::MAX);
        let crc = crc32fast::hash(put.body);
        let offset = writer.len + (buffer.len() + HEADER + put.key.len()) as u64;
        buffer.extend_from_slice(MAGIC);
        buffer.extend_from_slice(&key_len.to_le_bytes());
        buffer.extend_from_slice(&len.to_le_bytes());
        buffer.extend_from_slice(&crc.to_le_bytes());
        buffer.extend_from_slice(put.key.as_bytes());
        buffer.extend_from_slice(put.body);
        Ok(Plan::Append(Location {
            pack: writer.pack,
            offset,
            len,
            crc,
        }))
    }
}

#[path = "pack_expire.rs"]
mod expire;

#[cfg(test)]
#[path = "pack_archive_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "pack_expire_tests.rs"]
mod expire_tests;
