//! `GET /ui/checkpoints`: the signed checkpoints of the journal, newest
//! first, with their age; a warning when the head has gone too long without
//! one; the commands that check the journal against them offline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Shared, SignedIn, render, unavailable};
use crate::integrity::{HeadStanding, OVERDUE_INTERVALS, head_standing};
use crate::templates::{CheckpointRow, CheckpointsPage};
use crate::when::{Stamp, duration_text, now_ms};

/// Checkpoints listed (the newest).
const LISTED: usize = 20;

/// The handler.
pub(crate) async fn checkpoints_page(State(state): Shared, who: SignedIn) -> Response {
    let trail = state.trail.clone();
    let found = tokio::task::spawn_blocking(move || {
        trail
            .checkpoints(LISTED)
            .map(|c| (c, trail.verify_command()))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let (checkpoints, verify_command) = match found {
        Ok(found) => found,
        Err(e) => {
            return unavailable(
                who.chrome(),
                "Checkpoints unavailable",
                "reading the checkpoint log",
                &e,
            );
        }
    };
    let now = now_ms();
    let standing = head_standing(
        checkpoints.head_seq,
        checkpoints.recent.first(),
        checkpoints.interval_ms,
        now,
    );
    let every = duration_text(checkpoints.interval_ms);
    let (warning, status) = match standing {
        HeadStanding::Empty => (
            None,
            "The journal is empty: nothing to sign yet.".to_owned(),
        ),
        HeadStanding::Signed => (
            None,
            format!(
                "The journal head (record {}) is covered by the last checkpoint.",
                checkpoints.head_seq
            ),
        ),
        HeadStanding::Pending { records } => (
            None,
            format!(
                "{records} record(s) written since the last checkpoint; the host signs every {every}."
            ),
        ),
        HeadStanding::Overdue {
            records,
            since_ms: Some(since),
        } => (
            Some(format!(
                "{records} record(s) have waited {} for a checkpoint, more than {OVERDUE_INTERVALS} × the \
                 interval of {every}. Is the host's signer failing? Its log says why \
                 (\"cannot checkpoint the journal head\").",
                duration_text(since)
            )),
            String::new(),
        ),
        HeadStanding::Overdue {
            records,
            since_ms: None,
        } => (
            Some(format!(
                "{records} record(s) and no checkpoint signed yet; the host signs every {every}."
            )),
            String::new(),
        ),
    };
    let page = CheckpointsPage {
        chrome: who.chrome(),
        warning,
        status,
        head_seq: checkpoints.head_seq,
        rows: checkpoints
            .recent
            .into_iter()
            .map(|c| CheckpointRow {
                age: duration_text(now.saturating_sub(c.time_ms)),
                time: Stamp::of_ms(c.time_ms),
                seq: c.seq,
                hash: c.hash,
                key_id: c.key_id,
            })
            .collect(),
        listed: LISTED,
        verify_command,
        export_command: checkpoints.export_command,
        verify_exported_command: checkpoints.verify_exported_command,
    };
    render(StatusCode::OK, &page)
}
