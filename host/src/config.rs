//! `trailmark.toml`: the server's configuration, read once at start and
//! checked completely before anything runs.
//!
//! Every key has a default, so an empty file (or none) runs Trailmark on
//! embedded storage under `./data`. Command-line flags override the file.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8088"
//! data = "data"
//! rules = "rules"
//! plugins = "plugins"
//! account = "000000000000"
//! region = "local"
//! max-connections = 4096       # default: RLIMIT_NOFILE less 128, at most 4096
//! header-timeout = "10s"       # to receive a request's headers
//! idle-timeout = "60s"         # a connection with nothing to do
//! body-timeout = "30s"         # to receive a request's body
//! max-header-size = "64KiB"    # larger heads get 431
//! http2-max-streams = 32       # per connection
//! auth-body-budget = "64MiB"   # signed bodies buffered for signature checks, all together
//! refusal-interval = "60s"     # per address: one refusal journaled, the rest counted
//!
//! [journal]
//! retention = "30d"
//! checkpoint-interval = "1m"   # sign the chain head this often
//!
//! [dispatch]
//! lane-capacity = 1024     # deliveries one rule holds in memory; beyond, they wait in the journal
//! max-pending = 100000     # deliveries all rules hold in memory together (an equal share each)
//! concurrency = 16         # plugin calls at once per rule
//! batch = 32               # deliveries one plugin call takes at most
//! retry-initial = "1s"
//! retry-max = "5m"
//!
//! [runtime]
//! timeout = "1s"
//! memory = "64MiB"
//!
//! [viewer]
//! enabled = true           # the audit viewer's pages at `/` and `/ui/`
//! secure-cookies = false   # true behind a TLS proxy: cookies over HTTPS only
//!
//! [retention]              # the metadata store and the archive (the journal: [journal])
//! metadata = "400d"        # absent: kept forever
//! archive = "90d"
//!
//! [[retention.override]]   # first match wins, per store
//! source = "com.acme.payments"
//! metadata = "2557d"
//! archive = "2557d"
//!
//! [notify.admins]
//! type = "file"
//! path = "data/notify/admins.jsonl"
//!
//! # No [auth] credentials: the first start creates an admin token and an
//! # access key in the data directory (see `trailmark_auth::AuthConfig`).
//! [[auth.tokens]]
//! name = "billing"
//! hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! scopes = ["put"]
//! sources = ["com.acme.billing.*"]
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use trailmark_auth::AuthConfig;
use trailmark_backend_api::registry::{
    Archive, Forward, Kind, Metadata, Notify, Registry, Section, Types,
};

use crate::dispatch::DispatchOptions;
use crate::engine::options::{JournalSettings, RuntimeOptions};
use crate::ingest::IngestOptions;
use crate::server::listener::ListenerOptions;
use trailmark_backend_api::units::{parse_bytes, parse_duration};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8088";

/// A configuration problem, with the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said, with line and column.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{path}: `{key}`: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// Dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The file as written: `[server]` key by key (overrides and listener
/// limits are applied to it), every other section straight into the
/// options type of the module it configures.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    journal: JournalSettings,
    #[serde(default)]
    ingest: IngestOptions,
    #[serde(default)]
    dispatch: DispatchOptions,
    #[serde(default)]
    runtime: RuntimeOptions,
    archive: Option<toml::Table>,
    metadata: Option<toml::Table>,
    #[serde(default)]
    notify: BTreeMap<String, toml::Table>,
    #[serde(default)]
    forward: BTreeMap<String, toml::Table>,
    auth: Option<toml::Table>,
    #[serde(default)]
    viewer: ViewerOptions,
    #[serde(default)]
    backup: crate::backup::schedule::BackupSettings,
    #[serde(default)]
    encryption: crate::engine::encryption::EncryptionSettings,
    #[serde(default)]
    subjects: crate::subjects::SubjectSettings,
    #[serde(default)]
    lake: crate::lake::LakeSettings,
    #[serde(default)]
    correlation: crate::correlation::CorrelationSettings,
    #[serde(default)]
    retention: crate::store_retention::settings::RetentionSettings,
}

/// `[viewer]`: the audit viewer's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ViewerOptions {
    /// Serve the viewer at `/` and `/ui/` (default on).
    pub enabled: bool,
    /// Mark the viewer's cookies `Secure`, for a viewer behind a TLS proxy
    /// (default off: plain HTTP on loopback).
    pub secure_cookies: bool,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        ViewerOptions {
            enabled: true,
            secure_cookies: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawServer {
    listen: Option<String>,
    data: Option<PathBuf>,
    rules: Option<PathBuf>,
    plugins: Option<PathBuf>,
    account: Option<String>,
    region: Option<String>,
    watch: Option<bool>,
    max_connections: Option<usize>,
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    body_timeout: Option<String>,
    max_header_size: Option<String>,
    http2_max_streams: Option<u32>,
    auth_body_budget: Option<String>,
    refusal_interval: Option<String>,
    audit_reads: Option<bool>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Data directory (journal, embedded storage, caches).
    pub data: PathBuf,
    /// Rules directory.
    pub rules: PathBuf,
    /// Plugins directory (`<name>.wasm`).
    pub plugins: PathBuf,
    /// Account id filled into events.
    pub account: String,
    /// Region filled into events.
    pub region: String,
    /// Watch rules and plugins for changes.
    pub watch: bool,
    /// Connection limits and timeouts of the HTTP listener.
    pub listener: ListenerOptions,
    /// Bytes of signed bodies buffered for signature checks at once.
    pub auth_body_budget: u64,
    /// Per remote address, one refusal is journaled per interval; the rest
    /// are counted into one aggregate record.
    pub refusal_interval: Duration,
    /// Journal an access record for every authenticated read of the trail
    /// (default on; off only to measure what it costs).
    pub audit_reads: bool,
    /// `[journal]`: retention, segment size, checkpoint interval.
    pub journal: JournalSettings,
    /// `[ingest]`: request limits and the optional SQS source.
    pub ingest: IngestOptions,
    /// `[dispatch]`: lanes, batches, concurrency and retries.
    pub dispatch: DispatchOptions,
    /// `[runtime]`: plugin call limits and the compiled-plugin cache.
    pub runtime: RuntimeOptions,
    /// `[archive]` backend (default: `fs`, a directory under `data`).
    pub archive: Section<Archive>,
    /// `[metadata]` backend (default: `sqlite`, a file under `data`).
    pub metadata: Section<Metadata>,
    /// `[notify.NAME]` channels (default: `admins`, `file`: JSON lines
    /// under `data`).
    pub notify: BTreeMap<String, Section<Notify>>,
    /// `[forward.NAME]` destinations.
    pub forward: BTreeMap<String, Section<Forward>>,
    /// `[auth]`: tokens and access keys. Empty: the credentials created in
    /// the data directory on first start are used.
    pub auth: AuthConfig,
    /// `[viewer]`: the audit viewer's pages.
    pub viewer: ViewerOptions,
    /// `[backup]`: scheduled backups.
    pub backup: crate::backup::schedule::BackupSettings,
    /// `[encryption]`: encryption at rest of the journal.
    pub encryption: crate::engine::encryption::EncryptionSettings,
    /// `[subjects]`: personal data sealed per data subject (crypto-shredding).
    pub subjects: crate::subjects::SubjectSettings,
    /// `[lake]`: the data lake's directory and when its files close.
    pub lake: crate::lake::LakeSettings,
    /// `[correlation]`: where correlation rules read event time.
    pub correlation: crate::correlation::CorrelationSettings,
    /// `[retention]`: how long the metadata store and the archive keep
    /// records, by default and per source or entity type.
    pub retention: crate::store_retention::settings::RetentionSettings,
}

/// Command-line overrides of the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--rules`.
    pub rules: Option<PathBuf>,
    /// `--plugins`.
    pub plugins: Option<PathBuf>,
}

impl Config {
    /// Read `path` (if given; a missing default file is fine) and apply overrides.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (raw, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                (Self::parse_raw(&text, p)?, p.to_owned())
            }
            None => {
                let default = Path::new("trailmark.toml");
                match std::fs::read_to_string(default) {
                    Ok(text) => (Self::parse_raw(&text, default)?, default.to_owned()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (RawConfig::default(), PathBuf::from("(defaults)"))
                    }
                    Err(source) => {
                        return Err(ConfigError::Read {
                            path: default.to_owned(),
                            source,
                        });
                    }
                }
            }
        };
        Self::from_raw(raw, &origin, overrides)
    }

    /// Parse configuration text (for tests and `--config -`).
    pub fn parse(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let origin = Path::new("trailmark.toml");
        Self::from_raw(Self::parse_raw(text, origin)?, origin, overrides)
    }

    /// The file's sections, typed. An error names the dotted key it is
    /// about (when it is about one) before toml's line, column and reason.
    fn parse_raw(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message: message.trim_end().to_owned(),
        };
        let document =
            toml::de::Deserializer::parse(text).map_err(|e| parse_error(e.to_string()))?;
        serde_path_to_error::deserialize(document).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            parse_error(if key == "." {
                inner
            } else {
                format!("`{key}`: {inner}")
            })
        })
    }

    fn from_raw(raw: RawConfig, origin: &Path, o: &Overrides) -> Result<Config, ConfigError> {
        let registry = registry();
        let bad = |key: &str, message: String| ConfigError::Value {
            path: origin.to_owned(),
            key: key.to_owned(),
            message,
        };
        let listener = server_limits(&raw.server, origin)?;
        let listen_text = o
            .listen
            .clone()
            .or(raw.server.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            bad(
                "server.listen",
                format!(
                    "`{listen_text}` is not an address; expected IP:PORT such as 127.0.0.1:8088"
                ),
            )
        })?;
        let data = o
            .data
            .clone()
            .or(raw.server.data)
            .unwrap_or_else(|| "data".into());
        let duration =
            |key: &str, v: Option<String>, default: Duration| -> Result<Duration, ConfigError> {
                v.map(|t| parse_duration(&t).map_err(|m| bad(key, m)))
                    .transpose()
                    .map(|d| d.unwrap_or(default))
            };
        let bytes = |key: &str, v: Option<String>, default: u64| -> Result<u64, ConfigError> {
            v.map(|t| parse_bytes(&t).map_err(|m| bad(key, m)))
                .transpose()
                .map(|d| d.unwrap_or(default))
        };
        let account = raw.server.account.unwrap_or_else(|| "000000000000".into());
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(
                "server.account",
                "an account id is 12 digits, as in AWS".into(),
            ));
        }
        let auth_body_budget = bytes(
            "server.auth-body-budget",
            raw.server.auth_body_budget.clone(),
            64 << 20,
        )?;
        if !((1 << 20)..=(u32::MAX as u64)).contains(&auth_body_budget) {
            return Err(bad(
                "server.auth-body-budget",
                "must be from 1MiB to 4GiB".into(),
            ));
        }
        let refusal_interval = duration(
            "server.refusal-interval",
            raw.server.refusal_interval.clone(),
            Duration::from_secs(60),
        )?;
        if refusal_interval.is_zero() {
            return Err(bad(
                "server.refusal-interval",
                "must be longer than 0s".into(),
            ));
        }
        let checked = |name: &str, result: Result<(), (&str, String)>| {
            result.map_err(|(key, message)| bad(&format!("{name}.{key}"), message))
        };
        checked("journal", raw.journal.check())?;
        checked("ingest", raw.ingest.check())?;
        checked("dispatch", raw.dispatch.check())?;
        checked("runtime", raw.runtime.check())?;
        checked("backup", raw.backup.check())?;
        checked("subjects", raw.subjects.check())?;
        checked("lake", raw.lake.check())?;
        checked("correlation", raw.correlation.check())?;
        raw.retention
            .check()
            .map_err(|(key, message)| bad(&format!("retention.{key}"), message))?;
        Ok(Config {
            listen,
            rules: o
                .rules
                .clone()
                .or(raw.server.rules)
                .unwrap_or_else(|| "rules".into()),
            plugins: o
                .plugins
                .clone()
                .or(raw.server.plugins)
                .unwrap_or_else(|| "plugins".into()),
            account,
            region: raw.server.region.unwrap_or_else(|| "local".into()),
            watch: raw.server.watch.unwrap_or(true),
            listener,
            auth_body_budget,
            refusal_interval,
            audit_reads: raw.server.audit_reads.unwrap_or(true),
            journal: raw.journal,
            ingest: raw.ingest,
            dispatch: raw.dispatch,
            runtime: raw.runtime,
            archive: section(&registry.archive, origin, "archive", raw.archive)?
                .unwrap_or_else(|| embedded(&registry.archive, "fs")),
            metadata: section(&registry.metadata, origin, "metadata", raw.metadata)?
                .unwrap_or_else(|| embedded(&registry.metadata, "sqlite")),
            notify: named_sections(&registry.notify, origin, raw.notify)?.unwrap_or_else(|| {
                BTreeMap::from([("admins".to_owned(), embedded(&registry.notify, "file"))])
            }),
            forward: named_sections(&registry.forward, origin, raw.forward)?.unwrap_or_default(),
            auth: raw
                .auth
                .map(|t| AuthConfig::deserialize(toml::Value::Table(t)))
                .transpose()
                .map_err(|e| bad("auth", e.to_string().trim_end().to_owned()))?
                .unwrap_or_default(),
            viewer: raw.viewer,
            backup: raw.backup,
            encryption: raw.encryption,
            subjects: raw.subjects,
            lake: raw.lake,
            correlation: raw.correlation,
            retention: raw.retention,
            data,
        })
    }
}

/// The listener's `[server]` keys, checked, over [`ListenerOptions::defaults`].
fn server_limits(raw: &RawServer, origin: &Path) -> Result<ListenerOptions, ConfigError> {
    let bad = |key: &str, message: String| ConfigError::Value {
        path: origin.to_owned(),
        key: key.to_owned(),
        message,
    };
    let duration = |key: &str, v: Option<String>, default: Duration| {
        v.map(|t| parse_duration(&t).map_err(|m| bad(key, m)))
            .transpose()
            .map(|d| d.unwrap_or(default))
    };
    let bytes = |key: &str, v: Option<String>, default: u64| {
        v.map(|t| parse_bytes(&t).map_err(|m| bad(key, m)))
            .transpose()
            .map(|d| d.unwrap_or(default))
    };
    let defaults = ListenerOptions::defaults();
    let positive = |key: &str, d: Duration| {
        if d.is_zero() {
            Err(bad(key, "must be longer than 0s".into()))
        } else {
            Ok(d)
        }
    };
    let max_connections = raw.max_connections.unwrap_or(defaults.max_connections);
    if max_connections == 0 {
        return Err(bad("server.max-connections", "must be at least 1".into()));
    }
    let max_header_bytes = bytes(
        "server.max-header-size",
        raw.max_header_size.clone(),
        defaults.max_header_bytes as u64,
    )?;
    if !((8 << 10)..=(1 << 20)).contains(&max_header_bytes) {
        return Err(bad(
            "server.max-header-size",
            "must be from 8KiB to 1MiB".into(),
        ));
    }
    let http2_max_streams = raw.http2_max_streams.unwrap_or(defaults.http2_max_streams);
    if !(1..=1000).contains(&http2_max_streams) {
        return Err(bad(
            "server.http2-max-streams",
            "must be from 1 to 1000".into(),
        ));
    }
    Ok(ListenerOptions {
        max_connections,
        header_timeout: positive(
            "server.header-timeout",
            duration(
                "server.header-timeout",
                raw.header_timeout.clone(),
                defaults.header_timeout,
            )?,
        )?,
        idle_timeout: positive(
            "server.idle-timeout",
            duration(
                "server.idle-timeout",
                raw.idle_timeout.clone(),
                defaults.idle_timeout,
            )?,
        )?,
        body_timeout: positive(
            "server.body-timeout",
            duration(
                "server.body-timeout",
                raw.body_timeout.clone(),
                defaults.body_timeout,
            )?,
        )?,
        max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
        http2_max_streams,
    })
}

/// Why an AWS section or command is refused by a build without the `aws`
/// feature.
pub const WITHOUT_AWS: &str =
    "this trailmark was built without AWS support (the `aws` cargo feature, on by default)";

/// The backend types this binary offers, by the `type` of a section: the
/// embedded ones, and AWS's when built with the `aws` feature.
pub fn registry() -> Registry {
    let mut registry = Registry::default();
    trailmark_backends::register(&mut registry).expect("a fresh registry takes every name");
    #[cfg(feature = "aws")]
    trailmark_backends_aws::register(&mut registry)
        .expect("the AWS type names differ from the embedded ones");
    #[cfg(not(feature = "aws"))]
    without_aws(&mut registry);
    registry
}

/// Name the AWS backend types in a build without them, so that a section
/// asking for one says why it cannot be had (a test checks the names
/// against what the AWS crate registers).
#[cfg(any(test, not(feature = "aws")))]
fn without_aws(registry: &mut Registry) {
    registry.archive.unavailable("s3", WITHOUT_AWS);
    registry.metadata.unavailable("dynamodb", WITHOUT_AWS);
    registry.notify.unavailable("sns", WITHOUT_AWS);
    registry.forward.unavailable("eventbridge", WITHOUT_AWS);
}

/// Read a backend table through the registry: its `type` picks the backend.
fn section<K: Kind>(
    types: &Types<K>,
    origin: &Path,
    key: &str,
    table: Option<toml::Table>,
) -> Result<Option<Section<K>>, ConfigError> {
    table
        .map(|t| {
            types.read(t).map_err(|message| ConfigError::Value {
                path: origin.to_owned(),
                key: key.to_owned(),
                message,
            })
        })
        .transpose()
}

/// A default section: an embedded backend with every key at its default.
fn embedded<K: Kind>(types: &Types<K>, type_name: &str) -> Section<K> {
    let table = toml::Table::from_iter([("type".to_owned(), toml::Value::from(type_name))]);
    types
        .read(table)
        .expect("the embedded backends are always registered and need no keys")
}

/// Read `[KIND.NAME]` tables; `None` when there are none.
fn named_sections<K: Kind>(
    types: &Types<K>,
    origin: &Path,
    tables: BTreeMap<String, toml::Table>,
) -> Result<Option<BTreeMap<String, Section<K>>>, ConfigError> {
    if tables.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for (name, table) in tables {
        let key = format!("{}.{name}", K::SECTION);
        if let Some(v) = section(types, origin, &key, Some(table))? {
            out.insert(name, v);
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::parse("", &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data, PathBuf::from("data"));
        assert_eq!(c.journal.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(c.runtime.cache_dir(&c.data), PathBuf::from("data/cache"));
        assert_eq!(c.ingest.limits().max_body_bytes, 2 << 20);
        assert_eq!(c.dispatch, DispatchOptions::default());
        assert!(
            c.notify.contains_key("admins"),
            "the default rules' channel exists"
        );
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        let c = Config::parse("[server]\nlisten = \"0.0.0.0:1\"\n", &o).unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.runtime.cache_dir(&c.data), PathBuf::from("/tmp/x/cache"));
    }

    #[test]
    fn the_example_config_parses_and_documents_the_defaults() {
        let text = include_str!("../../examples/trailmark.toml");
        let c = Config::parse(text, &Overrides::default()).unwrap();
        let defaults = Config::parse("", &Overrides::default()).unwrap();
        assert_eq!(c.listener, defaults.listener);
        assert_eq!(c.auth_body_budget, defaults.auth_body_budget);
        assert_eq!(c.refusal_interval, defaults.refusal_interval);
        assert_eq!(
            c.ingest.max_in_flight_per_principal,
            defaults.ingest.max_in_flight_per_principal
        );
        assert_eq!(c.ingest.max_body, defaults.ingest.max_body);
        assert_eq!(c.journal, defaults.journal);
        assert_eq!(c.dispatch, defaults.dispatch);
        assert_eq!(c.runtime, defaults.runtime);
        assert_eq!(c.viewer, defaults.viewer);
        assert_eq!(c.correlation, defaults.correlation);
    }

    #[test]
    fn a_correlation_time_path_that_cannot_hold_a_time_is_refused_by_key() {
        let c = Config::parse(
            "[correlation]\ntime-path = \"detail.meta.when\"\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.correlation.time_path, "detail.meta.when");
        let error = Config::parse("[correlation]\ntime-path = \"ts\"\n", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("correlation.time-path") && error.contains("cannot hold an event time"),
            "{error}"
        );
    }

    #[test]
    fn retention_is_per_store_and_errors_name_the_key() {
        use crate::store_retention::settings::{Keep, Store};
        let c = Config::parse("", &Overrides::default()).unwrap();
        assert!(
            !c.retention.applies_to(Store::Metadata) && !c.retention.applies_to(Store::Archive)
        );
        let c = Config::parse(
            "[retention]\nmetadata = \"400d\"\narchive = \"90d\"\n\
             [[retention.override]]\nsource = \"com.acme.payments\"\nmetadata = \"2557d\"\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.retention.archive,
            Some(Keep::For(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(c.retention.rules(Store::Metadata).len(), 2);
        for (text, key, reason) in [
            (
                "[retention]\nmetadata = \"13 months\"\n",
                "retention.metadata",
                "unknown unit",
            ),
            (
                "[retention]\nbodies = \"1d\"\n",
                "retention",
                "unknown field `bodies`",
            ),
            (
                "[[retention.override]]\nentity-type = \"t\"\n",
                "retention.override[0].metadata",
                "sets `metadata`, `archive` or both",
            ),
            (
                "[[retention.override]]\narchive = \"1d\"\n",
                "retention.override[0].source",
                "names a `source`, an `entity-type`",
            ),
        ] {
            let e = Config::parse(text, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("trailmark.toml: ") && e.contains(key) && e.contains(reason),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn the_viewer_is_on_unless_turned_off() {
        assert!(
            Config::parse("", &Overrides::default())
                .unwrap()
                .viewer
                .enabled
        );
        let off = Config::parse("[viewer]\nenabled = false\n", &Overrides::default()).unwrap();
        assert!(!off.viewer.enabled && !off.viewer.secure_cookies);
        let tls =
            Config::parse("[viewer]\nsecure-cookies = true\n", &Overrides::default()).unwrap();
        assert!(tls.viewer.enabled && tls.viewer.secure_cookies);
        assert!(Config::parse("[viewer]\nport = 1\n", &Overrides::default()).is_err());
    }

    #[test]
    fn listener_limits_have_safe_defaults_and_are_checked() {
        let c = Config::parse("", &Overrides::default()).unwrap();
        assert_eq!(c.listener, ListenerOptions::defaults());
        assert_eq!(c.auth_body_budget, 64 << 20);
        assert_eq!(c.refusal_interval, Duration::from_secs(60));
        assert_eq!(c.ingest.max_in_flight_per_principal, 16);
        let c = Config::parse(
            "[server]\nmax-connections = 100\nheader-timeout = \"2s\"\nbody-timeout = \"500ms\"\n\
             max-header-size = \"16KiB\"\nrefusal-interval = \"1s\"\n[ingest]\nmax-in-flight-per-principal = 2\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.listener.max_connections, 100);
        assert_eq!(c.listener.header_timeout, Duration::from_secs(2));
        assert_eq!(c.listener.body_timeout, Duration::from_millis(500));
        assert_eq!(c.listener.max_header_bytes, 16 << 10);
        assert_eq!(c.refusal_interval, Duration::from_secs(1));
        assert_eq!(c.ingest.max_in_flight_per_principal, 2);
        for (text, key) in [
            ("[server]\nmax-connections = 0\n", "server.max-connections"),
            (
                "[server]\nheader-timeout = \"0s\"\n",
                "server.header-timeout",
            ),
            (
                "[server]\nmax-header-size = \"1KiB\"\n",
                "server.max-header-size",
            ),
            (
                "[server]\nauth-body-budget = \"1KiB\"\n",
                "server.auth-body-budget",
            ),
        ] {
            let e = Config::parse(text, &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn dispatch_batch_defaults_to_32_and_is_checked() {
        let c = Config::parse("", &Overrides::default()).unwrap();
        assert_eq!(c.dispatch.batch, 32);
        let c = Config::parse("[dispatch]\nbatch = 1\n", &Overrides::default()).unwrap();
        assert_eq!(c.dispatch.batch, 1);
        for text in ["[dispatch]\nbatch = 0\n", "[dispatch]\nbatch = 1025\n"] {
            let e = Config::parse(text, &Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("dispatch.batch"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("[server]\nlisten = \"nope\"\n", &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
        let e = Config::parse("[server]\nlisen = \"x\"\n", &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let e =
            Config::parse("[journal]\nretention = \"30\"\n", &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("journal.retention"), "{e}");
        let e =
            Config::parse("[notify.ops]\ntype = \"pager\"\n", &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("notify.ops"), "{e}");
    }

    #[test]
    fn a_sections_type_picks_its_backend_and_errors_name_the_section() {
        let parse = |text: &str| Config::parse(text, &Overrides::default());
        let c = parse("").unwrap();
        assert_eq!(c.archive.type_name(), "fs");
        assert_eq!(c.metadata.type_name(), "sqlite");
        assert_eq!(c.notify["admins"].type_name(), "file");
        let c = parse("[archive]\ntype = \"s3\"\nbucket = \"b\"\n").unwrap();
        assert_eq!(c.archive.type_name(), "s3");
        assert_eq!(c.archive.local_path(&c.data), None);
        for (text, key, reason) in [
            (
                "[archive]\ntype = \"s3\"\n",
                "`archive`",
                "missing field `bucket`",
            ),
            (
                "[metadata]\ntype = \"dynamodb\"\ntable = \"t\"\ncolour = 1\n",
                "`metadata`",
                "unknown field `colour`",
            ),
            (
                "[archive]\npath = \"x\"\n",
                "`archive`",
                "missing field `type`",
            ),
            (
                "[forward.up]\ntype = \"kafka\"\n",
                "`forward.up`",
                "unknown type `kafka`, expected one of `http`, `file`",
            ),
            (
                "[notify.chat]\ntype = \"webhook\"\nurl = \"http://x\"\ntimeout = \"5\"\n",
                "`notify.chat`",
                "invalid duration \"5\"",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with("trailmark.toml: ") && e.contains(key) && e.contains(reason),
                "{text:?}: {e}"
            );
        }
    }

    /// The keys `[section]` takes, from the parser's own "expected one of"
    /// list for an unknown key.
    fn keys_of(section: &str) -> Vec<String> {
        let e = Config::parse(
            &format!("[{section}]\nno-such-key = 1\n"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        // "expected one of `a`, `b`, `c`", or "expected `a` or `b`".
        let list = e
            .rsplit("expected ")
            .next()
            .filter(|list| list.contains('`'))
            .unwrap_or_else(|| panic!("[{section}]: no key list in {e}"));
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The rows of the table under `## \`[section]\`` in the reference:
    /// (key, default cell).
    fn documented(reference: &str, section: &str) -> Vec<(String, String)> {
        let heading = format!("## `[{section}]`");
        let at = reference
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/configuration.md has no {heading}"));
        let body = &reference[at + heading.len()..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        body.lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((key.to_owned(), cells.get(2)?.to_string()))
            })
            .collect()
    }

    #[test]
    fn the_configuration_reference_lists_every_key_and_its_defaults_hold() {
        let reference = include_str!("../../docs/configuration.md");
        let defaults = Config::parse("", &Overrides::default()).unwrap();
        for section in [
            "server",
            "journal",
            "ingest",
            "dispatch",
            "runtime",
            "viewer",
            "retention",
        ] {
            let rows = documented(reference, section);
            let keys = keys_of(section);
            assert!(keys.len() >= 2, "[{section}]: {keys:?}");
            for key in keys {
                let listed = rows.iter().any(|(k, _)| *k == key)
                    || reference.contains(&format!("`[{section}.{key}]`"));
                assert!(
                    listed,
                    "docs/configuration.md does not list `{section}.{key}`"
                );
            }
            // Every default written as a TOML value is the parser's default.
            for (key, default) in &rows {
                let value = default.trim_matches('`');
                if value.contains('<') {
                    continue; // a placeholder, e.g. "<data>/cache"
                }
                let Ok(parsed) = Config::parse(
                    &format!("[{section}]\n{key} = {value}\n"),
                    &Overrides::default(),
                ) else {
                    continue; // prose, e.g. "open-file limit less 128"
                };
                let same = match section {
                    "journal" => parsed.journal == defaults.journal,
                    "dispatch" => parsed.dispatch == defaults.dispatch,
                    "runtime" => parsed.runtime == defaults.runtime,
                    "viewer" => parsed.viewer == defaults.viewer,
                    "retention" => parsed.retention == defaults.retention,
                    "ingest" => {
                        parsed.ingest.limits() == defaults.ingest.limits()
                            && parsed.ingest.sqs.is_none()
                    }
                    _ => {
                        parsed.listener == defaults.listener
                            && parsed.auth_body_budget == defaults.auth_body_budget
                            && parsed.refusal_interval == defaults.refusal_interval
                            && parsed.listen == defaults.listen
                            && parsed.data == defaults.data
                            && parsed.account == defaults.account
                            && parsed.region == defaults.region
                            && parsed.watch == defaults.watch
                    }
                };
                assert!(
                    same,
                    "`{section}.{key}` is documented as {default}, not its default"
                );
            }
        }
    }

    #[test]
    #[cfg(feature = "aws")]
    fn the_aws_types_a_lean_build_refuses_are_the_ones_the_aws_crate_registers() {
        let mut lean = Registry::default();
        without_aws(&mut lean);
        let mut aws = Registry::default();
        trailmark_backends_aws::register(&mut aws).unwrap();
        let table =
            |name: &str| toml::Table::from_iter([("type".to_owned(), toml::Value::from(name))]);
        let refused = |e: String| assert!(e.contains("built without AWS support"), "{e}");
        for name in aws.archive.names() {
            refused(lean.archive.read(table(name)).unwrap_err());
        }
        for name in aws.metadata.names() {
            refused(lean.metadata.read(table(name)).unwrap_err());
        }
        for name in aws.notify.names() {
            refused(lean.notify.read(table(name)).unwrap_err());
        }
        for name in aws.forward.names() {
            refused(lean.forward.read(table(name)).unwrap_err());
        }
    }
}
