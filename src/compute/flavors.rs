//! Flavors: listing with Nova's visibility rules and filters, create/delete,
//! description, extra specs, per-project access, DevStack's flavors at first start
//! and the lookup the server create path uses.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{Connection, Transaction};
use serde_json::{Map, Value};

use super::ComputeService;
use super::model::Flavor;
use super::store::catalog as store;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::pagination::{Dialect, Page, PageQuery};

/// DevStack's flavors: (id, name, ram MiB, disk GiB, vcpus), as `stack.sh` and its
/// tempest setup create them (each with `hw_rng:allowed=True`).
const DEVSTACK_FLAVORS: &[(&str, &str, i64, i64, i64)] = &[
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
    ("c1", "cirros256", 256, 1, 1),
    ("d1", "ds512M", 512, 5, 1),
    ("d2", "ds1G", 1024, 10, 1),
    ("d3", "ds2G", 2048, 10, 2),
    ("d4", "ds4G", 4096, 20, 4),
];

const BOOTSTRAP_MARK: &str = "flavors_bootstrapped";

/// Creates DevStack's flavors once, at the first start; a flavor the operator
/// deletes later stays deleted.
pub(crate) fn bootstrap_flavors(c: &Transaction) -> ApiResult<()> {
    if store::meta_get(c, BOOTSTRAP_MARK)?.is_some() {
        return Ok(());
    }
    for (id, name, ram, disk, vcpus) in DEVSTACK_FLAVORS {
        if store::flavor_get(c, id)?.is_some() || store::flavor_by_name(c, name)?.is_some() {
            continue;
        }
        let flavor = Flavor {
            id: (*id).into(),
            name: (*name).into(),
            ram: *ram,
            vcpus: *vcpus,
            disk: *disk,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::from([("hw_rng:allowed".into(), "True".into())]),
        };
        store::flavor_insert(c, &flavor)?;
    }
    store::meta_put(c, BOOTSTRAP_MARK, "1")?;
    tracing::info!("created DevStack's flavors");
    Ok(())
}

/// Whether the caller may see (and so boot) a flavor: public ones, or private ones
/// its project was given; admin sees all.
fn visible(c: &Connection, ctx: &RequestContext, f: &Flavor) -> ApiResult<bool> {
    if f.is_public || ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
        return Ok(true);
    }
    match ctx.project_id() {
        Some(p) => store::flavor_access_has(c, &f.id, p),
        None => Ok(false),
    }
}

/// The flavor a server is booted with: 400 when it is missing, not accessible to
/// the caller's project or disabled (Nova's create path turns these into 400s).
pub(crate) fn flavor_for_boot(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<Flavor> {
    let missing = || ApiError::bad_request(format!("Flavor {id} could not be found."));
    let f = store::flavor_get(c, id)?.ok_or_else(missing)?;
    if !visible(c, ctx, &f)? {
        return Err(missing());
    }
    if f.disabled {
        return Err(ApiError::bad_request("Flavor is disabled."));
    }
    Ok(f)
}

/// The filters, sorting and paging of `GET /flavors[/detail]`.
#[derive(Debug, Clone)]
pub(crate) struct FlavorQuery {
    /// Some(true) public (+ accessible), Some(false) private, None all.
    pub is_public: Option<bool>,
    pub min_ram: Option<i64>,
    pub min_disk: Option<i64>,
    pub sort_key: SortKey,
    pub descending: bool,
    pub page: PageQuery,
    /// 2.102: a regular expression the name must match (anywhere in it).
    pub name: Option<regex::Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    FlavorId,
    Name,
    MemoryMb,
    RootGb,
    Vcpus,
    EphemeralGb,
    Swap,
    RxtxFactor,
    CreatedAt,
    Description,
    Disabled,
    IsPublic,
}

/// Parses oslo's strict boolean strings.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Nova's flavor sort keys (`flavorid` when none is given).
fn sort_key(key: Option<&str>) -> ApiResult<SortKey> {
    Ok(match key {
        None | Some("flavorid") | Some("id") => SortKey::FlavorId,
        Some("name") => SortKey::Name,
        Some("memory_mb") => SortKey::MemoryMb,
        Some("root_gb") => SortKey::RootGb,
        Some("vcpus") => SortKey::Vcpus,
        Some("ephemeral_gb") => SortKey::EphemeralGb,
        Some("swap") => SortKey::Swap,
        Some("rxtx_factor") => SortKey::RxtxFactor,
        Some("created_at") | Some("updated_at") => SortKey::CreatedAt,
        Some("description") => SortKey::Description,
        Some("disabled") => SortKey::Disabled,
        Some("is_public") => SortKey::IsPublic,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {other}."
            )));
        }
    })
}

impl FlavorQuery {
    /// Reads the query string as Nova does. Non-admins always get public flavors
    /// plus those shared with their project, whatever `is_public` says.
    pub(crate) fn parse(q: &HashMap<String, String>, admin: bool) -> ApiResult<FlavorQuery> {
        let is_public =
            match (admin, q.get("is_public").map(String::as_str)) {
                (false, _) | (true, None) => Some(true),
                (true, Some(v)) if v.eq_ignore_ascii_case("none") => None,
                (true, Some(v)) => Some(parse_bool(v).ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid is_public filter [{v}]"))
                })?),
            };
        let int = |key: &str, label: &str| -> ApiResult<Option<i64>> {
            match q.get(key) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| ApiError::bad_request(format!("Invalid {label} filter [{v}]"))),
            }
        };
        let sort_key = sort_key(q.get("sort_key").map(String::as_str))?;
        let descending = match q.get("sort_dir").map(String::as_str) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for query parameters sort_dir. Value: {other}."
                )));
            }
        };
        Ok(FlavorQuery {
            is_public,
            min_ram: int("minRam", "min_ram")?,
            min_disk: int("minDisk", "min_disk")?,
            sort_key,
            descending,
            page: PageQuery {
                limit: q.get("limit").cloned(),
                marker: q.get("marker").cloned(),
            },
            name: None,
        })
    }

    /// Filters (given the flavors shared with the caller's project), sorts and pages.
    pub(crate) fn apply(
        &self,
        flavors: Vec<Flavor>,
        shared: &HashSet<String>,
        admin: bool,
    ) -> ApiResult<Page<Flavor>> {
        let mut out: Vec<(usize, Flavor)> = flavors
            .into_iter()
            .enumerate()
            .filter(|(_, f)| match self.is_public {
                Some(true) => f.is_public || shared.contains(&f.id),
                Some(false) => !f.is_public && (admin || shared.contains(&f.id)),
                None => true,
            })
            .filter(|(_, f)| admin || !f.disabled)
            .filter(|(_, f)| self.min_ram.is_none_or(|m| f.ram >= m))
            .filter(|(_, f)| self.min_disk.is_none_or(|m| f.disk >= m))
            .filter(|(_, f)| self.name.as_ref().is_none_or(|r| r.is_match(&f.name)))
            .collect();
        out.sort_by(|(ia, a), (ib, b)| {
            let o = compare(self.sort_key, a, b).then(ia.cmp(ib));
            if self.descending { o.reverse() } else { o }
        });
        let page = self.page.apply_as(
            Dialect::Nova,
            out.into_iter().map(|(_, f)| f).collect(),
            |f| &f.id,
        )?;
        Ok(page)
    }
}

fn compare(key: SortKey, a: &Flavor, b: &Flavor) -> Ordering {
    match key {
        SortKey::FlavorId => a.id.cmp(&b.id),
        SortKey::Name => a.name.cmp(&b.name),
        SortKey::MemoryMb => a.ram.cmp(&b.ram),
        SortKey::RootGb => a.disk.cmp(&b.disk),
        SortKey::Vcpus => a.vcpus.cmp(&b.vcpus),
        SortKey::EphemeralGb => a.ephemeral.cmp(&b.ephemeral),
        SortKey::Swap => a.swap.cmp(&b.swap),
        SortKey::RxtxFactor => a.rxtx_factor.total_cmp(&b.rxtx_factor),
        SortKey::CreatedAt => Ordering::Equal,
        SortKey::Description => a.description.cmp(&b.description),
        SortKey::Disabled => a.disabled.cmp(&b.disabled),
        SortKey::IsPublic => a.is_public.cmp(&b.is_public),
    }
}

fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

/// An integer field given as a JSON integer or a string of digits, at least `min`.
fn int_field(body: &Map<String, Value>, field: &str, min: i64) -> ApiResult<Option<i64>> {
    let Some(v) = body.get(field) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .ok_or_else(|| invalid(field, v, "is not an integer"))?;
    if n < min {
        return Err(invalid(
            field,
            v,
            &format!("{n} is less than the minimum of {min}"),
        ));
    }
    if n > i64::from(i32::MAX) {
        return Err(invalid(
            field,
            v,
            &format!("{n} is greater than the maximum of {}", i32::MAX),
        ));
    }
    Ok(Some(n))
}

/// Nova's `name` rule: 1-255 printable characters, no leading or trailing space.
fn valid_name(s: &str) -> bool {
    let len = s.chars().count();
    (1..=255).contains(&len)
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.chars().any(char::is_control)
}

/// Nova's flavor id rule: letters, digits, `. _-` and inner spaces.
fn valid_flavor_id(s: &str) -> bool {
    valid_name(s)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ' ' | '_' | '-'))
}

/// Validates a `{"flavor": {...}}` create body into a new flavor.
pub(crate) fn parse_create(body: &Value, description_allowed: bool) -> ApiResult<Flavor> {
    let f = body
        .get("flavor")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute flavor. 'flavor' is a required property",
            )
        })?;
    check_flavor_keys(f, description_allowed)?;
    let name = match f.get("name") {
        Some(Value::String(s)) if valid_name(s) => s.clone(),
        Some(v) => return Err(invalid("name", v, "is not a valid name")),
        None => return Err(ApiError::bad_request("'name' is a required property")),
    };
    let id = flavor_id_of(f.get("id"))?;
    let required = |field: &str, min: i64| -> ApiResult<i64> {
        int_field(f, field, min)?
            .ok_or_else(|| ApiError::bad_request(format!("'{field}' is a required property")))
    };
    let ram = required("ram", 1)?;
    let vcpus = required("vcpus", 1)?;
    let disk = required("disk", 0)?;
    let ephemeral = int_field(f, "OS-FLV-EXT-DATA:ephemeral", 0)?.unwrap_or(0);
    let swap = match f.get("swap") {
        Some(Value::String(s)) if s.is_empty() => 0,
        _ => int_field(f, "swap", 0)?.unwrap_or(0),
    };
    let rxtx_factor = parse_rxtx_factor(f.get("rxtx_factor"))?;
    let is_public = parse_is_public(f.get("os-flavor-access:is_public"))?;
    let description = parse_description(f.get("description"))?;
    Ok(Flavor {
        id,
        name,
        ram,
        vcpus,
        disk,
        ephemeral,
        swap,
        rxtx_factor,
        is_public,
        disabled: false,
        description,
        extra_specs: BTreeMap::new(),
    })
}

/// The create body's keys must be known (`description` only from 2.55).
fn check_flavor_keys(
    f: &serde_json::Map<String, Value>,
    description_allowed: bool,
) -> ApiResult<()> {
    const KNOWN: &[&str] = &[
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
        "description",
    ];
    if let Some(k) = f
        .keys()
        .find(|k| !KNOWN.contains(&k.as_str()) || (*k == "description" && !description_allowed))
    {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    Ok(())
}

/// The new flavor's id: given (a string or a number, stored as text), or a new
/// UUID for none or `auto`.
fn flavor_id_of(v: Option<&Value>) -> ApiResult<String> {
    match v {
        None | Some(Value::Null) => Ok(uuid::Uuid::new_v4().to_string()),
        Some(Value::String(s)) if s == "auto" => Ok(uuid::Uuid::new_v4().to_string()),
        Some(Value::String(s)) if valid_flavor_id(s) => Ok(s.clone()),
        // Nova's schema takes a number too and stores its text form.
        Some(Value::Number(n)) if valid_flavor_id(&n.to_string()) => Ok(n.to_string()),
        Some(v) => Err(invalid("id", v, "is not a valid flavor id")),
    }
}

/// `PUT /flavors/{flavor_id}` as the service takes it: the description is all
/// Nova lets change (`None` clears it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FlavorUpdate {
    pub(crate) description: Option<String>,
}

/// Validates `{"flavor": {"description": ...}}`, Nova's update schema: the
/// description is required and nothing else is allowed.
pub(crate) fn parse_update(body: &Value) -> ApiResult<FlavorUpdate> {
    let obj = body
        .get("flavor")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("'flavor' is a required property"))?;
    if let Some(k) = obj.keys().find(|k| *k != "description") {
        return Err(ApiError::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    if !obj.contains_key("description") {
        return Err(ApiError::bad_request(
            "'description' is a required property",
        ));
    }
    Ok(FlavorUpdate {
        description: parse_description(obj.get("description"))?,
    })
}

/// `rxtx_factor`: a positive float, 1.0 when absent.
fn parse_rxtx_factor(v: Option<&Value>) -> ApiResult<f64> {
    match v {
        None => Ok(1.0),
        Some(v) => match v.as_f64() {
            Some(x) if x > 0.0 && x <= 3.40282e38 => Ok(x),
            _ => Err(invalid("rxtx_factor", v, "must be a number greater than 0")),
        },
    }
}

/// `os-flavor-access:is_public`: a boolean or its text, true when absent.
fn parse_is_public(v: Option<&Value>) -> ApiResult<bool> {
    match v {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => parse_bool(s).ok_or_else(|| {
            invalid(
                "os-flavor-access:is_public",
                &Value::String(s.clone()),
                "is not a boolean",
            )
        }),
        Some(v) => Err(invalid("os-flavor-access:is_public", v, "is not a boolean")),
    }
}

fn parse_description(v: Option<&Value>) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if s.chars().count() <= 65535
                && !s
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') =>
        {
            Ok(Some(s.clone()))
        }
        Some(v) => Err(invalid("description", v, "is not a valid description")),
    }
}

/// Validates `{"extra_specs": {...}}` (or a one-key body for PUT) into strings, as
/// Nova stores them (numbers and booleans become their Python string form).
pub(crate) fn parse_extra_specs(obj: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let key_ok = (1..=255).contains(&k.len())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | ' '));
        if !key_ok {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute extra_specs. Key '{k}' is not valid."
            )));
        }
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Number(n) => n.to_string(),
            other => return Err(invalid(k, other, "must be a string, a number or a boolean")),
        };
        if s.chars().count() > 255 {
            return Err(invalid(k, v, "is too long"));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

fn flavor_missing(id: &str) -> ApiError {
    ApiError::Missing(format!("Flavor {id} could not be found."))
}

impl ComputeService {
    /// `GET /flavors[/detail]` (api-ref: compute flavors, List Flavors).
    pub(crate) async fn flavor_list(
        &self,
        ctx: &RequestContext,
        q: FlavorQuery,
    ) -> ApiResult<Page<Flavor>> {
        let admin = ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT);
        let project = ctx.project_id().map(str::to_owned);
        self.read(move |c| {
            let shared: HashSet<String> = match &project {
                Some(p) => store::flavor_access_of_project(c, p)?.into_iter().collect(),
                None => HashSet::new(),
            };
            q.apply(store::flavor_list(c)?, &shared, admin)
        })
        .await
    }

    /// `GET /flavors/{flavor_id}`: 404 for unknown or not shared private flavors.
    pub(crate) async fn flavor_show(&self, ctx: &RequestContext, id: String) -> ApiResult<Flavor> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            if visible(c, &ctx, &f)? {
                Ok(f)
            } else {
                Err(flavor_missing(&id))
            }
        })
        .await
    }

    /// `POST /flavors` (admin).
    pub(crate) async fn flavor_create(&self, ctx: &RequestContext, f: Flavor) -> ApiResult<Flavor> {
        ctx.require_admin()?;
        self.write(move |c| {
            store::flavor_insert(c, &f)?;
            Ok(f)
        })
        .await
    }

    /// `PUT /flavors/{flavor_id}` (2.55, admin): only the description changes.
    pub(crate) async fn flavor_update(
        &self,
        ctx: &RequestContext,
        id: String,
        update: FlavorUpdate,
    ) -> ApiResult<Flavor> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            f.description = update.description;
            store::flavor_put(c, &f)?;
            Ok(f)
        })
        .await
    }

    /// `DELETE /flavors/{flavor_id}` (admin). Servers keep their embedded copy.
    pub(crate) async fn flavor_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            if store::flavor_delete(c, &id)? {
                Ok(())
            } else {
                Err(flavor_missing(&id))
            }
        })
        .await
    }

    /// `POST /flavors/{id}/os-extra_specs` and `PUT .../{key}` (admin): merges specs.
    pub(crate) async fn flavor_extra_specs_set(
        &self,
        ctx: &RequestContext,
        id: String,
        specs: BTreeMap<String, String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            f.extra_specs.extend(specs.clone());
            store::flavor_put(c, &f)?;
            Ok(specs)
        })
        .await
    }

    /// `DELETE /flavors/{id}/os-extra_specs/{key}` (admin).
    pub(crate) async fn flavor_extra_spec_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        key: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            if f.extra_specs.remove(&key).is_none() {
                return Err(ApiError::Missing(format!(
                    "Flavor {id} has no extra specs with key {key}."
                )));
            }
            store::flavor_put(c, &f)
        })
        .await
    }

    /// `GET /flavors/{id}/os-flavor-access` (admin): 404 for public flavors.
    pub(crate) async fn flavor_access_list(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<String>> {
        ctx.require_admin()?;
        self.read(move |c| {
            let f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            if f.is_public {
                return Err(ApiError::Missing(
                    "Access list not available for public flavors.".into(),
                ));
            }
            store::flavor_access_list(c, &id)
        })
        .await
    }

    /// `POST /flavors/{id}/action` addTenantAccess / removeTenantAccess (admin).
    pub(crate) async fn flavor_access_change(
        &self,
        ctx: &RequestContext,
        id: String,
        project: String,
        add: bool,
    ) -> ApiResult<Vec<String>> {
        ctx.require_admin()?;
        self.write(move |c| {
            let f = store::flavor_get(c, &id)?.ok_or_else(|| flavor_missing(&id))?;
            if add {
                if f.is_public {
                    return Err(ApiError::Conflict(
                        "Can not add access to a public flavor.".into(),
                    ));
                }
                if !crate::identity::facade::project_exists_tx(c, &project)? {
                    return Err(ApiError::bad_request(format!(
                        "Project ID {project} is not a valid project."
                    )));
                }
                if !store::flavor_access_add(c, &id, &project)? {
                    return Err(ApiError::Conflict(format!(
                        "Flavor access already exists for flavor {id} and project {project} combination."
                    )));
                }
            } else if !store::flavor_access_remove(c, &id, &project)? {
                return Err(ApiError::Missing(format!(
                    "Flavor access not found for {id} / {project} combination."
                )));
            }
            store::flavor_access_list(c, &id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn flavor(id: &str, ram: i64, disk: i64, public: bool) -> Flavor {
        let mut f = parse_create(
            &json!({"flavor": {"name": format!("f{id}"), "id": id, "ram": ram, "vcpus": 1, "disk": disk}}),
            false,
        )
        .expect("flavor");
        f.is_public = public;
        f
    }

    #[test]
    fn is_public_is_admin_only() {
        let admin = FlavorQuery::parse(&q(&[("is_public", "None")]), true).expect("q");
        assert_eq!(admin.is_public, None);
        let admin = FlavorQuery::parse(&q(&[("is_public", "false")]), true).expect("q");
        assert_eq!(admin.is_public, Some(false));
        let member = FlavorQuery::parse(&q(&[("is_public", "None")]), false).expect("q");
        assert_eq!(member.is_public, Some(true));
        assert!(FlavorQuery::parse(&q(&[("is_public", "maybe")]), true).is_err());
        assert!(FlavorQuery::parse(&q(&[("minRam", "x")]), true).is_err());
        assert!(FlavorQuery::parse(&q(&[("sort_key", "bogus")]), true).is_err());
        assert!(FlavorQuery::parse(&q(&[("sort_dir", "up")]), true).is_err());
    }

    #[test]
    fn filters_sort_and_page() {
        let all = vec![
            flavor("1", 512, 1, true),
            flavor("2", 2048, 20, true),
            flavor("p", 4096, 40, false),
            flavor("s", 1024, 10, false),
        ];
        let shared: HashSet<String> = ["s".to_string()].into();
        let member = FlavorQuery::parse(&q(&[]), false).expect("q");
        let ids = |p: Page<Flavor>| p.items.into_iter().map(|f| f.id).collect::<Vec<_>>();
        assert_eq!(
            ids(member.apply(all.clone(), &shared, false).expect("page")),
            ["1", "2", "s"]
        );
        let admin_all = FlavorQuery::parse(&q(&[("is_public", "none")]), true).expect("q");
        assert_eq!(
            ids(admin_all
                .apply(all.clone(), &HashSet::new(), true)
                .expect("page")),
            ["1", "2", "p", "s"]
        );
        let big = FlavorQuery::parse(
            &q(&[("is_public", "none"), ("minRam", "1024"), ("minDisk", "20")]),
            true,
        )
        .expect("q");
        assert_eq!(
            ids(big.apply(all.clone(), &HashSet::new(), true).expect("page")),
            ["2", "p"]
        );
        let sorted = FlavorQuery::parse(
            &q(&[
                ("is_public", "none"),
                ("sort_key", "memory_mb"),
                ("sort_dir", "desc"),
                ("limit", "2"),
                ("marker", "p"),
            ]),
            true,
        )
        .expect("q");
        let page = sorted
            .apply(all.clone(), &HashSet::new(), true)
            .expect("page");
        assert!(page.has_more);
        assert_eq!(ids(page), ["2", "s"]);
        let bad_marker = FlavorQuery::parse(&q(&[("marker", "zz")]), true).expect("q");
        assert!(matches!(
            bad_marker.apply(all, &HashSet::new(), true),
            Err(ApiError::BadRequest(m)) if m == "marker [zz] not found"
        ));
    }

    #[test]
    fn create_validation() {
        let f = parse_create(
            &json!({"flavor": {"name": "x", "id": null, "ram": "64", "vcpus": 1, "disk": 0, "swap": "", "os-flavor-access:is_public": false}}),
            false,
        )
        .expect("valid");
        assert_eq!(f.ram, 64);
        assert_eq!(f.swap, 0);
        assert!(!f.is_public);
        assert_eq!(f.id.len(), 36);
        for bad in [
            json!({"flavor": {"name": "x", "ram": 0, "vcpus": 1, "disk": 0}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 0, "disk": 0}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": -1}}),
            json!({"flavor": {"name": " x", "ram": 1, "vcpus": 1, "disk": 0}}),
            json!({"flavor": {"name": "x", "id": "a/b", "ram": 1, "vcpus": 1, "disk": 0}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 0}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "bogus": 1}}),
            json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"}}),
            json!({"flavour": {}}),
        ] {
            assert!(parse_create(&bad, false).is_err(), "{bad}");
        }
        assert!(parse_create(
            &json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"}}),
            true
        )
        .is_ok());
    }

    #[test]
    fn extra_specs_are_strings() {
        let m = json!({"hw:cpu_policy": "dedicated", "n": 2, "b": true});
        let specs = parse_extra_specs(m.as_object().expect("obj")).expect("valid");
        assert_eq!(specs["n"], "2");
        assert_eq!(specs["b"], "True");
        let bad = json!({"a/b": "x"});
        assert!(parse_extra_specs(bad.as_object().expect("obj")).is_err());
        let bad = json!({"a": {"x": 1}});
        assert!(parse_extra_specs(bad.as_object().expect("obj")).is_err());
    }
}
