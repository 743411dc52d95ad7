//! Limits and quota sets (api-ref: compute "Limits (limits)", "Quota sets
//! (os-quota-sets)"): routes and views.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::Microversion;
use super::params::query;
use crate::cloud::Cloud;
use crate::compute::quotas::{self, QuotaSetUpdate};
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/limits", get(limits_show))
        .route(
            "/os-quota-sets/{tenant_id}",
            get(quota_show).put(quota_update).delete(quota_delete),
        )
        .route("/os-quota-sets/{tenant_id}/defaults", get(quota_defaults))
        .route("/os-quota-sets/{tenant_id}/detail", get(quota_detail))
        .route(
            "/os-quota-class-sets/{id}",
            get(quota_class_show).put(quota_class_update),
        )
}

/// Show Rate And Absolute Limits: `GET /limits`.
async fn limits_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let (lim, used) = cloud
        .compute
        .limits_show(&ctx, q.get("tenant_id").cloned())
        .await?;
    let l = |k: &str| lim.get(k).copied().unwrap_or(-1);
    let u = |k: &str| used.get(k).copied().unwrap_or(0);
    let mut abs = json!({
        "maxTotalInstances": l("instances"),
        "maxTotalCores": l("cores"),
        "maxTotalRAMSize": l("ram"),
        "maxServerMeta": l("metadata_items"),
        "maxTotalKeypairs": l("key_pairs"),
        "maxServerGroups": l("server_groups"),
        "maxServerGroupMembers": l("server_group_members"),
        "totalInstancesUsed": u("instances"),
        "totalCoresUsed": u("cores"),
        "totalRAMUsed": u("ram"),
        "totalServerGroupsUsed": u("server_groups"),
    });
    if !mv.at_least(36) {
        abs["maxTotalFloatingIps"] = json!(l("floating_ips"));
        abs["maxSecurityGroups"] = json!(l("security_groups"));
        abs["maxSecurityGroupRules"] = json!(l("security_group_rules"));
        abs["totalFloatingIpsUsed"] = json!(0);
        abs["totalSecurityGroupsUsed"] = json!(0);
    }
    if !mv.at_least(39) {
        abs["maxImageMeta"] = json!(l("metadata_items"));
    }
    if !mv.at_least(57) {
        abs["maxPersonality"] = json!(l("injected_files"));
        abs["maxPersonalitySize"] = json!(l("injected_file_content_bytes"));
    }
    Ok(axum::Json(json!({"limits": {"rate": [], "absolute": abs}})))
}

/// The quota_set body: the resources this microversion knows, plus `id`.
fn quota_set(
    id: Option<&str>,
    mv: Microversion,
    values: impl Iterator<Item = (String, Value)>,
) -> Value {
    let mut m: Map<String, Value> = values.filter(|(k, _)| quotas::shown_at(k, mv.1)).collect();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    json!({"quota_set": m})
}

fn numbers(lim: BTreeMap<String, i64>) -> impl Iterator<Item = (String, Value)> {
    lim.into_iter().map(|(k, v)| (k, json!(v)))
}

/// Show A Quota: `GET /os-quota-sets/{tenant_id}`.
async fn quota_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(tenant): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let lim = cloud.compute.quota_show(&ctx, tenant.clone()).await?;
    Ok(axum::Json(quota_set(Some(&tenant), mv, numbers(lim))))
}

/// Show The Detail Of Quota: `GET /os-quota-sets/{tenant_id}/detail`.
async fn quota_detail(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(tenant): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let d = cloud.compute.quota_detail(&ctx, tenant.clone()).await?;
    let values = d
        .into_iter()
        .map(|(k, (limit, in_use))| (k, json!({"limit": limit, "in_use": in_use, "reserved": 0})));
    Ok(axum::Json(quota_set(Some(&tenant), mv, values)))
}

/// List Default Quotas For Tenant: `GET /os-quota-sets/{tenant_id}/defaults`.
async fn quota_defaults(
    State(cloud): State<Cloud>,
    _ctx: Ctx,
    mv: Microversion,
    Path(tenant): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let lim = cloud.compute.quota_defaults().await?;
    Ok(axum::Json(quota_set(Some(&tenant), mv, numbers(lim))))
}

/// The quota_class_set body: the resources the class view shows at this
/// microversion, plus `id` (show only, as in Nova).
fn quota_class_set(id: Option<&str>, mv: Microversion, lim: BTreeMap<String, i64>) -> Value {
    let mut m: Map<String, Value> = numbers(lim)
        .filter(|(k, _)| quotas::class_shown_at(k, mv.1))
        .collect();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    json!({"quota_class_set": m})
}

/// Show the quota for Quota Class: `GET /os-quota-class-sets/{id}` (admin).
async fn quota_class_show(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let lim = cloud.compute.quota_class_show(&ctx, id.clone()).await?;
    Ok(axum::Json(quota_class_set(Some(&id), mv, lim)))
}

/// Create or Update Quotas for Quota Class: `PUT /os-quota-class-sets/{id}` (admin).
async fn quota_class_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let changes = parse_class_update(&body, mv.1)?;
    let lim = cloud.compute.quota_class_update(&ctx, id, changes).await?;
    Ok(axum::Json(quota_class_set(None, mv, lim)))
}

/// Update Quotas: `PUT /os-quota-sets/{tenant_id}` (admin).
async fn quota_update(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    Path(tenant): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<Value>> {
    ctx.require_admin()?;
    let update = parse_update(&body, mv.1)?;
    let lim = cloud.compute.quota_update(&ctx, tenant, update).await?;
    Ok(axum::Json(quota_set(None, mv, numbers(lim))))
}

/// Revert Quotas To Defaults: `DELETE /os-quota-sets/{tenant_id}` (admin) -> 202.
async fn quota_delete(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    Path(tenant): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.compute.quota_delete(&ctx, tenant).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Parses a `{"quota_set": {...}}` update: known resources (at this microversion)
/// to integers >= -1, and `force`.
fn parse_update(body: &Value, minor: u32) -> ApiResult<QuotaSetUpdate> {
    let (limits, force) = parse_limits(body, "quota_set", |k| quotas::shown_at(k, minor))?;
    Ok(QuotaSetUpdate { limits, force })
}

/// Parses a `{"quota_class_set": {...}}` update (no `force` in Nova's schema, but
/// an `id` is tolerated as for quota sets).
fn parse_class_update(body: &Value, minor: u32) -> ApiResult<BTreeMap<String, i64>> {
    let obj = body.get("quota_class_set").and_then(Value::as_object);
    if obj.is_some_and(|o| o.contains_key("force")) {
        return Err(ApiError::bad_request(
            "Additional properties are not allowed ('force' was unexpected)",
        ));
    }
    Ok(parse_limits(body, "quota_class_set", |k| {
        quotas::class_shown_at(k, minor)
    })?
    .0)
}

/// The limits of a quota update body under `key`: resources `allowed` at this
/// microversion, each an integer >= -1; and `force`.
fn parse_limits(
    body: &Value,
    key: &str,
    allowed: impl Fn(&str) -> bool,
) -> ApiResult<(BTreeMap<String, i64>, bool)> {
    let obj = body
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request(format!("'{key}' is a required property")))?;
    let mut out = BTreeMap::new();
    let mut force = false;
    for (k, v) in obj {
        if k == "force" {
            force = match v {
                Value::Bool(b) => *b,
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" | "t" | "y" => true,
                    "false" | "0" | "no" | "off" | "f" | "n" => false,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid input for field/attribute force. Value: {v}."
                        )));
                    }
                },
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute force. Value: {v}."
                    )));
                }
            };
            continue;
        }
        if k == "id" {
            continue;
        }
        if !quotas::DEFAULTS.iter().any(|(r, _)| r == k) || !allowed(k) {
            return Err(ApiError::bad_request(format!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .filter(|n| *n >= -1 && *n <= i64::from(i32::MAX))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {v}. It must be an integer of at least -1."
            ))
        })?;
        out.insert(k.clone(), n);
    }
    Ok((out, force))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_parsing() {
        let update = parse_update(
            &json!({"quota_set": {"instances": 20, "cores": "-1", "force": "True"}}),
            1,
        )
        .expect("valid");
        assert_eq!(update.limits["instances"], 20);
        assert_eq!(update.limits["cores"], -1);
        assert!(update.force);
        assert!(parse_update(&json!({"quota_set": {"instances": -2}}), 1).is_err());
        assert!(parse_update(&json!({"quota_set": {"bogus": 1}}), 1).is_err());
        assert!(parse_update(&json!({"quota_set": {"floating_ips": 1}}), 36).is_err());
        assert!(parse_update(&json!({"quota_set": {"instances": "x"}}), 1).is_err());
        assert!(parse_update(&json!({"quotas": {}}), 1).is_err());
    }
}
