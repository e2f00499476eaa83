//! Matching through a `Session` allocates nothing once its buffers have grown: counted
//! with a global allocator (this test binary's own), per thread, so that the test
//! harness's own threads do not count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use trailmark_pattern::{MatcherBuilder, Pattern, StateChangeCaptures};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCS.with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn matching_allocates_nothing_after_warm_up() {
    let patterns = [
        r#"{"detail-type": ["Object State Change"], "detail": {"operation": ["delete"]}}"#,
        r#"{"detail": {"author": [{"prefix": "user1"}], "entity-type": [{"equals-ignore-case": "BOOK"}]}}"#,
        r#"{"detail": {"data": {"price": [{"numeric": [">", 10, "<=", 20]}], "ip": [{"cidr": "10.0.0.0/8"}]}}}"#,
        r#"{"resources": [{"wildcard": "arn:*:s3:::*"}], "detail": {"data": {"gone": [{"exists": false}]}}}"#,
        r#"{"$or": [{"detail": {"operation": [{"anything-but": ["insert"]}]}}, {"source": [{"suffix": ".app"}]}]}"#,
    ];
    let mut b = MatcherBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        b.add(i as u32, &Pattern::parse_str(p).expect("valid"));
    }
    let caps = StateChangeCaptures::register(&mut b);
    let mut session = b.build().session();
    let events: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"detail-type": "Object State Change", "source": "s{i}.app", "resources": ["arn:aws:s3:::b/{i}"],
                "detail": {{"entity-type": "Book", "entity-id": "b-\u00e9{i}", "operation": "{}", "ts": {i},
                "author": "user{i}@x", "data": {{"price": {}.5, "ip": "10.0.0.{i}", "tags": [1, 2, "x"]}}}}}}"#,
                ["insert", "update", "delete"][i % 3],
                i
            )
        })
        .collect();
    let mut total = 0;
    for e in &events {
        total += session.matches(e.as_bytes()).expect("valid").rules().len();
    }
    assert!(total > 0);
    let before = allocs();
    let mut again = 0;
    for e in &events {
        again += session.matches(e.as_bytes()).expect("valid").rules().len();
    }
    assert_eq!(allocs() - before, 0, "allocations in 50 matches");
    assert_eq!(again, total);
    // Reading unescaped strings and spans borrows from the event.
    let m = session.matches(events[0].as_bytes()).expect("valid");
    let before = allocs();
    let f = caps.read(&m);
    assert_eq!(f.operation.as_deref(), Some("insert"));
    assert!(f.data.is_some() && f.detail.is_some());
    assert_eq!(f.ts.and_then(|t| t.as_u64()), Some(0));
    assert!(matches!(
        f.author,
        Some(std::borrow::Cow::Borrowed("user0@x"))
    ));
    assert!(
        matches!(f.entity_id, Some(std::borrow::Cow::Owned(_))),
        "escaped: decoded"
    );
    assert!(allocs() - before > 0);
}
