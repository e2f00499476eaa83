//! The `trailmark:plugin@0.2.x` world (`sdk/wit/world.wit`): batches of
//! deliveries packed into one buffer, answers per delivery, config once.
//!
//! A batch is packed so that lowering it into the guest costs three
//! allocations and three copies whatever its size: every text of every event
//! goes into one byte buffer (`bytes`), and each delivery is a row of `u32`
//! words of spans into it ([`trailmark_event::delivery_table`]), a list of
//! integers that crosses as one copy where a list of records is stored field
//! by field. Texts come from the parsed event as they are: the `detail` and
//! its `data` exactly as journaled, never re-serialized.

use std::sync::Arc;

use trailmark_backend_api::{Event, HttpRequest, Notification};
use trailmark_event::ParsedEvent;
use trailmark_event::delivery_table::{self, BatchLists, TooLarge};

use crate::denial;
use crate::host::{Answer, HostState};

/// Host bindings generated from `sdk/wit` (world `plugin`); synchronous.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "plugin",
    });
}

use bindings::trailmark::plugin::types::{Batch, HostError, Outcome};
use bindings::trailmark::plugin::{archive, forward, http, log, metadata, notify, outcomes, types};

/// A fresh, empty batch (kept per instance and reused: packing clears it).
pub(crate) fn empty_batch() -> Batch {
    Batch {
        bytes: Vec::new(),
        resources: Vec::new(),
        deliveries: Vec::new(),
    }
}

/// Pack `events` into `batch`, replacing what it held.
pub(crate) fn pack(events: &[Arc<ParsedEvent>], batch: &mut Batch) -> Result<(), TooLarge> {
    batch.bytes.clear();
    batch.resources.clear();
    batch.deliveries.clear();
    let total: usize = events
        .iter()
        .map(|p| {
            let e = p.event();
            e.id.len()
                + e.source.len()
                + e.detail_type.len()
                + e.time.len()
                + e.account.len()
                + e.region.len()
                + e.detail.len()
                + e.resources.iter().map(String::len).sum::<usize>()
                + 256
        })
        .sum();
    batch.bytes.reserve(total);
    batch
        .deliveries
        .reserve(events.len() * delivery_table::WORDS);
    let mut lists = BatchLists {
        bytes: &mut batch.bytes,
        resources: &mut batch.resources,
        deliveries: &mut batch.deliveries,
    };
    for parsed in events {
        delivery_table::pack(parsed, &mut lists)?;
    }
    Ok(())
}

denial::host_error_from_denial!(HostError);

impl types::Host for HostState {}

impl outcomes::Host for HostState {
    fn answer(&mut self, index: u32, outcome: Outcome) {
        let answer = match outcome {
            Outcome::Ok => Answer::Ok,
            Outcome::Retry(reason) => Answer::Retry(reason),
            Outcome::Reject(reason) => Answer::Reject(reason),
        };
        HostState::answer(self, index, answer);
    }
}

impl archive::Host for HostState {
    fn put(
        &mut self,
        index: u32,
        key: String,
        body: Vec<u8>,
        content_type: String,
    ) -> Result<(), HostError> {
        Ok(self.archive_put(index, key, body, content_type)?)
    }

    fn get(&mut self, index: u32, key: String) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.archive_get(index, &key)?)
    }
}

impl metadata::Host for HostState {
    fn put(
        &mut self,
        index: u32,
        archive_key: Option<String>,
        attributes: String,
    ) -> Result<(), HostError> {
        Ok(self.metadata_put(index, |d| d.own_claim(archive_key, attributes))?)
    }
}

impl notify::Host for HostState {
    fn publish(
        &mut self,
        index: u32,
        channel: String,
        subject: String,
        message: String,
        attributes: Vec<(String, String)>,
    ) -> Result<(), HostError> {
        let notification = Notification {
            channel,
            subject,
            message,
            attributes,
        };
        Ok(self.notify_publish(index, notification)?)
    }
}

impl forward::Host for HostState {
    fn send(
        &mut self,
        index: u32,
        destination: String,
        detail: Option<String>,
        resources: Option<Vec<String>>,
    ) -> Result<(), HostError> {
        Ok(self.forward_send(index, &destination, |own| Event {
            detail: detail.unwrap_or_else(|| own.detail.clone()),
            resources: resources.unwrap_or_else(|| own.resources.clone()),
            ..own.clone()
        })?)
    }
}

impl http::Host for HostState {
    fn send(&mut self, index: u32, request: http::Request) -> Result<http::Response, HostError> {
        let http::Request {
            method,
            destination,
            path,
            headers,
            body,
        } = request;
        let request = HttpRequest {
            method,
            path,
            headers,
            body,
        };
        let response = self.http_send(index, &destination, request)?;
        Ok(http::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        self.log_write(level as u8, &message);
    }
}

#[cfg(test)]
mod tests {
    use trailmark_event::delivery_table::{DeliverySpans, KindSpans, Span};

    use super::*;

    fn parsed(detail_type: &str, detail: &str, resources: &[&str]) -> Arc<ParsedEvent> {
        Arc::new(ParsedEvent::new(Event {
            id: "e-1".into(),
            version: "0".into(),
            source: "com.example".into(),
            detail_type: detail_type.into(),
            time: "2026-11-25T10:30:00Z".into(),
            account: "1".into(),
            region: "r".into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            detail: detail.into(),
        }))
    }

    fn text(batch: &Batch, span: Span) -> &str {
        // Spans of the delivery table index `bytes`.
        let range = span.start as usize..(span.start + span.len) as usize;
        std::str::from_utf8(&batch.bytes[range]).expect("utf-8")
    }

    #[test]
    fn packs_fields_resources_and_raw_data() {
        let detail = r#"{"entity-type":"book","entity-id":42,"operation":"update","ts":7,
                         "author":"ann","data": { "title" : "Dune" }}"#;
        let events = [
            parsed("Object State Change", detail, &["arn:a", "arn:b"]),
            parsed("Login", r#"{"user":"x"}"#, &[]),
            parsed("Object State Change", "{}", &["arn:c"]),
        ];
        let mut batch = empty_batch();
        batch.bytes.extend_from_slice(b"stale");
        pack(&events, &mut batch).expect("packs");
        assert_eq!(batch.deliveries.len(), 3 * delivery_table::WORDS);
        let row = |i| DeliverySpans::read(&batch.deliveries, i).expect("a row");
        let first = row(0);
        assert_eq!(text(&batch, first.id), "e-1");
        assert_eq!(text(&batch, first.detail), detail);
        let r = first.resources;
        let resources: Vec<&str> = batch.resources
            [2 * r.start as usize..2 * (r.start + r.len) as usize]
            .chunks_exact(2)
            .map(|pair| {
                text(
                    &batch,
                    Span {
                        start: pair[0],
                        len: pair[1],
                    },
                )
            })
            .collect();
        assert_eq!(resources, ["arn:a", "arn:b"]);
        let KindSpans::StateChange(change) = first.kind else {
            panic!("a state change");
        };
        assert_eq!(text(&batch, change.entity_id), "42");
        assert_eq!(change.ts, 7);
        assert_eq!(
            text(&batch, change.data.expect("data")),
            r#"{ "title" : "Dune" }"#
        );
        assert!(matches!(row(1).kind, KindSpans::Other));
        let KindSpans::InvalidStateChange(reason) = row(2).kind else {
            panic!("invalid");
        };
        assert!(text(&batch, reason).contains("missing"));
        let third = row(2).resources;
        assert_eq!((third.start, third.len), (2, 1));
    }
}
