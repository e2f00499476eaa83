//! `trailmark lake flush|ddl|compact` and `trailmark sql`: the data lake
//! from the command line (docs/lake.md).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use trailmark_lake::Partitioning;
use trailmark_lake::ddl::{Engine, ddl};

use super::location::ConfigLocation;
use super::{OutputFormat, ServerArg};
use crate::lake::sql;

/// `trailmark lake …`.
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Close a running server's open lake files now, so every event it has
    /// acknowledged is in Parquet.
    #[command(
        after_help = "Examples:\n  trailmark lake flush\n  trailmark lake flush --server http://127.0.0.1:8088 --output json"
    )]
    Flush(FlushArgs),
    /// Print statements that define a table or view named `changes` over
    /// the lake, for Athena, DuckDB or Spark.
    #[command(
        after_help = "Examples:\n  trailmark lake ddl --engine duckdb > changes.sql && duckdb -init changes.sql\n  trailmark lake ddl --engine athena --location s3://audit-lake/trailmark"
    )]
    Ddl(DdlArgs),
    /// Merge the small files of each day before a date into large ones.
    #[command(
        after_help = "Examples:\n  trailmark lake compact --before 2026-11-01\n  trailmark lake compact --before \"$(date -u +%F)\" --data /var/lib/trailmark"
    )]
    Compact(CompactArgs),
}

/// `lake flush`.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// The server to ask.
    #[command(flatten)]
    server: ServerArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// `lake ddl`.
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The engine: athena, duckdb or spark.
    #[arg(long)]
    engine: String,
    /// Where the engine reads the lake (a directory or s3://BUCKET/PREFIX)
    /// [default: the lake's directory, absolute].
    #[arg(long)]
    location: Option<String>,
    #[command(flatten)]
    lake: ConfigLocation,
}

/// `lake compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Merge the files of days before this one (YYYY-MM-DD, UTC).
    #[arg(long)]
    before: String,
    /// About how large a merged file may grow (of Parquet).
    #[arg(long, default_value = "256MiB")]
    target_size: String,
    #[command(flatten)]
    lake: ConfigLocation,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// Output formats of `trailmark sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per row (NDJSON).
    Json,
}

/// `trailmark sql`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailmark sql \"SELECT author, dt, count(*) FROM changes WHERE operation = 'delete' GROUP BY 1, 2\"\n  trailmark sql --output csv \"SELECT * FROM changes WHERE attributes ->> '$.status' = 'refunded'\" > refunded.csv\n\nThe `changes` view has the lake's columns (docs/lake.md) over the metadata store; seq, account, region, ingested_at and body are NULL there (the lake's files have them), and `attributes` has the fields the metadata rule keeps."
)]
pub struct SqlArgs {
    /// One read-only statement (SELECT or WITH); `@FILE` reads it from a file.
    query: String,
    #[command(flatten)]
    lake: ConfigLocation,
    /// Stop the query after this long.
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    output: SqlFormat,
}

/// Run `trailmark lake …`.
pub fn run(command: LakeCommand) -> Result<ExitCode> {
    match command {
        LakeCommand::Flush(args) => flush(args),
        LakeCommand::Ddl(args) => print_ddl(args),
        LakeCommand::Compact(args) => compact(args),
    }
}

fn flush(args: FlushArgs) -> Result<ExitCode> {
    let v = args
        .server
        .client()
        .post("/v1/admin/lake/flush", &json!({}))?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        OutputFormat::Table => {
            println!(
                "published {} files, {} rows; the lake ({}) holds every event journaled through {}",
                v["files"].as_array().map_or(0, Vec::len),
                v["rows"],
                v["lake"].as_str().unwrap_or_default(),
                v["through"]
            );
            for file in v["files"].as_array().into_iter().flatten() {
                println!("  {}", file.as_str().unwrap_or_default());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_ddl(args: DdlArgs) -> Result<ExitCode> {
    let engine = Engine::parse(&args.engine)?;
    let config = args.lake.load()?;
    let partitioning = Partitioning::parse(&config.lake.partition_by)?;
    let location = match args.location.or(config.lake.s3.clone()) {
        Some(location) => location,
        None => {
            let dir = config.lake.dir(&config.data);
            std::path::absolute(&dir)
                .with_context(|| format!("the lake directory {}", dir.display()))?
                .display()
                .to_string()
        }
    };
    print!("{}", ddl(engine, &location, partitioning));
    Ok(ExitCode::SUCCESS)
}

fn compact(args: CompactArgs) -> Result<ExitCode> {
    let config = args.lake.load()?;
    let target = trailmark_backend_api::units::parse_bytes(&args.target_size)
        .map_err(|m| anyhow::anyhow!("--target-size {}: {m}", args.target_size))?;
    let store = crate::lake::open_store(&config.lake, &config.data).context("opening the lake")?;
    let done = trailmark_lake::compact(store.as_ref(), &args.before, target)?;
    match args.output {
        OutputFormat::Json => {
            let list: Vec<Value> = done
                .iter()
                .map(|c| json!({"merged": c.merged, "replaced": c.replaced, "rows": c.rows}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        OutputFormat::Table => {
            if done.is_empty() {
                println!("nothing to compact before {}", args.before);
            }
            for c in &done {
                println!(
                    "{} ({} rows) replaces {} files",
                    c.merged,
                    c.rows,
                    c.replaced.len()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `trailmark sql`.
pub fn run_sql(args: SqlArgs) -> Result<ExitCode> {
    let text = super::read_arg(&args.query)?;
    let timeout: Duration = trailmark_backend_api::units::parse_duration(&args.timeout)
        .map_err(|m| anyhow::anyhow!("--timeout {}: {m}", args.timeout))?;
    let config = args.lake.load()?;
    let db = config.metadata.local_path(&config.data).context(
        "`trailmark sql` reads the embedded metadata store ([metadata] type = \"sqlite\"); \
         this configuration stores change records elsewhere: query the lake's files instead \
         (trailmark lake ddl)",
    )?;
    let answer = sql::query(&db, &text, timeout)?;
    match args.output {
        SqlFormat::Json => {
            for row in &answer.rows {
                let object: serde_json::Map<String, Value> = answer
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect();
                println!("{}", Value::Object(object));
            }
        }
        SqlFormat::Csv => {
            println!("{}", csv_line(answer.columns.iter().map(String::as_str)));
            for row in &answer.rows {
                let cells: Vec<String> = row.iter().map(cell).collect();
                println!("{}", csv_line(cells.iter().map(String::as_str)));
            }
        }
        SqlFormat::Table => {
            let header: Vec<&str> = answer.columns.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = answer
                .rows
                .iter()
                .map(|row| row.iter().map(cell).collect())
                .collect();
            print!("{}", super::table::render(&header, &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A value as a cell: text as it is, `NULL` as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV record: fields with a comma, quote or line break are quoted.
fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    fields
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
