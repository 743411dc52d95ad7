//! The engine: creates a stack's resources in dependency order and deletes them in
//! reverse, on a background task, persisting each resource's state and physical
//! id before and after every call, so `recover()` can resume a delete, resume a
//! create whose interrupted resources have a known id, and fail the rest honestly.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::OrchestrationService;
use super::model::{
    COMPLETE, CREATE, DELETE, Event, FAILED, IN_PROGRESS, INIT, Resource, Stack, UPDATE,
};
use super::resources;
use super::store;
use super::template::{self, Template};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// What an engine run does to a stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Create,
    /// Bring the resources to the stack's (new) template and parameters.
    Update,
    Delete,
    /// Delete what a failed create left, ending in `ROLLBACK_COMPLETE`.
    Rollback,
    /// Bring a stack whose update failed or was cancelled back to the
    /// definition it had before (already restored), ending in `ROLLBACK_COMPLETE`.
    UpdateRollback,
}

/// What `cancel` asks of a running operation.
pub(super) const CANCEL_ROLLBACK: &str = "rollback";
pub(super) const CANCEL_NO_ROLLBACK: &str = "no_rollback";
/// Heat's reason for a cancelled operation (`ForcedCancel`).
const CANCELLED: &str = "Operation cancelled";

/// The action of a stack returning to what it was before a failed operation.
const ROLLBACK: &str = "ROLLBACK";

/// Default stack timeout, Heat's `stack_action_timeout` (minutes).
const DEFAULT_TIMEOUT_MINS: i64 = 60;

/// A new event row for a stack or one of its resources.
pub(super) fn event(
    stack: &Stack,
    resource: Option<&Resource>,
    action: &str,
    status: &str,
    reason: &str,
) -> Event {
    Event {
        id: uuid::Uuid::new_v4().to_string(),
        stack_id: stack.id.clone(),
        resource_name: resource
            .map(|r| r.name.clone())
            .unwrap_or_else(|| stack.name.clone()),
        resource_type: resource
            .map(|r| r.kind.clone())
            .unwrap_or_else(|| "OS::Heat::Stack".into()),
        physical_id: resource
            .map(|r| r.physical_id.clone())
            .unwrap_or_else(|| stack.id.clone()),
        action: action.into(),
        status: status.into(),
        reason: reason.into(),
        created_at: store::now(),
    }
}

/// The values the intrinsic functions read while a stack runs.
struct RunScope<'a> {
    stack: &'a Stack,
    resources: &'a BTreeMap<String, Resource>,
    attributes: BTreeMap<String, Value>,
    /// Resources that are nested stacks, whose attributes are not a fixed list.
    nested: BTreeSet<String>,
}

impl template::Scope for RunScope<'_> {
    fn param(&self, name: &str) -> Option<Value> {
        match name {
            "OS::stack_name" => Some(Value::String(self.stack.name.clone())),
            "OS::stack_id" => Some(Value::String(self.stack.id.clone())),
            "OS::project_id" => Some(Value::String(self.stack.project_id.clone())),
            _ => self.stack.parameters.get(name).cloned(),
        }
    }

    fn resource_id(&self, name: &str) -> Option<String> {
        self.resources
            .get(name)
            .map(|r| r.physical_id.clone())
            .filter(|id| !id.is_empty())
    }

    fn attr(&self, name: &str, attr: &str) -> Option<Value> {
        let kind = self.resources.get(name).map(|r| r.kind.as_str())?;
        let known = resources::attribute_names(kind).unwrap_or_default();
        if attr != "show" && !known.contains(&attr) && !self.nested.contains(name) {
            return None;
        }
        Some(
            self.attributes
                .get(name)
                .and_then(|a| a.get(attr))
                .cloned()
                .unwrap_or(Value::Null),
        )
    }
}

/// Evaluates a value of the template against the stack's current resources,
/// reading the live attributes of every resource it names with `get_attr`.
pub(super) async fn evaluate(
    cloud: &Cloud,
    ctx: &RequestContext,
    stack: &Stack,
    resources_now: &BTreeMap<String, Resource>,
    v: &Value,
) -> ApiResult<Value> {
    let mut wanted = BTreeMap::new();
    attr_targets(v, &mut wanted);
    let mut attributes = BTreeMap::new();
    let mut nested = BTreeSet::new();
    for (name, attrs) in wanted {
        let Some(r) = resources_now.get(&name) else {
            continue;
        };
        if let Ok(Some(n)) = super::nested::nested_of(&stack.files, &stack.registry, &r.kind) {
            nested.insert(name.clone());
            if r.physical_id.is_empty() {
                continue;
            }
            let a = cloud
                .orchestration
                .nested_attributes(cloud, ctx, &n, &r.physical_id, &attrs)
                .await?;
            attributes.insert(name, Value::Object(a));
            continue;
        }
        if r.physical_id.is_empty() {
            continue;
        }
        let a =
            match resources::attributes(cloud, ctx, &r.kind, &r.physical_id, &r.attributes).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, resource = %name, "attributes unavailable");
                    r.attributes.clone()
                }
            };
        attributes.insert(name, a);
    }
    let scope = RunScope {
        stack,
        resources: resources_now,
        attributes,
        nested,
    };
    template::resolve(v, &scope)
}

/// The resources a value reads with `get_attr`, with the attribute names (and
/// the path element after each) it asks of them.
fn attr_targets(v: &Value, out: &mut BTreeMap<String, super::nested::Wanted>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(a)) = m.get("get_attr")
                && let Some(Value::String(r)) = a.first()
            {
                let wanted = out.entry(r.clone()).or_default();
                if let Some(Value::String(attr)) = a.get(1) {
                    let next = a.get(2).and_then(Value::as_str).map(str::to_owned);
                    let w = (attr.clone(), next);
                    if !wanted.contains(&w) {
                        wanted.push(w);
                    }
                }
            }
            m.values().for_each(|x| attr_targets(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| attr_targets(x, out)),
        _ => {}
    }
}

/// Checks every `get_attr` with literal names against the attributes its
/// resource's type has (Heat refuses such a template at validation).
pub(super) fn check_attributes(t: &Template, nested: &dyn Fn(&str) -> bool) -> ApiResult<()> {
    fn walk(v: &Value, t: &Template, nested: &dyn Fn(&str) -> bool) -> ApiResult<()> {
        match v {
            Value::Object(m) => {
                if m.len() == 1
                    && let Some(Value::Array(a)) = m.get("get_attr")
                    && let (Some(Value::String(r)), Some(Value::String(attr))) =
                        (a.first(), a.get(1))
                    && let Some(def) = t.resources.get(r)
                    && attr != "show"
                    && !nested(&def.kind)
                    && !resources::attribute_names(&def.kind)
                        .unwrap_or_default()
                        .contains(&attr.as_str())
                {
                    return Err(ApiError::bad_request(format!(
                        "The Referenced Attribute ({r} {attr}) is incorrect."
                    )));
                }
                m.values().try_for_each(|x| walk(x, t, nested))
            }
            Value::Array(a) => a.iter().try_for_each(|x| walk(x, t, nested)),
            _ => Ok(()),
        }
    }
    for r in t.resources.values() {
        walk(&r.properties, t, nested)?;
    }
    for o in t.outputs.values() {
        walk(&o.value, t, nested)?;
    }
    Ok(())
}

impl OrchestrationService {
    /// Starts an engine run on a background task.
    pub(crate) fn spawn(&self, cloud: Cloud, stack_id: String, op: Op) {
        let this = self.clone();
        tokio::spawn(async move {
            let lock = this.lock_of(&stack_id);
            let _held = lock.lock().await;
            let r = match op {
                Op::Create => this.run_create(&cloud, &stack_id).await,
                Op::Update => this.run_update(&cloud, &stack_id, UPDATE).await,
                Op::UpdateRollback => this.run_update(&cloud, &stack_id, ROLLBACK).await,
                Op::Delete | Op::Rollback => this.run_delete(&cloud, &stack_id, op).await,
            };
            if let Err(e) = r {
                tracing::error!(stack = %stack_id, error = %e, "stack operation could not record its outcome");
            }
        });
    }

    async fn resources_of(&self, stack_id: &str) -> ApiResult<BTreeMap<String, Resource>> {
        let id = stack_id.to_owned();
        let list = self.read(move |c| store::resource_list(c, &id)).await?;
        Ok(list.into_iter().map(|r| (r.name.clone(), r)).collect())
    }

    /// Writes a resource's new state and its event in one transaction.
    async fn record(&self, stack: &Stack, r: &Resource, reason: &str) -> ApiResult<()> {
        let ev = event(stack, Some(r), &r.action, &r.status, reason);
        let r = r.clone();
        self.write(move |c| {
            store::resource_put(c, &r)?;
            store::event_add(c, &ev)
        })
        .await
    }

    /// Writes a stack's new state and its event in one transaction.
    pub(crate) async fn stack_state(
        &self,
        stack: &Stack,
        action: &str,
        status: &str,
        reason: &str,
    ) -> ApiResult<()> {
        let ev = event(stack, None, action, status, reason);
        let (id, action, status, reason) = (
            stack.id.clone(),
            action.to_owned(),
            status.to_owned(),
            reason.to_owned(),
        );
        let deleted = action == DELETE && status == COMPLETE;
        self.write(move |c| {
            store::stack_set_status(c, &id, &action, &status, &reason)?;
            store::event_add(c, &ev)?;
            if deleted {
                store::stack_mark_deleted(c, &id)?;
            }
            Ok(())
        })
        .await
    }

    async fn load(&self, stack_id: &str) -> ApiResult<Stack> {
        let id = stack_id.to_owned();
        self.read(move |c| store::stack_get(c, &id))
            .await?
            .ok_or_else(|| super::stack_not_found(stack_id))
    }

    fn deadline(stack: &Stack) -> tokio::time::Instant {
        let mins = stack.timeout_mins.unwrap_or(DEFAULT_TIMEOUT_MINS).max(1) as u64;
        tokio::time::Instant::now() + std::time::Duration::from_secs(mins * 60)
    }

    async fn run_create(&self, cloud: &Cloud, stack_id: &str) -> ApiResult<()> {
        let stack = self.load(stack_id).await?;
        let t = stack.definition()?;
        let ctx = stack.owner.context();
        let deadline = Self::deadline(&stack);
        for name in t.order()? {
            if self.is_cancelled(stack_id) {
                return Ok(());
            }
            if !self.cancel_asked(stack_id).await?.is_empty() {
                return self.cancelled(cloud, &stack, CREATE, false).await;
            }
            let current = self.resources_of(stack_id).await?;
            let Some(mut r) = current.get(&name).cloned() else {
                continue;
            };
            if r.action == CREATE && r.status == COMPLETE {
                continue;
            }
            if let Err(e) = self
                .create_one(cloud, &ctx, &stack, &t, &current, &mut r, deadline)
                .await
            {
                let reason = format!("{}: resources.{name}: {}", error_type(&e), e);
                r.action = CREATE.into();
                r.status = FAILED.into();
                r.status_reason = reason.clone();
                r.updated_at = Some(store::now());
                self.record(&stack, &r, &reason).await?;
                let stack_reason = format!("Resource CREATE failed: {reason}");
                self.stack_state(&stack, CREATE, FAILED, &stack_reason)
                    .await?;
                if !stack.disable_rollback && !self.is_cancelled(stack_id) {
                    self.stack_state(&stack, "ROLLBACK", IN_PROGRESS, &stack_reason)
                        .await?;
                    return self.run_delete(cloud, stack_id, Op::Rollback).await;
                }
                return Ok(());
            }
        }
        if self.is_cancelled(stack_id) {
            return Ok(());
        }
        self.stack_state(
            &stack,
            CREATE,
            COMPLETE,
            "Stack CREATE completed successfully",
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_one(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        t: &Template,
        current: &BTreeMap<String, Resource>,
        r: &mut Resource,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        let def = t.resources.get(&r.name).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "resource {} is not in the template",
                r.name
            ))
        })?;
        if r.physical_id.is_empty() {
            let first = !(r.action == CREATE && r.status == IN_PROGRESS);
            r.action = CREATE.into();
            r.status = IN_PROGRESS.into();
            r.status_reason = "state changed".into();
            if first {
                r.updated_at = Some(store::now());
                self.record(stack, r, "state changed").await?;
            }
            let props = evaluate(cloud, ctx, stack, current, &def.properties).await?;
            let props: Map<String, Value> = match props {
                Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                _ => Map::new(),
            };
            if let Some(n) = super::nested::nested_of(&stack.files, &stack.registry, &r.kind)? {
                // The child's id is recorded with the child itself.
                self.nested_create(cloud, stack, r, &n, &props).await?;
                return self.finish_create(cloud, ctx, stack, r, deadline).await;
            }
            // The intent first: a crash between the call and the id's record
            // leaves a thing `recover()` finds by this name and adopts.
            r.intent = resources::intent_name(&stack.name, &r.name, &props);
            r.properties = Value::Object(props.clone());
            r.updated_at = Some(store::now());
            let rr = r.clone();
            self.write(move |c| store::resource_put(c, &rr)).await?;
            let created = self.make(cloud, ctx, stack, r, &props).await?;
            // Then the id: a crash from here on leaves a resource the delete finds.
            r.physical_id = created.physical_id;
            r.attributes = Value::Object(created.attributes);
            r.intent = String::new();
            let rr = r.clone();
            self.write(move |c| store::resource_put(c, &rr)).await?;
        }
        self.finish_create(cloud, ctx, stack, r, deadline).await
    }

    /// Waits until a created resource is usable, then records it complete.
    async fn finish_create(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        r: &mut Resource,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        self.wait_resource(cloud, ctx, stack, r, deadline).await?;
        if r.kind == WAIT_CONDITION {
            r.attributes = Value::Object(
                self.wait_condition(&stack.id, &r.properties, deadline)
                    .await?,
            );
        }
        r.status = COMPLETE.into();
        r.status_reason = "state changed".into();
        r.updated_at = Some(store::now());
        self.record(stack, r, "state changed").await
    }

    /// Waits until a resource is usable: a server ACTIVE, a volume available,
    /// a nested stack complete.
    async fn wait_resource(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        r: &Resource,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        if super::nested::nested_of(&stack.files, &stack.registry, &r.kind)?.is_some() {
            return self.nested_wait(&r.physical_id, deadline).await;
        }
        if r.kind == WAIT_CONDITION {
            return self
                .wait_condition(&stack.id, &r.properties, deadline)
                .await
                .map(drop);
        }
        resources::wait_ready(cloud, ctx, &r.kind, &r.physical_id, deadline).await
    }

    /// Deletes one physical resource of a stack (a nested stack through its
    /// own engine run) and waits until it is gone.
    async fn delete_resource(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        kind: &str,
        id: &str,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        if id.is_empty() {
            return Ok(());
        }
        match super::nested::nested_of(&stack.files, &stack.registry, kind) {
            Ok(Some(_)) => self.nested_delete(cloud, id, deadline).await,
            _ => resources::delete(cloud, ctx, kind, id, deadline).await,
        }
    }

    /// An update: resources new to the template are created; changed ones are
    /// updated in place where their type allows it, else replaced (the new one
    /// first, the old one deleted at the end, as Heat does); removed ones are
    /// deleted last, in reverse creation order.
    ///
    /// `action` is UPDATE, or ROLLBACK for the run that returns to the previous
    /// definition. An update checks for a cancel before each resource; a failed
    /// or cancelled update rolls back when asked to (see [`Self::cancelled`]).
    async fn run_update(&self, cloud: &Cloud, stack_id: &str, action: &str) -> ApiResult<()> {
        let stack = self.load(stack_id).await?;
        let t = stack.definition()?;
        let ctx = stack.owner.context();
        let deadline = Self::deadline(&stack);
        let before = self.resources_of(stack_id).await?;
        for name in t.order()? {
            if action == UPDATE {
                let cancel = self.cancel_asked(stack_id).await?;
                if !cancel.is_empty() {
                    return self
                        .cancelled(cloud, &stack, UPDATE, cancel == CANCEL_ROLLBACK)
                        .await;
                }
            }
            let current = self.resources_of(stack_id).await?;
            let Some(def) = t.resources.get(&name) else {
                continue;
            };
            let outcome = match current.get(&name).cloned() {
                Some(r) if r.kind == def.kind && !r.physical_id.is_empty() => {
                    self.update_one(cloud, &ctx, &stack, &current, r, &def.properties, deadline)
                        .await
                }
                // A resource whose type changed is replaced.
                other => {
                    let replaced = other.map(|o| o.physical_id).unwrap_or_default();
                    let mut r =
                        Resource::init(&stack.id, name.clone(), def.kind.clone(), store::now());
                    r.replaced_id = replaced;
                    match self
                        .create_one(cloud, &ctx, &stack, &t, &current, &mut r, deadline)
                        .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) => Err((r, e)),
                    }
                }
            };
            if let Err((r, e)) = outcome {
                return self.update_failed(cloud, &stack, action, r, e).await;
            }
        }
        if let Some(why) = self
            .update_clean_up(cloud, &ctx, &stack, &t, &before, deadline)
            .await?
        {
            return self.stack_state(&stack, action, FAILED, &why).await;
        }
        self.stack_state(
            &stack,
            action,
            COMPLETE,
            &format!("Stack {action} completed successfully"),
        )
        .await
    }

    /// Records a resource's failed update, then rolls the update back when the
    /// stack allows it, else fails the stack.
    async fn update_failed(
        &self,
        cloud: &Cloud,
        stack: &Stack,
        action: &str,
        mut r: Resource,
        e: ApiError,
    ) -> ApiResult<()> {
        let reason = format!("{}: resources.{}: {}", error_type(&e), r.name, e);
        r.action = UPDATE.into();
        r.status = FAILED.into();
        r.status_reason = reason.clone();
        self.record(stack, &r, &reason).await?;
        let why = format!("Resource UPDATE failed: {reason}");
        if action == UPDATE && !stack.disable_rollback {
            return self.rollback_update(cloud, stack, &why).await;
        }
        self.stack_state(stack, action, FAILED, &why).await
    }

    /// The clean-up at the end of an update, newest first: what was replaced,
    /// then what left the template. `Some(reason)` when a delete failed.
    async fn update_clean_up(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        t: &Template,
        before: &BTreeMap<String, Resource>,
        deadline: tokio::time::Instant,
    ) -> ApiResult<Option<String>> {
        let mut current: Vec<Resource> =
            self.resources_of(&stack.id).await?.into_values().collect();
        current.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        for mut r in current {
            let removed = !t.resources.contains_key(&r.name);
            let (kind, id) = if removed {
                (r.kind.clone(), r.physical_id.clone())
            } else {
                let old_kind = before
                    .get(&r.name)
                    .map(|o| o.kind.clone())
                    .unwrap_or_else(|| r.kind.clone());
                (old_kind, r.replaced_id.clone())
            };
            if id.is_empty() && !removed {
                continue;
            }
            if let Err(e) = self
                .delete_resource(cloud, ctx, stack, &kind, &id, deadline)
                .await
            {
                let reason = format!("{}: resources.{}: {}", error_type(&e), r.name, e);
                return Ok(Some(format!("Resource DELETE failed: {reason}")));
            }
            if removed {
                r.action = DELETE.into();
                r.status = COMPLETE.into();
                let ev = event(stack, Some(&r), DELETE, COMPLETE, "state changed");
                let (sid, name) = (stack.id.clone(), r.name.clone());
                self.write(move |c| {
                    store::resource_delete(c, &sid, &name)?;
                    store::event_add(c, &ev)
                })
                .await?;
            } else {
                r.replaced_id = String::new();
                let rr = r.clone();
                self.write(move |c| store::resource_put(c, &rr)).await?;
            }
        }
        Ok(None)
    }

    /// The cancel asked of a stack's running operation ('' none).
    async fn cancel_asked(&self, stack_id: &str) -> ApiResult<String> {
        let id = stack_id.to_owned();
        self.read(move |c| store::stack_cancel(c, &id)).await
    }

    /// Ends a cancelled create or update: `{action}_FAILED` ("Operation
    /// cancelled"), then for an update asked to, the rollback.
    async fn cancelled(
        &self,
        cloud: &Cloud,
        stack: &Stack,
        action: &str,
        rollback: bool,
    ) -> ApiResult<()> {
        if rollback && action == UPDATE {
            return self.rollback_update(cloud, stack, CANCELLED).await;
        }
        let ev = event(stack, None, action, FAILED, CANCELLED);
        let (id, action) = (stack.id.clone(), action.to_owned());
        self.write(move |c| {
            store::stack_set_cancel(c, &id, "")?;
            store::stack_set_status(c, &id, &action, FAILED, CANCELLED)?;
            store::event_add(c, &ev)
        })
        .await
    }

    /// Fails an update and starts its rollback in one transaction: the stack
    /// gets back its previous definition (template, parameters, files,
    /// registry) and ROLLBACK_IN_PROGRESS; a run of [`Op::UpdateRollback`]
    /// (waiting for this run's lock) then brings the resources to it.
    async fn rollback_update(&self, cloud: &Cloud, stack: &Stack, reason: &str) -> ApiResult<()> {
        let id = stack.id.clone();
        let previous = self.read(move |c| store::stack_previous(c, &id)).await?;
        let obj = |k: &str| match previous.get(k) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let (Some(template), params, files, registry) = (
            previous.get("template").cloned(),
            obj("parameters"),
            obj("files"),
            obj("registry"),
        ) else {
            let ev = event(stack, None, UPDATE, FAILED, reason);
            let (id, why) = (stack.id.clone(), reason.to_owned());
            return self
                .write(move |c| {
                    store::stack_set_cancel(c, &id, "")?;
                    store::stack_set_status(c, &id, UPDATE, FAILED, &why)?;
                    store::event_add(c, &ev)
                })
                .await;
        };
        // As Heat: the stack goes from UPDATE_IN_PROGRESS to ROLLBACK_IN_PROGRESS
        // with no UPDATE_FAILED in between (which `--wait` would stop at); the
        // failure's reason is in the failed resource's event.
        tracing::info!(stack = %stack.id, reason, "rolling back an update");
        let started = event(stack, None, ROLLBACK, IN_PROGRESS, "Stack ROLLBACK started");
        let (id, timeout) = (stack.id.clone(), stack.timeout_mins);
        self.write(move |c| {
            store::stack_set_cancel(c, &id, "")?;
            store::stack_set_definition(c, &id, &template, &params, timeout)?;
            store::stack_set_environment(c, &id, &files, &registry)?;
            store::stack_set_status(c, &id, ROLLBACK, IN_PROGRESS, "Stack ROLLBACK started")?;
            store::event_add(c, &started)
        })
        .await?;
        self.spawn(cloud.clone(), stack.id.clone(), Op::UpdateRollback);
        Ok(())
    }

    /// One existing resource of an update: unchanged, updated in place, or
    /// replaced. An error comes back with the resource, for its failure record.
    #[allow(clippy::too_many_arguments)]
    async fn update_one(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        current: &BTreeMap<String, Resource>,
        mut r: Resource,
        properties: &Value,
        deadline: tokio::time::Instant,
    ) -> Result<(), (Resource, ApiError)> {
        match self
            .update_steps(cloud, ctx, stack, current, &mut r, properties, deadline)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => Err((r, e)),
        }
    }

    /// The steps of [`Self::update_one`]: the new properties evaluated, then
    /// the resource updated in place when its type allows it, else replaced.
    #[allow(clippy::too_many_arguments)]
    async fn update_steps(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        current: &BTreeMap<String, Resource>,
        r: &mut Resource,
        properties: &Value,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        let props: Map<String, Value> =
            match evaluate(cloud, ctx, stack, current, properties).await? {
                Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                _ => Map::new(),
            };
        // A resource marked unhealthy is replaced even when unchanged.
        let unhealthy = r.action == "CHECK" && r.status == FAILED;
        if Value::Object(props.clone()) == r.properties && !unhealthy {
            return Ok(());
        }
        r.action = UPDATE.into();
        r.status = IN_PROGRESS.into();
        r.updated_at = Some(store::now());
        self.record(stack, r, "state changed").await?;
        let old = match &r.properties {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let in_place = match super::nested::nested_of(&stack.files, &stack.registry, &r.kind)? {
            // A nested stack is always updated in place: its child follows.
            Some(n) => self
                .nested_update(cloud, &r.physical_id, &n, &props, deadline)
                .await
                .map(|()| true)?,
            None if unhealthy => false,
            None => {
                resources::update_in_place(cloud, ctx, &r.kind, &r.physical_id, &old, &props)
                    .await?
            }
        };
        if !in_place {
            self.replace_one(cloud, ctx, stack, r, &props, deadline)
                .await?;
        }
        if let Some(a) = resources::internal_attributes(&r.kind, &props) {
            r.attributes = Value::Object(a);
        }
        r.properties = Value::Object(props);
        r.status = COMPLETE.into();
        r.status_reason = "state changed".into();
        self.record(stack, r, "state changed").await
    }

    /// Replaces a resource: the new one first (its intent recorded before the
    /// call, so a restart removes a half-made replacement); the old id waits
    /// for clean-up. One an earlier replacement left (an update rolled back
    /// before its clean-up) goes now.
    async fn replace_one(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        r: &mut Resource,
        props: &Map<String, Value>,
        deadline: tokio::time::Instant,
    ) -> ApiResult<()> {
        if !r.replaced_id.is_empty() {
            let old = r.replaced_id.clone();
            self.delete_resource(cloud, ctx, stack, &r.kind, &old, deadline)
                .await?;
            r.replaced_id = String::new();
        }
        r.intent = resources::intent_name(&stack.name, &r.name, props);
        r.updated_at = Some(store::now());
        let rr = r.clone();
        self.write(move |c| store::resource_put(c, &rr)).await?;
        let created = self.make(cloud, ctx, stack, r, props).await?;
        r.intent = String::new();
        r.replaced_id = std::mem::replace(&mut r.physical_id, created.physical_id);
        r.attributes = Value::Object(created.attributes);
        let rr = r.clone();
        self.write(move |c| store::resource_put(c, &rr)).await?;
        r.properties = Value::Object(props.clone());
        self.wait_resource(cloud, ctx, stack, r, deadline).await?;
        if r.kind == WAIT_CONDITION {
            r.attributes = Value::Object(
                self.wait_condition(&stack.id, &r.properties, deadline)
                    .await?,
            );
        }
        Ok(())
    }

    async fn run_delete(&self, cloud: &Cloud, stack_id: &str, op: Op) -> ApiResult<()> {
        let stack = self.load(stack_id).await?;
        let ctx = stack.owner.context();
        let deadline = Self::deadline(&stack);
        let order = stack
            .definition()
            .and_then(|t| t.order())
            .unwrap_or_default();
        let current = self.resources_of(stack_id).await?;
        let mut names: Vec<String> = order.into_iter().rev().collect();
        names.extend(
            current
                .keys()
                .filter(|k| !names.contains(k))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let (action, done_reason) = match op {
            Op::Rollback => ("ROLLBACK", "Stack ROLLBACK completed successfully"),
            _ => (DELETE, "Stack DELETE completed successfully"),
        };
        for name in names {
            let Some(r) = current.get(&name).cloned() else {
                continue;
            };
            if r.action == DELETE && r.status == COMPLETE {
                continue;
            }
            if let Some(reason) = self.delete_one(cloud, &ctx, &stack, r, deadline).await? {
                self.cancel(stack_id, false);
                return self
                    .stack_state(
                        &stack,
                        action,
                        FAILED,
                        &format!("Resource DELETE failed: {reason}"),
                    )
                    .await;
            }
        }
        self.cancel(stack_id, false);
        self.stack_state(&stack, action, COMPLETE, done_reason)
            .await
    }

    /// Deletes one resource of a stack being deleted, with what a failed update
    /// replaced and what an interrupted create made; `Some(reason)` when the
    /// delete failed (recorded on the resource).
    async fn delete_one(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        mut r: Resource,
        deadline: tokio::time::Instant,
    ) -> ApiResult<Option<String>> {
        // What a failed update replaced but had not yet deleted goes too.
        if !r.replaced_id.is_empty() {
            let old = r.replaced_id.clone();
            if let Err(e) = self
                .delete_resource(cloud, ctx, stack, &r.kind, &old, deadline)
                .await
            {
                tracing::warn!(error = %e, resource = %r.name, id = %old, "could not delete a replaced resource");
            }
        }
        if r.physical_id.is_empty() && !r.intent.is_empty() {
            adopt_intended(cloud, ctx, &mut r).await;
        }
        if r.physical_id.is_empty() {
            // Never created (INIT, or a create that failed before the call
            // returned an id): nothing to remove.
            if r.action != INIT {
                r.action = DELETE.into();
                r.status = COMPLETE.into();
                self.record(stack, &r, "state changed").await?;
            }
            return Ok(None);
        }
        r.action = DELETE.into();
        r.status = IN_PROGRESS.into();
        r.updated_at = Some(store::now());
        self.record(stack, &r, "state changed").await?;
        match self
            .delete_resource(cloud, ctx, stack, &r.kind, &r.physical_id, deadline)
            .await
        {
            Ok(()) => {
                r.status = COMPLETE.into();
                r.status_reason = "state changed".into();
                self.record(stack, &r, "state changed").await?;
                Ok(None)
            }
            Err(e) => {
                let reason = format!("{}: resources.{}: {}", error_type(&e), r.name, e);
                r.status = FAILED.into();
                r.status_reason = reason.clone();
                self.record(stack, &r, &reason).await?;
                Ok(Some(reason))
            }
        }
    }

    /// After a restart: a delete or rollback resumes (deletes are idempotent); a
    /// create resumes when every interrupted resource has a recorded physical
    /// id, and otherwise fails (the call may or may not have happened), rolling
    /// back when the stack asked for it. Returns how many stacks were resumed and
    /// how many failed.
    pub(crate) async fn recover(&self, cloud: &Cloud) -> ApiResult<(usize, usize)> {
        let stacks = self.read(store::stacks_in_progress).await?;
        let (mut resumed, mut failed) = (0, 0);
        for stack in stacks {
            match stack.action.as_str() {
                DELETE | ROLLBACK => {
                    let id = stack.id.clone();
                    let previous = self.read(move |c| store::stack_previous(c, &id)).await?;
                    let op = if stack.action == DELETE {
                        Op::Delete
                    } else if previous.is_null() {
                        Op::Rollback
                    } else {
                        // An update's rollback: the definition is already the
                        // previous one; the run is an update to it.
                        Op::UpdateRollback
                    };
                    self.spawn(cloud.clone(), stack.id.clone(), op);
                    resumed += 1;
                }
                _ => {
                    if self.recover_create(cloud, &stack).await? {
                        resumed += 1;
                    } else {
                        failed += 1;
                    }
                }
            }
        }
        Ok((resumed, failed))
    }

    /// Recovers a create or update: resumed (`true`) when every interrupted
    /// resource has a recorded physical id or intent; otherwise those fail, and
    /// so does the stack, rolling back a create when the stack asked for it.
    async fn recover_create(&self, cloud: &Cloud, stack: &Stack) -> ApiResult<bool> {
        self.settle_intents(cloud, stack).await?;
        let current = self.resources_of(&stack.id).await?;
        let lost: Vec<Resource> = current
            .values()
            .filter(|r| r.status == IN_PROGRESS && r.physical_id.is_empty() && r.intent.is_empty())
            .cloned()
            .collect();
        if lost.is_empty() {
            let op = if stack.action == UPDATE {
                Op::Update
            } else {
                Op::Create
            };
            self.spawn(cloud.clone(), stack.id.clone(), op);
            return Ok(true);
        }
        let reason = "Engine restarted while the resource was being created";
        for mut r in lost {
            r.status = FAILED.into();
            r.status_reason = reason.into();
            self.record(stack, &r, reason).await?;
        }
        let why = format!("Resource {} failed: {reason}", stack.action);
        self.stack_state(stack, &stack.action, FAILED, &why).await?;
        if !stack.disable_rollback && stack.action == CREATE {
            self.stack_state(stack, "ROLLBACK", IN_PROGRESS, &why)
                .await?;
            self.spawn(cloud.clone(), stack.id.clone(), Op::Rollback);
        }
        Ok(false)
    }
}

/// What a resource's recorded intent made, if anything: looked up among the
/// objects of its type made since the resource last changed.
async fn intended_made(
    cloud: &Cloud,
    ctx: &RequestContext,
    r: &Resource,
) -> ApiResult<Option<String>> {
    let since = r
        .updated_at
        .as_deref()
        .and_then(|t| crate::http::time::parse(t).ok())
        .unwrap_or_default();
    let props = match &r.properties {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    resources::find_intended(cloud, ctx, &r.kind, &r.intent, since, &props).await
}

/// A create interrupted before its id was recorded: what it made (found by its
/// intent) becomes the resource's physical id, so the delete removes it too.
async fn adopt_intended(cloud: &Cloud, ctx: &RequestContext, r: &mut Resource) {
    match intended_made(cloud, ctx, r).await {
        Ok(Some(id)) => r.physical_id = id,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, resource = %r.name, "could not look for what an interrupted create made")
        }
    }
    r.intent = String::new();
}

impl OrchestrationService {
    /// Resolves the creates a crash interrupted between the service call and the
    /// record of its id: what a create made is adopted (its id recorded, the
    /// resumed create then waits for it); what a replacing update made is
    /// removed (the resumed update makes it again); when nothing was made the
    /// create simply runs again.
    async fn settle_intents(&self, cloud: &Cloud, stack: &Stack) -> ApiResult<()> {
        let ctx = stack.owner.context();
        let deadline = Self::deadline(stack);
        for mut r in self.resources_of(&stack.id).await?.into_values() {
            if r.intent.is_empty() || r.status != IN_PROGRESS {
                continue;
            }
            let found = intended_made(cloud, &ctx, &r).await?;
            match (r.action.as_str(), found) {
                (CREATE, Some(id)) if r.physical_id.is_empty() => {
                    tracing::info!(stack = %stack.id, resource = %r.name, id = %id, "adopted what an interrupted create made");
                    if r.kind == super::stacks::HANDLE {
                        // The token made with the credential was lost: a new one.
                        let path = format!(
                            "/v1/{}/stacks/{}/{}/resources/{}/signal",
                            stack.project_id, stack.name, stack.id, r.name
                        );
                        let token = cloud
                            .identity
                            .call_credential_token(&stack.owner.user_id, &stack.project_id, &id)
                            .await?;
                        r.attributes = Value::Object(self.handle_attributes(cloud, &path, token));
                    }
                    r.physical_id = id;
                    r.intent = String::new();
                    let reason = "Adopted after an engine restart";
                    self.record(stack, &r, reason).await?;
                }
                (CREATE, None) => {}
                (_, Some(id)) => {
                    tracing::info!(stack = %stack.id, resource = %r.name, id = %id, "removing what an interrupted replacement made");
                    resources::delete(cloud, &ctx, &r.kind, &id, deadline).await?;
                    r.intent = String::new();
                    let rr = r.clone();
                    self.write(move |c| store::resource_put(c, &rr)).await?;
                }
                (_, None) => {
                    r.intent = String::new();
                    let rr = r.clone();
                    self.write(move |c| store::resource_put(c, &rr)).await?;
                }
            }
        }
        Ok(())
    }
}

/// The resource type that waits for its handle's signals.
const WAIT_CONDITION: &str = "OS::Heat::WaitCondition";

impl OrchestrationService {
    /// Creates one resource (named by its recorded intent). A wait condition
    /// handle is a credential that can only signal it (see
    /// [`Self::handle_attributes`]); the rest is the type's service call.
    async fn make(
        &self,
        cloud: &Cloud,
        ctx: &RequestContext,
        stack: &Stack,
        r: &Resource,
        props: &Map<String, Value>,
    ) -> ApiResult<resources::Created> {
        // For a handle this checks its properties only.
        let mut created = resources::create(cloud, ctx, &r.intent, &r.name, &r.kind, props).await?;
        if r.kind != super::stacks::HANDLE {
            return Ok(created);
        }
        let path = format!(
            "/v1/{}/stacks/{}/{}/resources/{}/signal",
            stack.project_id, stack.name, stack.id, r.name
        );
        let (id, token) = cloud
            .identity
            .call_credential(ctx, &r.intent, "orchestration", "POST", &path)
            .await?;
        created.physical_id = id;
        created.attributes = self.handle_attributes(cloud, &path, token);
        Ok(created)
    }

    /// A wait condition handle's attributes, as Heat's `OS::Heat::WaitConditionHandle`
    /// gives them: the handle's signal URL, a token to call it with, and the curl
    /// command a guest's user_data runs (`curl_cli` plus `--data-binary
    /// '{"status": "SUCCESS"}'`). The token is of an application credential of
    /// the stack's owner whose one access rule is a POST to this handle's
    /// signal URL (Heat makes a stack domain user for the same purpose): it
    /// cannot list servers or read the stack, and it stops working when the
    /// handle is deleted with its stack.
    fn handle_attributes(&self, cloud: &Cloud, path: &str, token: String) -> Map<String, Value> {
        let endpoint = format!("{}/orchestration{path}", cloud.profile.public_url());
        let curl = format!(
            "curl -i -X POST -H 'X-Auth-Token: {token}' -H 'Content-Type: application/json' \
             -H 'Accept: application/json' {endpoint}"
        );
        let mut m = Map::new();
        m.insert(
            "signal".into(),
            serde_json::json!({"url": endpoint, "token": token}),
        );
        m.insert("token".into(), Value::String(token));
        m.insert("endpoint".into(), Value::String(endpoint));
        m.insert("curl_cli".into(), Value::String(curl));
        m
    }

    /// Waits for `count` SUCCESS signals on the handle, within the condition's
    /// `timeout` (seconds) and the stack's deadline; a FAILURE signal fails it
    /// at once; a stack delete stops it. The signals are stored, so after a restart the wait counts what
    /// already arrived. Returns the attributes: `data`, Heat's JSON string of
    /// each signal's data by its id.
    async fn wait_condition(
        &self,
        stack_id: &str,
        props: &Value,
        deadline: tokio::time::Instant,
    ) -> ApiResult<Map<String, Value>> {
        let handle = props
            .get("handle")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let number = |k: &str| {
            props.get(k).and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        let count = number("count").unwrap_or(1.0).max(1.0) as usize;
        let timeout = number("timeout").unwrap_or(43200.0).clamp(1.0, 43200.0);
        let until =
            deadline.min(tokio::time::Instant::now() + std::time::Duration::from_secs_f64(timeout));
        loop {
            let signals = self.signals(&handle).await?;
            if let Some(f) = signals.iter().find(|s| s.status == "FAILURE") {
                return Err(ApiError::typed(
                    axum::http::StatusCode::CONFLICT,
                    "WaitConditionFailure",
                    f.reason.clone(),
                ));
            }
            let ok: Vec<_> = signals.iter().filter(|s| s.status == "SUCCESS").collect();
            if ok.len() >= count {
                let data: Map<String, Value> = ok
                    .iter()
                    .map(|s| (s.signal_id.clone(), s.data.clone()))
                    .collect();
                let mut m = Map::new();
                m.insert(
                    "data".into(),
                    Value::String(Value::Object(data).to_string()),
                );
                return Ok(m);
            }
            // A delete asked for meanwhile stops the wait (it waits for this run).
            if self.is_cancelled(stack_id) {
                return Err(ApiError::Conflict("Stack DELETE started".into()));
            }
            if tokio::time::Instant::now() >= until {
                return Err(ApiError::typed(
                    axum::http::StatusCode::CONFLICT,
                    "WaitConditionTimeout",
                    format!("{} of {count} received", ok.len()),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

/// Heat's exception class name for a failure, as its reasons start with.
fn error_type(e: &ApiError) -> &'static str {
    match e {
        ApiError::BadRequest(_) => "BadRequest",
        ApiError::NotFound { .. } | ApiError::Missing(_) => "NotFound",
        ApiError::Conflict(_) => "ResourceInError",
        ApiError::OverQuota(_) => "OverQuotaClient",
        ApiError::Forbidden(_) => "Forbidden",
        ApiError::Typed { code, .. } => code,
        _ => "ResourceFailure",
    }
}
