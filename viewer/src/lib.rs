//! Placeholder while building.
pub mod diff;
pub mod explain;
pub mod search;
pub mod when;
