//! Heads recorded outside the journal (a [`ChainHead`] or signed [`Checkpoint`]s) that the
//! verification walk must find in the chain.
//!
//! Each expected head is resolved when the walk reaches its seq, so its problems land in
//! the report in chain order: a rewritten history shows up at the first checkpoint whose
//! record no longer has the signed hash.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::format::Hash;
use crate::index::ChainHead;
use crate::keys::PublicKey;
use crate::verify::{CheckpointSummary, Problem, ProblemKind};

/// One head the chain must reach.
struct Expected {
    seq: u64,
    /// The signed hash; meaningful only when `trusted`.
    hash: Hash,
    /// Names it in messages: `checkpoint #3 (seq 40, time_ms 1700000000000)`.
    label: String,
    /// Its signature verified (or it was given directly): compare its hash.
    trusted: bool,
    /// Reported as [`ProblemKind::BadCheckpoint`] when the walk reaches `seq`.
    issue: Option<String>,
}

/// The expected heads not yet reached, by seq, and what the reached ones showed.
pub(crate) struct Heads {
    pending: BTreeMap<u64, Vec<Expected>>,
    summary: CheckpointSummary,
    /// The last head found intact: `(seq, label)`.
    last_verified: Option<(u64, String)>,
}

impl Heads {
    /// Nothing to check: plain [`verify`](crate::verify()).
    pub(super) fn none() -> Heads {
        Heads {
            pending: BTreeMap::new(),
            summary: CheckpointSummary::default(),
            last_verified: None,
        }
    }

    /// One head from [`verify_against`](crate::verify_against).
    pub(super) fn single(head: ChainHead) -> Heads {
        let mut heads = Heads::none();
        heads.push(Expected {
            seq: head.seq,
            hash: head.hash,
            label: "the checkpoint head".to_owned(),
            trusted: true,
            issue: None,
        });
        heads
    }

    /// Signed checkpoints, in the order they were made. Each signature is checked here;
    /// a checkpoint that does not verify is reported and not used. Checkpoints must go
    /// forward: a later one that signs a lower seq, is dated before an earlier one, or
    /// signs another hash for the same seq, is reported (and still checked: its
    /// signature is good, so its claim is real — two histories were signed).
    pub(super) fn checkpoints(checkpoints: &[Checkpoint], key: &PublicKey) -> Heads {
        let mut heads = Heads::none();
        let mut previous: Option<(usize, &Checkpoint, Hash)> = None;
        for (i, checkpoint) in checkpoints.iter().enumerate() {
            let label = format!(
                "checkpoint #{} (seq {}, time_ms {})",
                i + 1,
                checkpoint.seq,
                checkpoint.time_ms
            );
            let verified = checkpoint
                .verify_signature(key)
                .and_then(|()| checkpoint.head());
            let head = match verified {
                Ok(head) => head,
                Err(error) => {
                    heads.summary.rejected += 1;
                    heads.push(Expected {
                        seq: checkpoint.seq,
                        hash: [0; 32],
                        label,
                        trusted: false,
                        issue: Some(error.to_string()),
                    });
                    continue;
                }
            };
            let issue = previous.and_then(|(j, before, before_hash)| {
                out_of_order(j, before, before_hash != head.hash, checkpoint)
            });
            previous = Some((i, checkpoint, head.hash));
            heads.push(Expected {
                seq: head.seq,
                hash: head.hash,
                label,
                trusted: true,
                issue,
            });
        }
        heads
    }

    fn push(&mut self, expected: Expected) {
        self.summary.total += 1;
        self.pending.entry(expected.seq).or_default().push(expected);
    }

    /// The walk starts at the oldest retained record: `seq` is the record before it
    /// (known by the first segment's header). Older heads cannot be checked any more.
    pub(super) fn start(&mut self, seq: u64, hash: Hash, out: &mut Vec<Problem>, path: &Path) {
        let older = self.take_below(seq);
        for expected in older {
            if let Some(issue) = &expected.issue {
                out.push(bad_checkpoint(&expected, issue, path, 0));
            }
            if expected.trusted {
                self.summary.skipped += 1;
            }
        }
        self.reach(seq, hash, out, path, 0);
    }

    /// The walk accepted record `seq` with `hash` (at `path`, `offset`).
    pub(super) fn reach(
        &mut self,
        seq: u64,
        hash: Hash,
        out: &mut Vec<Problem>,
        path: &Path,
        offset: u64,
    ) {
        // Heads below `seq` still pending were jumped over: their record is missing or
        // unreadable (the walk reported why just before).
        for expected in self.take_below(seq) {
            if let Some(issue) = &expected.issue {
                out.push(bad_checkpoint(&expected, issue, path, offset));
            }
            if expected.trusted {
                let detail = format!(
                    "{} signed record {}, but the chain has no valid record {} (see the problems before)",
                    expected.label, expected.seq, expected.seq
                );
                out.push(problem(
                    ProblemKind::HeadMismatch,
                    expected.seq,
                    path,
                    offset,
                    detail,
                ));
            }
        }
        for expected in self.pending.remove(&seq).unwrap_or_default() {
            if let Some(issue) = &expected.issue {
                out.push(bad_checkpoint(&expected, issue, path, offset));
            }
            if !expected.trusted {
                continue;
            }
            if expected.hash == hash {
                self.summary.verified += 1;
                self.summary.last_verified_seq = Some(seq);
                self.last_verified = Some((seq, expected.label));
                continue;
            }
            let since = match &self.last_verified {
                Some((good, label)) if *good < seq => format!(
                    "; record {good} still matches {label}, so a record in {}..={seq} was changed",
                    good + 1
                ),
                _ => String::new(),
            };
            let detail = format!(
                "record {seq} has hash {}, but {} signed {}: history was rewritten{since}",
                hex::encode(hash),
                expected.label,
                hex::encode(expected.hash),
            );
            out.push(problem(
                ProblemKind::HeadMismatch,
                seq,
                path,
                offset,
                detail,
            ));
        }
    }

    /// The walk ended at `last_seq` (at `path`, `offset`): heads beyond it were truncated.
    pub(super) fn finish(
        mut self,
        last_seq: u64,
        out: &mut Vec<Problem>,
        path: &Path,
        offset: u64,
    ) -> CheckpointSummary {
        let beyond: Vec<Expected> = std::mem::take(&mut self.pending)
            .into_values()
            .flatten()
            .collect();
        let mut truncated: Option<&Expected> = None;
        let mut count = 0;
        for expected in &beyond {
            if let Some(issue) = &expected.issue {
                out.push(bad_checkpoint(expected, issue, path, offset));
            }
            if !expected.trusted {
                continue;
            }
            if expected.seq <= last_seq {
                // Only without any segment (nothing was walked): nothing to check against.
                self.summary.skipped += 1;
                continue;
            }
            count += 1;
            truncated = Some(expected); // `beyond` is sorted by seq: the highest wins
        }
        if let Some(expected) = truncated {
            let others = match count - 1 {
                0 => String::new(),
                n => format!(" ({n} other checkpoint(s) also point past the end)"),
            };
            let detail = format!(
                "the journal ends at seq {last_seq} but {} signed seq {}: records {}..={} were truncated{others}",
                expected.label,
                expected.seq,
                last_seq + 1,
                expected.seq,
            );
            out.push(problem(
                ProblemKind::Truncated,
                expected.seq,
                path,
                offset,
                detail,
            ));
        }
        self.summary
    }

    /// Removes and returns the pending heads with a seq below `seq`, in seq order.
    fn take_below(&mut self, seq: u64) -> Vec<Expected> {
        let rest = self.pending.split_off(&seq);
        std::mem::replace(&mut self.pending, rest)
            .into_values()
            .flatten()
            .collect()
    }
}

/// Why `checkpoint` cannot come after `before` (checkpoint #`j + 1`), if it cannot.
/// `other_hash`: the two sign different hashes.
fn out_of_order(
    j: usize,
    before: &Checkpoint,
    other_hash: bool,
    checkpoint: &Checkpoint,
) -> Option<String> {
    let earlier = format!(
        "checkpoint #{} (seq {}, time_ms {})",
        j + 1,
        before.seq,
        before.time_ms
    );
    if checkpoint.seq < before.seq {
        Some(format!(
            "signs a lower seq than {earlier} before it: checkpoints out of order"
        ))
    } else if checkpoint.time_ms < before.time_ms {
        Some(format!(
            "is dated before {earlier}, yet comes after it and signs seq {}: checkpoints out of order",
            checkpoint.seq
        ))
    } else if checkpoint.seq == before.seq && other_hash {
        Some(format!(
            "signs another hash for the same seq as {earlier}: two histories were signed"
        ))
    } else {
        None
    }
}

fn bad_checkpoint(expected: &Expected, issue: &str, path: &Path, offset: u64) -> Problem {
    let detail = format!("{}: {issue}", expected.label);
    problem(
        ProblemKind::BadCheckpoint,
        expected.seq,
        path,
        offset,
        detail,
    )
}

fn problem(kind: ProblemKind, seq: u64, path: &Path, offset: u64, detail: String) -> Problem {
    Problem {
        kind,
        seq: Some(seq),
        path: path.to_path_buf(),
        offset,
        detail,
    }
}
