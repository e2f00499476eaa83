//! Points in time as users write them: the one grammar of
//! [`trailmark_backend_api::when`], which the viewer reads too.

pub use trailmark_backend_api::when::{format_ms, now_ms, parse_time_ms, to_ms};
