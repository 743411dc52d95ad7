//! Image attributes as clients set them: on create and through JSON patch
//! (`application/openstack-images-v2.1-json-patch`), with Glance's rules for
//! read-only, reserved and typed attributes.

use serde::Deserialize;
use serde_json::Value;

use super::READ_ONLY;
use super::model::*;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

/// One change of a JSON patch, whichever dialect it came in.
#[derive(Debug, Deserialize)]
pub(crate) struct PatchOp {
    pub op: String,
    pub path: String,
    #[serde(default)]
    pub value: Option<Value>,
    /// The older dialect (`application/openstack-images-v2.0-json-patch`), where
    /// adding an attribute that is already there is a conflict.
    #[serde(skip)]
    pub draft4: bool,
}

const OPERATIONS: &[&str] = &["add", "remove", "replace"];

/// The patch dialects Glance accepts: `true` for the older one (JSON Schema
/// draft 4, `{"replace": "/name", "value": ...}`), `false` for the current one
/// (`{"op": "replace", "path": "/name", "value": ...}`).
pub(super) const PATCH_TYPES: &[(&str, bool)] = &[
    ("application/openstack-images-v2.0-json-patch", true),
    ("application/openstack-images-v2.1-json-patch", false),
];

/// Parses a patch body in either dialect, with Glance's messages for bad shapes.
pub(super) fn parse_patch(body: Value, draft4: bool) -> ApiResult<Vec<PatchOp>> {
    let Value::Array(changes) = body else {
        return Err(ApiError::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let mut ops = Vec::with_capacity(changes.len());
    for change in changes {
        let Value::Object(mut change) = change else {
            return Err(ApiError::bad_request("Operations must be JSON objects."));
        };
        let (op, path) = if draft4 {
            let mut found = OPERATIONS.iter().filter(|o| change.contains_key(**o));
            let op = found.next().ok_or_else(|| {
                ApiError::bad_request(
                    "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                )
            })?;
            if found.next().is_some() {
                return Err(ApiError::bad_request(
                    "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                ));
            }
            (op.to_string(), change.remove(*op))
        } else {
            let op = match change.remove("op") {
                Some(Value::String(op)) if OPERATIONS.contains(&op.as_str()) => op,
                Some(other) => {
                    let shown = other
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or(other.to_string());
                    return Err(ApiError::bad_request(format!(
                        "Invalid operation: `{shown}`. It must be one of the following: add, replace, remove."
                    )));
                }
                None => {
                    return Err(ApiError::bad_request(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: add, replace, remove.",
                    ));
                }
            };
            let path = change.remove("path").ok_or_else(|| {
                ApiError::bad_request("Unable to find 'path' in JSON Schema change")
            })?;
            (op, Some(path))
        };
        let path = match path {
            Some(Value::String(p)) => p,
            _ => {
                return Err(ApiError::bad_request(
                    "The path of a change must be a string.",
                ));
            }
        };
        let value = change.remove("value");
        if op != "remove" && value.is_none() {
            return Err(ApiError::bad_request(format!(
                "Operation \"{op}\" requires a member named \"value\"."
            )));
        }
        ops.push(PatchOp {
            op,
            path,
            value,
            draft4,
        });
    }
    Ok(ops)
}

const CORE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "tags",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "owner",
    "id",
];

fn bad_type(key: &str, wanted: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid value for '{key}': expected {wanted}."))
}

fn one_of(key: &str, v: &Value, allowed: &[&str]) -> ApiResult<String> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(s.to_owned()),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value for '{key}': {v}; allowed values are {}.",
            allowed.join(", ")
        ))),
    }
}

fn optional_enum(key: &str, v: Value, allowed: &[&str]) -> ApiResult<Option<String>> {
    if v.is_null() {
        Ok(None)
    } else {
        one_of(key, &v, allowed).map(Some)
    }
}

/// Sets one attribute on an image being created (`creating`) or patched.
pub(super) fn set_attribute(
    ctx: &RequestContext,
    image: &mut Image,
    key: &str,
    value: Value,
    creating: bool,
) -> ApiResult<()> {
    if READ_ONLY.contains(&key) {
        return Err(ApiError::Forbidden(format!(
            "Attribute '{key}' is read-only."
        )));
    }
    if key.starts_with("os_glance") {
        return Err(ApiError::Forbidden(format!(
            "Attribute '{key}' is reserved."
        )));
    }
    match key {
        "id" => return Err(ApiError::Forbidden("Attribute 'id' is read-only.".into())),
        "name" => {
            image.name = match value {
                Value::Null => None,
                Value::String(s) if s.len() <= 255 => Some(s),
                _ => return Err(bad_type(key, "a string of at most 255 characters or null")),
            }
        }
        "visibility" => image.visibility = visibility(ctx, &value)?,
        "protected" => {
            image.protected = value.as_bool().ok_or_else(|| bad_type(key, "a boolean"))?
        }
        "os_hidden" => {
            image.os_hidden = value.as_bool().ok_or_else(|| bad_type(key, "a boolean"))?
        }
        "tags" => image.tags = unique_tags(value)?,
        "disk_format" | "container_format" => set_format(image, key, value, creating)?,
        "min_disk" | "min_ram" => {
            let n = value
                .as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad_type(key, "a non-negative integer"))?;
            if key == "min_disk" {
                image.min_disk = n;
            } else {
                image.min_ram = n;
            }
        }
        "owner" => image.owner = new_owner(ctx, value)?,
        extra => set_property(image, extra, value)?,
    }
    Ok(())
}

/// A new visibility; making an image public is a policy of its own.
fn visibility(ctx: &RequestContext, value: &Value) -> ApiResult<String> {
    let v = one_of("visibility", value, VISIBILITIES)?;
    if v == "public" && !crate::http::policy::IMAGE_PUBLICIZE.allows(ctx, None) {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete publicize_image action.".into(),
        ));
    }
    Ok(v)
}

/// The tags, 1 to 255 characters each, duplicates dropped in order.
fn unique_tags(value: Value) -> ApiResult<Vec<String>> {
    let tags: Vec<String> =
        serde_json::from_value(value).map_err(|_| bad_type("tags", "a list of strings"))?;
    if tags.iter().any(|t| t.is_empty() || t.len() > 255) {
        return Err(bad_type("tags", "tags of 1 to 255 characters"));
    }
    let mut unique = Vec::new();
    for t in tags {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    Ok(unique)
}

/// `disk_format` or `container_format`: settable only while the image is queued.
fn set_format(image: &mut Image, key: &str, value: Value, creating: bool) -> ApiResult<()> {
    if !creating && image.status != ImageStatus::Queued {
        return Err(ApiError::Forbidden(format!(
            "Attribute {key} can be only replaced for a queued image."
        )));
    }
    if key == "disk_format" {
        image.disk_format = optional_enum(key, value, DISK_FORMATS)?;
    } else {
        image.container_format = optional_enum(key, value, CONTAINER_FORMATS)?;
    }
    Ok(())
}

/// A new owner project (or none), as the owner policy allows.
fn new_owner(ctx: &RequestContext, value: Value) -> ApiResult<Option<String>> {
    let owner = match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        _ => return Err(bad_type("owner", "a project id")),
    };
    if !policy::IMAGE_OWNER.allows_target(
        ctx,
        Target {
            project: owner.as_deref(),
            ..Target::default()
        },
    ) {
        return Err(ApiError::Forbidden(
            "Only an administrator may change the owner of an image.".into(),
        ));
    }
    Ok(owner)
}

/// A custom property: a name of 1 to 255 characters and a string value.
fn set_property(image: &mut Image, name: &str, value: Value) -> ApiResult<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::bad_request(
            "Property names must be 1 to 255 characters.",
        ));
    }
    match value {
        Value::String(s) => {
            image.properties.insert(name.to_owned(), Value::String(s));
            Ok(())
        }
        _ => Err(bad_type(name, "a string (custom properties are strings)")),
    }
}

fn path_key(path: &str) -> ApiResult<String> {
    let inner = path
        .strip_prefix('/')
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid JSON pointer for this resource: '{path}'"))
        })?;
    Ok(inner.replace("~1", "/").replace("~0", "~"))
}

/// Applies one JSON patch operation.
pub(super) fn apply(ctx: &RequestContext, image: &mut Image, op: PatchOp) -> ApiResult<()> {
    if op.path == "/locations" || op.path.starts_with("/locations/") {
        return Err(ApiError::Forbidden(
            "Image locations are not exposed by this cloud.".into(),
        ));
    }
    let key = path_key(&op.path)?;
    match op.op.as_str() {
        "add" | "replace" => {
            let value = op.value.ok_or_else(|| {
                ApiError::bad_request(format!("Operation '{}' needs a value.", op.op))
            })?;
            let is_extra = !CORE.contains(&key.as_str()) && !READ_ONLY.contains(&key.as_str());
            if op.op == "replace" && is_extra && !image.properties.contains_key(&key) {
                return Err(ApiError::Conflict(format!(
                    "Property {key} does not exist."
                )));
            }
            // Read-only and reserved attributes are refused (403) before this.
            let settable = !READ_ONLY.contains(&key.as_str()) && !key.starts_with("os_glance");
            if op.op == "add"
                && op.draft4
                && settable
                && (!is_extra || image.properties.contains_key(&key))
            {
                return Err(ApiError::Conflict(format!(
                    "Property {key} already present."
                )));
            }
            set_attribute(ctx, image, &key, value, false)
        }
        "remove" => {
            if READ_ONLY.contains(&key.as_str()) {
                return Err(ApiError::Forbidden(format!(
                    "Attribute '{key}' is read-only."
                )));
            }
            if CORE.contains(&key.as_str()) {
                return Err(ApiError::Forbidden(format!(
                    "Attribute '{key}' is a base attribute and cannot be removed."
                )));
            }
            image
                .properties
                .remove(&key)
                .map(drop)
                .ok_or_else(|| ApiError::Conflict(format!("Property {key} does not exist.")))
        }
        other => Err(ApiError::bad_request(format!(
            "Invalid operation: `{other}`. It must be one of the following: add, replace, remove."
        ))),
    }
}
