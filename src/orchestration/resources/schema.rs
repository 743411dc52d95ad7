//! What each resource type takes and shows, as Heat's resource plugins declare
//! it: its properties, the required ones, its attributes and the properties it can
//! change in place; a template's resource definitions are checked against them.

use serde_json::{Map, Value, json};

use crate::http::error::{ApiError, ApiResult};

/// The resource types this engine can create, with the properties each takes
/// (Heat's property schemas, less the ones that are not implemented).
const TYPES: &[(&str, &[&str])] = &[
    (
        "OS::Heat::RandomString",
        &[
            "length",
            "sequence",
            "character_classes",
            "character_sequences",
            "salt",
        ],
    ),
    ("OS::Heat::Value", &["value", "type"]),
    ("OS::Heat::None", &[]),
    (
        "OS::Heat::SoftwareConfig",
        &["group", "config", "inputs", "outputs", "options"],
    ),
    ("OS::Heat::CloudConfig", &["cloud_config"]),
    ("OS::Heat::MultipartMime", &["parts", "group"]),
    ("OS::Heat::WaitConditionHandle", &["signal_transport"]),
    ("OS::Heat::WaitCondition", &["handle", "timeout", "count"]),
    (
        "OS::Heat::TestResource",
        &[
            "value",
            "update_replace",
            "update_replace_value",
            "fail",
            "client_name",
            "entity_name",
            "wait_secs",
            "action_wait_secs",
            "attr_wait_secs",
            "constraint_prop_secs",
        ],
    ),
    (
        "OS::Neutron::Net",
        &[
            "name",
            "admin_state_up",
            "shared",
            "port_security_enabled",
            "value_specs",
            "tenant_id",
            "dns_domain",
            "tags",
            "mtu",
        ],
    ),
    (
        "OS::Neutron::Subnet",
        &[
            "name",
            "network",
            "network_id",
            "cidr",
            "ip_version",
            "gateway_ip",
            "enable_dhcp",
            "dns_nameservers",
            "allocation_pools",
            "host_routes",
            "subnetpool",
            "prefixlen",
            "tenant_id",
            "value_specs",
            "ipv6_ra_mode",
            "ipv6_address_mode",
            "tags",
        ],
    ),
    (
        "OS::Neutron::Router",
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "value_specs",
            "tags",
        ],
    ),
    (
        "OS::Neutron::RouterInterface",
        &[
            "router",
            "router_id",
            "subnet",
            "subnet_id",
            "port",
            "port_id",
        ],
    ),
    (
        "OS::Neutron::Port",
        &[
            "name",
            "network",
            "network_id",
            "fixed_ips",
            "security_groups",
            "mac_address",
            "admin_state_up",
            "port_security_enabled",
            "allowed_address_pairs",
            "device_id",
            "device_owner",
            "value_specs",
            "binding:vnic_type",
            "tags",
            "dns_name",
        ],
    ),
    (
        "OS::Neutron::SecurityGroup",
        &["name", "description", "rules"],
    ),
    (
        "OS::Neutron::SecurityGroupRule",
        &[
            "security_group",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group",
            "description",
        ],
    ),
    (
        "OS::Neutron::FloatingIP",
        &[
            "floating_network",
            "floating_network_id",
            "port_id",
            "fixed_ip_address",
            "floating_ip_address",
            "value_specs",
            "floating_subnet",
        ],
    ),
    (
        "OS::Neutron::FloatingIPAssociation",
        &["floatingip_id", "port_id", "fixed_ip_address"],
    ),
    (
        "OS::Nova::KeyPair",
        &["name", "public_key", "save_private_key", "type", "user"],
    ),
    (
        "OS::Nova::Server",
        &[
            "name",
            "image",
            "flavor",
            "key_name",
            "networks",
            "security_groups",
            "user_data",
            "user_data_format",
            "metadata",
            "config_drive",
            "availability_zone",
            "admin_pass",
            "block_device_mapping_v2",
            "software_config_transport",
            "flavor_update_policy",
            "image_update_policy",
            "scheduler_hints",
            "tags",
            "diskConfig",
        ],
    ),
    (
        "OS::Cinder::Volume",
        &[
            "name",
            "description",
            "size",
            "volume_type",
            "availability_zone",
            "metadata",
            "image",
            "source_volid",
            "snapshot_id",
        ],
    ),
    (
        "OS::Cinder::VolumeAttachment",
        &["instance_uuid", "volume_id", "mountpoint"],
    ),
];

/// Properties each type requires.
const REQUIRED: &[(&str, &[&str])] = &[
    ("OS::Nova::KeyPair", &["name"]),
    ("OS::Heat::WaitCondition", &["handle", "timeout"]),
    ("OS::Nova::Server", &["flavor"]),
    ("OS::Neutron::SecurityGroupRule", &["security_group"]),
    (
        "OS::Neutron::FloatingIPAssociation",
        &["floatingip_id", "port_id"],
    ),
    (
        "OS::Cinder::VolumeAttachment",
        &["instance_uuid", "volume_id"],
    ),
];

/// Every type name served, for `GET /resource_types`.
pub(in crate::orchestration) fn type_names() -> Vec<&'static str> {
    let mut out: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
    out.extend([
        crate::orchestration::nested::GROUP,
        crate::orchestration::nested::STACK,
    ]);
    out.sort_unstable();
    out
}

/// A type's schema for `GET /resource_types/{type}`: its properties (whether
/// required, whether an update changes them in place, the defaults Heat
/// documents) and attributes.
pub(in crate::orchestration) fn type_schema(kind: &str) -> Option<Value> {
    let props: &[&str] = match kind {
        crate::orchestration::nested::GROUP => crate::orchestration::nested::GROUP_PROPS,
        crate::orchestration::nested::STACK => crate::orchestration::nested::STACK_PROPS,
        _ => TYPES.iter().find(|(t, _)| *t == kind)?.1,
    };
    let required = REQUIRED
        .iter()
        .find(|(t, _)| *t == kind)
        .map(|(_, r)| *r)
        .unwrap_or(&[]);
    let defaults: &[(&str, Value)] = &[
        ("wait_secs", json!(0)),
        ("value", json!("")),
        ("fail", json!(false)),
        ("update_replace", json!(false)),
        ("length", json!(32)),
        ("count", json!(1)),
        ("index_var", json!("%index%")),
    ];
    let properties: Map<String, Value> = props
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("type".into(), json!("string"));
            m.insert("required".into(), json!(required.contains(p)));
            m.insert("update_allowed".into(), json!(updatable(kind).contains(p)));
            m.insert("immutable".into(), json!(false));
            m.insert("description".into(), json!(""));
            if let Some((_, d)) = defaults.iter().find(|(k, _)| k == p)
                && (kind == "OS::Heat::TestResource"
                    || matches!(*p, "length" | "count" | "index_var"))
            {
                m.insert("default".into(), d.clone());
            }
            ((*p).to_owned(), Value::Object(m))
        })
        .collect();
    let attributes: Map<String, Value> = attribute_names(kind)
        .unwrap_or_default()
        .iter()
        .chain(["show"].iter())
        .map(|a| {
            (
                (*a).to_owned(),
                json!({"description": "", "type": "string"}),
            )
        })
        .collect();
    Some(json!({
        "resource_type": kind,
        "properties": properties,
        "attributes": attributes,
        "support_status": {"status": "SUPPORTED", "version": null, "message": null, "previous_status": null},
        "description": "",
    }))
}

/// The HOT template that makes one resource of a type from parameters, for
/// `GET /resource_types/{type}/template`.
pub(in crate::orchestration) fn type_template(kind: &str) -> Option<Value> {
    let schema = type_schema(kind)?;
    let props = schema.get("properties").and_then(Value::as_object)?;
    let attrs = schema.get("attributes").and_then(Value::as_object)?;
    let short = kind.rsplit("::").next().unwrap_or(kind).to_owned();
    let parameters: Map<String, Value> = props
        .keys()
        .map(|p| (p.clone(), json!({"type": "string", "description": ""})))
        .collect();
    let properties: Map<String, Value> = props
        .keys()
        .map(|p| (p.clone(), json!({"get_param": p})))
        .collect();
    let outputs: Map<String, Value> = attrs
        .keys()
        .map(|a| {
            (
                a.clone(),
                json!({"value": {"get_attr": [short, a]}, "description": ""}),
            )
        })
        .collect();
    Some(json!({
        "heat_template_version": "2016-10-14",
        "description": format!("Initial template of {short}"),
        "parameters": parameters,
        "resources": {short.clone(): {"type": kind, "properties": properties}},
        "outputs": outputs,
    }))
}

/// Checks a resource's type and property names before anything is created.
pub(in crate::orchestration) fn check_definition(
    name: &str,
    kind: &str,
    props: &Value,
) -> ApiResult<()> {
    let Some((_, allowed)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        return Err(ApiError::bad_request(format!(
            "Failed to validate: The Resource Type ({kind}) could not be found. (resource {name})"
        )));
    };
    if let Value::Object(m) = props {
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "Property error: resources.{name}.properties: Unknown Property {k}"
            )));
        }
        if let Some((_, req)) = REQUIRED.iter().find(|(t, _)| *t == kind)
            && let Some(k) = req.iter().find(|k| !m.contains_key(**k))
        {
            return Err(ApiError::bad_request(format!(
                "Property error: resources.{name}.properties: Property {k} not assigned"
            )));
        }
    }
    Ok(())
}

/// The attributes `get_attr` may name for each type (besides `show`).
const ATTRIBUTES: &[(&str, &[&str])] = &[
    ("OS::Heat::RandomString", &["value"]),
    ("OS::Heat::Value", &["value"]),
    ("OS::Heat::TestResource", &["output"]),
    ("OS::Heat::SoftwareConfig", &["config"]),
    ("OS::Heat::CloudConfig", &["config"]),
    ("OS::Heat::MultipartMime", &["config"]),
    (
        "OS::Heat::WaitConditionHandle",
        &["token", "endpoint", "curl_cli", "signal"],
    ),
    ("OS::Heat::WaitCondition", &["data"]),
    (
        "OS::Neutron::Net",
        &[
            "name",
            "status",
            "subnets",
            "admin_state_up",
            "mtu",
            "port_security_enabled",
            "tenant_id",
            "shared",
        ],
    ),
    (
        "OS::Neutron::Subnet",
        &[
            "name",
            "cidr",
            "gateway_ip",
            "network_id",
            "ip_version",
            "allocation_pools",
            "dns_nameservers",
            "enable_dhcp",
            "host_routes",
            "tenant_id",
        ],
    ),
    (
        "OS::Neutron::Router",
        &[
            "name",
            "status",
            "external_gateway_info",
            "admin_state_up",
            "tenant_id",
        ],
    ),
    (
        "OS::Neutron::Port",
        &[
            "name",
            "fixed_ips",
            "mac_address",
            "network_id",
            "status",
            "device_id",
            "device_owner",
            "security_groups",
            "admin_state_up",
            "tenant_id",
            "subnets",
            "network",
        ],
    ),
    ("OS::Neutron::SecurityGroup", &[]),
    (
        "OS::Neutron::FloatingIP",
        &[
            "floating_ip_address",
            "fixed_ip_address",
            "floating_network_id",
            "port_id",
            "router_id",
            "tenant_id",
        ],
    ),
    ("OS::Nova::KeyPair", &["public_key", "private_key"]),
    (
        "OS::Nova::Server",
        &[
            "first_address",
            "addresses",
            "networks",
            "name",
            "instance_name",
            "accessIPv4",
            "accessIPv6",
            "console_urls",
        ],
    ),
    (
        "OS::Cinder::Volume",
        &[
            "size",
            "status",
            "display_name",
            "display_description",
            "bootable",
            "attachments",
            "attachments_list",
            "metadata",
            "volume_type",
            "availability_zone",
            "created_at",
        ],
    ),
];

/// The attributes `get_attr` may name for a type (besides `show`); `None` when
/// the type takes any.
pub(in crate::orchestration) fn attribute_names(kind: &str) -> Option<&'static [&'static str]> {
    let names = ATTRIBUTES.iter().find(|(k, _)| *k == kind);
    Some(names.map_or(&[], |(_, names)| *names))
}

/// Properties each type can change without replacing the resource.
pub(super) fn updatable(kind: &str) -> &'static [&'static str] {
    match kind {
        "OS::Neutron::Net" => &["name", "admin_state_up", "shared", "port_security_enabled"],
        "OS::Heat::Value" => &["value", "type"],
        "OS::Heat::TestResource" => &[
            "value",
            "fail",
            "client_name",
            "entity_name",
            "wait_secs",
            "action_wait_secs",
            "attr_wait_secs",
            "constraint_prop_secs",
        ],
        "OS::Neutron::Subnet" => &[
            "name",
            "enable_dhcp",
            "dns_nameservers",
            "gateway_ip",
            "allocation_pools",
            "host_routes",
        ],
        _ => &[],
    }
}
