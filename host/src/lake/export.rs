//! The lake exporter: a thread that follows the journal behind its head
//! (like the live tail and correlation catch-up), turns the events the
//! `target: lake` rules match into rows, and publishes them through
//! [`trailmark_lake::Exporter`]. Never on the ingest path: a PutEvents
//! request does not wait for it, and a slow disk under the lake only makes
//! the lake later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};
use trailmark_journal::{Journal, StoredRecord};
use trailmark_lake::{Exporter, LakeError, LakeStore, Published, Row, Table};

use super::settings::LakeSettings;
use crate::at_rest::Sealer;
use crate::engine::envelope;
use crate::engine::pipeline::Pipeline;
use crate::engine::records::{EventRecord, kind};
use crate::rules::{HostTarget, RuleSet};
use trailmark_backend_api::when::now_ms;

/// How often the exporter looks for new journal records.
const POLL: Duration = Duration::from_millis(200);
/// How long it waits after a failed publish before trying again.
const RETRY: Duration = Duration::from_secs(1);
/// How much lower the exporter thread's CPU priority is than the server's
/// other threads (a Linux nice increment): when the CPU is full, ingest and
/// dispatch run first and the lake catches up as they idle, from the
/// journal, which keeps what the lake has not exported.
const NICE: i32 = 10;

/// What a sealed lake body is bound to, before its event id: a body moved
/// to another event's row does not open.
const LAKE_BODY_AAD: &[u8] = b"trailmark-lake-body-v1\n";

enum Command {
    /// Close the open files after reading up to the journal's head.
    Flush(tokio::sync::oneshot::Sender<Result<Published, String>>),
    /// Close the open files and stop.
    Stop,
}

/// The running exporter.
pub struct LakeExport {
    commands: Mutex<Sender<Command>>,
    retain_from: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
    location: String,
}

impl LakeExport {
    /// Start exporting the journal of `pipeline` into the lake `settings`
    /// name, from where the marker in `data` says it stopped.
    /// `bodies`: with `[encryption]` on, seals each row's `body` (the
    /// entity's data, or a non-change event's detail) before it is written.
    pub fn start(
        pipeline: Arc<Pipeline>,
        settings: &LakeSettings,
        data: &std::path::Path,
        bodies: Option<Arc<Sealer>>,
    ) -> Result<LakeExport, LakeError> {
        let store: Arc<dyn LakeStore> = super::open_store(settings, data)?;
        let location = store.location();
        let exporter = Exporter::open(
            store,
            &LakeSettings::marker(data),
            settings.export_options(),
            now_ms(),
        )?;
        let retain_from = Arc::new(AtomicU64::new(exporter.retain_from()));
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lake-export".to_owned())
            .spawn({
                let retain_from = retain_from.clone();
                move || {
                    lower_priority();
                    run(&pipeline, exporter, &rx, &retain_from, bodies.as_deref());
                }
            })
            .map_err(|e| LakeError::Io {
                path: "lake-export thread".into(),
                source: e,
            })?;
        info!(lake = %location, "lake export started");
        Ok(LakeExport {
            commands: Mutex::new(tx),
            retain_from,
            thread: Mutex::new(Some(thread)),
            location,
        })
    }

    /// The first journal record the lake still needs (see
    /// [`Exporter::retain_from`]): journal retention keeps it and the ones
    /// after it.
    pub fn retain_from(&self) -> Arc<AtomicU64> {
        self.retain_from.clone()
    }

    /// Where the lake is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Read the journal up to its head and close the open files.
    pub async fn flush(&self) -> Result<Published, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::Flush(reply))?;
        answer
            .await
            .map_err(|_| "the lake exporter stopped".to_owned())?
    }

    fn send(&self, command: Command) -> Result<(), String> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(command)
            .map_err(|_| "the lake exporter stopped".to_owned())
    }

    /// Close the open files and stop the thread (what is left unexported
    /// is exported again after the next start, from the marker).
    pub fn stop(&self) {
        let _ = self.send(Command::Stop);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            warn!("the lake exporter thread panicked");
        }
    }
}

fn run(
    pipeline: &Pipeline,
    mut exporter: Exporter,
    commands: &Receiver<Command>,
    retain_from: &AtomicU64,
    bodies: Option<&Sealer>,
) {
    let mut buffer = Vec::new();
    loop {
        let step = catch_up(
            pipeline.journal(),
            &pipeline.rules().set,
            &mut exporter,
            &mut buffer,
            bodies,
        )
        .and_then(|()| {
            if exporter.due(now_ms()) {
                close(&mut exporter).map(|_| ())
            } else {
                Ok(())
            }
        });
        retain_from.store(exporter.retain_from(), Ordering::Release);
        let wait = match step {
            Ok(()) => POLL,
            Err(e) => {
                warn!(error = %e, "lake export failed; will try again");
                RETRY
            }
        };
        match commands.recv_timeout(wait) {
            Ok(Command::Flush(reply)) => {
                let result = catch_up(
                    pipeline.journal(),
                    &pipeline.rules().set,
                    &mut exporter,
                    &mut buffer,
                    bodies,
                )
                .and_then(|()| close(&mut exporter))
                .map_err(|e| e.to_string());
                retain_from.store(exporter.retain_from(), Ordering::Release);
                let _ = reply.send(result);
            }
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                if exporter.is_behind()
                    && let Err(e) = close(&mut exporter)
                {
                    warn!(error = %e, "lake files left open at stop; they are written after the next start");
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Lower the calling thread's CPU priority by [`NICE`] (on Linux, where
/// nice is per thread); elsewhere, or when refused, it keeps the server's.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers; the id is this
        // thread's own.
        let refused = unsafe {
            let tid = libc::gettid();
            let current = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, current + NICE) != 0
        };
        if refused {
            warn!(
                error = %std::io::Error::last_os_error(),
                "the lake exporter runs at the server's CPU priority"
            );
        }
    }
}

fn close(exporter: &mut Exporter) -> Result<Published, LakeError> {
    let published = exporter.close(now_ms())?;
    if !published.files.is_empty() {
        info!(
            files = published.files.len(),
            rows = published.rows,
            bytes = published.bytes,
            through = published.through,
            "lake files published"
        );
    }
    Ok(published)
}

/// Offer every journal record up to the head, closing files when due.
fn catch_up(
    journal: &Journal,
    set: &RuleSet,
    exporter: &mut Exporter,
    buffer: &mut Vec<u8>,
    bodies: Option<&Sealer>,
) -> Result<(), LakeError> {
    let head = journal.head().seq;
    let mut from = exporter.next_seq();
    let first = journal.first_seq();
    if from < first {
        // Retention dropped records the lake no longer needed (read, with
        // no row in an open file) before a restart; or, with the lake off
        // for a while, records it never read.
        info!(
            from,
            first, "the lake export goes on from the oldest journal record kept"
        );
        from = first;
    }
    if from > head {
        return Ok(());
    }
    let lake_rules = set
        .rules()
        .iter()
        .any(|r| r.rule.enabled && matches!(r.rule.target, Some(HostTarget::Lake(_))));
    for record in journal.read_from(from) {
        let record = record.map_err(|e| LakeError::Invalid(format!("reading the journal: {e}")))?;
        if record.seq > head {
            break;
        }
        let now = now_ms();
        let (row, tables) = if lake_rules {
            row_of(&record, set, buffer, bodies)?
                .map_or((None, Vec::new()), |(row, t)| (Some(row), t))
        } else {
            (None, Vec::new())
        };
        exporter.offer_to(record.seq, row, &tables, now)?;
        if exporter.due(now) {
            close(exporter)?;
        }
    }
    Ok(())
}

/// The lake row of a journal record, and the tables it goes to: an event
/// some enabled `target: lake` rules match (several rules naming one table
/// make one row there). With `bodies`, the row's body is sealed.
fn row_of(
    record: &StoredRecord,
    set: &RuleSet,
    buffer: &mut Vec<u8>,
    bodies: Option<&Sealer>,
) -> Result<Option<(Row, Vec<Table>)>, LakeError> {
    if record.kind != kind::EVENT {
        return Ok(None);
    }
    let Ok(stored) = serde_json::from_slice::<EventRecord>(&record.payload) else {
        return Ok(None);
    };
    envelope::write_for_matching(&stored.event, buffer);
    let Ok(matched) = set.matching_all(buffer) else {
        return Ok(None);
    };
    let mut tables: Vec<Table> = matched
        .iter()
        .filter(|r| r.rule.enabled)
        .filter_map(|r| {
            let Some(HostTarget::Lake(table)) = &r.rule.target else {
                return None;
            };
            Some(table.clone())
        })
        .collect();
    if tables.is_empty() {
        return Ok(None);
    }
    tables.sort();
    tables.dedup();
    let mut row = Row::from_event(record.seq, record.timestamp_ms, &stored.event);
    if let (Some(sealer), Some(body)) = (bodies, &row.body) {
        let what = || format!("the lake body of event {}", stored.event.id);
        let aad = crate::at_rest::bound_to(LAKE_BODY_AAD, &stored.event.id);
        let sealed = sealer
            .seal_text(&what, &aad, body)
            .map_err(|e| LakeError::Invalid(e.to_string()))?
            .into_owned();
        row.body = Some(sealed);
    }
    Ok(Some((row, tables)))
}
