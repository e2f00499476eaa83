//! Retention of the metadata store and the archive, per source and entity
//! type (`[retention]`), with legal holds that suspend it.
//!
//! - [`settings`]: the `[retention]` section and the rules it makes per store.
//! - [`holds`]: legal holds, durable in the data directory.
//! - [`pass`]: one pass, a chunk (one short transaction) at a time.
//! - [`http`]: `/v1/admin/holds`, behind the admin guard.
//!
//! Each pass that removed anything is journaled as one host event,
//! `trailmark.retention`, saying per store and rule the cutoff and how many
//! went, so the trail shows every removal. (The journal's own retention,
//! whole segments with a cut record in the chain, is `engine::retention`.)

pub mod holds;
pub mod http;
pub mod pass;
pub mod settings;

use std::sync::Arc;

use serde_json::json;
use tracing::{info, warn};
use trailmark_backend_api::when::now_ms;
use trailmark_event::Event;

use crate::engine::pipeline::Pipeline;
use pass::{PassReport, StoreRetention};

/// The `entity-type` of the record of a retention pass.
pub const ENTITY_TYPE: &str = "trailmark.retention";

/// Run a pass every `every`, journaling each that removed anything.
pub async fn retention_loop(
    retention: Arc<StoreRetention>,
    pipeline: Arc<Pipeline>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let r = retention.clone();
        let report = match tokio::task::spawn_blocking(move || r.pass(now_ms())).await {
            Ok(report) => report,
            Err(e) => {
                warn!(error = %e, "store retention task failed");
                continue;
            }
        };
        if let Some(error) = &report.error {
            warn!(error = %error, removed = report.count(), "store retention pass stopped early; the next pass goes on");
        }
        if !report.worth_recording() {
            retention.recorded();
            continue;
        }
        match pipeline
            .clone()
            .record_host_event(vec![event(&report)])
            .await
        {
            Ok(()) => {
                info!(
                    removed = report.count(),
                    "store retention removed expired records"
                );
                retention.recorded();
            }
            // The marker stays: the next pass records itself even if it
            // removes nothing.
            Err(e) => warn!(error = %e, "the store retention record could not be journaled"),
        }
    }
}

/// The `trailmark.retention` host event of a pass.
pub fn event(report: &PassReport) -> Event {
    crate::ingest::host_record(
        ENTITY_TYPE,
        "delete",
        "trailmark retention",
        json!({
            "count": report.count(),
            "removed": report.removals,
            "after-interrupted-pass": report.after_interrupted,
            "stopped-early": report.error,
        }),
    )
}
