//! Cost of sealing and opening one value with the journal's two AEADs:
//! XAES-256-GCM (every data key created now: ring's AES-256-GCM under a
//! CMAC-derived subkey, kept for the prefix the key seals with) and
//! XChaCha20-Poly1305 (keys written before it: HChaCha20 and ring's
//! ChaCha20-Poly1305), beside the `chacha20poly1305` crate that one replaced,
//! which produces the same bytes: at 64 B (a subject key, a small record),
//! 1 KiB (an event) and 16 KiB.
//!
//! Run: `CARGO_TARGET_DIR=... cargo bench -p trailmark-journal --bench seal -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use trailmark_journal::{XChaCha20Poly1305, Xaes256Gcm};

const SIZES: [usize; 3] = [64, 1024, 16 * 1024];

fn seal(c: &mut Criterion) {
    let key = [7u8; 32];
    let nonce = [9u8; 24];
    let aad = [1u8; 9];
    let ours = XChaCha20Poly1305::new(&key);
    let crate_aead = chacha20poly1305::XChaCha20Poly1305::new(&key.into());
    let xaes = Xaes256Gcm::new(&key).with_prefix(&[9u8; 12]);
    let mut group = c.benchmark_group("seal");
    for size in SIZES {
        let plain = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("xchacha", size), &plain, |b, plain| {
            b.iter(|| ours.seal(&nonce, &aad, black_box(plain)))
        });
        group.bench_with_input(BenchmarkId::new("xaes", size), &plain, |b, plain| {
            b.iter(|| {
                let mut out = Vec::new();
                xaes.seal_append(&nonce, &aad, black_box(plain), &mut out);
                out
            })
        });
        group.bench_with_input(
            BenchmarkId::new("chacha20poly1305", size),
            &plain,
            |b, plain| {
                b.iter(|| {
                    crate_aead
                        .encrypt(
                            &nonce.into(),
                            Payload {
                                msg: black_box(plain),
                                aad: &aad,
                            },
                        )
                        .expect("seal")
                })
            },
        );
    }
    group.finish();
    let mut group = c.benchmark_group("open");
    for size in SIZES {
        let sealed = ours.seal(&nonce, &aad, &vec![0x5a; size]);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("xchacha", size), &sealed, |b, sealed| {
            b.iter(|| ours.open(&nonce, &aad, black_box(sealed)).expect("opens"))
        });
        let mut by_xaes = Vec::new();
        xaes.seal_append(&nonce, &aad, &vec![0x5a; size], &mut by_xaes);
        group.bench_with_input(BenchmarkId::new("xaes", size), &by_xaes, |b, sealed| {
            b.iter(|| xaes.open(&nonce, &aad, black_box(sealed)).expect("opens"))
        });
        group.bench_with_input(
            BenchmarkId::new("chacha20poly1305", size),
            &sealed,
            |b, sealed| {
                b.iter(|| {
                    crate_aead
                        .decrypt(
                            &nonce.into(),
                            Payload {
                                msg: black_box(sealed),
                                aad: &aad,
                            },
                        )
                        .expect("opens")
                })
            },
        );
    }
    group.finish();
}

/// `criterion_group!` defines the group as a `pub fn`, kept out of the
/// bench's (documented) public items.
mod group {
    criterion::criterion_group!(benches, super::seal);
}

criterion_main!(group::benches);
