//! A small real disk for the fault tests: a tmpfs of a chosen size mounted
//! on one of the server's directories (needs root with CAP_SYS_ADMIN), so a
//! write finds it full (`ENOSPC`) as on a real full disk; `remount` frees
//! space while the server runs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
pub(crate) struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `size` at `at` (made first, with its parents);
    /// None, saying the test is skipped, when this process may not mount.
    pub(crate) fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .ok()?;
        if !mounted.status.success() {
            eprintln!(
                "cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&mounted.stderr).trim()
            );
            crate::common::skip_unless_required(
                "TRAILMARK_FAULT_MOUNTS",
                "permission to mount a tmpfs",
            );
            return None;
        }
        Some(Tmpfs { at: at.to_owned() })
    }

    /// Give it `size` in all: the space an operator frees.
    pub(crate) fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.at)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}
