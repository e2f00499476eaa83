//! Errors of loading plugins and of calling them.

use std::path::PathBuf;
use std::time::Duration;

use crate::contract::Incompatibility;

/// Why the runtime could not start, or could not load or bind a plugin.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The wasmtime engine could not be created with this configuration.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// The compiled-artifact cache directory cannot be used.
    #[error("cannot use the plugin cache directory {path}: {source}")]
    CacheDir {
        /// The configured cache directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The plugin is larger than [`MAX_PLUGIN_BYTES`](crate::MAX_PLUGIN_BYTES).
    #[error(
        "plugin {plugin} is {bytes} bytes; plugins may be at most {} bytes \
         (build with --release; strip debug info with `strip = true` in the profile)",
        crate::MAX_PLUGIN_BYTES
    )]
    TooLarge {
        /// The plugin's name.
        plugin: String,
        /// Its size.
        bytes: usize,
    },
    /// A plugin file could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component (garbage, or a core module).
    #[error("{what}")]
    NotAComponent {
        /// What the bytes are instead, and what to do about it.
        what: String,
    },
    /// The bytes start like a component but cannot be parsed.
    #[error("malformed WebAssembly component: {0}")]
    Malformed(String),
    /// The component was built for another world or another version of ours.
    #[error("plugin {plugin:?} cannot run on this host: {reason}")]
    Incompatible {
        /// The plugin name given to [`Runtime::load`](crate::Runtime::load).
        plugin: String,
        /// What does not match.
        #[source]
        reason: Incompatibility,
    },
    /// wasmtime refused to compile the component.
    #[error("plugin {plugin:?} does not compile: {message}")]
    Compile {
        /// The plugin name.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component's imports or exports do not fit what the host provides.
    #[error("plugin {plugin:?} does not link against the host: {message}")]
    Link {
        /// The plugin name.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// A binding asked for limits the runtime cannot give.
    #[error("rule {rule:?}: {message}")]
    InvalidLimits {
        /// The rule the binding is for.
        rule: String,
        /// What is wrong and what would be valid.
        message: String,
    },
}

/// Why one call of a plugin's `handle` did not succeed.
///
/// [`CallError::is_retryable`] tells the dispatcher whether to retry the
/// delivery with backoff or send it to the dead letters at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The plugin returned `plugin-error::retry`: a transient failure.
    #[error("plugin asked to retry: {0}")]
    Retry(String),
    /// The plugin returned `plugin-error::retry` (or `ok` for a delivery
    /// whose `http.send` failed transiently) after a destination it called
    /// answered with a `Retry-After`: retry no sooner than `wait`.
    #[error("plugin asked to retry: {message}")]
    RetryAfter {
        /// The plugin's or the host's reason.
        message: String,
        /// The destination's `Retry-After`, as it said it.
        wait: Duration,
    },
    /// The plugin returned `plugin-error::reject`: a permanent failure.
    #[error("plugin rejected the event: {0}")]
    Reject(String),
    /// The plugin ran past its deadline and was stopped.
    #[error("plugin ran for {elapsed:?}, past its {timeout:?} limit, and was stopped")]
    Timeout {
        /// The binding's time limit.
        timeout: Duration,
        /// How long the call ran before it was stopped.
        elapsed: Duration,
    },
    /// The plugin tried to grow its memory past the binding's cap and trapped.
    #[error("plugin exceeded its memory limit of {limit_bytes} bytes and was stopped")]
    OutOfMemory {
        /// The binding's memory limit.
        limit_bytes: u64,
    },
    /// The plugin trapped: a panic, `unreachable`, a stack overflow, an
    /// out-of-bounds access. The message includes the tail of its stderr,
    /// which holds a Rust panic message.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// A fresh instance could not be created (instance pool exhausted, start
    /// function failed).
    #[error("cannot instantiate plugin: {0}")]
    Instantiate(String),
    /// The plugin called something the sandbox forbids (a sleep or a timed
    /// wait) and was stopped at once.
    #[error("plugin was stopped: {0}")]
    Forbidden(String),
}

impl CallError {
    /// Whether the dispatcher should retry the delivery.
    ///
    /// `Retry`, `Timeout`, `Trap` and `Instantiate` are retried: they may be
    /// transient (a slow backend, a full instance pool, a bug that depends on
    /// state). `Reject` is permanent by the plugin's own word. `OutOfMemory`
    /// is also treated as permanent: the memory cap is fixed per binding and
    /// the plugin gets the same event again, so a retry would only repeat
    /// the same allocation and burn the retry budget; the dead letter keeps
    /// the event for a replay once the limit or the plugin is fixed.
    /// `Forbidden` is permanent for the same reason: the plugin will make
    /// the same forbidden call again.
    pub fn is_retryable(&self) -> bool {
        match self {
            CallError::Retry(_)
            | CallError::RetryAfter { .. }
            | CallError::Timeout { .. }
            | CallError::Trap(_)
            | CallError::Instantiate(_) => true,
            CallError::Reject(_) | CallError::OutOfMemory { .. } | CallError::Forbidden(_) => false,
        }
    }

    /// How long a destination asked to be left alone before the retry, if
    /// one did (`Retry-After`); the dispatcher waits at least this.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::RetryAfter { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(CallError::Retry("x".into()).is_retryable());
        let throttled = CallError::RetryAfter {
            message: "x".into(),
            wait: Duration::from_secs(3),
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(CallError::Retry("x".into()).retry_after(), None);
        assert!(CallError::Trap("x".into()).is_retryable());
        assert!(CallError::Instantiate("x".into()).is_retryable());
        assert!(
            CallError::Timeout {
                timeout: Duration::from_secs(1),
                elapsed: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(!CallError::Reject("x".into()).is_retryable());
        assert!(!CallError::OutOfMemory { limit_bytes: 1 }.is_retryable());
        assert!(!CallError::Forbidden("sleep".into()).is_retryable());
    }
}
