//! `trailmark bench`: a load generator that sends realistic audit events to a
//! running server over HTTP (the PutEvents endpoint) at a fixed rate or flat
//! out, and reports accepted events/s, acknowledgement latency and delivery lag.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Value, json};

use super::{OutputFormat, ServerArg};
use crate::dispatch::Backoff;
use trailmark_backend_api::units::parse_duration;

mod soak;

/// Arguments of `bench`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trailmark bench --duration 30s                 flat out, 32 connections\n  trailmark bench --rate 10000 --duration 60s     a fixed 10,000 events/s\n  \
trailmark bench --rate 5000 --soak 1h           an hour at 5,000 events/s, the server sampled every minute\n\n\
A soak prints a row per sample (the server's resident memory, open files, journal size, deliveries owed,\n\
delivery lag, errors), then its growth after warm-up and whether any acknowledged event was lost.\n\
Delivery lag comes from the server's trailmark_delivery_lag_seconds histogram (bucket upper bounds).\n\
Each event is an `Object State Change` of about 1 KB whose `ts` is the time it is sent.\n\
A connection answered 503 (throttled) waits before it sends again, as the AWS SDKs do: from\n\
5-10 ms, doubling with each refusal in a row up to 0.5-1 s (random within each step)."
)]
pub struct BenchArgs {
    #[command(flatten)]
    server: ServerArg,
    /// Events per second in total; 0 sends as fast as the server acknowledges.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// How long to send.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Hold the load this long (instead of --duration), sampling the server
    /// every --every: memory, open files, journal size, lag, errors.
    #[arg(long, value_name = "DURATION", conflicts_with = "duration")]
    soak: Option<String>,
    /// How often a soak samples the server.
    #[arg(long, default_value = "1m", requires = "soak")]
    every: String,
    /// How long to wait, once the load stops, for every delivery to finish
    /// before reporting; default 2m (10m after a soak). A delivery rate is
    /// reported only when they all did.
    #[arg(long, value_name = "DURATION")]
    drain_wait: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Events per PutEvents request (1 to 10).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Seed for the generated events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

/// The wait after a 503: the dispatcher's exponential backoff with jitter
/// ([`Backoff::delay`]), from 10 ms doubling to 1 s, started over after an
/// accepted request, as an AWS SDK backs off on throttling.
#[derive(Debug)]
struct Throttled {
    rng: fastrand::Rng,
    refusals: u32,
}

impl Throttled {
    const CURVE: Backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_secs(1),
    };

    fn new(seed: u64) -> Self {
        Throttled {
            rng: fastrand::Rng::with_seed(seed),
            refusals: 0,
        }
    }

    /// How long to wait after one more refusal in a row.
    fn next_delay(&mut self) -> Duration {
        self.refusals = self.refusals.saturating_add(1);
        Self::CURVE.delay(self.refusals, self.rng.f64())
    }

    fn reset(&mut self) {
        self.refusals = 0;
    }
}

/// The `ts` the pre-generated bodies carry, overwritten with the time of
/// sending (13 digits, as epoch milliseconds are until the year 2286).
const TS_PLACEHOLDER: u64 = 9_999_999_999_999;

/// One generated PutEvents entry: an `Object State Change` of about 1 KB
/// whose `ts` is `ts` (epoch milliseconds).
pub fn audit_entry(rng: &mut fastrand::Rng, ts: u64) -> Value {
    const TYPES: [&str; 4] = ["book", "customer", "order", "invoice"];
    const OPS: [&str; 3] = ["insert", "update", "delete"];
    let entity_type = TYPES[rng.usize(..TYPES.len())];
    let op = OPS[rng.usize(..OPS.len())];
    let mut data = serde_json::Map::new();
    for i in 0..14 {
        let value: String = (0..40).map(|_| rng.alphanumeric()).collect();
        data.insert(format!("field{i}"), json!(value));
    }
    data.insert("amount".into(), json!(rng.u32(..100_000)));
    let detail = json!({
        "entity-type": entity_type,
        "entity-id": format!("{entity_type}-{}", rng.u32(..50_000)),
        "operation": op,
        "ts": ts,
        "author": format!("user{}@example.com", rng.u32(..500)),
        "data": if op == "delete" { Value::Null } else { Value::Object(data) },
    });
    json!({
        "Source": "com.example.bench",
        "DetailType": "Object State Change",
        "Resources": [format!("arn:aws:dynamodb:eu-west-1:123456789012:table/{entity_type}")],
        "Detail": detail.to_string(),
    })
}

/// A pre-generated request body and where its events' `ts` digits are.
struct StampedBody {
    text: String,
    ts_at: Vec<usize>,
}

impl StampedBody {
    fn new(text: String) -> Self {
        let placeholder = TS_PLACEHOLDER.to_string();
        let ts_at = text.match_indices(&placeholder).map(|(at, _)| at).collect();
        StampedBody { text, ts_at }
    }

    /// The body with every `ts` set to `ts_ms`, into `out`.
    fn stamp_into(&self, out: &mut Vec<u8>, ts_ms: u64) {
        out.clear();
        out.extend_from_slice(self.text.as_bytes());
        let digits = format!("{ts_ms:013}");
        for &at in &self.ts_at {
            out[at..at + digits.len()].copy_from_slice(digits.as_bytes());
        }
    }
}

/// Now, in epoch milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Shared {
    accepted: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    stop: AtomicBool,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Parse a Prometheus histogram's buckets and estimate a quantile (upper bound).
fn histogram_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    soak::quantile_between(&[], &soak::buckets(metrics, name), q)
}

/// A lag quantile for the report: milliseconds, or a note when it lies past
/// the histogram's largest bucket (JSON has no infinity).
fn lag_ms(seconds: Option<f64>) -> Value {
    match seconds {
        Some(s) if s.is_finite() => json!(s * 1e3),
        Some(_) => json!("over the largest bucket"),
        None => Value::Null,
    }
}

/// Run the load generator.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if !(1..=10).contains(&args.batch) {
        bail!("--batch must be from 1 to 10 (PutEvents takes at most 10 entries)");
    }
    let duration = parse_duration(args.soak.as_deref().unwrap_or(&args.duration)).map_err(|e| {
        anyhow::anyhow!(
            "--{}: {e}",
            if args.soak.is_some() {
                "soak"
            } else {
                "duration"
            }
        )
    })?;
    let every = parse_duration(&args.every).map_err(|e| anyhow::anyhow!("--every: {e}"))?;
    let drain_wait = match &args.drain_wait {
        Some(text) => parse_duration(text).map_err(|e| anyhow::anyhow!("--drain-wait: {e}"))?,
        None if args.soak.is_some() => Duration::from_secs(600),
        None => Duration::from_secs(120),
    };
    if every.is_zero() {
        bail!("--every must be longer than 0");
    }
    let url = args.server.url();
    let admin = args.server.client();
    let authorization = args.server.token().map(|t| format!("Bearer {t}"));
    admin.get("/healthz")?;
    let before = admin.get("/metrics").ok();
    let shared = Arc::new(Shared {
        accepted: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    // Pre-generate bodies so the generator is not what is measured; each
    // request then gets the time of sending as its events' `ts`, as an
    // audit trail's changes come in time order (the stores' time indexes
    // see what they see in production, not random times).
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let bodies: Arc<Vec<StampedBody>> = Arc::new(
        (0..512u64)
            .map(|_| {
                let entries: Vec<Value> = (0..args.batch)
                    .map(|_| audit_entry(&mut rng, TS_PLACEHOLDER))
                    .collect();
                StampedBody::new(json!({"Entries": entries}).to_string())
            })
            .collect(),
    );
    let per_conn_interval = if args.rate == 0 {
        None
    } else {
        Some(Duration::from_secs_f64(
            args.connections as f64 * args.batch as f64 / args.rate as f64,
        ))
    };
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    // Watch the server's backlog while sending: delivery keeps up only if
    // it stays bounded.
    let most_pending = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (admin, shared, most) = (args.server.client(), shared.clone(), most_pending.clone());
        std::thread::spawn(move || {
            while !shared.stop.load(Relaxed) {
                if let Ok(status) = admin.get("/v1/admin/status") {
                    let owed = ["pending-deliveries", "spilled-deliveries"]
                        .iter()
                        .filter_map(|k| status[*k].as_u64())
                        .sum::<u64>();
                    most.fetch_max(owed, Relaxed);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let seed = args.seed;
    let threads: Vec<_> = (0..args.connections)
        .map(|c| {
            let shared = shared.clone();
            let bodies = bodies.clone();
            let url = format!("{}/", url.trim_end_matches('/'));
            let batch = args.batch as u64;
            let authorization = authorization.clone();
            std::thread::spawn(move || {
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .new_agent();
                let mut local = Vec::new();
                let mut next = Instant::now()
                    + per_conn_interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / 64.0));
                let mut i = c;
                let mut backoff = Throttled::new(seed ^ c as u64);
                let mut body = Vec::new();
                while !shared.stop.load(Relaxed) {
                    if let Some(interval) = per_conn_interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += interval;
                    }
                    bodies[i % bodies.len()].stamp_into(&mut body, now_ms());
                    i += 1;
                    let sent = Instant::now();
                    let mut request = agent
                        .post(&url)
                        .header("X-Amz-Target", "AWSEvents.PutEvents")
                        .header("Content-Type", "application/x-amz-json-1.1");
                    if let Some(a) = &authorization {
                        request = request.header("Authorization", a);
                    }
                    let result = request.send(&body[..]);
                    match result {
                        Ok(mut r) if r.status().as_u16() == 200 => {
                            backoff.reset();
                            local.push(sent.elapsed());
                            let text = r.body_mut().read_to_string().unwrap_or_default();
                            let failed = serde_json::from_str::<Value>(&text)
                                .ok()
                                .and_then(|v| v["FailedEntryCount"].as_u64())
                                .unwrap_or(batch);
                            shared.accepted.fetch_add(batch - failed, Relaxed);
                            shared.failed.fetch_add(failed, Relaxed);
                        }
                        Ok(r) if r.status().as_u16() == 503 => {
                            shared.throttled.fetch_add(batch, Relaxed);
                            // As an AWS SDK does on throttling: wait before
                            // sending again, rather than spend both sides'
                            // CPU on refusals.
                            std::thread::sleep(backoff.next_delay());
                            continue;
                        }
                        _ => {
                            shared.failed.fetch_add(batch, Relaxed);
                        }
                    }
                }
                shared
                    .latencies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(local);
            })
        })
        .collect();
    let samples = if args.soak.is_some() {
        let live = matches!(args.output, OutputFormat::Table);
        soak::watch(&admin, &shared, started, duration, every, live)
    } else {
        std::thread::sleep(duration);
        Vec::new()
    };
    shared.stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed();
    let _ = watcher.join();
    let generator_cpu = process_cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    // Let deliveries finish before reading the lag histogram: those held
    // in memory and those a lane that fell behind left in the journal.
    let drain_deadline = Instant::now() + drain_wait;
    let mut drained = false;
    while Instant::now() < drain_deadline {
        let owed = admin.get("/v1/admin/status").ok().and_then(|s| {
            Some(s["pending-deliveries"].as_u64()? + s["spilled-deliveries"].as_u64().unwrap_or(0))
        });
        if owed == Some(0) {
            drained = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let drained_after = started.elapsed();
    let metrics = admin.get("/metrics").ok();
    let metrics_text = metrics.as_ref().and_then(Value::as_str).unwrap_or("");
    let soak = (!samples.is_empty()).then(|| {
        let last = samples.last().cloned().unwrap_or_default();
        let closing = soak::closing(&admin, &shared, started, &last);
        // What the server accepted while this ran (others may send too).
        let counted = |m: &Option<Value>| {
            m.as_ref()
                .and_then(Value::as_str)
                .map(|t| soak::metric_sum(t, "trailmark_events_accepted_total"))
        };
        let server_accepted = counted(&metrics)
            .zip(counted(&before))
            .map(|(after, before)| after.saturating_sub(before));
        soak::summary(&samples, &closing, server_accepted)
    });
    let mut lat = shared
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    lat.sort();
    let accepted = shared.accepted.load(Relaxed);
    let report = json!({
        "seconds": elapsed.as_secs_f64(),
        "connections": args.connections,
        "batch": args.batch,
        "target-rate": args.rate,
        "accepted": accepted,
        "accepted-per-second": accepted as f64 / elapsed.as_secs_f64(),
        "failed": shared.failed.load(Relaxed),
        "throttled": shared.throttled.load(Relaxed),
        "ack-ms": {
            "p50": quantile(&lat, 0.5).as_secs_f64() * 1e3,
            "p99": quantile(&lat, 0.99).as_secs_f64() * 1e3,
        },
        "delivery-lag-ms (bucket upper bound)": {
            "p50": lag_ms(histogram_quantile(metrics_text, "trailmark_delivery_lag_seconds", 0.5)),
            "p99": lag_ms(histogram_quantile(metrics_text, "trailmark_delivery_lag_seconds", 0.99)),
        },
        // Null when deliveries were still owed after the drain wait.
        "all-delivered-after-seconds": drained.then_some(drained_after.as_secs_f64()),
        "delivered-per-second": drained.then(|| accepted as f64 / drained_after.as_secs_f64()),
        "most-owed-deliveries": most_pending.load(Relaxed),
        "load-generator-cpu-seconds": generator_cpu,
    });
    let mut report = report;
    if let Some(soak) = &soak {
        report["soak"] = soak.clone();
    }
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Table => {
            println!(
                "sent for            {:.1} s over {} connections, {} events per request",
                elapsed.as_secs_f64(),
                args.connections,
                args.batch
            );
            println!(
                "accepted            {accepted} ({:.0} events/s)",
                report["accepted-per-second"].as_f64().unwrap_or(0.0)
            );
            println!("throttled (503)     {}", report["throttled"]);
            println!("failed              {}", report["failed"]);
            println!(
                "ack latency         p50 {:.2} ms, p99 {:.2} ms",
                report["ack-ms"]["p50"].as_f64().unwrap_or(0.0),
                report["ack-ms"]["p99"].as_f64().unwrap_or(0.0)
            );
            let lag = &report["delivery-lag-ms (bucket upper bound)"];
            let bound = |v: &Value| match v {
                Value::Number(n) => format!("<= {n} ms"),
                Value::String(s) => s.clone(),
                _ => "n/a".to_owned(),
            };
            println!(
                "delivery lag        p50 {}, p99 {}",
                bound(&lag["p50"]),
                bound(&lag["p99"])
            );
            if drained {
                println!("all delivered after {:.1} s", drained_after.as_secs_f64());
                println!(
                    "delivered           {:.0} events/s (every matched rule finished; accepted / \
                     all delivered after)",
                    report["delivered-per-second"].as_f64().unwrap_or(0.0)
                );
            } else {
                println!(
                    "not all delivered   deliveries still owed {:.0} s after the load stopped \
                     (see the server's /v1/admin/status)",
                    drain_wait.as_secs_f64()
                );
            }
            println!(
                "backlog             at most {} deliveries owed (in memory or in the journal)",
                report["most-owed-deliveries"]
            );
            match generator_cpu {
                Some(cpu) => println!(
                    "load generator CPU  {cpu:.1} s ({:.0}% of one core while sending)",
                    100.0 * cpu / elapsed.as_secs_f64()
                ),
                None => println!("load generator CPU  n/a"),
            }
            if let Some(soak) = &soak {
                soak::print_summary(soak);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// CPU time (user + system) this process has used, in seconds, from
/// `/proc/self/stat`; `None` where there is no such file.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some((ticks(11)? + ticks(12)?) / hz)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_request_carries_the_time_of_sending_as_its_events_ts() {
        let mut rng = fastrand::Rng::with_seed(1);
        let entries: Vec<Value> = (0..3)
            .map(|_| audit_entry(&mut rng, TS_PLACEHOLDER))
            .collect();
        let body = StampedBody::new(json!({ "Entries": entries }).to_string());
        assert_eq!(body.ts_at.len(), 3);
        let mut out = Vec::new();
        body.stamp_into(&mut out, 1_765_000_000_123);
        let sent: Value = serde_json::from_slice(&out).expect("still JSON");
        for entry in sent["Entries"].as_array().expect("entries") {
            let detail: Value =
                serde_json::from_str(entry["Detail"].as_str().expect("detail")).expect("JSON");
            assert_eq!(detail["ts"], 1_765_000_000_123_u64);
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_and_starts_over_after_a_success() {
        let mut backoff = Throttled::new(7);
        let base = Throttled::CURVE.initial;
        let cap = Throttled::CURVE.max;
        let ceilings: Vec<Duration> = (0..12)
            .map(|n| {
                let ceiling = base.saturating_mul(1 << n).min(cap);
                let delay = backoff.next_delay();
                assert!(delay <= ceiling, "refusal {n}: {delay:?} > {ceiling:?}");
                ceiling
            })
            .collect();
        assert_eq!(ceilings[0], Duration::from_millis(10));
        assert_eq!(ceilings[11], cap);
        backoff.reset();
        assert!(backoff.next_delay() <= base);
        // Jitter: the waits after the cap is reached are not all equal.
        let waits: HashSet<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
