//! AWS KMS as the key-encryption key (`[encryption.kms]`): data keys (the journal's
//! segments', the archive's, the dead letters') are sealed by KMS `Encrypt` and opened
//! by `Decrypt`, with the data key's binding as encryption context, so the key material
//! never reaches Trailmark. Opened data keys are cached, so KMS is called when a segment
//! or a day's store key is created or first read, not per record.

use std::future::Future;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use trailmark_backends_aws::AwsTarget;
use trailmark_journal::ExternalKek;

use crate::engine::encryption::KmsSettings;

/// The encryption context key that carries a data key's binding (hex).
const CONTEXT_KEY: &str = "trailmark-dek";

/// A KMS key as an [`ExternalKek`], with the runtime its SDK calls run on.
pub struct KmsKek {
    key_id: String,
    client: Client,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for KmsKek {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics on an async thread: do not wait.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl KmsKek {
    /// Connects to KMS and checks the key seals and opens (one `Encrypt` and one
    /// `Decrypt`), so a wrong key id or missing permission stops the start, named.
    pub fn connect(settings: &KmsSettings) -> Result<KmsKek, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("trailmark-kms")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the KMS client's runtime: {e}"))?;
        let target = AwsTarget::new(settings.region.clone(), settings.endpoint.clone());
        let config = runtime
            .block_on(target.load())
            .map_err(|e| format!("AWS KMS key {}: {e}", settings.key_id))?;
        let kek = KmsKek {
            key_id: settings.key_id.clone(),
            client: Client::new(&config),
            runtime: Some(runtime),
        };
        let probe = [0x5a; 32];
        let sealed = kek.seal(&probe, b"probe")?;
        match kek.open(&kek.key_id, &sealed, b"probe")? {
            opened if opened == probe => Ok(kek),
            _ => Err(format!(
                "AWS KMS key {}: a probe key did not open to itself",
                kek.key_id
            )),
        }
    }

    /// Runs `future` on the KMS runtime and waits for it, from any thread (a plain one,
    /// a blocking one, or, rarely, an async worker: the wait blocks it for one call).
    fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the key")
            .spawn(async move {
                let _ = tx.send(future.await);
            });
        rx.recv()
            .expect("the KMS runtime runs every call it is given")
    }
}

fn context(binding: &[u8]) -> String {
    hex::encode(binding)
}

impl ExternalKek for KmsKek {
    fn id(&self) -> &str {
        &self.key_id
    }

    fn seal(&self, key: &[u8; 32], binding: &[u8]) -> Result<Vec<u8>, String> {
        let call = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(key.to_vec()))
            .encryption_context(CONTEXT_KEY, context(binding));
        let key_id = self.key_id.clone();
        self.run(async move {
            let out = call.send().await.map_err(|e| {
                format!(
                    "AWS KMS Encrypt with key {key_id}: {}",
                    e.into_service_error()
                )
            })?;
            out.ciphertext_blob
                .map(Blob::into_inner)
                .ok_or_else(|| format!("AWS KMS Encrypt with key {key_id}: no ciphertext"))
        })
    }

    fn open(&self, kek: &str, sealed: &[u8], binding: &[u8]) -> Result<Vec<u8>, String> {
        let call = self
            .client
            .decrypt()
            .key_id(kek)
            .ciphertext_blob(Blob::new(sealed.to_vec()))
            .encryption_context(CONTEXT_KEY, context(binding));
        let kek = kek.to_owned();
        self.run(async move {
            let out = call.send().await.map_err(|e| {
                format!("AWS KMS Decrypt with key {kek}: {}", e.into_service_error())
            })?;
            out.plaintext
                .map(Blob::into_inner)
                .ok_or_else(|| format!("AWS KMS Decrypt with key {kek}: no plaintext"))
        })
    }
}
