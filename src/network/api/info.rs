//! Discovery, extensions, agents, availability zones, IP availability and quotas.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::http::policy;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(extension_list))
        .route("/v2.0/extensions/{alias}", get(extension_show))
        .route("/v2.0/agents", get(agent_list))
        .route("/v2.0/availability_zones", get(availability_zone_list))
        .route("/v2.0/network-ip-availabilities", get(ip_availability_list))
        .route(
            "/v2.0/network-ip-availabilities/{id}",
            get(ip_availability_show),
        )
        .route("/v2.0/quotas", get(quota_list))
        .route(
            "/v2.0/quotas/{project_id}",
            get(quota_show).put(quota_update).delete(quota_reset),
        )
        .route("/v2.0/quotas/{project_id}/default", get(quota_default))
        .route("/v2.0/quotas/{project_id}/details", get(quota_details))
}

/// The extensions this service implements, and nothing it does not.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("agent", "agent", "The agent management extension."),
    (
        "allowed-address-pairs",
        "Allowed Address Pairs",
        "Provides allowed address pairs",
    ),
    (
        "availability_zone",
        "Availability Zone",
        "The availability zone extension.",
    ),
    (
        "binding",
        "Port Binding",
        "Expose port bindings of a virtual port to external application",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "default-subnetpools",
        "Default Subnetpools",
        "Provides ability to mark and use a subnetpool as the default.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    (
        "extraroute",
        "Neutron Extra Route",
        "Extra routes configuration for L3 router",
    ),
    (
        "expose-port-forwarding-in-fip",
        "Expose port forwardings in a floating IP",
        "Expose on floating IPs the port forwardings of the floating IP",
    ),
    (
        "floating-ip-port-forwarding",
        "Floating IP Port Forwarding",
        "Allow port forwarding from floating IP port to an internal port",
    ),
    (
        "floating-ip-port-forwarding-description",
        "Floating IP Port Forwarding new attribute description",
        "Add a description field to Port Forwarding rules",
    ),
    (
        "floating-ip-port-forwarding-port-ranges",
        "Floating IP Port Forwarding support port ranges",
        "Add suport to port ranges",
    ),
    (
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
    ),
    (
        "network-ip-availability",
        "Network IP Availability",
        "Provides IP availability data for each network and subnet.",
    ),
    ("port-security", "Port Security", "Provides port security"),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
    ),
    (
        "provider",
        "Provider Network",
        "Expose mapping of virtual networks to physical networks",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per project",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    (
        "security-group",
        "security-group",
        "The security groups extension.",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    (
        "revision-if-match",
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
    (
        "standard-attr-tag",
        "Tag support",
        "Enables to set tag on resources with standard attribute.",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    (
        "subnet-external-network",
        "Subnet External Network",
        "Informs if the subnet is associated to a router:external network",
    ),
    (
        "subnet_allocation",
        "Subnet Allocation",
        "Enables allocation of subnets from a subnet pool",
    ),
    (
        "subnetpool-prefix-ops",
        "Subnet Pool Prefix Operations",
        "Provides support for adjusting the prefix list of subnet pools",
    ),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
];

fn extension_view(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description, "updated": "2013-01-01T10:00:00-00:00", "links": []})
}

/// `GET /networking` and `/networking/`: the API versions.
pub(crate) async fn versions(headers: HeaderMap) -> axum::Json<Value> {
    let href = format!("{}/networking/v2.0/", crate::http::base_url(&headers));
    axum::Json(
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}),
    )
}

async fn resources(headers: HeaderMap) -> axum::Json<Value> {
    let base = format!("{}/networking/v2.0", crate::http::base_url(&headers));
    let list: Vec<Value> = [("network", "networks"), ("subnet", "subnets"), ("subnetpool", "subnetpools"), ("port", "ports")]
        .iter()
        .map(|(name, coll)| json!({"name": name, "collection": coll, "links": [{"rel": "self", "href": format!("{base}/{coll}")}]}))
        .collect();
    axum::Json(json!({"resources": list}))
}

async fn extension_list(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(
        json!({"extensions": EXTENSIONS.iter().map(|(a, n, d)| extension_view(a, n, d)).collect::<Vec<_>>()}),
    )
}

async fn extension_show(_ctx: Ctx, Path(alias): Path<String>) -> ApiResult<axum::Json<Value>> {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| axum::Json(json!({"extension": extension_view(a, n, d)})))
        .ok_or_else(|| ApiError::Missing(format!("Extension with alias {alias} does not exist")))
}

/// The in-process agents, alive while the process is. Neutron's `get_agent` policy is
/// admin-only and a list keeps what the caller may see, so others get an empty list.
async fn agent_list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    if !policy::NETWORK_AGENT_READ.allows(&ctx, None) {
        return Ok(axum::Json(json!({"agents": []})));
    }
    let host = cloud.profile.public_host();
    let now = crate::http::time::iso_seconds(chrono::Utc::now());
    let agents: Vec<Value> = [
        ("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", Some("nova")),
        ("L3 agent", "neutron-l3-agent", "l3_agent", Some("nova")),
        ("Linux bridge agent", "neutron-linuxbridge-agent", "N/A", None),
        ("Metadata agent", "neutron-metadata-agent", "N/A", None),
    ]
    .iter()
    .map(|(kind, binary, topic, az)| {
        json!({
            "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, binary.as_bytes()).to_string(),
            "agent_type": kind, "binary": binary, "topic": topic, "host": host, "alive": true,
            "admin_state_up": true, "availability_zone": az, "configurations": {}, "description": null,
            "started_at": now, "created_at": now, "heartbeat_timestamp": now, "resources_synced": null,
        })
    })
    .collect();
    Ok(axum::Json(json!({"agents": agents})))
}

async fn availability_zone_list(_ctx: Ctx) -> axum::Json<Value> {
    axum::Json(json!({"availability_zones": [
        {"name": "nova", "resource": "network", "state": "available"},
        {"name": "nova", "resource": "router", "state": "available"},
    ]}))
}

async fn ip_availability_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud.network.ip_availability(&ctx, None).await?;
    Ok(axum::Json(json!({"network_ip_availabilities": list})))
}

async fn ip_availability_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let list = cloud
        .network
        .ip_availability(&ctx, Some(id.clone()))
        .await?;
    let one = list
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Missing(format!("Network {id} could not be found.")))?;
    Ok(axum::Json(json!({"network_ip_availability": one})))
}

async fn quota_list(State(cloud): State<Cloud>, ctx: Ctx) -> ApiResult<axum::Json<Value>> {
    let list: Vec<Value> = cloud
        .network
        .quota_list(&ctx)
        .await?
        .into_iter()
        .map(|(p, mut l)| {
            let mut v = json!(std::mem::take(&mut l));
            v["project_id"] = json!(p);
            v["tenant_id"] = json!(p);
            v
        })
        .collect();
    Ok(axum::Json(json!({"quotas": list})))
}

async fn quota_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        json!({"quota": cloud.network.quota_get(&ctx, project).await?}),
    ))
}

async fn quota_default(_ctx: Ctx, Path(_project): Path<String>) -> axum::Json<Value> {
    let d: BTreeMap<&str, i64> = crate::network::model::DEFAULT_QUOTAS
        .iter()
        .copied()
        .collect();
    axum::Json(json!({"quota": d}))
}

async fn quota_details(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let d: BTreeMap<String, Value> = cloud
        .network
        .quota_details(&ctx, project)
        .await?
        .into_iter()
        .map(|(k, (limit, used))| (k, json!({"limit": limit, "used": used, "reserved": 0})))
        .collect();
    Ok(axum::Json(json!({"quota": d})))
}

#[derive(Deserialize)]
struct QuotaBody {
    quota: BTreeMap<String, Value>,
}

async fn quota_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
    Json(b): Json<QuotaBody>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        json!({"quota": cloud.network.quota_update(&ctx, project, b.quota).await?}),
    ))
}

async fn quota_reset(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.network.quota_reset(&ctx, project).await?;
    Ok(StatusCode::NO_CONTENT)
}
