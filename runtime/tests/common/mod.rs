//! Shared helpers of the runtime's integration tests: fixture plugins,
//! events, in-memory test doubles of the capability traits, log capture.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use trailmark_backends::{
    ArchiveStore, BackendResult, ChangePage, ChangeQuery, ChangeRecord, Event, Forwarder,
    HistoryQuery, MetadataStore, Notification, Notifier, PutOutcome,
};
use trailmark_runtime::{
    Binding, BindingSpec, CallError, Capabilities, Grants, Limits, Plugin, Quotas, Runtime,
    RuntimeConfig,
};

/// Where the fixture `.wasm` files are: `$TRAILMARK_WASM_DIR`, else
/// `$CARGO_TARGET_DIR/wasm32-wasip2/release`, else the target directory this
/// test binary was built in, else `<workspace>/target/wasm32-wasip2/release`.
pub(crate) fn wasm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRAILMARK_WASM_DIR") {
        return PathBuf::from(dir);
    }
    let release = |target: PathBuf| target.join("wasm32-wasip2").join("release");
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return release(PathBuf::from(dir));
    }
    // <target>/debug/deps/<test binary>
    if let Some(target) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(PathBuf::from))
        && release(target.clone()).is_dir()
    {
        return release(target);
    }
    release(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The bytes of fixture plugin `name` (`fixture_<name>.wasm`).
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("fixture_{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!(
            "fixture plugin {} is missing ({e}): run `cargo xtask build-plugins` first",
            path.display()
        ),
    }
}

/// A runtime shared by the tests of one binary (one engine, one pool).
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime starts"))
}

/// The standard plugin `name` (`trailmark_plugin_<name>.wasm`), loaded into [`runtime`].
pub(crate) fn standard(name: &str) -> Arc<Plugin> {
    let path = wasm_dir().join(format!("trailmark_plugin_{name}.wasm"));
    runtime().load_file(name, &path).unwrap_or_else(|e| {
        panic!(
            "standard plugin {} does not load ({e}): run `cargo xtask build-plugins` first",
            path.display()
        )
    })
}

/// Fixture `name` loaded once per test binary into [`runtime`].
pub(crate) fn plugin(name: &str) -> Arc<Plugin> {
    static PLUGINS: OnceLock<Mutex<HashMap<String, Arc<Plugin>>>> = OnceLock::new();
    let plugins = PLUGINS.get_or_init(Default::default);
    // Recover from a poisoned map: one failed test must not fail the others.
    let mut plugins = plugins.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(plugin) = plugins.get(name) {
        return Arc::clone(plugin);
    }
    let loaded = runtime().load(name, &fixture(name)).expect("fixture loads");
    plugins.insert(name.to_owned(), Arc::clone(&loaded));
    loaded
}

/// A binding of fixture `name` to rule `rule` with no grants and default limits.
pub(crate) fn bind(name: &str, rule: &str, config: serde_json::Value) -> Binding {
    bind_with(
        name,
        rule,
        Grants::default(),
        Capabilities::default(),
        Limits::default(),
        config,
    )
}

/// A binding of a loaded plugin to rule `rule` with the default spec.
pub(crate) fn bind_plugin(plugin: Arc<Plugin>, rule: &str) -> Binding {
    Binding::new(
        plugin,
        BindingSpec {
            rule: rule.to_owned(),
            ..BindingSpec::default()
        },
    )
    .expect("binding is valid")
}

/// A binding with everything given.
pub(crate) fn bind_with(
    name: &str,
    rule: &str,
    grants: Grants,
    capabilities: Capabilities,
    limits: Limits,
    config: serde_json::Value,
) -> Binding {
    Binding::new(
        plugin(name),
        BindingSpec {
            rule: rule.to_owned(),
            grants,
            capabilities,
            limits,
            quotas: Quotas::default(),
            config,
        },
    )
    .expect("binding is valid")
}

/// An `Object State Change` event with this id.
pub(crate) fn event(id: &str) -> Event {
    event_with_detail(
        id,
        r#"{"entity-type":"book","entity-id":"b1","operation":"insert","ts":1764064800000,"author":"ana","data":{}}"#,
    )
}

/// An event with this id and detail text.
pub(crate) fn event_with_detail(id: &str, detail: &str) -> Event {
    Event {
        id: id.to_owned(),
        version: "0".to_owned(),
        source: "com.example.books".to_owned(),
        detail_type: "Object State Change".to_owned(),
        time: "2026-11-25T10:00:00Z".to_owned(),
        account: "000000000000".to_owned(),
        region: "local".to_owned(),
        resources: vec![],
        detail: detail.to_owned(),
    }
}

/// The text of a `reject`: fixtures report what they tried that way.
pub(crate) fn rejection(result: Result<(), CallError>) -> String {
    match result {
        Err(CallError::Reject(text)) => text,
        other => panic!("expected a rejection describing the attempt, got {other:?}"),
    }
}

/// The healthy plugin answers: used after every misbehaviour to show the
/// runtime carries on.
pub(crate) fn assert_noop_still_works() {
    let binding = bind("noop", "healthy", serde_json::json!({}));
    binding.call(&event("after")).expect("noop succeeds");
}

/// An in-memory archive.
#[derive(Default)]
pub(crate) struct MemArchive {
    pub bodies: Mutex<HashMap<String, Vec<u8>>>,
}

impl ArchiveStore for MemArchive {
    fn put(&self, key: &str, body: &[u8], _content_type: &str) -> BackendResult<()> {
        self.bodies
            .lock()
            .expect("archive map")
            .insert(key.to_owned(), body.to_vec());
        Ok(())
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        Ok(self.bodies.lock().expect("archive map").get(key).cloned())
    }
}

/// An in-memory metadata store, idempotent on event id like the real ones.
#[derive(Default)]
pub(crate) struct MemMetadata {
    pub records: Mutex<Vec<ChangeRecord>>,
}

impl MetadataStore for MemMetadata {
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        let mut records = self.records.lock().expect("record list");
        if records.iter().any(|r| r.event_id == change.event_id) {
            return Ok(PutOutcome::AlreadyPresent);
        }
        records.push(change.clone());
        Ok(PutOutcome::Inserted)
    }

    fn query(&self, _query: &ChangeQuery) -> BackendResult<ChangePage> {
        Ok(ChangePage::default())
    }

    fn history(&self, _query: &HistoryQuery) -> BackendResult<ChangePage> {
        Ok(ChangePage::default())
    }
}

/// A forward destination that records what it was asked to send.
#[derive(Default)]
pub(crate) struct RecordingForwarder {
    pub sent: Mutex<Vec<Event>>,
}

impl Forwarder for RecordingForwarder {
    fn send(&self, event: &Event) -> BackendResult<()> {
        self.sent.lock().expect("event list").push(event.clone());
        Ok(())
    }
}

/// A notifier that records what it was asked to publish.
#[derive(Default)]
pub(crate) struct RecordingNotifier {
    pub published: Mutex<Vec<Notification>>,
}

impl Notifier for RecordingNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        self.published
            .lock()
            .expect("notification list")
            .push(notification.clone());
        Ok(())
    }
}

/// Runs `f` with a `tracing` subscriber that records every event on this
/// thread as text; returns `f`'s result and the text.
pub(crate) fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = Arc::clone(&buffer);
    // Only our own events: wasmtime-wasi traces every host call at TRACE.
    let ours = Targets::new()
        .with_target("trailmark::plugin", tracing::Level::TRACE)
        .with_target("trailmark_runtime", tracing::Level::TRACE);
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || CaptureWriter(Arc::clone(&writer))),
        )
        .with(ours);
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned();
    (result, text)
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
