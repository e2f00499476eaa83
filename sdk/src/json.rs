//! Dotted paths into JSON values: `data.email`, `data.authors.0`.
//!
//! A path is a `.`-separated list of segments; a segment names an object key,
//! or, on an array, an index. Keys that contain `.` cannot be addressed.

use serde_json::Value;

/// The value at `path` below `value`, if there is one.
///
/// ```
/// let detail = serde_json::json!({"data": {"authors": ["Ann", "Bo"]}});
/// assert_eq!(trailmark_sdk::json::get(&detail, "data.authors.1"), Some(&"Bo".into()));
/// assert_eq!(trailmark_sdk::json::get(&detail, "data.title"), None);
/// ```
pub fn get<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, step)
}

/// The value at `path` below `value`, mutably, if there is one.
pub fn get_mut<'v>(value: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    path.split('.')
        .try_fold(value, |value, segment| match value {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get_mut(index)),
            _ => None,
        })
}

/// Remove the value at `path` below `value` and return it. Removing an
/// array element shifts the later elements down.
///
/// ```
/// let mut data = serde_json::json!({"name": "Ann", "email": "ann@example.com"});
/// assert_eq!(trailmark_sdk::json::remove(&mut data, "email"), Some("ann@example.com".into()));
/// assert_eq!(data, serde_json::json!({"name": "Ann"}));
/// ```
pub fn remove(value: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (get_mut(value, parent)?, last),
        None => (value, path),
    };
    match parent {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => {
            let index = last
                .parse::<usize>()
                .ok()
                .filter(|&index| index < items.len())?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

/// [`get`] over a path already split into segments.
pub(crate) fn get_segments<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().map(String::as_str).try_fold(value, step)
}

fn step<'v>(value: &'v Value, segment: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment
            .parse::<usize>()
            .ok()
            .and_then(|index| items.get(index)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn walks_objects_and_arrays() {
        let value = json!({"a": {"b": [10, {"c": true}]}, "x.y": 1});
        assert_eq!(get(&value, "a.b.0"), Some(&json!(10)));
        assert_eq!(get(&value, "a.b.1.c"), Some(&json!(true)));
        assert_eq!(get(&value, "a.b.2"), None);
        assert_eq!(get(&value, "a.b.first"), None);
        assert_eq!(get(&value, "a.b.0.z"), None);
        assert_eq!(
            get(&value, "x.y"),
            None,
            "keys with dots are not addressable"
        );
    }

    #[test]
    fn get_mut_changes_in_place() {
        let mut value = json!({"data": {"ssn": "123"}});
        *get_mut(&mut value, "data.ssn").expect("present") = json!("***");
        assert_eq!(value, json!({"data": {"ssn": "***"}}));
        assert!(get_mut(&mut value, "data.email").is_none());
    }

    #[test]
    fn remove_takes_fields_and_elements() {
        let mut value = json!({"data": {"tags": ["a", "b", "c"], "email": "e"}});
        assert_eq!(remove(&mut value, "data.tags.1"), Some(json!("b")));
        assert_eq!(remove(&mut value, "data.email"), Some(json!("e")));
        assert_eq!(remove(&mut value, "data.email"), None);
        assert_eq!(remove(&mut value, "data.tags.5"), None);
        assert_eq!(remove(&mut value, "nothing.here"), None);
        assert_eq!(value, json!({"data": {"tags": ["a", "c"]}}));
    }
}
