//! Orchestration (Heat v1): HOT templates turned into stacks of resources of the
//! other services, created in dependency order by an in-process engine that
//! persists every step, so a restart resumes or fails a stack honestly.
//!
//! Rooms: `api/` (routes and views), `model.rs` (stacks, resources, events, the
//! owner identity), `store.rs` (all SQL), `template.rs` (HOT parsing, parameters,
//! dependencies, intrinsic functions), `resources.rs` (resource types over the
//! services' facades), `engine.rs` (create/delete runs and their `recover()`),
//! `facade.rs` (what the rest of onestack may call).

pub(crate) mod api;
mod engine;
pub(crate) mod facade;
mod functions;
pub(crate) mod mime;
pub(crate) mod model;
pub(crate) mod nested;
pub(crate) mod registration;
mod remote;
mod resources;
pub(crate) mod software;
mod stacks;
pub(crate) mod store;
pub(crate) mod template;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use model::Stack;

/// The orchestration service: the stacks' state and the engine's per-stack locks.
#[derive(Clone)]
pub(crate) struct OrchestrationService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// One lock per stack, held by the engine run working on it.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Stacks whose running create must stop (a delete was asked for).
    cancelled: Mutex<std::collections::HashSet<String>>,
}

impl OrchestrationService {
    pub(crate) fn new(db: Db) -> OrchestrationService {
        OrchestrationService {
            inner: Arc::new(Inner {
                db,
                locks: Default::default(),
                cancelled: Default::default(),
            }),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.write(f).await
    }

    fn lock_of(&self, stack_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(stack_id.to_owned()).or_default().clone()
    }

    fn cancel(&self, stack_id: &str, on: bool) {
        let mut c = self
            .inner
            .cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if on {
            c.insert(stack_id.to_owned());
        } else {
            c.remove(stack_id);
        }
    }

    fn is_cancelled(&self, stack_id: &str) -> bool {
        self.inner
            .cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(stack_id)
    }

    /// A stack by name or id, visible to the caller (its project, or an admin);
    /// Heat's 404 "The Stack (x) could not be found." otherwise. A deleted stack is
    /// found by id only.
    pub(crate) async fn stack_find(
        &self,
        ctx: &RequestContext,
        name_or_id: &str,
    ) -> ApiResult<Stack> {
        let project = ctx.project_id().map(str::to_owned);
        let key = name_or_id.to_owned();
        let admin = ctx.allowed(crate::http::policy::ORCHESTRATION_ADMIN_CONTEXT);
        let found = self
            .read(move |c| {
                if let Some(s) = store::stack_get(c, &key)? {
                    return Ok(Some(s));
                }
                match &project {
                    Some(p) => store::stack_by_name(c, p, &key),
                    None => Ok(None),
                }
            })
            .await?;
        match found {
            Some(s) if admin || ctx.project_id() == Some(s.project_id.as_str()) => {
                if !ctx.can_read() {
                    return Err(ApiError::forbidden());
                }
                Ok(s)
            }
            _ => Err(stack_not_found(name_or_id)),
        }
    }
}

/// Heat's 404 for a stack.
pub(crate) fn stack_not_found(name: &str) -> ApiError {
    ApiError::Missing(format!("The Stack ({name}) could not be found."))
}

/// Whether the caller may read what a project owns (a reader of it, or an admin).
pub(crate) fn policy_sees(ctx: &RequestContext, project_id: &str) -> bool {
    crate::http::policy::ORCHESTRATION.sees(ctx, project_id)
}

/// A member of the owning project (or an admin) may change a stack.
pub(crate) fn may_change(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
    crate::http::policy::ORCHESTRATION.may_change(ctx, project_id)
}

impl OrchestrationService {
    /// A resource's attributes now, for `resource show` (its recorded ones when
    /// the service cannot say).
    pub(crate) async fn resource_attributes(
        &self,
        cloud: &crate::cloud::Cloud,
        stack: &Stack,
        r: &model::Resource,
    ) -> serde_json::Value {
        if r.physical_id.is_empty() {
            return r.attributes.clone();
        }
        let ctx = stack.owner.context();
        resources::attributes(cloud, &ctx, &r.kind, &r.physical_id, &r.attributes)
            .await
            .unwrap_or_else(|_| r.attributes.clone())
    }
}
