//! A structural diff of two JSON values: which paths were added, removed or
//! changed, and how many leaves stayed the same (the page folds those).
//!
//! Objects are compared key by key (keys in the order of the older value,
//! then new keys in the order of the newer); arrays index by index (a
//! longer array has its tail added, a shorter one its tail removed); any
//! other pair of values is changed when unequal, including a change of type.
//! Paths are JSON Pointers (RFC 6901): `/author/name`, `/tags/0`; the empty
//! path is the whole value.

use serde_json::Value;

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only in the newer value.
    Added,
    /// Only in the older value.
    Removed,
    /// In both, different.
    Changed,
}

impl Kind {
    /// `added`, `removed` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// JSON Pointer of the value.
    pub path: String,
    /// What happened.
    pub kind: Kind,
    /// The older value (absent when added).
    pub before: Option<Value>,
    /// The newer value (absent when removed).
    pub after: Option<Value>,
}

/// The differences between two values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// In document order.
    pub changes: Vec<Change>,
    /// Leaves (scalars, empty arrays and objects) equal in both.
    pub unchanged: usize,
}

/// Compare `before` with `after`.
pub fn diff(before: &Value, after: &Value) -> Diff {
    let mut out = Diff::default();
    walk(&mut String::new(), before, after, &mut out);
    out
}

fn walk(path: &mut String, before: &Value, after: &Value, out: &mut Diff) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) if !a.is_empty() || !b.is_empty() => {
            for (key, old) in a {
                let len = push(path, key);
                match b.get(key) {
                    Some(new) => walk(path, old, new, out),
                    None => out
                        .changes
                        .push(change(path, Kind::Removed, Some(old), None)),
                }
                path.truncate(len);
            }
            for (key, new) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                let len = push(path, key);
                out.changes.push(change(path, Kind::Added, None, Some(new)));
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if !a.is_empty() || !b.is_empty() => {
            for i in 0..a.len().max(b.len()) {
                let len = push(path, &i.to_string());
                match (a.get(i), b.get(i)) {
                    (Some(old), Some(new)) => walk(path, old, new, out),
                    (Some(old), None) => {
                        out.changes
                            .push(change(path, Kind::Removed, Some(old), None))
                    }
                    (None, new) => out.changes.push(change(path, Kind::Added, None, new)),
                }
                path.truncate(len);
            }
        }
        _ if before == after => out.unchanged += 1,
        _ => out
            .changes
            .push(change(path, Kind::Changed, Some(before), Some(after))),
    }
}

/// Append `/segment` (escaped) to `path`; returns the length to cut back to.
fn push(path: &mut String, segment: &str) -> usize {
    let len = path.len();
    path.push('/');
    path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    len
}

fn change(path: &str, kind: Kind, before: Option<&Value>, after: Option<&Value>) -> Change {
    Change {
        path: path.to_owned(),
        kind,
        before: before.cloned(),
        after: after.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(d: &Diff) -> Vec<(&str, Kind)> {
        d.changes
            .iter()
            .map(|c| (c.path.as_str(), c.kind))
            .collect()
    }

    #[test]
    fn added_removed_and_changed_paths() {
        let old = json!({"title": "Dune", "price": 10, "author": {"name": "Herbert", "born": 1920}, "isbn": "x"});
        let new = json!({"title": "Dune", "price": 12, "author": {"name": "F. Herbert", "born": 1920}, "pages": 412});
        let d = diff(&old, &new);
        assert_eq!(
            paths(&d),
            [
                ("/price", Kind::Changed),
                ("/author/name", Kind::Changed),
                ("/isbn", Kind::Removed),
                ("/pages", Kind::Added),
            ]
        );
        assert_eq!(d.unchanged, 2, "title and author.born");
        assert_eq!(d.changes[0].before, Some(json!(10)));
        assert_eq!(d.changes[0].after, Some(json!(12)));
        assert_eq!(d.changes[3].before, None);
    }

    #[test]
    fn arrays_by_index() {
        let d = diff(
            &json!({"tags": ["a", "b", "c"]}),
            &json!({"tags": ["a", "x"]}),
        );
        assert_eq!(
            paths(&d),
            [("/tags/1", Kind::Changed), ("/tags/2", Kind::Removed)]
        );
        let d = diff(&json!([]), &json!([1]));
        assert_eq!(paths(&d), [("/0", Kind::Added)]);
    }

    #[test]
    fn type_changes_and_whole_values() {
        let d = diff(&json!({"a": {"b": 1}}), &json!({"a": [1]}));
        assert_eq!(paths(&d), [("/a", Kind::Changed)]);
        let d = diff(&json!("text"), &json!({"k": 1}));
        assert_eq!(paths(&d), [("", Kind::Changed)]);
        let d = diff(&json!({}), &json!({}));
        assert_eq!((d.changes.len(), d.unchanged), (0, 1));
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let d = diff(&json!({"a/b": 1, "c~d": 1}), &json!({"a/b": 2, "c~d": 2}));
        assert_eq!(
            paths(&d),
            [("/a~1b", Kind::Changed), ("/c~0d", Kind::Changed)]
        );
    }

    #[test]
    fn equal_values_have_no_changes() {
        let v = json!({"a": [1, {"b": null}], "c": true});
        let d = diff(&v, &v);
        assert!(d.changes.is_empty());
        assert_eq!(d.unchanged, 3);
    }
}
