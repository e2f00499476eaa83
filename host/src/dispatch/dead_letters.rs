//! The dead-letter store: deliveries that failed for good, with the event
//! itself (so they outlive journal retention) and the last error, until an
//! operator replays or purges them. SQLite, next to the other embedded data.
//!
//! With a sealer that is on ([`DeadLetters::sealed_by`], `[encryption]`), the event and
//! the error are stored sealed (`crate::at_rest`), bound to their delivery and column;
//! rows written before encryption was on read as they are.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::at_rest::{SealError, Sealer};

/// A dead-letter store failure.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// SQLite failed.
    #[error("dead-letter store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A sealed column could not be sealed or opened.
    #[error("dead-letter store: {0}")]
    Seal(#[from] SealError),
}

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
    sealer: Option<Arc<Sealer>>,
}

/// The sealed columns.
#[derive(Clone, Copy)]
enum Column {
    Event,
    Error,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Event => "event",
            Column::Error => "error",
        }
    }
}

/// Associated data of a sealed column: the delivery (event seq and rule) and the column.
fn aad(seq: u64, rule: &str, column: Column) -> Vec<u8> {
    let mut aad = b"trailmark-dead-letter-v1\n".to_vec();
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(column.name().as_bytes());
    aad.push(b'\n');
    aad.extend_from_slice(rule.as_bytes());
    aad
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
            sealer: None,
        })
    }

    /// The store with its event and error columns sealed (and opened) by `sealer`.
    pub fn sealed_by(self, sealer: Arc<Sealer>) -> DeadLetters {
        DeadLetters {
            sealer: Some(sealer),
            ..self
        }
    }

    /// `value` of `column` of the delivery `seq`/`rule` as stored.
    fn seal<'a>(
        &self,
        seq: u64,
        rule: &str,
        column: Column,
        value: &'a str,
    ) -> Result<std::borrow::Cow<'a, str>, SealError> {
        match &self.sealer {
            None => Ok(std::borrow::Cow::Borrowed(value)),
            Some(sealer) => sealer.seal_text(
                &|| {
                    format!(
                        "dead letter of event {seq} for rule {rule:?} ({})",
                        column.name()
                    )
                },
                &aad(seq, rule, column),
                value,
            ),
        }
    }

    /// A stored row with its sealed columns opened.
    fn open_row(&self, mut d: DeadLetter) -> Result<DeadLetter, SealError> {
        let Some(sealer) = &self.sealer else {
            return Ok(d);
        };
        let (id, seq, rule) = (d.id, d.seq, d.rule.clone());
        let what = |column: Column| {
            let rule = rule.clone();
            move || {
                format!(
                    "dead letter {id} of event {seq} for rule {rule:?} ({})",
                    column.name()
                )
            }
        };
        d.event = sealer.open_text(
            &what(Column::Event),
            &aad(seq, &rule, Column::Event),
            d.event,
        )?;
        d.error = sealer.open_text(
            &what(Column::Error),
            &aad(seq, &rule, Column::Error),
            d.error,
        )?;
        Ok(d)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store a dead letter (replacing an earlier one for the same event and rule).
    pub fn insert(&self, d: &DeadLetter) -> Result<i64, DeadLetterError> {
        let error = self.seal(d.seq, &d.rule, Column::Error, &d.error)?;
        let event = self.seal(d.seq, &d.rule, Column::Event, &d.event)?;
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
                error,
                d.failed_at,
                event
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
        let rows: Vec<DeadLetter> = rows.collect::<Result<_, _>>()?;
        drop(stmt);
        drop(conn);
        Ok(rows
            .into_iter()
            .map(|d| self.open_row(d))
            .collect::<Result<_, _>>()?)
    }

    /// One dead letter by id.
    pub fn get(&self, id: i64) -> Result<Option<DeadLetter>, DeadLetterError> {
        let stored = self
            .conn()
            .query_row(
                "SELECT id, seq, event_id, rule, attempts, error, failed_at, event FROM dead_letters WHERE id = ?1",
                params![id],
                row,
            )
            .optional()?;
        Ok(stored.map(|d| self.open_row(d)).transpose()?)
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

    /// A store at `dir` sealed with the key file `dir/trail.kek` (`on`), or reading
    /// plaintext only.
    fn sealed_store(dir: &Path, on: bool) -> DeadLetters {
        let key_file = dir.join("trail.kek");
        let keyring = on.then(|| {
            Arc::new(
                trailmark_journal::Keyring::load_or_create(&key_file)
                    .expect("key file")
                    .0,
            )
        });
        let sealer = Sealer::new(dir, "dead-letters", keyring, key_file);
        DeadLetters::open(&dir.join("dlq.sqlite"))
            .expect("open")
            .sealed_by(Arc::new(sealer))
    }

    fn personal(seq: u64) -> DeadLetter {
        DeadLetter {
            error: "rejected: ssn 078-05-1120 is invalid".into(),
            event: r#"{"author":"alice@example.com","data":{"ssn":"078-05-1120"}}"#.into(),
            ..letter(seq, "reject")
        }
    }

    /// Every file under `dir` holding `needle`.
    fn files_holding(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                found.extend(files_holding(&path, needle));
            } else if std::fs::read(&path)
                .expect("read")
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn sealed_dead_letters_hold_no_plaintext_and_list_and_get_open_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sealed_store(dir.path(), true);
        let id = store.insert(&personal(1)).expect("insert");
        assert_eq!(
            store.insert(&personal(1)).expect("again"),
            id,
            "same delivery, same row"
        );
        let listed = store.list(None, 10).expect("list");
        assert_eq!(listed, vec![DeadLetter { id, ..personal(1) }]);
        assert_eq!(store.get(id).expect("get"), Some(listed[0].clone()));
        drop(store);
        for needle in ["078-05-1120", "alice@example.com"] {
            assert_eq!(
                files_holding(dir.path(), needle),
                Vec::<std::path::PathBuf>::new(),
                "{needle}"
            );
        }

        let off = sealed_store(dir.path(), false);
        let err = off.list(None, 10).expect_err("no key");
        assert!(err.to_string().contains("[encryption] is off"), "{err}");
        assert!(err.to_string().contains("trail.kek"), "{err}");
    }

    #[test]
    fn dead_letters_written_before_sealing_read_and_a_swapped_column_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plain = sealed_store(dir.path(), false);
        let old = plain.insert(&personal(1)).expect("insert");
        drop(plain);
        let store = sealed_store(dir.path(), true);
        let new = store.insert(&personal(2)).expect("insert");
        assert_eq!(
            store.get(old).expect("get"),
            Some(DeadLetter {
                id: old,
                ..personal(1)
            })
        );
        assert_eq!(
            store.get(new).expect("get"),
            Some(DeadLetter {
                id: new,
                ..personal(2)
            })
        );
        // The sealed event moved into its own row's error column does not open.
        store
            .conn()
            .execute(
                "UPDATE dead_letters SET error = (SELECT event FROM dead_letters WHERE id = ?1) WHERE id = ?1",
                params![new],
            )
            .expect("swap");
        let err = store.get(new).expect_err("moved");
        assert!(err.to_string().contains("does not open"), "{err}");
    }
}
