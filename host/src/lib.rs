//! Trailmark host library.
