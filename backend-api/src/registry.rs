//! The backend registry: which `type` values each capability section of
//! `trailmark.toml` accepts, and how to read, check and build each one.
//!
//! A backend crate describes each of its backend types with a
//! [`BackendType`] (its capability [`Kind`], its `type` names, its config
//! type, `build`, `check`) and registers it; the host reads every section
//! through the registry and never names an implementation. This follows
//! Spin's runtime-config factories (`MakeKeyValueStore` in
//! `crates/factor-key-value`): a section's `type` picks the registered
//! maker, which deserializes the rest of the table into its own config.
//!
//! ```
//! use std::sync::Arc;
//! use trailmark_backend_api::registry::{Archive, BackendType, BuildContext, Registry};
//! use trailmark_backend_api::{ArchiveStore, BackendResult, Durability};
//! # use trailmark_backend_api::BackendError;
//!
//! /// `type = "null"`: an archive that keeps nothing.
//! struct NullArchive;
//! impl ArchiveStore for NullArchive {
//!     fn put(&self, _: &str, _: &[u8], _: &str) -> BackendResult<()> { Ok(()) }
//!     fn get(&self, _: &str) -> BackendResult<Option<Vec<u8>>> { Ok(None) }
//! }
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
//! enum NullConfig { Null {} }
//!
//! struct NullType;
//! impl BackendType for NullType {
//!     type Kind = Archive;
//!     type Config = NullConfig;
//!     const TYPES: &'static [&'static str] = &["null"];
//!     fn build(&self, _: &NullConfig, _: &BuildContext<'_>) -> BackendResult<Arc<dyn ArchiveStore>> {
//!         Ok(Arc::new(NullArchive))
//!     }
//! }
//!
//! let mut registry = Registry::default();
//! registry.register(NullType).expect("a new type name");
//! registry.archive.unavailable("s3", "this build has no AWS support");
//!
//! let table: toml::Table = toml::from_str("type = \"null\"").unwrap();
//! let section = registry.archive.read(table).unwrap();
//! let archive = section.build(&BuildContext::new("data".as_ref(), Durability::EachWrite))?;
//! assert_eq!(archive.get("k")?, None);
//!
//! let s3: toml::Table = toml::from_str("type = \"s3\"").unwrap();
//! assert!(registry.archive.read(s3).unwrap_err().contains("no AWS support"));
//! # Ok::<(), BackendError>(())
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{ArchiveStore, BackendResult, Durability, Forwarder, MetadataStore, Notifier};

mod config_type;

pub use config_type::{BackendConfig, Built};

/// A capability kind: the store its sections build and the `trailmark.toml`
/// section they live in.
pub trait Kind: Sized + 'static {
    /// What a section of this kind builds, e.g. `dyn ArchiveStore`.
    type Store: ?Sized + Send + Sync + 'static;
    /// The section name: `archive`, `metadata`, `notify` or `forward`.
    const SECTION: &'static str;
    /// This kind's types in `registry`.
    fn types(registry: &mut Registry) -> &mut Types<Self>;
}

/// The `[archive]` section: an [`ArchiveStore`].
#[derive(Debug)]
pub enum Archive {}
/// The `[metadata]` section: a [`MetadataStore`].
#[derive(Debug)]
pub enum Metadata {}
/// The `[notify.NAME]` sections: one [`Notifier`] per channel.
#[derive(Debug)]
pub enum Notify {}
/// The `[forward.NAME]` sections: one [`Forwarder`] per destination.
#[derive(Debug)]
pub enum Forward {}

macro_rules! kind {
    ($kind:ty, $store:ty, $section:literal, $field:ident) => {
        impl Kind for $kind {
            type Store = $store;
            const SECTION: &'static str = $section;
            fn types(registry: &mut Registry) -> &mut Types<Self> {
                &mut registry.$field
            }
        }
    };
}

kind!(Archive, dyn ArchiveStore, "archive", archive);
kind!(Metadata, dyn MetadataStore, "metadata", metadata);
kind!(Notify, dyn Notifier, "notify", notify);
kind!(Forward, dyn Forwarder, "forward", forward);

/// What a backend is built with besides its own section.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BuildContext<'a> {
    /// The data directory: where embedded backends keep their files unless
    /// their section names a path.
    pub data_dir: &'a Path,
    /// When writes must be durable (embedded backends; remote services are
    /// durable when a call returns).
    pub durability: Durability,
}

impl<'a> BuildContext<'a> {
    /// Build under `data_dir` with the given durability.
    pub fn new(data_dir: &'a Path, durability: Durability) -> Self {
        BuildContext {
            data_dir,
            durability,
        }
    }

    /// Build under `data_dir`, every write durable when it returns.
    pub fn durable(data_dir: &'a Path) -> Self {
        BuildContext::new(data_dir, Durability::EachWrite)
    }
}

/// Why a [`check`](BackendType::check) failed: names the resource and the
/// reason, ready to show.
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

/// The future a [`check`](BackendType::check) returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

/// One backend type of one capability kind: its `type` names, its config,
/// how to build it and how to check, before anything runs, that what it
/// needs is there.
pub trait BackendType: Send + Sync + 'static {
    /// The capability it implements.
    type Kind: Kind;
    /// Its section, deserialized from the whole table (`type` key included,
    /// so a `#[serde(tag = "type")]` enum can cover several names). Refuse
    /// unknown keys (`deny_unknown_fields`): a typo must not pass silently.
    type Config: DeserializeOwned + fmt::Debug + Send + Sync + 'static;
    /// The `type` values it answers to, e.g. `["fs"]`.
    const TYPES: &'static [&'static str];

    /// Open the backend `config` describes.
    fn build(
        &self,
        config: &Self::Config,
        context: &BuildContext<'_>,
    ) -> BackendResult<Arc<<Self::Kind as Kind>::Store>>;

    /// Check that what `config` names is there and reachable (a bucket, a
    /// table), once at start; the default has nothing to check.
    fn check<'a>(&'a self, config: &'a Self::Config) -> CheckFuture<'a> {
        let _ = config;
        Box::pin(std::future::ready(Ok(())))
    }

    /// The file or directory the backend keeps its data in under
    /// `data_dir`, for offline tools (`trailmark verify`); `None` for a
    /// remote service.
    fn local_path(&self, config: &Self::Config, data_dir: &Path) -> Option<PathBuf> {
        let _ = (config, data_dir);
        None
    }
}

/// A registration problem: two backend types claimed one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[{section}] type `{type_name}` is registered twice")]
pub struct RegistryError {
    /// The section, e.g. `archive`.
    pub section: &'static str,
    /// The name claimed twice.
    pub type_name: &'static str,
}

/// Every backend type, by capability kind.
#[derive(Default)]
pub struct Registry {
    /// `[archive]` types.
    pub archive: Types<Archive>,
    /// `[metadata]` types.
    pub metadata: Types<Metadata>,
    /// `[notify.NAME]` types.
    pub notify: Types<Notify>,
    /// `[forward.NAME]` types.
    pub forward: Types<Forward>,
}

impl Registry {
    /// Register `backend` under its kind and `type` names.
    pub fn register<T: BackendType>(&mut self, backend: T) -> Result<&mut Self, RegistryError> {
        T::Kind::types(self).register(backend)?;
        Ok(self)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("archive", &self.archive)
            .field("metadata", &self.metadata)
            .field("notify", &self.notify)
            .field("forward", &self.forward)
            .finish()
    }
}

/// The backend types of one capability kind.
pub struct Types<K: Kind> {
    entries: Vec<Arc<dyn Entry<K>>>,
    unavailable: Vec<(&'static str, String)>,
}

impl<K: Kind> Default for Types<K> {
    fn default() -> Self {
        Types {
            entries: Vec::new(),
            unavailable: Vec::new(),
        }
    }
}

impl<K: Kind> fmt::Debug for Types<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Types")
            .field("types", &self.names())
            .field("unavailable", &self.unavailable)
            .finish()
    }
}

impl<K: Kind> Types<K> {
    /// Register `backend` under its `type` names.
    pub fn register<T: BackendType<Kind = K>>(&mut self, backend: T) -> Result<(), RegistryError> {
        let names = self.names();
        let taken = |name: &&&'static str| {
            names.contains(*name) || self.unavailable.iter().any(|(n, _)| n == *name)
        };
        if let Some(&type_name) = T::TYPES.iter().find(taken) {
            return Err(RegistryError {
                section: K::SECTION,
                type_name,
            });
        }
        self.entries.push(Arc::new(Registered(Arc::new(backend))));
        Ok(())
    }

    /// Name a type this build cannot offer, and why (e.g. a backend crate
    /// left out by a cargo feature): a section asking for it is refused
    /// with `reason` rather than as an unknown type.
    pub fn unavailable(&mut self, type_name: &'static str, reason: impl Into<String>) {
        self.unavailable.push((type_name, reason.into()));
    }

    /// The registered `type` names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries
            .iter()
            .flat_map(|e| e.types().iter().copied())
            .collect()
    }

    /// Read one section: its `type` picks the backend type, whose config
    /// takes the whole table. The error says what is wrong and what would
    /// be valid; the caller adds the file and the section.
    pub fn read(&self, table: toml::Table) -> Result<Section<K>, String> {
        let expected = || {
            self.names()
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let type_name = match table.get("type") {
            None => {
                return Err(format!(
                    "missing field `type`, expected one of {}",
                    expected()
                ));
            }
            Some(toml::Value::String(name)) => name.as_str(),
            Some(other) => {
                return Err(format!(
                    "`type` must be a string, one of {}; got {}",
                    expected(),
                    other.type_str()
                ));
            }
        };
        if let Some(entry) = self.entries.iter().find(|e| e.types().contains(&type_name)) {
            return entry.read(table);
        }
        if let Some((_, reason)) = self.unavailable.iter().find(|(n, _)| *n == type_name) {
            return Err(format!(
                "type `{type_name}` is not available: {reason}; this build offers {}",
                expected()
            ));
        }
        Err(format!(
            "unknown type `{type_name}`, expected one of {}",
            expected()
        ))
    }
}

/// One section, read and checked: which backend type, with what config.
/// Cheap to clone.
pub struct Section<K: Kind>(Arc<dyn Configured<K>>);

impl<K: Kind> Clone for Section<K> {
    fn clone(&self) -> Self {
        Section(Arc::clone(&self.0))
    }
}

impl<K: Kind> fmt::Debug for Section<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<K: Kind> Section<K> {
    /// Its `type`, as written.
    pub fn type_name(&self) -> &str {
        self.0.type_name()
    }

    /// Open the backend.
    pub fn build(&self, context: &BuildContext<'_>) -> BackendResult<Arc<K::Store>> {
        self.0.build(context)
    }

    /// Check that what it names is there (see [`BackendType::check`]).
    pub fn check(&self) -> CheckFuture<'_> {
        self.0.check()
    }

    /// Where its data is under `data_dir`, for an embedded backend (see
    /// [`BackendType::local_path`]).
    pub fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        self.0.local_path(data_dir)
    }

    /// Its config, if it is a `C`: for tools that handle one backend crate's
    /// types specially (creating AWS resources, say).
    pub fn config<C: 'static>(&self) -> Option<&C> {
        self.0.config().downcast_ref()
    }
}

/// A registered backend type, with its config type erased.
trait Entry<K: Kind>: Send + Sync {
    fn types(&self) -> &'static [&'static str];
    fn read(&self, table: toml::Table) -> Result<Section<K>, String>;
}

/// A section's backend type and config, erased.
trait Configured<K: Kind>: fmt::Debug + Send + Sync {
    fn type_name(&self) -> &str;
    fn build(&self, context: &BuildContext<'_>) -> BackendResult<Arc<K::Store>>;
    fn check(&self) -> CheckFuture<'_>;
    fn local_path(&self, data_dir: &Path) -> Option<PathBuf>;
    fn config(&self) -> &dyn Any;
}

struct Registered<T>(Arc<T>);

impl<T: BackendType> Entry<T::Kind> for Registered<T> {
    fn types(&self) -> &'static [&'static str] {
        T::TYPES
    }

    fn read(&self, table: toml::Table) -> Result<Section<T::Kind>, String> {
        let type_name = table
            .get("type")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let config = T::Config::deserialize(toml::Value::Table(table))
            .map_err(|e| e.to_string().trim_end().to_owned())?;
        Ok(Section(Arc::new(Bound {
            backend: Arc::clone(&self.0),
            type_name,
            config,
        })))
    }
}

struct Bound<T: BackendType> {
    backend: Arc<T>,
    type_name: String,
    config: T::Config,
}

impl<T: BackendType> fmt::Debug for Bound<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("type", &self.type_name)
            .field("config", &self.config)
            .finish()
    }
}

impl<T: BackendType> Configured<T::Kind> for Bound<T> {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn build(&self, context: &BuildContext<'_>) -> BackendResult<Arc<<T::Kind as Kind>::Store>> {
        self.backend.build(&self.config, context)
    }

    fn check(&self) -> CheckFuture<'_> {
        self.backend.check(&self.config)
    }

    fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        self.backend.local_path(&self.config, data_dir)
    }

    fn config(&self) -> &dyn Any {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendError, ChangePage, ChangeQuery, ChangeRecord, HistoryQuery, PutOutcome};

    struct NoStore;
    impl MetadataStore for NoStore {
        fn put(&self, _: &ChangeRecord) -> BackendResult<PutOutcome> {
            Err(BackendError::Invalid("no store".into()))
        }
        fn query(&self, _: &ChangeQuery) -> BackendResult<ChangePage> {
            Ok(ChangePage::default())
        }
        fn history(&self, _: &HistoryQuery) -> BackendResult<ChangePage> {
            Ok(ChangePage::default())
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
    enum TwoConfig {
        One { path: Option<PathBuf> },
        Two { table: String },
    }

    struct Two;
    impl BackendType for Two {
        type Kind = Metadata;
        type Config = TwoConfig;
        const TYPES: &'static [&'static str] = &["one", "two"];
        fn build(
            &self,
            _: &TwoConfig,
            _: &BuildContext<'_>,
        ) -> BackendResult<Arc<dyn MetadataStore>> {
            Ok(Arc::new(NoStore))
        }
        fn check<'a>(&'a self, config: &'a TwoConfig) -> CheckFuture<'a> {
            Box::pin(async move {
                match config {
                    TwoConfig::Two { table } => Err(format!("table `{table}` is missing").into()),
                    TwoConfig::One { .. } => Ok(()),
                }
            })
        }
        fn local_path(&self, config: &TwoConfig, data_dir: &Path) -> Option<PathBuf> {
            match config {
                TwoConfig::One { path } => Some(path.clone().unwrap_or(data_dir.join("one"))),
                TwoConfig::Two { .. } => None,
            }
        }
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("toml")
    }

    fn registry() -> Registry {
        let mut registry = Registry::default();
        registry.register(Two).expect("new names");
        registry.metadata.unavailable("far", "built without it");
        registry
    }

    /// Run a future that never waits (the checks here do no I/O).
    fn now<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the check should not wait"),
        }
    }

    #[test]
    fn the_type_picks_the_backend_and_its_config_takes_the_table() {
        let r = registry();
        assert_eq!(r.metadata.names(), ["one", "two"]);
        let one = r.metadata.read(table("type = \"one\"")).expect("one");
        assert_eq!(one.type_name(), "one");
        assert_eq!(one.local_path(Path::new("d")), Some(PathBuf::from("d/one")));
        assert!(now(one.check()).is_ok());
        assert!(
            one.build(&BuildContext::new(Path::new("d"), Durability::Batched))
                .is_ok()
        );
        assert!(matches!(
            one.config::<TwoConfig>(),
            Some(TwoConfig::One { path: None })
        ));
        assert!(one.config::<String>().is_none());

        let two = r
            .metadata
            .read(table("type = \"two\"\ntable = \"t\""))
            .expect("two");
        assert_eq!(two.local_path(Path::new("d")), None);
        let e = now(two.check()).expect_err("missing");
        assert_eq!(e.to_string(), "table `t` is missing");
        assert!(format!("{two:?}").contains("\"t\""), "{two:?}");
    }

    #[test]
    fn errors_say_what_is_wrong_and_what_would_be_valid() {
        let r = registry();
        let read = |text: &str| r.metadata.read(table(text)).expect_err("refused");
        let e = read("table = \"t\"");
        assert_eq!(e, "missing field `type`, expected one of `one`, `two`");
        let e = read("type = 3");
        assert_eq!(
            e,
            "`type` must be a string, one of `one`, `two`; got integer"
        );
        let e = read("type = \"three\"");
        assert_eq!(e, "unknown type `three`, expected one of `one`, `two`");
        let e = read("type = \"far\"");
        assert_eq!(
            e,
            "type `far` is not available: built without it; this build offers `one`, `two`"
        );
        let e = read("type = \"two\"\ntable = \"t\"\ntabel = 1");
        assert!(e.contains("unknown field `tabel`"), "{e}");
        let e = read("type = \"two\"");
        assert!(e.contains("missing field `table`"), "{e}");
        assert!(
            r.archive.read(table("type = \"one\"")).is_err(),
            "kinds are apart"
        );
    }

    #[test]
    fn a_name_is_registered_once() {
        let mut r = registry();
        let e = r.register(Two).expect_err("taken");
        assert_eq!(e.to_string(), "[metadata] type `one` is registered twice");
        let mut r = Registry::default();
        r.metadata.unavailable("two", "not here");
        assert!(r.register(Two).is_err());
    }
}
