//! Servers (api-ref: compute "Servers"): list, detail, create, show, update,
//! delete.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::view::{self, ViewCtx};
use crate::cloud::Cloud;
use crate::compute::model::{Server, VmState};
use crate::compute::servers::{ServerCreateBody, ServerUpdate};
use crate::http::RequestId;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::pagination::{Dialect, PageQuery};

pub(crate) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/servers", get(server_list).post(server_create))
        .route("/servers/detail", get(server_list_detail))
        .route(
            "/servers/{id}",
            get(server_show).put(server_update).delete(server_delete),
        )
}

/// Renders servers with their NICs and security group names fetched in one go.
pub(crate) async fn render(
    cloud: &Cloud,
    headers: &HeaderMap,
    mv: Microversion,
    ctx: &RequestContext,
    servers: &[Server],
) -> ApiResult<Vec<Value>> {
    let ports: Vec<String> = servers
        .iter()
        .flat_map(|s| s.ports.iter().map(|p| p.port_id.clone()))
        .collect();
    let nics: HashMap<String, _> = cloud
        .network
        .instance_nics(ports)
        .await?
        .into_iter()
        .map(|n| (n.port.std.id.clone(), n))
        .collect();
    let names = cloud.network.security_group_names().await?;
    let base = crate::http::base_url(headers);
    let host = cloud.compute.config().host.clone();
    let v = ViewCtx {
        base: &base,
        mv,
        ctx,
        host: &host,
        nics: &nics,
    };
    let mut out: Vec<Value> = servers
        .iter()
        .map(|s| view::detail(&v, s, &names))
        .collect();
    for (d, s) in out.iter_mut().zip(servers) {
        d["os-extended-volumes:volumes_attached"] =
            cloud.compute.volumes_attached_view(s, mv.at_least(3)).await;
    }
    Ok(out)
}

pub(crate) async fn render_one(
    cloud: &Cloud,
    headers: &HeaderMap,
    mv: Microversion,
    ctx: &RequestContext,
    s: &Server,
) -> ApiResult<Value> {
    let mut v = render(cloud, headers, mv, ctx, std::slice::from_ref(s)).await?;
    Ok(v.pop().unwrap_or(Value::Null))
}

/// `GET /servers`.
async fn server_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    let (servers, next) = filtered(&cloud, &ctx, mv, &headers, &q).await?;
    let base = crate::http::base_url(&headers);
    let items: Vec<Value> = servers.iter().map(|s| view::brief(&base, s)).collect();
    Ok(axum::Json(page_doc(items, next)))
}

/// `GET /servers/detail`.
async fn server_list_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    let (servers, next) = filtered(&cloud, &ctx, mv, &headers, &q).await?;
    let mut items = render(&cloud, &headers, mv, &ctx, &servers).await?;
    // Nova shows `server_groups` (2.71) on one server (show, update, rebuild),
    // never in the detailed list.
    for d in &mut items {
        if let Some(o) = d.as_object_mut() {
            o.remove("server_groups");
        }
    }
    Ok(axum::Json(page_doc(items, next)))
}

fn page_doc(items: Vec<Value>, next: Option<String>) -> Value {
    let mut doc = json!({ "servers": items });
    if let Some(href) = next {
        doc["servers_links"] = json!([{"rel": "next", "href": href}]);
    }
    doc
}

/// Applies Nova's list filters, sorting and paging.
async fn filtered(
    cloud: &Cloud,
    ctx: &RequestContext,
    mv: Microversion,
    headers: &HeaderMap,
    q: &[(String, String)],
) -> ApiResult<(Vec<Server>, Option<String>)> {
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let truthy = |v: Option<&str>| {
        v.is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "1" | "true" | "yes" | "on"
            )
        })
    };
    let all = truthy(get("all_tenants")) || truthy(get("all_projects"));
    let project = get("project_id").or(get("tenant_id")).map(str::to_owned);
    let deleted = truthy(get("deleted"));
    let servers = cloud
        .compute
        .server_list(ctx, all, project, deleted)
        .await?;
    let filter = crate::compute::listing::ServerFilter::from_query(
        q,
        mv,
        ctx.allowed(crate::http::policy::COMPUTE_ALL_FILTERS),
    )?;
    let servers = filter.apply(servers, cloud).await?;
    let page = PageQuery {
        limit: get("limit").map(str::to_owned),
        marker: get("marker").map(str::to_owned),
    };
    let cut = page.apply_as(Dialect::Nova, servers, |s| s.id.as_str())?;
    let next = match (cut.has_more, cut.items.last()) {
        (true, Some(last)) => {
            let base = crate::http::base_url(headers);
            let mut params: Vec<(String, String)> =
                q.iter().filter(|(k, _)| k != "marker").cloned().collect();
            params.push(("marker".into(), last.id.clone()));
            let qs = serde_urlencoded::to_string(&params).unwrap_or_default();
            Some(format!("{base}/compute/v2.1/servers?{qs}"))
        }
        _ => None,
    };
    Ok((cut.items, next))
}

/// `POST /servers`: 202 with the new server's id, links and (Nova's) adminPass.
async fn server_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Json(body): Json<ServerCreateBody>,
) -> ApiResult<Response> {
    let return_reservation = body.server.return_reservation_id.unwrap_or(false);
    let requested_pass = body.server.admin_pass.clone();
    let plan = cloud.compute.server_create_plan(&ctx, body, mv).await?;
    let networks = plan.networks.clone();
    let servers = cloud
        .compute
        .server_create_records(&ctx, plan, networks, request_id.clone())
        .await?;
    for s in servers.iter().filter(|s| s.vm_state == VmState::Building) {
        cloud
            .compute
            .spawn_build(s.id.clone(), ctx.0.clone(), request_id.clone());
    }
    let Some(first) = servers.first() else {
        return Err(ApiError::Internal(anyhow::anyhow!("no server was created")));
    };
    if return_reservation {
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({"reservation_id": first.reservation_id})),
        )
            .into_response());
    }
    let base = crate::http::base_url(&headers);
    let groups: Vec<Value> = first
        .security_groups
        .iter()
        .map(|g| json!({"name": g}))
        .collect();
    let body = json!({"server": {
        "id": first.id,
        "links": view::links(&base, "servers", &first.id),
        "OS-DCF:diskConfig": first.disk_config,
        "security_groups": groups,
        "adminPass": requested_pass.unwrap_or_else(admin_pass),
    }});
    let location = format!("{base}/compute/v2.1/servers/{}", first.id);
    Ok((
        StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response())
}

/// A random admin password, as Nova returns one (the guest may ignore it).
pub(super) fn admin_pass() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Below 2.75 the update and rebuild answers are Nova's basic view: no
/// extended attributes (zone, states, usage, config drive, security groups,
/// volumes, host) and addresses without their type and MAC; a rebuild shows
/// `key_name` from 2.54 and `user_data` from 2.57.
pub(crate) fn basic_view(doc: &mut Value, mv: Microversion, rebuild: bool) {
    if mv.at_least(75) {
        return;
    }
    let Some(o) = doc.as_object_mut() else {
        return;
    };
    let keep_key = rebuild && mv.at_least(54);
    let keep_user_data = rebuild && mv.at_least(57);
    o.retain(|k, _| {
        !(k.starts_with("OS-EXT-")
            || k.starts_with("OS-SRV-USG:")
            || k.starts_with("os-extended-volumes:")
            || matches!(
                k.as_str(),
                "config_drive" | "security_groups" | "host_status" | "server_groups"
            )
            || (k == "key_name" && !keep_key)
            || (k == "user_data" && !keep_user_data))
    });
    if let Some(nets) = o.get_mut("addresses").and_then(Value::as_object_mut) {
        for ips in nets.values_mut().filter_map(Value::as_array_mut) {
            for ip in ips.iter_mut().filter_map(Value::as_object_mut) {
                ip.retain(|k, _| !k.starts_with("OS-EXT-IPS"));
            }
        }
    }
}

/// `GET /servers/{id}`.
async fn server_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let doc = render_one(&cloud, &headers, mv, &ctx, &s).await?;
    Ok(axum::Json(json!({ "server": doc })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    server: ServerUpdate,
}

/// `PUT /servers/{id}`.
async fn server_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud
        .compute
        .server_update(&ctx, id, body.server, mv)
        .await?;
    let mut doc = render_one(&cloud, &headers, mv, &ctx, &s).await?;
    basic_view(&mut doc, mv, false);
    Ok(axum::Json(json!({ "server": doc })))
}

/// `DELETE /servers/{id}`: 204; the server disappears once torn down.
async fn server_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.compute.server_delete(&ctx, id, request_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
