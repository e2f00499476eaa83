//! The host's side of the data lake (`trailmark-lake` does the files):
//! the `[lake]` settings, the exporter that follows the journal, and
//! `trailmark sql` over the embedded store.

pub mod export;
pub mod settings;
pub mod sql;

pub use export::LakeExport;
pub use settings::LakeSettings;
