//! The query bar: `author:ann type:book -op:delete after:"3 hours ago"`.
//!
//! [`parse`] turns the text into a [`Search`]: qualifiers `author:`, `type:`,
//! `entity:` (`type/id` or `id`), `op:`, `source:`, `before:` and `after:`;
//! a leading `-` negates; values with spaces are quoted. The same qualifier
//! given twice is OR-ed (`op:insert op:update`), different qualifiers are
//! AND-ed, negations exclude. Times are AND-ed (each `after:` raises the
//! lower bound).
//!
//! [`Search::store_query`] narrows what the metadata store is asked where it
//! can say so itself (one positive value per field, the time range). The
//! store cannot express OR or NOT, so [`Search::admits`] checks every term
//! on each row and [`page`] filters store pages server-side, scanning at most
//! a budget of rows per request and handing back a cursor to continue.

use trailmark_backend_api::{BackendError, ChangeQuery, ChangeRecord, MetadataStore};

use crate::when::parse_time_ms;

/// The qualifiers, as typed.
pub const QUALIFIERS: &[&str] = &[
    "author", "type", "entity", "op", "source", "before", "after",
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

/// Values of one field: a row passes when it equals one of `any` (or `any`
/// is empty) and none of `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    /// OR-ed positive values.
    pub any: Vec<String>,
    /// Excluded values.
    pub none: Vec<String>,
}

impl Values {
    fn admits(&self, value: &str) -> bool {
        (self.any.is_empty() || self.any.iter().any(|v| v == value))
            && !self.none.iter().any(|v| v == value)
    }

    /// The value the store can filter on itself: exactly one positive.
    fn single(&self) -> Option<String> {
        match self.any.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }
}

/// An `entity:` value: `book/42` or just `42`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRef {
    /// The type, when given.
    pub entity_type: Option<String>,
    /// The id.
    pub entity_id: String,
}

impl EntityRef {
    fn parse(value: &str) -> Self {
        match value.split_once('/') {
            Some((t, id)) if !t.is_empty() && !id.is_empty() => EntityRef {
                entity_type: Some(t.to_owned()),
                entity_id: id.to_owned(),
            },
            _ => EntityRef {
                entity_type: None,
                entity_id: value.to_owned(),
            },
        }
    }

    fn is(&self, record: &ChangeRecord) -> bool {
        record.entity_id == self.entity_id
            && self
                .entity_type
                .as_ref()
                .is_none_or(|t| *t == record.entity_type)
    }
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// `author:`.
    pub author: Values,
    /// `type:`.
    pub entity_type: Values,
    /// `op:`.
    pub operation: Values,
    /// `source:`.
    pub source: Values,
    /// `entity:`, OR-ed.
    pub entity: Vec<EntityRef>,
    /// `-entity:`.
    pub not_entity: Vec<EntityRef>,
    /// `after:`: `ts >= since`.
    pub since: Option<i64>,
    /// `before:`: `ts < until`.
    pub until: Option<i64>,
}

/// Parse the query bar text; relative times count back from `now_ms`.
pub fn parse(text: &str, now_ms: i64) -> Result<Search, SearchError> {
    let mut search = Search::default();
    for term in terms(text)? {
        let Term {
            at,
            negated,
            name,
            value,
        } = term;
        let err = |message: String| SearchError { at, message };
        let values = match name {
            "author" => Some(&mut search.author),
            "type" => Some(&mut search.entity_type),
            "source" => Some(&mut search.source),
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
            "entity" if negated => search.not_entity.push(EntityRef::parse(&value)),
            "entity" => search.entity.push(EntityRef::parse(&value)),
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
        out.push(Term {
            at,
            negated,
            name,
            value,
        });
    }
    Ok(out)
}

impl Search {
    /// What the store can filter on itself; the rest is [`Search::admits`].
    pub fn store_query(&self, limit: usize, cursor: Option<String>) -> ChangeQuery {
        let entity = match self.entity.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        ChangeQuery {
            author: self.author.single(),
            entity_type: self
                .entity_type
                .single()
                .or_else(|| entity.and_then(|e| e.entity_type.clone())),
            entity_id: entity.map(|e| e.entity_id.clone()),
            operation: self.operation.single(),
            source: self.source.single(),
            since: self.since,
            until: self.until,
            limit,
            cursor,
        }
    }

    /// Whether the store query says it all (no OR, no negation), so every
    /// record it returns is a match.
    pub fn store_is_exact(&self) -> bool {
        let plain = |v: &Values| v.any.len() <= 1 && v.none.is_empty();
        let entity_fits = match (self.entity.as_slice(), self.entity_type.any.as_slice()) {
            ([], _) => true,
            ([one], types) => match (&one.entity_type, types) {
                (Some(t), [only]) => t == only,
                _ => true,
            },
            _ => false,
        };
        plain(&self.author)
            && plain(&self.entity_type)
            && plain(&self.operation)
            && plain(&self.source)
            && self.not_entity.is_empty()
            && entity_fits
    }

    /// Whether a record satisfies every term.
    pub fn admits(&self, r: &ChangeRecord) -> bool {
        self.author.admits(&r.author)
            && self.entity_type.admits(&r.entity_type)
            && self.operation.admits(&r.operation)
            && self.source.admits(&r.source)
            && (self.entity.is_empty() || self.entity.iter().any(|e| e.is(r)))
            && !self.not_entity.iter().any(|e| e.is(r))
            && self.since.is_none_or(|s| r.ts >= s)
            && self.until.is_none_or(|u| r.ts < u)
    }
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
    // An exact store query fills the page in one read; a filtered one reads
    // the most the store gives at once, since each read of a keyset page
    // may cost the store a sort.
    let batch = if search.store_is_exact() {
        limit
    } else {
        trailmark_backend_api::MAX_LIMIT
    };
    let mut rows = Vec::with_capacity(limit);
    let mut scanned = 0;
    loop {
        let from = cursor.clone();
        let got = store.query(&search.store_query(batch, from.clone()))?;
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
                    store.query(&search.store_query(i + 1, from))?.next_cursor
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
            s.entity,
            [EntityRef {
                entity_type: Some("book".into()),
                entity_id: "42".into()
            }]
        );
        assert_eq!(s.since, Some(NOW - 3 * 3_600_000));
        assert_eq!(s.until, Some(NOW));
        let q = s.store_query(50, None);
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
        let q = s.store_query(50, None);
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
            assert!(parse(exact, NOW).unwrap().store_is_exact(), "{exact}");
        }
        for filtered in [
            "op:insert op:update",
            "-author:bob",
            "entity:1 entity:2",
            "-entity:1",
            "entity:book/1 type:user",
        ] {
            assert!(
                !parse(filtered, NOW).unwrap().store_is_exact(),
                "{filtered}"
            );
        }
    }

    #[test]
    fn negated_entity_and_bare_id() {
        let s = parse("-entity:book/1 entity:2", NOW).unwrap();
        assert_eq!(s.not_entity[0].entity_type.as_deref(), Some("book"));
        assert_eq!(s.entity[0].entity_type, None);
        assert_eq!(s.entity[0].entity_id, "2");
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
