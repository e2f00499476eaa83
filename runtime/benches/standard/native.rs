//! The native twins of the standard plugins: each plugin's `handle`, built
//! on the same SDK code, with the capability called directly instead of
//! through the host.

use std::sync::Arc;

use serde::Deserialize;
use trailmark_backends::{
    ArchiveStore, BackendError, ChangeRecord, MetadataStore, Notification, Notifier,
};
use trailmark_runtime::LOG_TARGET;
use trailmark_sdk::log::Level;
use trailmark_sdk::{
    Config, ConfigError, DEFAULT_ARCHIVE_KEY, Event, HostError, PluginError, Template,
};

use crate::Standard;
use crate::stores::{MemArchive, MemMetadata, MemNotifier, Stores};

/// `plugins/archive`'s config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub(crate) struct ArchiveConfig {
    key: Template,
    pretty: bool,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            key: Template::parse(DEFAULT_ARCHIVE_KEY).expect("valid template"),
            pretty: false,
        }
    }
}

/// `plugins/metadata`'s config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub(crate) struct MetadataConfig {
    archive_key: Option<Template>,
    attributes: Vec<String>,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            archive_key: Some(Template::parse(DEFAULT_ARCHIVE_KEY).expect("valid template")),
            attributes: Vec::new(),
        }
    }
}

/// `plugins/alert`'s config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertConfig {
    channel: String,
    subject: Template,
    message: Template,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            channel: "admins".to_owned(),
            subject: Template::parse("{entity-type} {entity-id} {operation}d by {author}")
                .expect("valid template"),
            message: Template::parse(
                "{entity-type} {entity-id} was {operation}d by {author}.\n\n\
                 Time:   {time}\nSource: {source}\nEvent:  {id}",
            )
            .expect("valid template"),
        }
    }
}

/// `plugins/log`'s config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    level: Level,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: Level::Info }
    }
}

/// A native twin with its parsed config and its store.
pub(crate) enum Native {
    Archive(ArchiveConfig, Arc<MemArchive>),
    Metadata(MetadataConfig, Arc<MemMetadata>),
    Alert(AlertConfig, Arc<MemNotifier>),
    Log(LogConfig),
}

/// The event as the plugin's own value (the guest lifts the same copy).
pub(crate) fn to_sdk_event(event: &trailmark_backends::Event) -> Event {
    Event {
        id: event.id.clone(),
        source: event.source.clone(),
        detail_type: event.detail_type.clone(),
        time: event.time.clone(),
        account: event.account.clone(),
        region: event.region.clone(),
        resources: event.resources.clone(),
        detail: event.detail.clone(),
    }
}

/// A backend error as the guest sees it, with the call as context.
fn backend_error(call: impl std::fmt::Display) -> impl FnOnce(BackendError) -> PluginError {
    move |error| {
        let host = match error {
            BackendError::Denied(m) => HostError::Denied(m),
            BackendError::Transient(m) => HostError::Transient(m),
            BackendError::Invalid(m) => HostError::Invalid(m),
        };
        PluginError::from(host).context(call)
    }
}

impl Native {
    /// The twin of `plugin`, its config parsed from `config` (the binding's
    /// JSON text, as the guest receives it), calling into `stores`.
    pub(crate) fn new(
        plugin: Standard,
        stores: &Stores,
        config: &str,
    ) -> Result<Native, ConfigError> {
        let config = Config::new(config);
        Ok(match plugin {
            Standard::Archive => Native::Archive(config.parse()?, Arc::clone(&stores.archive)),
            Standard::Metadata => Native::Metadata(config.parse()?, Arc::clone(&stores.metadata)),
            Standard::Alert => Native::Alert(config.parse()?, Arc::clone(&stores.admins)),
            Standard::Log => Native::Log(config.parse()?),
        })
    }

    /// One event, the way the SDK runs a plugin in the guest: the config
    /// parsed from its JSON text, the event as the plugin's own value, then
    /// `handle`.
    pub(crate) fn call_parsing(
        plugin: Standard,
        stores: &Stores,
        config: &str,
        event: &trailmark_backends::Event,
    ) -> Result<(), PluginError> {
        Native::new(plugin, stores, config)?.call(event)
    }

    /// One event with the config already parsed.
    pub(crate) fn call(&self, event: &trailmark_backends::Event) -> Result<(), PluginError> {
        let event = to_sdk_event(event);
        match self {
            Native::Archive(config, store) => archive(&event, config, store.as_ref()),
            Native::Metadata(config, store) => metadata(&event, config, store.as_ref()),
            Native::Alert(config, store) => alert(&event, config, store.as_ref()),
            Native::Log(config) => {
                log(config.level, &log_line(&event));
                Ok(())
            }
        }
    }
}

fn archive(
    event: &Event,
    config: &ArchiveConfig,
    store: &dyn ArchiveStore,
) -> Result<(), PluginError> {
    let change = event.state_change()?;
    let key = config.key.render_key(event)?;
    let body = match change.data {
        Some(data) => data,
        None => event.detail_json()?,
    };
    let bytes = if config.pretty {
        serde_json::to_vec_pretty(&body)
    } else {
        serde_json::to_vec(&body)
    };
    let bytes = bytes.map_err(|error| {
        PluginError::reject(format!("event {}: cannot encode body: {error}", event.id))
    })?;
    store
        .put(&key, &bytes, "application/json")
        .map_err(backend_error(format_args!("archive.put {key:?}")))
}

fn metadata(
    event: &Event,
    config: &MetadataConfig,
    store: &dyn MetadataStore,
) -> Result<(), PluginError> {
    let state = event.state_change()?;
    let archive_key = config
        .archive_key
        .as_ref()
        .map(|template| template.render_key(event))
        .transpose()?;
    let mut attributes = serde_json::Map::new();
    if !config.attributes.is_empty() {
        let detail = event.detail_json()?;
        for path in &config.attributes {
            if let Some(value) = trailmark_sdk::json::get(&detail, path) {
                attributes.insert(path.clone(), value.clone());
            }
        }
    }
    let record = ChangeRecord {
        event_id: event.id.clone(),
        source: event.source.clone(),
        entity_type: state.entity_type,
        entity_id: state.entity_id,
        operation: state.operation.as_str().to_owned(),
        ts: state.ts,
        author: state.author,
        archive_key,
        attributes: serde_json::Value::Object(attributes).to_string(),
    };
    store
        .put(&record)
        .map(|_outcome| ())
        .map_err(backend_error(format_args!(
            "metadata.put event {:?}",
            record.event_id
        )))
}

fn alert(event: &Event, config: &AlertConfig, notifier: &dyn Notifier) -> Result<(), PluginError> {
    let change = event.state_change()?;
    let notification = Notification {
        channel: config.channel.clone(),
        subject: config.subject.render(event)?,
        message: config.message.render(event)?,
        attributes: vec![
            ("operation".to_owned(), change.operation.as_str().to_owned()),
            ("entity-type".to_owned(), change.entity_type),
            ("source".to_owned(), event.source.clone()),
            ("author".to_owned(), change.author),
        ],
    };
    notifier
        .publish(&notification)
        .map_err(backend_error(format_args!(
            "notify.publish {:?}",
            config.channel
        )))
}

/// `plugins/log`'s line.
fn log_line(event: &Event) -> String {
    let mut line = String::new();
    log_field(&mut line, "id", &event.id);
    log_field(&mut line, "source", &event.source);
    log_field(&mut line, "detail-type", &event.detail_type);
    match event.state_change() {
        Ok(change) => {
            log_field(
                &mut line,
                "entity",
                &format!("{}/{}", change.entity_type, change.entity_id),
            );
            log_field(&mut line, "operation", change.operation.as_str());
            log_field(&mut line, "author", &change.author);
        }
        Err(error) if event.detail_type == "Object State Change" => {
            log_field(&mut line, "invalid", error.message())
        }
        Err(_) => {}
    }
    line
}

fn log_field(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '='));
    line.push_str(key);
    line.push('=');
    if plain {
        line.push_str(value);
    } else {
        line.push_str(&format!("{value:?}"));
    }
}

/// The host's log line for a plugin's `log.write` (as `runtime/src/output.rs`).
fn log(level: Level, text: &str) {
    let (rule, plugin, source, truncated) = ("log", "log", "log", false);
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(target: LOG_TARGET, $level, rule = %rule, plugin = %plugin, source, truncated, "{}{}", text, "")
        };
    }
    match level {
        Level::Error => event!(tracing::Level::ERROR),
        Level::Warn => event!(tracing::Level::WARN),
        Level::Info => event!(tracing::Level::INFO),
        Level::Debug => event!(tracing::Level::DEBUG),
        Level::Trace => event!(tracing::Level::TRACE),
    }
}
