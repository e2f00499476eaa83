//! OAuth 2.0 client credentials end to end: a real token endpoint on
//! loopback that checks the request as RFC 6749 §4.4 and §2.3.1 say and
//! issues expiring tokens, and an API behind it that takes only a current
//! bearer token, with the `webhook` plugin delivering through them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::common::{Server, Setup, put_accepted, state_change};
use crate::http_targets::{WAIT, dead_letters_of, destination, target_file};
use crate::test_http::{Reply, Request, TestServer};

const CLIENT_ID: &str = "trailmark client";
/// Characters that must be form-encoded before Basic auth.
const CLIENT_SECRET: &str = "cl1ent:s3cret+/";
const SCOPE: &str = "audit.write audit.read";
const AUDIENCE: &str = "https://api.example.com";
/// How long past its expiry the API still takes a token: the host renews
/// a tenth of the lifetime early, and loopback on a loaded machine is slow.
const GRACE: Duration = Duration::from_secs(1);

/// What the token endpoint and the API share.
#[derive(Default)]
struct Idp {
    /// `expires_in` of the tokens issued.
    expires_in: u64,
    /// Tokens issued, in order, and when.
    issued: Vec<(String, Instant)>,
    /// Tokens the API no longer takes.
    revoked: HashSet<String>,
    /// The API refuses every token.
    refuse_all: bool,
    /// The token endpoint answers these first (status, body).
    failures: Vec<(u16, String)>,
    /// What the token endpoint found wrong in a request.
    problems: Vec<String>,
    /// Each API request's bearer token and the status it got.
    calls: Vec<(String, u16)>,
}

/// The token endpoint and the API, each a loopback server.
struct OAuthWorld {
    idp: Arc<Mutex<Idp>>,
    tokens: TestServer,
    api: TestServer,
}

impl OAuthWorld {
    /// `body`: the client sends its id and secret as form fields rather
    /// than Basic auth.
    fn start(expires_in: u64, body: bool) -> OAuthWorld {
        let idp = Arc::new(Mutex::new(Idp {
            expires_in,
            ..Idp::default()
        }));
        let shared = Arc::clone(&idp);
        let tokens = TestServer::serve(move |request| {
            Some(token_endpoint(&mut lock(&shared), request, body))
        });
        let shared = Arc::clone(&idp);
        let api = TestServer::serve(move |request| Some(api(&mut lock(&shared), request)));
        OAuthWorld { idp, tokens, api }
    }

    fn idp(&self) -> MutexGuard<'_, Idp> {
        lock(&self.idp)
    }

    /// A server running the webhook plugin to the API through an
    /// `oauth-client-credentials` connection; `retry` is the rule's policy.
    fn server(&self, client_auth: &str, retry: &str) -> (Setup, Server) {
        let setup = Setup::new();
        setup.plugin("webhook", "trailmark-plugin-webhook");
        let root = setup.path();
        target_file(
            root,
            "connections",
            "idp",
            &format!(
                "name: idp\nauth:\n  oauth-client-credentials:\n    token-url: {}\n    \
                 client-id: {CLIENT_ID}\n    client-secret: {{env: OAUTH_CLIENT_SECRET}}\n    \
                 scope: {SCOPE}\n    audience: \"{AUDIENCE}\"\n    allow-http: true\n{client_auth}",
                self.tokens.url("/oauth/token")
            ),
        );
        target_file(
            root,
            "destinations",
            "api",
            &destination("api", &self.api.url("/v1"), "connection: idp\nrate: 1000\n"),
        );
        setup.test_rule(
            "to-api",
            "webhook",
            &format!(
                "grants: {{http: [api]}}\nconfig: {{destination: api, path: /events}}\n{retry}"
            ),
        );
        setup.config("[dispatch]\nretry-initial = \"10ms\"\nretry-max = \"20ms\"\n");
        let server = Server::start_with(root, |cmd| {
            cmd.env("OAUTH_CLIENT_SECRET", CLIENT_SECRET);
        });
        (setup, server)
    }

    /// The tokens issued so far.
    fn issued(&self) -> Vec<String> {
        self.idp().issued.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Every API call: its token and the status it got.
    fn calls(&self) -> Vec<(String, u16)> {
        self.idp().calls.clone()
    }

    /// Nothing the token endpoint was sent broke the spec.
    fn assert_spec_kept(&self) {
        let problems = self.idp().problems.clone();
        assert!(problems.is_empty(), "token requests: {problems:?}");
    }
}

fn lock(idp: &Mutex<Idp>) -> MutexGuard<'_, Idp> {
    idp.lock().unwrap_or_else(|e| e.into_inner())
}

/// The token endpoint: checks the request and issues `tok-N`.
fn token_endpoint(idp: &mut Idp, request: &Request, body_auth: bool) -> Reply {
    let form: Vec<(String, String)> = form_urlencoded::parse(&request.body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut problems = Vec::new();
    if request.method != "POST" || request.path != "/oauth/token" {
        problems.push(format!("{} {}", request.method, request.path));
    }
    if request.header("content-type").as_deref() != Some("application/x-www-form-urlencoded") {
        problems.push(format!("content-type {:?}", request.header("content-type")));
    }
    if field("grant_type") != Some("client_credentials") {
        problems.push(format!("grant_type {:?}", field("grant_type")));
    }
    if field("scope") != Some(SCOPE) || field("audience") != Some(AUDIENCE) {
        problems.push(format!(
            "scope {:?} audience {:?}",
            field("scope"),
            field("audience")
        ));
    }
    // RFC 6749 §2.3.1: Basic auth of the form-encoded id and secret, or
    // (not both) the two form fields.
    let basic = {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(CLIENT_ID), encode(CLIENT_SECRET));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let authorization = request.header("authorization");
    let authenticated = if body_auth {
        authorization.is_none()
            && field("client_id") == Some(CLIENT_ID)
            && field("client_secret") == Some(CLIENT_SECRET)
    } else {
        authorization.as_deref() == Some(basic.as_str())
            && field("client_id").is_none()
            && field("client_secret").is_none()
    };
    if !authenticated {
        problems.push(format!(
            "client authentication: {authorization:?}, {form:?}"
        ));
    }
    if !idp.failures.is_empty() {
        let (status, body) = idp.failures.remove(0);
        return Reply::status(status).body(&body);
    }
    if !problems.is_empty() {
        idp.problems.extend(problems);
        return Reply::status(400).body(r#"{"error":"invalid_request"}"#);
    }
    let token = format!("tok-{}", idp.issued.len() + 1);
    idp.issued.push((token.clone(), Instant::now()));
    Reply::status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(
            &serde_json::json!({
                "access_token": token, "token_type": "Bearer", "expires_in": idp.expires_in,
            })
            .to_string(),
        )
}

/// The API: 200 for a current, unrevoked token it issued, else 401.
fn api(idp: &mut Idp, request: &Request) -> Reply {
    let token = request
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .unwrap_or_default();
    let lifetime = Duration::from_secs(idp.expires_in) + GRACE;
    let current = idp
        .issued
        .iter()
        .any(|(t, at)| *t == token && at.elapsed() < lifetime);
    let status = if current && !idp.revoked.contains(&token) && !idp.refuse_all {
        200
    } else {
        401
    };
    idp.calls.push((token, status));
    match status {
        200 => Reply::status(200),
        _ => Reply::status(401).header("www-authenticate", r#"Bearer error="invalid_token""#),
    }
}

fn delivered(server: &Server) -> f64 {
    server.delivered("to-api").unwrap_or(0.0)
}

fn retries(server: &Server) -> f64 {
    server.retries("to-api").unwrap_or(0.0)
}

fn events(from: usize, count: usize) -> Vec<serde_json::Value> {
    (from..from + count)
        .map(|i| state_change("book", &i.to_string(), "update", "a", None))
        .collect()
}

#[test]
fn one_oauth_token_is_fetched_with_basic_client_auth_and_reused_across_many_deliveries() {
    let world = OAuthWorld::start(3600, false);
    let (_setup, server) = world.server("", "");
    // PutEvents takes at most 10 entries a request.
    for from in (0..40).step_by(10) {
        put_accepted(&server, &events(from, 10));
    }
    server.wait_until(WAIT, "40 deliveries", |s| delivered(s) == 40.0);
    world.assert_spec_kept();
    assert_eq!(world.issued(), ["tok-1"], "one token for all deliveries");
    let calls = world.calls();
    assert_eq!(calls.len(), 40);
    assert!(
        calls
            .iter()
            .all(|(t, status)| t == "tok-1" && *status == 200),
        "{calls:?}"
    );
    let log = server.log();
    assert!(!log.contains(CLIENT_SECRET) && !log.contains("tok-1"));
}

#[test]
fn an_expiring_oauth_token_is_renewed_before_the_api_refuses_it() {
    let world = OAuthWorld::start(2, true);
    let (_setup, server) = world.server("    client-auth: body\n", "");
    // Deliver one event after another until a second token was needed.
    let mut sent = 0;
    server.wait_until(WAIT, "a second token", |s| {
        if world.issued().len() >= 2 {
            return true;
        }
        put_accepted(s, &events(sent, 1));
        sent += 1;
        s.wait_until(WAIT, "the event delivered", |s| delivered(s) == sent as f64);
        false
    });
    world.assert_spec_kept();
    assert_eq!(world.issued(), ["tok-1", "tok-2"]);
    let calls = world.calls();
    assert!(
        calls.iter().all(|(_, status)| *status == 200),
        "no call went out with an expired token: {calls:?}"
    );
    let first = calls.iter().filter(|(t, _)| t == "tok-1").count();
    assert!(
        first >= 2 && first < calls.len(),
        "the first token served the deliveries while valid, then the second: {calls:?}"
    );
    put_accepted(&server, &events(sent, 1));
    server.wait_until(WAIT, "the next event delivered", |s| {
        delivered(s) == (sent + 1) as f64
    });
    assert_eq!(world.calls().last().map(|c| c.0.as_str()), Some("tok-2"));
}

#[test]
fn a_401_with_a_cached_token_fetches_one_new_token_and_sends_again() {
    let world = OAuthWorld::start(3600, false);
    let (_setup, server) = world.server("", "retry: {max-attempts: 3, max-age: 60s}\n");
    put_accepted(&server, &events(0, 1));
    server.wait_until(WAIT, "the first event delivered", |s| delivered(s) == 1.0);
    // The API revokes the cached token: the next call gets a 401, the host
    // fetches a new token and sends the request again, within the call.
    world.idp().revoked.insert("tok-1".to_owned());
    put_accepted(&server, &events(1, 1));
    server.wait_until(WAIT, "the second event delivered", |s| delivered(s) == 2.0);
    assert_eq!(world.issued(), ["tok-1", "tok-2"]);
    assert_eq!(
        world.calls(),
        [
            ("tok-1".to_owned(), 200),
            ("tok-1".to_owned(), 401),
            ("tok-2".to_owned(), 200)
        ]
    );
    assert_eq!(
        retries(&server),
        0.0,
        "the refresh is not a retry of the delivery"
    );

    // An API that refuses even a new token: one refresh, not a loop; a 401
    // is the request's fault, so the delivery is rejected.
    world.idp().refuse_all = true;
    put_accepted(&server, &events(2, 1));
    let errors = dead_letters_of(&server, "to-api", 1);
    assert!(errors[0].contains("answered 401"), "{errors:?}");
    assert_eq!(world.issued().len(), 3, "one refresh for the refused call");
    assert_eq!(world.calls().len(), 5);
    world.assert_spec_kept();
}

#[test]
fn a_failing_token_endpoint_makes_deliveries_retry_and_never_shows_the_secret() {
    let world = OAuthWorld::start(3600, false);
    // An outage, then a refusal that echoes the secret it was sent (some
    // servers do), for every attempt the rule's policy allows.
    let echo = format!(
        r#"{{"error":"invalid_client","error_description":"client secret {CLIENT_SECRET} is not valid"}}"#
    );
    world.idp().failures = vec![
        (503, "down for maintenance".to_owned()),
        (401, echo.clone()),
        (401, echo),
    ];
    let (_setup, server) = world.server("", "retry: {max-attempts: 2, max-age: 60s}\n");
    put_accepted(&server, &events(0, 1));
    let errors = dead_letters_of(&server, "to-api", 1);
    assert_eq!(
        retries(&server),
        2.0,
        "each failed token request was retried"
    );
    assert!(
        world.calls().is_empty(),
        "nothing reached the API without a token"
    );
    let error = &errors[0];
    assert!(
        error.contains("gave up after 3 attempt")
            && error.contains("token request")
            && error.contains("invalid_client"),
        "{error}"
    );
    assert!(!error.contains(CLIENT_SECRET), "{error}");
    let log = server.log();
    assert!(log.contains("token request"), "the failures are logged");
    assert!(!log.contains(CLIENT_SECRET), "the secret is never logged");

    // The endpoint recovers: the next event goes through.
    put_accepted(&server, &events(1, 1));
    server.wait_until(WAIT, "delivered once the endpoint is back", |s| {
        delivered(s) == 1.0
    });
    assert_eq!(world.issued(), ["tok-1"]);
    world.assert_spec_kept();
}
