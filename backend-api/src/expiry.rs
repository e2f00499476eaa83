//! Retention's side of the stores: which records one chunk of a retention
//! pass may remove, and the trait a store that can remove them implements.
//!
//! The host decides the rules (`[retention]` in `trailmark.toml`) and the
//! legal holds; a store only removes what an [`Expiry`] describes, a chunk at
//! a time, each chunk one short transaction, so ingest never waits long on
//! it. A store that cannot (DynamoDB, S3: their own TTL and lifecycle rules
//! do this there) answers `None` from `expiring()`.
//!
//! ```
//! use trailmark_backend_api::{Expiry, Held, Scope};
//! let payments = Scope { source: Some("com.acme.payments".into()), entity_type: None };
//! let expiry = Expiry {
//!     scope: &Scope::default(),          // the default rule: every record ...
//!     except: std::slice::from_ref(&payments), // ... but those an override decides
//!     before_ms: 1_700_000_000_000,
//!     holds: &[Held { entity_type: "invoice".into(), entity_id: None }],
//!     limit: 2000,
//! };
//! assert!(expiry.covers("com.acme.shop", "order", "o-1", 1_600_000_000_000));
//! assert!(!expiry.covers("com.acme.payments", "order", "o-1", 1_600_000_000_000));
//! assert!(!expiry.covers("com.acme.shop", "invoice", "i-1", 1_600_000_000_000));
//! assert!(!expiry.covers("com.acme.shop", "order", "o-1", 1_700_000_000_000));
//! ```

use crate::BackendResult;

/// Which records a retention rule is about: those of this source and this
/// entity type; `None` is any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The event source, exactly; `None`: any source.
    pub source: Option<String>,
    /// The entity type, exactly; `None`: any type.
    pub entity_type: Option<String>,
}

impl Scope {
    /// Whether a record of `source` and `entity_type` is in this scope.
    pub fn contains(&self, source: &str, entity_type: &str) -> bool {
        self.source.as_deref().is_none_or(|s| s == source)
            && self.entity_type.as_deref().is_none_or(|t| t == entity_type)
    }
}

/// A legal hold: the records and bodies of this entity type (and this
/// entity id, when given), whatever their source, are not removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The entity type.
    pub entity_type: String,
    /// One entity of the type; `None`: every entity of the type.
    pub entity_id: Option<String>,
}

impl Held {
    /// Whether this hold covers the entity.
    pub fn covers(&self, entity_type: &str, entity_id: &str) -> bool {
        self.entity_type == entity_type && self.entity_id.as_deref().is_none_or(|i| i == entity_id)
    }
}

/// What one chunk of a retention pass removes: records in `scope`, in none
/// of `except` (earlier rules decide those), older than `before_ms` (a
/// record whose time is exactly `before_ms` is kept), not held, at most
/// `limit` of them (the oldest first).
#[derive(Debug, Clone, Copy)]
pub struct Expiry<'a> {
    /// The rule's scope.
    pub scope: &'a Scope,
    /// Scopes of the rules before it: their records are not this rule's.
    pub except: &'a [Scope],
    /// Records with a time (epoch ms) before this are removed.
    pub before_ms: i64,
    /// Legal holds: what they cover is kept.
    pub holds: &'a [Held],
    /// Most records removed by this call.
    pub limit: usize,
}

impl Expiry<'_> {
    /// Whether a record with these fields is one this expiry removes (the
    /// limit aside): what a store's query must select.
    pub fn covers(&self, source: &str, entity_type: &str, entity_id: &str, ts: i64) -> bool {
        ts < self.before_ms
            && self.scope.contains(source, entity_type)
            && !self.except.iter().any(|s| s.contains(source, entity_type))
            && !self.holds.iter().any(|h| h.covers(entity_type, entity_id))
    }
}

/// A store that retention can remove records from.
pub trait Expiring: Send + Sync {
    /// Remove at most `expiry.limit` of the records `expiry` covers, in one
    /// short transaction, and say how many were removed. Fewer than the
    /// limit means none are left (for now).
    fn expire(&self, expiry: &Expiry<'_>) -> BackendResult<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_at_the_cutoff_is_kept_and_one_ms_before_it_is_removed() {
        let all = Scope::default();
        let e = Expiry {
            scope: &all,
            except: &[],
            before_ms: 1_000,
            holds: &[],
            limit: 10,
        };
        assert!(!e.covers("s", "t", "i", 1_000));
        assert!(e.covers("s", "t", "i", 999));
    }

    #[test]
    fn a_hold_on_one_entity_keeps_only_that_entity() {
        let all = Scope::default();
        let holds = [Held {
            entity_type: "t".into(),
            entity_id: Some("kept".into()),
        }];
        let e = Expiry {
            scope: &all,
            except: &[],
            before_ms: 1_000,
            holds: &holds,
            limit: 10,
        };
        assert!(!e.covers("s", "t", "kept", 1));
        assert!(e.covers("s", "t", "other", 1));
        assert!(e.covers("s", "u", "kept", 1));
    }
}
