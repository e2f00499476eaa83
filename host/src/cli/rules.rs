//! `trailmark rules …`: offline commands that check and try rules without a server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use trailmark_pattern::Pattern;

use crate::rules::RuleSet;
use crate::rules::document::Document;

use super::{OutputFormat, ServerArg, read_arg, table};

/// Check rule files and try patterns against events.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files as `trailmark serve` does; print every problem as
    /// `file:line:col: message`.
    ///
    /// Besides each file's syntax, patterns and keys, it checks what the
    /// server checks at start: each rule's plugin is in the plugins
    /// directory and loads as a plugin of a supported contract, and its
    /// notify and forward grants name channels and destinations that
    /// trailmark.toml defines. Exit status: 0 when every rule is valid, 2
    /// otherwise.
    #[command(
        after_help = "Examples:\n  trailmark rules validate\n  trailmark rules validate rules/ extra/delete-alert.yaml\n  trailmark rules validate --plugins /srv/trailmark/plugins --config /etc/trailmark.toml\n  trailmark rules validate --syntax-only rules/"
    )]
    Validate {
        /// Rule files or directories [default: rules/].
        paths: Vec<PathBuf>,
        /// Plugins directory [default: as `serve`: trailmark.toml's, else plugins/].
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// Configuration file [default: ./trailmark.toml if present].
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Check the rule files alone: no plugins, no configuration.
        #[arg(long, conflicts_with_all = ["plugins", "config"])]
        syntax_only: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Test one event pattern against one event, or correlation rules
    /// against a file of timed events.
    ///
    /// With --pattern and --event: prints `match` or `no match`. Exit
    /// status: 0 on match, 1 on no match, 2 when the pattern or the event is
    /// invalid (the reason is on stderr).
    ///
    /// With --events: runs the correlation rules of --rules over the events
    /// (one EventBridge envelope per line, in arrival order; event time is
    /// --time-path, else the envelope's `time`) and prints every fire.
    /// Exit status: 0 when something fired, 1 when nothing did, 2 on
    /// invalid rules or events.
    #[command(
        after_help = "Examples:\n  trailmark rules test --pattern '{\"detail\":{\"operation\":[\"delete\"]}}' --event @examples/events/book-delete.json\n  trailmark rules test --pattern @examples/patterns/deletes.json --event @examples/events/book-delete.json --explain\n  trailmark rules test --rules rules/ --events examples/events/mass-deletes.jsonl"
    )]
    Test(TestArgs),
    /// Print the names of the rules an event matches, one per line.
    ///
    /// Exit status: 0 when at least one rule matches, 1 when none does, 2 on
    /// invalid rules or event.
    #[command(
        after_help = "Example:\n  trailmark rules match --rules rules/ --event @examples/events/book-delete.json"
    )]
    Match {
        /// Directory (or file) of rules.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// The event: JSON text, or @FILE, or @- for standard input.
        #[arg(long)]
        event: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// List a running server's rules: pattern summary, plugin, state, matches, failures, lag.
    #[command(
        after_help = "Examples:\n  trailmark rules list\n  trailmark rules list --server http://audit.internal:8088 --output json"
    )]
    List {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Show one of a running server's rules in full.
    #[command(after_help = "Example:\n  trailmark rules show delete-alert")]
    Show {
        /// The server to ask.
        #[command(flatten)]
        server: ServerArg,
        /// The rule's name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
}

/// Arguments of `rules test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The event pattern: JSON (or YAML) text, or @FILE.
    #[arg(long, required_unless_present = "events", conflicts_with = "events")]
    pattern: Option<String>,
    /// The event in the EventBridge envelope: JSON text, or @FILE, or @- for standard input.
    #[arg(long, required_unless_present = "events", conflicts_with = "events")]
    event: Option<String>,
    /// Timed events for correlation rules: a file of EventBridge envelopes,
    /// one per line (JSON Lines), or - for standard input.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Rule files or directory whose correlation rules --events runs.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "rules",
        requires = "events"
    )]
    rules: Vec<PathBuf>,
    /// Where an event's time is read (epoch ms or RFC 3339): `time` or a
    /// `detail.` path, as `[correlation] time-path`; the envelope's `time`
    /// when absent.
    #[arg(long, value_name = "PATH", default_value = crate::correlation::DEFAULT_TIME_PATH,
          value_parser = time_path, requires = "events")]
    time_path: String,
    /// Output format of --events.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, requires = "events")]
    output: OutputFormat,
    /// Say why: for each alternative of the pattern (each `$or` branch), the
    /// conditions it tests when it matches, or its first failing field and
    /// condition when it does not.
    #[arg(long)]
    explain: bool,
}

/// Run a `rules` subcommand.
pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Validate {
            paths,
            plugins,
            config,
            syntax_only,
            output,
        } => {
            let deployment = (!syntax_only).then_some(Deployment { plugins, config });
            validate(paths, deployment, output)
        }
        RulesCommand::Test(args) => test(args),
        RulesCommand::Match {
            rules,
            event,
            output,
        } => match_rules(rules, &event, output),
        RulesCommand::List { server, output } => list(&server, output),
        RulesCommand::Show {
            server,
            name,
            output,
        } => show(&server, &name, output),
    }
}

/// Where `rules validate` finds what the server would bind the rules to.
struct Deployment {
    plugins: Option<PathBuf>,
    config: Option<PathBuf>,
}

/// One problem, as `validate` reports it: in a file, at a line and
/// column when it has one.
struct Problem {
    file: PathBuf,
    at: Option<(usize, usize)>,
    message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

fn validate(
    paths: Vec<PathBuf>,
    deployment: Option<Deployment>,
    output: OutputFormat,
) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("rules")]
    } else {
        paths
    };
    // The http destinations and connections of each rules directory, their
    // shape only: their secrets are the server's.
    // Grants naming a destination no file defines are a deployment's
    // problem, not a file's: not with --syntax-only.
    let deployed = deployment.is_some();
    let mut destinations = std::collections::BTreeSet::new();
    let mut target_problems: Vec<Problem> = Vec::new();
    for dir in paths.iter().filter(|p| p.is_dir()) {
        match crate::targets::check(dir) {
            Ok(names) => destinations.extend(names),
            Err(found) => target_problems.extend(found.into_iter().map(|p| Problem {
                file: p.file,
                at: (p.position.line > 0).then_some((p.position.line, p.position.col)),
                message: p.message,
            })),
        }
    }
    let (set, mut problems) = match RuleSet::load(&paths) {
        Ok(set) => {
            let problems = match deployment {
                Some(deployment) => check_bindings(&set, deployment)?,
                None => Vec::new(),
            };
            (Some(set), problems)
        }
        Err(errors) => {
            let problems = errors
                .iter()
                .map(|e| Problem {
                    file: e.file.clone(),
                    at: Some((e.position.line, e.position.col)),
                    message: e.message.clone(),
                })
                .collect();
            (None, problems)
        }
    };
    problems.extend(target_problems);
    if let (Some(set), true) = (&set, deployed) {
        problems.extend(
            crate::targets::undefined_grants(set, &|n| destinations.contains(n))
                .into_iter()
                .map(|p| Problem {
                    file: p.file,
                    at: Some((p.position.line, p.position.col)),
                    message: p.message,
                }),
        );
    }
    if let Some(set) = set.filter(|_| problems.is_empty()) {
        match output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({"valid": true, "rules": set.rules().iter().map(|r| &r.rule.name).collect::<Vec<_>>()})
            ),
            OutputFormat::Table => println!("{} rule(s) valid", set.len()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"valid": false, "errors": problems.iter().map(|e| serde_json::json!({
                "file": e.file, "line": e.at.map(|a| a.0), "col": e.at.map(|a| a.1), "message": e.message
            })).collect::<Vec<_>>()})
        ),
        OutputFormat::Table => {
            for e in &problems {
                println!("{e}");
            }
            eprintln!("{} problem(s) found", problems.len());
        }
    }
    Ok(ExitCode::from(2))
}

/// What the server checks when it binds `set`: plugins that load, grants
/// that name configured channels and destinations. Opens no backend and
/// writes nothing but the compiled-plugin cache, when its directory exists.
fn check_bindings(set: &RuleSet, deployment: Deployment) -> Result<Vec<Problem>> {
    use crate::config::{Config, Overrides};
    use crate::engine::plugins::{Configured, PluginHost};
    use trailmark_runtime::{Runtime, RuntimeConfig};

    let config = Config::load(
        deployment.config.as_deref(),
        &Overrides {
            plugins: deployment.plugins,
            ..Overrides::default()
        },
    )?;
    if !config.plugins.is_dir() {
        return Ok(vec![Problem {
            file: config.plugins.clone(),
            at: None,
            message: "the plugins directory does not exist; pass the server's with --plugins DIR, \
                      or --syntax-only to check the rule files alone"
                .to_owned(),
        }]);
    }
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.runtime.cache_dir(&config.data)).filter(|dir| dir.is_dir()),
        max_memory_bytes: config.runtime.memory.max(256 << 20),
        ..RuntimeConfig::default()
    })
    .context("starting the plugin runtime")?;
    let host = PluginHost {
        runtime,
        dir: config.plugins.clone(),
        capabilities: trailmark_runtime::Capabilities::default(),
        default_limits: config.runtime.limits(),
        loaded: std::sync::Mutex::default(),
    };
    let problems: Vec<Problem> = host
        .check(
            set,
            &Configured {
                notify: &|name| config.notify.contains_key(name),
                forward: &|name| config.forward.contains_key(name),
            },
        )
        .into_iter()
        .map(|e| Problem {
            file: e.file,
            at: Some((e.position.line, e.position.col)),
            message: format!("rule `{}`: {}", e.rule, e.message),
        })
        .collect();
    Ok(problems)
}

/// Parse a pattern given as JSON or YAML text.
fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let doc = Document::parse(text).map_err(|e| {
        format!(
            "pattern is not valid JSON: line {}, column {}: {}",
            e.position.line, e.position.col, e.message
        )
    })?;
    Pattern::parse(&doc.value).map_err(|e| format!("invalid pattern: {e}"))
}

/// Parse an event given as JSON text.
fn parse_event(text: &str) -> Result<Value, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("event is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the event must be a JSON object (an EventBridge envelope)".into());
    }
    Ok(value)
}

fn test(args: TestArgs) -> Result<ExitCode> {
    let (Some(pattern), Some(event)) = (&args.pattern, &args.event) else {
        return super::rules_timeline::test_events(
            &args.rules,
            args.events.as_deref().unwrap_or(std::path::Path::new("-")),
            &args.time_path,
            args.output,
        );
    };
    let pattern_text = read_arg(pattern).context("reading --pattern")?;
    let event_text = read_arg(event).context("reading --event")?;
    let pattern = match parse_pattern(&pattern_text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let event = match parse_event(&event_text) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let matched = pattern.matches(&event);
    println!("{}", if matched { "match" } else { "no match" });
    if args.explain {
        print!("{}", explanation(&pattern.explain_each(&event)));
    }
    Ok(if matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--explain`: every alternative of the pattern (its `$or` expanded), with
/// the conditions it tests when it matches, or why it does not.
fn explanation(verdicts: &[Result<Vec<String>, trailmark_pattern::Mismatch>]) -> String {
    let mut out = String::new();
    let numbered = verdicts.len() > 1;
    for (i, verdict) in verdicts.iter().enumerate() {
        let head = if numbered {
            format!("alternative {} of {}: ", i + 1, verdicts.len())
        } else {
            String::new()
        };
        match verdict {
            Ok(conditions) => {
                out.push_str(&format!("{head}matches:\n"));
                for condition in conditions {
                    out.push_str(&format!("  {condition}\n"));
                }
            }
            Err(why) => out.push_str(&format!("{head}{why}\n")),
        }
    }
    out
}

fn match_rules(rules: PathBuf, event: &str, output: OutputFormat) -> Result<ExitCode> {
    let set = match RuleSet::load(&[rules]) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let event_text = read_arg(event).context("reading --event")?;
    if let Err(e) = parse_event(&event_text) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let matched = match set.matching(event_text.as_bytes()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let names: Vec<&str> = matched.iter().map(|r| r.rule.name.as_str()).collect();
    match output {
        OutputFormat::Json => println!("{}", serde_json::json!({ "matched": names })),
        OutputFormat::Table => {
            for n in &names {
                println!("{n}");
            }
        }
    }
    Ok(if names.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn list(server: &ServerArg, output: OutputFormat) -> Result<ExitCode> {
    let v = server.client().get("/v1/admin/rules")?;
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    let s = |k: &str| {
                        r[k].as_str()
                            .map_or_else(|| r[k].to_string(), str::to_owned)
                    };
                    vec![
                        s("name"),
                        s("plugin"),
                        s("state"),
                        s("matches"),
                        s("failures"),
                        s("lag"),
                        s("summary"),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &[
                        "NAME", "PLUGIN", "STATE", "MATCHES", "FAILURES", "LAG", "PATTERN"
                    ],
                    &rows
                )
            );
            eprintln!("rule set version {}", v["version"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(server: &ServerArg, name: &str, output: OutputFormat) -> Result<ExitCode> {
    let v = server.client().get(&format!("/v1/admin/rules/{name}"))?;
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        OutputFormat::Table => {
            for k in [
                "name",
                "description",
                "file",
                "plugin",
                "state",
                "summary",
                "matches",
                "delivered",
                "failures",
                "dead-lettered",
                "lag",
                "p99-ms",
            ] {
                println!(
                    "{k:<14} {}",
                    v[k].as_str()
                        .map_or_else(|| v[k].to_string(), str::to_owned)
                );
            }
            println!("pattern\n{}", serde_json::to_string_pretty(&v["pattern"])?);
            println!("grants\n{}", serde_json::to_string_pretty(&v["grants"])?);
            println!("config\n{}", serde_json::to_string_pretty(&v["config"])?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--time-path`, checked as `[correlation] time-path` is.
fn time_path(text: &str) -> Result<String, String> {
    crate::correlation::check_time_path(text).map(|()| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_names_every_alternative_and_what_held() {
        let pattern = parse_pattern(
            r#"{"$or": [{"detail": {"operation": ["delete"]}}, {"source": ["com.bank"]}]}"#,
        )
        .expect("pattern");
        let event: serde_json::Value = serde_json::from_str(
            r#"{"source": "com.bank", "detail-type": "t", "detail": {"operation": "update"}}"#,
        )
        .expect("event");
        let text = explanation(&pattern.explain_each(&event));
        assert!(
            text.contains("alternative 1 of 2: field `detail.operation` is \"update\"")
                && text.contains("alternative 2 of 2: matches:\n  source = \"com.bank\""),
            "{text}"
        );
    }
}
