//! A rule's live groups: a slab of slots, found by key through a hash
//! table of slot numbers.
//!
//! At 100k groups nearly every event's group is out of the CPU caches, so
//! what an event costs is mostly how many separate places in memory it
//! touches. A `HashMap<Arc<str>, _>` touches the table, then the key's own
//! allocation to compare it, then the group. Here the table holds only a
//! slot number; the slot holds the key's hash and, for a key of up to
//! [`INLINE`] bytes, a copy of its text, beside the group itself: finding a
//! group and reading it touch the table and one slot. A group is updated in
//! its slot, never moved, so the table has no tombstones to rehash away.

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
    hash: u64,
    /// The key's text when it fits (`inline_len` bytes), so a lookup does
    /// not read `key`'s allocation.
    inline: [u8; INLINE],
    inline_len: u8,
    /// The deadline its live entry in the heap was pushed with.
    pub(crate) queued: i64,
    pub(crate) group: G,
}

impl<G> Slot<G> {
    fn matches(&self, hash: u64, key: &str) -> bool {
        if self.hash != hash {
            return false;
        }
        if key.len() <= INLINE {
            usize::from(self.inline_len) == key.len() && self.inline[..key.len()] == *key.as_bytes()
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
    table: HashTable<u32>,
    slots: Vec<Option<Slot<G>>>,
    free: Vec<u32>,
}

impl<G> Default for Groups<G> {
    fn default() -> Self {
        Self {
            hasher: RandomState::default(),
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<G> Groups<G> {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of the group under `key`.
    pub(crate) fn find(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.table
            .find(hash, |&at| {
                slots[at as usize]
                    .as_ref()
                    .is_some_and(|s| s.matches(hash, key))
            })
            .copied()
    }

    /// A new group (none is under `key`), with the deadline its heap entry
    /// is pushed with.
    pub(crate) fn insert(&mut self, key: Arc<str>, queued: i64, group: G) -> u32 {
        let hash = self.hasher.hash_one(&*key);
        let mut inline = [0u8; INLINE];
        let inline_len = if key.len() <= INLINE {
            inline[..key.len()].copy_from_slice(key.as_bytes());
            key.len() as u8
        } else {
            0
        };
        let slot = Slot {
            key,
            hash,
            inline,
            inline_len,
            queued,
            group,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).expect("groups are capped far below 2^32")
            }
        };
        let slots = &self.slots;
        self.table.insert_unique(hash, at, |&i| {
            slots[i as usize].as_ref().map_or(0, |s| s.hash)
        });
        at
    }

    /// Take the group out of slot `at`.
    pub(crate) fn remove(&mut self, at: u32) -> Option<Slot<G>> {
        let slot = self.slots.get_mut(at as usize)?.take()?;
        if let Ok(entry) = self.table.find_entry(slot.hash, |&i| i == at) {
            entry.remove();
        }
        self.free.push(at);
        Some(slot)
    }

    pub(crate) fn get(&self, at: u32) -> Option<&Slot<G>> {
        self.slots.get(at as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, at: u32) -> Option<&mut Slot<G>> {
        self.slots.get_mut(at as usize)?.as_mut()
    }

    /// Every live slot and its number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Slot<G>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i as u32, s.as_ref()?)))
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.slots.clear();
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_found_by_key_short_or_long_and_slots_are_reused() {
        let mut g: Groups<u8> = Groups::default();
        let long = "x".repeat(INLINE + 5);
        let a = g.insert("3:abc".into(), 0, 1);
        let b = g.insert(long.as_str().into(), 0, 2);
        assert_eq!(g.find("3:abc"), Some(a));
        assert_eq!(g.find(&long), Some(b));
        assert_eq!(g.find("3:abd"), None);
        assert_eq!(g.find(&long[1..]), None);
        assert_eq!(g.remove(a).map(|s| s.group), Some(1));
        assert_eq!(g.find("3:abc"), None);
        assert_eq!(g.len(), 1);
        let c = g.insert("1:z".into(), 0, 3);
        assert_eq!(c, a, "a freed slot is used again");
        assert_eq!(g.get(c).map(|s| s.group), Some(3));
    }
}
