//! Paired timing of each plugin against its native twin, for a shared,
//! loaded machine: batches of wasm calls and native calls alternate, so both
//! sides see the same load, and each round gives one ratio. Prints the
//! median per-event time of each side and the median of the ratios, in
//! wall time and in the thread's CPU time. A fourth side is the wasm plugin
//! as the server runs it: batches of [`EVENTS_PER_CALL`] events parsed once
//! beforehand, per event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trailmark_backends::Event;
use trailmark_event::ParsedEvent;
use trailmark_runtime::Runtime;

use crate::Standard;
use crate::native::Native;
use crate::stores::Stores;
use trailmark_bench_support::thread_cpu_nanos;

/// Calls per batch: long enough to dwarf the clock reads, short enough for
/// many rounds.
const BATCH: u32 = 50;

/// Events per call of the batched side, the server's default `dispatch.batch`.
const EVENTS_PER_CALL: usize = 32;

/// Per-event nanoseconds of one batch: (wall, CPU).
fn time_batch(call: &mut dyn FnMut()) -> (f64, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_nanos());
    for _ in 0..BATCH {
        call();
    }
    let cpu = thread_cpu_nanos().saturating_sub(cpu) as f64;
    let wall = wall.elapsed().as_nanos() as f64;
    (wall / f64::from(BATCH), cpu / f64::from(BATCH))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs every plugin against its twin, with the config parsed per event
/// (as the guest does) and once, for `duration` each, and prints a table.
pub(crate) fn run(runtime: &Runtime, event: &Event, duration: Duration) {
    println!(
        "plugin    | clock | wasm µs | native µs | config once µs | wasm/native | wasm/once | \
         wasm batched µs | batched/once | rounds (medians; ratios per {BATCH}-call round)"
    );
    for plugin in Standard::ALL {
        let stores = Stores::default();
        let binding = plugin.bind(runtime, &stores);
        let config = plugin.config().to_string();
        let once = Native::new(plugin, &stores, &config).expect("the rule's config is valid");
        let parsed: Vec<Arc<ParsedEvent>> = (0..EVENTS_PER_CALL)
            .map(|_| Arc::new(ParsedEvent::new(event.clone())))
            .collect();
        let mut sides: [Box<dyn FnMut() + '_>; 4] = [
            Box::new(|| binding.call(event).expect("the plugin succeeds")),
            Box::new(|| {
                Native::call_parsing(plugin, &stores, &config, event).expect("the twin succeeds")
            }),
            Box::new(|| once.call(event).expect("the twin succeeds")),
            Box::new(|| {
                let results = binding.call_batch(&parsed);
                assert!(results.iter().all(Result::is_ok), "{results:?}");
            }),
        ];
        // Warm up every side (caches, branch predictors, the instance).
        let warm = Instant::now();
        while warm.elapsed() < duration / 5 {
            for side in &mut sides {
                time_batch(side);
            }
        }
        // Per side and clock (wall, CPU): per-event times, and ratios to wasm.
        let mut times: [[Vec<f64>; 2]; 4] = Default::default();
        let mut ratios: [[Vec<f64>; 2]; 3] = Default::default();
        let started = Instant::now();
        let mut round = 0_usize;
        while started.elapsed() < duration {
            // Rotate which side goes first, so none always follows another.
            let mut this_round = [(0.0, 0.0); 4];
            for k in 0..4 {
                let side = (round + k) % 4;
                this_round[side] = time_batch(&mut sides[side]);
            }
            let per_event = EVENTS_PER_CALL as f64;
            this_round[3] = (this_round[3].0 / per_event, this_round[3].1 / per_event);
            for (side, (wall, cpu)) in this_round.iter().enumerate() {
                times[side][0].push(*wall);
                times[side][1].push(*cpu);
            }
            for native in 0..2 {
                let (wasm, other) = (this_round[0], this_round[native + 1]);
                ratios[native][0].push(wasm.0 / other.0);
                ratios[native][1].push(wasm.1 / other.1);
            }
            let (batched, once) = (this_round[3], this_round[2]);
            ratios[2][0].push(batched.0 / once.0);
            ratios[2][1].push(batched.1 / once.1);
            round += 1;
        }
        for (clock, name) in ["wall", "cpu"].into_iter().enumerate() {
            let [wasm, native, once, batched] = &mut times;
            let [to_native, to_once, batched_to_once] = &mut ratios;
            println!(
                "{:9} | {name:5} | {:7.1} | {:9.1} | {:14.1} | {:11.2} | {:9.2} | {:15.1} | {:12.2} | {round}",
                plugin.name(),
                median(&mut wasm[clock]) / 1000.0,
                median(&mut native[clock]) / 1000.0,
                median(&mut once[clock]) / 1000.0,
                median(&mut to_native[clock]),
                median(&mut to_once[clock]),
                median(&mut batched[clock]) / 1000.0,
                median(&mut batched_to_once[clock]),
            );
        }
    }
}
