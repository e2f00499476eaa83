//! XAES-256-GCM, the AEAD of every data key created since a `.dek` file names
//! its AEAD (older keys keep [`XChaCha20Poly1305`](super::XChaCha20Poly1305)).
//!
//! The construction of C2SP's XAES-256-GCM (c2sp.org/XAES-256-GCM): a
//! 192-bit nonce, of which the first 96 bits and the key derive a subkey by
//! the NIST SP 800-108r1 counter KDF over CMAC-AES256 (RustCrypto's `cmac`
//! and `aes`), and the last 96 bits are the nonce of AES-256-GCM (ring's,
//! assembly) under that subkey. The tests check the spec's vectors, its
//! intermediate values and its 10,000-iteration accumulated test.
//!
//! Why over XChaCha20-Poly1305: on x86-64 with AES-NI and carry-less
//! multiplication, this seals a 64-byte value or a 1 KiB record in about a
//! quarter of the time, and 16 KiB in a fifth (`benches/seal.rs`). Why the extended
//! nonce: a data key is opened again at every restart and by every reader, and
//! each opening draws its own random nonce prefix; 96 random bits of it pick a
//! subkey, under which a counter can never repeat a GCM nonce.
//!
//! A subkey costs two AES blocks and a GCM key setup, so the key keeps the one
//! its own openings seal with ([`Xaes256Gcm::with_prefix`]) and the last one it
//! opened with.

use std::sync::{Arc, Mutex};

use aes::Aes256;
use cmac::{Cmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroize;

/// Bytes of an XAES-256-GCM nonce.
pub(crate) const NONCE_LEN: usize = 24;
/// Bytes of the nonce that select the subkey.
pub(crate) const PREFIX_LEN: usize = 12;
/// Bytes of the authentication tag after the ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// An XAES-256-GCM key: seals and opens with caller-chosen 24-byte nonces. A
/// nonce must never seal twice under one key.
pub struct Xaes256Gcm {
    /// CMAC-AES256 under the key, its subkey `K1` computed.
    kdf: Cmac<Aes256>,
    /// The subkey of the nonce prefix this key seals with, if set.
    own: Option<([u8; PREFIX_LEN], LessSafeKey)>,
    /// The subkey last derived to open a value of another prefix.
    last: Mutex<Option<([u8; PREFIX_LEN], Arc<LessSafeKey>)>>,
}

impl std::fmt::Debug for Xaes256Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Xaes256Gcm(..)")
    }
}

impl Xaes256Gcm {
    /// The AEAD under `key`.
    pub fn new(key: &[u8; 32]) -> Xaes256Gcm {
        Xaes256Gcm {
            kdf: <Cmac<Aes256> as Mac>::new_from_slice(key)
                .expect("CMAC-AES256 takes a 32-byte key"),
            own: None,
            last: Mutex::new(None),
        }
    }

    /// The same key, keeping the subkey of the nonces whose first 12 bytes
    /// are `head`: the ones its caller will seal with.
    pub fn with_prefix(mut self, head: &[u8; PREFIX_LEN]) -> Xaes256Gcm {
        self.own = Some((*head, self.subkey(head)));
        self
    }

    /// Appends to `out` the ciphertext of `plain` and its tag, sealed under
    /// `nonce` and bound to `aad`; `out` grows once, by `plain.len() + TAG_LEN`.
    pub fn seal_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plain: &[u8],
        out: &mut Vec<u8>,
    ) {
        let (head, tail) = split(nonce);
        out.reserve(plain.len() + TAG_LEN);
        let start = out.len();
        out.extend_from_slice(plain);
        let seal = |key: &LessSafeKey, out: &mut [u8]| {
            key.seal_in_place_separate_tag(tail, Aad::from(aad), out)
                .expect("AES-256-GCM seals any value below 64 GiB")
        };
        let tag = match &self.own {
            Some((own, key)) if *own == head => seal(key, &mut out[start..]),
            _ => seal(&self.subkey(&head), &mut out[start..]),
        };
        out.extend_from_slice(tag.as_ref());
    }

    /// The plaintext of `sealed` (ciphertext and tag) under `nonce` and `aad`,
    /// or `None` when it does not open: altered, bound to other data, or
    /// sealed under another key or nonce.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < TAG_LEN {
            return None;
        }
        let (head, tail) = split(nonce);
        let mut buf = sealed.to_vec();
        let open = |key: &LessSafeKey, buf: &mut Vec<u8>| {
            key.open_in_place(tail, Aad::from(aad), buf)
                .ok()
                .map(|plain| plain.len())
        };
        let len = match &self.own {
            Some((own, key)) if *own == head => open(key, &mut buf)?,
            _ => open(&self.opening_key(head), &mut buf)?,
        };
        buf.truncate(len);
        Some(buf)
    }

    /// The subkey of `head` for opening, from the one-entry cache.
    fn opening_key(&self, head: [u8; PREFIX_LEN]) -> Arc<LessSafeKey> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match &*last {
            Some((cached, key)) if *cached == head => key.clone(),
            _ => {
                let key = Arc::new(self.subkey(&head));
                *last = Some((head, key.clone()));
                key
            }
        }
    }

    /// The AES-256-GCM key that the nonce prefix `head` derives: the
    /// spec's `Kₓ = CMAC(M1) ‖ CMAC(M2)`, `Mi = 0x00 ‖ i ‖ "X" ‖ 0x00 ‖ head`.
    fn subkey(&self, head: &[u8; PREFIX_LEN]) -> LessSafeKey {
        let mut derived = derive(&self.kdf, head);
        let key = UnboundKey::new(&AES_256_GCM, &derived).expect("the subkey is 32 bytes");
        derived.zeroize();
        LessSafeKey::new(key)
    }
}

/// `Kₓ` for the nonce prefix `head`.
fn derive(kdf: &Cmac<Aes256>, head: &[u8; PREFIX_LEN]) -> [u8; 32] {
    let mut derived = [0u8; 32];
    for (i, half) in derived.chunks_exact_mut(16).enumerate() {
        let mut message = [0u8; 16];
        message[1] = i as u8 + 1;
        message[2] = b'X';
        message[4..].copy_from_slice(head);
        let mut mac = kdf.clone();
        mac.update(&message);
        half.copy_from_slice(&mac.finalize().into_bytes());
    }
    derived
}

/// A nonce's subkey prefix and its AES-256-GCM nonce.
fn split(nonce: &[u8; NONCE_LEN]) -> ([u8; PREFIX_LEN], Nonce) {
    let (head, tail) = nonce
        .split_first_chunk::<PREFIX_LEN>()
        .expect("a 24-byte nonce has a 12-byte head");
    let tail = Nonce::try_assume_unique_for_key(tail).expect("and a 12-byte tail");
    (*head, tail)
}

#[cfg(test)]
mod tests {
    use sha3::Shake128;
    use sha3::digest::{ExtendableOutput, Update, XofReader};

    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).expect("hex")
    }

    fn seal(aead: &Xaes256Gcm, nonce: &[u8; 24], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        aead.seal_append(nonce, aad, plain, &mut out);
        out
    }

    #[test]
    fn the_specs_vectors_derive_seal_and_open() {
        let nonce = *b"ABCDEFGHIJKLMNOPQRSTUVWX";
        for (key, derived, aad, expected) in [
            (
                [1u8; 32],
                "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
                &b""[..],
                "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
            ),
            (
                [3u8; 32],
                "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
                &b"c2sp.org/XAES-256-GCM"[..],
                "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
            ),
        ] {
            let aead = Xaes256Gcm::new(&key);
            let head: [u8; 12] = nonce[..12].try_into().expect("12 bytes");
            assert_eq!(derive(&aead.kdf, &head).to_vec(), unhex(derived));
            let sealed = seal(&aead, &nonce, aad, b"XAES-256-GCM");
            assert_eq!(sealed, unhex(expected));
            assert_eq!(
                aead.open(&nonce, aad, &sealed).as_deref(),
                Some(&b"XAES-256-GCM"[..])
            );
            let keeping = Xaes256Gcm::new(&key).with_prefix(&head);
            assert_eq!(seal(&keeping, &nonce, aad, b"XAES-256-GCM"), sealed);
            assert_eq!(
                keeping.open(&nonce, aad, &sealed).as_deref(),
                Some(&b"XAES-256-GCM"[..])
            );
        }
    }

    /// The spec's accumulated randomized test: inputs read from one
    /// SHAKE-128 stream, every ciphertext hashed into another.
    #[test]
    fn the_specs_accumulated_test_of_10000_iterations_matches() {
        let mut rng = Shake128::default().finalize_xof();
        let mut hash = Shake128::default();
        let mut byte = || {
            let mut b = [0u8; 1];
            rng.read(&mut b);
            b[0]
        };
        for _ in 0..10_000 {
            let key: [u8; 32] = std::array::from_fn(|_| byte());
            let nonce: [u8; 24] = std::array::from_fn(|_| byte());
            let plain: Vec<u8> = (0..byte()).map(|_| byte()).collect();
            let aad: Vec<u8> = (0..byte()).map(|_| byte()).collect();
            let aead = Xaes256Gcm::new(&key);
            let sealed = seal(&aead, &nonce, &aad, &plain);
            assert_eq!(aead.open(&nonce, &aad, &sealed), Some(plain));
            hash.update(&sealed);
        }
        let mut sum = [0u8; 32];
        hash.finalize_xof().read(&mut sum);
        assert_eq!(
            hex::encode(sum),
            "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
        );
    }

    #[test]
    fn nothing_opens_altered_elsewhere_or_cut_short() {
        let nonce = [2; 24];
        let other = Xaes256Gcm::new(&[9; 32]);
        for aead in [
            Xaes256Gcm::new(&[1; 32]),
            Xaes256Gcm::new(&[1; 32]).with_prefix(&[2; 12]),
        ] {
            let sealed = seal(&aead, &nonce, b"here", b"alice@example.com");
            crate::seal::assert_opens_only_as_sealed(
                &sealed,
                &nonce,
                &|n, aad, s| aead.open(n, aad, s),
                &|n, aad, s| other.open(n, aad, s),
            );
        }
    }
}
