//! Retention in the metadata store: delete the change records an
//! [`Expiry`] covers, oldest first, a chunk per call, in one short
//! transaction on the write connection (after the puts it holds are
//! committed), so puts wait at most one chunk.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use trailmark_backend_api::Expiry;

/// The statement deleting one chunk, and its parameters.
pub(crate) fn delete_chunk(expiry: &Expiry<'_>) -> (String, Vec<Value>) {
    crate::expiry_sql::delete_chunk("changes", expiry, &[], "")
}

/// Delete one chunk in its own transaction; how many rows went.
pub(crate) fn run(conn: &Connection, expiry: &Expiry<'_>) -> rusqlite::Result<u64> {
    let (sql, params) = delete_chunk(expiry);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let deleted = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params_from_iter(params)));
    match deleted {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n as u64)
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}
