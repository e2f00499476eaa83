//! The archive plugin.
