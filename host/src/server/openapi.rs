//! `GET /openapi.json`: the OpenAPI 3.1 description of every JSON route,
//! generated from the handlers (utoipa). Each route module builds its
//! routes through `utoipa_axum::routes!`, which registers a handler at the
//! path and method its `#[utoipa::path]` annotation names, so the served
//! router and this document come from one declaration and cannot drift.
//! `trailmark openapi` prints the same document; `docs/openapi.json` is
//! held to it by a test.
//!
//! The viewer's HTML pages are not described: they are a browser's, not an
//! API client's.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder, ServerBuilder,
};
use utoipa::{Modify, OpenApi};

use super::api_error::{ApiError, AwsErrorBody};

/// The document's fixed parts; the paths come from the route modules.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trailmark",
        description = "A self-hosted audit engine: EventBridge-compatible ingest (PutEvents), \
                       the change trail (query, history, export), dead letters, rules and \
                       operations. Every route but /healthz, /readyz and /openapi.json needs \
                       credentials: a bearer token (`trailmark auth new-token`) or, on the AWS \
                       endpoint, an AWS Signature V4 (`trailmark auth new-access-key`). A token's \
                       scopes (put, query, metrics, admin) decide which routes it may call; a \
                       refused call answers 401 or 403.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "ingest", description = "Send events (EventBridge PutEvents or the native API)."),
        (name = "trail", description = "Read the trail: change records, entity history, events, exports."),
        (name = "operations", description = "Health, readiness, metrics, status, the access log."),
        (name = "admin", description = "Rules, plugins, dead letters, replay, reload, backups."),
    ),
    security(("bearer" = []), ("sigv4" = [])),
    modifiers(&Schemes),
    components(schemas(ApiError, AwsErrorBody))
)]
struct Fixed;

/// Adds the two authentication schemes.
struct Schemes;

impl Modify for Schemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "A token from `trailmark auth new-token --scope query,...`: \
             `Authorization: Bearer tm_...`."
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "sigv4",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "AWS Signature Version 4 (service `events`), as every AWS SDK and the AWS CLI \
                 sign PutEvents; keys from `trailmark auth new-access-key`. Accepted on `POST /`.",
            ))),
        );
        doc.servers = Some(vec![
            ServerBuilder::new()
                .url("http://127.0.0.1:8088")
                .description(Some("`trailmark serve` on its default address"))
                .build(),
        ]);
    }
}

/// Adds what the guard in front of every credentialed route may answer
/// before the handler runs: 401 (no or bad credentials), 403 (a scope or
/// source the credential lacks), 503 (an audit record of the request, an
/// access or admin record, could not be journaled: reads and admin actions
/// fail closed), for routes with a body, 408 (the body did not arrive in
/// time) and, for JSON bodies, 415 (another media type: `ApiJson`'s
/// refusal). In the AWS error shape on `POST /`.
struct Refusals;

impl Modify for Refusals {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                (false, &mut item.get),
                (true, &mut item.post),
                (true, &mut item.put),
                (false, &mut item.delete),
            ];
            for (with_body, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let open = operation.security.as_ref().is_some_and(|requirements| {
                    requirements
                        .iter()
                        .any(|r| *r == SecurityRequirement::default())
                });
                if open {
                    continue;
                }
                let aws = path == "/";
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description, aws));
                };
                add(
                    "401",
                    "No credentials, or credentials that do not check out.",
                );
                add(
                    "403",
                    "The credential lacks the scope (or the event source) this needs.",
                );
                add(
                    "503",
                    "The request's audit record (access or admin action) could not be journaled, \
                     so it was not served; or the host is busy. Retry later.",
                );
                if with_body {
                    add(
                        "408",
                        "The body did not arrive within the body-read timeout.",
                    );
                }
                // `ApiJson` refuses any other media type, for optional
                // bodies too (an absent Content-Type means no body).
                let json_body = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| match body {
                        RefOr::T(body) => body.content.contains_key("application/json"),
                        RefOr::Ref(_) => false,
                    });
                if json_body {
                    add("415", "The body is not `application/json`.");
                }
            }
        }
    }
}

/// An error answer in the shape of the route's API.
fn error_response(description: &str, aws: bool) -> RefOr<Response> {
    let (media, schema) = if aws {
        ("application/x-amz-json-1.1", "AwsErrorBody")
    } else {
        ("application/json", "ApiError")
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            media,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
        .into()
}

/// Adds `GET /`, the audit viewer's entry for a browser (its pages are HTML
/// and not described further), so a client knows what else `/` answers.
struct Viewer;

impl Modify for Viewer {
    fn modify(&self, doc: &mut Document) {
        let html = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "text/html",
                    ContentBuilder::new()
                        .schema(Some(Schema::from(
                            ObjectBuilder::new().schema_type(Type::String),
                        )))
                        .build(),
                )
                .build()
        };
        let operation = OperationBuilder::new()
            .tag("operations")
            .summary(Some("The audit viewer (HTML, for a browser)"))
            .description(Some(
                "The viewer's search page, or its sign-in page (401) without a viewer session \
                 cookie. Browsers only: it signs in with a token once and then uses a cookie; \
                 served when `[viewer] enabled` (the default).",
            ))
            .security(SecurityRequirement::default())
            .response("200", html("The search page."))
            .response("401", html("The sign-in page."))
            .build();
        doc.paths.paths.entry("/".to_owned()).or_default().get = Some(operation);
    }
}

/// The whole document: the fixed parts and every route module's paths.
pub fn document() -> Document {
    let mut doc = Fixed::openapi();
    for part in [
        crate::ingest::api().into_openapi(),
        crate::query::api().into_openapi(),
        super::viewer::export_api().into_openapi(),
        super::admin::api().into_openapi(),
        super::backup::api().into_openapi(),
        super::access_log::api().into_openapi(),
        crate::subjects::http::api().into_openapi(),
        crate::store_retention::http::api().into_openapi(),
        super::lake::api().into_openapi(),
        api().into_openapi(),
    ] {
        doc.merge(part);
    }
    // After the merge: these read every route's operation.
    Refusals.modify(&mut doc);
    Viewer.modify(&mut doc);
    doc
}

/// The document as served: pretty JSON with a trailing newline, as
/// `docs/openapi.json` holds it.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
async fn openapi(axum::extract::State(text): axum::extract::State<Bytes>) -> impl IntoResponse {
    // Built once at start; every answer shares it, nothing copied per request.
    ([(header::CONTENT_TYPE, "application/json")], text)
}

/// The route's declaration (for [`document`]).
fn api() -> utoipa_axum::router::OpenApiRouter<Bytes> {
    utoipa_axum::router::OpenApiRouter::default().routes(utoipa_axum::routes!(openapi))
}

/// `GET /openapi.json`, the document built once.
pub fn router() -> Router {
    api()
        .with_state(Bytes::from(document_json()))
        .split_for_parts()
        .0
}
