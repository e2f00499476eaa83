//! Serving a [`ChangeQuery`]: choose the table or an index, then walk one or
//! more partitions newest first, merging them by sort key.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::task::JoinSet;
use trailmark_backend_api::{
    BackendError, BackendResult, ChangePage, ChangeQuery, ChangeRecord, page_size,
};

use super::item::{attr, from_item, sort_key_of};
use super::keys::{
    TIME_SHARDS, author_pk, decode_cursor, encode_cursor, entity_pk, sort_bounds, time_shard_pk,
};
use super::schema::{AUTHOR_INDEX, TIME_INDEX};
use crate::error::sdk_error;

/// Where a query reads: an index (or the table) and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `None` for the base table.
    pub index: Option<&'static str>,
    /// The partition key attribute of that table or index.
    pub pk_attr: &'static str,
    /// The partitions to read and merge.
    pub partitions: Vec<String>,
    /// Equality filters applied by DynamoDB after the key condition.
    pub filters: Vec<(&'static str, String)>,
}

/// Pick the cheapest place to answer `query`:
/// entity type and id → the entity's base-table partition;
/// else author → the author index; else the time index, all its shards.
pub(crate) fn plan(query: &ChangeQuery) -> Plan {
    let mut filters = Vec::new();
    let mut filter = |name, value: &Option<String>| {
        if let Some(value) = value {
            filters.push((name, value.clone()));
        }
    };
    let (index, pk_attr, partitions) = match (&query.entity_type, &query.entity_id, &query.author) {
        (Some(entity_type), Some(entity_id), author) => {
            filter(attr::AUTHOR, author);
            (None, attr::PK, vec![entity_pk(entity_type, entity_id)])
        }
        (entity_type, entity_id, Some(author)) => {
            filter(attr::ENTITY_TYPE, entity_type);
            filter(attr::ENTITY_ID, entity_id);
            (Some(AUTHOR_INDEX), attr::AUTHOR_PK, vec![author_pk(author)])
        }
        (entity_type, entity_id, None) => {
            filter(attr::ENTITY_TYPE, entity_type);
            filter(attr::ENTITY_ID, entity_id);
            let shards = (0..TIME_SHARDS).map(time_shard_pk).collect();
            (Some(TIME_INDEX), attr::TIME_PK, shards)
        }
    };
    filter(attr::OPERATION, &query.operation);
    filter(attr::SOURCE, &query.source);
    Plan {
        index,
        pk_attr,
        partitions,
        filters,
    }
}

/// Page size as the SQLite backend takes it: 0 means the default, and
/// large values are capped.
fn effective_limit(query: &ChangeQuery) -> usize {
    page_size(query.limit)
}

/// One partition being read newest first.
#[derive(Default)]
struct Stream {
    pk: String,
    start_key: Option<HashMap<String, AttributeValue>>,
    buffer: VecDeque<(String, ChangeRecord)>,
    done: bool,
}

/// The fixed parts of every `Query` call of one [`ChangeQuery`].
struct Reader {
    client: Client,
    table: String,
    plan: Plan,
    low: String,
    high: String,
    /// The sort key the cursor points at: excluded (BETWEEN is inclusive).
    after: Option<String>,
    page_size: i32,
}

impl Reader {
    /// Read pages into `stream` until it has a record or is exhausted.
    async fn fill(&self, stream: &mut Stream) -> BackendResult<()> {
        while stream.buffer.is_empty() && !stream.done {
            let mut names = HashMap::from([
                ("#pk".to_owned(), self.plan.pk_attr.to_owned()),
                ("#sk".to_owned(), attr::SK.to_owned()),
            ]);
            let mut values = HashMap::from([
                (":pk".to_owned(), AttributeValue::S(stream.pk.clone())),
                (":lo".to_owned(), AttributeValue::S(self.low.clone())),
                (":hi".to_owned(), AttributeValue::S(self.high.clone())),
            ]);
            let mut conditions = Vec::new();
            for (i, (name, value)) in self.plan.filters.iter().enumerate() {
                names.insert(format!("#f{i}"), (*name).to_owned());
                values.insert(format!(":f{i}"), AttributeValue::S(value.clone()));
                conditions.push(format!("#f{i} = :f{i}"));
            }
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(self.plan.index.map(str::to_owned))
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .set_filter_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .scan_index_forward(false)
                // Indexes only serve eventually consistent reads.
                .consistent_read(self.plan.index.is_none())
                .limit(self.page_size)
                .set_exclusive_start_key(stream.start_key.take());
            let output = request.send().await.map_err(|e| {
                let index = self.plan.index.unwrap_or("table");
                sdk_error(&format!("DynamoDB Query `{}` ({index})", self.table), &e)
            })?;
            for item in output.items() {
                let sk = sort_key_of(item)?;
                if self.after.as_deref() == Some(sk.as_str()) {
                    continue;
                }
                stream.buffer.push_back((sk, from_item(item)?));
            }
            stream.start_key = output.last_evaluated_key;
            stream.done = stream.start_key.is_none();
        }
        Ok(())
    }
}

/// Refill every stream that has run dry, the time index's shards
/// concurrently (one round trip per page instead of one per shard).
async fn fill_all(reader: &Arc<Reader>, streams: &mut [Stream]) -> BackendResult<()> {
    let dry: Vec<usize> = (0..streams.len())
        .filter(|&i| streams[i].buffer.is_empty() && !streams[i].done)
        .collect();
    if let [only] = dry.as_slice() {
        return reader.fill(&mut streams[*only]).await;
    }
    let mut tasks = JoinSet::new();
    for i in dry {
        let mut stream = std::mem::take(&mut streams[i]);
        let reader = Arc::clone(reader);
        tasks.spawn(async move {
            let result = reader.fill(&mut stream).await;
            (i, stream, result)
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, stream, result)) => {
                streams[i] = stream;
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
            Err(e) => {
                first_error.get_or_insert(BackendError::Transient(format!(
                    "DynamoDB query task failed: {e}"
                )));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Answer `query` with `plan`: merge the partitions newest first, stop at
/// the limit, and return a cursor only when another record exists.
pub(crate) async fn run(
    client: &Client,
    table: &str,
    plan: &Plan,
    query: &ChangeQuery,
) -> BackendResult<ChangePage> {
    let limit = effective_limit(query);
    let (low, mut high) = sort_bounds(query.since, query.until);
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    if let Some(after) = &after {
        high = high.min(after.clone());
    }
    if low > high {
        return Ok(ChangePage::default());
    }
    let reader = Arc::new(Reader {
        client: client.clone(),
        table: table.to_owned(),
        plan: plan.clone(),
        low,
        high,
        after,
        page_size: i32::try_from(limit + 1).unwrap_or(i32::MAX),
    });
    let mut streams: Vec<Stream> = plan
        .partitions
        .iter()
        .map(|pk| Stream {
            pk: pk.clone(),
            start_key: None,
            buffer: VecDeque::new(),
            done: false,
        })
        .collect();
    let mut records = Vec::new();
    let mut last_sk = None;
    loop {
        fill_all(&reader, &mut streams).await?;
        let newest = streams
            .iter_mut()
            .filter(|s| !s.buffer.is_empty())
            .max_by(|a, b| a.buffer[0].0.cmp(&b.buffer[0].0));
        let Some(newest) = newest else {
            return Ok(ChangePage {
                records,
                next_cursor: None,
            });
        };
        if records.len() == limit {
            return Ok(ChangePage {
                records,
                next_cursor: last_sk.as_deref().map(encode_cursor),
            });
        }
        let (sk, record) = newest
            .buffer
            .pop_front()
            .expect("the stream was chosen for its non-empty buffer");
        records.push(record);
        last_sk = Some(sk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> ChangeQuery {
        ChangeQuery::default()
    }

    #[test]
    fn entity_queries_read_the_base_table() {
        let plan = plan(&ChangeQuery {
            entity_type: Some("book".into()),
            entity_id: Some("42".into()),
            author: Some("alice".into()),
            operation: Some("delete".into()),
            ..query()
        });
        assert_eq!(plan.index, None);
        assert_eq!(plan.partitions, vec![entity_pk("book", "42")]);
        assert_eq!(
            plan.filters,
            vec![
                (attr::AUTHOR, "alice".into()),
                (attr::OPERATION, "delete".into())
            ]
        );
    }

    #[test]
    fn author_queries_read_the_author_index() {
        let plan = plan(&ChangeQuery {
            author: Some("alice".into()),
            entity_type: Some("book".into()),
            ..query()
        });
        assert_eq!(plan.index, Some(AUTHOR_INDEX));
        assert_eq!(plan.partitions, vec![author_pk("alice")]);
        assert_eq!(plan.filters, vec![(attr::ENTITY_TYPE, "book".into())]);
    }

    #[test]
    fn other_queries_merge_every_time_shard() {
        let plan = plan(&ChangeQuery {
            source: Some("s".into()),
            ..query()
        });
        assert_eq!(plan.index, Some(TIME_INDEX));
        assert_eq!(plan.partitions.len(), TIME_SHARDS as usize);
        assert_eq!(plan.filters, vec![(attr::SOURCE, "s".into())]);
    }
}
