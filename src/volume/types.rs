//! Volume types, their extra specs and project access. Reading follows Cinder's
//! default policy (public types and those shared with the caller's project; extra
//! specs beyond the user-visible keys only for admins); every change is admin-only.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::model::{DEFAULT_TYPE_NAME, DEVSTACK_TYPE_NAME, VolumeType};
use super::{VolumeService, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Extra specs a non-admin may see (Cinder's `USER_VISIBLE_EXTRA_SPECS`).
const USER_VISIBLE_SPECS: &[&str] = &[
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

/// Which types a list shows an admin (`is_public` in the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicFilter {
    Public,
    Private,
    All,
}

/// A new type.
pub(crate) struct TypeCreate {
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
}

/// Changes to a type; None leaves a field as it is.
pub(crate) struct TypeUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

fn type_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Volume type with id {id} could not be found."))
}

/// The volume type `id` names; 404 when there is none.
fn type_tx(c: &Connection, id: &str) -> ApiResult<VolumeType> {
    store::type_find(c, id)
        .map_err(sql)?
        .ok_or_else(|| type_not_found(id))
}

/// The type a caller may see, found by id or name.
fn visible_tx(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<VolumeType> {
    let t = type_tx(c, id)?;
    if t.is_public || ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) {
        return Ok(t);
    }
    let projects = store::type_projects(c, &t.id).map_err(sql)?;
    match ctx.project_id() {
        Some(p) if projects.iter().any(|x| x == p) => Ok(t),
        _ => Err(type_not_found(id)),
    }
}

/// What the caller sees of a type's extra specs.
pub(super) fn shown_to(ctx: &RequestContext, mut t: VolumeType) -> VolumeType {
    if !ctx.allowed(crate::http::policy::VOLUME_TYPE_EXTRA_SPECS) {
        t.extra_specs
            .retain(|k, _| USER_VISIBLE_SPECS.contains(&k.as_str()));
    }
    t
}

/// The cloud's default type: DevStack's `lvmdriver-1`, or `__DEFAULT__` without it.
pub(super) fn default_type_tx(c: &Connection) -> ApiResult<VolumeType> {
    for name in [DEVSTACK_TYPE_NAME, DEFAULT_TYPE_NAME] {
        if let Some(t) = store::type_find(c, name).map_err(sql)? {
            return Ok(t);
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "no default volume type: both {DEVSTACK_TYPE_NAME} and {DEFAULT_TYPE_NAME} are gone"
    )))
}

/// The type a new volume gets: the named one (if the caller may use it) or the default.
pub(super) fn type_for_volume_tx(
    c: &Connection,
    ctx: &RequestContext,
    wanted: Option<&str>,
) -> ApiResult<VolumeType> {
    match wanted {
        None => default_type_tx(c),
        Some(id) => visible_tx(c, ctx, id).map_err(|e| match e {
            ApiError::Missing(_) => {
                ApiError::Missing(format!("Volume type with name {id} could not be found."))
            }
            other => other,
        }),
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "Volume type name can not be empty and must be at most 255 characters.",
        ));
    }
    Ok(())
}

fn check_specs(specs: &BTreeMap<String, String>) -> ApiResult<()> {
    for (k, v) in specs {
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute extra_specs. Value: {k}. The key and value of an extra spec must be 1 to 255 characters."
            )));
        }
    }
    Ok(())
}

impl VolumeService {
    pub(crate) async fn type_list(
        &self,
        ctx: &RequestContext,
        filter: PublicFilter,
    ) -> ApiResult<Vec<VolumeType>> {
        let ctx2 = ctx.clone();
        let admin = ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT);
        let project = ctx.project_id().map(str::to_owned);
        self.read(move |c| {
            let mut out = Vec::new();
            for t in store::type_list(c).map_err(sql)? {
                let shared = match &project {
                    Some(p) => store::type_projects(c, &t.id)
                        .map_err(sql)?
                        .iter()
                        .any(|x| x == p),
                    None => false,
                };
                let keep = match (admin, filter) {
                    (true, PublicFilter::All) => true,
                    (true, PublicFilter::Private) => !t.is_public,
                    _ => t.is_public || shared,
                };
                if keep {
                    out.push(shown_to(&ctx2, t));
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn type_get(&self, ctx: &RequestContext, id: String) -> ApiResult<VolumeType> {
        let ctx = ctx.clone();
        self.read(move |c| Ok(shown_to(&ctx, visible_tx(c, &ctx, &id)?)))
            .await
    }

    pub(crate) async fn type_default(&self, ctx: &RequestContext) -> ApiResult<VolumeType> {
        let ctx = ctx.clone();
        self.read(move |c| Ok(shown_to(&ctx, default_type_tx(c)?)))
            .await
    }

    pub(crate) async fn type_create(
        &self,
        ctx: &RequestContext,
        req: TypeCreate,
    ) -> ApiResult<VolumeType> {
        ctx.require_admin()?;
        check_name(&req.name)?;
        check_specs(&req.extra_specs)?;
        let t = VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.trim().to_owned(),
            description: req.description,
            is_public: req.is_public,
            extra_specs: req.extra_specs,
            created_at: store::now(),
            updated_at: None,
            qos_specs_id: None,
        };
        self.write(move |c| {
            if store::type_find(c, &t.name).map_err(sql)?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "Volume Type {} already exists.",
                    t.name
                )));
            }
            store::type_insert(c, &t).map_err(sql)?;
            Ok(t)
        })
        .await
    }

    pub(crate) async fn type_update(
        &self,
        ctx: &RequestContext,
        id: String,
        req: TypeUpdate,
    ) -> ApiResult<VolumeType> {
        ctx.require_admin()?;
        if let Some(n) = &req.name {
            check_name(n)?;
        }
        if req.name.is_none() && req.description.is_none() && req.is_public.is_none() {
            return Err(ApiError::bad_request(
                "Specify volume type name, description, is_public or a combination thereof.",
            ));
        }
        self.write(move |c| {
            let mut t = type_tx(c, &id)?;
            if let Some(n) = req.name {
                let n = n.trim().to_owned();
                if t.name == DEFAULT_TYPE_NAME && n != t.name {
                    return Err(ApiError::bad_request(
                        "The volume type __DEFAULT__ cannot be renamed.",
                    ));
                }
                if n != t.name && store::type_find(c, &n).map_err(sql)?.is_some() {
                    return Err(ApiError::Conflict(format!(
                        "Volume Type {n} already exists."
                    )));
                }
                t.name = n;
            }
            if let Some(d) = req.description {
                t.description = Some(d);
            }
            if let Some(p) = req.is_public {
                t.is_public = p;
            }
            store::type_update(c, &t).map_err(sql)?;
            store::type_find(c, &t.id)
                .map_err(sql)?
                .ok_or_else(|| type_not_found(&id))
        })
        .await
    }

    pub(crate) async fn type_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let t = type_tx(c, &id)?;
            if t.name == DEFAULT_TYPE_NAME {
                return Err(ApiError::bad_request(
                    "The volume type __DEFAULT__ is the default volume type and cannot be deleted.",
                ));
            }
            if store::type_in_use(c, &t.id).map_err(sql)? {
                return Err(ApiError::bad_request(format!(
                    "Target volume type is still in use. Volume Type {} deletion is not allowed with volumes present with the type.",
                    t.id
                )));
            }
            store::type_delete(c, &t.id).map_err(sql)
        })
        .await
    }

    /// Adds or replaces extra specs (admin).
    pub(crate) async fn extra_specs_set(
        &self,
        ctx: &RequestContext,
        id: String,
        specs: BTreeMap<String, String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        ctx.require_admin()?;
        check_specs(&specs)?;
        self.write(move |c| {
            let t = type_tx(c, &id)?;
            store::extra_specs_set(c, &t.id, &specs).map_err(sql)?;
            Ok(specs)
        })
        .await
    }

    pub(crate) async fn extra_spec_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        key: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let t = type_tx(c, &id)?;
            if !store::extra_spec_delete(c, &t.id, &key).map_err(sql)? {
                return Err(ApiError::Missing(format!(
                    "Volume Type {} has no extra specs with key {key}.",
                    t.id
                )));
            }
            Ok(())
        })
        .await
    }

    /// Projects with access to a private type (admin).
    pub(crate) async fn type_access_list(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<(String, Vec<String>)> {
        ctx.require_admin()?;
        self.read(move |c| {
            let t = type_tx(c, &id)?;
            if t.is_public {
                return Err(ApiError::Missing(
                    "Access list not available for public volume types.".into(),
                ));
            }
            Ok((t.id.clone(), store::type_projects(c, &t.id).map_err(sql)?))
        })
        .await
    }

    /// `addProjectAccess` / `removeProjectAccess` (admin).
    pub(crate) async fn type_access_change(
        &self,
        ctx: &RequestContext,
        id: String,
        project: String,
        add: bool,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let t = type_tx(c, &id)?;
            if t.is_public {
                return Err(ApiError::bad_request(
                    "Invalid volume type: Type access modification is not applicable to public volume type.",
                ));
            }
            if add {
                if !store::type_project_add(c, &t.id, &project).map_err(sql)? {
                    return Err(ApiError::Conflict(format!(
                        "Volume type access for {} / {project} combination already exists.",
                        t.id
                    )));
                }
            } else if !store::type_project_remove(c, &t.id, &project).map_err(sql)? {
                return Err(ApiError::Missing(format!(
                    "Volume type access not found for {} / {project} combination.",
                    t.id
                )));
            }
            Ok(())
        })
        .await
    }
}
