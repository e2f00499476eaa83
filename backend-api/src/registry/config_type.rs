//! Configs that are their own backend type: a section's config enum that
//! knows its capability, its `type` names and how to build itself,
//! registered with [`Registry::register_config`] and no type object of its
//! own. The embedded and the AWS backends describe all their types this way.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{BackendType, BuildContext, CheckFuture, Kind, Registry, RegistryError};
use crate::BackendResult;

/// A section of `trailmark.toml` that describes one backend and builds it.
///
/// Deserialized from the whole table (`type` key included, so a
/// `#[serde(tag = "type")]` enum can cover several names); refuse unknown
/// keys (`deny_unknown_fields`).
pub trait BackendConfig: DeserializeOwned + std::fmt::Debug + Send + Sync + 'static {
    /// The capability it configures.
    type Kind: Kind;
    /// The `type` values it answers to, e.g. `["fs"]`.
    const TYPES: &'static [&'static str];

    /// Open the backend this section describes.
    fn build(&self, context: &BuildContext<'_>) -> BackendResult<Built<Self>>;

    /// Check that what it names is there and reachable (a bucket, a table),
    /// once at start; the default has nothing to check.
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The file or directory the backend keeps its data in under
    /// `data_dir`, for offline tools (`trailmark verify`); `None` for a
    /// remote service.
    fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        let _ = data_dir;
        None
    }
}

/// What a config of type `S` builds: its capability's trait object.
pub type Built<S> = Arc<<<S as BackendConfig>::Kind as Kind>::Store>;

impl Registry {
    /// Register the config type `S` under its kind and `type` names.
    pub fn register_config<S: BackendConfig>(&mut self) -> Result<&mut Self, RegistryError> {
        self.register(ByConfig::<S>(PhantomData))
    }
}

/// The backend type whose sections deserialize into `S`.
struct ByConfig<S>(PhantomData<fn() -> S>);

impl<S: BackendConfig> BackendType for ByConfig<S> {
    type Kind = S::Kind;
    type Config = S;
    const TYPES: &'static [&'static str] = S::TYPES;

    fn build(&self, config: &S, context: &BuildContext<'_>) -> BackendResult<Built<S>> {
        config.build(context)
    }

    fn check<'a>(&'a self, config: &'a S) -> CheckFuture<'a> {
        config.check()
    }

    fn local_path(&self, config: &S, data_dir: &Path) -> Option<PathBuf> {
        config.local_path(data_dir)
    }
}
