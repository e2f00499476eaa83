//! SQL for change-record queries: filters, keyset pagination and cursors.

use rusqlite::Row;
use rusqlite::types::Value;

use crate::{BackendError, BackendResult, ChangeQuery, ChangeRecord, HistoryQuery, page_size};

/// The columns of a [`ChangeRecord`], in the order [`record_from_row`] reads them.
pub(crate) const COLUMNS: &str = "event_id, source, entity_type, entity_id, operation, ts, author, archive_key, attributes, rules";

/// Read one record from a row selected with [`COLUMNS`].
pub(crate) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<ChangeRecord> {
    Ok(ChangeRecord {
        event_id: row.get(0)?,
        source: row.get(1)?,
        entity_type: row.get(2)?,
        entity_id: row.get(3)?,
        operation: row.get(4)?,
        ts: row.get(5)?,
        author: row.get(6)?,
        archive_key: row.get(7)?,
        attributes: row.get(8)?,
        rules: row
            .get::<_, String>(9)?
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// The position after the last record of a page: records sort by
/// `(ts DESC, event_id DESC)`, so the next page holds the records below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) ts: i64,
    pub(crate) event_id: String,
}

/// Tag of `/v1/changes` cursors (newest first).
pub(crate) const CHANGES_CURSOR: &str = "v1";
/// Tag of history cursors (oldest first): a cursor of one kind is refused by
/// the other, since it would continue in the wrong direction.
pub(crate) const HISTORY_CURSOR: &str = "h1";

impl Cursor {
    /// The cursor of the page that ends with `record`.
    pub(crate) fn after(record: &ChangeRecord) -> Self {
        Cursor {
            ts: record.ts,
            event_id: record.event_id.clone(),
        }
    }

    /// The opaque text handed to clients: hex of `<tag>:<ts>:<event_id>`.
    pub(crate) fn encode_as(&self, tag: &str) -> String {
        hex::encode(format!("{tag}:{}:{}", self.ts, self.event_id))
    }

    /// Parse a `/v1/changes` cursor.
    pub(crate) fn decode(text: &str) -> BackendResult<Self> {
        Self::decode_as(text, CHANGES_CURSOR)
    }

    /// Parse a cursor produced by [`Cursor::encode_as`] with `tag`.
    pub(crate) fn decode_as(text: &str, tag: &str) -> BackendResult<Self> {
        let bad = || {
            let shown: String = text.chars().take(80).collect();
            BackendError::Invalid(format!(
                "cursor {shown:?} is not one this server issued; pass `next_cursor` \
                 from the previous page unchanged, or no cursor for the first page"
            ))
        };
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let rest = plain
            .strip_prefix(tag)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(bad)?;
        // The event id may itself contain `:`; the ts never does.
        let (ts, event_id) = rest.split_once(':').ok_or_else(bad)?;
        let ts = ts.parse().map_err(|_| bad())?;
        Ok(Cursor {
            ts,
            event_id: event_id.to_owned(),
        })
    }
}

/// The page size a query gets: 0 means the default, and large ones are capped.
pub(crate) fn effective_limit(query: &ChangeQuery) -> usize {
    page_size(query.limit)
}

/// The SELECT for one page of `query`'s history, oldest first, and its
/// parameters; like [`select`], one row more than the page size.
pub(crate) fn select_history(query: &HistoryQuery) -> BackendResult<(String, Vec<Value>)> {
    let mut params = vec![
        Value::Text(query.entity_type.clone()),
        Value::Text(query.entity_id.clone()),
    ];
    let mut clauses = vec!["entity_type = ?1".to_owned(), "entity_id = ?2".to_owned()];
    if let Some(source) = &query.source {
        params.push(Value::Text(source.clone()));
        clauses.push(format!("source = ?{}", params.len()));
    }
    if let Some(text) = &query.cursor {
        let cursor = Cursor::decode_as(text, HISTORY_CURSOR)?;
        params.push(Value::Integer(cursor.ts));
        let ts = params.len();
        params.push(Value::Text(cursor.event_id));
        let id = params.len();
        clauses.push(format!("ts >= ?{ts} AND (ts > ?{ts} OR event_id > ?{id})"));
    }
    params.push(Value::Integer(page_size(query.limit) as i64 + 1));
    Ok((
        format!(
            "SELECT {COLUMNS} FROM changes WHERE {} ORDER BY ts ASC, event_id ASC LIMIT ?{}",
            clauses.join(" AND "),
            params.len()
        ),
        params,
    ))
}

/// The SELECT for `query` and its parameters. It asks for one row more than
/// the page size, so the caller knows whether another page follows.
pub(crate) fn select(query: &ChangeQuery) -> BackendResult<(String, Vec<Value>)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let bind = |params: &mut Vec<Value>, value: Value| {
        params.push(value);
        format!("?{}", params.len())
    };
    let equals = [
        ("author", &query.author),
        ("entity_type", &query.entity_type),
        ("entity_id", &query.entity_id),
        ("operation", &query.operation),
        ("source", &query.source),
    ];
    for (column, value) in equals {
        if let Some(value) = value {
            let p = bind(&mut params, Value::Text(value.clone()));
            clauses.push(format!("{column} = {p}"));
        }
    }
    if let Some(since) = query.since {
        let p = bind(&mut params, Value::Integer(since));
        clauses.push(format!("ts >= {p}"));
    }
    if let Some(until) = query.until {
        let p = bind(&mut params, Value::Integer(until));
        clauses.push(format!("ts < {p}"));
    }
    if let Some(text) = &query.cursor {
        let cursor = Cursor::decode(text)?;
        let ts = bind(&mut params, Value::Integer(cursor.ts));
        let id = bind(&mut params, Value::Text(cursor.event_id));
        // `ts <= c` alone bounds the index range; the OR picks the rows below
        // the cursor within the same ts.
        clauses.push(format!("ts <= {ts} AND (ts < {ts} OR event_id < {id})"));
    }
    let limit = bind(
        &mut params,
        Value::Integer(effective_limit(query) as i64 + 1),
    );
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    Ok((
        format!(
            "SELECT {COLUMNS} FROM changes {filter} ORDER BY ts DESC, event_id DESC LIMIT {limit}"
        ),
        params,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEFAULT_LIMIT, MAX_LIMIT};

    #[test]
    fn cursors_round_trip_even_with_colons_in_the_event_id() {
        for cursor in [
            Cursor {
                ts: 0,
                event_id: "e".into(),
            },
            Cursor {
                ts: -5,
                event_id: "a:b:c".into(),
            },
            Cursor {
                ts: i64::MAX,
                event_id: String::new(),
            },
        ] {
            assert_eq!(
                Cursor::decode(&cursor.encode_as(CHANGES_CURSOR)),
                Ok(cursor.clone())
            );
            assert_eq!(
                Cursor::decode_as(&cursor.encode_as(HISTORY_CURSOR), HISTORY_CURSOR),
                Ok(cursor.clone())
            );
            assert!(Cursor::decode(&cursor.encode_as(HISTORY_CURSOR)).is_err());
        }
    }

    #[test]
    fn bad_cursors_are_invalid_with_advice() {
        let forged = hex::encode("v2:1:x");
        let no_ts = hex::encode("v1:x");
        let bad_ts = hex::encode("v1:12a:x");
        for text in [
            "",
            "zz",
            "abc",
            forged.as_str(),
            no_ts.as_str(),
            bad_ts.as_str(),
        ] {
            match Cursor::decode(text) {
                Err(BackendError::Invalid(msg)) => assert!(msg.contains("next_cursor"), "{msg}"),
                other => panic!("{text:?}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn limits_default_and_cap() {
        let q = |limit| ChangeQuery {
            limit,
            ..ChangeQuery::default()
        };
        assert_eq!(effective_limit(&q(0)), DEFAULT_LIMIT);
        assert_eq!(effective_limit(&q(7)), 7);
        assert_eq!(effective_limit(&q(1_000_000)), MAX_LIMIT);
    }
}
