//! Encryption at rest: envelope encryption of segment payloads.
//!
//! - A **key-encryption key** (KEK) lives in a key file ([`Keyring`]): JSON, mode 0600,
//!   created on first use. During a rotation it holds the old and the new key; the
//!   `current` one seals new data keys.
//! - Every encrypted segment has its own random 256-bit **data key**, sealed by the
//!   current KEK into a sidecar file beside it (`00000000000000000001.dek`, written and
//!   fsynced before the segment is created). Rotating the KEK re-seals these small files
//!   and never rewrites a segment ([`rotate_key_file`]).
//! - Each record's payload is stored as `nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`,
//!   with the record's seq and kind as associated data, so a payload moved to another
//!   record does not open. A nonce is a random prefix drawn when the data key is opened
//!   and a counter: a seq written again after a torn tail was cut never reuses one. The
//!   AEAD is XAES-256-GCM (`xaes.rs`: ring's AES-256-GCM under a subkey derived from the
//!   nonce's first half), named in the `.dek` file; data keys written before it name
//!   none and keep [`XChaCha20Poly1305`] (ring's ChaCha20-Poly1305 under an HChaCha20
//!   subkey).
//! - The hash chain covers the stored (encrypted) bytes: [`verify`](crate::verify) checks
//!   the chain without any key, and with the key
//!   ([`verify_opening`](crate::verify_opening)) also opens every record.
//!
//! - Stores outside the journal (archived bodies, dead letters) get data keys of the
//!   same kind from [`StoreKey`], in `.dek` files of their own directories, which the
//!   rotation re-seals the same way.
//!
//! An encrypted segment is marked by format version 2 in its header; a plaintext one keeps
//! version 1, so directories written without encryption open exactly as before.

mod data_key;
mod keyring;
mod rotate;
mod store_key;
mod xaes;
mod xchacha;

pub use data_key::data_key_path;
pub(crate) use data_key::{
    DataKey, SEAL_OVERHEAD, create_data_key, load_data_key, remove_data_key,
};
pub use keyring::{ExternalKek, Keyring};
pub use rotate::{Rotation, rotate_key_file};
pub use store_key::StoreKey;
pub use xaes::Xaes256Gcm;
pub use xchacha::XChaCha20Poly1305;

/// An AEAD's `open`, as the tests call it: nonce, associated data, sealed.
#[cfg(test)]
type Open<'a> = &'a dyn Fn(&[u8; 24], &[u8], &[u8]) -> Option<Vec<u8>>;

/// What both AEADs' tests check of a value they sealed: `sealed` is
/// `b"alice@example.com"` sealed under `nonce` and the associated data
/// `b"here"`; `open` opens with the same key, `open_other` with another.
#[cfg(test)]
pub(crate) fn assert_opens_only_as_sealed(
    sealed: &[u8],
    nonce: &[u8; 24],
    open: Open<'_>,
    open_other: Open<'_>,
) {
    assert_eq!(open(nonce, b"there", sealed), None, "other aad");
    for at in [0, 23] {
        let mut other = *nonce;
        other[at] ^= 1;
        assert_eq!(open(&other, b"here", sealed), None, "nonce byte {at}");
    }
    assert_eq!(open_other(nonce, b"here", sealed), None, "other key");
    let mut flipped = sealed.to_vec();
    flipped[0] ^= 1;
    assert_eq!(open(nonce, b"here", &flipped), None, "altered");
    assert_eq!(open(nonce, b"here", &sealed[..15]), None, "short");
    assert_eq!(open(nonce, b"here", &[]), None, "empty");
    assert_eq!(
        open(nonce, b"here", sealed).as_deref(),
        Some(&b"alice@example.com"[..])
    );
}
