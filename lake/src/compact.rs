//! Compaction: a day's small files merged into large ones.
//!
//! Files of one partition hold disjoint sequence ranges (each close of the
//! exporter covers a range after the one before), so a merged file named
//! `part-<first>-<last>.parquet` covers exactly the files whose ranges lie
//! within it. The merged file is published first, then the files it covers
//! are removed; a stop in between leaves files the merged one covers, which
//! [`remove_covered`] removes on the next compaction or export (and a
//! reader listing the partition in that instant may see their rows twice:
//! a directory or a bucket has no atomic swap of several files).

use std::collections::BTreeMap;

use time::Date;
use tracing::info;

use crate::Row;
use crate::error::LakeError;
use crate::layout::{TABLE, parse_day, parse_file_name, partition_day};
use crate::parquet_file;
use crate::store::LakeStore;

/// A merged file and the files it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The merged file's key.
    pub merged: String,
    /// The keys it replaced.
    pub replaced: Vec<String>,
    /// Rows in the merged file.
    pub rows: u64,
}

/// One of our files in a listing: its partition and range.
struct Part {
    key: String,
    partition: String,
    first: u64,
    last: u64,
}

/// The lake's data files, by partition, each partition's in range order.
fn parts(store: &dyn LakeStore) -> Result<BTreeMap<String, Vec<Part>>, LakeError> {
    let mut by_partition: BTreeMap<String, Vec<Part>> = BTreeMap::new();
    for key in store.list(&format!("{TABLE}/"))? {
        let Some((partition, name)) = key.rsplit_once('/') else {
            continue;
        };
        let Some((first, last)) = parse_file_name(name) else {
            continue;
        };
        by_partition
            .entry(partition.to_owned())
            .or_default()
            .push(Part {
                partition: partition.to_owned(),
                key,
                first,
                last,
            });
    }
    for parts in by_partition.values_mut() {
        parts.sort_by_key(|p| (p.first, std::cmp::Reverse(p.last)));
    }
    Ok(by_partition)
}

/// Merge the files of every partition dated before `before` into files of
/// about `target_bytes` (of Parquet) each. Returns what it merged.
pub fn compact(
    store: &dyn LakeStore,
    before: &str,
    target_bytes: u64,
) -> Result<Vec<Compacted>, LakeError> {
    let before: Date = parse_day(before)?;
    let mut done = Vec::new();
    for (partition, parts) in parts(store)? {
        let Some(day) = partition_day(&partition) else {
            continue;
        };
        let Ok(day) = parse_day(day) else {
            continue;
        };
        if day >= before {
            continue;
        }
        remove_covered(store, &[partition.as_str()])?;
        let parts: Vec<Part> = covering(parts);
        let mut group: Vec<&Part> = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        let mut bytes = 0u64;
        for part in &parts {
            let file = store.get(&part.key)?;
            bytes += file.len() as u64;
            rows.extend(parquet_file::decode(file)?);
            group.push(part);
            if bytes >= target_bytes {
                done.extend(merge(store, &partition, &group, std::mem::take(&mut rows))?);
                group.clear();
                bytes = 0;
            }
        }
        done.extend(merge(store, &partition, &group, rows)?);
    }
    Ok(done)
}

/// Publish `rows` as one file replacing the files of `group`, then remove
/// those; nothing when the group is one file or none.
fn merge(
    store: &dyn LakeStore,
    partition: &str,
    group: &[&Part],
    mut rows: Vec<Row>,
) -> Result<Option<Compacted>, LakeError> {
    if group.len() < 2 {
        return Ok(None);
    }
    rows.sort_by_key(|r| r.seq);
    rows.dedup_by_key(|r| r.seq);
    let (first, last) = (group[0].first, group[group.len() - 1].last);
    let merged = format!("{partition}/{}", crate::layout::file_name(first, last));
    store.put(&merged, &parquet_file::encode(&rows)?)?;
    let mut replaced = Vec::new();
    for part in group {
        if part.key != merged {
            store.delete(&part.key)?;
            replaced.push(part.key.clone());
        }
    }
    info!(merged = %merged, files = replaced.len(), rows = rows.len(), "lake files compacted");
    Ok(Some(Compacted {
        merged,
        replaced,
        rows: rows.len() as u64,
    }))
}

/// The parts no other part covers (sorted by first, widest first).
fn covering(parts: Vec<Part>) -> Vec<Part> {
    let mut kept: Vec<Part> = Vec::new();
    for part in parts {
        match kept.last() {
            Some(wider) if wider.first <= part.first && part.last <= wider.last => {}
            _ => kept.push(part),
        }
    }
    kept
}

/// In each of `partitions` (every partition when empty), remove the files
/// whose range lies within another file's: what a compaction stopped
/// between publishing a merged file and removing the ones it covers left,
/// or what an export replayed after a compaction rewrote. Returns the keys
/// removed.
pub fn remove_covered(
    store: &dyn LakeStore,
    partitions: &[&str],
) -> Result<Vec<String>, LakeError> {
    let mut removed = Vec::new();
    for (partition, parts) in parts(store)? {
        if !partitions.is_empty() && !partitions.contains(&partition.as_str()) {
            continue;
        }
        let mut wider: Option<(u64, u64)> = None;
        for part in parts {
            match wider {
                Some((first, last)) if first <= part.first && part.last <= last => {
                    debug_assert_eq!(part.partition, partition);
                    store.delete(&part.key)?;
                    info!(key = %part.key, "lake file removed: a merged file holds its rows");
                    removed.push(part.key);
                }
                _ => wider = Some((part.first, part.last)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::file_name;
    use crate::store::DirStore;

    fn row(seq: u64) -> Row {
        Row {
            seq,
            event_id: format!("e-{seq}"),
            ts_ms: 0,
            entity_type: None,
            entity_id: None,
            operation: None,
            author: None,
            source: "s".to_owned(),
            detail_type: "Note".to_owned(),
            account: String::new(),
            region: String::new(),
            ingested_at_ms: 0,
            body: None,
        }
    }

    fn put(store: &DirStore, day: &str, seqs: &[u64]) -> String {
        let rows: Vec<Row> = seqs.iter().copied().map(row).collect();
        let key = format!(
            "changes/dt={day}/{}",
            file_name(seqs[0], seqs[seqs.len() - 1])
        );
        store
            .put(&key, &parquet_file::encode(&rows).expect("encodes"))
            .expect("puts");
        key
    }

    fn all_seqs(store: &DirStore) -> Vec<u64> {
        let mut seqs: Vec<u64> = store
            .list("changes/")
            .expect("lists")
            .iter()
            .flat_map(|k| parquet_file::decode(store.get(k).expect("gets")).expect("decodes"))
            .map(|r| r.seq)
            .collect();
        seqs.sort();
        seqs
    }

    #[test]
    fn a_days_files_become_one_and_later_days_stay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).expect("opens");
        put(&store, "2026-01-01", &[1, 2]);
        put(&store, "2026-01-01", &[5]);
        put(&store, "2026-01-01", &[7, 9]);
        let today = put(&store, "2026-01-02", &[3]);
        put(&store, "2026-01-02", &[4]);
        let before = all_seqs(&store);
        let done = compact(&store, "2026-01-02", u64::MAX).expect("compacts");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].replaced.len(), 3);
        assert_eq!(all_seqs(&store), before);
        let keys = store.list("changes/dt=2026-01-01/").expect("lists");
        assert_eq!(keys, [format!("changes/dt=2026-01-01/{}", file_name(1, 9))]);
        assert!(store.list("").expect("lists").contains(&today));
    }

    #[test]
    fn files_a_stopped_compaction_left_are_removed_without_losing_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).expect("opens");
        put(&store, "2026-01-01", &[1, 2]);
        put(&store, "2026-01-01", &[5]);
        // The merged file was published; the stop came before the removes.
        put(&store, "2026-01-01", &[1, 2, 5]);
        put(&store, "2026-01-01", &[8]);
        let removed = remove_covered(&store, &[]).expect("repairs");
        assert_eq!(removed.len(), 2);
        assert_eq!(all_seqs(&store), [1, 2, 5, 8]);
    }

    #[test]
    fn a_bad_date_is_refused_with_what_is_valid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).expect("opens");
        let error = compact(&store, "yesterday", 1).expect_err("refused");
        assert!(error.to_string().contains("YYYY-MM-DD"), "{error}");
    }
}
