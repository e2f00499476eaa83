//! [`RefusalLog`]: one journaled refusal per remote address and interval.
//!
//! Every refusal is worth knowing about, but a client that is refused a
//! million times must not write a million records. Per remote IP address and
//! refused principal (`anonymous` when unidentified), the first refusal of an
//! interval is recorded at once; the rest are counted, and when the interval
//! ends the count goes into the journal as one aggregate record. The map of
//! open intervals is bounded: past `max_keys` addresses, new ones share one
//! overflow entry, so memory stays fixed however many addresses an attacker
//! uses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most (address, principal) pairs with an open interval; past it,
/// refusals from new pairs are counted together.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Who was refused, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefusalKey {
    /// The remote address (`None`: unknown, or the overflow entry).
    pub remote: Option<IpAddr>,
    /// The refused principal, or `anonymous`; `*` for the overflow entry.
    pub who: String,
}

impl RefusalKey {
    /// The address refusals are counted under: an IPv4 address as it is, an
    /// IPv6 address by its /64 network (one host can use a whole /64, and
    /// must not get a record per address by hopping through it).
    pub fn network(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(std::net::Ipv6Addr::from(bits))
                }
            },
        }
    }

    fn overflow() -> Self {
        Self {
            remote: None,
            who: "*".to_owned(),
        }
    }
}

/// What one refusal was about (already bounded by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalSample {
    /// HTTP status answered.
    pub status: u16,
    /// Why.
    pub reason: String,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
}

/// Refusals counted but not yet journaled one by one, due as one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// Whose refusals.
    pub key: RefusalKey,
    /// How many refusals after the first of the interval.
    pub count: u64,
    /// When the interval began (ms since the epoch).
    pub since_ms: i64,
    /// The last refusal counted.
    pub last: RefusalSample,
}

/// Whether to journal a refusal now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The first of its interval: journal it now.
    Record,
    /// Counted; it goes into the interval's aggregate.
    Counted,
}

struct Window {
    started: Instant,
    started_ms: i64,
    counted: u64,
    last: Option<RefusalSample>,
}

/// Per-address refusal intervals. See the module docs.
pub struct RefusalLog {
    interval: Duration,
    max_keys: usize,
    windows: Mutex<HashMap<RefusalKey, Window>>,
}

impl RefusalLog {
    /// A log with this interval and at most `max_keys` open intervals (plus
    /// the overflow one).
    pub fn new(interval: Duration, max_keys: usize) -> Self {
        Self {
            interval,
            max_keys: max_keys.max(1),
            windows: Mutex::default(),
        }
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Note one refusal at `now` (`now_ms` the same instant on the wall
    /// clock): whether to journal it at once, or count it.
    pub fn admit(
        &self,
        key: RefusalKey,
        sample: RefusalSample,
        now: Instant,
        now_ms: i64,
    ) -> Admit {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let key = if windows.contains_key(&key) || windows.len() < self.max_keys {
            key
        } else {
            RefusalKey::overflow()
        };
        match windows.get_mut(&key) {
            // Also when the interval has ended but `due` has not collected
            // it yet: the refusal joins its aggregate.
            Some(w) => {
                w.counted += 1;
                w.last = Some(sample);
                Admit::Counted
            }
            None => {
                windows.insert(
                    key,
                    Window {
                        started: now,
                        started_ms: now_ms,
                        counted: 0,
                        last: None,
                    },
                );
                Admit::Record
            }
        }
    }

    /// Close every interval that has ended by `now`: the aggregates to
    /// journal (intervals that counted nothing end silently).
    pub fn due(&self, now: Instant) -> Vec<Aggregate> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        windows.retain(|key, w| {
            if now.duration_since(w.started) < self.interval {
                return true;
            }
            if let Some(last) = w.last.take().filter(|_| w.counted > 0) {
                out.push(Aggregate {
                    key: key.clone(),
                    count: w.counted,
                    since_ms: w.started_ms,
                    last,
                });
            }
            false
        });
        out
    }

    /// Open intervals (for tests and metrics).
    pub fn open(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ipv6_refusals_count_per_64_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(RefusalKey::network(a), RefusalKey::network(b));
        assert_ne!(RefusalKey::network(a), RefusalKey::network(other));
        assert_eq!(
            RefusalKey::network(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))),
            "::".parse::<IpAddr>().expect("ip"),
        );
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            RefusalKey::network(mapped),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
    }

    use super::*;

    fn key(ip: &str) -> RefusalKey {
        RefusalKey {
            remote: Some(ip.parse().expect("ip")),
            who: "anonymous".to_owned(),
        }
    }

    fn sample(n: u16) -> RefusalSample {
        RefusalSample {
            status: n,
            reason: format!("r{n}"),
            method: "GET".to_owned(),
            path: "/".to_owned(),
        }
    }

    #[test]
    fn first_refusal_of_an_interval_is_recorded_the_rest_counted_then_flushed() {
        let log = RefusalLog::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert_eq!(log.admit(key("10.0.0.1"), sample(1), t0, 0), Admit::Record);
        for i in 2..=250 {
            assert_eq!(log.admit(key("10.0.0.1"), sample(i), t0, 0), Admit::Counted);
        }
        // Another address has its own interval.
        assert_eq!(log.admit(key("10.0.0.2"), sample(9), t0, 0), Admit::Record);
        assert!(log.due(t0 + Duration::from_secs(59)).is_empty());

        let due = log.due(t0 + Duration::from_secs(60));
        assert_eq!(due.len(), 1, "only the interval that counted something");
        assert_eq!(due[0].key, key("10.0.0.1"));
        assert_eq!(due[0].count, 249, "1 recorded + 249 counted = 250");
        assert_eq!(due[0].last, sample(250));
        assert_eq!(log.open(), 0);
        // The next interval starts with a recorded refusal again.
        let t1 = t0 + Duration::from_secs(61);
        assert_eq!(log.admit(key("10.0.0.1"), sample(1), t1, 0), Admit::Record);
    }

    #[test]
    fn the_map_is_bounded_and_new_addresses_share_the_overflow_entry() {
        let log = RefusalLog::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..3 {
            let ip = format!("10.0.0.{i}");
            assert_eq!(log.admit(key(&ip), sample(1), t0, 0), Admit::Record);
        }
        // The first new address opens the overflow entry; the rest count there.
        assert_eq!(log.admit(key("10.0.1.0"), sample(1), t0, 0), Admit::Record);
        for i in 1..1000 {
            let ip = format!("10.1.{}.{}", i / 256, i % 256);
            assert_eq!(log.admit(key(&ip), sample(2), t0, 0), Admit::Counted);
        }
        assert_eq!(log.open(), 4);
        let due = log.due(t0 + Duration::from_secs(60));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, RefusalKey::overflow());
        assert_eq!(due[0].count, 999);
    }
}
