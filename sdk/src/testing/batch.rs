//! Batches packed the way the host packs them.

use trailmark_event::ParsedEvent;
use trailmark_event::delivery_table::{self, BatchLists, DeliverySpans};

use crate::Event;
use crate::bindings::trailmark::plugin::types;

/// Deliveries packed into one batch, exactly as the host packs them: every
/// text appended to one byte buffer, the fields spans of it, and an
/// `Object State Change` parsed once by `trailmark_event` (the host's parser).
#[derive(Debug)]
pub struct Batch {
    wit: types::Batch,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            wit: types::Batch {
                bytes: Vec::new(),
                resources: Vec::new(),
                deliveries: Vec::new(),
            },
        }
    }
}

impl Batch {
    /// A batch of the events in EventBridge's JSON form, as in
    /// `examples/events/book-insert.json`, read by
    /// [`Event::from_envelope`](trailmark_event::Event::from_envelope): `id`,
    /// `source`, `detail-type`, `time` and `detail` are required; `account`,
    /// `region` and `resources` default to empty. The detail's text is kept
    /// as written.
    pub fn from_json(events: &[&str]) -> Result<Self, serde_json::Error> {
        let mut batch = Self::default();
        for json in events {
            batch.push_json(json)?;
        }
        Ok(batch)
    }

    /// Add an event in EventBridge's JSON form; see [`Batch::from_json`].
    pub fn push_json(&mut self, json: &str) -> Result<&mut Self, serde_json::Error> {
        Ok(self.push(trailmark_event::Event::from_envelope(json)?))
    }

    /// Add an event with the envelope of [`BOOK_UPDATE`](super::BOOK_UPDATE) (and id `e-<n>`,
    /// `n` its index) but this detail-type and detail text.
    pub fn push_detail(&mut self, detail_type: &str, detail: &str) -> &mut Self {
        let id = format!("e-{}", self.wit.deliveries.len());
        self.push(trailmark_event::Event {
            id,
            version: "0".to_owned(),
            source: "com.example.library".to_owned(),
            detail_type: detail_type.to_owned(),
            time: "2026-11-25T10:30:00Z".to_owned(),
            account: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            resources: Vec::new(),
            detail: detail.to_owned(),
        })
    }

    /// A batch of the events, as journaled.
    pub fn of(events: impl IntoIterator<Item = trailmark_event::Event>) -> Self {
        let mut batch = Self::default();
        for event in events {
            batch.push(event);
        }
        batch
    }

    /// Add an event as journaled, its state change parsed as the host does.
    pub fn push(&mut self, event: trailmark_event::Event) -> &mut Self {
        self.push_parsed(&ParsedEvent::new(event))
    }

    /// Add an event the host's way: parsed once (at ingest), then packed
    /// by the host's own packer.
    ///
    /// # Panics
    ///
    /// If the batch's texts pass 4 GiB.
    pub fn push_parsed(&mut self, parsed: &ParsedEvent) -> &mut Self {
        let mut lists = BatchLists {
            bytes: &mut self.wit.bytes,
            resources: &mut self.wit.resources,
            deliveries: &mut self.wit.deliveries,
        };
        delivery_table::pack(parsed, &mut lists).expect("a test batch is smaller than 4 GiB");
        self
    }

    /// Make the detail text of delivery `index` invalid JSON (its last byte
    /// becomes `!`) and keep what the host parsed from it: a plugin that
    /// reads only the host's fields ([`Event::state_change`],
    /// [`Event::data`]) handles it as before, one that parses the detail
    /// rejects it. For tests that a plugin parses no JSON.
    ///
    /// # Panics
    ///
    /// If there is no delivery at `index` or its detail is empty.
    pub fn break_detail(&mut self, index: usize) -> &mut Self {
        let index = u32::try_from(index).expect("a test batch has fewer than 2^32 deliveries");
        let span = DeliverySpans::read(&self.wit.deliveries, index)
            .expect("the batch has this delivery")
            .detail;
        let last = (span.start + span.len)
            .checked_sub(1)
            .filter(|_| span.len > 0)
            .expect("the detail is not empty");
        self.wit.bytes[last as usize] = b'!';
        self
    }

    /// How many deliveries the batch holds.
    pub fn len(&self) -> usize {
        self.wit.deliveries.len() / delivery_table::WORDS
    }

    /// Whether the batch holds no delivery.
    pub fn is_empty(&self) -> bool {
        self.wit.deliveries.is_empty()
    }

    /// The delivery at `index` as the plugin sees it.
    ///
    /// # Panics
    ///
    /// If there is no delivery at `index`.
    pub fn event(&self, index: usize) -> Event<'_> {
        let index = u32::try_from(index).expect("a test batch has fewer than 2^32 deliveries");
        Event::read(&self.wit, crate::event::Texts::of(&self.wit), index)
            .expect("the batch has this delivery and packed it validly")
    }

    /// The WIT record the host would hand to `handle`.
    pub(crate) fn wit(&self) -> &types::Batch {
        &self.wit
    }

    /// The WIT record, to build broken batches in the SDK's own tests.
    #[cfg(test)]
    pub(crate) fn wit_mut(&mut self) -> &mut types::Batch {
        &mut self.wit
    }
}
