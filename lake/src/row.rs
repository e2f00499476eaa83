//! One row of the `changes` table: what the lake keeps of one journaled
//! event, and how it is read from the event.

use trailmark_event::{Event, StateChange};

/// One audit event as a row of the `changes` table (columns documented in
/// `docs/lake.md` and [`crate::schema`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The event's journal sequence number: unique, and the order of rows
    /// within a file.
    pub seq: u64,
    /// The event's id (`EventId` as acknowledged).
    pub event_id: String,
    /// When the change happened, milliseconds since the Unix epoch: the
    /// detail's `ts` for an `Object State Change`, else the envelope's
    /// `time`, else when the event was journaled. The `event_time` and
    /// `ts_ms` columns, and the event's `dt` partition.
    pub ts_ms: i64,
    /// The entity's type (`Object State Change` only).
    pub entity_type: Option<String>,
    /// The entity's id (`Object State Change` only).
    pub entity_id: Option<String>,
    /// `insert`, `update` or `delete` (`Object State Change` only).
    pub operation: Option<String>,
    /// Who made the change (`Object State Change` only).
    pub author: Option<String>,
    /// The envelope's `source`.
    pub source: String,
    /// The envelope's `detail-type`.
    pub detail_type: String,
    /// The envelope's `account` (empty when the producer sent none).
    pub account: String,
    /// The envelope's `region` (empty when the producer sent none).
    pub region: String,
    /// When Trailmark journaled the event, milliseconds since the epoch.
    pub ingested_at_ms: i64,
    /// For an `Object State Change`, the JSON text of the entity's `data`
    /// byte for byte as received (`None` for a delete without data); for
    /// any other event, its whole detail.
    pub body: Option<String>,
}

impl Row {
    /// The row of `event`, journaled as record `seq` at `ingested_at_ms`.
    ///
    /// An event whose detail-type says `Object State Change` but whose
    /// detail does not parse as one (ingest refuses those, so only a
    /// hand-made journal has them) is kept as any other event: envelope
    /// columns and the whole detail.
    pub fn from_event(seq: u64, ingested_at_ms: i64, event: &Event) -> Row {
        let change = event
            .is_state_change()
            .then(|| StateChange::parse(&event.detail).ok())
            .flatten();
        let (ts_ms, entity_type, entity_id, operation, author, body) = match change {
            Some(change) => (
                change.ts,
                Some(change.entity_type.clone()),
                Some(change.entity_id.clone()),
                Some(change.operation.as_str().to_owned()),
                Some(change.author.clone()),
                change.data(&event.detail).map(str::to_owned),
            ),
            None => (
                envelope_time_ms(&event.time).unwrap_or(ingested_at_ms),
                None,
                None,
                None,
                None,
                Some(event.detail.clone()),
            ),
        };
        Row {
            seq,
            event_id: event.id.clone(),
            ts_ms,
            entity_type,
            entity_id,
            operation,
            author,
            source: event.source.clone(),
            detail_type: event.detail_type.clone(),
            account: event.account.clone(),
            region: event.region.clone(),
            ingested_at_ms,
            body,
        }
    }

    /// About how many bytes the row takes before compression: what the
    /// size limit of an open file counts (like Firehose's buffer size, it
    /// measures what came in, not the Parquet written).
    pub fn raw_len(&self) -> u64 {
        let text = [
            Some(&self.event_id),
            self.entity_type.as_ref(),
            self.entity_id.as_ref(),
            self.operation.as_ref(),
            self.author.as_ref(),
            Some(&self.source),
            Some(&self.detail_type),
            Some(&self.account),
            Some(&self.region),
            self.body.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(String::len)
        .sum::<usize>();
        // Four 8-byte integers: seq, event_time/ts_ms, ingested_at.
        text as u64 + 32
    }
}

/// An RFC 3339 envelope time in milliseconds since the epoch.
fn envelope_time_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail_type: &str, detail: &str) -> Event {
        Event {
            id: "e-1".to_owned(),
            version: "0".to_owned(),
            source: "shop".to_owned(),
            detail_type: detail_type.to_owned(),
            time: "2026-11-25T10:30:00Z".to_owned(),
            account: String::new(),
            region: String::new(),
            resources: Vec::new(),
            detail: detail.to_owned(),
        }
    }

    #[test]
    fn a_state_change_keeps_its_data_byte_for_byte() {
        let detail = r#"{"entity-type":"book","entity-id":7,"operation":"update",
            "ts":"2026-11-20T00:00:01Z","author":"ann","data":{ "b" : 1.50 }}"#;
        let row = Row::from_event(3, 99, &event("Object State Change", detail));
        assert_eq!(row.body.as_deref(), Some(r#"{ "b" : 1.50 }"#));
        assert_eq!(row.entity_id.as_deref(), Some("7"));
        assert_eq!(row.operation.as_deref(), Some("update"));
        assert_eq!(row.ts_ms, 1_795_132_801_000);
        assert_eq!(row.ingested_at_ms, 99);
    }

    #[test]
    fn another_event_keeps_its_detail_and_envelope_time() {
        let row = Row::from_event(4, 99, &event("Note", r#"{"n":1}"#));
        assert_eq!(row.body.as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(row.entity_type, None);
        assert_eq!(row.ts_ms, 1_795_602_600_000);
    }
}
