//! Glance v2 metadata definitions (`/v2/metadefs`): namespaces holding objects,
//! properties and tags, associated with resource types. Reading follows Glance's
//! default policy (a reader sees public namespaces and its own project's private
//! ones, anything else is a 404); every change needs the admin role
//! (`metadef_admin`). A protected namespace and its contents cannot be deleted.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::{ImageService, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;

/// The longest namespace, object, property, tag or resource type name Glance takes.
const NAME_MAX: usize = 80;

/// A namespace row.
#[derive(Debug, Clone)]
struct Namespace {
    namespace: String,
    display_name: Option<String>,
    description: Option<String>,
    visibility: String,
    protected: bool,
    owner: String,
    created_at: String,
    updated_at: String,
}

/// A namespace's own attributes as a create or update sets them.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceFields {
    pub(crate) namespace: String,
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) visibility: String,
    pub(crate) protected: bool,
    /// `None`: the caller's project on create, the current owner on update.
    pub(crate) owner: Option<String>,
}

/// `POST /v2/metadefs/namespaces` as the service takes it: the namespace and
/// what it holds from the start.
#[derive(Debug, Clone)]
pub(crate) struct NamespaceCreate {
    pub(crate) fields: NamespaceFields,
    pub(crate) associations: Vec<Association>,
    pub(crate) objects: Vec<NewDefinition>,
    pub(crate) properties: Vec<NewDefinition>,
    pub(crate) tags: Vec<String>,
}

/// An association of the namespace with a resource type (`POST .../resource_types`).
#[derive(Debug, Clone)]
pub(crate) struct Association {
    pub(crate) name: String,
    pub(crate) prefix: Option<String>,
    pub(crate) properties_target: Option<String>,
}

/// An object or property as a create or update names it. Its definition is a
/// JSON schema that Glance keeps as given beyond the keywords it checks.
#[derive(Debug, Clone)]
pub(crate) struct NewDefinition {
    pub(crate) name: String,
    pub(crate) schema: Map<String, Value>,
}

fn ns_missing(name: &str) -> ApiError {
    ApiError::Missing(format!(
        "Metadata definition namespace={name} was not found."
    ))
}

fn protected(kind: &str, name: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "Metadata definition {kind} {name} is protected and cannot be deleted."
    ))
}

/// A namespace, object, property, tag or resource type name under `key`: Glance's
/// names are 1 to 80 characters, not only blanks.
pub(crate) fn name_field(body: &Map<String, Value>, key: &str) -> ApiResult<String> {
    match body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= NAME_MAX => {
            Ok(s.clone())
        }
        Some(Value::String(_)) => Err(ApiError::bad_request(format!(
            "'{key}' must be 1 to {NAME_MAX} characters."
        ))),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string."))),
        None => Err(ApiError::bad_request(format!(
            "'{key}' is a required property"
        ))),
    }
}

// --- SQL ------------------------------------------------------------------------

const NS_COLS: &str =
    "namespace, display_name, description, visibility, protected, owner, created_at, updated_at";

fn ns_row(r: &rusqlite::Row) -> rusqlite::Result<Namespace> {
    Ok(Namespace {
        namespace: r.get(0)?,
        display_name: r.get(1)?,
        description: r.get(2)?,
        visibility: r.get(3)?,
        protected: r.get(4)?,
        owner: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn ns_get(c: &Connection, name: &str) -> ApiResult<Option<Namespace>> {
    Ok(c.query_row(
        &format!("SELECT {NS_COLS} FROM metadef_namespaces WHERE namespace = ?1"),
        [name],
        ns_row,
    )
    .optional()?)
}

fn ns_list(c: &Connection) -> ApiResult<Vec<Namespace>> {
    let mut st = c.prepare(&format!(
        "SELECT {NS_COLS} FROM metadef_namespaces ORDER BY created_at DESC, namespace"
    ))?;
    let rows = st.query_map([], ns_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Inserts a namespace (`old` is `None`) or rewrites the one named `old`, which
/// may rename it (its contents follow through `ON UPDATE CASCADE`).
fn ns_write(c: &Connection, old: Option<&str>, ns: &Namespace) -> ApiResult<()> {
    let sql = if old.is_some() {
        "UPDATE metadef_namespaces SET namespace = ?1, display_name = ?2, description = ?3,
            visibility = ?4, protected = ?5, owner = ?6, created_at = ?7, updated_at = ?8
         WHERE namespace = ?9"
    } else {
        "INSERT INTO metadef_namespaces (namespace, display_name, description, visibility,
            protected, owner, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE ?9 IS NULL"
    };
    c.execute(
        sql,
        params![
            ns.namespace,
            ns.display_name,
            ns.description,
            ns.visibility,
            ns.protected,
            ns.owner,
            ns.created_at,
            ns.updated_at,
            old
        ],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!(
                "The metadata definition namespace={} already exists.",
                ns.namespace
            )
        })
    })?;
    Ok(())
}

fn associations(c: &Connection, ns: &str) -> ApiResult<Vec<Value>> {
    let mut st = c.prepare(
        "SELECT resource_type, prefix, properties_target, created_at, updated_at
         FROM metadef_associations WHERE namespace = ?1 ORDER BY created_at, resource_type",
    )?;
    let rows = st
        .query_map([ns], |r| {
            Ok(association_view(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn association_view(
    name: String,
    prefix: Option<String>,
    target: Option<String>,
    created: String,
    updated: String,
) -> Value {
    let mut v = json!({"name": name, "created_at": created, "updated_at": updated});
    if let Some(p) = prefix {
        v["prefix"] = json!(p);
    }
    if let Some(t) = target {
        v["properties_target"] = json!(t);
    }
    v
}

/// A stored object or property: name, definition, created and updated times.
type Definition = (String, Map<String, Value>, String, String);

/// Objects or properties of a namespace.
fn definitions(c: &Connection, table: &str, ns: &str) -> ApiResult<Vec<Definition>> {
    let mut st = c.prepare(&format!(
        "SELECT name, body, created_at, updated_at FROM {table} WHERE namespace = ?1 ORDER BY name"
    ))?;
    let rows = st
        .query_map([ns], |r| {
            let body: String = r.get(1)?;
            Ok((
                r.get(0)?,
                serde_json::from_str(&body).unwrap_or_default(),
                r.get(2)?,
                r.get(3)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn definition(c: &Connection, table: &str, ns: &str, name: &str) -> ApiResult<Option<Definition>> {
    Ok(c.query_row(
        &format!(
            "SELECT name, body, created_at, updated_at FROM {table} WHERE namespace = ?1 AND name = ?2"
        ),
        [ns, name],
        |r| {
            let body: String = r.get(1)?;
            Ok((
                r.get(0)?,
                serde_json::from_str(&body).unwrap_or_default(),
                r.get(2)?,
                r.get(3)?,
            ))
        },
    )
    .optional()?)
}

fn tags(c: &Connection, ns: &str) -> ApiResult<Vec<Value>> {
    let mut st = c.prepare(
        "SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace = ?1 ORDER BY created_at, name",
    )?;
    let rows = st
        .query_map([ns], |r| Ok(tag_view(r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn tag_view(name: String, created: String, updated: String) -> Value {
    json!({"name": name, "created_at": created, "updated_at": updated})
}

fn tag_insert(c: &Connection, ns: &str, name: &str, now: &str) -> ApiResult<()> {
    c.execute(
        "INSERT INTO metadef_tags (namespace, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![ns, name, now],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!(
                "A metadata tag with name={name} already exists in namespace={ns}. \
                 (Please note that metadata tag names are case insensitive)."
            )
        })
    })?;
    Ok(())
}

// --- views ----------------------------------------------------------------------

fn ns_view(ns: &Namespace, assocs: Vec<Value>) -> Value {
    let mut v = json!({
        "namespace": ns.namespace, "visibility": ns.visibility, "protected": ns.protected,
        "owner": ns.owner, "created_at": ns.created_at, "updated_at": ns.updated_at,
        "schema": "/v2/schemas/metadefs/namespace",
        "self": format!("/v2/metadefs/namespaces/{}", ns.namespace),
    });
    if let Some(d) = &ns.display_name {
        v["display_name"] = json!(d);
    }
    if let Some(d) = &ns.description {
        v["description"] = json!(d);
    }
    if !assocs.is_empty() {
        v["resource_type_associations"] = Value::Array(assocs);
    }
    v
}

fn object_view(
    ns: &str,
    name: &str,
    body: &Map<String, Value>,
    created: &str,
    updated: &str,
) -> Value {
    let mut v = Value::Object(body.clone());
    v["name"] = json!(name);
    v["created_at"] = json!(created);
    v["updated_at"] = json!(updated);
    v["schema"] = json!("/v2/schemas/metadefs/object");
    v["self"] = json!(format!("/v2/metadefs/namespaces/{ns}/objects/{name}"));
    v
}

fn property_view(name: &str, body: &Map<String, Value>) -> Value {
    let mut v = Value::Object(body.clone());
    v["name"] = json!(name);
    v
}

/// The namespace row a create or update writes: the owner, when not given, is the
/// caller's project (an update keeps the current one instead).
fn namespace_row(ctx: &RequestContext, fields: NamespaceFields, now: &str) -> ApiResult<Namespace> {
    let owner = match fields.owner {
        Some(o) => o,
        None => ctx.project_id().ok_or_else(ApiError::forbidden)?.to_owned(),
    };
    Ok(Namespace {
        namespace: fields.namespace,
        display_name: fields.display_name,
        description: fields.description,
        visibility: fields.visibility,
        protected: fields.protected,
        owner,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// Writes what a new namespace holds from the start; the views of its
/// associations.
fn contents_insert(
    c: &Connection,
    ns: &str,
    req: &NamespaceCreate,
    now: &str,
) -> ApiResult<Vec<Value>> {
    let associations = req
        .associations
        .iter()
        .map(|a| association_insert(c, ns, a, now))
        .collect::<ApiResult<Vec<_>>>()?;
    for o in &req.objects {
        definition_insert(c, DefKind::Object.table(), ns, &o.name, &o.schema, now)?;
    }
    for p in &req.properties {
        definition_insert(c, DefKind::Property.table(), ns, &p.name, &p.schema, now)?;
    }
    for t in &req.tags {
        tag_insert(c, ns, t, now)?;
    }
    Ok(associations)
}

/// The answer to a namespace create: the namespace with the contents it was
/// given, each part shown only when there is some.
fn created_view(ns: &Namespace, associations: Vec<Value>, req: &NamespaceCreate) -> Value {
    let name = ns.namespace.as_str();
    let mut v = ns_view(ns, associations);
    if !req.objects.is_empty() {
        v["objects"] = Value::Array(
            req.objects
                .iter()
                .map(|o| object_view(name, &o.name, &o.schema, &ns.created_at, &ns.created_at))
                .collect(),
        );
    }
    if !req.properties.is_empty() {
        v["properties"] = Value::Object(
            req.properties
                .iter()
                .map(|p| (p.name.clone(), Value::Object(p.schema.clone())))
                .collect(),
        );
    }
    if !req.tags.is_empty() {
        v["tags"] = Value::Array(req.tags.iter().map(|t| json!({"name": t})).collect());
    }
    v
}

fn may_see(ctx: &RequestContext, ns: &Namespace) -> bool {
    policy::METADEF_READ.allows(ctx, Some(&ns.owner))
        || (ns.visibility == "public" && policy::METADEF_READ.allows(ctx, None))
}

/// The namespace if the caller may see it, else Glance's 404.
fn visible(c: &Connection, ctx: &RequestContext, name: &str) -> ApiResult<Namespace> {
    match ns_get(c, name)? {
        Some(ns) if may_see(ctx, &ns) => Ok(ns),
        _ => Err(ns_missing(name)),
    }
}

fn association_insert(c: &Connection, ns: &str, a: &Association, now: &str) -> ApiResult<Value> {
    let Association {
        name,
        prefix,
        properties_target: target,
    } = a.clone();
    c.execute(
        "INSERT OR IGNORE INTO metadef_resource_types (name, protected, created_at, updated_at)
         VALUES (?1, 0, ?2, ?2)",
        params![name, now],
    )?;
    c.execute(
        "INSERT INTO metadef_associations (namespace, resource_type, prefix, properties_target,
            created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![ns, name, prefix, target, now],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!(
                "The metadata definition resource-type association of resource-type={name} \
                 to namespace={ns} already exists."
            )
        })
    })?;
    Ok(association_view(
        name,
        prefix,
        target,
        now.to_owned(),
        now.to_owned(),
    ))
}

fn definition_insert(
    c: &Connection,
    table: &str,
    ns: &str,
    name: &str,
    def: &Map<String, Value>,
    now: &str,
) -> ApiResult<()> {
    let kind = if table == "metadef_objects" {
        "object"
    } else {
        "property"
    };
    c.execute(
        &format!(
            "INSERT INTO {table} (namespace, name, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)"
        ),
        params![ns, name, Value::Object(def.clone()).to_string(), now],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || {
            format!(
                "A metadata definition {kind} with name={name} already exists in namespace={ns}."
            )
        })
    })?;
    Ok(())
}

/// Which table holds a kind of definition, and how its absence reads.
#[derive(Clone, Copy)]
pub(crate) enum DefKind {
    Object,
    Property,
}

impl DefKind {
    fn table(self) -> &'static str {
        match self {
            DefKind::Object => "metadef_objects",
            DefKind::Property => "metadef_properties",
        }
    }

    fn word(self) -> &'static str {
        match self {
            DefKind::Object => "object",
            DefKind::Property => "property",
        }
    }

    fn missing(self, ns: &str, name: &str) -> ApiError {
        ApiError::Missing(format!(
            "The metadata definition {} with name={name} was not found in namespace={ns}.",
            self.word()
        ))
    }

    fn view(self, ns: &str, (name, body, created, updated): &Definition) -> Value {
        match self {
            DefKind::Object => object_view(ns, name, body, created, updated),
            DefKind::Property => property_view(name, body),
        }
    }
}

/// Filters of `GET /v2/metadefs/namespaces`.
#[derive(Debug, Default)]
pub(crate) struct NamespaceQuery {
    pub visibility: Option<String>,
    pub resource_types: Vec<String>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
}

impl ImageService {
    /// `GET /v2/metadefs/namespaces`.
    pub(crate) async fn metadef_namespace_list(
        &self,
        ctx: &RequestContext,
        q: NamespaceQuery,
    ) -> ApiResult<(Vec<Value>, Option<String>)> {
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let ctx = ctx.clone();
        self.read(move |c| {
            let mut out = Vec::new();
            let mut started = q.marker.is_none();
            let mut next = None;
            for ns in ns_list(c)? {
                if !started {
                    started = q.marker.as_deref() == Some(ns.namespace.as_str());
                    continue;
                }
                if !may_see(&ctx, &ns) || q.visibility.as_ref().is_some_and(|v| *v != ns.visibility)
                {
                    continue;
                }
                let assocs = associations(c, &ns.namespace)?;
                if !q.resource_types.is_empty()
                    && !assocs.iter().any(|a| {
                        a["name"]
                            .as_str()
                            .is_some_and(|n| q.resource_types.iter().any(|r| r == n))
                    })
                {
                    continue;
                }
                if q.limit.is_some_and(|l| out.len() >= l) {
                    next = out
                        .last()
                        .and_then(|v: &Value| v["namespace"].as_str().map(str::to_owned));
                    break;
                }
                out.push(ns_view(&ns, assocs));
            }
            if !started {
                return Err(ns_missing(q.marker.as_deref().unwrap_or_default()));
            }
            Ok((out, next))
        })
        .await
    }

    /// `POST /v2/metadefs/namespaces`, with optional associations, objects,
    /// properties and tags created in the same transaction. `req` is the request
    /// as the API read it, or why its body was refused: a caller without
    /// `metadef_admin` is refused whatever the body says.
    pub(crate) async fn metadef_namespace_create(
        &self,
        ctx: &RequestContext,
        req: ApiResult<NamespaceCreate>,
    ) -> ApiResult<Value> {
        ctx.require_admin()?;
        let req = req?;
        let now = store::now();
        let ns = namespace_row(ctx, req.fields.clone(), &now)?;
        self.write(move |c| {
            ns_write(c, None, &ns)?;
            let associations = contents_insert(c, &ns.namespace, &req, &now)?;
            Ok(created_view(&ns, associations, &req))
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}`: the namespace with everything in it.
    pub(crate) async fn metadef_namespace_get(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let ns = visible(c, &ctx, &name)?;
            let mut v = ns_view(&ns, associations(c, &name)?);
            let objects = definitions(c, "metadef_objects", &name)?;
            if !objects.is_empty() {
                v["objects"] = Value::Array(
                    objects
                        .iter()
                        .map(|o| DefKind::Object.view(&name, o))
                        .collect(),
                );
            }
            let properties = definitions(c, "metadef_properties", &name)?;
            if !properties.is_empty() {
                v["properties"] = Value::Object(
                    properties
                        .into_iter()
                        .map(|(n, d, _, _)| (n, Value::Object(d)))
                        .collect(),
                );
            }
            let tags = tags(c, &name)?;
            if !tags.is_empty() {
                v["tags"] = Value::Array(tags);
            }
            Ok(v)
        })
        .await
    }

    /// `PUT /v2/metadefs/namespaces/{ns}`: attributes not sent return to their
    /// defaults, as in Glance; the contents stay. A refused body (`fields`) is
    /// reported once the namespace is found and the caller may change it.
    pub(crate) async fn metadef_namespace_update(
        &self,
        ctx: &RequestContext,
        name: String,
        fields: ApiResult<NamespaceFields>,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let current = visible(c, &ctx, &name)?;
            ctx.require_admin()?;
            let fields = fields?;
            let keeps_owner = fields.owner.is_none();
            let mut ns = namespace_row(&ctx, fields, &store::now())?;
            if keeps_owner {
                ns.owner = current.owner.clone();
            }
            ns.created_at = current.created_at;
            ns_write(c, Some(&name), &ns)?;
            Ok(ns_view(&ns, associations(c, &ns.namespace)?))
        })
        .await
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}`: with everything in it, unless protected.
    pub(crate) async fn metadef_namespace_delete(
        &self,
        ctx: &RequestContext,
        name: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let ns = visible(c, &ctx, &name)?;
            ctx.require_admin()?;
            if ns.protected {
                return Err(ApiError::Forbidden(format!(
                    "Namespace {name} is protected and cannot be deleted."
                )));
            }
            c.execute(
                "DELETE FROM metadef_namespaces WHERE namespace = ?1",
                [&name],
            )?;
            Ok(())
        })
        .await
    }

    /// `GET /v2/metadefs/resource_types`.
    pub(crate) async fn metadef_resource_types(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<Value>> {
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT name, created_at, updated_at FROM metadef_resource_types ORDER BY rowid",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(
                        json!({"name": r.get::<_, String>(0)?, "created_at": r.get::<_, String>(1)?,
                              "updated_at": r.get::<_, String>(2)?}),
                    )
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}/resource_types`.
    pub(crate) async fn metadef_association_list(
        &self,
        ctx: &RequestContext,
        ns: String,
    ) -> ApiResult<Vec<Value>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            visible(c, &ctx, &ns)?;
            associations(c, &ns)
        })
        .await
    }

    /// `POST /v2/metadefs/namespaces/{ns}/resource_types`: an unknown resource type
    /// is created on the way, as Glance does. A refused body is reported once
    /// the namespace is found and the caller may change it.
    pub(crate) async fn metadef_association_create(
        &self,
        ctx: &RequestContext,
        ns: String,
        association: ApiResult<Association>,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            association_insert(c, &ns, &association?, &store::now())
        })
        .await
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{name}`.
    pub(crate) async fn metadef_association_delete(
        &self,
        ctx: &RequestContext,
        ns: String,
        name: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let namespace = visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            if namespace.protected {
                return Err(protected("resource-type association", &name));
            }
            let n = c.execute(
                "DELETE FROM metadef_associations WHERE namespace = ?1 AND resource_type = ?2",
                params![ns, name],
            )?;
            if n == 0 {
                return Err(ApiError::Missing(format!(
                    "The metadata definition resource-type association of resource-type={name} \
                     to namespace={ns}, was not found."
                )));
            }
            Ok(())
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}/{objects|properties}`.
    pub(crate) async fn metadef_definition_list(
        &self,
        ctx: &RequestContext,
        kind: DefKind,
        ns: String,
    ) -> ApiResult<Vec<(String, Value)>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            visible(c, &ctx, &ns)?;
            Ok(definitions(c, kind.table(), &ns)?
                .iter()
                .map(|d| (d.0.clone(), kind.view(&ns, d)))
                .collect())
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}/{objects|properties}/{name}`.
    pub(crate) async fn metadef_definition_get(
        &self,
        ctx: &RequestContext,
        kind: DefKind,
        ns: String,
        name: String,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.read(move |c| {
            visible(c, &ctx, &ns)?;
            let d =
                definition(c, kind.table(), &ns, &name)?.ok_or_else(|| kind.missing(&ns, &name))?;
            Ok(kind.view(&ns, &d))
        })
        .await
    }

    /// `POST /v2/metadefs/namespaces/{ns}/{objects|properties}`. A refused body
    /// is reported once the namespace is found and the caller may change it.
    pub(crate) async fn metadef_definition_create(
        &self,
        ctx: &RequestContext,
        kind: DefKind,
        ns: String,
        definition: ApiResult<NewDefinition>,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            let NewDefinition { name, schema: def } = definition?;
            let now = store::now();
            definition_insert(c, kind.table(), &ns, &name, &def, &now)?;
            Ok(kind.view(&ns, &(name, def, now.clone(), now)))
        })
        .await
    }

    /// `PUT /v2/metadefs/namespaces/{ns}/{objects|properties}/{name}`: the new
    /// definition replaces the old one, and may rename it. A refused body is
    /// reported once the definition is found and the caller may change it.
    pub(crate) async fn metadef_definition_update(
        &self,
        ctx: &RequestContext,
        kind: DefKind,
        ns: String,
        name: String,
        replacement: ApiResult<NewDefinition>,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            let current =
                definition(c, kind.table(), &ns, &name)?.ok_or_else(|| kind.missing(&ns, &name))?;
            let NewDefinition {
                name: new_name,
                schema: def,
            } = replacement?;
            let now = store::now();
            c.execute(
                &format!(
                    "UPDATE {} SET name = ?3, body = ?4, updated_at = ?5 WHERE namespace = ?1 AND name = ?2",
                    kind.table()
                ),
                params![ns, name, new_name, Value::Object(def.clone()).to_string(), now],
            )
            .map_err(|e| {
                crate::http::error::conflict_on_unique(e, || {
                    format!(
                        "A metadata definition {} with name={new_name} already exists in namespace={ns}.",
                        kind.word()
                    )
                })
            })?;
            Ok(kind.view(&ns, &(new_name, def, current.2, now)))
        })
        .await
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}/{objects|properties}[/{name}]`: one
    /// definition, or all of them when `name` is `None`.
    pub(crate) async fn metadef_definition_delete(
        &self,
        ctx: &RequestContext,
        kind: DefKind,
        ns: String,
        name: Option<String>,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let namespace = visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            if namespace.protected {
                return Err(protected(kind.word(), name.as_deref().unwrap_or(&ns)));
            }
            match name {
                Some(name) => {
                    let n = c.execute(
                        &format!(
                            "DELETE FROM {} WHERE namespace = ?1 AND name = ?2",
                            kind.table()
                        ),
                        params![ns, name],
                    )?;
                    if n == 0 {
                        return Err(kind.missing(&ns, &name));
                    }
                }
                None => {
                    c.execute(
                        &format!("DELETE FROM {} WHERE namespace = ?1", kind.table()),
                        [&ns],
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}/tags`.
    pub(crate) async fn metadef_tag_list(
        &self,
        ctx: &RequestContext,
        ns: String,
    ) -> ApiResult<Vec<Value>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            visible(c, &ctx, &ns)?;
            tags(c, &ns)
        })
        .await
    }

    /// `POST /v2/metadefs/namespaces/{ns}/tags`: the namespace's tags become the
    /// given ones, or are added to when `append` (`X-Openstack-Append: true`).
    pub(crate) async fn metadef_tags_create(
        &self,
        ctx: &RequestContext,
        ns: String,
        names: Vec<String>,
        append: bool,
    ) -> ApiResult<Vec<String>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            // Replacing is allowed on a protected namespace, as in Glance; only the
            // delete calls are refused there.
            if !append {
                c.execute("DELETE FROM metadef_tags WHERE namespace = ?1", [&ns])?;
            }
            let now = store::now();
            for n in &names {
                tag_insert(c, &ns, n, &now)?;
            }
            Ok(names)
        })
        .await
    }

    /// `GET /v2/metadefs/namespaces/{ns}/tags/{tag}`.
    pub(crate) async fn metadef_tag_get(
        &self,
        ctx: &RequestContext,
        ns: String,
        tag: String,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.read(move |c| {
            visible(c, &ctx, &ns)?;
            tag_get(c, &ns, &tag)
        })
        .await
    }

    /// `POST /v2/metadefs/namespaces/{ns}/tags/{tag}`.
    pub(crate) async fn metadef_tag_create(
        &self,
        ctx: &RequestContext,
        ns: String,
        tag: String,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            let mut body = Map::new();
            body.insert("name".into(), json!(tag));
            let tag = name_field(&body, "name")?;
            let now = store::now();
            tag_insert(c, &ns, &tag, &now)?;
            Ok(tag_view(tag, now.clone(), now))
        })
        .await
    }

    /// `PUT /v2/metadefs/namespaces/{ns}/tags/{tag}`: renames the tag.
    pub(crate) async fn metadef_tag_update(
        &self,
        ctx: &RequestContext,
        ns: String,
        tag: String,
        new_name: String,
    ) -> ApiResult<Value> {
        let ctx = ctx.clone();
        self.write(move |c| {
            visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            let current = tag_get(c, &ns, &tag)?;
            let now = store::now();
            c.execute(
                "UPDATE metadef_tags SET name = ?3, updated_at = ?4 WHERE namespace = ?1 AND name = ?2",
                params![ns, tag, new_name, now],
            )
            .map_err(|e| {
                crate::http::error::conflict_on_unique(e, || {
                    format!("A metadata tag with name={new_name} already exists in namespace={ns}.")
                })
            })?;
            let created = current["created_at"].as_str().unwrap_or_default().to_owned();
            Ok(tag_view(new_name, created, now))
        })
        .await
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}/tags[/{tag}]`.
    pub(crate) async fn metadef_tag_delete(
        &self,
        ctx: &RequestContext,
        ns: String,
        tag: Option<String>,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let namespace = visible(c, &ctx, &ns)?;
            ctx.require_admin()?;
            if namespace.protected {
                return Err(protected("tag", tag.as_deref().unwrap_or(&ns)));
            }
            match tag {
                Some(tag) => {
                    let n = c.execute(
                        "DELETE FROM metadef_tags WHERE namespace = ?1 AND name = ?2",
                        params![ns, tag],
                    )?;
                    if n == 0 {
                        return Err(tag_missing(&ns, &tag));
                    }
                }
                None => {
                    c.execute("DELETE FROM metadef_tags WHERE namespace = ?1", [&ns])?;
                }
            }
            Ok(())
        })
        .await
    }
}

fn tag_missing(ns: &str, tag: &str) -> ApiError {
    ApiError::Missing(format!(
        "The metadata definition tag with name={tag} was not found in namespace={ns}."
    ))
}

fn tag_get(c: &Connection, ns: &str, tag: &str) -> ApiResult<Value> {
    c.query_row(
        "SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace = ?1 AND name = ?2",
        [ns, tag],
        |r| Ok(tag_view(r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()?
    .ok_or_else(|| tag_missing(ns, tag))
}
