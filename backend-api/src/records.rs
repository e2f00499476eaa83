//! The records the capabilities carry: change records and their queries,
//! notifications.

use serde::{Deserialize, Serialize};
use trailmark_event::{Event, StateChange};

/// Page size when a query asks for 0 records.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size served; larger limits are lowered to it.
pub const MAX_LIMIT: usize = 1000;

/// A requested page size as every metadata backend serves it: 0 means
/// [`DEFAULT_LIMIT`], larger than [`MAX_LIMIT`] means [`MAX_LIMIT`].
///
/// ```
/// use trailmark_backend_api::{DEFAULT_LIMIT, MAX_LIMIT, page_size};
/// assert_eq!(page_size(0), DEFAULT_LIMIT);
/// assert_eq!(page_size(7), 7);
/// assert_eq!(page_size(usize::MAX), MAX_LIMIT);
/// ```
pub fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// One change to one entity: what the metadata capability stores and the
/// query API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ChangeRecord {
    /// The id of the event that reported the change; the idempotency key.
    pub event_id: String,
    /// Event source.
    pub source: String,
    /// Entity type, e.g. `book`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// `insert`, `update` or `delete`.
    pub operation: String,
    /// When the change happened, milliseconds since the Unix epoch.
    pub ts: i64,
    /// Who made the change.
    pub author: String,
    /// Where the entity body was archived, if it was.
    pub archive_key: Option<String>,
    /// Extra attributes as a JSON object text.
    pub attributes: String,
    /// The rules the event matched when it was journaled (the viewer's
    /// `rule:` qualifier); empty in records stored before they were kept.
    #[serde(default)]
    pub rules: Vec<String>,
}

impl ChangeRecord {
    /// The record of `change`, reported by `event`: its identity fields come
    /// from the event and the change, the archive key and attributes from
    /// the plugin that stores it.
    pub fn of_change(
        event: &Event,
        change: &StateChange,
        archive_key: Option<String>,
        attributes: String,
    ) -> ChangeRecord {
        ChangeRecord {
            event_id: event.id.clone(),
            source: event.source.clone(),
            entity_type: change.entity_type.clone(),
            entity_id: change.entity_id.clone(),
            operation: change.operation.as_str().to_owned(),
            ts: change.ts,
            author: change.author.clone(),
            archive_key,
            attributes,
            rules: Vec::new(),
        }
    }
}

/// Whether a metadata put stored a new record or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record was new and is now stored.
    Inserted,
    /// A record with the same event id was already stored; nothing changed.
    AlreadyPresent,
}

/// Filters for listing change records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    /// Only changes by this author.
    pub author: Option<String>,
    /// Only changes to entities of this type.
    pub entity_type: Option<String>,
    /// Only changes to this entity id (usually with `entity_type`).
    pub entity_id: Option<String>,
    /// Only this operation.
    pub operation: Option<String>,
    /// Only this event source.
    pub source: Option<String>,
    /// Only changes with `ts >= since` (ms since epoch).
    pub since: Option<i64>,
    /// Only changes with `ts < until` (ms since epoch).
    pub until: Option<i64>,
    /// At most this many records (the backend may cap it).
    pub limit: usize,
    /// Continue after this opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Which versions of one entity to list, oldest first, paginated.
///
/// An entity is (source, entity type, entity id): with `source`, only that
/// source's versions; without it, every source's versions of that type and
/// id, each record naming its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Entity type, e.g. `book`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Only versions reported by this event source.
    pub source: Option<String>,
    /// At most this many records: 0 means [`DEFAULT_LIMIT`], larger than
    /// [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: usize,
    /// Continue after this opaque cursor from a previous page of the same
    /// history.
    pub cursor: Option<String>,
}

/// One page of change records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePage {
    /// Records, newest first for [`MetadataStore::query`], oldest first for
    /// [`MetadataStore::history`].
    pub records: Vec<ChangeRecord>,
    /// Pass as `cursor` to get the next page; `None` when this was the last.
    pub next_cursor: Option<String>,
}

/// A notification to publish on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Channel name as configured (and granted to the rule).
    pub channel: String,
    /// Short subject line.
    pub subject: String,
    /// Message body.
    pub message: String,
    /// Key/value attributes subscribers can filter on.
    pub attributes: Vec<(String, String)>,
}
