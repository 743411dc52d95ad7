//! One error type for every API, rendered once per service in that service's wire format.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Errors that handlers and services return; `render_faults` turns them into the
/// fault body of the service that served the request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    /// A 404 whose message must not echo the identifier (tokens are secrets).
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    OverQuota(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// A fault the real service names with a machine-readable code beside its
    /// status: Placement's `errors[].code`, Neutron's `NeutronError.type`.
    #[error("{message}")]
    Typed {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// 501: the request is valid but this cloud does not implement it.
    #[error("{0}")]
    NotImplemented(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The machine-readable code of a typed fault, carried beside `Fault` to the
/// service's fault layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaultCode(pub &'static str);

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub(crate) fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }

    pub(crate) fn forbidden() -> Self {
        ApiError::Forbidden("You are not authorized to perform the requested action.".into())
    }

    pub(crate) fn unauthorized() -> Self {
        ApiError::Unauthorized("The request you have made requires authentication.".into())
    }

    /// A fault with the real service's code for it (see `ApiError::Typed`).
    pub(crate) fn typed(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError::Typed {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 409 with the real service's code for it.
    pub(crate) fn conflict_typed(code: &'static str, message: impl Into<String>) -> Self {
        Self::typed(StatusCode::CONFLICT, code, message)
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Typed { status, .. } => *status,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } | ApiError::Missing(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) | ApiError::OverQuota(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Maps SQLite constraint violations to the API's Conflict; everything else is internal.
pub(crate) fn conflict_on_unique(e: rusqlite::Error, what: impl FnOnce() -> String) -> ApiError {
    if crate::db::is_unique_violation(&e) {
        ApiError::Conflict(what())
    } else {
        ApiError::Internal(e.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

/// What a fault-rendering layer needs to know about a failed request.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub status: StatusCode,
    pub message: String,
}

impl Fault {
    /// Title used by Keystone-style bodies ("Not Found", "Unauthorized", ...).
    pub(crate) fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "An unexpected error prevented the server from fulfilling your request.".into()
            }
            other => other.to_string(),
        };
        let code = match &self {
            ApiError::Typed { code, .. } => Some(FaultCode(code)),
            _ => None,
        };
        let fault = Fault { status, message };
        // A neutral body; the service's fault layer replaces it with its own format.
        let body = serde_json::json!({"error": {"code": status.as_u16(), "message": fault.message, "title": fault.title()}});
        let mut resp = (status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(fault);
        if let Some(code) = code {
            resp.extensions_mut().insert(code);
        }
        resp
    }
}

/// The wire format of a service's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultFormat {
    /// `{"error": {"code", "message", "title"}}`
    Keystone,
    /// `{"itemNotFound": {"code", "message"}}` and friends
    Nova,
    /// `{"NeutronError": {"type", "message", "detail"}}`
    Neutron,
    /// `{"message": ..., "code": ..., "title": ...}` as Glance and Heat use.
    Plain,
    /// `{"errors": [{"status", "title", "detail", "code", "request_id"}]}`
    Placement,
}

impl FaultFormat {
    pub(crate) fn body(self, fault: &Fault) -> serde_json::Value {
        self.body_for(fault, None)
    }

    /// The fault body; formats that carry the request id (Placement) get `request_id`.
    pub(crate) fn body_for(self, fault: &Fault, request_id: Option<&str>) -> serde_json::Value {
        self.body_typed(fault, None, request_id)
    }

    /// The fault body with the fault's machine-readable code, where the format has one.
    pub(crate) fn body_typed(
        self,
        fault: &Fault,
        typed: Option<FaultCode>,
        request_id: Option<&str>,
    ) -> serde_json::Value {
        let code = fault.status.as_u16();
        match self {
            FaultFormat::Keystone => serde_json::json!({
                "error": {"code": code, "message": fault.message, "title": fault.title()}
            }),
            FaultFormat::Nova => {
                let key = match fault.status {
                    StatusCode::NOT_FOUND => "itemNotFound",
                    StatusCode::BAD_REQUEST => "badRequest",
                    StatusCode::FORBIDDEN => "forbidden",
                    StatusCode::CONFLICT => "conflictingRequest",
                    StatusCode::PAYLOAD_TOO_LARGE => "overLimit",
                    StatusCode::UNAUTHORIZED => "unauthorized",
                    StatusCode::METHOD_NOT_ALLOWED => "badMethod",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "badMediaType",
                    StatusCode::NOT_IMPLEMENTED => "notImplemented",
                    StatusCode::SERVICE_UNAVAILABLE => "serviceUnavailable",
                    _ => "computeFault",
                };
                serde_json::json!({ key: {"code": code, "message": fault.message} })
            }
            FaultFormat::Neutron => {
                let kind = match (typed, fault.status) {
                    (Some(FaultCode(t)), _) => t,
                    (None, status) => neutron_type(status),
                };
                serde_json::json!({"NeutronError": {"type": kind, "message": fault.message, "detail": ""}})
            }
            FaultFormat::Plain => serde_json::json!({
                "code": code, "title": fault.title(), "message": fault.message
            }),
            FaultFormat::Placement => serde_json::json!({"errors": [{
                "status": code,
                "title": fault.title(),
                "detail": fault.message,
                "code": typed.map_or(placement::UNDEFINED, |FaultCode(c)| c),
                "request_id": request_id.unwrap_or_default(),
            }]}),
        }
    }

    /// Replaces a neutral fault body with this service's format.
    pub(crate) fn render(self, mut resp: Response, www_authenticate: Option<&str>) -> Response {
        let Some(mut fault) = resp.extensions_mut().remove::<Fault>() else {
            return resp;
        };
        if self == FaultFormat::Keystone && fault.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            // Keystone answers a non-JSON body with a validation error.
            fault = Fault {
                status: StatusCode::BAD_REQUEST,
                message: "Expecting to find application/json in Content-Type header - the server \
                          could not comply with the request since it is either malformed or \
                          otherwise incorrect. The client is assumed to be in error."
                    .into(),
            };
        }
        let rid = resp
            .extensions()
            .get::<crate::http::RequestId>()
            .map(|r| r.0.clone());
        let typed = resp.extensions_mut().remove::<FaultCode>();
        let body = self.body_typed(&fault, typed, rid.as_deref());
        let mut out = (fault.status, axum::Json(body)).into_response();
        *out.headers_mut() = std::mem::take(resp.headers_mut());
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        out.headers_mut().remove(header::CONTENT_LENGTH);
        let challenge = www_authenticate.and_then(|v| HeaderValue::from_str(v).ok());
        if let (StatusCode::UNAUTHORIZED, Some(v)) = (fault.status, challenge) {
            out.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        out
    }
}

/// Neutron's fault type for a status, when the fault names no type of its own.
fn neutron_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::FORBIDDEN => "PolicyNotAuthorized",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "OverQuota",
        StatusCode::PRECONDITION_FAILED => "PreconditionFailed",
        StatusCode::UNAUTHORIZED => "NotAuthorized",
        StatusCode::METHOD_NOT_ALLOWED => "HTTPMethodNotAllowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "InvalidContentType",
        s if s.is_client_error() => "BadRequest",
        _ => "InternalServerError",
    }
}

/// Largest rejection body read to recover its message.
const REJECTION_TEXT: usize = 4096;

/// Gives an error response that no handler shaped (axum's rejections: `text/plain`
/// or empty bodies for a bad path, query or body, a wrong method, an over-long body)
/// a `Fault`, with the status the OpenStack services give, so the service's fault
/// layer renders it in its format. Shaped and successful responses pass unchanged.
pub(crate) async fn shape_rejection(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<Fault>().is_some()
        || is_json
    {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, REJECTION_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let (status, message) = match status {
        // A path parameter that is not valid UTF-8 names nothing (Python services
        // look the raw text up and find no such object).
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") => (
            StatusCode::NOT_FOUND,
            "The resource could not be found.".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "Request is too large.".to_owned()),
        StatusCode::UNPROCESSABLE_ENTITY => (StatusCode::BAD_REQUEST, text),
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "The method specified is not allowed for this resource.".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "Unsupported Content-Type".to_owned()),
        _ if text.is_empty() => (
            status,
            status.canonical_reason().unwrap_or("Error").to_owned(),
        ),
        _ => (status, text),
    };
    let mut out = Response::from_parts(parts, axum::body::Body::empty());
    *out.status_mut() = status;
    out.extensions_mut().insert(Fault { status, message });
    out
}

/// Placement's machine-readable error codes (its `errors.py`). Clients (Nova) retry
/// on `CONCURRENT_UPDATE`.
pub(crate) mod placement {
    pub(crate) const UNDEFINED: &str = "placement.undefined_code";
    pub(crate) const CONCURRENT_UPDATE: &str = "placement.concurrent_update";
    pub(crate) const DUPLICATE_NAME: &str = "placement.duplicate_name";
    pub(crate) const PROVIDER_IN_USE: &str = "placement.resource_provider.inuse";
    pub(crate) const PROVIDER_CANNOT_DELETE_PARENT: &str =
        "placement.resource_provider.cannot_delete_parent";
    pub(crate) const INVENTORY_IN_USE: &str = "placement.inventory.inuse";
}

/// Neutron's fault types (`NeutronError.type`, the exception class names of
/// neutron-lib's `exceptions` and Neutron's extensions). Clients branch on them:
/// neutronclient raises `PortInUseClient`, `IpAddressGenerationFailureClient`...
pub(crate) mod neutron {
    pub(crate) const PORT_IN_USE: &str = "PortInUse";
    pub(crate) const NETWORK_IN_USE: &str = "NetworkInUse";
    pub(crate) const SUBNET_IN_USE: &str = "SubnetInUse";
    pub(crate) const IP_ADDRESS_ALREADY_ALLOCATED: &str = "IpAddressAlreadyAllocated";
    pub(crate) const IP_ADDRESS_GENERATION_FAILURE: &str = "IpAddressGenerationFailure";
    pub(crate) const MAC_ADDRESS_IN_USE: &str = "MacAddressInUse";
    pub(crate) const GATEWAY_CONFLICT_WITH_ALLOCATION_POOLS: &str =
        "GatewayConflictWithAllocationPools";
    pub(crate) const DEFAULT_EXTERNAL_NETWORK_EXISTS: &str = "DefaultExternalNetworkExists";
    pub(crate) const SECURITY_GROUP_IN_USE: &str = "SecurityGroupInUse";
    pub(crate) const SECURITY_GROUP_DEFAULT_ALREADY_EXISTS: &str =
        "SecurityGroupDefaultAlreadyExists";
    pub(crate) const SECURITY_GROUP_CANNOT_REMOVE_DEFAULT: &str =
        "SecurityGroupCannotRemoveDefault";
    pub(crate) const SECURITY_GROUP_RULE_EXISTS: &str = "SecurityGroupRuleExists";
    pub(crate) const PORT_SECURITY_PORT_HAS_SECURITY_GROUP: &str =
        "PortSecurityPortHasSecurityGroup";
    pub(crate) const SERVICE_PORT_IN_USE: &str = "ServicePortInUse";
    pub(crate) const ROUTER_IN_USE: &str = "RouterInUse";
    pub(crate) const ROUTER_INTERFACE_IN_USE_BY_FLOATING_IP: &str =
        "RouterInterfaceInUseByFloatingIP";
    pub(crate) const ROUTER_INTERFACE_IN_USE_BY_ROUTE: &str = "RouterInterfaceInUseByRoute";
    pub(crate) const ROUTER_EXTERNAL_GATEWAY_IN_USE_BY_FLOATING_IP: &str =
        "RouterExternalGatewayInUseByFloatingIp";
    pub(crate) const FLOATING_IP_PORT_ALREADY_ASSOCIATED: &str = "FloatingIPPortAlreadyAssociated";
    pub(crate) const FIP_IN_USE_BY_PORT_FORWARDING: &str = "FipInUseByPortForwarding";
    pub(crate) const PORT_HAS_BINDING_FLOATING_IP: &str = "PortHasBindingFloatingIP";
    pub(crate) const SUBNET_POOL_QUOTA_EXCEEDED: &str = "SubnetPoolQuotaExceeded";
    pub(crate) const OVER_QUOTA: &str = "OverQuota";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_not_found_uses_item_not_found() {
        let f = Fault {
            status: StatusCode::NOT_FOUND,
            message: "gone".into(),
        };
        let b = FaultFormat::Nova.body(&f);
        assert_eq!(b["itemNotFound"]["code"], 404);
        assert_eq!(b["itemNotFound"]["message"], "gone");
    }

    #[test]
    fn keystone_body_has_title() {
        let f = Fault {
            status: StatusCode::UNAUTHORIZED,
            message: "nope".into(),
        };
        let b = FaultFormat::Keystone.body(&f);
        assert_eq!(b["error"]["title"], "Unauthorized");
        assert_eq!(b["error"]["code"], 401);
    }

    #[test]
    fn neutron_conflict_type() {
        let f = Fault {
            status: StatusCode::CONFLICT,
            message: "in use".into(),
        };
        assert_eq!(
            FaultFormat::Neutron.body(&f)["NeutronError"]["type"],
            "Conflict"
        );
    }

    #[test]
    fn placement_body_carries_code_and_request_id() {
        let f = Fault {
            status: StatusCode::NOT_FOUND,
            message: "No resource provider with uuid x found".into(),
        };
        let b = FaultFormat::Placement.body_for(&f, Some("req-1"));
        let e = &b["errors"][0];
        assert_eq!(e["status"], 404);
        assert_eq!(e["title"], "Not Found");
        assert_eq!(e["detail"], "No resource provider with uuid x found");
        assert_eq!(e["code"], "placement.undefined_code");
        assert_eq!(e["request_id"], "req-1");
    }

    /// The code travels with the error through the response to the service's
    /// fault layer; the message plays no part in it.
    #[tokio::test]
    async fn a_typed_fault_keeps_its_code_whatever_its_message() {
        use http_body_util::BodyExt;
        async fn body(r: Response) -> serde_json::Value {
            let bytes = r.into_body().collect().await.expect("body").to_bytes();
            serde_json::from_slice(&bytes).expect("json")
        }
        let err = ApiError::conflict_typed(placement::CONCURRENT_UPDATE, "anything at all");
        let resp = FaultFormat::Placement.render(err.into_response(), None);
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(
            body(resp).await["errors"][0]["code"],
            placement::CONCURRENT_UPDATE
        );
        let typed = ApiError::typed(StatusCode::CONFLICT, "PortInUse", "Port p is in use");
        let neutron = FaultFormat::Neutron.render(typed.into_response(), None);
        assert_eq!(neutron.status(), StatusCode::CONFLICT);
        let b = body(neutron).await;
        assert_eq!(b["NeutronError"]["type"], "PortInUse");
        assert_eq!(b["NeutronError"]["message"], "Port p is in use");
        let f = Fault {
            status: StatusCode::CONFLICT,
            message: "resource provider generation conflict".into(),
        };
        // Untyped, even a message that reads like a known fault is undefined.
        assert_eq!(
            FaultFormat::Placement.body(&f)["errors"][0]["code"],
            placement::UNDEFINED
        );
        assert_eq!(
            FaultFormat::Placement.body_typed(
                &f,
                Some(FaultCode(placement::CONCURRENT_UPDATE)),
                None
            )["errors"][0]["code"],
            placement::CONCURRENT_UPDATE
        );
        assert_eq!(
            FaultFormat::Neutron.body_typed(&f, Some(FaultCode("PortInUse")), None)["NeutronError"]
                ["type"],
            "PortInUse"
        );
    }
}
