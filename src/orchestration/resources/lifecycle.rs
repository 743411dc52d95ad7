//! What happens to a resource after its create: updates in place, waiting until
//! the slow ones (servers, volumes) are ready, its attributes, and its delete
//! (which waits until it is gone).

use serde_json::{Map, Value};
use std::time::Duration;

use super::cinder::volume_attributes;
use super::heat::{test_resource_fail, test_resource_wait};
use super::neutron::{network_delete_call, port_attributes};
use super::nova::server_attributes;
use super::schema::updatable;
use super::{to_json, typed};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Applies changed properties in place when the type allows it for every
/// changed one (`Ok(false)`: the resource must be replaced instead).
pub(in crate::orchestration) async fn update_in_place(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> ApiResult<bool> {
    let allowed = updatable(kind);
    let changed: Vec<&String> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .collect();
    if changed.is_empty() {
        return Ok(true);
    }
    // A property that went away reverts to its default, which a partial update
    // cannot express: replace.
    if changed
        .iter()
        .any(|k| !allowed.contains(&k.as_str()) || !new.contains_key(*k))
    {
        return Ok(false);
    }
    let body: Map<String, Value> = changed
        .iter()
        .filter_map(|k| new.get(*k).map(|v| ((*k).clone(), v.clone())))
        .collect();
    update_apply(cloud, ctx, kind, id, body, new).await
}

/// Sends the changed properties (`body`) to the owning service; `Ok(false)`
/// when the resource must be replaced instead.
async fn update_apply(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
    body: Map<String, Value>,
    new: &Map<String, Value>,
) -> ApiResult<bool> {
    match kind {
        "OS::Neutron::Net" => {
            let input = typed("update", Value::Object(body))?;
            cloud
                .network
                .network_update(ctx, id.to_owned(), input, None)
                .await?;
        }
        "OS::Neutron::Subnet" => {
            let input = typed("update", Value::Object(body))?;
            cloud
                .network
                .subnet_update(ctx, id.to_owned(), input, None)
                .await?;
        }
        "OS::Heat::Value" => {}
        "OS::Heat::TestResource" => {
            if new
                .get("update_replace")
                .is_some_and(crate::orchestration::template::truth)
            {
                return Ok(false);
            }
            test_resource_wait(new, "update").await;
            test_resource_fail(new)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Waits until a resource is usable: a server ACTIVE, a volume available.
pub(in crate::orchestration) async fn wait_ready(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
    deadline: tokio::time::Instant,
) -> ApiResult<()> {
    loop {
        if ready(cloud, ctx, kind, id).await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Conflict(
                "Resource CREATE failed: timed out".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether a resource is usable now; a status it cannot leave for a usable one
/// is the create's failure.
async fn ready(cloud: &Cloud, ctx: &RequestContext, kind: &str, id: &str) -> ApiResult<bool> {
    use crate::compute::model::VmState;
    match kind {
        "OS::Nova::Server" => {
            let s = cloud.compute.server_get(ctx, id.to_owned()).await?;
            match s.vm_state {
                VmState::Active => Ok(true),
                VmState::Error => {
                    let why = s.fault.map(|f| f.message).unwrap_or_default();
                    Err(ApiError::Conflict(format!(
                        "Went to status ERROR due to \"Message: {why}\""
                    )))
                }
                _ => Ok(false),
            }
        }
        "OS::Cinder::VolumeAttachment" => {
            let (_, vol) = id.split_once(':').unwrap_or(("", id));
            let v = cloud.volume.volume_get(ctx, vol.to_owned()).await?;
            match v.status.as_str() {
                "in-use" => Ok(true),
                "error" | "error_attaching" | "available" => Err(ApiError::Conflict(format!(
                    "Volume {vol} went to status {} while attaching",
                    v.status.as_str()
                ))),
                _ => Ok(false),
            }
        }
        "OS::Cinder::Volume" => {
            let v = cloud.volume.volume_get(ctx, id.to_owned()).await?;
            match v.status.as_str() {
                "available" => Ok(true),
                "error" => Err(ApiError::Conflict(
                    "Went to status error due to \"Unknown\"".into(),
                )),
                _ => Ok(false),
            }
        }
        _ => Ok(true),
    }
}

/// The attributes of a resource now, merged over what its create recorded.
pub(in crate::orchestration) async fn attributes(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
    recorded: &Value,
) -> ApiResult<Value> {
    let mut out = match recorded {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let net = &cloud.network;
    let show: Value = match kind {
        "OS::Neutron::Net" => to_json(net.network_get(ctx, id.to_owned()).await?),
        "OS::Neutron::Subnet" => to_json(net.subnet_get(ctx, id.to_owned()).await?),
        "OS::Neutron::Router" => to_json(net.router_get(ctx, id.to_owned()).await?),
        "OS::Neutron::Port" => port_attributes(cloud, ctx, id, &mut out).await?,
        "OS::Neutron::SecurityGroup" => {
            to_json(net.security_group_get(ctx, id.to_owned()).await?.0)
        }
        "OS::Neutron::FloatingIP" => to_json(net.floating_ip_get(ctx, id.to_owned()).await?),
        "OS::Nova::Server" => server_attributes(cloud, ctx, id, &mut out).await?,
        "OS::Cinder::Volume" => volume_attributes(cloud, ctx, id, &mut out).await?,
        _ => Value::Object(out.clone()),
    };
    if let Value::Object(m) = &show {
        for (k, v) in m {
            out.entry(k.clone()).or_insert(v.clone());
        }
    }
    out.insert("show".into(), show);
    Ok(Value::Object(out))
}

pub(super) fn gone(e: &ApiError) -> bool {
    matches!(e, ApiError::NotFound { .. } | ApiError::Missing(_))
        || matches!(e, ApiError::Typed { status, .. } if *status == axum::http::StatusCode::NOT_FOUND)
}

/// Deletes a resource and waits until it is gone; one already gone is fine, so
/// a delete can be replayed after a restart.
pub(in crate::orchestration) async fn delete(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
    deadline: tokio::time::Instant,
) -> ApiResult<()> {
    if id.is_empty() {
        return Ok(());
    }
    match delete_call(cloud, ctx, kind, id).await {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e),
    }
    loop {
        if !still_there(cloud, ctx, kind, id).await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Conflict(format!(
                "Timed out deleting {kind} {id}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asks the owning service to delete a resource; `false` when its id names
/// nothing to delete (and so nothing to wait for).
async fn delete_call(cloud: &Cloud, ctx: &RequestContext, kind: &str, id: &str) -> ApiResult<bool> {
    let req_id = || format!("req-{}", uuid::Uuid::new_v4());
    match kind {
        k if k.starts_with("OS::Neutron::") => return network_delete_call(cloud, ctx, k, id).await,
        "OS::Nova::KeyPair" => {
            cloud
                .compute
                .keypair_delete(ctx, id.to_owned(), None)
                .await?
        }
        "OS::Heat::SoftwareConfig" | "OS::Heat::CloudConfig" | "OS::Heat::MultipartMime" => {
            cloud.orchestration.config_delete(ctx, id).await?
        }
        "OS::Heat::WaitConditionHandle" => {
            cloud.orchestration.signals_clear(id).await?;
            // Its credential goes with it (a handle made before handles had
            // one has none of that id: nothing to revoke).
            cloud.identity.call_credential_revoke(ctx, id).await?
        }
        "OS::Cinder::VolumeAttachment" => {
            let Some((server, vol)) = id.split_once(':') else {
                return Ok(false);
            };
            let (server, vol) = (server.to_owned(), vol.to_owned());
            cloud
                .compute
                .volume_detach(ctx, server, vol, req_id(), true)
                .await?
        }
        "OS::Nova::Server" => {
            cloud
                .compute
                .server_delete(ctx, id.to_owned(), req_id())
                .await?
        }
        "OS::Cinder::Volume" => {
            cloud
                .volume
                .volume_delete(ctx, id.to_owned(), false, false)
                .await?
        }
        _ => {}
    }
    Ok(true)
}

/// Whether a deleted resource is still there: a server until it is DELETED, an
/// attachment until the guest lets go (the detach goes on in the background),
/// a volume until it is gone (its `error_deleting` is a failure).
async fn still_there(cloud: &Cloud, ctx: &RequestContext, kind: &str, id: &str) -> ApiResult<bool> {
    let r = match kind {
        "OS::Nova::Server" => cloud
            .compute
            .server_get(ctx, id.to_owned())
            .await
            .map(|s| s.vm_state != crate::compute::model::VmState::Deleted),
        "OS::Cinder::VolumeAttachment" => {
            let (server, vol) = id.split_once(':').unwrap_or(("", id));
            cloud
                .compute
                .volume_attachment_get(ctx, server.to_owned(), vol.to_owned())
                .await
                .map(|_| true)
        }
        "OS::Cinder::Volume" => match cloud.volume.volume_get(ctx, id.to_owned()).await {
            Ok(v) if v.status.as_str() == "error_deleting" => {
                return Err(ApiError::Conflict(format!(
                    "Volume {id} went to status error_deleting"
                )));
            }
            r => r.map(|_| true),
        },
        _ => Ok(false),
    };
    match r {
        Err(e) if gone(&e) => Ok(false),
        r => r,
    }
}
