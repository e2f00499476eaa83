//! Restoring a backup into a new data directory, up to a point in time if
//! asked; see the module docs ([`super`]).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use tracing::info;
use trailmark_backends::Event;
use trailmark_journal::{
    CheckpointKey, CheckpointLog, Journal, JournalOptions, NewRecord, PublicKey,
};

use super::check::{check_copy, check_sqlite, load_signed, materialize};
use super::destination::Destination;
use super::manifest::Manifest;
use super::{BackupError, paths};
use crate::engine::records::{OutcomeRecord, OutcomesRecord, ReopenRecord, kind};
use trailmark_backend_api::when::{format_ms, now_ms};

/// The file a restore leaves in the new data directory: the
/// `trailmark.restore` event (JSON), journaled by the restored server at its
/// first start (through the rules, as every event about the host is), then
/// removed. Its id is fixed, so a start interrupted between the two
/// journals the same event again, not another.
pub const PENDING_RESTORE: &str = "restore-event.json";

/// Journal the restore event a restore left in `data`, if any, then remove
/// its file. `account` and `region` fill its envelope.
pub async fn journal_pending_restore(
    data: &Path,
    intake: &dyn crate::ingest::Intake,
    account: &str,
    region: &str,
) -> Result<Option<String>, BackupError> {
    let path = data.join(PENDING_RESTORE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BackupError::io(&path, "read", e)),
    };
    let mut event: Event = serde_json::from_slice(&bytes).map_err(|e| {
        BackupError::Refused(format!("{}: not a restore event: {e}", path.display()))
    })?;
    account.clone_into(&mut event.account);
    region.clone_into(&mut event.region);
    let id = event.id.clone();
    intake
        .submit_host(vec![event])
        .await
        .map_err(|e| BackupError::Refused(format!("journaling the restore event: {e}")))?;
    fs::remove_file(&path).map_err(|e| BackupError::io(&path, "remove", e))?;
    Ok(Some(id))
}

/// Where a point-in-time restore stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTime {
    /// At this journal record, included.
    Seq(u64),
    /// At the last record journaled at or before this time (ms since the epoch).
    Time(i64),
}

/// What to restore, and where.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The new data directory: absent or empty.
    pub target: PathBuf,
    /// The backup (default: the newest).
    pub backup: Option<String>,
    /// Where to stop (default: the backup's head).
    pub to: Option<PointInTime>,
    /// The checkpoint signing key, when the backup holds none.
    pub checkpoint_key: Option<PathBuf>,
    /// The public key the backup must be signed with (default: its own).
    pub public_key: Option<PublicKey>,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RestoreReport {
    /// Where the backup was.
    pub from: String,
    /// The backup restored.
    pub backup: String,
    /// The new data directory.
    pub data: String,
    /// The last journal record restored from the backup.
    pub to_seq: u64,
    /// The backup whose stores were restored, or none (rebuilt from the
    /// journal).
    pub stores_from: Option<String>,
    /// The stores' high-water mark: deliveries closed after it are owed again.
    pub high_water: u64,
    /// Deliveries reopened, re-delivered at the first start.
    pub reopened: usize,
    /// The id of the `trailmark.restore` event the restored server
    /// journals at its first start.
    pub restore_event: String,
}

/// Restore a backup from `destination` into `options.target`: refuse a
/// non-empty target, check the backup, cut the journal at the point in
/// time, pick stores no newer than it, reopen what the stores may lack and
/// journal the restore.
pub fn restore(
    destination: &dyn Destination,
    options: &RestoreOptions,
) -> Result<RestoreReport, BackupError> {
    let target = &options.target;
    if fs::read_dir(target).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::Refused(format!(
            "{}: not empty; restore into a new or empty directory (nothing was changed)",
            target.display()
        )));
    }
    let (manifest, public) = load_signed(
        destination,
        options.backup.as_deref(),
        options.public_key.as_ref(),
    )?;
    let key = signing_key(&manifest, &public, options.checkpoint_key.as_deref())?;
    fs::create_dir_all(target).map_err(|e| BackupError::io(target, "create", e))?;
    let result = restore_into(destination, options, &manifest, &public, key);
    if result.is_err() {
        // Leave nothing that could be served by mistake.
        if let Ok(entries) = fs::read_dir(target) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
    }
    result
}

/// The key the restored journal goes on signing with: the backup's, or the
/// one given, which must be the backup's signer.
fn signing_key(
    manifest: &Manifest,
    public: &PublicKey,
    given: Option<&Path>,
) -> Result<Option<CheckpointKey>, BackupError> {
    let Some(path) = given else {
        if manifest.file(paths::SIGNING_KEY).is_some() {
            return Ok(None);
        }
        return Err(BackupError::Refused(format!(
            "backup {} holds no checkpoint signing key (it was taken without secrets): give the \
             key it was signed with (id {}) with --checkpoint-key FILE, so the restored journal \
             goes on with the same signed chain",
            manifest.name,
            public.key_id()
        )));
    };
    let key = CheckpointKey::load(path)?;
    if key.public() != *public {
        return Err(BackupError::Refused(format!(
            "{}: key {} did not sign backup {} (key {})",
            path.display(),
            key.public().key_id(),
            manifest.name,
            public.key_id()
        )));
    }
    Ok(Some(key))
}

fn restore_into(
    destination: &dyn Destination,
    options: &RestoreOptions,
    manifest: &Manifest,
    public: &PublicKey,
    given_key: Option<CheckpointKey>,
) -> Result<RestoreReport, BackupError> {
    let target = &options.target;
    // Verify first: every hash, the chain, the stores.
    let mut problems = Vec::new();
    materialize(destination, manifest, target, &|_| true, &mut problems)?;
    if problems.is_empty() {
        check_copy(target, manifest, public, &mut problems)?;
    }
    if !problems.is_empty() {
        return Err(BackupError::Damaged(problems));
    }
    let key_path = target.join(paths::SIGNING_KEY);
    let key = match given_key {
        Some(key) => {
            fs::copy(
                options
                    .checkpoint_key
                    .as_deref()
                    .expect("a key given has a path"),
                &key_path,
            )
            .map_err(|e| BackupError::io(&key_path, "copy key", e))?;
            set_owner_only(&key_path)?;
            key
        }
        None => {
            set_owner_only(&key_path)?;
            CheckpointKey::load(&key_path)?
        }
    };
    for secret in paths::SECRETS {
        let path = target.join(secret);
        if path.is_file() {
            set_owner_only(&path)?;
        }
    }

    // The point in time.
    let journal_dir = target.join(paths::JOURNAL);
    let head = manifest.head_seq();
    let to_seq = match options.to {
        None => head,
        Some(PointInTime::Seq(seq)) => seq,
        Some(PointInTime::Time(ms)) => last_at_or_before(&journal_dir, ms)?,
    };
    if to_seq < manifest.first_seq || to_seq > head {
        return Err(BackupError::Refused(format!(
            "backup {} holds journal records {}..={}; record {to_seq} is not among them",
            manifest.name, manifest.first_seq, head
        )));
    }
    if to_seq < head {
        trailmark_journal::cut::truncate_after(&journal_dir, to_seq)?;
        let log = target.join(paths::CHECKPOINTS);
        let kept: Vec<String> = trailmark_journal::read_checkpoints(&log)?
            .iter()
            .filter(|c| c.seq <= to_seq)
            .map(|c| serde_json::to_string(c).expect("serializes") + "\n")
            .collect();
        fs::write(&log, kept.concat()).map_err(|e| BackupError::io(&log, "write", e))?;
    }

    // Stores no newer than the point in time.
    let (stores_from, high_water) = if manifest.stores.high_water <= to_seq {
        (Some(manifest.name.clone()), manifest.stores.high_water)
    } else {
        older_stores(destination, manifest, public, to_seq, target)?
    };

    // Reopen what the stores may lack; journal the restore; sign the head.
    let journal = Journal::open(&journal_dir, JournalOptions::default())?;
    let reopen = closed_after(&journal, high_water, manifest.first_seq)?;
    let reason = format!("restore: the stores hold outcomes up to record {high_water}");
    let records: Vec<NewRecord> = reopen
        .iter()
        .map(|(seq, rule)| NewRecord {
            kind: kind::REOPEN,
            payload: serde_json::to_vec(&ReopenRecord {
                seq: *seq,
                rule: rule.clone(),
                reason: reason.clone(),
            })
            .expect("serializes"),
        })
        .collect();
    if !records.is_empty() {
        journal.append_wait(records)?;
    }
    let event = restore_event(destination, manifest, to_seq, &stores_from, high_water);
    let pending = target.join(PENDING_RESTORE);
    fs::write(&pending, serde_json::to_vec(&event).expect("serializes"))
        .map_err(|e| BackupError::io(&pending, "write", e))?;
    let checkpoint = journal.checkpoint(&key, now_ms())?;
    CheckpointLog::open(&target.join(paths::CHECKPOINTS))?.append(&checkpoint)?;
    journal.close()?;
    info!(backup = %manifest.name, to_seq, high_water, reopened = reopen.len(),
          data = %target.display(), "restored");
    Ok(RestoreReport {
        from: destination.describe(),
        backup: manifest.name.clone(),
        data: target.display().to_string(),
        to_seq,
        stores_from,
        high_water,
        reopened: reopen.len(),
        restore_event: event.id,
    })
}

fn set_owner_only(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| BackupError::io(path, "chmod 600", e))
}

/// The last record journaled at or before `ms`.
fn last_at_or_before(journal_dir: &Path, ms: i64) -> Result<u64, BackupError> {
    let journal = Journal::open(journal_dir, JournalOptions::default())?;
    let mut last = None;
    for record in journal.read_from(journal.first_seq()) {
        let record = record?;
        if record.timestamp_ms > ms {
            break;
        }
        last = Some(record.seq);
    }
    journal.close()?;
    last.ok_or_else(|| {
        BackupError::Refused(format!(
            "no journal record in the backup is at or before {}",
            format_ms(ms)
        ))
    })
}

/// Replace the target's stores with those of the newest backup whose
/// high-water mark is at or before `to_seq`, or with none when the journal
/// starts at record 1 (everything is re-delivered from it).
fn older_stores(
    destination: &dyn Destination,
    manifest: &Manifest,
    public: &PublicKey,
    to_seq: u64,
    target: &Path,
) -> Result<(Option<String>, u64), BackupError> {
    for path in [paths::METADATA, paths::DEAD_LETTERS, paths::ARCHIVE] {
        let path = target.join(path);
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else if path.exists() {
            fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.map_err(|e| BackupError::io(&path, "remove", e))?;
    }
    let mut names = destination.list_manifests()?;
    names.retain(|n| *n != manifest.name);
    for name in names.iter().rev() {
        let Ok((older, _)) = load_signed(destination, Some(name), Some(public)) else {
            continue;
        };
        if older.stores.high_water > to_seq {
            continue;
        }
        let mut problems = Vec::new();
        let stores = |f: &super::FileEntry| paths::is_store(&f.path);
        let only_stores = Manifest {
            files: older.files.iter().filter(|f| stores(f)).cloned().collect(),
            ..older.clone()
        };
        materialize(destination, &only_stores, target, &|_| true, &mut problems)?;
        for entry in only_stores
            .files
            .iter()
            .filter(|f| f.path.ends_with(".sqlite"))
        {
            check_sqlite(&target.join(&entry.path), &entry.path, &mut problems)?;
        }
        if !problems.is_empty() {
            return Err(BackupError::Damaged(problems));
        }
        return Ok((Some(older.name), older.stores.high_water));
    }
    if manifest.first_seq == 1 {
        return Ok((None, 0));
    }
    Err(BackupError::Refused(format!(
        "record {to_seq} is before the stores of every backup at {} (the oldest kept), and the \
         journal no longer starts at record 1, so the stores cannot be rebuilt from it; restore \
         to a later point, or keep more backups",
        destination.describe()
    )))
}

/// Every (event seq, rule) delivery whose outcome was journaled after
/// `high_water`, for events still in the journal.
fn closed_after(
    journal: &Journal,
    high_water: u64,
    first_seq: u64,
) -> Result<BTreeSet<(u64, String)>, BackupError> {
    let mut closed = BTreeSet::new();
    let mut note = |seq: u64, rule: &str| {
        if seq >= first_seq {
            closed.insert((seq, rule.to_owned()));
        }
    };
    for record in journal.read_from(high_water + 1) {
        let record = record?;
        match record.kind {
            kind::OUTCOME => {
                if let Ok(outcome) = serde_json::from_slice::<OutcomeRecord>(&record.payload) {
                    note(outcome.seq, &outcome.rule);
                }
            }
            kind::OUTCOMES => {
                if let Ok(outcomes) = serde_json::from_slice::<OutcomesRecord>(&record.payload) {
                    for (rule, seqs) in &outcomes.delivered {
                        for seq in seqs {
                            note(*seq, rule);
                        }
                    }
                    for (rule, pairs) in &outcomes.dead_lettered {
                        for (seq, _) in pairs {
                            note(*seq, rule);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(closed)
}

/// The `trailmark.restore` audit event.
fn restore_event(
    destination: &dyn Destination,
    manifest: &Manifest,
    to_seq: u64,
    stores_from: &Option<String>,
    high_water: u64,
) -> Event {
    crate::ingest::host_record(
        "trailmark.restore",
        "insert",
        "trailmark restore",
        json!({
            "from": destination.describe(),
            "backup": manifest.name,
            "backup-created": manifest.created,
            "backup-head": manifest.head_seq(),
            "to-seq": to_seq,
            "stores-from": stores_from,
            "high-water": high_water,
        }),
    )
}
