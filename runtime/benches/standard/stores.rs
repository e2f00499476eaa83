//! In-memory capabilities, shared by the wasm and the native side of the
//! `standard` bench: a `HashMap` or `Vec` behind a `Mutex`, so storage costs
//! next to nothing and the comparison measures the plugins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trailmark_backends::{
    ArchiveStore, BackendError, BackendResult, ChangePage, ChangeQuery, ChangeRecord, HistoryQuery,
    MetadataStore, Notification, Notifier, PutOutcome,
};
use trailmark_runtime::Capabilities;

/// Archive bodies by key.
#[derive(Default)]
pub(crate) struct MemArchive {
    pub(crate) bodies: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

impl ArchiveStore for MemArchive {
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()> {
        let mut bodies = self
            .bodies
            .lock()
            .expect("no panics while holding the lock");
        bodies.insert(key.to_owned(), (body.to_vec(), content_type.to_owned()));
        Ok(())
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let bodies = self
            .bodies
            .lock()
            .expect("no panics while holding the lock");
        Ok(bodies.get(key).map(|(body, _)| body.clone()))
    }
}

/// Change records by event id (idempotent, like the real stores).
#[derive(Default)]
pub(crate) struct MemMetadata {
    pub(crate) records: Mutex<HashMap<String, ChangeRecord>>,
}

impl MetadataStore for MemMetadata {
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        let mut records = self
            .records
            .lock()
            .expect("no panics while holding the lock");
        if records.contains_key(&change.event_id) {
            return Ok(PutOutcome::AlreadyPresent);
        }
        records.insert(change.event_id.clone(), change.clone());
        Ok(PutOutcome::Inserted)
    }

    /// Filters on every field, newest first, one page (no cursors).
    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage> {
        let matches =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
        let mut found = self.one_page(query.cursor.as_deref(), |r| {
            matches(&query.author, &r.author)
                && matches(&query.entity_type, &r.entity_type)
                && matches(&query.entity_id, &r.entity_id)
                && matches(&query.operation, &r.operation)
                && matches(&query.source, &r.source)
                && query.since.is_none_or(|since| r.ts >= since)
                && query.until.is_none_or(|until| r.ts < until)
        })?;
        found.records.reverse();
        found.records.truncate(query.limit);
        Ok(found)
    }

    /// One entity's records, oldest first, one page (no cursors).
    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
        self.one_page(query.cursor.as_deref(), |r| {
            r.entity_type == query.entity_type
                && r.entity_id == query.entity_id
                && query.source.as_deref().is_none_or(|s| s == r.source)
        })
    }
}

impl MemMetadata {
    /// The records `keep` selects, oldest first (by time, then event id);
    /// the only page there is, so a query that continues from a cursor is
    /// refused.
    fn one_page(
        &self,
        cursor: Option<&str>,
        keep: impl Fn(&ChangeRecord) -> bool,
    ) -> BackendResult<ChangePage> {
        if cursor.is_some() {
            return Err(BackendError::Invalid("the bench store has one page".into()));
        }
        let records = self
            .records
            .lock()
            .expect("no panics while holding the lock");
        let mut found: Vec<ChangeRecord> = records.values().filter(|r| keep(r)).cloned().collect();
        found.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.event_id.cmp(&b.event_id)));
        Ok(ChangePage {
            records: found,
            next_cursor: None,
        })
    }
}

/// The last notifications published (bounded, so a long run stays small).
#[derive(Default)]
pub(crate) struct MemNotifier {
    pub(crate) published: Mutex<Vec<Notification>>,
}

impl Notifier for MemNotifier {
    fn publish(&self, notification: &Notification) -> BackendResult<()> {
        let mut published = self
            .published
            .lock()
            .expect("no panics while holding the lock");
        if published.len() == 1024 {
            published.clear();
        }
        published.push(notification.clone());
        Ok(())
    }
}

/// One set of stores.
#[derive(Default)]
pub(crate) struct Stores {
    pub(crate) archive: Arc<MemArchive>,
    pub(crate) metadata: Arc<MemMetadata>,
    pub(crate) admins: Arc<MemNotifier>,
}

impl Stores {
    pub(crate) fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities {
            archive: Some(Arc::clone(&self.archive) as Arc<dyn ArchiveStore>),
            metadata: Some(Arc::clone(&self.metadata) as Arc<dyn MetadataStore>),
            ..Capabilities::default()
        };
        let admins: Arc<dyn Notifier> = Arc::clone(&self.admins) as Arc<dyn Notifier>;
        capabilities.notify.insert("admins".to_owned(), admins);
        capabilities
    }
}
