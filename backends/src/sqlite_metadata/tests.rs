use std::collections::HashSet;
use std::thread;

use super::*;

/// The columns of schema versions 1 and 2.
const V2_COLUMNS: &str =
    "event_id, source, entity_type, entity_id, operation, ts, author, archive_key, attributes";
use crate::{DEFAULT_LIMIT, MAX_LIMIT};

fn store(sync: Synchronous) -> (tempfile::TempDir, SqliteMetadata) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMetadata::open_with(dir.path().join("db/metadata.sqlite"), sync)
        .expect("open metadata");
    (dir, store)
}

fn record(event_id: &str, ts: i64) -> ChangeRecord {
    ChangeRecord {
        event_id: event_id.to_owned(),
        source: "com.example.books".into(),
        entity_type: "book".into(),
        entity_id: "42".into(),
        operation: "update".into(),
        ts,
        author: "alice".into(),
        archive_key: Some(format!("book/42/{event_id}.json")),
        attributes: "{}".into(),
        rules: Vec::new(),
    }
}

fn ids(records: &[ChangeRecord]) -> Vec<&str> {
    records.iter().map(|r| r.event_id.as_str()).collect()
}

/// The default query with the changes `set` makes.
fn change_query(set: impl FnOnce(&mut ChangeQuery)) -> ChangeQuery {
    let mut query = ChangeQuery::default();
    set(&mut query);
    query
}

fn all(store: &SqliteMetadata, query: ChangeQuery) -> Vec<ChangeRecord> {
    store.query(&query).expect("query").records
}

/// Every record `query` matches, following cursors from its first page, and
/// how many pages that took; no page holds more than `query.limit`.
fn paged(store: &SqliteMetadata, mut query: ChangeQuery) -> (Vec<ChangeRecord>, usize) {
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.query(&query).expect("page");
        pages += 1;
        assert!(
            page.records.len() <= query.limit,
            "{} records",
            page.records.len()
        );
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return (records, pages),
        }
    }
}

/// Every version of book 42 (of `source`, if given), following cursors with
/// pages of `limit`.
fn history_of(store: &SqliteMetadata, source: Option<&str>, limit: usize) -> Vec<ChangeRecord> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .history(&HistoryQuery {
                entity_type: "book".into(),
                entity_id: "42".into(),
                source: source.map(str::to_owned),
                limit,
                cursor,
            })
            .expect("history");
        assert!(page.records.len() <= page_size(limit));
        records.extend(page.records);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return records;
        }
    }
}

#[test]
fn put_is_idempotent_on_event_id() {
    let (_tmp, store) = store(Synchronous::Full);
    let first = record("e1", 10);
    assert_eq!(store.put(&first), Ok(PutOutcome::Inserted));
    let mut changed = first.clone();
    changed.author = "mallory".into();
    assert_eq!(store.put(&changed), Ok(PutOutcome::AlreadyPresent));
    assert_eq!(store.get("e1"), Ok(Some(first)));
    assert_eq!(all(&store, ChangeQuery::default()).len(), 1);
}

#[test]
fn records_round_trip_with_optional_archive_key() {
    let (_tmp, store) = store(Synchronous::Normal);
    let mut r = record("e:1", -5);
    r.archive_key = None;
    r.attributes = r#"{"title":"Dune","pages":412}"#.into();
    store.put(&r).expect("put");
    assert_eq!(all(&store, ChangeQuery::default()), vec![r]);
    assert_eq!(store.get("missing"), Ok(None));
}

#[test]
fn empty_event_id_is_invalid() {
    let (_tmp, store) = store(Synchronous::Normal);
    assert!(matches!(
        store.put(&record("", 1)),
        Err(BackendError::Invalid(_))
    ));
}

#[test]
fn every_filter_narrows_the_result() {
    let (_tmp, store) = store(Synchronous::Normal);
    let mut a = record("a", 100);
    a.author = "bob".into();
    let mut b = record("b", 200);
    b.entity_type = "author".into();
    let mut c = record("c", 300);
    c.entity_id = "7".into();
    let mut d = record("d", 400);
    d.operation = "delete".into();
    let mut e = record("e", 500);
    e.source = "com.example.shop".into();
    for r in [&a, &b, &c, &d, &e] {
        store.put(r).expect("put");
    }
    let cases: [(&str, ChangeQuery, &[&str]); 9] = [
        (
            "no filter",
            ChangeQuery::default(),
            &["e", "d", "c", "b", "a"],
        ),
        (
            "author",
            change_query(|q| q.author = Some("bob".into())),
            &["a"],
        ),
        (
            "type",
            change_query(|q| q.entity_type = Some("author".into())),
            &["b"],
        ),
        (
            "entity",
            change_query(|q| {
                q.entity_type = Some("book".into());
                q.entity_id = Some("7".into());
            }),
            &["c"],
        ),
        (
            "operation",
            change_query(|q| q.operation = Some("delete".into())),
            &["d"],
        ),
        (
            "source",
            change_query(|q| q.source = Some("com.example.shop".into())),
            &["e"],
        ),
        (
            "since is inclusive, until exclusive",
            change_query(|q| (q.since, q.until) = (Some(200), Some(400))),
            &["c", "b"],
        ),
        (
            "author and since",
            change_query(|q| (q.author, q.since) = (Some("alice".into()), Some(300))),
            &["e", "d", "c"],
        ),
        (
            "an author with no record",
            change_query(|q| q.author = Some("nobody".into())),
            &[],
        ),
    ];
    for (what, query, expected) in cases {
        assert_eq!(ids(&all(&store, query)), expected, "{what}");
    }
}

#[test]
fn pagination_visits_every_record_once_across_ties_in_ts() {
    let (_tmp, store) = store(Synchronous::Normal);
    // 37 records over 5 distinct timestamps, inserted in a scrambled order.
    let mut expected = Vec::new();
    for i in 0..37 {
        let n = (i * 17) % 37;
        let r = record(&format!("evt-{n:02}"), 1_000 + (n % 5) as i64);
        store.put(&r).expect("put");
        expected.push(r);
    }
    expected.sort_by(|x, y| (y.ts, &y.event_id).cmp(&(x.ts, &x.event_id)));

    for page_size in [1, 4, 5, 36, 37, 38] {
        let (seen, pages) = paged(&store, change_query(|q| q.limit = page_size));
        assert_eq!(seen, expected, "page size {page_size}");
        assert_eq!(
            pages,
            37usize.div_ceil(page_size).max(1),
            "page size {page_size}"
        );
    }
}

#[test]
fn pagination_composes_with_filters() {
    let (_tmp, store) = store(Synchronous::Normal);
    for i in 0..20 {
        let mut r = record(&format!("e{i:02}"), i / 3);
        r.author = if i % 2 == 0 { "even" } else { "odd" }.into();
        store.put(&r).expect("put");
    }
    let (records, _pages) = paged(
        &store,
        change_query(|q| {
            q.author = Some("even".into());
            q.since = Some(1);
            q.limit = 3;
        }),
    );
    let seen = ids(&records);
    assert_eq!(
        seen,
        ["e18", "e16", "e14", "e12", "e10", "e08", "e06", "e04"]
    );
}

#[test]
fn limit_defaults_to_100_and_is_capped_at_1000() {
    let (_tmp, store) = store(Synchronous::Normal);
    for i in 0..1005 {
        store.put(&record(&format!("e{i:04}"), i)).expect("put");
    }
    let default_page = store.query(&ChangeQuery::default()).expect("query");
    assert_eq!(default_page.records.len(), DEFAULT_LIMIT);
    assert_eq!(default_page.records[0].event_id, "e1004");
    assert!(default_page.next_cursor.is_some());
    let capped = store
        .query(&change_query(|q| q.limit = 5000))
        .expect("query");
    assert_eq!(capped.records.len(), MAX_LIMIT);
    let rest = store
        .query(&change_query(|q| {
            (q.limit, q.cursor) = (5000, capped.next_cursor)
        }))
        .expect("query");
    assert_eq!(
        ids(&rest.records),
        ["e0004", "e0003", "e0002", "e0001", "e0000"]
    );
    assert_eq!(rest.next_cursor, None);
}

#[test]
fn a_bad_cursor_is_invalid() {
    let (_tmp, store) = store(Synchronous::Normal);
    let err = store
        .query(&change_query(|q| q.cursor = Some("not-a-cursor".into())))
        .expect_err("bad cursor");
    assert!(
        matches!(err, BackendError::Invalid(ref m) if m.contains("cursor")),
        "{err}"
    );
}

#[test]
fn history_lists_one_entity_oldest_first() {
    let (_tmp, store) = store(Synchronous::Normal);
    let mut other = record("other", 5);
    other.entity_id = "43".into();
    store.put(&other).expect("put");
    for (id, ts) in [("c", 30), ("a", 10), ("b2", 20), ("b1", 20)] {
        store.put(&record(id, ts)).expect("put");
    }
    let history = history_of(&store, None, 0);
    assert_eq!(ids(&history), ["a", "b1", "b2", "c"]);
    let nope = HistoryQuery {
        entity_type: "book".into(),
        entity_id: "nope".into(),
        ..HistoryQuery::default()
    };
    assert_eq!(store.history(&nope), Ok(ChangePage::default()));
}

#[test]
fn history_is_per_source_and_pages_return_every_version_once() {
    let (_tmp, store) = store(Synchronous::Normal);
    let mut expected = Vec::new();
    for i in 0..25 {
        // Many share a ts, so pages end inside runs of equal times.
        let mut r = record(&format!("e{i:02}"), i / 4);
        if i % 3 == 0 {
            r.source = "com.evil".into();
        } else {
            expected.push(r.event_id.clone());
        }
        store.put(&r).expect("put");
    }
    for limit in [1, 2, 3, 7, 1000] {
        let books = history_of(&store, Some("com.example.books"), limit);
        assert_eq!(ids(&books), expected, "limit {limit}");
        let evil = history_of(&store, Some("com.evil"), limit);
        assert!(evil.iter().all(|r| r.source == "com.evil"));
        assert_eq!(evil.len() + books.len(), 25);
        assert_eq!(history_of(&store, None, limit).len(), 25);
    }
    assert!(history_of(&store, Some("com.nobody"), 0).is_empty());
}

#[test]
fn history_and_change_cursors_are_not_interchangeable() {
    let (_tmp, store) = store(Synchronous::Normal);
    for i in 0..3 {
        store.put(&record(&format!("e{i}"), i)).expect("put");
    }
    let changes_cursor = store
        .query(&change_query(|q| q.limit = 1))
        .expect("query")
        .next_cursor
        .expect("more pages");
    let err = store
        .history(&HistoryQuery {
            entity_type: "book".into(),
            entity_id: "42".into(),
            cursor: Some(changes_cursor),
            ..HistoryQuery::default()
        })
        .expect_err("a changes cursor");
    assert!(
        matches!(err, BackendError::Invalid(ref m) if m.contains("next_cursor")),
        "{err}"
    );
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.sqlite");
    {
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(schema::MIGRATIONS[0])
            .expect("version 1 schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            &format!("INSERT INTO changes ({V2_COLUMNS}) VALUES ('old', 'com.example.books', 'book', '42', 'insert', 7, 'ann', NULL, '{{}}')"),
            [],
        )
        .expect("a version 1 record");
    }
    let store = SqliteMetadata::open(&path).expect("open migrates");
    let (version, indexes): (i64, Vec<String>) = {
        let conn = store.writer.connection();
        let mut names = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .expect("index names");
        (
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("version"),
            names
                .query_map([], |r| r.get(0))
                .expect("indexes")
                .collect::<rusqlite::Result<_>>()
                .expect("indexes"),
        )
    };
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        indexes,
        [
            "changes_by_author",
            "changes_by_entity",
            "changes_by_ts",
            "changes_by_type_ts"
        ]
    );
    assert_eq!(
        ids(&history_of(&store, Some("com.example.books"), 0)),
        ["old"]
    );
    // The migrated record still keeps its event id unique.
    let again = ChangeRecord {
        event_id: "old".into(),
        source: "com.example.books".into(),
        entity_type: "book".into(),
        entity_id: "42".into(),
        operation: "insert".into(),
        ts: 7,
        author: "ann".into(),
        archive_key: None,
        attributes: "{}".into(),
        rules: Vec::new(),
    };
    assert_eq!(store.put(&again), Ok(PutOutcome::AlreadyPresent));
}

#[test]
fn a_version_2_database_is_migrated_in_arrival_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.sqlite");
    {
        let conn = Connection::open(&path).expect("create");
        for step in &schema::MIGRATIONS[..2] {
            conn.execute_batch(step).expect("version 2 schema");
        }
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        // Inserted newest first: arrival order is not ts order.
        for (id, ts) in [("c", 30), ("a", 10), ("b", 20)] {
            conn.execute(
                &format!("INSERT INTO changes ({V2_COLUMNS}) VALUES (?1, 's', 't', '1', 'update', ?2, 'ann', NULL, '{{}}')"),
                rusqlite::params![id, ts],
            )
            .expect("a version 2 record");
        }
    }
    drop(SqliteMetadata::open(&path).expect("open migrates"));
    let mut order = Vec::new();
    let count = SqliteMetadata::read_all(&path, |r| order.push(r.event_id)).expect("read all");
    assert_eq!(
        (count, order),
        (3, vec!["c".into(), "a".into(), "b".into()])
    );
}

#[test]
fn data_and_schema_version_survive_reopen_and_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.sqlite");
    {
        let store = SqliteMetadata::open(&path).expect("open");
        store.put(&record("kept", 1)).expect("put");
    }
    let store = SqliteMetadata::open(&path).expect("reopen");
    assert_eq!(store.get("kept").expect("get").map(|r| r.ts), Some(1));
    let (version, mode): (i64, String) = {
        let conn = store.writer.connection();
        (
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("version"),
            conn.pragma_query_value(None, "journal_mode", |r| r.get(0))
                .expect("mode"),
        )
    };
    assert_eq!((version, mode.as_str()), (SCHEMA_VERSION, "wal"));
    drop(store);

    let conn = Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    let err = SqliteMetadata::open(&path).expect_err("newer schema");
    assert!(
        matches!(err, BackendError::Invalid(ref m) if m.contains("upgrade")),
        "{err}"
    );
}

#[test]
fn queries_by_author_and_entity_use_their_indexes() {
    let (_tmp, store) = store(Synchronous::Normal);
    let plan = |sql: &str| -> String {
        let conn = store.writer.connection();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan rows")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("plan");
        rows.join("\n")
    };
    let (sql, _) = query::select(&ChangeQuery {
        author: Some("a".into()),
        ..Default::default()
    })
    .expect("sql");
    let by_author = plan(&sql.replace("?1", "'a'").replace("?2", "10"));
    assert!(by_author.contains("changes_by_author"), "{by_author}");
    assert!(
        !by_author.contains("TEMP B-TREE"),
        "no sort step: {by_author}"
    );
    for source in [None, Some("s".to_owned())] {
        let (sql, _) = query::select_history(&HistoryQuery {
            entity_type: "b".into(),
            entity_id: "1".into(),
            source: source.clone(),
            ..Default::default()
        })
        .expect("sql");
        let by_entity = plan(
            &sql.replace("?1", "'b'")
                .replace("?2", "'1'")
                .replace("?3", if source.is_some() { "'s'" } else { "10" })
                .replace("?4", "10"),
        );
        assert!(by_entity.contains("changes_by_entity"), "{by_entity}");
        assert!(
            !by_entity.contains("TEMP B-TREE"),
            "no sort step: {by_entity}"
        );
    }
    let (sql, _) = query::select(&ChangeQuery::default()).expect("sql");
    let newest = plan(&sql.replace("?1", "10"));
    assert!(newest.contains("changes_by_ts"), "{newest}");
    assert!(!newest.contains("TEMP B-TREE"), "no sort step: {newest}");
}

#[test]
fn concurrent_puts_and_queries_from_many_threads() {
    let (_tmp, store) = store(Synchronous::Normal);
    let inserted = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            let inserted = &inserted;
            s.spawn(move || {
                for i in 0..50 {
                    // Every id is put twice, by two different threads.
                    let id = format!("e{}", (t % 4) * 1000 + i);
                    if store.put(&record(&id, i)).expect("put") == PutOutcome::Inserted {
                        inserted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if i % 10 == 0 {
                        store.query(&ChangeQuery::default()).expect("query");
                        history_of(store, None, 0);
                    }
                }
            });
        }
    });
    assert_eq!(inserted.into_inner(), 200, "each id inserted exactly once");
    let history = history_of(&store, None, 0);
    assert_eq!(history.len(), 200);
    let unique: HashSet<_> = history.iter().map(|r| &r.event_id).collect();
    assert_eq!(unique.len(), 200);
}

#[test]
fn concurrent_durable_puts_share_commits_and_keep_each_outcome() {
    let (_tmp, store) = store(Synchronous::Full);
    let outcomes = Mutex::new(Vec::new());
    thread::scope(|s| {
        for t in 0..8 {
            let (store, outcomes) = (&store, &outcomes);
            s.spawn(move || {
                for i in 0..30 {
                    // Threads t and t + 4 put the same ids, often in one batch.
                    let id = format!("e{}-{i}", t % 4);
                    let outcome = store.put(&record(&id, i)).expect("put");
                    lock(outcomes).push((id, outcome));
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().expect("outcomes");
    let inserted: HashSet<_> = outcomes
        .iter()
        .filter(|(_, o)| *o == PutOutcome::Inserted)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(outcomes.len(), 240);
    assert_eq!(inserted.len(), 120, "each id inserted exactly once");
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, o)| *o == PutOutcome::AlreadyPresent)
            .count(),
        120
    );
    assert_eq!(history_of(&store, None, 0).len(), 120);
    assert!(store.commits() <= 240, "{} commits", store.commits());
}

#[test]
fn batched_mode_defaults_to_normal_and_sync_makes_commits_durable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.sqlite");
    let store =
        SqliteMetadata::open_for(&path, None, crate::Durability::Batched).expect("open batched");
    let mode: i64 = store
        .writer
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, 1, "NORMAL (1) under batched durability");
    store.put(&record("e1", 1)).expect("put");
    store.sync().expect("sync");
    drop(store);
    let reopened = SqliteMetadata::open(&path).expect("reopen");
    assert!(reopened.get("e1").expect("get").is_some());

    let each = SqliteMetadata::open_for(&path, None, crate::Durability::EachWrite).expect("open");
    let mode: i64 = each
        .writer
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, 2, "FULL (2) when each write must be durable");
}

#[test]
fn put_many_commits_a_batch_in_one_transaction_with_an_outcome_each() {
    let (_dir, store) = store(Synchronous::Normal);
    store.put(&record("e0", 1)).expect("first");
    let before = store.commits();
    let mut empty = record("e9", 9);
    empty.event_id.clear();
    let outcomes = store.put_many(&[
        record("e1", 1),
        record("e0", 1),
        empty,
        record("e2", 2),
        record("e1", 1),
    ]);
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                Ok(PutOutcome::Inserted),
                Ok(PutOutcome::AlreadyPresent),
                Err(BackendError::Invalid(_)),
                Ok(PutOutcome::Inserted),
                Ok(PutOutcome::AlreadyPresent),
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(store.commits() - before, 1, "one transaction for the batch");
    assert_eq!(all(&store, ChangeQuery::default()).len(), 3);
}

/// A store opened as the host opens it: durable after `sync`.
fn batched(dir: &tempfile::TempDir) -> SqliteMetadata {
    SqliteMetadata::open_for(
        dir.path().join("m.sqlite"),
        None,
        crate::Durability::Batched,
    )
    .expect("open batched")
}

/// Put records `e{first}`..`e{end - 1}`.
fn put_range(store: &SqliteMetadata, range: std::ops::Range<i64>) {
    for i in range {
        store.put(&record(&format!("e{i}"), i)).expect("put");
    }
}

/// Records committed to the file, as another connection sees them.
fn committed(dir: &tempfile::TempDir) -> usize {
    let mut n = 0;
    SqliteMetadata::read_all(&dir.path().join("m.sqlite"), |_| n += 1).expect("read all");
    n as usize
}

#[test]
fn batched_puts_share_one_commit_until_sync_or_a_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batched(&dir);
    for i in 0..32 {
        let outcome = store.put(&record(&format!("e{i}"), i)).expect("put");
        assert_eq!(outcome, PutOutcome::Inserted);
    }
    assert_eq!(
        store.put(&record("e3", 3)).expect("put"),
        PutOutcome::AlreadyPresent,
        "a duplicate is seen inside the open transaction"
    );
    assert_eq!(store.commits(), 0, "one after another, in one transaction");
    assert_eq!(committed(&dir), 0);
    // A read of the store sees every put that returned before it.
    assert_eq!(all(&store, ChangeQuery::default()).len(), 32);
    assert_eq!(store.commits(), 1);
    put_range(&store, 32..40);
    store.sync().expect("sync");
    assert_eq!(store.commits(), 2, "sync commits what is pending");
    assert_eq!(committed(&dir), 40);
    store.sync().expect("nothing pending");
    assert_eq!(store.commits(), 2);
}

#[test]
fn a_batched_transaction_is_committed_every_4096_puts_and_at_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batched(&dir);
    put_range(&store, 0..4100);
    assert_eq!(store.commits(), 1);
    assert_eq!(committed(&dir), 4096);
    drop(store);
    assert_eq!(committed(&dir), 4100, "a clean close commits the rest");
}

#[test]
fn puts_of_a_rolled_back_transaction_are_written_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batched(&dir);
    put_range(&store, 0..5);
    // As SQLite does on an I/O error or a full disk mid-transaction.
    let roll_back = |store: &SqliteMetadata| {
        store
            .writer
            .connection()
            .execute_batch("ROLLBACK")
            .expect("roll back behind the writer's back");
    };
    roll_back(&store);
    store.put(&record("e5", 5)).expect("put after the rollback");
    store.sync().expect("sync");
    assert_eq!(committed(&dir), 6, "nothing that returned is lost");

    put_range(&store, 6..8);
    roll_back(&store);
    store.sync().expect("sync writes them again, then commits");
    assert_eq!(committed(&dir), 8);
}
