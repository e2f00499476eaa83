//! Reading the run directory at open: what a crash or an earlier version
//! left, checked and tidied.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use super::IndexError;
use super::merge;
use super::run::{self, Run};
use super::writer::remove;

/// The files of the SQLite index that versions before 0.2 kept beside the
/// run directory (`event-index.sqlite`, with its WAL and shared memory).
const LEGACY: [&str; 3] = ["sqlite", "sqlite-wal", "sqlite-shm"];

/// The runs found, in run order, and the number the next run takes.
pub(super) struct Loaded {
    pub(super) runs: Vec<Arc<Run>>,
    pub(super) next_id: u64,
}

/// Open the runs in `dir`:
/// - temporary files (a write or merge a crash interrupted) are deleted;
/// - a run that another covers (the input of a merge that a crash
///   interrupted before it deleted its inputs) is deleted;
/// - a run that fails its checks (header, size, order, checksum) is deleted
///   with every later run, so the index's high water falls below it and the
///   recovery scan re-indexes from there (the journal is the truth);
/// - runs wholly outside `retained` are deleted, and one that reaches past
///   its end is rewritten without those entries.
pub(super) fn load(dir: &Path, retained: &RangeInclusive<u64>) -> Result<Loaded, IndexError> {
    let fail = |source| IndexError::Io {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    remove_legacy(dir);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let path = entry.map_err(fail)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tmp") {
            remove_file(&path);
        } else if let Some(ids) = run::parse_name(name) {
            let opened = Run::open(&path);
            found.push((ids, path, opened));
        }
    }
    let valid: Vec<RangeInclusive<u64>> = found
        .iter()
        .filter(|(_, _, r)| r.is_ok())
        .map(|(ids, _, _)| ids.clone())
        .collect();
    found.retain(|(ids, path, _)| {
        let covered = valid
            .iter()
            .any(|v| v != ids && v.start() <= ids.start() && ids.end() <= v.end());
        if covered {
            remove_file(path);
        }
        !covered
    });
    found.sort_by_key(|(ids, _, _)| (*ids.start(), *ids.end()));
    let next_id = found
        .iter()
        .map(|(ids, _, _)| ids.end() + 1)
        .max()
        .unwrap_or(1);
    let mut runs = Vec::new();
    let mut damaged = false;
    for (_, path, opened) in found {
        match opened {
            Ok(run) if !damaged => runs.push(run),
            Ok(_) => {
                warn!(run = %path.display(), "event index run after a damaged one deleted; recovery re-indexes it");
                remove_file(&path);
            }
            Err(e) => {
                warn!(run = %path.display(), error = %e, "damaged event index run deleted; recovery re-indexes it");
                remove_file(&path);
                damaged = true;
            }
        }
    }
    let mut kept = Vec::with_capacity(runs.len());
    for run in runs {
        let run = Arc::new(run);
        if run.max_seq < *retained.start() || run.min_seq > *retained.end() {
            remove(&run);
        } else if run.max_seq > *retained.end() {
            // The journal's tail was repaired: those sequences will number
            // new events.
            let trimmed = merge::merge(dir, std::slice::from_ref(&run), retained.clone())?;
            match trimmed {
                Some(trimmed) => kept.push(Arc::new(trimmed)),
                None => remove(&run),
            }
        } else {
            kept.push(run);
        }
    }
    Ok(Loaded {
        runs: kept,
        next_id,
    })
}

fn remove_legacy(dir: &Path) {
    let mut removed = false;
    for extension in LEGACY {
        let path = dir.with_extension(extension);
        match std::fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(file = %path.display(), error = %e, "could not delete the old event index")
            }
        }
    }
    if removed {
        info!(
            index = %dir.display(),
            "deleted the SQLite event index of an earlier version; the journal is re-indexed into runs"
        );
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        warn!(file = %path.display(), error = %e, "could not delete an event index file");
    }
}
