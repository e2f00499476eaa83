//! The event a plugin handles: a borrowed view of one delivery of a batch.

use std::cell::OnceCell;
use std::fmt;

use serde_json::Value;
use trailmark_event::STATE_CHANGE;
use trailmark_event::delivery_table::{DeliverySpans, KindSpans, Span};

use crate::bindings::trailmark::plugin::types::Batch;
use crate::{Operation, PluginError};

/// One delivery of a batch: an event in the Amazon EventBridge envelope, as
/// the host received and journaled it.
///
/// Every text is borrowed from the batch the host handed over; nothing is
/// copied or parsed to build it. For an `Object State Change` the host has
/// already parsed the detail: [`state_change`](Self::state_change) returns
/// its typed fields and [`data`](Self::data) the raw JSON text of
/// `detail.data`. Only [`detail_json`](Self::detail_json) parses the detail,
/// once per event, for plugins that need arbitrary paths.
///
/// The capability calls a plugin makes for this delivery are methods of the
/// event ([`archive_put`](Self::archive_put), [`metadata_put`](Self::metadata_put),
/// [`notify`](Self::notify), [`forward`](Self::forward)), so the host always
/// knows which delivery a call is for.
pub struct Event<'a> {
    pub(crate) index: u32,
    id: &'a str,
    source: &'a str,
    detail_type: &'a str,
    time: &'a str,
    account: &'a str,
    region: &'a str,
    resources: Vec<&'a str>,
    detail: &'a str,
    kind: Kind<'a>,
    detail_json: OnceCell<Result<Value, PluginError>>,
}

/// What the host made of the detail.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Other,
    StateChange(StateChange<'a>),
    Invalid(&'a str),
}

/// One change to one entity: the typed fields of a valid
/// `Object State Change` detail, as the host parsed them at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange<'a> {
    /// The kind of entity, e.g. `book` (never empty).
    pub entity_type: &'a str,
    /// The entity's id; a number in the detail becomes its decimal text.
    pub entity_id: &'a str,
    /// What happened to it.
    pub operation: Operation,
    /// When it happened, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who made the change (never empty).
    pub author: &'a str,
    /// The raw JSON text of `detail.data` (the entity's body after the
    /// change) exactly as journaled; `None` only for a delete without data.
    pub data: Option<&'a str>,
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("index", &self.index)
            .field("id", &self.id)
            .field("source", &self.source)
            .field("detail_type", &self.detail_type)
            .field("time", &self.time)
            .field("detail", &self.detail)
            .finish_non_exhaustive()
    }
}

/// The host handed over a span that is not valid UTF-8 inside the batch.
fn bad_span(index: u32, field: &str, span: Span) -> PluginError {
    PluginError::reject(format!(
        "delivery {index}: the host's span for `{field}` (start {}, len {}) is not UTF-8 text \
         inside the batch; this is a host bug, please report it",
        span.start, span.len
    ))
}

/// A batch's byte buffer, to read its spans from.
#[derive(Clone, Copy)]
pub(crate) enum Texts<'a> {
    /// The whole buffer is UTF-8 (checked once): a span is text when it is
    /// in range and starts and ends on character boundaries.
    Whole(&'a str),
    /// Some byte is not UTF-8 (a host bug): each span is checked on its own.
    Bytes(&'a [u8]),
}

impl<'a> Texts<'a> {
    /// The texts of `batch`, its buffer checked once. Checking each of a
    /// delivery's ten or so spans on its own cost more than the whole
    /// buffer in one pass (every check has its setup).
    pub(crate) fn of(batch: &'a Batch) -> Self {
        match std::str::from_utf8(&batch.bytes) {
            Ok(all) => Texts::Whole(all),
            Err(_) => Texts::Bytes(&batch.bytes),
        }
    }

    /// The text of `span`, if it is in range and UTF-8.
    fn get(self, span: Span) -> Option<&'a str> {
        let start = usize::try_from(span.start).ok()?;
        let end = start.checked_add(usize::try_from(span.len).ok()?)?;
        match self {
            Texts::Whole(all) => all.get(start..end),
            Texts::Bytes(bytes) => std::str::from_utf8(bytes.get(start..end)?).ok(),
        }
    }
}

impl<'a> Event<'a> {
    /// The delivery at `index` of `batch`, its spans checked once.
    #[cfg(test)]
    pub(crate) fn new(batch: &'a Batch, index: u32) -> Result<Self, PluginError> {
        Self::read(batch, Texts::of(batch), index)
    }

    /// The delivery at `index` of `batch`, whose buffer is `texts`, its
    /// spans checked once.
    pub(crate) fn read(
        batch: &'a Batch,
        texts: Texts<'a>,
        index: u32,
    ) -> Result<Self, PluginError> {
        let delivery = DeliverySpans::read(&batch.deliveries, index)
            .map_err(|e| PluginError::reject(format!("{e} (host bug)")))?;
        let field =
            |name: &str, span: Span| texts.get(span).ok_or_else(|| bad_span(index, name, span));
        let resources = {
            let span = delivery.resources;
            let start = usize::try_from(span.start).unwrap_or(usize::MAX);
            let len = usize::try_from(span.len).unwrap_or(usize::MAX);
            let words = start
                .checked_mul(2)
                .zip(start.checked_add(len).and_then(|end| end.checked_mul(2)))
                .and_then(|(first, end)| batch.resources.get(first..end))
                .ok_or_else(|| bad_span(index, "resources", span))?;
            words
                .chunks_exact(2)
                .map(|pair| {
                    field(
                        "resources",
                        Span {
                            start: pair[0],
                            len: pair[1],
                        },
                    )
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let detail = field("detail", delivery.detail)?;
        let kind = match delivery.kind {
            KindSpans::Other => Kind::Other,
            KindSpans::InvalidStateChange(reason) => {
                Kind::Invalid(field("invalid-state-change", reason)?)
            }
            KindSpans::StateChange(change) => Kind::StateChange(StateChange {
                entity_type: field("entity-type", change.entity_type)?,
                entity_id: field("entity-id", change.entity_id)?,
                operation: change.operation,
                ts: change.ts,
                author: field("author", change.author)?,
                data: change.data.map(|span| field("data", span)).transpose()?,
            }),
        };
        Ok(Self {
            index,
            id: field("id", delivery.id)?,
            source: field("source", delivery.source)?,
            detail_type: field("detail-type", delivery.detail_type)?,
            time: field("time", delivery.time)?,
            account: field("account", delivery.account)?,
            region: field("region", delivery.region)?,
            resources,
            detail,
            kind,
            detail_json: OnceCell::new(),
        })
    }

    /// The event id, unique per event (the host assigns one if the producer did not).
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// Who sent it, e.g. `com.example.library`.
    pub fn source(&self) -> &'a str {
        self.source
    }

    /// What kind of event it is, e.g. `Object State Change`.
    pub fn detail_type(&self) -> &'a str {
        self.detail_type
    }

    /// When the host received it, RFC 3339 UTC, e.g. `2026-11-25T10:00:00Z`.
    pub fn time(&self) -> &'a str {
        self.time
    }

    /// The AWS account id of the producer, or empty.
    pub fn account(&self) -> &'a str {
        self.account
    }

    /// The AWS region of the producer, or empty.
    pub fn region(&self) -> &'a str {
        self.region
    }

    /// ARNs or other identifiers of the resources involved.
    pub fn resources(&self) -> &[&'a str] {
        &self.resources
    }

    /// The raw JSON text of the `detail` object, exactly as journaled.
    pub fn detail(&self) -> &'a str {
        self.detail
    }

    /// Whether the detail-type is `Object State Change`.
    pub fn is_state_change(&self) -> bool {
        self.detail_type == STATE_CHANGE
    }

    /// Whether this is a correlation rule's fire (source `trailmark`,
    /// detail-type `Correlation Match`): its detail has `rule`, `group`,
    /// `count`, `first`, `last` and `events`, and no entity.
    pub fn is_correlation_match(&self) -> bool {
        self.source == trailmark_event::HOST_SOURCE
            && self.detail_type == trailmark_event::CORRELATION_MATCH
    }

    /// The typed fields of the `Object State Change` the host parsed: no
    /// JSON is parsed here.
    ///
    /// Rejects (a permanent failure) an `Object State Change` whose detail
    /// is invalid, with the host's reason naming the field, and an event of
    /// another detail-type.
    pub fn state_change(&self) -> Result<StateChange<'a>, PluginError> {
        match self.kind {
            Kind::StateChange(change) => Ok(change),
            Kind::Invalid(reason) => {
                Err(PluginError::reject(format!("event {}: {reason}", self.id)))
            }
            Kind::Other => Err(PluginError::reject(format!(
                "event {}: its detail-type is {:?}, not {STATE_CHANGE:?}",
                self.id, self.detail_type
            ))),
        }
    }

    /// The raw JSON text of `detail.data` of a valid `Object State Change`,
    /// exactly as journaled; `None` for a delete without data and for other
    /// events.
    pub fn data(&self) -> Option<&'a str> {
        match self.kind {
            Kind::StateChange(change) => change.data,
            Kind::Other | Kind::Invalid(_) => None,
        }
    }

    /// The `detail` parsed as JSON, on the first call; later calls return the
    /// same value. Prefer [`state_change`](Self::state_change) and
    /// [`data`](Self::data), which parse nothing.
    ///
    /// Rejects if the text is not JSON, which the host never delivers.
    pub fn detail_json(&self) -> Result<&Value, PluginError> {
        self.detail_json
            .get_or_init(|| {
                serde_json::from_str(self.detail).map_err(|error| {
                    PluginError::reject(format!(
                        "event {}: detail is not valid JSON: {error}",
                        self.id
                    ))
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The event as JSON text in the Amazon EventBridge envelope (`version`,
    /// `id`, `detail-type`, `source`, `account`, `time`, `region`,
    /// `resources`, `detail`), its detail exactly as journaled: what a
    /// webhook or a log target receives.
    pub fn envelope_json(&self) -> String {
        let text = |s: &str| Value::from(s).to_string();
        let resources: Vec<String> = self.resources.iter().map(|r| text(r)).collect();
        format!(
            r#"{{"version":"0","id":{},"detail-type":{},"source":{},"account":{},"time":{},"region":{},"resources":[{}],"detail":{}}}"#,
            text(self.id),
            text(self.detail_type),
            text(self.source),
            text(self.account),
            text(self.time),
            text(self.region),
            resources.join(","),
            self.detail
        )
    }

    /// The delivery's position in its batch, which the host uses to confine
    /// capability calls to this event.
    pub fn index(&self) -> u32 {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use trailmark_event::delivery_table::{DeliverySpans, KindSpans, Span};

    use crate::testing::{BOOK_UPDATE, Batch};

    /// Rewrite delivery 0 of `batch` with `change`.
    fn edit(batch: &mut Batch, change: impl FnOnce(&mut DeliverySpans)) {
        let table = &mut batch.wit_mut().deliveries;
        let mut row = DeliverySpans::read(table, 0).expect("delivery 0");
        change(&mut row);
        let mut words = Vec::new();
        row.write(&mut words);
        table[..words.len()].copy_from_slice(&words);
    }

    fn row(batch: &Batch) -> DeliverySpans {
        row_at(batch, 0)
    }

    fn row_at(batch: &Batch, index: u32) -> DeliverySpans {
        DeliverySpans::read(&batch.wit().deliveries, index).expect("a delivery")
    }

    #[test]
    fn reads_the_envelope_and_the_hosts_fields() {
        let batch = Batch::from_json(&[BOOK_UPDATE]).expect("sample event parses");
        let event = batch.event(0);
        assert_eq!(event.id(), "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21");
        assert_eq!(event.detail_type(), "Object State Change");
        assert_eq!(event.region(), "eu-west-1");
        assert_eq!(
            event.resources(),
            ["arn:aws:dynamodb:eu-west-1:123456789012:table/books"]
        );
        let change = event.state_change().expect("valid change");
        assert_eq!(change.entity_id, "978-0-13-468599-1");
        assert_eq!(change.ts, 1_795_602_600_000);
        let data = event.data().expect("an update has data");
        assert!(
            data.starts_with('{') && data.contains("\"shelf\": \"B-14\""),
            "{data}"
        );
        let detail = event.detail_json().expect("detail is JSON");
        assert_eq!(detail["data"]["shelf"], "B-14");
    }

    #[test]
    fn invalid_and_other_details_reject_with_the_reason() {
        let mut batch = Batch::default();
        batch.push_detail("Object State Change", r#"{"entity-type": "book"}"#);
        batch.push_detail("Heartbeat", r#"{"ok": true}"#);
        let invalid = batch.event(0).state_change().expect_err("invalid");
        assert!(!invalid.is_retry());
        assert!(
            invalid.message().ends_with("detail field `operation` is missing; an Object State Change detail has entity-type, entity-id, operation (insert|update|delete), ts (RFC 3339 or epoch milliseconds), author, and data (optional for delete)"),
            "{invalid}"
        );
        let other = batch.event(1).state_change().expect_err("other type");
        assert!(
            other
                .message()
                .contains("\"Heartbeat\", not \"Object State Change\""),
            "{other}"
        );
        assert_eq!(batch.event(1).data(), None);
    }

    #[test]
    fn data_spans_are_checked_wherever_they_point() {
        let detail = r#"{"entity-type":"b","entity-id":"1","operation":"insert","ts":1,"author":"a","data":"é"}"#;
        let mut batch = Batch::default();
        batch.push_detail("Object State Change", detail);
        let set_data = |batch: &mut Batch, start: u32, len: u32| {
            edit(batch, |delivery| {
                let KindSpans::StateChange(change) = &mut delivery.kind else {
                    panic!("a valid state change");
                };
                change.data = Some(Span { start, len });
            });
        };
        assert_eq!(batch.event(0).data(), Some("\"é\""));
        // Outside the detail (the id's bytes): read and checked there.
        let id = row(&batch).id;
        set_data(&mut batch, id.start, id.len);
        assert_eq!(batch.event(0).data(), Some("e-0"));
        // Inside the detail but cutting the é in two: rejected.
        let detail_span = row(&batch).detail;
        let e_acute = u32::try_from(detail.find('é').expect("é")).expect("short");
        set_data(&mut batch, detail_span.start + e_acute, 1);
        let error = super::Event::new(batch.wit(), 0).expect_err("not UTF-8");
        assert!(error.message().contains("span for `data`"), "{error}");
    }

    #[test]
    fn a_byte_that_is_not_utf8_fails_only_the_delivery_it_is_in() {
        let mut batch = Batch::from_json(&[BOOK_UPDATE, BOOK_UPDATE]).expect("sample events");
        let detail = row_at(&batch, 1).detail;
        batch.wit_mut().bytes[detail.start as usize + 1] = 0xFF;
        let texts = super::Texts::of(batch.wit());
        assert!(
            matches!(texts, super::Texts::Bytes(_)),
            "the buffer is not UTF-8"
        );
        let first = super::Event::read(batch.wit(), texts, 0).expect("delivery 0 is intact");
        assert_eq!(first.id(), "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21");
        let error = super::Event::read(batch.wit(), texts, 1).expect_err("delivery 1 is not");
        assert!(error.message().contains("span for `detail`"), "{error}");
    }

    #[test]
    fn spans_outside_the_batch_are_rejected_not_trusted() {
        let mut batch = Batch::from_json(&[BOOK_UPDATE]).expect("sample event parses");
        edit(&mut batch, |delivery| delivery.detail.len = u32::MAX);
        let error = super::Event::new(batch.wit(), 0).expect_err("out of range");
        assert!(error.message().contains("span for `detail`"), "{error}");
        assert!(super::Event::new(batch.wit(), 1).is_err());
    }
}
