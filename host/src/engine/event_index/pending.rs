//! Entries accepted and not yet in a run: what lookups consult first.

use std::collections::HashMap;

use super::IdHash;

/// One sequence per hash, the latest, and the rare entries a colliding
/// hash displaced.
#[derive(Debug, Default)]
pub(super) struct Pending {
    latest: HashMap<IdHash, u64>,
    displaced: Vec<(IdHash, u64)>,
}

impl Pending {
    pub(super) fn len(&self) -> usize {
        self.latest.len() + self.displaced.len()
    }

    pub(super) fn insert(&mut self, hash: IdHash, seq: u64) {
        if let Some(old) = self.latest.insert(hash, seq)
            && old != seq
        {
            self.displaced.push((hash, old.min(seq)));
            self.latest.insert(hash, old.max(seq));
        }
    }

    pub(super) fn remove(&mut self, hash: IdHash, seq: u64) {
        if self.latest.get(&hash) == Some(&seq) {
            self.latest.remove(&hash);
        }
        if !self.displaced.is_empty() {
            self.displaced.retain(|&entry| entry != (hash, seq));
        }
    }

    pub(super) fn retain_from(&mut self, first: u64) {
        self.latest.retain(|_, seq| *seq >= first);
        self.displaced.retain(|(_, seq)| *seq >= first);
    }

    pub(super) fn seqs(&self, hash: IdHash) -> impl Iterator<Item = u64> + '_ {
        let displaced = self.displaced.iter().filter(move |(h, _)| *h == hash);
        self.latest
            .get(&hash)
            .copied()
            .into_iter()
            .chain(displaced.map(|&(_, seq)| seq))
    }
}
