//! Replacing a file through a synced temp file.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Step, parent, sync_dir};

/// How many unique temp names to try before giving up: a clash means a file
/// a crashed process left under the same pid drew the same random number.
const UNIQUE_TRIES: u32 = 8;

/// Replaces (or creates) a file durably and atomically:
///
/// 1. create a temp file in the target's directory (`read`+`write`; a unique
///    name, or a fixed one the caller's recovery code knows);
/// 2. write the bytes;
/// 3. fsync the temp file;
/// 4. rename it over the target;
/// 5. fsync the directory.
///
/// After a crash:
/// - during steps 1 to 3: the target is untouched (the old file, or none);
///   the temp file may be left, empty or partial. With a fixed name the next
///   replace truncates and reuses it; unique names (`.<name>-<pid>-<random>.tmp`
///   by default, see [`Replace::temp_affixes`]) are for the caller's start-up
///   cleanup to remove.
/// - after step 4, before step 5 returns: the target is the old file or the
///   new one, each whole (without step 3 it could be the new name with no
///   bytes).
/// - after [`Pending::commit`] returns: the target holds the new bytes.
///
/// A failure before the rename removes the temp file (best effort) and
/// leaves the target untouched; so does dropping a [`Pending`] uncommitted.
#[derive(Debug, Clone)]
pub struct Replace<'a> {
    path: &'a Path,
    temp: Temp,
    mode: Option<u32>,
}

#[derive(Debug, Clone)]
enum Temp {
    Unique { prefix: String, suffix: String },
    Fixed(PathBuf),
}

impl<'a> Replace<'a> {
    /// Replace `path`, through a unique temp file `.<name>-<pid>-<random>.tmp`
    /// beside it, with the process's default mode.
    pub fn new(path: &'a Path) -> Replace<'a> {
        Replace {
            path,
            temp: Temp::Unique {
                prefix: ".".to_owned(),
                suffix: ".tmp".to_owned(),
            },
            mode: None,
        }
    }

    /// A unique temp name `<prefix><name>-<pid>-<random><suffix>`, for
    /// cleanup code that looks for a prefix or a suffix (`".tmp-"`, `""`).
    pub fn temp_affixes(mut self, prefix: &str, suffix: &str) -> Replace<'a> {
        self.temp = Temp::Unique {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        };
        self
    }

    /// A fixed temp path, which must be in the target's directory: a temp file
    /// left there by a crash is truncated and reused rather than piling up.
    /// Two writers of one target must not run at once.
    pub fn temp_path(mut self, temp: impl Into<PathBuf>) -> Replace<'a> {
        self.temp = Temp::Fixed(temp.into());
        self
    }

    /// Give the new file exactly `mode` (unix; ignored elsewhere): set when the
    /// temp file is created and again after (the umask filters the first, and
    /// a reused fixed temp file keeps its old mode).
    pub fn mode(mut self, mode: u32) -> Replace<'a> {
        self.mode = Some(mode);
        self
    }

    /// Replaces the target with `bytes`: every step, then returns.
    pub fn write(self, bytes: &[u8]) -> Result<(), Error> {
        let mut pending = self.begin()?;
        pending.write_with(|file| file.write_all(bytes))?;
        pending.commit().map(drop)
    }

    /// Creates the temp file (step 1); write it through the [`Pending`], then
    /// [`Pending::commit`].
    pub fn begin(self) -> Result<Pending, Error> {
        let dir = parent(self.path).to_path_buf();
        let mut options = File::options();
        options.read(true).write(true);
        let (temp, file) = match self.temp {
            Temp::Fixed(temp) => {
                options.create(true).truncate(true);
                let file = open(&options, &temp, self.mode)?;
                (temp, file)
            }
            Temp::Unique { prefix, suffix } => {
                options.create_new(true);
                let name = self.path.file_name().unwrap_or_default().to_string_lossy();
                let mut tries = 0;
                loop {
                    let temp = dir.join(format!(
                        "{prefix}{name}-{}-{:016x}{suffix}",
                        std::process::id(),
                        random()
                    ));
                    match open(&options, &temp, self.mode) {
                        Ok(file) => break (temp, file),
                        Err(e) if e.source.kind() == ErrorKind::AlreadyExists => {
                            tries += 1;
                            if tries == UNIQUE_TRIES {
                                return Err(e);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        Ok(Pending {
            file,
            guard: TempGuard { temp, armed: true },
            path: self.path.to_path_buf(),
            dir,
        })
    }
}

/// A temp file being written; the target is untouched until
/// [`Pending::commit`]. Dropped uncommitted, it removes the temp file.
#[derive(Debug)]
pub struct Pending {
    file: File,
    guard: TempGuard,
    path: PathBuf,
    dir: PathBuf,
}

impl Pending {
    /// The temp file, open for reading and writing.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Where the temp file is.
    pub fn temp_path(&self) -> &Path {
        &self.guard.temp
    }

    /// Runs `write` on the temp file; its error becomes a [`Step::Write`]
    /// error naming the temp file.
    pub fn write_with<T>(
        &mut self,
        write: impl FnOnce(&mut File) -> io::Result<T>,
    ) -> Result<T, Error> {
        write(&mut self.file).map_err(Error::at(&self.guard.temp, Step::Write))
    }

    /// Steps 3 to 5: fsyncs the temp file, renames it over the target, fsyncs
    /// the directory. Returns the file (now the target's), still open.
    pub fn commit(mut self) -> Result<File, Error> {
        let temp = &self.guard.temp;
        self.file
            .sync_all()
            .map_err(Error::at(temp, Step::SyncFile))?;
        fs::rename(temp, &self.path).map_err(Error::at(&self.path, Step::Rename))?;
        self.guard.armed = false;
        sync_dir(&self.dir)?;
        Ok(self.file)
    }

    /// Like [`Pending::commit`], but only if the target does not exist: the
    /// temp file is hard-linked to it (which fails rather than replace a file
    /// another process created meanwhile), then removed, then the directory
    /// fsynced. `Ok(false)` when the target existed (it is left as it was).
    ///
    /// After a crash the target is missing or whole, never partial; the temp
    /// file may be left until the directory's fsync.
    pub fn commit_new(self) -> Result<bool, Error> {
        let temp = &self.guard.temp;
        self.file
            .sync_all()
            .map_err(Error::at(temp, Step::SyncFile))?;
        let linked = match fs::hard_link(temp, &self.path) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::at(&self.path, Step::Link)(e)),
        };
        let mut guard = self.guard;
        guard.armed = false;
        fs::remove_file(&guard.temp).map_err(Error::at(&guard.temp, Step::RemoveTemp))?;
        if linked {
            sync_dir(&self.dir)?;
        }
        Ok(linked)
    }
}

/// Removes the temp file unless disarmed.
#[derive(Debug)]
struct TempGuard {
    temp: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Opens `path` with `options`, giving a new file `mode` exactly (unix).
pub(crate) fn open(options: &OpenOptions, path: &Path, mode: Option<u32>) -> Result<File, Error> {
    let mut options = options.clone();
    #[cfg(unix)]
    if let Some(mode) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    }
    let file = options.open(path).map_err(Error::at(path, Step::Create))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(Error::at(path, Step::SetMode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// A random number for temp names, from the standard library's randomly
/// keyed hasher and a process-wide counter (no two calls alike in a process).
fn random() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}
