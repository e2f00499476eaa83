//! A file's SHA-256 and its per-MiB hashes: the whole hash says whether a
//! copy is intact, the chunk hashes say where a damaged one goes wrong.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::BackupError;

/// Bytes each chunk hash covers.
pub(crate) const CHUNK: usize = 1 << 20;

/// Hex characters kept of each chunk's SHA-256: enough to find the chunk,
/// the whole-file hash is the integrity check.
const CHUNK_HEX: usize = 32;

/// What a file's bytes hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDigest {
    /// Bytes read.
    pub size: u64,
    /// SHA-256 of all of them, hex.
    pub sha256: String,
    /// SHA-256 of each [`CHUNK`], truncated, hex.
    pub chunks: Vec<String>,
}

/// Hashes bytes as they are written somewhere.
pub(crate) struct Hasher {
    whole: Sha256,
    chunk: Sha256,
    in_chunk: usize,
    size: u64,
    chunks: Vec<String>,
}

impl Hasher {
    pub(crate) fn new() -> Hasher {
        Hasher {
            whole: Sha256::new(),
            chunk: Sha256::new(),
            in_chunk: 0,
            size: 0,
            chunks: Vec::new(),
        }
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.whole.update(bytes);
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (CHUNK - self.in_chunk).min(bytes.len());
            self.chunk.update(&bytes[..take]);
            self.in_chunk += take;
            bytes = &bytes[take..];
            if self.in_chunk == CHUNK {
                self.close_chunk();
            }
        }
    }

    fn close_chunk(&mut self) {
        let done = std::mem::replace(&mut self.chunk, Sha256::new());
        let mut hex = hex::encode(done.finalize());
        hex.truncate(CHUNK_HEX);
        self.chunks.push(hex);
        self.in_chunk = 0;
    }

    pub(crate) fn finish(mut self) -> FileDigest {
        if self.in_chunk > 0 {
            self.close_chunk();
        }
        FileDigest {
            size: self.size,
            sha256: hex::encode(self.whole.finalize()),
            chunks: self.chunks,
        }
    }
}

/// Hash the file at `path`.
pub(crate) fn digest_file(path: &Path) -> Result<FileDigest, BackupError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| BackupError::io(path, "open to hash", e))?;
    let mut hasher = Hasher::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| BackupError::io(path, "read to hash", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finish())
}

/// Where `found` first differs from `expected`: the byte offset of the
/// first chunk whose hash differs, or of the shorter one's end.
pub(crate) fn first_difference(expected: &FileDigest, found: &FileDigest) -> u64 {
    let differs = expected
        .chunks
        .iter()
        .zip(&found.chunks)
        .position(|(a, b)| a != b);
    match differs {
        Some(i) => (i * CHUNK) as u64,
        None => expected.size.min(found.size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_is_found_in_its_chunk() {
        let mut bytes = vec![7u8; CHUNK * 3 + 10];
        let digest = |b: &[u8]| {
            let mut h = Hasher::new();
            for piece in b.chunks(1000) {
                h.update(piece);
            }
            h.finish()
        };
        let original = digest(&bytes);
        assert_eq!(original.chunks.len(), 4);
        assert_eq!(original.size, bytes.len() as u64);
        bytes[CHUNK * 2 + 5] ^= 1;
        let changed = digest(&bytes);
        assert_ne!(original.sha256, changed.sha256);
        assert_eq!(first_difference(&original, &changed), (CHUNK * 2) as u64);
        let cut = digest(&bytes[..CHUNK]);
        assert_eq!(
            first_difference(&original, &cut),
            CHUNK as u64,
            "a cut copy differs where it ends"
        );
    }
}
