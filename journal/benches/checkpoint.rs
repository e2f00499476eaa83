//! Cost of one signed checkpoint: signing the head, and checking the signature.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p trailmark-journal --bench checkpoint -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_main};
use trailmark_journal::{ChainHead, Checkpoint, CheckpointKey};

fn checkpoint(c: &mut Criterion) {
    // Fixed seed: the numbers do not depend on system randomness.
    let key = CheckpointKey::from_seed(&[42; 32]);
    let public = key.public();
    let head = ChainHead {
        seq: 1_000_000,
        hash: [7; 32],
    };
    c.bench_function("checkpoint/sign", |b| {
        b.iter(|| Checkpoint::sign(std::hint::black_box(&head), 1_700_000_000_000, &key))
    });
    let signed = Checkpoint::sign(&head, 1_700_000_000_000, &key);
    c.bench_function("checkpoint/verify_signature", |b| {
        b.iter(|| {
            std::hint::black_box(&signed)
                .verify_signature(&public)
                .expect("a fresh checkpoint verifies")
        })
    });
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::checkpoint);
}

criterion_main!(group::benches);
