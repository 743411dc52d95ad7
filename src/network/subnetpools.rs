//! Subnet pools (Networking API v2.0: Subnet pools, subnetpool-prefix-ops) and the
//! allocation of subnet prefixes from them (the subnet_allocation extension).

use ipnet::IpNet;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::model::*;
use super::{
    NetworkService, check_revision, ipam, load_visible, may_change, owner_project, quotas, sees,
    store,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

/// The body of `POST`/`PUT /v2.0/subnetpools`. Prefix lengths and the quota are
/// kept as raw JSON because Neutron converts them from numbers or numeric strings.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubnetPoolInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prefixes: Option<Vec<String>>,
    pub default_prefixlen: Option<Value>,
    pub min_prefixlen: Option<Value>,
    pub max_prefixlen: Option<Value>,
    /// `Some(Value::Null)` clears the quota.
    #[serde(default, deserialize_with = "present")]
    pub default_quota: Option<Value>,
    pub shared: Option<bool>,
    pub is_default: Option<bool>,
    /// `Some(Value::Null)` is an explicit "no address scope".
    #[serde(default, deserialize_with = "present")]
    pub address_scope_id: Option<Value>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Keeps an explicit `null` as `Some(Value::Null)` rather than "absent".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Neutron's `convert_to_int` + `type:non_negative` for one attribute.
fn non_negative(v: &Value, attr: &str) -> ApiResult<u64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 0 => Ok(n as u64),
        Some(n) => Err(ApiError::bad_request(format!(
            "Invalid input for {attr}. Reason: '{n}' should be non-negative."
        ))),
        None => Err(ApiError::bad_request(format!(
            "Invalid input for operation: '{v}' is not an integer."
        ))),
    }
}

/// A prefix length given as a number or numeric string.
pub(super) fn prefixlen(v: &Value, attr: &str) -> ApiResult<u8> {
    let n = non_negative(v, attr)?;
    // Anything above 128 fails the bounds check below with Neutron's message.
    Ok(u8::try_from(n.min(255)).unwrap_or(u8::MAX))
}

fn bounds_error(kind: &str, len: u8, base_kind: &str, base: u8) -> ApiError {
    ApiError::bad_request(format!(
        "Illegal prefix bounds: {kind}={len}, {base_kind}={base}."
    ))
}

/// Neutron's SubnetPoolHelper checks: min <= default <= max <= address bits.
fn check_bounds(ip_version: u8, min: u8, max: u8, default: u8) -> ApiResult<()> {
    let bits = if ip_version == 4 { 32 } else { 128 };
    if min > max {
        return Err(bounds_error("min_prefixlen", min, "max_prefixlen", max));
    }
    if max > bits {
        return Err(bounds_error("max_prefixlen", max, "ip_version_max", bits));
    }
    if default < min {
        return Err(bounds_error(
            "default_prefixlen",
            default,
            "min_prefixlen",
            min,
        ));
    }
    if default > max {
        return Err(bounds_error(
            "default_prefixlen",
            default,
            "max_prefixlen",
            max,
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for name. Reason: '{name}' Blank strings are not permitted."
        )));
    }
    if name.len() > 255 {
        return Err(ApiError::bad_request(
            "Invalid input for name. Reason: the name is longer than 255 characters.",
        ));
    }
    Ok(())
}

/// Address scopes are not offered: only `null` is a valid scope.
fn check_address_scope(v: &Option<Value>) -> ApiResult<()> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(id)) => Err(ApiError::Missing(format!(
            "Address scope {id} could not be found."
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for address_scope_id. Reason: '{other}' is not a valid UUID."
        ))),
    }
}

fn quota_value(v: &Option<Value>) -> ApiResult<Option<Option<u64>>> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => non_negative(v, "default_quota").map(|q| Some(Some(q))),
    }
}

fn required<T>(v: Option<T>, attr: &str) -> ApiResult<T> {
    v.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Failed to parse request. Required attribute '{attr}' not specified"
        ))
    })
}

fn to_strings(nets: &[IpNet]) -> Vec<String> {
    nets.iter().map(ToString::to_string).collect()
}

fn pool_nets(pool: &SubnetPool) -> ApiResult<Vec<IpNet>> {
    pool.prefixes
        .iter()
        .map(|p| {
            p.parse().map_err(|_| {
                ApiError::Internal(anyhow::anyhow!(
                    "subnet pool {} holds bad prefix {p}",
                    pool.std.id
                ))
            })
        })
        .collect()
}

fn allocated_nets(c: &Connection, pool_id: &str) -> ApiResult<Vec<(IpNet, String)>> {
    store::pool_allocations(c, pool_id)?
        .into_iter()
        .map(|(cidr, project)| {
            cidr.parse()
                .map(|n| (n, project))
                .map_err(|_| ApiError::Internal(anyhow::anyhow!("bad allocated prefix {cidr}")))
        })
        .collect()
}

/// Only one default pool per IP version (Neutron answers InvalidInput, a 400).
fn check_single_default(c: &Connection, ip_version: u8, except: &str) -> ApiResult<()> {
    let taken = store::list::<SubnetPool>(c)?
        .iter()
        .any(|p| p.is_default && p.ip_version == ip_version && p.std.id != except);
    if taken {
        return Err(ApiError::bad_request(
            "Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family.",
        ));
    }
    Ok(())
}

fn visible_pools(c: &Connection, ctx: &RequestContext) -> ApiResult<Vec<SubnetPool>> {
    Ok(store::list::<SubnetPool>(c)?
        .into_iter()
        .filter(|p| p.shared || sees(ctx, &p.std.project_id))
        .collect())
}

/// A prefix length attribute of a pool body, or `current` when absent or null.
fn prefixlen_or(v: &Option<Value>, attr: &str, current: u8) -> ApiResult<u8> {
    v.as_ref()
        .filter(|v| !v.is_null())
        .map_or(Ok(current), |v| prefixlen(v, attr))
}

/// Shared and default pools are admin-only by default.
fn check_pool_create_policy(ctx: &RequestContext, input: &SubnetPoolInput) -> ApiResult<()> {
    for (flag, attr, rule) in [
        (
            input.shared,
            "shared",
            crate::http::policy::SUBNETPOOL_SHARED,
        ),
        (
            input.is_default,
            "is_default",
            crate::http::policy::SUBNETPOOL_DEFAULT,
        ),
    ] {
        if flag == Some(true) && !rule.allows(ctx, None) {
            return Err(ApiError::Forbidden(format!(
                "(rule:create_subnetpool and rule:create_subnetpool:{attr}) is disallowed by policy"
            )));
        }
    }
    Ok(())
}

/// The pool a create body describes: named, with prefixes of one IP version and
/// prefix lengths within the family's bounds (by default the whole range, the
/// default length the minimum).
fn new_pool(project: &str, input: SubnetPoolInput) -> ApiResult<SubnetPool> {
    let name = required(input.name, "name")?;
    check_name(&name)?;
    let (ip_version, prefixes) = ipam::pool_prefixes(&required(input.prefixes, "prefixes")?)?;
    let (bits_min, bits_max) = if ip_version == 4 { (8, 32) } else { (64, 128) };
    let min = prefixlen_or(&input.min_prefixlen, "min_prefixlen", bits_min)?;
    let max = prefixlen_or(&input.max_prefixlen, "max_prefixlen", bits_max)?;
    let default = prefixlen_or(&input.default_prefixlen, "default_prefixlen", min)?;
    check_bounds(ip_version, min, max, default)?;
    check_address_scope(&input.address_scope_id)?;
    let mut std = Std::new(project, input.description);
    std.tags = input.tags.unwrap_or_default();
    Ok(SubnetPool {
        std,
        name,
        prefixes: to_strings(&prefixes),
        default_prefixlen: default,
        min_prefixlen: min,
        max_prefixlen: max,
        default_quota: quota_value(&input.default_quota)?.flatten(),
        ip_version,
        shared: input.shared.unwrap_or(false),
        is_default: input.is_default.unwrap_or(false),
        address_scope_id: None,
    })
}

impl NetworkService {
    /// `POST /v2.0/subnetpools`: shared and default pools are for administrators.
    pub(crate) async fn subnetpool_create(
        &self,
        ctx: &RequestContext,
        input: SubnetPoolInput,
    ) -> ApiResult<SubnetPool> {
        let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        check_pool_create_policy(ctx, &input)?;
        let pool = new_pool(&project, input)?;
        self.write(move |c| {
            if pool.is_default {
                check_single_default(c, pool.ip_version, &pool.std.id)?;
            }
            quotas::check(c, SUBNETPOOL, &pool.std.project_id)?;
            store::put(c, &pool)?;
            tracing::info!(id = %pool.std.id, prefixes = ?pool.prefixes, "subnet pool created");
            Ok(pool)
        })
        .await
    }

    /// `GET /v2.0/subnetpools/{id}`: the caller's pools and shared ones.
    pub(crate) async fn subnetpool_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<SubnetPool> {
        self.get_visible(ctx, id).await
    }

    /// `GET /v2.0/subnetpools`.
    pub(crate) async fn subnetpool_list(&self, ctx: &RequestContext) -> ApiResult<Vec<SubnetPool>> {
        let ctx = ctx.clone();
        self.read(move |c| visible_pools(c, &ctx)).await
    }

    /// `PUT /v2.0/subnetpools/{id}`: prefixes may only grow; `shared` is fixed.
    pub(crate) async fn subnetpool_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: SubnetPoolInput,
        if_match: Option<String>,
    ) -> ApiResult<SubnetPool> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut pool: SubnetPool = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &pool.std.project_id)?;
            check_revision(&pool.std, if_match.as_deref())?;
            update_pool(c, &ctx, &mut pool, input)?;
            Ok(pool)
        })
        .await
    }

    /// `DELETE /v2.0/subnetpools/{id}`: refused while subnets hold its prefixes.
    pub(crate) async fn subnetpool_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let pool: SubnetPool = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &pool.std.project_id)?;
            if !store::pool_allocations(c, &id)?.is_empty() {
                // Neutron's SubnetPoolDeleteError is a BadRequest, so this is a 400.
                return Err(ApiError::bad_request(
                    "Unable to delete subnet pool: Subnet pool has existing allocations.",
                ));
            }
            store::delete::<SubnetPool>(c, &id)
        })
        .await
    }

    /// `PUT /v2.0/subnetpools/{id}/add_prefixes`: returns the new prefix list.
    pub(crate) async fn subnetpool_add_prefixes(
        &self,
        ctx: &RequestContext,
        id: String,
        prefixes: Vec<String>,
    ) -> ApiResult<Vec<String>> {
        self.change_prefixes(ctx, id, prefixes, |c, ctx, pool, prefixes| {
            let mut all = pool.prefixes.clone();
            all.extend(prefixes);
            let input = SubnetPoolInput {
                prefixes: Some(all),
                ..SubnetPoolInput::default()
            };
            update_pool(c, ctx, pool, input)
        })
        .await
    }

    /// `PUT /v2.0/subnetpools/{id}/remove_prefixes`: refused for prefixes in use.
    pub(crate) async fn subnetpool_remove_prefixes(
        &self,
        ctx: &RequestContext,
        id: String,
        prefixes: Vec<String>,
    ) -> ApiResult<Vec<String>> {
        self.change_prefixes(ctx, id, prefixes, |c, _, pool, prefixes| {
            let (version, removal) = ipam::pool_prefixes(&prefixes)?;
            let have = pool_nets(pool)?;
            let overlapping = |a: &[IpNet], b: &[IpNet]| {
                a.iter().any(|x| b.iter().any(|y| ipam::overlaps(x, y)))
            };
            if version != pool.ip_version || !overlapping(&have, &removal) {
                return Ok(());
            }
            let allocated: Vec<IpNet> = allocated_nets(c, &pool.std.id)?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            if overlapping(&allocated, &removal) {
                return Err(ApiError::bad_request(
                    "Illegal update to prefixes: One or more the prefixes to be removed is in use by a subnet.",
                ));
            }
            pool.prefixes = to_strings(&ipam::difference(&have, &removal));
            pool.std.touch();
            store::put(c, pool)
        })
        .await
    }

    /// The shared part of add/remove_prefixes: the pool as its caller may see and
    /// change it, `change` applied in one transaction unless the list is empty, and
    /// the resulting prefix list.
    async fn change_prefixes(
        &self,
        ctx: &RequestContext,
        id: String,
        prefixes: Vec<String>,
        change: impl FnOnce(&Connection, &RequestContext, &mut SubnetPool, Vec<String>) -> ApiResult<()>
        + Send
        + 'static,
    ) -> ApiResult<Vec<String>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut pool: SubnetPool = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &pool.std.project_id)?;
            if !prefixes.is_empty() {
                change(c, &ctx, &mut pool, prefixes)?;
            }
            Ok(pool.prefixes)
        })
        .await
    }
}

/// Applies an update body to a pool and stores it, with Neutron's checks.
fn update_pool(
    c: &Connection,
    ctx: &RequestContext,
    pool: &mut SubnetPool,
    input: SubnetPoolInput,
) -> ApiResult<()> {
    check_pool_update(ctx, &input)?;
    if let Some(name) = input.name {
        check_name(&name)?;
        pool.name = name;
    }
    if let Some(prefixes) = input.prefixes {
        grow_prefixes(pool, &prefixes)?;
    }
    pool.min_prefixlen = prefixlen_or(&input.min_prefixlen, "min_prefixlen", pool.min_prefixlen)?;
    pool.max_prefixlen = prefixlen_or(&input.max_prefixlen, "max_prefixlen", pool.max_prefixlen)?;
    pool.default_prefixlen = prefixlen_or(
        &input.default_prefixlen,
        "default_prefixlen",
        pool.default_prefixlen,
    )?;
    check_bounds(
        pool.ip_version,
        pool.min_prefixlen,
        pool.max_prefixlen,
        pool.default_prefixlen,
    )?;
    if let Some(q) = quota_value(&input.default_quota)? {
        pool.default_quota = q;
    }
    if let Some(d) = input.is_default {
        if d && !pool.is_default {
            check_single_default(c, pool.ip_version, &pool.std.id)?;
        }
        pool.is_default = d;
    }
    if let Some(v) = input.description {
        pool.std.description = v;
    }
    if let Some(v) = input.tags {
        pool.std.tags = v;
    }
    pool.std.touch();
    store::put(c, pool)
}

/// What an update may not touch: sharing and ownership are read-only, the default
/// flag is admin-only, and an address scope is not supported.
fn check_pool_update(ctx: &RequestContext, input: &SubnetPoolInput) -> ApiResult<()> {
    if input.shared.is_some() {
        return Err(ApiError::bad_request(
            "Cannot update read-only attribute shared",
        ));
    }
    if input.project_id.is_some() || input.tenant_id.is_some() {
        return Err(ApiError::bad_request(
            "Cannot update read-only attribute project_id",
        ));
    }
    if input.is_default.is_some() && !crate::http::policy::SUBNETPOOL_DEFAULT.allows(ctx, None) {
        return Err(ApiError::Forbidden(
            "(rule:update_subnetpool and rule:update_subnetpool:is_default) is disallowed by policy".into(),
        ));
    }
    check_address_scope(&input.address_scope_id)
}

/// New prefixes for a pool: of its IP version, and growing only (every old
/// address still inside them).
fn grow_prefixes(pool: &mut SubnetPool, prefixes: &[String]) -> ApiResult<()> {
    let (version, new) = ipam::pool_prefixes(prefixes)?;
    if version != pool.ip_version {
        return Err(ApiError::bad_request(
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
        ));
    }
    if !ipam::difference(&pool_nets(pool)?, &new).is_empty() {
        return Err(ApiError::bad_request(
            "Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.",
        ));
    }
    pool.prefixes = to_strings(&new);
    Ok(())
}

/// The pool a subnet create names, by `subnetpool_id` or `use_default_subnetpool`.
pub(super) fn requested_pool(
    c: &Connection,
    ctx: &RequestContext,
    subnetpool_id: Option<&str>,
    use_default: bool,
    ip_version: Option<u8>,
) -> ApiResult<Option<SubnetPool>> {
    let bad = |msg: &str| ApiError::bad_request(format!("Bad subnets request: {msg}."));
    match (subnetpool_id, use_default) {
        (Some(_), true) => Err(bad(
            "subnetpool_id and use_default_subnetpool cannot both be specified",
        )),
        (Some(id), false) => load_visible::<SubnetPool>(c, ctx, id).map(Some),
        (None, false) => Ok(None),
        (None, true) => {
            let v = ip_version.ok_or_else(|| {
                bad("ip_version must be specified in the absence of cidr and subnetpool_id")
            })?;
            let pool = visible_pools(c, ctx)?
                .into_iter()
                .find(|p| p.is_default && p.ip_version == v);
            pool.map(Some)
                .ok_or_else(|| bad(&format!("No default subnetpool found for IPv{v}")))
        }
    }
}

/// Carves a subnet's prefix out of a pool, inside the caller's write transaction:
/// the requested `cidr` if it is free, else the first free `/prefixlen` (the pool's
/// default length when none is given). The caller records it with
/// `store::pool_allocation_add` in the same transaction, so two concurrent creates
/// are serialized by the database and never get overlapping prefixes.
pub(super) fn allocate(
    c: &Connection,
    pool: &SubnetPool,
    project: &str,
    cidr: Option<IpNet>,
    prefixlen: Option<u8>,
) -> ApiResult<IpNet> {
    let len = cidr.map_or(prefixlen.unwrap_or(pool.default_prefixlen), |n| {
        n.prefix_len()
    });
    if len > pool.max_prefixlen {
        return Err(ApiError::bad_request(format!(
            "Unable to allocate subnet with prefix length {len}, maximum allowed prefix is {}.",
            pool.max_prefixlen
        )));
    }
    if len < pool.min_prefixlen {
        return Err(ApiError::bad_request(format!(
            "Unable to allocate subnet with prefix length {len}, minimum allowed prefix is {}.",
            pool.min_prefixlen
        )));
    }
    let allocated = allocated_nets(c, &pool.std.id)?;
    if let Some(quota) = pool.default_quota {
        let bits = if pool.ip_version == 4 { 32 } else { 64 };
        let requested = 1u128 << (bits as u8).saturating_sub(len);
        let used: u128 = allocated
            .iter()
            .filter(|(_, p)| p == project)
            .map(|(n, _)| ipam::quota_units(n))
            .sum();
        if used + requested > u128::from(quota) {
            return Err(ApiError::conflict_typed(
                neutron::SUBNET_POOL_QUOTA_EXCEEDED,
                "Per-tenant subnet pool prefix quota exceeded.",
            ));
        }
    }
    let have = pool_nets(pool)?;
    let taken: Vec<IpNet> = allocated.into_iter().map(|(n, _)| n).collect();
    let free = ipam::difference(&have, &taken);
    match cidr {
        Some(want) if free.iter().any(|b| b.contains(&want)) => Ok(want),
        Some(want) => {
            let msg = "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.";
            // Inside the pool but taken is a conflict; outside it, a bad request.
            if have.iter().any(|p| p.contains(&want)) {
                Err(ApiError::Conflict(msg.into()))
            } else {
                Err(ApiError::bad_request(msg))
            }
        }
        None => ipam::pick_prefix(&free, len).ok_or_else(|| {
            ApiError::Conflict(format!(
                "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /{len}."
            ))
        }),
    }
}
