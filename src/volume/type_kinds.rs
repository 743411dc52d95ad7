//! What volume types and group types share: a type found by id or name (else a
//! 404), visible when public, shared with the caller's project or asked by an
//! admin; admin-only create, update and delete with the same name and spec rules;
//! spec changes. Each kind is a `TypeRecord`: its messages as associated consts,
//! its store calls and its few own rules (`__DEFAULT__`) as methods, so the two
//! APIs cannot drift apart in the shape they share while keeping Cinder's words.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::{VolumeService, sql};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::Rule;

/// Which types a list shows an admin (`is_public` in the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicFilter {
    Public,
    Private,
    All,
}

/// A new type (volume or group), its specs being extra specs or group specs.
pub(crate) struct TypeCreate {
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub specs: BTreeMap<String, String>,
}

/// Changes to a type; None leaves a field as it is.
pub(crate) struct TypeUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// The fields an update may change, borrowed from a type record.
pub(crate) struct TypeFieldsMut<'a> {
    pub name: &'a mut String,
    pub description: &'a mut Option<String>,
    pub is_public: &'a mut bool,
}

/// The accessors of a `TypeRecord` whose fields have the names both kinds use
/// (`id`, `name`, `description`, `is_public`).
macro_rules! type_record_fields {
    () => {
        fn id(&self) -> &str {
            &self.id
        }

        fn name(&self) -> &str {
            &self.name
        }

        fn is_public(&self) -> bool {
            self.is_public
        }

        fn fields_mut(&mut self) -> $crate::volume::type_kinds::TypeFieldsMut<'_> {
            $crate::volume::type_kinds::TypeFieldsMut {
                name: &mut self.name,
                description: &mut self.description,
                is_public: &mut self.is_public,
            }
        }
    };
}
pub(super) use type_record_fields;

/// A kind of type: volume types or group types.
pub(crate) trait TypeRecord: Sized + Send + 'static {
    /// The kind as a 404 names it: "Volume type" / "Group type".
    const NOT_FOUND: &'static str;
    /// The kind as a conflict or a missing spec names it: "Volume Type" / "Group Type".
    const KIND: &'static str;
    /// The 400 of an empty or over-long name.
    const BAD_NAME: &'static str;
    /// The specs' field in a 400: `extra_specs` / `group_specs`.
    const SPECS_FIELD: &'static str;
    /// One spec in that 400: "an extra spec" / "a group spec".
    const SPEC_NOUN: &'static str;
    /// The specs as a missing key's 404 names them: "extra specs" / "specs".
    const SPECS_NOUN: &'static str;
    /// The 400 of an update that changes nothing.
    const EMPTY_UPDATE: &'static str;
    /// The rule under which a caller sees every type, private ones too.
    const ADMIN_CONTEXT: Rule;

    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn is_public(&self) -> bool;
    fn fields_mut(&mut self) -> TypeFieldsMut<'_>;
    /// The record a create makes (a new id, created now).
    fn from_create(req: TypeCreate) -> Self;

    /// The type by id, else by name.
    fn find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<Self>>;
    fn list(c: &Connection) -> rusqlite::Result<Vec<Self>>;
    fn insert(&self, c: &Connection) -> rusqlite::Result<()>;
    /// Stores an update and gives the type as the update answers it; `asked` is
    /// the id or name the request named.
    fn save(self, c: &Connection, asked: &str) -> ApiResult<Self>;
    fn delete(c: &Connection, id: &str) -> rusqlite::Result<()>;
    fn in_use(c: &Connection, id: &str) -> rusqlite::Result<bool>;
    fn specs_set(
        c: &Connection,
        id: &str,
        specs: &BTreeMap<String, String>,
    ) -> rusqlite::Result<()>;
    /// Removes one spec; false when there was none by that key.
    fn spec_delete(c: &Connection, id: &str, key: &str) -> rusqlite::Result<bool>;
    /// Whether a private type is shared with `project` (an access list).
    fn shared_with(c: &Connection, id: &str, project: &str) -> rusqlite::Result<bool>;
    /// The 400 of a delete refused because the type is used.
    fn in_use_message(id: &str) -> String;

    /// A description the kind refuses.
    fn check_description(_description: &Option<String>) -> ApiResult<()> {
        Ok(())
    }
    /// A rename the kind refuses.
    fn check_rename(&self, _new: &str) -> ApiResult<()> {
        Ok(())
    }
    /// A delete the kind refuses before asking whether the type is used.
    fn check_delete(&self) -> ApiResult<()> {
        Ok(())
    }
    /// What the caller sees of the type.
    fn shown_to(self, _ctx: &RequestContext) -> Self {
        self
    }
}

pub(super) fn type_not_found<T: TypeRecord>(id: &str) -> ApiError {
    ApiError::Missing(format!("{} with id {id} could not be found.", T::NOT_FOUND))
}

/// The 404 of a spec key the type does not have.
pub(crate) fn spec_not_found<T: TypeRecord>(id: &str, key: &str) -> ApiError {
    ApiError::Missing(format!(
        "{} {id} has no {} with key {key}.",
        T::KIND,
        T::SPECS_NOUN
    ))
}

/// The type `id` names; 404 when there is none.
pub(super) fn type_tx<T: TypeRecord>(c: &Connection, id: &str) -> ApiResult<T> {
    T::find(c, id)
        .map_err(sql)?
        .ok_or_else(|| type_not_found::<T>(id))
}

/// The type a caller may see, found by id or name.
pub(super) fn visible_type_tx<T: TypeRecord>(
    c: &Connection,
    ctx: &RequestContext,
    id: &str,
) -> ApiResult<T> {
    let t = type_tx::<T>(c, id)?;
    if t.is_public() || ctx.allowed(T::ADMIN_CONTEXT) {
        return Ok(t);
    }
    match ctx.project_id() {
        Some(p) if T::shared_with(c, t.id(), p).map_err(sql)? => Ok(t),
        _ => Err(type_not_found::<T>(id)),
    }
}

/// Whether a list shows a type: an admin's filter, else public or shared ones.
fn listed(admin: bool, filter: PublicFilter, is_public: bool, shared: bool) -> bool {
    match (admin, filter) {
        (true, PublicFilter::All) => true,
        (true, PublicFilter::Private) => !is_public,
        _ => is_public || shared,
    }
}

fn check_name<T: TypeRecord>(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(T::BAD_NAME));
    }
    Ok(())
}

fn check_specs<T: TypeRecord>(specs: &BTreeMap<String, String>) -> ApiResult<()> {
    for (k, v) in specs {
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {}. Value: {k}. The key and value of {} must be 1 to 255 characters.",
                T::SPECS_FIELD,
                T::SPEC_NOUN
            )));
        }
    }
    Ok(())
}

/// 409 when another type of the kind has the name.
fn name_free_tx<T: TypeRecord>(c: &Connection, name: &str) -> ApiResult<()> {
    if T::find(c, name).map_err(sql)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "{} {name} already exists.",
            T::KIND
        )));
    }
    Ok(())
}

/// An update's changes applied to the type, checked against the kind's rules.
fn type_changed_tx<T: TypeRecord>(c: &Connection, mut t: T, req: TypeUpdate) -> ApiResult<T> {
    if let Some(n) = req.name {
        let n = n.trim().to_owned();
        t.check_rename(&n)?;
        if n != t.name() {
            name_free_tx::<T>(c, &n)?;
        }
        *t.fields_mut().name = n;
    }
    let fields = t.fields_mut();
    if let Some(d) = req.description {
        *fields.description = Some(d);
    }
    if let Some(p) = req.is_public {
        *fields.is_public = p;
    }
    Ok(t)
}

impl VolumeService {
    /// The types of kind `T` the caller may list, as it sees them.
    pub(crate) async fn type_list<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        filter: PublicFilter,
    ) -> ApiResult<Vec<T>> {
        let ctx2 = ctx.clone();
        let admin = ctx.allowed(T::ADMIN_CONTEXT);
        let project = ctx.project_id().map(str::to_owned);
        self.read(move |c| {
            let mut out = Vec::new();
            for t in T::list(c).map_err(sql)? {
                let shared = match &project {
                    Some(p) => T::shared_with(c, t.id(), p).map_err(sql)?,
                    None => false,
                };
                if listed(admin, filter, t.is_public(), shared) {
                    out.push(t.shown_to(&ctx2));
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn type_get<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<T> {
        let ctx = ctx.clone();
        self.read(move |c| Ok(visible_type_tx::<T>(c, &ctx, &id)?.shown_to(&ctx)))
            .await
    }

    pub(crate) async fn type_create<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        req: TypeCreate,
    ) -> ApiResult<T> {
        ctx.require_admin()?;
        check_name::<T>(&req.name)?;
        T::check_description(&req.description)?;
        check_specs::<T>(&req.specs)?;
        let t = T::from_create(req);
        self.write(move |c| {
            name_free_tx::<T>(c, t.name())?;
            t.insert(c).map_err(sql)?;
            Ok(t)
        })
        .await
    }

    pub(crate) async fn type_update<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        id: String,
        req: TypeUpdate,
    ) -> ApiResult<T> {
        ctx.require_admin()?;
        if let Some(n) = &req.name {
            check_name::<T>(n)?;
        }
        T::check_description(&req.description)?;
        if req.name.is_none() && req.description.is_none() && req.is_public.is_none() {
            return Err(ApiError::bad_request(T::EMPTY_UPDATE));
        }
        self.write(move |c| {
            let t = type_tx::<T>(c, &id)?;
            type_changed_tx(c, t, req)?.save(c, &id)
        })
        .await
    }

    pub(crate) async fn type_delete<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let t = type_tx::<T>(c, &id)?;
            t.check_delete()?;
            if T::in_use(c, t.id()).map_err(sql)? {
                return Err(ApiError::bad_request(T::in_use_message(t.id())));
            }
            T::delete(c, t.id()).map_err(sql)
        })
        .await
    }

    /// Adds or replaces a type's specs (admin).
    pub(crate) async fn type_specs_set<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        id: String,
        specs: BTreeMap<String, String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        ctx.require_admin()?;
        check_specs::<T>(&specs)?;
        self.write(move |c| {
            let t = type_tx::<T>(c, &id)?;
            T::specs_set(c, t.id(), &specs).map_err(sql)?;
            Ok(specs)
        })
        .await
    }

    /// Removes one of a type's specs (admin).
    pub(crate) async fn type_spec_delete<T: TypeRecord>(
        &self,
        ctx: &RequestContext,
        id: String,
        key: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let t = type_tx::<T>(c, &id)?;
            if !T::spec_delete(c, t.id(), &key).map_err(sql)? {
                return Err(spec_not_found::<T>(t.id(), &key));
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_show_admins_their_filter_and_others_public_or_shared_types() {
        assert!(listed(true, PublicFilter::All, false, false));
        assert!(listed(true, PublicFilter::Private, false, false));
        assert!(!listed(true, PublicFilter::Private, true, false));
        assert!(listed(true, PublicFilter::Public, true, false));
        assert!(!listed(false, PublicFilter::All, false, false));
        assert!(listed(false, PublicFilter::Private, false, true));
    }
}
