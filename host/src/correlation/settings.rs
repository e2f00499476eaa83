//! `[correlation]` in trailmark.toml: where correlation rules read an
//! event's time, and how often their windows are saved.

use std::time::Duration;

use serde::Deserialize;

use super::fields::DEFAULT_TIME_PATH;

/// `[correlation]`: settings every correlation rule shares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CorrelationSettings {
    /// The dot path of an event's time (epoch milliseconds or RFC 3339):
    /// `detail.ts` by default, a `detail.` path where producers put event
    /// time elsewhere, or `time` for the time the host received the event.
    /// An event without a time there is placed at its envelope `time`.
    pub time_path: String,
    /// How often the windows are saved (`DATA/correlation.snapshot`, with
    /// the journal position they cover): a start restores them and replays
    /// only the journal after them. Also saved at shutdown.
    #[serde(deserialize_with = "trailmark_backend_api::units::duration")]
    pub snapshot_every: Duration,
}

impl Default for CorrelationSettings {
    fn default() -> Self {
        CorrelationSettings {
            time_path: DEFAULT_TIME_PATH.to_owned(),
            snapshot_every: Duration::from_secs(300),
        }
    }
}

impl CorrelationSettings {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        check_time_path(&self.time_path).map_err(|why| ("time-path", why))?;
        if self.snapshot_every < Duration::from_secs(1) {
            return Err((
                "snapshot-every",
                format!(
                    "{:?} is too short: at least 1s (a snapshot holds every open window)",
                    self.snapshot_every
                ),
            ));
        }
        Ok(())
    }
}

/// Whether `path` can hold an event's time: `time`, or a `detail.` path
/// with no empty segment.
pub fn check_time_path(path: &str) -> Result<(), String> {
    if path == "time" {
        return Ok(());
    }
    match path.strip_prefix("detail.") {
        Some(rest) if rest.split('.').all(|key| !key.is_empty()) => Ok(()),
        _ => Err(format!(
            "`{path}` cannot hold an event time: use `time` or a path in the detail, \
             such as `detail.ts` or `detail.meta.when`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_paths_are_time_or_in_the_detail() {
        for good in ["time", "detail.ts", "detail.meta.when"] {
            assert_eq!(check_time_path(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "ts",
            "source",
            "detail",
            "detail.",
            "detail..ts",
            "detail.a.",
        ] {
            let why = check_time_path(bad).expect_err(bad);
            assert!(why.contains("cannot hold an event time"), "{bad}: {why}");
        }
        assert_eq!(CorrelationSettings::default().time_path, "detail.ts");
    }

    #[test]
    fn snapshots_are_saved_every_five_minutes_by_default_and_not_more_than_once_a_second() {
        let read = |toml: &str| toml::from_str::<CorrelationSettings>(toml);
        let default = read("").expect("empty is the default");
        assert_eq!(default.snapshot_every, Duration::from_secs(300));
        assert_eq!(default.check(), Ok(()));
        let often = read("snapshot-every = \"5s\"").expect("reads");
        assert_eq!(often.snapshot_every, Duration::from_secs(5));
        let (key, why) = read("snapshot-every = \"100ms\"")
            .expect("reads")
            .check()
            .expect_err("too short");
        assert_eq!(key, "snapshot-every");
        assert!(why.contains("at least 1s"), "{why}");
        assert!(read("snapshot-every = \"soon\"").is_err());
    }
}
