//! Group types (3.11+) as a `TypeRecord`: the shape they share with volume types
//! is `type_kinds.rs`; here are their messages, store calls and the one call of
//! their own, the specs an admin reads. No access lists: a private group type is
//! seen by admins only.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::group_store as gstore;
use super::groups::check_text;
use super::model::GroupType;
use super::type_kinds::{TypeCreate, TypeRecord, type_record_fields, type_tx};
use super::{VolumeService, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;
use crate::http::policy::Rule;

impl TypeRecord for GroupType {
    const NOT_FOUND: &'static str = "Group type";
    const KIND: &'static str = "Group Type";
    const BAD_NAME: &'static str =
        "Group type name can not be empty and must be at most 255 characters.";
    const SPECS_FIELD: &'static str = "group_specs";
    const SPEC_NOUN: &'static str = "a group spec";
    const SPECS_NOUN: &'static str = "specs";
    const EMPTY_UPDATE: &'static str =
        "Specify group type name, description or a combination thereof.";
    const ADMIN_CONTEXT: Rule = crate::http::policy::GROUP_ADMIN_CONTEXT;

    type_record_fields!();

    fn from_create(req: TypeCreate) -> Self {
        GroupType {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name.trim().to_owned(),
            description: req.description,
            is_public: req.is_public,
            group_specs: req.specs,
            created_at: store::now(),
        }
    }

    fn find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<Self>> {
        gstore::type_find(c, id_or_name)
    }

    fn list(c: &Connection) -> rusqlite::Result<Vec<Self>> {
        gstore::type_list(c)
    }

    fn insert(&self, c: &Connection) -> rusqlite::Result<()> {
        gstore::type_insert(c, self)
    }

    /// The type as changed: a group type shows no `updated_at` to read back.
    fn save(self, c: &Connection, _asked: &str) -> ApiResult<Self> {
        gstore::type_update(c, &self, &store::now()).map_err(sql)?;
        Ok(self)
    }

    fn delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
        gstore::type_delete(c, id)
    }

    fn in_use(c: &Connection, id: &str) -> rusqlite::Result<bool> {
        gstore::type_in_use(c, id)
    }

    fn specs_set(
        c: &Connection,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> rusqlite::Result<()> {
        gstore::specs_set(c, id, specs)
    }

    fn spec_delete(c: &Connection, id: &str, key: &str) -> rusqlite::Result<bool> {
        gstore::spec_delete(c, id, key)
    }

    /// Group types have no access lists.
    fn shared_with(_c: &Connection, _id: &str, _project: &str) -> rusqlite::Result<bool> {
        Ok(false)
    }

    fn in_use_message(id: &str) -> String {
        format!("Group Type {id} deletion is not allowed with groups present with the type.")
    }

    fn check_description(description: &Option<String>) -> ApiResult<()> {
        check_text("description", description)
    }
}

impl VolumeService {
    /// The group specs of a type (admin, as Cinder's `group:access_group_types_specs`).
    pub(crate) async fn group_specs_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<BTreeMap<String, String>> {
        ctx.require_admin()?;
        self.read(move |c| Ok(type_tx::<GroupType>(c, &id)?.group_specs))
            .await
    }
}
