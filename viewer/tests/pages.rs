//! The viewer over real HTTP on loopback: a real SQLite metadata store and
//! filesystem archive in a temp dir, real credentials, real patterns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use trailmark_auth::{AuthOptions, Authenticator, Scope, TokenSpec, generate_token, hash_token};
use trailmark_backends::{ArchiveStore, ChangeRecord, FsArchive, MetadataStore, SqliteMetadata};
use trailmark_pattern::Pattern;
use trailmark_viewer::{JournaledEvent, LiveRule, Refusal, Trail, ViewerState};

/// The journal side of the seam, over events held in memory.
struct Journal {
    events: HashMap<String, JournaledEvent>,
    rules: Vec<LiveRule>,
    refusals: Mutex<Vec<Refusal>>,
}

impl Trail for Journal {
    fn find_event(&self, id: &str) -> Result<Option<JournaledEvent>, String> {
        Ok(self.events.get(id).cloned())
    }
    fn live_rules(&self) -> Vec<LiveRule> {
        self.rules.clone()
    }
    fn record_refusal(&self, refusal: Refusal) {
        self.refusals.lock().expect("lock").push(refusal);
    }
}

/// A viewer on a free loopback port, stopped when dropped.
struct Viewer {
    url: String,
    tokens: HashMap<&'static str, String>,
    journal: Arc<Journal>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
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
struct Answer {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    csp: Option<String>,
    body: String,
}

const BOOK_V1: &str =
    r#"{"title": "Dune", "price": 10, "author": {"name": "Herbert"}, "isbn": "0441013597"}"#;
const BOOK_V2: &str =
    r#"{"title": "Dune", "price": 12, "author": {"name": "Frank Herbert"}, "isbn": "0441013597"}"#;
const BOOK_V3: &str =
    r#"{"title": "Dune", "price": 12, "author": {"name": "Frank Herbert"}, "pages": 412}"#;

fn record(
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
    }
}

fn envelope(id: &str, op: &str) -> Vec<u8> {
    json!({"version": "0", "id": id, "detail-type": "Object State Change", "source": "com.example.books",
           "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "local", "resources": [],
           "detail": {"entity-type": "book", "entity-id": "42", "operation": op, "author": "ann"}})
    .to_string()
    .into_bytes()
}

impl Viewer {
    fn start() -> Viewer {
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

        let mut events = HashMap::new();
        for (id, op) in [("ev-3", "update"), ("ev-del", "delete")] {
            events.insert(
                id.to_owned(),
                JournaledEvent {
                    seq: if op == "delete" { 9 } else { 3 },
                    hash: "ab".repeat(32),
                    envelope: envelope(id, op),
                    matched: if op == "delete" {
                        vec!["delete-alert".into()]
                    } else {
                        vec!["archive-all".into()]
                    },
                    ruleset: 1,
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
        let state = ViewerState::new(
            Arc::new(metadata),
            Arc::new(archive),
            trail.clone(),
            Arc::new(authenticator),
        );
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
            _dir: dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (location, csp) = (header("location"), header("content-security-policy"));
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
            body,
        }
    }

    fn get(&self, path: &str, session: Option<&str>) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.url));
        if let Some(s) = session {
            req = req.header("cookie", format!("trailmark_session={s}"));
        }
        Self::answer(req.call().expect("GET"))
    }

    fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("cookie", cookie);
        Self::answer(req.send_form(form.iter().copied()).expect("POST"))
    }

    /// Show the sign-in form, post `token` with its CSRF value.
    fn try_sign_in(&self, token: &str) -> Answer {
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
    fn sign_in(&self, name: &str) -> String {
        let a = self.try_sign_in(&self.tokens[name]);
        assert_eq!(a.status, 303, "{}", a.body);
        cookie_pair(&a.set_cookies, "trailmark_session")
            .split_once('=')
            .map(|(_, v)| v.to_owned())
            .expect("session cookie")
    }
}

/// The value of a hidden input in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// `name=value` of a Set-Cookie.
fn cookie_pair(set_cookies: &[String], name: &str) -> String {
    set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookies:?}"))
        .to_owned()
}

/// The explain table row of `rule`.
fn row<'a>(html: &'a str, rule: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<th scope="row">{rule}"#))
        .unwrap_or_else(|| panic!("no row for {rule} in {html}"));
    let end = html[start..].find("</tr>").expect("row end") + start;
    &html[start..end]
}

/// Number of result rows on a search page.
fn rows(html: &str) -> usize {
    html.matches(r#"<tr class="op-"#).count()
}

#[test]
fn signed_out_requests_get_the_sign_in_form_with_401_and_a_strict_csp() {
    let v = Viewer::start();
    for path in [
        "/",
        "/?q=op:delete",
        "/ui/entities/book/42",
        "/ui/events/ev-3",
    ] {
        let a = v.get(path, None);
        assert_eq!(a.status, 401, "{path}");
        assert!(
            a.body.contains(r#"action="/ui/signin""#),
            "{path}: {}",
            a.body
        );
        assert!(
            !a.body.contains("Dune") && !a.body.contains("ev-1"),
            "{path} leaks data"
        );
        let csp = a.csp.expect("CSP header");
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let cookie = a
            .set_cookies
            .iter()
            .find(|c| c.starts_with("trailmark_signin="))
            .expect("signin cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    }
    // A session id that was never issued is the same as none.
    assert_eq!(v.get("/", Some(&"0".repeat(64))).status, 401);
    // Pages never carry a script.
    let a = v.get("/ui/signin", None);
    assert!(!a.body.contains("<script"), "{}", a.body);
}

#[test]
fn sign_in_gives_an_opaque_http_only_session_that_is_never_the_token() {
    let v = Viewer::start();
    let token = &v.tokens["viewer"];
    let a = v.try_sign_in(token);
    assert_eq!(a.status, 303);
    assert_eq!(a.location.as_deref(), Some("/"));
    let cookie = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("trailmark_session="))
        .expect("session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(token.as_str()),
        "the cookie must not carry the token"
    );
    assert!(a.set_cookies.iter().all(|c| !c.contains(token.as_str())));
    let session = v.sign_in("viewer");
    let page = v.get("/", Some(&session));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Signed in as <strong>viewer</strong>"));
    assert!(!page.body.contains(token.as_str()));
}

#[test]
fn each_scope_gets_its_answer() {
    let v = Viewer::start();
    for (name, status) in [
        ("viewer", 303),
        ("reader", 303),
        ("admin", 303),
        ("producer", 403),
        ("scraper", 403),
    ] {
        let a = v.try_sign_in(&v.tokens[name]);
        assert_eq!(a.status, status, "{name}: {}", a.body);
        if status == 403 {
            assert!(
                a.body.contains("view"),
                "{name}: says which scope: {}",
                a.body
            );
            assert!(
                a.set_cookies
                    .iter()
                    .all(|c| !c.starts_with("trailmark_session=")),
                "{name}"
            );
        }
    }
    let wrong = v.try_sign_in("tmk_not_a_token_this_server_knows");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains(r#"role="alert""#));
    // Each refusal goes to the host's journal: who, status, where; never the token.
    let refusals = v.journal.refusals.lock().expect("lock").clone();
    let seen: Vec<(&str, u16)> = refusals
        .iter()
        .map(|r| (r.who.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [("producer", 403), ("scraper", 403), ("anonymous", 401)]
    );
    assert!(refusals.iter().all(|r| r.path == "/ui/signin"));
    assert!(
        !refusals[2].reason.contains("tmk_not_a_token"),
        "{}",
        refusals[2].reason
    );
}

#[test]
fn posts_without_the_csrf_value_are_refused() {
    let v = Viewer::start();
    // Sign-in: the form's value must equal its cookie.
    let form = v.get("/ui/signin", None);
    let csrf = hidden(&form.body, "csrf");
    let token = v.tokens["viewer"].as_str();
    for (cookie, field) in [
        ("", csrf.as_str()),
        ("trailmark_signin=forged", csrf.as_str()),
        ("trailmark_signin=x", "x2"),
    ] {
        let a = v.post("/ui/signin", cookie, &[("token", token), ("csrf", field)]);
        assert_eq!(a.status, 403, "cookie {cookie:?} field {field:?}");
        assert!(
            a.set_cookies
                .iter()
                .all(|c| !c.starts_with("trailmark_session="))
        );
    }
    // Sign-out: the session's token must come back.
    let session = v.sign_in("viewer");
    let cookie = format!("trailmark_session={session}");
    let a = v.post("/ui/signout", &cookie, &[("csrf", "wrong")]);
    assert_eq!(a.status, 403);
    let a = v.post("/ui/signout", &cookie, &[]);
    assert_eq!(a.status, 403);
    let recorded = v.journal.refusals.lock().expect("lock").clone();
    assert_eq!(
        recorded.len(),
        5,
        "three forged sign-ins, two sign-outs: {recorded:?}"
    );
    assert_eq!(
        (recorded[4].who.as_str(), recorded[4].path),
        ("viewer", "/ui/signout")
    );
    let page = v.get("/", Some(&session));
    assert_eq!(
        page.status, 200,
        "the refused sign-out left the session alone"
    );
    let real = hidden(&page.body, "csrf");
    let a = v.post("/ui/signout", &cookie, &[("csrf", &real)]);
    assert_eq!(a.status, 303);
    assert_eq!(v.get("/", Some(&session)).status, 401, "signed out");
}

#[test]
fn search_maps_qualifiers_filters_and_pages_by_cursor() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let page = |q: &str| {
        v.get(
            &format!(
                "/?q={}",
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ),
            Some(&s),
        )
    };

    let a = page("op:delete");
    assert_eq!(rows(&a.body), 1, "{}", a.body);
    assert!(a.body.contains(r#"href="/ui/entities/book/7""#));
    assert_eq!(rows(&page("entity:book/42").body), 3);
    assert_eq!(
        rows(&page("author:ann author:bob").body),
        4,
        "repeats are OR-ed"
    );
    assert_eq!(
        rows(&page("type:book -op:update").body),
        3,
        "ev-1, ev-del, ev-x"
    );
    assert_eq!(
        rows(&page("author:carl after:2026-01-01T00:00:00Z").body),
        0
    );
    assert_eq!(
        rows(&page("before:2026-01-01T00:00:00Z").body),
        50,
        "bulk rows are older; first page"
    );
    // The query stays in the box, and errors say what is wrong.
    let bad = page("colour:red");
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("unknown qualifier `colour:`"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains(r#"value="colour:red""#));

    // Cursor pagination: 65 rows, 50 then 15, none twice.
    let first = v.get("/", Some(&s));
    assert_eq!(rows(&first.body), 50);
    let next = first
        .body
        .split(r#"<a href=""#)
        .filter_map(|p| p.split('"').next())
        .find(|h| h.contains("cursor="))
        .expect("next link")
        .replace("&amp;", "&");
    let second = v.get(&next, Some(&s));
    assert_eq!(rows(&second.body), 15, "{}", second.body);
    assert!(
        !second.body.contains("cursor="),
        "last page has no next link"
    );
    // Server-side filtering pages the same way: 60 carl rows OR a bob row.
    let either = page("author:carl author:bob");
    assert_eq!(rows(&either.body), 50);
    assert!(either.body.contains("cursor="));
}

#[test]
fn history_lists_versions_and_diffs_the_picked_pair() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let a = v.get("/ui/entities/book/42", Some(&s));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body.matches(r#"<tr class="op-"#).count(), 3);
    assert!(
        a.body.contains("Changes from version 2 to version 3"),
        "{}",
        a.body
    );
    // Default: the last two versions.
    assert!(
        a.body
            .contains(r#"<tr class="removed"><td class="mono">/isbn</td>"#),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains(r#"<tr class="added"><td class="mono">/pages</td>"#)
    );
    assert!(a.body.contains("3 unchanged value(s) folded"), "{}", a.body);
    // Any pair: 1 → 3.
    let b = v.get("/ui/entities/book/42?from=ev-1&to=ev-3", Some(&s));
    assert!(b.body.contains("Changes from version 1 to version 3"));
    for path in ["/price", "/author/name", "/isbn", "/pages"] {
        assert!(
            b.body.contains(&format!(r#"<td class="mono">{path}</td>"#)),
            "{path}: {}",
            b.body
        );
    }
    assert!(
        !b.body.contains(r#"<td class="mono">/title</td>"#),
        "unchanged paths are folded"
    );
    assert!(b.body.contains("Raw bodies"));
}

#[test]
fn stored_values_are_escaped_everywhere() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let search = v.get("/?q=entity:ev", Some(&s));
    let search_all = v.get("/", Some(&s));
    let history = v.get("/ui/entities/book/%3Cb%3Eevil%3C%2Fb%3E", Some(&s));
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(
        history
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        history.body
    );
    for page in [&search.body, &search_all.body, &history.body] {
        assert!(!page.contains("<script"), "unescaped script: {page}");
        assert!(!page.contains("<img"), "unescaped img");
        assert!(!page.contains("<b>evil"), "unescaped entity id");
    }
    assert!(
        search_all
            .body
            .contains("&#60;script&#62;alert(3)&#60;/script&#62;"),
        "the author, escaped"
    );
    assert!(
        search_all
            .body
            .contains(r#"href="/ui/entities/book/%3Cb%3Eevil%3C%2Fb%3E""#)
    );
}

#[test]
fn event_detail_explains_every_live_rule() {
    let v = Viewer::start();
    let s = v.sign_in("reader");
    let a = v.get("/ui/events/ev-del", Some(&s));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("<dt>Journal sequence</dt><dd>9</dd>"),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"href="/ui/entities/book/42""#));
    assert!(row(&a.body, "delete-alert").contains("matches; delivered at ingest"));
    assert!(
        row(&a.body, "archive-all").contains("matches</td>"),
        "matches now, not delivered at ingest"
    );
    let update = v.get("/ui/events/ev-3", Some(&s));
    let delete = row(&update.body, "delete-alert");
    assert!(delete.contains("no match"), "{delete}");
    assert!(
        delete.contains(
            "`detail.operation` is &#34;update&#34; but the pattern requires = &#34;delete&#34;"
        ),
        "{delete}"
    );
    assert_eq!(v.get("/ui/events/nope", Some(&s)).status, 404);
}
