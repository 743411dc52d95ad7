//! Glance's metadata definition bodies (`/v2/metadefs`) read into the typed
//! requests the image service takes, with Glance's messages for a bad body.
//! Definitions keep their JSON-schema keywords as given: only the keywords
//! Glance's schema fixes are checked.

use serde_json::{Map, Value, json};

use crate::http::error::{ApiError, ApiResult};
use crate::image::metadefs::{
    Association, DefKind, NamespaceCreate, NamespaceFields, NewDefinition, name_field,
};

const PROPERTY_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// What a namespace body may hold (its schema has no additional properties); the
/// contents are taken on create and ignored on update, as in Glance.
const NAMESPACE_KEYS: &[&str] = &[
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
    "resource_type_associations",
    "properties",
    "objects",
    "tags",
    "schema",
    "self",
    "created_at",
    "updated_at",
];

fn optional_string(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string."))),
    }
}

fn check_keys(body: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

/// A list of objects under `key` (absent or null: none).
fn object_list(body: &Map<String, Value>, key: &str) -> ApiResult<Vec<Map<String, Value>>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::bad_request(format!("'{key}' must be a list of objects."))),
    }
}

/// The names of a list of `{"name": ...}` objects.
fn tag_names(list: &[Map<String, Value>]) -> ApiResult<Vec<String>> {
    list.iter().map(|t| name_field(t, "name")).collect()
}

/// A property definition (`title` and `type` required, JSON-schema keywords beside).
fn property_definition(body: &Map<String, Value>) -> ApiResult<NewDefinition> {
    let name = name_field(body, "name")?;
    match body.get("title") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(ApiError::bad_request("'title' must be a string.")),
        None => return Err(ApiError::bad_request("'title' is a required property")),
    }
    match body.get("type").and_then(Value::as_str) {
        Some(t) if PROPERTY_TYPES.contains(&t) => {}
        Some(t) => {
            return Err(ApiError::bad_request(format!(
                "'{t}' is not one of {PROPERTY_TYPES:?}"
            )));
        }
        None => return Err(ApiError::bad_request("'type' is a required property")),
    }
    if let Some(e) = body.get("enum")
        && !e.is_array()
    {
        return Err(ApiError::bad_request("'enum' must be an array."));
    }
    let mut schema = body.clone();
    schema.remove("name");
    Ok(NewDefinition { name, schema })
}

/// A named property definition, as an object or a namespace lists them: the
/// name is the key, the definition its value.
fn named_property(name: &str, def: &Map<String, Value>) -> ApiResult<NewDefinition> {
    let mut with_name = def.clone();
    with_name.insert("name".into(), json!(name));
    property_definition(&with_name)
}

/// An object's `properties`: a map of property definitions.
fn object_properties(props: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let mut checked = Map::new();
    for (pname, pdef) in props {
        let Value::Object(pdef) = pdef else {
            return Err(ApiError::bad_request(format!(
                "Property {pname} must be an object."
            )));
        };
        let d = named_property(pname, pdef)?;
        checked.insert(pname.clone(), Value::Object(d.schema));
    }
    Ok(checked)
}

/// An object definition (`name` required; `properties` a map of property definitions).
fn object_definition(body: &Map<String, Value>) -> ApiResult<NewDefinition> {
    check_keys(
        body,
        &[
            "name",
            "description",
            "required",
            "properties",
            "schema",
            "self",
            "created_at",
            "updated_at",
        ],
    )?;
    let name = name_field(body, "name")?;
    optional_string(body, "description")?;
    let mut schema = Map::new();
    if let Some(d) = body.get("description").filter(|d| !d.is_null()) {
        schema.insert("description".into(), d.clone());
    }
    match body.get("required") {
        None | Some(Value::Null) => {}
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => {
            schema.insert("required".into(), Value::Array(r.clone()));
        }
        Some(_) => return Err(ApiError::bad_request("'required' must be a list of names.")),
    }
    match body.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            schema.insert(
                "properties".into(),
                Value::Object(object_properties(props)?),
            );
        }
        Some(_) => return Err(ApiError::bad_request("'properties' must be an object.")),
    }
    Ok(NewDefinition { name, schema })
}

/// `POST` or `PUT` of an object or a property.
pub(super) fn definition(kind: DefKind, body: &Map<String, Value>) -> ApiResult<NewDefinition> {
    match kind {
        DefKind::Object => object_definition(body),
        DefKind::Property => property_definition(body),
    }
}

/// A namespace's own attributes from a create or update body.
pub(super) fn namespace_fields(body: &Map<String, Value>) -> ApiResult<NamespaceFields> {
    let visibility = match body.get("visibility") {
        None | Some(Value::Null) => "private".to_owned(),
        Some(Value::String(v)) if v == "public" || v == "private" => v.clone(),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "{v} is not one of ['public', 'private']"
            )));
        }
    };
    let protected = match body.get("protected") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("'protected' must be a boolean.")),
    };
    let owner = optional_string(body, "owner")?;
    Ok(NamespaceFields {
        namespace: name_field(body, "namespace")?,
        display_name: optional_string(body, "display_name")?,
        description: optional_string(body, "description")?,
        visibility,
        protected,
        owner,
    })
}

/// The keys of a namespace body: Glance's schema allows no others. An update
/// checks them before the namespace is looked up, its attributes after.
pub(super) fn namespace_keys(body: &Map<String, Value>) -> ApiResult<()> {
    check_keys(body, NAMESPACE_KEYS)
}

/// The `properties` of a namespace body: a map of named property definitions.
fn namespace_properties(body: &Map<String, Value>) -> ApiResult<Vec<NewDefinition>> {
    match body.get("properties") {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Object(props)) => props
            .iter()
            .map(|(name, def)| named_property(name, &def.as_object().cloned().unwrap_or_default()))
            .collect(),
        Some(_) => Err(ApiError::bad_request("'properties' must be an object.")),
    }
}

/// `POST /v2/metadefs/namespaces`: the namespace and its first contents, each
/// checked in the order Glance answers a bad body in.
pub(super) fn namespace_create(body: &Map<String, Value>) -> ApiResult<NamespaceCreate> {
    namespace_keys(body)?;
    let fields = namespace_fields(body)?;
    let association_bodies = object_list(body, "resource_type_associations")?;
    let objects = object_list(body, "objects")?
        .iter()
        .map(object_definition)
        .collect::<ApiResult<Vec<_>>>()?;
    let tags = tag_names(&object_list(body, "tags")?)?;
    let properties = namespace_properties(body)?;
    let associations = association_bodies
        .iter()
        .map(association)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(NamespaceCreate {
        fields,
        associations,
        objects,
        properties,
        tags,
    })
}

/// `POST /v2/metadefs/namespaces/{ns}/resource_types`.
pub(super) fn association(body: &Map<String, Value>) -> ApiResult<Association> {
    check_keys(
        body,
        &[
            "name",
            "prefix",
            "properties_target",
            "created_at",
            "updated_at",
        ],
    )?;
    Ok(Association {
        name: name_field(body, "name")?,
        prefix: optional_string(body, "prefix")?,
        properties_target: optional_string(body, "properties_target")?,
    })
}

/// `POST /v2/metadefs/namespaces/{ns}/tags`: `{"tags": [{"name": ...}, ...]}`.
pub(super) fn tags(body: &Map<String, Value>) -> ApiResult<Vec<String>> {
    check_keys(body, &["tags"])?;
    let list: Vec<Map<String, Value>> = match body.get("tags") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::bad_request("'tags' must be a list of objects."))?,
        None => return Err(ApiError::bad_request("'tags' is a required property")),
    };
    tag_names(&list)
}

/// `PUT /v2/metadefs/namespaces/{ns}/tags/{tag}`: the tag's new name.
pub(super) fn tag_rename(body: &Map<String, Value>) -> ApiResult<String> {
    check_keys(body, &["name", "created_at", "updated_at"])?;
    name_field(body, "name")
}
