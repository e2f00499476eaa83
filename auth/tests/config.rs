//! `[auth]` config: parsing and the errors that name the entry and field.

use std::fs;

use trailmark_auth::{AuthConfig, Authenticator, ConfigError, Scope, generate_token, hash_token};

fn build(toml_text: &str) -> Result<Authenticator, ConfigError> {
    let config: AuthConfig = toml::from_str(toml_text).unwrap();
    Authenticator::from_config(&config)
}

fn error(toml_text: &str) -> String {
    build(toml_text).unwrap_err().to_string()
}

fn hash() -> String {
    hash_token(generate_token().expose()).to_string()
}

fn token(name: &str, scopes: &str) -> String {
    format!(
        "[[tokens]]\nname = \"{name}\"\nhash = \"{}\"\nscopes = {scopes}\n",
        hash()
    )
}

#[test]
fn a_valid_config_builds() {
    let text = format!(
        "clock-skew-secs = 60\n{}{}\
         [[access-keys]]\nid = \"TMKABC\"\nname = \"ci\"\nsecret = \"s3cr3t/+x\"\nscopes = [\"put\"]\nsources = [\"ci.*\"]\n",
        token("a", "[\"put\", \"query\"]"),
        token("b", "[\"admin\"]"),
    );
    let auth = build(&text).unwrap();
    assert!(!auth.is_empty());
    assert!(auth.warnings().is_empty());
    assert!(
        Authenticator::from_config(&AuthConfig::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn errors_name_the_entry_and_the_field() {
    let third_bad_scopes = format!(
        "{}{}{}",
        token("a", "[\"put\"]"),
        token("b", "[\"put\"]"),
        token("c", "[]")
    );
    assert_eq!(
        error(&third_bad_scopes),
        "auth.tokens[2].scopes: at least one scope is required (put, query, admin)"
    );
    assert_eq!(
        error(&format!(
            "{}{}",
            token("dup", "[\"put\"]"),
            token("dup", "[\"query\"]")
        )),
        "auth.tokens[1].name: \"dup\" is already the name of auth.tokens[0]"
    );
    assert_eq!(
        error(&format!(
            "{}sources = [\"x.*\"]\n",
            token("reader", "[\"query\"]")
        )),
        "auth.tokens[0].sources: sources limit the `put` scope, which this entry does not have"
    );
    assert_eq!(
        error(&format!(
            "{}sources = [\"ok\", \"\"]\n",
            token("w", "[\"put\"]")
        )),
        "auth.tokens[0].sources[1]: an empty pattern matches nothing; use \"*\" or leave `sources` out for any source"
    );
    assert_eq!(
        error(&token("  ", "[\"put\"]")),
        "auth.tokens[0].name: must not be empty"
    );
}

#[test]
fn the_same_token_twice_is_refused() {
    let h = hash();
    let text = format!(
        "[[tokens]]\nname = \"a\"\nhash = \"{h}\"\nscopes = [\"put\"]\n\
         [[tokens]]\nname = \"b\"\nhash = \"{h}\"\nscopes = [\"query\"]\n"
    );
    assert_eq!(
        error(&text),
        "auth.tokens[1].hash: the same hash as auth.tokens[0]; each token must be distinct"
    );
}

#[test]
fn a_token_pasted_as_its_hash_is_refused() {
    let token = generate_token();
    let text = format!(
        "[[tokens]]\nname = \"a\"\nhash = \"{}\"\nscopes = [\"put\"]\n",
        token.expose()
    );
    let err = toml::from_str::<AuthConfig>(&text).unwrap_err();
    // Our message never repeats the value; note that toml's error quotes
    // the offending source line (and so the token) on its own.
    assert!(err.message().contains("looks like a token itself"), "{err}");
    assert!(!err.message().contains(&token.expose()[4..]), "{err}");
}

#[test]
fn access_key_errors() {
    let key = |body: &str| format!("[[access-keys]]\n{body}\nscopes = [\"put\"]\n");
    assert_eq!(
        error(&key("id = \"K1\"")),
        "auth.access-keys[0]: a `secret-file` (recommended, mode 0600) or an inline `secret` is required"
    );
    assert_eq!(
        error(&key("id = \"K1\"\nsecret = \"a\"\nsecret-file = \"/x\"")),
        "auth.access-keys[0]: set either `secret` or `secret-file`, not both"
    );
    assert_eq!(
        error(&key("id = \"K/1\"\nsecret = \"a\"")),
        "auth.access-keys[0].id: expected 1 to 128 characters from A-Z a-z 0-9 _ - ."
    );
    assert_eq!(
        error(&format!(
            "{}{}",
            key("id = \"K1\"\nsecret = \"a\""),
            key("id = \"K1\"\nname = \"other\"\nsecret = \"b\"")
        )),
        "auth.access-keys[1].id: access key \"K1\" is configured twice"
    );
    assert_eq!(
        error(&key("id = \"K1\"\nsecret = \"has space\"")),
        "auth.access-keys[0].secret: the secret must be non-empty and contain no whitespace"
    );
    let err = error(&key(
        "id = \"K1\"\nsecret-file = \"/nonexistent/trailmark.key\"",
    ));
    assert!(
        err.starts_with(
            "auth.access-keys[0].secret-file: cannot read /nonexistent/trailmark.key: "
        ),
        "{err}"
    );
}

#[test]
fn secret_files_are_read_and_loose_modes_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    fs::write(&path, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "[[access-keys]]\nid = \"K1\"\nsecret-file = \"{}\"\nscopes = [\"admin\"]\n",
        path.display()
    );
    let auth = build(&text).unwrap();
    assert_eq!(auth.warnings().len(), 1);
    let warning = &auth.warnings()[0];
    assert!(
        warning.contains("mode 0644") && warning.contains("chmod 600"),
        "{warning}"
    );
    assert!(!warning.contains("EXAMPLEKEY"));

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(build(&text).unwrap().warnings().is_empty());
}

#[test]
fn scopes_are_sorted_and_deduplicated() {
    let token = generate_token();
    let text = format!(
        "[[tokens]]\nname = \"a\"\nhash = \"{}\"\nscopes = [\"query\", \"put\", \"query\"]\n",
        hash_token(token.expose())
    );
    let auth = build(&text).unwrap();
    let mut headers = http::HeaderMap::new();
    let value = format!("Bearer {}", token.expose());
    headers.insert("authorization", value.parse().unwrap());
    let uri = http::Uri::from_static("/");
    let view = trailmark_auth::RequestView {
        method: &http::Method::GET,
        uri: &uri,
        headers: &headers,
        body: &[],
    };
    let principal = auth
        .authenticate(&view, std::time::SystemTime::now())
        .unwrap();
    assert_eq!(principal.scopes, [Scope::Put, Scope::Query]);
}

#[test]
fn clock_skew_is_bounded() {
    assert_eq!(
        error("clock-skew-secs = 0\n"),
        "auth.clock-skew-secs: must be between 1 and 3600 seconds (AWS uses 300)"
    );
    assert!(build("clock-skew-secs = 86400\n").is_err());
    assert!(build("clock-skew-secs = 900\n").is_ok());
}
