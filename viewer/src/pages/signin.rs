//! Sign-in and sign-out: a token presented once on a form (POST, never in
//! a URL) starts a session; the browser keeps only the session cookie.

use std::time::{Duration, SystemTime};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trailmark_auth::{Principal, RequestView, Scope};

use super::{Remote, Shared, SignedIn, csrf_refused, message, render};
use crate::session::{SESSION_COOKIE, SESSION_TTL, SIGNIN_COOKIE, cookie, random_hex, same_secret};
use crate::templates::{Chrome, SignIn};
use crate::{Refusal, ViewerState};

/// What a signed-out page says above the sign-in form.
pub(super) const SIGN_IN_PROMPT: &str = "Sign in to read the trail.";

/// How long the sign-in form stays valid.
const SIGNIN_TTL: Duration = Duration::from_secs(600);

/// The sign-in form with a fresh CSRF value (also set as a cookie), and
/// `note`: [`SIGN_IN_PROMPT`] or why the last attempt was refused.
pub(super) fn signin_response(
    state: &ViewerState,
    status: StatusCode,
    next: &str,
    note: Option<String>,
) -> Response {
    let csrf = random_hex();
    let mut response = render(
        status,
        &SignIn {
            chrome: Chrome::signed_out(),
            refused: note.as_deref().is_some_and(|n| n != SIGN_IN_PROMPT),
            message: note,
            csrf: csrf.clone(),
            next: safe_next(next).to_owned(),
        },
    );
    if let Ok(v) =
        HeaderValue::from_str(&state.cookie(SIGNIN_COOKIE, &csrf, "/ui/signin", SIGNIN_TTL))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `next` when it is a path of this viewer, else `/`: a sign-in never
/// redirects off the origin or to an API route.
fn safe_next(next: &str) -> &str {
    let viewer_path = next == "/" || next.starts_with("/?") || next.starts_with("/ui/");
    if viewer_path && !next.chars().any(|c| c.is_control() || c == '\\') {
        next
    } else {
        "/"
    }
}

/// `GET /ui/signin`.
pub(crate) async fn signin_form(State(state): Shared, uri: Uri) -> Response {
    let next = uri
        .query()
        .and_then(|q| form_value(q, "next"))
        .unwrap_or_else(|| "/".to_owned());
    signin_response(&state, StatusCode::OK, &next, None)
}

fn form_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    token: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /ui/signin`: check the form's CSRF value against its cookie, the
/// token against the host's credentials and its scopes; start a session.
/// Refusals are handed to the host to journal.
pub(crate) async fn signin(
    State(state): Shared,
    Remote(remote): Remote,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let refused = |who: &str, status: StatusCode, reason: &str| {
        tracing::info!(
            principal = who,
            status = status.as_u16(),
            reason,
            "viewer sign-in refused"
        );
        state.trail.record_refusal(Refusal {
            who: who.to_owned(),
            status: status.as_u16(),
            reason: reason.to_owned(),
            path: "/ui/signin",
            remote,
        });
    };
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, &form.csrf) {
        refused(
            "anonymous",
            StatusCode::FORBIDDEN,
            "the sign-in form's CSRF value does not match its cookie",
        );
        return signin_response(
            &state,
            StatusCode::FORBIDDEN,
            &form.next,
            Some("The sign-in form expired or did not come from this page; sign in again.".into()),
        );
    }
    let principal = match authenticate(&state, form.token.trim()) {
        Ok(p) => p,
        Err(reason) => {
            refused("anonymous", StatusCode::UNAUTHORIZED, &reason);
            return signin_response(&state, StatusCode::UNAUTHORIZED, &form.next, Some(reason));
        }
    };
    if let Err(denied) = principal.require(Scope::View) {
        let reason = denied.to_string();
        refused(&principal.name, StatusCode::FORBIDDEN, &reason);
        return signin_response(
            &state,
            StatusCode::FORBIDDEN,
            &form.next,
            Some(format!(
                "{reason}; the viewer needs a token with the view, query or admin scope"
            )),
        );
    }
    let name = principal.name.clone();
    let (id, _csrf) = match state.sessions.create(principal) {
        Ok(created) => created,
        Err(full) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                Chrome::signed_out(),
                "Try again later",
                full.to_string(),
            );
        }
    };
    tracing::info!(principal = %name, "viewer sign-in");
    let mut response = Redirect::to(safe_next(&form.next)).into_response();
    let headers = response.headers_mut();
    for value in [
        state.cookie(SESSION_COOKIE, &id, "/", SESSION_TTL),
        state.cookie(SIGNIN_COOKIE, "", "/ui/signin", Duration::ZERO),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The principal a bearer token authenticates as, or why it does not.
fn authenticate(state: &ViewerState, token: &str) -> Result<Principal, String> {
    let unusable = || "That is not a token this server accepts.".to_owned();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| unusable())?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    let uri = Uri::from_static("/ui/signin");
    let view = RequestView {
        method: &Method::POST,
        uri: &uri,
        headers: &headers,
        body: &[],
    };
    state
        .authenticator
        .authenticate(&view, SystemTime::now())
        .map_err(|failure| failure.to_string())
}

/// The sign-out form's fields.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/signout`: end the session (the form's CSRF token must match).
pub(crate) async fn signout(
    State(state): Shared,
    Remote(remote): Remote,
    who: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&state, &who, &form.csrf, "/ui/signout", remote) {
        return refused;
    }
    state.sessions.remove(&who.id);
    let mut response = Redirect::to("/ui/signin").into_response();
    if let Ok(v) = HeaderValue::from_str(&state.cookie(SESSION_COOKIE, "", "/", Duration::ZERO)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_viewer() {
        assert_eq!(safe_next("/?q=author%3Aann"), "/?q=author%3Aann");
        assert_eq!(safe_next("/ui/entities/book/1"), "/ui/entities/book/1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/v1/admin/status",
            "/\\evil",
            "/ui/\n",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
