//! Sandboxed plugin runtime.
