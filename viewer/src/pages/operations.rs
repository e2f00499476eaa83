//! `GET /ui/operations`: rules, counters, the last reload and the dead
//! letters, for admins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use trailmark_auth::Scope;

use super::{Shared, SignedIn, message, render};
use crate::templates::{DeadLetterRow, OperationsPage};
use crate::when::Stamp;

/// Dead letters listed (the oldest).
pub(super) const LETTERS_LISTED: usize = 50;

/// The 403 page for a principal without the `admin` scope, if it lacks it.
pub(super) fn not_admin(who: &SignedIn) -> Option<Response> {
    who.session
        .principal
        .require(Scope::Admin)
        .err()
        .map(|denied| {
            message(
                StatusCode::FORBIDDEN,
                who.chrome(),
                "Not allowed",
                denied.to_string(),
            )
        })
}

/// The handler: 403 for a principal without the `admin` scope.
pub(crate) async fn operations_page(State(state): Shared, who: SignedIn) -> Response {
    if let Some(denied) = not_admin(&who) {
        return denied;
    }
    let trail = state.trail.clone();
    let read = tokio::task::spawn_blocking(move || {
        (trail.operations(), trail.dead_letters(LETTERS_LISTED))
    })
    .await;
    let (ops, letters) = match read {
        Ok(read) => read,
        Err(e) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                who.chrome(),
                "Unavailable",
                format!("the operations could not be read: {e}"),
            );
        }
    };
    let (letters, letters_error) = match letters {
        Ok(letters) => (letters, None),
        Err(e) => {
            tracing::warn!(error = %e, "viewer: cannot list dead letters");
            (
                Vec::new(),
                Some(format!("the dead letters could not be read: {e}")),
            )
        }
    };
    let page = OperationsPage {
        chrome: who.chrome(),
        reload_at: Stamp::of_ms(ops.reload.at_ms),
        reload_ok: ops.reload.ok,
        reload_errors: ops.reload.errors,
        dead_letters: ops.dead_letters,
        rules: ops.rules,
        letters: letters.into_iter().map(DeadLetterRow::from).collect(),
        letters_error,
        letters_listed: LETTERS_LISTED,
    };
    render(StatusCode::OK, &page)
}
