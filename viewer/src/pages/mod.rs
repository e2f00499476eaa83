//! The handlers, one module per page, and what they share: rendering, the
//! signed-in extractor, the CSRF check of forms, links.

mod checkpoints;
mod dead_letters;
mod event;
mod export;
mod history;
pub(crate) mod live;
mod operations;
mod search;
mod signin;
mod test_event;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use trailmark_auth::Scope;

use crate::session::{SESSION_COOKIE, Session, cookie, same_secret};
use crate::templates::{Chrome, Message};
use crate::{Refusal, ViewerState};
use signin::{SIGN_IN_PROMPT, signin_response};

pub(crate) use checkpoints::checkpoints_page;
pub(crate) use dead_letters::{dead_letters_act, dead_letters_confirm};
pub(crate) use event::event_page;
pub(crate) use export::export;
pub(crate) use history::history_page;
pub(crate) use operations::operations_page;
pub(crate) use search::search_page;
pub(crate) use signin::{signin, signin_form, signout};
pub(crate) use test_event::{test_event, test_event_form};

type Shared = State<Arc<ViewerState>>;

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

/// The 503 page when a store the page reads failed: logged, named to the
/// reader (`what`, e.g. "the journal lookup") with the advice to retry.
fn unavailable(chrome: Chrome, title: &str, what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(%error, what, "viewer page: a store failed");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        chrome,
        title,
        format!("{what} failed: {error}; try again"),
    )
}

/// A signed-in browser whose token holds the `view` scope. Without a live
/// session the request gets the sign-in page (401); with one that lacks the
/// scope, 403.
pub(crate) struct SignedIn {
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

/// The remote address the host's listener recorded, if any.
pub(crate) struct Remote(Option<SocketAddr>);

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

/// A file served from the binary, cached for an hour.
fn embedded(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `GET /ui/static/viewer.css`.
pub(crate) async fn stylesheet() -> Response {
    embedded(
        "text/css; charset=utf-8",
        include_str!("../../static/viewer.css"),
    )
}

/// `GET /ui/static/localtime.js`: the local-time toggle.
pub(crate) async fn local_time_script() -> Response {
    embedded(
        "text/javascript; charset=utf-8",
        include_str!("../../static/localtime.js"),
    )
}

/// `GET /ui/static/live.js`: the search page's live tail (server-sent
/// events into the results table).
pub(crate) async fn live_script() -> Response {
    embedded(
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    )
}

/// `GET /ui/static/icon.svg`: the pages' icon (without it every page costs
/// the browser a failed `/favicon.ico`).
pub(crate) async fn icon() -> Response {
    embedded("image/svg+xml", include_str!("../../static/icon.svg"))
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
pub(crate) fn event_href(id: &str) -> String {
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
    fn hrefs_escape_what_they_carry() {
        assert_eq!(history_href("book", "a/b?c"), "/ui/entities/book/a%2Fb%3Fc");
        assert_eq!(event_href("e 1"), "/ui/events/e%201");
        assert_eq!(
            with_query("/", &[("q", "op:delete \"x\""), ("cursor", "")]),
            "/?q=op%3Adelete+%22x%22"
        );
    }
}
