//! SQL for [`ChangeFilter`]s: ORs as `IN (…)`, exclusions as `NOT IN (…)`,
//! so the viewer's query bar runs in SQLite rather than by filtering pages.

use rusqlite::types::Value;
use trailmark_backend_api::{AnyOf, ChangeFilter, EntityKey};

use super::query::{COLUMNS, Cursor};
use crate::{BackendResult, page_size};

/// The most values a filter may bind: more is left to the caller, which
/// filters pages itself (SQLite allows 32,766 parameters; a query bar
/// never comes near).
pub(crate) const MAX_PARAMS: usize = 500;

/// A WHERE clause being built, with its parameters.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    fn bind(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn text(&mut self, value: &str) -> String {
        self.bind(Value::Text(value.to_owned()))
    }

    fn list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.text(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn field(&mut self, column: &str, values: &AnyOf) {
        match values.any.as_slice() {
            [] => {}
            [one] => {
                let p = self.text(one);
                self.clauses.push(format!("{column} = {p}"));
            }
            many => {
                let ps = self.list(many);
                self.clauses.push(format!("{column} IN ({ps})"));
            }
        }
        if !values.none.is_empty() {
            let ps = self.list(&values.none);
            self.clauses.push(format!("{column} NOT IN ({ps})"));
        }
    }

    /// The rules column (names joined by spaces; names have none) holds
    /// one of `values.any` and none of `values.none`.
    fn rules(&mut self, values: &AnyOf) {
        let has = |w: &mut Self, rule: &str| {
            let p = w.text(rule);
            format!("instr(' ' || rules || ' ', ' ' || {p} || ' ') > 0")
        };
        if !values.any.is_empty() {
            let any: Vec<String> = values.any.iter().map(|r| has(self, r)).collect();
            self.clauses.push(format!("({})", any.join(" OR ")));
        }
        for rule in &values.none {
            let clause = has(self, rule);
            self.clauses.push(format!("NOT {clause}"));
        }
    }

    /// `(entity_id = ? AND entity_type = ?) OR entity_id = ? …`
    fn entities(&mut self, keys: &[EntityKey]) -> String {
        keys.iter()
            .map(|k| {
                let id = self.text(&k.entity_id);
                match &k.entity_type {
                    Some(t) => {
                        let t = self.text(t);
                        format!("(entity_id = {id} AND entity_type = {t})")
                    }
                    None => format!("entity_id = {id}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// The WHERE clause of `filter`; `None` when it would bind more than
/// [`MAX_PARAMS`] values.
fn where_of(filter: &ChangeFilter, cursor: Option<&str>) -> BackendResult<Option<Where>> {
    let values = [
        &filter.author,
        &filter.entity_type,
        &filter.operation,
        &filter.source,
        &filter.rule,
    ]
    .iter()
    .map(|f| f.any.len() + f.none.len())
    .sum::<usize>()
        + 2 * (filter.entities.len() + filter.not_entities.len());
    if values > MAX_PARAMS {
        return Ok(None);
    }
    let mut w = Where::default();
    w.field("author", &filter.author);
    // One author and a type: read the author's index in time order (as
    // the plain query does) rather than every record of the type; authors
    // are many, types few. The unary `+` keeps SQLite off the type index
    // for this term; an entity (type and id) still uses the entity index.
    let one_author = filter.author.any.len() == 1 && filter.entities.is_empty();
    w.field(
        if one_author {
            "+entity_type"
        } else {
            "entity_type"
        },
        &filter.entity_type,
    );
    w.field("operation", &filter.operation);
    w.field("source", &filter.source);
    w.rules(&filter.rule);
    if !filter.entities.is_empty() {
        let any = w.entities(&filter.entities);
        w.clauses.push(format!("({any})"));
    }
    if !filter.not_entities.is_empty() {
        let none = w.entities(&filter.not_entities);
        w.clauses.push(format!("NOT ({none})"));
    }
    if let Some(since) = filter.since {
        let p = w.bind(Value::Integer(since));
        w.clauses.push(format!("ts >= {p}"));
    }
    if let Some(until) = filter.until {
        let p = w.bind(Value::Integer(until));
        w.clauses.push(format!("ts < {p}"));
    }
    if let Some(text) = cursor {
        let cursor = Cursor::decode(text)?;
        let ts = w.bind(Value::Integer(cursor.ts));
        let id = w.bind(Value::Text(cursor.event_id));
        w.clauses
            .push(format!("ts <= {ts} AND (ts < {ts} OR event_id < {id})"));
    }
    Ok(Some(w))
}

/// The SELECT of one page of `filter`'s records, newest first, one row more
/// than the page size; `None` when the filter is too large for SQL.
pub(crate) fn select_filtered(
    filter: &ChangeFilter,
    limit: usize,
    cursor: Option<&str>,
) -> BackendResult<Option<(String, Vec<Value>)>> {
    let Some(mut w) = where_of(filter, cursor)? else {
        return Ok(None);
    };
    let limit = w.bind(Value::Integer(page_size(limit) as i64 + 1));
    Ok(Some((
        format!(
            "SELECT {COLUMNS} FROM changes {} ORDER BY ts DESC, event_id DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )))
}

/// The SELECT of the fields a summary counts (author, entity_type,
/// operation, source, ts) of the newest `limit` records of `filter`.
pub(crate) fn select_summary(
    filter: &ChangeFilter,
    limit: usize,
) -> BackendResult<Option<(String, Vec<Value>)>> {
    let Some(mut w) = where_of(filter, None)? else {
        return Ok(None);
    };
    let limit = w.bind(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    Ok(Some((
        format!(
            "SELECT author, entity_type, operation, source, ts FROM changes {} \
             ORDER BY ts DESC, event_id DESC LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChangeQuery, ChangeRecord, MetadataStore, SqliteMetadata};

    /// 300 records over 4 authors, 3 types, 3 operations, 2 sources, 7
    /// entity ids and the rules `all`, `deletes` and `a_b` (a `_`, which
    /// a LIKE would read as any character), several sharing a ts.
    fn seeded() -> (tempfile::TempDir, SqliteMetadata, Vec<ChangeRecord>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteMetadata::open(dir.path().join("m.sqlite")).expect("open");
        let records: Vec<ChangeRecord> = (0..300u32)
            .map(|i| ChangeRecord {
                event_id: format!("e{:03}", (i * 7) % 300),
                source: ["a", "b"][(i % 2) as usize].into(),
                entity_type: ["book", "user", "shelf"][(i % 3) as usize].into(),
                entity_id: (i % 7).to_string(),
                operation: ["insert", "update", "delete"][(i / 3 % 3) as usize].into(),
                ts: i64::from(i / 4),
                author: ["ann", "bob", "cat", "dan"][(i / 5 % 4) as usize].into(),
                archive_key: None,
                attributes: "{}".into(),
                rules: match i % 4 {
                    0 => vec![],
                    1 => vec!["all".into()],
                    2 => vec!["all".into(), "deletes".into()],
                    _ if i % 8 == 3 => vec!["axb".into()],
                    _ => vec!["a_b".into()],
                },
            })
            .collect();
        for r in &records {
            store.put(r).expect("put");
        }
        (dir, store, records)
    }

    fn any(values: &[&str]) -> AnyOf {
        AnyOf {
            any: values.iter().map(|v| (*v).to_owned()).collect(),
            none: vec![],
        }
    }

    fn none(values: &[&str]) -> AnyOf {
        AnyOf {
            any: vec![],
            none: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn filters() -> Vec<ChangeFilter> {
        vec![
            ChangeFilter::default(),
            ChangeFilter {
                author: any(&["ann", "bob"]),
                ..ChangeFilter::default()
            },
            ChangeFilter {
                entity_type: any(&["user"]),
                operation: none(&["update"]),
                since: Some(10),
                until: Some(60),
                ..ChangeFilter::default()
            },
            ChangeFilter {
                author: AnyOf {
                    any: vec!["ann".into(), "cat".into()],
                    none: vec!["cat".into()],
                },
                source: any(&["b"]),
                entities: vec![
                    EntityKey {
                        entity_type: Some("book".into()),
                        entity_id: "3".into(),
                    },
                    EntityKey {
                        entity_type: None,
                        entity_id: "4".into(),
                    },
                ],
                ..ChangeFilter::default()
            },
            ChangeFilter {
                not_entities: vec![EntityKey {
                    entity_type: None,
                    entity_id: "0".into(),
                }],
                operation: any(&["insert", "delete"]),
                ..ChangeFilter::default()
            },
            ChangeFilter {
                rule: any(&["deletes", "a_b"]),
                ..ChangeFilter::default()
            },
            ChangeFilter {
                rule: AnyOf {
                    any: vec!["all".into()],
                    none: vec!["deletes".into()],
                },
                author: any(&["bob"]),
                ..ChangeFilter::default()
            },
            ChangeFilter {
                rule: none(&["all", "axb"]),
                ..ChangeFilter::default()
            },
        ]
    }

    #[test]
    fn filtered_pages_hold_exactly_what_the_filter_admits_newest_first() {
        let (_dir, store, records) = seeded();
        let newest_first = |mut v: Vec<ChangeRecord>| {
            v.sort_by(|a, b| (b.ts, &b.event_id).cmp(&(a.ts, &a.event_id)));
            v
        };
        for filter in filters() {
            let expected = newest_first(
                records
                    .iter()
                    .filter(|r| filter.admits(r))
                    .cloned()
                    .collect(),
            );
            assert!(!expected.is_empty(), "{filter:?} admits something");
            let mut got = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store
                    .query_filtered(&filter, 7, cursor.as_deref())
                    .expect("query")
                    .expect("sqlite expresses every small filter");
                assert!(page.records.len() <= 7);
                got.extend(page.records);
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(got, expected, "{filter:?}");
        }
        // Cursors of `query` continue a filtered listing (same order).
        let first = store
            .query(&ChangeQuery {
                limit: 5,
                ..ChangeQuery::default()
            })
            .expect("query");
        let rest = store
            .query_filtered(&ChangeFilter::default(), 5, first.next_cursor.as_deref())
            .expect("query")
            .expect("some");
        let all = newest_first(records.clone());
        assert_eq!(rest.records, all[5..10]);
    }

    #[test]
    fn summaries_count_the_newest_matches() {
        let (_dir, store, records) = seeded();
        for filter in filters() {
            let matches: Vec<&ChangeRecord> = records.iter().filter(|r| filter.admits(r)).collect();
            let whole = store
                .summarize(&filter, 10_000, 4)
                .expect("summarize")
                .expect("supported");
            assert!(whole.complete);
            assert_eq!(whole.counted, matches.len() as u64);
            for (counts, field) in [
                (&whole.authors, 0),
                (&whole.entity_types, 1),
                (&whole.operations, 2),
                (&whole.sources, 3),
            ] {
                for (value, n) in counts {
                    let expected = matches
                        .iter()
                        .filter(|r| {
                            [&r.author, &r.entity_type, &r.operation, &r.source][field] == value
                        })
                        .count();
                    assert_eq!(*n, expected as u64, "{filter:?}: {value}");
                }
                assert_eq!(
                    counts.iter().map(|c| c.1).sum::<u64>(),
                    whole.counted,
                    "every counted record has one value of each field"
                );
            }
            let in_buckets: u64 = whole.histogram.buckets.iter().map(|b| b.0).sum();
            let deletes: u64 = whole.histogram.buckets.iter().map(|b| b.1).sum();
            assert_eq!(in_buckets, whole.counted);
            let expected_deletes = matches.iter().filter(|r| r.operation == "delete").count();
            assert_eq!(deletes, expected_deletes as u64);
        }
        let some = store
            .summarize(&ChangeFilter::default(), 10, 4)
            .expect("summarize")
            .expect("supported");
        assert_eq!(some.counted, 10);
        assert!(!some.complete, "300 records match; 10 were counted");
        // The newest ten: ts 72..=74 (four records each at ts 72 and 73, ...).
        assert!(some.histogram.from_ms >= 72, "{:?}", some.histogram);
    }

    #[test]
    fn ors_become_in_and_exclusions_not_in() {
        let filter = ChangeFilter {
            author: AnyOf {
                any: vec!["ann".into(), "bob".into()],
                none: vec![],
            },
            operation: AnyOf {
                any: vec!["delete".into()],
                none: vec!["insert".into()],
            },
            not_entities: vec![EntityKey {
                entity_type: Some("book".into()),
                entity_id: "1".into(),
            }],
            ..ChangeFilter::default()
        };
        let (sql, params) = select_filtered(&filter, 50, None)
            .expect("no cursor")
            .expect("small");
        assert!(sql.contains("author IN (?1, ?2)"), "{sql}");
        assert!(
            sql.contains("operation = ?3 AND operation NOT IN (?4)"),
            "{sql}"
        );
        assert!(
            sql.contains("NOT ((entity_id = ?5 AND entity_type = ?6))"),
            "{sql}"
        );
        assert_eq!(params.len(), 7, "six values and the limit");
    }

    /// SQLite's plan for `sql`, one line per step.
    fn plan_of(store: &SqliteMetadata, sql: &str, params: Vec<Value>) -> String {
        store
            .with_reader(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .expect("plan")
            .join("\n")
    }

    #[test]
    fn a_type_with_other_conditions_reads_its_index_in_time_order() {
        let (_dir, store, _) = seeded();
        let filter = ChangeFilter {
            author: any(&["ann", "bob"]),
            entity_type: any(&["user"]),
            operation: none(&["update"]),
            ..ChangeFilter::default()
        };
        let (sql, params) = select_filtered(&filter, 50, None)
            .expect("sql")
            .expect("small");
        let plan = plan_of(&store, &sql, params);
        assert!(plan.contains("changes_by_type_ts"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
        // With one author, that author's records in time order.
        let filter = ChangeFilter {
            author: any(&["ann"]),
            ..filter
        };
        let (sql, params) = select_summary(&filter, 50).expect("sql").expect("small");
        let plan = plan_of(&store, &sql, params);
        assert!(plan.contains("changes_by_author"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
    }

    #[test]
    fn a_filter_too_large_for_sql_is_left_to_the_caller() {
        let filter = ChangeFilter {
            author: AnyOf {
                any: (0..=MAX_PARAMS).map(|i| i.to_string()).collect(),
                none: vec![],
            },
            ..ChangeFilter::default()
        };
        assert!(matches!(select_filtered(&filter, 50, None), Ok(None)));
        assert!(matches!(select_summary(&filter, 50), Ok(None)));
    }
}
