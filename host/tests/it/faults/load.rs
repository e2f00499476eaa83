//! Load for the fault tests: streams of `Object State Change` events whose
//! acknowledged ids are kept, pointed at a server that may go away, come
//! back on another port, or refuse; and the closing checks.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Server, state_change};

/// What every stream shares.
#[derive(Default)]
struct Shared {
    /// The server's base URL and admin token; changed when it restarts.
    target: RwLock<(String, Option<String>)>,
    acked: Mutex<HashSet<String>>,
    /// Requests answered with another status than 200, by status, and the
    /// last answer's body.
    refused: Mutex<HashMap<u16, (u64, Value)>>,
    /// Requests that got no answer (the server was down or went away).
    unanswered: AtomicU64,
    /// Entries sent, acknowledged or not.
    sent: AtomicU64,
    /// A pause after each request (none: as fast as the server answers).
    pause: Duration,
    stop: AtomicBool,
}

/// Streams putting events until stopped.
pub(crate) struct Load {
    shared: Arc<Shared>,
    streams: Vec<JoinHandle<()>>,
}

impl Load {
    /// Start `streams` streams of 5-event requests by `author` against `server`.
    pub(crate) fn start(server: &Server, streams: usize, author: &str) -> Load {
        Load::paced(server, streams, author, Duration::ZERO)
    }

    /// As [`Load::start`], each stream pausing `pause` after each request
    /// (for backends much slower than the host, such as moto).
    pub(crate) fn paced(server: &Server, streams: usize, author: &str, pause: Duration) -> Load {
        let shared = Arc::new(Shared {
            pause,
            ..Shared::default()
        });
        *shared.target.write().expect("target") = (server.url.clone(), server.token());
        let streams = (0..streams)
            .map(|stream| {
                let shared = shared.clone();
                let author = author.to_owned();
                std::thread::spawn(move || run(&shared, stream, &author))
            })
            .collect();
        Load { shared, streams }
    }

    /// Send to `server` from now on (after a restart).
    pub(crate) fn retarget(&self, server: &Server) {
        *self.shared.target.write().expect("target") = (server.url.clone(), server.token());
    }

    /// How many events were acknowledged so far.
    pub(crate) fn acked(&self) -> usize {
        self.shared.acked.lock().expect("acked").len()
    }

    /// How many requests were answered with `status`.
    pub(crate) fn refused(&self, status: u16) -> u64 {
        self.shared
            .refused
            .lock()
            .expect("refused")
            .get(&status)
            .map_or(0, |(n, _)| *n)
    }

    /// The body of the last answer with `status`.
    pub(crate) fn refusal(&self, status: u16) -> Option<Value> {
        let refused = self.shared.refused.lock().expect("refused");
        refused.get(&status).map(|(_, body)| body.clone())
    }

    /// Wait until `n` more events than now are acknowledged, or panic
    /// after `timeout` (with `server`'s log).
    pub(crate) fn wait_for_more(&self, n: usize, timeout: Duration, server: &Server) {
        let target = self.acked() + n;
        server.wait_until(timeout, &format!("{target} events acknowledged"), |_| {
            self.acked() >= target
        });
    }

    /// Stop every stream; the ids acknowledged.
    pub(crate) fn stop(self) -> HashSet<String> {
        self.shared.stop.store(true, Relaxed);
        for stream in self.streams {
            stream.join().expect("stream");
        }
        let acked = self.shared.acked.lock().expect("acked").clone();
        eprintln!(
            "load: {} entries sent, {} acknowledged, refused {:?}, {} requests unanswered",
            self.shared.sent.load(Relaxed),
            acked.len(),
            self.shared
                .refused
                .lock()
                .expect("refused")
                .iter()
                .map(|(status, (n, _))| (*status, *n))
                .collect::<Vec<_>>(),
            self.shared.unanswered.load(Relaxed)
        );
        acked
    }
}

fn run(shared: &Shared, stream: usize, author: &str) {
    let agent = common::agent(Duration::from_secs(30));
    let mut n = 0u64;
    while !shared.stop.load(Relaxed) {
        let entries: Vec<Value> = (0..5)
            .map(|_| {
                n += 1;
                state_change(
                    "doc",
                    &format!("{author}-{stream}-{n}"),
                    "insert",
                    author,
                    Some(serde_json::json!({"n": n})),
                )
            })
            .collect();
        let (url, token) = shared.target.read().expect("target").clone();
        shared.sent.fetch_add(entries.len() as u64, Relaxed);
        let answer = agent
            .post(&format!("{url}/"))
            .header(
                "Authorization",
                &format!("Bearer {}", token.as_deref().unwrap_or_default()),
            )
            .header("X-Amz-Target", "AWSEvents.PutEvents")
            .header("Content-Type", "application/x-amz-json-1.1")
            .send(serde_json::json!({ "Entries": entries }).to_string());
        let Ok(mut response) = answer else {
            shared.unanswered.fetch_add(1, Relaxed);
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let status = response.status().as_u16();
        let Ok(text) = response.body_mut().read_to_string() else {
            shared.unanswered.fetch_add(1, Relaxed);
            continue;
        };
        if status != 200 {
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let mut refused = shared.refused.lock().expect("refused");
            let entry = refused.entry(status).or_insert((0, Value::Null));
            entry.0 += 1;
            entry.1 = body;
            drop(refused);
            // As a producer backs off on 503.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let ids = body["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["EventId"].as_str().map(str::to_owned));
        shared.acked.lock().expect("acked").extend(ids);
        std::thread::sleep(shared.pause);
    }
}

/// Wait until nothing is owed: no delivery in memory or in the journal.
pub(crate) fn wait_drained(server: &Server, timeout: Duration) {
    server.wait_until(timeout, "every delivery finished", |s| {
        s.get("/v1/admin/status").is_ok_and(|(code, status)| {
            code == 200 && status["pending-deliveries"] == 0 && status["spilled-deliveries"] == 0
        })
    });
}

/// The closing check: every acknowledged event has exactly one change
/// record (by `author`), waiting up to `timeout` for the last deliveries.
pub(crate) fn assert_each_change_once(
    server: &Server,
    author: &str,
    acked: &HashSet<String>,
    timeout: Duration,
) {
    assert!(!acked.is_empty(), "nothing was acknowledged");
    server.wait_until(
        timeout,
        "a change record of every acknowledged event",
        |s| {
            let ids: HashSet<String> = common::all_change_ids(s, &format!("author={author}"))
                .into_iter()
                .collect();
            acked.iter().all(|id| ids.contains(id))
        },
    );
    let seen = common::all_change_ids(server, &format!("author={author}"));
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{} change records for {} events: some were stored twice",
        seen.len(),
        unique.len()
    );
}

/// How many times each event was handed to the `flaky` fixture (with
/// `succeed_after: 1`, one archive key `flaky/<event id>/<attempt>` per
/// delivery), from the archive under `data`.
pub(crate) fn attempts(data: &Path) -> HashMap<String, usize> {
    let mut attempts: HashMap<String, usize> = HashMap::new();
    for key in common::archived_keys(&data.join("archive")) {
        if let Some(rest) = key.strip_prefix("flaky/")
            && let Some((id, _)) = rest.split_once('/')
        {
            *attempts.entry(id.to_owned()).or_default() += 1;
        }
    }
    attempts
}

/// The `flaky` fixture as rule `attempts`, counting every delivery of every
/// test event in the archive (see [`attempts`]).
pub(crate) const ATTEMPTS_RULE: &str =
    "grants: {archive: {read: [flaky/], write-prefix: flaky/}}\nconfig: {succeed_after: 1}\n";

/// Wait up to `timeout` for `server` to exit; panics (killing it) if it does not.
pub(crate) fn wait_exit(server: &mut Server, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = server.child.kill();
            panic!(
                "the server did not exit within {timeout:?}; its log:\n{}",
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// No dead letter, and the server stops cleanly (exit 0 on SIGTERM).
pub(crate) fn assert_clean_stop(server: Server) {
    assert!(
        server.dead_letters().is_empty(),
        "{:?}",
        server.dead_letters()
    );
    assert!(server.stop().success(), "a clean stop");
}

/// `trailmark verify` on the data of the stopped server in `root` passes:
/// the chain is intact and the stores agree with the journal. The bodies
/// the `flaky` fixture keeps as attempt counters (`flaky/<id>/<n>`) belong
/// to no event's key, and verify rightly names them: those are the only
/// problems allowed.
pub(crate) fn assert_verifies(root: &Path) {
    let out = common::cli(root, &["verify", "--data", "data", "--output", "json"]);
    let report = common::stdout_json(&out);
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|p| !p.starts_with("archived body \"flaky/"))
        .collect();
    assert!(problems.is_empty(), "verify found {problems:#?}");
    assert!(
        report["records"].as_u64() > Some(0),
        "{}",
        report["records"]
    );
    assert_eq!(
        report["checkpoints"]["rejected"], 0,
        "{}",
        report["checkpoints"]
    );
}

/// Every acknowledged event's body is archived by the standard `archive`
/// rule: its key ends with `-<event id>.json`.
pub(crate) fn assert_each_archived(data: &Path, acked: &HashSet<String>) {
    let archived: HashSet<String> = common::archived_keys(&data.join("archive"))
        .into_iter()
        .filter_map(|key| {
            let name = key.strip_suffix(".json")?;
            // `<ts>-<operation>-<event id>`: the id is the last 36 characters.
            let at = name.len().checked_sub(36)?;
            Some(name[at..].to_owned())
        })
        .collect();
    for id in acked {
        assert!(
            archived.contains(id),
            "acknowledged event {id} was not archived"
        );
    }
}
