//! The permission check on files that hold secrets: both the local
//! credentials and the secret files named in the config warn when group or
//! others may read them.

use std::io;
use std::path::Path;

/// The permission bits of `path` when they let group or others in.
pub(crate) fn mode_wider_than_0600(path: &Path) -> io::Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}
