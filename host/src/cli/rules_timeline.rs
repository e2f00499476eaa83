//! `trailmark rules test --events`: correlation rules over a file of timed
//! events, offline, printing the fires.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::correlation::{FireOrigin, TimelineError, fire_envelope, run_timeline};
use crate::rules::RuleSet;
use trailmark_backend_api::when::format_ms;

use super::{OutputFormat, table};

/// Run the correlation rules of `rules` over the events in `events` (`-`
/// for standard input) and print the fires.
pub(super) fn test_events(
    rules: &[PathBuf],
    events: &Path,
    time_path: &str,
    output: OutputFormat,
) -> Result<ExitCode> {
    let set = match RuleSet::load(rules) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let text = if events == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(events).with_context(|| format!("reading {}", events.display()))?
    };
    let timeline = match run_timeline(&set, &text, time_path) {
        Ok(t) => t,
        Err(TimelineError::BadEvent { line, reason }) => {
            eprintln!("{}:{line}: {reason}", events.display());
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match output {
        OutputFormat::Json => {
            // Offline there is no server: the configuration's defaults.
            let origin = FireOrigin::default();
            for fire in &timeline.fires {
                println!("{}", fire_envelope(fire, &origin));
            }
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = timeline
                .fires
                .iter()
                .map(|f| {
                    vec![
                        format_ms(f.at),
                        f.rule.clone(),
                        f.group
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        f.count.to_string(),
                        format_ms(f.first),
                        format_ms(f.last),
                        f.id.clone(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                print!(
                    "{}",
                    table::render(
                        &["AT", "RULE", "GROUP", "COUNT", "FIRST", "LAST", "FIRE ID"],
                        &rows
                    )
                );
            }
            let late: u64 = timeline.stats.iter().map(|(_, s)| s.late).sum();
            eprintln!(
                "{} event(s), {} fire(s){}",
                timeline.events,
                timeline.fires.len(),
                if late > 0 {
                    format!(", {late} late event(s) skipped (beyond the lateness allowance)")
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(if timeline.fires.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
