//! `GET /ui/events/{id}`: the envelope, where the journal holds it, and the
//! verdict of every live rule on it.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::{Shared, SignedIn, history_href, message, render, unavailable};
use crate::Delivery;
use crate::explain::{LiveRule, explain};
use crate::integrity::{Integrity, integrity};
use crate::journal_reads::JournalReadRefused;
use crate::templates::{EventPage, VerdictView};
use crate::when::format_ms;

/// The handler.
pub(crate) async fn event_page(
    State(state): Shared,
    who: SignedIn,
    Path(id): Path<String>,
) -> Response {
    // Held until the journal has been read.
    let _slot = match state.journal_reads.admit(&who.session.principal.name).await {
        Ok(slot) => slot,
        Err(refused) => return journal_read_refused(&who, refused),
    };
    let trail = state.trail.clone();
    let lookup = id.clone();
    let found = tokio::task::spawn_blocking(move || {
        trail.find_event(&lookup).map(|found| {
            found.map(|event| {
                let checkpoint = trail.last_checkpoint();
                (
                    event,
                    trail.live_rules(),
                    checkpoint,
                    trail.verify_command(),
                )
            })
        })
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let (event, rules, checkpoint, verify_command) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                who.chrome(),
                "No such event",
                format!(
                    "The journal holds no event with id {id:?} (retention may have removed it)."
                ),
            );
        }
        Err(e) => {
            return unavailable(
                who.chrome(),
                "Journal unavailable",
                "the journal lookup",
                &e,
            );
        }
    };
    let envelope: Value = serde_json::from_slice(&event.envelope)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&event.envelope).into_owned()));
    let detail = envelope.get("detail");
    let text = |key: &str| detail.and_then(|d| d.get(key)).and_then(Value::as_str);
    let history = match (text("entity-type"), text("entity-id")) {
        (Some(t), Some(i)) => Some(history_href(t, i)),
        _ => None,
    };
    let verdicts = verdict_views(&rules, &envelope, &event.matched);
    let (integrity, integrity_text) = match integrity(event.seq, &event.chain, checkpoint) {
        Integrity::Broken(why) => (
            "broken",
            format!(
                "Broken: {why}. The journal was altered; run the command below for the whole chain."
            ),
        ),
        Integrity::Covered(c) => (
            "covered",
            format!(
                "Intact, covered by the signed checkpoint of {} (records up to {}).",
                format_ms(c.time_ms),
                c.seq
            ),
        ),
        Integrity::Pending(Some(c)) => (
            "pending",
            format!(
                "Intact, written after the last signed checkpoint ({}, records up to {}); the next one covers it.",
                format_ms(c.time_ms),
                c.seq
            ),
        ),
        Integrity::Pending(None) => (
            "pending",
            "Intact; no checkpoint is signed yet, the first one covers it.".to_owned(),
        ),
    };
    let page = EventPage {
        chrome: who.chrome(),
        id,
        seq: event.seq,
        hash: event.hash,
        ruleset: event.ruleset,
        matched: event.matched,
        envelope: serde_json::to_string_pretty(&envelope).unwrap_or_default(),
        verdicts,
        history_href: history,
        integrity,
        integrity_text,
        verify_command,
        deliveries: event
            .deliveries
            .into_iter()
            .map(|(rule, delivery)| {
                let (text, class) = delivery_text(delivery);
                (rule, text, class)
            })
            .collect(),
    };
    render(StatusCode::OK, &page)
}

/// 429 (with `Retry-After`) or 503 for a journal read that may not run now.
fn journal_read_refused(who: &SignedIn, refused: JournalReadRefused) -> Response {
    let (status, retry_after) = match refused {
        JournalReadRefused::TooMany { retry_after_secs } => {
            (StatusCode::TOO_MANY_REQUESTS, retry_after_secs)
        }
        JournalReadRefused::Busy => (StatusCode::SERVICE_UNAVAILABLE, 5),
    };
    tracing::info!(principal = %who.session.principal.name, %refused, "viewer: journal read refused");
    let mut answer = message(status, who.chrome(), "Slow down", refused.to_string());
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    answer
}

/// A delivery's state in words, and its CSS class.
fn delivery_text(delivery: Delivery) -> (String, &'static str) {
    match delivery {
        Delivery::Delivered => ("delivered".to_owned(), "ok"),
        Delivery::DeadLettered(id) => (
            format!("dead-lettered (dead letter {id}: `trailmark dlq show {id}`)"),
            "bad",
        ),
        Delivery::Pending => ("pending: queued, running or retrying".to_owned(), "pending"),
        Delivery::NotFound => (
            "no outcome found in the journal records that follow the event".to_owned(),
            "pending",
        ),
    }
}

/// Every live rule's verdict on `envelope`, for display; `delivered` names
/// the rules the pipeline matched when the event was accepted.
pub(super) fn verdict_views(
    rules: &[LiveRule],
    envelope: &Value,
    delivered: &[String],
) -> Vec<VerdictView> {
    explain(rules, envelope)
        .into_iter()
        .map(|v| VerdictView {
            matched_at_ingest: delivered.contains(&v.rule),
            why: v.failed_path.as_ref().map(|path| {
                let required = v.failed_condition.clone().unwrap_or_default();
                match &v.failed_actual {
                    Some(actual) => {
                        format!("`{path}` is {actual} but the pattern requires {required}")
                    }
                    None => format!("`{path}` is missing but the pattern requires {required}"),
                }
            }),
            fields: v
                .fields
                .into_iter()
                .map(|f| (f.path, f.actual.unwrap_or_else(|| "(missing)".to_owned())))
                .collect(),
            rule: v.rule,
            plugin: v.plugin,
            enabled: v.enabled,
            matched: v.matched,
            summary: v.summary,
        })
        .collect()
}
