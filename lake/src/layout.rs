//! Where a row goes: the Hive-style partition of the event's UTC date
//! (`changes/dt=YYYY-MM-DD/`, optionally `changes/source=…/dt=…/`), and
//! file names from the journal sequence range a file holds
//! (`part-<first>-<last>.parquet`, zero-padded to 20 digits so names sort
//! as numbers), so that writing the same range again writes the same name.

use std::fmt::Write as _;

use time::{Date, OffsetDateTime};

use crate::Row;
use crate::error::LakeError;

/// The table's directory (or key prefix) under the lake's root.
pub const TABLE: &str = "changes";

/// Whether partitions have a level before the date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Partitioning {
    /// `changes/dt=YYYY-MM-DD/` (the default).
    #[default]
    Date,
    /// `changes/source=<source>/dt=YYYY-MM-DD/`: one tree per producer
    /// (or tenant, when each has its own source).
    SourceThenDate,
}

impl Partitioning {
    /// From its name in the configuration: `dt` or `source,dt`.
    pub fn parse(text: &str) -> Result<Partitioning, LakeError> {
        match text {
            "dt" => Ok(Partitioning::Date),
            "source,dt" => Ok(Partitioning::SourceThenDate),
            other => Err(LakeError::Invalid(format!(
                "partitioning `{other}` is not known; use \"dt\" or \"source,dt\""
            ))),
        }
    }

    /// The partition directory of `row`, e.g. `changes/dt=2026-11-25`.
    pub fn partition_of(self, row: &Row) -> String {
        let day = day_of(row.ts_ms);
        match self {
            Partitioning::Date => format!("{TABLE}/dt={day}"),
            Partitioning::SourceThenDate => {
                format!("{TABLE}/source={}/dt={day}", escape(&row.source))
            }
        }
    }
}

/// The UTC date of a time in milliseconds since the epoch, `YYYY-MM-DD`.
pub fn day_of(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let date = at.date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A `YYYY-MM-DD` date.
pub fn parse_day(text: &str) -> Result<Date, LakeError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|e| LakeError::Invalid(format!("`{text}` is not a date YYYY-MM-DD: {e}")))
}

/// A value as Hive escapes it in a partition directory: `%XX` for every
/// byte outside `A-Z a-z 0-9 . _ -`.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The name of the file holding rows `first..=last` of one partition.
pub fn file_name(first: u64, last: u64) -> String {
    format!("part-{first:020}-{last:020}.parquet")
}

/// The sequence range a file name holds, if it is one of ours.
pub fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let range = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, last) = range.split_once('-')?;
    if first.len() != 20 || last.len() != 20 {
        return None;
    }
    let (first, last) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last).then_some((first, last))
}

/// The `dt` value of a partition directory (`…/dt=2026-11-25`).
pub fn partition_day(partition: &str) -> Option<&str> {
    partition.rsplit('/').next()?.strip_prefix("dt=")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_as_numbers() {
        let a = file_name(9, 10);
        let b = file_name(10, 200);
        assert_eq!(a, "part-00000000000000000009-00000000000000000010.parquet");
        assert!(a < b);
        assert_eq!(parse_file_name(&b), Some((10, 200)));
        assert_eq!(parse_file_name("part-1-2.parquet"), None);
        assert_eq!(parse_file_name(".part-x.tmp"), None);
    }

    #[test]
    fn days_are_utc_dates_and_before_the_epoch_too() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_763_596_801_000), "2025-11-20");
        assert_eq!(day_of(-1), "1969-12-31");
        assert_eq!(
            partition_day("changes/source=a/dt=2025-11-20"),
            Some("2025-11-20")
        );
    }

    #[test]
    fn sources_are_escaped_in_partition_names() {
        assert_eq!(escape("shop/eu 1"), "shop%2Feu%201");
        assert!(Partitioning::parse("tenant").is_err());
    }
}
