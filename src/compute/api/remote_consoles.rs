//! Nova's remote consoles (api-ref: compute "Server Remote Consoles" and the
//! deprecated `os-getSerialConsole` action): console URLs, and the serial proxy
//! that joins a WebSocket to the guest's serial port.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::Microversion;
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::logged::OrLog;

/// Routes under `/compute/v2.1`.
pub(super) fn routes() -> Router<Cloud> {
    Router::new().route("/servers/{id}/remote-consoles", post(remote_console_create))
}

/// The serial proxy under `/compute` (outside the versioned API: clients reach it
/// with the URL's token, not a Keystone token).
pub(super) fn proxy_routes() -> Router<Cloud> {
    Router::new().route("/serial/", get(serial_proxy))
}

/// Protocols and types Nova's schema knows; only serial is offered here.
const PROTOCOLS: &[&str] = &["vnc", "spice", "rdp", "serial", "mks"];
const TYPES: &[&str] = &[
    "novnc",
    "xvpvnc",
    "rdp-html5",
    "spice-html5",
    "spice-direct",
    "serial",
    "webmks",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteConsoleReq {
    protocol: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteConsoleBody {
    remote_console: RemoteConsoleReq,
}

/// The URL a client opens: `ws://<host>/compute/serial/?token=...`.
fn serial_url(headers: &HeaderMap, token: &str) -> String {
    let base = crate::http::base_url(headers);
    let ws = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.trim_start_matches("http://")),
    };
    format!("{ws}/compute/serial/?token={token}")
}

/// A serial console URL for the server, after Nova's checks.
pub(super) async fn serial_console_url(
    cloud: &Cloud,
    ctx: &RequestContext,
    headers: &HeaderMap,
    id: String,
) -> ApiResult<String> {
    let token = cloud.compute.server_serial_console_create(ctx, id).await?;
    Ok(serial_url(headers, &token))
}

/// `POST /servers/{id}/remote-consoles` (2.6+).
async fn remote_console_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<RemoteConsoleBody>,
) -> ApiResult<axum::Json<Value>> {
    if !mv.at_least(6) {
        return Err(ApiError::Missing("The resource could not be found.".into()));
    }
    let RemoteConsoleReq { protocol, kind } = b.remote_console;
    if !PROTOCOLS.contains(&protocol.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute protocol. Value: {protocol}."
        )));
    }
    // `spice-direct` is a type from 2.99 on.
    if !TYPES.contains(&kind.as_str()) || (kind == "spice-direct" && !mv.at_least(99)) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute type. Value: {kind}."
        )));
    }
    if protocol != "serial" || kind != "serial" {
        return Err(ApiError::bad_request(format!(
            "Unavailable console type {kind}."
        )));
    }
    let url = serial_console_url(&cloud, &ctx, &headers, id).await?;
    Ok(axum::Json(json!({
        "remote_console": {"protocol": "serial", "type": "serial", "url": url}
    })))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `GET /compute/serial/?token=...`: checks the token and that the guest's serial
/// socket answers, then upgrades to a WebSocket speaking Nova's `binary`
/// subprotocol and pipes bytes both ways.
async fn serial_proxy(
    State(cloud): State<Cloud>,
    Query(q): Query<TokenQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let token = q.token.unwrap_or_default();
    let grant = cloud.compute.serial_console_check(&token).await?;
    let ws = ws.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let stream = UnixStream::connect(&grant.socket).await.map_err(|e| {
        tracing::warn!(server = %grant.server_id, error = %e, "serial socket unreachable");
        ApiError::Conflict(format!("Instance {} is not ready.", grant.server_id))
    })?;
    tracing::info!(server = %grant.server_id, "serial console attached");
    let server = grant.server_id;
    Ok(ws
        .protocols(["binary"])
        .on_upgrade(move |socket| async move {
            pipe(socket, stream).await;
            tracing::info!(server = %server, "serial console detached");
        })
        .into_response())
}

/// Copies guest output to the client as binary frames and client frames (binary,
/// or text from clients that send typed keys that way) to the guest, until either
/// side closes.
async fn pipe(socket: WebSocket, stream: UnixStream) {
    let (mut guest_rd, mut guest_wr) = stream.into_split();
    let (mut sink, mut source) = socket.split();
    let to_guest = async {
        while let Some(Ok(msg)) = source.next().await {
            let bytes: &[u8] = match &msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.as_bytes(),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if guest_wr.write_all(bytes).await.is_err() {
                break;
            }
        }
    };
    let from_guest = async {
        let mut buf = vec![0u8; 4096];
        loop {
            match guest_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = Message::Binary(bytes_of(&buf[..n]));
                    if sink.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
        sink.send(Message::Close(None))
            .await
            .or_debug("console", "closing the console's websocket");
    };
    tokio::select! {
        _ = to_guest => {}
        _ = from_guest => {}
    }
}

fn bytes_of(b: &[u8]) -> axum::body::Bytes {
    axum::body::Bytes::copy_from_slice(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_follows_the_client_scheme() {
        let mut h = HeaderMap::new();
        h.insert("host", "10.0.0.5:8080".parse().unwrap());
        assert_eq!(
            serial_url(&h, "abc"),
            "ws://10.0.0.5:8080/compute/serial/?token=abc"
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(
            serial_url(&h, "abc"),
            "wss://10.0.0.5:8080/compute/serial/?token=abc"
        );
    }

    #[test]
    fn body_rejects_unknown_fields() {
        let ok: Result<RemoteConsoleBody, _> = serde_json::from_value(
            json!({"remote_console": {"protocol": "serial", "type": "serial"}}),
        );
        assert!(ok.is_ok());
        let bad: Result<RemoteConsoleBody, _> = serde_json::from_value(
            json!({"remote_console": {"protocol": "serial", "type": "serial", "x": 1}}),
        );
        assert!(bad.is_err());
    }
}
