//! The runtime and its loaded plugins: version check, compilation (or the
//! compiled cache), and linking against the host.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker};

use crate::MAX_PLUGIN_BYTES;
use crate::cache::ArtifactCache;
use crate::config::RuntimeConfig;
use crate::contract::Contract;
use crate::engine::{Allocator, EngineShared};
use crate::error::RuntimeError;
use crate::host::HostState;
use crate::linker;
use crate::world::{self, PluginInfo};
use crate::{v01, v02};

/// The plugin runtime: one wasmtime engine, its deadline clock, the host
/// linker and the compiled-plugin cache. Create one per process.
pub struct Runtime {
    shared: Arc<EngineShared>,
    linker: Linker<HostState>,
    cache: Option<ArtifactCache>,
}

/// Where a plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled from the wasm bytes by this load.
    Compiled,
    /// Loaded from the compiled-artifact cache.
    Cache,
}

/// A compiled plugin, checked against the world and linked against the
/// host, ready to be bound to rules with [`Binding::new`](crate::Binding::new).
pub struct Plugin {
    name: Arc<str>,
    info: PluginInfo,
    origin: Origin,
    pub(crate) pre: Pre,
    pub(crate) shared: Arc<EngineShared>,
}

/// A plugin linked and ready to instantiate, in the world it targets.
pub(crate) enum Pre {
    /// Built for 0.1: adapted, one call per delivery.
    V01(v01::bindings::PluginPre<HostState>),
    /// Built for 0.2.
    V02(v02::bindings::PluginPre<HostState>),
}

impl Runtime {
    /// Creates the engine (pooling allocator unless disabled or impossible),
    /// starts the deadline clock and opens the cache directory.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let shared = EngineShared::new(&config)?;
        let linker = linker::linker(&shared.engine)?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ArtifactCache::open(dir, &shared.engine)?),
            None => None,
        };
        Ok(Runtime {
            shared,
            linker,
            cache,
        })
    }

    /// How instances are allocated: pooling, or on demand after a fallback.
    pub fn allocator(&self) -> Allocator {
        self.shared.allocator
    }

    /// The wasmtime engine (for embedders that need it, e.g. to precompile).
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.shared.engine
    }

    /// Loads the plugin file at `path` under `name`. See [`Runtime::load`].
    pub fn load_file(&self, name: &str, path: &Path) -> Result<Arc<Plugin>, RuntimeError> {
        let size = std::fs::metadata(path)
            .map_err(|source| RuntimeError::Read {
                path: path.to_owned(),
                source,
            })?
            .len();
        if size > MAX_PLUGIN_BYTES as u64 {
            return Err(RuntimeError::TooLarge {
                plugin: name.to_owned(),
                bytes: usize::try_from(size).unwrap_or(usize::MAX),
            });
        }
        let wasm = std::fs::read(path).map_err(|source| RuntimeError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load(name, &wasm)
    }

    /// Loads a plugin: checks that it is a component of a supported world
    /// version (before compiling anything), takes its compiled code from the
    /// cache or compiles and caches it, and links it against the host.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Arc<Plugin>, RuntimeError> {
        if wasm.len() > MAX_PLUGIN_BYTES {
            return Err(RuntimeError::TooLarge {
                plugin: name.to_owned(),
                bytes: wasm.len(),
            });
        }
        let info = world::inspect(wasm)?;
        let contract = info
            .compatibility()
            .map_err(|reason| RuntimeError::Incompatible {
                plugin: name.to_owned(),
                reason,
            })?;
        let engine = &self.shared.engine;
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.get(engine, &info.sha256));
        let (component, origin) = match cached {
            Some(component) => (component, Origin::Cache),
            None => {
                let component =
                    Component::new(engine, wasm).map_err(|e| RuntimeError::Compile {
                        plugin: name.to_owned(),
                        message: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.cache {
                    cache.put(&info.sha256, &component);
                }
                (component, Origin::Compiled)
            }
        };
        let link_error = |e: wasmtime::Error| RuntimeError::Link {
            plugin: name.to_owned(),
            message: format!("{e:#}"),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(link_error)?;
        let pre = match contract {
            Contract::V01 => {
                Pre::V01(v01::bindings::PluginPre::new(instance_pre).map_err(link_error)?)
            }
            Contract::V02 => {
                Pre::V02(v02::bindings::PluginPre::new(instance_pre).map_err(link_error)?)
            }
        };
        tracing::debug!(plugin = name, sha256 = %info.sha256, ?origin, contract = contract.as_str(), "plugin loaded");
        Ok(Arc::new(Plugin {
            name: name.into(),
            info,
            origin,
            pre,
            shared: Arc::clone(&self.shared),
        }))
    }
}

impl Plugin {
    /// The name it was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Shared handle to the name, for log fields.
    pub(crate) fn name_arc(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    /// What the file is: world version, imports, exports, size, SHA-256.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The world version the plugin targets.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V01(_) => Contract::V01,
            Pre::V02(_) => Contract::V02,
        }
    }

    /// Whether this load compiled the component or took it from the cache.
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("sha256", &self.info.sha256)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
