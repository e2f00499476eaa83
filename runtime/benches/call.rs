//! Per-event overhead of calling the `noop` fixture plugin (contract 0.2):
//! one event on a reused live instance, a batch of 32 on a reused instance
//! (reported per event), and a fresh instance per call (pooling allocator).
//!
//! Needs the fixtures built (`cargo xtask build-plugins`). Keep it short:
//! `cargo bench -p trailmark-runtime --bench call -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_main};
use trailmark_event::ParsedEvent;
use trailmark_runtime::{Allocator, Binding, BindingSpec, PoolConfig, Runtime, RuntimeConfig};

fn binding(runtime: &Runtime, rule: &str) -> Binding {
    let plugin = runtime
        .load("noop", &common::fixture("noop"))
        .expect("noop loads");
    Binding::new(
        plugin,
        BindingSpec {
            rule: rule.to_owned(),
            config: serde_json::json!({"subject": "{detail.entity-type} changed"}),
            ..BindingSpec::default()
        },
    )
    .expect("binding")
}

fn call_noop(c: &mut Criterion) {
    // Events as the host hands them over: parsed once, shared.
    let event = [Arc::new(ParsedEvent::new(common::event("bench-event")))];
    let batch: Vec<Arc<ParsedEvent>> = (0..32)
        .map(|i| Arc::new(ParsedEvent::new(common::event(&format!("bench-{i}")))))
        .collect();
    let ok = |results: Vec<Result<(), trailmark_runtime::CallError>>| {
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    };
    let mut group = c.benchmark_group("call_noop");

    let reusing = Runtime::new(RuntimeConfig::default()).expect("runtime");
    assert_eq!(reusing.allocator(), Allocator::Pooling);
    let reused = binding(&reusing, "reused");
    group.bench_function("reused_instance", |b| {
        b.iter(|| ok(reused.call_batch(&event)))
    });
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("reused_instance_batch_of_32", |b| {
        b.iter(|| ok(reused.call_batch(&batch)))
    });
    group.throughput(Throughput::Elements(1));

    // No idle instances kept: every call instantiates, calls and drops.
    let fresh_runtime = Runtime::new(RuntimeConfig {
        pool: PoolConfig {
            max_idle_per_binding: 0,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    assert_eq!(fresh_runtime.allocator(), Allocator::Pooling);
    let fresh = binding(&fresh_runtime, "fresh");
    group.bench_function("fresh_instance", |b| {
        b.iter(|| ok(fresh.call_batch(&event)))
    });
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::call_noop);
}

criterion_main!(group::benches);
