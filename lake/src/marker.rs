//! The export marker: through which journal sequence the lake is durable,
//! and the range being published when the exporter stopped.
//!
//! ```json
//! {"version": 1, "exported": 1200, "pending": 1450}
//! ```
//!
//! `exported`: every lake row of records `..=exported` is in a published
//! file. `pending`: files for `exported+1..=pending` may be partly
//! published; the exporter rebuilds exactly that range first, so the files
//! get the same names and contents, and nothing is duplicated.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::LakeError;

const VERSION: u32 = 1;

/// The marker's content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerState {
    /// Format version.
    pub version: u32,
    /// Every lake row of journal records up to this one is published.
    pub exported: u64,
    /// Files of records `exported+1..=pending` are being published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// The file: the state, and the keys of the pending range's files.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MarkerFile {
    #[serde(flatten)]
    state: MarkerState,
    #[serde(
        default,
        rename = "pending-files",
        skip_serializing_if = "Vec::is_empty"
    )]
    pending_files: Vec<String>,
}

/// The marker file.
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
    state: MarkerState,
    pending_files: Vec<String>,
}

impl Marker {
    /// Read the marker at `path`; a missing file is a lake that has
    /// exported nothing.
    pub fn open(path: &Path) -> Result<Marker, LakeError> {
        let file = match fs::read(path) {
            Ok(bytes) => {
                let file: MarkerFile =
                    serde_json::from_slice(&bytes).map_err(|e| LakeError::Marker {
                        path: path.to_path_buf(),
                        problem: e.to_string(),
                    })?;
                if file.state.version != VERSION {
                    return Err(LakeError::Marker {
                        path: path.to_path_buf(),
                        problem: format!(
                            "version {} (this build writes {VERSION})",
                            file.state.version
                        ),
                    });
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MarkerFile {
                state: MarkerState {
                    version: VERSION,
                    ..MarkerState::default()
                },
                pending_files: Vec::new(),
            },
            Err(e) => return Err(LakeError::io(path)(e)),
        };
        Ok(Marker {
            path: path.to_path_buf(),
            state: file.state,
            pending_files: file.pending_files,
        })
    }

    /// The keys of the files the pending range was publishing.
    pub fn pending_files(&self) -> &[String] {
        &self.pending_files
    }

    /// What it says now.
    pub fn state(&self) -> MarkerState {
        self.state
    }

    /// Replace it, durably (temp file, fsync, rename, fsync of the
    /// directory).
    pub fn write(&mut self, exported: u64, pending: Option<u64>) -> Result<(), LakeError> {
        self.write_pending(exported, pending, Vec::new())
    }

    /// [`Marker::write`], with the keys of the files the pending range
    /// publishes.
    pub fn write_pending(
        &mut self,
        exported: u64,
        pending: Option<u64>,
        files: Vec<String>,
    ) -> Result<(), LakeError> {
        let state = MarkerState {
            version: VERSION,
            exported,
            pending,
        };
        let content = MarkerFile {
            state,
            pending_files: files,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
        let text = serde_json::to_vec(&content).map_err(|e| LakeError::Marker {
            path: self.path.clone(),
            problem: e.to_string(),
        })?;
        trailmark_durable_file::Replace::new(&self.path)
            .temp_path(self.path.with_extension("json.tmp"))
            .write(&text)?;
        self.state = state;
        self.pending_files = content.pending_files;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_marker_reads_back_and_a_missing_one_is_zero() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lake-marker.json");
        assert_eq!(Marker::open(&path).expect("opens").state().exported, 0);
        let mut marker = Marker::open(&path).expect("opens");
        marker
            .write_pending(5, Some(9), vec!["changes/dt=x/part-a.parquet".into()])
            .expect("writes");
        let again = Marker::open(&path).expect("opens");
        assert_eq!(again.pending_files(), ["changes/dt=x/part-a.parquet"]);
        let again = again.state();
        assert_eq!((again.exported, again.pending), (5, Some(9)));
        fs::write(&path, b"{").expect("writes");
        let error = Marker::open(&path).expect_err("a torn marker is refused");
        assert!(error.to_string().contains("lake-marker.json"), "{error}");
    }
}
