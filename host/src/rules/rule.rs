//! One rule: what a rule file means once it has been read and checked.
//!
//! Parsing goes document → [`Rule`] in one pass that checks every key, so
//! nothing downstream re-validates. Errors carry the document path of the
//! offending node; the loader turns that into file:line:col.

use std::time::Duration;

use serde_json::{Map, Value};
use trailmark_pattern::{PathSegment, Pattern};
use trailmark_runtime::{ArchiveGrant, Grants};
use trailmark_runtime::{Quota, QuotaUnit, Quotas};

use super::document::Step;
use trailmark_backend_api::units::{format_duration, parse_bytes, parse_duration};
use trailmark_lake::{SecurityLakeSource, Table};

/// EventBridge's limits for a rule's retry policy.
const MAX_RETRY_ATTEMPTS: u64 = 185;
const MIN_EVENT_AGE: Duration = Duration::from_secs(60);
const MAX_EVENT_AGE: Duration = Duration::from_secs(86_400);

/// The keys a rule file may have, for "unknown key" messages.
const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "pattern",
    "plugin",
    "grants",
    "config",
    "retry",
    "limits",
    "order",
    "enabled",
    "correlation",
    "window",
    "after-fire",
    "lateness",
    "absent",
    "target",
    "ocsf",
];

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique rule name.
    pub name: String,
    /// What the rule is for.
    pub description: String,
    /// The compiled-ready event pattern.
    pub pattern: Pattern,
    /// The pattern as written, for display and the admin API.
    pub pattern_json: Value,
    /// The plugin it triggers (a `.wasm` file name without extension);
    /// `None` for a building block, a rule whose matches only correlation
    /// rules count.
    pub plugin: Option<String>,
    /// For a correlation rule, what it correlates; its `pattern` is then
    /// its own fires (see [`super::correlation::fire_pattern`]).
    pub correlation: Option<trailmark_correlate::Correlation>,
    /// Capabilities the plugin may use on behalf of this rule.
    pub grants: Grants,
    /// The plugin's configuration, passed to it as JSON.
    pub config: Value,
    /// How failed deliveries are retried.
    pub retry: RetryPolicy,
    /// Per-call limits for the plugin.
    pub limits: CallLimits,
    /// In what order the rule's deliveries may run.
    pub order: DeliveryOrder,
    /// Disabled rules are loaded and validated but match nothing.
    pub enabled: bool,
    /// A target the host serves itself instead of a plugin (`target: lake`);
    /// `None` for a plugin's rule or a building block.
    pub target: Option<HostTarget>,
}

/// A target the host delivers to itself, named by a rule's `target:` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTarget {
    /// `lake`: the event becomes a row of the data lake's `changes` table,
    /// or with an `ocsf:` mapping an OCSF Entity Management event of a
    /// Security Lake custom source (docs/lake.md). The lake exporter
    /// follows the journal and matches these rules itself; nothing is
    /// queued for dispatch.
    Lake(trailmark_lake::Table),
}

/// In what order a rule's deliveries run (`order:` in a rule file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryOrder {
    /// `any` (the default): deliveries run concurrently, in batches, and a
    /// retried one may land after later ones.
    #[default]
    Any,
    /// `entity`: the events of one entity (source, entity type and id) are
    /// delivered one at a time, in journal order: the next waits until the
    /// one before it is delivered or dead-lettered, retries included. Other
    /// entities go on meanwhile. For targets that must see an entity's
    /// changes in order (audit forwarding, counters).
    Entity,
}

/// Retry policy, as EventBridge's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0..=185).
    pub max_attempts: u32,
    /// Give up once the event is this old (60 s..=24 h).
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 185,
            max_age: MAX_EVENT_AGE,
        }
    }
}

/// Per-call plugin limits; `None` means the server default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock deadline per call.
    pub timeout: Option<Duration>,
    /// Linear memory cap in bytes.
    pub memory_bytes: Option<u64>,
    /// Quotas per call and per delivery: each quota's default unless the
    /// rule sets it (`limits: {archive-puts: 4}`).
    pub quotas: Quotas,
}

/// A problem in a rule document: where (as a document path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// Path of the offending node in the document.
    pub path: Vec<Step>,
    /// Whether the position should be that of the key (unknown keys).
    pub at_key: bool,
    /// What is wrong and what would be right.
    pub message: String,
}

impl RuleProblem {
    fn at(path: &[Step], message: impl Into<String>) -> Self {
        Self {
            path: path.to_vec(),
            at_key: false,
            message: message.into(),
        }
    }
}

fn key(k: &str) -> Step {
    Step::Key(k.to_owned())
}

/// Check a rule name the way EventBridge does: 1 to 64 of `[.\-_A-Za-z0-9]`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "rule names are 1 to 64 characters; `{name}` has {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "rule name `{name}` contains `{c}`; use letters, digits, `.`, `-` and `_`"
        ));
    }
    Ok(())
}

/// The longest plugin name.
pub const MAX_PLUGIN_NAME_LEN: usize = 64;

/// Check a plugin name, the one rule for rule files and `trailmark plugin
/// new`: the file stem of `plugins/<name>.wasm`, 1 to 64 of `a-z 0-9 _ -`,
/// starting with a letter (so it is also a valid crate name once `-` is
/// `_`). Says what is wrong, without the advice (callers add it).
pub fn check_plugin_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_PLUGIN_NAME_LEN {
        return Err(format!("it has {} characters", name.len()));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it does not start with a letter a-z".to_owned());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
    {
        return Err(format!("it contains {c:?}"));
    }
    Ok(())
}

/// Read a rule from a parsed document, collecting every problem found.
pub fn parse_rule(doc: &Value) -> Result<Rule, Vec<RuleProblem>> {
    let mut problems = Vec::new();
    let Some(map) = doc.as_object() else {
        return Err(vec![RuleProblem::at(
            &[],
            "a rule file must be a mapping with at least `name`, `pattern` and `plugin`",
        )]);
    };
    for k in map.keys() {
        if !RULE_KEYS.contains(&k.as_str()) {
            problems.push(misplaced_key(
                &[key(k)],
                format!("unknown key `{k}`; a rule has {}", RULE_KEYS.join(", ")),
            ));
        }
    }

    let name = required_string(map, "name", &mut problems).and_then(|n| {
        check_name(&n)
            .map_err(|m| problems.push(RuleProblem::at(&[key("name")], m)))
            .ok()
            .map(|()| n)
    });
    let description = optional_string(map, "description", &mut problems).unwrap_or_default();
    let plugin = optional_string(map, "plugin", &mut problems).and_then(|p| {
        check_plugin_name(&p)
            .map_err(|problem| {
                problems.push(RuleProblem::at(
                    &[key("plugin")],
                    format!(
                        "plugin `{p}` is not a valid plugin name: {problem}; use 1 to 64 of \
                         `a-z 0-9 _ -`, starting with a letter (the file is plugins/<name>.wasm)"
                    ),
                ))
            })
            .ok()
            .map(|()| p)
    });
    let correlation = name
        .as_deref()
        .and_then(|n| super::correlation::parse(n, map, &mut problems));
    let pattern = match (map.get("pattern"), map.contains_key("correlation")) {
        (Some(_), true) => {
            problems.push(misplaced_key(
                &[key("pattern")],
                "a correlation rule has no `pattern`: it fires on the matches of the rules its \
                 `correlation.rules` names; remove `pattern`"
                    .into(),
            ));
            None
        }
        (None, true) => {
            let value = super::correlation::fire_pattern(name.as_deref().unwrap_or_default());
            Pattern::parse(&value).ok().map(|p| (p, value))
        }
        (None, false) => {
            problems.push(RuleProblem::at(
                &[],
                "missing `pattern`: the EventBridge event pattern this rule matches, e.g. \
                 pattern: {detail-type: [\"Object State Change\"]} (or `correlation:` for a \
                 correlation rule)",
            ));
            None
        }
        (Some(value), false) => match Pattern::parse(value) {
            Ok(p) => Some((p, value.clone())),
            Err(e) => {
                let mut path = vec![key("pattern")];
                path.extend(e.path.iter().map(|s| match s {
                    PathSegment::Key(k) => Step::Key(k.clone()),
                    PathSegment::Index(i) => Step::Index(*i),
                }));
                problems.push(RuleProblem::at(
                    &path,
                    format!("invalid pattern: {}", e.reason),
                ));
                None
            }
        },
    };
    let grants = parse_grants(map.get("grants"), &mut problems);
    let config = match map.get("config") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            problems.push(RuleProblem::at(
                &[key("config")],
                "`config` must be a mapping (it is passed to the plugin as a JSON object)",
            ));
            Value::Null
        }
    };
    let retry = parse_retry(map.get("retry"), &mut problems);
    let limits = parse_limits(map.get("limits"), &mut problems);
    let order = match map.get("order") {
        None => DeliveryOrder::Any,
        Some(Value::String(o)) if o == "any" => DeliveryOrder::Any,
        Some(Value::String(o)) if o == "entity" => DeliveryOrder::Entity,
        Some(_) => {
            problems.push(RuleProblem::at(
                &[key("order")],
                "`order` must be `entity` (one entity's events delivered one at a time, in \
                 journal order) or `any` (the default: concurrent, in batches)",
            ));
            DeliveryOrder::Any
        }
    };
    let enabled = match map.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(RuleProblem::at(
                &[key("enabled")],
                "`enabled` must be true or false",
            ));
            true
        }
    };

    let target = match map.get("target") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t == "lake" => Some(HostTarget::Lake(
            parse_ocsf(map.get("ocsf"), &mut problems).map_or(Table::Changes, Table::Ocsf),
        )),
        Some(other) => {
            problems.push(RuleProblem::at(
                &[key("target")],
                format!(
                    "`target` is {}; the only target the host serves itself is `lake` (rows of \
                     the data lake); other targets are plugins (`plugin:`)",
                    match other {
                        Value::String(t) => format!("`{t}`"),
                        other => yaml_kind(other).to_owned(),
                    }
                ),
            ));
            None
        }
    };
    if target.is_none() && map.contains_key("ocsf") {
        problems.push(misplaced_key(
            &[key("ocsf")],
            "`ocsf` says how a `target: lake` rule writes its rows; add `target: lake` or remove \
             `ocsf`"
                .into(),
        ));
    }
    if target.is_some() && (plugin.is_some() || correlation.is_some()) {
        problems.push(misplaced_key(
            &[key("target")],
            "a rule has either `target: lake` or a plugin (and is not a correlation rule); \
             split it into two rules"
                .into(),
        ));
    }
    if target.is_some() && problems.is_empty() {
        for k in ["grants", "config", "retry", "limits", "order"] {
            if map.contains_key(k) {
                problems.push(misplaced_key(
                    &[key(k)],
                    format!(
                        "`{k}` is for a rule's plugin; a `target: lake` rule has only `name`, \
                         `description`, `pattern`, `enabled` and `ocsf`; remove `{k}`"
                    ),
                ));
            }
        }
    }
    if plugin.is_none() && correlation.is_none() && target.is_none() && problems.is_empty() {
        // A pattern and no plugin: a building block. Anything that only a
        // plugin uses is a mistake there.
        for k in ["grants", "config", "retry", "limits", "order"] {
            if map.contains_key(k) {
                problems.push(misplaced_key(
                    &[key(k)],
                    format!(
                        "`{k}` is for the rule's plugin, and this rule has none (a rule with a \
                         pattern and no plugin is a building block for correlation rules); add \
                         `plugin` or remove `{k}`"
                    ),
                ));
            }
        }
    }
    match (name, pattern) {
        (Some(name), Some((pattern, pattern_json))) if problems.is_empty() => Ok(Rule {
            name,
            description,
            pattern,
            pattern_json,
            plugin,
            correlation,
            grants,
            config,
            retry,
            limits,
            order,
            enabled,
            target,
        }),
        _ => Err(problems),
    }
}

fn required_string(
    map: &Map<String, Value>,
    k: &str,
    problems: &mut Vec<RuleProblem>,
) -> Option<String> {
    match map.get(k) {
        None => {
            problems.push(RuleProblem::at(&[], format!("missing `{k}`")));
            None
        }
        Some(value) => string_value(k, value, problems),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    k: &str,
    problems: &mut Vec<RuleProblem>,
) -> Option<String> {
    match map.get(k) {
        None | Some(Value::Null) => None,
        Some(value) => string_value(k, value, problems),
    }
}

fn string_value(k: &str, value: &Value, problems: &mut Vec<RuleProblem>) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        other => {
            problems.push(RuleProblem::at(
                &[key(k)],
                format!("`{k}` must be a string, found {}", yaml_kind(other)),
            ));
            None
        }
    }
}

/// A mapping-valued section of a rule file (`grants`, `retry`, `limits`):
/// absent or null reads as empty (`None`); anything but a mapping is one
/// problem, shown with an `example` of the right shape.
fn section<'a>(
    value: Option<&'a Value>,
    name: &str,
    example: &str,
    problems: &mut Vec<RuleProblem>,
) -> Option<&'a Map<String, Value>> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            problems.push(RuleProblem::at(
                &[key(name)],
                format!("`{name}` must be a mapping, e.g. {example}"),
            ));
            None
        }
    }
}

/// Read a mapping-valued [`section`] key by key into a `T` that starts as
/// its default: `read` gets each key, its value and its path
/// (`[section, key]`) to report problems at. An absent section is the
/// default; a section that is not a mapping is one problem.
fn read_section<T: Default>(
    value: Option<&Value>,
    name: &str,
    example: &str,
    problems: &mut Vec<RuleProblem>,
    mut read: impl FnMut(&mut T, &str, &Value, &[Step], &mut Vec<RuleProblem>),
) -> T {
    let mut out = T::default();
    if let Some(map) = section(value, name, example, problems) {
        for (k, v) in map {
            read(&mut out, k, v, &[key(name), key(k)], problems);
        }
    }
    out
}

/// A key that has no business where it is: the problem points at the key.
fn misplaced_key(path: &[Step], message: String) -> RuleProblem {
    RuleProblem {
        path: path.to_vec(),
        at_key: true,
        message,
    }
}

/// A `target: lake` rule's `ocsf:` mapping: the Security Lake custom
/// source its rows go to as OCSF events (`None` when absent or wrong, the
/// problem recorded).
fn parse_ocsf(
    value: Option<&Value>,
    problems: &mut Vec<RuleProblem>,
) -> Option<SecurityLakeSource> {
    const KEYS: [&str; 3] = ["custom-source", "region", "account-id"];
    let example =
        "ocsf: {custom-source: trailmark, region: us-east-1, account-id: \"123456789012\"}";
    let map = section(value, "ocsf", example, problems)?;
    let before = problems.len();
    for k in map.keys() {
        if !KEYS.contains(&k.as_str()) {
            problems.push(misplaced_key(
                &[key("ocsf"), key(k)],
                format!("unknown key `{k}`; `ocsf` has {}", KEYS.join(", ")),
            ));
        }
    }
    let mut text = |k: &str| match map.get(k) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            problems.push(RuleProblem::at(
                &[key("ocsf"), key(k)],
                format!("`ocsf.{k}` must be a string"),
            ));
            None
        }
        None => {
            problems.push(RuleProblem::at(
                &[key("ocsf")],
                format!("`ocsf` needs `{k}`, e.g. {example}"),
            ));
            None
        }
    };
    let (name, region, account) = (text(KEYS[0]), text(KEYS[1]), text(KEYS[2]));
    let (Some(name), Some(region), Some(account)) = (name, region, account) else {
        return None;
    };
    if problems.len() > before {
        return None;
    }
    SecurityLakeSource::new(&name, &region, &account)
        .map_err(|(k, why)| problems.push(RuleProblem::at(&[key("ocsf"), key(k)], why)))
        .ok()
}

fn parse_grants(value: Option<&Value>, problems: &mut Vec<RuleProblem>) -> Grants {
    read_section(
        value,
        "grants",
        "grants: {archive: true, notify: [admins]}",
        problems,
        grant_key,
    )
}

/// One key of `grants:`.
fn grant_key(
    grants: &mut Grants,
    k: &str,
    v: &Value,
    path: &[Step],
    problems: &mut Vec<RuleProblem>,
) {
    match k {
        "archive" => grants.archive = parse_archive_grant(v, problems),
        "metadata" => match v {
            Value::Bool(b) => grants.metadata = *b,
            _ => problems.push(RuleProblem::at(
                path,
                "`grants.metadata` must be true or false",
            )),
        },
        "notify" | "forward" | "http" => match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.is_empty() => {
                            let set = match k {
                                "notify" => &mut grants.notify,
                                "forward" => &mut grants.forward,
                                _ => &mut grants.http,
                            };
                            set.insert(s.to_owned());
                        }
                        _ => problems.push(RuleProblem::at(
                            &[key("grants"), key(k), Step::Index(i)],
                            format!("`grants.{k}` lists names configured in {}; each must be a non-empty string",
                                if k == "http" { "the rules directory's destinations/" } else { "trailmark.toml" }),
                        )),
                    }
                }
            }
            _ => problems.push(RuleProblem::at(
                path,
                format!("`grants.{k}` must be a list of names, e.g. {k}: [admins]"),
            )),
        },
        "log" => problems.push(misplaced_key(
            path,
            "`log` is always granted; remove it".into(),
        )),
        other => problems.push(misplaced_key(
            path,
            format!(
                "unknown capability `{other}`; grants are archive, metadata, notify, forward, http"
            ),
        )),
    }
}

/// `archive: true|false`, or `archive: {read: [prefix/, ..], write-prefix: prefix/}`.
fn parse_archive_grant(value: &Value, problems: &mut Vec<RuleProblem>) -> Option<ArchiveGrant> {
    const SHAPE: &str = "`grants.archive` must be true, false, or a mapping such as \
                         {read: [\"com.bank/\"], write-prefix: \"redacted/\"}";
    let base = [key("grants"), key("archive")];
    let map = match value {
        Value::Bool(true) => return Some(ArchiveGrant::default()),
        Value::Bool(false) => return None,
        Value::Object(map) => map,
        _ => {
            problems.push(RuleProblem::at(&base, SHAPE));
            return None;
        }
    };
    let mut grant = ArchiveGrant::default();
    for (k, v) in map {
        let mut path = base.to_vec();
        path.push(key(k));
        match (k.as_str(), v) {
            ("read", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let mut at = path.clone();
                    at.push(Step::Index(i));
                    match item.as_str().map(check_key_prefix) {
                        Some(Ok(prefix)) => {
                            grant.read.insert(prefix);
                        }
                        Some(Err(m)) => problems
                            .push(RuleProblem::at(&at, format!("`grants.archive.read`: {m}"))),
                        None => problems.push(RuleProblem::at(
                            &at,
                            "`grants.archive.read` lists key prefixes; each must be a string",
                        )),
                    }
                }
            }
            ("read", _) => problems.push(RuleProblem::at(
                &path,
                "`grants.archive.read` must be a list of key prefixes, e.g. [\"com.bank/\"]",
            )),
            ("write-prefix", Value::String(text)) => match check_key_prefix(text) {
                Ok(prefix) => grant.write_prefix = Some(prefix),
                Err(m) => problems.push(RuleProblem::at(
                    &path,
                    format!("`grants.archive.write-prefix`: {m}"),
                )),
            },
            ("write-prefix", _) => problems.push(RuleProblem::at(
                &path,
                "`grants.archive.write-prefix` must be a key prefix such as \"redacted/\"",
            )),
            (other, _) => problems.push(misplaced_key(
                &path,
                format!("unknown key `{other}` in grants.archive; use read and write-prefix"),
            )),
        }
    }
    Some(grant)
}

/// A key prefix as grants give it: `/`-separated segments ending in `/`,
/// not absolute, no empty, `.` or `..` segment, no NUL or backslash.
fn check_key_prefix(prefix: &str) -> Result<String, String> {
    let segments = prefix.strip_suffix('/').map(|p| p.split('/'));
    let valid = prefix.len() <= 512
        && !prefix.contains(['\0', '\\'])
        && segments.is_some_and(|mut s| s.all(|seg| !seg.is_empty() && seg != "." && seg != ".."));
    if valid {
        Ok(prefix.to_owned())
    } else {
        Err(format!(
            "{prefix:?} is not a key prefix; use `/`-separated segments ending in `/`, such as \
             \"com.bank/\" or \"redacted/books/\" (values in keys are percent-encoded)"
        ))
    }
}

fn parse_retry(value: Option<&Value>, problems: &mut Vec<RuleProblem>) -> RetryPolicy {
    read_section(
        value,
        "retry",
        "retry: {max-attempts: 185, max-age: 24h}",
        problems,
        retry_key,
    )
}

/// One key of `retry:`.
fn retry_key(
    retry: &mut RetryPolicy,
    k: &str,
    v: &Value,
    path: &[Step],
    problems: &mut Vec<RuleProblem>,
) {
    match k {
        "max-attempts" => match v.as_u64() {
            Some(n) if n <= MAX_RETRY_ATTEMPTS => retry.max_attempts = n as u32,
            _ => problems.push(RuleProblem::at(
                path,
                format!("`retry.max-attempts` must be a whole number from 0 to {MAX_RETRY_ATTEMPTS} (EventBridge's range)"),
            )),
        },
        "max-age" => match v.as_str().map(parse_duration) {
            Some(Ok(d)) if (MIN_EVENT_AGE..=MAX_EVENT_AGE).contains(&d) => retry.max_age = d,
            Some(Ok(d)) => problems.push(RuleProblem::at(
                path,
                format!(
                    "`retry.max-age` must be from 60s to 24h (EventBridge's range); got {}",
                    format_duration(d)
                ),
            )),
            Some(Err(e)) => problems.push(RuleProblem::at(path, format!("`retry.max-age`: {e}"))),
            None => problems.push(RuleProblem::at(path, "`retry.max-age` must be a duration such as 1h or 24h")),
        },
        other => problems.push(misplaced_key(
            path,
            format!("unknown key `{other}` in retry; use max-attempts and max-age"),
        )),
    }
}

fn parse_limits(value: Option<&Value>, problems: &mut Vec<RuleProblem>) -> CallLimits {
    read_section(
        value,
        "limits",
        "limits: {timeout: 2s, memory: 128MiB}",
        problems,
        limits_key,
    )
}

/// One key of `limits:`.
fn limits_key(
    limits: &mut CallLimits,
    k: &str,
    v: &Value,
    path: &[Step],
    problems: &mut Vec<RuleProblem>,
) {
    match k {
        "timeout" => {
            let range = Duration::from_millis(10)..=Duration::from_secs(300);
            let shape = ("10ms to 5m", "a duration such as 500ms or 2s");
            limits.timeout = ranged(v, path, "timeout", parse_duration, range, shape, problems);
        }
        "memory" => {
            let range = (1 << 20)..=(4u64 << 30);
            let shape = ("1MiB to 4GiB", "a size such as 64MiB");
            limits.memory_bytes = ranged(v, path, "memory", parse_bytes, range, shape, problems);
        }
        other => match Quota::from_key(other) {
            Some(quota) => {
                if let Err(m) = parse_quota(quota, v, &mut limits.quotas) {
                    problems.push(RuleProblem::at(path, m));
                }
            }
            None => problems.push(misplaced_key(
                path,
                format!(
                    "unknown key `{other}` in limits; use timeout, memory, {}",
                    Quota::ALL.map(Quota::key).join(", ")
                ),
            )),
        },
    }
}

/// A text value of `limits.NAME` read by `parse` and kept when in `range`;
/// `shape` says the range and an example for the problem recorded at
/// `path` when it is out of range, unreadable, or not text.
fn ranged<T: PartialOrd, E: std::fmt::Display>(
    v: &Value,
    path: &[Step],
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    range: std::ops::RangeInclusive<T>,
    (range_text, example): (&str, &str),
    problems: &mut Vec<RuleProblem>,
) -> Option<T> {
    let message = match v.as_str().map(parse) {
        Some(Ok(x)) if range.contains(&x) => return Some(x),
        Some(Ok(_)) => format!("`limits.{name}` must be from {range_text}"),
        Some(Err(e)) => format!("`limits.{name}`: {e}"),
        None => format!("`limits.{name}` must be {example}"),
    };
    problems.push(RuleProblem::at(path, message));
    None
}

/// One quota under `limits:`: a size (`1MiB`, or a number of bytes) or a
/// whole number of calls.
fn parse_quota(quota: Quota, value: &Value, quotas: &mut Quotas) -> Result<(), String> {
    let parsed = match (quota.unit(), value) {
        (_, Value::Number(n)) => n.as_u64().ok_or_else(|| String::from("a whole number")),
        (QuotaUnit::Bytes, Value::String(text)) => {
            parse_bytes(text).map_err(|e| format!("a size such as 1MiB ({e})"))
        }
        (QuotaUnit::Bytes, _) => Err("a size such as 1MiB".to_owned()),
        (QuotaUnit::Calls, _) => Err("a whole number of calls".to_owned()),
    };
    let value = parsed.map_err(|expected| format!("`{quota}` must be {expected}"))?;
    quotas.set(quota, value)
}

/// A value's type as a rule file (YAML) names it: a list, a mapping, or its
/// JSON kind.
fn yaml_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
        other => trailmark_event::json_kind(other),
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
