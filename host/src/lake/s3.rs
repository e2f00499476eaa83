//! The lake in an S3 bucket, under a prefix (`[lake] s3 =
//! "s3://BUCKET/PREFIX"`), through the AWS SDK the AWS backends use.
//!
//! A `PutObject` is atomic (a reader never sees part of an object) and
//! durable when it returns. It is conditional (`If-None-Match: *`), so it
//! never replaces another object: when the key exists (a replay after a
//! crash), the object there is read back and must hold the same bytes, or
//! the put fails and says so.

use crate::s3_prefix::{OpenError, S3Prefix};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use trailmark_lake::{LakeError, LakeStore};

/// A lake under `s3://bucket/prefix/`.
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl S3Store {
    /// The lake at `url` (`s3://BUCKET/PREFIX`); the region, endpoint and
    /// credentials come from the standard AWS chain.
    pub fn open(url: &str) -> Result<S3Store, LakeError> {
        let spec = url.strip_prefix("s3://").unwrap_or(url);
        let opened = S3Prefix::open(spec, "lake-s3").map_err(|e| match e {
            OpenError::NoBucket => {
                LakeError::Invalid(format!("`{url}` names no bucket; write s3://BUCKET/PREFIX"))
            }
            OpenError::Runtime(e) => LakeError::io("lake-s3 runtime")(e),
            OpenError::Config(problem) => LakeError::Store {
                key: url.to_owned(),
                problem,
            },
        })?;
        Ok(S3Store {
            client: opened.client,
            bucket: opened.bucket,
            prefix: opened.prefix,
            runtime: opened.runtime,
        })
    }

    fn failed(&self, key: &str, what: &str, e: impl std::fmt::Display) -> LakeError {
        LakeError::Store {
            key: format!("s3://{}/{}{key}", self.bucket, self.prefix),
            problem: format!("{what}: {e}"),
        }
    }
}

impl LakeStore for S3Store {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let full = format!("{}{key}", self.prefix);
        let sent = self.runtime.block_on(
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .if_none_match("*")
                .body(ByteStream::from(bytes.to_vec()))
                .send(),
        );
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                // Already there: a replay writes the same bytes.
                if self.get(key)? == bytes {
                    Ok(())
                } else {
                    Err(self.failed(
                        key,
                        "PutObject",
                        "a different object is already under this key; the lake never \
                         replaces one (was the marker deleted after the rules changed?)",
                    ))
                }
            }
            Err(e) => Err(self.failed(key, "PutObject", DisplayErrorContext(e))),
        }
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, LakeError> {
        let full = format!("{}{key}", self.prefix);
        self.runtime.block_on(async {
            let output = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&full)
                .send()
                .await
                .map_err(|e| self.failed(key, "GetObject", DisplayErrorContext(e)))?;
            let body = output
                .body
                .collect()
                .await
                .map_err(|e| self.failed(key, "reading", e))?;
            Ok(body.into_bytes().to_vec())
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .runtime
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| self.failed(prefix, "ListObjectsV2", DisplayErrorContext(e)))?;
            for object in page.contents() {
                if let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    keys.push(key.to_owned());
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<(), LakeError> {
        let full = format!("{}{key}", self.prefix);
        self.runtime
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| self.failed(key, "DeleteObject", DisplayErrorContext(e)))
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }
}
