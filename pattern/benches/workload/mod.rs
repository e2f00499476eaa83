//! Generated audit events and rules shared by the benches: fixed seeds, so every run
//! (and both engines in `peers`) sees the same inputs.

#![allow(dead_code)] // each bench uses a part

use serde_json::{Value, json};

/// A fixed-seed generator, so every run sees the same events and rules.
pub(crate) use trailmark_bench_support::Rng;

pub(crate) const ENTITY_TYPES: &[&str] =
    &["book", "author", "order", "invoice", "customer", "shipment"];
pub(crate) const OPERATIONS: &[&str] = &["insert", "update", "delete"];
pub(crate) const LANGS: &[&str] = &["en", "de", "fr", "es"];
pub(crate) const FORMATS: &[&str] = &["hardcover", "paperback", "ebook"];
pub(crate) const STATUSES: &[&str] = &["draft", "active", "archived", "deleted", "pending"];

fn uuid(rng: &mut Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.next_u64() as u32,
        rng.below(65536),
        rng.below(4096),
        rng.below(4096),
        rng.below(1 << 48)
    )
}

/// One `Object State Change` audit event (about 900 bytes as compact JSON).
pub(crate) fn event(rng: &mut Rng, n: u64) -> Value {
    let et = rng.pick(ENTITY_TYPES);
    let op = OPERATIONS[rng.below(3) as usize];
    let user = rng.below(20_000);
    let id = rng.below(1_000_000);
    json!({
        "version": "0",
        "id": uuid(rng),
        "detail-type": "Object State Change",
        "source": format!("com.example.app{}", rng.below(50)),
        "account": "123456789012",
        "time": format!("2026-11-{:02}T{:02}:{:02}:{:02}Z", 1 + rng.below(28), rng.below(24), rng.below(60), rng.below(60)),
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::bucket-{}/{}/{}", rng.below(100), et, id)],
        "detail": {
            "entity-type": et,
            "entity-id": format!("{et}-{id:06}"),
            "operation": op,
            "ts": 1_790_000_000_000u64 + n * 1000,
            "author": format!("user{user}@{}", if user.is_multiple_of(3) { "example.com" } else { "corp.example.org" }),
            "request-id": uuid(rng),
            "data": {
                "title": format!("Title number {id} of a long series"),
                "isbn": format!("978-{:010}", rng.below(10_000_000_000)),
                "price": (rng.below(100_000) as f64) / 100.0,
                "pages": rng.below(2000),
                "lang": LANGS[rng.below(4) as usize],
                "status": STATUSES[rng.below(STATUSES.len() as u64) as usize],
                "tags": ["fiction", "classic", "new"],
                "ip": format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256)),
                "publisher": format!("Publisher {}", rng.below(500)),
                "year": 1900 + rng.below(126),
                "stock": rng.below(1000),
                "rating": (rng.below(50) as f64) / 10.0,
                "format": FORMATS[rng.below(3) as usize],
                "weight": rng.below(3000),
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) trailmark-bench/1.0",
                "summary": "A short description of the entity that pads the event to a realistic size.",
            }
        }
    })
}

/// `count` events as compact JSON bytes.
pub(crate) fn events(count: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(0xC0FF_EE00_1234_5678);
    (0..count)
        .map(|n| event(&mut rng, n).to_string().into_bytes())
        .collect()
}

/// A rule generator: seeded generator and rule number → pattern.
pub(crate) type RuleFn = fn(&mut Rng, usize) -> Value;

fn source(rng: &mut Rng) -> String {
    format!("com.example.app{}", rng.below(50))
}

pub(crate) fn exact(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()];
    if i.is_multiple_of(2) {
        json!({"detail-type": ["Object State Change"], "source": [source(rng)], "detail": {"entity-type": [et], "operation": [OPERATIONS[i % 3]]}})
    } else {
        json!({"detail": {"entity-id": [format!("{et}-{:06}", rng.below(1_000_000))]}})
    }
}

pub(crate) fn prefix(rng: &mut Rng, i: usize) -> Value {
    json!({"detail": {"author": [{"prefix": format!("user{}", rng.below(2_000))}], "operation": [OPERATIONS[i % 3]]}})
}

pub(crate) fn suffix(rng: &mut Rng, _i: usize) -> Value {
    json!({"detail": {"entity-id": [{"suffix": format!("-{:05}", rng.below(100_000))}]}})
}

pub(crate) fn equals_ignore_case(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()].to_uppercase();
    json!({"detail": {"entity-type": [{"equals-ignore-case": et}], "data": {"publisher": [{"equals-ignore-case": format!("PUBLISHER {}", rng.below(500))}]}}})
}

pub(crate) fn wildcard(rng: &mut Rng, i: usize) -> Value {
    if i.is_multiple_of(2) {
        json!({"detail": {"author": [{"wildcard": format!("user{}*@corp.example.org", rng.below(2_000))}]}})
    } else {
        json!({"resources": [{"wildcard": format!("arn:aws:s3:::bucket-{}/*/{}", rng.below(100), rng.below(1_000))}]})
    }
}

pub(crate) fn anything_but(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()];
    json!({"source": [source(rng)], "detail": {"operation": [{"anything-but": ["delete"]}], "entity-type": [{"anything-but": [et]}], "data": {"publisher": [format!("Publisher {}", rng.below(20))]}}})
}

pub(crate) fn numeric(rng: &mut Rng, i: usize) -> Value {
    let lo = rng.below(1000);
    match i % 3 {
        0 => json!({"detail": {"data": {"price": [{"numeric": [">", lo, "<=", lo + 2]}]}}}),
        1 => {
            json!({"detail": {"data": {"year": [{"numeric": ["=", 1900 + rng.below(126)]}], "pages": [{"numeric": [">=", lo]}]}}})
        }
        _ => json!({"detail": {"data": {"stock": [{"numeric": ["<", lo / 50]}]}}}),
    }
}

pub(crate) fn exists(rng: &mut Rng, i: usize) -> Value {
    const FIELDS: &[&str] = &["isbn", "price", "lang", "discount", "coupon", "ip", "tags"];
    let f = rng.pick(FIELDS);
    json!({"source": [source(rng)], "detail": {"entity-type": [ENTITY_TYPES[i % ENTITY_TYPES.len()]], "data": {f: [{"exists": i % 4 != 3}]}}})
}

pub(crate) fn cidr(rng: &mut Rng, _i: usize) -> Value {
    json!({"detail": {"data": {"ip": [{"cidr": format!("10.{}.{}.0/24", rng.below(256), rng.below(256))}]}}})
}

pub(crate) fn or(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()];
    json!({"source": [source(rng)], "$or": [
        {"detail": {"operation": ["delete"], "entity-type": [et]}},
        {"detail": {"data": {"lang": [LANGS[i % 4]], "format": [FORMATS[i % 3]]}}},
    ]})
}

/// All of the above, one after another.
pub(crate) fn mixed(rng: &mut Rng, i: usize) -> Value {
    let kinds: &[RuleFn] = &[
        exact,
        prefix,
        suffix,
        equals_ignore_case,
        wildcard,
        anything_but,
        numeric,
        exists,
        cidr,
        or,
    ];
    kinds[i % kinds.len()](rng, i / kinds.len())
}

/// The operator kinds measured, by name.
pub(crate) const KINDS: &[(&str, RuleFn)] = &[
    ("exact", exact),
    ("prefix", prefix),
    ("suffix", suffix),
    ("equals-ignore-case", equals_ignore_case),
    ("wildcard", wildcard),
    ("anything-but", anything_but),
    ("numeric", numeric),
    ("exists", exists),
    ("cidr", cidr),
    ("$or", or),
    ("mixed", mixed),
];

/// `n` rules of one kind, from a seed that depends only on `n`.
pub(crate) fn rules(n: usize, rule: RuleFn) -> Vec<Value> {
    let mut rng = Rng(0x5EED_0000_0000_0001 + n as u64);
    (0..n).map(|i| rule(&mut rng, i)).collect()
}
