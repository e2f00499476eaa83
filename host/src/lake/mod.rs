//! The host's side of the data lake (`trailmark-lake` does the files):
//! the `[lake]` settings, the exporter that follows the journal, and
//! `trailmark sql` over the embedded store.

pub mod export;
#[cfg(feature = "aws")]
pub mod s3;
pub mod settings;
pub mod sql;

pub use export::LakeExport;
pub use settings::LakeSettings;

use std::path::Path;
use std::sync::Arc;

use trailmark_lake::{DirStore, LakeError, LakeStore};

/// The lake `settings` name: `s3` when set (with the `aws` feature), else
/// the directory.
pub fn open_store(settings: &LakeSettings, data: &Path) -> Result<Arc<dyn LakeStore>, LakeError> {
    match &settings.s3 {
        #[cfg(feature = "aws")]
        Some(url) => Ok(Arc::new(s3::S3Store::open(url)?)),
        #[cfg(not(feature = "aws"))]
        Some(url) => Err(LakeError::Invalid(format!(
            "[lake] s3 = \"{url}\" needs a build with the `aws` feature"
        ))),
        None => Ok(Arc::new(DirStore::open(&settings.dir(data))?)),
    }
}
