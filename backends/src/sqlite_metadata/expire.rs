//! Retention in the metadata store: delete the change records an
//! [`Expiry`] covers, oldest first, a chunk per call, in one short
//! transaction on the write connection (after the puts it holds are
//! committed), so puts wait at most one chunk.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use trailmark_backend_api::{Expiry, Scope};

/// The statement deleting one chunk, and its parameters.
pub(crate) fn delete_chunk(expiry: &Expiry<'_>) -> (String, Vec<Value>) {
    let mut conditions = vec!["ts < ?".to_owned()];
    let mut params = vec![Value::Integer(expiry.before_ms)];
    if let Some(scope) = scope_condition(expiry.scope, &mut params) {
        conditions.push(scope);
    }
    for except in expiry.except {
        match scope_condition(except, &mut params) {
            Some(c) => conditions.push(format!("NOT ({c})")),
            // An earlier rule for every record leaves this one nothing.
            None => conditions.push("0".to_owned()),
        }
    }
    for hold in expiry.holds {
        params.push(Value::Text(hold.entity_type.clone()));
        match &hold.entity_id {
            Some(id) => {
                params.push(Value::Text(id.clone()));
                conditions.push("NOT (entity_type = ? AND entity_id = ?)".to_owned());
            }
            None => conditions.push("entity_type <> ?".to_owned()),
        }
    }
    params.push(Value::Integer(
        i64::try_from(expiry.limit).unwrap_or(i64::MAX),
    ));
    let sql = format!(
        "DELETE FROM changes WHERE rowid IN (
             SELECT rowid FROM changes WHERE {} ORDER BY ts LIMIT ?)",
        conditions.join(" AND ")
    );
    (sql, params)
}

/// `source = ? AND entity_type = ?` for the parts a scope names; `None`
/// for a scope of every record.
fn scope_condition(scope: &Scope, params: &mut Vec<Value>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(source) = &scope.source {
        parts.push("source = ?");
        params.push(Value::Text(source.clone()));
    }
    if let Some(entity_type) = &scope.entity_type {
        parts.push("entity_type = ?");
        params.push(Value::Text(entity_type.clone()));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
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
