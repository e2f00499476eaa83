//! The one error type: which step failed, on which path, and why.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failed step of a durable write. The fields are public so that a caller
/// keeps its own error type with one `map_err`:
/// `.map_err(|e| MyError::io(e.path, e.step.as_str(), e.source))`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {step}: {source}", path.display())]
pub struct Error {
    /// The path the step acted on: the temp file, the target, or the directory.
    pub path: PathBuf,
    /// What was being done.
    pub step: Step,
    /// What the operating system said.
    pub source: io::Error,
}

impl Error {
    pub(crate) fn at(path: impl Into<PathBuf>, step: Step) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error { path, step, source }
    }

    /// An [`io::Error`] of the same kind whose message names the path and the
    /// step. Its errno is not kept (`raw_os_error()` is `None`): a caller that
    /// tells errors apart by errno (a full disk from a failure) reads
    /// [`Error::source`] instead. There is deliberately no `From` conversion,
    /// so that loss is visible where it happens.
    pub fn into_io(self) -> io::Error {
        io::Error::new(self.source.kind(), self)
    }
}

/// The steps of a durable write, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating (opening) the temp file or the new file.
    Create,
    /// Setting the file's mode.
    SetMode,
    /// Writing the bytes.
    Write,
    /// Fsyncing the file's bytes.
    SyncFile,
    /// Renaming the temp file over the target.
    Rename,
    /// Hard-linking the temp file to the target (which must not exist).
    Link,
    /// Removing the temp file after the link.
    RemoveTemp,
    /// Fsyncing the directory, so that the new entry survives a crash.
    SyncDir,
}

impl Step {
    /// A few words for messages: `"rename into place"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::SetMode => "set mode",
            Step::Write => "write",
            Step::SyncFile => "fsync",
            Step::Rename => "rename into place",
            Step::Link => "link into place",
            Step::RemoveTemp => "remove temp file",
            Step::SyncDir => "fsync directory",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
