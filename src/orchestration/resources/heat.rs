//! The engine's own resource types (`OS::Heat::*`): random strings, values,
//! software and cloud configs, MIME multipart configs, wait condition handles and
//! the test resource Heat's own tests use.

use serde_json::{Map, Value, json};
use std::time::Duration;

use super::lookup::is_uuid;
use super::{Created, prop_err, random_string, s};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// A software config made by a config resource (CloudConfig, MultipartMime):
/// its id, and its text as the `config` attribute.
pub(super) async fn config_resource(
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
pub(super) async fn multipart_of(
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

/// `OS::Heat::RandomString`: `length` characters (at most 512) drawn from the
/// named `sequence`.
pub(super) fn random_string_create(
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
pub(super) fn value_create(physical: &str, props: &Map<String, Value>) -> Created {
    let mut c = Created::id(physical.to_owned());
    c.attributes.insert(
        "value".into(),
        props.get("value").cloned().unwrap_or(Value::Null),
    );
    c
}

/// `OS::Heat::SoftwareConfig`: a software config with the properties as given.
pub(super) async fn software_config_create(
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
pub(super) async fn cloud_config_create(
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
pub(super) fn wait_condition_handle_create(
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    match s(props, "signal_transport").as_deref() {
        None | Some("TOKEN_SIGNAL") => Ok(Created::id(uuid::Uuid::new_v4().to_string())),
        Some(other) => Err(prop_err(
            res,
            format!("signal_transport: \"{other}\" is not supported (only TOKEN_SIGNAL)"),
        )),
    }
}

/// `OS::Heat::TestResource`: waits as asked, then fails when `fail` is set.
pub(super) async fn test_resource_create(
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
pub(super) fn test_resource_fail(props: &Map<String, Value>) -> ApiResult<()> {
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

/// Heat's test resource (`OS::Heat::TestResource`, which its own functional
/// tests use) waits `action_wait_secs.<action>` (else `wait_secs`) seconds.
pub(super) async fn test_resource_wait(props: &Map<String, Value>, action: &str) {
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
pub(in crate::orchestration) fn internal_attributes(
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
