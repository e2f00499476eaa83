//! The delivery table of plugin contract 0.2: where each delivery's texts
//! are in a batch's byte buffer, as a flat list of `u32` words.
//!
//! The WIT (`sdk/wit/world.wit`, record `batch`) hands a batch to a plugin
//! as three lists: `bytes` (every text of every event), `resources` (two
//! words per resource: start and length in `bytes`) and `deliveries`
//! ([`WORDS`] words per delivery, laid out below). Lists of integers cross
//! into the guest as one copy; a list of records is stored field by field,
//! and that was most of the cost of a batch call (BENCHMARKS.md, plugin
//! calls). The host packs events into a batch with [`pack`] (as does the
//! SDK's native test batch), the SDK reads the table back with
//! [`DeliverySpans::read`]: one layout, here.
//!
//! | words | field |
//! |---|---|
//! | 0–1 | `id` (start, length in `bytes`) |
//! | 2–3 | `source` |
//! | 4–5 | `detail-type` |
//! | 6–7 | `time` |
//! | 8–9 | `account` |
//! | 10–11 | `region` |
//! | 12–13 | `resources`: first index and count, in resources (pairs) |
//! | 14–15 | `detail` |
//! | 16 | the detail's kind: 0 other, 1 state change, 2 invalid state change |
//! | 17–18 | state change: `entity-type`; invalid: the reason (a text) |
//! | 19–20 | state change: `entity-id` |
//! | 21 | state change: `operation`: 0 insert, 1 update, 2 delete |
//! | 22–23 | state change: `ts`, milliseconds since the epoch, low word then high word (two's complement) |
//! | 24–25 | state change: `author` |
//! | 26 | state change: 1 when `data` is present, else 0 |
//! | 27–28 | state change: `data` (inside `detail`) |
//!
//! Words a kind does not use are 0.

use crate::{Operation, ParsedEvent};

/// Words per delivery in the table.
pub const WORDS: usize = 29;

/// A text's place in the batch's bytes (or, for `resources`, a range of
/// the resources table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

/// The typed fields of an `Object State Change` detail, as spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeSpans {
    /// `entity-type`.
    pub entity_type: Span,
    /// `entity-id`.
    pub entity_id: Span,
    /// `operation`.
    pub operation: Operation,
    /// `ts`, milliseconds since the epoch.
    pub ts: i64,
    /// `author`.
    pub author: Span,
    /// `data`, inside the detail; `None` for a delete without data.
    pub data: Option<Span>,
}

/// What the host found in a delivery's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindSpans {
    /// Not an `Object State Change`.
    Other,
    /// A valid `Object State Change`.
    StateChange(ChangeSpans),
    /// An `Object State Change` whose detail does not hold: the reason.
    InvalidStateChange(Span),
}

/// One delivery's row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySpans {
    /// `id`.
    pub id: Span,
    /// `source`.
    pub source: Span,
    /// `detail-type`.
    pub detail_type: Span,
    /// `time`.
    pub time: Span,
    /// `account`.
    pub account: Span,
    /// `region`.
    pub region: Span,
    /// First index and count in the resources table.
    pub resources: Span,
    /// `detail`, the JSON text as journaled.
    pub detail: Span,
    /// The detail's kind and typed fields.
    pub kind: KindSpans,
}

/// The table is not one this layout wrote: a host bug, reported as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    /// The delivery.
    pub index: u32,
    /// What is wrong.
    pub reason: &'static str,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "delivery {}: {}", self.index, self.reason)
    }
}

impl std::error::Error for TableError {}

impl DeliverySpans {
    /// Append this delivery's [`WORDS`] words to `table`.
    pub fn write(&self, table: &mut Vec<u32>) {
        let at = table.len();
        table.resize(at + WORDS, 0);
        let row = &mut table[at..];
        for (i, span) in [
            self.id,
            self.source,
            self.detail_type,
            self.time,
            self.account,
            self.region,
            self.resources,
            self.detail,
        ]
        .into_iter()
        .enumerate()
        {
            put(row, 2 * i, span);
        }
        match self.kind {
            KindSpans::Other => {}
            KindSpans::InvalidStateChange(reason) => {
                row[16] = 2;
                put(row, 17, reason);
            }
            KindSpans::StateChange(change) => {
                row[16] = 1;
                put(row, 17, change.entity_type);
                put(row, 19, change.entity_id);
                row[21] = match change.operation {
                    Operation::Insert => 0,
                    Operation::Update => 1,
                    Operation::Delete => 2,
                };
                let ts = u64::from_ne_bytes(change.ts.to_ne_bytes());
                row[22] = (ts & 0xFFFF_FFFF) as u32;
                row[23] = (ts >> 32) as u32;
                put(row, 24, change.author);
                if let Some(data) = change.data {
                    row[26] = 1;
                    put(row, 27, data);
                }
            }
        }
    }

    /// Delivery `index` of `table`.
    pub fn read(table: &[u32], index: u32) -> Result<DeliverySpans, TableError> {
        let fail = |reason| TableError { index, reason };
        let start = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(WORDS))
            .ok_or(fail("not in the batch"))?;
        let row = table
            .get(start..start.saturating_add(WORDS))
            .ok_or(fail("not in the batch"))?;
        let span = |at: usize| Span {
            start: row[at],
            len: row[at + 1],
        };
        let kind = match row[16] {
            0 => KindSpans::Other,
            1 => KindSpans::StateChange(ChangeSpans {
                entity_type: span(17),
                entity_id: span(19),
                operation: match row[21] {
                    0 => Operation::Insert,
                    1 => Operation::Update,
                    2 => Operation::Delete,
                    _ => return Err(fail("unknown operation code")),
                },
                ts: i64::from_ne_bytes(
                    (u64::from(row[22]) | (u64::from(row[23]) << 32)).to_ne_bytes(),
                ),
                author: span(24),
                data: match row[26] {
                    0 => None,
                    1 => Some(span(27)),
                    _ => return Err(fail("unknown data flag")),
                },
            }),
            2 => KindSpans::InvalidStateChange(span(17)),
            _ => return Err(fail("unknown detail kind")),
        };
        Ok(DeliverySpans {
            id: span(0),
            source: span(2),
            detail_type: span(4),
            time: span(6),
            account: span(8),
            region: span(10),
            resources: span(12),
            detail: span(14),
            kind,
        })
    }
}

/// The three lists of a batch, as the WIT record `batch` holds them.
#[derive(Debug)]
pub struct BatchLists<'b> {
    /// Every text of every delivery.
    pub bytes: &'b mut Vec<u8>,
    /// Two words per resource.
    pub resources: &'b mut Vec<u32>,
    /// [`WORDS`] words per delivery.
    pub deliveries: &'b mut Vec<u32>,
}

/// A batch would pass 4 GiB of texts: spans are 32-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the batch's texts pass 4 GiB")
    }
}

impl std::error::Error for TooLarge {}

/// Append the event `parsed` to a batch: its texts to `bytes` (the `detail`
/// and its `data` exactly as journaled, never re-serialized), its
/// resources and its row. On error the lists may hold part of the event:
/// the caller drops the batch.
pub fn pack(parsed: &ParsedEvent, lists: &mut BatchLists<'_>) -> Result<(), TooLarge> {
    let e = parsed.event();
    let bytes = &mut *lists.bytes;
    let first_resource = lists.resources.len() / 2;
    for resource in &e.resources {
        let span = push(bytes, resource)?;
        lists.resources.extend([span.start, span.len]);
    }
    let resources = Span {
        start: u32::try_from(first_resource).map_err(|_| TooLarge)?,
        len: u32::try_from(e.resources.len()).map_err(|_| TooLarge)?,
    };
    let detail = push(bytes, &e.detail)?;
    let kind = match parsed.change() {
        None => KindSpans::Other,
        Some(Err(error)) => KindSpans::InvalidStateChange(push(bytes, &error.to_string())?),
        Some(Ok(change)) => KindSpans::StateChange(ChangeSpans {
            entity_type: push(bytes, &change.entity_type)?,
            entity_id: push(bytes, &change.entity_id)?,
            operation: change.operation,
            ts: change.ts,
            author: push(bytes, &change.author)?,
            // A range of the detail text, which is at `detail.start`.
            data: match change.data.clone() {
                Some(range) => Some(Span {
                    start: detail
                        .start
                        .checked_add(u32::try_from(range.start).map_err(|_| TooLarge)?)
                        .ok_or(TooLarge)?,
                    len: u32::try_from(range.len()).map_err(|_| TooLarge)?,
                }),
                None => None,
            },
        }),
    };
    DeliverySpans {
        id: push(bytes, &e.id)?,
        source: push(bytes, &e.source)?,
        detail_type: push(bytes, &e.detail_type)?,
        time: push(bytes, &e.time)?,
        account: push(bytes, &e.account)?,
        region: push(bytes, &e.region)?,
        resources,
        detail,
        kind,
    }
    .write(lists.deliveries);
    Ok(())
}

/// Append `text` to `bytes`, returning where it is.
fn push(bytes: &mut Vec<u8>, text: &str) -> Result<Span, TooLarge> {
    let start = u32::try_from(bytes.len()).map_err(|_| TooLarge)?;
    let len = u32::try_from(text.len()).map_err(|_| TooLarge)?;
    start.checked_add(len).ok_or(TooLarge)?;
    bytes.extend_from_slice(text.as_bytes());
    Ok(Span { start, len })
}

/// The number of deliveries in `table`, if it is whole rows.
pub fn deliveries(table: &[u32]) -> Option<usize> {
    table
        .len()
        .is_multiple_of(WORDS)
        .then_some(table.len() / WORDS)
}

fn put(row: &mut [u32], at: usize, span: Span) {
    row[at] = span.start;
    row[at + 1] = span.len;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u32, len: u32) -> Span {
        Span { start, len }
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        let base = DeliverySpans {
            id: span(1, 2),
            source: span(3, 4),
            detail_type: span(5, 6),
            time: span(7, 8),
            account: span(9, 10),
            region: span(11, 12),
            resources: span(13, 14),
            detail: span(15, 16),
            kind: KindSpans::Other,
        };
        let change = ChangeSpans {
            entity_type: span(17, 18),
            entity_id: span(19, 20),
            operation: Operation::Delete,
            ts: -1_795_602_600_123,
            author: span(21, 22),
            data: Some(span(23, u32::MAX)),
        };
        let rows = [
            base,
            DeliverySpans {
                kind: KindSpans::StateChange(change),
                ..base
            },
            DeliverySpans {
                kind: KindSpans::StateChange(ChangeSpans {
                    data: None,
                    operation: Operation::Update,
                    ts: i64::MAX,
                    ..change
                }),
                ..base
            },
            DeliverySpans {
                kind: KindSpans::InvalidStateChange(span(30, 31)),
                ..base
            },
        ];
        let mut table = Vec::new();
        for row in &rows {
            row.write(&mut table);
        }
        assert_eq!(deliveries(&table), Some(rows.len()));
        for (i, row) in rows.iter().enumerate() {
            let index = u32::try_from(i).expect("few rows");
            assert_eq!(
                DeliverySpans::read(&table, index).as_ref(),
                Ok(row),
                "row {i}"
            );
        }
    }

    #[test]
    fn a_table_the_layout_did_not_write_is_refused() {
        let mut table = Vec::new();
        DeliverySpans {
            id: Span::default(),
            source: Span::default(),
            detail_type: Span::default(),
            time: Span::default(),
            account: Span::default(),
            region: Span::default(),
            resources: Span::default(),
            detail: Span::default(),
            kind: KindSpans::Other,
        }
        .write(&mut table);
        assert_eq!(
            DeliverySpans::read(&table, 1).map_err(|e| e.reason),
            Err("not in the batch")
        );
        assert_eq!(deliveries(&table[1..]), None);
        table[16] = 9;
        assert_eq!(
            DeliverySpans::read(&table, 0).map_err(|e| e.reason),
            Err("unknown detail kind")
        );
        table[16] = 1;
        table[21] = 3;
        assert_eq!(
            DeliverySpans::read(&table, 0).map_err(|e| e.reason),
            Err("unknown operation code")
        );
    }
}
