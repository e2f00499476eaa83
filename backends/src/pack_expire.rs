//! Retention in the pack archive: delete the index rows an [`Expiry`]
//! covers (bodies with a known event older than the cutoff, not held), a
//! chunk per call in one short transaction under the archive's lock, then
//! reclaim space: a pack no live row points into is deleted, once the
//! deletion of its rows is durable (so a crash never leaves a row pointing
//! into a missing pack). The pack being appended to is never deleted.
//!
//! Rows without an event (stored before index version 3, or put without an
//! owner) are never expired. Dead bodies in a pack that still holds live
//! ones stay on disk until the last one expires: packs are not compacted.

use std::collections::BTreeSet;
use std::fs::{self, File};

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};
use trailmark_backend_api::{Expiring, Expiry};

use super::{PackArchive, index_error, io_error, lock, pack_name};
use crate::BackendResult;

impl Expiring for PackArchive {
    fn expire(&self, expiry: &Expiry<'_>) -> BackendResult<u64> {
        let mut writer = lock(&self.writer);
        // Puts held in a batched writer's open transaction first: the
        // chunk is its own transaction.
        writer.commit()?;
        let (sql, params) = delete_chunk(expiry);
        let index = &writer.index;
        index
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(index_error)?;
        let deleted = index.prepare(&sql).and_then(|mut stmt| {
            stmt.query_map(params_from_iter(params), |row| row.get::<_, u32>(0))?
                .collect::<rusqlite::Result<Vec<u32>>>()
        });
        let packs = match deleted.and_then(|packs| index.execute_batch("COMMIT").map(|()| packs)) {
            Ok(packs) => packs,
            Err(e) => {
                if !index.is_autocommit() {
                    let _ = index.execute_batch("ROLLBACK");
                }
                return Err(index_error(e));
            }
        };
        let removed = packs.len() as u64;
        let touched: BTreeSet<u32> = packs.into_iter().filter(|p| *p != writer.pack).collect();
        let mut empty = Vec::new();
        for pack in touched {
            let live: Option<i64> = index
                .prepare_cached("SELECT 1 FROM bodies WHERE pack = ?1 LIMIT 1")
                .and_then(|mut stmt| stmt.query_row([pack], |row| row.get(0)).optional())
                .map_err(index_error)?;
            if live.is_none() {
                empty.push(pack);
            }
        }
        if removed > 0
            && let Some(unsynced) = &self.unsynced
        {
            unsynced.wrote();
            if !empty.is_empty() {
                // The rows' deletion durable before their packs go.
                unsynced.sync()?;
            }
        }
        for pack in &empty {
            let path = self.packs.join(pack_name(*pack));
            match fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(pack = %path.display(), "archive: pack reclaimed, every body in it expired")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path, e)),
            }
        }
        if !empty.is_empty() {
            File::open(&self.packs)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| io_error("sync", &self.packs, e))?;
        }
        Ok(removed)
    }
}

/// The statement deleting one chunk (returning each deleted row's pack),
/// and its parameters. Rows from before the index knew bodies' times
/// (`ts` NULL) are kept.
fn delete_chunk(expiry: &Expiry<'_>) -> (String, Vec<Value>) {
    crate::expiry_sql::delete_chunk("bodies", expiry, &["ts IS NOT NULL"], "RETURNING pack")
}
