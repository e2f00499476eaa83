//! Health, readiness, metrics, status and the admin API (rules, dead letters,
//! replay, reload).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dispatch::DeadLetter;
use crate::engine;
use crate::engine::pipeline::Pipeline;
use crate::engine::reload::{ReloadStatus, Reloader};
use crate::engine::replay::ReplayError;
use crate::metrics::Metrics;
use crate::timespec::format_ms;

/// What the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    /// The pipeline (rules, journal, dispatcher).
    pub pipeline: Arc<Pipeline>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// When the server started.
    pub started: Instant,
    /// Data directory, for storage use.
    pub data_dir: std::path::PathBuf,
    /// Last reload result, shown by status.
    pub reload: Arc<std::sync::Mutex<ReloadStatus>>,
    /// Forces a reload.
    pub reloader: Arc<Reloader>,
    /// The audit viewer, when it is on (its live streams are in /metrics).
    pub viewer: Option<Arc<trailmark_viewer::ViewerState>>,
    /// Backups: the last good one's age in /metrics, late ones in /readyz.
    pub backup: Arc<crate::backup::schedule::BackupStatus>,
}

/// An admin API error.
#[derive(Debug)]
pub struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = match self.0 {
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::BAD_REQUEST => "BadRequest",
            _ => "Internal",
        };
        (self.0, Json(json!({"error": code, "message": self.1}))).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Routes for health, metrics and `/v1/admin/*`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/admin/status", get(status))
        .route("/v1/admin/rules", get(rules))
        .route("/v1/admin/plugins", get(plugins))
        .route("/v1/admin/rules/{name}", get(rule))
        .route("/v1/admin/dlq", get(dlq_list))
        .route("/v1/admin/dlq/{id}", get(dlq_show))
        .route("/v1/admin/dlq/replay", post(dlq_replay))
        .route("/v1/admin/dlq/purge", post(dlq_purge))
        .route("/v1/admin/reload", post(reload))
        .route("/v1/admin/replay", post(replay))
        .with_state(state)
}

async fn reload(State(s): State<AdminState>) -> Response {
    let outcome = s.reloader.reload("admin API").await;
    let status = if outcome.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(outcome)).into_response()
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    // The event index's bounded queue: ingest answers 503 when it is full.
    let index = s.pipeline.event_index();
    text.push_str(&format!(
        "# HELP trailmark_event_index_pending Accepted events whose id is not yet written to the on-disk event index.\n\
         # TYPE trailmark_event_index_pending gauge\n\
         trailmark_event_index_pending {}\n\
         # HELP trailmark_event_index_pending_max Past this many, ingest answers 503.\n\
         # TYPE trailmark_event_index_pending_max gauge\n\
         trailmark_event_index_pending_max {}\n",
        index.pending(),
        crate::engine::event_index::MAX_PENDING
    ));
    if let Some(viewer) = &s.viewer {
        let (open, max) = viewer.live_streams();
        text.push_str(&format!(
            "# HELP trailmark_viewer_live_streams Live-tail streams open; past the max the viewer answers 503.\n\
             # TYPE trailmark_viewer_live_streams gauge\n\
             trailmark_viewer_live_streams {open}\n\
             # HELP trailmark_viewer_live_streams_max Live-tail streams that may be open at once.\n\
             # TYPE trailmark_viewer_live_streams_max gauge\n\
             trailmark_viewer_live_streams_max {max}\n"
        ));
    }
    text.push_str(&crate::engine::correlator::render_metrics(
        &s.pipeline.correlator().stats(),
        s.pipeline.fires_journaled(),
    ));
    text.push_str(&s.backup.render(crate::timespec::now_ms()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `GET /readyz`: whether this host can take events now. It answers only
/// once recovery has run (the listener opens after it); it then checks that
/// the journal still takes a durable write (a sync through its writer) and
/// reports the rules in force and the last reload. It needs no credentials
/// (probes send none); the reload's errors, which name rule files, are shown
/// only to a caller whose credentials the guard checked.
async fn readyz(
    State(s): State<AdminState>,
    principal: Option<axum::Extension<trailmark_auth::Principal>>,
) -> Response {
    let journal = s.pipeline.journal().clone();
    let synced = tokio::task::spawn_blocking(move || journal.sync().map_err(|e| e.to_string()))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let rules = s.pipeline.rules().set.len();
    let reload = s.reload.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (status, mut body) = readiness(synced, rules, &reload);
    // Late backups are a warning, not a reason to stop traffic.
    let started_ms = crate::timespec::now_ms() - s.started.elapsed().as_millis() as i64;
    if let Some(warning) = s.backup.warning(crate::timespec::now_ms(), started_ms) {
        body["warnings"] = json!([warning]);
    }
    if principal.is_none()
        && let Some(reload) = body["reload"].as_object_mut()
    {
        reload.remove("errors");
    }
    (status, Json(body)).into_response()
}

/// The readiness answer: 503 when the journal cannot take a durable write
/// (nothing could be acknowledged), else 200; a failed last reload (the
/// previous rules stay in force) is reported, not a reason to stop traffic.
fn readiness(
    journal: Result<(), String>,
    rules: usize,
    reload: &ReloadStatus,
) -> (StatusCode, Value) {
    let reload = json!({"ok": reload.ok, "at": format_ms(reload.at),
                        "error-count": reload.errors.len(), "errors": reload.errors});
    match journal {
        Ok(()) => (
            StatusCode::OK,
            json!({"status": "ready", "recovered": true, "journal": "writable",
                   "rules": rules, "reload": reload}),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not-ready", "recovered": true,
                   "journal": format!("cannot write: {error}"),
                   "rules": rules, "reload": reload}),
        ),
    }
}

async fn status(State(s): State<AdminState>) -> Result<Json<Value>, AdminError> {
    let active = s.pipeline.rules();
    let dead = s.pipeline.dispatcher().dead_letters().clone();
    let dead_letters = tokio::task::spawn_blocking(move || dead.count(None))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let data_dir = s.data_dir.clone();
    let storage = tokio::task::spawn_blocking(move || dir_size(&data_dir))
        .await
        .map_err(internal)?;
    let reload = s.reload.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lag: serde_json::Map<String, Value> = s
        .metrics
        .rules()
        .into_iter()
        .map(|(name, m)| (name, json!(m.pending.load(Relaxed))))
        .collect();
    let backlogs = s.pipeline.dispatcher().backlogs();
    let backlog: serde_json::Map<String, Value> = backlogs
        .iter()
        .map(|b| {
            let in_memory = s.metrics.rule(&b.rule).pending.load(Relaxed);
            let row = json!({"in-memory": in_memory, "spilled": b.spilled, "spilled-from": b.spilled_from});
            (b.rule.clone(), row)
        })
        .collect();
    Ok(Json(json!({
        "uptime-seconds": s.started.elapsed().as_secs(),
        "ruleset-version": active.version,
        "rules": active.set.len(),
        "last-reload": reload,
        "events-accepted": s.metrics.events_accepted.load(Relaxed),
        "pending-deliveries": s.pipeline.dispatcher().pending(),
        "spilled-deliveries": backlogs.iter().map(|b| b.spilled).sum::<u64>(),
        "lag": lag,
        "backlog": backlog,
        "dead-letters": dead_letters,
        "journal": {
            "first-seq": s.pipeline.journal().first_seq(),
            "head-seq": s.pipeline.journal().head().seq,
            "bytes": s.pipeline.journal().disk_usage(),
        },
        "storage-bytes": storage,
    })))
}

fn rule_json(s: &AdminState, r: &crate::rules::LoadedRule) -> Value {
    let m = s.metrics.rule(&r.rule.name);
    json!({
        "name": r.rule.name,
        "description": r.rule.description,
        "file": r.file,
        "pattern": r.rule.pattern_json,
        "summary": r.rule.pattern.summary(),
        "plugin": r.rule.plugin,
        "state": if r.rule.enabled { "enabled" } else { "disabled" },
        "matches": m.matched.load(Relaxed),
        "delivered": m.delivered.load(Relaxed),
        "failures": m.retried.load(Relaxed) + m.dead_lettered.load(Relaxed),
        "dead-lettered": m.dead_lettered.load(Relaxed),
        "lag": m.pending.load(Relaxed),
        "p99-ms": m.call_latency.quantile(0.99).map(|d| d.as_secs_f64() * 1e3),
    })
}

async fn plugins(State(s): State<AdminState>) -> Json<Value> {
    let active = s.pipeline.rules();
    let loaded: Vec<(String, [u8; 32])> = s
        .reloader
        .plugins
        .loaded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(name, (digest, _))| (name.clone(), *digest))
        .collect();
    let mut out: Vec<Value> = loaded
        .into_iter()
        .map(|(name, digest)| {
            let users: Vec<&str> = active
                .set
                .rules()
                .iter()
                .filter(|r| r.rule.plugin.as_deref() == Some(name.as_str()))
                .map(|r| r.rule.name.as_str())
                .collect();
            let (mut calls, mut p99) = (0u64, None::<f64>);
            for rule in &users {
                let m = s.metrics.rule(rule);
                calls += m.delivered.load(Relaxed) + m.retried.load(Relaxed) + m.dead_lettered.load(Relaxed);
                if let Some(q) = m.call_latency.quantile(0.99) {
                    let ms = q.as_secs_f64() * 1e3;
                    p99 = Some(p99.map_or(ms, |p: f64| p.max(ms)));
                }
            }
            json!({"name": name, "sha256": hex::encode(digest), "rules": users, "calls": calls, "p99-ms": p99})
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Json(json!({"plugins": out}))
}

async fn rules(State(s): State<AdminState>) -> Json<Value> {
    let active = s.pipeline.rules();
    let rules: Vec<Value> = active
        .set
        .rules()
        .iter()
        .map(|r| rule_json(&s, r))
        .collect();
    Json(json!({"version": active.version, "rules": rules}))
}

async fn rule(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let active = s.pipeline.rules();
    let r = active.set.get(&name).ok_or_else(|| {
        AdminError(
            StatusCode::NOT_FOUND,
            format!("no rule named `{name}`; `trailmark rules list` shows them"),
        )
    })?;
    let mut v = rule_json(&s, r);
    v["grants"] = json!({
        // As a rule file writes it.
        "archive": match &r.rule.grants.archive {
            None => json!(false),
            Some(a) if a.is_default() => json!(true),
            Some(a) => json!({"read": a.read, "write-prefix": a.write_prefix}),
        },
        "metadata": r.rule.grants.metadata,
        "notify": r.rule.grants.notify,
        "forward": r.rule.grants.forward,
    });
    v["config"] = r.rule.config.clone();
    v["retry"] = json!({"max-attempts": r.rule.retry.max_attempts, "max-age-seconds": r.rule.retry.max_age.as_secs()});
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DlqQuery {
    rule: Option<String>,
    limit: Option<usize>,
}

fn letter_json(d: &DeadLetter, with_event: bool) -> Value {
    let mut v = json!({
        "id": d.id, "seq": d.seq, "event-id": d.event_id, "rule": d.rule,
        "attempts": d.attempts, "error": d.error, "failed-at": format_ms(d.failed_at),
    });
    if with_event {
        // The EventBridge envelope with `detail` as an object, so the event
        // can be fed back to `trailmark rules test --event`.
        v["event"] = serde_json::from_str::<trailmark_backends::Event>(&d.event)
            .map_or(Value::Null, |event| engine::envelope::to_value(&event));
    }
    v
}

async fn dlq_list(
    State(s): State<AdminState>,
    Query(q): Query<DlqQuery>,
) -> Result<Json<Value>, AdminError> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let letters = tokio::task::spawn_blocking(move || store.list(q.rule.as_deref(), limit))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(Json(
        json!({"dead-letters": letters.iter().map(|d| letter_json(d, false)).collect::<Vec<_>>()}),
    ))
}

async fn dlq_show(
    State(s): State<AdminState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AdminError> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    let letter = tokio::task::spawn_blocking(move || store.get(id))
        .await
        .map_err(internal)?
        .map_err(internal)?
        .ok_or_else(|| {
            AdminError(
                StatusCode::NOT_FOUND,
                format!("no dead letter {id}; `trailmark dlq list` shows them"),
            )
        })?;
    Ok(Json(letter_json(&letter, true)))
}

/// Body of dead-letter replay and purge: explicit ids, or all of one rule, or all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DlqSelection {
    #[serde(default)]
    ids: Vec<i64>,
    rule: Option<String>,
}

async fn select(s: &AdminState, sel: DlqSelection) -> Result<Vec<DeadLetter>, AdminError> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<DeadLetter>, AdminError> {
        if sel.ids.is_empty() {
            return store
                .list(sel.rule.as_deref(), usize::MAX >> 1)
                .map_err(internal);
        }
        let mut out = Vec::new();
        for id in sel.ids {
            match store.get(id).map_err(internal)? {
                Some(d) if sel.rule.as_deref().is_none_or(|r| r == d.rule) => out.push(d),
                Some(_) => {}
                None => {
                    return Err(AdminError(
                        StatusCode::NOT_FOUND,
                        format!("no dead letter {id}"),
                    ));
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(internal)?
}

async fn dlq_replay(
    State(s): State<AdminState>,
    body: Option<Json<DlqSelection>>,
) -> Result<Json<Value>, AdminError> {
    let letters = select(&s, body.map(|b| b.0).unwrap_or_default()).await?;
    let done = super::dead_letters::replay(&s.pipeline, letters)
        .await
        .map_err(internal)?;
    let failed: Vec<Value> = done
        .failed
        .iter()
        .map(|(id, message)| json!({"id": id, "message": message}))
        .collect();
    Ok(Json(json!({"replayed": done.replayed, "failed": failed})))
}

async fn dlq_purge(
    State(s): State<AdminState>,
    body: Option<Json<DlqSelection>>,
) -> Result<Json<Value>, AdminError> {
    let letters = select(&s, body.map(|b| b.0).unwrap_or_default()).await?;
    let ids: Vec<i64> = letters.iter().map(|d| d.id).collect();
    super::dead_letters::purge(&s.pipeline, ids.clone())
        .await
        .map_err(internal)?;
    Ok(Json(json!({"purged": ids})))
}

/// Body of `POST /v1/admin/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    since: String,
    until: Option<String>,
    rule: Option<String>,
}

/// Re-deliver journaled events accepted in a time range to the rules they
/// match now (all, or one), as EventBridge's archive replay does.
async fn replay(
    State(s): State<AdminState>,
    Json(r): Json<ReplayRequest>,
) -> Result<Json<Value>, AdminError> {
    let now = crate::timespec::now_ms();
    let bad = |e: String| AdminError(StatusCode::BAD_REQUEST, e);
    let since =
        crate::timespec::parse_time_ms(&r.since, now).map_err(|e| bad(format!("`since`: {e}")))?;
    let until = match &r.until {
        Some(u) => {
            crate::timespec::parse_time_ms(u, now).map_err(|e| bad(format!("`until`: {e}")))?
        }
        None => i64::MAX,
    };
    let replayed = engine::replay::replay(&s.pipeline, since, until, r.rule, now)
        .await
        .map_err(|e| match e {
            ReplayError::NoSuchRule(_) => AdminError(StatusCode::NOT_FOUND, e.to_string()),
            other => internal(other),
        })?;
    Ok(Json(
        json!({"events": replayed.events, "deliveries": replayed.deliveries}),
    ))
}

#[cfg(test)]
mod readiness_tests {
    use super::*;

    fn reload(ok: bool) -> ReloadStatus {
        ReloadStatus {
            at: 0,
            ok,
            errors: if ok {
                vec![]
            } else {
                vec!["rules/a.yaml:3:1: bad".into()]
            },
        }
    }

    #[test]
    fn a_journal_that_cannot_write_makes_the_host_not_ready() {
        let (status, body) = readiness(Err("journal closed".into()), 4, &reload(true));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "not-ready");
        assert!(
            body["journal"]
                .as_str()
                .is_some_and(|j| j.contains("journal closed"))
        );
    }

    #[test]
    fn a_failed_reload_is_reported_but_the_host_stays_ready() {
        let (status, body) = readiness(Ok(()), 4, &reload(false));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["rules"], 4);
        assert_eq!(body["reload"]["ok"], false);
        assert_eq!(body["reload"]["errors"][0], "rules/a.yaml:3:1: bad");
    }
}
