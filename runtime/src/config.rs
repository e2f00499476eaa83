//! Runtime-wide configuration and per-binding limits.

use std::path::PathBuf;
use std::time::Duration;

/// How the runtime is set up: one per host process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached across restarts; `None` disables
    /// the cache (every load compiles). The directory must be writable only
    /// by the host: its files are loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// Instance allocation.
    pub pool: PoolConfig,
    /// Native stack a plugin may use, in bytes (engine-wide: wasmtime sets it
    /// per engine, not per store). Deep recursion past it traps.
    pub max_wasm_stack: usize,
    /// The largest [`Limits::memory_bytes`] any binding may ask for. Sizes
    /// the pooling allocator's memory slots.
    pub max_memory_bytes: u64,
    /// How often the deadline clock ticks. A runaway plugin is stopped at
    /// most one tick after its deadline.
    pub epoch_tick: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            pool: PoolConfig::default(),
            max_wasm_stack: 512 * 1024,
            max_memory_bytes: 256 * 1024 * 1024,
            epoch_tick: Duration::from_millis(5),
        }
    }
}

/// Instance allocation: the pooling allocator and the idle instances kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Use wasmtime's pooling allocator (fast instantiation from
    /// preallocated slots). If the pool cannot be reserved (e.g. a virtual
    /// memory limit), the runtime warns and allocates on demand.
    pub pooling: bool,
    /// Instances alive at once across all bindings (idle and in use): the
    /// pool's size. A call that needs a fresh instance while all are taken
    /// fails with a retryable [`CallError::Instantiate`](crate::CallError::Instantiate).
    /// Idle instances hold slots too: size it above
    /// `bindings x max_idle_per_binding` plus the calls in flight.
    pub max_instances: u32,
    /// Idle instances each binding keeps for reuse.
    pub max_idle_per_binding: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        // A host with a few dozen rules, each with a few instances in flight.
        PoolConfig {
            pooling: true,
            max_instances: 256,
            max_idle_per_binding: 4,
        }
    }
}

/// Limits of one binding (one rule's use of one plugin), applied per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one `handle` call may run in wasm; past it the call
    /// is stopped with [`CallError::Timeout`](crate::CallError::Timeout).
    /// Time spent inside host capability calls counts toward it but cannot
    /// be interrupted there.
    pub timeout: Duration,
    /// Linear memory an instance may grow to, in bytes.
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(1),
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}
