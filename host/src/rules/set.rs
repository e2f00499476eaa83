//! A rule set: every rule file of a directory, loaded, checked together
//! (unique names) and compiled into one matcher.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use trailmark_pattern::{EventError, Matcher, MatcherBuilder};

use super::document::{Document, Position, Step};

/// Most rules one host loads: EventBridge's default quota of rules per event
/// bus. Each rule costs matcher memory and a delivery lane.
pub(crate) const MAX_RULES: usize = 300;

/// Largest rule file read. A pattern may hold at most 2,048 characters (as on
/// EventBridge); the rest of a rule is a few lines of metadata and config.
pub(crate) const MAX_RULE_FILE_BYTES: u64 = 64 * 1024;
use super::rule::{Rule, parse_rule};

/// A problem in a rule file, located at file:line:col.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub position: Position,
    /// What is wrong and what would be right.
    pub message: String,
}

impl fmt::Display for RuleError {
    /// `file:line:col: message`, or `path: message` for a problem of a
    /// whole directory or link (line 0), which has no line to point at.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.position.line,
            self.position.col,
            self.message
        )
    }
}

impl std::error::Error for RuleError {}

/// A loaded rule and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    /// The rule.
    pub rule: Rule,
    /// Its file.
    pub file: PathBuf,
    /// Where its name is written, for "duplicate name" errors.
    pub name_position: Position,
    /// Where its plugin is named, for errors loading the plugin.
    pub plugin_position: Position,
    /// Where its grants are (its plugin's position without any), for
    /// grants naming what the server does not configure.
    pub grants_position: Position,
    /// Where its config is (its plugin's position without one), for a
    /// config the plugin refuses.
    pub config_position: Position,
    /// For a correlation rule, where each name it correlates is written
    /// (`correlation.rules`, then `absent`), where each `group-by` entry
    /// is, and where the section starts.
    pub correlation_positions: CorrelationPositions,
}

/// Positions inside a correlation rule, for errors found once every rule
/// is loaded (unknown names, cycles, group-by paths).
#[derive(Debug, Clone, Default)]
pub struct CorrelationPositions {
    /// The `correlation:` section.
    pub section: Position,
    /// Each member rule name, in `Correlation::members` order.
    pub members: Vec<Position>,
    /// Each `group-by` entry.
    pub group_by: Vec<Position>,
    /// `condition.field` (value_count).
    pub field: Position,
}

/// All rules of a directory, compiled into one matcher.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<LoadedRule>,
    matcher: Matcher,
    /// Whether some enabled rule may match a read's access record.
    access_matchable: bool,
}

/// Whether a path is a rule file by its extension.
pub fn is_rule_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Read and check one rule file.
pub fn load_file(path: &Path) -> Result<LoadedRule, Vec<RuleError>> {
    let at = |position: Position, message: String| RuleError {
        file: path.to_owned(),
        position,
        message,
    };
    let start = Position { line: 1, col: 1 };
    let cannot_read = |e: std::io::Error| vec![at(start, format!("cannot read the file: {e}"))];
    // Read at most one byte past the limit: a file's reported size is not
    // trusted (files under /proc say 0, a FIFO has none, a file may grow).
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_RULE_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(vec![at(
            start,
            format!(
                "the file is larger than {MAX_RULE_FILE_BYTES} bytes, the most a rule file may be \
                 (a pattern at most 2048 characters)"
            ),
        )]);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        vec![at(
            start,
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )]
    })?;
    load_str(path, &text)
}

/// Check one rule file's text; `path` names it in errors.
pub fn load_str(path: &Path, text: &str) -> Result<LoadedRule, Vec<RuleError>> {
    let at = |position: Position, message: String| RuleError {
        file: path.to_owned(),
        position,
        message,
    };
    let doc = Document::parse(text).map_err(|e| vec![at(e.position, e.message)])?;
    let name_position = doc.value_position(&[Step::Key("name".into())]);
    let plugin_position = doc.value_position(&[Step::Key("plugin".into())]);
    let position_of = |key: &str| {
        if doc.value.get(key).is_some() {
            doc.value_position(&[Step::Key(key.into())])
        } else {
            plugin_position
        }
    };
    let grants_position = position_of("grants");
    let config_position = position_of("config");
    let rule = parse_rule(&doc.value).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| {
                let position = if p.at_key {
                    doc.key_position(&p.path)
                } else {
                    doc.value_position(&p.path)
                };
                at(position, p.message)
            })
            .collect::<Vec<_>>()
    })?;
    let correlation_positions = rule
        .correlation
        .as_ref()
        .map(|c| {
            let at = |path: &[&str], i: Option<usize>| {
                let mut steps: Vec<Step> = path.iter().map(|k| Step::Key((*k).into())).collect();
                steps.extend(i.map(Step::Index));
                doc.value_position(&steps)
            };
            CorrelationPositions {
                section: at(&["correlation"], None),
                members: (0..c.rules.len())
                    .map(|i| at(&["correlation", "rules"], Some(i)))
                    .chain((0..c.absent.len()).map(|i| at(&["absent"], Some(i))))
                    .collect(),
                group_by: (0..c.group_by.len())
                    .map(|i| at(&["correlation", "group-by"], Some(i)))
                    .collect(),
                field: at(&["correlation", "condition", "field"], None),
            }
        })
        .unwrap_or_default();
    Ok(LoadedRule {
        rule,
        file: path.to_owned(),
        name_position,
        plugin_position,
        grants_position,
        config_position,
        correlation_positions,
    })
}

/// The rule files in a directory (not recursive), sorted by name.
///
/// Only regular files count. A symbolic link is followed only when its target
/// is a regular file inside the same directory tree (the layout Kubernetes
/// ConfigMap volumes use); a link that leads out of the directory is reported
/// as an error, never read.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, Vec<RuleError>> {
    // Line 0: these are problems of the directory or of a link, not of a
    // line in a rule file.
    let error = |file: &Path, message: String| RuleError {
        file: file.to_owned(),
        position: Position { line: 0, col: 0 },
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            "the rules directory does not exist; create it, or point --rules \
             (or `rules` in trailmark.toml) at the directory of rule files"
                .to_owned()
        } else {
            format!("cannot read the rules directory: {e}")
        };
        vec![error(dir, message)]
    })?;
    let root = dir.canonicalize().map_err(|e| {
        vec![error(
            dir,
            format!("cannot resolve the rules directory: {e}"),
        )]
    })?;
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if !is_rule_file(&path) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_file() {
            files.push(path);
        } else if kind.is_symlink() {
            match path.canonicalize() {
                Ok(target) if target.starts_with(&root) && target.is_file() => files.push(path),
                Ok(target) if !target.starts_with(&root) => errors.push(error(
                    &path,
                    format!(
                        "is a link to {}, outside the rules directory; not read",
                        target.display()
                    ),
                )),
                Ok(_) => {}
                Err(e) => errors.push(error(&path, format!("is a broken link: {e}"))),
            }
        }
    }
    files.sort();
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

impl RuleSet {
    /// Load every rule file under the given paths (directories are scanned,
    /// files taken as they are). Returns every problem found, not just the first.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, Vec<RuleError>> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for p in paths {
            if !p.exists() && is_rule_file(p) {
                errors.push(RuleError {
                    file: p.clone(),
                    position: Position { line: 0, col: 0 },
                    message: "no such rule file".to_owned(),
                });
            } else if p.is_dir() || !p.exists() {
                // rule_files names a missing directory for what it is.
                match rule_files(p) {
                    Ok(found) => files.extend(found),
                    Err(e) => errors.extend(e),
                }
            } else {
                files.push(p.clone());
            }
        }
        let mut rules = Vec::new();
        for file in files {
            match load_file(&file) {
                Ok(loaded) => rules.push(loaded),
                Err(errs) => errors.extend(errs),
            }
        }
        errors.sort_by(|a, b| {
            (&a.file, a.position.line, a.position.col).cmp(&(
                &b.file,
                b.position.line,
                b.position.col,
            ))
        });
        match Self::from_rules(rules) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Build a set from already loaded rules, checking names are unique.
    pub fn from_rules(rules: Vec<LoadedRule>) -> Result<RuleSet, Vec<RuleError>> {
        let mut seen: HashMap<&str, &Path> = HashMap::new();
        let mut errors = Vec::new();
        for r in &rules {
            if let Some(first) = seen.insert(&r.rule.name, &r.file) {
                errors.push(RuleError {
                    file: r.file.clone(),
                    position: r.name_position,
                    message: format!(
                        "rule name `{}` is already used by {}; rule names must be unique",
                        r.rule.name,
                        first.display()
                    ),
                });
            }
        }
        if rules.len() > MAX_RULES {
            let last = &rules[MAX_RULES];
            errors.push(RuleError {
                file: last.file.clone(),
                position: last.name_position,
                message: format!(
                    "{} rules; a host loads at most {MAX_RULES} (EventBridge's quota per bus): \
                     merge rules with the same plugin into one pattern, or split the rules across hosts",
                    rules.len()
                ),
            });
        }
        if errors.is_empty() {
            errors = super::links::check(&rules);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut builder = MatcherBuilder::new();
        for (i, r) in rules.iter().enumerate() {
            if r.rule.enabled {
                let id = u32::try_from(i).expect("fewer than 2^32 rules");
                builder.add(id, &r.rule.pattern);
            }
        }
        let access_matchable = rules
            .iter()
            .any(|r| r.rule.enabled && may_match_access(&r.rule.pattern_json));
        Ok(RuleSet {
            rules,
            matcher: builder.build(),
            access_matchable,
        })
    }

    /// Whether some enabled rule may match a read's access record (source
    /// `trailmark`, detail-type `Trail Access`): when none can, reads skip
    /// matching their access records, which is most of what a record costs
    /// beyond its journal write.
    pub fn may_match_access(&self) -> bool {
        self.access_matchable
    }

    /// The correlations of the enabled correlation rules.
    pub fn correlations(&self) -> Vec<trailmark_correlate::Correlation> {
        self.rules
            .iter()
            .filter(|r| r.rule.enabled)
            .filter_map(|r| r.rule.correlation.clone())
            .collect()
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    /// Look a rule up by name.
    pub fn get(&self, name: &str) -> Option<&LoadedRule> {
        self.rules.iter().find(|r| r.rule.name == name)
    }

    /// The rules with a plugin an event (EventBridge envelope JSON)
    /// matches, in rule order: the rules it is delivered to.
    pub fn matching(&self, event_json: &[u8]) -> Result<Vec<&LoadedRule>, EventError> {
        let mut rules = self.matching_all(event_json)?;
        rules.retain(|r| r.rule.plugin.is_some());
        Ok(rules)
    }

    /// Every rule an event matches, building blocks (no plugin) included:
    /// what correlation rules count.
    pub fn matching_all(&self, event_json: &[u8]) -> Result<Vec<&LoadedRule>, EventError> {
        Ok(self
            .matcher
            .matches_json(event_json)?
            .into_iter()
            .filter_map(|id| self.rules.get(id as usize))
            .collect())
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Whether `pattern` may match an access record: a pattern's top-level
/// fields must all match, so when its `source` and `detail-type` alone
/// refuse `trailmark` and `Trail Access` (by the matcher itself, so every
/// operator counts: `anything-but`, `prefix`, …), the whole pattern does.
/// Anything this cannot read may match.
fn may_match_access(pattern: &serde_json::Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return true;
    };
    let envelope: serde_json::Map<String, serde_json::Value> = ["source", "detail-type"]
        .into_iter()
        .filter_map(|key| Some((key.to_owned(), fields.get(key)?.clone())))
        .collect();
    if envelope.is_empty() {
        return true;
    }
    let Ok(pattern) = trailmark_pattern::Pattern::parse(&serde_json::Value::Object(envelope))
    else {
        return true;
    };
    let mut builder = MatcherBuilder::new();
    builder.add(0, &pattern);
    let probe = serde_json::json!({
        "source": trailmark_event::HOST_SOURCE,
        "detail-type": trailmark_event::TRAIL_ACCESS,
    });
    builder
        .build()
        .matches_json(probe.to_string().as_bytes())
        .map_or(true, |ids| !ids.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_that_cannot_match_access_records_are_known_as_such() {
        let cases = [
            (r#"{"source": ["com.acme"]}"#, false),
            (r#"{"source": [{"anything-but": ["trailmark"]}]}"#, false),
            (
                r#"{"detail-type": [{"anything-but": ["Trail Access"]}], "version": ["0"]}"#,
                false,
            ),
            (
                r#"{"source": [{"prefix": "com."}], "detail": {"x": [1]}}"#,
                false,
            ),
            (
                r#"{"source": ["trailmark"], "detail-type": ["Object State Change"]}"#,
                false,
            ),
            (r#"{"source": ["trailmark"]}"#, true),
            (
                r#"{"source": [{"prefix": "trail"}], "detail-type": ["Trail Access"]}"#,
                true,
            ),
            (r#"{"detail-type": [{"wildcard": "Trail *"}]}"#, true),
            (r#"{"detail": {"route": ["/v1/export"]}}"#, true),
            (
                r#"{"$or": [{"source": ["com.acme"]}, {"detail-type": ["Trail Access"]}]}"#,
                true,
            ),
        ];
        for (pattern, want) in cases {
            let value: serde_json::Value = serde_json::from_str(pattern).expect("test pattern");
            assert_eq!(may_match_access(&value), want, "{pattern}");
        }
    }

    const RULE: &str = "name: r\ndescription: d\npattern: {source: [a]}\nplugin: p\n";

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_rules_directory_are_refused_and_links_inside_followed() {
        let outside = tempfile::tempdir().expect("temp dir");
        let secret = outside.path().join("secret.yaml");
        std::fs::write(&secret, RULE).expect("write");
        let dir = tempfile::tempdir().expect("temp dir");
        // A ConfigMap-style layout: the visible file links into a data dir.
        let data = dir.path().join("..data");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("inside.yaml"), RULE).expect("write");
        std::os::unix::fs::symlink(data.join("inside.yaml"), dir.path().join("inside.yaml"))
            .expect("link");
        std::os::unix::fs::symlink(&secret, dir.path().join("escape.yaml")).expect("link");

        let errors = rule_files(dir.path()).expect_err("the escaping link is refused");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().starts_with(&format!(
                "{}: is a link",
                dir.path().join("escape.yaml").display()
            )),
            "no made-up line and column: {}",
            errors[0]
        );
        assert!(errors[0].file.ends_with("escape.yaml"), "{errors:?}");
        assert!(
            errors[0].message.contains("outside the rules directory"),
            "{errors:?}"
        );

        std::fs::remove_file(dir.path().join("escape.yaml")).expect("rm");
        let files = rule_files(dir.path()).expect("only the inside link is left");
        assert_eq!(files, vec![dir.path().join("inside.yaml")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_whose_size_lies_is_read_no_further_than_the_limit() {
        // A FIFO reports size 0, as /proc files do, and can stream without end.
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("endless.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let writer = std::thread::spawn({
            let fifo = fifo.clone();
            move || {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)
                    .expect("open fifo");
                let chunk = vec![b'#'; 4096];
                // Stops when the reader closes its end (EPIPE).
                for _ in 0..1024 {
                    if f.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let errors = load_file(&fifo).expect_err("too large");
        assert!(errors[0].message.contains("larger than"), "{errors:?}");
        writer.join().expect("writer");
    }

    #[test]
    fn a_missing_rules_directory_says_so_without_a_made_up_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("rules");
        let errors = RuleSet::load(std::slice::from_ref(&missing)).expect_err("no directory");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(
            text.starts_with(&format!(
                "{}: the rules directory does not exist",
                missing.display()
            )),
            "{text}"
        );
    }
}
