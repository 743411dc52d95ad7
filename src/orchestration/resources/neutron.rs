//! `OS::Neutron::*`: networks, subnets, routers and their interfaces, ports,
//! security groups and rules, floating IPs, through the network facade.

use serde_json::{Map, Value, json};

use super::lookup::{network_id, router_id, security_group_ids, subnet_id};
use super::{Created, add_value_specs, named_or_id, pick, prop_err, s, to_json, typed};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

/// `OS::Neutron::Net`.
pub(super) async fn net_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let mut body = pick(
        props,
        &[
            "admin_state_up",
            "shared",
            "port_security_enabled",
            "dns_domain",
            "tags",
            "mtu",
        ],
    );
    body.insert("name".into(), Value::String(name));
    add_value_specs(&mut body, props);
    let input = typed(res, Value::Object(body))?;
    Ok(Created::id(
        cloud.network.network_create(ctx, input).await?.std.id,
    ))
}

/// `OS::Neutron::Subnet`, on a network given by name or id.
pub(super) async fn subnet_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let net = named_or_id(res, props, "network")?;
    let mut body = pick(
        props,
        &[
            "cidr",
            "ip_version",
            "gateway_ip",
            "enable_dhcp",
            "dns_nameservers",
            "allocation_pools",
            "host_routes",
            "prefixlen",
            "ipv6_ra_mode",
            "ipv6_address_mode",
            "tags",
        ],
    );
    body.insert("name".into(), Value::String(name));
    body.insert(
        "network_id".into(),
        Value::String(network_id(cloud, ctx, res, &net).await?),
    );
    body.entry("ip_version").or_insert(json!(4));
    if let Some(p) = s(props, "subnetpool") {
        body.insert("subnetpool_id".into(), Value::String(p));
    }
    add_value_specs(&mut body, props);
    let input = typed(res, Value::Object(body))?;
    Ok(Created::id(
        cloud.network.subnet_create(ctx, input).await?.std.id,
    ))
}

/// `OS::Neutron::Router`, with its external gateway's network by name or id.
pub(super) async fn router_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let mut body = pick(props, &["admin_state_up", "tags"]);
    body.insert("name".into(), Value::String(name));
    if let Some(Value::Object(gw)) = props.get("external_gateway_info") {
        let net = s(gw, "network")
            .or_else(|| s(gw, "network_id"))
            .ok_or_else(|| prop_err(res, "external_gateway_info needs a network"))?;
        let mut g = pick(gw, &["enable_snat"]);
        g.insert(
            "network_id".into(),
            Value::String(network_id(cloud, ctx, res, &net).await?),
        );
        body.insert("external_gateway_info".into(), Value::Object(g));
    }
    add_value_specs(&mut body, props);
    let input = typed(res, Value::Object(body))?;
    Ok(Created::id(
        cloud.network.router_create(ctx, input).await?.std.id,
    ))
}

/// `OS::Neutron::RouterInterface`: a subnet or a port plugged into a router;
/// its id is `<router>:subnet_id=<id>` or `<router>:port_id=<id>`.
pub(super) async fn router_interface_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let router = named_or_id(res, props, "router")?;
    let router = router_id(cloud, ctx, res, &router).await?;
    let (key, req) = if let Some(sub) = s(props, "subnet").or_else(|| s(props, "subnet_id")) {
        let sub = subnet_id(cloud, ctx, res, &sub).await?;
        (format!("subnet_id={sub}"), json!({"subnet_id": sub}))
    } else if let Some(port) = s(props, "port").or_else(|| s(props, "port_id")) {
        (format!("port_id={port}"), json!({"port_id": port}))
    } else {
        return Err(prop_err(
            res,
            "At least one of the following properties must be specified: subnet, port.",
        ));
    };
    cloud
        .network
        .router_add_interface(ctx, router.clone(), typed(res, req)?)
        .await?;
    Ok(Created::id(format!("{router}:{key}")))
}

/// `OS::Neutron::Port`, its network, subnets and security groups by name or id.
pub(super) async fn port_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let net = named_or_id(res, props, "network")?;
    let mut body = pick(
        props,
        &[
            "mac_address",
            "admin_state_up",
            "port_security_enabled",
            "allowed_address_pairs",
            "device_id",
            "device_owner",
            "binding:vnic_type",
            "tags",
            "dns_name",
        ],
    );
    body.insert("name".into(), Value::String(name));
    body.insert(
        "network_id".into(),
        Value::String(network_id(cloud, ctx, res, &net).await?),
    );
    if let Some(Value::Array(ips)) = props.get("fixed_ips") {
        body.insert(
            "fixed_ips".into(),
            Value::Array(port_fixed_ips(cloud, ctx, res, ips).await?),
        );
    }
    if let Some(g) = props.get("security_groups").filter(|v| !v.is_null()) {
        body.insert(
            "security_groups".into(),
            json!(security_group_ids(cloud, ctx, res, g).await?),
        );
    }
    add_value_specs(&mut body, props);
    let input = typed(res, Value::Object(body))?;
    Ok(Created::id(
        cloud.network.port_create(ctx, input).await?.std.id,
    ))
}

/// A port's `fixed_ips` as Neutron takes them, subnets named or by id.
async fn port_fixed_ips(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    ips: &[Value],
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for ip in ips {
        let Value::Object(ip) = ip else {
            return Err(prop_err(res, "fixed_ips must be a list of maps"));
        };
        let mut o = Map::new();
        if let Some(sub) = s(ip, "subnet").or_else(|| s(ip, "subnet_id")) {
            o.insert(
                "subnet_id".into(),
                Value::String(subnet_id(cloud, ctx, res, &sub).await?),
            );
        }
        if let Some(a) = s(ip, "ip_address") {
            o.insert("ip_address".into(), Value::String(a));
        }
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// `OS::Neutron::SecurityGroup` and its `rules`; a group whose rules cannot all
/// be added is removed, so nothing is left behind.
pub(super) async fn security_group_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let mut body = pick(props, &["description"]);
    body.insert("name".into(), Value::String(name));
    let sg = cloud
        .network
        .security_group_create(ctx, typed(res, Value::Object(body))?)
        .await?;
    let id = sg.std.id.clone();
    if let Some(Value::Array(rules)) = props.get("rules") {
        for r in rules {
            let Value::Object(r) = r else {
                return Err(prop_err(res, "rules must be a list of maps"));
            };
            if let Err(e) = add_rule(cloud, ctx, res, &id, r).await {
                if let Err(de) = cloud.network.security_group_delete(ctx, id.clone()).await {
                    tracing::warn!(error = %de, group = %id, "could not remove a half-created security group");
                }
                return Err(e);
            }
        }
    }
    Ok(Created::id(id))
}

/// `OS::Neutron::SecurityGroupRule`, its group and remote group by name or id.
pub(super) async fn security_group_rule_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let sg = s(props, "security_group")
        .ok_or_else(|| prop_err(res, "Property security_group not assigned"))?;
    let sg = security_group_ids(cloud, ctx, res, &json!([sg]))
        .await?
        .remove(0);
    let mut r = props.clone();
    if let Some(g) = s(props, "remote_group") {
        r.insert("remote_group_id".into(), Value::String(g));
    }
    r.remove("security_group");
    r.remove("remote_group");
    Ok(Created::id(add_rule(cloud, ctx, res, &sg, &r).await?))
}

/// `OS::Neutron::FloatingIP` on an external network (and subnet) by name or id.
pub(super) async fn floating_ip_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let net = named_or_id(res, props, "floating_network")?;
    let mut body = pick(
        props,
        &["port_id", "fixed_ip_address", "floating_ip_address"],
    );
    body.insert(
        "floating_network_id".into(),
        Value::String(network_id(cloud, ctx, res, &net).await?),
    );
    if let Some(sub) = s(props, "floating_subnet") {
        body.insert(
            "subnet_id".into(),
            Value::String(subnet_id(cloud, ctx, res, &sub).await?),
        );
    }
    let input = typed(res, Value::Object(body))?;
    Ok(Created::id(
        cloud.network.floating_ip_create(ctx, input).await?.std.id,
    ))
}

/// `OS::Neutron::FloatingIPAssociation`: the floating IP's id, now on a port.
pub(super) async fn floating_ip_association_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let fip = s(props, "floatingip_id")
        .ok_or_else(|| prop_err(res, "Property floatingip_id not assigned"))?;
    let body = pick(props, &["port_id", "fixed_ip_address"]);
    cloud
        .network
        .floating_ip_update(ctx, fip.clone(), typed(res, Value::Object(body))?, None)
        .await?;
    Ok(Created::id(fip))
}

async fn add_rule(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    group: &str,
    r: &Map<String, Value>,
) -> ApiResult<String> {
    let mut body = pick(
        r,
        &[
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "description",
        ],
    );
    body.insert("security_group_id".into(), Value::String(group.to_owned()));
    // Ports given as text (a `repeat` over a list parameter) are numbers.
    for k in ["port_range_min", "port_range_max"] {
        if let Some(Value::String(p)) = body.get(k)
            && let Ok(n) = p.trim().parse::<u32>()
        {
            body.insert(k.into(), json!(n));
        }
    }
    body.entry("direction").or_insert(json!("ingress"));
    body.entry("ethertype").or_insert(json!("IPv4"));
    if r.get("remote_mode").and_then(Value::as_str) == Some("remote_group_id")
        && !body.contains_key("remote_group_id")
    {
        body.insert("remote_group_id".into(), Value::String(group.to_owned()));
    }
    let input = typed(res, Value::Object(body))?;
    Ok(cloud
        .network
        .security_group_rule_create(ctx, input)
        .await?
        .std
        .id)
}

/// A port's `show`, and its `subnets` attribute.
pub(super) async fn port_attributes(
    cloud: &Cloud,
    ctx: &RequestContext,
    id: &str,
    out: &mut Map<String, Value>,
) -> ApiResult<Value> {
    let p = to_json(cloud.network.port_get(ctx, id.to_owned()).await?);
    if let Value::Object(m) = &p {
        let subnets: Vec<Value> = m
            .get("fixed_ips")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("subnet_id").cloned())
            .collect();
        out.insert("subnets".into(), Value::Array(subnets));
    }
    Ok(p)
}

/// The Neutron side of [`delete_call`].
pub(super) async fn network_delete_call(
    cloud: &Cloud,
    ctx: &RequestContext,
    kind: &str,
    id: &str,
) -> ApiResult<bool> {
    let net = &cloud.network;
    let id_ = id.to_owned();
    match kind {
        "OS::Neutron::Net" => net.network_delete(ctx, id_).await?,
        "OS::Neutron::Subnet" => net.subnet_delete(ctx, id_).await?,
        "OS::Neutron::Router" => net.router_delete(ctx, id_).await?,
        "OS::Neutron::RouterInterface" => {
            let (router, key) = id.split_once(':').unwrap_or((id, ""));
            let req = match key.split_once('=') {
                Some(("subnet_id", s)) => json!({"subnet_id": s}),
                Some(("port_id", p)) => json!({"port_id": p}),
                _ => return Ok(false),
            };
            net.router_remove_interface(ctx, router.to_owned(), typed("interface", req)?)
                .await?;
        }
        "OS::Neutron::Port" => net.port_delete(ctx, id_).await?,
        "OS::Neutron::SecurityGroup" => net.security_group_delete(ctx, id_).await?,
        "OS::Neutron::SecurityGroupRule" => net.security_group_rule_delete(ctx, id_).await?,
        "OS::Neutron::FloatingIP" => net.floating_ip_delete(ctx, id_).await?,
        "OS::Neutron::FloatingIPAssociation" => {
            let input = typed("association", json!({"port_id": null}))?;
            net.floating_ip_update(ctx, id_, input, None).await?;
        }
        _ => {}
    }
    Ok(true)
}
