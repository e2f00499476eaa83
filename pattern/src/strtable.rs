//! [`StrTable`]: a frozen, open-addressed map from strings to spans of `u32`s, laid out
//! for lookups that miss the cache. Each slot (48 bytes) holds a key's hash tag, length,
//! first 24 bytes (zero-padded) and value span; the rest of longer keys sits in one byte
//! arena and all values in one `u32` arena. A probe hashes the key once, word by word,
//! and compares tag, length and head words inside the slot: most hits read one cache
//! line of the table and one of the values. `FxHashMap<String, Vec<u32>>` needs three
//! dependent heap reads for a hit (control bytes, the key's own allocation, the `Vec`'s)
//! and a `memcmp` call per candidate.

/// One occupied (or empty, `len == EMPTY`) slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The key hash's high half (the low half picks the slot).
    tag: u32,
    len: u32,
    /// The key's first [`HEAD`] bytes, zero-padded: for most keys the whole comparison
    /// happens in the slot's own cache line.
    head: [u64; HEAD / 8],
    /// Where the bytes after the head are in the key arena.
    tail_at: u32,
    vals_at: u32,
    vals_len: u32,
}

const EMPTY: u32 = u32::MAX;
const HEAD: usize = 24;

/// A string-keyed table of `u32` lists, built once from `(key, values)` pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrTable {
    slots: Box<[Slot]>,
    tails: Box<[u8]>,
    vals: Box<[u32]>,
    /// Bit `min(len, 63)` set per key byte length: most probes of a length no key has
    /// stop here, before hashing.
    len_mask: u64,
}

/// A key read once: its hash and its zero-padded head words.
struct Probe {
    hash: u64,
    head: [u64; HEAD / 8],
}

impl Probe {
    /// Hashes `k` eight bytes at a time (the Fx multiply-rotate step, then MurmurHash3's
    /// finalizer, since Fx alone leaves the slot-picking low bits blind to a key's last
    /// bytes) and keeps its first words for the comparison.
    #[inline]
    fn of(k: &[u8]) -> Probe {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut h = k.len() as u64;
        let mut head = [0u64; HEAD / 8];
        for (i, c) in k.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
            if i < head.len() {
                head[i] = w;
            }
            h = (h.rotate_left(5) ^ w).wrapping_mul(SEED);
        }
        if !k.len().is_multiple_of(8) {
            let w = last_word(k);
            let i = k.len() / 8;
            if i < head.len() {
                head[i] = w;
            }
            h = (h.rotate_left(5) ^ w).wrapping_mul(SEED);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        Probe {
            hash: h ^ (h >> 33),
            head,
        }
    }
}

/// The key's last `len % 8` bytes (not zero) as a little-endian word, zero-padded, with
/// at most three loads instead of a variable-length copy (`memcpy` call).
#[inline]
fn last_word(k: &[u8]) -> u64 {
    let n = k.len();
    let rest = n % 8;
    let word = |at: usize| u64::from_le_bytes(k[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u64::from(u32::from_le_bytes(k[at..at + 4].try_into().expect("4")));
    if n >= 8 {
        // The word ending at the key's end, shifted so its last `rest` bytes come first.
        word(n - 8) >> (8 * (8 - rest))
    } else if rest >= 4 {
        // Two overlapping halves; the overlap holds the same bytes in both.
        half(0) | half(n - 4) << (8 * (n - 4))
    } else {
        let byte = |i: usize| u64::from(k[i]) << (8 * i);
        byte(0) | byte(n / 2) | byte(n - 1)
    }
}

impl StrTable {
    /// A table of the given entries (keys distinct).
    pub(crate) fn build<'k>(entries: impl IntoIterator<Item = (&'k str, &'k [u32])>) -> StrTable {
        let entries: Vec<(&str, &[u32])> = entries.into_iter().collect();
        if entries.is_empty() {
            return StrTable::default();
        }
        let cap = (entries.len() * 2).next_power_of_two().max(4);
        let empty = Slot {
            tag: 0,
            len: EMPTY,
            head: [0; HEAD / 8],
            tail_at: 0,
            vals_at: 0,
            vals_len: 0,
        };
        let mut slots = vec![empty; cap];
        let mut tails = Vec::new();
        let mut vals = Vec::new();
        let mut len_mask = 0u64;
        for (k, vs) in entries {
            let Probe { hash, head } = Probe::of(k.as_bytes());
            let mut i = hash as usize & (cap - 1);
            while slots[i].len != EMPTY {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = Slot {
                tag: (hash >> 32) as u32,
                len: k.len() as u32,
                head,
                tail_at: tails.len() as u32,
                vals_at: vals.len() as u32,
                vals_len: vs.len() as u32,
            };
            tails.extend_from_slice(k.as_bytes().get(HEAD..).unwrap_or_default());
            vals.extend_from_slice(vs);
            len_mask |= 1u64 << k.len().min(63);
        }
        StrTable {
            slots: slots.into_boxed_slice(),
            tails: tails.into_boxed_slice(),
            vals: vals.into_boxed_slice(),
            len_mask,
        }
    }

    /// Whether the table has no entry.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The values stored under `k`.
    #[inline]
    pub(crate) fn get(&self, k: &[u8]) -> Option<&[u32]> {
        if self.len_mask & (1u64 << k.len().min(63)) == 0 {
            return None;
        }
        let Probe { hash, head } = Probe::of(k);
        let tail = k.get(HEAD..).unwrap_or_default();
        let hit = |s: &Slot| {
            s.len as usize == k.len()
                && s.head == head
                && (tail.is_empty() || {
                    let at = s.tail_at as usize;
                    self.tails[at..at + tail.len()] == *tail
                })
        };
        let values = |s: &Slot| {
            let v = s.vals_at as usize;
            &self.vals[v..v + s.vals_len as usize]
        };
        let mask = self.slots.len() - 1;
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.len == EMPTY {
                return None;
            }
            if s.tag == tag && hit(s) {
                return Some(values(s));
            }
            i = (i + 1) & mask;
        }
    }

    /// The single value under `k` (for tables whose lists have one element each).
    #[inline]
    pub(crate) fn get_one(&self, k: &[u8]) -> Option<u32> {
        self.get(k).and_then(|v| v.first().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::StrTable;

    /// Short keys, keys longer than the inline head, and keys equal in their head, in
    /// tables of several sizes.
    #[test]
    fn finds_every_key_and_nothing_else() {
        let long = "x".repeat(40);
        for count in [1u32, 3, 8, 9, 500] {
            let keys: Vec<String> = (0..count)
                .map(|i| match i % 3 {
                    0 => format!("k{i}"),
                    1 => format!("{long}{i}"),
                    _ => format!("{i}{long}"),
                })
                .collect();
            let vals: Vec<Vec<u32>> = (0..count).map(|i| vec![i, i + 1]).collect();
            let t = StrTable::build(
                keys.iter()
                    .map(String::as_str)
                    .zip(vals.iter().map(Vec::as_slice)),
            );
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(t.get(k.as_bytes()), Some(&[i as u32, i as u32 + 1][..]));
            }
            let misses = [
                String::new(),
                "k".into(),
                format!("k{count}"),
                "k-1".into(),
                "x0".into(),
                "k0\u{0}".into(),
                long.clone(),
                format!("{long}0"),
                format!("{long}{count}"),
                format!("{long}1").replace('x', "y"),
            ];
            for miss in &misses {
                assert_eq!(t.get(miss.as_bytes()), None, "{miss:?} in {count}");
            }
        }
        assert!(StrTable::build([]).get(b"k0").is_none());
        let empty_key = StrTable::build([("", &[7u32][..])]);
        assert_eq!(empty_key.get_one(b""), Some(7));
        assert_eq!(empty_key.get_one(b"a"), None);
    }

    #[test]
    fn last_word_pads_every_length() {
        let text: Vec<u8> = (1..=40).collect();
        for n in 1..=40 {
            let k = &text[..n];
            if n % 8 == 0 {
                continue;
            }
            let mut want = [0u8; 8];
            want[..n % 8].copy_from_slice(&k[n - n % 8..]);
            assert_eq!(super::last_word(k), u64::from_le_bytes(want), "length {n}");
        }
    }
}
