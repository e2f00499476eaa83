//! Change records as DynamoDB items and back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use trailmark_backend_api::{BackendError, BackendResult, ChangeRecord};

use super::keys::{author_pk, entity_pk, sort_key, time_pk};

/// Attribute names. Key attributes first.
pub(crate) mod attr {
    /// Base-table partition key.
    pub(crate) const PK: &str = "pk";
    /// Sort key of the table and of both indexes.
    pub(crate) const SK: &str = "sk";
    /// Author index partition key.
    pub(crate) const AUTHOR_PK: &str = "apk";
    /// Time index partition key.
    pub(crate) const TIME_PK: &str = "tpk";
    pub(crate) const EVENT_ID: &str = "event_id";
    pub(crate) const SOURCE: &str = "source";
    pub(crate) const ENTITY_TYPE: &str = "entity_type";
    pub(crate) const ENTITY_ID: &str = "entity_id";
    pub(crate) const OPERATION: &str = "operation";
    pub(crate) const TS: &str = "ts";
    pub(crate) const AUTHOR: &str = "author";
    pub(crate) const ARCHIVE_KEY: &str = "archive_key";
    pub(crate) const ATTRIBUTES: &str = "attributes";
    /// The rules the event matched, a string set (absent when none: a set
    /// cannot be empty).
    pub(crate) const RULES: &str = "rules";
}

/// The item that stores `change`, key attributes included.
pub(crate) fn to_item(change: &ChangeRecord) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item = HashMap::from([
        (
            attr::PK.to_owned(),
            s(&entity_pk(&change.entity_type, &change.entity_id)),
        ),
        (
            attr::SK.to_owned(),
            s(&sort_key(change.ts, &change.event_id)),
        ),
        (attr::AUTHOR_PK.to_owned(), s(&author_pk(&change.author))),
        (attr::TIME_PK.to_owned(), s(&time_pk(&change.event_id))),
        (attr::EVENT_ID.to_owned(), s(&change.event_id)),
        (attr::SOURCE.to_owned(), s(&change.source)),
        (attr::ENTITY_TYPE.to_owned(), s(&change.entity_type)),
        (attr::ENTITY_ID.to_owned(), s(&change.entity_id)),
        (attr::OPERATION.to_owned(), s(&change.operation)),
        (
            attr::TS.to_owned(),
            AttributeValue::N(change.ts.to_string()),
        ),
        (attr::AUTHOR.to_owned(), s(&change.author)),
        (attr::ATTRIBUTES.to_owned(), s(&change.attributes)),
    ]);
    if let Some(key) = &change.archive_key {
        item.insert(attr::ARCHIVE_KEY.to_owned(), s(key));
    }
    if !change.rules.is_empty() {
        item.insert(
            attr::RULES.to_owned(),
            AttributeValue::Ss(change.rules.clone()),
        );
    }
    item
}

/// The record an item stores. An item this crate did not write (missing or
/// mistyped attributes) is reported as [`BackendError::Invalid`].
pub(crate) fn from_item(item: &HashMap<String, AttributeValue>) -> BackendResult<ChangeRecord> {
    let text = |name: &str| -> BackendResult<String> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            _ => Err(malformed(item, name)),
        }
    };
    let ts = match item.get(attr::TS) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| malformed(item, attr::TS))?,
        _ => return Err(malformed(item, attr::TS)),
    };
    let archive_key = match item.get(attr::ARCHIVE_KEY) {
        None | Some(AttributeValue::Null(_)) => None,
        Some(AttributeValue::S(key)) => Some(key.clone()),
        Some(_) => return Err(malformed(item, attr::ARCHIVE_KEY)),
    };
    Ok(ChangeRecord {
        event_id: text(attr::EVENT_ID)?,
        source: text(attr::SOURCE)?,
        entity_type: text(attr::ENTITY_TYPE)?,
        entity_id: text(attr::ENTITY_ID)?,
        operation: text(attr::OPERATION)?,
        ts,
        author: text(attr::AUTHOR)?,
        archive_key,
        attributes: text(attr::ATTRIBUTES)?,
        rules: match item.get(attr::RULES) {
            None => Vec::new(),
            Some(AttributeValue::Ss(rules)) => rules.clone(),
            Some(_) => return Err(malformed(item, attr::RULES)),
        },
    })
}

/// The item's sort key (present on every item of every index).
pub(crate) fn sort_key_of(item: &HashMap<String, AttributeValue>) -> BackendResult<String> {
    match item.get(attr::SK) {
        Some(AttributeValue::S(sk)) => Ok(sk.clone()),
        _ => Err(malformed(item, attr::SK)),
    }
}

fn malformed(item: &HashMap<String, AttributeValue>, name: &str) -> BackendError {
    let pk = match item.get(attr::PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "?",
    };
    BackendError::Invalid(format!(
        "DynamoDB item {pk:?} has no valid `{name}` attribute; was it written by another program?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(archive_key: Option<&str>) -> ChangeRecord {
        ChangeRecord {
            event_id: "evt-1".into(),
            source: "com.example.books".into(),
            entity_type: "book".into(),
            entity_id: "42".into(),
            operation: "update".into(),
            ts: -5,
            author: "".into(),
            archive_key: archive_key.map(str::to_owned),
            attributes: r#"{"a":1}"#.into(),
            rules: Vec::new(),
        }
    }

    #[test]
    fn records_round_trip_through_items() {
        let with_rules = ChangeRecord {
            rules: vec!["archive".into(), "delete-alert".into()],
            ..record(None)
        };
        for change in [record(None), record(Some("book/42/evt-1.json")), with_rules] {
            let item = to_item(&change);
            assert_eq!(from_item(&item).unwrap(), change);
            assert_eq!(sort_key_of(&item).unwrap(), sort_key(-5, "evt-1"));
        }
    }

    #[test]
    fn foreign_items_are_invalid_not_panics() {
        let mut item = to_item(&record(None));
        item.insert(attr::TS.into(), AttributeValue::S("soon".into()));
        let err = from_item(&item).unwrap_err();
        assert!(
            matches!(&err, BackendError::Invalid(m) if m.contains("`ts`")),
            "{err:?}"
        );
    }
}
