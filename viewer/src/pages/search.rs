//! `GET /?q=…&cursor=…`: the query bar and one page of results.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use trailmark_backend_api::BackendError;

use super::{Shared, SignedIn, event_href, history_href, render, with_query};
use crate::facets::{self, BAR_HEIGHT, BARS, COUNTED};
use crate::search::{self, QUALIFIERS, SCAN_BUDGET};
use crate::templates::{LIVE_SECONDS, Row, SearchPage, SummaryView};
use crate::when::{Stamp, now_ms};

/// Rows per page.
const PAGE_ROWS: usize = 50;

/// The search page's query string: the state every link carries.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
    /// `live=1`: follow the newest changes (first page only).
    #[serde(default)]
    live: String,
}

/// The handler.
pub(crate) async fn search_page(
    State(state): Shared,
    who: SignedIn,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    // A malformed query string is read as no parameters: the page shows
    // everything rather than an error about its own links.
    let params = params.map(|Query(p)| p).unwrap_or_default();
    // Only the first page (the newest changes) is followed live.
    let live = !params.live.is_empty() && params.cursor.is_empty();
    let live_toggle_href = if live {
        with_query("/", &[("q", &params.q)])
    } else {
        with_query("/", &[("q", &params.q), ("live", "1")])
    };
    let mut page = SearchPage {
        live,
        live_toggle_href,
        live_src: with_query("/ui/live", &[("q", &params.q)]),
        live_seconds: LIVE_SECONDS,
        chrome: who.chrome(),
        q: params.q.clone(),
        error: None,
        rows: Vec::new(),
        next_href: None,
        export_hrefs: (
            with_query("/ui/export", &[("q", &params.q), ("format", "ndjson")]),
            with_query("/ui/export", &[("q", &params.q), ("format", "csv")]),
        ),
        note: None,
        qualifiers: QUALIFIERS
            .iter()
            .map(|q| format!("{q}:"))
            .collect::<Vec<_>>()
            .join(" "),
        summary: None,
    };
    let parsed = match search::parse(&params.q, now_ms()) {
        Ok(s) => s,
        Err(e) => {
            page.error = Some(e.to_string());
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let cursor = Some(params.cursor.clone()).filter(|c| !c.is_empty());
    // The first page also counts the result (facets, histogram), in
    // parallel with reading its rows; later pages show the rows only.
    let summarize = cursor.is_none().then(|| {
        let metadata = state.metadata.clone();
        let filter = parsed.clone();
        tokio::task::spawn_blocking(move || metadata.summarize(&filter, COUNTED, BARS))
    });
    let metadata = state.metadata.clone();
    let found = tokio::task::spawn_blocking(move || {
        search::page(metadata.as_ref(), &parsed, cursor, PAGE_ROWS, SCAN_BUDGET)
    })
    .await
    .unwrap_or_else(|e| Err(BackendError::Transient(e.to_string())));
    if let Some(summarize) = summarize {
        match summarize.await {
            Ok(Ok(Some(summary))) => page.summary = Some(summary_view(&summary, &params.q)),
            // The store cannot count: no facets, the rows still show.
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "viewer: counting the result failed"),
            Err(e) => tracing::warn!(error = %e, "viewer: counting the result failed"),
        }
    }
    let found = match found {
        Ok(found) => found,
        Err(BackendError::Invalid(m)) => {
            page.error = Some(m);
            return render(StatusCode::BAD_REQUEST, &page);
        }
        Err(e) => {
            tracing::warn!(error = %e, "viewer search failed");
            page.error = Some(format!("the metadata store failed: {e}; try again"));
            return render(StatusCode::SERVICE_UNAVAILABLE, &page);
        }
    };
    if found.budget_spent {
        page.note = Some(format!(
            "Read {} records to filter on the server (the store cannot express OR or negation) \
             and stopped; the next page continues the scan.",
            found.scanned
        ));
    }
    page.next_href = found
        .next_cursor
        .map(|c| with_query("/", &[("q", &params.q), ("cursor", &c)]));
    page.rows = found
        .rows
        .into_iter()
        .map(|r| Row {
            time: Stamp::of_ms(r.ts),
            history_href: history_href(&r.entity_type, &r.entity_id),
            event_href: event_href(&r.event_id),
            operation: r.operation,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            author: r.author,
            source: r.source,
            event_id: r.event_id,
        })
        .collect();
    render(StatusCode::OK, &page)
}

/// The facets and bars of a result, their links keeping the query.
fn summary_view(summary: &trailmark_backend_api::ChangeSummary, q: &str) -> SummaryView {
    let href = |text: &str| with_query("/", &[("q", text)]);
    let h = &summary.histogram;
    SummaryView {
        counted: if summary.complete {
            format!(
                "{} match{}",
                summary.counted,
                if summary.counted == 1 { "" } else { "es" }
            )
        } else {
            format!("the newest {} matches", summary.counted)
        },
        facets: facets::facets(summary, q, href),
        bars: facets::bars(h, q, href),
        width: BARS * 10,
        height: BAR_HEIGHT,
        from: Stamp::of_ms(h.from_ms),
        to: Stamp::of_ms(h.from_ms + h.bucket_ms * h.buckets.len() as i64),
    }
}
