//! The metadata plugin.
