//! `GET /ui/operations`: rules, counters and the last reload, for admins.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use trailmark_auth::Scope;

use super::{Shared, SignedIn, message, render};
use crate::templates::OperationsPage;
use crate::when::Stamp;

/// The handler: 403 for a principal without the `admin` scope.
pub async fn operations_page(State(state): Shared, who: SignedIn) -> Response {
    if let Err(denied) = who.session.principal.require(Scope::Admin) {
        return message(
            StatusCode::FORBIDDEN,
            who.chrome(),
            "Not allowed",
            denied.to_string(),
        );
    }
    let trail = state.trail.clone();
    let ops = match tokio::task::spawn_blocking(move || trail.operations()).await {
        Ok(ops) => ops,
        Err(e) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                who.chrome(),
                "Unavailable",
                format!("the operations could not be read: {e}"),
            );
        }
    };
    let page = OperationsPage {
        chrome: who.chrome(),
        reload_at: Stamp::of_ms(ops.reload.at_ms),
        reload_ok: ops.reload.ok,
        reload_errors: ops.reload.errors,
        dead_letters: ops.dead_letters,
        rules: ops.rules,
    };
    render(StatusCode::OK, &page)
}
