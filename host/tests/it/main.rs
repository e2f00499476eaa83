//! The host's integration tests, as one test binary: each module below was
//! once a binary of its own, and linking wasmtime and the AWS SDK into each
//! of them was most of a warm build. Run one area with its module path:
//!
//! ```text
//! cargo test -p trailmark --test it                 # all of them
//! cargo test -p trailmark --test it crash::         # one module
//! cargo test -p trailmark --test it reload::rules_  # some tests of one
//! ```
//!
//! Shared helpers live in two modules: [`common`] starts a real
//! `trailmark serve` process and talks to it; [`ingest_server`] serves the
//! ingest router in-process over a recording intake. The plugin `.wasm`
//! files come from `TRAILMARK_WASM_DIR` (set by `cargo xtask test`).
//!
//! Everything here shares one process, so a test may not change it for the
//! others: no `std::env::set_var`, no global subscriber; environment for the
//! server goes on its `Command` (`Server::start_with`). The one process-wide
//! change is `hostile_edge`'s raised descriptor soft limit, which only helps
//! the tests beside it.

mod common;
mod ingest_server;
// The scripted loopback HTTP server of the backends' tests.
#[path = "../../../backends/src/test_http.rs"]
mod test_http;

mod access;
mod admin_cli;
mod auth;
mod aws_pipeline;
mod backlog;
mod backup;
mod bench_cli;
mod compat;
mod correlation;
mod crash;
mod deploy;
mod encryption;
mod encryption_aws;
mod erasure;
mod event_index;
mod faults;
mod fuzz_regressions;
mod guide;
mod hostile;
mod hostile_edge;
mod hostile_plugins;
mod http_targets;
mod http_targets_oauth;
mod http_targets_retry;
mod ingest_limits;
mod ingest_native;
mod ingest_sdk;
mod init;
mod lake;
mod lake_ocsf;
mod openapi;
mod plugin_new;
mod readme;
mod reload;
mod retention;
mod rules_cli;
mod serve_pipeline;
mod store_retention;
mod trail;
mod verify;
mod viewer;
