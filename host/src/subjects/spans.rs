//! Where the subject values of a detail are, as byte ranges of its text.
//!
//! Sealing replaces each configured string by its token in the detail's
//! text, leaving every other byte as the producer sent it: no JSON value is
//! built and nothing is serialized again. Each object on a configured path
//! is read once as a list of `(key, raw value)` entries (serde_json's
//! [`RawValue`] borrows the value's text, so its position is known); a key
//! that appears twice yields both entries, so no copy of a value is left in
//! plaintext whichever one a reader would take.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The configured paths as a tree of keys: `author` and `data.email` are
/// two children of the root, `email` a child of `data`.
#[derive(Debug, Default)]
pub(crate) struct PathTree {
    children: Vec<(String, PathTree)>,
    /// A configured path ends here.
    leaf: bool,
}

impl PathTree {
    /// The tree of `paths`, each a list of keys.
    pub(crate) fn new(paths: &[Vec<String>]) -> PathTree {
        let mut root = PathTree::default();
        for path in paths {
            let mut node = &mut root;
            for key in path {
                let at = match node.children.iter().position(|(k, _)| k == key) {
                    Some(at) => at,
                    None => {
                        node.children.push((key.clone(), PathTree::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.leaf = true;
        }
        root
    }

    /// Whether `path` is one of the configured paths.
    pub(crate) fn contains(&self, path: &[&str]) -> bool {
        let mut node = self;
        for key in path {
            match node.children.iter().find(|(k, _)| k == key) {
                Some((_, child)) => node = child,
                None => return false,
            }
        }
        node.leaf
    }

    /// Every string at a configured path of `detail` (a JSON object's text),
    /// as its range in `detail` (quotes included) and its unescaped value, in
    /// order of position. Nothing when `detail` is not a JSON object.
    pub(crate) fn strings(&self, detail: &str) -> Vec<(Range<usize>, String)> {
        let mut found = Vec::new();
        self.collect(detail, detail, &mut found);
        found.sort_by_key(|(range, _)| range.start);
        found
    }

    fn collect(&self, whole: &str, object: &str, found: &mut Vec<(Range<usize>, String)>) {
        let Ok(Entries(entries)) = serde_json::from_str::<Entries<'_>>(object) else {
            return;
        };
        for (key, raw) in entries {
            let Some((_, child)) = self.children.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            let text = raw.get();
            if child.leaf
                && text.starts_with('"')
                && let Ok(value) = serde_json::from_str::<String>(text)
            {
                let start = text.as_ptr() as usize - whole.as_ptr() as usize;
                found.push((start..start + text.len(), value));
            } else if !child.children.is_empty() && text.starts_with('{') {
                child.collect(whole, text, found);
            }
        }
    }
}

/// An object's entries in order, duplicates kept, values as raw text.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    entries.push((entry.0.0, entry.1));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// A key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `text` with each range replaced by its text; `replacements` in order of
/// position, not overlapping.
pub(crate) fn splice(text: &str, replacements: &[(Range<usize>, String)]) -> String {
    let grown: usize = replacements.iter().map(|(_, with)| with.len()).sum();
    let mut out = String::with_capacity(text.len() + grown);
    let mut at = 0;
    for (range, with) in replacements {
        out.push_str(&text[at..range.start]);
        out.push_str(with);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> PathTree {
        let paths: Vec<Vec<String>> = paths
            .iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect();
        PathTree::new(&paths)
    }

    fn found(paths: &[&str], detail: &str) -> Vec<(String, String)> {
        tree(paths)
            .strings(detail)
            .into_iter()
            .map(|(range, value)| (detail[range].to_owned(), value))
            .collect()
    }

    #[test]
    fn configured_strings_are_found_where_they_are() {
        let detail = r#"{"author":"ann","data":{"email":"a@x.org","n":1,"deep":{"email":"no"}},"email":"top"}"#;
        assert_eq!(
            found(&["author", "data.email"], detail),
            [
                (r#""ann""#.into(), "ann".into()),
                (r#""a@x.org""#.into(), "a@x.org".into())
            ]
        );
    }

    #[test]
    fn escapes_are_read_and_ranges_keep_them() {
        let detail = r#"{ "au\u0074hor" : "a\"nn\u00e9" }"#;
        assert_eq!(
            found(&["author"], detail),
            [(r#""a\"nn\u00e9""#.into(), "a\"nné".into())]
        );
    }

    #[test]
    fn every_copy_of_a_repeated_key_is_found() {
        let detail = r#"{"author":"first","x":[1],"author":"second"}"#;
        let values: Vec<String> = found(&["author"], detail)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(values, ["first", "second"]);
    }

    #[test]
    fn non_strings_and_non_objects_are_left() {
        assert!(found(&["author"], r#"{"author":42}"#).is_empty());
        assert!(found(&["author"], r#"{"author":{"name":"x"}}"#).is_empty());
        assert!(found(&["data.email"], r#"{"data":["a@x.org"]}"#).is_empty());
        assert!(found(&["author"], r#"["author","ann"]"#).is_empty());
        assert!(
            found(&["author"], r#"{"author":"ann""#).is_empty(),
            "not JSON"
        );
    }

    #[test]
    fn a_path_and_its_prefix_both_apply() {
        let detail = r#"{"data":{"email":"a@x.org"}}"#;
        assert_eq!(found(&["data", "data.email"], detail).len(), 1);
        assert_eq!(found(&["data", "data.email"], r#"{"data":"x"}"#).len(), 1);
    }

    #[test]
    fn configured_paths_are_known_and_their_prefixes_are_not() {
        let paths = tree(&["author", "data.email"]);
        assert!(paths.contains(&["author"]));
        assert!(paths.contains(&["data", "email"]));
        assert!(!paths.contains(&["data"]), "a prefix only");
        assert!(!paths.contains(&["email"]));
    }

    #[test]
    fn splice_replaces_ranges_in_order() {
        let text = r#"{"a":"x","b":"yy"}"#;
        let out = splice(text, &[(5..8, "\"1\"".into()), (13..17, "\"22\"".into())]);
        assert_eq!(out, r#"{"a":"1","b":"22"}"#);
    }
}
