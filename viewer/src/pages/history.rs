//! `GET /ui/entities/{type}/{id}?source=&from=&to=&cursor=`: an entity's
//! versions, oldest first, each with its archived body, and the structural
//! diff between the two picked (by default the last two).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use trailmark_backend_api::{BackendError, ChangeRecord, HistoryQuery};

use super::{Shared, SignedIn, event_href, history_href, message, render, unavailable, with_query};
use crate::diff::diff;
use crate::export::read_body;
use crate::templates::{ChangeView, DiffView, HistoryPage, VersionView};
use crate::when::Stamp;

/// Versions per page.
const PAGE_VERSIONS: usize = 50;
/// Characters of each body shown in the list (bodies are up to the ingest
/// limit each); the two compared are read in full for the diff.
const BODY_SHOWN_CHARS: usize = 64 * 1024;
/// Changed paths listed at most.
const MAX_CHANGES_SHOWN: usize = 1_000;

/// The history page's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryParams {
    #[serde(default)]
    source: String,
    #[serde(default)]
    cursor: String,
    /// Event id of the older side of the diff.
    #[serde(default)]
    from: String,
    /// Event id of the newer side.
    #[serde(default)]
    to: String,
}

/// A version with its body read, as shown (cut at [`BODY_SHOWN_CHARS`]),
/// and the rules its event matched.
struct Loaded {
    record: ChangeRecord,
    rules: Option<Vec<String>>,
    shown: Result<Option<String>, String>,
}

/// A page of versions, and the two picked for the diff with their bodies.
struct Picked {
    versions: Vec<Loaded>,
    next_cursor: Option<String>,
    /// (index, body) of the older and the newer side.
    pair: Option<[(usize, Option<Value>); 2]>,
}

/// The handler.
pub(crate) async fn history_page(
    State(state): Shared,
    who: SignedIn,
    Path((entity_type, entity_id)): Path<(String, String)>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Response {
    // A malformed query string is read as no parameters: the page shows
    // everything rather than an error about its own links.
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let query = HistoryQuery {
        entity_type: entity_type.clone(),
        entity_id: entity_id.clone(),
        source: Some(params.source.clone()).filter(|s| !s.is_empty()),
        limit: PAGE_VERSIONS,
        cursor: Some(params.cursor.clone()).filter(|c| !c.is_empty()),
    };
    let (metadata, archive, trail) = (
        state.metadata.clone(),
        state.archive.clone(),
        state.trail.clone(),
    );
    let (want_from, want_to) = (params.from.clone(), params.to.clone());
    let loaded = tokio::task::spawn_blocking(move || {
        let page = metadata.history(&query)?;
        let records = page.records;
        let index_of = |id: &str| records.iter().position(|r| r.event_id == id);
        let to = index_of(&want_to).or(records.len().checked_sub(1));
        let from = index_of(&want_from).or_else(|| to.and_then(|t| t.checked_sub(1)));
        let mut kept = [None, None];
        let mut versions = Vec::with_capacity(records.len());
        // One body in memory at a time, but for the two compared.
        for (i, record) in records.into_iter().enumerate() {
            let body = read_body(archive.as_ref(), &record);
            let shown = body
                .as_ref()
                .map(|b| b.as_ref().map(shown_body))
                .map_err(Clone::clone);
            for (side, at) in [from, to].into_iter().enumerate() {
                if at == Some(i) {
                    kept[side] = Some(body.clone().ok().flatten());
                }
            }
            let rules = trail.matched_rules(&record.event_id);
            versions.push(Loaded {
                record,
                rules,
                shown,
            });
        }
        let pair = match (from, to, kept) {
            (Some(f), Some(t), [Some(a), Some(b)]) => Some([(f, a), (t, b)]),
            _ => None,
        };
        Ok::<_, BackendError>(Picked {
            versions,
            next_cursor: page.next_cursor,
            pair,
        })
    })
    .await
    .unwrap_or_else(|e| Err(BackendError::Transient(e.to_string())));
    let Picked {
        versions,
        next_cursor,
        pair,
    } = match loaded {
        Ok(loaded) => loaded,
        Err(BackendError::Invalid(m)) => {
            return message(StatusCode::BAD_REQUEST, who.chrome(), "Bad request", m);
        }
        Err(e) => {
            return unavailable(who.chrome(), "Store unavailable", "the metadata store", &e);
        }
    };

    let (from, to) = match &pair {
        Some([(f, _), (t, _)]) => (Some(*f), Some(*t)),
        None => (None, None),
    };
    let (diff_view, diff_note) = match &pair {
        Some([(f, a), (t, b)]) => compare((*f, a.as_ref()), (*t, b.as_ref())),
        _ if versions.len() == 1 => (
            None,
            Some("Only one version: nothing to compare.".to_owned()),
        ),
        _ => (None, None),
    };

    let path = history_href(&entity_type, &entity_id);
    let page = HistoryPage {
        chrome: who.chrome(),
        search_href: with_query("/", &[("q", &entity_query(&entity_type, &entity_id))]),
        next_href: next_cursor
            .map(|c| with_query(&path, &[("source", &params.source), ("cursor", &c)])),
        source: Some(params.source).filter(|s| !s.is_empty()),
        versions: versions
            .iter()
            .enumerate()
            .map(|(i, v)| version_view(i, v, from == Some(i), to == Some(i)))
            .collect(),
        diff: diff_view,
        diff_note,
        entity_type,
        entity_id,
    };
    render(StatusCode::OK, &page)
}

/// `entity:type/id`, quoted when it holds a space or a quote cannot be used.
fn entity_query(entity_type: &str, entity_id: &str) -> String {
    let value = format!("{entity_type}/{entity_id}");
    if value.contains(char::is_whitespace) {
        format!("entity:\"{value}\"")
    } else {
        format!("entity:{value}")
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn version_view(i: usize, v: &Loaded, is_from: bool, is_to: bool) -> VersionView {
    let (body, body_note) = match &v.shown {
        Ok(Some(b)) => (Some(b.clone()), None),
        Ok(None) if v.record.operation == "delete" => (
            None,
            Some("Deleted: the delete carried no body.".to_owned()),
        ),
        Ok(None) => (
            None,
            Some("No body was archived for this version.".to_owned()),
        ),
        Err(e) => (None, Some(format!("The body cannot be read: {e}"))),
    };
    let r = &v.record;
    VersionView {
        number: i + 1,
        event_href: event_href(&r.event_id),
        event_id: r.event_id.clone(),
        rules: v.rules.as_ref().map(|rules| rules.join(", ")),
        time: Stamp::of_ms(r.ts),
        operation: r.operation.clone(),
        author: r.author.clone(),
        source: r.source.clone(),
        body,
        body_note,
        is_from,
        is_to,
    }
}

/// A body as listed: pretty, cut at [`BODY_SHOWN_CHARS`] with a note.
fn shown_body(body: &Value) -> String {
    let text = pretty(body);
    match text.char_indices().nth(BODY_SHOWN_CHARS) {
        None => text,
        Some((cut, _)) => format!(
            "{}\n… (cut at {BODY_SHOWN_CHARS} of {} characters; compare it to see every change)",
            &text[..cut],
            text.chars().count()
        ),
    }
}

/// The diff of versions `from` and `to` (index, body), or why there is none.
fn compare(
    (from, a): (usize, Option<&Value>),
    (to, b): (usize, Option<&Value>),
) -> (Option<DiffView>, Option<String>) {
    let (Some(a), Some(b)) = (a, b) else {
        return (
            None,
            Some(format!(
                "Version {} or {} has no readable body: nothing to compare.",
                from + 1,
                to + 1
            )),
        );
    };
    let d = diff(a, b);
    let show = |v: &Option<Value>| v.as_ref().map(pretty).unwrap_or_default();
    let note = (d.changes.len() > MAX_CHANGES_SHOWN).then(|| {
        format!(
            "{} paths changed; the first {MAX_CHANGES_SHOWN} are listed, the raw bodies hold the rest.",
            d.changes.len()
        )
    });
    let view = DiffView {
        from: from + 1,
        to: to + 1,
        changes: d
            .changes
            .iter()
            .take(MAX_CHANGES_SHOWN)
            .map(|c| ChangeView {
                path: if c.path.is_empty() {
                    "(whole body)".to_owned()
                } else {
                    c.path.clone()
                },
                kind: c.kind.as_str(),
                before: show(&c.before),
                after: show(&c.after),
            })
            .collect(),
        unchanged: d.unchanged,
        raw_from: pretty(a),
        raw_to: pretty(b),
    };
    (Some(view), note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_in_the_list_and_say_so() {
        let short = serde_json::json!({"a": 1});
        assert_eq!(shown_body(&short), pretty(&short));
        let long = Value::String("é".repeat(BODY_SHOWN_CHARS * 2));
        let shown = shown_body(&long);
        assert!(shown.chars().count() < BODY_SHOWN_CHARS + 200);
        assert!(
            shown.contains("cut at 65536 of 131074 characters"),
            "{}",
            &shown[shown.len() - 120..]
        );
    }

    #[test]
    fn entity_queries_quote_spaces() {
        assert_eq!(entity_query("book", "42"), "entity:book/42");
        assert_eq!(entity_query("book", "a b"), "entity:\"book/a b\"");
    }
}
