//! `[backup]` in `trailmark.toml`: backups taken by the server at an
//! interval, and how old the last good one is (`/metrics`, `/readyz`).
//!
//! ```toml
//! [backup]
//! every = "1h"                       # how often
//! to = "/var/backups/trailmark"      # or "s3://bucket/prefix"
//! keep = 48                          # backups kept (older ones removed)
//! include-secrets = false            # the signing key, tokens, access keys
//! ```

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};
use trailmark_backend_api::units;

use super::manifest::Manifest;
use super::take::{BackupOptions, BackupReport, Source, take};
use super::{BackupError, open_destination};
use trailmark_backend_api::when::now_ms;

/// `[backup]`: scheduled backups (off unless `every` and `to` are set).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupSettings {
    /// How often (e.g. `1h`); unset: no scheduled backups.
    #[serde(deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
    /// Where: a directory or `s3://BUCKET/PREFIX`.
    pub to: Option<String>,
    /// Backups kept (default 7; 0 keeps all).
    pub keep: usize,
    /// Include the checkpoint signing key, tokens and access keys (default
    /// off: keep the key elsewhere and give it to `restore`).
    pub include_secrets: bool,
    /// Where `POST /v1/admin/backup` (and so `trailmark backup --to`) may
    /// write: directory or `s3://` prefixes. Empty (the default): anywhere
    /// the server's user can write.
    pub api_destinations: Vec<String>,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            every: None,
            to: None,
            keep: 7,
            include_secrets: false,
            api_destinations: Vec::new(),
        }
    }
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    units::duration(deserializer).map(Some)
}

impl BackupSettings {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (&self.every, &self.to) {
            (Some(every), _) if every.is_zero() => Err(("every", "must be longer than 0s".into())),
            (Some(_), None) => Err((
                "to",
                "is needed with `every`: a directory or s3://BUCKET/PREFIX".into(),
            )),
            (None, Some(_)) => Err((
                "every",
                "is needed with `to`: how often to back up, e.g. \"1h\"".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the backup API may write to `to`: always without
    /// `api-destinations`, else when `to` is one of them or inside one (a
    /// `..` segment is never inside).
    pub fn allows(&self, to: &str) -> bool {
        if self.api_destinations.is_empty() {
            return true;
        }
        !to.split('/').any(|segment| segment == "..")
            && self.api_destinations.iter().any(|allowed| {
                let allowed = allowed.trim_end_matches('/');
                to == allowed
                    || to
                        .strip_prefix(allowed)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }

    /// The schedule, when one is configured.
    pub fn schedule(&self) -> Option<(Duration, String)> {
        Some((self.every?, self.to.clone()?))
    }
}

/// Backups taken by this server: one at a time, and the last good one.
#[derive(Debug)]
pub struct BackupStatus {
    /// When the last backup that completed was taken (ms), 0 if none known.
    last_good_ms: AtomicI64,
    /// The last failure's message, until a backup succeeds.
    last_error: Mutex<Option<String>>,
    /// The schedule's interval, when there is one.
    every: Option<Duration>,
    /// Held while a backup runs.
    running: tokio::sync::Mutex<()>,
}

impl BackupStatus {
    /// The status for a server with this schedule interval (if any).
    pub fn new(every: Option<Duration>) -> BackupStatus {
        BackupStatus {
            last_good_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            every,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Take a backup now (after any running one), noting how it went.
    pub async fn run(
        &self,
        source: Arc<Source>,
        to: String,
        options: BackupOptions,
    ) -> Result<BackupReport, BackupError> {
        let _one_at_a_time = self.running.lock().await;
        let result = tokio::task::spawn_blocking(move || {
            let destination = open_destination(&to)?;
            take(&source, destination.as_ref(), options)
        })
        .await
        .unwrap_or_else(|e| Err(BackupError::Refused(format!("the backup task failed: {e}"))));
        match &result {
            Ok(_) => {
                self.last_good_ms.store(now_ms(), Relaxed);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
            Err(e) => {
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            }
        }
        result
    }

    /// Seconds since the last good backup, if one is known.
    pub fn age_seconds(&self, now_ms: i64) -> Option<f64> {
        let last = self.last_good_ms.load(Relaxed);
        (last > 0).then(|| (now_ms - last).max(0) as f64 / 1000.0)
    }

    /// A warning for `/readyz` when scheduled backups are late: the last
    /// good one is older than twice the interval (or none was taken in
    /// that long since `started_ms`).
    pub fn warning(&self, now_ms: i64, started_ms: i64) -> Option<String> {
        let every = self.every?;
        let limit = 2.0 * every.as_secs_f64();
        let error = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let why = error
            .map(|e| format!("; the last attempt failed: {e}"))
            .unwrap_or_default();
        match self.age_seconds(now_ms) {
            Some(age) if age > limit => Some(format!(
                "the last good backup is {age:.0}s old, more than twice the interval ({}s){why}",
                every.as_secs()
            )),
            None if (now_ms - started_ms) as f64 / 1000.0 > limit => Some(format!(
                "no good backup since the server started, more than twice the interval ({}s) ago{why}",
                every.as_secs()
            )),
            _ => None,
        }
    }

    /// The `/metrics` lines.
    pub fn render(&self, now_ms: i64) -> String {
        let age = self.age_seconds(now_ms).unwrap_or(-1.0);
        let failing = i32::from(
            self.last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some(),
        );
        format!(
            "# HELP trailmark_backup_last_success_age_seconds Seconds since the last good backup (-1: none known).\n\
             # TYPE trailmark_backup_last_success_age_seconds gauge\n\
             trailmark_backup_last_success_age_seconds {age:.3}\n\
             # HELP trailmark_backup_failing 1 when the last backup attempt failed.\n\
             # TYPE trailmark_backup_failing gauge\n\
             trailmark_backup_failing {failing}\n"
        )
    }

    /// Learn the last good backup's time from the destination's newest
    /// manifest (so the age survives a restart). Blocking.
    pub fn learn_from(&self, to: &str) {
        let newest = open_destination(to).and_then(|d| {
            let Some(name) = d.list_manifests()?.pop() else {
                return Ok(None);
            };
            let bytes = d.get_manifest(&name)?;
            Ok(Some(Manifest::parse(&name, &bytes)?.0.created_ms))
        });
        match newest {
            Ok(Some(ms)) => {
                let _ = self.last_good_ms.compare_exchange(0, ms, Relaxed, Relaxed);
            }
            Ok(None) => {}
            Err(e) => warn!(destination = to, error = %e, "cannot read the newest backup's time"),
        }
    }
}

/// Take a backup every `every` into `to` until the task is aborted.
pub async fn run_schedule(
    source: Arc<Source>,
    status: Arc<BackupStatus>,
    every: Duration,
    to: String,
    options: BackupOptions,
) {
    {
        let status = status.clone();
        let to = to.clone();
        let _ = tokio::task::spawn_blocking(move || status.learn_from(&to)).await;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match status.run(source.clone(), to.clone(), options).await {
            Ok(report) => info!(name = %report.name, copied = report.copied,
                                bytes_copied = report.bytes_copied, "scheduled backup taken"),
            Err(e) => {
                warn!(destination = %to, error = %e, "scheduled backup failed; will try again at the next interval")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BackupSettings;

    #[test]
    fn api_destinations_allow_only_what_is_inside_them() {
        let open = BackupSettings::default();
        assert!(open.allows("/anywhere"));
        let fenced = BackupSettings {
            api_destinations: vec!["/var/backups/".into(), "s3://bucket/trail".into()],
            ..BackupSettings::default()
        };
        for inside in ["/var/backups", "/var/backups/a", "s3://bucket/trail/x"] {
            assert!(fenced.allows(inside), "{inside}");
        }
        for outside in [
            "/var/backupsX",
            "/var",
            "/etc/x",
            "/var/backups/../../etc",
            "s3://bucket/trailer",
            "s3://other/trail",
        ] {
            assert!(!fenced.allows(outside), "{outside}");
        }
    }
}
