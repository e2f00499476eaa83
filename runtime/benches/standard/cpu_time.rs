//! A criterion measurement of the calling thread's CPU time, for runs on a
//! shared machine: time the thread spends preempted by other processes is
//! not counted, so the numbers scatter less under load than wall time.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds, formatted like wall time.
pub(crate) struct ThreadCpuTime {
    /// Lends its duration formatter.
    wall: WallTime,
}

impl ThreadCpuTime {
    pub(crate) fn new() -> ThreadCpuTime {
        ThreadCpuTime { wall: WallTime }
    }
}

/// The calling thread's CPU time so far, in nanoseconds.
pub(crate) fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and the clock id is a
    // constant every Linux kernel since 2.6.12 supports.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(
        status, 0,
        "the thread CPU clock is always available on Linux"
    );
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is not negative");
    let nanos = u64::try_from(now.tv_nsec).expect("CPU time is not negative");
    seconds * 1_000_000_000 + nanos
}

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
        self.wall.formatter()
    }
}
