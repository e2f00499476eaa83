//! The native twins of the standard plugins: the plugins' own code (their
//! crates are rlibs as well as components), compiled natively and run by
//! the SDK's in-memory host (`trailmark_sdk::testing::Host`), its recorded
//! capability calls then applied to the same stores as the wasm side's.

use std::sync::Arc;

use trailmark_backends::{ArchiveStore, ChangeRecord, MetadataStore, Notification, Notifier};
use trailmark_event::ParsedEvent;
use trailmark_plugin_alert::AlertPlugin;
use trailmark_plugin_archive::Archive;
use trailmark_plugin_log::Log;
use trailmark_plugin_metadata::Metadata;
use trailmark_runtime::LOG_TARGET;
use trailmark_sdk::log::Level;
use trailmark_sdk::testing::{Answer, Batch, Call, Host};
use trailmark_sdk::{Plugin, PluginError};

use crate::Standard;
use crate::stores::{MemArchive, MemMetadata, MemNotifier, Stores};

/// A plugin instance, as `init` made it from the rule's config.
enum Instance {
    Archive(Result<Archive, PluginError>),
    Metadata(Result<Metadata, PluginError>),
    Alert(Result<AlertPlugin, PluginError>),
    Log(Result<Log, PluginError>),
}

/// A native twin with its instance and the stores its calls land in.
pub(crate) struct Native {
    instance: Instance,
    archive: Arc<MemArchive>,
    metadata: Arc<MemMetadata>,
    admins: Arc<MemNotifier>,
}

impl Native {
    /// The twin of `plugin`, initialized with `config` (the binding's JSON
    /// text, as the guest's `init` receives it), calling into `stores`.
    pub(crate) fn new(
        plugin: Standard,
        stores: &Stores,
        config: &str,
    ) -> Result<Native, PluginError> {
        let mut host = Host::new();
        let instance = match plugin {
            Standard::Archive => Instance::Archive(host.init(config)),
            Standard::Metadata => Instance::Metadata(host.init(config)),
            Standard::Alert => Instance::Alert(host.init(config)),
            Standard::Log => Instance::Log(host.init(config)),
        };
        let failed = match &instance {
            Instance::Archive(i) => i.as_ref().err(),
            Instance::Metadata(i) => i.as_ref().err(),
            Instance::Alert(i) => i.as_ref().err(),
            Instance::Log(i) => i.as_ref().err(),
        };
        if let Some(error) = failed {
            return Err(error.clone());
        }
        Ok(Native {
            instance,
            archive: Arc::clone(&stores.archive),
            metadata: Arc::clone(&stores.metadata),
            admins: Arc::clone(&stores.admins),
        })
    }

    /// One event with a new instance: `init` (the config parsed) then the
    /// event, as a guest instance made for one delivery would.
    pub(crate) fn call_parsing(
        plugin: Standard,
        stores: &Stores,
        config: &str,
        event: &trailmark_backends::Event,
    ) -> Result<(), PluginError> {
        Native::new(plugin, stores, config)?.call(event)
    }

    /// One event on this instance: parsed once and packed into a batch of
    /// one, as the host does, handled, and its calls applied to the stores.
    pub(crate) fn call(&self, event: &trailmark_backends::Event) -> Result<(), PluginError> {
        let parsed = ParsedEvent::new(event.clone());
        let mut batch = Batch::default();
        batch.push_parsed(&parsed);
        let mut host = Host::new();
        let answers = match &self.instance {
            Instance::Archive(instance) => run(&mut host, instance, &batch),
            Instance::Metadata(instance) => run(&mut host, instance, &batch),
            Instance::Alert(instance) => run(&mut host, instance, &batch),
            Instance::Log(instance) => run(&mut host, instance, &batch),
        };
        for call in host.take_calls() {
            self.apply(&parsed, call)?;
        }
        match answers.into_iter().next() {
            Some(Answer::Ok) => Ok(()),
            Some(Answer::Retry(message)) => Err(PluginError::retry(message)),
            Some(Answer::Reject(message)) => Err(PluginError::reject(message)),
            other => Err(PluginError::reject(format!("no answer: {other:?}"))),
        }
    }

    /// Do what the host does for one recorded capability call.
    fn apply(&self, parsed: &ParsedEvent, call: Call) -> Result<(), PluginError> {
        let backend = |error| PluginError::reject(format!("{error}"));
        match call {
            Call::ArchivePut {
                key,
                body,
                content_type,
                ..
            } => self
                .archive
                .put(&key, &body, &content_type)
                .map_err(backend),
            Call::MetadataPut {
                archive_key,
                attributes,
                ..
            } => {
                let event = parsed.event();
                let Some(Ok(change)) = parsed.change() else {
                    return Err(PluginError::reject("metadata.put of no state change"));
                };
                let record = ChangeRecord::of_change(event, change, archive_key, attributes);
                self.metadata.put(&record).map(|_| ()).map_err(backend)
            }
            Call::Notify {
                channel,
                subject,
                message,
                attributes,
                ..
            } => self
                .admins
                .publish(&Notification {
                    channel,
                    subject,
                    message,
                    attributes,
                })
                .map_err(backend),
            Call::Log { level, message } => {
                log(level, &message);
                Ok(())
            }
            other => Err(PluginError::reject(format!(
                "a standard plugin made an unexpected call: {other:?}"
            ))),
        }
    }
}

/// `batch` through `instance` on `host`.
fn run<P: Plugin>(
    host: &mut Host,
    instance: &Result<P, PluginError>,
    batch: &Batch,
) -> Vec<Answer> {
    host.handle(instance, batch)
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
