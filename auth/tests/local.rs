//! The local admin credentials: file modes, idempotence, formats.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};
use trailmark_auth::{
    ACCESS_KEY_FILE, ADMIN_TOKEN_FILE, AuthOptions, Authenticator, LocalCredentials, LocalError,
    RequestView, Scope,
};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_creates_both_files_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (creds, created) = LocalCredentials::load_or_create(&data).unwrap();
    assert!(created);
    for name in [ADMIN_TOKEN_FILE, ACCESS_KEY_FILE] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    assert!(creds.insecure_files().is_empty());
    assert_eq!(creds.admin_token_path, data.join(ADMIN_TOKEN_FILE));

    let token_text = fs::read_to_string(data.join(ADMIN_TOKEN_FILE)).unwrap();
    assert_eq!(token_text, format!("{}\n", creds.admin_token.expose()));
    assert!(creds.admin_token.expose().starts_with("tmk_"));

    let key_text = fs::read_to_string(data.join(ACCESS_KEY_FILE)).unwrap();
    assert!(key_text.contains("[default]\n"));
    assert!(key_text.contains(&format!("aws_access_key_id = {}\n", creds.access_key_id)));
    assert!(key_text.contains(&format!(
        "aws_secret_access_key = {}\n",
        creds.secret_access_key.expose()
    )));
    assert_eq!(creds.access_key_id.len(), 20);
    assert!(creds.access_key_id.starts_with("TMK"));
    assert_eq!(creds.secret_access_key.expose().len(), 40);

    // No temporary files left behind.
    let mut names: Vec<_> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [ACCESS_KEY_FILE, ADMIN_TOKEN_FILE]);
}

#[test]
fn second_start_loads_the_same_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (first, created) = LocalCredentials::load_or_create(dir.path()).unwrap();
    assert!(created);
    let (second, created) = LocalCredentials::load_or_create(dir.path()).unwrap();
    assert!(!created);
    assert_eq!(first.admin_token, second.admin_token);
    assert_eq!(first.access_key_id, second.access_key_id);
    assert_eq!(first.secret_access_key, second.secret_access_key);

    let loaded = LocalCredentials::load(dir.path()).unwrap();
    assert_eq!(loaded.admin_token, first.admin_token);
    assert_eq!(
        LocalCredentials::load_admin_token(dir.path()).unwrap(),
        first.admin_token
    );
}

#[test]
fn a_missing_file_is_recreated_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = LocalCredentials::load_or_create(dir.path()).unwrap();
    fs::remove_file(dir.path().join(ACCESS_KEY_FILE)).unwrap();
    let (second, created) = LocalCredentials::load_or_create(dir.path()).unwrap();
    assert!(created);
    assert_eq!(second.admin_token, first.admin_token);
    assert_ne!(second.access_key_id, first.access_key_id);
}

#[test]
fn loose_permissions_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, _) = LocalCredentials::load_or_create(dir.path()).unwrap();
    fs::set_permissions(&creds.admin_token_path, fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = LocalCredentials::load(dir.path()).unwrap();
    assert_eq!(
        loaded.insecure_files(),
        [(creds.admin_token_path.clone(), 0o644)]
    );
}

#[test]
fn load_without_files_or_with_garbage_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalCredentials::load(dir.path()).unwrap_err();
    assert!(matches!(err, LocalError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(ADMIN_TOKEN_FILE), "{err}");

    fs::write(dir.path().join(ADMIN_TOKEN_FILE), "tmk_abc\n").unwrap();
    fs::write(
        dir.path().join(ACCESS_KEY_FILE),
        "[default]\naws_access_key_id = TMKX\n",
    )
    .unwrap();
    let err = LocalCredentials::load(dir.path()).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "access-key: no aws_secret_access_key line; delete it to have a new one created at the next start"
        ),
        "{err}"
    );

    fs::write(dir.path().join(ADMIN_TOKEN_FILE), "two words\n").unwrap();
    let err = LocalCredentials::load_admin_token(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected the token alone on one line"),
        "{err}"
    );
    assert!(!err.to_string().contains("two words"));
}

#[test]
fn the_specs_authenticate_as_admin() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, _) = LocalCredentials::load_or_create(dir.path()).unwrap();
    let auth = Authenticator::new(
        &[creds.token_spec()],
        &[creds.access_key_spec()],
        AuthOptions::default(),
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    let value = format!("Bearer {}", creds.admin_token.expose());
    headers.insert("authorization", value.parse().unwrap());
    let uri = Uri::from_static("/admin/reload");
    let view = RequestView {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        body: &[],
    };
    let principal = auth.authenticate(&view, SystemTime::now()).unwrap();
    assert_eq!(principal.name, "local-admin");
    assert!(principal.allows(Scope::Admin));
    assert_eq!(creds.access_key_spec().scopes, [Scope::Admin]);
    // Nothing secret in Debug output.
    let debug = format!("{creds:?} {auth:?}");
    assert!(!debug.contains(creds.admin_token.expose()));
    assert!(!debug.contains(creds.secret_access_key.expose()));
}

#[test]
fn concurrent_first_starts_agree_on_one_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || LocalCredentials::load_or_create(&path).unwrap().0)
        })
        .collect();
    let all: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for creds in &all {
        assert_eq!(creds.admin_token, all[0].admin_token);
        assert_eq!(creds.access_key_id, all[0].access_key_id);
    }
}
