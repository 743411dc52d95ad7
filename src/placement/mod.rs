//! Placement: resource providers, inventories, traits, resource classes, consumers'
//! allocations and allocation candidates, with the capacity and generation rules
//! that make concurrent claims safe. The compute service uses the plain Rust API
//! (`ensure_provider`, `claim`, `release`, ...); `api` serves the HTTP surface.

mod allocations;
pub(crate) mod api;
mod candidates;
mod classes;
pub(crate) mod host;
mod inventories;
pub(crate) mod microversion;
pub(crate) mod model;
mod providers;
pub(crate) mod registration;
pub(crate) mod store;
mod traits;

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::error::{ApiError, ApiResult, placement as codes};
pub(crate) use host::{compute_node_uuid, host_cpu_traits, host_inventory};
pub(crate) use model::InventorySpec;
use model::*;
use store::Consumer;

use allocations::check_amount;
use candidates::{check_traits_exist, has_room, is_descendant, member_of_matches, traits_match};

/// Owner recorded for allocations written before microversion 1.8, which sent none
/// (Placement's `incomplete_consumer_project_id`/`user_id`).
pub(crate) const INCOMPLETE_CONSUMER: &str = "00000000-0000-0000-0000-000000000000";

/// The Placement service. Cloning is cheap; clones share the database handle.
#[derive(Clone)]
pub(crate) struct PlacementService {
    db: Db,
}

/// `GET /resource_providers` filters; each `None` means "not filtered".
#[derive(Debug, Default, Clone)]
pub(crate) struct ProviderFilter {
    pub name: Option<String>,
    pub uuid: Option<String>,
    /// Each entry is a set of aggregates of which the provider must be in one.
    pub member_of: Vec<Vec<String>>,
    pub resources: BTreeMap<String, i64>,
    pub in_tree: Option<String>,
    pub traits: TraitFilter,
}

/// One provider with what a view needs besides its own row.
#[derive(Debug, Clone)]
pub(crate) struct ProviderUsage {
    pub provider: Provider,
    pub inventories: Vec<InventorySpec>,
    pub usages: BTreeMap<String, i64>,
    pub traits: Vec<String>,
}

/// The allocations of one consumer as `GET /allocations/{consumer}` shows them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsumerView {
    pub consumer: Option<Consumer>,
    /// provider -> (provider generation, class -> used)
    pub allocations: BTreeMap<String, (i64, BTreeMap<String, i64>)>,
}

/// One `GET /allocation_candidates` query.
#[derive(Debug, Clone, Default)]
pub(crate) struct CandidateRequest {
    pub resources: BTreeMap<String, i64>,
    pub traits: TraitFilter,
    pub member_of: Vec<Vec<String>>,
    pub limit: Option<usize>,
}

impl PlacementService {
    pub(crate) fn new(db: Db) -> PlacementService {
        PlacementService { db }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.db.read(f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.db.write(f).await
    }
}

// --- shared transaction logic ----------------------------------------------------------

fn ensure_provider_tx(
    tx: &Transaction,
    uuid: &str,
    name: &str,
    inventories: &[InventorySpec],
) -> ApiResult<()> {
    for inv in inventories {
        inv.validate(uuid, true)?;
        check_class_known(tx, uuid, &inv.resource_class)?;
    }
    match store::provider_get(tx, uuid)? {
        None => {
            store::provider_insert(
                tx,
                &Provider {
                    uuid: uuid.to_owned(),
                    name: name.to_owned(),
                    generation: 0,
                    parent_uuid: None,
                    root_uuid: uuid.to_owned(),
                },
            )?;
            replace_inventories(tx, uuid, inventories)?;
            if !inventories.is_empty() {
                store::provider_bump(tx, uuid, None)?;
            }
        }
        Some(p) => {
            if p.name != name {
                store::provider_update(tx, uuid, name, p.parent_uuid.as_deref(), &p.root_uuid)?;
            }
            if store::inventories(tx, uuid)? != sorted(inventories.to_vec()) {
                replace_inventories(tx, uuid, inventories)?;
                store::provider_bump(tx, uuid, None)?;
            }
        }
    }
    Ok(())
}

fn ensure_traits_tx(tx: &Transaction, uuid: &str, traits: Vec<String>) -> ApiResult<()> {
    load_provider(tx, uuid)?;
    let current = store::provider_traits(tx, uuid)?;
    let mut want = traits;
    if let Some(bad) = want.iter().find(|t| !is_standard_trait(t)) {
        return Err(ApiError::bad_request(format!("No such trait(s): {bad}.")));
    }
    // Custom traits an operator set are theirs to keep.
    want.extend(current.iter().filter(|t| t.starts_with("CUSTOM_")).cloned());
    want.sort();
    want.dedup();
    if current != want {
        store::provider_traits_set(tx, uuid, &want)?;
        store::provider_bump(tx, uuid, None)?;
    }
    Ok(())
}

fn load_provider(c: &Connection, uuid: &str) -> ApiResult<Provider> {
    store::provider_get(c, uuid)?
        .ok_or_else(|| ApiError::Missing(format!("No resource provider with uuid {uuid} found")))
}

fn sorted(mut v: Vec<InventorySpec>) -> Vec<InventorySpec> {
    v.sort_by(|a, b| a.resource_class.cmp(&b.resource_class));
    v
}

fn inventory_in_use(provider: &str, class: &str) -> ApiError {
    ApiError::conflict_typed(
        codes::INVENTORY_IN_USE,
        format!(
            "update conflict: Inventory for '{class}' on resource provider '{provider}' in use."
        ),
    )
}

fn check_class_known(c: &Connection, provider: &str, class: &str) -> ApiResult<()> {
    if is_standard_class(class) || store::custom_class_exists(c, class)? {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Unknown resource class in inventory for resource provider {provider}: {class}"
        )))
    }
}

/// Replaces all inventories; a class that would vanish while allocated is a 409.
fn replace_inventories(
    tx: &Transaction,
    provider: &str,
    inventories: &[InventorySpec],
) -> ApiResult<()> {
    let keep: BTreeSet<&str> = inventories
        .iter()
        .map(|i| i.resource_class.as_str())
        .collect();
    for old in store::inventories(tx, provider)? {
        if !keep.contains(old.resource_class.as_str()) {
            if store::used(tx, provider, &old.resource_class)? > 0 {
                return Err(inventory_in_use(provider, &old.resource_class));
            }
            store::inventory_delete(tx, provider, &old.resource_class)?;
        }
    }
    for inv in inventories {
        store::inventory_upsert(tx, provider, inv)?;
    }
    Ok(())
}

/// Gives `uuid` and everything below it the root `root`.
fn reroot_subtree(tx: &Transaction, uuid: &str, root: &str) -> ApiResult<()> {
    let all = store::provider_list(tx)?;
    let mut stack = vec![uuid.to_owned()];
    while let Some(u) = stack.pop() {
        if let Some(p) = all.iter().find(|p| p.uuid == u) {
            store::provider_update(tx, &p.uuid, &p.name, p.parent_uuid.as_deref(), root)?;
        }
        stack.extend(
            all.iter()
                .filter(|p| p.parent_uuid.as_deref() == Some(u.as_str()))
                .map(|p| p.uuid.clone()),
        );
    }
    Ok(())
}

fn check_provider_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "JSON does not validate: 'name' must be between 1 and 200 characters long.",
        ));
    }
    Ok(())
}

fn check_custom(name: &str, what: &str) -> ApiResult<()> {
    if is_custom_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "JSON does not validate: the {what} name {name:?} must start with CUSTOM_ and \
             use only A-Z, 0-9 and _ (at most 255 characters)."
        )))
    }
}

/// A UUID in canonical (lowercase, dashed) form, or 400 naming the field.
pub(crate) fn normalize_uuid(s: &str, field: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.to_string())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "JSON does not validate: '{s}' is not a 'uuid' ({field})"
            ))
        })
}

/// `name=in:A,B` or `name=startswith:CUSTOM_` on `GET /traits`.
enum NameFilter {
    In(Vec<String>),
    StartsWith(String),
}

impl NameFilter {
    fn matches(&self, t: &str) -> bool {
        match self {
            NameFilter::In(v) => v.iter().any(|n| n == t),
            NameFilter::StartsWith(p) => t.starts_with(p.as_str()),
        }
    }
}

fn parse_trait_name_filter(f: &str) -> ApiResult<NameFilter> {
    if let Some(list) = f.strip_prefix("in:") {
        Ok(NameFilter::In(
            list.split(',').map(|s| s.trim().to_owned()).collect(),
        ))
    } else if let Some(p) = f.strip_prefix("startswith:") {
        Ok(NameFilter::StartsWith(p.to_owned()))
    } else {
        Err(ApiError::bad_request(format!(
            "Badly formatted name parameter. Expected name query string parameter in form: \
             ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{f}\""
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vcpu(total: i64) -> InventorySpec {
        InventorySpec {
            resource_class: "VCPU".into(),
            total,
            reserved: 0,
            min_unit: 1,
            max_unit: total,
            step_size: 1,
            allocation_ratio: 1.0,
        }
    }

    async fn service() -> (tempfile::TempDir, PlacementService) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("state.db")).expect("db");
        (dir, PlacementService::new(db))
    }

    #[tokio::test]
    async fn claim_release_and_capacity() {
        let (_d, s) = service().await;
        let rp = "5a6f2a3e-1b1c-4d54-9a4d-2b0c3f6f7a10";
        s.ensure_provider(rp, "host", vec![vcpu(4)])
            .await
            .expect("ensure");
        s.ensure_provider(rp, "host", vec![vcpu(4)])
            .await
            .expect("idempotent");
        assert_eq!(s.provider_get(rp).await.expect("get").generation, 1);
        s.claim("c1", "p", "u", rp, vec![("VCPU".into(), 3)])
            .await
            .expect("claim");
        let err = s.claim("c2", "p", "u", rp, vec![("VCPU".into(), 2)]).await;
        assert!(matches!(err, Err(ApiError::Conflict(m)) if m.contains("exceed the capacity")));
        // Re-claiming does not count the consumer's own allocation.
        s.claim("c1", "p", "u", rp, vec![("VCPU".into(), 4)])
            .await
            .expect("resize");
        assert_eq!(
            s.provider_usages(rp).await.expect("usages"),
            [("VCPU".to_owned(), 4)]
        );
        s.release("c1").await.expect("release");
        s.release("c1").await.expect("release is idempotent");
        assert!(s.provider_usages(rp).await.expect("usages").is_empty());
        assert_eq!(
            s.provider_inventories(rp).await.expect("inv"),
            vec![vcpu(4)]
        );
    }

    #[test]
    fn trait_name_filters() {
        assert!(parse_trait_name_filter("in:A,B").expect("in").matches("B"));
        assert!(
            parse_trait_name_filter("startswith:CUSTOM_")
                .expect("sw")
                .matches("CUSTOM_X")
        );
        assert!(parse_trait_name_filter("CUSTOM_X").is_err());
    }
}
