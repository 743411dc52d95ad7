//! Orchestration v1 HTTP routes under `/orchestration`: version discovery, the
//! tenant segment of `/orchestration/v1/{tenant_id}/...` (checked against the
//! token, as Heat's policy enforcement does) and Heat's fault shape
//! (`{"code", "title", "explanation", "error": {"message", "type", "traceback"}}`).

mod software;
mod stacks;
mod view;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::context::Auth;
use crate::http::error::ApiError;

/// The routes under `/orchestration`; the caller adds the fault layer (Plain),
/// which `heat_faults` then reshapes.
pub(crate) fn router() -> Router<Cloud> {
    let v1 = Router::new()
        .merge(stacks::routes())
        .merge(software::routes())
        .fallback(not_found)
        .layer(from_fn(tenant_segment));
    Router::new()
        .route("/orchestration", get(versions))
        .route("/orchestration/", get(versions))
        .nest("/orchestration/v1/{tenant_id}", v1)
}

async fn not_found() -> ApiError {
    ApiError::Missing("The resource could not be found.".into())
}

/// A project member may only use its own project's URL; an admin any.
async fn tenant_segment(
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
    next: Next,
) -> Response {
    let tenant = params
        .iter()
        .find(|(k, _)| k == "tenant_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if let Some(Auth::Valid(ctx)) = req.extensions().get::<Auth>()
        && !ctx.allowed(crate::http::policy::ORCHESTRATION_ADMIN_CONTEXT)
        && ctx.project_id() != Some(tenant.as_str())
    {
        return ApiError::Forbidden("You are not authorized to use this tenant.".into())
            .into_response();
    }
    next.run(req).await
}

/// The error type Heat names for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "StackValidationFailed",
        401 => "HTTPUnauthorized",
        403 => "Forbidden",
        404 => "EntityNotFound",
        409 => "Conflict",
        413 => "RequestLimitExceeded",
        _ => "HTTPException",
    }
}

/// Reshapes `{"code", "title", "message"}` into Heat's fault body, which
/// heatclient reads `error.message` from.
pub(crate) async fn heat_faults(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::http::json::MAX_JSON_BODY).await else {
        return (status, "").into_response();
    };
    let Ok(Value::Object(plain)) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let message = plain
        .get("message")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let title = plain
        .get("title")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let shaped = json!({
        "code": status.as_u16(),
        "title": title,
        "explanation": message,
        "error": {"message": message, "type": error_type(status), "traceback": null},
    });
    let text = shaped.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(text))
}

fn version_doc(headers: &HeaderMap) -> Value {
    let base = crate::http::base_url(headers);
    json!({
        "id": "v1.0",
        "status": "CURRENT",
        "links": [{"href": format!("{base}/orchestration/v1/"), "rel": "self"}],
    })
}

/// `GET /orchestration`: the API versions (300 Multiple Choices, as heat-api).
async fn versions(headers: HeaderMap) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        axum::Json(json!({"versions": [version_doc(&headers)]})),
    )
        .into_response()
}
