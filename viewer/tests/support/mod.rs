//! Test support: a viewer on a free loopback port over a seeded real SQLite
//! metadata store and filesystem archive in a temp dir, real credentials
//! and real patterns, and a small HTTP client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use trailmark_auth::{AuthOptions, Authenticator, Scope, TokenSpec, generate_token, hash_token};
use trailmark_backends::{ArchiveStore, ChangeRecord, FsArchive, MetadataStore, SqliteMetadata};
use trailmark_pattern::Pattern;
use trailmark_viewer::operations::{
    DeadLetterAction, DeadLetterOutcome, DeadLetterRequest, DeadLetterView, Operations, Reload,
    RuleCounters,
};
use trailmark_viewer::{
    Checkpointed, Checkpoints, DeadLettersDone, Delivery, Export, JournaledEvent, LiveRule,
    Recorded, Refusal, SignedCheckpoint, Tail, Trail, ViewerState,
};

/// The journal side of the seam, over events held in memory.
pub(crate) struct Journal {
    events: HashMap<String, JournaledEvent>,
    rules: Vec<LiveRule>,
    pub refusals: Mutex<Vec<Refusal>>,
    pub exports: Mutex<Vec<Export>>,
    /// Journaling exports fails (the journal is unavailable).
    pub refuse_exports: std::sync::atomic::AtomicBool,
    /// What [`Trail::checkpoints`] answers.
    pub checkpoint_log: Mutex<Checkpoints>,
    /// The dead letters held.
    pub letters: Mutex<Vec<DeadLetterView>>,
    /// Each replay or purge asked: what, which ids, by whom.
    pub dlq_actions: Mutex<Vec<(DeadLetterAction, Vec<i64>, String)>>,
    /// Journaling admin actions fails (the journal is unavailable).
    pub refuse_admin_actions: std::sync::atomic::AtomicBool,
    /// What the live tail reads: state changes by journal position (the
    /// head is the last one's). Tests append to it.
    pub log: Mutex<Vec<(u64, ChangeRecord)>>,
}

impl Journal {
    /// The path of the last refusal journaled, if any.
    pub(crate) fn last_refused_path(&self) -> Option<&'static str> {
        self.refusals.lock().expect("lock").last().map(|r| r.path)
    }

    /// Journal `record` at the next position.
    pub(crate) fn append(&self, record: ChangeRecord) -> u64 {
        let mut log = self.log.lock().expect("lock");
        let seq = log.last().map_or(100, |(seq, _)| seq + 1);
        log.push((seq, record));
        seq
    }
}

impl Trail for Journal {
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String> {
        Ok(self.events.get(id).cloned())
    }
    fn live_rules(&self) -> Vec<LiveRule> {
        self.rules.clone()
    }
    fn last_checkpoint(&self) -> Option<Checkpointed> {
        Some(Checkpointed {
            seq: 5,
            time_ms: 1_767_225_600_000,
        })
    }
    fn verify_command(&self) -> String {
        "trailmark verify --data /srv/<trail>".to_owned()
    }
    fn checkpoints(&self, limit: usize) -> Result<Checkpoints, String> {
        let mut log = self.checkpoint_log.lock().expect("lock").clone();
        log.recent.truncate(limit);
        Ok(log)
    }
    fn operations(&self) -> Operations {
        Operations {
            rules: self
                .rules
                .iter()
                .map(|r| RuleCounters {
                    name: r.name.clone(),
                    plugin: r.plugin.clone(),
                    enabled: r.enabled,
                    matched: 3,
                    lag: 1,
                    ..RuleCounters::default()
                })
                .collect(),
            reload: Reload {
                at_ms: 1_767_225_600_000,
                ok: false,
                errors: vec!["rules/<bad>.yaml:1:1: not YAML".to_owned()],
            },
            dead_letters: 2,
        }
    }
    fn record_export(&self, export: Export) -> Recorded {
        let refused = self
            .refuse_exports
            .load(std::sync::atomic::Ordering::SeqCst);
        if !refused {
            self.exports.lock().expect("lock").push(export);
        }
        Box::pin(async move {
            if refused {
                Err("the journal is unavailable".to_owned())
            } else {
                Ok(())
            }
        })
    }
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetterView>, String> {
        let mut letters = self.letters.lock().expect("lock").clone();
        letters.truncate(limit);
        Ok(letters)
    }
    fn act_on_dead_letters(&self, request: DeadLetterRequest) -> DeadLettersDone {
        if self
            .refuse_admin_actions
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Box::pin(async { Err("the journal is unavailable".to_owned()) });
        }
        let DeadLetterRequest {
            action, ids, who, ..
        } = request;
        let mut letters = self.letters.lock().expect("lock");
        let mut outcome = DeadLetterOutcome::default();
        for id in &ids {
            match letters.iter().position(|d| d.id == *id) {
                Some(i) => {
                    letters.remove(i);
                    outcome.done.push(*id);
                }
                None => outcome.failed.push((*id, "no such dead letter".into())),
            }
        }
        self.dlq_actions
            .lock()
            .expect("lock")
            .push((action, ids, who));
        Box::pin(async move { Ok(outcome) })
    }
    fn record_refusal(&self, refusal: Refusal) {
        self.refusals.lock().expect("lock").push(refusal);
    }
    fn tail(&self, after: Option<u64>, limit: usize) -> Result<Tail, String> {
        let log = self.log.lock().expect("lock");
        let head = log.last().map_or(99, |(seq, _)| *seq);
        let after = after.unwrap_or(head);
        let changes: Vec<_> = log
            .iter()
            .filter(|(seq, _)| *seq > after)
            .take(limit)
            .cloned()
            .collect();
        let upto = changes.last().map_or(after, |(seq, _)| *seq);
        Ok(Tail { changes, upto })
    }
}

/// A viewer on a free loopback port, stopped when dropped.
pub(crate) struct Viewer {
    pub url: String,
    pub tokens: HashMap<&'static str, String>,
    pub journal: Arc<Journal>,
    agent: ureq::Agent,
    _dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An answer: status, headers we look at, body.
pub(crate) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub csp: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Answer {
    /// This answer, failing the test (with the body) unless it is a 200.
    pub(crate) fn expect_ok(self) -> Answer {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }
}

pub(crate) const BOOK_V1: &str =
    r#"{"title": "Dune", "price": 10, "author": {"name": "Herbert"}, "isbn": "0441013597"}"#;
pub(crate) const BOOK_V2: &str =
    r#"{"title": "Dune", "price": 12, "author": {"name": "Frank Herbert"}, "isbn": "0441013597"}"#;
pub(crate) const BOOK_V3: &str =
    r#"{"title": "Dune", "price": 12, "author": {"name": "Frank Herbert"}, "pages": 412}"#;

pub(crate) fn record(
    id: &str,
    entity: (&str, &str),
    op: &str,
    ts: i64,
    author: &str,
    key: Option<&str>,
) -> ChangeRecord {
    ChangeRecord {
        event_id: id.into(),
        source: "com.example.books".into(),
        entity_type: entity.0.into(),
        entity_id: entity.1.into(),
        operation: op.into(),
        ts,
        author: author.into(),
        archive_key: key.map(Into::into),
        attributes: "{}".into(),
        rules: Vec::new(),
    }
}

pub(crate) fn envelope(id: &str, entity_id: &str, op: &str) -> Vec<u8> {
    json!({"version": "0", "id": id, "detail-type": "Object State Change", "source": "com.example.books",
           "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "local", "resources": [],
           "detail": {"entity-type": "book", "entity-id": entity_id, "operation": op, "author": "ann"}})
    .to_string()
    .into_bytes()
}

impl Viewer {
    pub(crate) fn start() -> Viewer {
        Viewer::start_with(|state| state)
    }

    /// [`Viewer::start`] with the state's options changed by `configure`.
    pub(crate) fn start_with(configure: impl FnOnce(ViewerState) -> ViewerState) -> Viewer {
        let dir = tempfile::tempdir().expect("temp dir");
        let metadata = SqliteMetadata::open(dir.path().join("metadata.sqlite")).expect("sqlite");
        let archive = FsArchive::open(dir.path().join("archive")).expect("archive");
        let t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        for (i, (id, op, body)) in [
            ("ev-1", "insert", BOOK_V1),
            ("ev-2", "update", BOOK_V2),
            ("ev-3", "update", BOOK_V3),
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("book/42/{id}.json");
            archive
                .put(&key, body.as_bytes(), "application/json")
                .expect("archive put");
            metadata
                .put(&record(
                    id,
                    ("book", "42"),
                    op,
                    t0 + i as i64 * 1000,
                    "ann",
                    Some(&key),
                ))
                .expect("put");
        }
        metadata
            .put(&record(
                "ev-del",
                ("book", "7"),
                "delete",
                t0 + 5000,
                "bob",
                None,
            ))
            .expect("put");
        // A hostile producer's values.
        let hostile =
            r#"{"title": "<script>alert(1)</script>", "note": "\"><img src=x onerror=alert(2)>"}"#;
        archive
            .put(
                "book/evil/ev-x.json",
                hostile.as_bytes(),
                "application/json",
            )
            .expect("put");
        metadata
            .put(&record(
                "ev-x",
                ("book", "<b>evil</b>"),
                "insert",
                t0 + 6000,
                "<script>alert(3)</script>",
                Some("book/evil/ev-x.json"),
            ))
            .expect("put");
        for i in 0..60 {
            metadata
                .put(&record(
                    &format!("bulk-{i:02}"),
                    ("order", &i.to_string()),
                    "insert",
                    t0 - 100_000 + i,
                    "carl",
                    None,
                ))
                .expect("put");
        }

        let mut viewer = Viewer::start_over_with(Arc::new(metadata), Arc::new(archive), configure);
        viewer._dir = Some(dir);
        viewer
    }

    /// A viewer over these stores, with the seeded journal events and rules.
    pub(crate) fn start_over(
        metadata: Arc<dyn MetadataStore>,
        archive: Arc<dyn ArchiveStore>,
    ) -> Viewer {
        Viewer::start_over_with(metadata, archive, |state| state)
    }

    /// [`Viewer::start_over`] with the state's options changed by `configure`.
    pub(crate) fn start_over_with(
        metadata: Arc<dyn MetadataStore>,
        archive: Arc<dyn ArchiveStore>,
        configure: impl FnOnce(ViewerState) -> ViewerState,
    ) -> Viewer {
        // The checkpoint (below) covers records up to 5: ev-3 (seq 3) is
        // covered, ev-del (seq 9) pending, ev-2's record was altered.
        let mut events = HashMap::new();
        let altered = Err("its hash does not recompute".to_owned());
        for (id, seq, entity, op, matched, chain) in [
            ("ev-2", 2, "42", "update", "archive-all", altered),
            ("ev-3", 3, "42", "update", "archive-all", Ok(())),
            ("ev-del", 9, "7", "delete", "delete-alert", Ok(())),
        ] {
            events.insert(
                id.to_owned(),
                JournaledEvent {
                    seq,
                    hash: "ab".repeat(32),
                    envelope: envelope(id, entity, op),
                    matched: vec![matched.to_owned()],
                    ruleset: 1,
                    chain,
                    deliveries: vec![(
                        matched.to_owned(),
                        if op == "delete" {
                            Delivery::DeadLettered(4)
                        } else {
                            Delivery::Delivered
                        },
                    )],
                },
            );
        }
        let rule = |name: &str, plugin: &str, pattern: &str| LiveRule {
            name: name.into(),
            plugin: plugin.into(),
            enabled: true,
            pattern: Pattern::parse_str(pattern).expect("pattern"),
        };
        let trail = Arc::new(Journal {
            refusals: Mutex::default(),
            exports: Mutex::default(),
            refuse_exports: Default::default(),
            // ev-del's delivery to delete-alert, as its journal entry says,
            // and one with a hostile error text.
            letters: Mutex::new(vec![
                DeadLetterView {
                    id: 4,
                    rule: "delete-alert".into(),
                    event_id: "ev-del".into(),
                    attempts: 5,
                    error: "webhook answered 500".into(),
                    failed_at_ms: 1_767_225_605_000,
                },
                DeadLetterView {
                    id: 7,
                    rule: "archive-all".into(),
                    event_id: "ev-2".into(),
                    attempts: 1,
                    error: "<script>alert(4)</script>".into(),
                    failed_at_ms: 1_767_225_606_000,
                },
            ]),
            dlq_actions: Mutex::default(),
            refuse_admin_actions: Default::default(),
            log: Mutex::default(),
            // The last checkpoint (2026-01-01, records up to 5) as
            // `last_checkpoint` says; the head is ev-del's record, 9.
            checkpoint_log: Mutex::new(Checkpoints {
                recent: (1..=5)
                    .rev()
                    .map(|seq| SignedCheckpoint {
                        seq,
                        time_ms: 1_767_225_600_000 - (5 - seq as i64) * 60_000,
                        hash: format!("{seq:02}").repeat(32),
                        key_id: "<key>0123456789".into(),
                    })
                    .collect(),
                head_seq: 9,
                interval_ms: 60_000,
                export_command: "trailmark checkpoints export --data /srv/<trail> SAFE".into(),
                verify_exported_command: "trailmark verify --data /srv/<trail> \
                                          --checkpoints SAFE/checkpoints.jsonl"
                    .into(),
            }),
            events,
            rules: vec![
                rule(
                    "archive-all",
                    "archive",
                    r#"{"detail-type": ["Object State Change"]}"#,
                ),
                rule(
                    "delete-alert",
                    "alert",
                    r#"{"detail": {"operation": ["delete"]}}"#,
                ),
            ],
        });

        let mut tokens = HashMap::new();
        let mut specs = Vec::new();
        for (name, scope) in [
            ("viewer", Scope::View),
            ("reader", Scope::Query),
            ("admin", Scope::Admin),
            ("producer", Scope::Put),
            ("scraper", Scope::Metrics),
        ] {
            let token = generate_token();
            specs.push(TokenSpec {
                name: name.into(),
                hash: hash_token(token.expose()),
                scopes: vec![scope],
                sources: vec![],
            });
            tokens.insert(name, token.expose().to_owned());
        }
        let authenticator = Authenticator::new(&specs, &[], AuthOptions::default()).expect("auth");
        let state = configure(ViewerState::new(
            metadata,
            archive,
            trail.clone(),
            Arc::new(authenticator),
        ));
        let app = trailmark_viewer::router(Arc::new(state));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Viewer {
            url,
            tokens,
            journal: trail,
            agent,
            _dir: None,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (location, csp) = (header("location"), header("content-security-policy"));
        let retry_after = header("retry-after");
        let set_cookies = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_string()
            .expect("body");
        Answer {
            status: r.status().as_u16(),
            location,
            set_cookies,
            csp,
            retry_after,
            body,
        }
    }

    pub(crate) fn get(&self, path: &str, session: Option<&str>) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.url));
        if let Some(s) = session {
            req = req.header("cookie", format!("trailmark_session={s}"));
        }
        Self::answer(req.call().expect("GET"))
    }

    pub(crate) fn head(&self, path: &str, session: &str) -> u16 {
        let req = self
            .agent
            .head(format!("{}{path}", self.url))
            .header("cookie", format!("trailmark_session={session}"));
        req.call().expect("HEAD").status().as_u16()
    }

    pub(crate) fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("cookie", cookie);
        Self::answer(req.send_form(form.iter().copied()).expect("POST"))
    }

    /// Show the sign-in form, post `token` with its CSRF value.
    pub(crate) fn try_sign_in(&self, token: &str) -> Answer {
        let form = self.get("/ui/signin", None);
        let csrf = hidden(&form.body, "csrf");
        let cookie = cookie_pair(&form.set_cookies, "trailmark_signin");
        self.post(
            "/ui/signin",
            &cookie,
            &[("token", token), ("csrf", &csrf), ("next", "/")],
        )
    }

    /// Sign in as a named token; the session id.
    pub(crate) fn sign_in(&self, name: &str) -> String {
        let a = self.try_sign_in(&self.tokens[name]);
        assert_eq!(a.status, 303, "{}", a.body);
        cookie_pair(&a.set_cookies, "trailmark_session")
            .split_once('=')
            .map(|(_, v)| v.to_owned())
            .expect("session cookie")
    }
}

/// The value of a hidden input in a page.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// `name=value` of a Set-Cookie.
pub(crate) fn cookie_pair(set_cookies: &[String], name: &str) -> String {
    set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookies:?}"))
        .to_owned()
}

/// The explain table row of `rule`.
pub(crate) fn row<'a>(html: &'a str, rule: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<th scope="row">{rule}"#))
        .unwrap_or_else(|| panic!("no row for {rule} in {html}"));
    let end = html[start..].find("</tr>").expect("row end") + start;
    &html[start..end]
}

/// Number of result rows on a search page.
pub(crate) fn rows(html: &str) -> usize {
    html.matches(r#"<tr class="op-"#).count()
}

/// The viewer's own script tag, the only one a page may hold.
pub(crate) const OWN_SCRIPT: &str = r#"<script src="/ui/static/localtime.js" defer></script>"#;

/// `html` without the viewer's own script tag: any `<script` left is
/// unescaped input or an inline script.
pub(crate) fn without_own_script(html: &str) -> String {
    html.replace(OWN_SCRIPT, "")
}

/// Assert that `page` says `needle`, showing the page when it does not.
#[track_caller]
pub(crate) fn assert_has(page: &str, needle: &str) {
    assert!(page.contains(needle), "`{needle}` missing from:\n{page}");
}

/// Assert that `page` does not say `needle`, showing the page when it does.
#[track_caller]
pub(crate) fn assert_lacks(page: &str, needle: &str) {
    assert!(!page.contains(needle), "`{needle}` present in:\n{page}");
}

/// [`assert_has`], saying `why` the page should say it.
#[track_caller]
pub(crate) fn assert_has_why(page: &str, needle: &str, why: &str) {
    assert!(
        page.contains(needle),
        "{why}: `{needle}` missing from:\n{page}"
    );
}

/// [`assert_lacks`], saying `why` the page should not say it.
#[track_caller]
pub(crate) fn assert_lacks_why(page: &str, needle: &str, why: &str) {
    assert!(
        !page.contains(needle),
        "{why}: `{needle}` present in:\n{page}"
    );
}
