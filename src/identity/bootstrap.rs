//! First-start bootstrap, like `keystone-manage bootstrap` plus DevStack's accounts:
//! the default domain, admin/member/reader roles (admin implies member implies
//! reader), admin and demo projects and users, the region, and a catalog entry per
//! enabled service. Idempotent: it runs at every start and only adds what is missing.

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::model::*;
use super::{password, store};
use crate::db::Db;
use crate::http::error::ApiResult;
use crate::profile::Profile;
use crate::services::SERVICES;

/// The generated or configured passwords of the bootstrap users, kept (mode 0600) in
/// the state directory so `onestack openrc` can print them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub admin_password: String,
    pub demo_password: String,
}

pub(crate) const CREDENTIALS_FILE: &str = "credentials.json";

impl Credentials {
    pub(crate) fn load(state_dir: &Path) -> anyhow::Result<Option<Credentials>> {
        let path = state_dir.join(CREDENTIALS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stored passwords, overridden by passwords set in the profile, else generated.
    pub(crate) fn resolve(
        state_dir: &Path,
        profile: &Profile,
    ) -> anyhow::Result<(Credentials, bool)> {
        let stored = Credentials::load(state_dir)?;
        let pick = |configured: &str, stored: Option<&str>| {
            if !configured.is_empty() {
                configured.to_owned()
            } else {
                stored
                    .map(str::to_owned)
                    .unwrap_or_else(|| password::generate(12))
            }
        };
        let creds = Credentials {
            admin_password: pick(
                &profile.identity.admin_password,
                stored.as_ref().map(|s| s.admin_password.as_str()),
            ),
            demo_password: pick(
                &profile.identity.demo_password,
                stored.as_ref().map(|s| s.demo_password.as_str()),
            ),
        };
        let changed = stored.as_ref().is_none_or(|s| {
            s.admin_password != creds.admin_password || s.demo_password != creds.demo_password
        });
        if changed {
            crate::fsutil::write_atomic(
                &state_dir.join(CREDENTIALS_FILE),
                &serde_json::to_vec_pretty(&creds)?,
                0o600,
            )?;
        }
        Ok((creds, changed))
    }
}

pub(crate) fn run(
    db: &Db,
    profile: &Profile,
    creds: &Credentials,
    passwords_changed: bool,
) -> anyhow::Result<()> {
    // Hash outside the write transaction; bcrypt is slow on purpose.
    let users_missing = db.read_blocking(|c| -> ApiResult<bool> {
        Ok(
            store::user_by_name(c, DEFAULT_DOMAIN_ID, "admin")?.is_none()
                || store::user_by_name(c, DEFAULT_DOMAIN_ID, "demo")?.is_none(),
        )
    })?;
    let need_hash = passwords_changed || users_missing;
    let hashes = if need_hash {
        let (a, d) = (creds.admin_password.clone(), creds.demo_password.clone());
        let admin = std::thread::spawn(move || password::hash(&a));
        let demo = password::hash(&d)?;
        let admin = admin
            .join()
            .map_err(|_| anyhow::anyhow!("hashing thread panicked"))??;
        Some((admin, demo))
    } else {
        None
    };
    db.write_blocking(|c| bootstrap(c, profile, hashes.as_ref()).map_err(anyhow::Error::from))
}

fn ensure_role(c: &Connection, name: &str) -> ApiResult<Role> {
    if let Some(r) = store::role_by_name(c, name)? {
        return Ok(r);
    }
    let r = Role {
        id: new_id(),
        name: name.into(),
        domain_id: None,
        description: String::new(),
    };
    store::role_insert(c, &r)?;
    Ok(r)
}

fn ensure_project(c: &Connection, name: &str, description: &str) -> ApiResult<Project> {
    if let Some(p) = store::project_by_name(c, DEFAULT_DOMAIN_ID, name)? {
        return Ok(p);
    }
    let p = Project {
        id: new_id(),
        name: name.into(),
        domain_id: DEFAULT_DOMAIN_ID.into(),
        parent_id: None,
        description: description.into(),
        enabled: true,
        tags: vec![],
        is_domain: false,
    };
    store::project_insert(c, &p)?;
    Ok(p)
}

/// Creates the user when missing; sets its password when a new hash is given.
fn ensure_user(
    c: &Connection,
    name: &str,
    project: &Project,
    hash: Option<&String>,
) -> ApiResult<User> {
    if let Some(mut u) = store::user_by_name(c, DEFAULT_DOMAIN_ID, name)? {
        if let Some(h) = hash {
            u.password_hash = Some(h.clone());
            store::user_update(c, &u)?;
        }
        return Ok(u);
    }
    let u = User {
        id: new_id(),
        name: name.into(),
        domain_id: DEFAULT_DOMAIN_ID.into(),
        enabled: true,
        password_hash: hash.cloned(),
        default_project_id: Some(project.id.clone()),
        extra: Default::default(),
    };
    store::user_insert(c, &u)?;
    Ok(u)
}

fn grant(
    c: &Connection,
    user: &User,
    target_type: TargetType,
    target_id: &str,
    role: &Role,
) -> ApiResult<()> {
    store::assignment_add(
        c,
        &Assignment {
            actor_type: ActorType::User,
            actor_id: user.id.clone(),
            target_type,
            target_id: target_id.into(),
            role_id: role.id.clone(),
            inherited: false,
        },
    )
}

/// What `keystone-manage bootstrap` and DevStack set up: the default domain,
/// the standard roles, the admin, demo and service projects with their users,
/// the region and the catalog.
fn bootstrap(
    c: &Connection,
    profile: &Profile,
    hashes: Option<&(String, String)>,
) -> ApiResult<()> {
    ensure_default_domain(c)?;
    let roles = ensure_roles(c)?;
    let admin_project =
        ensure_project(c, "admin", "Bootstrap project for initializing the cloud.")?;
    let demo_project = ensure_project(c, "demo", "The demo project.")?;
    ensure_project(c, "service", "Project for the cloud's own service users.")?;
    let admin = ensure_user(c, "admin", &admin_project, hashes.map(|h| &h.0))?;
    let demo = ensure_user(c, "demo", &demo_project, hashes.map(|h| &h.1))?;
    for project in [&admin_project, &demo_project] {
        grant(c, &admin, TargetType::Project, &project.id, &roles.admin)?;
    }
    grant(c, &admin, TargetType::System, SYSTEM_ALL, &roles.admin)?;
    grant(
        c,
        &demo,
        TargetType::Project,
        &demo_project.id,
        &roles.member,
    )?;
    let region = ensure_region(c, &profile.cloud.region)?;
    register_services(c, profile, &region)?;
    Ok(())
}

fn ensure_default_domain(c: &Connection) -> ApiResult<()> {
    if store::domain_get(c, DEFAULT_DOMAIN_ID)?.is_none() {
        store::domain_insert(
            c,
            &Domain {
                id: DEFAULT_DOMAIN_ID.into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
                tags: vec![],
            },
        )?;
    }
    Ok(())
}

/// The roles bootstrap grants.
struct BootstrapRoles {
    admin: Role,
    member: Role,
}

/// The standard roles and their implications: admin implies manager and
/// member, manager implies member, member implies reader.
fn ensure_roles(c: &Connection) -> ApiResult<BootstrapRoles> {
    let admin_role = ensure_role(c, "admin")?;
    let member = ensure_role(c, "member")?;
    let reader = ensure_role(c, "reader")?;
    ensure_role(c, "service")?;
    // DevStack creates it with Swift: the role that may set account quotas and act
    // on any account (`reseller_admin_role`).
    ensure_role(c, "ResellerAdmin")?;
    // keystone-manage bootstrap (2024.1 and later) adds `manager` between admin and
    // member: admin implies manager, manager implies member.
    let manager = ensure_role(c, "manager")?;
    store::implied_role_add(c, &admin_role.id, &member.id)?;
    store::implied_role_add(c, &admin_role.id, &manager.id)?;
    store::implied_role_add(c, &manager.id, &member.id)?;
    store::implied_role_add(c, &member.id, &reader.id)?;
    Ok(BootstrapRoles {
        admin: admin_role,
        member,
    })
}

/// The profile's region, created when missing; its name.
fn ensure_region(c: &Connection, region: &str) -> ApiResult<String> {
    if store::region_get(c, region)?.is_none() {
        store::region_insert(
            c,
            &Region {
                id: region.to_owned(),
                description: String::new(),
                parent_region_id: None,
            },
        )?;
    }
    Ok(region.to_owned())
}

/// One service and a public/internal/admin endpoint per enabled, implemented service;
/// URLs follow the current public address so a changed listen address is picked up.
fn register_services(c: &Connection, profile: &Profile, region: &str) -> ApiResult<()> {
    let base = profile.public_url();
    let services = store::service_list(c)?;
    let endpoints = store::endpoint_list(c)?;
    for spec in SERVICES
        .iter()
        .filter(|s| s.implemented && profile.services.enabled.contains(&s.name))
    {
        let Some(path) = spec.endpoint_path else {
            continue;
        };
        let service = match services
            .iter()
            .find(|s| s.service_type == spec.catalog_type)
        {
            Some(s) => s.clone(),
            None => {
                let s = Service {
                    id: new_id(),
                    service_type: spec.catalog_type.into(),
                    name: spec.catalog_name.into(),
                    description: String::new(),
                    enabled: true,
                };
                store::service_insert(c, &s)?;
                s
            }
        };
        let url = format!("{base}{path}");
        for interface in ["public", "internal", "admin"] {
            let existing = endpoints.iter().find(|e| {
                e.service_id == service.id
                    && e.interface == interface
                    && e.region_id.as_deref() == Some(region)
            });
            match existing {
                Some(e) if e.url == url => {}
                Some(e) => store::endpoint_update(
                    c,
                    &Endpoint {
                        url: url.clone(),
                        ..e.clone()
                    },
                )?,
                None => store::endpoint_insert(
                    c,
                    &Endpoint {
                        id: new_id(),
                        service_id: service.id.clone(),
                        interface: interface.into(),
                        region_id: Some(region.into()),
                        url: url.clone(),
                        enabled: true,
                    },
                )?,
            }
        }
    }
    Ok(())
}
