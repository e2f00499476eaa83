//! Per-event time of each standard plugin (`archive`, `metadata`, `alert`,
//! `log`) against the same logic written natively in Rust.
//!
//! Both sides get the same in-memory capabilities (a `HashMap` or `Vec`
//! behind a `Mutex`), so storage costs nothing and the difference is the
//! sandbox: copying the event into the guest, the guest's allocator and
//! code, and the capability call back out.
//!
//! - `wasm`: the real plugin (`trailmark_plugin_<name>.wasm`), bound with the
//!   config of its rule in `rules/*.yaml`, called on a reused instance.
//! - `native`: the plugin's own code compiled natively (the plugin crates are
//!   rlibs too), run by the SDK's in-memory host (`trailmark_sdk::testing`)
//!   with a new instance per event: `init` parses the config, then the event
//!   is parsed and packed as the host does and handled.
//! - `native_config_once`: the same on one instance, the config parsed once,
//!   as the guest does since plugin contract 0.2.
//!
//! Before timing, each plugin and its native twin handle the same event into
//! separate stores and the results are compared, so the two sides are known
//! to do the same work.
//!
//! Needs the plugins built: `cargo build --release --target wasm32-wasip2
//! -p trailmark-plugin-archive -p trailmark-plugin-metadata -p
//! trailmark-plugin-alert -p trailmark-plugin-log` (or `cargo xtask
//! build-plugins`). Keep it short:
//! `cargo bench -p trailmark-runtime --bench standard -- --warm-up-time 1 --measurement-time 5`
//!
//! Criterion measures wall time; with `TRAILMARK_BENCH_CPU_TIME=1` it
//! measures the benchmarking thread's CPU time instead (groups
//! `standard_cpu_*`), which time spent preempted by other processes does
//! not inflate: use it on a shared machine. With
//! `TRAILMARK_BENCH_PAIRED=<seconds>` it skips criterion and alternates
//! batches of wasm and native calls for that long per plugin, printing the
//! median of the per-round ratios (the steadiest ratio under varying load):
//! `TRAILMARK_BENCH_PAIRED=10 cargo bench -p trailmark-runtime --bench standard`

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "standard/native.rs"]
mod native;
#[path = "standard/paired.rs"]
mod paired;
#[path = "standard/stores.rs"]
mod stores;

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::Criterion;
use criterion::measurement::Measurement;
use trailmark_runtime::{ArchiveGrant, Binding, BindingSpec, Grants, LOG_TARGET, Runtime};

use crate::native::Native;
use crate::stores::Stores;
use trailmark_bench_support::ThreadCpuTime;

// ---------------------------------------------------------------------------
// The event, the rules and the log sink.

/// An `Object State Change` update of a book, with a ~1 KiB `detail` (the
/// shape of `examples/events/book-update.json`, with a fuller body).
fn event() -> trailmark_backends::Event {
    let detail = serde_json::json!({
        "entity-type": "book",
        "entity-id": "978-0-13-468599-1",
        "operation": "update",
        "ts": "2026-11-25T10:30:00Z",
        "author": "bob@example.com",
        "data": {
            "isbn": "978-0-13-468599-1",
            "title": "The Rust Programming Language",
            "subtitle": "Second Edition",
            "authors": ["Steve Klabnik", "Carol Nichols", "Chris Krycho"],
            "publisher": "No Starch Press",
            "year": 2023, "pages": 560, "language": "en",
            "copies": 2, "available": 1, "shelf": "B-14", "branch": "central",
            "tags": ["programming", "rust", "systems", "reference"],
            "summary": "The official book on the Rust programming language, written by \
                        the Rust development team at the Rust Foundation. Covers \
                        ownership, borrowing, lifetimes, traits, generics, error \
                        handling, concurrency, and building command-line tools, with \
                        many worked examples and exercises throughout the chapters.",
            "loans": [
                {"member": "m-1042", "from": "2026-10-01", "until": "2026-10-22"},
                {"member": "m-2211", "from": "2026-11-02", "until": "2026-11-23"}
            ],
            "updated-fields": ["copies", "available", "shelf"]
        }
    });
    let event = trailmark_backends::Event {
        id: "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21".to_owned(),
        version: "0".to_owned(),
        source: "com.example.library".to_owned(),
        detail_type: "Object State Change".to_owned(),
        time: "2026-11-25T10:30:00Z".to_owned(),
        account: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
        resources: vec!["arn:aws:dynamodb:eu-west-1:123456789012:table/books".to_owned()],
        detail: detail.to_string(),
    };
    assert_eq!(
        event.detail.len(),
        964,
        "BENCHMARKS.md quotes the detail's size"
    );
    event
}

/// A standard plugin and the rule that runs it by default (`rules/*.yaml`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Standard {
    Archive,
    Metadata,
    Alert,
    Log,
}

impl Standard {
    const ALL: [Standard; 4] = [Self::Archive, Self::Metadata, Self::Alert, Self::Log];

    fn name(self) -> &'static str {
        match self {
            Self::Archive => "archive",
            Self::Metadata => "metadata",
            Self::Alert => "alert",
            Self::Log => "log",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Self::Alert => "delete-alert",
            other => other.name(),
        }
    }

    fn grants(self) -> Grants {
        match self {
            Self::Archive => Grants {
                archive: Some(ArchiveGrant::default()),
                ..Grants::default()
            },
            Self::Metadata => Grants {
                metadata: true,
                ..Grants::default()
            },
            Self::Alert => Grants {
                notify: ["admins".to_owned()].into(),
                ..Grants::default()
            },
            Self::Log => Grants::default(),
        }
    }

    /// The rule's `config` (`null` when the rule has none).
    fn config(self) -> serde_json::Value {
        match self {
            Self::Alert => serde_json::json!({
                "channel": "admins",
                "subject": "{entity-type} {entity-id} deleted by {author}",
            }),
            _ => serde_json::Value::Null,
        }
    }

    fn bind(self, runtime: &Runtime, stores: &Stores) -> Binding {
        let file = format!("trailmark_plugin_{}.wasm", self.name());
        let path = common::wasm_dir().join(&file);
        let plugin = runtime.load_file(self.name(), &path).unwrap_or_else(|e| {
            panic!(
                "cannot load {} ({e}): build the standard plugins first",
                path.display()
            )
        });
        Binding::new(
            plugin,
            BindingSpec {
                rule: self.rule().to_owned(),
                grants: self.grants(),
                capabilities: stores.capabilities(),
                config: self.config(),
                ..BindingSpec::default()
            },
        )
        .expect("default limits are valid")
    }
}

/// Whether the log sink keeps what it is given (only while checking).
static CAPTURING: AtomicBool = AtomicBool::new(false);
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Where plugin log lines go: formatted by `tracing-subscriber` as in the
/// server, then discarded (or captured while checking).
struct LogSink;

impl io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if CAPTURING.load(Ordering::Relaxed) {
            CAPTURED
                .lock()
                .expect("no panics while holding the lock")
                .extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn install_log_sink() {
    use tracing_subscriber::layer::SubscriberExt;
    let plugin_lines =
        tracing_subscriber::filter::Targets::new().with_target(LOG_TARGET, tracing::Level::INFO);
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(|| LogSink),
        )
        .with(plugin_lines);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
}

/// What the log sink received while running `f`.
fn captured_log(f: impl FnOnce()) -> String {
    CAPTURED
        .lock()
        .expect("no panics while holding the lock")
        .clear();
    CAPTURING.store(true, Ordering::Relaxed);
    f();
    CAPTURING.store(false, Ordering::Relaxed);
    String::from_utf8_lossy(&CAPTURED.lock().expect("no panics while holding the lock"))
        .into_owned()
}

// ---------------------------------------------------------------------------
// Checking and timing.

/// Runs `plugin` once in wasm and once natively, into separate stores, and
/// panics unless both stored (or logged) the same thing.
fn check_same_work(runtime: &Runtime, plugin: Standard, event: &trailmark_backends::Event) {
    let (wasm_stores, native_stores) = (Stores::default(), Stores::default());
    let binding = plugin.bind(runtime, &wasm_stores);
    let config = plugin.config().to_string();
    let wasm_log = captured_log(|| binding.call(event).expect("the plugin accepts the event"));
    let native_log = captured_log(|| {
        Native::call_parsing(plugin, &native_stores, &config, event)
            .expect("the native twin accepts the event")
    });
    let archived = |s: &Stores| {
        s.archive
            .bodies
            .lock()
            .expect("no panics while holding the lock")
            .clone()
    };
    let recorded = |s: &Stores| {
        s.metadata
            .records
            .lock()
            .expect("no panics while holding the lock")
            .clone()
    };
    let published = |s: &Stores| {
        s.admins
            .published
            .lock()
            .expect("no panics while holding the lock")
            .clone()
    };
    assert_eq!(
        archived(&wasm_stores),
        archived(&native_stores),
        "{plugin:?}: archive differs"
    );
    assert_eq!(
        recorded(&wasm_stores),
        recorded(&native_stores),
        "{plugin:?}: metadata differs"
    );
    assert_eq!(
        published(&wasm_stores),
        published(&native_stores),
        "{plugin:?}: notifications differ"
    );
    assert_eq!(wasm_log, native_log, "{plugin:?}: log lines differ");
    let wrote_something = !archived(&wasm_stores).is_empty()
        || !recorded(&wasm_stores).is_empty()
        || !published(&wasm_stores).is_empty()
        || !wasm_log.is_empty();
    assert!(
        wrote_something,
        "{plugin:?} did nothing, so the comparison proves nothing"
    );
}

/// Times every plugin and its twins; `prefix` names the measurement in the
/// group names (`standard_` for wall time, `standard_cpu_` for CPU time).
fn standard_plugins<M: Measurement + 'static>(c: &mut Criterion<M>, prefix: &str) {
    let event = event();
    let runtime = Runtime::new(trailmark_runtime::RuntimeConfig::default()).expect("runtime");
    for plugin in Standard::ALL {
        check_same_work(&runtime, plugin, &event);
    }

    // What the host does once per event, at ingest, for every plugin:
    // parse the detail as a state change.
    c.bench_function(&format!("{prefix}baseline/native_state_change"), |b| {
        b.iter(|| trailmark_event::StateChange::parse(&event.detail).expect("a valid state change"))
    });

    for plugin in Standard::ALL {
        let stores = Stores::default();
        let mut group = c.benchmark_group(format!("{prefix}{}", plugin.name()));

        let binding = plugin.bind(&runtime, &stores);
        group.bench_function("wasm", |b| {
            b.iter(|| binding.call(&event).expect("the plugin succeeds"))
        });

        let config = plugin.config().to_string();
        group.bench_function("native", |b| {
            b.iter(|| {
                Native::call_parsing(plugin, &stores, &config, &event).expect("the twin succeeds")
            })
        });

        let native = Native::new(plugin, &stores, &config).expect("the rule's config is valid");
        group.bench_function("native_config_once", |b| {
            b.iter(|| native.call(&event).expect("the twin succeeds"))
        });
        group.finish();
    }
}

/// Criterion in wall time by default; in the thread's CPU time when
/// `TRAILMARK_BENCH_CPU_TIME=1` (steadier on a loaded machine); the
/// paired comparison instead when `TRAILMARK_BENCH_PAIRED=<seconds>` is set.
fn main() {
    install_log_sink();
    if let Some(seconds) = std::env::var_os("TRAILMARK_BENCH_PAIRED") {
        let seconds: u64 = seconds
            .to_str()
            .and_then(|s| s.parse().ok())
            .expect("TRAILMARK_BENCH_PAIRED is a number of seconds per plugin");
        let event = event();
        let runtime = Runtime::new(trailmark_runtime::RuntimeConfig::default()).expect("runtime");
        for plugin in Standard::ALL {
            check_same_work(&runtime, plugin, &event);
        }
        paired::run(&runtime, &event, std::time::Duration::from_secs(seconds));
        return;
    }
    if trailmark_bench_support::cpu_time_requested() {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        standard_plugins(&mut c, "standard_cpu_");
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        standard_plugins(&mut c, "standard_");
        c.final_summary();
    }
}
