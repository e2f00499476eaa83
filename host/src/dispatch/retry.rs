//! When to try a failed delivery again: exponential backoff with full jitter,
//! bounded by the rule's retry policy (attempts and event age), as EventBridge
//! retries its targets, and never sooner than a target's `Retry-After`.

use std::time::Duration;

use crate::rules::RetryPolicy;

/// The server-wide backoff curve; rules only bound how long it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry (before jitter).
    pub initial: Duration,
    /// Longest delay between two attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (1-based), with full jitter:
    /// uniformly random in `[d/2, d]` where `d = min(max, initial * 2^(retry-1))`.
    /// `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exp = self.initial.saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1).min(30))
                .unwrap_or(u32::MAX),
        );
        let d = exp.min(self.max);
        d.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

/// The longest `Retry-After` honoured. A destination asking for more (a
/// daily quota, a bad clock, a hostile header) is tried again after an
/// hour, so one header cannot park a delivery for days; the rule's
/// `max-age` still gives up on it when even that is too late. Not the
/// backoff's `retry-max`: that shapes our own curve, often short for quick
/// recovery, and coming back before the server said would only spend the
/// rule's attempts on refusals.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Give up: the delivery goes to dead letters.
    GiveUp,
}

/// Decide after attempt number `attempts` (1-based, the one that just failed)
/// of an event accepted `age` ago. `retry_after` is the target's own word on
/// when to come back (capped at [`MAX_RETRY_AFTER`]): the delay is the
/// longer of it and the backoff.
pub fn next(
    policy: &RetryPolicy,
    backoff: &Backoff,
    attempts: u32,
    age: Duration,
    retry_after: Option<Duration>,
    unit: f64,
) -> Next {
    if attempts > policy.max_attempts {
        return Next::GiveUp;
    }
    let asked = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
    let delay = backoff.delay(attempts, unit).max(asked);
    if age + delay > policy.max_age {
        return Next::GiveUp;
    }
    Next::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(4, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(40, 1.0), Duration::from_secs(300));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn stops_at_attempts_or_age() {
        let p = RetryPolicy {
            max_attempts: 2,
            max_age: Duration::from_secs(60),
        };
        let b = Backoff::default();
        assert!(matches!(
            next(&p, &b, 1, Duration::ZERO, None, 0.5),
            Next::RetryAfter(_)
        ));
        assert!(matches!(
            next(&p, &b, 2, Duration::ZERO, None, 0.5),
            Next::RetryAfter(_)
        ));
        assert_eq!(next(&p, &b, 3, Duration::ZERO, None, 0.5), Next::GiveUp);
        assert_eq!(
            next(&p, &b, 1, Duration::from_secs(60), None, 0.5),
            Next::GiveUp
        );
        let none = RetryPolicy {
            max_attempts: 0,
            max_age: Duration::from_secs(60),
        };
        assert_eq!(next(&none, &b, 1, Duration::ZERO, None, 0.5), Next::GiveUp);
    }

    #[test]
    fn a_retry_after_holds_the_retry_back_but_never_below_the_backoff_or_past_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            max_age: Duration::from_secs(24 * 3600),
        };
        let b = Backoff::default();
        let at = |retry_after: Option<Duration>, attempts: u32| {
            next(&p, &b, attempts, Duration::ZERO, retry_after, 1.0)
        };
        let secs = |s: u64| Next::RetryAfter(Duration::from_secs(s));
        // Longer than the backoff: the server's word wins.
        assert_eq!(at(Some(Duration::from_secs(3)), 1), secs(3));
        // Shorter than the backoff (attempt 4: 8 s): the backoff stands.
        assert_eq!(at(Some(Duration::from_secs(3)), 4), secs(8));
        assert_eq!(at(Some(Duration::ZERO), 1), secs(1));
        // A day is capped at an hour.
        assert_eq!(at(Some(Duration::from_secs(86_400)), 1), secs(3600));
        assert_eq!(at(Some(Duration::MAX), 1), secs(3600));
        // Waiting as asked would outlive the event's max-age: give up now.
        let short = RetryPolicy {
            max_attempts: 10,
            max_age: Duration::from_secs(60),
        };
        assert_eq!(
            next(
                &short,
                &b,
                1,
                Duration::ZERO,
                Some(Duration::from_secs(120)),
                1.0
            ),
            Next::GiveUp
        );
    }
}
