//! The stores as the viewer reads them when values are sealed per subject:
//! tokens opened in what they answer (the value, or `[erased]`), and
//! authors in what they are asked translated into the tokens the stores
//! hold. The viewer itself knows nothing of subjects.

use std::sync::Arc;

use serde_json::Value;
use trailmark_backend_api::{
    ArchivePut, ArchiveStore, BackendError, BackendResult, ChangeFilter, ChangePage, ChangeQuery,
    ChangeRecord, ChangeSummary, Expiring, HistoryQuery, MetadataStore, PutOutcome,
};

use super::{Subjects, holds_token};

/// A [`MetadataStore`] that opens tokens in its records and translates
/// asked-for authors into tokens.
pub struct OpenedMetadata {
    /// The store.
    pub inner: Arc<dyn MetadataStore>,
    /// The subject keys.
    pub subjects: Arc<Subjects>,
}

impl OpenedMetadata {
    /// `author`'s token when it has one, else `author` unchanged.
    fn sealed_author(&self, author: &str) -> BackendResult<String> {
        match self.subjects.author_token(author) {
            Ok(token) => Ok(token.unwrap_or_else(|| author.to_owned())),
            Err(e) => Err(BackendError::Transient(format!("subject keys: {e}"))),
        }
    }

    fn sealed_filter(&self, filter: &ChangeFilter) -> BackendResult<ChangeFilter> {
        let mut filter = filter.clone();
        for author in filter
            .author
            .any
            .iter_mut()
            .chain(filter.author.none.iter_mut())
        {
            *author = self.sealed_author(author)?;
        }
        Ok(filter)
    }

    fn open_page(&self, mut page: ChangePage) -> ChangePage {
        for record in &mut page.records {
            self.open_record(record);
        }
        page
    }

    fn open_record(&self, record: &mut ChangeRecord) {
        record.author = self.subjects.open_text(&record.author);
        if holds_token(record.attributes.as_bytes())
            && let Ok(mut attributes) = serde_json::from_str::<Value>(&record.attributes)
        {
            self.subjects.open_json(&mut attributes);
            record.attributes = attributes.to_string();
        }
    }
}

impl MetadataStore for OpenedMetadata {
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        self.inner.put(change)
    }

    fn put_many(&self, changes: &[ChangeRecord]) -> Vec<BackendResult<PutOutcome>> {
        self.inner.put_many(changes)
    }

    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage> {
        let mut query = query.clone();
        if let Some(author) = &query.author {
            query.author = Some(self.sealed_author(author)?);
        }
        Ok(self.open_page(self.inner.query(&query)?))
    }

    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
        Ok(self.open_page(self.inner.history(query)?))
    }

    fn query_filtered(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> BackendResult<Option<ChangePage>> {
        let filter = self.sealed_filter(filter)?;
        Ok(self
            .inner
            .query_filtered(&filter, limit, cursor)?
            .map(|page| self.open_page(page)))
    }

    fn summarize(
        &self,
        filter: &ChangeFilter,
        limit: usize,
        buckets: usize,
    ) -> BackendResult<Option<ChangeSummary>> {
        let filter = self.sealed_filter(filter)?;
        Ok(self
            .inner
            .summarize(&filter, limit, buckets)?
            .map(|mut summary| {
                for (author, _) in &mut summary.authors {
                    *author = self.subjects.open_text(author);
                }
                summary
            }))
    }

    fn sync(&self) -> BackendResult<()> {
        self.inner.sync()
    }

    fn expiring(&self) -> Option<&dyn Expiring> {
        self.inner.expiring()
    }
}

/// An [`ArchiveStore`] whose JSON bodies are read with their tokens opened.
pub struct OpenedArchive {
    /// The store.
    pub inner: Arc<dyn ArchiveStore>,
    /// The subject keys.
    pub subjects: Arc<Subjects>,
}

impl ArchiveStore for OpenedArchive {
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()> {
        self.inner.put(key, body, content_type)
    }

    fn put_many(&self, puts: &[ArchivePut<'_>]) -> Vec<BackendResult<()>> {
        self.inner.put_many(puts)
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let Some(body) = self.inner.get(key)? else {
            return Ok(None);
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(mut value) if holds_token(&body) => {
                self.subjects.open_json(&mut value);
                Ok(Some(value.to_string().into_bytes()))
            }
            _ => Ok(Some(body)),
        }
    }

    fn sync(&self) -> BackendResult<()> {
        self.inner.sync()
    }

    fn expiring(&self) -> Option<&dyn Expiring> {
        self.inner.expiring()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::SubjectSettings;
    use trailmark_backends::SqliteMetadata;

    fn record(id: &str, author: &str, ts: i64) -> ChangeRecord {
        ChangeRecord {
            event_id: id.into(),
            source: "s".into(),
            entity_type: "patient".into(),
            entity_id: id.into(),
            operation: "insert".into(),
            ts,
            author: author.into(),
            archive_key: None,
            attributes: "{}".into(),
            rules: Vec::new(),
        }
    }

    #[test]
    fn authors_are_asked_sealed_and_answered_opened() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = SubjectSettings {
            paths: vec!["author".into()],
        };
        let subjects = Subjects::open(&settings, dir.path(), None)
            .expect("open")
            .expect("on");
        let store: Arc<dyn MetadataStore> =
            Arc::new(SqliteMetadata::open(dir.path().join("m.sqlite")).expect("store"));
        let ann = subjects.keys().seal("ann").expect("seal");
        let bob = subjects.keys().seal("bob").expect("seal");
        store.put(&record("e1", &ann, 1)).expect("put");
        store.put(&record("e2", &bob, 2)).expect("put");
        let opened = OpenedMetadata {
            inner: store,
            subjects: subjects.clone(),
        };

        let page = opened
            .query(&ChangeQuery {
                author: Some("ann".into()),
                limit: 10,
                ..ChangeQuery::default()
            })
            .expect("query");
        let authors: Vec<&str> = page.records.iter().map(|r| r.author.as_str()).collect();
        assert_eq!(authors, ["ann"]);

        let mut filter = ChangeFilter::default();
        filter.author.none.push("ann".into());
        let page = opened
            .query_filtered(&filter, 10, None)
            .expect("query")
            .expect("expressible");
        let authors: Vec<&str> = page.records.iter().map(|r| r.author.as_str()).collect();
        assert_eq!(authors, ["bob"]);

        let summary = opened
            .summarize(&ChangeFilter::default(), 10, 4)
            .expect("summarize")
            .expect("countable");
        let mut authors: Vec<&str> = summary.authors.iter().map(|(a, _)| a.as_str()).collect();
        authors.sort_unstable();
        assert_eq!(authors, ["ann", "bob"]);

        let id = subjects.keys().subject_id("ann");
        assert!(subjects.keys().erase(&id).expect("erase"));
        let page = opened
            .query(&ChangeQuery {
                limit: 10,
                ..ChangeQuery::default()
            })
            .expect("query");
        let authors: Vec<&str> = page.records.iter().map(|r| r.author.as_str()).collect();
        assert_eq!(authors, ["bob", super::super::ERASED]);
    }
}
