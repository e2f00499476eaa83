//! Loading, version checks, the compiled cache, inspection, instance reuse.

mod common;

use std::sync::Arc;

use common::{assert_noop_still_works, bind, bind_plugin, event, fixture, plugin, runtime};
use trailmark_runtime::{
    Allocator, Binding, BindingSpec, Incompatibility, Limits, Origin, PoolConfig, Runtime,
    RuntimeConfig, RuntimeError, inspect,
};

#[test]
fn noop_succeeds_and_reuses_its_instance() {
    let binding = bind("noop", "noop-rule", serde_json::json!({"any": "config"}));
    for i in 0..5 {
        binding
            .call(&event(&format!("e{i}")))
            .expect("noop succeeds");
    }
    let stats = binding.stats();
    assert_eq!(
        (stats.instantiated, stats.discarded, stats.idle),
        (1, 0, 1),
        "one instance serves every call: {stats:?}"
    );
}

#[test]
fn shared_runtime_uses_the_pooling_allocator() {
    assert_eq!(runtime().allocator(), Allocator::Pooling);
}

#[test]
fn concurrent_callers_get_their_own_instances() {
    let binding = Arc::new(bind("noop", "concurrent", serde_json::json!({})));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let binding = Arc::clone(&binding);
            std::thread::spawn(move || {
                for i in 0..50 {
                    binding
                        .call(&event(&format!("t{t}-{i}")))
                        .expect("noop succeeds");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("caller thread");
    }
    let stats = binding.stats();
    assert!(
        stats.instantiated >= 1 && stats.instantiated <= 4,
        "{stats:?}"
    );
    assert!(stats.idle <= 4, "{stats:?}");
}

#[test]
fn second_load_is_a_compiled_cache_hit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm = fixture("noop");
    let first = Runtime::new(config.clone()).expect("runtime");
    let compiled = first.load("noop", &wasm).expect("loads");
    assert_eq!(compiled.origin(), Origin::Compiled);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one artifact, no temp files left: {entries:?}"
    );
    assert!(
        entries[0].starts_with(&compiled.info().sha256),
        "{entries:?}"
    );
    drop(compiled);
    drop(first);

    // A restart: a new engine with the same configuration.
    let second = Runtime::new(config).expect("runtime");
    let cached = second.load("noop", &wasm).expect("loads from cache");
    assert_eq!(cached.origin(), Origin::Cache);
    let binding = bind_plugin(cached, "cached");
    binding
        .call(&event("from-cache"))
        .expect("cached plugin runs");
}

#[test]
fn inspect_describes_a_plugin() {
    let wasm = fixture("noop");
    let info = inspect(&wasm).expect("a component");
    assert_eq!(info.size, wasm.len());
    assert_eq!(info.sha256.len(), 64);
    assert!(info.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(info.world_version.as_deref(), Some("0.2.0"));
    assert_eq!(info.exports, vec!["init".to_owned(), "handle".to_owned()]);
    assert!(
        info.imports
            .iter()
            .any(|i| i == "trailmark:plugin/outcomes@0.2.0"),
        "{:?}",
        info.imports
    );
    assert!(
        info.imports.iter().any(|i| i.starts_with("wasi:")),
        "{:?}",
        info.imports
    );
    assert!(
        info.type_imports.iter().any(|i| i == "batch"),
        "{:?}",
        info.type_imports
    );
    assert_eq!(info.compatibility(), Ok(trailmark_runtime::Contract::V02));
    assert_eq!(plugin("noop").info(), &info);
}

#[test]
fn oldworld_is_refused_with_both_versions() {
    let wasm = fixture("oldworld");
    let info = inspect(&wasm).expect("still a component");
    assert_eq!(info.world_version.as_deref(), Some("1.0.0"));
    assert!(matches!(
        info.compatibility(),
        Err(Incompatibility::Version { .. })
    ));

    let err = runtime().load("oldworld", &wasm).expect_err("refused");
    let message = err.to_string();
    assert!(
        matches!(err, RuntimeError::Incompatible { .. }),
        "{message}"
    );
    assert!(message.contains("oldworld"), "{message}");
    assert!(message.contains("trailmark:plugin@1.0.0"), "{message}");
    assert!(
        message.contains("trailmark:plugin@0.2.x or 0.1.x"),
        "{message}"
    );
    assert_noop_still_works();
}

#[test]
fn non_components_are_refused() {
    let err = runtime()
        .load("junk", b"this is not wasm")
        .expect_err("refused");
    assert!(matches!(err, RuntimeError::NotAComponent { .. }), "{err}");
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );

    let core_module = b"\0asm\x01\0\0\0";
    let err = runtime().load("core", core_module).expect_err("refused");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");

    let mut truncated = fixture("noop");
    truncated.truncate(truncated.len() / 2);
    let err = runtime()
        .load("truncated", &truncated)
        .expect_err("refused");
    assert!(
        matches!(
            err,
            RuntimeError::Malformed(_) | RuntimeError::Compile { .. }
        ),
        "{err}"
    );
    assert_noop_still_works();
}

#[test]
fn load_file_reports_missing_files() {
    let err = runtime()
        .load_file("gone", "/nonexistent/gone.wasm".as_ref())
        .expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/gone.wasm"), "{err}");
}

#[test]
fn limits_above_the_runtime_maximum_are_refused() {
    let err = Binding::new(
        plugin("noop"),
        BindingSpec {
            rule: "greedy".to_owned(),
            limits: Limits {
                memory_bytes: 1 << 40,
                ..Limits::default()
            },
            ..BindingSpec::default()
        },
    )
    .expect_err("too much memory");
    assert!(err.to_string().contains("greedy"), "{err}");
    assert!(err.to_string().contains("maximum"), "{err}");
}

#[test]
fn pool_that_cannot_be_reserved_falls_back_to_on_demand() {
    let runtime = Runtime::new(RuntimeConfig {
        pool: PoolConfig {
            max_instances: u32::MAX,
            ..PoolConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime starts anyway");
    assert_eq!(runtime.allocator(), Allocator::OnDemand);
    let plugin = runtime.load("noop", &fixture("noop")).expect("loads");
    let binding = bind_plugin(plugin, "on-demand");
    binding.call(&event("on-demand")).expect("noop succeeds");
}
