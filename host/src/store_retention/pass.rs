//! A retention pass over the metadata store and the archive: each rule of
//! each store in turn, a chunk (one short transaction) at a time, the holds
//! read again for every chunk. It runs on a blocking thread, never on the
//! async ones, and never holds a store's writer for more than one chunk.
//!
//! Crash safety: before a pass deletes anything it writes a marker file
//! (`data/retention-pass`, fsynced), removed once the pass's record is
//! journaled. A pass that finds the marker (the last one was cut short by a
//! crash before its record was journaled) journals a record even when it
//! removes nothing more, marked `"after-interrupted-pass": true`: its
//! cutoffs, no earlier than the lost pass's, explain what that pass removed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use trailmark_backend_api::when::format_ms;
use trailmark_backend_api::{ArchiveStore, BackendError, Expiring, Expiry, MetadataStore};

use super::holds::Holds;
use super::settings::{RetentionSettings, Rule, Store};

/// The marker of a pass under way, under the data directory.
pub const MARKER: &str = "retention-pass";

/// What one rule of one store removed in a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Removal {
    /// `metadata` or `archive`.
    pub store: &'static str,
    /// The rule: `default: 90d`, `override 1 (source com.acme.payments): 2557d`.
    pub rule: String,
    /// Records older than this (RFC 3339) are gone, held ones aside.
    pub cutoff: String,
    /// How many this pass removed.
    pub count: u64,
}

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Per rule that removed anything (every rule, after an interrupted pass).
    pub removals: Vec<Removal>,
    /// The previous pass was cut short before its record was journaled.
    pub after_interrupted: bool,
    /// Why the pass stopped early, if it did.
    pub error: Option<String>,
}

impl PassReport {
    /// Rows and bodies removed, all rules together.
    pub fn count(&self) -> u64 {
        self.removals.iter().map(|r| r.count).sum()
    }

    /// Whether the pass must be journaled.
    pub fn worth_recording(&self) -> bool {
        self.after_interrupted || self.count() > 0
    }
}

/// A store's rules, with the store's retention side.
struct Target {
    store: Store,
    rules: Vec<Rule>,
    expiring: Arc<dyn ExpiringStore>,
}

/// A store as the pass sees it: its retention side and its `sync`.
trait ExpiringStore: Send + Sync {
    fn expiring(&self) -> Option<&dyn Expiring>;
    fn sync(&self) -> Result<(), BackendError>;
}

impl ExpiringStore for Arc<dyn MetadataStore> {
    fn expiring(&self) -> Option<&dyn Expiring> {
        self.as_ref().expiring()
    }
    fn sync(&self) -> Result<(), BackendError> {
        self.as_ref().sync()
    }
}

impl ExpiringStore for Arc<dyn ArchiveStore> {
    fn expiring(&self) -> Option<&dyn Expiring> {
        self.as_ref().expiring()
    }
    fn sync(&self) -> Result<(), BackendError> {
        self.as_ref().sync()
    }
}

/// Retention of the metadata store and the archive.
pub struct StoreRetention {
    targets: Vec<Target>,
    holds: Arc<Holds>,
    chunk: usize,
    marker: PathBuf,
}

/// A store with retention configured that cannot apply it.
#[derive(Debug, thiserror::Error)]
#[error(
    "[retention] {store}: the [{store}] backend `{type_name}` cannot apply retention. {advice} \
     Remove `{store}` (and the overrides' `{store}` keys) from [retention], or use the \
     embedded backend"
)]
pub struct Unsupported {
    /// `metadata` or `archive`.
    pub store: &'static str,
    /// The section's `type`.
    pub type_name: String,
    /// What does it for that backend.
    pub advice: &'static str,
}

impl Unsupported {
    /// `store` (bound to a backend of `type_name`) cannot apply retention.
    pub fn new(store: Store, type_name: &str) -> Unsupported {
        Unsupported {
            store: store.name(),
            type_name: type_name.to_owned(),
            advice: advice(type_name),
        }
    }
}

impl StoreRetention {
    /// Retention per `settings` over the two stores (their section `type`s
    /// for the message when one cannot apply it); `None` when nothing is
    /// ever removed.
    pub fn new(
        settings: &RetentionSettings,
        holds: Arc<Holds>,
        data: &Path,
        metadata: (&Arc<dyn MetadataStore>, &str),
        archive: (&Arc<dyn ArchiveStore>, &str),
    ) -> Result<Option<StoreRetention>, Unsupported> {
        let mut targets = Vec::new();
        let candidates: [(Store, Arc<dyn ExpiringStore>, &str); 2] = [
            (Store::Metadata, Arc::new(metadata.0.clone()), metadata.1),
            (Store::Archive, Arc::new(archive.0.clone()), archive.1),
        ];
        for (store, expiring, type_name) in candidates {
            let rules = settings.rules(store);
            if rules.is_empty() {
                continue;
            }
            if expiring.expiring().is_none() {
                return Err(Unsupported::new(store, type_name));
            }
            targets.push(Target {
                store,
                rules,
                expiring,
            });
        }
        if targets.is_empty() {
            return Ok(None);
        }
        Ok(Some(StoreRetention {
            targets,
            holds,
            chunk: settings.chunk,
            marker: data.join(MARKER),
        }))
    }

    /// One pass at time `now_ms` (blocking). Errors stop the pass; what it
    /// removed before is in the report either way.
    pub fn pass(&self, now_ms: i64) -> PassReport {
        let mut report = PassReport {
            after_interrupted: self.marker.exists(),
            ..PassReport::default()
        };
        if let Err(e) = write_marker(&self.marker) {
            report.error = Some(format!("cannot write {}: {e}", self.marker.display()));
            return report;
        }
        for target in &self.targets {
            let Some(expiring) = target.expiring.expiring() else {
                continue;
            };
            for rule in &target.rules {
                let keep_ms = i64::try_from(rule.keep.as_millis()).unwrap_or(i64::MAX);
                let before_ms = now_ms.saturating_sub(keep_ms);
                let mut removal = Removal {
                    store: target.store.name(),
                    rule: rule.describe(),
                    cutoff: format_ms(before_ms),
                    count: 0,
                };
                let outcome = loop {
                    let chunk = self.holds.during(|holds| {
                        expiring.expire(&Expiry {
                            scope: &rule.scope,
                            except: &rule.except,
                            before_ms,
                            holds,
                            limit: self.chunk,
                        })
                    });
                    match chunk {
                        Ok(n) => {
                            removal.count += n;
                            if n < self.chunk as u64 {
                                break Ok(());
                            }
                        }
                        Err(e) => break Err(e),
                    }
                };
                if removal.count > 0 || report.after_interrupted {
                    report.removals.push(removal);
                }
                if let Err(e) = outcome {
                    report.error = Some(format!("[{}] {}: {e}", target.store.name(), rule.name));
                    break;
                }
            }
            // Durable before the record says so.
            if let Err(e) = target.expiring.sync() {
                report
                    .error
                    .get_or_insert(format!("[{}] sync: {e}", target.store.name()));
            }
            if report.error.is_some() {
                break;
            }
        }
        report
    }

    /// The pass's record is journaled (or there was nothing to record).
    pub fn recorded(&self) {
        if let Err(e) = std::fs::remove_file(&self.marker)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.marker.display(), error = %e, "cannot remove the retention marker");
        }
    }
}

/// What applies retention for a backend that cannot.
fn advice(type_name: &str) -> &'static str {
    match type_name {
        "dynamodb" => {
            "Use DynamoDB TTL on the table for this (an attribute holding the expiry time)."
        }
        "s3" => {
            "Use S3 lifecycle rules on the bucket (by prefix: keys begin with the source) for this."
        }
        "fs" => {
            "The `files` layout has no index to find expired bodies by: use layout = \"packs\"."
        }
        _ => "It has no way to remove expired records.",
    }
}

fn write_marker(path: &Path) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(
        b"a retention pass is under way; a pass that finds this file journals a record\n",
    )?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use trailmark_backend_api::{BackendResult, ChangeQuery, ChangeRecord};
    use trailmark_backends::SqliteMetadata;

    use super::*;
    use crate::store_retention::settings::Keep;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    struct NoExpiry;
    impl ArchiveStore for NoExpiry {
        fn put(&self, _: &str, _: &[u8], _: &str) -> BackendResult<()> {
            Ok(())
        }
        fn get(&self, _: &str) -> BackendResult<Option<Vec<u8>>> {
            Ok(None)
        }
    }

    fn record(id: &str, entity: (&str, &str), ts: i64) -> ChangeRecord {
        ChangeRecord {
            event_id: id.into(),
            source: "shop".into(),
            entity_type: entity.0.into(),
            entity_id: entity.1.into(),
            operation: "update".into(),
            ts,
            author: "a".into(),
            archive_key: None,
            attributes: "{}".into(),
            rules: Vec::new(),
        }
    }

    fn ids(store: &SqliteMetadata) -> Vec<String> {
        let page = store
            .query(&ChangeQuery {
                limit: 1000,
                ..ChangeQuery::default()
            })
            .unwrap();
        let mut ids: Vec<String> = page.records.into_iter().map(|r| r.event_id).collect();
        ids.sort();
        ids
    }

    struct Fixture {
        dir: tempfile::TempDir,
        sqlite: Arc<SqliteMetadata>,
        holds: Arc<Holds>,
        retention: StoreRetention,
    }

    fn fixture(settings: &RetentionSettings) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteMetadata::open(dir.path().join("m.sqlite")).unwrap());
        let metadata: Arc<dyn MetadataStore> = sqlite.clone();
        let archive: Arc<dyn ArchiveStore> = Arc::new(NoExpiry);
        let holds = Arc::new(Holds::open(dir.path()).unwrap());
        let retention = StoreRetention::new(
            settings,
            holds.clone(),
            dir.path(),
            (&metadata, "sqlite"),
            (&archive, "fs"),
        )
        .unwrap()
        .expect("metadata retention");
        Fixture {
            dir,
            sqlite,
            holds,
            retention,
        }
    }

    fn ten_days() -> RetentionSettings {
        RetentionSettings {
            metadata: Some(Keep::For(Duration::from_millis(10 * DAY as u64))),
            chunk: 2,
            ..RetentionSettings::default()
        }
    }

    #[test]
    fn a_pass_removes_what_is_older_than_the_retention_in_chunks_and_keeps_the_boundary() {
        let f = fixture(&ten_days());
        let cutoff = NOW - 10 * DAY;
        for (id, ts) in [("at", cutoff), ("after", cutoff + 1), ("a", cutoff - 1)] {
            f.sqlite.put(&record(id, ("order", id), ts)).unwrap();
        }
        for i in 0..5 {
            f.sqlite
                .put(&record(&format!("old{i}"), ("order", "o"), 1))
                .unwrap();
        }
        let report = f.retention.pass(NOW);
        assert_eq!(report.error, None);
        assert_eq!(report.count(), 6, "{report:?}");
        assert_eq!(report.removals[0].rule, "default: 10d");
        assert_eq!(report.removals[0].cutoff, format_ms(cutoff));
        assert!(!report.after_interrupted && report.worth_recording());
        assert_eq!(ids(&f.sqlite), ["after", "at"]);
        f.retention.recorded();
        assert!(!f.dir.path().join(MARKER).exists());
        assert_eq!(f.retention.pass(NOW).count(), 0, "nothing left");
    }

    #[test]
    fn held_entities_stay_past_expiry_and_go_once_the_hold_is_removed() {
        let f = fixture(&ten_days());
        f.sqlite.put(&record("inv", ("invoice", "i-1"), 1)).unwrap();
        f.sqlite.put(&record("u1", ("user", "u-1"), 1)).unwrap();
        f.sqlite.put(&record("u2", ("user", "u-2"), 1)).unwrap();
        let invoices = f.holds.add("invoice", None, None, "t").unwrap();
        let user = f.holds.add("user", Some("u-1"), None, "t").unwrap();
        assert_eq!(f.retention.pass(NOW).count(), 1);
        assert_eq!(ids(&f.sqlite), ["inv", "u1"]);
        f.holds.remove(invoices.id).unwrap();
        f.holds.remove(user.id).unwrap();
        assert_eq!(f.retention.pass(NOW).count(), 2);
        assert!(ids(&f.sqlite).is_empty());
    }

    #[test]
    fn a_pass_after_one_cut_short_records_itself_even_with_nothing_left() {
        let f = fixture(&ten_days());
        // The pass before removed rows and died before its record.
        std::fs::write(f.dir.path().join(MARKER), b"").unwrap();
        let report = f.retention.pass(NOW);
        assert!(report.after_interrupted && report.worth_recording());
        assert_eq!(report.count(), 0);
        assert_eq!(report.removals.len(), 1, "every rule, with its cutoff");
        f.retention.recorded();
        assert!(!f.retention.pass(NOW).worth_recording());
    }

    #[test]
    fn a_store_that_cannot_expire_is_refused_with_what_does_it_there() {
        let dir = tempfile::tempdir().unwrap();
        let metadata: Arc<dyn MetadataStore> =
            Arc::new(SqliteMetadata::open(dir.path().join("m.sqlite")).unwrap());
        let archive: Arc<dyn ArchiveStore> = Arc::new(NoExpiry);
        let holds = Arc::new(Holds::open(dir.path()).unwrap());
        let settings = RetentionSettings {
            archive: Some(Keep::For(Duration::from_secs(60))),
            ..RetentionSettings::default()
        };
        let e = StoreRetention::new(
            &settings,
            holds.clone(),
            dir.path(),
            (&metadata, "sqlite"),
            (&archive, "s3"),
        )
        .err()
        .expect("refused")
        .to_string();
        assert!(
            e.contains("[retention] archive") && e.contains("`s3`") && e.contains("lifecycle"),
            "{e}"
        );
        // The embedded archive's old `files` layout cannot either; packs can.
        let files: Arc<dyn ArchiveStore> =
            Arc::new(trailmark_backends::FsArchive::open(dir.path().join("files")).unwrap());
        let e = StoreRetention::new(
            &settings,
            holds.clone(),
            dir.path(),
            (&metadata, "sqlite"),
            (&files, "fs"),
        )
        .err()
        .expect("refused")
        .to_string();
        assert!(e.contains("layout = \"packs\""), "{e}");
        let packs: Arc<dyn ArchiveStore> = Arc::new(
            trailmark_backends::PackArchive::open_with(
                dir.path().join("packs"),
                trailmark_backends::Durability::Batched,
            )
            .unwrap(),
        );
        assert!(
            StoreRetention::new(
                &settings,
                holds.clone(),
                dir.path(),
                (&metadata, "sqlite"),
                (&packs, "fs")
            )
            .is_ok()
        );
        let none = RetentionSettings::default();
        assert!(
            StoreRetention::new(
                &none,
                holds,
                dir.path(),
                (&metadata, "sqlite"),
                (&archive, "s3")
            )
            .unwrap()
            .is_none()
        );
    }
}
