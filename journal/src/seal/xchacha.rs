//! XChaCha20-Poly1305, the AEAD every sealed value of Trailmark uses.
//!
//! The construction of draft-irtf-cfrg-xchacha-03 (§2.3), from two well-kept
//! implementations: HChaCha20 from RustCrypto's `chacha20` turns the key and
//! the nonce's first 16 bytes into a subkey, and ring's ChaCha20-Poly1305
//! (RFC 8439) seals under that subkey with four zero bytes and the nonce's
//! last 8 as its nonce. The output is byte for byte what
//! `chacha20poly1305::XChaCha20Poly1305` produces; the tests check that both
//! ways, with the draft's own test vector too.
//!
//! Why not that crate alone: on x86-64 its SIMD backends are chosen at run
//! time and their intrinsics are not inlined, so sealing a 64-byte value
//! cost about 2.1 µs and a 1 KiB one 3.2 µs, where this takes 0.44 and 1.1
//! (`benches/seal.rs`; BENCHMARKS.md, "Encryption at rest and per-subject
//! keys", fourth round). A sealed event pays that several times: its
//! record, its body, its lake row, and each reading back.

use chacha20::cipher::consts::U10;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of an XChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 24;
/// Bytes of the authentication tag after the ciphertext.
pub(crate) const TAG_LEN: usize = 16;

/// An XChaCha20-Poly1305 key: seals and opens with caller-chosen 24-byte
/// nonces. A nonce must never seal twice under one key; the callers draw a
/// random prefix per opened key and count (see `DataKey`), or draw each
/// nonce at random.
pub struct XChaCha20Poly1305 {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for XChaCha20Poly1305 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XChaCha20Poly1305(..)")
    }
}

impl XChaCha20Poly1305 {
    /// The AEAD under `key`.
    pub fn new(key: &[u8; 32]) -> XChaCha20Poly1305 {
        XChaCha20Poly1305 {
            key: Zeroizing::new(*key),
        }
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
        let (key, nonce) = self.subkey(nonce);
        out.reserve(plain.len() + TAG_LEN);
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[start..])
            .expect("ChaCha20-Poly1305 seals any value below 256 GiB");
        out.extend_from_slice(tag.as_ref());
    }

    /// `plain` sealed: its ciphertext and tag (without the nonce).
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.seal_append(nonce, aad, plain, &mut out);
        out
    }

    /// The plaintext of `sealed` (ciphertext and tag, as [`Self::seal`]
    /// returns them) under `nonce` and `aad`, or `None` when it does not open:
    /// altered, bound to other data, or sealed under another key or nonce.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < TAG_LEN {
            return None;
        }
        let (key, nonce) = self.subkey(nonce);
        let mut buf = sealed.to_vec();
        let len = key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }

    /// The ChaCha20-Poly1305 key and nonce that `nonce` selects.
    fn subkey(&self, nonce: &[u8; NONCE_LEN]) -> (LessSafeKey, Nonce) {
        let (head, tail) = nonce.split_at(16);
        let mut subkey = chacha20::hchacha::<U10>(self.key.as_slice().into(), head.into());
        let key = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice())
            .expect("HChaCha20 yields a 32-byte key");
        subkey.as_mut_slice().zeroize();
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(tail);
        (LessSafeKey::new(key), Nonce::assume_unique_for_key(short))
    }
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use proptest::prelude::*;

    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text.split_whitespace().collect::<String>()).expect("hex")
    }

    #[test]
    fn the_drafts_test_vector_seals_and_opens() {
        // draft-irtf-cfrg-xchacha-03, A.3.1.
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = unhex("50515253c0c1c2c3c4c5c6c7");
        let key: [u8; 32] =
            unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
                .try_into()
                .expect("32 bytes");
        let nonce: [u8; 24] = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .expect("24 bytes");
        let expected = unhex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
             21f9664c97637da9768812f615c68b13b52e
             c0875924c1c7987947deafd8780acf49",
        );
        let aead = XChaCha20Poly1305::new(&key);
        assert_eq!(aead.seal(&nonce, &aad, plain), expected);
        assert_eq!(
            aead.open(&nonce, &aad, &expected).as_deref(),
            Some(&plain[..])
        );
    }

    #[test]
    fn nothing_opens_altered_elsewhere_or_cut_short() {
        let aead = XChaCha20Poly1305::new(&[1; 32]);
        let nonce = [2; 24];
        let sealed = aead.seal(&nonce, b"here", b"alice@example.com");
        let other = XChaCha20Poly1305::new(&[9; 32]);
        crate::seal::assert_opens_only_as_sealed(
            &sealed,
            &nonce,
            &|n, aad, s| aead.open(n, aad, s),
            &|n, aad, s| other.open(n, aad, s),
        );
    }

    proptest! {
        #[test]
        fn it_is_rustcryptos_xchacha20poly1305_both_ways(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 24]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            plain in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let ours = XChaCha20Poly1305::new(&key);
            let theirs = chacha20poly1305::XChaCha20Poly1305::new(&key.into());
            let sealed = ours.seal(&nonce, &aad, &plain);
            let expected = theirs
                .encrypt(&nonce.into(), Payload { msg: &plain, aad: &aad })
                .expect("seal");
            prop_assert_eq!(&sealed, &expected);
            let opened = theirs
                .decrypt(&nonce.into(), Payload { msg: &sealed, aad: &aad })
                .expect("theirs opens ours");
            prop_assert_eq!(&opened, &plain);
            prop_assert_eq!(ours.open(&nonce, &aad, &expected), Some(plain.clone()));
            let mut appended = b"prefix".to_vec();
            ours.seal_append(&nonce, &aad, &plain, &mut appended);
            prop_assert_eq!(&appended[6..], &expected[..]);
        }
    }
}
