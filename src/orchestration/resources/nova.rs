//! `OS::Nova::*`: key pairs and servers (the create body, user data, block
//! devices and networks Nova's API would take), and a server's attributes.

use serde_json::{Map, Value, json};

use super::lookup::{flavor_id, image_id, is_uuid, network_id, subnet_id};
use super::{Created, pick, prop_err, push, s, text_of, typed};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// `OS::Nova::KeyPair`: its public key, and its private key when
/// `save_private_key` asks for it.
pub(super) async fn keypair_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let name = s(props, "name").ok_or_else(|| prop_err(res, "Property name not assigned"))?;
    let req = crate::compute::keypairs::KeypairCreate {
        name: name.clone(),
        public_key: s(props, "public_key"),
        key_type: s(props, "type").unwrap_or_else(|| "ssh".into()),
        user_id: None,
        // Heat generates key pairs, which Nova allows below 2.92 only.
        with_at_dot: false,
    };
    let (kp, private) = cloud.compute.keypair_create(ctx, req).await?;
    let mut c = Created::id(name);
    c.attributes
        .insert("public_key".into(), Value::String(kp.public_key));
    let save = props
        .get("save_private_key")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    c.attributes.insert(
        "private_key".into(),
        Value::String(if save {
            private.unwrap_or_default()
        } else {
            String::new()
        }),
    );
    Ok(c)
}

/// `OS::Nova::Server`: the properties turned into Nova's create body, then the
/// server planned, recorded and its build started as Nova's API would.
pub(super) async fn server_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let server = server_body(cloud, ctx, res, name, props).await?;
    let body: crate::compute::servers::ServerCreateBody = typed(res, json!({"server": server}))?;
    // 2.52 (tags) and 2.19 (description) are below what the create uses here.
    let mv = crate::compute::api::microversion::Microversion(2, 52);
    let plan = cloud.compute.server_create_plan(ctx, body, mv).await?;
    let nets = plan.networks.clone();
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let servers = cloud
        .compute
        .server_create_records(ctx, plan, nets, request_id.clone())
        .await?;
    let first = servers
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no server was created")))?;
    if first.vm_state == crate::compute::model::VmState::Building {
        cloud.compute.spawn_build(
            first.id.clone(),
            std::sync::Arc::new(ctx.clone()),
            request_id,
        );
    }
    Ok(Created::id(first.id))
}

/// The `server` object of Nova's create request for a server's properties,
/// flavor and images by name or id.
async fn server_body(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    let mut server = Map::new();
    server.insert("name".into(), Value::String(name));
    let flavor = s(props, "flavor").ok_or_else(|| prop_err(res, "Property flavor not assigned"))?;
    server.insert(
        "flavorRef".into(),
        Value::String(flavor_id(cloud, ctx, res, &flavor).await?),
    );
    if let Some(i) = s(props, "image") {
        server.insert(
            "imageRef".into(),
            Value::String(image_id(cloud, ctx, res, &i).await?),
        );
    }
    for (from, to) in [
        ("key_name", "key_name"),
        ("availability_zone", "availability_zone"),
        ("admin_pass", "adminPass"),
    ] {
        if let Some(v) = s(props, from) {
            server.insert(to.into(), Value::String(v));
        }
    }
    if let Some(v) = props.get("config_drive").filter(|v| !v.is_null()) {
        server.insert("config_drive".into(), v.clone());
    }
    if let Some(Value::Object(m)) = props.get("metadata") {
        let m = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(text_of(v))))
            .collect();
        server.insert("metadata".into(), Value::Object(m));
    }
    if let Some(ud) = server_user_data(cloud, ctx, res, props).await? {
        server.insert("user_data".into(), Value::String(ud));
    }
    if let Some(Value::Array(groups)) = props.get("security_groups") {
        let g: Vec<Value> = groups
            .iter()
            .filter_map(Value::as_str)
            .map(|n| json!({"name": n}))
            .collect();
        server.insert("security_groups".into(), Value::Array(g));
    }
    if let Some(Value::Array(bdm)) = props.get("block_device_mapping_v2") {
        let out = server_block_devices(cloud, ctx, res, bdm).await?;
        server.insert("block_device_mapping_v2".into(), Value::Array(out));
    }
    let networks = server_networks(cloud, ctx, res, props).await?;
    server.insert("networks".into(), networks);
    Ok(server)
}

/// A server's `user_data`, base64 as Nova takes it, after its
/// `user_data_format` is checked.
async fn server_user_data(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Option<String>> {
    use base64::Engine;
    let format = s(props, "user_data_format").unwrap_or_else(|| "HEAT_CFNTOOLS".into());
    if !["HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG"].contains(&format.as_str()) {
        return Err(prop_err(
            res,
            format!(
                "user_data_format: \"{format}\" is not an allowed value [HEAT_CFNTOOLS, RAW, SOFTWARE_CONFIG]"
            ),
        ));
    }
    let Some(mut ud) = s(props, "user_data") else {
        return Ok(None);
    };
    // RAW and SOFTWARE_CONFIG user data naming a software config (a
    // SoftwareConfig, CloudConfig or MultipartMime resource) is its text.
    if format != "HEAT_CFNTOOLS"
        && is_uuid(&ud)
        && let Ok(sc) = cloud.orchestration.config_get(ctx, &ud).await
    {
        ud = sc.config;
    }
    // HEAT_CFNTOOLS (Heat's default, for heat-cfntools guests) is passed as
    // given, like RAW: no guest here runs cfn-init.
    if format == "SOFTWARE_CONFIG" {
        ud = crate::orchestration::mime::software_config_user_data(&ud);
    }
    Ok(Some(base64::engine::general_purpose::STANDARD.encode(ud)))
}

/// A server's `block_device_mapping_v2`: volumes by id, images by name or id
/// (made into volumes).
async fn server_block_devices(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    bdm: &[Value],
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for b in bdm {
        let Value::Object(b) = b else { continue };
        let mut o = pick(
            b,
            &[
                "boot_index",
                "delete_on_termination",
                "device_name",
                "disk_bus",
                "device_type",
                "volume_size",
            ],
        );
        if let Some(v) = s(b, "volume_id") {
            o.insert("uuid".into(), Value::String(v));
            o.insert("source_type".into(), json!("volume"));
            o.insert("destination_type".into(), json!("volume"));
        } else if let Some(i) = s(b, "image").or_else(|| s(b, "image_id")) {
            o.insert(
                "uuid".into(),
                Value::String(image_id(cloud, ctx, res, &i).await?),
            );
            o.insert("source_type".into(), json!("image"));
            o.insert("destination_type".into(), json!("volume"));
        }
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// A server's `networks`: each a port, a network by name or id, or a subnet's
/// network; `auto` when none are given.
async fn server_networks(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Value> {
    let Some(Value::Array(nets)) = props.get("networks") else {
        return Ok(Value::String("auto".into()));
    };
    let mut out = Vec::new();
    for n in nets {
        let Value::Object(n) = n else {
            return Err(prop_err(res, "networks must be a list of maps"));
        };
        let mut o = Map::new();
        if let Some(p) = s(n, "port") {
            o.insert("port".into(), Value::String(p));
        } else if let Some(net) = s(n, "network") {
            o.insert(
                "uuid".into(),
                Value::String(network_id(cloud, ctx, res, &net).await?),
            );
        } else if let Some(sub) = s(n, "subnet") {
            let sub = subnet_id(cloud, ctx, res, &sub).await?;
            let subnet = cloud.network.subnet_get(ctx, sub).await?;
            o.insert("uuid".into(), Value::String(subnet.network_id.clone()));
        } else {
            return Err(prop_err(
                res,
                "each network needs a network, port or subnet",
            ));
        }
        if let Some(ip) = s(n, "fixed_ip") {
            o.insert("fixed_ip".into(), Value::String(ip));
        }
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}

/// A server's `show`, and its address attributes (`first_address`,
/// `addresses`, `networks`) and names.
pub(super) async fn server_attributes(
    cloud: &Cloud,
    ctx: &RequestContext,
    id: &str,
    out: &mut Map<String, Value>,
) -> ApiResult<Value> {
    let s = cloud.compute.server_get(ctx, id.to_owned()).await?;
    let (first, addresses, networks) = server_addresses(cloud, ctx, &s.ports).await;
    out.insert("first_address".into(), Value::String(first));
    out.insert("addresses".into(), Value::Object(addresses));
    out.insert("networks".into(), Value::Object(networks));
    out.insert(
        "instance_name".into(),
        Value::String(s.instance_name.clone()),
    );
    out.insert("accessIPv4".into(), Value::String(s.access_ipv4.clone()));
    out.insert("accessIPv6".into(), Value::String(s.access_ipv6.clone()));
    Ok(
        json!({"id": s.id, "name": s.name, "status": format!("{:?}", s.vm_state).to_uppercase(), "flavor": {"id": s.flavor.id}, "image": {"id": s.image_id}, "key_name": s.key_name, "metadata": s.metadata}),
    )
}

/// A server's first fixed address, its `addresses` by network name as Nova
/// shows them, and its `networks` (addresses by network name and by id).
async fn server_addresses(
    cloud: &Cloud,
    ctx: &RequestContext,
    ports: &[crate::compute::model::ServerPort],
) -> (String, Map<String, Value>, Map<String, Value>) {
    let mut addresses = Map::new();
    let mut networks = Map::new();
    let mut first = String::new();
    for sp in ports {
        let Ok(port) = cloud.network.port_get(ctx, sp.port_id.clone()).await else {
            continue;
        };
        let net_name = cloud
            .network
            .network_get(ctx, port.network_id.clone())
            .await
            .map(|n| n.name)
            .unwrap_or_else(|_| port.network_id.clone());
        for ip in &port.fixed_ips {
            if first.is_empty() {
                first = ip.ip_address.clone();
            }
            let v = if ip.ip_address.contains(':') { 6 } else { 4 };
            let addr = json!({"addr": ip.ip_address, "version": v, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": port.mac_address, "port": port.std.id});
            push(&mut addresses, &net_name, addr);
            push(&mut networks, &net_name, json!(ip.ip_address));
            push(&mut networks, &port.network_id, json!(ip.ip_address));
        }
    }
    (first, addresses, networks)
}
