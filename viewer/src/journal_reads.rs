//! Bounds on the pages that read the journal: the event page reads up to
//! 20,000 journal records after an event to find what became of its
//! deliveries, so a signed-in reader reloading it (or a script holding a
//! session cookie) could keep the disk and a core busy.
//!
//! Each principal has a bucket of [`JournalReadLimit::burst`] reads,
//! refilled at [`JournalReadLimit::per_minute`]; an empty bucket gets 429
//! with the seconds to wait. Across all principals at most
//! [`JournalReadLimit::concurrent`] reads run at once; the others wait
//! their turn (up to [`QUEUE_WAIT`], then 503).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a read waits for one of the concurrent slots before 503.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Principals remembered at most; full buckets are forgotten first.
const MAX_PRINCIPALS: usize = 4_096;

/// How many journal-reading pages a principal may open, and how many run
/// at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalReadLimit {
    /// Reads a principal may make at once before the rate applies.
    pub burst: u32,
    /// Reads a principal regains per minute (0: never, for tests).
    pub per_minute: u32,
    /// Reads running at once, across all principals.
    pub concurrent: usize,
}

impl Default for JournalReadLimit {
    /// 20 at once, then one a second per principal; two at a time (the
    /// reference machine has two cores).
    fn default() -> Self {
        JournalReadLimit {
            burst: 20,
            per_minute: 60,
            concurrent: 2,
        }
    }
}

/// Why a read may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JournalReadRefused {
    /// This principal's bucket is empty.
    #[error("too many journal reads by this principal; try again in {retry_after_secs} s")]
    TooMany {
        /// Seconds until the bucket holds a read again (at least 1).
        retry_after_secs: u64,
    },
    /// Every slot stayed busy for [`QUEUE_WAIT`].
    #[error("the journal is busy with other readers; try again in a few seconds")]
    Busy,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter, shared by every request.
#[derive(Debug)]
pub struct JournalReads {
    limit: JournalReadLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
    slots: Arc<Semaphore>,
}

impl JournalReads {
    /// A limiter with `limit`.
    pub fn new(limit: JournalReadLimit) -> Self {
        JournalReads {
            limit,
            buckets: Mutex::default(),
            slots: Arc::new(Semaphore::new(limit.concurrent.max(1))),
        }
    }

    /// Take one read from `principal`'s bucket at `now`.
    pub fn take(&self, principal: &str, now: Instant) -> Result<(), JournalReadRefused> {
        let burst = f64::from(self.limit.burst.max(1));
        let per_sec = f64::from(self.limit.per_minute) / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_PRINCIPALS && !buckets.contains_key(principal) {
            // Forget those that have refilled: they would start full anyway.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst
            });
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refilled =
            bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_sec;
        bucket.tokens = refilled.min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let retry_after_secs = if per_sec > 0.0 {
            ((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64
        } else {
            // Never refilled: say a minute rather than forever.
            60
        };
        Err(JournalReadRefused::TooMany { retry_after_secs })
    }

    /// Take a read for `principal` and wait for a slot; the slot is held
    /// until the returned permit is dropped.
    pub async fn admit(&self, principal: &str) -> Result<OwnedSemaphorePermit, JournalReadRefused> {
        self.take(principal, Instant::now())?;
        match tokio::time::timeout(QUEUE_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or the semaphore closed (it never is).
            _ => Err(JournalReadRefused::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_spends_its_burst_then_regains_reads_at_the_rate() {
        let reads = JournalReads::new(JournalReadLimit {
            burst: 3,
            per_minute: 60,
            concurrent: 1,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(reads.take("ann", t0), Ok(()));
        }
        assert_eq!(
            reads.take("ann", t0),
            Err(JournalReadRefused::TooMany {
                retry_after_secs: 1
            })
        );
        // Another principal has its own bucket.
        assert_eq!(reads.take("bob", t0), Ok(()));
        // One a second comes back, never more than the burst.
        assert_eq!(reads.take("ann", t0 + Duration::from_millis(1_000)), Ok(()));
        assert!(
            reads
                .take("ann", t0 + Duration::from_millis(1_500))
                .is_err()
        );
        for _ in 0..3 {
            assert_eq!(reads.take("ann", t0 + Duration::from_secs(600)), Ok(()));
        }
        assert!(reads.take("ann", t0 + Duration::from_secs(600)).is_err());
    }

    #[test]
    fn without_a_rate_the_wait_is_a_minute() {
        let reads = JournalReads::new(JournalReadLimit {
            burst: 1,
            per_minute: 0,
            concurrent: 1,
        });
        let t0 = Instant::now();
        assert_eq!(reads.take("ann", t0), Ok(()));
        assert_eq!(
            reads.take("ann", t0 + Duration::from_secs(3_600)),
            Err(JournalReadRefused::TooMany {
                retry_after_secs: 60
            })
        );
    }

    #[tokio::test]
    async fn reads_past_the_concurrent_slots_wait_their_turn() {
        let reads = Arc::new(JournalReads::new(JournalReadLimit {
            burst: 10,
            per_minute: 0,
            concurrent: 1,
        }));
        let first = reads.admit("ann").await.expect("a slot");
        let waiting = tokio::spawn({
            let reads = reads.clone();
            async move { reads.admit("bob").await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the one slot is taken");
        drop(first);
        assert_eq!(waiting.await.expect("task"), Ok(()));
    }
}
