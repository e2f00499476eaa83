//! Filters with OR and exclusion, and the counts of what they admit: what
//! the audit viewer's query bar asks (`author:ann author:bob -op:delete`)
//! when a backend can say it in its own query language
//! ([`MetadataStore::query_filtered`](crate::MetadataStore::query_filtered),
//! [`MetadataStore::summarize`](crate::MetadataStore::summarize)).

use crate::ChangeRecord;

/// The values one field may and may not take: a record passes when its
/// value is one of `any` (or `any` is empty) and none of `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnyOf {
    /// Accepted values, OR-ed; empty accepts every value.
    pub any: Vec<String>,
    /// Excluded values.
    pub none: Vec<String>,
}

impl AnyOf {
    /// Whether `value` passes.
    pub fn admits(&self, value: &str) -> bool {
        (self.any.is_empty() || self.any.iter().any(|v| v == value))
            && !self.none.iter().any(|v| v == value)
    }
}

/// One entity named in a filter: an id, of one type or of any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityKey {
    /// The entity type, when given.
    pub entity_type: Option<String>,
    /// The entity id.
    pub entity_id: String,
}

impl EntityKey {
    /// Whether `record` concerns this entity.
    pub fn is(&self, record: &ChangeRecord) -> bool {
        record.entity_id == self.entity_id
            && self
                .entity_type
                .as_ref()
                .is_none_or(|t| *t == record.entity_type)
    }
}

/// Which change records to list or count: every field's condition must
/// hold (AND); within a field, values are OR-ed and exclusions subtract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Who made the change.
    pub author: AnyOf,
    /// The entity type.
    pub entity_type: AnyOf,
    /// `insert`, `update` or `delete`.
    pub operation: AnyOf,
    /// The event source.
    pub source: AnyOf,
    /// The rules the event matched: a record passes `any` when it matched
    /// one of them, and `none` when it matched none of those.
    pub rule: AnyOf,
    /// Only these entities (any of them); empty: every entity.
    pub entities: Vec<EntityKey>,
    /// Not these entities.
    pub not_entities: Vec<EntityKey>,
    /// Only changes with `ts >= since` (ms since epoch).
    pub since: Option<i64>,
    /// Only changes with `ts < until` (ms since epoch).
    pub until: Option<i64>,
}

impl ChangeFilter {
    /// Whether `record` passes: the meaning every backend's translation of
    /// the filter must have.
    pub fn admits(&self, record: &ChangeRecord) -> bool {
        self.author.admits(&record.author)
            && self.entity_type.admits(&record.entity_type)
            && self.operation.admits(&record.operation)
            && self.source.admits(&record.source)
            && (self.rule.any.is_empty() || self.rule.any.iter().any(|r| record.rules.contains(r)))
            && !self.rule.none.iter().any(|r| record.rules.contains(r))
            && (self.entities.is_empty() || self.entities.iter().any(|e| e.is(record)))
            && !self.not_entities.iter().any(|e| e.is(record))
            && self.since.is_none_or(|s| record.ts >= s)
            && self.until.is_none_or(|u| record.ts < u)
    }
}

/// How many records have each value of a field, most first (ties by value).
pub type ValueCounts = Vec<(String, u64)>;

/// The counts of the newest records a [`ChangeFilter`] admits, by field and
/// over time: what [`MetadataStore::summarize`](crate::MetadataStore::summarize)
/// answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    /// Records counted: all matches, or the newest `limit` of them.
    pub counted: u64,
    /// Whether every match was counted (fewer than `limit` matched).
    pub complete: bool,
    /// By author.
    pub authors: ValueCounts,
    /// By entity type.
    pub entity_types: ValueCounts,
    /// By operation.
    pub operations: ValueCounts,
    /// By event source.
    pub sources: ValueCounts,
    /// The counted records over time.
    pub histogram: Histogram,
}

/// Counted records in equal spans of time, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Start of the first bucket (the oldest counted record), ms since epoch.
    pub from_ms: i64,
    /// Length of each bucket in ms (at least 1).
    pub bucket_ms: i64,
    /// Per bucket: (records, of which deletes).
    pub buckets: Vec<(u64, u64)>,
}

/// Count `records` (those the store found, newest first, at most `limit`
/// of them) into a summary with `buckets` time buckets; `complete` says the
/// store had no more. For backends that fetch the fields and count in
/// memory.
pub fn summarize_records<'a>(
    records: impl IntoIterator<Item = SummaryRow<'a>>,
    buckets: usize,
    complete: bool,
) -> ChangeSummary {
    use std::collections::HashMap;
    let mut counts: [HashMap<&str, u64>; 4] = Default::default();
    let mut times = Vec::new();
    for row in records {
        for (map, value) in
            counts
                .iter_mut()
                .zip([row.author, row.entity_type, row.operation, row.source])
        {
            *map.entry(value).or_default() += 1;
        }
        times.push((row.ts, row.operation == "delete"));
    }
    let sorted = |map: &HashMap<&str, u64>| {
        let mut v: ValueCounts = map.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    let [authors, entity_types, operations, sources] = &counts;
    ChangeSummary {
        counted: times.len() as u64,
        complete,
        authors: sorted(authors),
        entity_types: sorted(entity_types),
        operations: sorted(operations),
        sources: sorted(sources),
        histogram: histogram(&times, buckets),
    }
}

/// The fields of one record that [`summarize_records`] counts.
#[derive(Debug, Clone, Copy)]
pub struct SummaryRow<'a> {
    /// Author.
    pub author: &'a str,
    /// Entity type.
    pub entity_type: &'a str,
    /// Operation.
    pub operation: &'a str,
    /// Source.
    pub source: &'a str,
    /// Time, ms since epoch.
    pub ts: i64,
}

/// `times` (ts, is a delete) in `buckets` equal spans from the oldest to the
/// newest (at least one bucket; none when there are no times).
fn histogram(times: &[(i64, bool)], buckets: usize) -> Histogram {
    let (Some(from), Some(to)) = (
        times.iter().map(|t| t.0).min(),
        times.iter().map(|t| t.0).max(),
    ) else {
        return Histogram::default();
    };
    let n = buckets.max(1) as i64;
    // Ceiling division so the newest record falls in the last bucket.
    let span = (to - from).saturating_add(1).max(1);
    let bucket_ms = (span / n + i64::from(span % n != 0)).max(1);
    let mut counts = vec![(0u64, 0u64); buckets.max(1)];
    for &(ts, delete) in times {
        let i = usize::try_from((ts - from) / bucket_ms)
            .unwrap_or(0)
            .min(counts.len() - 1);
        counts[i].0 += 1;
        counts[i].1 += u64::from(delete);
    }
    Histogram {
        from_ms: from,
        bucket_ms,
        buckets: counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(author: &str, op: &str, ts: i64) -> ChangeRecord {
        ChangeRecord {
            event_id: format!("e{ts}"),
            source: "s".into(),
            entity_type: "book".into(),
            entity_id: "1".into(),
            operation: op.into(),
            ts,
            author: author.into(),
            archive_key: None,
            attributes: "{}".into(),
            rules: Vec::new(),
        }
    }

    #[test]
    fn or_within_a_field_and_across_fields() {
        let filter = ChangeFilter {
            author: AnyOf {
                any: vec!["ann".into(), "bob".into()],
                none: vec![],
            },
            operation: AnyOf {
                any: vec![],
                none: vec!["delete".into()],
            },
            not_entities: vec![EntityKey {
                entity_type: None,
                entity_id: "9".into(),
            }],
            since: Some(10),
            ..ChangeFilter::default()
        };
        assert!(filter.admits(&row("ann", "insert", 10)));
        assert!(filter.admits(&row("bob", "update", 11)));
        assert!(!filter.admits(&row("cat", "update", 11)));
        assert!(!filter.admits(&row("ann", "delete", 11)));
        assert!(!filter.admits(&row("ann", "update", 9)));
        let mut other = row("ann", "update", 11);
        other.entity_id = "9".into();
        assert!(!filter.admits(&other));
    }

    #[test]
    fn summaries_count_each_field_and_bucket_time_with_deletes() {
        let rows = [
            row("ann", "insert", 0),
            row("ann", "update", 5),
            row("bob", "delete", 9),
            row("ann", "delete", 10),
        ];
        let summary = summarize_records(
            rows.iter().map(|r| SummaryRow {
                author: &r.author,
                entity_type: &r.entity_type,
                operation: &r.operation,
                source: &r.source,
                ts: r.ts,
            }),
            2,
            true,
        );
        assert_eq!(summary.counted, 4);
        assert_eq!(summary.authors, [("ann".into(), 3), ("bob".into(), 1)]);
        assert_eq!(
            summary.operations,
            [
                ("delete".into(), 2),
                ("insert".into(), 1),
                ("update".into(), 1)
            ]
        );
        // 11 ms in 2 buckets of 6: [0, 6) and [6, 12).
        assert_eq!(summary.histogram.from_ms, 0);
        assert_eq!(summary.histogram.bucket_ms, 6);
        assert_eq!(summary.histogram.buckets, [(2, 0), (2, 2)]);
    }

    #[test]
    fn one_instant_and_nothing_make_sensible_histograms() {
        assert_eq!(histogram(&[], 10), Histogram::default());
        let h = histogram(&[(7, false), (7, true)], 10);
        assert_eq!(h.from_ms, 7);
        assert_eq!(h.bucket_ms, 1);
        assert_eq!(h.buckets[0], (2, 1));
        assert_eq!(h.buckets.len(), 10);
    }
}
