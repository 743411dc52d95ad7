//! Resource types: each maps its HOT properties onto the same typed inputs the
//! services' APIs take, and calls their facades with the stack owner's context.
//! Every create returns the physical id at once; `wait_ready` and `delete` wait
//! for the slow ones (servers, volumes).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::cloud::Cloud;
use crate::http::context::RequestContext;
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
pub(super) fn type_names() -> Vec<&'static str> {
    let mut out: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
    out.extend([super::nested::GROUP, super::nested::STACK]);
    out.sort_unstable();
    out
}

/// A type's schema for `GET /resource_types/{type}`: its properties (whether
/// required, whether an update changes them in place, the defaults Heat
/// documents) and attributes.
pub(super) fn type_schema(kind: &str) -> Option<Value> {
    let props: &[&str] = match kind {
        super::nested::GROUP => super::nested::GROUP_PROPS,
        super::nested::STACK => super::nested::STACK_PROPS,
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
pub(super) fn type_template(kind: &str) -> Option<Value> {
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
pub(super) fn check_definition(name: &str, kind: &str, props: &Value) -> ApiResult<()> {
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
pub(super) fn attribute_names(kind: &str) -> Option<&'static [&'static str]> {
    let names = ATTRIBUTES.iter().find(|(k, _)| *k == kind);
    Some(names.map_or(&[], |(_, names)| *names))
}

/// A created resource: its physical id and the attributes known only at create
/// time (a random string's value, a generated private key).
pub(super) struct Created {
    pub physical_id: String,
    pub attributes: Map<String, Value>,
}

impl Created {
    fn id(id: impl Into<String>) -> Created {
        Created {
            physical_id: id.into(),
            attributes: Map::new(),
        }
    }
}

fn prop_err(res: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Property error: resources.{res}.properties: {e}"))
}

/// Deserializes a JSON object into a service's typed input.
fn typed<T: serde::de::DeserializeOwned>(res: &str, v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| prop_err(res, e))
}

fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k) {
        Some(Value::String(x)) if !x.is_empty() => Some(x.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Copies the named properties that are set (not null) into a JSON object.
fn pick(m: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            m.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| ((*k).to_owned(), v.clone()))
        })
        .collect()
}

/// A software config made by a config resource (CloudConfig, MultipartMime):
/// its id, and its text as the `config` attribute.
async fn config_resource(
    cloud: &Cloud,
    ctx: &RequestContext,
    physical: &str,
    group: Option<String>,
    text: String,
) -> ApiResult<Created> {
    let input = crate::orchestration::software::ConfigCreate {
        name: Some(physical.to_owned()),
        group: group.or_else(|| Some("Heat::Ungrouped".into())),
        config: Some(Value::String(text)),
        inputs: None,
        outputs: None,
        options: None,
    };
    let sc = cloud.orchestration.config_create(ctx, input).await?;
    let mut c = Created::id(sc.id);
    c.attributes
        .insert("config".into(), Value::String(sc.config));
    Ok(c)
}

/// The message of an `OS::Heat::MultipartMime`: each part's `config` (a
/// software config's text when it names one by id), as a `text` part of its
/// `subtype` and `filename`, or for `type: multipart` the parts of that
/// message, joined as Heat does.
async fn multipart_of(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<String> {
    use crate::orchestration::mime::{Part, multipart, parts_of};
    let items = match props.get("parts") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(prop_err(res, "parts: Value must be a list")),
    };
    let mut parts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(prop_err(res, format!("parts[{i}]: Value must be a map")));
        };
        let mut text = s(m, "config").unwrap_or_default();
        if is_uuid(&text)
            && let Ok(sc) = cloud.orchestration.config_get(ctx, &text).await
        {
            text = sc.config;
        }
        match s(m, "type").as_deref() {
            None | Some("text") => parts.push(Part::new(
                &text,
                &s(m, "subtype").unwrap_or_default(),
                &s(m, "filename").unwrap_or_default(),
            )),
            Some("multipart") => parts.extend(parts_of(&text).unwrap_or_default()),
            Some(other) => {
                return Err(prop_err(
                    res,
                    format!(
                        "parts[{i}].type: \"{other}\" is not an allowed value [text, multipart]"
                    ),
                ));
            }
        }
    }
    Ok(multipart(&parts))
}

/// Heat's default physical name: `<stack>-<resource>-<12 random characters>`.
pub(super) fn physical_name(stack: &str, res: &str) -> String {
    format!("{stack}-{res}-{}", random_string(12, LOWER_DIGITS))
}

const LOWER_DIGITS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(len: usize, chars: &str) -> String {
    use rand::Rng;
    let chars: Vec<char> = chars.chars().collect();
    let mut rng = rand::rng();
    (0..len)
        .map(|_| chars[rng.random_range(0..chars.len())])
        .collect()
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

async fn network_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let nets = cloud.network.network_list(ctx).await?;
    let found: Vec<_> = nets.into_iter().filter(|n| n.name == name_or_id).collect();
    match found.as_slice() {
        [n] => Ok(n.std.id.clone()),
        [] => Err(prop_err(
            res,
            format!(
                "Error validating value '{name_or_id}': The neutron network ({name_or_id}) could not be found."
            ),
        )),
        _ => Err(prop_err(
            res,
            format!(
                "Multiple network matches found for name '{name_or_id}', use an ID to be more specific."
            ),
        )),
    }
}

async fn subnet_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let found: Vec<_> = cloud
        .network
        .subnet_list(ctx)
        .await?
        .into_iter()
        .filter(|n| n.name == name_or_id)
        .collect();
    match found.as_slice() {
        [n] => Ok(n.std.id.clone()),
        [] => Err(prop_err(
            res,
            format!(
                "Error validating value '{name_or_id}': The neutron subnet ({name_or_id}) could not be found."
            ),
        )),
        _ => Err(prop_err(
            res,
            format!(
                "Multiple subnet matches found for name '{name_or_id}', use an ID to be more specific."
            ),
        )),
    }
}

async fn router_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let found: Vec<_> = cloud
        .network
        .router_list(ctx)
        .await?
        .into_iter()
        .filter(|n| n.name == name_or_id)
        .collect();
    match found.as_slice() {
        [n] => Ok(n.std.id.clone()),
        _ => Err(prop_err(
            res,
            format!("The neutron router ({name_or_id}) could not be found."),
        )),
    }
}

async fn security_group_ids(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    groups: &Value,
) -> ApiResult<Vec<String>> {
    let Value::Array(items) = groups else {
        return Err(prop_err(res, "security_groups must be a list"));
    };
    let mut out = Vec::new();
    let mut all = None;
    for g in items {
        let g = g
            .as_str()
            .ok_or_else(|| prop_err(res, "security_groups must be a list of strings"))?;
        if is_uuid(g) {
            out.push(g.to_owned());
            continue;
        }
        if all.is_none() {
            all = Some(cloud.network.security_group_list(ctx).await?);
        }
        let found = all
            .iter()
            .flatten()
            .find(|(sg, _)| sg.name == g)
            .ok_or_else(|| {
                prop_err(
                    res,
                    format!("The neutron security_group ({g}) could not be found."),
                )
            })?;
        out.push(found.0.std.id.clone());
    }
    Ok(out)
}

async fn image_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let page = cloud
        .image
        .image_list(
            ctx,
            crate::image::ListQuery(vec![("name".into(), name_or_id.to_owned())]),
        )
        .await?;
    match page.images.as_slice() {
        [i] => Ok(i.id.clone()),
        [] => Err(prop_err(
            res,
            format!(
                "Error validating value '{name_or_id}': No images matching {{'name': '{name_or_id}'}}."
            ),
        )),
        _ => Err(prop_err(
            res,
            format!("Multiple images matching {{'name': '{name_or_id}'}}."),
        )),
    }
}

async fn flavor_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if cloud
        .compute
        .flavor_show(ctx, name_or_id.to_owned())
        .await
        .is_ok()
    {
        return Ok(name_or_id.to_owned());
    }
    let q = crate::compute::flavors::FlavorQuery::parse(
        &Default::default(),
        ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT),
    )?;
    let page = cloud.compute.flavor_list(ctx, q).await?;
    page.items
        .into_iter()
        .find(|f| f.name == name_or_id)
        .map(|f| f.id)
        .ok_or_else(|| prop_err(res, format!("Error validating value '{name_or_id}': The Flavor ID ({name_or_id}) could not be found.")))
}

/// The name a create will give the thing it makes (the `name` property, else
/// Heat's generated physical name): the intent the engine records before it
/// calls the service.
pub(super) fn intent_name(stack_name: &str, res: &str, props: &Map<String, Value>) -> String {
    s(props, "name").unwrap_or_else(|| physical_name(stack_name, res))
}

/// Creates one resource from its resolved properties; `physical` is the name
/// recorded as its intent (see [`intent_name`]). One function per resource
/// type, as Heat has one resource plugin per type.
pub(super) async fn create(
    cloud: &Cloud,
    ctx: &RequestContext,
    physical: &str,
    res: &str,
    kind: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let name = || s(props, "name").unwrap_or_else(|| physical.to_owned());
    match kind {
        "OS::Heat::RandomString" => random_string_create(physical, res, props),
        "OS::Heat::Value" => Ok(value_create(physical, props)),
        "OS::Heat::None" => Ok(Created::id(physical.to_owned())),
        "OS::Heat::SoftwareConfig" => software_config_create(cloud, ctx, physical, props).await,
        "OS::Heat::CloudConfig" => cloud_config_create(cloud, ctx, physical, res, props).await,
        "OS::Heat::MultipartMime" => {
            let text = multipart_of(cloud, ctx, res, props).await?;
            config_resource(cloud, ctx, physical, s(props, "group"), text).await
        }
        "OS::Heat::WaitConditionHandle" => wait_condition_handle_create(res, props),
        // The wait itself is the engine's (`wait_ready` of the stack's run).
        "OS::Heat::WaitCondition" => Ok(Created::id(physical.to_owned())),
        "OS::Heat::TestResource" => test_resource_create(physical, kind, props).await,
        "OS::Neutron::Net" => net_create(cloud, ctx, res, name(), props).await,
        "OS::Neutron::Subnet" => subnet_create(cloud, ctx, res, name(), props).await,
        "OS::Neutron::Router" => router_create(cloud, ctx, res, name(), props).await,
        "OS::Neutron::RouterInterface" => router_interface_create(cloud, ctx, res, props).await,
        "OS::Neutron::Port" => port_create(cloud, ctx, res, name(), props).await,
        "OS::Neutron::SecurityGroup" => security_group_create(cloud, ctx, res, name(), props).await,
        "OS::Neutron::SecurityGroupRule" => {
            security_group_rule_create(cloud, ctx, res, props).await
        }
        "OS::Neutron::FloatingIP" => floating_ip_create(cloud, ctx, res, props).await,
        "OS::Neutron::FloatingIPAssociation" => {
            floating_ip_association_create(cloud, ctx, res, props).await
        }
        "OS::Nova::KeyPair" => keypair_create(cloud, ctx, res, props).await,
        "OS::Nova::Server" => server_create(cloud, ctx, res, name(), props).await,
        "OS::Cinder::Volume" => volume_create(cloud, ctx, res, name(), props).await,
        "OS::Cinder::VolumeAttachment" => volume_attachment_create(cloud, ctx, res, props).await,
        other => Err(ApiError::bad_request(format!(
            "The Resource Type ({other}) could not be found."
        ))),
    }
}

/// `OS::Heat::RandomString`: `length` characters (at most 512) drawn from the
/// named `sequence`.
fn random_string_create(
    physical: &str,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let len = props
        .get("length")
        .and_then(Value::as_u64)
        .unwrap_or(32)
        .min(512) as usize;
    let chars = match props.get("sequence").and_then(Value::as_str) {
        Some("lettersdigits") | None => {
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        }
        Some("letters") => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        Some("lowercase") => "abcdefghijklmnopqrstuvwxyz",
        Some("uppercase") => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        Some("digits") => "0123456789",
        Some("hexdigits") => "0123456789abcdef",
        Some("octdigits") => "01234567",
        Some(other) => {
            return Err(prop_err(
                res,
                format!("sequence: \"{other}\" is not an allowed value"),
            ));
        }
    };
    let value = random_string(len, chars);
    let mut c = Created::id(physical.to_owned());
    c.attributes.insert("value".into(), Value::String(value));
    Ok(c)
}

/// `OS::Heat::Value`: its `value` property as its `value` attribute.
fn value_create(physical: &str, props: &Map<String, Value>) -> Created {
    let mut c = Created::id(physical.to_owned());
    c.attributes.insert(
        "value".into(),
        props.get("value").cloned().unwrap_or(Value::Null),
    );
    c
}

/// `OS::Heat::SoftwareConfig`: a software config with the properties as given.
async fn software_config_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    physical: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let input = crate::orchestration::software::ConfigCreate {
        name: Some(physical.to_owned()),
        group: s(props, "group"),
        config: props.get("config").cloned(),
        inputs: props.get("inputs").and_then(Value::as_array).cloned(),
        outputs: props.get("outputs").and_then(Value::as_array).cloned(),
        options: props.get("options").and_then(Value::as_object).cloned(),
    };
    let sc = cloud.orchestration.config_create(ctx, input).await?;
    let mut c = Created::id(sc.id);
    c.attributes
        .insert("config".into(), Value::String(sc.config));
    Ok(c)
}

/// `OS::Heat::CloudConfig`: a cloud-config as Heat writes it, the
/// `#cloud-config` line, then the property as YAML.
async fn cloud_config_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    physical: &str,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let cc = props
        .get("cloud_config")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !cc.is_object() {
        return Err(prop_err(res, "cloud_config: Value must be a map"));
    }
    let yaml = serde_yaml_ng::to_string(&cc).map_err(|e| prop_err(res, e))?;
    config_resource(cloud, ctx, physical, None, format!("#cloud-config\n{yaml}")).await
}

/// `OS::Heat::WaitConditionHandle`: only its properties are checked here; its
/// credential (whose id is the handle's and names its signals), token and URLs
/// are made by the engine, which knows the stack.
fn wait_condition_handle_create(res: &str, props: &Map<String, Value>) -> ApiResult<Created> {
    match s(props, "signal_transport").as_deref() {
        None | Some("TOKEN_SIGNAL") => Ok(Created::id(uuid::Uuid::new_v4().to_string())),
        Some(other) => Err(prop_err(
            res,
            format!("signal_transport: \"{other}\" is not supported (only TOKEN_SIGNAL)"),
        )),
    }
}

/// `OS::Heat::TestResource`: waits as asked, then fails when `fail` is set.
async fn test_resource_create(
    physical: &str,
    kind: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    test_resource_wait(props, "create").await;
    test_resource_fail(props)?;
    let mut c = Created::id(physical.to_owned());
    c.attributes = internal_attributes(kind, props).unwrap_or_default();
    Ok(c)
}

/// The failure a test resource was told (`fail: true`) to report.
fn test_resource_fail(props: &Map<String, Value>) -> ApiResult<()> {
    if props
        .get("fail")
        .is_some_and(crate::orchestration::template::truth)
    {
        return Err(ApiError::Conflict(
            "Test Resource failed TestResource".into(),
        ));
    }
    Ok(())
}

/// A property given by name or by id (`network` or `network_id`), else the
/// fault Heat gives for the missing property.
fn named_or_id(res: &str, props: &Map<String, Value>, key: &str) -> ApiResult<String> {
    s(props, key)
        .or_else(|| s(props, &format!("{key}_id")))
        .ok_or_else(|| prop_err(res, format!("Property {key} not assigned")))
}

/// Adds `value_specs`, Heat's pass-through of extra Neutron attributes.
fn add_value_specs(body: &mut Map<String, Value>, props: &Map<String, Value>) {
    if let Some(Value::Object(vs)) = props.get("value_specs") {
        body.extend(vs.clone());
    }
}

/// A property value as text: strings as they are, anything else as JSON.
fn text_of(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or(v.to_string())
}

/// `OS::Neutron::Net`.
async fn net_create(
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
async fn subnet_create(
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
async fn router_create(
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
async fn router_interface_create(
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
async fn port_create(
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
async fn security_group_create(
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
async fn security_group_rule_create(
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
async fn floating_ip_create(
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
async fn floating_ip_association_create(
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

/// `OS::Nova::KeyPair`: its public key, and its private key when
/// `save_private_key` asks for it.
async fn keypair_create(
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

/// `OS::Cinder::Volume`, from an image by name or id, a snapshot or a volume.
async fn volume_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let size = props.get("size").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let image = match s(props, "image") {
        Some(i) => Some(image_id(cloud, ctx, res, &i).await?),
        None => None,
    };
    let metadata = match props.get("metadata") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
        _ => Default::default(),
    };
    let req = crate::volume::facade::VolumeCreate {
        size: size.unwrap_or(0),
        name: Some(name),
        description: s(props, "description"),
        volume_type: s(props, "volume_type"),
        availability_zone: s(props, "availability_zone"),
        metadata,
        multiattach: false,
        snapshot_id: s(props, "snapshot_id"),
        source_volid: s(props, "source_volid"),
        image_ref: image,
        group_id: None,
    };
    Ok(Created::id(cloud.volume.volume_create(ctx, req).await?.id))
}

/// `OS::Cinder::VolumeAttachment`, through the compute facade as Heat goes
/// through Nova: the guest gets the disk hot-plugged. Its id is
/// `<server>:<volume>`.
async fn volume_attachment_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let server = s(props, "instance_uuid")
        .ok_or_else(|| prop_err(res, "Property instance_uuid not assigned"))?;
    let volume =
        s(props, "volume_id").ok_or_else(|| prop_err(res, "Property volume_id not assigned"))?;
    cloud
        .compute
        .volume_attach(
            ctx,
            server.clone(),
            volume.clone(),
            s(props, "mountpoint"),
            format!("req-{}", uuid::Uuid::new_v4()),
            // Heat calls Nova at a microversion past 2.20, where a shelved
            // server takes volumes too.
            true,
            // OS::Cinder::VolumeAttachment leaves the volume behind.
            false,
        )
        .await?;
    Ok(Created::id(format!("{server}:{volume}")))
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

/// `OS::Nova::Server`: the properties turned into Nova's create body, then the
/// server planned, recorded and its build started as Nova's API would.
async fn server_create(
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
pub(super) async fn find_intended(
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

/// Heat's test resource (`OS::Heat::TestResource`, which its own functional
/// tests use) waits `action_wait_secs.<action>` (else `wait_secs`) seconds.
async fn test_resource_wait(props: &Map<String, Value>, action: &str) {
    let secs = props
        .get("action_wait_secs")
        .and_then(|m| m.get(action))
        .or_else(|| props.get("wait_secs"))
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(0.0)
        .clamp(0.0, 3600.0);
    if secs > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    }
}

/// The attributes of the types that live in the engine only, from their
/// properties (`None` for the others).
pub(super) fn internal_attributes(
    kind: &str,
    props: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let (key, v) = match kind {
        "OS::Heat::Value" => ("value", props.get("value")),
        "OS::Heat::TestResource" => ("output", props.get("value")),
        _ => return None,
    };
    let mut m = Map::new();
    m.insert(
        key.into(),
        v.cloned().unwrap_or(Value::String(String::new())),
    );
    Some(m)
}

/// Properties each type can change without replacing the resource.
fn updatable(kind: &str) -> &'static [&'static str] {
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

/// Applies changed properties in place when the type allows it for every
/// changed one (`Ok(false)`: the resource must be replaced instead).
pub(super) async fn update_in_place(
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
pub(super) async fn wait_ready(
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
pub(super) async fn attributes(
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

/// A port's `show`, and its `subnets` attribute.
async fn port_attributes(
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

/// A server's `show`, and its address attributes (`first_address`,
/// `addresses`, `networks`) and names.
async fn server_attributes(
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

/// A volume's `show`, and the attributes Heat names in Cinder's v1 words.
async fn volume_attributes(
    cloud: &Cloud,
    ctx: &RequestContext,
    id: &str,
    out: &mut Map<String, Value>,
) -> ApiResult<Value> {
    let v = cloud.volume.volume_get(ctx, id.to_owned()).await?;
    out.insert("display_name".into(), json!(v.name));
    out.insert("display_description".into(), json!(v.description));
    out.insert("attachments".into(), json!([]));
    out.insert("attachments_list".into(), json!([]));
    Ok(
        json!({"id": v.id, "name": v.name, "description": v.description, "size": v.size, "status": v.status.as_str(), "bootable": v.bootable, "volume_type": v.type_name, "availability_zone": v.availability_zone, "metadata": v.metadata, "created_at": v.created_at}),
    )
}

/// Appends to the list under `key`, starting it when missing.
fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = m.entry(key.to_owned()).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

fn to_json<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn gone(e: &ApiError) -> bool {
    matches!(e, ApiError::NotFound { .. } | ApiError::Missing(_))
        || matches!(e, ApiError::Typed { status, .. } if *status == axum::http::StatusCode::NOT_FOUND)
}

/// Deletes a resource and waits until it is gone; one already gone is fine, so
/// a delete can be replayed after a restart.
pub(super) async fn delete(
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

/// The Neutron side of [`delete_call`].
async fn network_delete_call(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_checked() {
        check_definition("n", "OS::Neutron::Net", &json!({"name": "x"})).expect("known");
        let e = check_definition("n", "OS::Foo::Bar", &json!({})).expect_err("type");
        assert!(e.to_string().contains("OS::Foo::Bar"), "{e}");
        let e = check_definition("n", "OS::Neutron::Net", &json!({"nam": "x"})).expect_err("prop");
        assert!(e.to_string().contains("Unknown Property nam"), "{e}");
        let e = check_definition("k", "OS::Nova::KeyPair", &json!({})).expect_err("required");
        assert!(e.to_string().contains("Property name not assigned"), "{e}");
    }

    #[test]
    fn physical_names_follow_heat() {
        let n = physical_name("lab", "net");
        assert!(
            n.starts_with("lab-net-") && n.len() == "lab-net-".len() + 12,
            "{n}"
        );
    }
}
