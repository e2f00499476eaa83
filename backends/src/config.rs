//! How each local backend is described in `trailmark.toml`, and how to build it.
//!
//! ```toml
//! [archive]
//! type = "fs"                 # path defaults to "<data>/archive"
//! path = "data/archive"
//! layout = "packs"            # or "files" (one file per key); default "packs"
//!
//! [metadata]
//! type = "sqlite"             # path defaults to "<data>/metadata.sqlite"
//! synchronous = "normal"      # or "full"; default: "normal" under `trailmark serve` (batched durability), "full" otherwise
//!
//! [notify.admins]
//! type = "webhook"            # or "file" (path), "stdout"
//! url = "https://chat.example.com/hooks/audit"
//! timeout = "5s"              # default 5s
//!
//! [forward.upstream]
//! type = "http"               # or "file" (path)
//! url = "http://audit.example.com:8080"
//! ```
//!
//! Each table deserializes (unknown keys refused) into one of the enums
//! below, tagged by `type`. [`register`] offers them to the host's backend
//! [`Registry`], beside the types other crates register (AWS: `s3`,
//! `dynamodb`, `sns`, `eventbridge`). Explicit relative paths are used as
//! given (relative to the working directory); resolve them against the
//! config file's directory before `build` if that is the rule you want.
//! Defaults are placed under the `data_dir` passed to `build`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use trailmark_backend_api::registry::{
    self, BackendConfig, BuildContext, Built, Registry, RegistryError,
};
use trailmark_backend_api::units::positive_duration;

use crate::{
    BackendResult, DEFAULT_FORWARD_TIMEOUT, DEFAULT_WEBHOOK_TIMEOUT, FileForwarder, FileNotifier,
    FsArchive, HttpForwarder, PackArchive, SqliteMetadata, StdoutNotifier, Synchronous,
    WebhookNotifier,
};

/// The `[archive]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
#[non_exhaustive]
pub enum ArchiveConfig {
    /// `type = "fs"`: a local directory, bodies in pack files
    /// ([`PackArchive`]) or one file per key ([`FsArchive`]).
    Fs {
        /// The archive directory; default `<data>/archive`.
        #[serde(default)]
        path: Option<PathBuf>,
        /// How bodies are laid out in it; default `packs`.
        #[serde(default)]
        layout: ArchiveLayout,
    },
}

/// How a local archive lays bodies out on disk. Keys, `get` and history are
/// the same either way, and the `packs` layout still reads (and never
/// overwrites) bodies an archive stored as files before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveLayout {
    /// Bodies appended to pack files with an index: one write and one index
    /// transaction per batch of puts.
    #[default]
    Packs,
    /// One file per key (`a/b/c` at `<path>/a/b/c`): easy to browse, a few
    /// file-system operations per body.
    Files,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig::Fs {
            path: None,
            layout: ArchiveLayout::default(),
        }
    }
}

/// `fs` archives.
impl BackendConfig for ArchiveConfig {
    type Kind = registry::Archive;
    const TYPES: &'static [&'static str] = &["fs"];

    fn build(&self, cx: &BuildContext<'_>) -> BackendResult<Built<Self>> {
        let root = self.fs_root(cx.data_dir);
        match self {
            ArchiveConfig::Fs {
                layout: ArchiveLayout::Files,
                ..
            } => Ok(Arc::new(FsArchive::open_with(root, cx.durability)?)),
            ArchiveConfig::Fs {
                layout: ArchiveLayout::Packs,
                ..
            } => Ok(Arc::new(PackArchive::open_with(root, cx.durability)?)),
        }
    }

    fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        Some(self.fs_root(data_dir))
    }
}

impl ArchiveConfig {
    /// The directory of a local (`fs`) archive, for offline tools that read
    /// it without opening it as a store (`trailmark verify`).
    pub fn fs_root(&self, data_dir: &Path) -> PathBuf {
        match self {
            ArchiveConfig::Fs { path, .. } => or_default(path, data_dir, "archive"),
        }
    }
}

/// The `[metadata]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
#[non_exhaustive]
pub enum MetadataConfig {
    /// `type = "sqlite"`: a SQLite file ([`SqliteMetadata`]).
    Sqlite {
        /// The database file; default `<data>/metadata.sqlite`.
        #[serde(default)]
        path: Option<PathBuf>,
        /// `"full"` or `"normal"`; see [`Synchronous`]. Default: `full` when
        /// every put must be durable on return, `normal` with
        /// [`Durability::Batched`](crate::Durability::Batched) (the host's
        /// mode: commits are flushed before delivery outcomes are journaled).
        #[serde(default)]
        synchronous: Option<Synchronous>,
    },
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig::Sqlite {
            path: None,
            synchronous: None,
        }
    }
}

impl MetadataConfig {
    /// The file of a local (`sqlite`) metadata store, for offline tools that
    /// read it without opening it as a store (`trailmark verify`).
    pub fn sqlite_path(&self, data_dir: &Path) -> PathBuf {
        match self {
            MetadataConfig::Sqlite { path, .. } => or_default(path, data_dir, "metadata.sqlite"),
        }
    }
}

/// `sqlite` metadata stores.
impl BackendConfig for MetadataConfig {
    type Kind = registry::Metadata;
    const TYPES: &'static [&'static str] = &["sqlite"];

    fn local_path(&self, data_dir: &Path) -> Option<PathBuf> {
        Some(self.sqlite_path(data_dir))
    }

    fn build(&self, cx: &BuildContext<'_>) -> BackendResult<Built<Self>> {
        match self {
            MetadataConfig::Sqlite { synchronous, .. } => Ok(Arc::new(SqliteMetadata::open_for(
                self.sqlite_path(cx.data_dir),
                *synchronous,
                cx.durability,
            )?)),
        }
    }
}

/// One `[notify.<channel>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
#[non_exhaustive]
pub enum NotifyConfig {
    /// `type = "file"`: JSON lines appended to a file ([`FileNotifier`]).
    File {
        /// The file; default `<data>/notifications.jsonl` (shared by the
        /// channels that keep the default: each line names its channel).
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// `type = "webhook"`: JSON POSTed to a URL ([`WebhookNotifier`]).
    Webhook {
        /// Absolute `http://` or `https://` URL.
        url: String,
        /// Per-call timeout such as `"5s"` or `"250ms"`; default 5 s.
        #[serde(
            default = "default_webhook_timeout",
            deserialize_with = "positive_duration"
        )]
        timeout: Duration,
    },
    /// `type = "stdout"`: JSON lines on stdout ([`StdoutNotifier`]).
    // A struct variant, not a unit one, so that unknown keys are refused.
    Stdout {},
}

/// `file`, `webhook` and `stdout` channels.
impl BackendConfig for NotifyConfig {
    type Kind = registry::Notify;
    const TYPES: &'static [&'static str] = &["file", "webhook", "stdout"];

    fn build(&self, cx: &BuildContext<'_>) -> BackendResult<Built<Self>> {
        Ok(match self {
            NotifyConfig::File { path } => Arc::new(FileNotifier::open_with(
                or_default(path, cx.data_dir, "notifications.jsonl"),
                cx.durability,
            )?),
            NotifyConfig::Webhook { url, timeout } => {
                Arc::new(WebhookNotifier::new(url, *timeout)?)
            }
            NotifyConfig::Stdout {} => Arc::new(StdoutNotifier::new()),
        })
    }
}

/// One `[forward.<destination>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
#[non_exhaustive]
pub enum ForwardConfig {
    /// `type = "http"`: another Trailmark's `POST /v1/events` ([`HttpForwarder`]).
    Http {
        /// The receiver's base URL, e.g. `http://audit.example.com:8080`.
        url: String,
        /// Per-call timeout such as `"5s"`; default 5 s.
        #[serde(
            default = "default_forward_timeout",
            deserialize_with = "positive_duration"
        )]
        timeout: Duration,
        /// Sent as `Authorization: Bearer <token>` when set.
        #[serde(default)]
        token: Option<String>,
    },
    /// `type = "file"`: events appended as JSON lines ([`FileForwarder`]).
    File {
        /// The file; default `<data>/forwarded.jsonl`.
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

/// `http` and `file` forwarding.
impl BackendConfig for ForwardConfig {
    type Kind = registry::Forward;
    const TYPES: &'static [&'static str] = &["http", "file"];

    fn build(&self, cx: &BuildContext<'_>) -> BackendResult<Built<Self>> {
        Ok(match self {
            ForwardConfig::Http {
                url,
                timeout,
                token,
            } => Arc::new(HttpForwarder::new(url, *timeout, token.clone())?),
            ForwardConfig::File { path } => Arc::new(FileForwarder::open_with(
                or_default(path, cx.data_dir, "forwarded.jsonl"),
                cx.durability,
            )?),
        })
    }
}

fn or_default(path: &Option<PathBuf>, data_dir: &Path, default_name: &str) -> PathBuf {
    path.clone().unwrap_or_else(|| data_dir.join(default_name))
}

fn default_webhook_timeout() -> Duration {
    DEFAULT_WEBHOOK_TIMEOUT
}

fn default_forward_timeout() -> Duration {
    DEFAULT_FORWARD_TIMEOUT
}

/// Register the embedded backend types: `fs` archives, `sqlite` metadata,
/// `file`, `webhook` and `stdout` channels, `http` and `file` forwarding.
///
/// ```
/// use trailmark_backend_api::registry::Registry;
/// let mut registry = Registry::default();
/// trailmark_backends::register(&mut registry).expect("a fresh registry");
/// assert_eq!(registry.archive.names(), ["fs"]);
/// ```
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    registry
        .register_config::<ArchiveConfig>()?
        .register_config::<MetadataConfig>()?
        .register_config::<NotifyConfig>()?
        .register_config::<ForwardConfig>()?;
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
