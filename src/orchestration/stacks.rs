//! Stack operations (Orchestration API v1: Stacks, Outputs, Templates): the
//! checks done before a stack is accepted, and the reads the API shows.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::engine::{self, Op};
use super::model::{COMPLETE, CREATE, DELETE, IN_PROGRESS, INIT, Owner, Resource, Stack, UPDATE};
use super::template::Template;
use super::{OrchestrationService, may_change, store};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// What a preview resolves the template's functions against: the stack's
/// parameters, each resource's name for its id, no attributes yet.
struct PreviewScope<'a> {
    stack: &'a Stack,
}

impl super::template::Scope for PreviewScope<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        match name {
            "OS::stack_name" => Some(Value::String(self.stack.name.clone())),
            "OS::stack_id" => Some(Value::String(self.stack.id.clone())),
            "OS::project_id" => Some(Value::String(self.stack.project_id.clone())),
            _ => self.stack.parameters.get(name).cloned(),
        }
    }

    fn resource_id(&self, name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    fn attr(&self, _name: &str, _attr: &str) -> Option<Value> {
        Some(Value::Null)
    }
}

/// The body of `POST /stacks` (and of `POST /validate`, which reads the template
/// and environment only).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct StackCreate {
    pub stack_name: Option<String>,
    pub template: Option<Value>,
    pub template_url: Option<String>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    pub environment: Option<Value>,
    #[serde(default)]
    pub files: Map<String, Value>,
    #[expect(
        dead_code,
        reason = "accepted as Heat accepts it; the client merges environment files into `environment`"
    )]
    pub environment_files: Option<Vec<String>>,
    #[expect(
        dead_code,
        reason = "accepted as Heat accepts it; templates from a Swift container are not supported yet"
    )]
    pub files_container: Option<String>,
    pub disable_rollback: Option<bool>,
    pub timeout_mins: Option<Value>,
    pub tags: Option<Value>,
    pub adopt_stack_data: Option<Value>,
}

/// The template of a request, given inline as a mapping or as text.
pub(super) fn template_of(req: &StackCreate) -> ApiResult<Template> {
    let raw = match (&req.template, &req.template_url) {
        (Some(Value::String(text)), _) => super::template::parse_text(text)?,
        (Some(v @ Value::Object(_)), _) => v.clone(),
        (Some(_), _) => {
            return Err(ApiError::bad_request(
                "The template is not a JSON object or YAML mapping.",
            ));
        }
        // `remote::resolve` has read it by now when it could.
        (None, Some(url)) => {
            return Err(ApiError::bad_request(format!(
                "Could not retrieve template: {url} was not read"
            )));
        }
        (None, None) => return Err(ApiError::bad_request("No template specified")),
    };
    let files = files_of(req)?;
    let registry = registry_of(req)?;
    let mut raw = inline_files(&raw, &files)?;
    // A registry entry naming another built-in type is applied here, so the
    // stored template has the real type; one naming a file stays, and the
    // engine makes a nested stack of it.
    if let Some(Value::Object(rs)) = raw.get_mut("resources") {
        for r in rs.values_mut() {
            if let Some(Value::String(kind)) = r.get_mut("type")
                && let Some(Value::String(to)) = registry.get(kind.as_str())
                && !files.contains_key(to)
            {
                *kind = to.clone();
            }
        }
    }
    let t = Template::parse(raw)?;
    super::nested::check_template(&files, &registry, &t, 0)?;
    Ok(t)
}

/// Reads what a request names by URL from this cloud's object store (see
/// `remote.rs`).
pub(super) async fn resolve_remote(
    cloud: &Cloud,
    ctx: &RequestContext,
    req: &mut StackCreate,
) -> ApiResult<()> {
    super::remote::resolve(cloud, ctx, req).await
}

/// The request's `files`: name to text.
pub(super) fn files_of(req: &StackCreate) -> ApiResult<Map<String, Value>> {
    if let Some((k, _)) = req.files.iter().find(|(_, v)| !v.is_string()) {
        return Err(ApiError::bad_request(format!(
            "The file {k} in \"files\" is not text."
        )));
    }
    Ok(req.files.clone())
}

/// The environment's `resource_registry`: type to type or file (its
/// per-resource `resources:` overrides are not supported).
pub(super) fn registry_of(req: &StackCreate) -> ApiResult<Map<String, Value>> {
    match environment_of(req)?.get("resource_registry") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .filter(|(k, v)| *k != "resources" && v.is_string())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()),
        Some(_) => Err(ApiError::bad_request("resource_registry must be a mapping")),
    }
}

/// Replaces each `get_file` with the content the request sent under that name
/// (the client reads local files and sends them in `files`).
fn inline_files(v: &Value, files: &Map<String, Value>) -> ApiResult<Value> {
    Ok(match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("get_file") => {
            let name = m.get("get_file").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request("Arguments to \"get_file\" must be a string")
            })?;
            files.get(name).cloned().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "No content found in the \"files\" section for get_file path: {name}"
                ))
            })?
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), inline_files(x, files)?)))
                .collect::<ApiResult<_>>()?,
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| inline_files(x, files))
                .collect::<ApiResult<_>>()?,
        ),
        other => other.clone(),
    })
}

/// A stack's resources as recorded before its engine run starts (INIT).
pub(crate) fn init_rows(stack: &Stack, live: &Template) -> ApiResult<Vec<Resource>> {
    let now = store::now();
    Ok(live
        .order()?
        .into_iter()
        .filter_map(|n| live.resources.get(&n).map(|d| (n, d.kind.clone())))
        .map(|(name, kind)| Resource::init(&stack.id, name, kind, now.clone()))
        .collect())
}

/// The parameter values of a request: the environment's `parameter_defaults`,
/// then its `parameters`, then the request's own, later ones winning.
/// The parameters an update gives: on a patch the stack's current values (for
/// parameters the template still has) under the request's.
fn update_parameters(
    stack: &Stack,
    t: &Template,
    req: &StackCreate,
    patch: bool,
) -> ApiResult<Map<String, Value>> {
    let mut given = Map::new();
    if patch {
        given.extend(
            stack
                .parameters
                .iter()
                .filter(|(k, _)| t.parameters.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    given.extend(given_parameters(req)?);
    Ok(given)
}

pub(super) fn given_parameters(req: &StackCreate) -> ApiResult<Map<String, Value>> {
    let env = environment_of(req)?;
    let mut out = Map::new();
    for section in ["parameter_defaults", "parameters"] {
        if let Some(Value::Object(p)) = env.get(section) {
            out.extend(p.clone());
        }
    }
    out.extend(req.parameters.clone());
    Ok(out)
}

/// The request's environment, checked for known sections.
fn environment_of(req: &StackCreate) -> ApiResult<Map<String, Value>> {
    let env = match &req.environment {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(text)) => match super::template::parse_text(text)? {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                return Err(ApiError::bad_request(
                    "The environment is not a valid YAML mapping.",
                ));
            }
        },
        Some(_) => {
            return Err(ApiError::bad_request(
                "The environment is not a valid YAML mapping.",
            ));
        }
    };
    const ENV_SECTIONS: &[&str] = &[
        "parameters",
        "parameter_defaults",
        "resource_registry",
        "event_sinks",
        "parameter_merge_strategies",
        "encrypted_param_names",
    ];
    if let Some(k) = env.keys().find(|k| !ENV_SECTIONS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "environment has unknown section \"{k}\""
        )));
    }
    Ok(env)
}

fn check_stack_name(name: &str) -> ApiResult<()> {
    let ok = name.len() <= 255
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid stack name {name} must contain only alphanumeric or \"_-.\" characters, must start with alpha and must be 255 characters or less."
        )))
    }
}

fn tags_of(v: &Option<Value>) -> ApiResult<Vec<String>> {
    Ok(match v {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "tags must be a comma-separated string or a list",
            ));
        }
    })
}

fn timeout_of(v: &Option<Value>) -> ApiResult<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("Invalid timeout value")),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid timeout value {s}"))),
        Some(_) => Err(ApiError::bad_request("Invalid timeout value")),
    }
}

impl OrchestrationService {
    /// `POST /stacks`: validates everything, records the stack and its resources
    /// (INIT) with the owner's identity, and starts the engine.
    pub(crate) async fn stack_create(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        req: StackCreate,
    ) -> ApiResult<Stack> {
        let stack = self.stack_prepare(cloud, ctx, req, true).await?;
        let rows = init_rows(&stack, &stack.definition()?)?;
        let ev = engine::event(&stack, None, CREATE, IN_PROGRESS, "Stack CREATE started");
        let s = stack.clone();
        self.write(move |c| {
            store::stack_insert(c, &s)?;
            for r in &rows {
                store::resource_put(c, r)?;
            }
            store::event_add(c, &ev)
        })
        .await?;
        self.spawn(cloud.clone(), stack.id.clone(), Op::Create);
        Ok(stack)
    }

    /// Everything a create checks, without recording anything: the stack as it
    /// would be made (CREATE_IN_PROGRESS, a new id). `write`: the caller must
    /// be allowed to change the project (a create; not a preview).
    async fn stack_prepare(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        mut req: StackCreate,
        write: bool,
    ) -> ApiResult<Stack> {
        let owner = Owner::of(ctx)
            .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))?;
        if write {
            may_change(ctx, &owner.project_id)?;
        }
        let name = req
            .stack_name
            .clone()
            .ok_or_else(|| ApiError::bad_request("No stack name specified"))?;
        check_stack_name(&name)?;
        if req.adopt_stack_data.is_some() {
            return Err(ApiError::bad_request(
                "Stack adopt is not supported by this cloud.",
            ));
        }
        super::remote::resolve(cloud, ctx, &mut req).await?;
        let t = template_of(&req)?;
        let parameters = t.resolve_parameters(&given_parameters(&req)?)?;
        let now = store::now();
        let stack = Stack {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            project_id: owner.project_id.clone(),
            owner,
            template: t.raw.clone(),
            parameters,
            action: CREATE.into(),
            status: IN_PROGRESS.into(),
            status_reason: "Stack CREATE started".into(),
            disable_rollback: req.disable_rollback.unwrap_or(true),
            timeout_mins: timeout_of(&req.timeout_mins)?,
            tags: tags_of(&req.tags)?,
            created_at: now.clone(),
            updated_at: None,
            deleted_at: None,
            parent: String::new(),
            files: files_of(&req)?,
            registry: registry_of(&req)?,
        };
        Ok(stack)
    }

    /// `POST /stacks/preview`: the stack a create would make and its resources
    /// with their properties resolved as far as they can be before anything
    /// exists (a `get_resource` is the resource's name, a `get_attr` null, as
    /// Heat previews them). Nothing is recorded or created.
    pub(crate) async fn stack_preview(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        req: StackCreate,
    ) -> ApiResult<(Stack, Vec<(Resource, Value)>)> {
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        // A preview changes nothing: a reader may ask for one (Heat's policy).
        let mut stack = self.stack_prepare(cloud, ctx, req, false).await?;
        stack.id = "None".into();
        stack.action = INIT.into();
        stack.status = COMPLETE.into();
        stack.status_reason = String::new();
        let t = stack.definition()?;
        let scope = PreviewScope { stack: &stack };
        let mut out = Vec::new();
        for r in init_rows(&stack, &t)? {
            let props = match t.resources.get(&r.name) {
                Some(d) => super::template::resolve(&d.properties, &scope)?,
                None => Value::Null,
            };
            let props = match props {
                Value::Object(m) => Value::Object(m),
                _ => Value::Object(Map::new()),
            };
            out.push((r, props));
        }
        Ok((stack, out))
    }

    /// `PUT /stacks/{name}/{id}` (`patch`: `PATCH`, Heat's `--existing`, where the
    /// stored template and parameters stay unless given): records the new
    /// definition with UPDATE_IN_PROGRESS in one transaction and starts the engine.
    pub(crate) async fn stack_update(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        name_or_id: &str,
        mut req: StackCreate,
        patch: bool,
    ) -> ApiResult<()> {
        let stack = self.stack_find(ctx, name_or_id).await?;
        super::remote::resolve(cloud, ctx, &mut req).await?;
        may_change(ctx, &stack.project_id)?;
        if stack.deleted_at.is_some() {
            return Err(super::stack_not_found(name_or_id));
        }
        if stack.status == IN_PROGRESS {
            return Err(ApiError::Conflict(format!(
                "Stack {} already has an action ({}) in progress.",
                stack.name, stack.action
            )));
        }
        let keep = patch && req.template.is_none() && req.template_url.is_none();
        let t = if keep {
            Template::parse(stack.template.clone())?
        } else {
            template_of(&req)?
        };
        let (files, registry) = if keep {
            (stack.files.clone(), stack.registry.clone())
        } else {
            (files_of(&req)?, registry_of(&req)?)
        };
        let parameters = t.resolve_parameters(&update_parameters(&stack, &t, &req, patch)?)?;
        let timeout = timeout_of(&req.timeout_mins)?.or(stack.timeout_mins);
        let ev = engine::event(&stack, None, UPDATE, IN_PROGRESS, "Stack UPDATE started");
        let (id, raw) = (stack.id.clone(), t.raw.clone());
        // What a cancelled or failed update rolls back to.
        let previous = serde_json::json!({
            "template": stack.template,
            "parameters": stack.parameters,
            "files": stack.files,
            "registry": stack.registry,
        });
        self.write(move |c| {
            store::stack_set_previous(c, &id, &previous)?;
            store::stack_set_cancel(c, &id, "")?;
            store::stack_set_definition(c, &id, &raw, &parameters, timeout)?;
            store::stack_set_environment(c, &id, &files, &registry)?;
            store::stack_set_status(c, &id, UPDATE, IN_PROGRESS, "Stack UPDATE started")?;
            store::event_add(c, &ev)
        })
        .await?;
        self.spawn(cloud.clone(), stack.id.clone(), Op::Update);
        Ok(())
    }

    /// `POST /stacks/{name}/{id}/actions` with `cancel_update` (`rollback`) or
    /// `cancel_without_rollback`: records the request, which the running
    /// engine reads before its next resource (the resource in progress
    /// finishes first). Heat's 400 when the stack is not in an operation that
    /// can be cancelled that way.
    pub(crate) async fn stack_cancel(
        &self,
        ctx: &RequestContext,
        stack: &Stack,
        rollback: bool,
    ) -> ApiResult<()> {
        may_change(ctx, &stack.project_id)?;
        let allowed: &[&str] = if rollback {
            &[UPDATE]
        } else {
            &[UPDATE, CREATE]
        };
        if stack.status != IN_PROGRESS || !allowed.contains(&stack.action.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Cancelling update when stack is {} is not supported.",
                stack.full_status()
            )));
        }
        let id = stack.id.clone();
        let cancel = if rollback {
            engine::CANCEL_ROLLBACK
        } else {
            engine::CANCEL_NO_ROLLBACK
        };
        self.write(move |c| store::stack_set_cancel(c, &id, cancel))
            .await
    }

    /// `DELETE /stacks/{name}/{id}`: records DELETE_IN_PROGRESS at once (a running
    /// create stops at its next resource) and starts the engine.
    pub(crate) async fn stack_delete(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        name_or_id: &str,
    ) -> ApiResult<()> {
        let stack = self.stack_find(ctx, name_or_id).await?;
        may_change(ctx, &stack.project_id)?;
        if stack.deleted_at.is_some() {
            return Err(super::stack_not_found(name_or_id));
        }
        if stack.action == DELETE && stack.status == IN_PROGRESS {
            return Ok(());
        }
        self.cancel(&stack.id, true);
        self.stack_state(&stack, DELETE, IN_PROGRESS, "Stack DELETE started")
            .await?;
        self.spawn(cloud.clone(), stack.id.clone(), Op::Delete);
        Ok(())
    }

    /// Live stacks of the caller's project (every project for an admin asking
    /// `global_tenant`).
    pub(crate) async fn stack_list(
        &self,
        ctx: &RequestContext,
        global: bool,
    ) -> ApiResult<Vec<Stack>> {
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let project = if global && ctx.allowed(crate::http::policy::STACK_GLOBAL_INDEX) {
            None
        } else {
            Some(
                ctx.project_id()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("A project-scoped token is required."))?,
            )
        };
        self.read(move |c| store::stack_list(c, project.as_deref()))
            .await
    }

    pub(crate) async fn stack_resources(&self, stack: &Stack) -> ApiResult<Vec<Resource>> {
        let id = stack.id.clone();
        self.read(move |c| store::resource_list(c, &id)).await
    }

    pub(crate) async fn stack_events(&self, stack: &Stack) -> ApiResult<Vec<super::model::Event>> {
        let id = stack.id.clone();
        self.read(move |c| store::event_list(c, &id)).await
    }

    /// The outputs, evaluated now: `(key, description, value or error)`.
    pub(crate) async fn stack_outputs(
        &self,
        cloud: &Cloud,
        stack: &Stack,
    ) -> ApiResult<Vec<(String, String, Result<Value, String>)>> {
        let t = stack.definition()?;
        let current: BTreeMap<String, Resource> = self
            .stack_resources(stack)
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let ctx = stack.owner.context();
        let mut out = Vec::new();
        for (key, o) in &t.outputs {
            let v = engine::evaluate(cloud, &ctx, stack, &current, &o.value)
                .await
                .map_err(|e| e.to_string());
            out.push((key.clone(), o.description.clone(), v));
        }
        Ok(out)
    }
}

/// `PATCH /stacks/{name}/{id}/resources/{resource}`: Heat's mark-unhealthy body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MarkUnhealthy {
    pub mark_unhealthy: Option<Value>,
    #[serde(default)]
    pub resource_status_reason: Option<String>,
}

/// `mark_unhealthy`, required: a boolean or its string form.
fn mark_unhealthy_flag(v: Option<&Value>) -> ApiResult<bool> {
    match v {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        None => Err(ApiError::bad_request(
            "Missing required parameter in request body: mark_unhealthy",
        )),
        Some(other) => Err(ApiError::bad_request(format!(
            "Unrecognized value '{other}' for 'mark_unhealthy', acceptable values are: true, false"
        ))),
    }
}

/// The wait condition handle type, the one resource type here that takes signals.
pub(super) const HANDLE: &str = "OS::Heat::WaitConditionHandle";

impl OrchestrationService {
    /// Marks a resource CHECK_FAILED (its next stack update replaces it), or
    /// back to CHECK_COMPLETE, as `openstack stack resource mark unhealthy`
    /// does; refused (409) while an engine run holds the stack.
    pub(crate) async fn resource_mark_unhealthy(
        &self,
        ctx: &RequestContext,
        stack: &Stack,
        name: &str,
        body: MarkUnhealthy,
    ) -> ApiResult<()> {
        may_change(ctx, &stack.project_id)?;
        let mark = mark_unhealthy_flag(body.mark_unhealthy.as_ref())?;
        let lock = self.lock_of(&stack.id);
        let Ok(_held) = lock.try_lock() else {
            return Err(ApiError::Conflict(format!(
                "Stack {} already has an action ({}) in progress.",
                stack.name, stack.action
            )));
        };
        let mut r = self
            .stack_resources(stack)
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                ApiError::Missing(format!("The Resource ({name}) could not be found."))
            })?;
        if r.status == IN_PROGRESS {
            return Err(ApiError::Conflict(format!(
                "Resource {name} already has an action ({}) in progress.",
                r.action
            )));
        }
        let reason = body
            .resource_status_reason
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "state changed by resource_mark_unhealthy api".into());
        if mark && r.action != DELETE {
            r.action = "CHECK".into();
            r.status = super::model::FAILED.into();
            r.status_reason = reason.clone();
        } else if !mark && r.action == "CHECK" && r.status == super::model::FAILED {
            r.status = super::model::COMPLETE.into();
            r.status_reason = reason.clone();
        } else {
            return Ok(());
        }
        r.updated_at = Some(store::now());
        let ev = engine::event(stack, Some(&r), &r.action, &r.status, &reason);
        self.write(move |c| {
            store::resource_put(c, &r)?;
            store::event_add(c, &ev)
        })
        .await
    }

    /// `POST .../resources/{resource}/signal`: a wait condition handle records
    /// the signal; other types take none (Heat's 400).
    pub(crate) async fn resource_signal(
        &self,
        ctx: &RequestContext,
        stack: &Stack,
        name: &str,
        body: super::software::SignalInput,
    ) -> ApiResult<()> {
        may_change(ctx, &stack.project_id)?;
        let r = self
            .stack_resources(stack)
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                ApiError::Missing(format!("The Resource ({name}) could not be found."))
            })?;
        if r.kind != HANDLE {
            return Err(ApiError::bad_request(
                "signal is not supported for resource.",
            ));
        }
        if r.physical_id.is_empty() {
            return Err(ApiError::bad_request(format!(
                "The resource {name} is not created yet and cannot take a signal."
            )));
        }
        self.signal_record(&r.physical_id, body).await
    }
}
