//! `[lake]` in trailmark.toml: where the lake is and when its files close.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use trailmark_backend_api::units;
use trailmark_lake::{ExportOptions, Partitioning};

/// `[lake]`: the data lake the `target: lake` rules fill (docs/lake.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LakeSettings {
    /// Export at all (default on; with no `target: lake` rule the exporter
    /// only follows the journal).
    pub enabled: bool,
    /// The lake's directory (default `<data>/lake`).
    pub dir: Option<PathBuf>,
    /// The lake in S3 instead: `s3://BUCKET/PREFIX` (the `aws` build).
    pub s3: Option<String>,
    /// Close the open files once their rows take this much, before
    /// compression (default 64MiB).
    #[serde(deserialize_with = "units::bytes")]
    pub max_file_size: u64,
    /// Close the open files once the oldest row has waited this long
    /// (default 15m).
    #[serde(deserialize_with = "units::duration")]
    pub max_file_age: Duration,
    /// Partition levels: `dt` (default) or `source,dt`.
    pub partition_by: String,
}

impl Default for LakeSettings {
    fn default() -> Self {
        let export = ExportOptions::default();
        LakeSettings {
            enabled: true,
            dir: None,
            s3: None,
            max_file_size: export.max_bytes,
            max_file_age: export.max_age,
            partition_by: "dt".to_owned(),
        }
    }
}

impl LakeSettings {
    /// Every value in range, or the first key that is not (`(key, why)`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_file_size < 1024 {
            return Err(("max-file-size", "must be at least 1KiB".into()));
        }
        if let Some(url) = &self.s3
            && (!url.starts_with("s3://") || url.len() <= "s3://".len())
        {
            return Err(("s3", format!("`{url}` is not s3://BUCKET/PREFIX")));
        }
        if self.max_file_age.is_zero() {
            return Err(("max-file-age", "must be longer than 0s".into()));
        }
        Partitioning::parse(&self.partition_by)
            .map(|_| ())
            .map_err(|e| ("partition-by", e.to_string()))
    }

    /// The lake's directory.
    pub fn dir(&self, data: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data.join("lake"))
    }

    /// The export marker: in the data directory, beside the journal it
    /// points into.
    pub fn marker(data: &Path) -> PathBuf {
        data.join("lake-export.json")
    }

    /// The exporter's options.
    pub fn export_options(&self) -> ExportOptions {
        ExportOptions {
            max_bytes: self.max_file_size,
            max_age: self.max_file_age,
            partitioning: Partitioning::parse(&self.partition_by).unwrap_or_default(),
        }
    }
}
