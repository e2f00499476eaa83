//! Shared test helpers: an authenticator with known credentials, and
//! requests signed by the real AWS signer (`aws-sigv4`).

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use trailmark_auth::{
    AccessKeySpec, AuthFailure, AuthOptions, Authenticated, Authenticator, Principal, RequestView,
    Scope, Secret,
};

pub(crate) const KEY_ID: &str = "TMKTESTKEY0000000001";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub(crate) const OTHER_KEY_ID: &str = "TMKTESTKEY0000000002";
pub(crate) const OTHER_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

/// 2026-11-25T12:00:00Z.
pub(crate) fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
}

pub(crate) fn key(id: &str, secret: &str, scopes: &[Scope], sources: &[&str]) -> AccessKeySpec {
    AccessKeySpec {
        id: id.into(),
        name: None,
        secret: Some(Secret::new(secret)),
        secret_file: None,
        scopes: scopes.to_vec(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

/// Two keys: `KEY_ID` (put, sources `com.acme.*`) and `OTHER_KEY_ID` (admin).
pub(crate) fn authenticator() -> Authenticator {
    Authenticator::new(
        &[],
        &[
            key(KEY_ID, SECRET, &[Scope::Put], &["com.acme.*"]),
            key(OTHER_KEY_ID, OTHER_SECRET, &[Scope::Admin], &[]),
        ],
        AuthOptions::default(),
    )
    .unwrap()
}

/// How to sign.
pub(crate) struct Signer<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
    pub time: SystemTime,
    pub region: &'a str,
    pub service: &'a str,
    pub content_sha256_header: bool,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Self {
            key_id: KEY_ID,
            secret: SECRET,
            time: t0(),
            region: "us-east-1",
            service: "events",
            content_sha256_header: false,
        }
    }
}

impl Signer<'_> {
    /// Signs `req` (absolute URI, as an SDK holds it) in place.
    pub(crate) fn sign(&self, req: &mut Request<Vec<u8>>) {
        let identity = Credentials::new(self.key_id, self.secret, None, None, "test").into();
        let mut settings = SigningSettings::default();
        if self.content_sha256_header {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = req.uri().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            req.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
            SignableBody::Bytes(req.body()),
        )
        .unwrap();
        let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(req);
    }
}

/// The request as a server sees it: origin-form target, a `Host` header
/// (added from the URI the way an HTTP/1.1 client does, when not set).
#[derive(Clone)]
pub(crate) struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub(crate) fn from_client(req: &Request<Vec<u8>>) -> Self {
        let mut headers = req.headers().clone();
        if !headers.contains_key("host") {
            let authority = req.uri().authority().unwrap().as_str();
            let host = authority
                .strip_suffix(":443")
                .unwrap_or(authority)
                .to_string();
            headers.insert("host", HeaderValue::from_str(&host).unwrap());
        }
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        Self {
            method: req.method().clone(),
            uri: target.parse().unwrap(),
            headers,
            body: req.body().clone(),
        }
    }

    pub(crate) fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }

    pub(crate) fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }

    pub(crate) fn authorization(&self) -> String {
        self.headers["authorization"].to_str().unwrap().to_owned()
    }
}

pub(crate) fn check(
    auth: &Authenticator,
    received: &Received,
    now: SystemTime,
) -> Result<Principal, AuthFailure> {
    auth.authenticate(&received.view(), now)
}

pub(crate) fn verify(
    auth: &Authenticator,
    received: &Received,
    now: SystemTime,
) -> Result<Authenticated, AuthFailure> {
    auth.verify(&received.view(), now)
}

/// An EventBridge PutEvents call as the AWS SDKs send it.
pub(crate) fn put_events(uri: &str) -> Request<Vec<u8>> {
    let body = br#"{"Entries":[{"Source":"com.acme.orders","DetailType":"Object State Change","Detail":"{\"entity-type\":\"order\",\"entity-id\":\"42\",\"operation\":\"update\",\"ts\":1764072000000,\"author\":\"alice\",\"data\":{\"total\":12.5}}","EventBusName":"default"}]}"#;
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSEvents.PutEvents")
        .header("content-length", body.len().to_string())
        .header("user-agent", "aws-cli/2.15.0 Python/3.11.6")
        .body(body.to_vec())
        .unwrap()
}

pub(crate) fn signed_put_events() -> Received {
    let mut req = put_events("https://events.example.com/");
    Signer::default().sign(&mut req);
    Received::from_client(&req)
}
