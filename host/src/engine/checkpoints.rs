//! Signed checkpoints of the journal head, made at intervals and at shutdown.
//!
//! The Ed25519 key lives in `<data>/checkpoint.key` (mode 0600, created on
//! first start) with its public half in `<data>/checkpoint.key.pub`; each
//! checkpoint is a line of `<data>/checkpoints.jsonl`. Copy both files
//! somewhere the host cannot write (`trailmark checkpoints export`) and
//! `trailmark verify --checkpoints FILE --public-key FILE` proves that every
//! record a checkpoint signed is still in the journal, unchanged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use tracing::{info, warn};
use trailmark_journal::{CheckpointKey, CheckpointLog, Journal};

use trailmark_backend_api::when::now_ms;

/// The signing key's file name in the data directory.
pub const KEY_FILE: &str = "checkpoint.key";
/// The checkpoint log's file name in the data directory.
pub const LOG_FILE: &str = "checkpoints.jsonl";

/// The public key file next to the signing key.
pub fn public_key_path(data: &Path) -> PathBuf {
    trailmark_journal::public_path(&data.join(KEY_FILE))
}

/// Signs the journal head into the checkpoint log.
pub struct Checkpointer {
    journal: Arc<Journal>,
    key: CheckpointKey,
    log: Mutex<CheckpointLog>,
}

impl Checkpointer {
    /// Load (or create, on first start) the key and open the log in `data`.
    pub fn open(data: &Path, journal: Arc<Journal>) -> Result<Checkpointer> {
        let key_path = data.join(KEY_FILE);
        let (key, created) = CheckpointKey::load_or_create(&key_path)
            .with_context(|| format!("loading the checkpoint key {}", key_path.display()))?;
        if created {
            info!(
                key = %key_path.display(),
                public_key = %public_key_path(data).display(),
                "created the checkpoint signing key"
            );
        }
        let log_path = data.join(LOG_FILE);
        let log = CheckpointLog::open(&log_path)
            .with_context(|| format!("opening the checkpoint log {}", log_path.display()))?;
        Ok(Checkpointer {
            journal,
            key,
            log: Mutex::new(log),
        })
    }

    /// Sign the durable head unless the last checkpoint already covers it.
    /// Blocking (it waits for the journal's fsync): call from a blocking thread.
    pub fn checkpoint(&self) -> Result<Option<u64>> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let head = self.journal.head().seq;
        if head == 0 || log.last().map(|c| c.seq) == Some(head) {
            return Ok(None);
        }
        let checkpoint = self
            .journal
            .checkpoint(&self.key, now_ms())
            .context("signing the journal head")?;
        log.append(&checkpoint)
            .with_context(|| format!("appending to {}", log.path().display()))?;
        Ok(Some(checkpoint.seq))
    }

    /// A backup manifest, signed with the checkpoint key.
    pub fn sign_manifest(&self, manifest: &crate::backup::Manifest) -> Vec<u8> {
        manifest.sign(&self.key)
    }

    /// The last checkpoint signed, if any.
    pub fn last(&self) -> Option<trailmark_journal::Checkpoint> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    /// Checkpoint every `interval` until the task is aborted.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.checkpoint()).await {
                Ok(Ok(Some(seq))) => tracing::debug!(seq, "journal head checkpointed"),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => warn!(
                    error = format!("{e:#}"),
                    "cannot checkpoint the journal head"
                ),
                Err(e) => warn!(error = %e, "checkpoint task failed"),
            }
        }
    }
}
