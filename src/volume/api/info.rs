//! Availability zones and services (api-ref: block storage v3 "Availability zones
//! (os-availability-zone)", "Services (os-services)").

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Mv, query};
use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::ApiResult;
use crate::volume::model::ZONE;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-availability-zone", get(zones))
        .route("/os-services", get(services))
}

async fn zones(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"availabilityZoneInfo": [
        {"zoneName": ZONE, "zoneState": {"available": true}}
    ]}))
}

/// The scheduler and the volume service of this host (admin). Both live in this
/// process, so they are up whenever the API answers.
async fn services(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Mv,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let q = query(raw)?;
    let now = crate::volume::store::now();
    let host = cloud.volume.host().to_owned();
    let list: Vec<Value> = [
        ("cinder-scheduler", host.clone()),
        (
            "cinder-volume",
            format!("{host}@{}", crate::volume::model::BACKEND_NAME),
        ),
    ]
    .into_iter()
    .filter(|(binary, h)| {
        q.get("binary").is_none_or(|b| b == binary) && q.get("host").is_none_or(|x| x == h)
    })
    .map(|(binary, h)| {
        let mut s = json!({
            "binary": binary, "host": h, "zone": ZONE, "status": "enabled", "state": "up",
            "updated_at": now, "disabled_reason": null,
        });
        if mv.at_least(7) {
            s["cluster"] = Value::Null;
        }
        if mv.at_least(49) && binary == "cinder-volume" {
            s["backend_state"] = json!("up");
        }
        s
    })
    .collect();
    Ok(axum::Json(json!({"services": list})))
}
