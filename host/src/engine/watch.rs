//! Watch the rules and plugins directories and reload when files settle.
//!
//! Editors save in bursts (write a temp file, rename it over, touch
//! metadata); a reload runs once the directory has been quiet for
//! [`SETTLE`], so a half-written file is never read. SIGHUP forces a reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::reload::Reloader;

/// Quiet time after the last file event before reloading.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);

/// Start watching `dirs`, each with its subdirectories when its flag says
/// so (the rules directory: its `destinations/` and `connections/`); the
/// returned watcher must be kept alive.
pub(crate) fn start(
    dirs: Vec<(PathBuf, bool)>,
    reloader: Arc<Reloader>,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(e) if !e.kind.is_access() => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "file watcher error"),
        })?;
    for (dir, recursive) in &dirs {
        let mode = if *recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(dir, mode)?;
        info!(dir = %dir.display(), "watching for changes");
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: wait until no event arrives for SETTLE.
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            reloader.reload("files changed").await;
        }
    });
    Ok(watcher)
}

/// Reload on SIGHUP.
pub(crate) fn on_sighup(reloader: Arc<Reloader>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            warn!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            reloader.reload("SIGHUP").await;
        }
    });
    #[cfg(not(unix))]
    let _ = reloader;
}
