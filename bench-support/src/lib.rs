//! What Trailmark's benchmarks share: the calling thread's CPU time, for
//! runs on a shared machine. Time the thread spends preempted by other
//! processes is not counted, so numbers scatter less under load than wall
//! time (what the other work does to the caches still shows). Wall time is
//! the figure to quote; CPU time is for comparing two builds on a busy
//! machine.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use rustix::time::{ClockId, clock_gettime};

/// xorshift64*: a fixed-seed stream of numbers, so every run of a bench or
/// a test sees the same inputs, with no dependency. `Rng(seed)`; a seed of
/// 0 gives only zeros.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One of `xs` (not empty).
    pub fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Whether a bench is asked to measure CPU time: `TRAILMARK_BENCH_CPU_TIME`
/// set to anything but empty, `0`, `false` or `no` (so `=0` means wall time,
/// as it reads, rather than "set").
pub fn cpu_time_requested() -> bool {
    std::env::var("TRAILMARK_BENCH_CPU_TIME").is_ok_and(|v| asks_for_cpu_time(&v))
}

fn asks_for_cpu_time(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no"
    )
}

/// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds.
pub fn thread_cpu_nanos() -> u64 {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds * 1_000_000_000 + nanos
}

/// A criterion measurement of the benchmarking thread's CPU time, in
/// nanoseconds, formatted like wall time:
/// `Criterion::default().with_measurement(ThreadCpuTime)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, started: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, nanos: &u64) -> f64 {
        *nanos as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_the_same_every_run_and_stays_below_its_bound() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        assert!(xs.iter().all(|&x| x < 10));
        assert_eq!(xs, (0..100).map(|_| b.below(10)).collect::<Vec<_>>());
        assert!(xs.iter().any(|&x| x != xs[0]), "not constant");
        assert_eq!(Rng(7).pick(&["a", "b"]), Rng(7).pick(&["a", "b"]));
    }

    #[test]
    fn zero_false_and_empty_ask_for_wall_time() {
        for wall in ["", "0", "false", "No", " 0 "] {
            assert!(!asks_for_cpu_time(wall), "{wall:?}");
        }
        for cpu in ["1", "true", "yes"] {
            assert!(asks_for_cpu_time(cpu), "{cpu:?}");
        }
    }

    #[test]
    fn the_clock_counts_this_threads_work_and_not_its_sleep() {
        let start = thread_cpu_nanos();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = thread_cpu_nanos() - start;
        let mut x = 0u64;
        let busy_from = thread_cpu_nanos();
        while thread_cpu_nanos() - busy_from < 20_000_000 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let worked = thread_cpu_nanos() - busy_from;
        assert!(
            slept < 20_000_000,
            "a 50 ms sleep counted {slept} ns of CPU"
        );
        assert!(worked >= 20_000_000, "{worked} ns");
    }
}
