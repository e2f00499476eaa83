//! Parsing the SigV4 `Authorization` header and the `x-amz-date` value.

use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::failure::AuthFailure;
use crate::printable::printable;

/// The SigV4 algorithm name, the scheme of a header-signed request.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SigV4Header<'a> {
    pub(crate) key_id: &'a str,
    /// `YYYYMMDD` from the credential scope.
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    /// Lowercase, sorted, unique; includes `host` and `x-amz-date`.
    pub(crate) signed_headers: Vec<&'a str>,
    /// The `SignedHeaders` value as sent (it is part of the canonical request).
    pub(crate) signed_headers_text: &'a str,
    pub(crate) signature: [u8; 32],
}

/// Parses what follows `AWS4-HMAC-SHA256 ` in the header.
pub(crate) fn parse(params: &str) -> Result<SigV4Header<'_>, AuthFailure> {
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim_matches(' ');
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').ok_or_else(|| {
            AuthFailure::malformed(format!(
                "expected Name=Value pairs separated by commas after {ALGORITHM}"
            ))
        })?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(AuthFailure::malformed(format!(
                    "unexpected parameter {:?} (expected Credential, SignedHeaders, Signature)",
                    printable(name, ECHO)
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(AuthFailure::malformed(format!("{name} appears twice")));
        }
    }
    let missing = |name: &str| {
        AuthFailure::malformed(format!(
            "Authorization header requires a '{name}' parameter"
        ))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers_text = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope[..] else {
        return Err(AuthFailure::malformed(
            "Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
        ));
    };
    if key_id.is_empty() || region.is_empty() || service.is_empty() {
        return Err(AuthFailure::malformed(
            "Credential has an empty access key id, region or service",
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthFailure::malformed(
            "the Credential date must be 8 digits (YYYYMMDD)",
        ));
    }
    if terminator != "aws4_request" {
        return Err(AuthFailure::malformed(
            "the Credential scope must end with /aws4_request",
        ));
    }

    let signed_headers = parse_signed_headers(signed_headers_text)?;

    let mut sig = [0u8; 32];
    if signature.len() != 64 || hex::decode_to_slice(signature, &mut sig).is_err() {
        return Err(AuthFailure::malformed(format!(
            "Signature must be 64 hex digits, got {} characters",
            signature.len()
        )));
    }

    Ok(SigV4Header {
        key_id,
        date,
        region,
        service,
        signed_headers,
        signed_headers_text,
        signature: sig,
    })
}

fn parse_signed_headers(text: &str) -> Result<Vec<&str>, AuthFailure> {
    let names: Vec<&str> = text.split(';').collect();
    for name in &names {
        let valid = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
            });
        if !valid {
            return Err(AuthFailure::malformed(format!(
                "SignedHeaders holds {:?}, which is not a lowercase header name",
                printable(name, ECHO)
            )));
        }
    }
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return Err(AuthFailure::malformed(
            "SignedHeaders must be sorted and without duplicates",
        ));
    }
    for required in ["host", "x-amz-date"] {
        if names.binary_search(&required).is_err() {
            return Err(AuthFailure::malformed(format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    Ok(names)
}

/// Parses an `x-amz-date` value (`YYYYMMDDTHHMMSSZ`, UTC).
pub(crate) fn parse_amz_date(value: &str) -> Result<PrimitiveDateTime, AuthFailure> {
    let shape_ok = value.len() == 16
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    shape_ok
        .then(|| PrimitiveDateTime::parse(value, format).ok())
        .flatten()
        .ok_or_else(|| {
            AuthFailure::malformed(format!(
                "x-amz-date {:?} is not a date in the form YYYYMMDDTHHMMSSZ",
                printable(value, ECHO)
            ))
        })
}

/// Client input quoted in a message: at most this many characters.
const ECHO: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
        SignedHeaders=host;x-amz-date, \
        Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn reason(params: &str) -> String {
        match parse(params) {
            Err(AuthFailure::Malformed { reason }) => reason,
            other => panic!("expected a malformed header, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_sdk_form() {
        let h = parse(GOOD).unwrap();
        assert_eq!(
            (h.key_id, h.date, h.region, h.service),
            ("AKIDEXAMPLE", "20150830", "us-east-1", "service")
        );
        assert_eq!(h.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(h.signed_headers_text, "host;x-amz-date");
        assert_eq!(h.signature[0], 0x5f);
        // No spaces after the commas (botocore's form) also parses.
        assert!(parse(&GOOD.replace(", ", ",")).is_ok());
    }

    #[test]
    fn each_defect_is_named() {
        assert!(reason(&GOOD.replace("Credential", "Credentials")).contains("Credentials"));
        assert!(
            reason(&GOOD.replace("SignedHeaders=host;x-amz-date, ", ""))
                .contains("'SignedHeaders'")
        );
        assert!(reason(&format!("{GOOD}, Signature=00")).contains("twice"));
        assert!(reason(&GOOD.replace("/aws4_request", "/aws4")).contains("aws4_request"));
        assert!(reason(&GOOD.replace("/20150830/", "/2015083/")).contains("YYYYMMDD"));
        assert!(
            reason(&GOOD.replace("/us-east-1/service", "/us-east-1"))
                .contains("Credential must be")
        );
        assert!(reason(&GOOD.replace("host;x-amz-date", "x-amz-date;host")).contains("sorted"));
        assert!(
            reason(&GOOD.replace("host;x-amz-date", "host;host;x-amz-date")).contains("sorted")
        );
        assert!(reason(&GOOD.replace("host;x-amz-date", "Host;x-amz-date")).contains("\"Host\""));
        assert!(reason(&GOOD.replace("host;x-amz-date", "x-amz-date")).contains("include host"));
        assert!(reason(&GOOD.replace("host;x-amz-date", "host")).contains("include x-amz-date"));
        assert!(reason(&GOOD.replace("bf31", "bf")).contains("64 hex digits, got 62"));
        assert!(reason(&GOOD.replace("5fa0", "zzzz")).contains("64 hex digits"));
        assert!(reason("garbage").contains("Name=Value"));
    }

    #[test]
    fn amz_date_is_strict() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!((t.year(), t.hour(), t.second()), (2015, 12, 0));
        for bad in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "+0150830T123600Z",
            "",
        ] {
            assert!(parse_amz_date(bad).is_err(), "{bad}");
        }
    }
}
