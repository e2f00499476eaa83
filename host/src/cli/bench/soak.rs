//! `trailmark bench --soak DURATION`: the bench's fixed-rate load held for a
//! long time, with the server sampled every `--every`: resident memory, open
//! file descriptors, journal size, deliveries owed (the lag between what was
//! accepted and what was delivered) and every error count, printed as a row
//! each time and summed up at the end (growth after warm-up, events lost).

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use crate::cli::client::Client;

/// What the server and the load generator showed at one moment.
#[derive(Debug, Clone, Default)]
pub(super) struct Sample {
    /// Since the load started.
    at: Duration,
    /// Events the generator had acknowledged.
    accepted: u64,
    /// Entries refused (not 200 or 503, or a `FailedEntryCount`).
    failed: u64,
    /// Entries answered 503 (throttled) and sent again later.
    throttled: u64,
    /// The server's resident memory, bytes.
    rss: Option<u64>,
    /// The server's open file descriptors.
    fds: Option<u64>,
    /// The journal's size on disk, bytes.
    journal_bytes: Option<u64>,
    /// Deliveries owed: in memory or waiting in the journal.
    owed: Option<u64>,
    /// Deliveries owed by a match, all rules.
    matched: u64,
    /// Deliveries finished with success, all rules.
    delivered: u64,
    /// Failed attempts that were retried, all rules.
    retries: u64,
    /// Deliveries that went to dead letters, all rules.
    dead_letters: u64,
    /// The 99th percentile of delivery lag since the previous sample, seconds
    /// (a bucket's upper bound).
    lag_p99: Option<f64>,
    /// The delivery-lag histogram's cumulative buckets, for the next delta.
    lag_buckets: Vec<(f64, f64)>,
}

/// The sum of one metric's samples over every label set (`name{...} v` and
/// `name v`).
pub(super) fn metric_sum(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = if rest.starts_with('{') {
                rest.split_once("} ")?.1
            } else {
                rest.strip_prefix(' ')?
            };
            value.trim().parse::<f64>().ok()
        })
        .sum::<f64>() as u64
}

/// The sum of `trailmark_deliveries_total` for one `outcome`.
fn deliveries(metrics: &str, outcome: &str) -> u64 {
    let label = format!("outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .filter(|l| l.starts_with("trailmark_deliveries_total{"))
        .filter_map(|l| l.split_once(&label)?.1.trim().parse::<u64>().ok())
        .sum()
}

/// An unlabelled metric's value, if the server reports it.
fn metric(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// A histogram's cumulative buckets `(upper bound, count)`, sorted.
pub(super) fn buckets(metrics: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut out: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The upper bound below which `q` of the observations made between
/// `before` and `after` (two readings of one histogram) fall.
pub(super) fn quantile_between(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| {
            let then = before
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c);
            (le, n - then)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, c)| *c >= total * q)
        .map(|(le, _)| *le)
}

impl Sample {
    /// Read the server's metrics and status and the generator's counters.
    fn take(admin: &Client, shared: &Shared, started: Instant, previous: &Sample) -> Sample {
        let metrics = admin.get("/metrics").ok();
        let text = metrics.as_ref().and_then(Value::as_str).unwrap_or("");
        let status = admin.get("/v1/admin/status").ok();
        let lag_buckets = buckets(text, "trailmark_delivery_lag_seconds");
        Sample {
            at: started.elapsed(),
            accepted: shared.accepted.load(Relaxed),
            failed: shared.failed.load(Relaxed),
            throttled: shared.throttled.load(Relaxed),
            rss: metric(text, "process_resident_memory_bytes"),
            fds: metric(text, "process_open_fds"),
            journal_bytes: status.as_ref().and_then(|s| s["journal"]["bytes"].as_u64()),
            owed: status.as_ref().map(|s| {
                ["pending-deliveries", "spilled-deliveries"]
                    .iter()
                    .filter_map(|k| s[*k].as_u64())
                    .sum()
            }),
            matched: metric_sum(text, "trailmark_rule_matches_total"),
            delivered: deliveries(text, "delivered"),
            retries: metric_sum(text, "trailmark_retries_total"),
            dead_letters: deliveries(text, "dead-lettered"),
            lag_p99: quantile_between(&previous.lag_buckets, &lag_buckets, 0.99),
            lag_buckets,
        }
    }

    fn json(&self) -> Value {
        json!({
            "seconds": self.at.as_secs(),
            "accepted": self.accepted,
            "rss-bytes": self.rss,
            "open-fds": self.fds,
            "journal-bytes": self.journal_bytes,
            "owed-deliveries": self.owed,
            "delivered": self.delivered,
            "delivery-lag-p99-ms": self.lag_p99.filter(|s| s.is_finite()).map(|s| s * 1e3),
            "failed": self.failed,
            "throttled": self.throttled,
            "retries": self.retries,
            "dead-letters": self.dead_letters,
        })
    }
}

const HEADER: &str = "  elapsed    accepted   events/s   rss MiB   fds  journal MiB       owed   delivered  lag p99 ms  failed  throttled  retries  dead";

fn mib(v: Option<u64>) -> String {
    v.map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn opt(v: Option<u64>) -> String {
    v.map_or("n/a".into(), |n| n.to_string())
}

/// One row of the live table; `rate` is the accepted rate since `previous`.
fn row(s: &Sample, previous: &Sample) -> String {
    let secs = (s.at - previous.at).as_secs_f64().max(1e-9);
    let rate = (s.accepted - previous.accepted) as f64 / secs;
    let lag = match s.lag_p99 {
        Some(l) if l.is_finite() => format!("{:.1}", l * 1e3),
        Some(_) => "> 300000".into(),
        None => "n/a".into(),
    };
    let t = s.at.as_secs();
    format!(
        "{:>3}:{:02}:{:02} {:>11} {:>10.0} {:>9} {:>5} {:>12} {:>10} {:>11} {:>11} {:>7} {:>10} {:>8} {:>5}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        s.accepted,
        rate,
        mib(s.rss),
        opt(s.fds),
        mib(s.journal_bytes),
        opt(s.owed),
        s.delivered,
        lag,
        s.failed,
        s.throttled,
        s.retries,
        s.dead_letters,
    )
}

/// Sample the server every `every` until `duration` has passed since
/// `started`, printing a row each time when `live`; the samples, the first
/// taken at the start.
pub(super) fn watch(
    admin: &Client,
    shared: &Shared,
    started: Instant,
    duration: Duration,
    every: Duration,
    live: bool,
) -> Vec<Sample> {
    let first = Sample::take(admin, shared, started, &Sample::default());
    if live {
        println!("{HEADER}");
        println!("{}", row(&first, &first));
    }
    let mut samples = vec![first];
    let mut next = started + every;
    let end = started + duration;
    while Instant::now() < end {
        let wake = next.min(end);
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
        next += every;
        let previous = samples.last().cloned().unwrap_or_default();
        let sample = Sample::take(admin, shared, started, &previous);
        if live {
            println!("{}", row(&sample, &previous));
        }
        samples.push(sample);
    }
    samples
}

/// The soak's verdict from its samples, taken after the load stopped and
/// the server drained (`after_drain`): how much RSS and descriptors grew
/// after warm-up (the first tenth of the run, at most 5 minutes), and
/// whether anything acknowledged went missing.
pub(super) fn summary(
    samples: &[Sample],
    after_drain: &Sample,
    server_accepted: Option<u64>,
) -> Value {
    let total = samples.last().map_or(Duration::ZERO, |s| s.at);
    let warmup = (total / 10).min(Duration::from_secs(300));
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.at >= warmup).collect();
    let growth = |f: &dyn Fn(&Sample) -> Option<u64>| -> Value {
        let values: Vec<u64> = warm.iter().filter_map(|s| f(s)).collect();
        match (values.first(), values.iter().max(), values.last()) {
            (Some(&start), Some(&most), Some(&end)) => json!({
                "after-warm-up": start,
                "most": most,
                "end": end,
                "growth": most.saturating_sub(start),
            }),
            _ => Value::Null,
        }
    };
    json!({
        "warm-up-seconds": warmup.as_secs(),
        "rss-bytes": growth(&|s| s.rss),
        "open-fds": growth(&|s| s.fds),
        "journal-bytes": growth(&|s| s.journal_bytes),
        "acknowledged": after_drain.accepted,
        "server-accepted": server_accepted,
        // The server counts at least what it acknowledged to this generator
        // (more when others send too); fewer would be a lost event.
        "lost": server_accepted.map(|n| after_drain.accepted.saturating_sub(n)),
        "owed-after-drain": after_drain.owed,
        // Matches neither delivered nor dead-lettered once drained.
        "undelivered": after_drain.matched.saturating_sub(after_drain.delivered + after_drain.dead_letters),
        "delivered": after_drain.delivered,
        "failed": after_drain.failed,
        "throttled": after_drain.throttled,
        "retries": after_drain.retries,
        "dead-letters": after_drain.dead_letters,
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    })
}

/// Take the sample that closes the run, after the drain.
pub(super) fn closing(
    admin: &Client,
    shared: &Shared,
    started: Instant,
    previous: &Sample,
) -> Sample {
    Sample::take(admin, shared, started, previous)
}

/// Print the summary as text.
pub(super) fn print_summary(summary: &Value) {
    let line = |name: &str, v: &Value| {
        let fmt = |k: &str| v[k].as_u64().map_or("n/a".into(), |n| n.to_string());
        if v.is_null() {
            println!("{name:<20}n/a");
        } else {
            println!(
                "{name:<20}after warm-up {}, at most {}, at the end {} (growth {})",
                fmt("after-warm-up"),
                fmt("most"),
                fmt("end"),
                fmt("growth")
            );
        }
    };
    println!();
    println!(
        "soak summary (warm-up: the first {} s)",
        summary["warm-up-seconds"]
    );
    line("rss bytes", &summary["rss-bytes"]);
    line("open fds", &summary["open-fds"]);
    line("journal bytes", &summary["journal-bytes"]);
    println!(
        "acknowledged        {} (server counted {})",
        summary["acknowledged"], summary["server-accepted"]
    );
    println!("lost                {}", summary["lost"]);
    println!(
        "owed after drain    {} (matches neither delivered nor dead-lettered: {})",
        summary["owed-after-drain"], summary["undelivered"]
    );
    println!(
        "errors              failed {}, throttled {}, retries {}, dead letters {}",
        summary["failed"], summary["throttled"], summary["retries"], summary["dead-letters"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x\n\
trailmark_deliveries_total{rule=\"a\",outcome=\"delivered\"} 5\n\
trailmark_deliveries_total{rule=\"a\",outcome=\"dead-lettered\"} 1\n\
trailmark_deliveries_total{rule=\"b\",outcome=\"delivered\"} 7\n\
trailmark_retries_total{rule=\"a\"} 2\n\
trailmark_retries_total{rule=\"b\"} 3\n\
process_open_fds 42\n\
trailmark_delivery_lag_seconds_bucket{le=\"0.1\"} 90\n\
trailmark_delivery_lag_seconds_bucket{le=\"1\"} 99\n\
trailmark_delivery_lag_seconds_bucket{le=\"+Inf\"} 100\n";

    #[test]
    fn sums_counters_over_rules_and_outcomes() {
        assert_eq!(deliveries(TEXT, "delivered"), 12);
        assert_eq!(deliveries(TEXT, "dead-lettered"), 1);
        assert_eq!(metric_sum(TEXT, "trailmark_retries_total"), 5);
        assert_eq!(metric(TEXT, "process_open_fds"), Some(42));
        assert_eq!(metric(TEXT, "process_resident_memory_bytes"), None);
    }

    #[test]
    fn lag_quantile_counts_only_the_interval() {
        let before = buckets(TEXT, "trailmark_delivery_lag_seconds");
        // 100 more observations, all under 0.1 s: the interval's p99 is 0.1
        // although the whole run's is 1.
        let after = [(0.1, 190.0), (1.0, 199.0), (f64::INFINITY, 200.0)];
        assert_eq!(quantile_between(&before, &after, 0.99), Some(0.1));
        assert_eq!(quantile_between(&[], &before, 0.99), Some(1.0));
        assert_eq!(quantile_between(&before, &before, 0.99), None);
    }
}
