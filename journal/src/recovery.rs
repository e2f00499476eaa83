//! Opening a journal directory: scan every segment, check the chain, recover a torn tail.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use crate::JournalOptions;
use crate::error::JournalError;
use crate::format::{GENESIS_HASH, HEADER_LEN, Hash, SegmentHeader};
use crate::index::{ChainHead, Index, SegmentInfo};
use crate::seal::{DataKey, Keyring, create_data_key, data_key_path, load_data_key};
use crate::segment::{
    StopKind, create_segment, list_segments, read_segment, scan_segment, truncate_segment,
};
use crate::writer::WriterStart;
use trailmark_durable_file::sync_dir;

/// Scans `dir` and returns the readers' index and the writer's starting point.
///
/// Every segment is read and checked (CRC, seq, link, hash). A torn write at the end of
/// the last segment — bytes after the last valid record that hold no valid record — is
/// truncated away with a warning. Any other damage is an error, except damage in the last
/// segment when `repair_damaged_tail` is set: then that segment is cut at the first bad
/// record (the cut bytes are saved beside it).
///
/// With `options.encryption`, every segment holding records must be encrypted and its
/// data key must open; an empty unencrypted last segment (a new journal) is replaced by
/// an encrypted one. Without it, an encrypted segment is refused.
pub(crate) fn recover(
    dir: &Path,
    options: &JournalOptions,
) -> Result<(Index, WriterStart), JournalError> {
    let index_interval = options.index_interval;
    let repair_damaged_tail = options.repair_damaged_tail;
    let keyring = options.encryption.as_deref();
    let mut files = list_segments(dir)?;
    if files.is_empty() {
        let (path, _) = new_segment(dir, 1, GENESIS_HASH, keyring)?;
        files.push((1, path));
    }
    drop_torn_last_header(dir, &mut files)?;

    let mut segments: Vec<SegmentInfo> = Vec::with_capacity(files.len());
    let mut chain: Option<(u64, Hash)> = None; // (last seq, last hash) so far
    let mut last_timestamp_ms = i64::MIN;
    let count = files.len();
    for (i, (name_seq, path)) in files.iter().enumerate() {
        let bytes = read_segment(path)?;
        let scan = scan_segment(path, &bytes, index_interval)?;
        if scan.header.first_seq != *name_seq {
            return Err(JournalError::corrupt(
                path,
                0,
                format!(
                    "header says first seq {}, but the file name says {name_seq}",
                    scan.header.first_seq
                ),
            ));
        }
        if let Some((last_seq, last_hash)) = chain
            && (scan.header.first_seq != last_seq + 1 || scan.header.prev_hash != last_hash)
        {
            return Err(JournalError::corrupt(
                path,
                0,
                format!(
                    "segment starting at seq {} does not continue the chain ending at seq {last_seq} \
                     (a segment was removed, replaced or added)",
                    scan.header.first_seq
                ),
            ));
        }
        let mut durable_len = bytes.len() as u64;
        if let Some(stop) = &scan.stop {
            if i + 1 == count && stop.kind == StopKind::Torn {
                tracing::warn!(
                    path = %path.display(),
                    offset = stop.offset,
                    lost_bytes = bytes.len() as u64 - scan.valid_len,
                    last_seq = scan.last_seq,
                    reason = %stop.reason,
                    "journal: truncating torn write at the tail (a crash interrupted an unsynced append)"
                );
                truncate_segment(path, scan.valid_len)?;
                durable_len = scan.valid_len;
            } else if i + 1 == count && repair_damaged_tail {
                let saved = save_cut_bytes(path, &bytes[stop.offset as usize..], stop.offset)?;
                tracing::error!(
                    path = %path.display(),
                    offset = stop.offset,
                    cut_bytes = bytes.len() as u64 - scan.valid_len,
                    last_seq = scan.last_seq,
                    saved = %saved.display(),
                    reason = %stop.reason,
                    "journal: repair_damaged_tail is set: cutting the damaged end of the last segment"
                );
                truncate_segment(path, scan.valid_len)?;
                durable_len = scan.valid_len;
            } else {
                return Err(JournalError::corrupt(
                    path,
                    stop.offset,
                    stop.reason.clone(),
                ));
            }
        }
        chain = Some((scan.last_seq, scan.last_hash));
        last_timestamp_ms = last_timestamp_ms.max(scan.last_timestamp_ms);
        let mut path = path.clone();
        let dek = match (scan.header.sealed, keyring) {
            (true, Some(keyring)) => Some(Arc::new(load_data_key(
                keyring,
                &path,
                scan.header.first_seq,
            )?)),
            (true, None) => return Err(JournalError::KeyRequired { path }),
            (false, Some(_)) if scan.records > 0 => {
                return Err(JournalError::NotEncrypted {
                    path,
                    records: scan.records,
                });
            }
            (false, Some(keyring)) if i + 1 == count => {
                // A new (or never written) journal: its empty active segment becomes an
                // encrypted one. A crash in between leaves no segment, or the old one.
                fs::remove_file(&path).map_err(|e| JournalError::io(&path, "remove segment", e))?;
                let (new_path, dek) = new_segment(
                    dir,
                    scan.header.first_seq,
                    scan.header.prev_hash,
                    Some(keyring),
                )?;
                path = new_path;
                tracing::info!(path = %path.display(), "journal: new journal, encrypted from its first record");
                dek
            }
            (false, _) => None,
        };
        segments.push(SegmentInfo {
            first_seq: scan.header.first_seq,
            path,
            durable_len,
            last_seq: scan.last_seq,
            sparse: scan.sparse,
            dek,
        });
    }

    let (last_seq, last_hash) = chain.expect("there is at least one segment");
    let active = segments.last().expect("there is at least one segment");
    let file = File::options()
        .read(true)
        .write(true)
        .open(&active.path)
        .map_err(|e| JournalError::io(&active.path, "open active segment", e))?;
    let start = WriterStart {
        file,
        path: active.path.clone(),
        first_seq: active.first_seq,
        len: active.durable_len,
        next_seq: last_seq + 1,
        last_hash,
        last_timestamp_ms,
        dek: active.dek.clone(),
    };
    let index = Index {
        segments,
        head: ChainHead {
            seq: last_seq,
            hash: last_hash,
        },
    };
    Ok((index, start))
}

/// Creates an empty segment (encrypted, with its data key file written first, when a
/// keyring is given); returns its path and data key.
fn new_segment(
    dir: &Path,
    first_seq: u64,
    prev_hash: Hash,
    keyring: Option<&Keyring>,
) -> Result<(std::path::PathBuf, Option<Arc<DataKey>>), JournalError> {
    let header = SegmentHeader {
        first_seq,
        prev_hash,
        sealed: keyring.is_some(),
    };
    let dek = match keyring {
        Some(keyring) => {
            let segment = dir.join(crate::segment::segment_file_name(first_seq));
            Some(Arc::new(create_data_key(keyring, &segment, first_seq)?))
        }
        None => None,
    };
    let (path, _) =
        create_segment(dir, &header).map_err(|e| JournalError::io(dir, "create segment", e))?;
    Ok((path, dek))
}

/// A crash while a new segment was being created can leave it with a short or empty
/// header (it cannot hold records yet: the header is fsynced before any record is
/// written). Such a last segment is removed; its predecessor becomes active again.
fn drop_torn_last_header(
    dir: &Path,
    files: &mut Vec<(u64, std::path::PathBuf)>,
) -> Result<(), JournalError> {
    let Some((_, path)) = files.last() else {
        return Ok(());
    };
    let len = fs::metadata(path)
        .map_err(|e| JournalError::io(path, "stat segment", e))?
        .len();
    if files.len() < 2 || len > HEADER_LEN as u64 {
        return Ok(());
    }
    let bytes = read_segment(path)?;
    if SegmentHeader::decode(&bytes).is_ok() {
        return Ok(());
    }
    tracing::warn!(
        path = %path.display(),
        len,
        "journal: removing a segment whose creation was interrupted (incomplete header)"
    );
    fs::remove_file(path).map_err(|e| JournalError::io(path, "remove torn segment", e))?;
    let dek = data_key_path(path);
    if dek.exists() {
        fs::remove_file(&dek).map_err(|e| JournalError::io(&dek, "remove data key", e))?;
    }
    sync_dir(dir)?;
    files.pop();
    Ok(())
}

/// Saves the bytes cut from a damaged segment as `<segment>.damaged-<offset>` (fsynced)
/// so that nothing is destroyed by a repair. A save of the same bytes that a crash
/// interrupted before the cut is found and kept; an earlier save of other bytes at
/// that offset (a second repair, after the segment was written past the first cut)
/// is never overwritten: the new one takes the next free `.damaged-<offset>.<n>`.
/// Written to a temporary file and renamed, so a crash leaves no torn copy.
fn save_cut_bytes(
    path: &Path,
    bytes: &[u8],
    offset: u64,
) -> Result<std::path::PathBuf, JournalError> {
    let named = |n: u32| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".damaged-{offset}"));
        if n > 0 {
            name.push(format!(".{n}"));
        }
        std::path::PathBuf::from(name)
    };
    let mut n = 0;
    let saved = loop {
        let candidate = named(n);
        match fs::read(&candidate) {
            Ok(existing) if existing == bytes => return Ok(candidate),
            Ok(_) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break candidate,
            Err(e) => return Err(JournalError::io(&candidate, "read", e)),
        }
    };
    let mut temp = saved.as_os_str().to_owned();
    temp.push(".tmp");
    trailmark_durable_file::Replace::new(&saved)
        .temp_path(temp)
        .write(bytes)?;
    Ok(saved)
}
