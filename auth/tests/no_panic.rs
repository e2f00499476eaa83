//! `authenticate` never panics, whatever the header bytes.

mod common;

use std::sync::OnceLock;

use common::*;
use http::{HeaderValue, Method, Uri};
use proptest::prelude::*;
use trailmark_auth::Authenticator;

fn fixture() -> &'static (Authenticator, Received) {
    static FIXTURE: OnceLock<(Authenticator, Received)> = OnceLock::new();
    FIXTURE.get_or_init(|| (authenticator(), signed_put_events()))
}

/// Header bytes `HeaderValue` accepts: visible ASCII, space, tab and
/// obs-text (0x80-0xFF).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..120).prop_map(|bytes| {
        bytes
            .into_iter()
            .map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b' '
                } else {
                    b
                }
            })
            .collect()
    })
}

fn targets() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        "a",
        "%20",
        "%2F",
        "%",
        "%zz",
        ".",
        "..",
        "@",
        "~",
        "+",
        "?",
        "=",
        "&",
        "é",
        "%E1%88%B4",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|p| format!("/{}", p.concat()))
}

/// Authorization values near the real grammar, to get past the first checks.
fn near_sigv4() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "AWS4-HMAC-SHA256 ",
            "Bearer ",
            "",
            "aws4-hmac-sha256 ",
        ]),
        prop::collection::vec(
            prop::sample::select(vec![
                "Credential=",
                "SignedHeaders=",
                "Signature=",
                ",",
                " ",
                "/",
                ";",
                "=",
                "host",
                "x-amz-date",
                "TMKTESTKEY0000000001",
                "20261125",
                "us-east-1",
                "events",
                "aws4_request",
                "0123456789abcdef",
                "é",
                "\u{0}",
            ]),
            0..30,
        ),
    )
        .prop_map(|(scheme, parts)| {
            let mut out = scheme.as_bytes().to_vec();
            for p in parts {
                out.extend_from_slice(p.as_bytes());
            }
            out
        })
}

/// The valid Authorization value with a few bytes changed, truncated or
/// extended: reaches the signature check.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let valid = fixture().1.authorization().into_bytes();
    let len = valid.len();
    (
        prop::collection::vec((0..len, any::<u8>()), 0..4),
        prop_oneof![Just(len), 0..=len + 8],
    )
        .prop_map(move |(edits, cut)| {
            let mut out = valid.clone();
            for (i, b) in edits {
                out[i] = b;
            }
            out.resize(cut, b',');
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_headers_never_panic(
        authorization in prop_oneof![header_bytes(), near_sigv4(), mutated()],
        date in prop::option::of(header_bytes()),
        host in prop::option::of(header_bytes()),
        content_sha in prop::option::of(header_bytes()),
        body in prop::collection::vec(any::<u8>(), 0..64),
        target in targets(),
    ) {
        let (auth, base) = fixture();
        let mut received = base.clone();
        let Ok(value) = HeaderValue::from_bytes(&authorization) else { return Ok(()); };
        received.headers.insert("authorization", value);
        if let Some(Ok(value)) = date.map(|v| HeaderValue::from_bytes(&v)) {
            received.headers.insert("x-amz-date", value);
        }
        if let Some(Ok(value)) = host.map(|v| HeaderValue::from_bytes(&v)) {
            received.headers.insert("host", value);
        }
        if let Some(Ok(value)) = content_sha.map(|v| HeaderValue::from_bytes(&v)) {
            received.headers.insert("x-amz-content-sha256", value);
        }
        received.body = body;
        received.method = Method::PATCH;
        if let Ok(uri) = target.parse::<Uri>() {
            received.uri = uri;
        }
        let result = check(auth, &received, t0());
        // A random header cannot be a valid signature.
        prop_assert!(result.is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_requests_with_arbitrary_bodies_verify(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let (auth, _) = fixture();
        let mut req = put_events("https://events.example.com/");
        *req.body_mut() = body;
        Signer::default().sign(&mut req);
        let received = Received::from_client(&req);
        prop_assert!(check(auth, &received, t0()).is_ok());
    }
}
