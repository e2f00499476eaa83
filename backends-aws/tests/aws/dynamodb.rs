//! DynamoDB metadata: idempotent puts, history, the author index, filters,
//! pagination.

use trailmark_backend_api::{
    BackendError, ChangeQuery, ChangeRecord, HistoryQuery, MetadataStore, PutOutcome,
};

use crate::common::{new_store, runtime};

fn change(
    event_id: &str,
    entity: (&str, &str),
    author: &str,
    operation: &str,
    ts: i64,
) -> ChangeRecord {
    ChangeRecord {
        event_id: event_id.to_owned(),
        source: if ts % 2 == 0 {
            "com.example.books"
        } else {
            "com.example.shop"
        }
        .to_owned(),
        entity_type: entity.0.to_owned(),
        entity_id: entity.1.to_owned(),
        operation: operation.to_owned(),
        ts,
        author: author.to_owned(),
        archive_key: (operation != "delete")
            .then(|| format!("{}/{}/{event_id}.json", entity.0, entity.1)),
        attributes: format!(r#"{{"n":{ts}}}"#),
        rules: Vec::new(),
    }
}

/// Every version of `entity` (of `source`, if given), following cursors with
/// pages of `limit`.
fn history(
    store: &dyn MetadataStore,
    entity: (&str, &str),
    source: Option<&str>,
    limit: usize,
) -> Vec<ChangeRecord> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .history(&HistoryQuery {
                entity_type: entity.0.to_owned(),
                entity_id: entity.1.to_owned(),
                source: source.map(str::to_owned),
                limit,
                cursor,
            })
            .unwrap();
        assert!(page.records.len() <= limit.max(1));
        records.extend(page.records);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return records;
        }
    }
}

fn ids(records: &[ChangeRecord]) -> Vec<&str> {
    records.iter().map(|r| r.event_id.as_str()).collect()
}

#[test]
fn a_redelivered_change_is_stored_once() {
    let rt = runtime();
    let store = new_store(&rt, "idem");
    let record = change("evt-1", ("book", "42"), "alice", "insert", 1_000);
    assert_eq!(store.put(&record).unwrap(), PutOutcome::Inserted);
    assert_eq!(store.put(&record).unwrap(), PutOutcome::AlreadyPresent);
    assert_eq!(store.put(&record).unwrap(), PutOutcome::AlreadyPresent);
    assert_eq!(history(&*store, ("book", "42"), None, 100), vec![record]);
}

#[test]
fn history_is_one_entity_oldest_first() {
    let rt = runtime();
    let store = new_store(&rt, "hist");
    let later = change("evt-b", ("book", "42"), "bob", "update", 2_000);
    let first = change("evt-a", ("book", "42"), "alice", "insert", 1_000);
    let last = change("evt-c", ("book", "42"), "alice", "delete", 3_000);
    let negative = change("evt-0", ("book", "42"), "alice", "insert", -5);
    // Same type, id with a `#`: must not mix with `42`.
    let other = change("evt-x", ("book", "42#1"), "alice", "insert", 1_500);
    for record in [&later, &first, &last, &negative, &other] {
        store.put(record).unwrap();
    }
    assert_eq!(
        history(&*store, ("book", "42"), None, 100),
        vec![negative.clone(), first.clone(), later.clone(), last.clone()]
    );
    assert_eq!(history(&*store, ("book", "42#1"), None, 100), vec![other]);
    assert!(history(&*store, ("book", "nope"), None, 100).is_empty());
    // `change` gives even times to com.example.books, odd ones to the shop.
    for limit in [1, 2, 100] {
        assert_eq!(
            history(&*store, ("book", "42"), Some("com.example.books"), limit),
            vec![first.clone(), later.clone(), last.clone()]
        );
        assert_eq!(
            history(&*store, ("book", "42"), Some("com.example.shop"), limit),
            vec![negative.clone()]
        );
    }
}

#[test]
fn history_pages_by_source_return_each_version_once() {
    let rt = runtime();
    let store = new_store(&rt, "hpage");
    for i in 0..13 {
        store
            .put(&change(
                &format!("e{i:02}"),
                ("book", "7"),
                "ann",
                "update",
                i,
            ))
            .unwrap();
    }
    let books = history(&*store, ("book", "7"), Some("com.example.books"), 2);
    assert_eq!(
        ids(&books),
        ["e00", "e02", "e04", "e06", "e08", "e10", "e12"]
    );
    let all = history(&*store, ("book", "7"), None, 3);
    assert_eq!(all.len(), 13);
}

#[test]
fn author_queries_come_from_the_author_index_newest_first() {
    let rt = runtime();
    let store = new_store(&rt, "author");
    for (i, author) in ["alice", "bob", "alice", "carol", "alice"]
        .iter()
        .enumerate()
    {
        let ts = 1_000 + i as i64;
        store
            .put(&change(
                &format!("evt-{i}"),
                ("book", &i.to_string()),
                author,
                "update",
                ts,
            ))
            .unwrap();
    }
    let page = store
        .query(&ChangeQuery {
            author: Some("alice".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&page.records), ["evt-4", "evt-2", "evt-0"]);
    assert_eq!(page.next_cursor, None);
    let none = store
        .query(&ChangeQuery {
            author: Some("dave".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(none.records.is_empty());
}

#[test]
fn filters_combine_on_every_path() {
    let rt = runtime();
    let store = new_store(&rt, "filters");
    let records = [
        change("e1", ("book", "1"), "alice", "insert", 100),
        change("e2", ("book", "1"), "bob", "update", 200),
        change("e3", ("book", "2"), "alice", "delete", 300),
        change("e4", ("author", "1"), "alice", "insert", 400),
        change("e5", ("book", "1"), "alice", "delete", 500),
    ];
    for record in &records {
        store.put(record).unwrap();
    }
    let all = ChangeQuery::default();
    let entity = with(&all, |q| {
        q.entity_type = Some("book".into());
        q.entity_id = Some("1".into());
    });
    let alice = with(&all, |q| q.author = Some("alice".into()));
    let cases = [
        // Entity (base table) with author and operation filters.
        (entity.clone(), "e5,e2,e1"),
        (with(&entity, |q| q.author = Some("alice".into())), "e5,e1"),
        (with(&entity, |q| q.operation = Some("delete".into())), "e5"),
        // Author index with entity type and time window.
        (
            with(&alice, |q| q.entity_type = Some("book".into())),
            "e5,e3,e1",
        ),
        (
            with(&alice, |q| (q.since, q.until) = (Some(300), Some(500))),
            "e4,e3",
        ),
        // Time index: everything, by operation, by source, by type alone, by window.
        (all.clone(), "e5,e4,e3,e2,e1"),
        (with(&all, |q| q.operation = Some("insert".into())), "e4,e1"),
        (
            with(&all, |q| q.source = Some("com.example.books".into())),
            "e5,e4,e3,e2,e1",
        ),
        (with(&all, |q| q.entity_type = Some("author".into())), "e4"),
        (with(&all, |q| q.entity_id = Some("2".into())), "e3"),
        (
            with(&all, |q| (q.since, q.until) = (Some(200), Some(400))),
            "e3,e2",
        ),
        (
            with(&all, |q| (q.since, q.until) = (Some(400), Some(200))),
            "",
        ),
    ];
    for (query, expected) in cases {
        let found = ids(&store.query(&query).unwrap().records).join(",");
        assert_eq!(found, expected, "{query:?}");
    }
}

/// `base` with the changes `set` makes.
fn with(base: &ChangeQuery, set: impl FnOnce(&mut ChangeQuery)) -> ChangeQuery {
    let mut query = base.clone();
    set(&mut query);
    query
}

#[test]
fn pages_follow_cursors_without_gaps_or_repeats() {
    let rt = runtime();
    let store = new_store(&rt, "pages");
    let total = 23;
    for i in 0..total {
        let author = if i % 3 == 0 { "alice" } else { "bob" };
        // Pairs share a timestamp: order falls back to the event id.
        store
            .put(&change(
                &format!("evt-{i:02}"),
                ("book", &(i % 4).to_string()),
                author,
                "update",
                10_000 + i / 2,
            ))
            .unwrap();
    }
    let walk = |base: ChangeQuery, limit: usize| -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = None;
        loop {
            let page = store
                .query(&ChangeQuery {
                    limit,
                    cursor: cursor.clone(),
                    ..base.clone()
                })
                .unwrap();
            pages += 1;
            assert!(page.records.len() <= limit);
            seen.extend(page.records.iter().map(|r| r.event_id.clone()));
            match page.next_cursor {
                Some(next) => {
                    assert_eq!(page.records.len(), limit, "only full pages have a cursor");
                    cursor = Some(next);
                }
                None => return (seen, pages),
            }
        }
    };
    let mut expected: Vec<String> = (0..total).map(|i| format!("evt-{i:02}")).collect();
    expected.reverse();
    // Time index, merged over its shards.
    let (all, pages) = walk(ChangeQuery::default(), 7);
    assert_eq!(all, expected);
    assert_eq!(pages, 4);
    // Exactly divisible: no empty last page.
    let (all, pages) = walk(ChangeQuery::default(), 23);
    assert_eq!((all.len(), pages), (23, 1));
    // Author index with a filter, pages of 2.
    let (alice, _) = walk(
        ChangeQuery {
            author: Some("alice".into()),
            ..Default::default()
        },
        2,
    );
    let expected_alice: Vec<String> = expected
        .iter()
        .filter(|id| id[4..].parse::<i64>().unwrap() % 3 == 0)
        .cloned()
        .collect();
    assert_eq!(alice, expected_alice);
    // Entity partition, pages of 1.
    let (book0, pages) = walk(
        ChangeQuery {
            entity_type: Some("book".into()),
            entity_id: Some("0".into()),
            ..Default::default()
        },
        1,
    );
    assert_eq!(book0.len(), 6);
    assert_eq!(pages, 6);

    let err = store
        .query(&ChangeQuery {
            cursor: Some("not-a-cursor".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Invalid(ref m) if m.contains("cursor")),
        "{err:?}"
    );
}
