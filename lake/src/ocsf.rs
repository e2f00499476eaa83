//! The OCSF option: the same rows as OCSF 1.1.0 Entity Management events
//! (class 3004), in the layout Amazon Security Lake expects of a custom
//! source, so a security team can register Trailmark as one.
//!
//! - **Mapping.** `insert`, `update`, `delete` are activities 1 Create,
//!   3 Update, 4 Delete; `actor.user.name` is the author; `entity` is
//!   the entity's type (`type`), id (`uid`) and body (`data`, the JSON
//!   text as received); `time` is the change's time (the detail's `ts`,
//!   milliseconds), `metadata.logged_time` when Trailmark journaled it,
//!   `metadata.uid` the event id, `metadata.sequence` the journal
//!   sequence, `metadata.log_provider` the envelope's `source`. The `host`
//!   profile (which brings `actor` into the class in 1.1.0) is named in
//!   `metadata.profiles`. Events that are not `Object State Change`s have
//!   no entity and are not written (see [`expressible`]).
//! - **Layout.** `ext/<custom source>/region=<region>/accountId=<account>/
//!   eventDay=YYYYMMDD/part-<first>-<last>.parquet` ([`SecurityLakeSource`]),
//!   the event's UTC day, files named by journal range as in `changes`.
//! - **Parquet.** Nested groups as OCSF nests its objects; `entity.data` a
//!   string of JSON text; zstd, 1 MiB pages, rows sorted by `time` (then
//!   `seq`) within a file, as Security Lake asks.

use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::writer::SerializedRowGroupWriter;

use crate::Row;
use crate::error::LakeError;
use crate::layout::day_of;
use crate::parquet_file::{int64, next_column, optional_text, required, required_text, write_file};

/// The OCSF schema version the rows follow (what Security Lake's custom
/// sources take).
pub const OCSF_VERSION: &str = "1.1.0";
/// Entity Management.
pub const CLASS_UID: i32 = 3004;
/// Identity & Access Management.
pub const CATEGORY_UID: i32 = 3;
/// The profiles the rows use (`metadata.profiles`).
pub const PROFILES: &[&str] = &["host"];

const MESSAGE: &str = "message ocsf_entity_management {
    REQUIRED INT32 activity_id;
    REQUIRED BYTE_ARRAY activity_name (STRING);
    REQUIRED INT32 category_uid;
    REQUIRED BYTE_ARRAY category_name (STRING);
    REQUIRED INT32 class_uid;
    REQUIRED BYTE_ARRAY class_name (STRING);
    REQUIRED INT64 type_uid;
    REQUIRED BYTE_ARRAY type_name (STRING);
    REQUIRED INT32 severity_id;
    REQUIRED BYTE_ARRAY severity (STRING);
    REQUIRED INT32 status_id;
    REQUIRED BYTE_ARRAY status (STRING);
    REQUIRED INT64 time;
    REQUIRED BYTE_ARRAY message (STRING);
    REQUIRED group metadata {
        REQUIRED BYTE_ARRAY version (STRING);
        REQUIRED group product {
            REQUIRED BYTE_ARRAY name (STRING);
            REQUIRED BYTE_ARRAY vendor_name (STRING);
            REQUIRED BYTE_ARRAY version (STRING);
        }
        REQUIRED group profiles (LIST) {
            REPEATED group list {
                REQUIRED BYTE_ARRAY element (STRING);
            }
        }
        REQUIRED BYTE_ARRAY uid (STRING);
        REQUIRED INT64 sequence;
        REQUIRED INT64 logged_time;
        REQUIRED BYTE_ARRAY log_provider (STRING);
    }
    REQUIRED group actor {
        REQUIRED group user {
            REQUIRED BYTE_ARRAY name (STRING);
        }
    }
    REQUIRED group entity {
        REQUIRED BYTE_ARRAY uid (STRING);
        REQUIRED BYTE_ARRAY type (STRING);
        OPTIONAL BYTE_ARRAY data (STRING);
    }
}";

/// Where a Security Lake custom source's objects go: the names given when
/// the source was created (`CreateCustomLogSource`) and the partition
/// values Security Lake expects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecurityLakeSource {
    /// The custom source's name: the `ext/<name>/` prefix.
    pub name: String,
    /// The AWS Region of the `region=` partition.
    pub region: String,
    /// The AWS account ID of the `accountId=` partition (12 digits).
    pub account_id: String,
}

impl SecurityLakeSource {
    /// The custom source `name` in `region` for `account_id`, each checked
    /// (`Err((key, why))` names the one that is not valid).
    pub fn new(
        name: &str,
        region: &str,
        account_id: &str,
    ) -> Result<SecurityLakeSource, (&'static str, String)> {
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !name_ok {
            return Err((
                "custom-source",
                format!(
                    "`{name}` is not a Security Lake custom source name: 1 to 64 of \
                     `A-Z a-z 0-9 - _`, as given to CreateCustomLogSource"
                ),
            ));
        }
        let parts: Vec<&str> = region.split('-').collect();
        let region_ok = parts.len() >= 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && parts
                .last()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !region_ok {
            return Err((
                "region",
                format!("`{region}` is not an AWS Region such as `us-east-1`"),
            ));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err((
                "account-id",
                format!(
                    "`{account_id}` is not an AWS account ID (12 digits; quote it in YAML so \
                     leading zeros stay)"
                ),
            ));
        }
        Ok(SecurityLakeSource {
            name: name.to_owned(),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        })
    }

    /// The custom source's prefix, `ext/<name>`.
    pub fn prefix(&self) -> String {
        format!("ext/{}", self.name)
    }

    /// The partition of `row`:
    /// `ext/<name>/region=<region>/accountId=<account>/eventDay=YYYYMMDD`.
    pub fn partition_of(&self, row: &Row) -> String {
        let day: String = day_of(row.ts_ms).chars().filter(|c| *c != '-').collect();
        format!(
            "{}/region={}/accountId={}/eventDay={day}",
            self.prefix(),
            self.region,
            self.account_id
        )
    }
}

/// Whether `row` can be an Entity Management event: an `Object State
/// Change` (it has an entity, an operation and an author).
pub fn expressible(row: &Row) -> bool {
    activity(row).is_some()
        && row.entity_type.is_some()
        && row.entity_id.is_some()
        && row.author.is_some()
}

/// The activity id and name of a row's operation.
fn activity(row: &Row) -> Option<(i32, &'static str)> {
    match row.operation.as_deref()? {
        "insert" => Some((1, "Create")),
        "update" => Some((3, "Update")),
        "delete" => Some((4, "Delete")),
        _ => None,
    }
}

/// `rows` (each [`expressible`]; others are left out) as one Parquet file
/// of OCSF Entity Management events, sorted by `time`, then `seq`.
pub fn encode(rows: &[Row]) -> Result<Vec<u8>, LakeError> {
    encode_into(rows, Vec::new())
}

/// [`encode`], written into `out` (an emptied buffer, handed back with the
/// file in it), as [`parquet_file::encode_into`](crate::parquet_file::encode_into).
pub fn encode_into(rows: &[Row], out: Vec<u8>) -> Result<Vec<u8>, LakeError> {
    let mut rows: Vec<&Row> = rows.iter().filter(|r| expressible(r)).collect();
    rows.sort_by_key(|r| (r.ts_ms, r.seq));
    let unique = [
        "time",
        "message",
        "metadata.uid",
        "metadata.sequence",
        "metadata.logged_time",
        "entity.uid",
        "entity.data",
    ];
    write_file(MESSAGE, &unique, &rows, out, write_group)
}

/// Every leaf column of [`MESSAGE`] in order, for the rows of one group.
fn write_group(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    rows: &[&Row],
) -> Result<(), LakeError> {
    let (ids, names): (Vec<i32>, Vec<&str>) = rows
        .iter()
        .map(|r| activity(r).unwrap_or((0, "Unknown")))
        .unzip();
    let n = rows.len();
    let constant = |text: &str| vec![text.to_owned(); n];
    int32(group, &ids)?;
    text(group, names.iter().map(|s| (*s).to_owned()).collect())?;
    int32(group, &vec![CATEGORY_UID; n])?;
    text(group, constant("Identity & Access Management"))?;
    int32(group, &vec![CLASS_UID; n])?;
    text(group, constant("Entity Management"))?;
    int64(
        group,
        &ids.iter()
            .map(|&id| i64::from(CLASS_UID) * 100 + i64::from(id))
            .collect::<Vec<_>>(),
    )?;
    text(
        group,
        names
            .iter()
            .map(|name| format!("Entity Management: {name}"))
            .collect(),
    )?;
    // 1 Informational: a record of a change, not a finding.
    int32(group, &vec![1; n])?;
    text(group, constant("Informational"))?;
    // 1 Success: the change happened; the producer reported it done.
    int32(group, &vec![1; n])?;
    text(group, constant("Success"))?;
    int64(group, &rows.iter().map(|r| r.ts_ms).collect::<Vec<_>>())?;
    text(
        group,
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {} by {}",
                    r.operation.as_deref().unwrap_or_default(),
                    r.entity_type.as_deref().unwrap_or_default(),
                    r.entity_id.as_deref().unwrap_or_default(),
                    r.author.as_deref().unwrap_or_default()
                )
            })
            .collect(),
    )?;
    // metadata
    text(group, constant(OCSF_VERSION))?;
    text(group, constant("Trailmark"))?;
    text(group, constant("Trailmark"))?;
    text(group, constant(env!("CARGO_PKG_VERSION")))?;
    profiles(group, n)?;
    required_text(group, rows.iter().map(|r| r.event_id.as_str()))?;
    int64(
        group,
        &rows
            .iter()
            .map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX))
            .collect::<Vec<_>>(),
    )?;
    int64(
        group,
        &rows.iter().map(|r| r.ingested_at_ms).collect::<Vec<_>>(),
    )?;
    required_text(group, rows.iter().map(|r| r.source.as_str()))?;
    // actor.user.name, entity
    text(
        group,
        rows.iter()
            .map(|r| r.author.clone().unwrap_or_default())
            .collect(),
    )?;
    text(
        group,
        rows.iter()
            .map(|r| r.entity_id.clone().unwrap_or_default())
            .collect(),
    )?;
    text(
        group,
        rows.iter()
            .map(|r| r.entity_type.clone().unwrap_or_default())
            .collect(),
    )?;
    optional_text(group, rows.iter().map(|r| r.body.as_deref()))
}

fn int32(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    values: &[i32],
) -> Result<(), LakeError> {
    required::<Int32Type>(group, values)
}

fn text(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    values: Vec<String>,
) -> Result<(), LakeError> {
    required_text(group, values.iter().map(String::as_str))
}

/// `metadata.profiles`: the same list in every row (one level of
/// repetition: each element after a row's first repeats at level 1).
fn profiles(group: &mut SerializedRowGroupWriter<'_, Vec<u8>>, n: usize) -> Result<(), LakeError> {
    let per_row = PROFILES.len();
    let mut values = Vec::with_capacity(n * per_row);
    let mut rep = Vec::with_capacity(n * per_row);
    for _ in 0..n {
        for (i, profile) in PROFILES.iter().enumerate() {
            values.push(ByteArray::from(*profile));
            rep.push(i16::from(i > 0));
        }
    }
    let def = vec![1i16; values.len()];
    let mut column = next_column(group)?;
    column
        .typed::<ByteArrayType>()
        .write_batch(&values, Some(&def), Some(&rep))
        .map_err(LakeError::parquet)?;
    column.close().map_err(LakeError::parquet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn row(seq: u64, ts_ms: i64, operation: Option<&str>) -> Row {
        Row {
            seq,
            event_id: format!("e-{seq}"),
            ts_ms,
            entity_type: operation.map(|_| "book".to_owned()),
            entity_id: operation.map(|_| seq.to_string()),
            operation: operation.map(str::to_owned),
            author: operation.map(|_| "ann".to_owned()),
            source: "shop".to_owned(),
            detail_type: "Object State Change".to_owned(),
            account: String::new(),
            region: String::new(),
            ingested_at_ms: ts_ms + 5,
            body: Some(r#"{"t":"Dune"}"#.to_owned()),
        }
    }

    #[test]
    fn rows_are_entity_management_events_sorted_by_time() {
        let rows = [
            row(1, 2_000, Some("update")),
            row(2, 1_000, Some("delete")),
            row(3, 500, None),
        ];
        let bytes = encode(&rows).expect("encodes");
        let reader = SerializedFileReader::new(Bytes::from(bytes)).expect("reads");
        let read: Vec<String> = reader
            .get_row_iter(None)
            .expect("rows")
            .map(|r| r.expect("row").to_string())
            .collect();
        assert_eq!(read.len(), 2, "the event with no entity is left out");
        assert!(read[0].starts_with("{activity_id: 4,"), "{}", read[0]);
        assert!(read[0].contains("type_uid: 300404,"), "{}", read[0]);
        assert!(read[0].contains("time: 1000,"), "{}", read[0]);
        assert!(
            read[1].contains(r#"actor: {user: {name: "ann"}}"#),
            "{}",
            read[1]
        );
        assert!(read[1].contains(r#"profiles: ["host"]"#), "{}", read[1]);
        assert!(
            read[1].contains(r#"entity: {uid: "1", type: "book", data: "{"t":"Dune"}"}"#),
            "{}",
            read[1]
        );
    }

    #[test]
    fn partitions_are_security_lakes() {
        let source =
            SecurityLakeSource::new("trailmark", "eu-west-1", "123456789012").expect("valid");
        assert_eq!(
            source.partition_of(&row(1, 1_763_596_801_000, Some("insert"))),
            "ext/trailmark/region=eu-west-1/accountId=123456789012/eventDay=20251120"
        );
        assert_eq!(
            SecurityLakeSource::new("trail mark", "eu-west-1", "123456789012")
                .expect_err("a space")
                .0,
            "custom-source"
        );
        assert_eq!(
            SecurityLakeSource::new("t", "europe", "123456789012")
                .expect_err("no region")
                .0,
            "region"
        );
        assert_eq!(
            SecurityLakeSource::new("t", "us-east-1", "1234")
                .expect_err("short")
                .0,
            "account-id"
        );
    }
}
