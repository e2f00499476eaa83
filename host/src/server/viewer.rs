//! The audit viewer's export as an API (`GET /v1/export`, for `trailmark
//! export`), and what the viewer (`trailmark-viewer`) reads from the running host
//! besides the stores: events by id from the journal, with their sequence
//! number, record hash and whether the record still recomputes; the last
//! signed checkpoint; the rules in force; and where it hands the sign-ins it
//! refuses, to be journaled as the API's refusals are.

use std::path::PathBuf;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use trailmark_auth::Principal;
use trailmark_backends::{ArchiveStore, MetadataStore};
use trailmark_viewer::export::{Format, stream};

use trailmark_backend_api::ChangeRecord;
use trailmark_event::ParsedEvent;
use trailmark_journal::Journal;
use trailmark_viewer::operations::{
    DeadLetterAction, DeadLetterOutcome, DeadLetterRequest, DeadLetterView, Operations, Reload,
    RuleCounters,
};
use trailmark_viewer::{
    Checkpointed, Checkpoints, DeadLettersDone, Delivery, Export, JournaledEvent, LiveRule,
    Recorded, Refusal, SignedCheckpoint, Tail, Trail,
};

use super::auth::AuthState;
use crate::engine::checkpoints::{self, Checkpointer};
use crate::engine::deliveries::{DeliveryState, SCAN_RECORDS, delivery_states};
use crate::engine::envelope;
use crate::engine::pipeline::Pipeline;
use crate::engine::records::{EventRecord, kind};
use crate::engine::reload::ReloadStatus;
use crate::metrics::Metrics;
use trailmark_backend_api::when::now_ms;

/// What `GET /v1/export` needs.
#[derive(Clone)]
pub struct ExportApi {
    /// Change records.
    pub metadata: Arc<dyn MetadataStore>,
    /// Bodies.
    pub archive: Arc<dyn ArchiveStore>,
    /// Where the export is journaled before it runs.
    pub auth: Arc<AuthState>,
}

/// `GET /v1/export?q=…&format=ndjson|csv`: what the viewer's export page
/// streams (the query bar's syntax, each record with its body), for a
/// bearer token with the `query` scope (the guard checks it). Journaled as
/// `trailmark.export` before a row is read; 503 when it cannot be.
pub fn export_router(api: ExportApi) -> Router {
    export_api().with_state(api).split_for_parts().0
}

/// The route's declaration (see [`super::openapi`]).
pub(crate) fn export_api() -> utoipa_axum::router::OpenApiRouter<ExportApi> {
    utoipa_axum::router::OpenApiRouter::default().routes(utoipa_axum::routes!(export))
}

/// The query string of `GET /v1/export`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportParams {
    /// A search in the viewer's query syntax (`type:book op:delete author:alice after:7d`;
    /// values with spaces in quotes); empty exports everything. The pattern states the
    /// unquoted form.
    #[serde(default)]
    #[param(
        pattern = "^((-?(author|type|entity|source|rule):[A-Za-z0-9._/-]+|-?op:(insert|update|delete)|(before|after):[0-9]{1,6}(s|m|h|d))( (-?(author|type|entity|source|rule):[A-Za-z0-9._/-]+|-?op:(insert|update|delete)|(before|after):[0-9]{1,6}(s|m|h|d)))*)?$"
    )]
    q: String,
    /// `ndjson` (default) or `csv`.
    #[serde(default)]
    #[param(pattern = "^(|ndjson|csv)$")]
    format: String,
}

/// Export change records matching a search, each with its body, as NDJSON
/// or CSV (streamed). Journaled as `trailmark.export` before a row is read.
#[utoipa::path(get, path = "/v1/export", tag = "trail", params(ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The records, streamed.", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A bad search or format.", body = super::api_error::ApiError),
        (status = 503, description = "The export's audit record could not be journaled; nothing was exported.", body = super::api_error::ApiError),
    ))]
async fn export(
    State(api): State<ExportApi>,
    method: Method,
    principal: Option<Extension<Principal>>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    if method == Method::HEAD {
        // A probe exports and journals nothing.
        return StatusCode::OK.into_response();
    }
    let error = |status: StatusCode, code: &str, message: String| {
        (status, Json(json!({"error": code, "message": message}))).into_response()
    };
    let Some(Extension(principal)) = principal else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no credentials".into(),
        );
    };
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", e.body_text()),
    };
    let format = match Format::parse(&params.format) {
        Ok(f) => f,
        Err(m) => return error(StatusCode::BAD_REQUEST, "BadRequest", m),
    };
    let search = match trailmark_viewer::search::parse(&params.q, now_ms()) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BadRequest", format!("`q`: {e}")),
    };
    if api
        .auth
        .record_export(&principal.name, &params.q, format.as_str())
        .await
        .is_err()
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the export was not run: its audit record could not be journaled; retry later".into(),
        );
    }
    tracing::info!(principal = %principal.name, query = %params.q, "export");
    stream(api.metadata.clone(), api.archive.clone(), search, format)
}

/// [`Trail`] over the pipeline's journal and active rule set.
pub struct HostTrail {
    /// Events and rules.
    pub pipeline: Arc<Pipeline>,
    /// Where refusals are recorded.
    pub auth: Arc<AuthState>,
    /// The signed checkpoints.
    pub checkpoints: Arc<Checkpointer>,
    /// The data directory, for the `trailmark verify` command shown.
    pub data: PathBuf,
    /// Per-rule counters.
    pub metrics: Arc<Metrics>,
    /// The last reload's outcome.
    pub reload: Arc<Mutex<ReloadStatus>>,
    /// How often the journal head is signed (`[journal] checkpoint-interval`).
    pub checkpoint_interval: std::time::Duration,
    /// With `[subjects]`: an event's tokens are shown opened.
    pub subjects: Option<Arc<crate::subjects::Subjects>>,
}

impl HostTrail {
    /// The envelope's JSON, its tokens opened when values are sealed.
    fn shown_envelope(&self, event: &trailmark_backends::Event) -> Vec<u8> {
        let json = envelope::to_json(event);
        let Some(subjects) = &self.subjects else {
            return json;
        };
        match serde_json::from_slice::<serde_json::Value>(&json) {
            Ok(mut value) => {
                subjects.open_json(&mut value);
                serde_json::to_vec(&value).unwrap_or(json)
            }
            Err(_) => json,
        }
    }
}

impl Trail for HostTrail {
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String> {
        let Some((seq, record)) = self.pipeline.find(id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let journal = self.pipeline.journal();
        let stored = journal
            .read(seq)
            .map_err(|e| format!("reading journal record {seq}: {e}"))?
            .ok_or_else(|| format!("journal record {seq} is no longer retained"))?;
        let deliveries = delivery_states(journal, seq, &record.rules, SCAN_RECORDS)
            .map_err(|e| format!("reading the outcomes of journal record {seq}: {e}"))?
            .into_iter()
            .map(|(rule, state)| {
                let delivery = match state {
                    DeliveryState::Delivered => Delivery::Delivered,
                    DeliveryState::DeadLettered(id) => Delivery::DeadLettered(id),
                    DeliveryState::Pending => Delivery::Pending,
                    DeliveryState::NotFound => Delivery::NotFound,
                };
                (rule, delivery)
            })
            .collect();
        Ok(Some(JournaledEvent {
            deliveries,
            seq,
            hash: hex::encode(stored.hash),
            chain: chain_check(journal, &stored),
            envelope: self.shown_envelope(&record.event),
            matched: record.rules,
            ruleset: record.ruleset,
        }))
    }

    fn live_rules(&self) -> Vec<LiveRule> {
        self.pipeline
            .rules()
            .set
            .rules()
            .iter()
            .map(|loaded| LiveRule {
                name: loaded.rule.name.clone(),
                plugin: loaded.rule.plugin.clone().unwrap_or_default(),
                enabled: loaded.rule.enabled,
                pattern: loaded.rule.pattern.clone(),
            })
            .collect()
    }

    fn matched_rules(&self, id: &str) -> Option<Vec<String>> {
        match self.pipeline.find(id) {
            Ok(found) => found.map(|(_, record)| record.rules),
            Err(e) => {
                tracing::warn!(event_id = id, error = %e, "viewer: journal lookup failed");
                None
            }
        }
    }

    fn last_checkpoint(&self) -> Option<Checkpointed> {
        self.checkpoints.last().map(|c| Checkpointed {
            seq: c.seq,
            time_ms: c.time_ms,
        })
    }

    fn tail(&self, after: Option<u64>, limit: usize) -> Result<Tail, String> {
        let journal = self.pipeline.journal();
        let head = journal.head().seq;
        let Some(after) = after else {
            return Ok(Tail {
                changes: Vec::new(),
                upto: head,
            });
        };
        // What retention removed is gone: go on from the oldest kept.
        let after = after.max(journal.first_seq().saturating_sub(1));
        let mut tail = Tail {
            changes: Vec::new(),
            upto: after,
        };
        for record in journal.read_from(after + 1).take(TAIL_RECORDS) {
            let record = record.map_err(|e| format!("reading the journal after {after}: {e}"))?;
            tail.upto = record.seq;
            if record.kind != kind::EVENT {
                continue;
            }
            let Ok(r) = serde_json::from_slice::<EventRecord>(&record.payload) else {
                continue;
            };
            let parsed = ParsedEvent::new(r.event);
            if let Some(Ok(change)) = parsed.change() {
                let change = ChangeRecord::of_change(parsed.event(), change, None, "{}".into());
                tail.changes.push((record.seq, change));
                if tail.changes.len() >= limit {
                    break;
                }
            }
        }
        Ok(tail)
    }

    fn verify_command(&self) -> String {
        format!("trailmark verify --data {}", self.data.display())
    }

    fn checkpoints(&self, limit: usize) -> Result<Checkpoints, String> {
        let data = self.data.display();
        Ok(Checkpoints {
            recent: recent_checkpoints(&self.data.join(checkpoints::LOG_FILE), limit)?,
            head_seq: self.pipeline.journal().head().seq,
            interval_ms: i64::try_from(self.checkpoint_interval.as_millis()).unwrap_or(i64::MAX),
            export_command: format!("trailmark checkpoints export --data {data} SAFE-DIR"),
            verify_exported_command: format!(
                "trailmark verify --data {data} --checkpoints SAFE-DIR/{} --public-key SAFE-DIR/checkpoint.key.pub",
                checkpoints::LOG_FILE
            ),
        })
    }

    fn operations(&self) -> Operations {
        let rules = self
            .pipeline
            .rules()
            .set
            .rules()
            .iter()
            .map(|loaded| {
                let m = self.metrics.rule(&loaded.rule.name);
                RuleCounters {
                    name: loaded.rule.name.clone(),
                    plugin: loaded.rule.plugin.clone().unwrap_or_default(),
                    enabled: loaded.rule.enabled,
                    matched: m.matched.load(Relaxed),
                    delivered: m.delivered.load(Relaxed),
                    failures: m.retried.load(Relaxed) + m.dead_lettered.load(Relaxed),
                    dead_lettered: m.dead_lettered.load(Relaxed),
                    lag: u64::try_from(m.pending.load(Relaxed)).unwrap_or(0),
                }
            })
            .collect();
        let reload = {
            let status = self.reload.lock().unwrap_or_else(|e| e.into_inner());
            Reload {
                at_ms: status.at,
                ok: status.ok,
                errors: status.errors.clone(),
            }
        };
        let dead_letters = self
            .pipeline
            .dispatcher()
            .dead_letters()
            .count(None)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "viewer: cannot count dead letters");
                0
            });
        Operations {
            rules,
            reload,
            dead_letters,
        }
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterView>, String> {
        let letters = self
            .pipeline
            .dispatcher()
            .dead_letters()
            .list(None, limit)
            .map_err(|e| e.to_string())?;
        Ok(letters
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id,
                rule: d.rule,
                event_id: d.event_id,
                attempts: d.attempts,
                error: d.error,
                failed_at_ms: d.failed_at,
            })
            .collect())
    }

    fn act_on_dead_letters(&self, request: DeadLetterRequest) -> DeadLettersDone {
        let pipeline = self.pipeline.clone();
        let auth = self.auth.clone();
        Box::pin(async move {
            let DeadLetterRequest {
                action,
                ids,
                who,
                remote,
            } = request;
            // Journaled before it runs, as the admin API's actions are.
            auth.record_viewer_admin_action(
                &who,
                &format!("dlq/{}", action.as_str()),
                "/ui/dead-letters",
                json!({ "ids": ids }),
                remote,
            )
            .await
            .map_err(|()| {
                "the action was not run: its audit record could not be journaled; retry later"
                    .to_owned()
            })?;
            let letters = super::dead_letters::get(&pipeline, ids.clone())
                .await
                .map_err(|e| e.to_string())?;
            let gone: Vec<(i64, String)> = ids
                .iter()
                .filter(|id| !letters.iter().any(|d| d.id == **id))
                .map(|id| {
                    (
                        *id,
                        "no longer held (replayed or purged already)".to_owned(),
                    )
                })
                .collect();
            tracing::info!(principal = %who, action = action.as_str(), ?ids, "dead letters, from the viewer");
            let mut outcome = match action {
                DeadLetterAction::Replay => {
                    let done = super::dead_letters::replay(&pipeline, letters)
                        .await
                        .map_err(|e| e.to_string())?;
                    DeadLetterOutcome {
                        done: done.replayed,
                        failed: done.failed,
                    }
                }
                DeadLetterAction::Purge => {
                    let present: Vec<i64> = letters.iter().map(|d| d.id).collect();
                    super::dead_letters::purge(&pipeline, present.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    DeadLetterOutcome {
                        done: present,
                        failed: Vec::new(),
                    }
                }
            };
            outcome.failed.extend(gone);
            Ok(outcome)
        })
    }

    fn record_export(&self, export: Export) -> Recorded {
        let auth = self.auth.clone();
        Box::pin(async move {
            auth.record_export(&export.who, &export.query, export.format)
                .await
                .map_err(|()| "the journal did not take the record".to_owned())
        })
    }

    fn record_refusal(&self, refusal: Refusal) {
        let auth = self.auth.clone();
        // Called from a handler, on the runtime: journaling waits for the
        // journal, the answer to the browser does not.
        tokio::spawn(async move {
            auth.record_form_refusal(
                &refusal.who,
                refusal.status,
                &refusal.reason,
                refusal.path,
                refusal.remote,
            )
            .await;
        });
    }
}

/// Bytes read from the end of the checkpoint log per checkpoint listed: a
/// line is about 300 bytes, so this finds `limit` of them without reading a
/// log that grows by a line a minute.
const TAIL_BYTES_PER_CHECKPOINT: u64 = 1024;

/// Most journal records one read of the live tail looks at (it goes on from
/// there at the next read, a quarter of a second later).
const TAIL_RECORDS: usize = 5_000;

/// The newest `limit` checkpoints of the log at `path`, newest first; none
/// when the log does not exist yet.
fn recent_checkpoints(
    path: &std::path::Path,
    limit: usize,
) -> Result<Vec<SignedCheckpoint>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let shown = path.display();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("opening {shown}: {e}")),
    };
    let len = file
        .metadata()
        .map_err(|e| format!("reading {shown}: {e}"))?
        .len();
    let want = (limit as u64).saturating_mul(TAIL_BYTES_PER_CHECKPOINT);
    let start = len.saturating_sub(want);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("reading {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(want)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading {shown}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if start > 0 && !lines.is_empty() {
        // The read began inside a line.
        lines.remove(0);
    }
    lines
        .iter()
        .rev()
        .take(limit)
        .map(|line| {
            serde_json::from_str::<trailmark_journal::Checkpoint>(line)
                .map(|c| SignedCheckpoint {
                    seq: c.seq,
                    time_ms: c.time_ms,
                    hash: c.hash,
                    key_id: c.key_id,
                })
                .map_err(|e| format!("{shown}: a line is not a checkpoint: {e}"))
        })
        .collect()
}

/// Whether `stored`'s hash recomputes from its content and its `prev_hash`
/// is the previous record's hash (when that one is still retained).
fn chain_check(journal: &Journal, stored: &trailmark_journal::StoredRecord) -> Result<(), String> {
    if stored.computed_hash() != stored.hash {
        return Err(format!(
            "journal record {}'s hash does not recompute from its content",
            stored.seq
        ));
    }
    match journal.read(stored.seq.saturating_sub(1)) {
        Ok(Some(prev)) if prev.hash != stored.prev_hash => Err(format!(
            "journal record {} does not link to record {}",
            stored.seq, prev.seq
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "the record before {} cannot be read: {e}",
            stored.seq
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailmark_journal::{JournalOptions, NewRecord};

    #[test]
    fn the_checkpoint_list_reads_the_newest_lines_of_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(checkpoints::LOG_FILE);
        assert_eq!(recent_checkpoints(&path, 5), Ok(Vec::new()), "no log yet");
        let line = |seq: u64| {
            serde_json::to_string(&trailmark_journal::Checkpoint {
                seq,
                hash: format!("{seq:064x}"),
                count: seq,
                time_ms: 1_000 * seq as i64,
                key_id: "0123456789abcdef".into(),
                signature: "ab".repeat(64),
            })
            .expect("JSON")
        };
        let log: String = (1..=200).map(|seq| line(seq) + "\n").collect();
        std::fs::write(&path, &log).expect("write log");
        let seqs = |limit| {
            recent_checkpoints(&path, limit)
                .expect("read")
                .iter()
                .map(|c| c.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(3), [200, 199, 198], "newest first, the tail only");
        assert_eq!(seqs(1_000).len(), 200);
        let newest = &recent_checkpoints(&path, 1).expect("read")[0];
        assert_eq!((newest.time_ms, newest.hash.len()), (200_000, 64));
        std::fs::write(&path, log + "not json\n").expect("write log");
        let why = recent_checkpoints(&path, 3).unwrap_err();
        assert!(why.contains("checkpoints.jsonl"), "{why}");
    }

    #[test]
    fn altered_records_and_broken_links_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = Journal::open(dir.path(), JournalOptions::default()).expect("journal");
        let record = |payload: &str| NewRecord {
            kind: 1,
            payload: payload.as_bytes().to_vec(),
        };
        journal
            .append_wait(vec![record("one"), record("two")])
            .expect("append");
        let second = journal.read(2).expect("read").expect("record 2");
        assert_eq!(chain_check(&journal, &second), Ok(()));
        let first = journal.read(1).expect("read").expect("record 1");
        assert_eq!(
            chain_check(&journal, &first),
            Ok(()),
            "record 1 links to genesis"
        );

        let mut altered = second.clone();
        altered.payload = b"TWO".to_vec();
        let why = chain_check(&journal, &altered).unwrap_err();
        assert!(why.contains("does not recompute"), "{why}");

        let mut relinked = second.clone();
        relinked.prev_hash = [7; 32];
        relinked.hash = relinked.computed_hash();
        let why = chain_check(&journal, &relinked).unwrap_err();
        assert!(why.contains("does not link to record 1"), "{why}");
    }
}
