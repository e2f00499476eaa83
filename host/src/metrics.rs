//! Counters and histograms for `/metrics` (Prometheus text format).
//!
//! Hot paths hold an `Arc` to their own atomics (one [`RuleMetrics`] per
//! rule), so recording costs a relaxed atomic add and no lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
/// They reach minutes so a backlog's delivery lag is measured, not clipped.
const BUCKETS: [f64; 19] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 30.0, 60.0, 300.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The value below which `q` (0..1) of observations fall, estimated from
    /// bucket bounds (an upper bound).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count.load(Relaxed);
        if total == 0 {
            return None;
        }
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Relaxed);
            if seen >= target {
                return Some(Duration::from_secs_f64(BUCKETS[i]));
            }
        }
        Some(Duration::from_secs_f64(BUCKETS[BUCKETS.len() - 1]))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Per-rule counters.
#[derive(Debug, Default)]
pub struct RuleMetrics {
    /// Events matched.
    pub matched: AtomicU64,
    /// Deliveries that succeeded.
    pub delivered: AtomicU64,
    /// Attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Deliveries sent to dead letters.
    pub dead_lettered: AtomicU64,
    /// Deliveries in memory: queued, running or waiting to retry.
    pub pending: AtomicI64,
    /// Deliveries owed but left in the journal, to be read back.
    pub spilled: AtomicI64,
    /// Plugin call latency.
    pub call_latency: Histogram,
}

/// Calls of one HTTP destination (the plugins' `http` capability).
#[derive(Debug, Default)]
pub struct DestinationMetrics {
    /// Calls answered 2xx.
    pub ok: AtomicU64,
    /// Calls that failed transiently (429, 5xx, timeout, rate limit).
    pub retry: AtomicU64,
    /// Calls answered with another status, or malformed.
    pub reject: AtomicU64,
    /// Calls refused by the destination's rules (method, path, redirect).
    pub denied: AtomicU64,
    /// How long calls took, retries and redirects included.
    pub latency: Histogram,
}

impl DestinationMetrics {
    /// Count one call that ended as `outcome` (`ok`, `retry`, `reject`,
    /// `denied`) after `took`.
    pub fn record(&self, outcome: &str, took: Duration) {
        let counter = match outcome {
            "ok" => &self.ok,
            "retry" => &self.retry,
            "reject" => &self.reject,
            _ => &self.denied,
        };
        counter.fetch_add(1, Relaxed);
        self.latency.observe(took);
    }
}

/// Connection-level counters of the HTTP listener.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// The configured connection limit.
    pub connection_limit: AtomicU64,
    /// Connections open now.
    pub open: AtomicI64,
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections closed at once because the limit was reached.
    pub refused: AtomicU64,
    /// `accept` failures (e.g. EMFILE), each followed by a short pause.
    pub accept_errors: AtomicU64,
    /// Connections closed because a request's headers did not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Connections closed after being idle too long.
    pub idle_timeouts: AtomicU64,
    /// Request bodies cut because they did not arrive in time.
    pub body_timeouts: AtomicU64,
}

impl HttpMetrics {
    fn render(&self, out: &mut String) {
        gauge(
            out,
            "trailmark_http_connection_limit",
            "Most HTTP connections served at once (server.max-connections).",
            i64::try_from(self.connection_limit.load(Relaxed)).unwrap_or(i64::MAX),
        );
        gauge(
            out,
            "trailmark_http_connections_open",
            "HTTP connections open now.",
            self.open.load(Relaxed),
        );
        counter(
            out,
            "trailmark_http_connections_accepted_total",
            "HTTP connections accepted.",
            self.accepted.load(Relaxed),
        );
        counter(
            out,
            "trailmark_http_connections_refused_total",
            "HTTP connections closed at once because server.max-connections were open.",
            self.refused.load(Relaxed),
        );
        counter(
            out,
            "trailmark_http_accept_errors_total",
            "Failed accepts (e.g. out of descriptors); each pauses the listener briefly.",
            self.accept_errors.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP trailmark_http_timeouts_total Connections or bodies cut by a timeout, by kind.\n# TYPE trailmark_http_timeouts_total counter"
        );
        for (kind, v) in [
            ("header", &self.header_timeouts),
            ("idle", &self.idle_timeouts),
            ("body", &self.body_timeouts),
        ] {
            let _ = writeln!(
                out,
                "trailmark_http_timeouts_total{{kind=\"{kind}\"}} {}",
                v.load(Relaxed)
            );
        }
    }
}

/// All metrics of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events accepted (durable).
    pub events_accepted: AtomicU64,
    /// Entries rejected by validation.
    pub events_rejected: AtomicU64,
    /// Requests refused with 503 because the journal could not take more.
    pub throttled: AtomicU64,
    /// Appends refused because the journal's disk was full (producers got
    /// 503, the host's own records waited).
    pub storage_full: AtomicU64,
    /// Rule or plugin reloads that failed.
    pub reload_failures: AtomicU64,
    /// Rule or plugin reloads that succeeded.
    pub reloads: AtomicU64,
    /// Requests refused with 401 or 403.
    pub auth_refusals: AtomicU64,
    /// Audit events about this host (refusals, admin actions) that could not
    /// be journaled (the journal failed; the reserved path is never busy).
    pub audit_unrecorded: AtomicU64,
    /// Records the host journaled about itself (refusals, aggregates, admin
    /// actions); they are counted in `events_accepted` too.
    pub host_records: AtomicU64,
    /// Access records journaled (one per audited read of the trail); not
    /// counted in `events_accepted`, which counts events written to the trail.
    pub access_records: AtomicU64,
    /// Reads refused with 503 because their access record could not be
    /// journaled.
    pub access_unrecorded: AtomicU64,
    /// Refusals counted into an aggregate record instead of journaled alone.
    pub auth_refusals_aggregated: AtomicU64,
    /// Signed requests answered 503 because the body budget was spent.
    pub auth_budget_refused: AtomicU64,
    /// HTTP connections and their limits.
    pub http: HttpMetrics,
    /// Journal durable-append latency (includes the group fsync).
    pub journal_append: Histogram,
    /// Delivery lag: from acceptance to successful delivery.
    pub delivery_lag: Histogram,
    rules: RwLock<BTreeMap<String, Arc<RuleMetrics>>>,
    destinations: RwLock<BTreeMap<String, Arc<DestinationMetrics>>>,
}

/// The counters named `name` in `map`, created on first use.
fn named<T: Default>(map: &RwLock<BTreeMap<String, Arc<T>>>, name: &str) -> Arc<T> {
    if let Some(m) = map.read().unwrap_or_else(|e| e.into_inner()).get(name) {
        return m.clone();
    }
    map.write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.to_owned())
        .or_default()
        .clone()
}

/// A copy of every named counter set in `map`, to read without its lock.
fn snapshot<T>(map: &RwLock<BTreeMap<String, Arc<T>>>) -> Vec<(String, Arc<T>)> {
    map.read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Metrics {
    /// The counters of one rule, created on first use.
    pub fn rule(&self, name: &str) -> Arc<RuleMetrics> {
        named(&self.rules, name)
    }

    /// The counters of one HTTP destination, created on first use.
    pub fn destination(&self, name: &str) -> Arc<DestinationMetrics> {
        named(&self.destinations, name)
    }

    fn render_destinations(&self, out: &mut String) {
        let destinations = snapshot(&self.destinations);
        let _ = writeln!(
            out,
            "# HELP trailmark_http_destination_calls_total Plugin http calls per destination by outcome.\n# TYPE trailmark_http_destination_calls_total counter"
        );
        for (name, m) in &destinations {
            let d = escape(name);
            for (outcome, counter) in [
                ("ok", &m.ok),
                ("retry", &m.retry),
                ("reject", &m.reject),
                ("denied", &m.denied),
            ] {
                let _ = writeln!(
                    out,
                    "trailmark_http_destination_calls_total{{destination=\"{d}\",outcome=\"{outcome}\"}} {}",
                    counter.load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP trailmark_http_destination_seconds Plugin http call latency per destination.\n# TYPE trailmark_http_destination_seconds histogram"
        );
        for (name, m) in &destinations {
            m.latency.render(
                out,
                "trailmark_http_destination_seconds",
                &format!("destination=\"{}\"", escape(name)),
            );
        }
    }

    /// Forget the counters of rules `keep` says no to: rules a reload
    /// removed whose lanes have finished, so `/metrics` stops showing them.
    pub fn retain_rules(&self, keep: impl Fn(&str) -> bool) {
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| keep(name));
    }

    /// Snapshot of every rule's counters.
    pub fn rules(&self) -> Vec<(String, Arc<RuleMetrics>)> {
        snapshot(&self.rules)
    }

    /// Render everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "trailmark_events_accepted_total",
            "Events accepted and durable.",
            self.events_accepted.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_events_rejected_total",
            "Entries rejected by validation.",
            self.events_rejected.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_ingest_throttled_total",
            "Requests refused because the journal's group-commit queue was full.",
            self.throttled.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_journal_full_total",
            "Appends refused because the journal's disk was full (nothing of them was kept).",
            self.storage_full.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_reloads_total",
            "Successful rule/plugin reloads.",
            self.reloads.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_reload_failures_total",
            "Rejected rule/plugin reloads (the last good set stayed active).",
            self.reload_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_auth_refusals_total",
            "Requests refused with 401 or 403 (each journaled as a trailmark.auth-failure event).",
            self.auth_refusals.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_audit_unrecorded_total",
            "Audit events about this host that could not be journaled (the journal failed).",
            self.audit_unrecorded.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_host_records_total",
            "Records the host journaled about itself (refusals, their aggregates, admin actions).",
            self.host_records.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_access_records_total",
            "Access records journaled, one per audited read of the trail.",
            self.access_records.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_access_unrecorded_total",
            "Reads refused (503) because their access record could not be journaled.",
            self.access_unrecorded.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_auth_refusals_aggregated_total",
            "Refusals counted into a per-address aggregate record instead of journaled alone.",
            self.auth_refusals_aggregated.load(Relaxed),
        );
        counter(
            &mut out,
            "trailmark_auth_body_budget_refused_total",
            "Signed requests answered 503 because server.auth-body-budget was spent.",
            self.auth_budget_refused.load(Relaxed),
        );
        self.http.render(&mut out);
        self.render_destinations(&mut out);
        let rules = self.rules();
        let per_rule = |out: &mut String,
                        name: &str,
                        kind: &str,
                        help: &str,
                        f: &dyn Fn(&RuleMetrics) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (rule, m) in &rules {
                let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", escape(rule), f(m));
            }
        };
        per_rule(
            &mut out,
            "trailmark_rule_matches_total",
            "counter",
            "Events matched per rule.",
            &|m| m.matched.load(Relaxed).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP trailmark_deliveries_total Finished deliveries per rule by outcome.\n# TYPE trailmark_deliveries_total counter"
        );
        for (rule, m) in &rules {
            let r = escape(rule);
            let _ = writeln!(
                out,
                "trailmark_deliveries_total{{rule=\"{r}\",outcome=\"delivered\"}} {}",
                m.delivered.load(Relaxed)
            );
            let _ = writeln!(
                out,
                "trailmark_deliveries_total{{rule=\"{r}\",outcome=\"dead-lettered\"}} {}",
                m.dead_lettered.load(Relaxed)
            );
        }
        per_rule(
            &mut out,
            "trailmark_retries_total",
            "counter",
            "Failed attempts that will be retried.",
            &|m| m.retried.load(Relaxed).to_string(),
        );
        per_rule(
            &mut out,
            "trailmark_dead_letters_total",
            "counter",
            "Deliveries sent to dead letters.",
            &|m| m.dead_lettered.load(Relaxed).to_string(),
        );
        per_rule(
            &mut out,
            "trailmark_lane_lag",
            "gauge",
            "Deliveries in memory per rule (queued, running or waiting to retry).",
            &|m| m.pending.load(Relaxed).to_string(),
        );
        per_rule(
            &mut out,
            "trailmark_lane_spilled",
            "gauge",
            "Deliveries owed per rule that wait in the journal, to be read back in order.",
            &|m| m.spilled.load(Relaxed).to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP trailmark_plugin_call_seconds Plugin call latency.\n# TYPE trailmark_plugin_call_seconds histogram"
        );
        for (rule, m) in &rules {
            m.call_latency.render(
                &mut out,
                "trailmark_plugin_call_seconds",
                &format!("rule=\"{}\"", escape(rule)),
            );
        }
        let _ = writeln!(
            out,
            "# HELP trailmark_journal_append_seconds Durable journal append latency (group commit incl. fsync).\n# TYPE trailmark_journal_append_seconds histogram"
        );
        self.journal_append
            .render(&mut out, "trailmark_journal_append_seconds", "");
        let _ = writeln!(
            out,
            "# HELP trailmark_delivery_lag_seconds Time from acceptance to delivery.\n# TYPE trailmark_delivery_lag_seconds histogram"
        );
        self.delivery_lag
            .render(&mut out, "trailmark_delivery_lag_seconds", "");
        render_process(&mut out);
        out
    }
}

/// The process's resident memory and open file descriptors, under the names
/// Prometheus client libraries use, from `/proc/self` (left out where there
/// is none): what a soak run or an operator watches for leaks.
fn render_process(out: &mut String) {
    if let Some(rss) = resident_bytes() {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            i64::try_from(rss).unwrap_or(i64::MAX),
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            i64::try_from(fds.count()).unwrap_or(i64::MAX),
        );
    }
}

/// Resident set size from `/proc/self/statm` (its second field, in pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096))
}

/// One counter in the exposition format.
fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

/// One gauge in the exposition format.
fn gauge(out: &mut String, name: &str, help: &str, v: i64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.events_accepted.fetch_add(3, Relaxed);
        let r = m.rule("archive");
        r.delivered.fetch_add(2, Relaxed);
        r.call_latency.observe(Duration::from_micros(30));
        let text = m.render();
        assert!(text.contains("trailmark_events_accepted_total 3"));
        m.http.header_timeouts.fetch_add(2, Relaxed);
        m.http.open.fetch_add(5, Relaxed);
        let text = m.render();
        assert!(text.contains("trailmark_http_timeouts_total{kind=\"header\"} 2"));
        assert!(text.contains("trailmark_http_connections_open 5"));
        assert!(
            text.contains("trailmark_deliveries_total{rule=\"archive\",outcome=\"delivered\"} 2")
        );
        assert!(
            text.contains(
                "trailmark_plugin_call_seconds_bucket{rule=\"archive\",le=\"0.00005\"} 1"
            )
        );
        assert!(text.contains("trailmark_plugin_call_seconds_count{rule=\"archive\"} 1"));
        if cfg!(target_os = "linux") {
            let value = |name: &str| -> u64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} ")))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} in {text}"))
            };
            assert!(value("process_resident_memory_bytes") > 1 << 20);
            assert!(value("process_open_fds") >= 3);
        }
        assert_eq!(
            r.call_latency.quantile(0.99),
            Some(Duration::from_secs_f64(0.000_05))
        );
    }
}
