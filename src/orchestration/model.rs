//! Orchestration domain types: stacks, their resources and events, and the owner
//! identity the engine acts with.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::context::{NamedRef, RequestContext, Scope};

/// Who created a stack: enough to rebuild a request context after a restart
/// (Heat keeps a trust for this; no token or secret is stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Owner {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    pub project_id: String,
    pub project_name: String,
    pub project_domain_id: String,
    pub project_domain_name: String,
    pub roles: Vec<(String, String)>,
}

impl Owner {
    /// The owner of a stack created by this project-scoped caller.
    pub(crate) fn of(ctx: &RequestContext) -> Option<Owner> {
        let Scope::Project { project, domain } = &ctx.scope else {
            return None;
        };
        Some(Owner {
            user_id: ctx.user.id.clone(),
            user_name: ctx.user.name.clone(),
            user_domain_id: ctx.user_domain.id.clone(),
            user_domain_name: ctx.user_domain.name.clone(),
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            project_domain_id: domain.id.clone(),
            project_domain_name: domain.name.clone(),
            roles: ctx
                .roles
                .iter()
                .map(|r| (r.id.clone(), r.name.clone()))
                .collect(),
        })
    }

    /// The context the engine acts with on the owner's behalf.
    pub(crate) fn context(&self) -> RequestContext {
        let now = chrono::Utc::now();
        RequestContext {
            user: NamedRef {
                id: self.user_id.clone(),
                name: self.user_name.clone(),
            },
            user_domain: NamedRef {
                id: self.user_domain_id.clone(),
                name: self.user_domain_name.clone(),
            },
            scope: Scope::Project {
                project: NamedRef {
                    id: self.project_id.clone(),
                    name: self.project_name.clone(),
                },
                domain: NamedRef {
                    id: self.project_domain_id.clone(),
                    name: self.project_domain_name.clone(),
                },
            },
            roles: self
                .roles
                .iter()
                .map(|(id, name)| NamedRef {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
            methods: vec!["trust".into()],
            audit_ids: vec![],
            issued_at: now,
            expires_at: now + chrono::Duration::hours(1),
            application_credential: None,
            trust: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stack {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub owner: Owner,
    pub template: Value,
    pub parameters: Map<String, Value>,
    pub action: String,
    pub status: String,
    pub status_reason: String,
    pub disable_rollback: bool,
    pub timeout_mins: Option<i64>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub deleted_at: Option<String>,
    /// `<parent stack id>/<resource name>` for a nested stack, empty otherwise.
    pub parent: String,
    /// The request's `files` (name to content), for template resources.
    pub files: Map<String, Value>,
    /// The environment's `resource_registry` (type to type or file name).
    pub registry: Map<String, Value>,
}

impl Stack {
    /// The template as this stack runs it: parsed, with its conditions decided
    /// by the stack's parameters.
    pub(crate) fn definition(&self) -> crate::http::error::ApiResult<super::template::Template> {
        super::template::Template::parse(self.template.clone())?.with_conditions(&self.parameters)
    }

    /// `CREATE_IN_PROGRESS` and friends.
    pub(crate) fn full_status(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resource {
    pub stack_id: String,
    pub name: String,
    pub kind: String,
    pub physical_id: String,
    pub action: String,
    pub status: String,
    pub status_reason: String,
    pub attributes: Value,
    /// The resolved properties it was last created or updated with.
    pub properties: Value,
    /// A physical id an update replaced and has still to delete.
    pub replaced_id: String,
    /// What a create in progress is making (the physical name it gave), recorded
    /// before the service is called, so a restart can find and adopt it.
    pub intent: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl Resource {
    /// A resource of a stack not yet created (INIT_COMPLETE), made at
    /// `created_at`.
    pub(crate) fn init(stack_id: &str, name: String, kind: String, created_at: String) -> Resource {
        Resource {
            stack_id: stack_id.to_owned(),
            name,
            kind,
            physical_id: String::new(),
            action: INIT.into(),
            status: COMPLETE.into(),
            status_reason: String::new(),
            attributes: Value::Object(Map::new()),
            properties: Value::Object(Map::new()),
            replaced_id: String::new(),
            intent: String::new(),
            created_at,
            updated_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub id: String,
    pub stack_id: String,
    pub resource_name: String,
    pub resource_type: String,
    pub physical_id: String,
    pub action: String,
    pub status: String,
    pub reason: String,
    pub created_at: String,
}

/// Actions and statuses, as Heat spells them.
pub(crate) const CREATE: &str = "CREATE";
pub(crate) const DELETE: &str = "DELETE";
pub(crate) const UPDATE: &str = "UPDATE";
pub(crate) const IN_PROGRESS: &str = "IN_PROGRESS";
pub(crate) const COMPLETE: &str = "COMPLETE";
pub(crate) const FAILED: &str = "FAILED";
pub(crate) const INIT: &str = "INIT";

/// A software config (Heat's `/software_configs`): immutable once made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SoftwareConfig {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub group: String,
    pub config: String,
    pub inputs: Value,
    pub outputs: Value,
    pub options: Value,
    pub created_at: String,
}

/// A config deployed to a server (Heat's `/software_deployments`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SoftwareDeployment {
    pub id: String,
    pub project_id: String,
    pub config_id: String,
    pub server_id: String,
    pub input_values: Value,
    pub output_values: Value,
    pub action: String,
    pub status: String,
    pub status_reason: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

/// One signal a wait condition handle received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Signal {
    pub handle_id: String,
    pub signal_id: String,
    pub status: String,
    pub reason: String,
    pub data: Value,
    pub created_at: String,
}
