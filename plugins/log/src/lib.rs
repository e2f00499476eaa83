//! The log plugin.
