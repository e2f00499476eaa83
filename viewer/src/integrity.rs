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

/// One signed checkpoint, as the checkpoints page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The last record it covers.
    pub seq: u64,
    /// When it was signed, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The chain hash of record `seq`, hex.
    pub hash: String,
    /// The id of the signing key.
    pub key_id: String,
}

/// What the host says about its checkpoints, for the checkpoints page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    /// The newest checkpoints, newest first (a bounded tail of the log).
    pub recent: Vec<SignedCheckpoint>,
    /// The journal's durable head: the last record written.
    pub head_seq: u64,
    /// How often the host signs the head, in milliseconds.
    pub interval_ms: i64,
    /// The command that copies the checkpoints and the public key out of
    /// the host's reach.
    pub export_command: String,
    /// The command that verifies the journal against such a copy.
    pub verify_exported_command: String,
}

/// Whether the journal head is signed, and how long it has waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStanding {
    /// Nothing written yet.
    Empty,
    /// The last checkpoint covers the head.
    Signed,
    /// Records written since the last checkpoint, within the allowance.
    Pending {
        /// Records not yet covered.
        records: u64,
    },
    /// Records have waited longer than the allowance ([`OVERDUE_INTERVALS`]
    /// intervals) since the last checkpoint, or none was ever signed.
    Overdue {
        /// Records not yet covered.
        records: u64,
        /// How long since the last checkpoint, when there is one.
        since_ms: Option<i64>,
    },
}

/// Intervals the head may go unsigned before the page warns: one interval
/// is normal, a second gives the signer room on a busy host.
pub const OVERDUE_INTERVALS: i64 = 2;

/// The standing of the head `head_seq` given the last checkpoint, how
/// often the host signs, and now.
pub fn head_standing(
    head_seq: u64,
    last: Option<&SignedCheckpoint>,
    interval_ms: i64,
    now_ms: i64,
) -> HeadStanding {
    match last {
        _ if head_seq == 0 => HeadStanding::Empty,
        None => HeadStanding::Overdue {
            records: head_seq,
            since_ms: None,
        },
        Some(c) if c.seq >= head_seq => HeadStanding::Signed,
        Some(c) => {
            let records = head_seq - c.seq;
            let since = now_ms.saturating_sub(c.time_ms);
            if since > interval_ms.saturating_mul(OVERDUE_INTERVALS) {
                HeadStanding::Overdue {
                    records,
                    since_ms: Some(since),
                }
            } else {
                HeadStanding::Pending { records }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_overdue_after_two_intervals_unsigned() {
        let c = SignedCheckpoint {
            seq: 10,
            time_ms: 1_000,
            hash: "ab".into(),
            key_id: "k".into(),
        };
        let minute = 60_000;
        assert_eq!(head_standing(0, None, minute, 5_000), HeadStanding::Empty);
        assert_eq!(
            head_standing(10, Some(&c), minute, 1_000_000),
            HeadStanding::Signed,
            "nothing new: signed however old"
        );
        assert_eq!(
            head_standing(13, Some(&c), minute, 1_000 + 2 * minute),
            HeadStanding::Pending { records: 3 }
        );
        assert_eq!(
            head_standing(13, Some(&c), minute, 1_001 + 2 * minute),
            HeadStanding::Overdue {
                records: 3,
                since_ms: Some(2 * minute + 1)
            }
        );
        assert_eq!(
            head_standing(4, None, minute, 0),
            HeadStanding::Overdue {
                records: 4,
                since_ms: None
            }
        );
    }

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
