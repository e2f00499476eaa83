//! Shared harness for the host fuzz targets: a fixed rule set built from real
//! rule files, an in-memory [`Intake`], a current-thread runtime, a way to
//! send one request through the ingest router, and the reference check of
//! [`RuleSet::matching`] against the pattern interpreter.
//!
//! Everything here goes through `trailmark`'s public API; nothing is copied
//! from the host except the few lines of `rules::load_file` after it has
//! read the file (see [`load_rule_text`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use trailmark::ingest::{BoxFuture, IngestState, Intake, IntakeError, IngestLimits, router};
use trailmark::rules::{LoadedRule, RuleError, RuleSet};
use trailmark_backends::Event;

/// The rule files the fixed rule set is built from: the four shipped in
/// `rules/`, plus rules that use every pattern operator family, a `$or`,
/// and one disabled rule (which must never match).
const RULES: &[(&str, &str)] = &[
    (
        "rules/archive.yaml",
        include_str!("../../../rules/archive.yaml"),
    ),
    (
        "rules/delete-alert.yaml",
        include_str!("../../../rules/delete-alert.yaml"),
    ),
    ("rules/log.yaml", include_str!("../../../rules/log.yaml")),
    (
        "rules/metadata.yaml",
        include_str!("../../../rules/metadata.yaml"),
    ),
    (
        "fuzz/operators.yaml",
        r#"name: operators
pattern:
  source: [{prefix: "com.example"}, {suffix: ".books"}]
  resources: [{wildcard: "arn:aws:*:table/*"}]
  detail:
    entity-type: [{anything-but: ["author", "shelf"]}]
    author: [{equals-ignore-case: "BOB@EXAMPLE.COM"}, {exists: false}]
    data:
      copies: [{numeric: [">", 0, "<=", 100]}]
plugin: log
"#,
    ),
    (
        "fuzz/or.yaml",
        r#"name: either
pattern:
  detail:
    $or:
      - operation: ["delete"]
      - data: { year: [{numeric: ["<", 1900]}] }
plugin: alert
grants: { notify: [admins] }
"#,
    ),
    (
        "fuzz/null-and-missing.json",
        r#"{"name": "null-or-missing", "plugin": "log",
            "pattern": {"detail": {"ts": [null], "data": {"title": [{"exists": true}]}}}}"#,
    ),
    (
        "fuzz/disabled.yaml",
        r#"name: disabled
pattern: { version: ["0"] }
plugin: log
enabled: false
"#,
    ),
];

/// Load a rule from file text exactly as `trailmark::rules::load_file` does
/// after reading the file (`trailmark::rules::load_str`).
pub fn load_rule_text(file: &Path, text: &str) -> Result<LoadedRule, Vec<RuleError>> {
    trailmark::rules::load_str(file, text)
}

/// The fixed rule set every envelope is matched against.
pub fn rule_set() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let rules = RULES
            .iter()
            .map(|(file, text)| {
                load_rule_text(&PathBuf::from(file), text)
                    .unwrap_or_else(|e| panic!("fixed rule {file} is valid: {e:?}"))
            })
            .collect();
        RuleSet::from_rules(rules).expect("fixed rule names are unique")
    })
}

/// Match `event_json` with the rule set's compiled matcher and check the
/// answer against the reference interpreter ([`trailmark_pattern::Pattern::matches`]
/// on the `serde_json` value, skipping disabled rules): the same rules, in
/// rule order; an error exactly when `serde_json` rejects the bytes or they
/// are not an object. Returns the matched rule names, or `None` on error.
pub fn check_matching(set: &RuleSet, event_json: &[u8]) -> Option<Vec<String>> {
    let matched = set.matching(event_json);
    match serde_json::from_slice::<Value>(event_json) {
        Ok(value @ Value::Object(_)) => {
            let names: Vec<String> = matched
                .unwrap_or_else(|e| panic!("matching refused a JSON object: {e}"))
                .into_iter()
                .map(|r| r.rule.name.clone())
                .collect();
            let expected: Vec<String> = set
                .rules()
                .iter()
                .filter(|r| r.rule.enabled && r.rule.pattern.matches(&value))
                .map(|r| r.rule.name.clone())
                .collect();
            assert_eq!(
                names, expected,
                "compiled matcher disagrees with interpreter"
            );
            Some(names)
        }
        Ok(_) => {
            assert!(matched.is_err(), "matching accepted a JSON non-object");
            None
        }
        Err(_) => {
            assert!(
                matched.is_err(),
                "matching accepted bytes serde_json rejects"
            );
            None
        }
    }
}

/// How the in-memory intake answers a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Keep the events and answer `Ok`.
    Accept,
    /// Answer [`IntakeError::Busy`] (HTTP 503, throttling).
    Busy,
    /// Answer [`IntakeError::Unavailable`] (HTTP 500, by design).
    Unavailable,
}

/// An in-memory [`Intake`] that records every submit.
#[derive(Debug)]
pub struct Capture {
    behaviour: Behaviour,
    submits: Mutex<Vec<Vec<Event>>>,
}

impl Capture {
    /// A new intake answering every submit as `behaviour` says.
    pub fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            behaviour,
            submits: Mutex::new(Vec::new()),
        })
    }

    /// Every submit so far, in order.
    pub fn submits(&self) -> Vec<Vec<Event>> {
        self.submits.lock().expect("capture lock").clone()
    }
}

impl Intake for Capture {
    fn submit(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), IntakeError>> {
        assert!(!events.is_empty(), "ingest submitted an empty list");
        self.submits.lock().expect("capture lock").push(events);
        let result = match self.behaviour {
            Behaviour::Accept => Ok(()),
            Behaviour::Busy => Err(IntakeError::Busy),
            Behaviour::Unavailable => Err(IntakeError::Unavailable("fuzz: disk gone".to_owned())),
        };
        Box::pin(async move { result })
    }

    fn get(&self, id: &str) -> BoxFuture<'static, Result<Option<Event>, IntakeError>> {
        let found = self
            .submits()
            .into_iter()
            .flatten()
            .find(|event| event.id == id);
        let result = match self.behaviour {
            Behaviour::Unavailable => Err(IntakeError::Unavailable("fuzz: disk gone".to_owned())),
            _ => Ok(found),
        };
        Box::pin(async move { result })
    }
}

/// The ingest state the targets use, with the given intake and limits.
pub fn state(intake: Arc<Capture>, limits: IngestLimits) -> IngestState {
    IngestState {
        intake,
        limits,
        account: "123456789012".to_owned(),
        region: "eu-west-1".to_owned(),
    }
}

/// One response, read whole.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body bytes.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON; panics when it is not, since every ingest answer is JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answer body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Send one request through `trailmark::ingest::router` on a
/// current-thread runtime and read the whole answer.
pub fn send(state: IngestState, request: Request<Body>) -> Answer {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime builds")
    });
    runtime.block_on(async move {
        let response = router(state)
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body reads");
        Answer {
            status,
            headers,
            body,
        }
    })
}

/// Check a stored event the way the rest of the host relies on it: `detail`
/// is compact JSON text of an object no deeper than `max_depth`, `time` is
/// `YYYY-MM-DDTHH:MM:SSZ`, the envelope fields are the host's, and its
/// EventBridge envelope JSON (as the pipeline builds it) is accepted by the
/// rule set and matched as the interpreter says. Returns the matched names.
pub fn check_event(event: &Event, max_depth: usize) -> Vec<String> {
    let detail: Value = serde_json::from_str(&event.detail)
        .unwrap_or_else(|e| panic!("stored detail is not JSON ({e}): {:?}", event.detail));
    assert!(detail.is_object(), "stored detail is not an object");
    // Finding F1 (fixed by serde_json's `float_roundtrip`): a float could
    // read back one ULP off; every stored detail must now be a fixed point.
    assert_eq!(
        detail.to_string(),
        event.detail,
        "stored detail is not compact"
    );
    assert!(depth(&detail) <= max_depth, "stored detail nests too deep");
    assert!(!event.source.is_empty() && !event.detail_type.is_empty());
    assert_eq!(event.version, "0");
    assert_eq!(event.account, "123456789012");
    assert_eq!(event.region, "eu-west-1");
    let t = event.time.as_bytes();
    assert!(
        t.len() == 20
            && t[4] == b'-'
            && t[7] == b'-'
            && t[10] == b'T'
            && t[13] == b':'
            && t[16] == b':'
            && t[19] == b'Z',
        "time {:?} is not YYYY-MM-DDTHH:MM:SSZ",
        event.time
    );
    let json = trailmark::server::envelope::to_json(event);
    let envelope: Value = serde_json::from_slice(&json).expect("the envelope is JSON");
    assert_eq!(envelope["detail"], detail, "the envelope lost the detail");
    check_matching(rule_set(), &json).expect("the envelope of an accepted event matches")
}

/// Nesting depth of objects and arrays (`{}` is 1), without recursion.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, above)) = stack.pop() {
        let children: Vec<&Value> = match value {
            Value::Object(map) => map.values().collect(),
            Value::Array(items) => items.iter().collect(),
            _ => continue,
        };
        deepest = deepest.max(above + 1);
        stack.extend(children.into_iter().map(|child| (child, above + 1)));
    }
    deepest
}

/// Whether a value holds a number that is not an integer (see finding F1).
pub fn has_float(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Number(n) if n.is_f64() => return true,
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}
