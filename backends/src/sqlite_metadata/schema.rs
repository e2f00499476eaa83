//! The metadata schema and its migrations, versioned by `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::sqlite_error;
use crate::{BackendError, BackendResult};

/// Migration `i` takes the schema from version `i` to version `i + 1`.
/// Append new steps; never edit a released one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the change records and the indexes behind each query shape.
    // `event_id` is part of each index so that the keyset order
    // (ts DESC, event_id DESC) comes straight from the index.
    "CREATE TABLE changes (
         event_id    TEXT    NOT NULL PRIMARY KEY,
         source      TEXT    NOT NULL,
         entity_type TEXT    NOT NULL,
         entity_id   TEXT    NOT NULL,
         operation   TEXT    NOT NULL,
         ts          INTEGER NOT NULL,
         author      TEXT    NOT NULL,
         archive_key TEXT,
         attributes  TEXT    NOT NULL
     );
     CREATE INDEX changes_by_author ON changes (author, ts, event_id);
     CREATE INDEX changes_by_entity ON changes (entity_type, entity_id, ts, event_id);
     CREATE INDEX changes_by_ts     ON changes (ts, event_id);",
    // Version 2: an entity is (source, type, id); history by source reads
    // this index in (ts, event_id) order.
    "CREATE INDEX changes_by_source_entity ON changes (source, entity_type, entity_id, ts, event_id);",
    // Version 3, two changes:
    // - Fewer B-trees with random keys, so a record costs fewer page
    //   writes. Version 2 inserted each record into six B-trees, three of
    //   them at random places (the event-id primary key, both entity
    //   indexes): a transaction of 4,096 records dirtied thousands of leaf
    //   pages, each written whole to the WAL. Now the table is in arrival
    //   order (its rowid), uniqueness is `(ts, event_id)` (an event's ts is
    //   fixed: the host stores the delivered event's own fields, so this is
    //   as unique as the event id, and ts grows with time, so inserts land
    //   at the end), and one entity index serves history with or without a
    //   source (an entity's versions are few; the source is filtered among
    //   them). 2.5x less CPU per insert (BENCHMARKS.md).
    // - The newest changes of one entity type (the viewer's `type:order`,
    //   with or without other conditions) in keyset order, without
    //   collecting and sorting every record of the type. The index also
    //   holds the fields the other conditions and the viewer's counts test
    //   (operation, author, source), so a selective filter is checked in
    //   the index, reading the table only for the rows that match: 100 ms to
    //   23 ms for the counts of `type:user op:delete author:ann author:bob`
    //   over 1 M records (BENCHMARKS.md, viewer search pages). Its inserts
    //   land at the end of each type's range.
    // - The rules the event matched (`rules`, names joined by spaces), for
    //   the viewer's `rule:` qualifier; empty for records stored before.
    "CREATE TABLE changes_v3 (
         event_id    TEXT    NOT NULL,
         source      TEXT    NOT NULL,
         entity_type TEXT    NOT NULL,
         entity_id   TEXT    NOT NULL,
         operation   TEXT    NOT NULL,
         ts          INTEGER NOT NULL,
         author      TEXT    NOT NULL,
         archive_key TEXT,
         attributes  TEXT    NOT NULL,
         rules       TEXT    NOT NULL DEFAULT ''
     );
     INSERT INTO changes_v3 (event_id, source, entity_type, entity_id, operation, ts, author,
                             archive_key, attributes)
         SELECT event_id, source, entity_type, entity_id, operation, ts, author,
                archive_key, attributes
         FROM changes ORDER BY rowid;
     DROP TABLE changes;
     ALTER TABLE changes_v3 RENAME TO changes;
     CREATE UNIQUE INDEX changes_by_ts ON changes (ts, event_id);
     CREATE INDEX changes_by_author ON changes (author, ts, event_id);
     CREATE INDEX changes_by_entity ON changes (entity_type, entity_id, ts, event_id);
     CREATE INDEX changes_by_type_ts ON changes (entity_type, ts, event_id, operation, author, source);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring the database to [`SCHEMA_VERSION`], in one transaction.
/// A database from a newer Trailmark is refused rather than misread.
pub(crate) fn migrate(conn: &mut Connection, path_shown: &str) -> BackendResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sqlite_error)?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(BackendError::Invalid(format!(
            "metadata database {path_shown} has schema version {version}; this Trailmark \
             understands versions up to {SCHEMA_VERSION}: upgrade Trailmark or point \
             [metadata] path at another file"
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for step in &MIGRATIONS[version as usize..] {
        tx.execute_batch(step).map_err(sqlite_error)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sqlite_error)?;
    tx.commit().map_err(sqlite_error)?;
    tracing::info!(
        path = path_shown,
        from = version,
        to = SCHEMA_VERSION,
        "metadata schema migrated"
    );
    Ok(())
}
