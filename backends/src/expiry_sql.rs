//! One chunk of an [`Expiry`] as SQL, for the SQLite stores (the metadata
//! store's `changes`, the pack archive's `bodies`): the rows older than its
//! cutoff, in its scope, in no earlier rule's scope and not held, oldest
//! first, at most its limit.

use rusqlite::types::Value;
use trailmark_backend_api::{Expiry, Scope};

/// The `DELETE` of one chunk from `table` (which has `ts`, `source`,
/// `entity_type` and `entity_id` columns) and its parameters. `also` are
/// conditions every deleted row must meet besides; `returning` is appended
/// (`""`, or `"RETURNING pack"`).
pub(crate) fn delete_chunk(
    table: &str,
    expiry: &Expiry<'_>,
    also: &[&str],
    returning: &str,
) -> (String, Vec<Value>) {
    let mut conditions: Vec<String> = also.iter().map(|c| (*c).to_owned()).collect();
    conditions.push("ts < ?".to_owned());
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
        "DELETE FROM {table} WHERE rowid IN (
             SELECT rowid FROM {table} WHERE {} ORDER BY ts LIMIT ?)
         {returning}",
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
