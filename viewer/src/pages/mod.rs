//! The handlers: sign-in and sign-out here, one module per page.

mod event;
mod export;
mod history;
mod operations;
mod search;
mod test_event;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use trailmark_auth::{Principal, RequestView, Scope};

use crate::session::{
    SESSION_COOKIE, SESSION_TTL, SIGNIN_COOKIE, Session, cookie, random_hex, same_secret,
};
use crate::templates::{Chrome, Message, SignIn};
use crate::{Refusal, ViewerState};

pub use event::event_page;
pub use export::export;
pub use history::history_page;
pub use operations::operations_page;
pub use search::search_page;
pub use test_event::{test_event, test_event_form};

type Shared = State<Arc<ViewerState>>;

/// What a signed-out page says above the sign-in form.
const SIGN_IN_PROMPT: &str = "Sign in to read the trail.";

/// How long the sign-in form stays valid.
const SIGNIN_TTL: Duration = Duration::from_secs(600);

/// Render a template with a status, or a plain 500 when it cannot render.
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "viewer template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page with a title and a message.
fn message(status: StatusCode, chrome: Chrome, title: &str, text: impl Into<String>) -> Response {
    render(
        status,
        &Message {
            chrome,
            title: title.to_owned(),
            message: text.into(),
        },
    )
}

/// The sign-in form with a fresh CSRF value (also set as a cookie), and
/// `note`: [`SIGN_IN_PROMPT`] or why the last attempt was refused.
fn signin_response(
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

/// A signed-in browser whose token holds the `view` scope. Without a live
/// session the request gets the sign-in page (401); with one that lacks the
/// scope, 403.
pub struct SignedIn {
    /// The session id (the cookie's value).
    id: String,
    /// The session.
    session: Session,
}

impl SignedIn {
    fn chrome(&self) -> Chrome {
        Chrome {
            user: Some(self.session.principal.name.clone()),
            csrf: self.session.csrf.clone(),
        }
    }
}

impl FromRequestParts<Arc<ViewerState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ViewerState>,
    ) -> Result<Self, Self::Rejection> {
        let found = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|id| state.sessions.get(id).map(|s| (id.to_owned(), s)));
        let Some((id, session)) = found else {
            let next = if parts.method == Method::GET {
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            } else {
                "/"
            };
            return Err(signin_response(
                state,
                StatusCode::UNAUTHORIZED,
                next,
                Some(SIGN_IN_PROMPT.to_owned()),
            ));
        };
        let signed_in = SignedIn { id, session };
        if let Err(refused) = signed_in.session.principal.require(Scope::View) {
            return Err(message(
                StatusCode::FORBIDDEN,
                signed_in.chrome(),
                "Not allowed",
                refused.to_string(),
            ));
        }
        Ok(signed_in)
    }
}

/// `GET /ui/signin`.
pub async fn signin_form(State(state): Shared, uri: Uri) -> Response {
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
pub struct SignInForm {
    token: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The remote address the host's listener recorded, if any.
pub struct Remote(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Remote(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| *a),
        ))
    }
}

/// `POST /ui/signin`: check the form's CSRF value against its cookie, the
/// token against the host's credentials and its scopes; start a session.
/// Refusals are handed to the host to journal.
pub async fn signin(
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
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/signout`: end the session (the form's CSRF token must match).
pub async fn signout(
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

/// The 403 answer (and its journaled refusal) for a form whose CSRF token is
/// not the session's; `None` when it is.
fn csrf_refused(
    state: &ViewerState,
    who: &SignedIn,
    csrf: &str,
    path: &'static str,
    remote: Option<SocketAddr>,
) -> Option<Response> {
    if same_secret(&who.session.csrf, csrf) {
        return None;
    }
    let reason = "the form did not carry the session's CSRF token";
    tracing::info!(principal = %who.session.principal.name, path, reason, "viewer POST refused");
    state.trail.record_refusal(Refusal {
        who: who.session.principal.name.clone(),
        status: StatusCode::FORBIDDEN.as_u16(),
        reason: reason.to_owned(),
        path,
        remote,
    });
    Some(message(
        StatusCode::FORBIDDEN,
        who.chrome(),
        "Refused",
        "The form did not carry this session's CSRF token; reload the page and try again.",
    ))
}

/// `GET /ui/static/viewer.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/viewer.css"),
    )
        .into_response()
}

/// Characters kept as they are in a path segment: the rest is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `/ui/entities/{type}/{id}` with both segments escaped.
fn history_href(entity_type: &str, entity_id: &str) -> String {
    format!(
        "/ui/entities/{}/{}",
        utf8_percent_encode(entity_type, SEGMENT),
        utf8_percent_encode(entity_id, SEGMENT)
    )
}

/// `/ui/events/{id}` escaped.
fn event_href(id: &str) -> String {
    format!("/ui/events/{}", utf8_percent_encode(id, SEGMENT))
}

/// `path?k=v&...` with the values form-encoded, empty values left out.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
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

    #[test]
    fn hrefs_escape_what_they_carry() {
        assert_eq!(history_href("book", "a/b?c"), "/ui/entities/book/a%2Fb%3Fc");
        assert_eq!(event_href("e 1"), "/ui/events/e%201");
        assert_eq!(
            with_query("/", &[("q", "op:delete \"x\""), ("cursor", "")]),
            "/?q=op%3Adelete+%22x%22"
        );
    }
}
