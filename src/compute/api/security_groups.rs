//! Security groups (api-ref: compute "Security groups (os-security-groups)
//! (DEPRECATED)" and "Rules for default security group"), up to microversion
//! 2.35: Nova's proxy to the network service's security groups, with Nova's
//! shapes (ingress rules as `ip_protocol`/`from_port`/`to_port`/`ip_range`) and
//! faults (Neutron's 409s become 400s, as Nova answers).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

use super::Microversion;
use super::hosts::until;
use super::params::{flag, query};
use crate::cloud::Cloud;
use crate::http::context::{Ctx, RequestContext};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::network::model::{SecurityGroup, SecurityGroupRule};
use crate::network::security::{GroupInput, RuleInput};

const LAST: u32 = 35;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/os-security-groups", get(list).post(create))
        .route(
            "/os-security-groups/{id}",
            get(show).put(update).delete(remove),
        )
        .route("/os-security-group-rules", post(rule_create))
        .route("/os-security-group-rules/{id}", delete(rule_delete))
        .route("/servers/{id}/os-security-groups", get(server_groups))
}

fn not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Security group {id} not found."))
}

/// Neutron's faults in Nova's words: missing -> 404, conflicts -> 400.
fn nova_fault(id: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound { .. } | ApiError::Missing(_) => not_found(id),
        e if e.status() == StatusCode::CONFLICT => ApiError::bad_request(e.to_string()),
        other => other,
    }
}

fn rule_view(r: &SecurityGroupRule, names: &HashMap<String, (String, String)>) -> Value {
    let group = match r.remote_group_id.as_ref().and_then(|g| names.get(g)) {
        Some((name, tenant)) => json!({"name": name, "tenant_id": tenant}),
        None => json!({}),
    };
    let ip_range = match (&r.remote_ip_prefix, &r.remote_group_id) {
        (_, Some(_)) => json!({}),
        (Some(c), None) => json!({"cidr": c}),
        (None, None) => json!({"cidr": if r.ethertype == "IPv6" { "::/0" } else { "0.0.0.0/0" }}),
    };
    let icmp = matches!(r.protocol.as_deref(), Some("icmp"));
    let port = |p: Option<u32>| p.map_or(if icmp { -1 } else { 1 }, i64::from);
    let (from, to) = match r.protocol {
        None => (None, None),
        Some(_) => (
            Some(port(r.port_range_min)),
            Some(
                r.port_range_max
                    .map_or(if icmp { -1 } else { 65535 }, i64::from),
            ),
        ),
    };
    json!({
        "id": r.std.id, "parent_group_id": r.security_group_id,
        "ip_protocol": r.protocol, "from_port": from, "to_port": to,
        "ip_range": ip_range, "group": group,
    })
}

fn group_view(
    g: &SecurityGroup,
    rules: &[SecurityGroupRule],
    names: &HashMap<String, (String, String)>,
) -> Value {
    let rules: Vec<Value> = rules
        .iter()
        .filter(|r| r.direction == "ingress")
        .map(|r| rule_view(r, names))
        .collect();
    json!({
        "id": g.std.id, "name": g.name, "description": g.std.description,
        "tenant_id": g.std.project_id, "rules": rules,
    })
}

async fn names(
    cloud: &Cloud,
    ctx: &RequestContext,
) -> ApiResult<HashMap<String, (String, String)>> {
    Ok(cloud
        .network
        .security_group_list(ctx)
        .await?
        .into_iter()
        .map(|(g, _)| (g.std.id, (g.name, g.std.project_id)))
        .collect())
}

/// List Security Groups (`all_tenants` for admins).
async fn list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let q = query(raw)?;
    let all = ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) && flag(&q, "all_tenants");
    let project = ctx.project_id().unwrap_or_default().to_owned();
    let groups = cloud.network.security_group_list(&ctx).await?;
    let names: HashMap<_, _> = groups
        .iter()
        .map(|(g, _)| (g.std.id.clone(), (g.name.clone(), g.std.project_id.clone())))
        .collect();
    let list: Vec<Value> = groups
        .iter()
        .filter(|(g, _)| all || g.std.project_id == project)
        .map(|(g, r)| group_view(g, r, &names))
        .collect();
    Ok(axum::Json(json!({"security_groups": list})))
}

fn text(o: &Map<String, Value>, key: &str, required: bool) -> ApiResult<Option<String>> {
    let v = match o.get(key) {
        None if required => {
            return Err(ApiError::bad_request(format!(
                "Security group {key} is not a string or unicode"
            )));
        }
        None => return Ok(None),
        Some(v) => v,
    };
    let s = v.as_str().ok_or_else(|| {
        ApiError::bad_request(format!("Security group {key} is not a string or unicode"))
    })?;
    if key == "name" && s.trim().is_empty() {
        return Err(ApiError::bad_request("Security group name cannot be empty"));
    }
    if s.chars().count() > 255 {
        return Err(ApiError::bad_request(format!(
            "Security group {key} should not be greater than 255 characters."
        )));
    }
    Ok(Some(s.to_owned()))
}

fn group_body(body: &Value, required: bool) -> ApiResult<GroupInput> {
    let o = body
        .get("security_group")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'security_group' is a required property"))?;
    Ok(GroupInput {
        name: text(o, "name", required)?,
        description: text(o, "description", false)?,
        ..GroupInput::default()
    })
}

/// Create Security Group -> 200.
async fn create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let input = group_body(&body, true)?;
    let g = cloud
        .network
        .security_group_create(&ctx, input)
        .await
        .map_err(|e| nova_fault("", e))?;
    let (g, rules) = cloud.network.security_group_get(&ctx, g.std.id).await?;
    let names = names(&cloud, &ctx).await?;
    Ok(axum::Json(
        json!({"security_group": group_view(&g, &rules, &names)}),
    ))
}

async fn show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let (g, rules) = cloud
        .network
        .security_group_get(&ctx, id.clone())
        .await
        .map_err(|e| nova_fault(&id, e))?;
    let names = names(&cloud, &ctx).await?;
    Ok(axum::Json(
        json!({"security_group": group_view(&g, &rules, &names)}),
    ))
}

async fn update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let input = group_body(&body, false)?;
    let (g, rules) = cloud
        .network
        .security_group_update(&ctx, id.clone(), input)
        .await
        .map_err(|e| nova_fault(&id, e))?;
    let names = names(&cloud, &ctx).await?;
    Ok(axum::Json(
        json!({"security_group": group_view(&g, &rules, &names)}),
    ))
}

/// Delete Security Group -> 202; the default group and groups in use -> 400.
async fn remove(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    until(mv, LAST)?;
    let (g, _) = cloud
        .network
        .security_group_get(&ctx, id.clone())
        .await
        .map_err(|e| nova_fault(&id, e))?;
    if g.name == "default" {
        return Err(ApiError::bad_request(
            "Removing default security group not allowed.",
        ));
    }
    cloud
        .network
        .security_group_delete(&ctx, id.clone())
        .await
        .map_err(|e| nova_fault(&id, e))?;
    Ok(StatusCode::ACCEPTED)
}

fn port(o: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid value for {key}: {v}"))),
    }
}

/// The rule's group: required, and a UUID.
fn parent_group_id(o: &Map<String, Value>) -> ApiResult<&str> {
    let parent = o
        .get("parent_group_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("'parent_group_id' is a required property"))?;
    if uuid::Uuid::parse_str(parent).is_err() {
        return Err(ApiError::bad_request(format!(
            "Invalid parent_group_id {parent}"
        )));
    }
    Ok(parent)
}

/// Nova's `from_port`/`to_port` as Neutron's port range: a TCP or UDP port
/// range, or an ICMP type and code where -1 means any.
fn rule_port_range(
    proto: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> ApiResult<(Option<u32>, Option<u32>)> {
    match proto {
        Some("tcp") | Some("udp") => match (from, to) {
            (Some(f), Some(t))
                if (1..=65535).contains(&f) && (1..=65535).contains(&t) && f <= t =>
            {
                Ok((Some(f as u32), Some(t as u32)))
            }
            _ => Err(ApiError::bad_request(format!(
                "Invalid port range {from:?}:{to:?}."
            ))),
        },
        Some("icmp") => match (from, to) {
            (Some(f), Some(t)) if (-1..=255).contains(&f) && (-1..=255).contains(&t) => {
                let p = |n: i64| (n >= 0).then_some(n as u32);
                Ok((p(f), p(t)))
            }
            _ => Err(ApiError::bad_request(
                "ICMP type and code must be in -1..255.",
            )),
        },
        Some(p) => Err(ApiError::bad_request(format!("Invalid IP protocol {p}."))),
        None => Ok((None, None)),
    }
}

/// Nova's rule checks, then the Neutron rule it stands for.
fn rule_input(o: &Map<String, Value>) -> ApiResult<RuleInput> {
    let parent = parent_group_id(o)?;
    let proto = o
        .get("ip_protocol")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let (from, to) = (port(o, "from_port")?, port(o, "to_port")?);
    let (min, max) = rule_port_range(proto.as_deref(), from, to)?;
    let group_id = o.get("group_id").and_then(Value::as_str).map(str::to_owned);
    let cidr = o.get("cidr").and_then(Value::as_str).map(str::to_owned);
    let ethertype = cidr
        .as_deref()
        .filter(|c| c.contains(':'))
        .map(|_| "IPv6".to_owned());
    Ok(RuleInput {
        security_group_id: Some(parent.to_owned()),
        direction: Some("ingress".into()),
        ethertype,
        protocol: proto.map(Value::String),
        port_range_min: min.map(Value::from),
        port_range_max: max.map(Value::from),
        remote_ip_prefix: if group_id.is_some() {
            None
        } else {
            cidr.or(Some("0.0.0.0/0".into()))
        },
        remote_group_id: group_id,
        ..RuleInput::default()
    })
}

/// Create Security Group Rule -> 200.
async fn rule_create(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    until(mv, LAST)?;
    let o = body
        .get("security_group_rule")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'security_group_rule' is a required property"))?;
    let input = rule_input(o)?;
    let parent = input.security_group_id.clone().unwrap_or_default();
    cloud
        .network
        .security_group_get(&ctx, parent.clone())
        .await
        .map_err(|e| nova_fault(&parent, e))?;
    let r = cloud
        .network
        .security_group_rule_create(&ctx, input)
        .await
        .map_err(|e| nova_fault(&parent, e))?;
    let names = names(&cloud, &ctx).await?;
    Ok(axum::Json(
        json!({"security_group_rule": rule_view(&r, &names)}),
    ))
}

/// Delete Security Group Rule -> 202.
async fn rule_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    until(mv, LAST)?;
    cloud
        .network
        .security_group_rule_delete(&ctx, id.clone())
        .await
        .map_err(|_| ApiError::Missing(format!("Security group rule {id} not found.")))?;
    Ok(StatusCode::ACCEPTED)
}

/// List Security Groups By Server: the groups on the server's ports.
async fn server_groups(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let s = cloud.compute.server_get(&ctx, id).await?;
    let port_ids = s.ports.iter().map(|p| p.port_id.clone()).collect();
    let nics = cloud.network.instance_nics(port_ids).await?;
    let mut wanted: Vec<String> = nics
        .iter()
        .flat_map(|n| n.port.security_groups.clone())
        .collect();
    wanted.dedup();
    let groups = cloud.network.security_group_list(&ctx).await?;
    let names: HashMap<_, _> = groups
        .iter()
        .map(|(g, _)| (g.std.id.clone(), (g.name.clone(), g.std.project_id.clone())))
        .collect();
    let list: Vec<Value> = groups
        .iter()
        .filter(|(g, _)| wanted.contains(&g.std.id))
        .map(|(g, r)| group_view(g, r, &names))
        .collect();
    Ok(axum::Json(json!({"security_groups": list})))
}
