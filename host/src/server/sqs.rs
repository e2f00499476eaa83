//! The SQS ingest source: take events from a queue (the usual target of an
//! EventBridge rule), journal them durably, and only then delete the messages.
//! Several hosts sharing one queue split the work with no coordination of
//! our own; a message redelivered after a crash is absorbed by the metadata
//! store's idempotency on the event id.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use trailmark_backends_aws::{SqsSource, SqsSourceConfig};

use crate::ingest::{Intake, IntakeError};

/// Poll the queue until the task is aborted.
pub(crate) async fn run(config: SqsSourceConfig, intake: Arc<dyn Intake>) {
    let source: SqsSource = loop {
        match config.connect().await {
            Ok(s) => break s,
            Err(e) => {
                warn!(queue = %config.queue_url, error = %e, "cannot connect to the SQS queue; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    info!(queue = %config.queue_url, "taking events from SQS");
    let mut backoff = Duration::from_millis(100);
    loop {
        let messages = match source.receive(10).await {
            Ok(m) => m,
            Err(e) => {
                warn!(queue = %config.queue_url, error = %e, "SQS receive failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let mut events = Vec::new();
        let mut receipts = Vec::new();
        for m in messages {
            match m.event {
                // Anyone who may put on the bus could have written it; only
                // this host writes `trailmark` records. `aws.*` events come
                // from AWS services through the bus and are taken.
                Ok(event) if event.source == crate::ingest::HOST_SOURCE => {
                    warn!(message_id = %m.message_id, "SQS event claims the reserved source `trailmark`; left on the queue")
                }
                Ok(event) => {
                    events.push(event);
                    receipts.push(m.receipt);
                }
                // Left on the queue: its redrive policy moves it to the queue's
                // own dead-letter queue after maxReceiveCount.
                Err(e) => {
                    warn!(message_id = %m.message_id, error = %e, "SQS message is not an event; left on the queue")
                }
            }
        }
        if events.is_empty() {
            continue;
        }
        match intake.submit(events).await {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                if let Err(e) = source.delete(&receipts).await {
                    // Redelivered later; the event id makes that harmless.
                    warn!(error = %e, "cannot delete journaled SQS messages; they will be received again");
                }
            }
            Err(IntakeError::Busy) => {
                // Not deleted: SQS makes them visible again after the timeout.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                warn!(error = %e, "cannot journal SQS events; they stay on the queue");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
