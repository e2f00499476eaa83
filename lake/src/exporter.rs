//! Rows in journal order to published files: the open files (one per
//! partition, closed together), when they close, and the marker.
//!
//! The exporter is offered every journal record in order, with the lake
//! row when the record is for the lake. All open files close together (a
//! size of rows buffered, or an age, whichever comes first, or an explicit
//! flush), so one close covers one journal range, `exported+1..=through`,
//! and each file is named by the first and last sequence of its rows.
//! Before publishing, the marker records the range as pending; after a
//! crash the same range is rebuilt into the same files, so a restart
//! writes the same names and never adds a row twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};

use crate::Row;
use crate::compact::remove_covered;
use crate::error::LakeError;
use crate::layout::{Partitioning, file_name};
use crate::marker::Marker;
use crate::ocsf::{self, SecurityLakeSource};
use crate::parquet_file;
use crate::store::LakeStore;

/// The table a row goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// `changes`, partitioned as [`ExportOptions::partitioning`] says.
    Changes,
    /// OCSF Entity Management events of a Security Lake custom source
    /// ([`crate::ocsf`]); rows without an entity are left out.
    Ocsf(SecurityLakeSource),
}

/// How an open file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Changes,
    Ocsf,
}

/// Most emptied row buffers kept for reuse (files open at once, usually one
/// or two partitions per table).
const MAX_SPARE: usize = 4;

/// The rows of one partition's open file.
#[derive(Debug)]
struct OpenFile {
    format: Format,
    rows: Vec<Row>,
}

/// When open files close, and how rows are partitioned.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Close once the rows buffered take this many bytes (before
    /// compression). Default 64 MiB.
    pub max_bytes: u64,
    /// Close once the oldest buffered row has waited this long. Default
    /// 15 minutes.
    pub max_age: Duration,
    /// The partition levels.
    pub partitioning: Partitioning,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            max_bytes: 64 * 1024 * 1024,
            max_age: Duration::from_secs(15 * 60),
            partitioning: Partitioning::Date,
        }
    }
}

/// What one close published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// The keys of the files written.
    pub files: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// Parquet bytes written.
    pub bytes: u64,
    /// The marker now says every record through this one is exported.
    pub through: u64,
}

/// The open files and the marker.
pub struct Exporter {
    store: Arc<dyn LakeStore>,
    marker: Marker,
    options: ExportOptions,
    /// The last record offered.
    through: u64,
    /// Rows per partition, in sequence order.
    open: BTreeMap<String, OpenFile>,
    /// Emptied row buffers of closed files, for the next ones. A file's
    /// rows take tens of megabytes; a fresh buffer for each file grew by
    /// doubling, and every doubling faulted in (and the kernel zeroed) new
    /// pages: 1-4 % of the server's CPU under load, by `perf`.
    spare: Vec<Vec<Row>>,
    /// The buffer files are encoded into, emptied and kept between closes
    /// for the same reason as `spare`: it grows to the size of a file once.
    encoded: Vec<u8>,
    bytes: u64,
    rows: u64,
    /// When the first row of the open files was offered.
    opened_ms: Option<i64>,
    /// When the marker was last written (for a lake with no rows for long).
    marked_ms: i64,
}

impl Exporter {
    /// An exporter publishing into `store`, its marker at `marker_path`.
    pub fn open(
        store: Arc<dyn LakeStore>,
        marker_path: &Path,
        options: ExportOptions,
        now_ms: i64,
    ) -> Result<Exporter, LakeError> {
        let marker = Marker::open(marker_path)?;
        let state = marker.state();
        if let Some(pending) = state.pending {
            info!(
                exported = state.exported,
                pending, "lake export resumes a range a stop interrupted; its files are rewritten"
            );
        }
        Ok(Exporter {
            store,
            through: state.exported,
            marker,
            options,
            open: BTreeMap::new(),
            spare: Vec::new(),
            encoded: Vec::new(),
            bytes: 0,
            rows: 0,
            opened_ms: None,
            marked_ms: now_ms,
        })
    }

    /// The first journal sequence still to offer.
    pub fn next_seq(&self) -> u64 {
        self.through + 1
    }

    /// Every record through this one is in published files.
    pub fn exported(&self) -> u64 {
        self.marker.state().exported
    }

    /// The first journal record a restart needs: the pending range's
    /// start, else the first record with a row in the open files, else the
    /// next record. Journal retention may drop the records before it (they
    /// are exported, or have no lake row).
    pub fn retain_from(&self) -> u64 {
        let state = self.marker.state();
        if state.pending.is_some() {
            return state.exported + 1;
        }
        self.open
            .values()
            .filter_map(|file| file.rows.first().map(|r| r.seq))
            .min()
            .unwrap_or(self.through + 1)
    }

    /// Rows waiting in open files.
    pub fn buffered_rows(&self) -> u64 {
        self.rows
    }

    /// Offer journal record `seq`, with its row when it is for the lake's
    /// `changes` table: [`Exporter::offer_to`] with [`Table::Changes`].
    pub fn offer(
        &mut self,
        seq: u64,
        row: Option<Row>,
        now_ms: i64,
    ) -> Result<Option<Published>, LakeError> {
        self.offer_to(seq, row, &[Table::Changes], now_ms)
    }

    /// Offer journal record `seq`, with its row and the tables it goes to
    /// when it is for the lake. Records at or before one already offered
    /// are ignored. Returns what was published when this record ends a
    /// range a stop interrupted (which closes at exactly the same record
    /// as before).
    pub fn offer_to(
        &mut self,
        seq: u64,
        row: Option<Row>,
        tables: &[Table],
        now_ms: i64,
    ) -> Result<Option<Published>, LakeError> {
        if seq <= self.through {
            return Ok(None);
        }
        self.through = seq;
        if let Some(row) = row {
            let targets: Vec<_> = tables
                .iter()
                .filter_map(|table| match table {
                    Table::Changes => Some((
                        self.options.partitioning.partition_of(&row),
                        Format::Changes,
                    )),
                    Table::Ocsf(source) if ocsf::expressible(&row) => {
                        Some((source.partition_of(&row), Format::Ocsf))
                    }
                    Table::Ocsf(_) => None,
                })
                .collect();
            let last = targets.len().saturating_sub(1);
            let mut row = Some(row);
            for (i, (partition, format)) in targets.into_iter().enumerate() {
                // Copied for every table but the last, which takes it.
                let Some(held) = (if i == last { row.take() } else { row.clone() }) else {
                    break;
                };
                self.bytes += held.raw_len();
                self.rows += 1;
                self.opened_ms.get_or_insert(now_ms);
                self.open
                    .entry(partition)
                    .or_insert_with(|| OpenFile {
                        format,
                        rows: self.spare.pop().unwrap_or_default(),
                    })
                    .rows
                    .push(held);
            }
        }
        // `>=`: the range's end is gone only when journal retention removed
        // records the lake had not exported (a lake turned off, then on).
        if self.marker.state().pending.is_some_and(|p| seq >= p) {
            return self.close(now_ms).map(Some);
        }
        Ok(None)
    }

    /// Whether the open files should close now: the size or age limit is
    /// reached, or (with no rows open) the marker is older than the age
    /// limit and behind, so journal retention is not held back.
    pub fn due(&self, now_ms: i64) -> bool {
        if self.marker.state().pending.is_some() {
            // Only the interrupted range's own end closes it.
            return false;
        }
        let age = i64::try_from(self.options.max_age.as_millis()).unwrap_or(i64::MAX);
        match self.opened_ms {
            Some(opened) => self.bytes >= self.options.max_bytes || now_ms - opened >= age,
            None => self.through > self.exported() && now_ms - self.marked_ms >= age,
        }
    }

    /// Whether a flush has something to do: rows open, or the marker behind.
    pub fn is_behind(&self) -> bool {
        self.rows > 0 || self.through > self.exported()
    }

    /// Close the open files: publish one file per partition, then move the
    /// marker to the last record offered.
    pub fn close(&mut self, now_ms: i64) -> Result<Published, LakeError> {
        let state = self.marker.state();
        let through = self.through;
        if state.pending.is_some_and(|p| p > through) {
            return Err(LakeError::Invalid(format!(
                "the interrupted range {}..={} must be offered whole before the lake can close \
                 files (offered through {through})",
                state.exported + 1,
                state.pending.unwrap_or_default()
            )));
        }
        let mut published = Published {
            through,
            ..Published::default()
        };
        if !self.open.is_empty() {
            let keys: Vec<String> = self
                .open
                .iter()
                .filter_map(|(partition, file)| {
                    let (first, last) = (file.rows.first()?, file.rows.last()?);
                    Some(format!("{partition}/{}", file_name(first.seq, last.seq)))
                })
                .collect();
            // Files an interrupted close of this range published that this
            // one does not (the `target: lake` rules changed meanwhile).
            let stale: Vec<String> = self
                .marker
                .pending_files()
                .iter()
                .filter(|k| !keys.contains(k))
                .cloned()
                .collect();
            self.marker
                .write_pending(state.exported, Some(through), keys.clone())?;
            for (key, file) in keys.iter().zip(self.open.values()) {
                let mut buffer = std::mem::take(&mut self.encoded);
                buffer.clear();
                let bytes = match file.format {
                    Format::Changes => parquet_file::encode_into(&file.rows, buffer)?,
                    Format::Ocsf => ocsf::encode_into(&file.rows, buffer)?,
                };
                self.store.put(key, &bytes)?;
                debug!(key = %key, rows = file.rows.len(), bytes = bytes.len(), "lake file published");
                published.rows += file.rows.len() as u64;
                published.bytes += bytes.len() as u64;
                published.files.push(key.clone());
                self.encoded = bytes;
            }
            for key in &stale {
                self.store.delete(key)?;
                info!(key = %key, "lake file of an interrupted close removed: the rules no longer make it");
            }
            if state.pending.is_some() {
                // Compaction may have merged these files while we were down.
                let partitions: Vec<&str> = self.open.keys().map(String::as_str).collect();
                remove_covered(self.store.as_ref(), &partitions)?;
            }
        }
        if through != state.exported || state.pending.is_some() {
            self.marker.write(through, None)?;
        }
        for mut file in std::mem::take(&mut self.open).into_values() {
            if self.spare.len() < MAX_SPARE {
                file.rows.clear();
                self.spare.push(file.rows);
            }
        }
        self.bytes = 0;
        self.rows = 0;
        self.opened_ms = None;
        self.marked_ms = now_ms;
        Ok(published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DirStore;

    fn row(seq: u64, ts_ms: i64) -> Row {
        Row {
            seq,
            event_id: format!("e-{seq}"),
            ts_ms,
            entity_type: Some("book".to_owned()),
            entity_id: Some("1".to_owned()),
            operation: Some("insert".to_owned()),
            author: Some("ann".to_owned()),
            source: "shop".to_owned(),
            detail_type: "Object State Change".to_owned(),
            account: String::new(),
            region: String::new(),
            ingested_at_ms: ts_ms,
            body: Some("{}".to_owned()),
        }
    }

    const DAY: i64 = 86_400_000;

    fn setup() -> (tempfile::TempDir, Arc<DirStore>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(DirStore::open(&dir.path().join("lake")).expect("opens"));
        (dir, store)
    }

    /// An exporter with the default options over `store`, its marker at `marker`.
    fn exporter(store: &Arc<DirStore>, marker: &Path) -> Exporter {
        Exporter::open(store.clone(), marker, ExportOptions::default(), 0).expect("opens")
    }

    /// The marker at `path` as a stop left it: `exported`, then the range
    /// through `pending` started.
    fn stopped_at(path: &Path, exported: u64, pending: u64) {
        Marker::open(path)
            .expect("opens")
            .write(exported, Some(pending))
            .expect("writes");
    }

    #[test]
    fn one_close_writes_one_file_per_day_named_by_its_range() {
        let (dir, store) = setup();
        let marker = dir.path().join("marker.json");
        let mut ex = exporter(&store, &marker);
        ex.offer(1, None, 0).expect("offers");
        assert_eq!(ex.retain_from(), 2, "nothing open: retention may drop 1");
        ex.offer(2, Some(row(2, 20 * DAY)), 0).expect("offers");
        ex.offer(3, Some(row(3, 13 * DAY)), 0)
            .expect("a late event");
        assert_eq!(ex.retain_from(), 2, "the first open row");
        ex.offer(4, Some(row(4, 20 * DAY + 5)), 0).expect("offers");
        let published = ex.close(0).expect("closes");
        assert_eq!(ex.retain_from(), 5);
        assert_eq!(
            published.files,
            [
                "changes/dt=1970-01-14/part-00000000000000000003-00000000000000000003.parquet",
                "changes/dt=1970-01-21/part-00000000000000000002-00000000000000000004.parquet",
            ]
        );
        assert_eq!((published.rows, published.through), (3, 4));
        assert_eq!(Marker::open(&marker).expect("reads").state().exported, 4);
    }

    /// An exporter that has closed one file of 1,000 rows, and that file's size.
    fn one_file_closed() -> (tempfile::TempDir, Arc<DirStore>, Exporter, usize) {
        let (dir, store) = setup();
        let mut ex = exporter(&store, &dir.path().join("marker.json"));
        for seq in 1..=1000 {
            ex.offer(seq, Some(row(seq, 0)), 0).expect("offers");
        }
        let bytes = ex.close(0).expect("closes").bytes as usize;
        (dir, store, ex, bytes)
    }

    #[test]
    fn the_next_file_reuses_a_closed_files_row_buffer() {
        let (_dir, _store, mut ex, _) = one_file_closed();
        ex.offer(1001, Some(row(1001, DAY)), 0).expect("offers");
        let file = ex.open.values().next().expect("one open file");
        assert_eq!(file.rows.len(), 1);
        assert!(file.rows.capacity() >= 1000, "{}", file.rows.capacity());
        let published = ex.close(0).expect("closes");
        assert_eq!(
            published.files,
            ["changes/dt=1970-01-02/part-00000000000000001001-00000000000000001001.parquet"],
            "only the new row: the buffer was emptied"
        );
    }

    #[test]
    fn the_next_file_is_encoded_into_the_closed_files_buffer_and_holds_only_its_rows() {
        let (_dir, store, mut ex, first) = one_file_closed();
        assert!(ex.encoded.capacity() >= first, "the buffer is kept");
        ex.offer(1001, Some(row(1001, DAY)), 0).expect("offers");
        let published = ex.close(0).expect("closes");
        let file = store.get(&published.files[0]).expect("reads");
        assert_eq!(
            file,
            parquet_file::encode(&[row(1001, DAY)]).expect("encodes")
        );
        assert!(ex.encoded.capacity() >= first, "and kept again");
    }

    #[test]
    fn an_interrupted_range_is_rebuilt_into_the_same_files() {
        let (dir, store) = setup();
        let marker_path = dir.path().join("marker.json");
        // A stop after the marker said pending 1..=3 and one file was out.
        stopped_at(&marker_path, 0, 3);
        let mut ex = exporter(&store, &marker_path);
        assert!(!ex.due(i64::MAX / 2), "only the range's end closes it");
        assert!(ex.offer(1, Some(row(1, 0)), 0).expect("offers").is_none());
        assert!(ex.offer(2, Some(row(2, 0)), 0).expect("offers").is_none());
        let published = ex
            .offer(3, Some(row(3, 0)), 0)
            .expect("offers")
            .expect("the range's end closes it");
        assert_eq!(
            published.files,
            ["changes/dt=1970-01-01/part-00000000000000000001-00000000000000000003.parquet"]
        );
        let state = Marker::open(&marker_path).expect("reads").state();
        assert_eq!((state.exported, state.pending), (3, None));
    }

    #[test]
    fn a_file_the_interrupted_close_wrote_and_the_replay_does_not_is_removed() {
        let (dir, store) = setup();
        let marker_path = dir.path().join("marker.json");
        // Before the stop, rows 1..=2 went to one file; after it, the rules
        // send only row 2.
        let old = format!("changes/dt=1970-01-01/{}", file_name(1, 2));
        store
            .put(
                &old,
                &parquet_file::encode(&[row(1, 0), row(2, 0)]).expect("encodes"),
            )
            .expect("puts");
        Marker::open(&marker_path)
            .expect("opens")
            .write_pending(0, Some(2), vec![old.clone()])
            .expect("writes");
        let mut ex = exporter(&store, &marker_path);
        ex.offer(1, None, 0).expect("offers");
        ex.offer(2, Some(row(2, 0)), 0).expect("offers");
        let keys = store.list("changes/").expect("lists");
        assert_eq!(keys, [format!("changes/dt=1970-01-01/{}", file_name(2, 2))]);
    }

    #[test]
    fn an_interrupted_range_whose_end_was_removed_still_closes() {
        let (dir, store) = setup();
        let marker_path = dir.path().join("marker.json");
        stopped_at(&marker_path, 0, 3);
        let mut ex = exporter(&store, &marker_path);
        let published = ex
            .offer(7, Some(row(7, 0)), 0)
            .expect("offers")
            .expect("a record past the range's end closes it");
        assert_eq!(published.through, 7);
        assert_eq!(
            Marker::open(&marker_path).expect("reads").state().pending,
            None
        );
    }

    #[test]
    fn one_row_goes_to_each_table_its_rules_name_in_one_close() {
        let (dir, store) = setup();
        let source =
            SecurityLakeSource::new("trailmark", "us-east-1", "123456789012").expect("valid");
        let tables = [Table::Changes, Table::Ocsf(source)];
        let mut ex = exporter(&store, &dir.path().join("m.json"));
        ex.offer_to(1, Some(row(1, 0)), &tables, 0).expect("offers");
        let mut note = row(2, 0);
        note.operation = None;
        ex.offer_to(2, Some(note), &tables, 0)
            .expect("an event without an entity");
        let published = ex.close(0).expect("closes");
        assert_eq!(
            published.files,
            [
                "changes/dt=1970-01-01/part-00000000000000000001-00000000000000000002.parquet",
                "ext/trailmark/region=us-east-1/accountId=123456789012/eventDay=19700101/\
                 part-00000000000000000001-00000000000000000001.parquet",
            ]
        );
        assert_eq!(published.rows, 3);
        assert_eq!(ex.exported(), 2);
    }

    #[test]
    fn files_close_at_the_size_or_the_age_whichever_first() {
        let (dir, store) = setup();
        let options = ExportOptions {
            max_bytes: 1000,
            max_age: Duration::from_secs(60),
            ..ExportOptions::default()
        };
        let mut ex = Exporter::open(store, &dir.path().join("m.json"), options, 0).expect("opens");
        ex.offer(1, Some(row(1, 0)), 1_000).expect("offers");
        assert!(!ex.due(60_999));
        assert!(ex.due(61_000), "age");
        ex.close(61_000).expect("closes");
        let mut seq = 2;
        while !ex.due(61_001) {
            ex.offer(seq, Some(row(seq, 0)), 61_001).expect("offers");
            seq += 1;
        }
        assert!(ex.buffered_rows() > 1, "size closes after several rows");
        // Records for other targets only: the marker follows at the age.
        ex.close(61_001).expect("closes");
        ex.offer(seq, None, 61_001).expect("offers");
        assert!(!ex.due(61_002));
        assert!(ex.due(121_001));
    }
}
