//! The table's shape: creating it (bootstrap) and checking it (start-up).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableStatus,
};
use trailmark_backend_api::{BackendError, BackendResult};

use super::item::attr;
use crate::error::sdk_error;

/// The author index: partition `apk`, sort `sk`, all attributes projected.
pub const AUTHOR_INDEX: &str = "by-author";
/// The time index: partition `tpk` (one of the time shards), sort `sk`.
pub const TIME_INDEX: &str = "by-time";

/// How long bootstrap waits for a new table to become active.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(120);

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("attribute name and key type are set")
}

fn index(name: &str, pk: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash))
        .key_schema(key(attr::SK, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index name and key schema are set")
}

/// Create `table` with both indexes, on-demand billing, and wait until it
/// is active. Returns `false` when it already existed.
pub(crate) async fn create_table(client: &Client, table: &str) -> BackendResult<bool> {
    let string_attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute name and type are set")
    };
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attr(attr::PK))
        .attribute_definitions(string_attr(attr::SK))
        .attribute_definitions(string_attr(attr::AUTHOR_PK))
        .attribute_definitions(string_attr(attr::TIME_PK))
        .key_schema(key(attr::PK, KeyType::Hash))
        .key_schema(key(attr::SK, KeyType::Range))
        .global_secondary_indexes(index(AUTHOR_INDEX, attr::AUTHOR_PK))
        .global_secondary_indexes(index(TIME_INDEX, attr::TIME_PK))
        .send()
        .await;
    let created = match result {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(sdk_error(&format!("DynamoDB CreateTable `{table}`"), &e)),
    };
    wait_active(client, table).await?;
    Ok(created)
}

async fn wait_active(client: &Client, table: &str) -> BackendResult<()> {
    let deadline = Instant::now() + ACTIVE_DEADLINE;
    let mut pause = Duration::from_millis(50);
    loop {
        let description = describe(client, table).await?;
        let indexes_active = description
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status() == Some(&IndexStatus::Active));
        if description.table_status() == Some(&TableStatus::Active) && indexes_active {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BackendError::Transient(format!(
                "DynamoDB table `{table}` is not active after {ACTIVE_DEADLINE:?}"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

async fn describe(
    client: &Client,
    table: &str,
) -> BackendResult<aws_sdk_dynamodb::types::TableDescription> {
    let output = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("DynamoDB DescribeTable `{table}`"), &e))?;
    output.table.ok_or_else(|| {
        BackendError::Transient(format!(
            "DynamoDB DescribeTable `{table}`: no table in the answer"
        ))
    })
}

/// `DescribeTable`: the table exists, and has the key schema and indexes
/// this crate reads and writes.
pub(crate) async fn check_table(client: &Client, table: &str) -> BackendResult<()> {
    let description = describe(client, table).await?;
    let keys_of = |schema: &[KeySchemaElement]| -> Vec<(String, KeyType)> {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
            .collect()
    };
    let expect = |pk: &str| {
        vec![
            (pk.to_owned(), KeyType::Hash),
            (attr::SK.to_owned(), KeyType::Range),
        ]
    };
    if keys_of(description.key_schema()) != expect(attr::PK) {
        return Err(BackendError::Invalid(format!(
            "DynamoDB table `{table}` has key schema {:?}; expected pk (HASH) and sk (RANGE)",
            keys_of(description.key_schema())
        )));
    }
    for (name, pk) in [(AUTHOR_INDEX, attr::AUTHOR_PK), (TIME_INDEX, attr::TIME_PK)] {
        let found = description
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(name));
        match found {
            Some(i) if keys_of(i.key_schema()) == expect(pk) => {}
            Some(_) => {
                return Err(BackendError::Invalid(format!(
                    "DynamoDB table `{table}`: index `{name}` should have keys {pk} (HASH) and sk (RANGE)"
                )));
            }
            None => {
                return Err(BackendError::Invalid(format!(
                    "DynamoDB table `{table}` has no index `{name}` (keys {pk}, sk); add it as \
                     docs/deploying-on-aws.md shows, or use a table made by `trailmark aws bootstrap`"
                )));
            }
        }
    }
    Ok(())
}
