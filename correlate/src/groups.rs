//! A rule's live groups, each kept in the bucket of a hash table that finds
//! it by key.
//!
//! At 100k groups nearly every event's group is out of the CPU caches, so
//! what an event costs is mostly how many separate places in memory it
//! touches. A `HashMap<Arc<str>, _>` touches the table, then the key's own
//! allocation to compare it, then the group; a table of slot numbers into a
//! slab touches the table's control bytes, its bucket, then the slot. Here
//! the bucket is the slot: it holds, for a key of up to [`INLINE`] bytes, a
//! copy of its text, beside the group itself, so finding a group and
//! reading it touch the control bytes and one slot. The slot keeps no hash
//! (the control bytes' 7 bits of it already filter all but 1 in 128 of the
//! slots a lookup would compare) nor the inline text's length (the shared
//! key's, beside it, is the same): every byte of a slot is one more to miss
//! on at 100k groups. A group is
//! updated in its slot. A slot's number (its bucket) holds until the next
//! insertion, which may grow the table and move every slot: callers keep
//! one only while they update that group.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

/// Longest key whose text a slot keeps inline.
pub(crate) const INLINE: usize = 40;

/// One live group.
#[derive(Debug, Clone)]
pub(crate) struct Slot<G> {
    /// The key, shared with the deadline heap and fires.
    pub(crate) key: Arc<str>,
    /// The key's text when it fits (its first `key.len()` bytes), so a
    /// lookup does not read `key`'s allocation.
    inline: [u8; INLINE],
    /// The deadline its live entry in the heap was pushed with.
    pub(crate) queued: i64,
    pub(crate) group: G,
}

impl<G> Slot<G> {
    fn matches(&self, key: &str) -> bool {
        if key.len() <= INLINE {
            self.key.len() == key.len() && self.inline[..key.len()] == *key.as_bytes()
        } else {
            *self.key == *key
        }
    }
}

/// The groups of one rule.
#[derive(Debug, Clone)]
pub(crate) struct Groups<G> {
    /// Seeded per process: keys come from producers' fields, so a fixed
    /// seed would let one flood a bucket. Nothing depends on the order.
    hasher: RandomState,
    table: HashTable<Slot<G>>,
}

impl<G> Default for Groups<G> {
    fn default() -> Self {
        Self {
            hasher: RandomState::default(),
            table: HashTable::new(),
        }
    }
}

impl<G> Groups<G> {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of the group under `key` (good until the next insertion).
    pub(crate) fn find(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let at = self.table.find_bucket_index(hash, |s| s.matches(key))?;
        Some(u32::try_from(at).expect("groups are capped far below 2^32"))
    }

    /// A new group (none is under `key`), with the deadline its heap entry
    /// is pushed with; its slot (good until the next insertion).
    pub(crate) fn insert(&mut self, key: Arc<str>, queued: i64, group: G) -> u32 {
        let hash = self.hasher.hash_one(&*key);
        let mut inline = [0u8; INLINE];
        if key.len() <= INLINE {
            inline[..key.len()].copy_from_slice(key.as_bytes());
        }
        let slot = Slot {
            key,
            inline,
            queued,
            group,
        };
        // Growing the table hashes every key again (from its shared text):
        // rare, and the price of 8 bytes less in every slot.
        let hasher = &self.hasher;
        let at = self
            .table
            .insert_unique(hash, slot, |s| hasher.hash_one(&*s.key))
            .bucket_index();
        u32::try_from(at).expect("groups are capped far below 2^32")
    }

    /// Take the group out of slot `at`.
    pub(crate) fn remove(&mut self, at: u32) -> Option<Slot<G>> {
        let entry = self.table.get_bucket_entry(at as usize).ok()?;
        Some(entry.remove().0)
    }

    pub(crate) fn get(&self, at: u32) -> Option<&Slot<G>> {
        self.table.get_bucket(at as usize)
    }

    pub(crate) fn get_mut(&mut self, at: u32) -> Option<&mut Slot<G>> {
        self.table.get_bucket_mut(at as usize)
    }

    /// Every live slot.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot<G>> {
        self.table.iter()
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_found_by_key_short_or_long() {
        let mut g: Groups<u8> = Groups::default();
        let long = "x".repeat(INLINE + 5);
        g.insert("3:abc".into(), 0, 1);
        g.insert(long.as_str().into(), 0, 2);
        let a = g.find("3:abc").expect("inserted");
        let b = g.find(&long).expect("inserted");
        assert_eq!(g.get(a).map(|s| s.group), Some(1));
        assert_eq!(g.get(b).map(|s| s.group), Some(2));
        assert_eq!(g.find("3:abd"), None);
        assert_eq!(g.find(&long[1..]), None);
        assert_eq!(g.remove(a).map(|s| s.group), Some(1));
        assert_eq!(g.find("3:abc"), None);
        assert_eq!(g.len(), 1);
        let c = g.insert("1:z".into(), 0, 3);
        assert_eq!(g.get(c).map(|s| s.group), Some(3));
        if let Some(s) = g.get_mut(c) {
            s.group = 4;
        }
        assert_eq!(
            g.find("1:z").and_then(|at| g.get(at)).map(|s| s.group),
            Some(4)
        );
        assert_eq!(g.iter().count(), 2);
    }
}
