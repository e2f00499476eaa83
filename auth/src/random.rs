//! Random bytes and random strings over an alphabet, from the OS source.

/// Fills `N` bytes from the operating system's CSPRNG.
///
/// # Panics
/// When the OS has no random source at all (no `getrandom(2)` and no
/// `/dev/urandom`). Trailmark cannot mint a credential there, and running
/// on with a predictable one would be worse than stopping.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).expect("the operating system provides a random source");
    buf
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols),
/// by rejection sampling so no symbol is favoured.
pub(crate) fn string(alphabet: &[u8], len: usize) -> String {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    // Largest multiple of the alphabet size that fits in a byte: bytes at or
    // above it are discarded instead of folded (which would bias).
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<64>() {
            if usize::from(b) < limit {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_only_the_alphabet_and_differ() {
        let a = string(b"AB", 64);
        let b = string(b"AB", 64);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c == b'A' || c == b'B'));
        assert_ne!(a, b, "two 64-bit draws collided");
        assert_ne!(bytes::<32>(), bytes::<32>());
    }
}
