//! Trailmark host library: everything the `trailmark` binary does, as
//! modules the tests and benchmarks call directly.
//!
//! Data flows forward: ingest → journal → rules (matcher) → dispatch →
//! runtime → backends; query and admin read from the backends. `server`
//! assembles them into `trailmark serve`; `cli` is the command line.

pub mod at_rest;
pub mod backup;
pub mod cli;
pub mod config;
pub mod correlation;
pub mod dispatch;
pub mod engine;
pub mod ingest;
pub mod lake;
pub mod metrics;
pub mod query;
pub mod rules;
#[cfg(feature = "aws")]
mod s3_prefix;
pub mod server;
pub mod store_retention;
pub mod subjects;
pub mod targets;
