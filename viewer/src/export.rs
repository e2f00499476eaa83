//! Exports: every record a search matches, newest first, each with its
//! archived body, as NDJSON or CSV, streamed as it is read (one store page
//! and a few rows in memory, no row ceiling). A store failure mid-way aborts
//! the response, so a client never takes a cut file for a whole one.
//!
//! Served twice: by the viewer's page (`/ui/export`, session cookie) and by
//! the host's API (`GET /v1/export`, bearer token, for `trailmark export`).
//! Both journal the export before calling [`stream`].

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use trailmark_backend_api::{ArchiveStore, ChangeRecord, MetadataStore};

use crate::search::{self, SCAN_BUDGET, Search};
use crate::when::format_ms;

/// Records read from the store at a time.
const BATCH: usize = 500;
/// Rows queued between the reading thread and the connection.
const QUEUED_ROWS: usize = 16;

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, as `GET /v1/changes` shows a record, with
    /// `body` (and `body-error` when it cannot be read).
    Ndjson,
    /// RFC 4180 CSV with a header line; `attributes` and `body` as JSON text.
    Csv,
}

impl Format {
    /// `ndjson` (also the empty string) or `csv`.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "" | "ndjson" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            other => Err(format!("`format` is ndjson or csv; got {other:?}")),
        }
    }

    /// The name, as [`Format::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

/// The streamed response of every record `search` matches, with bodies.
/// Call it once the export is journaled.
pub fn stream(
    metadata: Arc<dyn MetadataStore>,
    archive: Arc<dyn ArchiveStore>,
    search: Search,
    format: Format,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_ROWS);
    tokio::task::spawn_blocking(move || {
        if format == Format::Csv && tx.blocking_send(Ok(csv_row(&CSV_HEADER))).is_err() {
            return;
        }
        let mut cursor = None;
        loop {
            let page = match search::page(metadata.as_ref(), &search, cursor, BATCH, SCAN_BUDGET) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "export: the store failed; response aborted");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            for record in page.rows {
                let body = read_body(archive.as_ref(), &record);
                let line = match format {
                    Format::Ndjson => ndjson_row(record, body),
                    Format::Csv => csv_record(record, body),
                };
                if tx.blocking_send(Ok(line)).is_err() {
                    return; // the client went away
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let (kind, name) = match format {
        Format::Ndjson => ("application/x-ndjson", "trailmark-export.ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "trailmark-export.csv"),
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// The body archived for a version: `Ok(None)` when none was archived.
pub(crate) fn read_body(
    archive: &dyn ArchiveStore,
    record: &ChangeRecord,
) -> Result<Option<Value>, String> {
    let Some(key) = record.archive_key.as_deref() else {
        return Ok(None);
    };
    match archive.get(key) {
        Ok(Some(bytes)) => Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }))),
        Ok(None) => Err(format!("no body is stored under archive key {key:?}")),
        Err(e) => {
            tracing::warn!(event_id = %record.event_id, error = %e, "viewer: a version's body cannot be read");
            Err(e.to_string())
        }
    }
}

/// A record as `GET /v1/changes` shows it, with its body.
fn ndjson_row(r: ChangeRecord, body: Result<Option<Value>, String>) -> Bytes {
    let mut row = Map::new();
    row.insert("event-id".into(), json!(r.event_id));
    row.insert("source".into(), json!(r.source));
    row.insert("entity-type".into(), json!(r.entity_type));
    row.insert("entity-id".into(), json!(r.entity_id));
    row.insert("operation".into(), json!(r.operation));
    row.insert("time".into(), json!(format_ms(r.ts)));
    row.insert("ts".into(), json!(r.ts));
    row.insert("author".into(), json!(r.author));
    if let Some(key) = r.archive_key {
        row.insert("archive-key".into(), json!(key));
    }
    row.insert(
        "attributes".into(),
        serde_json::from_str(&r.attributes).unwrap_or(Value::Null),
    );
    row.insert("rules".into(), json!(r.rules));
    match body {
        Ok(body) => {
            row.insert("body".into(), body.unwrap_or(Value::Null));
        }
        Err(e) => {
            row.insert("body".into(), Value::Null);
            row.insert("body-error".into(), json!(e));
        }
    }
    let mut line = Value::Object(row).to_string();
    line.push('\n');
    Bytes::from(line)
}

const CSV_HEADER: [&str; 12] = [
    "time",
    "event_id",
    "source",
    "entity_type",
    "entity_id",
    "operation",
    "author",
    "archive_key",
    "attributes",
    "rules",
    "body",
    "body_error",
];

fn csv_record(r: ChangeRecord, body: Result<Option<Value>, String>) -> Bytes {
    let (body, body_error) = match body {
        Ok(Some(v)) => (v.to_string(), String::new()),
        Ok(None) => (String::new(), String::new()),
        Err(e) => (String::new(), e),
    };
    csv_row(&[
        &format_ms(r.ts),
        &r.event_id,
        &r.source,
        &r.entity_type,
        &r.entity_id,
        &r.operation,
        &r.author,
        r.archive_key.as_deref().unwrap_or_default(),
        &r.attributes,
        &r.rules.join(" "),
        &body,
        &body_error,
    ])
}

/// One CSV line (RFC 4180, through the `csv` crate).
fn csv_row(fields: &[&str]) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; a failure would leave the line empty.
    let _ = writer.write_record(fields);
    Bytes::from(writer.into_inner().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let line = csv_row(&["a", "b,c", "say \"hi\"", "two\nlines"]);
        assert_eq!(&line[..], b"a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\n");
    }
}
