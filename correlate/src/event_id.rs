//! An event id as the windows keep it: inline when it is short (the host's
//! UUIDs, fire ids), shared otherwise.
//!
//! Windows keep the ids of their recent events to name them in a fire. A
//! heap copy per id was one allocation per event, and one more cache miss
//! per event when a window let the id go (freeing, or dropping a shared
//! count, reads the allocation). Inline, an id is copied with its window
//! entry and let go for nothing.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest id kept inline: a UUID is 36 bytes, a fire id 32.
const INLINE: usize = 46;

/// An event id.
#[derive(Clone)]
pub(crate) enum EventId {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl EventId {
    pub(crate) fn new(id: &str) -> Self {
        if id.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            EventId::Inline {
                len: id.len() as u8,
                bytes,
            }
        } else {
            EventId::Shared(id.into())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always UTF-8.
            EventId::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            EventId::Shared(id) => id,
        }
    }
}

impl PartialEq for EventId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EventId {}

impl Ord for EventId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for EventId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
    fn ids_short_or_long_read_back_and_order_as_text() {
        let uuid = "0b6f3c8e-2f9a-4c3e-9a57-8f1d2e3c4b5a";
        let long = "x".repeat(INLINE + 1);
        for id in [uuid, "", "é", long.as_str()] {
            assert_eq!(EventId::new(id).as_str(), id);
        }
        assert!(matches!(EventId::new(uuid), EventId::Inline { .. }));
        assert!(matches!(EventId::new(&long), EventId::Shared(_)));
        assert!(EventId::new("a") < EventId::new(&long));
        assert!(EventId::new("y") > EventId::new(&long));
        assert_eq!(EventId::new("b"), EventId::new("b"));
    }
}
