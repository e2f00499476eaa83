//! `trailmark sql`: read-only SQL over the embedded metadata store, with a
//! `changes` view that has the lake's column names.
//!
//! The database is opened read-only, with `PRAGMA query_only`, and a query
//! is interrupted at its time limit. The view is a temporary one over the
//! store's own `changes` table (temporary objects shadow the main
//! database's), so it sees every change record the metadata rule has
//! stored, including those not yet in a closed Parquet file.
//!
//! What the metadata store does not keep is `NULL`: `seq` (journal
//! position), `account`, `region`, `ingested_at` and `body` (the entity's
//! body is in the archive and the lake's files; `attributes` holds the
//! fields of it that the metadata rule keeps, as JSON).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

/// The view, with the lake's columns first and the store's extras after.
const VIEW: &str = "CREATE TEMP VIEW changes AS SELECT
    CAST(NULL AS INTEGER) AS seq,
    event_id,
    strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS event_time,
    ts AS ts_ms,
    entity_type,
    entity_id,
    operation,
    author,
    source,
    'Object State Change' AS detail_type,
    CAST(NULL AS TEXT) AS account,
    CAST(NULL AS TEXT) AS region,
    CAST(NULL AS TEXT) AS ingested_at,
    CAST(NULL AS TEXT) AS body,
    date(ts / 1000, 'unixepoch') AS dt,
    attributes,
    archive_key
  FROM main.changes";

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The store could not be opened.
    #[error(
        "opening the metadata store {path}: {source} (is `--data` the server's data directory, with the default `[metadata] type = \"sqlite\"`?)"
    )]
    Open {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The query failed: bad SQL, a write, or the time limit.
    #[error("{0}")]
    Query(String),
}

/// A query's answer: column names, then rows of JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

/// Run `sql` read-only against the metadata database at `db`, stopping it
/// after `limit`.
pub fn query(db: &Path, sql: &str, limit: Duration) -> Result<Answer, SqlError> {
    let open_error = |source| SqlError::Open {
        path: db.display().to_string(),
        source,
    };
    if !db.is_file() {
        return Err(SqlError::Open {
            path: db.display().to_string(),
            source: rusqlite::Error::InvalidPath(db.to_path_buf()),
        });
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_error)?;
    conn.execute_batch(VIEW).map_err(open_error)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(open_error)?;
    let interrupt = conn.get_interrupt_handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            interrupt.interrupt();
        }
    });
    let answer = run(&conn, sql).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            SqlError::Query(format!(
                "the query ran longer than its time limit ({}s); narrow it or give --timeout",
                limit.as_secs_f64()
            ))
        }
        other => SqlError::Query(other.to_string()),
    });
    let _ = done.send(());
    let _ = timer.join();
    answer
}

fn run(conn: &Connection, sql: &str) -> Result<Answer, rusqlite::Error> {
    let mut statement = conn.prepare(sql)?;
    if !statement.readonly() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("only read-only statements (SELECT, WITH …) are allowed".to_owned()),
        ));
    }
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = statement.query([])?;
    while let Some(row) = cursor.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(hex::encode(b)),
            });
        }
        rows.push(values);
    }
    Ok(Answer { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("metadata.sqlite");
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(
            "CREATE TABLE changes (event_id TEXT, source TEXT, entity_type TEXT, entity_id TEXT,
                operation TEXT, ts INTEGER, author TEXT, archive_key TEXT, attributes TEXT,
                rules TEXT);
             INSERT INTO changes VALUES ('e1','shop','book','1','delete',1795132801000,'ann',
                NULL,'{\"status\":\"refunded\"}','');
             INSERT INTO changes VALUES ('e2','shop','book','2','insert',1795132802000,'bob',
                NULL,'{}','');",
        )
        .expect("fills");
        (dir, path)
    }

    #[test]
    fn the_view_has_the_lakes_columns_and_json_works() {
        let (_dir, path) = store();
        let answer = query(
            &path,
            "SELECT author, dt, event_time FROM changes \
             WHERE attributes ->> '$.status' = 'refunded'",
            Duration::from_secs(5),
        )
        .expect("answers");
        assert_eq!(answer.columns, ["author", "dt", "event_time"]);
        assert_eq!(
            answer.rows,
            [vec![
                json!("ann"),
                json!("2026-11-20"),
                json!("2026-11-20T00:00:01.000Z")
            ]]
        );
    }

    #[test]
    fn writes_are_refused_and_the_store_is_unchanged() {
        let (_dir, path) = store();
        for sql in [
            "DELETE FROM main.changes",
            "DROP TABLE main.changes",
            "CREATE TABLE t(x)",
        ] {
            let error = query(&path, sql, Duration::from_secs(5)).expect_err(sql);
            assert!(error.to_string().contains("read"), "{sql}: {error}");
        }
        let count = query(
            &path,
            "SELECT count(*) FROM changes",
            Duration::from_secs(5),
        )
        .expect("answers");
        assert_eq!(count.rows, [vec![json!(2)]]);
    }

    #[test]
    fn a_query_past_its_time_limit_is_stopped() {
        let (_dir, path) = store();
        let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                       SELECT count(*) FROM n";
        let error = query(&path, endless, Duration::from_millis(200)).expect_err("stopped");
        assert!(error.to_string().contains("time limit"), "{error}");
    }
}
