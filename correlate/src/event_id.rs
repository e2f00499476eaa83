//! An event id as the windows keep it: 24 bytes, with no allocation for the
//! ids the host makes.
//!
//! Windows keep the ids of their recent events to name them in a fire, so
//! an id's size is most of a window's memory: at 100k groups every event
//! touches its window's buffer out of cache, and the smaller the entries
//! the fewer lines and pages that buffer spans. The host's event ids are
//! UUIDs in their canonical text (36 bytes) and fire ids are 32 hex digits:
//! both are kept as their 16 bytes and written back as the same text. Other
//! ids up to 22 bytes are kept inline; longer ones are shared.
//!
//! Which form an id takes is a function of its text, so two ids are equal
//! exactly when their forms are; they order as their texts do.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest id kept inline as text.
const SHORT: usize = 22;

/// Longest text a packed form stands for (a UUID).
const PACKED_TEXT: usize = 36;

/// Where a canonical UUID has its hyphens.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Longest text [`EventId::pack`] packs (as itself, its length the kind).
const PACKED_SHORT: usize = 16;

/// The kind byte of a packed UUID.
const PACKED_UUID: u8 = 17;

/// The kind byte of a packed fire id.
const PACKED_HEX: u8 = 18;

/// An event id.
#[derive(Clone)]
pub(crate) enum EventId {
    /// Text of up to [`SHORT`] bytes.
    Short { len: u8, bytes: [u8; SHORT] },
    /// A UUID, lowercase and hyphenated (`8-4-4-4-12`), as its 16 bytes.
    Uuid([u8; 16]),
    /// 32 lowercase hex digits (a fire id), as their 16 bytes.
    Hex([u8; 16]),
    /// Any other text.
    Shared(Arc<str>),
}

/// The value of a lowercase hex digit.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// 32 lowercase hex digits as 16 bytes.
fn unhex(digits: impl Iterator<Item = u8>) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut n = 0;
    for c in digits {
        let v = nibble(c)?;
        let byte = out.get_mut(n / 2)?;
        *byte = if n % 2 == 0 { v << 4 } else { *byte | v };
        n += 1;
    }
    (n == 32).then_some(out)
}

fn uuid(text: &[u8]) -> Option<[u8; 16]> {
    if text.len() != PACKED_TEXT || HYPHENS.iter().any(|&i| text[i] != b'-') {
        return None;
    }
    unhex(
        text.iter()
            .enumerate()
            .filter(|(i, _)| !HYPHENS.contains(i))
            .map(|(_, &c)| c),
    )
}

/// The text of 16 packed bytes, hyphenated as a UUID or not.
fn write_hex(bytes: &[u8; 16], hyphens: bool, out: &mut [u8; PACKED_TEXT]) -> usize {
    let mut n = 0;
    for (i, b) in bytes.iter().enumerate() {
        if hyphens && matches!(i, 4 | 6 | 8 | 10) {
            out[n] = b'-';
            n += 1;
        }
        out[n] = HEX[usize::from(b >> 4)];
        out[n + 1] = HEX[usize::from(b & 0xf)];
        n += 2;
    }
    n
}

impl EventId {
    pub(crate) fn new(id: &str) -> Self {
        let text = id.as_bytes();
        if text.len() <= SHORT {
            let mut bytes = [0u8; SHORT];
            bytes[..text.len()].copy_from_slice(text);
            return EventId::Short {
                len: text.len() as u8,
                bytes,
            };
        }
        if let Some(bytes) = uuid(text) {
            return EventId::Uuid(bytes);
        }
        if text.len() == 32
            && let Some(bytes) = unhex(text.iter().copied())
        {
            return EventId::Hex(bytes);
        }
        EventId::Shared(id.into())
    }

    /// The id as a kind byte and 16 bytes, when it fits in them: a UUID,
    /// a fire id, or a text of up to 16 bytes (the host's ids are UUIDs).
    pub(crate) fn pack(&self) -> Option<(u8, [u8; 16])> {
        match self {
            EventId::Short { len, bytes } if usize::from(*len) <= PACKED_SHORT => {
                let mut packed = [0u8; 16];
                packed.copy_from_slice(&bytes[..PACKED_SHORT]);
                Some((*len, packed))
            }
            EventId::Uuid(bytes) => Some((PACKED_UUID, *bytes)),
            EventId::Hex(bytes) => Some((PACKED_HEX, *bytes)),
            _ => None,
        }
    }

    /// The id [`EventId::pack`] made `(kind, bytes)` of; `None` for a kind
    /// it never makes.
    pub(crate) fn unpack(kind: u8, packed: [u8; 16]) -> Option<Self> {
        match kind {
            PACKED_UUID => Some(EventId::Uuid(packed)),
            PACKED_HEX => Some(EventId::Hex(packed)),
            len if usize::from(len) <= PACKED_SHORT => {
                let mut bytes = [0u8; SHORT];
                bytes[..PACKED_SHORT].copy_from_slice(&packed);
                Some(EventId::Short { len, bytes })
            }
            _ => None,
        }
    }

    /// Call `f` with the id's text.
    pub(crate) fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        let mut buf = [0u8; PACKED_TEXT];
        let text: &[u8] = match self {
            EventId::Short { len, bytes } => &bytes[..usize::from(*len)],
            EventId::Uuid(bytes) => {
                let n = write_hex(bytes, true, &mut buf);
                &buf[..n]
            }
            EventId::Hex(bytes) => {
                let n = write_hex(bytes, false, &mut buf);
                &buf[..n]
            }
            EventId::Shared(id) => return f(id),
        };
        // Copied from a `&str` whole, or hex digits: always UTF-8.
        f(std::str::from_utf8(text).unwrap_or_default())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

impl PartialEq for EventId {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EventId::Short { len: a, bytes: x }, EventId::Short { len: b, bytes: y }) => {
                a == b && x == y
            }
            (EventId::Uuid(a), EventId::Uuid(b)) | (EventId::Hex(a), EventId::Hex(b)) => a == b,
            (EventId::Shared(a), EventId::Shared(b)) => a == b,
            // The form is a function of the text.
            _ => false,
        }
    }
}

impl Eq for EventId {}

impl Ord for EventId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (EventId::Short { len: a, bytes: x }, EventId::Short { len: b, bytes: y }) => {
                x[..usize::from(*a)].cmp(&y[..usize::from(*b)])
            }
            // Hex digits order as the nibbles they stand for, and a UUID's
            // hyphens are at the same places in both texts.
            (EventId::Uuid(a), EventId::Uuid(b)) | (EventId::Hex(a), EventId::Hex(b)) => a.cmp(b),
            _ => self.with_str(|a| other.with_str(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|s| fmt::Debug::fmt(s, f))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_str(|text| s.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(EventId::new(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_every_form_read_back_and_order_as_text() {
        let uuid = "0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c4b5a";
        let fire = "00ff3c8e2f9a4c3e9a578f1d2e3c4b5a";
        let upper = "0B6F3C8E-2F9A-4C3E-9A57-8F1D2E3C4B5A";
        let long = "x".repeat(SHORT + 1);
        let ids = [
            uuid,
            fire,
            upper,
            "",
            "é",
            "ev12",
            long.as_str(),
            "0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c4b5",
            "0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c4b5a0",
            "0b6f3c8e22f9a-4c3e-9a57-8f1d2e3c4b5a",
            "00ff3c8e2f9a4c3e9a578f1d2e3c4b5g",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "00000000000000000000000000000000",
        ];
        for id in ids {
            assert_eq!(EventId::new(id).to_string(), id);
        }
        assert!(matches!(EventId::new(uuid), EventId::Uuid(_)));
        assert!(matches!(EventId::new(fire), EventId::Hex(_)));
        assert!(matches!(EventId::new(upper), EventId::Shared(_)));
        assert!(matches!(EventId::new("ev12"), EventId::Short { .. }));
        assert!(matches!(EventId::new(&long), EventId::Shared(_)));
        for a in ids {
            for b in ids {
                assert_eq!(EventId::new(a).cmp(&EventId::new(b)), a.cmp(b), "{a} {b}");
                assert_eq!(EventId::new(a) == EventId::new(b), a == b, "{a} {b}");
            }
        }
        assert_eq!(std::mem::size_of::<EventId>(), 24);
    }

    #[test]
    fn ids_that_pack_unpack_to_themselves_and_the_rest_do_not_pack() {
        let sixteen = "x".repeat(PACKED_SHORT);
        let seventeen = "x".repeat(PACKED_SHORT + 1);
        for id in [
            "0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c4b5a",
            "00ff3c8e2f9a4c3e9a578f1d2e3c4b5a",
            "",
            "ev12",
            sixteen.as_str(),
        ] {
            let id = EventId::new(id);
            let (kind, packed) = id.pack().expect("packs");
            assert_eq!(EventId::unpack(kind, packed), Some(id));
        }
        for id in [seventeen.as_str(), "0B6F3C8E-2F9A-4C3E-9A57-8F1D2E3C4B5A"] {
            assert_eq!(EventId::new(id).pack(), None, "{id}");
        }
        assert_eq!(EventId::unpack(19, [0; 16]), None);
    }
}
