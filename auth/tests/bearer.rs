//! Bearer tokens: the right token, a wrong one, another entry's, scopes and
//! source patterns.

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, Uri};
use trailmark_auth::{
    AuthFailure, AuthOptions, Authenticator, PrincipalKind, RequestView, Scope, Secret, TokenSpec,
    generate_token, hash_token,
};

struct Fixture {
    auth: Authenticator,
    writer: Secret,
    reader: Secret,
    admin: Secret,
}

fn spec(name: &str, token: &Secret, scopes: &[Scope], sources: &[&str]) -> TokenSpec {
    TokenSpec {
        name: name.into(),
        hash: hash_token(token.expose()),
        scopes: scopes.to_vec(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

fn fixture() -> Fixture {
    let (writer, reader, admin) = (generate_token(), generate_token(), generate_token());
    let auth = Authenticator::new(
        &[
            spec(
                "billing-writer",
                &writer,
                &[Scope::Put],
                &["com.acme.billing", "com.acme.billing.*"],
            ),
            spec("auditor", &reader, &[Scope::Query], &[]),
            spec("ops", &admin, &[Scope::Admin], &[]),
        ],
        &[],
        AuthOptions::default(),
    )
    .unwrap();
    Fixture {
        auth,
        writer,
        reader,
        admin,
    }
}

fn call(
    auth: &Authenticator,
    authorization: Option<&str>,
) -> Result<trailmark_auth::Principal, AuthFailure> {
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert("authorization", HeaderValue::from_str(value).unwrap());
    }
    let uri = Uri::from_static("/v1/events");
    let view = RequestView {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        body: &[],
    };
    auth.authenticate(&view, SystemTime::now())
}

#[test]
fn each_token_finds_its_own_entry() {
    let f = fixture();
    for (token, name) in [
        (&f.writer, "billing-writer"),
        (&f.reader, "auditor"),
        (&f.admin, "ops"),
    ] {
        let principal = call(&f.auth, Some(&format!("Bearer {}", token.expose()))).unwrap();
        assert_eq!(principal.name, name);
        assert_eq!(principal.kind, PrincipalKind::Token);
    }
}

#[test]
fn the_scheme_is_case_insensitive_and_spaces_are_tolerated() {
    let f = fixture();
    for form in ["bearer {}", "BEARER {}", "Bearer   {}  "] {
        let value = form.replace("{}", f.reader.expose());
        assert_eq!(
            call(&f.auth, Some(&value)).unwrap().name,
            "auditor",
            "{form}"
        );
    }
}

#[test]
fn a_wrong_token_is_unknown_and_not_echoed() {
    let f = fixture();
    let stranger = generate_token();
    let err = call(&f.auth, Some(&format!("Bearer {}", stranger.expose()))).unwrap_err();
    assert_eq!(err, AuthFailure::UnknownToken);
    assert_eq!(
        (err.status(), err.aws_code()),
        (401, "UnrecognizedClientException")
    );
    assert!(!format!("{err} {err:?}").contains(stranger.expose()));

    // One character off, a prefix, and the hash itself are all unknown.
    let mut off = f.writer.expose().to_owned();
    off.pop();
    off.push('x');
    let prefix = &f.writer.expose()[..20];
    let hash = hash_token(f.writer.expose()).to_string();
    for wrong in [off.as_str(), prefix, hash.as_str()] {
        assert_eq!(
            call(&f.auth, Some(&format!("Bearer {wrong}"))),
            Err(AuthFailure::UnknownToken)
        );
    }
}

#[test]
fn no_header_means_missing_credentials() {
    let f = fixture();
    assert_eq!(call(&f.auth, None), Err(AuthFailure::MissingCredentials));
}

#[test]
fn a_token_of_another_entry_carries_that_entrys_scopes() {
    let f = fixture();
    let reader = call(&f.auth, Some(&format!("Bearer {}", f.reader.expose()))).unwrap();
    assert!(reader.allows(Scope::Query));
    assert!(!reader.allows(Scope::Put));
    assert!(!reader.allows(Scope::Admin));
    let err = reader.require(Scope::Put).unwrap_err();
    assert_eq!(
        err.to_string(),
        "access denied: auditor may not use the `put` scope"
    );
    assert_eq!(
        (err.status(), err.aws_code()),
        (403, "AccessDeniedException")
    );
}

#[test]
fn source_patterns_limit_what_a_writer_may_put() {
    let f = fixture();
    let writer = call(&f.auth, Some(&format!("Bearer {}", f.writer.expose()))).unwrap();
    assert!(writer.may_put_source("com.acme.billing"));
    assert!(writer.may_put_source("com.acme.billing.invoices"));
    assert!(!writer.may_put_source("com.acme.billingx"));
    assert!(!writer.may_put_source("com.acme.orders"));
    assert!(!writer.allows(Scope::Query));
    let err = writer.require_put_source("com.acme.orders").unwrap_err();
    assert_eq!(
        err.to_string(),
        "access denied: billing-writer may not use events with source \"com.acme.orders\" \
         (allowed: com.acme.billing, com.acme.billing.*)"
    );
    assert_eq!(err.status(), 403);
}

#[test]
fn admin_may_do_everything() {
    let f = fixture();
    let admin = call(&f.auth, Some(&format!("Bearer {}", f.admin.expose()))).unwrap();
    for scope in [Scope::Put, Scope::Query, Scope::Admin] {
        assert!(admin.require(scope).is_ok());
    }
    assert!(admin.may_put_source("anything.at.all"));
}

#[test]
fn denied_can_be_built_by_the_host() {
    let f = fixture();
    let reader = call(&f.auth, Some(&format!("Bearer {}", f.reader.expose()))).unwrap();
    let err = AuthFailure::denied(&reader, "replay");
    assert_eq!(err.to_string(), "access denied: auditor may not use replay");
    assert_eq!(err.status(), 403);
}
