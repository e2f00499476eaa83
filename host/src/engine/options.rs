//! The engine's sections of `trailmark.toml`, `[journal]` and `[runtime]`,
//! deserialized as they are written (kebab-case keys, every key optional)
//! and checked by their `check`. Their defaults are those of the journal
//! and the plugin runtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use trailmark_backend_api::units;
use trailmark_journal::JournalOptions;
use trailmark_runtime::Limits;

/// `[journal]`: how long the trail is kept and how it is written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct JournalSettings {
    /// Keep delivered events this long (default 30 days).
    #[serde(deserialize_with = "units::duration")]
    pub retention: Duration,
    /// A segment is closed at this size (default 64 MiB).
    #[serde(deserialize_with = "units::bytes")]
    pub segment_size: u64,
    /// How often the chain head is signed into `checkpoints.jsonl`
    /// (default 1 min).
    #[serde(deserialize_with = "units::duration")]
    pub checkpoint_interval: Duration,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            retention: Duration::from_secs(30 * 86_400),
            segment_size: JournalOptions::default().segment_bytes,
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

impl JournalSettings {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.retention.is_zero() {
            return Err(("retention", "must be longer than 0s".into()));
        }
        if self.checkpoint_interval.is_zero() {
            return Err(("checkpoint-interval", "must be longer than 0s".into()));
        }
        if !((64 << 10)..=(1 << 40)).contains(&self.segment_size) {
            return Err(("segment-size", "must be from 64KiB to 1TiB".into()));
        }
        Ok(())
    }

    /// The journal's options: these settings over its defaults.
    pub fn journal_options(&self) -> JournalOptions {
        JournalOptions {
            segment_bytes: self.segment_size,
            ..JournalOptions::default()
        }
    }
}

/// `[runtime]`: the plugin runtime's defaults for every binding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuntimeOptions {
    /// Deadline of one plugin call (default 1 s; a rule may set its own).
    #[serde(deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// Memory a plugin instance may grow to (default 64 MiB).
    #[serde(deserialize_with = "units::bytes")]
    pub memory: u64,
    /// Compiled-plugin cache (default `<data>/cache`).
    pub cache: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        let limits = Limits::default();
        RuntimeOptions {
            timeout: limits.timeout,
            memory: limits.memory_bytes,
            cache: None,
        }
    }
}

impl RuntimeOptions {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.timeout.is_zero() {
            return Err(("timeout", "must be longer than 0s".into()));
        }
        if !((1 << 20)..=(4u64 << 30)).contains(&self.memory) {
            return Err(("memory", "must be from 1MiB to 4GiB".into()));
        }
        Ok(())
    }

    /// The limits every binding gets unless its rule sets its own.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            memory_bytes: self.memory,
        }
    }

    /// The compiled-plugin cache directory for the data directory `data`.
    pub fn cache_dir(&self, data: &Path) -> PathBuf {
        self.cache.clone().unwrap_or_else(|| data.join("cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_journals_and_the_runtimes() {
        let journal = JournalSettings::default();
        assert_eq!(
            journal.journal_options().segment_bytes,
            JournalOptions::default().segment_bytes
        );
        assert_eq!(RuntimeOptions::default().limits(), Limits::default());
        assert_eq!(
            RuntimeOptions::default().cache_dir(Path::new("d")),
            PathBuf::from("d/cache")
        );
        assert_eq!(journal.check(), Ok(()));
        assert_eq!(RuntimeOptions::default().check(), Ok(()));
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let journal = JournalSettings {
            segment_size: 1024,
            ..JournalSettings::default()
        };
        assert_eq!(journal.check().map_err(|e| e.0), Err("segment-size"));
        let runtime = RuntimeOptions {
            memory: 1 << 40,
            ..RuntimeOptions::default()
        };
        assert_eq!(runtime.check().map_err(|e| e.0), Err("memory"));
    }
}
