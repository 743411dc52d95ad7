//! Keystone domain types as stored, before they become API views.

use serde::{Deserialize, Serialize};

pub(crate) const DEFAULT_DOMAIN_ID: &str = "default";

#[derive(Debug, Clone)]
pub(crate) struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// A domain seen through the projects API (Keystone's projects acting as domains).
    pub is_domain: bool,
}

impl Project {
    /// A domain as the projects API shows it.
    pub(crate) fn from_domain(d: Domain) -> Project {
        Project {
            id: d.id,
            name: d.name,
            domain_id: String::new(),
            parent_id: None,
            description: d.description,
            enabled: d.enabled,
            tags: d.tags,
            is_domain: true,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub password_hash: Option<String>,
    pub default_project_id: Option<String>,
    /// Free-form attributes Keystone keeps beside the core ones (email, description...).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ActorType {
    User,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TargetType {
    Project,
    Domain,
    System,
}

impl ActorType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Group => "group",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(ActorType::User),
            "group" => Some(ActorType::Group),
            _ => None,
        }
    }
}

impl TargetType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TargetType::Project => "project",
            TargetType::Domain => "domain",
            TargetType::System => "system",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "project" => Some(TargetType::Project),
            "domain" => Some(TargetType::Domain),
            "system" => Some(TargetType::System),
            _ => None,
        }
    }
}

/// The system scope has a single target.
pub(crate) const SYSTEM_ALL: &str = "all";

/// A role granted to a user or group on a project, domain or the system.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Assignment {
    pub actor_type: ActorType,
    pub actor_id: String,
    pub target_type: TargetType,
    pub target_id: String,
    pub role_id: String,
    /// Inherited to the projects below the target (OS-INHERIT).
    pub inherited: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub id: String,
    pub service_type: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AppCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub secret_hash: String,
    pub description: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub unrestricted: bool,
    pub roles: Vec<Role>,
    /// What a token from this credential may call; empty means anything.
    pub access_rules: Vec<super::store_ext::AccessRule>,
}

/// A revocation event: matches tokens by audit id, or by user/project issued before a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct RevocationEvent {
    pub audit_id: Option<String>,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub issued_before: chrono::DateTime<chrono::Utc>,
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A credential (`/v3/credentials`); `blob` is the clear text, sealed at rest.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub blob: String,
}

/// A stored policy blob (`/v3/policies`).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub id: String,
    pub policy_type: String,
    pub blob: String,
}
