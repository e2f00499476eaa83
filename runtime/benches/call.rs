//! Per-event overhead of calling the `noop` fixture plugin: on a reused
//! live instance, and on a fresh instance per call (pooling allocator).
//!
//! Needs the fixtures built (`cargo xtask build-plugins`). Keep it short:
//! `cargo bench -p trailmark-runtime --bench call -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
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
    let event = common::event("bench-event");
    let mut group = c.benchmark_group("call_noop");

    let reusing = Runtime::new(RuntimeConfig::default()).expect("runtime");
    assert_eq!(reusing.allocator(), Allocator::Pooling);
    let reused = binding(&reusing, "reused");
    group.bench_function("reused_instance", |b| {
        b.iter(|| reused.call(&event).expect("noop succeeds"))
    });

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
        b.iter(|| fresh.call(&event).expect("noop succeeds"))
    });
    group.finish();
}

criterion_group!(benches, call_noop);
criterion_main!(benches);
