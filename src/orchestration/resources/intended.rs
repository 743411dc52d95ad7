//! After a restart, a resource whose create was under way may exist without its
//! row: `find_intended` finds it by the name recorded as its intent and the time
//! the create began, so a resumed stack adopts it instead of making a second one.

use serde_json::{Map, Value};

use super::lifecycle::gone;
use super::lookup::{router_id, subnet_id};
use super::s;
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

/// Whether a service timestamp is at or after `since` (one that cannot be read
/// counts as after: the name already matched).
fn made_since(ts: &str, since: chrono::DateTime<chrono::Utc>) -> bool {
    crate::http::time::parse(ts).map_or(true, |t| t >= since)
}

/// After a crash between a create call and the recording of its physical id:
/// the id of what that call made, found by the name it was given (`intent`) and
/// made no earlier than the intent was recorded, so a like-named older thing is
/// never taken. `None` when nothing was made, or when what was made is
/// incomplete and was removed here (a security group whose rules were being
/// added); the create then simply runs again.
pub(in crate::orchestration) async fn find_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    intent: &str,
    since: chrono::DateTime<chrono::Utc>,
    props: &Map<String, Value>,
) -> ApiResult<Option<String>> {
    let fresh = |name: &str, ts: &str| name == intent && made_since(ts, since);
    match kind {
        "OS::Neutron::Net"
        | "OS::Neutron::Subnet"
        | "OS::Neutron::Router"
        | "OS::Neutron::Port" => network_intended(cloud, ctx, kind, &fresh).await,
        "OS::Neutron::SecurityGroup" => {
            security_group_intended_removed(cloud, ctx, &fresh).await?;
            Ok(None)
        }
        "OS::Neutron::FloatingIP" => floating_ip_intended(cloud, ctx, since, props).await,
        "OS::Neutron::RouterInterface" => router_interface_intended(cloud, ctx, props).await,
        "OS::Heat::WaitConditionHandle" => cloud.identity.call_credential_find(ctx, intent).await,
        "OS::Heat::SoftwareConfig" | "OS::Heat::CloudConfig" | "OS::Heat::MultipartMime" => {
            Ok(cloud
                .orchestration
                .config_list(ctx)
                .await?
                .into_iter()
                .find(|c| fresh(&c.name, &c.created_at))
                .map(|c| c.id))
        }
        "OS::Nova::KeyPair" => keypair_intended(cloud, ctx, intent, since).await,
        "OS::Nova::Server" => Ok(cloud
            .compute
            .server_list(ctx, false, None, false)
            .await?
            .into_iter()
            .find(|v| fresh(&v.name, &v.created_at))
            .map(|v| v.id)),
        "OS::Cinder::Volume" => Ok(cloud
            .volume
            .volume_list(ctx, Default::default())
            .await?
            .into_iter()
            .find(|v| v.name.as_deref() == Some(intent) && made_since(&v.created_at, since))
            .map(|v| v.id)),
        "OS::Cinder::VolumeAttachment" => Ok(volume_attachment_intended(cloud, ctx, props).await),
        // Nothing outside the engine (random strings, values), or a change that
        // is simply made again (an association), or a child stack whose id is
        // recorded before it is made.
        _ => Ok(None),
    }
}

/// The intended network, subnet (both of the caller's project), router or port.
async fn network_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    fresh: &impl Fn(&str, &str) -> bool,
) -> ApiResult<Option<String>> {
    let own = |project: &str| ctx.project_id() == Some(project);
    let found = match kind {
        "OS::Neutron::Net" => cloud
            .network
            .network_list(ctx)
            .await?
            .into_iter()
            .find(|n| fresh(&n.name, &n.std.created_at) && own(&n.std.project_id))
            .map(|n| n.std.id),
        "OS::Neutron::Subnet" => cloud
            .network
            .subnet_list(ctx)
            .await?
            .into_iter()
            .find(|n| fresh(&n.name, &n.std.created_at) && own(&n.std.project_id))
            .map(|n| n.std.id),
        "OS::Neutron::Router" => cloud
            .network
            .router_list(ctx)
            .await?
            .into_iter()
            .find(|n| fresh(&n.name, &n.std.created_at))
            .map(|n| n.std.id),
        "OS::Neutron::Port" => cloud
            .network
            .port_list(ctx)
            .await?
            .into_iter()
            .find(|n| fresh(&n.name, &n.std.created_at))
            .map(|n| n.std.id),
        _ => None,
    };
    Ok(found)
}

/// An intended security group's rules may be half added: it is removed, and
/// the create runs again.
async fn security_group_intended_removed(
    cloud: &Cloud,
    ctx: &RequestContext,
    fresh: &impl Fn(&str, &str) -> bool,
) -> ApiResult<()> {
    let made = cloud
        .network
        .security_group_list(ctx)
        .await?
        .into_iter()
        .find(|(g, _)| fresh(&g.name, &g.std.created_at))
        .map(|(g, _)| g.std.id);
    if let Some(id) = made {
        match cloud.network.security_group_delete(ctx, id).await {
            Ok(()) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A floating IP has no name: the one made since the intent, on the intended
/// port when one was given.
async fn floating_ip_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    since: chrono::DateTime<chrono::Utc>,
    props: &Map<String, Value>,
) -> ApiResult<Option<String>> {
    let port = s(props, "port_id");
    Ok(cloud
        .network
        .floating_ip_list(ctx)
        .await?
        .into_iter()
        .filter(|f| made_since(&f.std.created_at, since))
        .find(|f| port.is_none() || f.port_id == port)
        .map(|f| f.std.id))
}

/// A router interface is found by the router's port on the subnet, or by the
/// given port now on the router.
async fn router_interface_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    props: &Map<String, Value>,
) -> ApiResult<Option<String>> {
    let router = s(props, "router").or_else(|| s(props, "router_id"));
    let sub = s(props, "subnet").or_else(|| s(props, "subnet_id"));
    let port = s(props, "port").or_else(|| s(props, "port_id"));
    match (router, sub, port) {
        (Some(router), Some(sub), _) => {
            let router = router_id(cloud, ctx, "recover", &router).await?;
            let sub = subnet_id(cloud, ctx, "recover", &sub).await?;
            let plugged = cloud.network.port_list(ctx).await?.into_iter().any(|p| {
                p.device_id == router
                    && p.device_owner == crate::network::model::OWNER_ROUTER_INTERFACE
                    && p.fixed_ips.iter().any(|f| f.subnet_id == sub)
            });
            Ok(plugged.then(|| format!("{router}:subnet_id={sub}")))
        }
        (Some(router), None, Some(port)) => {
            let router = router_id(cloud, ctx, "recover", &router).await?;
            let plugged = cloud
                .network
                .port_get(ctx, port.clone())
                .await
                .is_ok_and(|p| p.device_id == router);
            Ok(plugged.then(|| format!("{router}:port_id={port}")))
        }
        _ => Ok(None),
    }
}

/// A key pair is named by the intent itself; it counts when made since.
async fn keypair_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    intent: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Option<String>> {
    match cloud
        .compute
        .keypair_show(ctx, intent.to_owned(), None)
        .await
    {
        Ok((_, k)) if made_since(&k.created_at, since) => Ok(Some(k.name)),
        Ok(_) => Ok(None),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A volume attachment is there when the server has the volume.
async fn volume_attachment_intended(
    cloud: &Cloud,
    ctx: &RequestContext,
    props: &Map<String, Value>,
) -> Option<String> {
    let (Some(server), Some(vol)) = (s(props, "instance_uuid"), s(props, "volume_id")) else {
        return None;
    };
    cloud
        .compute
        .volume_attachment_get(ctx, server.clone(), vol.clone())
        .await
        .is_ok()
        .then(|| format!("{server}:{vol}"))
}
