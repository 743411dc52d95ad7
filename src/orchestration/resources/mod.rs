//! Resource types: each maps its HOT properties onto the same typed inputs the
//! services' APIs take, and calls their facades with the stack owner's context.
//! Every create returns the physical id at once; `wait_ready` and `delete` wait
//! for the slow ones (servers, volumes).

mod cinder;
mod heat;
mod intended;
mod lifecycle;
mod lookup;
mod neutron;
mod nova;
mod schema;

use serde_json::{Map, Value, json};

use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use cinder::{volume_attachment_create, volume_create};
pub(super) use heat::internal_attributes;
use heat::{
    cloud_config_create, config_resource, multipart_of, random_string_create,
    software_config_create, test_resource_create, value_create, wait_condition_handle_create,
};
pub(super) use intended::find_intended;
pub(super) use lifecycle::{attributes, delete, update_in_place, wait_ready};
use neutron::{
    floating_ip_association_create, floating_ip_create, net_create, port_create, router_create,
    router_interface_create, security_group_create, security_group_rule_create, subnet_create,
};
use nova::{keypair_create, server_create};
pub(super) use schema::{
    attribute_names, check_definition, type_names, type_schema, type_template,
};

/// A created resource: its physical id and the attributes known only at create
/// time (a random string's value, a generated private key).
pub(super) struct Created {
    pub physical_id: String,
    pub attributes: Map<String, Value>,
}

impl Created {
    pub(super) fn id(id: impl Into<String>) -> Created {
        Created {
            physical_id: id.into(),
            attributes: Map::new(),
        }
    }
}

pub(super) fn prop_err(res: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Property error: resources.{res}.properties: {e}"))
}

/// Deserializes a JSON object into a service's typed input.
pub(super) fn typed<T: serde::de::DeserializeOwned>(res: &str, v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| prop_err(res, e))
}

pub(super) fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k) {
        Some(Value::String(x)) if !x.is_empty() => Some(x.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Copies the named properties that are set (not null) into a JSON object.
pub(super) fn pick(m: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            m.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| ((*k).to_owned(), v.clone()))
        })
        .collect()
}

/// Heat's default physical name: `<stack>-<resource>-<12 random characters>`.
pub(super) fn physical_name(stack: &str, res: &str) -> String {
    format!("{stack}-{res}-{}", random_string(12, LOWER_DIGITS))
}

const LOWER_DIGITS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

pub(super) fn random_string(len: usize, chars: &str) -> String {
    use rand::Rng;
    let chars: Vec<char> = chars.chars().collect();
    let mut rng = rand::rng();
    (0..len)
        .map(|_| chars[rng.random_range(0..chars.len())])
        .collect()
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

/// A property given by name or by id (`network` or `network_id`), else the
/// fault Heat gives for the missing property.
pub(super) fn named_or_id(res: &str, props: &Map<String, Value>, key: &str) -> ApiResult<String> {
    s(props, key)
        .or_else(|| s(props, &format!("{key}_id")))
        .ok_or_else(|| prop_err(res, format!("Property {key} not assigned")))
}

/// Adds `value_specs`, Heat's pass-through of extra Neutron attributes.
pub(super) fn add_value_specs(body: &mut Map<String, Value>, props: &Map<String, Value>) {
    if let Some(Value::Object(vs)) = props.get("value_specs") {
        body.extend(vs.clone());
    }
}

/// A property value as text: strings as they are, anything else as JSON.
pub(super) fn text_of(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or(v.to_string())
}

/// Appends to the list under `key`, starting it when missing.
pub(super) fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = m.entry(key.to_owned()).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

pub(super) fn to_json<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
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
