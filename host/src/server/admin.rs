//! Health, readiness, metrics, status and the admin API (rules, dead letters,
//! replay, reload).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dispatch::DeadLetter;
use crate::engine;
use crate::engine::pipeline::Pipeline;
use crate::engine::reload::{ReloadOutcome, ReloadStatus, Reloader};
use crate::engine::replay::{ReplayError, Replayed};
use crate::metrics::Metrics;
use trailmark_backend_api::when::format_ms;

use super::access::ResultCount;
use super::api_error::{ApiError, ApiJson, ApiPath, ApiQuery, Refused, blocking, off_thread};
use super::params::TimeText;

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
    /// The subject key store, when `[subjects]` seals anything (its keys
    /// are in /metrics).
    pub subjects: Option<Arc<crate::subjects::Subjects>>,
}

fn internal(e: impl std::fmt::Display) -> Refused {
    ApiError::internal(e)
}

/// The routes' declarations: each registered at the path its annotation
/// names (see [`super::openapi`]).
pub(crate) fn api() -> OpenApiRouter<AdminState> {
    OpenApiRouter::default()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(status))
        .routes(routes!(rules))
        .routes(routes!(plugins))
        .routes(routes!(rule))
        .routes(routes!(dlq_list))
        .routes(routes!(dlq_show))
        .routes(routes!(dlq_replay))
        .routes(routes!(dlq_purge))
        .routes(routes!(reload))
        .routes(routes!(replay))
}

/// Routes for health, metrics and `/v1/admin/*`.
pub fn router(state: AdminState) -> Router {
    api().with_state(state).split_for_parts().0
}

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`: the process answers.
    status: String,
}

/// Liveness: the process answers. No credentials needed.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process answers.", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Load the rules and plugins on disk now (they also reload by themselves
/// when their files change). 422 when the new set has errors: the previous
/// set stays in force.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    responses(
        (status = 200, description = "The new set is in force.", body = ReloadOutcome),
        (status = 422, description = "The new set has errors (`file:line:col: message`); the previous set stays in force.", body = ReloadOutcome),
    ))]
async fn reload(State(s): State<AdminState>) -> Response {
    let outcome = s.reloader.reload("admin API").await;
    let status = if outcome.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(outcome)).into_response()
}

/// Prometheus metrics (text exposition format 0.0.4). Scope `metrics` or `admin`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text format.", content_type = "text/plain", body = String)))]
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
        s.pipeline.snapshot_status(),
    ));
    text.push_str(&s.backup.render(trailmark_backend_api::when::now_ms()));
    if let Some(subjects) = &s.subjects {
        text.push_str(&subjects.keys().status().render());
    }
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

/// The reload part of readiness.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct ReloadSummary {
    /// Whether the last reload put its set in force.
    ok: bool,
    /// When it ran (RFC 3339).
    at: String,
    /// How many problems it found.
    error_count: usize,
    /// The problems (`file:line:col: message`); shown only to a caller
    /// with credentials, as they name rule files.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<String>>,
}

/// The body of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `not-ready`.
    status: String,
    /// Recovery has run (always true once the listener answers).
    recovered: bool,
    /// `writable`, or `cannot write: <reason>`.
    journal: String,
    /// Rules in force.
    rules: usize,
    /// The last reload.
    reload: ReloadSummary,
    /// Conditions that do not stop traffic (a late backup).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Readiness: whether this host can take events now. It answers only once
/// recovery has run (the listener opens after it); it then checks that the
/// journal still takes a durable write (a sync through its writer) and
/// reports the rules in force and the last reload. It needs no credentials
/// (probes send none); the reload's errors, which name rule files, are
/// shown only to a caller whose credentials the guard checked.
#[utoipa::path(get, path = "/readyz", tag = "operations", security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Ready: the journal takes durable writes.", body = Readiness),
        (status = 503, description = "Not ready: the journal cannot take a durable write, so nothing could be acknowledged.", body = Readiness),
    ))]
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
    let started_ms = trailmark_backend_api::when::now_ms() - s.started.elapsed().as_millis() as i64;
    body.warnings.extend(
        s.backup
            .warning(trailmark_backend_api::when::now_ms(), started_ms),
    );
    if principal.is_none() {
        body.reload.errors = None;
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
) -> (StatusCode, Readiness) {
    let (status, word, journal) = match journal {
        Ok(()) => (StatusCode::OK, "ready", "writable".to_owned()),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            format!("cannot write: {error}"),
        ),
    };
    let body = Readiness {
        status: word.to_owned(),
        recovered: true,
        journal,
        rules,
        reload: ReloadSummary {
            ok: reload.ok,
            at: format_ms(reload.at),
            error_count: reload.errors.len(),
            errors: Some(reload.errors.clone()),
        },
        warnings: Vec::new(),
    };
    (status, body)
}

/// One rule's deliveries waiting, in memory and spilled to disk.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct Backlog {
    /// Deliveries queued in memory.
    in_memory: i64,
    /// Deliveries spilled to the journal (redelivered from it).
    spilled: u64,
    /// The lowest journal sequence spilled, if any.
    spilled_from: Option<u64>,
}

/// The journal's extent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct JournalExtent {
    /// The oldest retained sequence.
    first_seq: u64,
    /// The newest sequence.
    head_seq: u64,
    /// Bytes on disk.
    bytes: u64,
}

/// The body of `GET /v1/admin/status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct Status {
    /// Seconds since the server started.
    uptime_seconds: u64,
    /// The version of the rule set in force (bumped by each reload).
    ruleset_version: u64,
    /// Rules in force.
    rules: usize,
    /// The last reload.
    last_reload: ReloadStatus,
    /// Events accepted since start.
    events_accepted: u64,
    /// Deliveries not yet done, all rules.
    pending_deliveries: usize,
    /// Deliveries spilled to the journal, all rules.
    spilled_deliveries: u64,
    /// Deliveries waiting, by rule.
    lag: BTreeMap<String, i64>,
    /// Waiting deliveries in memory and spilled, by rule.
    backlog: BTreeMap<String, Backlog>,
    /// Dead letters stored.
    dead_letters: u64,
    /// The journal's extent.
    journal: JournalExtent,
    /// Bytes under the data directory.
    storage_bytes: u64,
}

/// Uptime, rules, deliveries pending and spilled, dead letters, journal and storage.
#[utoipa::path(get, path = "/v1/admin/status", tag = "admin",
    responses(
        (status = 200, description = "The server's state.", body = Status),
        (status = 500, description = "A store could not be read.", body = ApiError),
    ))]
async fn status(State(s): State<AdminState>) -> Result<Json<Status>, Refused> {
    let active = s.pipeline.rules();
    let dead = s.pipeline.dispatcher().dead_letters().clone();
    let dead_letters = blocking(move || dead.count(None)).await?;
    let data_dir = s.data_dir.clone();
    let storage_bytes = off_thread(move || dir_size(&data_dir)).await?;
    let last_reload = s.reload.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lag = s
        .metrics
        .rules()
        .into_iter()
        .map(|(name, m)| (name, m.pending.load(Relaxed)))
        .collect();
    let backlogs = s.pipeline.dispatcher().backlogs();
    let backlog = backlogs
        .iter()
        .map(|b| {
            let row = Backlog {
                in_memory: s.metrics.rule(&b.rule).pending.load(Relaxed),
                spilled: b.spilled,
                spilled_from: b.spilled_from,
            };
            (b.rule.clone(), row)
        })
        .collect();
    let journal = s.pipeline.journal();
    Ok(Json(Status {
        uptime_seconds: s.started.elapsed().as_secs(),
        ruleset_version: active.version,
        rules: active.set.len(),
        last_reload,
        events_accepted: s.metrics.events_accepted.load(Relaxed),
        pending_deliveries: s.pipeline.dispatcher().pending(),
        spilled_deliveries: backlogs.iter().map(|b| b.spilled).sum(),
        lag,
        backlog,
        dead_letters,
        journal: JournalExtent {
            first_seq: journal.first_seq(),
            head_seq: journal.head().seq,
            bytes: journal.disk_usage(),
        },
        storage_bytes,
    }))
}

/// A rule as the admin API shows it, with its counters.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct RuleView {
    /// The rule's name.
    name: String,
    /// Its description.
    description: String,
    /// The file it came from.
    file: String,
    /// Its EventBridge event pattern.
    pattern: Value,
    /// The pattern in one line.
    summary: String,
    /// The plugin it runs (none for a building block of correlations).
    plugin: Option<String>,
    /// `enabled` or `disabled`.
    state: String,
    /// Events matched since start.
    matches: u64,
    /// Deliveries done.
    delivered: u64,
    /// Attempts that failed (retried or dead-lettered).
    failures: u64,
    /// Deliveries dead-lettered.
    dead_lettered: u64,
    /// Deliveries waiting.
    lag: i64,
    /// 99th percentile of plugin call time, milliseconds.
    p99_ms: Option<f64>,
}

fn rule_view(s: &AdminState, r: &crate::rules::LoadedRule) -> RuleView {
    let m = s.metrics.rule(&r.rule.name);
    RuleView {
        name: r.rule.name.clone(),
        description: r.rule.description.clone(),
        file: r.file.display().to_string(),
        pattern: r.rule.pattern_json.clone(),
        summary: r.rule.pattern.summary(),
        plugin: r.rule.plugin.clone(),
        state: if r.rule.enabled {
            "enabled"
        } else {
            "disabled"
        }
        .to_owned(),
        matches: m.matched.load(Relaxed),
        delivered: m.delivered.load(Relaxed),
        failures: m.retried.load(Relaxed) + m.dead_lettered.load(Relaxed),
        dead_lettered: m.dead_lettered.load(Relaxed),
        lag: m.pending.load(Relaxed),
        p99_ms: m.call_latency.quantile(0.99).map(|d| d.as_secs_f64() * 1e3),
    }
}

/// A loaded plugin and the rules that run it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct PluginView {
    /// The plugin's name.
    name: String,
    /// SHA-256 of its component, hex.
    sha256: String,
    /// Rules that run it.
    rules: Vec<String>,
    /// Calls since start, all its rules.
    calls: u64,
    /// 99th percentile of call time, milliseconds, over its rules.
    p99_ms: Option<f64>,
}

/// The body of `GET /v1/admin/plugins`.
#[derive(Debug, Serialize, ToSchema)]
struct Plugins {
    /// By name.
    plugins: Vec<PluginView>,
}

/// The plugins loaded, with their digests and the rules that run them.
#[utoipa::path(get, path = "/v1/admin/plugins", tag = "admin",
    responses((status = 200, description = "The plugins loaded.", body = Plugins)))]
async fn plugins(State(s): State<AdminState>) -> Json<Plugins> {
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
    let mut plugins: Vec<PluginView> = loaded
        .into_iter()
        .map(|(name, digest)| {
            let rules: Vec<String> = active
                .set
                .rules()
                .iter()
                .filter(|r| r.rule.plugin.as_deref() == Some(name.as_str()))
                .map(|r| r.rule.name.clone())
                .collect();
            let (mut calls, mut p99_ms) = (0u64, None::<f64>);
            for rule in &rules {
                let m = s.metrics.rule(rule);
                calls += m.delivered.load(Relaxed)
                    + m.retried.load(Relaxed)
                    + m.dead_lettered.load(Relaxed);
                if let Some(q) = m.call_latency.quantile(0.99) {
                    let ms = q.as_secs_f64() * 1e3;
                    p99_ms = Some(p99_ms.map_or(ms, |p: f64| p.max(ms)));
                }
            }
            PluginView {
                name,
                sha256: hex::encode(digest),
                rules,
                calls,
                p99_ms,
            }
        })
        .collect();
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    Json(Plugins { plugins })
}

/// The body of `GET /v1/admin/rules`.
#[derive(Debug, Serialize, ToSchema)]
struct Rules {
    /// The version of the set in force.
    version: u64,
    /// Its rules.
    rules: Vec<RuleView>,
}

/// The rules in force, with their counters.
#[utoipa::path(get, path = "/v1/admin/rules", tag = "admin",
    responses((status = 200, description = "The rules in force.", body = Rules)))]
async fn rules(State(s): State<AdminState>) -> Json<Rules> {
    let active = s.pipeline.rules();
    let rules = active
        .set
        .rules()
        .iter()
        .map(|r| rule_view(&s, r))
        .collect();
    Json(Rules {
        version: active.version,
        rules,
    })
}

/// A rule's retry policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct RetryView {
    /// Attempts before a delivery is dead-lettered.
    max_attempts: u32,
    /// Age after which a delivery is dead-lettered, seconds.
    max_age_seconds: u64,
}

/// The capabilities a rule grants its plugin, as a rule file writes them.
#[derive(Debug, Serialize, ToSchema)]
struct GrantsView {
    /// `false`, `true`, or `{"read": bool, "write-prefix": "…"}`.
    archive: Value,
    /// Whether it may write change records.
    metadata: bool,
    /// Notify channels it may use.
    notify: Vec<String>,
    /// Forward destinations it may use.
    forward: Vec<String>,
}

/// The body of `GET /v1/admin/rules/{name}`.
#[derive(Debug, Serialize, ToSchema)]
struct RuleDetail {
    /// The rule and its counters.
    #[serde(flatten)]
    rule: RuleView,
    /// What it grants its plugin.
    grants: GrantsView,
    /// The plugin's configuration.
    config: Value,
    /// Its retry policy.
    retry: RetryView,
}

/// One rule in force, with its grants, configuration and retry policy.
#[utoipa::path(get, path = "/v1/admin/rules/{name}", tag = "admin",
    params(("name" = String, Path, description = "The rule's name.")),
    responses(
        (status = 200, description = "The rule.", body = RuleDetail),
        (status = 404, description = "No rule by that name is in force.", body = ApiError),
    ))]
async fn rule(
    State(s): State<AdminState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<RuleDetail>, Refused> {
    let active = s.pipeline.rules();
    let r = active.set.get(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no rule named `{name}`; `trailmark rules list` shows them"
        ))
    })?;
    let grants = &r.rule.grants;
    Ok(Json(RuleDetail {
        rule: rule_view(&s, r),
        grants: GrantsView {
            archive: match &grants.archive {
                None => json!(false),
                Some(a) if a.is_default() => json!(true),
                Some(a) => json!({"read": a.read, "write-prefix": a.write_prefix}),
            },
            metadata: grants.metadata,
            notify: grants.notify.iter().cloned().collect(),
            forward: grants.forward.iter().cloned().collect(),
        },
        config: r.rule.config.clone(),
        retry: RetryView {
            max_attempts: r.rule.retry.max_attempts,
            max_age_seconds: r.rule.retry.max_age.as_secs(),
        },
    }))
}

/// Query string of `GET /v1/admin/dlq`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DlqQuery {
    /// Only this rule's dead letters.
    rule: Option<String>,
    /// At most this many (default 1000, at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    limit: Option<usize>,
}

/// A dead letter: a delivery that ran out of retries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
struct LetterView {
    /// Its id (for show, replay, purge).
    id: i64,
    /// The event's journal sequence.
    seq: u64,
    /// The event's id.
    event_id: String,
    /// The rule whose delivery failed.
    rule: String,
    /// Attempts made.
    attempts: u32,
    /// The last error.
    error: String,
    /// When it was dead-lettered (RFC 3339).
    failed_at: String,
    /// The event (EventBridge envelope, `detail` as an object), shown by
    /// `GET /v1/admin/dlq/{id}`; `null` when it cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Value>,
}

fn letter_view(d: &DeadLetter, with_event: bool) -> LetterView {
    LetterView {
        id: d.id,
        seq: d.seq,
        event_id: d.event_id.clone(),
        rule: d.rule.clone(),
        attempts: d.attempts,
        error: d.error.clone(),
        failed_at: format_ms(d.failed_at),
        // The EventBridge envelope with `detail` as an object, so the event
        // can be fed back to `trailmark rules test --event`.
        event: with_event.then(|| {
            serde_json::from_str::<trailmark_backends::Event>(&d.event)
                .map_or(Value::Null, |event| engine::envelope::to_value(&event))
        }),
    }
}

/// The body of `GET /v1/admin/dlq`.
#[derive(Debug, Serialize, ToSchema)]
struct Letters {
    /// Newest first.
    #[serde(rename = "dead-letters")]
    dead_letters: Vec<LetterView>,
}

/// Dead letters, newest first.
#[utoipa::path(get, path = "/v1/admin/dlq", tag = "admin", params(DlqQuery),
    responses(
        (status = 200, description = "Dead letters.", body = Letters),
        (status = 400, description = "A bad query string.", body = ApiError),
        (status = 500, description = "The dead-letter store could not be read.", body = ApiError),
    ))]
async fn dlq_list(
    State(s): State<AdminState>,
    ApiQuery(q): ApiQuery<DlqQuery>,
) -> Result<(Extension<ResultCount>, Json<Letters>), Refused> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    let limit = q.limit.unwrap_or(1000);
    if limit > 10_000 {
        return Err(ApiError::bad_request(format!(
            "`limit` is at most 10000, got {limit}"
        )));
    }
    let letters = blocking(move || store.list(q.rule.as_deref(), limit)).await?;
    Ok((
        Extension(ResultCount(letters.len() as u64)),
        Json(Letters {
            dead_letters: letters.iter().map(|d| letter_view(d, false)).collect(),
        }),
    ))
}

/// One dead letter with its event.
#[utoipa::path(get, path = "/v1/admin/dlq/{id}", tag = "admin",
    params(("id" = i64, Path, minimum = 1, maximum = 2147483647, description = "The dead letter's id.")),
    responses(
        (status = 200, description = "The dead letter and its event.", body = LetterView),
        (status = 400, description = "The id is not a number.", body = ApiError),
        (status = 404, description = "No dead letter with that id.", body = ApiError),
        (status = 500, description = "The dead-letter store could not be read.", body = ApiError),
    ))]
async fn dlq_show(
    State(s): State<AdminState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(Extension<ResultCount>, Json<LetterView>), Refused> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    let letter = blocking(move || store.get(id)).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no dead letter {id}; `trailmark dlq list` shows them"
        ))
    })?;
    Ok((Extension(ResultCount(1)), Json(letter_view(&letter, true))))
}

/// Body of dead-letter replay and purge: explicit ids, or all of one rule,
/// or (empty) all.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DlqSelection {
    /// These dead letters (each must exist).
    #[serde(default, deserialize_with = "super::params::integers")]
    #[schema(value_type = Vec<u32>)]
    ids: Vec<i64>,
    /// Only this rule's.
    rule: Option<String>,
}

async fn select(s: &AdminState, sel: DlqSelection) -> Result<Vec<DeadLetter>, Refused> {
    let store = s.pipeline.dispatcher().dead_letters().clone();
    off_thread(move || -> Result<Vec<DeadLetter>, Refused> {
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
                None => return Err(ApiError::not_found(format!("no dead letter {id}"))),
            }
        }
        Ok(out)
    })
    .await?
}

/// A dead letter that could not be replayed.
#[derive(Debug, Serialize, ToSchema)]
struct NotReplayed {
    /// The dead letter's id.
    id: i64,
    /// Why.
    message: String,
}

/// The body of `POST /v1/admin/dlq/replay`.
#[derive(Debug, Serialize, ToSchema)]
struct DlqReplayed {
    /// The dead letters queued for delivery again (and removed).
    replayed: Vec<i64>,
    /// Those that could not be.
    failed: Vec<NotReplayed>,
}

/// Deliver dead letters again (journaled first; each leaves the store when
/// queued). An absent or empty body selects every dead letter.
#[utoipa::path(post, path = "/v1/admin/dlq/replay", tag = "admin",
    request_body(content = Option<DlqSelection>, description = "Which dead letters; all when absent."),
    responses(
        (status = 200, description = "Queued again.", body = DlqReplayed),
        (status = 400, description = "A bad body.", body = ApiError),
        (status = 404, description = "A named dead letter does not exist.", body = ApiError),
        (status = 500, description = "The dead-letter store failed.", body = ApiError),
    ))]
async fn dlq_replay(
    State(s): State<AdminState>,
    body: Option<ApiJson<Option<DlqSelection>>>,
) -> Result<Json<DlqReplayed>, Refused> {
    let letters = select(&s, body.and_then(|b| b.0).unwrap_or_default()).await?;
    let done = super::dead_letters::replay(&s.pipeline, letters)
        .await
        .map_err(internal)?;
    let failed = done
        .failed
        .into_iter()
        .map(|(id, message)| NotReplayed { id, message })
        .collect();
    Ok(Json(DlqReplayed {
        replayed: done.replayed,
        failed,
    }))
}

/// The body of `POST /v1/admin/dlq/purge`.
#[derive(Debug, Serialize, ToSchema)]
struct Purged {
    /// The ids removed.
    purged: Vec<i64>,
}

/// Remove dead letters for good (journaled first). An absent or empty body
/// selects every dead letter.
#[utoipa::path(post, path = "/v1/admin/dlq/purge", tag = "admin",
    request_body(content = Option<DlqSelection>, description = "Which dead letters; all when absent."),
    responses(
        (status = 200, description = "Removed.", body = Purged),
        (status = 400, description = "A bad body.", body = ApiError),
        (status = 404, description = "A named dead letter does not exist.", body = ApiError),
        (status = 500, description = "The dead-letter store failed.", body = ApiError),
    ))]
async fn dlq_purge(
    State(s): State<AdminState>,
    body: Option<ApiJson<Option<DlqSelection>>>,
) -> Result<Json<Purged>, Refused> {
    let letters = select(&s, body.and_then(|b| b.0).unwrap_or_default()).await?;
    let purged: Vec<i64> = letters.iter().map(|d| d.id).collect();
    super::dead_letters::purge(&s.pipeline, purged.clone())
        .await
        .map_err(internal)?;
    Ok(Json(Purged { purged }))
}

/// Body of `POST /v1/admin/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// From this time of acceptance.
    since: TimeText,
    /// Up to this time; now when absent.
    until: Option<TimeText>,
    /// Only to this rule; to every rule an event matches when absent.
    rule: Option<String>,
}

/// Re-deliver journaled events accepted in a time range to the rules they
/// match now (all, or one), as EventBridge's archive replay does.
#[utoipa::path(post, path = "/v1/admin/replay", tag = "admin",
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "Deliveries queued.", body = Replayed),
        (status = 400, description = "A bad body or time.", body = ApiError),
        (status = 404, description = "No rule by that name.", body = ApiError),
        (status = 500, description = "The journal could not be read.", body = ApiError),
    ))]
async fn replay(
    State(s): State<AdminState>,
    ApiJson(r): ApiJson<ReplayRequest>,
) -> Result<Json<Replayed>, Refused> {
    let now = trailmark_backend_api::when::now_ms();
    let since = trailmark_backend_api::when::parse_time_ms(&r.since.0, now)
        .map_err(|e| ApiError::bad_request(format!("`since`: {e}")))?;
    let until = match &r.until {
        Some(TimeText(u)) => trailmark_backend_api::when::parse_time_ms(u, now)
            .map_err(|e| ApiError::bad_request(format!("`until`: {e}")))?,
        None => i64::MAX,
    };
    let replayed = engine::replay::replay(&s.pipeline, since, until, r.rule, now)
        .await
        .map_err(|e| match e {
            ReplayError::NoSuchRule(_) => ApiError::not_found(e.to_string()),
            other => internal(other),
        })?;
    Ok(Json(replayed))
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
        assert_eq!(body.status, "not-ready");
        assert!(body.journal.contains("journal closed"));
    }

    #[test]
    fn a_failed_reload_is_reported_but_the_host_stays_ready() {
        let (status, body) = readiness(Ok(()), 4, &reload(false));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.rules, 4);
        assert!(!body.reload.ok);
        assert_eq!(
            body.reload.errors.as_deref(),
            Some(&["rules/a.yaml:3:1: bad".to_owned()][..])
        );
    }
}
