//! The second half of `trailmark verify`: the stores the query API reads,
//! checked against the journal.
//!
//! - Every change record in the metadata store must name a journaled event,
//!   with the same source, entity type, entity id, operation, ts and author
//!   as that event's detail (read as the standard plugins read it).
//! - Every archived body's key must contain the id of a journaled event of
//!   the key's source (its first segment, percent-decoded), as the default
//!   key `{source}/…/{ts}-{operation}-{id}.json` does. Bodies stored under
//!   keys without an event id (Trailmark 0.1 wrote `{ts}-{operation}.json`)
//!   are accepted when a matching change record names them.
//!
//! When retention has removed old journal segments, a record or body whose
//! event is not found may be one of the removed events: it is counted as
//! unverifiable, not reported as tampering.
//!
//! Rows and bodies the stores' own retention (`[retention]`) removed are
//! not looked for (the check goes from the stores to the journal, never
//! back); the `trailmark.retention` records in the journal say how many
//! went, and are reported as removed by retention.
//!
//! The journal's events are held in memory while the stores are read (one
//! entry per event: its id, source and entity fields).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use trailmark_backends::{ChangeRecord, PACKS_DIR, PackArchive, SqliteMetadata};
use trailmark_event::StateChange;
use trailmark_journal::StoredRecord;
use trailmark_sdk::{decode_key_value, encode_key_value};

use crate::engine::records::{EventRecord, kind};

/// Prefix of the local archive's in-flight temp files (not bodies).
const ARCHIVE_TEMP_PREFIX: &str = ".trailmark-tmp-";

/// What the journal says about one event id.
#[derive(Debug, Default)]
pub struct JournalIndex {
    events: HashMap<String, Vec<Journaled>>,
    /// Retention removed the segments before the first one: events may be
    /// missing for a good reason.
    truncated: bool,
    /// What store retention journaled it removed, per store (`metadata`,
    /// `archive`): rows, and the latest cutoff.
    removed: HashMap<String, (u64, String)>,
}

/// One journaled event, as much of it as the checks need.
#[derive(Debug)]
struct Journaled {
    source: String,
    /// The `Object State Change` fields, or why the detail is not one.
    change: Result<Facts, String>,
}

/// The fields a change record repeats from its event.
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    entity_type: String,
    entity_id: String,
    operation: String,
    ts: i64,
    author: String,
}

impl JournalIndex {
    /// Note that the journal's first retained record is `first_seq`: when
    /// it is past 1, retention removed older events.
    pub fn starts_at(&mut self, first_seq: u64) {
        self.truncated = first_seq > 1;
    }

    /// Note the event in `record`, if it holds one.
    pub fn add(&mut self, record: &StoredRecord) {
        if record.kind != kind::EVENT {
            return;
        }
        let Ok(journaled) = serde_json::from_slice::<EventRecord>(&record.payload) else {
            return;
        };
        let event = journaled.event;
        if event.source == crate::ingest::HOST_SOURCE {
            self.note_store_retention(&event.detail);
        }
        let change = StateChange::parse(&event.detail)
            .map_err(|e| e.to_string())
            .map(|c| Facts {
                entity_type: c.entity_type,
                entity_id: c.entity_id,
                operation: c.operation.as_str().to_owned(),
                ts: c.ts,
                author: c.author,
            });
        self.events.entry(event.id).or_default().push(Journaled {
            source: event.source,
            change,
        });
    }

    /// Count what a `trailmark.retention` record (the host's: producers
    /// cannot send its source) says was removed.
    fn note_store_retention(&mut self, detail: &str) {
        let Ok(detail) = serde_json::from_str::<serde_json::Value>(detail) else {
            return;
        };
        if detail["entity-type"] != crate::store_retention::ENTITY_TYPE {
            return;
        }
        for removal in detail["data"]["removed"].as_array().into_iter().flatten() {
            let (Some(store), Some(cutoff)) =
                (removal["store"].as_str(), removal["cutoff"].as_str())
            else {
                continue;
            };
            let entry = self.removed.entry(store.to_owned()).or_default();
            entry.0 += removal["count"].as_u64().unwrap_or(0);
            if cutoff > entry.1.as_str() {
                entry.1 = cutoff.to_owned();
            }
        }
    }

    fn get(&self, id: &str) -> &[Journaled] {
        self.events.get(id).map_or(&[], Vec::as_slice)
    }
}

/// One thing in a store the journal does not account for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreProblem {
    /// `metadata` or `archive`.
    pub store: &'static str,
    /// The event id of a change record, or the key of a body.
    pub item: String,
    /// What is wrong.
    pub detail: String,
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.store {
            "metadata" => write!(f, "change record of event {:?}: {}", self.item, self.detail),
            _ => write!(f, "archived body {:?}: {}", self.item, self.detail),
        }
    }
}

/// How one store fared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Where it is (a file or directory), or why it was not checked.
    pub location: String,
    /// Whether it was checked at all.
    pub checked: bool,
    /// Items read.
    pub items: u64,
    /// Items that match a journaled event.
    pub verified: u64,
    /// Bodies under keys without an event id, verified through the change
    /// record that names them.
    pub via_record: u64,
    /// Items whose event may have been removed by retention.
    pub unverifiable: u64,
    /// Items store retention removed, as its journaled records say.
    pub removed_by_retention: u64,
    /// The latest cutoff of those records (RFC 3339).
    pub retention_cutoff: Option<String>,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoresReport {
    /// The metadata store.
    pub metadata: StoreCounts,
    /// The archive.
    pub archive: StoreCounts,
    /// Everything not accounted for; empty when the stores match the journal.
    pub problems: Vec<StoreProblem>,
}

/// Where the stores are: local ones are checked, others are not (yet).
#[derive(Debug, Clone)]
pub enum Location {
    /// A local store at this path.
    Local(PathBuf),
    /// A store this check cannot read, and why.
    NotChecked(String),
}

/// Check the metadata store and the archive against `journal`.
pub fn check(
    journal: &JournalIndex,
    metadata: &Location,
    archive: &Location,
) -> anyhow::Result<StoresReport> {
    let mut report = StoresReport::default();
    for (store, counts) in [
        ("metadata", &mut report.metadata),
        ("archive", &mut report.archive),
    ] {
        if let Some((count, cutoff)) = journal.removed.get(store) {
            counts.removed_by_retention = *count;
            counts.retention_cutoff = Some(cutoff.clone());
        }
    }
    let mut named_bodies = HashMap::new();
    match metadata {
        Location::NotChecked(why) => report.metadata.location = why.clone(),
        Location::Local(path) => {
            report.metadata.location = path.display().to_string();
            if !path.is_file() {
                report.metadata.location.push_str(" (none there)");
            } else {
                report.metadata.checked = true;
                SqliteMetadata::read_all(path, |record| {
                    check_record(journal, record, &mut report, &mut named_bodies);
                })
                .map_err(|e| anyhow::anyhow!("reading the metadata store: {e}"))?;
            }
        }
    }
    match archive {
        Location::NotChecked(why) => report.archive.location = why.clone(),
        Location::Local(root) => {
            report.archive.location = root.display().to_string();
            if !root.is_dir() {
                report.archive.location.push_str(" (none there)");
            } else {
                report.archive.checked = true;
                let mut keys = Vec::new();
                list_keys(root, root, &mut keys, &mut report.problems)?;
                for key in keys {
                    check_body(journal, &key, &named_bodies, &mut report);
                }
                let mut damaged = Vec::new();
                PackArchive::scan(root, |key, intact| {
                    if let Err(why) = intact {
                        damaged.push(StoreProblem {
                            store: "archive",
                            item: key.to_owned(),
                            detail: why,
                        });
                    }
                    check_body(journal, key, &named_bodies, &mut report);
                })
                .map_err(|e| anyhow::anyhow!("reading the archive's pack index: {e}"))?;
                report.problems.extend(damaged);
            }
        }
    }
    Ok(report)
}

/// Check one change record; remember the body key of a record that matches.
fn check_record(
    journal: &JournalIndex,
    record: ChangeRecord,
    report: &mut StoresReport,
    named_bodies: &mut HashMap<String, (String, String)>,
) {
    let counts = &mut report.metadata;
    counts.items += 1;
    let events = journal.get(&record.event_id);
    if events.is_empty() {
        if journal.truncated {
            counts.unverifiable += 1;
        } else {
            report.problems.push(StoreProblem {
                store: "metadata",
                item: record.event_id,
                detail: "no such event in the journal".into(),
            });
        }
        return;
    }
    let facts = Facts {
        entity_type: record.entity_type.clone(),
        entity_id: record.entity_id.clone(),
        operation: record.operation.clone(),
        ts: record.ts,
        author: record.author.clone(),
    };
    let matching = events
        .iter()
        .any(|e| e.source == record.source && e.change.as_ref() == Ok(&facts));
    if matching {
        counts.verified += 1;
        if let Some(key) = record.archive_key {
            named_bodies.insert(key, (record.event_id, record.source));
        }
        return;
    }
    let detail = differences(&events[0], &record.source, &facts);
    report.problems.push(StoreProblem {
        store: "metadata",
        item: record.event_id,
        detail,
    });
}

/// How a record differs from the journaled event, field by field.
fn differences(event: &Journaled, source: &str, record: &Facts) -> String {
    let mut fields = Vec::new();
    if event.source != source {
        fields.push(format!(
            "source is {source:?}, the event's {:?}",
            event.source
        ));
    }
    match &event.change {
        Err(why) => fields.push(format!(
            "the journaled event is not an Object State Change ({why})"
        )),
        Ok(facts) => {
            let pairs = [
                ("entity type", &record.entity_type, &facts.entity_type),
                ("entity id", &record.entity_id, &facts.entity_id),
                ("operation", &record.operation, &facts.operation),
                ("author", &record.author, &facts.author),
            ];
            for (name, stored, journaled) in pairs {
                if stored != journaled {
                    fields.push(format!("{name} is {stored:?}, the event's {journaled:?}"));
                }
            }
            if record.ts != facts.ts {
                fields.push(format!("ts is {}, the event's {}", record.ts, facts.ts));
            }
        }
    }
    format!("differs from the journaled event: {}", fields.join("; "))
}

/// Check one body key.
fn check_body(
    journal: &JournalIndex,
    key: &str,
    named_bodies: &HashMap<String, (String, String)>,
    report: &mut StoresReport,
) {
    let counts = &mut report.archive;
    counts.items += 1;
    let first = key.split('/').next().unwrap_or_default();
    let Some(source) = decode_key_value(first) else {
        report.problems.push(StoreProblem {
            store: "archive",
            item: key.to_owned(),
            detail: "its first segment is not a percent-encoded source".into(),
        });
        return;
    };
    let of_source = |id: &str| journal.get(id).iter().any(|e| e.source == source);
    let in_key = candidate_ids(key).into_iter().any(|id| of_source(&id));
    let named = named_bodies.get(key);
    let named_in_key = named.is_some_and(|(id, record_source)| {
        *record_source == source && of_source(id) && key.contains(&*encode_key_value(id))
    });
    if in_key || named_in_key {
        counts.verified += 1;
    } else if named.is_some_and(|(id, record_source)| *record_source == source && of_source(id)) {
        counts.via_record += 1;
    } else if journal.truncated {
        counts.unverifiable += 1;
    } else {
        report.problems.push(StoreProblem {
            store: "archive",
            item: key.to_owned(),
            detail: format!(
                "no journaled event of source {source:?} has its id in the key, and no change \
                 record that matches the journal names it"
            ),
        });
    }
}

/// The event ids a key may hold, decoded: the id of the default layout
/// (`{ts}-{operation}-{id}.json` as the last segment), and each whole
/// segment with and without its extension (templates like `{id}.json`).
fn candidate_ids(key: &str) -> Vec<String> {
    let mut encoded: Vec<&str> = Vec::new();
    for segment in key.split('/').skip(1) {
        encoded.push(segment);
        if let Some((stem, _)) = segment.rsplit_once('.') {
            encoded.push(stem);
            if let Some(id) = default_layout_id(stem) {
                encoded.push(id);
            }
        }
    }
    encoded
        .into_iter()
        .filter_map(|text| decode_key_value(text).map(|id| id.into_owned()))
        .collect()
}

/// The `{id}` of a `{ts}-{operation}-{id}` file stem.
fn default_layout_id(stem: &str) -> Option<&str> {
    let unsigned = stem.strip_prefix('-').unwrap_or(stem);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &unsigned[digits..];
    ["-insert-", "-update-", "-delete-"]
        .iter()
        .find_map(|op| rest.strip_prefix(op))
        .filter(|id| !id.is_empty())
}

/// Every file under `dir` as a key relative to `root`; what is not a plain
/// file or directory with a UTF-8 name is a problem (the archive writes
/// none).
fn list_keys(
    root: &Path,
    dir: &Path,
    keys: &mut Vec<String>,
    problems: &mut Vec<StoreProblem>,
) -> anyhow::Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| anyhow::anyhow!("listing {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("listing {}: {e}", dir.display()))?;
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .expect("entries are listed under the root")
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        if name.to_str().is_none() {
            problems.push(StoreProblem {
                store: "archive",
                item: relative,
                detail: "the file name is not UTF-8; the archive writes no such key".into(),
            });
        } else if file_type.is_dir() && dir == root && name == PACKS_DIR {
            // Pack files and their index: checked through the index.
        } else if file_type.is_dir() {
            list_keys(root, &path, keys, problems)?;
        } else if file_type.is_file() {
            if !name.to_string_lossy().starts_with(ARCHIVE_TEMP_PREFIX) {
                keys.push(relative);
            }
        } else {
            problems.push(StoreProblem {
                store: "archive",
                item: relative,
                detail: "not a regular file (a symlink?); the archive writes none".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_where_the_templates_put_them() {
        let ids = |key| candidate_ids(key);
        assert!(
            ids("com.bank/account/a%2F1/1795600000000-update-e%2F9.json").contains(&"e/9".into())
        );
        assert!(ids("src/book/1/-5-delete-x-1.json").contains(&"x-1".into()));
        assert!(ids("src/book/42/e-1.json").contains(&"e-1".into()));
        assert_eq!(default_layout_id("1795600000000-update"), None);
        assert_eq!(default_layout_id("123-merge-x"), None);
        assert_eq!(default_layout_id("123-insert-"), None);
    }
}
