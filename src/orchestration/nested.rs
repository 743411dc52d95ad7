//! Nested stacks: template resources (a type that is a file of the request's
//! `files`, directly or through the environment's `resource_registry`),
//! `OS::Heat::Stack` and `OS::Heat::ResourceGroup`. Each is a child stack the
//! engine creates, updates and deletes as one resource of its parent; the
//! child's outputs (or its members' attributes) are the resource's attributes.
//! The child's id is recorded in the parent's resource in the same transaction
//! that inserts the child, so a crash never leaves a child nobody owns.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value, json};

use super::OrchestrationService;
use super::engine::{self, Op};
use super::model::{COMPLETE, CREATE, DELETE, FAILED, IN_PROGRESS, Resource, Stack, UPDATE};
use super::template::{self, Template};
use super::{resources, stacks, store};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

pub(crate) const GROUP: &str = "OS::Heat::ResourceGroup";
pub(crate) const STACK: &str = "OS::Heat::Stack";

/// The properties of the built-in nested types.
pub(crate) const GROUP_PROPS: &[&str] = &[
    "count",
    "resource_def",
    "index_var",
    "removal_policies",
    "removal_policies_mode",
];
pub(crate) const STACK_PROPS: &[&str] = &["template", "parameters", "timeout", "context"];

/// How deep templates may nest (Heat's `max_nested_stack_depth`).
const MAX_DEPTH: usize = 5;

/// What kind of child stack a resource type makes.
#[derive(Debug, Clone)]
pub(crate) enum Nested {
    /// A template resource: the file's template, the properties its parameters.
    Template(Value),
    Group,
    Stack,
}

/// Whether a resource type is a nested stack, given the stack's files and
/// registry; a type naming a template file that was not sent is Heat's error.
pub(crate) fn nested_of(
    files: &Map<String, Value>,
    registry: &Map<String, Value>,
    kind: &str,
) -> ApiResult<Option<Nested>> {
    let target = registry.get(kind).and_then(Value::as_str).unwrap_or(kind);
    if let Some(text) = files.get(target) {
        let text = text.as_str().ok_or_else(|| {
            ApiError::bad_request(format!("The file {target} in \"files\" is not text."))
        })?;
        return Ok(Some(Nested::Template(template::parse_text(text)?)));
    }
    if [".yaml", ".yml", ".template", ".json"]
        .iter()
        .any(|e| target.ends_with(e))
        || target.contains("://")
    {
        return Err(ApiError::bad_request(format!(
            "Could not fetch remote template \"{target}\": it is not in the request's files."
        )));
    }
    Ok(match target {
        GROUP => Some(Nested::Group),
        STACK => Some(Nested::Stack),
        _ => None,
    })
}

/// Replaces the index variable in every string of a member definition.
fn with_index(v: &Value, var: &str, i: usize) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(var, &i.to_string())),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_index(x, var, i)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), with_index(x, var, i)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The template and given parameter values of a child stack, from its
/// resource's resolved properties.
pub(crate) fn child_of(
    n: &Nested,
    props: &Map<String, Value>,
) -> ApiResult<(Value, Map<String, Value>)> {
    match n {
        Nested::Template(t) => Ok((t.clone(), props.clone())),
        Nested::Stack => stack_child(props),
        Nested::Group => group_child(props),
    }
}

/// `OS::Heat::Stack`: the template given inline (text or map) and its parameters.
fn stack_child(props: &Map<String, Value>) -> ApiResult<(Value, Map<String, Value>)> {
    let t = match props.get("template") {
        Some(Value::String(text)) => template::parse_text(text)?,
        Some(v @ Value::Object(_)) => v.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "Property error: properties.template: Property template not assigned",
            ));
        }
    };
    let params = match props.get("parameters") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    Ok((t, params))
}

/// `OS::Heat::ResourceGroup`: a template of `count` copies of `resource_def`,
/// named `0`, `1`, ..., each with its index put in for `index_var`.
fn group_child(props: &Map<String, Value>) -> ApiResult<(Value, Map<String, Value>)> {
    let count = match props.get("count") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Property error: properties.count: Value '{v}' is not an integer"
                ))
            })?,
    };
    let Some(Value::Object(def)) = props.get("resource_def") else {
        return Err(ApiError::bad_request(
            "Property error: properties.resource_def: Property resource_def not assigned",
        ));
    };
    let kind = def.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request("Property error: properties.resource_def: Property type not assigned")
    })?;
    let var = props
        .get("index_var")
        .and_then(Value::as_str)
        .unwrap_or("%index%");
    let mut members = Map::new();
    for i in 0..count as usize {
        let mut m = Map::new();
        m.insert("type".into(), Value::String(kind.to_owned()));
        if let Some(p) = def.get("properties").filter(|p| !p.is_null()) {
            m.insert("properties".into(), with_index(p, var, i));
        }
        members.insert(i.to_string(), Value::Object(m));
    }
    Ok((
        json!({"heat_template_version": "2018-08-31", "resources": members}),
        Map::new(),
    ))
}

/// Checks a resource definition, following template resources and group
/// members into their templates.
pub(crate) fn check_resource(
    files: &Map<String, Value>,
    registry: &Map<String, Value>,
    name: &str,
    kind: &str,
    props: &Value,
    depth: usize,
) -> ApiResult<()> {
    if depth > MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "Recursion depth exceeds {MAX_DEPTH}."
        )));
    }
    match nested_of(files, registry, kind)? {
        None => resources::check_definition(name, kind, props),
        Some(Nested::Template(raw)) => {
            let t = Template::parse(raw)?;
            check_known_properties(name, props, |k| t.parameters.contains_key(k))?;
            check_template(files, registry, &t, depth + 1)
        }
        Some(Nested::Group) => {
            check_known_properties(name, props, |k| GROUP_PROPS.contains(&k))?;
            if let Some(Value::Object(def)) = props.get("resource_def")
                && let Some(Value::String(k)) = def.get("type")
            {
                let p = def.get("properties").cloned().unwrap_or(json!({}));
                // Functions in a member's properties resolve later; only the
                // type and property names are checked here.
                check_resource(files, registry, name, k, &p, depth + 1)?;
            }
            Ok(())
        }
        Some(Nested::Stack) => check_known_properties(name, props, |k| STACK_PROPS.contains(&k)),
    }
}

/// Heat's 400 for the first property the nested type does not know.
fn check_known_properties(
    name: &str,
    props: &Value,
    known: impl Fn(&str) -> bool,
) -> ApiResult<()> {
    let unknown = props
        .as_object()
        .and_then(|m| m.keys().find(|k| !known(k.as_str())));
    match unknown {
        Some(k) => Err(ApiError::bad_request(format!(
            "Property error: resources.{name}.properties: Unknown Property {k}"
        ))),
        None => Ok(()),
    }
}

/// Checks every resource of a template and its `get_attr`s.
pub(crate) fn check_template(
    files: &Map<String, Value>,
    registry: &Map<String, Value>,
    t: &Template,
    depth: usize,
) -> ApiResult<()> {
    for (name, r) in &t.resources {
        check_resource(files, registry, name, &r.kind, &r.properties, depth)?;
    }
    engine::check_attributes(t, &|kind| {
        matches!(nested_of(files, registry, kind), Ok(Some(_)))
    })
}

/// The attributes a template asks of a nested resource: `(attribute, the next
/// path element)`, which a group's `attributes` and `resource.N` need.
pub(crate) type Wanted = Vec<(String, Option<String>)>;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl OrchestrationService {
    /// Creates the child stack of a nested resource: the child, its resources
    /// and the parent resource's physical id in one transaction, then the
    /// child's engine run.
    pub(crate) async fn nested_create(
        &self,
        cloud: &Cloud,
        parent: &Stack,
        r: &mut Resource,
        n: &Nested,
        props: &Map<String, Value>,
    ) -> ApiResult<()> {
        let (raw, given) = child_of(n, props)?;
        let t = Template::parse(raw.clone())?;
        let parameters = t.resolve_parameters(&given)?;
        let now = store::now();
        let child = Stack {
            id: uuid::Uuid::new_v4().to_string(),
            name: resources::physical_name(&parent.name, &r.name),
            project_id: parent.project_id.clone(),
            owner: parent.owner.clone(),
            template: raw,
            parameters,
            action: CREATE.into(),
            status: IN_PROGRESS.into(),
            status_reason: "Stack CREATE started".into(),
            disable_rollback: true,
            timeout_mins: parent.timeout_mins,
            tags: vec![],
            created_at: now,
            updated_at: None,
            deleted_at: None,
            parent: format!("{}/{}", parent.id, r.name),
            files: parent.files.clone(),
            registry: parent.registry.clone(),
        };
        let rows = stacks::init_rows(&child, &child.definition()?)?;
        r.physical_id = child.id.clone();
        r.properties = Value::Object(props.clone());
        r.intent = String::new();
        let ev = engine::event(&child, None, CREATE, IN_PROGRESS, "Stack CREATE started");
        let (c2, rr) = (child.clone(), r.clone());
        self.write(move |c| {
            store::stack_insert(c, &c2)?;
            for row in &rows {
                store::resource_put(c, row)?;
            }
            store::event_add(c, &ev)?;
            store::resource_put(c, &rr)
        })
        .await?;
        self.spawn(cloud.clone(), child.id, Op::Create);
        Ok(())
    }

    /// Waits for a child stack's create or update to end; its failure is the
    /// resource's.
    pub(crate) async fn nested_wait(
        &self,
        child_id: &str,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        loop {
            let id = child_id.to_owned();
            let child = self
                .read(move |c| store::stack_get(c, &id))
                .await?
                .ok_or_else(|| super::stack_not_found(child_id))?;
            match (child.action.as_str(), child.status.as_str()) {
                (CREATE | UPDATE, COMPLETE) => return Ok(()),
                (_, IN_PROGRESS) => {}
                _ => {
                    return Err(ApiError::Conflict(format!(
                        "Nested stack {} ended {}: {}",
                        child.name,
                        child.full_status(),
                        child.status_reason
                    )));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Conflict(format!(
                    "Nested stack {} timed out",
                    child.name
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Brings a child stack to its resource's new properties (a group's new
    /// count, a template resource's new parameters) and waits for it.
    pub(crate) async fn nested_update(
        &self,
        cloud: &Cloud,
        child_id: &str,
        n: &Nested,
        props: &Map<String, Value>,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        let id = child_id.to_owned();
        let child = self
            .read(move |c| store::stack_get(c, &id))
            .await?
            .ok_or_else(|| super::stack_not_found(child_id))?;
        let (raw, given) = child_of(n, props)?;
        let t = Template::parse(raw.clone())?;
        let parameters = t.resolve_parameters(&given)?;
        let ev = engine::event(&child, None, UPDATE, IN_PROGRESS, "Stack UPDATE started");
        let (id, timeout) = (child.id.clone(), child.timeout_mins);
        self.write(move |c| {
            store::stack_set_definition(c, &id, &raw, &parameters, timeout)?;
            store::stack_set_status(c, &id, UPDATE, IN_PROGRESS, "Stack UPDATE started")?;
            store::event_add(c, &ev)
        })
        .await?;
        self.spawn(cloud.clone(), child.id.clone(), Op::Update);
        self.nested_wait(&child.id, deadline).await
    }

    /// Deletes a child stack and waits until it is gone (one already gone is
    /// fine, so a parent's delete can be replayed).
    pub(crate) async fn nested_delete(
        &self,
        cloud: &Cloud,
        child_id: &str,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        let mut started = false;
        loop {
            let id = child_id.to_owned();
            let Some(child) = self.read(move |c| store::stack_get(c, &id)).await? else {
                return Ok(());
            };
            if child.deleted_at.is_some() {
                return Ok(());
            }
            let deleting = child.action == DELETE && child.status == IN_PROGRESS;
            if !deleting {
                if started && child.action == DELETE && child.status == FAILED {
                    return Err(ApiError::Conflict(format!(
                        "Nested stack {} DELETE failed: {}",
                        child.name, child.status_reason
                    )));
                }
                self.cancel(&child.id, true);
                self.stack_state(&child, DELETE, IN_PROGRESS, "Stack DELETE started")
                    .await?;
                self.spawn(cloud.clone(), child.id.clone(), Op::Delete);
                started = true;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Conflict(format!(
                    "Timed out deleting nested stack {}",
                    child.name
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// The attributes a template asks of a nested resource: a child's outputs
    /// (and `OS::stack_id`); a group's `refs`, `refs_map`, `attributes`,
    /// `resource.N[.attr]`, or any member attribute as a list over members.
    pub(crate) fn nested_attributes<'a>(
        &'a self,
        cloud: &'a Cloud,
        ctx: &'a RequestContext,
        n: &'a Nested,
        child_id: &'a str,
        wanted: &'a Wanted,
    ) -> Boxed<'a, ApiResult<Map<String, Value>>> {
        Box::pin(async move {
            let id = child_id.to_owned();
            let child = self
                .read(move |c| store::stack_get(c, &id))
                .await?
                .ok_or_else(|| super::stack_not_found(child_id))?;
            let current: BTreeMap<String, Resource> = self
                .stack_resources(&child)
                .await?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect();
            let view = ChildView {
                cloud,
                ctx,
                child: &child,
                current: &current,
            };
            match n {
                Nested::Group => group_attributes(&view, wanted).await,
                Nested::Template(_) | Nested::Stack => stack_attributes(&view, wanted).await,
            }
        })
    }
}

/// A child stack as its parent's `get_attr` sees it: expressions evaluated
/// against the child's resources.
struct ChildView<'a> {
    cloud: &'a Cloud,
    ctx: &'a RequestContext,
    child: &'a Stack,
    current: &'a BTreeMap<String, Resource>,
}

impl ChildView<'_> {
    async fn eval(&self, v: Value) -> ApiResult<Value> {
        engine::evaluate(self.cloud, self.ctx, self.child, self.current, &v).await
    }
}

/// A group's attributes; its members are the child's resources named by
/// their index.
async fn group_attributes(view: &ChildView<'_>, wanted: &Wanted) -> ApiResult<Map<String, Value>> {
    let mut members: Vec<(usize, &Resource)> = view
        .current
        .values()
        .filter_map(|r| r.name.parse::<usize>().ok().map(|i| (i, r)))
        .collect();
    members.sort_by_key(|(i, _)| *i);
    let mut out = Map::new();
    for (attr, next) in wanted {
        if let Some(v) = group_attribute(view, &members, attr, next.as_deref()).await? {
            out.insert(attr.clone(), v);
        }
    }
    Ok(out)
}

/// One attribute of a group (`next`: the attribute path's next part); `None`
/// for `attributes` without the member attribute it needs.
async fn group_attribute(
    view: &ChildView<'_>,
    members: &[(usize, &Resource)],
    attr: &str,
    next: Option<&str>,
) -> ApiResult<Option<Value>> {
    let v = match attr {
        "refs" => json!(
            members
                .iter()
                .map(|(_, r)| r.physical_id.clone())
                .collect::<Vec<_>>()
        ),
        "refs_map" => Value::Object(
            members
                .iter()
                .map(|(i, r)| (i.to_string(), json!(r.physical_id)))
                .collect(),
        ),
        "removed_rsrc_list" => json!([]),
        "attributes" => {
            let Some(x) = next else { return Ok(None) };
            let mut per = Map::new();
            for (i, _) in members {
                let v = view.eval(json!({"get_attr": [i.to_string(), x]})).await?;
                per.insert(i.to_string(), v);
            }
            json!({ x: per })
        }
        a if a.starts_with("resource.") => {
            let rest = &a["resource.".len()..];
            match (rest.split_once('.'), next) {
                (Some((i, x)), _) => view.eval(json!({"get_attr": [i, x]})).await?,
                (None, Some(x)) => json!({ x: view.eval(json!({"get_attr": [rest, x]})).await? }),
                (None, None) => view.eval(json!({"get_resource": rest})).await?,
            }
        }
        other => {
            let mut list = Vec::new();
            for (i, _) in members {
                list.push(
                    view.eval(json!({"get_attr": [i.to_string(), other]}))
                        .await?,
                );
            }
            Value::Array(list)
        }
    };
    Ok(Some(v))
}

/// A child stack's attributes: its id and name, and its outputs.
async fn stack_attributes(view: &ChildView<'_>, wanted: &Wanted) -> ApiResult<Map<String, Value>> {
    let t = view.child.definition()?;
    let mut out = Map::new();
    for (attr, _) in wanted {
        let v = match attr.as_str() {
            "OS::stack_id" => json!(view.child.id),
            "stack_name" => json!(view.child.name),
            "outputs" => {
                let mut all = Map::new();
                for (k, o) in &t.outputs {
                    all.insert(k.clone(), view.eval(o.value.clone()).await?);
                }
                Value::Object(all)
            }
            other => match t.outputs.get(other) {
                Some(o) => view.eval(o.value.clone()).await?,
                None => continue,
            },
        };
        out.insert(attr.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_expands_its_members_with_their_index() {
        let props = json!({"count": 3, "resource_def": {"type": "OS::Neutron::Net", "properties": {"name": "net-%index%"}}});
        let (t, params) = child_of(&Nested::Group, props.as_object().expect("map")).expect("child");
        assert!(params.is_empty());
        let t = Template::parse(t).expect("parses");
        assert_eq!(t.resources.len(), 3);
        assert_eq!(t.resources["2"].properties["name"], "net-2");
        let e = child_of(
            &Nested::Group,
            json!({"count": "x", "resource_def": {"type": "a"}})
                .as_object()
                .expect("map"),
        )
        .expect_err("count");
        assert!(e.to_string().contains("count"), "{e}");
    }

    #[test]
    fn template_resources_come_from_files_or_the_registry() {
        let files = json!({"file:///t/net.yaml": "heat_template_version: 2018-08-31\nparameters:\n  cidr: {type: string}\nresources:\n  n: {type: OS::Neutron::Net}\n"});
        let files = files.as_object().expect("map");
        let reg = json!({"My::Net": "file:///t/net.yaml"});
        let reg = reg.as_object().expect("map");
        assert!(matches!(
            nested_of(files, reg, "My::Net"),
            Ok(Some(Nested::Template(_)))
        ));
        assert!(matches!(
            nested_of(files, reg, "file:///t/net.yaml"),
            Ok(Some(Nested::Template(_)))
        ));
        assert!(matches!(
            nested_of(files, reg, GROUP),
            Ok(Some(Nested::Group))
        ));
        assert!(matches!(
            nested_of(files, reg, "OS::Neutron::Net"),
            Ok(None)
        ));
        assert!(nested_of(files, reg, "missing.yaml").is_err());
        check_resource(files, reg, "r", "My::Net", &json!({"cidr": "x"}), 0).expect("valid");
        let e =
            check_resource(files, reg, "r", "My::Net", &json!({"nope": "x"}), 0).expect_err("prop");
        assert!(e.to_string().contains("Unknown Property nope"), "{e}");
        let e = check_resource(
            files,
            reg,
            "g",
            GROUP,
            &json!({"resource_def": {"type": "OS::No::Such"}}),
            0,
        )
        .expect_err("member type");
        assert!(e.to_string().contains("OS::No::Such"), "{e}");
    }
}
