//! Browser sessions: a token is presented once on the sign-in form; the
//! browser then holds only an opaque session id in an HttpOnly,
//! SameSite=Strict cookie. The server maps it to the principal and a CSRF
//! token that every form posts back.
//!
//! Sessions live in memory (a restart signs everyone out), expire after
//! [`SESSION_TTL`], and are bounded in number ([`MAX_SESSIONS`]): when full
//! of live sessions, sign-in is refused rather than evicting someone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use trailmark_auth::Principal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "trailmark_session";
/// The sign-in form's CSRF cookie (double submit: cookie and hidden field
/// must be equal), set when the form is shown.
pub const SIGNIN_COOKIE: &str = "trailmark_signin";
/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Live sessions held at most.
pub const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in, with the scopes of the token used.
    pub principal: Principal,
    /// Must come back in the `csrf` field of every POST.
    pub csrf: String,
    expires: Instant,
}

/// The session map.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// Sign-in refused because [`MAX_SESSIONS`] live sessions exist.
#[derive(Debug, thiserror::Error)]
#[error("the viewer holds {MAX_SESSIONS} live sessions; try again when some expire")]
pub struct Full;

impl Sessions {
    /// Start a session for `principal`: its id (for the cookie) and CSRF token.
    pub fn create(&self, principal: Principal) -> Result<(String, String), Full> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS {
                return Err(Full);
            }
        }
        let id = random_hex();
        let csrf = random_hex();
        map.insert(
            id.clone(),
            Session {
                principal,
                csrf: csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        Ok((id, csrf))
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// End a session.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// 256 random bits as hex, from the OS source.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system provides a random source");
    hex::encode(bytes)
}

/// The value of cookie `name` in the request, if present.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, on `path`, for `max_age`
/// (zero deletes it); `Secure` (sent over HTTPS only) when `secure`.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Equal strings, compared in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use trailmark_auth::{PrincipalKind, Scope, SourceFilter};

    fn principal() -> Principal {
        Principal {
            name: "auditor".into(),
            kind: PrincipalKind::Token,
            scopes: vec![Scope::View],
            sources: SourceFilter::default(),
        }
    }

    #[test]
    fn sessions_are_found_by_id_and_end() {
        let sessions = Sessions::default();
        let (id, csrf) = sessions.create(principal()).unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(id, csrf);
        assert_eq!(sessions.get(&id).unwrap().csrf, csrf);
        assert!(sessions.get("nope").is_none());
        sessions.remove(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; trailmark_session=abc"),
        );
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "trailmark"), None);
        let set = set_cookie(SESSION_COOKIE, "abc", "/", SESSION_TTL, false);
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains("Secure"), "{set}");
        let secure = set_cookie(SESSION_COOKIE, "abc", "/", SESSION_TTL, true);
        assert!(secure.ends_with("; Secure"), "{secure}");
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
