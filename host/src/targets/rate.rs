//! A destination's invocation rate limit: a token bucket holding one
//! second's worth of calls, refilled continuously.

use std::sync::Mutex;
use std::time::Instant;

/// At most `per_second` calls a second, with bursts of up to that many.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A full bucket of `per_second` (at least 1) tokens.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        RateLimit {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Take one token now, or say no.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *state;
        let refilled = (tokens
            + now.saturating_duration_since(last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now.max(last));
            true
        } else {
            *state = (refilled, now.max(last));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_refills_with_time() {
        let limit = RateLimit::new(2);
        let start = Instant::now();
        assert!(limit.try_take_at(start));
        assert!(limit.try_take_at(start));
        assert!(!limit.try_take_at(start));
        assert!(limit.try_take_at(start + Duration::from_millis(500)));
        assert!(!limit.try_take_at(start + Duration::from_millis(500)));
        assert!(limit.try_take_at(start + Duration::from_secs(10)));
        assert!(limit.try_take_at(start + Duration::from_secs(10)));
        assert!(!limit.try_take_at(start + Duration::from_secs(10)));
    }
}
