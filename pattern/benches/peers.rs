//! trailmark-pattern against the crate `quamina` on the same generated rules and
//! events, per operator kind and rule count, in one process so that both see the same
//! machine load. Rounds alternate between the engines (each round runs one engine over
//! the events for a fixed slice of the thread's CPU time, so that time spent preempted by
//! other processes does not count); the table gives each side's median events per CPU
//! second and the median of the per-round ratios.
//!
//! Run: `cargo bench -p trailmark-pattern --bench peers`
//! Filters (environment): `PEERS_KINDS=exact,mixed`, `PEERS_SIZES=10,100`,
//! `PEERS_SIDES=ours` (or `peer`), `PEERS_ROUNDS=7`, `PEERS_SLICE_MS=40`, and
//! `PEERS_EVENTS=N` to run exactly N events per side instead of timing (for
//! `valgrind --tool=callgrind`).

mod workload;

use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use trailmark_bench_support::thread_cpu_nanos;
use trailmark_pattern::{Matcher, MatcherBuilder, Pattern};

/// Counts live heap bytes, their peak, and allocations, to measure what building a
/// matcher takes and whether matching allocates.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let live = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What building took: thread CPU time and peak heap growth.
struct Built<T> {
    value: T,
    time: Duration,
    peak_bytes: usize,
}

fn measure_build<T>(f: impl FnOnce() -> T) -> Built<T> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = thread_cpu_nanos();
    let value = f();
    let time = Duration::from_nanos(thread_cpu_nanos() - t);
    Built {
        value,
        time,
        peak_bytes: PEAK.load(Ordering::Relaxed).saturating_sub(base),
    }
}

/// `$or` spelled out as separate patterns (quamina has no `$or`; several patterns under
/// one id are its way to say "any of").
fn expand_or(v: &Value) -> Vec<Value> {
    let Value::Object(m) = v else {
        return vec![v.clone()];
    };
    let mut acc: Vec<serde_json::Map<String, Value>> = vec![serde_json::Map::new()];
    for (k, child) in m {
        let options: Vec<(Option<&str>, Value)> = if k == "$or" {
            let alts = child.as_array().expect("$or is an array");
            alts.iter()
                .flat_map(expand_or)
                .map(|alt| (None, alt))
                .collect()
        } else if child.is_object() {
            expand_or(child)
                .into_iter()
                .map(|c| (Some(k.as_str()), c))
                .collect()
        } else {
            vec![(Some(k.as_str()), child.clone())]
        };
        let mut next = Vec::new();
        for base in &acc {
            for (key, opt) in &options {
                let mut m = base.clone();
                match key {
                    Some(key) => merge(&mut m, key, opt.clone()),
                    None => {
                        for (k2, v2) in opt.as_object().expect("alternatives are objects") {
                            merge(&mut m, k2, v2.clone());
                        }
                    }
                }
                next.push(m);
            }
        }
        acc = next;
    }
    acc.into_iter().map(Value::Object).collect()
}

fn merge(m: &mut serde_json::Map<String, Value>, k: &str, v: Value) {
    match (m.get_mut(k), v) {
        (Some(Value::Object(a)), Value::Object(b)) => {
            for (k2, v2) in b {
                merge(a, &k2, v2);
            }
        }
        (_, v) => {
            m.insert(k.to_string(), v);
        }
    }
}

type Peer = quamina::Quamina<u32>;

/// Builds the peer; `Err` says why it could not (an error or a panic).
fn build_peer(rules: &[Value]) -> Result<Peer, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut q = Peer::new();
        for (i, r) in rules.iter().enumerate() {
            for alt in expand_or(r) {
                q.add_pattern(i as u32, &alt.to_string())
                    .map_err(|e| format!("error: {e}"))?;
            }
        }
        Ok(q)
    }))
    .unwrap_or_else(|p| Err(format!("panics: {}", panic_text(&p))))
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    let s = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into());
    s.chars().take(60).collect()
}

fn build_ours(rules: &[Value]) -> Matcher {
    let mut b = MatcherBuilder::new();
    for (i, r) in rules.iter().enumerate() {
        b.add(
            i as u32,
            &Pattern::parse(r).expect("benchmark rules are valid"),
        );
    }
    b.build()
}

/// Runs `f` over the events cyclically for one slice of thread CPU time (or exactly
/// `fixed` events); events per CPU second.
fn slice(
    events: &[Vec<u8>],
    budget: Duration,
    fixed: Option<usize>,
    mut f: impl FnMut(&[u8]),
) -> f64 {
    let t = thread_cpu_nanos();
    let budget = budget.as_nanos() as u64;
    let rate = |n: usize| n as f64 / ((thread_cpu_nanos() - t).max(1) as f64 / 1e9);
    let mut n = 0usize;
    loop {
        for e in events {
            f(e);
            n += 1;
            if fixed.is_some_and(|k| n >= k) {
                return rate(n);
            }
        }
        if fixed.is_none() && thread_cpu_nanos() - t >= budget {
            return rate(n);
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let kinds = env_list("PEERS_KINDS");
    let sizes: Vec<usize> = env_list("PEERS_SIZES")
        .map(|v| v.iter().map(|s| s.parse().expect("PEERS_SIZES")).collect())
        .unwrap_or_else(|| vec![10, 100, 1_000, 10_000]);
    let sides = env_list("PEERS_SIDES").unwrap_or_else(|| vec!["ours".into(), "peer".into()]);
    let (run_ours, run_peer) = (
        sides.iter().any(|s| s == "ours"),
        sides.iter().any(|s| s == "peer"),
    );
    let rounds: usize = std::env::var("PEERS_ROUNDS").map_or(7, |v| v.parse().expect("rounds"));
    let slice_ms: u64 = std::env::var("PEERS_SLICE_MS").map_or(40, |v| v.parse().expect("ms"));
    let fixed: Option<usize> = std::env::var("PEERS_EVENTS")
        .ok()
        .map(|v| v.parse().expect("n"));
    let budget = Duration::from_millis(slice_ms);

    let events = workload::events(1_000);
    let avg = events.iter().map(Vec::len).sum::<usize>() / events.len();
    println!("events: {} of {avg} bytes on average", events.len());
    println!(
        "| kind | rules | ours events/s | quamina events/s | ours / quamina | build ours (CPU time, peak heap) | build quamina | matches per 1,000 events (ours / quamina) |"
    );
    println!("|---|---:|---:|---:|---:|---|---|---|");
    for (kind, rule) in workload::KINDS {
        if kinds.as_ref().is_some_and(|k| !k.iter().any(|k| k == kind)) {
            continue;
        }
        for &n in &sizes {
            let rules = workload::rules(n, *rule);
            let ours = run_ours.then(|| measure_build(|| build_ours(&rules)));
            let peer = run_peer.then(|| {
                let prev = std::panic::take_hook();
                std::panic::set_hook(Box::new(|_| {}));
                let b = measure_build(|| build_peer(&rules));
                std::panic::set_hook(prev);
                b
            });
            // Agreement check: total matches over the 1,000 events.
            let ours_matches: Option<usize> = ours.as_ref().map(|m| {
                events
                    .iter()
                    .map(|e| m.value.matches_json(e).expect("valid event").len())
                    .sum()
            });
            let mut peer_state: Result<&Peer, String> = match &peer {
                Some(b) => b.value.as_ref().map_err(Clone::clone),
                None => Err("not run".into()),
            };
            let peer_matches = match peer_state {
                Ok(q) => {
                    let prev = std::panic::take_hook();
                    std::panic::set_hook(Box::new(|_| {}));
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        events
                            .iter()
                            .map(|e| {
                                let mut v = q.matches_for_event(e).expect("valid event");
                                v.sort_unstable();
                                v.dedup();
                                v.len()
                            })
                            .sum::<usize>()
                    }));
                    std::panic::set_hook(prev);
                    match r {
                        Ok(c) => Some(c),
                        Err(p) => {
                            peer_state = Err(format!("panics matching: {}", panic_text(&p)));
                            None
                        }
                    }
                }
                Err(_) => None,
            };
            let (mut ours_rates, mut peer_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            // Ours through the hot-path API (a session: no allocation per event).
            let mut session = ours.as_ref().map(|b| b.value.session());
            for round in 0..rounds {
                let mut o = None;
                let mut p = None;
                for side in 0..2 {
                    // Alternate which engine goes first.
                    match (side + round) % 2 {
                        0 => {
                            if let Some(session) = &mut session {
                                o = Some(slice(&events, budget, fixed, |e| {
                                    let m = session.matches(black_box(e)).expect("valid");
                                    black_box(m.rules());
                                }));
                            }
                        }
                        _ => {
                            if let Ok(q) = peer_state {
                                p = Some(slice(&events, budget, fixed, |e| {
                                    black_box(q.matches_for_event(black_box(e)).expect("valid"));
                                }));
                            }
                        }
                    }
                }
                if let Some(o) = o {
                    ours_rates.push(o);
                }
                if let Some(p) = p {
                    peer_rates.push(p);
                }
                if let (Some(o), Some(p)) = (o, p) {
                    ratios.push(o / p);
                }
            }
            let cell = |rates: &Vec<f64>| {
                if rates.is_empty() {
                    "–".to_string()
                } else {
                    human(median(rates.clone()))
                }
            };
            let peer_cell = match peer_state {
                Ok(_) => cell(&peer_rates),
                Err(e) => e.to_string(),
            };
            let ratio = if ratios.is_empty() {
                "–".to_string()
            } else {
                format!("{:.2}", median(ratios))
            };
            let build = |time: Duration, peak: usize| {
                format!(
                    "{:.0} ms, {:.1} MiB",
                    time.as_secs_f64() * 1e3,
                    peak as f64 / 1048576.0
                )
            };
            println!(
                "| {kind} | {n} | {} | {peer_cell} | {ratio} | {} | {} | {} / {} |",
                cell(&ours_rates),
                ours.as_ref()
                    .map_or("–".into(), |b| build(b.time, b.peak_bytes)),
                peer.as_ref()
                    .map_or("–".into(), |b| build(b.time, b.peak_bytes)),
                ours_matches.map_or("–".into(), |c| c.to_string()),
                peer_matches.map_or("–".into(), |c| c.to_string()),
            );
        }
    }
}
