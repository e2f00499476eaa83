//! `GET /ui/dead-letters?action=replay|purge&id=…`: the confirmation step
//! for the dead letters picked on the operations page; `POST` (with the
//! session's CSRF token) replays or purges them through the host's
//! `trailmark dlq` code. Admins only.

use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::operations::not_admin;
use super::{Remote, Shared, SignedIn, csrf_refused, message, render};
use crate::operations::{DeadLetterAction, DeadLetterRequest};
use crate::templates::{DeadLetterRow, DeadLettersPage};

/// Letters acted on per request at most (the operations page lists 50).
const MAX_IDS: usize = 100;
/// Letters searched for the ones picked.
const LOOKED_UP: usize = 10_000;

/// The action and ids of a form (`action=replay&id=1&id=2&csrf=…`), or
/// why they cannot be used.
fn picked(pairs: &[(String, String)]) -> Result<(DeadLetterAction, Vec<i64>), String> {
    let mut action = None;
    let mut ids = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "action" => {
                action = Some(
                    DeadLetterAction::parse(value)
                        .ok_or_else(|| format!("`action` is replay or purge, not {value:?}"))?,
                );
            }
            "id" => {
                let id = value
                    .parse::<i64>()
                    .map_err(|_| format!("{value:?} is not a dead-letter id"))?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {}
        }
    }
    let action = action.ok_or("no action: pick replay or purge")?;
    if ids.is_empty() {
        return Err("no dead letter picked: tick at least one on the operations page".into());
    }
    if ids.len() > MAX_IDS {
        return Err(format!(
            "{} dead letters picked; at most {MAX_IDS} at once",
            ids.len()
        ));
    }
    Ok((action, ids))
}

/// `GET`: what will be done, and the button that does it.
pub(crate) async fn dead_letters_confirm(
    State(state): Shared,
    who: SignedIn,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    if let Some(denied) = not_admin(&who) {
        return denied;
    }
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let (action, ids) = match picked(&pairs) {
        Ok(picked) => picked,
        Err(why) => return message(StatusCode::BAD_REQUEST, who.chrome(), "Nothing to do", why),
    };
    let trail = state.trail.clone();
    let held = match tokio::task::spawn_blocking(move || trail.dead_letters(LOOKED_UP)).await {
        Ok(Ok(held)) => held,
        Ok(Err(e)) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                who.chrome(),
                "Unavailable",
                format!("the dead letters could not be read: {e}; try again"),
            );
        }
        Err(e) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                who.chrome(),
                "Unavailable",
                format!("the dead letters could not be read: {e}; try again"),
            );
        }
    };
    let letters: Vec<DeadLetterRow> = held
        .into_iter()
        .filter(|d| ids.contains(&d.id))
        .map(DeadLetterRow::from)
        .collect();
    let missing = ids
        .iter()
        .filter(|id| !letters.iter().any(|d| d.id == **id))
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let page = DeadLettersPage {
        csrf: who.session.csrf.clone(),
        chrome: who.chrome(),
        action: action.as_str(),
        letters,
        missing,
        done: None,
    };
    render(StatusCode::OK, &page)
}

/// `POST`: replay or purge, then say what became of each letter.
pub(crate) async fn dead_letters_act(
    State(state): Shared,
    Remote(remote): Remote,
    who: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    if let Some(refused) = csrf_refused(&state, &who, csrf, "/ui/dead-letters", remote) {
        return refused;
    }
    if let Some(denied) = not_admin(&who) {
        return denied;
    }
    let (action, ids) = match picked(&pairs) {
        Ok(picked) => picked,
        Err(why) => return message(StatusCode::BAD_REQUEST, who.chrome(), "Nothing to do", why),
    };
    let request = DeadLetterRequest {
        action,
        ids,
        who: who.session.principal.name.clone(),
        remote,
    };
    tracing::info!(principal = %request.who, action = action.as_str(), ids = ?request.ids, "viewer: dead letters");
    let outcome = match state.trail.act_on_dead_letters(request).await {
        Ok(outcome) => outcome,
        Err(e) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                who.chrome(),
                "Not done",
                format!("{e}; nothing more was changed, try again"),
            );
        }
    };
    let page = DeadLettersPage {
        csrf: String::new(),
        chrome: who.chrome(),
        action: action.as_str(),
        letters: Vec::new(),
        missing: String::new(),
        done: Some(outcome),
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_names_one_action_and_some_ids() {
        assert_eq!(
            picked(&pairs(&[
                ("action", "purge"),
                ("id", "3"),
                ("id", "4"),
                ("id", "3")
            ])),
            Ok((DeadLetterAction::Purge, vec![3, 4]))
        );
        for (bad, why) in [
            (pairs(&[("id", "3")]), "no action"),
            (
                pairs(&[("action", "delete"), ("id", "3")]),
                "replay or purge",
            ),
            (pairs(&[("action", "replay")]), "no dead letter picked"),
            (
                pairs(&[("action", "replay"), ("id", "x")]),
                "not a dead-letter id",
            ),
        ] {
            let e = picked(&bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let many: Vec<(String, String)> = std::iter::once(("action".into(), "replay".into()))
            .chain((0..=MAX_IDS).map(|i| ("id".to_owned(), i.to_string())))
            .collect();
        assert!(picked(&many).unwrap_err().contains("at most 100"));
    }
}
