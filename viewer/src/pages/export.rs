//! `GET /ui/export?q=…&format=ndjson|csv`: the search's records with their
//! bodies (see [`crate::export`]), journaled (`trailmark.export`, by the
//! signed-in principal, with the query) before a row is read; when that
//! cannot be done, nothing is exported.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Shared, SignedIn, message};
use crate::Export;
use crate::export::{Format, stream};
use crate::search;
use crate::when::now_ms;

/// The export's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExportParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    format: String,
}

/// The handler.
pub(crate) async fn export(
    State(state): Shared,
    method: Method,
    who: SignedIn,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    if method == Method::HEAD {
        // A probe (link checkers, prefetchers) exports and journals nothing.
        return StatusCode::OK.into_response();
    }
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let format = match Format::parse(&params.format) {
        Ok(format) => format,
        Err(e) => return message(StatusCode::BAD_REQUEST, who.chrome(), "Bad request", e),
    };
    let parsed = match search::parse(&params.q, now_ms()) {
        Ok(s) => s,
        Err(e) => {
            return message(
                StatusCode::BAD_REQUEST,
                who.chrome(),
                "Bad query",
                e.to_string(),
            );
        }
    };
    let recorded = state
        .trail
        .record_export(Export {
            who: who.session.principal.name.clone(),
            query: params.q.clone(),
            format: format.as_str(),
        })
        .await;
    if let Err(e) = recorded {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            who.chrome(),
            "Not exported",
            format!(
                "the export was not run: its audit record could not be journaled ({e}); try again"
            ),
        );
    }
    tracing::info!(principal = %who.session.principal.name, query = %params.q, "viewer export");
    stream(
        state.metadata.clone(),
        state.archive.clone(),
        parsed,
        format,
    )
}
