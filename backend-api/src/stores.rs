//! One trait per capability, implemented by each backend.

use crate::{
    BackendResult, ChangeFilter, ChangePage, ChangeQuery, ChangeRecord, ChangeSummary, Event,
    Expiring, HistoryQuery, Notification, PutOutcome,
};

/// Stores entity bodies by key.
pub trait ArchiveStore: Send + Sync {
    /// Store `body` under `key`, atomically. A stored body is never
    /// replaced: a put of the same bytes again succeeds (a redelivery), one
    /// of different bytes fails with [`BackendError::Invalid`](crate::BackendError::Invalid) naming the key.
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()>;
    /// Fetch the body under `key`, if any.
    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>>;
    /// Store several bodies, one result per put, in order, as if each were
    /// a [`put`](ArchiveStore::put) in turn (a later put of a key an earlier
    /// one stored is checked against it). The runtime hands a plugin batch's
    /// puts over together, so a backend can write them in one go.
    fn put_many(&self, puts: &[ArchivePut<'_>]) -> Vec<BackendResult<()>> {
        puts.iter()
            .map(|p| self.put(p.key, p.body, p.content_type))
            .collect()
    }
    /// Make every put that returned before this call durable. A backend whose
    /// puts are durable when they return (the default) has nothing to do.
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
    /// The store's retention side, when it can remove expired bodies
    /// (`[retention] archive`); `None` (the default) when it cannot.
    fn expiring(&self) -> Option<&dyn Expiring> {
        None
    }
}

/// One body to store, for [`ArchiveStore::put_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivePut<'a> {
    /// Where.
    pub key: &'a str,
    /// The bytes.
    pub body: &'a [u8],
    /// Their media type, e.g. `application/json`.
    pub content_type: &'a str,
    /// The entity and time of the delivered event the body was put for,
    /// when it is an `Object State Change` (the host fills it in): what
    /// retention expires the body by. `None`: kept by retention.
    pub owner: Option<BodyOwner<'a>>,
}

/// Whose body an [`ArchivePut`] stores, and when: the delivered event's
/// source and entity, and its `ts` (epoch ms), as its change record has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyOwner<'a> {
    /// The event's source.
    pub source: &'a str,
    /// The entity type.
    pub entity_type: &'a str,
    /// The entity id.
    pub entity_id: &'a str,
    /// The change's time (epoch ms).
    pub ts: i64,
}

/// Stores queryable change records, idempotent on event id.
pub trait MetadataStore: Send + Sync {
    /// Store a record unless one with the same event id exists.
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome>;
    /// Store several records, one result per record, in order, as if each
    /// were a [`put`](MetadataStore::put) in turn; a backend may commit them
    /// in one transaction.
    fn put_many(&self, changes: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        changes.iter().map(|c| self.put(c)).collect()
    }
    /// List records matching `query`, newest first, paginated.
    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage>;
    /// The recorded changes of one entity, oldest first, one page at a time
    /// (ordered by `ts`, then event id).
    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage>;
    /// List records `filter` admits (its ORs and exclusions included),
    /// newest first, `limit` as in [`ChangeQuery`], continuing after a
    /// `cursor` from [`query`](MetadataStore::query) or from this method
    /// (the order is the same). `None` when the backend cannot express the
    /// filter (the default): the caller then filters `query` pages itself.
    fn query_filtered(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> BackendResult<Option<ChangePage>> {
        let _ = (filter, limit, cursor);
        Ok(None)
    }
    /// Count the newest `limit` records `filter` admits by author, type,
    /// operation and source, and into `buckets` equal spans of time. `None`
    /// when the backend cannot count (the default).
    fn summarize(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        buckets: usize,
    ) -> BackendResult<Option<ChangeSummary>> {
        let _ = (filter, limit, buckets);
        Ok(None)
    }
    /// Make every put that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
    /// The store's retention side, when it can remove expired records
    /// (`[retention] metadata`); `None` (the default) when it cannot.
    fn expiring(&self) -> Option<&dyn Expiring> {
        None
    }
}

/// Publishes notifications to one configured channel.
pub trait Notifier: Send + Sync {
    /// Publish one notification.
    fn publish(&self, notification: &Notification) -> BackendResult<()>;
    /// Make every publish that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}

/// Sends events on to one configured destination.
pub trait Forwarder: Send + Sync {
    /// Send one event.
    fn send(&self, event: &Event) -> BackendResult<()>;
    /// Make every send that returned before this call durable (see
    /// [`ArchiveStore::sync`]).
    fn sync(&self) -> BackendResult<()> {
        Ok(())
    }
}
