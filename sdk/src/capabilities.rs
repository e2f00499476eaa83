//! The host capabilities, as functions returning [`PluginError`].
//!
//! Each call is checked against the grants of the rule that triggered the
//! delivery. Errors carry the capability and resource in their message and
//! map to [`PluginError`] the way the host expects: transient failures retry,
//! denied and invalid requests reject (see [`HostError`]).
//!
//! Outside a WebAssembly component (in native `cargo test`), these functions
//! are stubs that panic when called.

use crate::{HostError, PluginError};

/// Convert a WIT `host-error` into a [`PluginError`] that names the call.
fn host_error(
    call: impl std::fmt::Display,
) -> impl FnOnce(crate::bindings::trailmark::plugin::types::HostError) -> PluginError {
    move |error| PluginError::from(HostError::from(error)).context(call)
}

/// Store and fetch entity bodies by key (grant: `archive: true`).
pub mod archive {
    use super::host_error;
    use crate::PluginError;
    use crate::bindings::trailmark::plugin::archive as wit;

    /// Store `body` under `key` with the given content type. A stored body
    /// is never replaced: a put of the same bytes again succeeds, one of
    /// different bytes is rejected. Build keys with
    /// [`render_key`](crate::render_key) so that event values cannot escape
    /// their path segment, and include `{id}` so each event has its own key.
    pub fn put(key: &str, body: &[u8], content_type: &str) -> Result<(), PluginError> {
        wit::put(key, body, content_type).map_err(host_error(format_args!("archive.put {key:?}")))
    }

    /// Fetch the body stored under `key`, or `None` if there is none.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        wit::get(key).map_err(host_error(format_args!("archive.get {key:?}")))
    }
}

/// Store queryable change records (grant: `metadata: true`).
pub mod metadata {
    use super::host_error;
    use crate::PluginError;
    use crate::bindings::trailmark::plugin::metadata as wit;

    /// One change to one entity, as the query API returns it.
    pub use wit::Change;

    /// Store a change record. Idempotent on `event_id`: storing the same
    /// event again succeeds and changes nothing.
    pub fn put(change: &Change) -> Result<(), PluginError> {
        wit::put(change).map_err(host_error(format_args!(
            "metadata.put event {:?}",
            change.event_id
        )))
    }
}

/// Publish notifications to named channels (grant: `notify: [channel, ..]`).
pub mod notify {
    use super::host_error;
    use crate::PluginError;
    use crate::bindings::trailmark::plugin::notify as wit;

    /// Publish `subject` and `message` to `channel`, with string attributes
    /// that channels may filter on (SNS message attributes, webhook fields).
    pub fn publish(
        channel: &str,
        subject: &str,
        message: &str,
        attributes: &[(String, String)],
    ) -> Result<(), PluginError> {
        wit::publish(channel, subject, message, attributes).map_err(host_error(format_args!(
            "notify.publish to channel {channel:?}"
        )))
    }
}

/// Send events on to named destinations (grant: `forward: [destination, ..]`).
pub mod forward {
    use super::host_error;
    use crate::bindings::trailmark::plugin::forward as wit;
    use crate::{Event, PluginError};

    /// Send `event` to `destination` (another Trailmark, an EventBridge bus).
    pub fn send(destination: &str, event: &Event) -> Result<(), PluginError> {
        wit::send(destination, &event.to_wit()).map_err(host_error(format_args!(
            "forward.send event {:?} to {destination:?}",
            event.id
        )))
    }
}

/// Write to the host's structured log, tagged with the rule and plugin
/// (always granted).
pub mod log {
    use crate::bindings::trailmark::plugin::log as wit;

    /// How important a log line is.
    pub use wit::Level;

    /// The level named `trace`, `debug`, `info`, `warn` or `error`, as a
    /// plugin's config spells it.
    impl std::str::FromStr for Level {
        type Err = String;

        fn from_str(name: &str) -> Result<Self, Self::Err> {
            match name {
                "trace" => Ok(Level::Trace),
                "debug" => Ok(Level::Debug),
                "info" => Ok(Level::Info),
                "warn" => Ok(Level::Warn),
                "error" => Ok(Level::Error),
                other => Err(format!(
                    "unknown log level {other:?}; expected trace, debug, info, warn or error"
                )),
            }
        }
    }

    /// Deserializes from the level's name, so a config struct can hold a [`Level`].
    impl<'de> serde::Deserialize<'de> for Level {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let name = String::deserialize(deserializer)?;
            name.parse().map_err(serde::de::Error::custom)
        }
    }

    /// Write `message` at `level`.
    pub fn write(level: Level, message: &str) {
        wit::write(level, message);
    }

    /// Write `message` at trace level.
    pub fn trace(message: &str) {
        write(Level::Trace, message);
    }

    /// Write `message` at debug level.
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }

    /// Write `message` at info level.
    pub fn info(message: &str) {
        write(Level::Info, message);
    }

    /// Write `message` at warn level.
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }

    /// Write `message` at error level.
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}
