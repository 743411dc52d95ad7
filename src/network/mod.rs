//! Neutron v2.0: networks, subnets, subnet pools, ports, routers, floating IPs and
//! their port forwardings, security groups and quotas, kept in the database and
//! converged onto the Linux dataplane.

pub(crate) mod api;
mod bootstrap;
pub(crate) mod facade;
pub(crate) mod instance;
pub(crate) mod ipam;
pub(crate) mod model;
pub(crate) mod networks;
pub(crate) mod plan;
pub(crate) mod port_forwarding;
mod port_status;
pub(crate) mod ports;
mod quotas;
pub(crate) mod registration;
pub(crate) mod routers;
pub(crate) mod security;
pub(crate) mod store;
pub(crate) mod subnetpools;

use std::sync::Arc;

use rusqlite::{Connection, Transaction};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;
use model::*;

/// The networking service. Cloning is cheap; clones share state.
#[derive(Clone)]
pub(crate) struct NetworkService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Woken after every committed change, so the dataplane converges.
    changed: Arc<Notify>,
    /// Committed changes so far; the reconciler publishes the last one it converged.
    changes: AtomicU64,
    converged: watch::Sender<u64>,
    /// Held by the reconciler through each converge, so that a stopping daemon
    /// lets the one in flight finish: a converge cut between creating a namespace
    /// and marking it as this cloud's would leave one nothing may remove.
    converging: Arc<tokio::sync::Mutex<()>>,
}

impl NetworkService {
    pub(crate) fn new(db: Db) -> NetworkService {
        NetworkService {
            inner: Arc::new(Inner {
                db,
                changed: Arc::new(Notify::new()),
                // Starts at 1 so that waiting before the first converge waits for it.
                changes: AtomicU64::new(1),
                converged: watch::Sender::new(0),
                converging: Arc::default(),
            }),
        }
    }

    /// Held through a converge (see `Inner::converging`).
    pub(crate) fn converge_gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.inner.converging.clone()
    }

    /// What the dataplane reconciler waits on.
    pub(crate) fn changes(&self) -> Arc<Notify> {
        self.inner.changed.clone()
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    /// A write transaction; the dataplane is told about it once it committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let out = self.inner.db.write(f).await;
        if out.is_ok() {
            self.inner.changes.fetch_add(1, Ordering::SeqCst);
            self.inner.changed.notify_one();
        }
        out
    }

    /// How many changes were committed so far (read before building a plan).
    pub(crate) fn change_seq(&self) -> u64 {
        self.inner.changes.load(Ordering::SeqCst)
    }

    /// The reconciler converged every change up to `seq`.
    pub(crate) fn mark_converged(&self, seq: u64) {
        self.inner.converged.send_if_modified(|v| {
            let newer = seq > *v;
            if newer {
                *v = seq;
            }
            newer
        });
    }

    /// The whole desired host plan, for the reconciler.
    pub(crate) async fn host_plan(
        &self,
        external_bridge: String,
        masquerade: bool,
    ) -> ApiResult<crate::dataplane::plan::HostPlan> {
        self.read(move |c| plan::build(c, &external_bridge, masquerade))
            .await
    }
}

/// The project a new resource belongs to: the caller's, or any for an admin.
fn owner_project(ctx: &RequestContext, requested: Option<String>) -> ApiResult<String> {
    let own = ctx.project_id().map(str::to_owned);
    match (requested, own) {
        (Some(p), Some(own)) if p == own => Ok(p),
        (Some(p), _) if policy::NETWORK_WRITE.allows(ctx, Some(&p)) => Ok(p),
        (Some(_), _) => Err(ApiError::Forbidden(
            "Only an administrator may create resources for another project.".into(),
        )),
        (None, Some(own)) => Ok(own),
        (None, None) => Err(ApiError::bad_request("A project-scoped token is required.")),
    }
}

/// Whether the caller sees a resource owned by `project_id`: Neutron's
/// `admin_or_project_reader` row of the policy table (a project role other than
/// reader/member/admin no longer reads, as in Neutron's defaults).
fn sees(ctx: &RequestContext, project_id: &str) -> bool {
    crate::http::policy::NETWORK.sees(ctx, project_id)
}

/// Whether the caller may change a resource owned by `project_id`:
/// `admin_or_project_member`.
fn may_change(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
    crate::http::policy::NETWORK.may_change(ctx, project_id)
}

fn not_found(kind: &str, id: &str) -> ApiError {
    let label = match kind {
        NETWORK => "Network",
        SUBNET => "Subnet",
        SUBNETPOOL => "Subnet pool",
        PORT => "Port",
        ROUTER => "Router",
        FLOATING_IP => "Floating IP",
        SECURITY_GROUP => "Security group",
        SECURITY_GROUP_RULE => "Security group rule",
        _ => "Resource",
    };
    ApiError::Missing(format!("{label} {id} could not be found."))
}

/// Loads a resource the caller may see (also when shared with every project).
fn load_visible<T: Resource>(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<T> {
    let r: T = store::get(c, id)?.ok_or_else(|| not_found(T::KIND, id))?;
    if sees(ctx, &r.std().project_id) || shared_with_all(c, T::KIND, id)? {
        Ok(r)
    } else {
        Err(not_found(T::KIND, id))
    }
}

/// Whether every project sees a resource: shared or external networks, shared pools.
fn shared_with_all(c: &Connection, kind: &str, id: &str) -> ApiResult<bool> {
    match kind {
        NETWORK => Ok(store::get::<Network>(c, id)?.is_some_and(|n| n.shared || n.external)),
        SUBNETPOOL => Ok(store::get::<SubnetPool>(c, id)?.is_some_and(|p| p.shared)),
        _ => Ok(false),
    }
}

/// Rejects a write whose `If-Match: revision_number=N` no longer holds.
pub(crate) fn check_revision(std: &Std, if_match: Option<&str>) -> ApiResult<()> {
    let Some(want) = if_match.and_then(|h| h.trim().strip_prefix("revision_number=")) else {
        return Ok(());
    };
    if want.trim().parse::<u64>().ok() == Some(std.revision_number) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "Constraint revision_number={want} failed: current revision is {}.",
            std.revision_number
        )))
    }
}

impl NetworkService {
    /// `GET /v2.0/network-ip-availabilities[/{id}]` (admin): pool sizes and use.
    pub(crate) async fn ip_availability(
        &self,
        ctx: &RequestContext,
        network_id: Option<String>,
    ) -> ApiResult<Vec<serde_json::Value>> {
        ctx.require_admin()?;
        self.read(move |c| {
            let subnets = store::list::<Subnet>(c)?;
            let mut out = Vec::new();
            for net in store::list::<Network>(c)?.into_iter().filter(|n| network_id.as_ref().is_none_or(|id| *id == n.std.id)) {
                let mut per_subnet = Vec::new();
                let (mut total, mut used) = (0u128, 0u128);
                for s in subnets.iter().filter(|s| s.network_id == net.std.id) {
                    let size: u128 = s
                        .allocation_pools
                        .iter()
                        .filter_map(|p| Some(ipam::to_u128(p.end.parse().ok()?) - ipam::to_u128(p.start.parse().ok()?) + 1))
                        .sum();
                    let in_use = store::ips_in_subnet(c, &s.std.id)?.len() as u128;
                    total += size;
                    used += in_use;
                    per_subnet.push(serde_json::json!({
                        "subnet_id": s.std.id, "subnet_name": s.name, "cidr": s.cidr, "ip_version": s.ip_version,
                        "total_ips": json_count(size), "used_ips": json_count(in_use),
                    }));
                }
                out.push(serde_json::json!({
                    "network_id": net.std.id, "network_name": net.name, "project_id": net.std.project_id,
                    "tenant_id": net.std.project_id, "total_ips": json_count(total), "used_ips": json_count(used),
                    "subnet_ip_availability": per_subnet,
                }));
            }
            Ok(out)
        })
        .await
    }
}

impl NetworkService {
    /// One resource the caller may see (404 otherwise).
    async fn get_visible<T: Resource>(&self, ctx: &RequestContext, id: String) -> ApiResult<T> {
        let ctx = ctx.clone();
        self.read(move |c| load_visible(c, &ctx, &id)).await
    }

    /// The resources of the caller's project (all of them for an admin).
    async fn list_owned<T: Resource>(&self, ctx: &RequestContext) -> ApiResult<Vec<T>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            Ok(store::list::<T>(c)?
                .into_iter()
                .filter(|r| sees(&ctx, &r.std().project_id))
                .collect())
        })
        .await
    }
}

/// `/v2.0/<collection>/{id}/tags` operations (the standard-attr-tag extension).
pub(crate) enum TagOp {
    Get,
    Check(String),
    Add(String),
    Remove(String),
    ReplaceAll(Vec<String>),
    RemoveAll,
}

fn apply_tag_op<T: Resource>(
    c: &Connection,
    ctx: &RequestContext,
    id: &str,
    op: &TagOp,
) -> ApiResult<Vec<String>> {
    let mut r: T = load_visible(c, ctx, id)?;
    if matches!(op, TagOp::Get | TagOp::Check(_)) {
        return match op {
            TagOp::Check(t) if !r.std().tags.contains(t) => Err(ApiError::Missing(format!(
                "Tag {t} could not be found for {} {id}.",
                T::KIND
            ))),
            _ => Ok(r.std().tags.clone()),
        };
    }
    may_change(ctx, &r.std().project_id)?;
    let tags = &mut r.std_mut().tags;
    match op {
        TagOp::Add(t) if !tags.contains(t) => tags.push(t.clone()),
        TagOp::Remove(t) => {
            if !tags.contains(t) {
                return Err(ApiError::Missing(format!(
                    "Tag {t} could not be found for {} {id}.",
                    T::KIND
                )));
            }
            tags.retain(|x| x != t);
        }
        TagOp::ReplaceAll(all) => *tags = all.clone(),
        TagOp::RemoveAll => tags.clear(),
        _ => {}
    }
    if tags
        .iter()
        .any(|t| t.is_empty() || t.len() > 255 || t.contains(','))
    {
        return Err(ApiError::bad_request(
            "Invalid tag: tags are 1 to 255 characters without commas.",
        ));
    }
    let out = tags.clone();
    r.std_mut().touch();
    store::put(c, &r)?;
    Ok(out)
}

impl NetworkService {
    /// Reads or changes the tags of any taggable resource, by collection name.
    pub(crate) async fn tags(
        &self,
        ctx: &RequestContext,
        collection: String,
        id: String,
        op: TagOp,
    ) -> ApiResult<Vec<String>> {
        let ctx = ctx.clone();
        let mutating = !matches!(op, TagOp::Get | TagOp::Check(_));
        let run = move |c: &Connection| match collection.as_str() {
            "networks" => apply_tag_op::<Network>(c, &ctx, &id, &op),
            "subnets" => apply_tag_op::<Subnet>(c, &ctx, &id, &op),
            "subnetpools" => apply_tag_op::<SubnetPool>(c, &ctx, &id, &op),
            "ports" => apply_tag_op::<Port>(c, &ctx, &id, &op),
            "routers" => apply_tag_op::<Router>(c, &ctx, &id, &op),
            "floatingips" => apply_tag_op::<FloatingIp>(c, &ctx, &id, &op),
            "security-groups" => apply_tag_op::<SecurityGroup>(c, &ctx, &id, &op),
            other => Err(ApiError::Missing(format!(
                "The resource could not be found: {other} has no tags."
            ))),
        };
        if mutating {
            self.write(move |c| run(c)).await
        } else {
            self.read(move |c| run(c)).await
        }
    }
}

/// An address count as JSON: a network with an IPv4 and a /64 IPv6 subnet (or two
/// /64s) holds more than 2^64 addresses, past what a JSON number carries here, so
/// counts saturate at u64::MAX instead of failing the whole listing.
fn json_count(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
