//! What a lane owes beyond its in-memory queue.
//!
//! A lane holds at most its capacity of deliveries in memory. Past that it
//! does not keep the events: it keeps where they are in the journal ("behind
//! from seq N") and, once it has room again, reads its owed deliveries back
//! in journal order through a [`ReadBack`] source (the journal, in the
//! server). The state here is a few integers per lane, plus, right after a
//! start, the positions recovery found owed (16 bytes each).

use std::collections::VecDeque;

use super::Delivery;

/// Reads owed deliveries back from where they are durable (the journal, in
/// the server). Called on a blocking thread, never on the async threads.
pub trait ReadBack: Send + Sync + 'static {
    /// Read what `request` names for `rule`.
    fn read(&self, rule: &str, request: &ReadRequest) -> Result<ReadChunk, String>;
}

/// One read-back a lane asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRequest {
    /// Deliveries that recovery found owed at start: `(seq, accepted_ms)`,
    /// oldest first. The source reads each event at its seq.
    Recovered(Vec<(u64, i64)>),
    /// Up to `limit` owed deliveries among the event records at journal
    /// positions `from..=through`, in journal order.
    Spilled {
        /// First position to read.
        from: u64,
        /// Last position spilled.
        through: u64,
        /// Most deliveries to return.
        limit: usize,
    },
}

/// What a read-back found.
#[derive(Debug, Default)]
pub struct ReadChunk {
    /// The owed deliveries, in journal order.
    pub deliveries: Vec<Delivery>,
    /// For [`ReadRequest::Spilled`]: the position after the last record read
    /// (the next read starts there).
    pub next: u64,
    /// For [`ReadRequest::Spilled`]: event records read that listed the rule
    /// (owed or, rarely, already finished by a replayed copy).
    pub listed: u64,
}

/// A lane's owed deliveries that are not in memory, in journal order: first
/// those recovery found at start, then one spilled range.
#[derive(Debug, Default)]
pub(crate) struct Behind {
    recovered: VecDeque<(u64, i64)>,
    spill: Option<Spill>,
}

/// Journal positions `from..=through` hold deliveries of this lane that are
/// owed and not in memory (`count` of them, for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spill {
    from: u64,
    through: u64,
    count: u64,
}

impl Behind {
    /// Nothing owed outside memory.
    pub(crate) fn is_empty(&self) -> bool {
        self.recovered.is_empty() && self.spill.is_none()
    }

    /// Deliveries owed outside memory.
    pub(crate) fn count(&self) -> u64 {
        self.recovered.len() as u64 + self.spill.map_or(0, |s| s.count)
    }

    /// Where the spilled range starts, if the lane spilled.
    pub(crate) fn spilled_from(&self) -> Option<u64> {
        self.spill.map(|s| s.from)
    }

    /// The lowest journal position still needed to read back (retention
    /// keeps it).
    pub(crate) fn lowest(&self) -> Option<u64> {
        let recovered = self.recovered.iter().map(|(seq, _)| *seq).min();
        lowest_of(recovered, self.spilled_from())
    }

    /// Add deliveries recovery found owed (in seq order).
    pub(crate) fn recover(&mut self, owed: impl IntoIterator<Item = (u64, i64)>) {
        self.recovered.extend(owed);
    }

    /// Leave the delivery of the event at `seq` in the journal. Deliveries
    /// arrive in journal order; returns false (the caller keeps it in memory)
    /// for one the read-back has already passed.
    pub(crate) fn spill(&mut self, seq: u64) -> bool {
        match &mut self.spill {
            Some(s) if seq < s.from => false,
            Some(s) => {
                s.through = s.through.max(seq);
                s.count += 1;
                true
            }
            None => {
                self.spill = Some(Spill {
                    from: seq,
                    through: seq,
                    count: 1,
                });
                true
            }
        }
    }

    /// The next read-back to make, for at most `limit` deliveries.
    pub(crate) fn next_read(&self, limit: usize) -> Option<ReadRequest> {
        let limit = limit.max(1);
        if !self.recovered.is_empty() {
            return Some(ReadRequest::Recovered(
                self.recovered.iter().take(limit).copied().collect(),
            ));
        }
        self.spill.map(|s| ReadRequest::Spilled {
            from: s.from,
            through: s.through,
            limit,
        })
    }

    /// Account for a finished read-back: what it read is no longer behind.
    /// Spills that arrived while it ran stay behind.
    pub(crate) fn apply(&mut self, request: &ReadRequest, chunk: &ReadChunk) {
        match request {
            ReadRequest::Recovered(owed) => {
                let n = owed.len().min(self.recovered.len());
                self.recovered.drain(..n);
            }
            ReadRequest::Spilled { .. } => {
                if let Some(s) = &mut self.spill {
                    s.from = s.from.max(chunk.next);
                    s.count = s.count.saturating_sub(chunk.listed);
                    if s.from > s.through {
                        self.spill = None;
                    }
                }
            }
        }
    }
}

/// The lower of two positions, either of which may be absent.
pub(crate) fn lowest_of(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(next: u64, listed: u64) -> ReadChunk {
        ReadChunk {
            deliveries: Vec::new(),
            next,
            listed,
        }
    }

    #[test]
    fn spills_in_order_and_reads_back_what_arrived_meanwhile() {
        let mut b = Behind::default();
        assert!(b.is_empty());
        assert!(b.spill(10) && b.spill(12) && b.spill(13));
        assert_eq!(b.count(), 3);
        let read = b.next_read(2).expect("something is behind");
        assert_eq!(
            read,
            ReadRequest::Spilled {
                from: 10,
                through: 13,
                limit: 2
            }
        );
        // While the read runs, two more arrive.
        assert!(b.spill(14) && b.spill(15));
        // It read 10 and 12 (two deliveries), stopping after position 12.
        b.apply(&read, &chunk(13, 2));
        assert_eq!(b.spilled_from(), Some(13));
        assert_eq!(b.count(), 3);
        assert!(!b.spill(12), "a position already read back stays in memory");
        let read = b.next_read(10).expect("13..=15 are behind");
        b.apply(&read, &chunk(16, 3));
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(b.lowest(), None);
    }

    #[test]
    fn recovered_deliveries_come_before_the_spilled_range() {
        let mut b = Behind::default();
        b.recover([(3, 1), (5, 2), (8, 3)]);
        assert!(b.spill(20));
        assert_eq!(b.lowest(), Some(3));
        let read = b.next_read(2).expect("behind");
        assert_eq!(read, ReadRequest::Recovered(vec![(3, 1), (5, 2)]));
        b.apply(&read, &chunk(0, 0));
        assert_eq!(b.lowest(), Some(8));
        let read = b.next_read(2).expect("behind");
        assert_eq!(read, ReadRequest::Recovered(vec![(8, 3)]));
        b.apply(&read, &chunk(0, 0));
        assert!(matches!(
            b.next_read(2),
            Some(ReadRequest::Spilled { from: 20, .. })
        ));
        assert_eq!(b.count(), 1);
    }
}
