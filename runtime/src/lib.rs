//! Trailmark's sandboxed plugin runtime: runs WebAssembly components built
//! for the `trailmark:plugin@0.1.x` world (`sdk/wit/world.wit`) under time
//! and memory limits, with host capabilities granted per rule.
//!
//! - [`Runtime`] owns the wasmtime engine (epoch deadlines, the pooling
//!   allocator with an on-demand fallback, a native stack cap), a linker
//!   with WASI p2 behind a deny-everything context, and an on-disk cache
//!   of compiled components keyed by the wasm's SHA-256 and the engine's
//!   fingerprint, so a restart does not recompile.
//! - [`Runtime::load`] checks the world version *before* compiling
//!   ([`inspect`] reads a component's imports and exports without
//!   compiling it), then compiles or takes the cache, and links.
//! - [`Binding`] binds a [`Plugin`] to one rule: its [`Grants`], the
//!   host's [`Capabilities`], [`Limits`], [`Quotas`] and config.
//!   [`Binding::call`] delivers one event synchronously on the calling
//!   thread, reusing a live instance (about a microsecond) and replacing it
//!   after any trap.
//!
//! What plugins can reach: the capabilities their rule grants (a call to
//! anything else returns `host-error::denied` naming it), confined to the
//! delivered event: archive keys of its own (first segment its source,
//! containing its id) or under the grant's prefixes, its own change record
//! (the host's fields; the plugin adds attributes), forwarding it with its
//! envelope unchanged; each within [`Quotas`]. Plus `log` and random
//! numbers. The clocks are frozen and timers trap ([`CallError::Forbidden`]),
//! so no call can block past its deadline. No files, environment,
//! arguments, stdin or network; stdout/stderr go to `tracing` (target
//! `trailmark::plugin`, fields `rule`, `plugin`, `source`) with control
//! characters escaped, bounded to [`OUTPUT_LIMIT_PER_CALL`] bytes per call.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use trailmark_runtime::{
//!     Binding, BindingSpec, Capabilities, Grants, Limits, Quotas, Runtime, RuntimeConfig,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig {
//!     cache_dir: Some("/var/lib/trailmark/plugin-cache".into()),
//!     ..RuntimeConfig::default()
//! })?;
//! let plugin = runtime.load_file("alert", "plugins/alert.wasm".as_ref())?;
//!
//! let mut capabilities = Capabilities::default();
//! let admins: Arc<dyn trailmark_backend_api::Notifier> = Arc::new(trailmark_backends::StdoutNotifier::new());
//! capabilities.notify.insert("admins".to_owned(), admins);
//! let binding = Binding::new(plugin, BindingSpec {
//!     rule: "delete-alert".to_owned(),
//!     grants: Grants { notify: ["admins".to_owned()].into(), ..Grants::default() },
//!     capabilities,
//!     limits: Limits::default(),
//!     quotas: Quotas::default(),
//!     config: serde_json::json!({ "subject": "{detail.entity-type} deleted" }),
//! })?;
//!
//! let event = trailmark_backend_api::Event {
//!     id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".to_owned(),
//!     version: "0".to_owned(),
//!     source: "com.example.library".to_owned(),
//!     detail_type: "Object State Change".to_owned(),
//!     time: "2026-11-25T12:00:00Z".to_owned(),
//!     account: "000000000000".to_owned(),
//!     region: "local".to_owned(),
//!     resources: Vec::new(),
//!     detail: r#"{"entity-type":"book","entity-id":"1","operation":"delete"}"#.to_owned(),
//! };
//! match binding.call(&event) {
//!     Ok(()) => {}
//!     Err(error) if error.is_retryable() => { /* retry with backoff */ }
//!     Err(error) => { /* dead letter */ }
//! }
//! # Ok(())
//! # }
//! ```

mod binding;
mod cache;
mod capabilities;
mod clocks;
mod config;
mod contract;
mod delivery;
mod denial;
mod engine;
mod error;
mod grants;
mod host;
mod linker;
mod output;
mod plugin;
mod quotas;
mod safe_text;
mod staged;
mod v01;
mod v02;
mod world;

pub use binding::{Binding, BindingSpec, PoolStats};
pub use config::{Limits, PoolConfig, RuntimeConfig};
pub use delivery::FORWARDED_BY;
pub use engine::Allocator;
pub use error::{CallError, RuntimeError};
pub use grants::{ArchiveGrant, Capabilities, Grants};
pub use output::{LOG_TARGET, OUTPUT_LIMIT_PER_CALL};
pub use plugin::{Origin, Plugin, Runtime};
pub use quotas::{OverQuota, Quota, QuotaUnit, Quotas};

/// Largest plugin (`.wasm`) the runtime loads: 32 MiB, several times the
/// size of a plugin with a JSON parser and a regex engine built in release
/// mode. Compiling a larger one would stall reloads and use memory without
/// bound.
pub const MAX_PLUGIN_BYTES: usize = 32 << 20;
pub use contract::{
    Contract, HANDLE_EXPORT, INIT_EXPORT, Incompatibility, SUPPORTED_VERSIONS, WORLD_PACKAGE,
    WORLD_VERSION,
};
pub use world::{PluginInfo, inspect};
