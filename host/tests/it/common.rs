//! Test support: a real `trailmark serve` process on a free loopback port,
//! with its own temp dir, real `.wasm` plugins and a small HTTP client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod aws;
mod streaming;
pub(crate) use aws::{aws_runtime, moto_bucket, moto_env, moto_s3, moto_sdk, moto_url, unique};
pub(crate) use streaming::Streaming;

/// Where the built `.wasm` files are: `TRAILMARK_WASM_DIR` (set by
/// `cargo xtask test`), else the workspace target dir.
pub(crate) fn wasm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRAILMARK_WASM_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("wasm32-wasip2").join("release")
}

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host is in the workspace")
        .to_owned()
}

/// Path of a built guest crate's `.wasm` by package name (e.g. `trailmark-plugin-archive`, `fixture-flaky`).
pub(crate) fn wasm(package: &str) -> PathBuf {
    let path = wasm_dir().join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask build-plugins` first (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// A temp directory laid out for a server: rules/, plugins/, data/.
pub(crate) struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub(crate) fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["rules", "plugins", "data"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Setup { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Install the four standard plugins and the default rules.
    pub(crate) fn standard(self) -> Setup {
        for p in ["archive", "metadata", "alert", "log"] {
            self.plugin(p, &format!("trailmark-plugin-{p}"));
        }
        for entry in std::fs::read_dir(workspace().join("rules")).expect("rules dir") {
            let path = entry.expect("entry").path();
            std::fs::copy(
                &path,
                self.path()
                    .join("rules")
                    .join(path.file_name().expect("name")),
            )
            .expect("copy rule");
        }
        self
    }

    /// Install a built package as `plugins/<name>.wasm`.
    pub(crate) fn plugin(&self, name: &str, package: &str) -> &Setup {
        std::fs::copy(
            wasm(package),
            self.path().join("plugins").join(format!("{name}.wasm")),
        )
        .expect("copy plugin");
        self
    }

    /// Write a rule file.
    pub(crate) fn rule(&self, file: &str, text: &str) -> &Setup {
        std::fs::write(self.path().join("rules").join(file), text).expect("write rule");
        self
    }

    /// Write `rules/<name>.yaml`: rule `name` hands `plugin` every event
    /// from `com.example.test` (the source [`state_change`] puts), with
    /// `extra` YAML lines (grants, config, limits, retry) after.
    pub(crate) fn test_rule(&self, name: &str, plugin: &str, extra: &str) -> &Setup {
        self.rule(
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\npattern: {{source: [com.example.test]}}\nplugin: {plugin}\n{extra}"
            ),
        )
    }

    /// Write trailmark.toml.
    pub(crate) fn config(&self, text: &str) -> &Setup {
        std::fs::write(self.path().join("trailmark.toml"), text).expect("write config");
        self
    }

    /// Start a server on this setup.
    pub(crate) fn start(&self) -> Server {
        Server::start(self.path())
    }
}

/// How [`Server::start`] runs the server in a [`Setup`]'s directory: on a
/// free loopback port, over its data/, rules/ and plugins/.
pub(crate) const SERVE: [&str; 9] = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--data",
    "data",
    "--rules",
    "rules",
    "--plugins",
    "plugins",
];

/// A running `trailmark serve`.
pub(crate) struct Server {
    pub child: Child,
    pub url: String,
    pub root: PathBuf,
    log: PathBuf,
}

impl Server {
    /// Start `trailmark serve` in `root` (rules/, plugins/, data/, optional trailmark.toml).
    pub(crate) fn start(root: &Path) -> Server {
        Server::start_with(root, |_| {})
    }

    /// As [`Server::start`], letting the caller adjust the command first
    /// (environment, resource limits through `pre_exec`).
    pub(crate) fn start_with(root: &Path, adjust: impl FnOnce(&mut Command)) -> Server {
        let log = root.join(format!(
            "server-{}.log",
            std::process::id() as u128 * 1000 + fastrand_u16() as u128
        ));
        let stderr = std::fs::File::create(&log).expect("log file");
        // TRAILMARK_TEST_BIN: another build to run (a release binary for
        // the crash test at full load).
        let bin = std::env::var_os("TRAILMARK_TEST_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_trailmark")),
            PathBuf::from,
        );
        let mut cmd = Command::new(bin);
        cmd.current_dir(root)
            .args(SERVE)
            .env("RUST_LOG", "info,trailmark=debug")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if root.join("trailmark.toml").is_file() {
            cmd.args(["--config", "trailmark.toml"]);
        }
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("start trailmark serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("trailmark listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let server = Server {
            child,
            url,
            root: root.to_owned(),
            log,
        };
        server.wait_until(Duration::from_secs(30), "healthz", |s| {
            s.get("/healthz").is_ok()
        });
        server
    }

    /// Run the `trailmark` CLI against this server as its local admin
    /// (`TRAILMARK_SERVER`, and `TRAILMARK_DATA` for the admin token).
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_trailmark"))
            .args(args)
            .env("TRAILMARK_SERVER", &self.url)
            .env("TRAILMARK_DATA", self.root.join("data"))
            .output()
            .expect("run trailmark")
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The admin token the server created in its data directory on first start.
    pub(crate) fn token(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join("data").join("admin-token"))
            .ok()
            .map(|t| t.trim().to_owned())
    }

    /// `Authorization` for requests as the local admin.
    fn authorization(&self) -> String {
        format!("Bearer {}", self.token().unwrap_or_default())
    }

    fn agent() -> ureq::Agent {
        agent(Duration::from_secs(30))
    }

    /// GET, returning (status, JSON or text).
    pub(crate) fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let mut r = Self::agent()
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &self.authorization())
            .call()
            .map_err(|e| e.to_string())?;
        let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok((
            r.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// POST JSON, returning (status, JSON or text).
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let mut r = Self::agent()
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &self.authorization())
            .send_json(body)
            .map_err(|e| e.to_string())?;
        let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        Ok((
            r.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Poll until `ready` holds, or panic with the log after `timeout`.
    pub(crate) fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut(&Server) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("timed out waiting for {what}; server log:\n{}", self.log());
    }

    /// Change records (newest first) from the query API.
    pub(crate) fn changes(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/changes?{query}")).expect("query");
        assert_eq!(status, 200, "{body}");
        body["changes"].as_array().cloned().unwrap_or_default()
    }

    /// The versions of `entity` (`type/id`) from the history API, with
    /// `query` (paging, source); panics unless it answers 200.
    pub(crate) fn versions(&self, entity: &str, query: &str) -> Vec<Value> {
        let (status, page) = self
            .get(&format!("/v1/entities/{entity}/history?{query}"))
            .expect("history");
        assert_eq!(status, 200, "{page}");
        page["versions"].as_array().expect("versions").clone()
    }

    /// Dead letters from the admin API.
    pub(crate) fn dead_letters(&self) -> Vec<Value> {
        let (status, body) = self.get("/v1/admin/dlq").expect("dlq");
        assert_eq!(status, 200, "{body}");
        body["dead-letters"].as_array().cloned().unwrap_or_default()
    }

    /// One metric's value from `/metrics`.
    pub(crate) fn metric(&self, line_prefix: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").ok()?;
        body.as_str()?
            .lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// The dead letters of `rule`, once there are at least `count`.
    pub(crate) fn dead_letters_of(&self, rule: &str, count: usize, wait: Duration) -> Vec<Value> {
        let of_rule = |s: &Server| -> Vec<Value> {
            s.dead_letters()
                .into_iter()
                .filter(|d| d["rule"] == rule)
                .collect()
        };
        self.wait_until(wait, &format!("{count} dead letters of {rule}"), |s| {
            of_rule(s).len() >= count
        });
        of_rule(self)
    }

    /// `trailmark_deliveries_total` of `rule` with the outcome `delivered`;
    /// `None` until the rule has an outcome.
    pub(crate) fn delivered(&self, rule: &str) -> Option<f64> {
        self.metric(&format!(
            "trailmark_deliveries_total{{rule=\"{rule}\",outcome=\"delivered\"}}"
        ))
    }

    /// `trailmark_retries_total` of `rule`; `None` until its first retry.
    pub(crate) fn retries(&self, rule: &str) -> Option<f64> {
        self.metric(&format!("trailmark_retries_total{{rule=\"{rule}\"}}"))
    }

    /// Send SIGKILL and wait.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM (graceful) and wait for exit.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fastrand_u16() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(Instant::now()) & 0xffff) as u16
}

/// An HTTP client that answers 4xx/5xx as responses, each call bounded by
/// `timeout`.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .new_agent()
}

/// Run the `trailmark` CLI in `dir` (stdin closed, output captured).
pub(crate) fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailmark"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run trailmark")
}

/// Assert a CLI run exited 0, showing its stderr when it did not.
pub(crate) fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CLI run's stdout as JSON, whatever its exit; both streams when it is
/// not JSON.
pub(crate) fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An `[[auth.tokens]]` table for trailmark.toml: `token`, stored as its
/// hash, named `name`, with one scope and `extra` lines (`sources = [...]`).
pub(crate) fn auth_token(name: &str, token: &str, scope: &str, extra: &str) -> String {
    format!(
        "[[auth.tokens]]\nname = \"{name}\"\nhash = \"{}\"\nscopes = [\"{scope}\"]\n{extra}\n",
        trailmark_auth::hash_token(token)
    )
}

/// A PutEvents entry for an `Object State Change`.
pub(crate) fn state_change(
    entity_type: &str,
    id: &str,
    op: &str,
    author: &str,
    data: Option<Value>,
) -> Value {
    let mut detail = serde_json::json!({
        "entity-type": entity_type, "entity-id": id, "operation": op,
        "ts": "2026-11-25T10:00:00Z", "author": author,
    });
    if let Some(d) = data {
        detail["data"] = d;
    }
    serde_json::json!({"Source": "com.example.test", "DetailType": "Object State Change", "Detail": detail.to_string()})
}

/// An `Object State Change` in which `author` inserts `book/<id>` with `data`.
pub(crate) fn book_insert(id: &str, author: &str, data: Value) -> Value {
    state_change("book", id, "insert", author, Some(data))
}

/// POST a PutEvents request (the raw AWS JSON protocol) and return (status, body).
pub(crate) fn put_events(server: &Server, entries: &[Value]) -> (u16, Value) {
    let mut r = Server::agent()
        .post(&format!("{}/", server.url))
        .header("Authorization", &server.authorization())
        .header("X-Amz-Target", "AWSEvents.PutEvents")
        .header("Content-Type", "application/x-amz-json-1.1")
        .send(serde_json::json!({"Entries": entries}).to_string())
        .expect("put events");
    let text = r.body_mut().read_to_string().expect("body");
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// POST a PutEvents request that must be accepted whole: 200 and no
/// failed entry. Returns the answer.
pub(crate) fn put_accepted(server: &Server, entries: &[Value]) -> Value {
    let (status, body) = put_events(server, entries);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedEntryCount"], 0, "{body}");
    body
}

/// The id of the first entry of a PutEvents answer.
pub(crate) fn first_event_id(answer: &Value) -> String {
    answer["Entries"][0]["EventId"]
        .as_str()
        .unwrap_or_else(|| panic!("an event id in {answer}"))
        .to_owned()
}

/// An `Object State Change` lifecycle of `book/<id>`: inserted by alice
/// (3 copies), updated by bob (2 copies), deleted by carol.
pub(crate) fn book_lifecycle(id: &str) -> [Value; 3] {
    let book = |op: &str, author: &str, copies: Option<u32>| {
        state_change(
            "book",
            id,
            op,
            author,
            copies.map(|c| serde_json::json!({"title": "Rust", "copies": c})),
        )
    };
    [
        book("insert", "alice", Some(3)),
        book("update", "bob", Some(2)),
        book("delete", "carol", None),
    ]
}

/// A bare PutEvents client that tolerates the server going away.
pub(crate) struct Client {
    url: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(url: &str, token: Option<String>) -> Client {
        Client {
            url: url.to_owned(),
            agent: Server::agent(),
            token,
        }
    }

    /// Put entries; the ids of the acknowledged ones, or None if the server is unreachable.
    pub(crate) fn try_put(&self, entries: &[Value]) -> Option<Vec<String>> {
        let mut r = self
            .agent
            .post(&format!("{}/", self.url))
            .header(
                "Authorization",
                &format!("Bearer {}", self.token.as_deref().unwrap_or_default()),
            )
            .header("X-Amz-Target", "AWSEvents.PutEvents")
            .header("Content-Type", "application/x-amz-json-1.1")
            .send(serde_json::json!({"Entries": entries}).to_string())
            .ok()?;
        let text = r.body_mut().read_to_string().ok()?;
        if r.status().as_u16() != 200 {
            return Some(Vec::new());
        }
        let body: Value = serde_json::from_str(&text).ok()?;
        Some(
            body["Entries"]
                .as_array()?
                .iter()
                .filter_map(|e| e["EventId"].as_str().map(str::to_owned))
                .collect(),
        )
    }
}

/// Every change record's event id for a query, paging through all of them.
pub(crate) fn all_change_ids(server: &Server, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/changes?{query}&limit=1000&cursor={c}"),
            None => format!("/v1/changes?{query}&limit=1000"),
        };
        let Ok((200, page)) = server.get(&q) else {
            return ids;
        };
        for c in page["changes"].as_array().into_iter().flatten() {
            if let Some(id) = c["event-id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        cursor = page["next-cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return ids;
        }
    }
}

/// The keys of every body in the archive at `root` (the default `packs`
/// layout's index), each checked to read back intact.
pub(crate) fn archived_keys(root: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    trailmark_backends::PackArchive::scan(root, |key, intact| {
        assert!(intact.is_ok(), "{key}: {intact:?}");
        keys.push(key.to_owned());
    })
    .expect("read the archive's pack index");
    keys
}

/// The resident set size of process `pid` in bytes, from `/proc/<pid>/status`.
pub(crate) fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Note that a test is skipped because `missing` is not installed, or fail
/// it when `variable` is `require` (as `cargo xtask test` sets it), so that
/// CI cannot skip it unseen.
pub(crate) fn skip_unless_required(variable: &str, missing: &str) {
    assert_ne!(
        std::env::var(variable).as_deref(),
        Ok("require"),
        "{missing} is needed ({variable}=require)"
    );
    eprintln!("skipped: no {missing}");
}

/// Every file under `dir` (recursively) whose bytes contain `needle`: what a
/// test of data at rest scans for.
pub(crate) fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .expect("read")
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}
