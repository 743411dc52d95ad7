//! Image attributes as clients set them: on create and through JSON patch
//! (`application/openstack-images-v2.1-json-patch`), with Glance's rules for
//! read-only, reserved and typed attributes.

use serde::Deserialize;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

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

/// The operation and path of a change in the older dialect, where the
/// operation's name is the member holding the path.
fn draft4_operation(change: &mut Map<String, Value>) -> ApiResult<(String, Option<Value>)> {
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
    Ok((op.to_string(), change.remove(*op)))
}

/// The operation and path of a change in the current dialect (`op`, `path`).
fn operation(change: &mut Map<String, Value>) -> ApiResult<(String, Option<Value>)> {
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
    let path = change
        .remove("path")
        .ok_or_else(|| ApiError::bad_request("Unable to find 'path' in JSON Schema change"))?;
    Ok((op, Some(path)))
}

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
            draft4_operation(&mut change)?
        } else {
            operation(&mut change)?
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

/// One attribute a client may set, its value checked against Glance's image
/// schema; policy (who may publicize or give an image away) is asked apart.
#[derive(Debug, Clone, PartialEq)]
enum Attribute {
    Name(Option<String>),
    Visibility(String),
    Protected(bool),
    OsHidden(bool),
    Tags(Vec<String>),
    DiskFormat(Option<String>),
    ContainerFormat(Option<String>),
    MinDisk(i64),
    MinRam(i64),
    Owner(Option<String>),
    /// A custom property: Glance keeps these as strings.
    Property(String, String),
}

/// Checks one attribute as a client named it: read-only and reserved names are
/// 403, values of the wrong type 400, in Glance's words.
fn parse_attribute(key: &str, value: Value) -> ApiResult<Attribute> {
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
    Ok(match key {
        "id" => return Err(ApiError::Forbidden("Attribute 'id' is read-only.".into())),
        "name" => Attribute::Name(match value {
            Value::Null => None,
            Value::String(s) if s.len() <= 255 => Some(s),
            _ => return Err(bad_type(key, "a string of at most 255 characters or null")),
        }),
        "visibility" => Attribute::Visibility(one_of(key, &value, VISIBILITIES)?),
        "protected" => {
            Attribute::Protected(value.as_bool().ok_or_else(|| bad_type(key, "a boolean"))?)
        }
        "os_hidden" => {
            Attribute::OsHidden(value.as_bool().ok_or_else(|| bad_type(key, "a boolean"))?)
        }
        "tags" => Attribute::Tags(parse_tags(key, value)?),
        "disk_format" => Attribute::DiskFormat(optional_enum(key, value, DISK_FORMATS)?),
        "container_format" => {
            Attribute::ContainerFormat(optional_enum(key, value, CONTAINER_FORMATS)?)
        }
        "min_disk" => Attribute::MinDisk(non_negative(key, &value)?),
        "min_ram" => Attribute::MinRam(non_negative(key, &value)?),
        "owner" => Attribute::Owner(match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => return Err(bad_type(key, "a project id")),
        }),
        extra => {
            if extra.is_empty() || extra.len() > 255 {
                return Err(ApiError::bad_request(
                    "Property names must be 1 to 255 characters.",
                ));
            }
            match value {
                Value::String(s) => Attribute::Property(extra.to_owned(), s),
                _ => return Err(bad_type(extra, "a string (custom properties are strings)")),
            }
        }
    })
}

/// A tag list: 1 to 255 characters each, duplicates dropped (first kept).
fn parse_tags(key: &str, value: Value) -> ApiResult<Vec<String>> {
    let tags: Vec<String> =
        serde_json::from_value(value).map_err(|_| bad_type(key, "a list of strings"))?;
    if tags.iter().any(|t| t.is_empty() || t.len() > 255) {
        return Err(bad_type(key, "tags of 1 to 255 characters"));
    }
    let mut unique = Vec::new();
    for t in tags {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    Ok(unique)
}

fn non_negative(key: &str, value: &Value) -> ApiResult<i64> {
    value
        .as_i64()
        .filter(|n| *n >= 0)
        .ok_or_else(|| bad_type(key, "a non-negative integer"))
}

/// `publicize_image`: only an administrator makes an image public.
fn authorize_visibility(ctx: &RequestContext, visibility: &str) -> ApiResult<()> {
    if visibility == "public" && !policy::IMAGE_PUBLICIZE.allows(ctx, None) {
        return Err(ApiError::Forbidden(
            "You are not authorized to complete publicize_image action.".into(),
        ));
    }
    Ok(())
}

/// Giving an image to another project (or to none) is for administrators.
fn authorize_owner(ctx: &RequestContext, owner: Option<&str>) -> ApiResult<()> {
    let target = Target {
        project: owner,
        ..Target::default()
    };
    if !policy::IMAGE_OWNER.allows_target(ctx, target) {
        return Err(ApiError::Forbidden(
            "Only an administrator may change the owner of an image.".into(),
        ));
    }
    Ok(())
}

/// The policy an attribute's value is under, if any.
fn authorize(ctx: &RequestContext, attribute: &Attribute) -> ApiResult<()> {
    match attribute {
        Attribute::Visibility(v) => authorize_visibility(ctx, v),
        Attribute::Owner(owner) => authorize_owner(ctx, owner.as_deref()),
        _ => Ok(()),
    }
}

/// Writes a checked and authorized attribute onto an image.
fn assign(image: &mut Image, attribute: Attribute) {
    match attribute {
        Attribute::Name(v) => image.name = v,
        Attribute::Visibility(v) => image.visibility = v,
        Attribute::Protected(v) => image.protected = v,
        Attribute::OsHidden(v) => image.os_hidden = v,
        Attribute::Tags(v) => image.tags = v,
        Attribute::DiskFormat(v) => image.disk_format = v,
        Attribute::ContainerFormat(v) => image.container_format = v,
        Attribute::MinDisk(v) => image.min_disk = v,
        Attribute::MinRam(v) => image.min_ram = v,
        Attribute::Owner(v) => image.owner = v,
        Attribute::Property(k, v) => {
            image.properties.insert(k, Value::String(v));
        }
    }
}

/// Sets one attribute of an image being patched.
fn set_attribute(
    ctx: &RequestContext,
    image: &mut Image,
    key: &str,
    value: Value,
) -> ApiResult<()> {
    if matches!(key, "disk_format" | "container_format") && image.status != ImageStatus::Queued {
        return Err(ApiError::Forbidden(format!(
            "Attribute {key} can be only replaced for a queued image."
        )));
    }
    let attribute = parse_attribute(key, value)?;
    authorize(ctx, &attribute)?;
    assign(image, attribute);
    Ok(())
}

/// The keys of a volume's image metadata that are Glance's own attributes of the
/// image it came from; Nova and Cinder leave them out when they make an image
/// from the volume (min_disk and min_ram are integers to Glance).
pub(crate) const GLANCE_OWN_METADATA: &[&str] = &[
    "image_id",
    "image_name",
    "checksum",
    "size",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
];

/// `POST /v2/images` as the image service takes it: Glance's attributes typed,
/// the custom properties (strings, as Glance keeps them) in one map. The API
/// builds it from the request body; compute and block storage build it for the
/// images they make. Who may create what is the service's to decide
/// (`authorize`), once, when the image is made.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ImageCreate {
    pub id: Option<uuid::Uuid>,
    pub name: Option<String>,
    /// `shared` when not given.
    pub visibility: Option<String>,
    pub protected: bool,
    pub os_hidden: bool,
    pub tags: Vec<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    /// `None`: the caller's project; `Some(None)`: no owner (`"owner": null`).
    pub owner: Option<Option<String>>,
    pub properties: BTreeMap<String, String>,
    /// The first attribute the client set that Glance's image schema refuses.
    /// Reading stops there, and the refusal is reported after the policy of the
    /// attributes read before it: Glance reads a body key by key.
    pub refused: Option<RefusedAttribute>,
}

/// Why an attribute of a create was refused, in Glance's words: read-only and
/// reserved names are 403, bad values 400.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RefusedAttribute {
    Forbidden(String),
    Invalid(String),
}

impl From<ApiError> for RefusedAttribute {
    /// Attribute checks refuse with a 403 or a 400 only.
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Forbidden(m) => RefusedAttribute::Forbidden(m),
            other => RefusedAttribute::Invalid(other.to_string()),
        }
    }
}

impl From<RefusedAttribute> for ApiError {
    fn from(r: RefusedAttribute) -> Self {
        match r {
            RefusedAttribute::Forbidden(m) => ApiError::Forbidden(m),
            RefusedAttribute::Invalid(m) => ApiError::BadRequest(m),
        }
    }
}

impl ImageCreate {
    /// The request from a `POST /v2/images` body, read in the body's key order
    /// up to its first refused attribute.
    pub(crate) fn from_body(body: Map<String, Value>) -> Self {
        let mut req = ImageCreate::default();
        req.set_all(body);
        req
    }

    /// Sets the attributes a client chose, in the order given (a JSON body's
    /// order is its keys sorted), stopping at the first refused one, which is
    /// kept for `authorize` to report.
    pub(crate) fn set_all<V: Into<Value>>(
        &mut self,
        attributes: impl IntoIterator<Item = (String, V)>,
    ) {
        if self.refused.is_some() {
            return;
        }
        let read = attributes
            .into_iter()
            .try_for_each(|(key, value)| self.set(&key, value.into()));
        self.refused = read.err().map(RefusedAttribute::from);
    }

    /// Sets one attribute a client chose, by its Glance name, under the rules of
    /// a create: `id` must be a UUID, the rest as `parse_attribute` says.
    fn set(&mut self, key: &str, value: Value) -> ApiResult<()> {
        if key == "id" {
            let id = value.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok());
            self.id =
                Some(id.ok_or_else(|| ApiError::bad_request("Invalid id: it must be a UUID."))?);
            return Ok(());
        }
        match parse_attribute(key, value)? {
            Attribute::Name(v) => self.name = v,
            Attribute::Visibility(v) => self.visibility = Some(v),
            Attribute::Protected(v) => self.protected = v,
            Attribute::OsHidden(v) => self.os_hidden = v,
            Attribute::Tags(v) => self.tags = v,
            Attribute::DiskFormat(v) => self.disk_format = v,
            Attribute::ContainerFormat(v) => self.container_format = v,
            Attribute::MinDisk(v) => self.min_disk = v,
            Attribute::MinRam(v) => self.min_ram = v,
            Attribute::Owner(v) => self.owner = Some(v),
            Attribute::Property(k, v) => {
                self.properties.insert(k, v);
            }
        }
        Ok(())
    }

    /// The policy checks of a create, in the order a body's keys are read:
    /// giving the image away, then publicizing it; then the attribute that
    /// stopped the reading, which came after both.
    pub(crate) fn authorize(&self, ctx: &RequestContext) -> ApiResult<()> {
        if let Some(owner) = &self.owner {
            authorize_owner(ctx, owner.as_deref())?;
        }
        if let Some(visibility) = &self.visibility {
            authorize_visibility(ctx, visibility)?;
        }
        match &self.refused {
            Some(refused) => Err(refused.clone().into()),
            None => Ok(()),
        }
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
            set_attribute(ctx, image, &key, value)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member() -> RequestContext {
        RequestContext::scoped("u1", "p1", &["member", "reader"])
    }

    /// A create body as the service judges it: the caller may create images,
    /// then the policy and attributes of the body.
    fn create(ctx: &RequestContext, body: Value) -> ApiResult<ImageCreate> {
        let Value::Object(body) = body else {
            panic!("test bodies are objects")
        };
        let req = ImageCreate::from_body(body);
        super::super::image_create_allowed(ctx)?;
        req.authorize(ctx)?;
        Ok(req)
    }

    #[test]
    fn a_create_body_becomes_typed_fields_and_string_properties() {
        let id = "7b2d4a8e-1c1f-4f5e-9a3b-2f6d0c9e8a11";
        let req = create(
            &member(),
            json!({
                "id": id, "name": "cirros", "disk_format": "qcow2", "min_ram": 64,
                "tags": ["a", "b", "a"], "owner": "p1", "hw_disk_bus": "virtio",
            }),
        )
        .map_err(|e| e.to_string());
        assert_eq!(
            req,
            Ok(ImageCreate {
                id: uuid::Uuid::parse_str(id).ok(),
                name: Some("cirros".into()),
                disk_format: Some("qcow2".into()),
                min_ram: 64,
                tags: vec!["a".into(), "b".into()],
                owner: Some(Some("p1".into())),
                properties: BTreeMap::from([("hw_disk_bus".into(), "virtio".into())]),
                ..ImageCreate::default()
            })
        );
    }

    #[test]
    fn the_first_bad_key_of_a_create_body_names_the_error() {
        let refused = |body| create(&member(), body).map_err(|e| e.to_string()).err();
        assert_eq!(
            refused(json!({"id": "nope"})).as_deref(),
            Some("Invalid id: it must be a UUID.")
        );
        assert_eq!(
            refused(json!({"status": "active", "min_ram": -1})).as_deref(),
            Some("Invalid value for 'min_ram': expected a non-negative integer."),
            "keys are checked in sorted order"
        );
        assert_eq!(
            refused(json!({"os_glance_x": "1"})).as_deref(),
            Some("Attribute 'os_glance_x' is reserved.")
        );
        assert_eq!(
            refused(json!({"owner": "p2", "protected": "yes"})).as_deref(),
            Some("Only an administrator may change the owner of an image."),
            "policy is asked key by key, as the body is read"
        );
        assert_eq!(
            refused(json!({"visibility": "public"})).as_deref(),
            Some("You are not authorized to complete publicize_image action.")
        );
        assert_eq!(
            refused(json!({"hw_cpu_cores": 2})).as_deref(),
            Some(
                "Invalid value for 'hw_cpu_cores': expected a string (custom properties are strings)."
            )
        );
    }

    #[test]
    fn a_reader_may_not_create_whatever_the_body() {
        let reader = RequestContext::scoped("u1", "p1", &["reader"]);
        assert!(matches!(
            create(&reader, json!({"min_ram": "x"})),
            Err(ApiError::Forbidden(_))
        ));
    }
}
