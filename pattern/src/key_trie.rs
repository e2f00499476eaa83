//! The key trie: the object-key paths that patterns test and captures ask
//! for, built by the [`Matcher`](crate::Matcher) and walked by the scanner so
//! that every other subtree of an event is skipped unread.

use crate::hash::FxHashMap;
use crate::strtable::StrTable;

/// A node of the key trie over the paths patterns use and the captured paths.
#[derive(Debug, Default)]
pub(crate) struct KeyNode {
    /// Child keys while the matcher is built (empty afterwards).
    children: FxHashMap<String, u32>,
    /// Child keys, frozen by [`freeze`] (its length mask rejects most keys of an event
    /// before hashing).
    keys: StrTable,
    pub field: Option<u32>,
    pub capture: Option<u32>,
}

impl KeyNode {
    /// The child node for key `k`.
    #[inline]
    pub(crate) fn child(&self, k: &str) -> Option<u32> {
        self.keys.get_one(k.as_bytes())
    }

    /// Whether some path continues below this node.
    #[inline]
    pub(crate) fn nested(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// The field id of `path`, numbered in order of first use.
pub(crate) fn field_id(trie: &mut Vec<KeyNode>, fields: &mut u32, path: &[String]) -> u32 {
    let node = trie_node(trie, path);
    *trie[node].field.get_or_insert_with(|| {
        *fields += 1;
        *fields - 1
    })
}

/// The trie node of `path`, created with its ancestors when missing.
pub(crate) fn trie_node(trie: &mut Vec<KeyNode>, path: &[String]) -> usize {
    let mut node = 0usize;
    for seg in path {
        node = match trie[node].children.get(seg) {
            Some(&n) => n as usize,
            None => {
                let n = trie.len();
                trie.push(KeyNode::default());
                trie[node].children.insert(seg.clone(), n as u32);
                n
            }
        };
    }
    node
}

/// Freezes every node's child keys into a [`StrTable`] once the trie is
/// complete; lookups afterwards use only the table.
pub(crate) fn freeze(trie: &mut [KeyNode]) {
    for node in trie {
        let children = std::mem::take(&mut node.children);
        let ids: Vec<(&str, [u32; 1])> = children.iter().map(|(k, &c)| (k.as_str(), [c])).collect();
        node.keys = StrTable::build(ids.iter().map(|(k, c)| (*k, &c[..])));
    }
}
