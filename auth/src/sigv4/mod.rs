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

use crate::failure::AuthFailure;
use crate::printable::printable;
use crate::request::RequestView;
use crate::secret::Secret;

pub(crate) use header::ALGORITHM;

/// The credential scope of a verified SigV4 request: what the client signed
/// for. The service must be the configured one (`events` in the host)
/// and the region one of the configured regions, when any are.
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

/// What the header phase checks besides the key: the replay window and the
/// credential scope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SigV4Rules<'a> {
    pub(crate) clock_skew: Duration,
    /// The one service accepted in the credential scope.
    pub(crate) service: &'a str,
    /// The regions accepted in the credential scope; empty accepts any.
    pub(crate) regions: &'a [String],
}

/// The name of the header that carries the client's payload hash.
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The longest part of a client's access key id repeated in a refusal.
const KEY_ID_ECHO: usize = 64;

/// The header phase of a header-signed request: everything that can be
/// checked before a byte of the body is read. `params` is the
/// `Authorization` value after `AWS4-HMAC-SHA256 `; `secret_for` finds an
/// access key's secret and its owner.
///
/// Checks, in order: the header parses; `x-amz-date` is there, well-formed
/// and on the Credential date; the key id is configured; the request time is
/// within the window; the service and region are accepted.
pub(crate) fn check_headers<'k, T>(
    params: &str,
    req: &RequestView<'_>,
    now: SystemTime,
    rules: SigV4Rules<'_>,
    secret_for: impl FnOnce(&str) -> Option<(&'k Secret, &'k T)>,
) -> Result<(&'k Secret, &'k T, CredentialScope), AuthFailure> {
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
        key_id: printable(auth.key_id, KEY_ID_ECHO),
    })?;

    check_window(amz_date, request_time, now, rules.clock_skew)?;

    if auth.service != rules.service {
        return Err(AuthFailure::CredentialScope {
            reason: format!(
                "Credential should be scoped to correct service: '{}', not '{}'",
                rules.service,
                printable(auth.service, KEY_ID_ECHO)
            ),
        });
    }
    if !rules.regions.is_empty() && !rules.regions.iter().any(|r| r == auth.region) {
        return Err(AuthFailure::CredentialScope {
            reason: format!(
                "Credential should be scoped to a valid region, not '{}' (accepted: {})",
                printable(auth.region, KEY_ID_ECHO),
                rules.regions.join(", ")
            ),
        });
    }

    Ok((
        secret,
        owner,
        CredentialScope {
            key_id: auth.key_id.to_owned(),
            date: auth.date.to_owned(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
        },
    ))
}

/// The body phase: the payload hash and the signature over the canonical
/// request, for a request whose headers passed [`check_headers`] with this
/// `secret`. `req.body` is the whole body.
pub(crate) fn check_signature(
    params: &str,
    req: &RequestView<'_>,
    secret: &Secret,
) -> Result<(), AuthFailure> {
    let auth = header::parse(params)?;
    let amz_date = single_header(req, "x-amz-date")?
        .ok_or_else(|| AuthFailure::malformed("x-amz-date is signed but not in the request"))?;

    let payload_hash = canonical::sha256_hex(req.body);
    if let Some(claimed) = single_header(req, CONTENT_SHA256)? {
        if claimed == "UNSIGNED-PAYLOAD" || claimed.starts_with("STREAMING-") {
            return Err(AuthFailure::PayloadHashMismatch {
                reason: format!(
                    "{CONTENT_SHA256} is {}; Trailmark only accepts signed payloads",
                    printable(claimed, KEY_ID_ECHO)
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
    Ok(())
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
