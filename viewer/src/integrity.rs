//! Whether a journal record is still intact and signed: covered by a signed
//! checkpoint, pending until the next one, or broken (its hash or its link
//! to the previous record does not recompute).

/// A signed checkpoint of the journal head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// The last record it covers.
    pub seq: u64,
    /// When it was signed, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// A record's standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// Its hash or chain link does not recompute: the journal was altered.
    Broken(String),
    /// Intact and covered by this signed checkpoint.
    Covered(Checkpointed),
    /// Intact, written after the last checkpoint (if any): the next one will
    /// cover it.
    Pending(Option<Checkpointed>),
}

/// The standing of record `seq`, given the outcome of recomputing its hash
/// and link (`chain`) and the last signed checkpoint.
pub fn integrity(seq: u64, chain: &Result<(), String>, last: Option<Checkpointed>) -> Integrity {
    match (chain, last) {
        (Err(why), _) => Integrity::Broken(why.clone()),
        (Ok(()), Some(c)) if c.seq >= seq => Integrity::Covered(c),
        (Ok(()), last) => Integrity::Pending(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_pending_or_broken() {
        let c = Checkpointed {
            seq: 10,
            time_ms: 5,
        };
        assert_eq!(integrity(10, &Ok(()), Some(c)), Integrity::Covered(c));
        assert_eq!(integrity(11, &Ok(()), Some(c)), Integrity::Pending(Some(c)));
        assert_eq!(integrity(1, &Ok(()), None), Integrity::Pending(None));
        let broken = integrity(3, &Err("hash differs".into()), Some(c));
        assert_eq!(broken, Integrity::Broken("hash differs".into()));
    }
}
