//! The dead-letter store: deliveries that failed for good, with the event
//! itself (so they outlive journal retention) and the last error, until an
//! operator replays or purges them. SQLite, next to the other embedded data.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A dead-letter store failure.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter store: {0}")]
pub struct DeadLetterError(#[from] rusqlite::Error);

/// One dead-lettered delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeadLetter {
    /// Store-assigned id.
    pub id: i64,
    /// Journal sequence number of the event.
    pub seq: u64,
    /// The event id.
    pub event_id: String,
    /// The rule whose delivery failed.
    pub rule: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it was dead-lettered (ms since epoch).
    pub failed_at: i64,
    /// The event envelope as JSON.
    pub event: String,
}

/// SQLite-backed dead letters.
pub struct DeadLetters {
    conn: Mutex<Connection>,
}

impl DeadLetters {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<DeadLetters, DeadLetterError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS dead_letters (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 seq INTEGER NOT NULL,
                 event_id TEXT NOT NULL,
                 rule TEXT NOT NULL,
                 attempts INTEGER NOT NULL,
                 error TEXT NOT NULL,
                 failed_at INTEGER NOT NULL,
                 event TEXT NOT NULL,
                 UNIQUE (seq, rule)
             );
             CREATE INDEX IF NOT EXISTS dead_letters_rule ON dead_letters (rule, id);",
        )?;
        Ok(DeadLetters {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store a dead letter (replacing an earlier one for the same event and rule).
    pub fn insert(&self, d: &DeadLetter) -> Result<i64, DeadLetterError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO dead_letters (seq, event_id, rule, attempts, error, failed_at, event)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (seq, rule) DO UPDATE SET attempts = excluded.attempts,
                 error = excluded.error, failed_at = excluded.failed_at",
            params![
                d.seq as i64,
                d.event_id,
                d.rule,
                d.attempts,
                d.error,
                d.failed_at,
                d.event
            ],
        )?;
        Ok(conn.query_row(
            "SELECT id FROM dead_letters WHERE seq = ?1 AND rule = ?2",
            params![d.seq as i64, d.rule],
            |r| r.get(0),
        )?)
    }

    /// List dead letters, oldest first, optionally for one rule.
    pub fn list(
        &self,
        rule: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, seq, event_id, rule, attempts, error, failed_at, event FROM dead_letters
             WHERE (?1 IS NULL OR rule = ?1) ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![rule, limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One dead letter by id.
    pub fn get(&self, id: i64) -> Result<Option<DeadLetter>, DeadLetterError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, seq, event_id, rule, attempts, error, failed_at, event FROM dead_letters WHERE id = ?1",
                params![id],
                row,
            )
            .optional()?)
    }

    /// Remove dead letters by id; returns how many were removed.
    pub fn remove(&self, ids: &[i64]) -> Result<usize, DeadLetterError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut n = 0;
        for id in ids {
            n += tx.execute("DELETE FROM dead_letters WHERE id = ?1", params![id])?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Count dead letters, optionally for one rule.
    pub fn count(&self, rule: Option<&str>) -> Result<u64, DeadLetterError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM dead_letters WHERE (?1 IS NULL OR rule = ?1)",
            params![rule],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.get(0)?,
        seq: r.get::<_, i64>(1)? as u64,
        event_id: r.get(2)?,
        rule: r.get(3)?,
        attempts: r.get(4)?,
        error: r.get(5)?,
        failed_at: r.get(6)?,
        event: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(seq: u64, rule: &str) -> DeadLetter {
        DeadLetter {
            id: 0,
            seq,
            event_id: format!("e{seq}"),
            rule: rule.into(),
            attempts: 3,
            error: "boom".into(),
            failed_at: 1,
            event: "{}".into(),
        }
    }

    #[test]
    fn insert_list_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetters::open(&dir.path().join("dlq.sqlite")).unwrap();
        let a = store.insert(&letter(1, "a")).unwrap();
        let b = store.insert(&letter(2, "b")).unwrap();
        assert_eq!(
            store.insert(&letter(1, "a")).unwrap(),
            a,
            "same delivery, same row"
        );
        assert_eq!(store.count(None).unwrap(), 2);
        assert_eq!(store.list(Some("b"), 10).unwrap()[0].id, b);
        assert_eq!(store.get(a).unwrap().unwrap().event_id, "e1");
        assert_eq!(store.remove(&[a, 999]).unwrap(), 1);
        assert_eq!(store.count(None).unwrap(), 1);
        drop(store);
        let reopened = DeadLetters::open(&dir.path().join("dlq.sqlite")).unwrap();
        assert_eq!(reopened.count(Some("b")).unwrap(), 1);
    }
}
