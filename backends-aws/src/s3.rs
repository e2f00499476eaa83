//! The archive capability on S3.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use tokio::runtime::Handle;
use trailmark_backend_api::{ArchiveStore, BackendError, BackendResult, validate_key};

use crate::bridge::Bridge;
use crate::error::sdk_error;
use crate::sdk::AwsTarget;

/// Archive bodies as S3 objects: key `<prefix>/<key>` in one bucket.
///
/// Keys are checked with [`validate_key`], exactly as the local archive
/// checks them, so rule sets move between the two unchanged. A put is one
/// conditional `PutObject` (`If-None-Match: *`; S3 writes are atomic and
/// durable when it returns) that never replaces an object, as the local
/// archive never replaces a file; a get of a missing key is `Ok(None)`.
#[derive(Debug, Clone)]
pub struct S3Archive {
    client: Client,
    bucket: String,
    prefix: String,
    bridge: Bridge,
}

impl S3Archive {
    /// Connect to `bucket`, storing keys under `prefix` (may be empty).
    ///
    /// Path-style addressing is used whenever an endpoint override is in
    /// force (S3-compatible servers on loopback have no bucket subdomains).
    pub async fn connect(
        bucket: &str,
        prefix: &str,
        target: &AwsTarget,
        handle: &Handle,
    ) -> BackendResult<Self> {
        let bridge = Bridge::new(handle)?;
        let prefix = normalize_prefix(prefix)?;
        let config = target.load().await?;
        Ok(S3Archive {
            client: client(&config),
            bucket: bucket.to_owned(),
            prefix,
            bridge,
        })
    }

    /// The object key for an archive key.
    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// An S3 client for `config`, path-style when the endpoint is overridden.
pub(crate) fn client(config: &aws_config::SdkConfig) -> Client {
    let path_style = config.endpoint_url().is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    Client::from_conf(s3_config)
}

/// `""` stays empty; `"a/b"` and `"a/b/"` become `"a/b/"`. The prefix must
/// itself be a valid key (no `..`, no leading `/`, no `//`).
fn normalize_prefix(prefix: &str) -> BackendResult<String> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    validate_key(trimmed)
        .map_err(|e| BackendError::Invalid(format!("S3 prefix {prefix:?}: {e}")))?;
    Ok(format!("{trimmed}/"))
}

impl ArchiveStore for S3Archive {
    /// `PutObject` with `If-None-Match: *`, so S3 itself refuses to replace
    /// an object. When it refuses (412), the stored object is read back: the
    /// same bytes are a success (a redelivery), different bytes
    /// [`BackendError::Invalid`] naming the key.
    fn put(&self, key: &str, body: &[u8], content_type: &str) -> BackendResult<()> {
        validate_key(key)?;
        let object_key = self.object_key(key);
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&object_key)
            .content_type(content_type)
            .if_none_match("*")
            .body(ByteStream::from(body.to_vec()));
        match self.bridge.run(request.send()) {
            Ok(_) => Ok(()),
            Err(e) if precondition_failed(&e) => match self.get(key)? {
                Some(stored) if stored == body => Ok(()),
                Some(stored) => Err(BackendError::Invalid(format!(
                    "archive key {key:?} already holds a different body ({} bytes, this one {} \
                     bytes); archived bodies are never overwritten: use a key unique to the \
                     event, such as one ending in `-{{id}}.json`",
                    stored.len(),
                    body.len()
                ))),
                // Deleted between the two calls (a lifecycle rule): try again.
                None => Err(BackendError::Transient(format!(
                    "archive key {key:?} was refused as existing, then not found; retry"
                ))),
            },
            Err(e) => Err(sdk_error(
                &format!("S3 PutObject `{}/{object_key}`", self.bucket),
                &e,
            )),
        }
    }

    fn get(&self, key: &str) -> BackendResult<Option<Vec<u8>>> {
        validate_key(key)?;
        let object_key = self.object_key(key);
        let what = format!("S3 GetObject `{}/{object_key}`", self.bucket);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object_key);
        self.bridge.run(async {
            let output = match request.send().await {
                Ok(output) => output,
                Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                    return Ok(None);
                }
                Err(e) => return Err(sdk_error(&what, &e)),
            };
            let body =
                output.body.collect().await.map_err(|e| {
                    BackendError::Transient(format!("{what}: reading the body: {e}"))
                })?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }
}

/// Did S3 refuse a conditional put because the object exists (412
/// `PreconditionFailed`)? A concurrent conditional put of the same key is 409
/// `ConditionalRequestConflict`, which stays an error worth retrying.
fn precondition_failed(error: &SdkError<PutObjectError, HttpResponse>) -> bool {
    error
        .raw_response()
        .is_some_and(|response| response.status().as_u16() == 412)
}

/// `HeadBucket`: is the bucket there and may we use it?
pub(crate) async fn check_bucket(client: &Client, bucket: &str) -> BackendResult<()> {
    client
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("S3 HeadBucket `{bucket}`"), &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized_and_checked() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        assert_eq!(normalize_prefix("audit").unwrap(), "audit/");
        assert_eq!(normalize_prefix("audit/v1/").unwrap(), "audit/v1/");
        assert!(matches!(
            normalize_prefix("../x"),
            Err(BackendError::Invalid(_))
        ));
        assert!(matches!(
            normalize_prefix("a//b"),
            Err(BackendError::Invalid(_))
        ));
    }
}
