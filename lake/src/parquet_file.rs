//! The `changes` table as a Parquet file: the schema, and rows to bytes and
//! back, through the `parquet` crate's column writers and row reader (no
//! Arrow).
//!
//! - Columns in [`COLUMNS`] order; timestamps as `INT64` microseconds
//!   adjusted to UTC (what Athena, Spark and DuckDB all read as a
//!   timestamp); text as `BYTE_ARRAY` `STRING`; `body` as a string of JSON
//!   text (readers' JSON functions take it as it is).
//! - zstd; row groups of at most [`ROW_GROUP_ROWS`] rows; 1 MiB pages;
//!   page statistics, so a reader skips row groups by `seq` or
//!   `event_time`.
//! - Key-value metadata `trailmark.schema_version` = [`SCHEMA_VERSION`].

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use crate::Row;
use crate::error::LakeError;

/// The version of the `changes` schema this build writes, in each file's
/// key-value metadata under [`SCHEMA_VERSION_KEY`].
pub const SCHEMA_VERSION: u32 = 1;

/// The key-value metadata key that holds [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "trailmark.schema_version";

/// Rows per row group at most: DuckDB's own default, small enough for
/// its threads to split a file, large enough for Athena's readers.
pub const ROW_GROUP_ROWS: usize = 122_880;

/// The columns of `changes`, in file order, with their SQL types (the
/// types the DDL declares).
pub const COLUMNS: &[(&str, &str)] = &[
    ("seq", "BIGINT"),
    ("event_id", "STRING"),
    ("event_time", "TIMESTAMP"),
    ("ts_ms", "BIGINT"),
    ("entity_type", "STRING"),
    ("entity_id", "STRING"),
    ("operation", "STRING"),
    ("author", "STRING"),
    ("source", "STRING"),
    ("detail_type", "STRING"),
    ("account", "STRING"),
    ("region", "STRING"),
    ("ingested_at", "TIMESTAMP"),
    ("body", "STRING"),
];

const MESSAGE: &str = "message changes {
    REQUIRED INT64 seq;
    REQUIRED BYTE_ARRAY event_id (STRING);
    REQUIRED INT64 event_time (TIMESTAMP(MICROS,true));
    REQUIRED INT64 ts_ms;
    OPTIONAL BYTE_ARRAY entity_type (STRING);
    OPTIONAL BYTE_ARRAY entity_id (STRING);
    OPTIONAL BYTE_ARRAY operation (STRING);
    OPTIONAL BYTE_ARRAY author (STRING);
    REQUIRED BYTE_ARRAY source (STRING);
    REQUIRED BYTE_ARRAY detail_type (STRING);
    REQUIRED BYTE_ARRAY account (STRING);
    REQUIRED BYTE_ARRAY region (STRING);
    REQUIRED INT64 ingested_at (TIMESTAMP(MICROS,true));
    OPTIONAL BYTE_ARRAY body (STRING);
}";

/// `rows` (sorted by `seq`, as the caller guarantees) as a Parquet file.
pub fn encode(rows: &[Row]) -> Result<Vec<u8>, LakeError> {
    encode_into(rows, Vec::new())
}

/// [`encode`], written into `out` (an emptied buffer, handed back with the
/// file in it): the exporter keeps one buffer the size of its files instead
/// of growing a new one by doubling for each file, which faulted in fresh
/// pages the kernel zeroed, tens of megabytes a file.
pub fn encode_into(rows: &[Row], out: Vec<u8>) -> Result<Vec<u8>, LakeError> {
    // Unique per row: a dictionary would only be thrown away.
    let unique = [
        "seq",
        "event_id",
        "event_time",
        "ts_ms",
        "ingested_at",
        "body",
    ];
    write_file(MESSAGE, &unique, rows, out, write_group)
}

/// `rows` as a Parquet file of schema `message` (with the lake's
/// [`writer_properties`]), a row group of at most [`ROW_GROUP_ROWS`] at a
/// time written by `write_group`, every leaf column in schema order; the
/// file is appended to `out`.
pub(crate) fn write_file<R>(
    message: &str,
    unique: &[&str],
    rows: &[R],
    out: Vec<u8>,
    write_group: impl Fn(&mut SerializedRowGroupWriter<'_, Vec<u8>>, &[R]) -> Result<(), LakeError>,
) -> Result<Vec<u8>, LakeError> {
    let schema = Arc::new(parse_message_type(message).map_err(LakeError::parquet)?);
    let mut writer = SerializedFileWriter::new(out, schema, writer_properties(unique))
        .map_err(LakeError::parquet)?;
    for group in rows.chunks(ROW_GROUP_ROWS) {
        let mut row_group = writer.next_row_group().map_err(LakeError::parquet)?;
        write_group(&mut row_group, group)?;
        row_group.close().map_err(LakeError::parquet)?;
    }
    writer.into_inner().map_err(LakeError::parquet)
}

/// The lake's writer settings (zstd, row groups of [`ROW_GROUP_ROWS`],
/// 1 MiB pages, page statistics, the schema version), with no dictionary
/// for `unique` columns (dotted paths: `metadata.uid`).
pub(crate) fn writer_properties(unique: &[&str]) -> Arc<WriterProperties> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_size_limit(1024 * 1024)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("trailmark {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_KEY.to_owned(),
            SCHEMA_VERSION.to_string(),
        )]));
    for column in unique {
        let path = ColumnPath::new(column.split('.').map(str::to_owned).collect());
        props = props.set_column_dictionary_enabled(path, false);
    }
    Arc::new(props.build())
}

/// One row group: every column in schema order.
fn write_group(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    rows: &[Row],
) -> Result<(), LakeError> {
    let micros = |ms: i64| ms.saturating_mul(1000);
    let seq: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX))
        .collect();
    int64(group, &seq)?;
    required_text(group, rows.iter().map(|r| r.event_id.as_str()))?;
    int64(
        group,
        &rows.iter().map(|r| micros(r.ts_ms)).collect::<Vec<_>>(),
    )?;
    int64(group, &rows.iter().map(|r| r.ts_ms).collect::<Vec<_>>())?;
    optional_text(group, rows.iter().map(|r| r.entity_type.as_deref()))?;
    optional_text(group, rows.iter().map(|r| r.entity_id.as_deref()))?;
    optional_text(group, rows.iter().map(|r| r.operation.as_deref()))?;
    optional_text(group, rows.iter().map(|r| r.author.as_deref()))?;
    required_text(group, rows.iter().map(|r| r.source.as_str()))?;
    required_text(group, rows.iter().map(|r| r.detail_type.as_str()))?;
    required_text(group, rows.iter().map(|r| r.account.as_str()))?;
    required_text(group, rows.iter().map(|r| r.region.as_str()))?;
    int64(
        group,
        &rows
            .iter()
            .map(|r| micros(r.ingested_at_ms))
            .collect::<Vec<_>>(),
    )?;
    optional_text(group, rows.iter().map(|r| r.body.as_deref()))?;
    Ok(())
}

/// The row group's next column.
pub(crate) fn next_column<'g>(
    group: &'g mut SerializedRowGroupWriter<'_, Vec<u8>>,
) -> Result<parquet::file::writer::SerializedColumnWriter<'g>, LakeError> {
    group
        .next_column()
        .map_err(LakeError::parquet)?
        .ok_or_else(|| LakeError::Parquet("the schema has fewer columns than written".to_owned()))
}

/// The next column, a required `INT64`.
pub(crate) fn int64(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    values: &[i64],
) -> Result<(), LakeError> {
    required::<Int64Type>(group, values)
}

/// The next column, a required value of physical type `T` (one per row).
pub(crate) fn required<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    values: &[T::T],
) -> Result<(), LakeError> {
    let mut column = next_column(group)?;
    column
        .typed::<T>()
        .write_batch(values, None, None)
        .map_err(LakeError::parquet)?;
    column.close().map_err(LakeError::parquet)
}

/// Values handed to a text column per `write_batch`: each batch's text is
/// gathered in one buffer (one allocation and one copy per batch, not per
/// value), and a batch at a time keeps that buffer small enough for the
/// allocator to reuse from batch to batch. Gathering a whole row group's
/// bodies at once took over 100 MB of fresh pages per file.
const TEXT_BATCH: usize = 4096;

/// The next column, a required string (one nesting level of required
/// groups or none).
pub(crate) fn required_text<'a>(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    values: impl Iterator<Item = &'a str>,
) -> Result<(), LakeError> {
    let mut column = next_column(group)?;
    let writer = column.typed::<ByteArrayType>();
    in_batches(values, |batch| {
        writer
            .write_batch(&byte_arrays(batch), None, None)
            .map_err(LakeError::parquet)
    })?;
    column.close().map_err(LakeError::parquet)
}

/// The next column, an optional string whose ancestors are all required.
pub(crate) fn optional_text<'a>(
    group: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    texts: impl Iterator<Item = Option<&'a str>>,
) -> Result<(), LakeError> {
    let mut column = next_column(group)?;
    let writer = column.typed::<ByteArrayType>();
    let mut present: Vec<&str> = Vec::with_capacity(TEXT_BATCH);
    let mut levels: Vec<i16> = Vec::with_capacity(TEXT_BATCH);
    in_batches(texts, |batch| {
        levels.clear();
        levels.extend(batch.iter().map(|t| i16::from(t.is_some())));
        present.clear();
        present.extend(batch.iter().flatten());
        writer
            .write_batch(&byte_arrays(&present), Some(&levels), None)
            .map_err(LakeError::parquet)
    })?;
    column.close().map_err(LakeError::parquet)
}

/// `write` each run of up to [`TEXT_BATCH`] of `items`, in order.
fn in_batches<T>(
    mut items: impl Iterator<Item = T>,
    mut write: impl FnMut(&[T]) -> Result<usize, LakeError>,
) -> Result<(), LakeError> {
    let mut batch = Vec::with_capacity(TEXT_BATCH);
    loop {
        batch.clear();
        batch.extend(items.by_ref().take(TEXT_BATCH));
        if batch.is_empty() {
            return Ok(());
        }
        write(&batch)?;
    }
}

/// `texts` as Parquet values that share one buffer: a batch costs one
/// allocation and one copy of its text, not one per value.
fn byte_arrays(texts: &[&str]) -> Vec<ByteArray> {
    let mut buffer = Vec::with_capacity(texts.iter().map(|t| t.len()).sum());
    for text in texts {
        buffer.extend_from_slice(text.as_bytes());
    }
    let buffer = Bytes::from(buffer);
    let mut start = 0;
    texts
        .iter()
        .map(|text| {
            let end = start + text.len();
            let value = ByteArray::from(buffer.slice(start..end));
            start = end;
            value
        })
        .collect()
}

/// The rows of a Parquet file this module wrote (compaction reads them
/// back), in file order.
pub fn decode(bytes: Vec<u8>) -> Result<Vec<Row>, LakeError> {
    let reader = SerializedFileReader::new(Bytes::from(bytes)).map_err(LakeError::parquet)?;
    let version = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == SCHEMA_VERSION_KEY))
        .and_then(|k| k.value.clone());
    if version.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
        return Err(LakeError::Parquet(format!(
            "schema version {version:?}; this build reads version {SCHEMA_VERSION}"
        )));
    }
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).map_err(LakeError::parquet)? {
        let row = row.map_err(LakeError::parquet)?;
        let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        rows.push(row_of(&fields)?);
    }
    Ok(rows)
}

fn row_of(fields: &[&Field]) -> Result<Row, LakeError> {
    let bad =
        |i: usize| LakeError::Parquet(format!("column {} has an unexpected type", COLUMNS[i].0));
    let long = |i: usize| match fields.get(i) {
        Some(Field::Long(v) | Field::TimestampMicros(v)) => Ok(*v),
        _ => Err(bad(i)),
    };
    let text = |i: usize| match fields.get(i) {
        Some(Field::Str(s)) => Ok(Some(s.clone())),
        Some(Field::Null) => Ok(None),
        _ => Err(bad(i)),
    };
    let required = |i: usize| text(i)?.ok_or_else(|| bad(i));
    Ok(Row {
        seq: u64::try_from(long(0)?).map_err(|_| bad(0))?,
        event_id: required(1)?,
        ts_ms: long(3)?,
        entity_type: text(4)?,
        entity_id: text(5)?,
        operation: text(6)?,
        author: text(7)?,
        source: required(8)?,
        detail_type: required(9)?,
        account: required(10)?,
        region: required(11)?,
        ingested_at_ms: long(12)? / 1000,
        body: text(13)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(seq: u64, body: Option<&str>) -> Row {
        Row {
            seq,
            event_id: format!("e-{seq}"),
            ts_ms: 1_763_596_801_000 + seq as i64,
            entity_type: Some("book".to_owned()),
            entity_id: Some(seq.to_string()),
            operation: body.map_or(Some("delete".to_owned()), |_| Some("update".to_owned())),
            author: Some("ann".to_owned()),
            source: "shop".to_owned(),
            detail_type: "Object State Change".to_owned(),
            account: String::new(),
            region: String::new(),
            ingested_at_ms: 1_763_600_000_000,
            body: body.map(str::to_owned),
        }
    }

    #[test]
    fn rows_come_back_as_written() {
        let rows = vec![
            row(1, Some(r#"{"a": 1}"#)),
            row(2, None),
            row(5, Some("[]")),
        ];
        let bytes = encode(&rows).expect("encodes");
        assert_eq!(&bytes[..4], b"PAR1");
        assert_eq!(decode(bytes).expect("decodes"), rows);
    }

    #[test]
    fn the_same_rows_make_the_same_bytes() {
        let rows = vec![row(1, Some("{}")), row(2, None)];
        assert_eq!(
            encode(&rows).expect("encodes"),
            encode(&rows).expect("encodes")
        );
    }

    #[test]
    fn more_rows_than_a_row_group_make_several() {
        let rows: Vec<Row> = (1..=ROW_GROUP_ROWS as u64 + 3)
            .map(|s| row(s, Some("{}")))
            .collect();
        let bytes = encode(&rows).expect("encodes");
        let reader = SerializedFileReader::new(Bytes::from(bytes.clone())).expect("reads");
        assert_eq!(reader.metadata().num_row_groups(), 2);
        assert_eq!(decode(bytes).expect("decodes").len(), rows.len());
    }

    #[test]
    fn text_columns_written_a_batch_at_a_time_keep_every_value_and_null_in_place() {
        // Bodies of different lengths, a null every third row, across
        // several text batches and a last, partial one.
        let rows: Vec<Row> = (1..=2 * TEXT_BATCH as u64 + 5)
            .map(|s| {
                let body = format!(r#"{{"n":{s},"pad":"{}"}}"#, "x".repeat((s % 7) as usize));
                row(s, (s % 3 != 0).then_some(body.as_str()))
            })
            .collect();
        assert_eq!(
            decode(encode(&rows).expect("encodes")).expect("decodes"),
            rows
        );
    }

    #[test]
    fn a_reused_buffer_holds_only_the_new_file() {
        let first = encode_into(&[row(1, Some("{}"))], Vec::new()).expect("encodes");
        let capacity = first.capacity();
        let mut buffer = first;
        buffer.clear();
        let rows = vec![row(2, None), row(3, Some("[1]"))];
        let second = encode_into(&rows, buffer).expect("encodes");
        assert_eq!(second, encode(&rows).expect("encodes"));
        assert!(second.capacity() >= capacity);
    }
}
