//! [`StrTable`]: a frozen, open-addressed map from strings to spans of `u32`s, laid out
//! for lookups that miss the cache. One slot array holds each key's hash, length,
//! position and value span, all keys sit in one byte arena and all values in one `u32`
//! arena; a probe reads one slot (a 20-byte record), compares the stored hash and length
//! before any byte, and only then the key bytes. `FxHashMap<String, Vec<u32>>` needs
//! three dependent heap reads for a hit (control bytes, the key's own allocation, the
//! `Vec`'s) and a `memcmp` call per candidate.

use crate::hash::FxHasher;
use std::hash::Hasher;

/// One occupied (or empty, `len == EMPTY`) slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The key hash's high half (the low half picks the slot).
    tag: u32,
    len: u32,
    key_at: u32,
    vals_at: u32,
    vals_len: u32,
}

const EMPTY: u32 = u32::MAX;

/// A string-keyed table of `u32` lists, built once from `(key, values)` pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    slots: Box<[Slot]>,
    keys: Box<[u8]>,
    vals: Box<[u32]>,
    /// Bit `min(len, 63)` set per key byte length: most probes of a length no key has
    /// stop here, before hashing.
    len_mask: u64,
}

/// The hash both insertion and lookup use.
#[inline]
pub(crate) fn hash_str(s: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(s);
    // Fx's last multiply leaves the low bits (which pick the slot) depending only on
    // the low bits of the last word: a key's last bytes would not spread. MurmurHash3's
    // finalizer mixes every bit into every other.
    let mut v = h.finish();
    v ^= v >> 33;
    v = v.wrapping_mul(0xff51_afd7_ed55_8ccd);
    v ^= v >> 33;
    v = v.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    v ^ (v >> 33)
}

impl StrTable {
    /// A table of the given entries (keys distinct).
    pub fn build<'k>(entries: impl IntoIterator<Item = (&'k str, &'k [u32])>) -> StrTable {
        let entries: Vec<(&str, &[u32])> = entries.into_iter().collect();
        if entries.is_empty() {
            return StrTable::default();
        }
        let cap = (entries.len() * 2).next_power_of_two().max(4);
        let empty = Slot {
            tag: 0,
            len: EMPTY,
            key_at: 0,
            vals_at: 0,
            vals_len: 0,
        };
        let mut slots = vec![empty; cap];
        let mut keys = Vec::new();
        let mut vals = Vec::new();
        let mut len_mask = 0u64;
        for (k, vs) in entries {
            let h = hash_str(k.as_bytes());
            let mut i = (h as usize) & (cap - 1);
            while slots[i].len != EMPTY {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = Slot {
                tag: (h >> 32) as u32,
                len: k.len() as u32,
                key_at: keys.len() as u32,
                vals_at: vals.len() as u32,
                vals_len: vs.len() as u32,
            };
            keys.extend_from_slice(k.as_bytes());
            vals.extend_from_slice(vs);
            len_mask |= 1u64 << k.len().min(63);
        }
        StrTable {
            slots: slots.into_boxed_slice(),
            keys: keys.into_boxed_slice(),
            vals: vals.into_boxed_slice(),
            len_mask,
        }
    }

    /// Whether the table has no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The values stored under `k`.
    #[inline]
    pub fn get(&self, k: &[u8]) -> Option<&[u32]> {
        if self.len_mask & (1u64 << k.len().min(63)) == 0 {
            return None;
        }
        let h = hash_str(k);
        let mask = self.slots.len() - 1;
        let tag = (h >> 32) as u32;
        let mut i = (h as usize) & mask;
        loop {
            let s = self.slots[i];
            if s.len == EMPTY {
                return None;
            }
            if s.tag == tag && s.len as usize == k.len() {
                let at = s.key_at as usize;
                if &self.keys[at..at + k.len()] == k {
                    let v = s.vals_at as usize;
                    return Some(&self.vals[v..v + s.vals_len as usize]);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The single value under `k` (for tables whose lists have one element each).
    #[inline]
    pub fn get_one(&self, k: &[u8]) -> Option<u32> {
        self.get(k).and_then(|v| v.first().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::StrTable;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let vals: Vec<Vec<u32>> = (0..500u32).map(|i| vec![i, i + 1]).collect();
        let t = StrTable::build(
            keys.iter()
                .map(String::as_str)
                .zip(vals.iter().map(Vec::as_slice)),
        );
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k.as_bytes()), Some(&[i as u32, i as u32 + 1][..]));
        }
        for miss in ["", "k", "k500", "k-1", "x0", "k0\u{0}"] {
            assert_eq!(t.get(miss.as_bytes()), None, "{miss:?}");
        }
        assert!(StrTable::build([]).get(b"k0").is_none());
        let empty_key = StrTable::build([("", &[7u32][..])]);
        assert_eq!(empty_key.get_one(b""), Some(7));
        assert_eq!(empty_key.get_one(b"a"), None);
    }
}
