//! `/v1/admin/holds`: legal holds over HTTP (admin scope). Adding and
//! removing are `POST`s, so the guard journals each as a
//! `trailmark.admin-action` (who, when, the request) before it runs.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use trailmark_auth::Principal;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::api_error::{ApiError, ApiJson, Refused, blocking, off_thread};

use super::holds::{Hold, HoldError, Holds};

/// Longest entity type, entity id or reason a hold takes.
const MAX_FIELD: usize = 1024;

/// Body of `POST /v1/admin/holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AddHold {
    /// The entity type to hold.
    #[schema(min_length = 1, max_length = 1024, pattern = "\\S")]
    entity_type: String,
    /// One entity of the type; absent: every entity of the type.
    #[schema(max_length = 1024)]
    entity_id: Option<String>,
    /// Why (a case number, say).
    #[schema(max_length = 1024)]
    reason: Option<String>,
}

/// Body of `POST /v1/admin/holds/remove`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RemoveHold {
    /// The hold's id.
    #[serde(deserialize_with = "crate::server::params::integer")]
    id: i64,
}

/// Every legal hold.
#[derive(Debug, Serialize, ToSchema)]
struct HoldList {
    /// Oldest first.
    holds: Vec<Hold>,
}

/// The routes' declaration (see [`crate::server::openapi`]).
pub(crate) fn api() -> OpenApiRouter<Arc<Holds>> {
    OpenApiRouter::default()
        .routes(routes!(list, add))
        .routes(routes!(remove))
}

/// `GET`/`POST /v1/admin/holds`, `POST /v1/admin/holds/remove`.
pub fn router(holds: Arc<Holds>) -> Router {
    api().with_state(holds).split_for_parts().0
}

/// List the legal holds.
#[utoipa::path(get, path = "/v1/admin/holds", tag = "admin",
    responses((status = 200, description = "Every hold, oldest first.", body = HoldList)))]
async fn list(State(holds): State<Arc<Holds>>) -> Json<HoldList> {
    Json(HoldList {
        holds: holds.list(),
    })
}

/// Add a legal hold: retention removes no change record or body of the
/// entity type (or of the one entity) until the hold is removed. In force
/// when the answer comes.
#[utoipa::path(post, path = "/v1/admin/holds", tag = "admin",
    request_body = AddHold,
    responses(
        (status = 200, description = "The hold, in force.", body = Hold),
        (status = 400, description = "No entity type, a field too long, or a bad body.", body = ApiError),
        (status = 500, description = "The hold store failed.", body = ApiError),
    ))]
async fn add(
    State(holds): State<Arc<Holds>>,
    principal: Option<Extension<Principal>>,
    ApiJson(request): ApiJson<AddHold>,
) -> Result<Json<Hold>, Refused> {
    let fields = [
        Some(&request.entity_type),
        request.entity_id.as_ref(),
        request.reason.as_ref(),
    ];
    if fields
        .iter()
        .flatten()
        .any(|f| f.chars().count() > MAX_FIELD)
    {
        return Err(ApiError::bad_request(format!(
            "a hold's fields are at most {MAX_FIELD} characters"
        )));
    }
    let by = principal.map_or_else(|| "unknown".to_owned(), |Extension(p)| p.name);
    let hold = off_thread(move || {
        holds.add(
            &request.entity_type,
            request.entity_id.as_deref(),
            request.reason.as_deref(),
            &by,
        )
    })
    .await?
    .map_err(|e| match e {
        HoldError::NoEntityType => ApiError::bad_request(e.to_string()),
        e => ApiError::internal(e),
    })?;
    tracing::info!(hold = hold.id, entity_type = %hold.entity_type, entity_id = ?hold.entity_id, "legal hold added");
    Ok(Json(hold))
}

/// Remove a legal hold by id: what it held expires again by its rules at
/// the next retention pass.
#[utoipa::path(post, path = "/v1/admin/holds/remove", tag = "admin",
    request_body = RemoveHold,
    responses(
        (status = 200, description = "The hold removed.", body = Hold),
        (status = 400, description = "Not a hold id, or a bad body.", body = ApiError),
        (status = 404, description = "No hold with that id.", body = ApiError),
        (status = 500, description = "The hold store failed.", body = ApiError),
    ))]
async fn remove(
    State(holds): State<Arc<Holds>>,
    ApiJson(request): ApiJson<RemoveHold>,
) -> Result<Json<Hold>, Refused> {
    let id = request.id;
    let hold = blocking(move || holds.remove(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no hold {id}")))?;
    tracing::info!(hold = hold.id, entity_type = %hold.entity_type, "legal hold removed");
    Ok(Json(hold))
}
