//! `/horizon`: the real Horizon behind the cloud's own listener, when `onestack
//! horizon` (or `install --horizon`) set it up. Requests are forwarded as they are
//! (path, query, headers, streamed bodies both ways) to the gunicorn address that
//! setup recorded in `<state>/horizon/upstream`; the file is read per request, so
//! Horizon set up on a running cloud is served without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use crate::host::horizon::{DIR, UPSTREAM_FILE};

/// Headers that describe one hop's connection, not the request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The state directory whose `horizon/upstream` names where Horizon listens.
#[derive(Clone)]
pub(crate) struct Upstream(pub Arc<PathBuf>);

async fn address(state_dir: &std::path::Path) -> Option<String> {
    let text = tokio::fs::read_to_string(state_dir.join(DIR).join(UPSTREAM_FILE))
        .await
        .ok()?;
    let addr = text.trim();
    addr.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.to_string())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

/// Forwards one request to Horizon and streams its answer back.
pub(crate) async fn forward(State(up): State<Upstream>, mut req: Request) -> Response {
    let Some(addr) = address(&up.0).await else {
        return plain(
            StatusCode::NOT_FOUND,
            "Horizon is not set up on this cloud: run `sudo onestack install --horizon` \
             (or `onestack horizon`). The built-in dashboard is at /dashboard.",
        );
    };
    let stream = match tokio::net::TcpStream::connect(&addr).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(upstream = %addr, error = %e, "Horizon is not answering");
            return plain(
                StatusCode::BAD_GATEWAY,
                "Horizon is set up but not running (systemctl status onestack-horizon).",
            );
        }
    };
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(upstream = %addr, error = %e, "connecting to Horizon");
                return plain(StatusCode::BAD_GATEWAY, "Horizon did not answer.");
            }
        };
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "Horizon connection ended");
        }
    });
    let h = req.headers_mut();
    for name in HOP_BY_HOP {
        h.remove(*name);
    }
    // An HTTP/1 request to the upstream carries the origin-form path only.
    let path = req
        .uri()
        .path_and_query()
        .map_or("/horizon/", |p| p.as_str())
        .to_owned();
    match path.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "bad path"),
    }
    *req.version_mut() = axum::http::Version::HTTP_11;
    match sender.send_request(req).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(*name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::warn!(upstream = %addr, error = %e, "forwarding to Horizon");
            plain(StatusCode::BAD_GATEWAY, "Horizon did not answer.")
        }
    }
}
