//! The archive capability with its bodies sealed before the backend sees them.

use std::sync::Arc;

use trailmark_backend_api::{ArchivePut, ArchiveStore, BackendError, BackendResult, Expiring};

use super::{SealError, Sealer};

/// Associated data of an archived body: what binds it to its key.
const AAD_PREFIX: &[u8] = b"trailmark-archive-v1\n";

/// An [`ArchiveStore`] that seals every body it is given and opens every body it
/// returns, over any backend (pack files, a directory, S3). Bodies stored before
/// encryption was on read as they are.
///
/// Sealing uses a random nonce, so the same body sealed twice differs: a redelivered put
/// that the backend refuses as a different body is checked against the stored body's
/// plaintext, and succeeds when they are equal, as the trait asks.
pub struct SealedArchive {
    inner: Arc<dyn ArchiveStore>,
    sealer: Arc<Sealer>,
}

impl SealedArchive {
    /// `inner` behind `sealer`.
    pub fn new(inner: Arc<dyn ArchiveStore>, sealer: Arc<Sealer>) -> SealedArchive {
        SealedArchive { inner, sealer }
    }

    /// Whether `key` already holds `body` (once opened): a redelivery.
    fn holds(&self, key: &str, body: &[u8]) -> bool {
        matches!(self.get(key), Ok(Some(stored)) if stored == body)
    }
}

fn aad(key: &str) -> Vec<u8> {
    super::bound_to(AAD_PREFIX, key)
}

fn what(key: &str) -> impl Fn() -> String + '_ {
    move || format!("archived body {key:?}")
}

fn backend_error(e: SealError) -> BackendError {
    BackendError::Invalid(e.to_string())
}

impl ArchiveStore for SealedArchive {
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()> {
        self.put_many(&[ArchivePut {
            key,
            body,
            content_type,
            owner: None,
        }])
        .pop()
        .expect("one result per put")
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        let Some(stored) = self.inner.get(key)? else {
            return Ok(None);
        };
        let plain = self
            .sealer
            .open(&what(key), &aad(key), &stored)
            .map_err(backend_error)?;
        Ok(Some(plain.into_owned()))
    }

    fn put_many(&self, puts: &[ArchivePut<'_>]) -> Vec<BackendResult<()>> {
        if !self.sealer.is_on() {
            return self.inner.put_many(puts);
        }
        let sealed: Vec<Result<Vec<u8>, BackendError>> = puts
            .iter()
            .map(|p| {
                self.sealer
                    .seal(&what(p.key), &aad(p.key), p.body)
                    .map(|s| s.into_owned())
                    .map_err(backend_error)
            })
            .collect();
        let (ready, places): (Vec<ArchivePut<'_>>, Vec<usize>) = puts
            .iter()
            .zip(&sealed)
            .enumerate()
            .filter_map(|(i, (p, s))| {
                let body = s.as_ref().ok()?;
                Some((
                    ArchivePut {
                        key: p.key,
                        body,
                        content_type: p.content_type,
                        owner: p.owner,
                    },
                    i,
                ))
            })
            .unzip();
        let mut results: Vec<BackendResult<()>> = sealed
            .iter()
            .map(|s| s.as_ref().map(|_| ()).map_err(Clone::clone))
            .collect();
        for (result, i) in self.inner.put_many(&ready).into_iter().zip(places) {
            let put = puts[i];
            results[i] = match result {
                // Sealed again with a new nonce, a redelivered body differs from the one
                // stored: the same plaintext is the same body.
                Err(BackendError::Invalid(_)) if self.holds(put.key, put.body) => Ok(()),
                other => other,
            };
        }
        results
    }

    fn sync(&self) -> BackendResult<()> {
        self.inner.sync()
    }

    fn expiring(&self) -> Option<&dyn Expiring> {
        self.inner.expiring()
    }
}
