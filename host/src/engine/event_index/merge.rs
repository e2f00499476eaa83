//! Which runs to merge, and merging them.
//!
//! Size-tiered: a run's tier is the base-8 logarithm of its entry count.
//! When the newest runs of tier `t` or below number [`FAN_IN`], they are
//! merged into one, so each tier holds fewer than [`FAN_IN`] runs and an
//! entry is rewritten about once per tier it climbs (eight tiers from a
//! single entry to the cap). A run is never made larger than [`MAX_RUN`]
//! entries (256 MiB); runs of half that or more are full and merge no
//! further, so the index holds fewer than 64 runs plus one or two per
//! [`MAX_RUN`] / 2 entries retained.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::sync::Arc;

use super::IndexError;
use super::run::{self, Entry, Run};

/// Runs of one tier merged at once.
pub(super) const FAN_IN: usize = 8;

/// The most entries a run holds (16 M entries, 256 MiB).
pub(super) const MAX_RUN: u64 = 1 << 24;

/// A full run's tier: above every tier that merges.
const FULL: u32 = u32::MAX;

fn tier(count: u64) -> u32 {
    if count >= MAX_RUN / 2 {
        FULL
    } else {
        count.max(1).ilog2() / 3
    }
}

/// The runs to merge next (oldest first, by position in `counts`, their
/// entry counts in run order), if any.
pub(super) fn pick(counts: &[u64]) -> Option<Range<usize>> {
    let top = tier(MAX_RUN / 2 - 1);
    for t in 0..=top {
        // The newest runs of tier `t` or below.
        let start = counts
            .iter()
            .rposition(|&c| tier(c) > t)
            .map_or(0, |i| i + 1);
        if counts.len() - start < FAN_IN {
            continue;
        }
        // As many of them, newest first, as fit under the cap.
        let mut sum = 0;
        let mut from = counts.len();
        while from > start && sum + counts[from - 1] <= MAX_RUN {
            sum += counts[from - 1];
            from -= 1;
        }
        if counts.len() - from >= 2 {
            return Some(from..counts.len());
        }
    }
    None
}

/// Merge `inputs` (adjacent runs, oldest first) into one run covering their
/// run numbers, keeping the entries whose sequence is in `keep` and one of
/// each duplicate: a k-way merge, reading each input sequentially and
/// writing the output sequentially. The caller deletes the inputs once the
/// output is in place (a crash before that leaves them, covered by the
/// output, and the next open deletes them). One input is rewritten in
/// place (`keep` trims it). `None` if no entry was kept.
pub(super) fn merge(
    dir: &Path,
    inputs: &[Arc<Run>],
    keep: RangeInclusive<u64>,
) -> Result<Option<Run>, IndexError> {
    let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
        return Ok(None);
    };
    let ids = *first.ids.start()..=*last.ids.end();
    let expected = inputs.iter().map(|r| r.count).sum();
    let mut sources: Vec<_> = inputs.iter().map(|r| r.entries()).collect();
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(entry) = source.next() {
            heap.push(Reverse((entry?, i)));
        }
    }
    let mut previous: Option<Entry> = None;
    let merged = std::iter::from_fn(move || {
        loop {
            let Reverse((entry, i)) = heap.pop()?;
            match sources[i].next() {
                Some(Ok(next)) => heap.push(Reverse((next, i))),
                Some(Err(e)) => return Some(Err(e)),
                None => {}
            }
            if keep.contains(&entry.1) && previous != Some(entry) {
                previous = Some(entry);
                return Some(Ok(entry));
            }
        }
    });
    run::write(dir, ids, expected, merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_runs_of_a_tier_merge_and_fewer_do_not() {
        assert_eq!(pick(&[65_536; 7]), None);
        assert_eq!(pick(&[65_536; 8]), Some(0..8));
        // Smaller runs after a larger one count with its tier.
        let mut counts = vec![1 << 20, 65_536, 65_536];
        counts.extend([10; 6]);
        assert_eq!(pick(&counts), Some(1..9));
    }

    #[test]
    fn full_runs_stay_and_merges_stop_at_the_cap() {
        let full = MAX_RUN / 2;
        assert_eq!(pick(&[full; 20]), None);
        let big = MAX_RUN / 4;
        // Eight runs of a quarter of the cap: the newest four make one.
        assert_eq!(pick(&[big; 8]), Some(4..8));
    }
}
