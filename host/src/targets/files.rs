//! The destination and connection files of the rules directory
//! (`destinations/*.yaml`, `connections/*.yaml`), read into a [`Catalog`]
//! with every problem as `file:line:col: message`.
//!
//! ```yaml
//! # rules/destinations/hooks.yaml
//! name: hooks
//! url: https://hooks.example.com/audit
//! methods: [POST]          # default: [POST]
//! paths: [/]               # allowed path prefixes; default: [/]
//! timeout: 5s              # default: 5s
//! rate: 10                 # calls per second; default: 10
//! max-response: 1MiB       # default: 1MiB
//! connection: hooks-auth   # optional
//! ```
//!
//! ```yaml
//! # rules/connections/hooks-auth.yaml
//! name: hooks-auth
//! auth:
//!   bearer: {token: {env: HOOKS_TOKEN}}
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use trailmark_backend_api::units::{parse_bytes, parse_duration};

use super::connection::{AUTH_KINDS, Connection, RawAuth};
use super::destination::{Destination, METHODS, Spec};
use super::secret::SecretSource;
use crate::rules::document::{Document, Position, Step};
use crate::rules::{RuleError, RuleSet, is_rule_file};

/// The subdirectory of the rules directory holding destinations.
pub const DESTINATIONS_DIR: &str = "destinations";
/// The subdirectory of the rules directory holding connections.
pub const CONNECTIONS_DIR: &str = "connections";

/// The default of `timeout`, as EventBridge API destinations have it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default of `rate`, calls per second.
const DEFAULT_RATE: u32 = 10;
/// The default of `max-response`.
const DEFAULT_MAX_RESPONSE: u64 = 1 << 20;

/// The destinations a host offers, by name.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Destinations by name.
    pub destinations: HashMap<String, Arc<Destination>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDestination {
    name: String,
    #[serde(default)]
    description: Option<String>,
    url: UrlSource,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    rate: Option<u32>,
    #[serde(default)]
    max_response: Option<String>,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    allow_http: bool,
}

/// A destination's URL: written out, or a secret (a Slack or Teams webhook
/// URL carries its credential in its path).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UrlSource {
    Plain(String),
    Secret(SecretSource),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConnection {
    name: String,
    #[serde(default)]
    description: Option<String>,
    auth: RawAuth,
}

struct Problems {
    list: Vec<RuleError>,
}

impl Problems {
    fn at(&mut self, file: &Path, position: Position, message: impl std::fmt::Display) {
        self.list.push(RuleError {
            file: file.to_owned(),
            position,
            message: message.to_string(),
        });
    }
}

/// Read `rules_dir`'s destinations and connections, their secrets
/// included. Missing directories are an empty catalog; any problem fails
/// the whole load (the last good catalog stays in force).
pub fn load(rules_dir: &Path) -> Result<Catalog, Vec<String>> {
    read(rules_dir, true).map_err(|problems| problems.iter().map(ToString::to_string).collect())
}

/// Check `rules_dir`'s destinations and connections without reading any
/// secret (for `trailmark rules validate`, which may run where the
/// server's environment and secret files are not): the names of the
/// destinations, or the problems.
pub fn check(rules_dir: &Path) -> Result<BTreeSet<String>, Vec<RuleError>> {
    read(rules_dir, false).map(|catalog| catalog.destinations.into_keys().collect())
}

/// The `http` grants of `set`'s rules that name no destination of
/// `defined`, each a problem at the rule's `grants`.
pub fn undefined_grants(set: &RuleSet, defined: &dyn Fn(&str) -> bool) -> Vec<RuleError> {
    let mut problems = Vec::new();
    for loaded in set.rules() {
        for name in loaded.rule.grants.http.iter().filter(|n| !defined(n)) {
            problems.push(RuleError {
                file: loaded.file.clone(),
                position: loaded.grants_position,
                message: format!(
                    "rule `{}` grants http destination `{name}`, which the rules directory's \
                     {DESTINATIONS_DIR}/ does not define; add {DESTINATIONS_DIR}/{name}.yaml",
                    loaded.rule.name
                ),
            });
        }
    }
    problems
}

fn read(rules_dir: &Path, secrets: bool) -> Result<Catalog, Vec<RuleError>> {
    let mut problems = Problems { list: Vec::new() };
    let mut connections: HashMap<String, Arc<Connection>> = HashMap::new();
    for (file, doc) in documents(&rules_dir.join(CONNECTIONS_DIR), &mut problems) {
        let Some(raw) = parse::<RawConnection>(&file, &doc, &mut problems) else {
            continue;
        };
        let _ = raw.description;
        let name_at = doc.value_position(&[Step::Key("name".into())]);
        if connections.contains_key(&raw.name) {
            problems.at(
                &file,
                name_at,
                format!("connection `{}` is defined twice", raw.name),
            );
            continue;
        }
        match Connection::new(&raw.name, raw.auth, secrets) {
            Ok(connection) => {
                connections.insert(raw.name, Arc::new(connection));
            }
            Err((key, message)) => {
                let at = secret_position(&doc, key);
                problems.at(
                    &file,
                    at,
                    format!("connection `{}`: {key}: {message}", raw.name),
                );
            }
        }
    }
    let mut catalog = Catalog::default();
    for (file, doc) in documents(&rules_dir.join(DESTINATIONS_DIR), &mut problems) {
        let Some(raw) = parse::<RawDestination>(&file, &doc, &mut problems) else {
            continue;
        };
        let _ = raw.description;
        let key_at = |key: &str| doc.value_position(&[Step::Key(key.to_owned())]);
        let before = problems.list.len();
        if catalog.destinations.contains_key(&raw.name) {
            problems.at(
                &file,
                key_at("name"),
                format!("destination `{}` is defined twice", raw.name),
            );
        }
        let methods: BTreeSet<String> = raw
            .methods
            .unwrap_or_else(|| vec!["POST".to_owned()])
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if let Some(bad) = methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            problems.at(
                &file,
                key_at("methods"),
                format!("unknown method {bad:?}; methods are {}", METHODS.join(", ")),
            );
        }
        let duration =
            |key: &str, text: Option<String>, default: Duration, problems: &mut Problems| {
                text.map_or(Ok(default), |t| parse_duration(&t))
                    .unwrap_or_else(|m| {
                        problems.at(&file, key_at(key), format!("`{key}`: {m}"));
                        default
                    })
            };
        let timeout = duration("timeout", raw.timeout, DEFAULT_TIMEOUT, &mut problems);
        let max_response = raw
            .max_response
            .map_or(Ok(DEFAULT_MAX_RESPONSE), |t| parse_bytes(&t))
            .unwrap_or_else(|m| {
                problems.at(
                    &file,
                    key_at("max-response"),
                    format!("`max-response`: {m}"),
                );
                DEFAULT_MAX_RESPONSE
            });
        let connection = match raw.connection {
            None => None,
            Some(name) => match connections.get(&name) {
                Some(c) => Some(Arc::clone(c)),
                None => {
                    let defined: Vec<&str> = connections.keys().map(String::as_str).collect();
                    problems.at(
                        &file,
                        key_at("connection"),
                        format!(
                            "connection `{name}` is not defined in {CONNECTIONS_DIR}/ (defined: [{}])",
                            defined.join(", ")
                        ),
                    );
                    None
                }
            },
        };
        let (url, shown) = match raw.url {
            UrlSource::Plain(url) => (url.clone(), format!("{url:?}")),
            UrlSource::Secret(source) if !secrets => (
                "https://unread.invalid".to_owned(),
                format!("the URL from {source}"),
            ),
            UrlSource::Secret(source) => match source.read() {
                Ok(secret) => (secret.expose().to_owned(), format!("the URL from {source}")),
                Err(m) => {
                    problems.at(&file, key_at("url"), format!("`url`: {m}"));
                    (String::new(), String::new())
                }
            },
        };
        if problems.list.len() > before {
            continue;
        }
        let spec = Spec {
            name: raw.name.clone(),
            url,
            shown,
            methods,
            paths: raw.paths.unwrap_or_else(|| vec!["/".to_owned()]),
            timeout,
            rate: raw.rate.unwrap_or(DEFAULT_RATE),
            allow_http: raw.allow_http,
            max_response,
            connection,
        };
        match Destination::new(spec) {
            Ok(destination) => {
                catalog.destinations.insert(raw.name, Arc::new(destination));
            }
            Err((key, message)) => {
                problems.at(
                    &file,
                    key_at(key),
                    format!("destination `{}`: `{key}`: {message}", raw.name),
                );
            }
        }
    }
    if problems.list.is_empty() {
        Ok(catalog)
    } else {
        Err(problems.list)
    }
}

/// Where a connection's `key` is written, under whichever `auth` kind.
fn secret_position(doc: &Document, key: &str) -> Position {
    let Some(Value::Object(auth)) = doc.value.get("auth") else {
        return doc.value_position(&[Step::Key("auth".into())]);
    };
    let kind = auth.keys().next().cloned().unwrap_or_default();
    doc.value_position(&[
        Step::Key("auth".into()),
        Step::Key(kind),
        Step::Key(key.into()),
    ])
}

/// The parsed files of `dir` (none if it does not exist), in name order.
fn documents(dir: &Path, problems: &mut Problems) -> Vec<(PathBuf, Document)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.at(
                dir,
                Position::default(),
                format!("cannot read the directory: {e}"),
            );
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_rule_file(p) && p.is_file())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                problems.at(&file, Position::default(), format!("cannot read: {e}"));
                continue;
            }
        };
        match Document::parse(&text) {
            Ok(doc) => out.push((file, doc)),
            Err(e) => problems.at(&file, e.position, e.message),
        }
    }
    out
}

/// `doc` as a `T`, or a problem at the node serde stopped at.
fn parse<T: DeserializeOwned>(file: &Path, doc: &Document, problems: &mut Problems) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(&doc.value) {
        Ok(value) => Some(value),
        Err(error) => {
            let steps: Vec<Step> = error
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                    serde_path_to_error::Segment::Enum { variant } => {
                        Some(Step::Key(variant.clone()))
                    }
                    _ => None,
                })
                .collect();
            let inner = error.inner().to_string();
            let unknown_field = inner.starts_with("unknown field");
            let secret_key = matches!(
                steps.last(),
                Some(Step::Key(k)) if ["password", "token", "value", "secret", "client-secret"].contains(&k.as_str())
            );
            let written_inline =
                secret_key && lookup(&doc.value, &steps).is_some_and(Value::is_string);
            let message = if written_inline {
                "secrets are never written in rule files: use {env: VARIABLE} or \
                 {file: /path/to/file} (mode 0600)"
                    .to_owned()
            } else if inner.contains("untagged enum UrlSource") {
                "must be an https:// URL, or {env: VARIABLE} or {file: /path} holding one \
                 (a webhook URL that carries its credential)"
                    .to_owned()
            } else if inner.contains("unknown variant") && steps.len() == 1 {
                format!("{inner}; `auth` is one of {AUTH_KINDS}")
            } else {
                inner
            };
            let path = steps
                .iter()
                .map(|s| match s {
                    Step::Key(k) => k.clone(),
                    Step::Index(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            let message = if path.is_empty() {
                message
            } else {
                format!("`{path}`: {message}")
            };
            let position = if unknown_field {
                doc.key_position(&steps)
            } else {
                doc.value_position(&steps)
            };
            problems.at(file, position, message);
            None
        }
    }
}

fn lookup<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(i),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, dir: &str, name: &str, text: &str) {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        std::fs::write(root.join(dir).join(name), text).expect("write");
    }

    #[test]
    fn problems_name_file_line_column_key_and_what_is_valid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(
            root,
            CONNECTIONS_DIR,
            "inline.yaml",
            "name: inline\nauth:\n  bearer:\n    token: abc123\n",
        );
        write(
            root,
            DESTINATIONS_DIR,
            "plain.yaml",
            "name: plain\nurl: http://example.com/x\n",
        );
        write(
            root,
            DESTINATIONS_DIR,
            "typo.yaml",
            "name: typo\nurl: https://example.com\nrate: 5\nmethod: [POST]\n",
        );
        write(
            root,
            DESTINATIONS_DIR,
            "orphan.yaml",
            "name: orphan\nurl: https://example.com\nconnection: nowhere\n",
        );
        let problems = load(root).expect_err("four problems");
        let text = problems.join("\n");
        assert_eq!(problems.len(), 4, "{text}");
        assert!(
            text.contains("inline.yaml:4:12: `auth.bearer.token`: secrets are never written"),
            "{text}"
        );
        assert!(
            text.contains(
                "plain.yaml:2:6: destination `plain`: `url`: \"http://example.com/x\" is plain http"
            ),
            "{text}"
        );
        assert!(
            text.contains("typo.yaml:4:1: `method`: unknown field `method`"),
            "{text}"
        );
        assert!(
            text.contains("orphan.yaml:3:13: connection `nowhere` is not defined in connections/"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_empty_catalog_and_defaults_apply() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(load(dir.path()).expect("empty").destinations.is_empty());
        write(
            dir.path(),
            DESTINATIONS_DIR,
            "d.yml",
            "name: d\nurl: https://example.com/in/\n",
        );
        let catalog = load(dir.path()).expect("loads");
        let d = &catalog.destinations["d"];
        assert_eq!(d.timeout, DEFAULT_TIMEOUT);
        assert_eq!(d.methods.iter().collect::<Vec<_>>(), ["POST"]);
        assert_eq!(d.paths, ["/"]);
        assert_eq!(d.max_response, DEFAULT_MAX_RESPONSE);
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The destinations and connections in examples/rules are well formed
    /// (their secrets are not read: they are the server's).
    #[test]
    fn the_examples_check() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
        assert!(examples.join(DESTINATIONS_DIR).is_dir());
        let names = check(&examples).expect("the examples check");
        assert_eq!(names.len(), 5, "{names:?}");
        let rules = RuleSet::load(&[examples]).expect("the example rules load");
        assert!(undefined_grants(&rules, &|n| names.contains(n)).is_empty());
    }

    #[test]
    fn checking_reads_no_secret_but_still_refuses_inline_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connections = dir.path().join(CONNECTIONS_DIR);
        std::fs::create_dir_all(&connections).expect("mkdir");
        std::fs::write(
            connections.join("a.yaml"),
            "name: a\nauth: {bearer: {token: {env: TRAILMARK_TEST_SURELY_UNSET_42}}}\n",
        )
        .expect("write");
        assert!(check(dir.path()).is_ok());
        assert!(load(dir.path()).is_err(), "loading reads the secret");
        std::fs::write(
            connections.join("b.yaml"),
            "name: b\nauth: {bearer: {token: plain}}\n",
        )
        .expect("write");
        let problems = check(dir.path()).expect_err("an inline secret");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("secrets are never written"),
            "{problems:?}"
        );
    }
}
