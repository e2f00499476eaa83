//! The wasmtime engine: compilation settings, instance allocation, and the
//! epoch clock that enforces call deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::RuntimeConfig;
use crate::error::RuntimeError;

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Preallocated slots of wasmtime's pooling allocator.
    Pooling,
    /// mmap per instance (pooling was disabled or could not be reserved).
    OnDemand,
}

/// The engine and its epoch ticker, shared by the runtime, its plugins and
/// their bindings: the ticker stops when the last of them is dropped.
pub(crate) struct EngineShared {
    pub(crate) engine: Engine,
    pub(crate) allocator: Allocator,
    pub(crate) epoch_tick: Duration,
    pub(crate) max_memory_bytes: u64,
    pub(crate) max_idle_per_binding: usize,
    ticker: Option<Ticker>,
}

impl EngineShared {
    /// Builds the engine (pooling if configured and possible) and starts the ticker.
    pub(crate) fn new(config: &RuntimeConfig) -> Result<Arc<EngineShared>, RuntimeError> {
        if config.epoch_tick.is_zero() {
            return Err(RuntimeError::Engine(
                "epoch_tick must be positive".to_owned(),
            ));
        }
        let (engine, allocator) = if config.pool.pooling {
            match Engine::new(&engine_config(config, true)) {
                Ok(engine) => (engine, Allocator::Pooling),
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        max_instances = config.pool.max_instances,
                        "cannot reserve the plugin instance pool; allocating instances on demand (slower)"
                    );
                    (on_demand_engine(config)?, Allocator::OnDemand)
                }
            }
        } else {
            (on_demand_engine(config)?, Allocator::OnDemand)
        };
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)?;
        Ok(Arc::new(EngineShared {
            engine,
            allocator,
            epoch_tick: config.epoch_tick,
            max_memory_bytes: config.max_memory_bytes,
            max_idle_per_binding: config.pool.max_idle_per_binding,
            ticker: Some(ticker),
        }))
    }

    /// Epoch ticks until a call with this `timeout` is first checked: about
    /// the timeout, never more than one tick early. The store's deadline
    /// callback then compares the real clock and waits tick by tick if the
    /// timeout has not quite passed yet.
    pub(crate) fn deadline_ticks(&self, timeout: Duration) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        let ticks = timeout.as_nanos().div_ceil(tick).max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

impl Drop for EngineShared {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

fn on_demand_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    Engine::new(&engine_config(config, false)).map_err(|e| RuntimeError::Engine(e.to_string()))
}

/// The engine configuration. Everything here that affects compiled code
/// also goes into the compiled-artifact cache key (through
/// `Engine::precompile_compatibility_hash`).
fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut wasm = Config::new();
    wasm.epoch_interruption(true);
    wasm.max_wasm_stack(config.max_wasm_stack);
    wasm.parallel_compilation(true);
    if pooling {
        let instances = config.pool.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        // A Rust wasm32-wasip2 component is one main module plus a few
        // adapter shims: about 3 core instances, 1 memory, 2 tables.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
            // Reset small memories and tables by memset rather than madvise:
            // cheaper for plugins that touch little, which is most of them.
            .linear_memory_keep_resident(64 * 1024)
            .table_keep_resident(16 * 1024);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    wasm
}

/// Bumps the epoch once per `tick` of wall-clock time since the start. The
/// schedule is absolute: a thread that overslept (a loaded machine) catches
/// up, so the epoch keeps measuring time rather than wake-ups.
fn run_ticker(engine: &Engine, tick: Duration, stopped: &AtomicBool) {
    let start = Instant::now();
    let tick_nanos = tick.as_nanos().max(1);
    let mut done: u128 = 0;
    while !stopped.load(Ordering::Relaxed) {
        let due = start.elapsed().as_nanos() / tick_nanos;
        while done < due {
            engine.increment_epoch();
            done += 1;
        }
        let next = Duration::from_nanos(u64::try_from((done + 1) * tick_nanos).unwrap_or(u64::MAX));
        std::thread::park_timeout(next.saturating_sub(start.elapsed()));
    }
}

/// A thread that bumps the engine's epoch every tick.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Result<Ticker, RuntimeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("trailmark-epoch".to_owned())
            .spawn(move || run_ticker(&engine, tick, &stopped))
            .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Ticker { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        // The thread only sleeps and bumps a counter: it cannot panic.
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up() {
        let shared = EngineShared::new(&RuntimeConfig {
            pool: crate::PoolConfig {
                pooling: false,
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("engine");
        // 5 ms ticks.
        assert_eq!(shared.deadline_ticks(Duration::from_secs(1)), 200);
        assert_eq!(shared.deadline_ticks(Duration::from_millis(7)), 2);
        assert_eq!(shared.deadline_ticks(Duration::ZERO), 1);
    }
}
