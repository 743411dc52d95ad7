//! Volume types, their extra specs and project access. Reading follows Cinder's
//! default policy (public types and those shared with the caller's project; extra
//! specs beyond the user-visible keys only for admins); every change is admin-only.
//! What volume types share with group types is `type_kinds.rs`; this file holds
//! their own rules, the default type and the access lists.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::model::{DEFAULT_TYPE_NAME, DEVSTACK_TYPE_NAME, VolumeType};
use super::type_kinds::{
    TypeCreate, TypeRecord, type_not_found, type_record_fields, type_tx, visible_type_tx,
};
use super::{VolumeService, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::Rule;

/// Extra specs a non-admin may see (Cinder's `USER_VISIBLE_EXTRA_SPECS`).
const USER_VISIBLE_SPECS: &[&str] = &[
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

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
        Some(id) => visible_type_tx::<VolumeType>(c, ctx, id).map_err(|e| match e {
            ApiError::Missing(_) => {
                ApiError::Missing(format!("Volume type with name {id} could not be found."))
            }
            other => other,
        }),
    }
}

/// Volume types: shared with projects through access lists, extra specs beyond
/// the user-visible ones hidden from non-admins, `__DEFAULT__` kept.
impl TypeRecord for VolumeType {
    const NOT_FOUND: &'static str = "Volume type";
    const KIND: &'static str = "Volume Type";
    const BAD_NAME: &'static str =
        "Volume type name can not be empty and must be at most 255 characters.";
    const SPECS_FIELD: &'static str = "extra_specs";
    const SPEC_NOUN: &'static str = "an extra spec";
    const SPECS_NOUN: &'static str = "extra specs";
    const EMPTY_UPDATE: &'static str =
        "Specify volume type name, description, is_public or a combination thereof.";
    const ADMIN_CONTEXT: Rule = crate::http::policy::VOLUME_ADMIN_CONTEXT;

    type_record_fields!();

    fn from_create(req: TypeCreate) -> Self {
        VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.trim().to_owned(),
            description: req.description,
            is_public: req.is_public,
            extra_specs: req.specs,
            created_at: store::now(),
            updated_at: None,
            qos_specs_id: None,
        }
    }

    fn find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<Self>> {
        store::type_find(c, id_or_name)
    }

    fn list(c: &Connection) -> rusqlite::Result<Vec<Self>> {
        store::type_list(c)
    }

    fn insert(&self, c: &Connection) -> rusqlite::Result<()> {
        store::type_insert(c, self)
    }

    /// Read again after the write, for the stored `updated_at`.
    fn save(self, c: &Connection, asked: &str) -> ApiResult<Self> {
        store::type_update(c, &self).map_err(sql)?;
        store::type_find(c, &self.id)
            .map_err(sql)?
            .ok_or_else(|| type_not_found::<Self>(asked))
    }

    fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
        store::type_delete(c, id)
    }

    fn in_use(c: &Connection, id: &str) -> rusqlite::Result<bool> {
        store::type_in_use(c, id)
    }

    fn specs_set(
        c: &Connection,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> rusqlite::Result<()> {
        store::extra_specs_set(c, id, specs)
    }

    fn spec_delete(c: &Connection, id: &str, key: &str) -> rusqlite::Result<bool> {
        store::extra_spec_delete(c, id, key)
    }

    fn shared_with(c: &Connection, id: &str, project: &str) -> rusqlite::Result<bool> {
        Ok(store::type_projects(c, id)?.iter().any(|x| x == project))
    }

    fn in_use_message(id: &str) -> String {
        format!(
            "Target volume type is still in use. Volume Type {id} deletion is not allowed with volumes present with the type."
        )
    }

    fn check_rename(&self, new: &str) -> ApiResult<()> {
        if self.name == DEFAULT_TYPE_NAME && new != self.name {
            return Err(ApiError::bad_request(
                "The volume type __DEFAULT__ cannot be renamed.",
            ));
        }
        Ok(())
    }

    fn check_delete(&self) -> ApiResult<()> {
        if self.name == DEFAULT_TYPE_NAME {
            return Err(ApiError::bad_request(
                "The volume type __DEFAULT__ is the default volume type and cannot be deleted.",
            ));
        }
        Ok(())
    }

    /// Extra specs beyond the user-visible keys only for those the policy allows.
    fn shown_to(mut self, ctx: &RequestContext) -> Self {
        if !ctx.allowed(crate::http::policy::VOLUME_TYPE_EXTRA_SPECS) {
            self.extra_specs
                .retain(|k, _| USER_VISIBLE_SPECS.contains(&k.as_str()));
        }
        self
    }
}

impl VolumeService {
    pub(crate) async fn type_default(&self, ctx: &RequestContext) -> ApiResult<VolumeType> {
        let ctx = ctx.clone();
        self.read(move |c| Ok(default_type_tx(c)?.shown_to(&ctx)))
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
            let t = type_tx::<VolumeType>(c, &id)?;
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
            let t = type_tx::<VolumeType>(c, &id)?;
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
