//! Trailmark plugin SDK.
