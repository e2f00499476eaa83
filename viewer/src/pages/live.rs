//! `GET /ui/live?q=…`: the live tail of the search page, as server-sent
//! events. Each state change journaled after the stream opened (or after
//! the position in `Last-Event-ID`, which a browser sends when it
//! reconnects) that the query admits is one `change` event whose id is its
//! journal position, so a reconnect resumes where it stopped and skips
//! nothing. Streams are bounded: at most [`MAX_STREAMS`] at once across
//! everyone and [`MAX_STREAMS_PER_PRINCIPAL`] for one principal (503
//! beyond, so one credential cannot take them all), each closed after
//! [`STREAM_LIFE`] (the browser reconnects and resumes), each reading the
//! journal every [`POLL`].

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use trailmark_backend_api::ChangeRecord;

use super::{Shared, SignedIn, event_href, history_href};
use crate::ViewerState;
use crate::search::{self, Search};
use crate::when::{Stamp, now_ms};

/// Live streams open at once, across all sessions.
pub(crate) const MAX_STREAMS: usize = 64;
/// Live streams one principal may have open at once (tabs, devices).
pub(crate) const MAX_STREAMS_PER_PRINCIPAL: usize = 8;
/// How long one stream stays open before the browser is asked to
/// reconnect (it resumes from the last id it saw).
const STREAM_LIFE: Duration = Duration::from_secs(300);
/// How often a stream reads the journal for new events.
const POLL: Duration = Duration::from_millis(250);
/// Most changes one read of the journal hands over.
const READ_LIMIT: usize = 200;

/// The live tail's query string: the search page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LiveParams {
    #[serde(default)]
    q: String,
    /// Resume after this journal position (as `Last-Event-ID` does).
    #[serde(default)]
    after: Option<u64>,
}

/// The handler.
pub(crate) async fn live(
    State(state): Shared,
    who: SignedIn,
    headers: HeaderMap,
    params: Result<Query<LiveParams>, QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let filter = match search::parse(&params.q, now_ms()) {
        Ok(filter) => filter,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(params.after);
    let principal = who.session.principal.name.clone();
    let (Some(own), Ok(permit)) = (
        StreamsOf::open(&state.live_streams_by_principal, principal),
        state.live_streams.clone().try_acquire_owned(),
    ) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "5")],
            "too many live streams are open; the page still works by reloading it",
        )
            .into_response();
    };
    let tail = Tailing {
        state,
        filter,
        after,
        ready: VecDeque::new(),
        until: Instant::now() + STREAM_LIFE,
        first: true,
        _permit: permit,
        _own: own,
    };
    Sse::new(stream::unfold(tail, Tailing::next))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One stream's position in the journal and what it has yet to send.
struct Tailing {
    state: Arc<ViewerState>,
    filter: Search,
    after: Option<u64>,
    ready: VecDeque<Event>,
    until: Instant,
    first: bool,
    _permit: OwnedSemaphorePermit,
    _own: StreamsOf,
}

/// One open stream counted against its principal; uncounted when dropped.
struct StreamsOf {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    principal: String,
}

impl StreamsOf {
    /// Count one more stream for `principal`, unless it has the most it may.
    fn open(counts: &Arc<Mutex<HashMap<String, usize>>>, principal: String) -> Option<StreamsOf> {
        let mut map = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(principal.clone()).or_default();
        if *n >= MAX_STREAMS_PER_PRINCIPAL {
            return None;
        }
        *n += 1;
        Some(StreamsOf {
            counts: counts.clone(),
            principal,
        })
    }
}

impl Drop for StreamsOf {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.principal);
            }
        }
    }
}

impl Tailing {
    /// The next event to send, reading the journal until there is one or
    /// the stream's life is over.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            if Instant::now() >= self.until {
                return None;
            }
            if !self.first {
                tokio::time::sleep(POLL).await;
            }
            self.first = false;
            let trail = self.state.trail.clone();
            let after = self.after;
            let read = tokio::task::spawn_blocking(move || trail.tail(after, READ_LIMIT))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match read {
                Ok(tail) => {
                    self.after = Some(tail.upto);
                    self.ready.extend(
                        tail.changes
                            .iter()
                            .filter(|(_, record)| self.filter.admits(record))
                            .map(|(seq, record)| change_event(*seq, record)),
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "viewer: the live tail cannot read the journal");
                    // Said to the page once; the stream tries again.
                    self.ready.push_back(
                        Event::default()
                            .event("trouble")
                            .data("the journal cannot be read right now; retrying"),
                    );
                }
            }
        }
    }
}

/// The `change` event of one record: its row's fields as JSON, which the
/// page's script puts into cells as text.
fn change_event(seq: u64, r: &ChangeRecord) -> Event {
    let time = Stamp::of_ms(r.ts);
    let row = json!({
        "time": time.text,
        "iso": time.iso,
        "operation": r.operation,
        "entity": format!("{}/{}", r.entity_type, r.entity_id),
        "history_href": history_href(&r.entity_type, &r.entity_id),
        "author": r.author,
        "source": r.source,
        "event_id": r.event_id,
        "event_href": event_href(&r.event_id),
    });
    Event::default()
        .id(seq.to_string())
        .event("change")
        .data(row.to_string())
}
