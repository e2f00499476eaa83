//! The query bar: `author:ann type:book -op:delete after:"3 hours ago"`.
//!
//! [`parse`] turns the text into a [`Search`]: qualifiers `author:`, `type:`,
//! `entity:` (`type/id` or `id`), `op:`, `source:`, `before:` and `after:`;
//! a leading `-` negates; values with spaces are quoted. The same qualifier
//! given twice is OR-ed (`op:insert op:update`), different qualifiers are
//! AND-ed, negations exclude. Times are AND-ed (each `after:` raises the
//! lower bound).
//!
//! [`page`] asks the store for the whole filter
//! ([`MetadataStore::query_filtered`]: SQLite says OR and NOT as `IN` and
//! `NOT IN`). A store that cannot ([`store_query`] narrows what it can:
//! one positive value per field, the time range) gets its pages filtered
//! here with [`ChangeFilter::admits`], at most a budget of rows per request,
//! with a cursor to continue.

use trailmark_backend_api::{
    AnyOf, BackendError, ChangeFilter, ChangeQuery, ChangeRecord, EntityKey, MetadataStore,
};

use crate::when::parse_time_ms;

/// The qualifiers, as typed.
pub const QUALIFIERS: &[&str] = &[
    "author", "type", "entity", "op", "source", "rule", "before", "after",
];

/// A query bar text that cannot be used, with the byte offset of the term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct SearchError {
    /// Byte offset of the offending term in the query text.
    pub at: usize,
    /// What is wrong and what would be valid.
    pub message: String,
}

/// A parsed query: what the store is asked when it can say it all
/// ([`MetadataStore::query_filtered`]), else narrowed by [`store_query`] and
/// checked row by row with [`ChangeFilter::admits`].
pub type Search = ChangeFilter;

/// The value the store's plain query can filter on itself: exactly one
/// positive.
fn single(values: &AnyOf) -> Option<String> {
    match values.any.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// An `entity:` value: `book/42` or just `42`.
fn entity_key(value: &str) -> EntityKey {
    match value.split_once('/') {
        Some((t, id)) if !t.is_empty() && !id.is_empty() => EntityKey {
            entity_type: Some(t.to_owned()),
            entity_id: id.to_owned(),
        },
        _ => EntityKey {
            entity_type: None,
            entity_id: value.to_owned(),
        },
    }
}

/// Parse the query bar text; relative times count back from `now_ms`.
pub fn parse(text: &str, now_ms: i64) -> Result<Search, SearchError> {
    let mut search = Search::default();
    for term in terms(text)? {
        let Term {
            at,
            end: _,
            negated,
            name,
            value,
        } = term;
        let err = |message: String| SearchError { at, message };
        let values = match name {
            "author" => Some(&mut search.author),
            "type" => Some(&mut search.entity_type),
            "source" => Some(&mut search.source),
            "rule" => Some(&mut search.rule),
            "op" => {
                if !matches!(value.as_str(), "insert" | "update" | "delete") {
                    return Err(err(format!(
                        "`op:` is insert, update or delete; got {value:?}"
                    )));
                }
                Some(&mut search.operation)
            }
            _ => None,
        };
        if let Some(values) = values {
            if negated {
                values.none.push(value);
            } else {
                values.any.push(value);
            }
            continue;
        }
        match name {
            "entity" if negated => search.not_entities.push(entity_key(&value)),
            "entity" => search.entities.push(entity_key(&value)),
            "before" | "after" => {
                if negated {
                    return Err(err(format!(
                        "`-{name}:` cannot be negated; use `{}:` instead",
                        if name == "before" { "after" } else { "before" }
                    )));
                }
                let ms =
                    parse_time_ms(&value, now_ms).map_err(|m| err(format!("`{name}:` {m}")))?;
                if name == "after" {
                    search.since = Some(search.since.map_or(ms, |s| s.max(ms)));
                } else {
                    search.until = Some(search.until.map_or(ms, |u| u.min(ms)));
                }
            }
            other => {
                return Err(err(format!(
                    "unknown qualifier `{other}:`; use one of {}",
                    QUALIFIERS
                        .iter()
                        .map(|q| format!("{q}:"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(search)
}

/// One `[-]name:value` term of the query text.
struct Term<'a> {
    at: usize,
    /// Byte offset just past the term.
    end: usize,
    negated: bool,
    name: &'a str,
    value: String,
}

/// Split the text into terms; values may be `"quoted"` (no escapes inside).
fn terms(text: &str) -> Result<Vec<Term<'_>>, SearchError> {
    let mut out = Vec::new();
    let mut rest = text.char_indices().peekable();
    while let Some(&(at, c)) = rest.peek() {
        if c.is_whitespace() {
            rest.next();
            continue;
        }
        let negated = c == '-';
        if negated {
            rest.next();
        }
        let name_start = rest.peek().map_or(text.len(), |&(i, _)| i);
        let mut name_end = name_start;
        while let Some(&(i, c)) = rest.peek() {
            if c == ':' || c.is_whitespace() {
                break;
            }
            name_end = i + c.len_utf8();
            rest.next();
        }
        let name = &text[name_start..name_end];
        if rest.peek().is_none_or(|&(_, c)| c != ':') {
            return Err(SearchError {
                at,
                message: format!(
                    "`{name}` has no qualifier; write it as e.g. `author:{name}` or `entity:{name}`"
                ),
            });
        }
        rest.next(); // the ':'
        let mut value = String::new();
        if rest.peek().is_some_and(|&(_, c)| c == '"') {
            rest.next();
            let mut closed = false;
            for (_, c) in rest.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                value.push(c);
            }
            if !closed {
                return Err(SearchError {
                    at,
                    message: format!("`{name}:` has a `\"` that is never closed"),
                });
            }
        } else {
            while let Some(&(_, c)) = rest.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                rest.next();
            }
        }
        if value.is_empty() {
            return Err(SearchError {
                at,
                message: format!("`{name}:` needs a value, e.g. `{name}:something`"),
            });
        }
        let end = rest.peek().map_or(text.len(), |&(i, _)| i);
        out.push(Term {
            at,
            end,
            negated,
            name,
            value,
        });
    }
    Ok(out)
}

/// A positive `name:value` term as typed, with where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSpan {
    /// Byte offset of its start.
    pub at: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// Its value, unquoted.
    pub value: String,
}

/// The positive (not negated) terms of qualifier `name` in `text`; none
/// when the text does not parse.
pub fn qualified_terms(text: &str, name: &str) -> Vec<TermSpan> {
    terms(text)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !t.negated && t.name == name)
        .map(|t| TermSpan {
            at: t.at,
            end: t.end,
            value: t.value,
        })
        .collect()
}

/// What the store's plain query can filter on itself; the rest is
/// [`ChangeFilter::admits`].
pub fn store_query(search: &Search, limit: usize, cursor: Option<String>) -> ChangeQuery {
    let entity = match search.entities.as_slice() {
        [one] => Some(one),
        _ => None,
    };
    ChangeQuery {
        author: single(&search.author),
        entity_type: single(&search.entity_type)
            .or_else(|| entity.and_then(|e| e.entity_type.clone())),
        entity_id: entity.map(|e| e.entity_id.clone()),
        operation: single(&search.operation),
        source: single(&search.source),
        since: search.since,
        until: search.until,
        limit,
        cursor,
    }
}

/// Whether the store's plain query says it all (no OR, no negation), so
/// every record it returns is a match.
pub fn store_is_exact(search: &Search) -> bool {
    let plain = |v: &AnyOf| v.any.len() <= 1 && v.none.is_empty();
    let entity_fits = match (
        search.entities.as_slice(),
        search.entity_type.any.as_slice(),
    ) {
        ([], _) => true,
        ([one], types) => match (&one.entity_type, types) {
            (Some(t), [only]) => t == only,
            _ => true,
        },
        _ => false,
    };
    plain(&search.author)
        && plain(&search.entity_type)
        && plain(&search.operation)
        && plain(&search.source)
        // The plain query has no condition on rules.
        && search.rule == AnyOf::default()
        && search.not_entities.is_empty()
        && entity_fits
}

/// One page of search results.
#[derive(Debug)]
pub struct Page {
    /// Newest first, at most the limit asked for.
    pub rows: Vec<ChangeRecord>,
    /// Where the next page starts, when there may be more.
    pub next_cursor: Option<String>,
    /// Records read from the store to fill this page.
    pub scanned: usize,
    /// The page stopped short because the scan budget was spent (there may
    /// be more matches after `next_cursor`).
    pub budget_spent: bool,
}

/// Store rows read per request at most, when filtering server-side.
pub const SCAN_BUDGET: usize = 5_000;

/// Up to `limit` records admitted by `search`, from `cursor` on, reading at
/// most about `budget` records from the store.
pub fn page(
    store: &dyn MetadataStore,
    search: &Search,
    mut cursor: Option<String>,
    limit: usize,
    budget: usize,
) -> Result<Page, BackendError> {
    if let Some(found) = store.query_filtered(search, limit, cursor.as_deref())? {
        return Ok(Page {
            scanned: found.records.len(),
            rows: found.records,
            next_cursor: found.next_cursor,
            budget_spent: false,
        });
    }
    // An exact store query fills the page in one read; a filtered one reads
    // the most the store gives at once, since each read of a keyset page
    // may cost the store a sort.
    let batch = if store_is_exact(search) {
        limit
    } else {
        trailmark_backend_api::MAX_LIMIT
    };
    let mut rows = Vec::with_capacity(limit);
    let mut scanned = 0;
    loop {
        let from = cursor.clone();
        let got = store.query(&store_query(search, batch, from.clone()))?;
        let count = got.records.len();
        for (i, record) in got.records.into_iter().enumerate() {
            scanned += 1;
            if !search.admits(&record) {
                continue;
            }
            rows.push(record);
            if rows.len() == limit {
                // The cursor after this row: the page's own when it is the
                // last row read, else that of the same query cut after it.
                let next_cursor = if i + 1 == count {
                    got.next_cursor
                } else {
                    store.query(&store_query(search, i + 1, from))?.next_cursor
                };
                return Ok(Page {
                    rows,
                    next_cursor,
                    scanned,
                    budget_spent: false,
                });
            }
        }
        cursor = got.next_cursor;
        if cursor.is_none() || scanned >= budget {
            return Ok(Page {
                rows,
                budget_spent: cursor.is_some(),
                next_cursor: cursor,
                scanned,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_064_800_000;

    #[test]
    fn qualifiers_map_onto_fields() {
        let s = parse(
            r#"author:ann type:book op:update source:com.acme entity:book/42 after:"3 hours ago" before:2025-11-25T10:00:00Z"#,
            NOW,
        )
        .unwrap();
        assert_eq!(s.author.any, ["ann"]);
        assert_eq!(s.entity_type.any, ["book"]);
        assert_eq!(s.operation.any, ["update"]);
        assert_eq!(s.source.any, ["com.acme"]);
        assert_eq!(
            s.entities,
            [EntityKey {
                entity_type: Some("book".into()),
                entity_id: "42".into()
            }]
        );
        assert_eq!(s.since, Some(NOW - 3 * 3_600_000));
        assert_eq!(s.until, Some(NOW));
        let q = store_query(&s, 50, None);
        assert_eq!(q.author.as_deref(), Some("ann"));
        assert_eq!(q.entity_id.as_deref(), Some("42"));
        assert_eq!(q.operation.as_deref(), Some("update"));
        assert_eq!(q.since, Some(NOW - 3 * 3_600_000));
    }

    #[test]
    fn repeats_are_or_ed_and_left_to_the_filter() {
        let s = parse("op:insert op:update -author:bot", NOW).unwrap();
        assert_eq!(s.operation.any, ["insert", "update"]);
        assert_eq!(s.author.none, ["bot"]);
        let q = store_query(&s, 50, None);
        assert_eq!(q.operation, None, "the store cannot OR");
        assert_eq!(q.author, None, "the store cannot negate");
        let rec = |op: &str, author: &str| ChangeRecord {
            event_id: "e".into(),
            source: "s".into(),
            entity_type: "book".into(),
            entity_id: "1".into(),
            operation: op.into(),
            ts: 0,
            author: author.into(),
            archive_key: None,
            attributes: "{}".into(),
            rules: Vec::new(),
        };
        assert!(s.admits(&rec("insert", "ann")));
        assert!(s.admits(&rec("update", "ann")));
        assert!(!s.admits(&rec("delete", "ann")));
        assert!(!s.admits(&rec("insert", "bot")));
    }

    #[test]
    fn the_store_query_is_exact_only_without_or_and_negation() {
        for exact in [
            "",
            "author:ann type:book op:update",
            "entity:book/1 type:book",
            "entity:1 after:1h",
        ] {
            assert!(store_is_exact(&parse(exact, NOW).unwrap()), "{exact}");
        }
        for filtered in [
            "op:insert op:update",
            "-author:bob",
            "entity:1 entity:2",
            "-entity:1",
            "entity:book/1 type:user",
            "rule:delete-alert",
            "-rule:log",
        ] {
            assert!(
                !store_is_exact(&parse(filtered, NOW).unwrap()),
                "{filtered}"
            );
        }
    }

    #[test]
    fn rule_matches_the_rules_the_event_matched() {
        let s = parse("rule:delete-alert rule:archive -rule:log", NOW).unwrap();
        assert_eq!(s.rule.any, ["delete-alert", "archive"]);
        assert_eq!(s.rule.none, ["log"]);
        let rec = |rules: &[&str]| ChangeRecord {
            event_id: "e".into(),
            source: "s".into(),
            entity_type: "book".into(),
            entity_id: "1".into(),
            operation: "delete".into(),
            ts: 0,
            author: "a".into(),
            archive_key: None,
            attributes: "{}".into(),
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        };
        assert!(s.admits(&rec(&["archive", "metadata"])));
        assert!(s.admits(&rec(&["delete-alert"])));
        assert!(
            !s.admits(&rec(&["delete-alert", "log"])),
            "excluded by -rule:log"
        );
        assert!(!s.admits(&rec(&["metadata"])));
        assert!(!s.admits(&rec(&[])), "records from before rules were kept");
    }

    #[test]
    fn negated_entity_and_bare_id() {
        let s = parse("-entity:book/1 entity:2", NOW).unwrap();
        assert_eq!(s.not_entities[0].entity_type.as_deref(), Some("book"));
        assert_eq!(s.entities[0].entity_type, None);
        assert_eq!(s.entities[0].entity_id, "2");
    }

    #[test]
    fn errors_point_at_the_term_and_say_what_is_valid() {
        let cases = [
            ("author:ann foo", 11, "has no qualifier"),
            ("colour:red", 0, "unknown qualifier `colour:`"),
            ("op:remove", 0, "insert, update or delete"),
            ("author:", 0, "needs a value"),
            (r#"author:"ann"#, 0, "never closed"),
            ("-after:1h", 0, "cannot be negated"),
            ("after:tomorrow", 0, "RFC 3339"),
        ];
        for (text, at, needle) in cases {
            let e = parse(text, NOW).unwrap_err();
            assert_eq!(e.at, at, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn empty_and_spaces_are_everything() {
        assert_eq!(parse("   ", NOW).unwrap(), Search::default());
        let s = parse(r#"author:"Ann Lee""#, NOW).unwrap();
        assert_eq!(s.author.any, ["Ann Lee"]);
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use trailmark_backend_api::{BackendResult, ChangePage, HistoryQuery, PutOutcome};
    use trailmark_backends::SqliteMetadata;

    /// SQLite seen through the plain query only, as a store that cannot
    /// say OR or NOT would be.
    struct PlainOnly(SqliteMetadata);

    impl MetadataStore for PlainOnly {
        fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
            self.0.put(change)
        }
        fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage> {
            self.0.query(query)
        }
        fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
            self.0.history(query)
        }
    }

    fn every_page(store: &dyn MetadataStore, search: &Search, budget: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let found = page(store, search, cursor, 7, budget).expect("page");
            assert!(found.rows.len() <= 7);
            ids.extend(found.rows.into_iter().map(|r| r.event_id));
            cursor = found.next_cursor;
            if cursor.is_none() {
                return ids;
            }
        }
    }

    #[test]
    fn a_store_without_filters_gets_the_same_pages_filtered_here() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = SqliteMetadata::open(dir.path().join("m.sqlite")).expect("open");
        for i in 0..400u32 {
            sqlite
                .put(&ChangeRecord {
                    event_id: format!("e{i:04}"),
                    source: "s".into(),
                    entity_type: ["book", "user"][(i % 2) as usize].into(),
                    entity_id: (i % 5).to_string(),
                    operation: ["insert", "update", "delete"][(i % 3) as usize].into(),
                    ts: i64::from(i / 3),
                    author: ["ann", "bob", "cat"][(i / 7 % 3) as usize].into(),
                    archive_key: None,
                    attributes: "{}".into(),
                    rules: Vec::new(),
                })
                .expect("put");
        }
        let plain = PlainOnly(SqliteMetadata::open(dir.path().join("m.sqlite")).expect("open"));
        for q in [
            "",
            "type:book",
            "author:ann author:bob -op:delete",
            "-entity:3 type:user op:insert op:delete",
            "entity:book/2 entity:4",
        ] {
            let search = parse(q, 0).expect("query");
            let in_sql = every_page(&sqlite, &search, SCAN_BUDGET);
            assert!(!in_sql.is_empty(), "{q}");
            assert_eq!(every_page(&plain, &search, SCAN_BUDGET), in_sql, "{q}");
        }
    }
}
