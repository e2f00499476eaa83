//! Requests signed by the real AWS signer verify; every tampering is caught
//! with the failure that names it.

mod common;

use std::time::Duration;

use common::*;
use http::{HeaderValue, Method, Request};
use trailmark_auth::{AuthFailure, Authenticator, PrincipalKind, Scope, needs_body};

fn sign_and_receive(mut req: Request<Vec<u8>>, signer: &Signer<'_>) -> Received {
    signer.sign(&mut req);
    Received::from_client(&req)
}

fn get(uri: &str) -> Request<Vec<u8>> {
    Request::builder().uri(uri).body(Vec::new()).unwrap()
}

#[test]
fn put_events_signed_by_the_sdk_verifies() {
    let auth = authenticator();
    let received = signed_put_events();
    assert!(needs_body(&received.headers));
    let ok = verify(&auth, &received, t0() + Duration::from_secs(2)).unwrap();
    assert_eq!(ok.principal.name, KEY_ID);
    assert_eq!(ok.principal.kind, PrincipalKind::AccessKey);
    assert!(ok.principal.may_put_source("com.acme.orders"));
    assert!(!ok.principal.allows(Scope::Query));
    let scope = ok.credential_scope.unwrap();
    assert_eq!(
        (
            scope.key_id.as_str(),
            scope.date.as_str(),
            scope.region.as_str(),
            scope.service.as_str()
        ),
        (KEY_ID, "20261125", "us-east-1", "events")
    );
}

#[test]
fn any_region_verifies_and_is_reported_but_the_service_must_be_events() {
    let auth = authenticator();
    let signer = Signer {
        region: "eu-west-3",
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://localhost:8443/"), &signer);
    let scope = verify(&auth, &received, t0())
        .unwrap()
        .credential_scope
        .unwrap();
    assert_eq!(
        (scope.region.as_str(), scope.service.as_str()),
        ("eu-west-3", "events")
    );

    let signer = Signer {
        service: "trailmark",
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://localhost:8443/"), &signer);
    let err = check(&auth, &received, t0()).unwrap_err();
    assert_eq!(
        (err.status(), err.aws_code()),
        (403, "InvalidSignatureException")
    );
    assert!(
        err.to_string().contains("'events', not 'trailmark'"),
        "{err}"
    );
}

#[test]
fn configured_regions_are_the_only_ones_accepted() {
    let auth = trailmark_auth::Authenticator::new(
        &[],
        &[key(KEY_ID, SECRET, &[Scope::Put], &[])],
        trailmark_auth::AuthOptions {
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            ..trailmark_auth::AuthOptions::default()
        },
    )
    .unwrap();
    assert!(check(&auth, &signed_put_events(), t0()).is_ok());
    let signer = Signer {
        region: "ap-south-1",
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://localhost:8443/"), &signer);
    let err = check(&auth, &received, t0()).unwrap_err();
    assert!(
        err.to_string()
            .contains("not 'ap-south-1' (accepted: eu-west-1, us-east-1)"),
        "{err}"
    );
    let bad = trailmark_auth::Authenticator::new(
        &[],
        &[],
        trailmark_auth::AuthOptions {
            regions: vec!["US East".into()],
            ..trailmark_auth::AuthOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(bad.field, "auth.regions[0]");
}

#[test]
fn the_header_phase_refuses_before_the_body_and_the_body_phase_checks_the_signature() {
    use trailmark_auth::HeaderCheck;
    let auth = authenticator();
    let received = signed_put_events();
    // Header phase: the body is not looked at (an empty one passes).
    let mut headers_only = received.clone();
    headers_only.body = Vec::new();
    let pending = match auth
        .check_headers(&headers_only.view(), t0())
        .expect("headers pass")
    {
        HeaderCheck::NeedsBody(p) => p,
        other => panic!("SigV4 needs its body: {other:?}"),
    };
    assert_eq!(pending.principal().name, KEY_ID);
    // Body phase: the real body verifies, another does not.
    assert!(auth.check_body(pending.clone(), &received.view()).is_ok());
    assert_eq!(
        auth.check_body(pending, &headers_only.view()),
        Err(AuthFailure::SignatureMismatch)
    );
    // An unknown key, a stale date and a foreign service fail in the header
    // phase, with a body of any size never read.
    for (key_id, time, service) in [
        ("AKIDUNKNOWN", t0(), "events"),
        (KEY_ID, t0() - Duration::from_secs(3600), "events"),
        (KEY_ID, t0(), "s3"),
    ] {
        let signer = Signer {
            key_id,
            time,
            service,
            ..Signer::default()
        };
        let received = sign_and_receive(put_events("https://localhost:8443/"), &signer);
        assert!(
            auth.check_headers(&received.view(), t0()).is_err(),
            "{key_id} {service}"
        );
    }
}

#[test]
fn a_huge_unknown_key_id_is_bounded_in_the_refusal() {
    let auth = authenticator();
    let mut received = signed_put_events();
    // Header values are visible ASCII by the time they get here; the length
    // is what an attacker controls.
    let key_id = format!("{}{}", "K".repeat(10), "A".repeat(300_000));
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/20261125/us-east-1/events/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}",
        "0".repeat(64)
    );
    received.set_header("authorization", &header);
    let err = check(&auth, &received, t0()).unwrap_err();
    let AuthFailure::UnknownAccessKey { key_id } = &err else {
        panic!("{err:?}");
    };
    assert!(key_id.len() <= 64 + 3, "{} bytes", key_id.len());
    assert!(
        key_id.starts_with("KKKKKKKKKKAAA") && key_id.ends_with("..."),
        "{key_id}"
    );
    assert!(err.to_string().len() < 128, "{err}");
}

#[test]
fn host_with_a_port_verifies() {
    let auth = authenticator();
    let received = sign_and_receive(put_events("http://127.0.0.1:9000/"), &Signer::default());
    assert_eq!(received.headers["host"], "127.0.0.1:9000");
    assert!(check(&auth, &received, t0()).is_ok());
}

#[test]
fn paths_with_spaces_unicode_and_reserved_characters_verify() {
    let auth = authenticator();
    for path in [
        "/events/a%20b/%E1%88%B4",
        "/events/x%2Fy/@connections/JBDvjfGEIAMCERw%3D",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "/a/./b/../c/",
        "//double//slashes",
        "/a+b/(c)/$d!",
    ] {
        let received = sign_and_receive(
            get(&format!("https://events.example.com{path}")),
            &Signer::default(),
        );
        assert_eq!(received.uri.path(), path);
        assert!(check(&auth, &received, t0()).is_ok(), "{path}");
    }
}

#[test]
fn queries_with_repeated_keys_and_encodings_verify() {
    let auth = authenticator();
    for query in [
        "b=2&a=3&a=1&a=2",
        "flag&empty=&x=%20y+z",
        "Param2=value2&Param1=value1&param0=v",
        "k=%E1%88%B4&k=%2F%3F%26",
        "a=b=c",
    ] {
        let received = sign_and_receive(
            get(&format!("https://events.example.com/history?{query}")),
            &Signer::default(),
        );
        assert!(check(&auth, &received, t0()).is_ok(), "{query}");
    }
}

#[test]
fn header_values_with_extra_spaces_and_repeats_verify() {
    let auth = authenticator();
    let req = Request::builder()
        .method(Method::PUT)
        .uri("https://events.example.com/v1/events")
        .header("x-custom", "  spaced   out   value  ")
        .header("x-repeated", "first")
        .header("x-repeated", " second  one ")
        .header("x-quoted", "\"a   b   c\"")
        .body(b"{}".to_vec())
        .unwrap();
    let received = sign_and_receive(req, &Signer::default());
    let auth_header = received.authorization();
    assert!(
        auth_header.contains("x-custom;x-quoted;x-repeated"),
        "{auth_header}"
    );
    assert!(check(&auth, &received, t0()).is_ok());
}

#[test]
fn signed_payload_header_verifies_and_must_match_the_body() {
    let auth = authenticator();
    let signer = Signer {
        content_sha256_header: true,
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://events.example.com/"), &signer);
    assert!(received.headers.contains_key("x-amz-content-sha256"));
    assert!(check(&auth, &received, t0()).is_ok());

    let mut tampered = sign_and_receive(put_events("https://events.example.com/"), &signer);
    tampered.body[20] ^= 1;
    match check(&auth, &tampered, t0()) {
        Err(AuthFailure::PayloadHashMismatch { reason }) => {
            assert!(
                reason.contains("does not match the SHA-256 of the body"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsigned_payload_is_refused() {
    let auth = authenticator();
    let mut req = put_events("https://events.example.com/");
    req.headers_mut().insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    let received = sign_and_receive(req, &Signer::default());
    let err = check(&auth, &received, t0()).unwrap_err();
    assert!(
        matches!(&err, AuthFailure::PayloadHashMismatch { reason } if reason.contains("UNSIGNED-PAYLOAD")),
        "{err:?}"
    );
    assert_eq!(err.status(), 403);
}

#[test]
fn unsigned_extra_headers_do_not_matter() {
    let auth = authenticator();
    let mut received = signed_put_events();
    received.set_header("x-forwarded-for", "10.0.0.1");
    received.set_header("accept", "*/*");
    assert!(check(&auth, &received, t0()).is_ok());
}

#[test]
fn a_changed_body_byte_is_a_signature_mismatch() {
    let auth = authenticator();
    let mut received = signed_put_events();
    let at = received.body.len() / 2;
    received.body[at] ^= 0x20;
    assert_mismatch(&auth, &received, "");
}

#[test]
fn a_changed_signed_header_is_a_signature_mismatch() {
    let auth = authenticator();
    for (name, value) in [
        ("x-amz-target", "AWSEvents.PutRule"),
        ("content-type", "application/json"),
        ("host", "evil.example.com"),
        ("x-amz-date", "20261125T120001Z"),
    ] {
        let mut received = signed_put_events();
        received.set_header(name, value);
        assert_mismatch(&auth, &received, name);
    }
}

#[test]
fn a_changed_method_path_or_query_is_a_signature_mismatch() {
    let auth = authenticator();
    let mut received = signed_put_events();
    received.method = Method::PUT;
    assert_mismatch(&auth, &received, "");

    let mut received = signed_put_events();
    received.uri = "/admin".parse().unwrap();
    assert_mismatch(&auth, &received, "");

    let original = sign_and_receive(
        get("https://events.example.com/q?a=1&b=2"),
        &Signer::default(),
    );
    assert!(check(&auth, &original, t0()).is_ok());
    for query in ["/q?a=1&b=3", "/q?a=1", "/q?a=1&b=2&c=3", "/q"] {
        let mut received = sign_and_receive(
            get("https://events.example.com/q?a=1&b=2"),
            &Signer::default(),
        );
        received.uri = query.parse().unwrap();
        assert_mismatch(&auth, &received, query);
    }
    // Reordering the query does not change the canonical form.
    let mut received = original;
    received.uri = "/q?b=2&a=1".parse().unwrap();
    assert!(check(&auth, &received, t0()).is_ok());
}

#[test]
fn request_time_outside_the_window_is_refused_either_way() {
    let auth = authenticator();
    let received = signed_put_events();
    // Inside: exactly the allowed skew either way.
    assert!(check(&auth, &received, t0() + Duration::from_secs(300)).is_ok());
    assert!(check(&auth, &received, t0() - Duration::from_secs(300)).is_ok());

    let err = check(&auth, &received, t0() + Duration::from_secs(301)).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::RequestTimeOutsideWindow {
            request_time: "20261125T120000Z".into(),
            offset: Duration::from_secs(301),
            in_future: false,
            allowed: Duration::from_secs(300),
        }
    );
    assert_eq!(
        err.to_string(),
        "request time 20261125T120000Z is 5m 1s in the past; the allowed clock skew is 5m"
    );
    assert_eq!(
        (err.status(), err.aws_code()),
        (403, "InvalidSignatureException")
    );

    let err = check(&auth, &received, t0() - Duration::from_secs(3600)).unwrap_err();
    assert!(err.to_string().contains("1h in the future"), "{err}");
}

#[test]
fn a_replay_a_day_later_is_refused_even_with_a_valid_signature() {
    let auth = authenticator();
    let received = signed_put_events();
    let err = check(&auth, &received, t0() + Duration::from_secs(86_400)).unwrap_err();
    assert!(matches!(
        err,
        AuthFailure::RequestTimeOutsideWindow {
            in_future: false,
            ..
        }
    ));
}

#[test]
fn the_wrong_secret_is_a_signature_mismatch() {
    let auth = authenticator();
    let signer = Signer {
        secret: OTHER_SECRET,
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://events.example.com/"), &signer);
    let err = check(&auth, &received, t0()).unwrap_err();
    assert_eq!(err, AuthFailure::SignatureMismatch);
    assert_eq!(
        (err.status(), err.aws_code()),
        (403, "InvalidSignatureException")
    );
}

#[test]
fn another_keys_id_with_this_secret_is_a_signature_mismatch() {
    let auth = authenticator();
    let signer = Signer {
        key_id: OTHER_KEY_ID,
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://events.example.com/"), &signer);
    assert_mismatch(&auth, &received, "");
}

#[test]
fn an_unknown_key_is_named() {
    let auth = authenticator();
    let signer = Signer {
        key_id: "AKIDUNKNOWN",
        ..Signer::default()
    };
    let received = sign_and_receive(put_events("https://events.example.com/"), &signer);
    let err = check(&auth, &received, t0()).unwrap_err();
    assert_eq!(
        err,
        AuthFailure::UnknownAccessKey {
            key_id: "AKIDUNKNOWN".into()
        }
    );
    assert_eq!(
        (err.status(), err.aws_code()),
        (401, "UnrecognizedClientException")
    );
    assert_eq!(err.to_string(), "unknown access key \"AKIDUNKNOWN\"");
}

fn malformed_reason(auth_header: &str) -> String {
    let auth = authenticator();
    let mut received = signed_put_events();
    received.set_header("authorization", auth_header);
    match check(&auth, &received, t0()) {
        Err(AuthFailure::Malformed { reason }) => reason,
        other => panic!("{auth_header}: expected malformed, got {other:?}"),
    }
}

#[test]
fn swapped_signed_headers_are_malformed() {
    let header = signed_put_events().authorization();
    let swapped = header.replace(
        "host;x-amz-date;x-amz-target",
        "host;x-amz-target;x-amz-date",
    );
    assert_ne!(header, swapped);
    assert!(malformed_reason(&swapped).contains("sorted"));
}

#[test]
fn dropping_a_signed_header_from_the_list_is_a_mismatch() {
    let auth = authenticator();
    let mut received = signed_put_events();
    let header = received.authorization().replace(";x-amz-target", "");
    received.set_header("authorization", &header);
    assert_mismatch(&auth, &received, "");
}

#[test]
fn a_signed_header_missing_from_the_request_is_malformed() {
    let auth = authenticator();
    let mut received = signed_put_events();
    received.headers.remove("x-amz-target");
    match check(&auth, &received, t0()) {
        Err(AuthFailure::Malformed { reason }) => {
            assert_eq!(reason, "signed header x-amz-target is not in the request")
        }
        other => panic!("{other:?}"),
    }
    let mut received = signed_put_events();
    received.headers.remove("x-amz-date");
    assert!(matches!(
        check(&auth, &received, t0()),
        Err(AuthFailure::Malformed { .. })
    ));
}

#[test]
fn a_truncated_signature_is_malformed() {
    let header = signed_put_events().authorization();
    let truncated = &header[..header.len() - 1];
    let reason = malformed_reason(truncated);
    assert_eq!(reason, "Signature must be 64 hex digits, got 63 characters");
}

#[test]
fn a_flipped_signature_digit_is_a_mismatch() {
    let auth = authenticator();
    let mut received = signed_put_events();
    let mut header = received.authorization();
    let last = header.pop().unwrap();
    header.push(if last == '0' { '1' } else { '0' });
    received.set_header("authorization", &header);
    assert_mismatch(&auth, &received, "");
}

#[test]
fn credential_date_must_be_the_date_of_x_amz_date() {
    let header = signed_put_events().authorization();
    let reason = malformed_reason(&header.replace("/20261125/", "/20261124/"));
    assert_eq!(
        reason,
        "the Credential date 20261124 differs from the date of x-amz-date 20261125T120000Z"
    );
}

#[test]
fn garbage_authorization_headers_get_precise_failures() {
    let auth = authenticator();
    let cases: &[(&[u8], &str)] = &[
        (b"", "malformed Authorization header: the header is empty"),
        (
            b"AWS4-HMAC-SHA256",
            "malformed Authorization header: Authorization header requires a 'Credential' parameter",
        ),
        (
            b"AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host;x-amz-date, Signature=00",
            "malformed Authorization header: Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
        ),
        (
            b"AWS4-HMAC-SHA256 nonsense",
            "malformed Authorization header: expected Name=Value pairs separated by commas after AWS4-HMAC-SHA256",
        ),
        (
            b"aws4-hmac-sha256 Credential=x",
            "unsupported authentication: the scheme is spelled AWS4-HMAC-SHA256, in capitals",
        ),
        (
            b"Basic dXNlcjpwYXNz",
            "unsupported authentication: the Basic scheme is not supported; use `Bearer <token>` or AWS Signature Version 4 (AWS4-HMAC-SHA256)",
        ),
        (
            b"AWS AKID:signature",
            "unsupported authentication: AWS Signature Version 2 is not supported; use `Bearer <token>` or AWS Signature Version 4 (AWS4-HMAC-SHA256)",
        ),
        (
            b"AWS4-ECDSA-P256-SHA256 Credential=x",
            "unsupported authentication: SigV4a (AWS4-ECDSA-P256-SHA256) is not supported; use `Bearer <token>` or AWS Signature Version 4 (AWS4-HMAC-SHA256)",
        ),
        (
            b"hunter2",
            "unsupported authentication: unrecognised scheme; use `Bearer <token>` or AWS Signature Version 4 (AWS4-HMAC-SHA256)",
        ),
        (
            b"tmk_0123abcd",
            "malformed Authorization header: it holds a token without a scheme; send `Authorization: Bearer <token>`",
        ),
        (
            b"Bearer",
            "malformed Authorization header: Bearer needs a token after it",
        ),
        (
            b"Bearer a b",
            "malformed Authorization header: the bearer token contains a space",
        ),
        (
            b"Bearer \xff\xfe",
            "malformed Authorization header: the value holds bytes that are not visible ASCII",
        ),
    ];
    for (value, want) in cases {
        let mut received = signed_put_events();
        received
            .headers
            .insert("authorization", HeaderValue::from_bytes(value).unwrap());
        let err = check(&auth, &received, t0()).unwrap_err();
        assert_eq!(err.to_string(), *want, "{}", String::from_utf8_lossy(value));
        assert_eq!(err.status(), 401);
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
        assert!(!err.to_string().contains("hunter2"));
    }
}

#[test]
fn two_authorization_headers_are_malformed() {
    let auth = authenticator();
    let mut received = signed_put_events();
    let header = received.authorization();
    received
        .headers
        .append("authorization", HeaderValue::from_str(&header).unwrap());
    assert_eq!(
        check(&auth, &received, t0()).unwrap_err().to_string(),
        "malformed Authorization header: more than one Authorization header"
    );
}

#[test]
fn missing_credentials_and_presigned_urls() {
    let auth = authenticator();
    let mut received = signed_put_events();
    received.headers.remove("authorization");
    let err = check(&auth, &received, t0()).unwrap_err();
    assert_eq!(err, AuthFailure::MissingCredentials);
    assert_eq!(
        (err.status(), err.aws_code()),
        (401, "MissingAuthenticationTokenException")
    );

    received.uri = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20261125%2Fus-east-1%2Fevents%2Faws4_request&X-Amz-Signature=00"
        .parse()
        .unwrap();
    let err = check(&auth, &received, t0()).unwrap_err();
    assert!(err.to_string().contains("presigned URLs"), "{err}");
    assert_eq!(err.status(), 401);
}

#[test]
fn needs_body_only_for_sigv4() {
    let received = signed_put_events();
    assert!(needs_body(&received.headers));
    let mut headers = received.headers.clone();
    headers.insert("authorization", HeaderValue::from_static("Bearer tmk_x"));
    assert!(!needs_body(&headers));
    headers.remove("authorization");
    assert!(!needs_body(&headers));
}

#[test]
fn a_custom_clock_skew_is_applied() {
    let auth = trailmark_auth::Authenticator::new(
        &[],
        &[key(KEY_ID, SECRET, &[Scope::Put], &[])],
        trailmark_auth::AuthOptions {
            clock_skew: Duration::from_secs(30),
            ..trailmark_auth::AuthOptions::default()
        },
    )
    .unwrap();
    let received = signed_put_events();
    assert!(check(&auth, &received, t0() + Duration::from_secs(30)).is_ok());
    let err = check(&auth, &received, t0() + Duration::from_secs(31)).unwrap_err();
    assert!(
        err.to_string().ends_with("the allowed clock skew is 30s"),
        "{err}"
    );
}

/// `auth` refuses `received` at [`t0`] because its signature does not match
/// (`case` names the change, for the failure message).
#[track_caller]
fn assert_mismatch(auth: &Authenticator, received: &Received, case: &str) {
    assert_eq!(
        check(auth, received, t0()),
        Err(AuthFailure::SignatureMismatch),
        "{case}"
    );
}
