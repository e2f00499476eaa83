//! What the search page shows beside the rows: facets (the counts of each
//! author, type, operation and source in the result, each a link that adds
//! or removes its qualifier in the query text) and a time histogram of the
//! result with its deletes, drawn as SVG bars that narrow the query to their
//! span. The counts come from the store
//! ([`MetadataStore::summarize`](trailmark_backend_api::MetadataStore::summarize))
//! over at most the newest [`COUNTED`] matches.

use trailmark_backend_api::{ChangeSummary, Histogram};

use crate::search::qualified_terms;
use crate::when::format_ms;

/// The most matches counted for facets and the histogram: the store reads
/// at most this many records' five small fields, newest first.
pub const COUNTED: usize = 5_000;
/// Bars in the histogram.
pub const BARS: usize = 48;
/// Values shown per facet, most frequent first.
pub const VALUES_SHOWN: usize = 8;

/// One value of a facet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetValue {
    /// The value, as stored.
    pub value: String,
    /// Records with it among those counted.
    pub count: u64,
    /// Whether the query already asks for it (`author:ann`).
    pub active: bool,
    /// The query with the qualifier toggled; `None` when the value cannot
    /// be typed in the query bar (it holds a `"`).
    pub href: Option<String>,
}

/// One facet: a qualifier and its most frequent values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facet {
    /// The qualifier, e.g. `author`.
    pub qualifier: &'static str,
    /// What it is called on the page.
    pub title: &'static str,
    /// The values shown.
    pub values: Vec<FacetValue>,
    /// Values not shown.
    pub more: usize,
}

/// One bar of the histogram, in SVG user units (the view box is
/// [`BARS`] × 10 wide and [`BAR_HEIGHT`] high).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Left edge.
    pub x: usize,
    /// Top of the bar (all records).
    pub y: u32,
    /// Height of the bar.
    pub height: u32,
    /// Top of the delete part (stacked at the bottom).
    pub delete_y: u32,
    /// Height of the delete part.
    pub delete_height: u32,
    /// `2026-01-01T00:00:00Z – 2026-01-01T00:05:00Z: 120 changes, 6 deletes`.
    pub label: String,
    /// The query narrowed to this bar's span.
    pub href: String,
}

/// The drawing height of the tallest bar.
pub const BAR_HEIGHT: u32 = 60;

/// The facets of `summary` for the query text `q`; `href` turns a query
/// text into a link.
pub fn facets(summary: &ChangeSummary, q: &str, href: impl Fn(&str) -> String) -> Vec<Facet> {
    [
        ("author", "Author", &summary.authors),
        ("type", "Type", &summary.entity_types),
        ("op", "Operation", &summary.operations),
        ("source", "Source", &summary.sources),
    ]
    .into_iter()
    .map(|(qualifier, title, counts)| {
        let asked: Vec<String> = qualified_terms(q, qualifier)
            .into_iter()
            .map(|t| t.value)
            .collect();
        Facet {
            qualifier,
            title,
            values: counts
                .iter()
                .take(VALUES_SHOWN)
                .map(|(value, count)| FacetValue {
                    value: value.clone(),
                    count: *count,
                    active: asked.contains(value),
                    href: toggle(q, qualifier, value).map(|t| href(&t)),
                })
                .collect(),
            more: counts.len().saturating_sub(VALUES_SHOWN),
        }
    })
    .collect()
}

/// `q` with `qualifier:value` removed when it is there (not negated), else
/// added; `None` when the value cannot be written in the query bar.
pub fn toggle(q: &str, qualifier: &str, value: &str) -> Option<String> {
    if value.contains('"') || value.is_empty() {
        return None;
    }
    let present: Vec<(usize, usize)> = qualified_terms(q, qualifier)
        .into_iter()
        .filter(|t| t.value == value)
        .map(|t| (t.at, t.end))
        .collect();
    if present.is_empty() {
        let term = quoted(qualifier, value);
        let q = q.trim_end();
        return Some(if q.is_empty() {
            term
        } else {
            format!("{q} {term}")
        });
    }
    let mut out = String::new();
    let mut from = 0;
    for (at, end) in present {
        out.push_str(&q[from..at]);
        from = end;
    }
    out.push_str(&q[from..]);
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `name:value`, quoted when the value has spaces or would read as a
/// quoted value.
fn quoted(name: &str, value: &str) -> String {
    if value.chars().any(char::is_whitespace) {
        format!("{name}:\"{value}\"")
    } else {
        format!("{name}:{value}")
    }
}

/// The bars of `histogram`, each linking to `q` narrowed to its span.
pub fn bars(histogram: &Histogram, q: &str, href: impl Fn(&str) -> String) -> Vec<Bar> {
    let tallest = histogram
        .buckets
        .iter()
        .map(|b| b.0)
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |n: u64| -> u32 {
        // Rounded up, so a bucket of one record still shows.
        let h = (n * u64::from(BAR_HEIGHT)).div_ceil(tallest);
        u32::try_from(h).unwrap_or(BAR_HEIGHT)
    };
    histogram
        .buckets
        .iter()
        .enumerate()
        .map(|(i, &(all, deletes))| {
            let start = histogram.from_ms + i as i64 * histogram.bucket_ms;
            let end = start + histogram.bucket_ms;
            let (from, to) = (format_ms(start), format_ms(end));
            let height = scale(all);
            let delete_height = scale(deletes);
            let narrowed = format!("{} after:{from} before:{to}", q.trim_end());
            Bar {
                x: i * 10,
                y: BAR_HEIGHT - height,
                height,
                delete_y: BAR_HEIGHT - delete_height,
                delete_height,
                label: format!(
                    "{from} – {to}: {all} change{}, {deletes} delete{}",
                    if all == 1 { "" } else { "s" },
                    if deletes == 1 { "" } else { "s" }
                ),
                href: href(narrowed.trim_start()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggling_adds_a_missing_term_and_removes_a_present_one() {
        assert_eq!(toggle("", "author", "ann").as_deref(), Some("author:ann"));
        assert_eq!(
            toggle("op:delete", "author", "Ann Lee").as_deref(),
            Some(r#"op:delete author:"Ann Lee""#)
        );
        assert_eq!(
            toggle(
                r#"type:book author:ann after:"3 hours ago""#,
                "author",
                "ann"
            )
            .as_deref(),
            Some(r#"type:book after:"3 hours ago""#)
        );
        assert_eq!(
            toggle(r#"author:"Ann Lee" op:delete"#, "author", "Ann Lee").as_deref(),
            Some("op:delete")
        );
        // A negated term is not the value asked for: it stays, and the
        // positive one is added.
        assert_eq!(
            toggle("-author:ann", "author", "ann").as_deref(),
            Some("-author:ann author:ann")
        );
        assert_eq!(toggle("", "author", r#"a"b"#), None);
    }

    #[test]
    fn facets_mark_what_the_query_asks_and_cap_the_values() {
        let summary = ChangeSummary {
            counted: 12,
            complete: true,
            authors: (0..10).map(|i| (format!("a{i}"), 10 - i)).collect(),
            operations: vec![("delete".into(), 2)],
            ..ChangeSummary::default()
        };
        let f = facets(&summary, "author:a1", |q| format!("/?q={q}"));
        assert_eq!(f[0].qualifier, "author");
        assert_eq!(f[0].values.len(), VALUES_SHOWN);
        assert_eq!(f[0].more, 2);
        assert!(f[0].values[1].active && !f[0].values[0].active);
        assert_eq!(f[0].values[1].href.as_deref(), Some("/?q="));
        assert_eq!(
            f[0].values[0].href.as_deref(),
            Some("/?q=author:a1 author:a0")
        );
        assert_eq!(
            f[2].values[0].href.as_deref(),
            Some("/?q=author:a1 op:delete")
        );
    }

    #[test]
    fn bars_scale_to_the_tallest_and_stack_deletes() {
        let h = Histogram {
            from_ms: 1_767_225_600_000,
            bucket_ms: 60_000,
            buckets: vec![(4, 1), (0, 0), (1, 0)],
        };
        let b = bars(&h, "type:book", |q| q.to_owned());
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].height, b[0].y), (BAR_HEIGHT, 0));
        assert_eq!(b[0].delete_height, BAR_HEIGHT / 4);
        assert_eq!(b[1].height, 0);
        assert_eq!(b[2].height, BAR_HEIGHT / 4);
        assert_eq!(b[2].x, 20);
        assert_eq!(
            b[0].href,
            "type:book after:2026-01-01T00:00:00Z before:2026-01-01T00:01:00Z"
        );
        assert!(
            b[0].label.ends_with(": 4 changes, 1 delete"),
            "{}",
            b[0].label
        );
    }
}
