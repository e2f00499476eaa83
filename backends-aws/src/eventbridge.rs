//! The forward capability on EventBridge: `PutEvents` to a named bus, with
//! concurrent callers' events batched together.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc, oneshot};
use trailmark_backend_api::{BackendError, BackendResult, Event, Forwarder};

use crate::bridge::Bridge;
use crate::error::{Class, classify_code, sdk_error};
use crate::sdk::AwsTarget;

/// Entries per `PutEvents` call, EventBridge's maximum.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Bytes per `PutEvents` call (and per entry), EventBridge's maximum.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// `PutEvents` calls in flight at once.
const MAX_IN_FLIGHT: usize = 4;
/// Tries per entry, counting the first, for entries that fail on their own
/// with a retryable code while their batch succeeds.
const ENTRY_ATTEMPTS: u32 = 3;
/// Events waiting for a batch; callers wait when it is full.
const QUEUE_DEPTH: usize = 256;

/// Forwards events to one EventBridge bus.
///
/// Batching has no linger: a background task takes what is waiting (up to
/// [`MAX_BATCH_ENTRIES`] entries and 256 KiB) and sends it at once, with up
/// to four calls in flight; batches grow by themselves when callers are
/// many. [`send`](Forwarder::send) returns when its own entry was accepted.
/// Entries that the answer reports failed with a retryable code
/// (throttling, internal failure) are sent again, only they, up to three
/// tries in all; the rest fail their caller with the code's classification.
///
/// EventBridge assigns a new event id, account and region: only `source`
/// (or the configured override), `detail-type`, `detail`, `resources` and
/// `time` travel.
#[derive(Debug, Clone)]
pub struct EventBridgeForwarder {
    queue: mpsc::Sender<Pending>,
    bus: String,
    source: Option<String>,
    bridge: Bridge,
}

#[derive(Debug)]
struct Pending {
    entry: PutEventsRequestEntry,
    size: usize,
    reply: oneshot::Sender<BackendResult<()>>,
}

impl EventBridgeForwarder {
    /// Connect to `bus` (a name or ARN; `default` is the account's default
    /// bus). `source`, when set, replaces every event's source. Spawns the
    /// batching task on `handle`; it ends when the forwarder is dropped.
    pub async fn connect(
        bus: &str,
        source: Option<&str>,
        target: &AwsTarget,
        handle: &Handle,
    ) -> BackendResult<Self> {
        let bridge = Bridge::new(handle)?;
        let config = target.load().await?;
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        handle.spawn(batcher(Client::new(&config), bus.to_owned(), rx));
        Ok(EventBridgeForwarder {
            queue,
            bus: bus.to_owned(),
            source: source.map(str::to_owned),
            bridge,
        })
    }

    fn entry(&self, event: &Event) -> BackendResult<(PutEventsRequestEntry, usize)> {
        let source = self.source.as_deref().unwrap_or(&event.source);
        let time = DateTime::from_str(&event.time, DateTimeFormat::DateTime).ok();
        let size = source.len()
            + event.detail_type.len()
            + event.detail.len()
            + event.resources.iter().map(String::len).sum::<usize>()
            + if time.is_some() { 14 } else { 0 };
        if size > MAX_BATCH_BYTES {
            return Err(BackendError::Invalid(format!(
                "event {} is {size} bytes as an EventBridge entry; at most {MAX_BATCH_BYTES} are allowed",
                event.id
            )));
        }
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .set_resources((!event.resources.is_empty()).then(|| event.resources.clone()))
            .set_time(time)
            .build();
        Ok((entry, size))
    }
}

impl Forwarder for EventBridgeForwarder {
    fn send(&self, event: &Event) -> BackendResult<()> {
        let (entry, size) = self.entry(event)?;
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            BackendError::Transient(format!(
                "EventBridge forwarder for bus `{}` has stopped (runtime shutting down?)",
                self.bus
            ))
        };
        self.bridge.run(async {
            self.queue
                .send(Pending { entry, size, reply })
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }
}

/// Collect waiting entries into batches and send each batch on its own task.
async fn batcher(client: Client, bus: String, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carried: Option<Pending> = None;
    loop {
        // Wait for a free slot first: entries keep arriving meanwhile, so
        // batches fill up exactly when the calls are the bottleneck.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(pending) => pending,
            None => match rx.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_ENTRIES {
            let Ok(next) = rx.try_recv() else { break };
            if bytes + next.size > MAX_BATCH_BYTES {
                carried = Some(next);
                break;
            }
            bytes += next.size;
            batch.push(next);
        }
        let client = client.clone();
        let bus = bus.clone();
        tokio::spawn(async move {
            send_batch(&client, &bus, batch).await;
            drop(slot);
        });
    }
}

/// Send `batch`, resend exactly the entries reported failed with a
/// retryable code, and answer every caller.
async fn send_batch(client: &Client, bus: &str, mut batch: Vec<Pending>) {
    let what = format!("EventBridge PutEvents `{bus}`");
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=ENTRY_ATTEMPTS {
        let entries = batch.iter().map(|p| p.entry.clone()).collect();
        // The SDK already retries whole-call throttling and 5xx answers.
        let output = match client.put_events().set_entries(Some(entries)).send().await {
            Ok(output) => output,
            Err(e) => {
                let error = sdk_error(&what, &e);
                for pending in batch {
                    let _ = pending.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let results = output.entries();
        let mut retry = Vec::new();
        for (i, pending) in batch.into_iter().enumerate() {
            let Some(result) = results.get(i) else {
                let _ = pending.reply.send(Err(BackendError::Transient(format!(
                    "{what}: no result for entry {i} in the answer"
                ))));
                continue;
            };
            let Some(code) = result.error_code() else {
                let _ = pending.reply.send(Ok(()));
                continue;
            };
            let class = classify_code(code);
            if class == Class::Transient && attempt < ENTRY_ATTEMPTS {
                retry.push(pending);
                continue;
            }
            let message = result.error_message().unwrap_or("");
            let _ = pending.reply.send(Err(
                class.into_error(format!("{what}: entry failed: {code}: {message}"))
            ));
        }
        if retry.is_empty() {
            return;
        }
        tracing::debug!(
            bus,
            failed = retry.len(),
            attempt,
            "resending failed EventBridge entries"
        );
        batch = retry;
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// `DescribeEventBus`: the bus exists and we may see it.
pub(crate) async fn check_bus(client: &Client, bus: &str) -> BackendResult<()> {
    client
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("EventBridge DescribeEventBus `{bus}`"), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    use serde_json::{Value, json};

    use super::*;
    use crate::test_http::{Reply, TestServer};

    /// A PutEvents endpoint answering `answers` in order.
    fn scripted(answers: Vec<Value>) -> TestServer {
        TestServer::start(answers.iter().map(Reply::aws_json).collect())
    }

    fn client(url: &str) -> Client {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("k", "s", None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Client::from_conf(config)
    }

    fn pending(n: usize) -> (Pending, oneshot::Receiver<BackendResult<()>>) {
        let (reply, answer) = oneshot::channel();
        let entry = PutEventsRequestEntry::builder()
            .source("s")
            .detail_type("t")
            .detail(format!(r#"{{"n":{n}}}"#))
            .build();
        (
            Pending {
                entry,
                size: 10,
                reply,
            },
            answer,
        )
    }

    fn details(body: &Value) -> Vec<String> {
        body["Entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| e["Detail"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn mixed_results_answer_each_caller_and_resend_only_the_retryable() {
        let server = scripted(vec![
            json!({"FailedEntryCount": 2, "Entries": [
                {"EventId": "a"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad detail"}
            ]}),
            json!({"FailedEntryCount": 1, "Entries": [
                {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            ]}),
            json!({"FailedEntryCount": 0, "Entries": [{"EventId": "b"}]}),
        ]);
        let (batch, answers): (Vec<_>, Vec<_>) = (0..3).map(pending).unzip();
        send_batch(&client(&server.url("")), "audit", batch).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("every caller is answered"));
        }
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Ok(()), "resent twice, then accepted");
        assert!(
            matches!(&results[2], Err(BackendError::Invalid(m)) if m.contains("MalformedDetail")),
            "{:?}",
            results[2]
        );
        let bodies = server.json_bodies();
        assert_eq!(bodies.len(), 3);
        assert_eq!(details(&bodies[0]).len(), 3);
        assert_eq!(details(&bodies[1]), [r#"{"n":1}"#]);
        assert_eq!(details(&bodies[2]), [r#"{"n":1}"#]);
    }

    #[tokio::test]
    async fn retryable_failures_give_up_after_three_tries_as_transient() {
        let throttled = json!({"FailedEntryCount": 1, "Entries": [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
        ]});
        let server = scripted(vec![throttled.clone(), throttled.clone(), throttled]);
        let (pending, answer) = pending(7);
        send_batch(&client(&server.url("")), "audit", vec![pending]).await;
        let result = answer.await.expect("answered");
        assert!(
            matches!(&result, Err(BackendError::Transient(m)) if m.contains("ThrottlingException")),
            "{result:?}"
        );
        assert_eq!(server.json_bodies().len(), 3);
    }
}
