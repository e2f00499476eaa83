//! The metadata capability on DynamoDB, and the table design behind it.
//!
//! # Table design
//!
//! One table, on-demand billing, every change one item:
//!
//! | attribute | value | role |
//! |---|---|---|
//! | `pk` | `entity#<type>#<id>` (`%` and `#` escaped in the parts) | table partition key |
//! | `sk` | `<ts as 20 digits, sign-flipped>#<event_id>` | sort key of the table and both indexes |
//! | `apk` | `author#<author>` | partition key of index [`AUTHOR_INDEX`] |
//! | `tpk` | `time#<n>`, `n` = FNV-1a(event id) mod [`TIME_SHARDS`] | partition key of index [`TIME_INDEX`] |
//! | `event_id`, `source`, `entity_type`, `entity_id`, `operation`, `author`, `attributes` | S | the record |
//! | `ts` | N | the record |
//! | `archive_key` | S, absent when none | the record |
//!
//! Both indexes project all attributes, so a query never goes back to the
//! table.
//!
//! # Queries
//!
//! - **Entity history** ([`history`](trailmark_backend_api::MetadataStore::history)
//!   and queries with entity type *and* id): one partition of the table,
//!   strongly consistent, in `sk` order. History pages continue after the
//!   cursor's `sk` (a key condition); a history for one source filters on
//!   `source`, so other sources' versions of the same type and id are read
//!   (and billed) but never returned. Entities whose id is shared by many
//!   sources would want the source in the partition key; that changes the
//!   table design, so it is left for when it is needed.
//! - **By author** (queries with an author but no entity): one partition of
//!   the author index.
//! - **Everything else** (by time, by operation, by source, by entity type
//!   alone): the time index. Its [`TIME_SHARDS`] partitions are read newest
//!   first and merged by `sk`.
//!
//! `since`/`until` become a `sk BETWEEN` key condition; the remaining
//! filters are DynamoDB filter expressions (they save bandwidth, not read
//! capacity: filtered-out items are still read and billed). Pages hold the
//! newest `limit` records; the cursor is the last returned `sk`, and the next
//! page continues strictly below it in the same index — the keyset
//! equivalent of `LastEvaluatedKey` that stays exact when a page ends
//! inside a DynamoDB page.
//!
//! ## Trade-offs
//!
//! - The time index spreads its writes over [`TIME_SHARDS`] partitions
//!   (each takes about 1000 writes/s), instead of one partition per day:
//!   a day bucket puts all of a day's writes on one partition and buys
//!   nothing in return, since index partitions have no size limit. The
//!   price is one `Query` per shard per page. A `Scan` with a filter would
//!   need no index but reads the whole table for every page and cannot
//!   return records newest first.
//! - A filter on entity type alone (no id) walks the time index and
//!   filters; add an index on `entity_type` if that query is hot.
//! - Index reads are eventually consistent (usually well under a second on
//!   AWS); entity history reads the table and sees its own writes.
//!
//! # Idempotency
//!
//! A put is a `PutItem` conditioned on `attribute_not_exists(pk)`; a
//! redelivered event finds its item and returns
//! [`PutOutcome::AlreadyPresent`]. The item key holds the entity, time and
//! event id, all taken from the event, so the same event always yields the
//! same key. (Two *different* records sharing one event id but not entity or
//! time would both be stored; the journal never produces them.)

mod item;
mod keys;
mod query;
mod schema;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use tokio::runtime::Handle;

use trailmark_backend_api::{
    BackendResult, ChangePage, ChangeQuery, ChangeRecord, HistoryQuery, MetadataStore, PutOutcome,
};

pub use keys::TIME_SHARDS;
pub use schema::{AUTHOR_INDEX, TIME_INDEX};
pub(crate) use schema::{check_table, create_table};

use crate::bridge::Bridge;
use crate::error::sdk_error;
use crate::sdk::AwsTarget;
use item::{attr, from_item, sort_key_of, to_item};
use trailmark_backend_api::page_size;

/// Change records in one DynamoDB table (design in the [module docs](self)).
#[derive(Debug, Clone)]
pub struct DynamoMetadata {
    client: Client,
    table: String,
    bridge: Bridge,
}

impl DynamoMetadata {
    /// Connect to `table` (it is not checked here: see
    /// [`AwsMetadataConfig::check`](crate::AwsMetadataConfig::check)).
    pub async fn connect(table: &str, target: &AwsTarget, handle: &Handle) -> BackendResult<Self> {
        let bridge = Bridge::new(handle)?;
        let config = target.load().await?;
        Ok(DynamoMetadata {
            client: Client::new(&config),
            table: table.to_owned(),
            bridge,
        })
    }

    async fn put_async(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(change)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", attr::PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Inserted),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(PutOutcome::AlreadyPresent)
            }
            Err(e) => Err(sdk_error(
                &format!(
                    "DynamoDB PutItem `{}` (event {})",
                    self.table, change.event_id
                ),
                &e,
            )),
        }
    }

    /// One page of an entity's history: its partition read oldest first
    /// from just after the cursor's sort key, keeping only `source`'s items
    /// when given (a filter: other sources' items are read, not returned).
    async fn history_async(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
        let limit = page_size(query.limit);
        let pk = keys::entity_pk(&query.entity_type, &query.entity_id);
        let after = query
            .cursor
            .as_deref()
            .map(keys::decode_cursor)
            .transpose()?;
        let mut condition = "#pk = :pk".to_owned();
        let mut names = HashMap::from([("#pk".to_owned(), attr::PK.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(pk))]);
        if let Some(after) = after {
            condition.push_str(" AND #sk > :after");
            names.insert("#sk".to_owned(), attr::SK.to_owned());
            values.insert(":after".to_owned(), AttributeValue::S(after));
        }
        let filter = query.source.as_ref().map(|source| {
            names.insert("#src".to_owned(), attr::SOURCE.to_owned());
            values.insert(":src".to_owned(), AttributeValue::S(source.clone()));
            "#src = :src".to_owned()
        });
        let mut records: Vec<(String, ChangeRecord)> = Vec::new();
        let mut start_key = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .scan_index_forward(true)
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&format!("DynamoDB Query `{}` (history)", self.table), &e)
                })?;
            for item in output.items() {
                records.push((sort_key_of(item)?, from_item(item)?));
            }
            start_key = output.last_evaluated_key;
            if records.len() > limit || start_key.is_none() {
                break;
            }
        }
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|(sk, _)| keys::encode_cursor(sk))
        } else {
            None
        };
        Ok(ChangePage {
            records: records.into_iter().map(|(_, r)| r).collect(),
            next_cursor,
        })
    }
}

impl MetadataStore for DynamoMetadata {
    fn put(&self, change: &ChangeRecord) -> BackendResult<PutOutcome> {
        self.bridge.run(self.put_async(change))
    }

    fn query(&self, query: &ChangeQuery) -> BackendResult<ChangePage> {
        let plan = query::plan(query);
        self.bridge
            .run(query::run(&self.client, &self.table, &plan, query))
    }

    fn history(&self, query: &HistoryQuery) -> BackendResult<ChangePage> {
        self.bridge.run(self.history_async(query))
    }
}
