//! AWS Signature Version 4 verification (header-signed requests).
//!
//! Presigned URLs (the signature in the query string) are not accepted: the
//! AWS CLI and SDKs sign PutEvents in the `Authorization` header, and a URL
//! that authorizes whoever holds it is a poor fit for writing audit events.

pub(crate) mod canonical;
pub(crate) mod header;

use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::authenticator::RequestView;
use crate::failure::AuthFailure;
use crate::secret::Secret;

pub(crate) use header::ALGORITHM;

/// The credential scope of a verified SigV4 request: what the client signed
/// for. Any region and service are accepted (the signature covers them);
/// the host may log them or check them against the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// The access key id.
    pub key_id: String,
    /// The signing date, `YYYYMMDD`.
    pub date: String,
    /// The region the client signed for, e.g. `us-east-1`.
    pub region: String,
    /// The service the client signed for, e.g. `events`.
    pub service: String,
}

/// The name of the header that carries the client's payload hash.
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Verifies a header-signed request. `params` is the `Authorization` value
/// after `AWS4-HMAC-SHA256 `; `secret_for` finds an access key's secret and
/// its owner.
pub(crate) fn verify<'k, T>(
    params: &str,
    req: &RequestView<'_>,
    now: SystemTime,
    clock_skew: Duration,
    secret_for: impl FnOnce(&str) -> Option<(&'k Secret, &'k T)>,
) -> Result<(&'k T, CredentialScope), AuthFailure> {
    let auth = header::parse(params)?;

    let amz_date = single_header(req, "x-amz-date")?
        .ok_or_else(|| AuthFailure::malformed("x-amz-date is signed but not in the request"))?;
    let request_time = header::parse_amz_date(amz_date)?.assume_utc();
    if amz_date[..8] != *auth.date {
        return Err(AuthFailure::malformed(format!(
            "the Credential date {} differs from the date of x-amz-date {amz_date}",
            auth.date
        )));
    }

    let (secret, owner) = secret_for(auth.key_id).ok_or_else(|| AuthFailure::UnknownAccessKey {
        key_id: auth.key_id.to_owned(),
    })?;

    check_window(amz_date, request_time, now, clock_skew)?;

    let payload_hash = canonical::sha256_hex(req.body);
    if let Some(claimed) = single_header(req, CONTENT_SHA256)? {
        if claimed == "UNSIGNED-PAYLOAD" || claimed.starts_with("STREAMING-") {
            return Err(AuthFailure::PayloadHashMismatch {
                reason: format!(
                    "{CONTENT_SHA256} is {claimed}; Trailmark only accepts signed payloads"
                ),
            });
        }
        if !claimed.eq_ignore_ascii_case(&payload_hash) {
            return Err(AuthFailure::PayloadHashMismatch {
                reason: format!("{CONTENT_SHA256} does not match the SHA-256 of the body"),
            });
        }
    }

    let creq = canonical::canonical_request(
        req.method.as_str(),
        req.uri,
        req.headers,
        &auth.signed_headers,
        auth.signed_headers_text,
        &payload_hash,
    )?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = canonical::string_to_sign(amz_date, &scope, &creq);
    let expected = canonical::signature(
        secret.expose(),
        auth.date,
        auth.region,
        auth.service,
        &string_to_sign,
    );
    if !bool::from(expected.ct_eq(&auth.signature)) {
        return Err(AuthFailure::SignatureMismatch);
    }

    Ok((
        owner,
        CredentialScope {
            key_id: auth.key_id.to_owned(),
            date: auth.date.to_owned(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
        },
    ))
}

/// The value of a header that may appear at most once, as ASCII text.
fn single_header<'r>(req: &'r RequestView<'_>, name: &str) -> Result<Option<&'r str>, AuthFailure> {
    let mut values = req.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthFailure::malformed(format!(
            "{name} appears more than once"
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| AuthFailure::malformed(format!("{name} is not visible ASCII")))
}

/// Rejects a request time more than `clock_skew` away from `now`; this is
/// what bounds how long a captured request can be replayed.
fn check_window(
    amz_date: &str,
    request_time: OffsetDateTime,
    now: SystemTime,
    clock_skew: Duration,
) -> Result<(), AuthFailure> {
    let offset = OffsetDateTime::from(now) - request_time;
    let distance = offset.unsigned_abs();
    if distance > clock_skew {
        return Err(AuthFailure::RequestTimeOutsideWindow {
            request_time: amz_date.to_owned(),
            offset: distance,
            in_future: offset.is_negative(),
            allowed: clock_skew,
        });
    }
    Ok(())
}
