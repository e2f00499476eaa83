//! Statements that define a table or view named `changes` over the lake,
//! for the engines teams already run.

use std::fmt::Write as _;

use crate::error::LakeError;
use crate::layout::{Partitioning, TABLE};
use crate::parquet_file::COLUMNS;

/// A query engine the DDL is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Amazon Athena (Trino): an external table with partition projection
    /// on `dt`, so no crawler and no `MSCK REPAIR`.
    Athena,
    /// DuckDB: a view over `read_parquet` with Hive partitioning.
    Duckdb,
    /// Apache Spark SQL: a temporary view over the Parquet directory, whose
    /// partitions Spark discovers when queried.
    Spark,
}

impl Engine {
    /// The engine named `name`: `athena`, `duckdb` or `spark`.
    pub fn parse(name: &str) -> Result<Engine, LakeError> {
        match name {
            "athena" => Ok(Engine::Athena),
            "duckdb" => Ok(Engine::Duckdb),
            "spark" => Ok(Engine::Spark),
            other => Err(LakeError::Invalid(format!(
                "engine `{other}` is not known; use athena, duckdb or spark"
            ))),
        }
    }
}

/// The statements defining `changes` for `engine` over the lake at
/// `location` (a directory or an `s3://bucket/prefix` URL, without the
/// table's own directory).
pub fn ddl(engine: Engine, location: &str, partitioning: Partitioning) -> String {
    let root = location.trim_end_matches('/');
    let table = format!("{root}/{TABLE}");
    let depth = match partitioning {
        Partitioning::Date => "*/*.parquet",
        Partitioning::SourceThenDate => "*/*/*.parquet",
    };
    match engine {
        Engine::Duckdb => {
            let mut out = String::new();
            if root.starts_with("s3://") {
                out.push_str("INSTALL httpfs;\nLOAD httpfs;\n");
            }
            let _ = write!(
                out,
                "CREATE OR REPLACE VIEW {TABLE} AS\n  SELECT * FROM read_parquet('{table}/{depth}', hive_partitioning = true, hive_types = {{'dt': DATE}});\n"
            );
            out
        }
        Engine::Spark => format!(
            "CREATE OR REPLACE TEMPORARY VIEW {TABLE}\n  USING parquet\n  OPTIONS (path '{table}/');\n"
        ),
        Engine::Athena => athena(&table, partitioning),
    }
}

fn athena(table: &str, partitioning: Partitioning) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, kind)| format!("  `{name}` {}", kind.to_lowercase()))
        .collect();
    let (partitions, source_projection, template) = match partitioning {
        Partitioning::Date => ("`dt` string", String::new(), format!("{table}/dt=${{dt}}/")),
        Partitioning::SourceThenDate => (
            "`source_partition` string, `dt` string",
            // An injected key: each query names the source it reads.
            "  'projection.source_partition.type' = 'injected',\n".to_owned(),
            format!("{table}/source=${{source_partition}}/dt=${{dt}}/"),
        ),
    };
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {TABLE} (\n{}\n)\nPARTITIONED BY ({partitions})\nSTORED AS PARQUET\nLOCATION '{table}/'\nTBLPROPERTIES (\n  'projection.enabled' = 'true',\n{source_projection}  'projection.dt.type' = 'date',\n  'projection.dt.format' = 'yyyy-MM-dd',\n  'projection.dt.range' = '2000-01-01,NOW',\n  'projection.dt.interval' = '1',\n  'projection.dt.interval.unit' = 'DAYS',\n  'storage.location.template' = '{template}',\n  'parquet.compression' = 'ZSTD'\n);\n",
        columns.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_projects_dt_without_a_crawler() {
        let text = ddl(Engine::Athena, "s3://audit/trail/", Partitioning::Date);
        assert!(
            text.contains("LOCATION 's3://audit/trail/changes/'"),
            "{text}"
        );
        assert!(
            text.contains("'storage.location.template' = 's3://audit/trail/changes/dt=${dt}/'")
        );
        assert!(text.contains("`event_time` timestamp"));
        assert!(text.contains("PARTITIONED BY (`dt` string)"));
    }

    #[test]
    fn duckdb_reads_the_hive_tree() {
        let text = ddl(
            Engine::Duckdb,
            "/var/lib/trailmark/lake",
            Partitioning::Date,
        );
        assert!(text.contains("read_parquet('/var/lib/trailmark/lake/changes/*/*.parquet'"));
        assert!(!text.contains("httpfs"));
        assert!(
            ddl(Engine::Duckdb, "s3://b/p", Partitioning::SourceThenDate).contains("*/*/*.parquet")
        );
        assert!(Engine::parse("bigquery").is_err());
    }
}
