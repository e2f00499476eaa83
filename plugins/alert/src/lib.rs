//! The alert plugin.
