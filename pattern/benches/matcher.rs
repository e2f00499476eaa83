//! Matcher throughput over realistic ~900-byte audit events, for 10..10,000 rules
//! (`Matcher::matches_json`, the API that returns a `Vec`; `peers` measures `Session`).
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p trailmark-pattern --bench matcher -- --warm-up-time 1 --measurement-time 3`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;
use trailmark_pattern::{Matcher, MatcherBuilder, Pattern};

mod workload;

use workload::{ENTITY_TYPES, OPERATIONS, Rng, STATUSES};

fn equality_rule(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()];
    match i % 4 {
        0 => {
            json!({"detail-type": ["Object State Change"], "source": [format!("com.example.app{}", rng.below(50))], "detail": {"entity-type": [et], "operation": [OPERATIONS[i % 3]]}})
        }
        1 => {
            json!({"source": [format!("com.example.app{}", i % 50)], "detail": {"author": [format!("user{}@example.com", rng.below(20_000))]}})
        }
        2 => {
            json!({"detail": {"entity-id": [{"prefix": format!("{et}-{:04}", rng.below(10_000))}]}})
        }
        _ => {
            json!({"detail": {"data": {"publisher": [format!("Publisher {}", rng.below(500))], "lang": ["en", "de"]}}})
        }
    }
}

fn mixed_rule(rng: &mut Rng, i: usize) -> Value {
    let et = ENTITY_TYPES[i % ENTITY_TYPES.len()];
    match i % 8 {
        0 => {
            let lo = rng.below(1000);
            json!({"detail": {"data": {"price": [{"numeric": [">", lo, "<=", lo + 2]}]}, "entity-type": [et]}})
        }
        1 => {
            json!({"detail": {"data": {"status": [{"anything-but": ["deleted", STATUSES[i % 5]]}]}, "author": [format!("user{}@corp.example.org", rng.below(20_000))]}})
        }
        2 => {
            json!({"detail": {"author": [{"suffix": format!("{}@example.com", rng.below(20_000))}]}})
        }
        3 => {
            json!({"resources": [{"wildcard": format!("arn:aws:s3:::bucket-{}/*/{}", rng.below(100), rng.below(1000))}]})
        }
        4 => {
            json!({"detail": {"data": {"isbn": [{"exists": true}], "year": [{"numeric": ["=", 1900 + rng.below(126)]}]}}})
        }
        5 => {
            json!({"detail": {"data": {"ip": [{"cidr": format!("10.{}.0.0/16", rng.below(256))}]}}})
        }
        6 => {
            json!({"source": [format!("com.example.app{}", rng.below(50))], "detail": {"$or": [{"operation": ["delete"], "entity-type": [et]}, {"data": {"stock": [{"numeric": ["<", rng.below(10)]}]}}]}})
        }
        _ => {
            json!({"detail": {"data": {"lang": [{"equals-ignore-case": "EN"}], "discount": [{"exists": false}], "publisher": [format!("Publisher {}", rng.below(500))]}}})
        }
    }
}

fn matcher(n: usize, rule: fn(&mut Rng, usize) -> Value) -> Matcher {
    let mut rng = Rng(0x5EED_0000_0000_0001 + n as u64);
    let mut b = MatcherBuilder::new();
    for i in 0..n {
        let p = Pattern::parse(&rule(&mut rng, i)).expect("benchmark rules are valid");
        b.add(i as u32, &p);
    }
    b.build()
}

fn bench(c: &mut Criterion) {
    let events = workload::events(1_000);
    let avg = events.iter().map(Vec::len).sum::<usize>() / events.len();
    eprintln!("average event size: {avg} bytes");
    // Reference points for this machine: a full serde_json parse, and the matcher with
    // one rule on a field the events lack (scan cost only).
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("serde_json_parse", |b| {
        b.iter(|| {
            for e in &events {
                black_box(serde_json::from_slice::<Value>(black_box(e)).expect("valid event"));
            }
        })
    });
    let mut b1 = MatcherBuilder::new();
    b1.add(
        1,
        &Pattern::parse(&json!({"absent-field": ["x"]})).expect("valid"),
    );
    let scan_only = b1.build();
    group.bench_function("scan_only", |b| {
        b.iter(|| {
            for e in &events {
                black_box(scan_only.matches_json(black_box(e)).expect("valid event"));
            }
        })
    });
    group.finish();
    for (name, rule) in [
        (
            "equality_prefix",
            equality_rule as fn(&mut Rng, usize) -> Value,
        ),
        ("mixed_operators", mixed_rule),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(events.len() as u64));
        for n in [10usize, 100, 1_000, 10_000] {
            let m = matcher(n, rule);
            let matched: usize = events
                .iter()
                .map(|e| m.matches_json(e).map_or(0, |v| v.len()))
                .sum();
            eprintln!(
                "{name}/{n}: {matched} rule matches over {} events",
                events.len()
            );
            group.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
                b.iter(|| {
                    for e in &events {
                        black_box(m.matches_json(black_box(e)).expect("valid event"));
                    }
                })
            });
        }
        group.finish();
    }
    // Wildcard-heavy and anything-but-wildcard rules on one field: the costly cases.
    let mut group = c.benchmark_group("wildcard_heavy");
    group.throughput(Throughput::Elements(events.len() as u64));
    for n in [100usize, 1_000] {
        let mut rng = Rng(42);
        let mut b = MatcherBuilder::new();
        for i in 0..n {
            let v = if i % 2 == 0 {
                json!({"detail": {"data": {"title": [{"wildcard": format!("*number {}*", rng.below(100_000))}]}}})
            } else {
                json!({"detail": {"data": {"title": [{"anything-but": {"wildcard": format!("*{} of*", rng.below(100_000))}}]}}})
            };
            b.add(i as u32, &Pattern::parse(&v).expect("valid"));
        }
        let m = b.build();
        group.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| {
                for e in &events {
                    black_box(m.matches_json(black_box(e)).expect("valid event"));
                }
            })
        });
    }
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::bench);
}

criterion_main!(group::benches);
