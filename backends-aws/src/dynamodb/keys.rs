//! Key attribute values of the table design: how a change record becomes
//! partition and sort keys that sort the way queries need.

use trailmark_backend_api::{BackendError, BackendResult};

/// Number of partitions of the time index. Fixed per table: changing it
/// needs a new table (or rewriting every item's `tpk`).
pub const TIME_SHARDS: u32 = 4;

/// Base-table partition key: `entity#<type>#<id>`, each part escaped.
pub(crate) fn entity_pk(entity_type: &str, entity_id: &str) -> String {
    format!("entity#{}#{}", escape(entity_type), escape(entity_id))
}

/// Author index partition key: `author#<author>` (never empty, as DynamoDB
/// key attributes must not be).
pub(crate) fn author_pk(author: &str) -> String {
    format!("author#{}", escape(author))
}

/// Time index partition key: `time#<n>`, `n` a stable hash of the event id
/// modulo [`TIME_SHARDS`], so writes spread over that many partitions.
pub(crate) fn time_pk(event_id: &str) -> String {
    time_shard_pk(fnv1a(event_id.as_bytes()) % TIME_SHARDS)
}

/// The partition key of time shard `n`.
pub(crate) fn time_shard_pk(n: u32) -> String {
    format!("time#{n}")
}

/// Sort key shared by the table and both indexes: `<ts>#<event_id>` with
/// `ts` in 20 digits, offset so that negative times sort first. Sorting by
/// it is sorting by (ts, event id), as the SQLite backend orders.
pub(crate) fn sort_key(ts: i64, event_id: &str) -> String {
    format!("{}#{event_id}", padded_ts(ts))
}

/// `ts` as 20 digits whose text order is numeric order.
pub(crate) fn padded_ts(ts: i64) -> String {
    // Flip the sign bit: i64::MIN..=i64::MAX maps onto 0..=u64::MAX in order.
    format!("{:020}", (ts as u64) ^ (1 << 63))
}

/// Lowest and above-highest sort key bounds for `since`/`until` (ms).
/// Every sort key `k` of a record with `since <= ts < until` has
/// `low <= k <= high`, and no key equals `high`.
pub(crate) fn sort_bounds(since: Option<i64>, until: Option<i64>) -> (String, String) {
    let low = since.map_or_else(|| "0".to_owned(), padded_ts);
    // A sort key is `<20 digits>#...`, so `<20 digits>` alone sorts before
    // every key with that time and after every earlier one; `~` sorts after
    // every digit.
    let high = until.map_or_else(|| "~".to_owned(), padded_ts);
    (low, high)
}

/// Escape `%` and `#` so that `#` only ever separates key parts.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('#', "%23")
}

/// 32-bit FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Cursors are `d1:` and the hex of the last returned sort key: the next
/// page continues strictly below it in the same index.
const CURSOR_PREFIX: &str = "d1:";

/// Encode the cursor after a record with sort key `sk`.
pub(crate) fn encode_cursor(sk: &str) -> String {
    format!("{CURSOR_PREFIX}{}", hex::encode(sk))
}

/// Decode a cursor from [`encode_cursor`].
pub(crate) fn decode_cursor(cursor: &str) -> BackendResult<String> {
    let bad = || {
        BackendError::Invalid(format!(
            "cursor {:?} is not one this DynamoDB store returned",
            cursor.chars().take(80).collect::<String>()
        ))
    };
    let hex_part = cursor.strip_prefix(CURSOR_PREFIX).ok_or_else(bad)?;
    let bytes = hex::decode(hex_part).map_err(|_| bad())?;
    let sk = String::from_utf8(bytes).map_err(|_| bad())?;
    if sk.len() < 22 || !sk.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    Ok(sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_times_sort_numerically_including_negatives() {
        let times = [
            i64::MIN,
            -1_000,
            -1,
            0,
            1,
            9,
            10,
            1_700_000_000_000,
            i64::MAX,
        ];
        let keys: Vec<String> = times.iter().map(|&t| padded_ts(t)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys.iter().all(|k| k.len() == 20));
    }

    #[test]
    fn sort_keys_order_by_time_then_event_id() {
        assert!(sort_key(5, "b") < sort_key(6, "a"));
        assert!(sort_key(5, "a") < sort_key(5, "b"));
    }

    #[test]
    fn bounds_keep_since_and_drop_until() {
        let (low, high) = sort_bounds(Some(100), Some(200));
        assert!(low <= sort_key(100, "x") && sort_key(100, "x") <= high);
        assert!(sort_key(199, "zzz") < high);
        assert!(sort_key(200, "") > high);
        assert!(sort_key(99, "zzz") < low);
        let (low, high) = sort_bounds(None, None);
        assert!(low <= sort_key(i64::MIN, "a") && sort_key(i64::MAX, "a") < high);
    }

    #[test]
    fn key_parts_cannot_collide() {
        assert_ne!(entity_pk("a#b", "c"), entity_pk("a", "b#c"));
        assert_ne!(entity_pk("a%23", "c"), entity_pk("a#", "c"));
        assert_eq!(author_pk(""), "author#");
    }

    #[test]
    fn time_shards_are_stable_and_spread() {
        assert_eq!(time_pk("evt-1"), time_pk("evt-1"));
        let used: std::collections::BTreeSet<String> =
            (0..100).map(|i| time_pk(&format!("evt-{i}"))).collect();
        assert_eq!(used.len(), TIME_SHARDS as usize);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let sk = sort_key(42, "evt-1");
        assert_eq!(decode_cursor(&encode_cursor(&sk)).unwrap(), sk);
        for bad in [
            "",
            "d1:zz",
            "d1:",
            "x1:00",
            &format!("d1:{}", hex::encode("short")),
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(BackendError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
