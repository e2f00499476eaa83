//! Runaway plugins are stopped (time, memory, traps) and the runtime, the
//! other bindings and the same binding carry on.

mod common;

use std::time::{Duration, Instant};

use common::{assert_noop_still_works, bind, bind_with, event, event_with_detail};
use trailmark_runtime::{CallError, Capabilities, Grants, Limits};

fn limits(timeout: Duration, memory_bytes: u64) -> Limits {
    Limits {
        timeout,
        memory_bytes,
    }
}

#[test]
fn spin_is_stopped_near_its_deadline() {
    let timeout = Duration::from_millis(500);
    let binding = bind_with(
        "spin",
        "spin-rule",
        Grants::default(),
        Capabilities::default(),
        limits(timeout, 64 << 20),
        serde_json::json!({}),
    );
    for attempt in 0..2 {
        let started = Instant::now();
        let err = binding.call(&event("spin")).expect_err("stopped");
        let elapsed = started.elapsed();
        let CallError::Timeout {
            timeout: reported,
            elapsed: in_wasm,
        } = err
        else {
            panic!("attempt {attempt}: expected a timeout, got {err:?}");
        };
        assert_eq!(reported, timeout);
        assert!(in_wasm >= timeout, "stopped early: {in_wasm:?}");
        assert!(elapsed < timeout * 2, "stopped late: {elapsed:?}");
        assert!(err.is_retryable());
    }
    let stats = binding.stats();
    assert_eq!(
        (stats.instantiated, stats.discarded, stats.idle),
        (2, 2, 0),
        "a fresh instance per call: {stats:?}"
    );
    assert_noop_still_works();
}

#[test]
fn slow_plugin_within_its_limit_succeeds_and_past_it_times_out() {
    // `slow` counts work, not time (plugins have no clock): 50 units are
    // about 50 ms, well within a second; 2000 are far past 20 ms.
    let patient = bind("slow", "slow-patient", serde_json::json!({"millis": 50}));
    patient.call(&event("slow")).expect("within one second");

    let impatient = bind_with(
        "slow",
        "slow-impatient",
        Grants::default(),
        Capabilities::default(),
        limits(Duration::from_millis(20), 64 << 20),
        serde_json::json!({"millis": 2000}),
    );
    let err = impatient.call(&event("slow")).expect_err("too slow");
    assert!(matches!(err, CallError::Timeout { .. }), "{err:?}");
}

#[test]
fn hog_is_stopped_at_the_memory_cap() {
    let cap = 32 << 20;
    let binding = bind_with(
        "hog",
        "hog-rule",
        Grants::default(),
        Capabilities::default(),
        limits(Duration::from_secs(5), cap),
        serde_json::json!({}),
    );
    let err = binding.call(&event("hog")).expect_err("stopped");
    assert_eq!(err, CallError::OutOfMemory { limit_bytes: cap });
    assert!(!err.is_retryable(), "out of memory goes to dead letters");
    assert!(err.to_string().contains("33554432 bytes"), "{err}");
    // Again, on a fresh instance.
    let err = binding.call(&event("hog")).expect_err("stopped again");
    assert_eq!(err, CallError::OutOfMemory { limit_bytes: cap });
    assert_eq!(binding.stats().discarded, 2);
    assert_noop_still_works();
}

#[test]
fn panic_is_a_trap_and_the_same_binding_recovers() {
    let binding = bind("panicker", "panic-rule", serde_json::json!({}));
    let err = binding.call(&event("boom")).expect_err("panics");
    let CallError::Trap(message) = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(
        message.contains("fixture-panicker panics on purpose (event boom)"),
        "the panic message comes from stderr: {message}"
    );
    assert!(
        message.starts_with("wasm trap: wasm `unreachable`"),
        "{message}"
    );
    assert!(
        !message.contains("backtrace:"),
        "no wasm backtrace in the message: {message}"
    );
    assert!(err.is_retryable());

    // The trapped instance was dropped; a fresh one serves the next call.
    binding
        .call(&event_with_detail("ok", r#"{"calm":true}"#))
        .expect("recovers");
    let stats = binding.stats();
    assert_eq!(stats.instantiated, 2, "{stats:?}");
    assert_eq!(stats.discarded, 1, "{stats:?}");
    // ... and is then reused.
    binding
        .call(&event_with_detail("ok2", r#"{"calm":true}"#))
        .expect("still fine");
    assert_eq!(binding.stats().instantiated, 2);
    assert_noop_still_works();
}

#[test]
fn rejecter_rejects_permanently_and_keeps_its_instance() {
    let binding = bind("rejecter", "reject-rule", serde_json::json!({}));
    for id in ["r1", "r2"] {
        let err = binding.call(&event(id)).expect_err("rejects");
        assert_eq!(
            err,
            CallError::Reject(format!("rejecter always rejects (event {id})"))
        );
        assert!(!err.is_retryable());
    }
    assert_eq!(binding.stats().instantiated, 1, "a reject is not a trap");
}

#[test]
fn exhausted_instance_pool_is_a_retryable_instantiate_error() {
    use std::sync::{Arc, Barrier};
    use trailmark_runtime::{Binding, BindingSpec, PoolConfig, Runtime, RuntimeConfig};

    let runtime = Runtime::new(RuntimeConfig {
        pool: PoolConfig {
            max_instances: 2,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = runtime
        .load("slow", &common::fixture("slow"))
        .expect("loads");
    let binding = Arc::new(
        Binding::new(
            plugin,
            BindingSpec {
                rule: "crowded".to_owned(),
                config: serde_json::json!({"millis": 700}),
                // `slow` counts work, not time: give a loaded machine room.
                limits: trailmark_runtime::Limits {
                    timeout: Duration::from_secs(20),
                    ..trailmark_runtime::Limits::default()
                },
                ..BindingSpec::default()
            },
        )
        .expect("binding"),
    );
    let barrier = Arc::new(Barrier::new(3));
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let binding = Arc::clone(&binding);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                binding.call(&event(&format!("c{i}")))
            })
        })
        .collect();
    let results: Vec<_> = callers
        .into_iter()
        .map(|c| c.join().expect("caller"))
        .collect();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "two slots, three callers: {results:?}");
    assert!(
        matches!(refused[0], CallError::Instantiate(_)) && refused[0].is_retryable(),
        "{refused:?}"
    );
    // Once the others are done, their instances serve the next call.
    binding.call(&event("later")).expect("a slot is free again");
}
