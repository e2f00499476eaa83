//! Backups under an S3 prefix: `PREFIX/blobs/<sha256>` and
//! `PREFIX/manifests/<name>.json`. A `PutObject` is atomic (an object is
//! never seen half-written) and durable when it returns; the manifest is
//! put after every blob it names, so an interrupted backup leaves no
//! manifest and the previous ones intact. Turn on the bucket's versioning
//! and Object Lock so that nobody with the server's credentials can remove
//! old backups early (see `docs/operations.md`).

use std::future::Future;
use std::path::Path;

use crate::s3_prefix::{OpenError, S3Prefix};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::BackupError;
use super::destination::{BlobSink, Destination};

/// Backups in an S3 bucket, under a prefix.
pub(crate) struct S3Destination {
    client: Client,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl S3Destination {
    /// `BUCKET/PREFIX` (the part after `s3://`); the region and endpoint
    /// come from the standard AWS chain (`AWS_REGION`, `AWS_ENDPOINT_URL`).
    pub(crate) fn open(spec: &str) -> Result<S3Destination, BackupError> {
        let opened = S3Prefix::open(spec, "backup-s3").map_err(|e| match e {
            OpenError::NoBucket => {
                BackupError::Refused(format!("s3://{spec}: no bucket; write s3://BUCKET/PREFIX"))
            }
            OpenError::Runtime(e) => BackupError::io("s3", "start a runtime", e),
            OpenError::Config(reason) => BackupError::Destination {
                destination: format!("s3://{spec}"),
                reason,
            },
        })?;
        Ok(S3Destination {
            client: opened.client,
            bucket: opened.bucket,
            prefix: opened.prefix,
            runtime: opened.runtime,
        })
    }

    fn run<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn key(&self, sub: &str, name: &str) -> String {
        format!("{}{sub}/{name}", self.prefix)
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> BackupError {
        BackupError::Destination {
            destination: self.describe(),
            reason: format!("{what}: {e}"),
        }
    }

    fn list(&self, sub: &str) -> Result<Vec<String>, BackupError> {
        let prefix = format!("{}{sub}/", self.prefix);
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .run(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| {
                    self.failed("ListObjectsV2", aws_sdk_s3::error::DisplayErrorContext(e))
                })?;
            for object in page.contents() {
                if let Some(name) = object.key().and_then(|k| k.strip_prefix(&prefix)) {
                    names.push(name.to_owned());
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        names.sort();
        Ok(names)
    }

    fn get(
        &self,
        key: &str,
        each: &mut dyn FnMut(&[u8]) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        self.run(async {
            let mut output = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    self.failed(
                        &format!("GetObject {key}"),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            while let Some(bytes) = output
                .body
                .try_next()
                .await
                .map_err(|e| self.failed(&format!("reading {key}"), e))?
            {
                each(&bytes)?;
            }
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<(), BackupError> {
        self.run(
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send(),
        )
        .map(|_| ())
        .map_err(|e| {
            self.failed(
                &format!("DeleteObject {key}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })
    }
}

impl Destination for S3Destination {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    fn has_blob(&self, sha256: &str) -> Result<bool, BackupError> {
        let key = self.key("blobs", sha256);
        match self.run(
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(&key)
                .send(),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(self.failed(
                &format!("HeadObject {key}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )),
        }
    }

    fn put_blob(&self, sha256: &str, from: &Path) -> Result<(), BackupError> {
        let key = self.key("blobs", sha256);
        self.run(async {
            let body = ByteStream::from_path(from)
                .await
                .map_err(|e| self.failed(&format!("reading {}", from.display()), e))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    self.failed(
                        &format!("PutObject {key}"),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })
        })?;
        Ok(())
    }

    fn get_blob(
        &self,
        sha256: &str,
        to: Option<&Path>,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<(), BackupError> {
        let mut sink = BlobSink::new(to, each)?;
        self.get(&self.key("blobs", sha256), &mut |bytes| sink.take(bytes))
    }

    fn list_blobs(&self) -> Result<Vec<String>, BackupError> {
        self.list("blobs")
    }

    fn delete_blob(&self, sha256: &str) -> Result<(), BackupError> {
        self.delete(&self.key("blobs", sha256))
    }

    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
        let key = self.key("manifests", &format!("{name}.json"));
        self.run(
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(bytes.to_vec()))
                .send(),
        )
        .map(|_| ())
        .map_err(|e| {
            self.failed(
                &format!("PutObject {key}"),
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        })
    }

    fn list_manifests(&self) -> Result<Vec<String>, BackupError> {
        Ok(super::destination::manifest_names(self.list("manifests")?))
    }

    fn get_manifest(&self, name: &str) -> Result<Vec<u8>, BackupError> {
        let mut bytes = Vec::new();
        self.get(&self.key("manifests", &format!("{name}.json")), &mut |b| {
            bytes.extend_from_slice(b);
            Ok(())
        })?;
        Ok(bytes)
    }

    fn delete_manifest(&self, name: &str) -> Result<(), BackupError> {
        self.delete(&self.key("manifests", &format!("{name}.json")))
    }

    /// S3 has no partial objects: nothing to remove.
    fn remove_temporaries(&self) -> Result<usize, BackupError> {
        Ok(0)
    }
}
