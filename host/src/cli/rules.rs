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
    /// Check rule files; print every problem as `file:line:col: message`.
    ///
    /// Exit status: 0 when every rule is valid, 2 otherwise.
    #[command(
        after_help = "Examples:\n  trailmark rules validate\n  trailmark rules validate rules/ extra/delete-alert.yaml"
    )]
    Validate {
        /// Rule files or directories [default: rules/].
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Test one event pattern against one event.
    ///
    /// Prints `match` or `no match`. Exit status: 0 on match, 1 on no match,
    /// 2 when the pattern or the event is invalid (the reason is on stderr).
    #[command(
        after_help = "Examples:\n  trailmark rules test --pattern '{\"detail\":{\"operation\":[\"delete\"]}}' --event @examples/events/book-delete.json\n  trailmark rules test --pattern @examples/patterns/deletes.json --event @examples/events/book-delete.json --explain"
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
        #[command(flatten)]
        server: ServerArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Show one of a running server's rules in full.
    #[command(after_help = "Example:\n  trailmark rules show delete-alert")]
    Show {
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
    #[arg(long)]
    pattern: String,
    /// The event in the EventBridge envelope: JSON text, or @FILE, or @- for standard input.
    #[arg(long)]
    event: String,
    /// On no match, say which field and condition failed first.
    #[arg(long)]
    explain: bool,
}

/// Run a `rules` subcommand.
pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::Validate { paths, output } => validate(paths, output),
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

fn validate(paths: Vec<PathBuf>, output: OutputFormat) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("rules")]
    } else {
        paths
    };
    match RuleSet::load(&paths) {
        Ok(set) => {
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"valid": true, "rules": set.rules().iter().map(|r| &r.rule.name).collect::<Vec<_>>()})
                ),
                OutputFormat::Table => println!("{} rule(s) valid", set.len()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            match output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"valid": false, "errors": errors.iter().map(|e| serde_json::json!({
                        "file": e.file, "line": e.position.line, "col": e.position.col, "message": e.message
                    })).collect::<Vec<_>>()})
                ),
                OutputFormat::Table => {
                    for e in &errors {
                        println!("{e}");
                    }
                    eprintln!("{} problem(s) found", errors.len());
                }
            }
            Ok(ExitCode::from(2))
        }
    }
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
    let pattern_text = read_arg(&args.pattern).context("reading --pattern")?;
    let event_text = read_arg(&args.event).context("reading --event")?;
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
    if pattern.matches(&event) {
        println!("match");
        return Ok(ExitCode::SUCCESS);
    }
    println!("no match");
    if args.explain
        && let Some(why) = pattern.explain(&event)
    {
        println!("{why}");
    }
    Ok(ExitCode::from(1))
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
