//! Legal holds: entity types (or single entities) whose change records and
//! bodies retention must not remove, kept in `data/holds.sqlite` (each
//! change one transaction, `synchronous = FULL`: a hold that was answered
//! survives a power cut) and in memory for retention passes.
//!
//! A pass reads the holds under a read lock for each chunk it deletes, and
//! adding a hold takes the write lock: once `add` returns, no chunk that
//! could remove what the hold covers is running or will run.

use std::path::Path;
use std::sync::{Mutex, PoisonError, RwLock};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use trailmark_backend_api::Held;
use trailmark_backend_api::when::now_ms;

/// The file, under the data directory.
pub const FILE: &str = "holds.sqlite";

/// What can go wrong with the hold store.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// SQLite failed (the file, the disk).
    #[error("the legal-hold store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A hold names no entity type.
    #[error("a hold needs an entity type")]
    NoEntityType,
}

/// One legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Hold {
    /// Its id (`trailmark hold remove ID`).
    pub id: i64,
    /// The entity type it holds.
    pub entity_type: String,
    /// The one entity it holds; absent: every entity of the type.
    pub entity_id: Option<String>,
    /// Why (a case number, say).
    pub reason: Option<String>,
    /// Who added it (the principal).
    pub by: String,
    /// When it was added (epoch ms).
    pub added_ms: i64,
}

/// The hold store.
#[derive(Debug)]
pub struct Holds {
    conn: Mutex<Connection>,
    /// Every hold, for passes; written only with `conn` held.
    current: RwLock<Vec<Hold>>,
}

impl Holds {
    /// Open or create the store in the data directory `data`.
    pub fn open(data: &Path) -> Result<Holds, HoldError> {
        let conn = Connection::open(data.join(FILE))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS holds (
                 id          INTEGER PRIMARY KEY AUTOINCREMENT,
                 entity_type TEXT    NOT NULL,
                 entity_id   TEXT,
                 reason      TEXT,
                 added_by    TEXT    NOT NULL,
                 added_ms    INTEGER NOT NULL
             );",
        )?;
        let current = read_all(&conn)?;
        Ok(Holds {
            conn: Mutex::new(conn),
            current: RwLock::new(current),
        })
    }

    /// Add a hold, durably; it is in force when this returns.
    pub fn add(
        &self,
        entity_type: &str,
        entity_id: Option<&str>,
        reason: Option<&str>,
        by: &str,
    ) -> Result<Hold, HoldError> {
        if entity_type.trim().is_empty() {
            return Err(HoldError::NoEntityType);
        }
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // Taken before the row is written: a running chunk finishes first.
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let added_ms = now_ms();
        conn.execute(
            "INSERT INTO holds (entity_type, entity_id, reason, added_by, added_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![entity_type, entity_id, reason, by, added_ms],
        )?;
        let hold = Hold {
            id: conn.last_insert_rowid(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.map(str::to_owned),
            reason: reason.map(str::to_owned),
            by: by.to_owned(),
            added_ms,
        };
        current.push(hold.clone());
        Ok(hold)
    }

    /// Remove a hold by id; the hold removed, or `None` when there was none.
    pub fn remove(&self, id: i64) -> Result<Option<Hold>, HoldError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let found = conn
            .query_row(
                "DELETE FROM holds WHERE id = ?1
                 RETURNING id, entity_type, entity_id, reason, added_by, added_ms",
                [id],
                hold_from_row,
            )
            .optional()?;
        if found.is_some() {
            self.current
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|h| h.id != id);
        }
        Ok(found)
    }

    /// Every hold, oldest first.
    pub fn list(&self) -> Vec<Hold> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Run `work` with the holds in force; no hold is added while it runs.
    pub fn during<T>(&self, work: impl FnOnce(&[Held]) -> T) -> T {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let held: Vec<Held> = current
            .iter()
            .map(|h| Held {
                entity_type: h.entity_type.clone(),
                entity_id: h.entity_id.clone(),
            })
            .collect();
        work(&held)
    }
}

fn read_all(conn: &Connection) -> rusqlite::Result<Vec<Hold>> {
    let mut stmt = conn.prepare(
        "SELECT id, entity_type, entity_id, reason, added_by, added_ms FROM holds ORDER BY id",
    )?;
    let rows = stmt.query_map([], hold_from_row)?;
    rows.collect()
}

fn hold_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        id: row.get(0)?,
        entity_type: row.get(1)?,
        entity_id: row.get(2)?,
        reason: row.get(3)?,
        by: row.get(4)?,
        added_ms: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_survive_a_reopen_and_go_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let holds = Holds::open(dir.path()).unwrap();
        let a = holds.add("invoice", None, Some("case 7"), "admin").unwrap();
        let b = holds.add("user", Some("u-1"), None, "admin").unwrap();
        assert!(holds.add(" ", None, None, "admin").is_err());
        drop(holds);
        let holds = Holds::open(dir.path()).unwrap();
        assert_eq!(holds.list(), [a.clone(), b.clone()]);
        let a_id = a.id;
        holds.during(|held| {
            assert!(held[0].covers("invoice", "any"));
            assert!(held[1].covers("user", "u-1") && !held[1].covers("user", "u-2"));
        });
        assert_eq!(holds.remove(a_id).unwrap(), Some(a));
        assert_eq!(holds.remove(a_id).unwrap(), None);
        drop(holds);
        assert_eq!(Holds::open(dir.path()).unwrap().list(), [b]);
    }
}
