//! Placement: resource providers, inventories, traits, resource classes, consumers'
//! allocations and allocation candidates, with the capacity and generation rules
//! that make concurrent claims safe. The compute service uses the plain Rust API
//! (`ensure_provider`, `claim`, `release`, ...); `api` serves the HTTP surface.

pub mod api;
pub mod host;
pub mod microversion;
pub mod model;
pub(crate) mod store;

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::error::{ApiError, ApiResult, placement as codes};
pub use host::{compute_node_uuid, host_cpu_traits, host_inventory};
pub use model::InventorySpec;
use model::*;
use store::Consumer;

/// Owner recorded for allocations written before microversion 1.8, which sent none
/// (Placement's `incomplete_consumer_project_id`/`user_id`).
pub const INCOMPLETE_CONSUMER: &str = "00000000-0000-0000-0000-000000000000";

/// The Placement service. Cloning is cheap; clones share the database handle.
#[derive(Clone)]
pub struct PlacementService {
    db: Db,
}

/// `GET /resource_providers` filters; each `None` means "not filtered".
#[derive(Debug, Default, Clone)]
pub struct ProviderFilter {
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
pub struct ProviderUsage {
    pub provider: Provider,
    pub inventories: Vec<InventorySpec>,
    pub usages: BTreeMap<String, i64>,
    pub traits: Vec<String>,
}

/// The allocations of one consumer as `GET /allocations/{consumer}` shows them.
#[derive(Debug, Clone, Default)]
pub struct ConsumerView {
    pub consumer: Option<Consumer>,
    /// provider -> (provider generation, class -> used)
    pub allocations: BTreeMap<String, (i64, BTreeMap<String, i64>)>,
}

/// One `GET /allocation_candidates` query.
#[derive(Debug, Clone, Default)]
pub struct CandidateRequest {
    pub resources: BTreeMap<String, i64>,
    pub traits: TraitFilter,
    pub member_of: Vec<Vec<String>>,
    pub limit: Option<usize>,
}

impl PlacementService {
    pub fn new(db: Db) -> PlacementService {
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

    // --- the Rust API the compute service calls --------------------------------

    /// The compute node's provider at start: create if missing, else update its name
    /// and inventories (idempotent; the generation moves only on a real change).
    pub async fn ensure_provider(
        &self,
        uuid: &str,
        name: &str,
        inventories: Vec<InventorySpec>,
    ) -> ApiResult<()> {
        let (uuid, name) = (uuid.to_owned(), name.to_owned());
        self.write(move |tx| ensure_provider_tx(tx, &uuid, &name, &inventories))
            .await
    }

    /// `ensure_provider` plus `ensure_provider_traits` in one transaction, for
    /// start-up code that runs before the async runtime serves requests.
    pub fn register_blocking(
        &self,
        uuid: &str,
        name: &str,
        inventories: &[InventorySpec],
        traits: Vec<String>,
    ) -> ApiResult<()> {
        self.db.write_blocking(|tx| {
            ensure_provider_tx(tx, uuid, name, inventories)?;
            ensure_traits_tx(tx, uuid, traits)
        })
    }

    /// Sets the provider's standard traits to `traits` (custom ones stay), bumping its
    /// generation when they change; the compute node reports its CPU features this way.
    pub async fn ensure_provider_traits(&self, uuid: &str, traits: Vec<String>) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| ensure_traits_tx(tx, &uuid, traits))
            .await
    }

    /// Adds (`present`) or removes one standard trait on a provider, bumping its
    /// generation only on a change; compute mirrors its service status this way.
    pub async fn provider_trait_set(&self, uuid: &str, name: &str, present: bool) -> ApiResult<()> {
        let (uuid, name) = (uuid.to_owned(), name.to_owned());
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            let current = store::provider_traits(tx, &uuid)?;
            let mut want: Vec<String> = current.iter().filter(|t| **t != name).cloned().collect();
            if present {
                want.push(name);
            }
            want.sort();
            if current != want {
                store::provider_traits_set(tx, &uuid, &want)?;
                store::provider_bump(tx, &uuid, None)?;
            }
            Ok(())
        })
        .await
    }

    /// Replaces the allocations of `consumer` against `provider` with `resources`,
    /// atomically; capacity is checked without the consumer's own current allocations.
    /// `Err(ApiError::Conflict(..))` when there is no room.
    pub async fn claim(
        &self,
        consumer: &str,
        project_id: &str,
        user_id: &str,
        provider: &str,
        resources: Vec<(String, i64)>,
    ) -> ApiResult<()> {
        let (consumer, project, user, provider) = (
            consumer.to_owned(),
            project_id.to_owned(),
            user_id.to_owned(),
            provider.to_owned(),
        );
        self.write(move |tx| {
            let mut current = ProviderResources::new();
            for (p, class, used) in store::consumer_allocations(tx, &consumer)? {
                current.entry(p).or_default().insert(class, used);
            }
            let wanted: BTreeMap<String, i64> = resources.into_iter().collect();
            if wanted.is_empty() {
                current.remove(&provider);
            } else {
                current.insert(provider, wanted);
            }
            write_allocations(
                tx,
                &[ConsumerAllocations {
                    consumer,
                    project_id: project,
                    user_id: user,
                    consumer_generation: None,
                    allocations: current,
                }],
            )
        })
        .await
    }

    /// Deletes every allocation of `consumer` (idempotent).
    pub async fn release(&self, consumer: &str) -> ApiResult<()> {
        let consumer = consumer.to_owned();
        self.write(move |tx| delete_consumer_allocations(tx, &consumer).map(|_| ()))
            .await
    }

    /// (class, used) for a provider.
    pub async fn provider_usages(&self, provider: &str) -> ApiResult<Vec<(String, i64)>> {
        let provider = provider.to_owned();
        self.read(move |c| {
            load_provider(c, &provider)?;
            Ok(store::provider_usages(c, &provider)?.into_iter().collect())
        })
        .await
    }

    /// The provider's inventories (for os-hypervisors).
    pub async fn provider_inventories(&self, provider: &str) -> ApiResult<Vec<InventorySpec>> {
        let provider = provider.to_owned();
        self.read(move |c| {
            load_provider(c, &provider)?;
            store::inventories(c, &provider)
        })
        .await
    }

    // --- resource providers -----------------------------------------------------

    pub async fn provider_list(&self, f: ProviderFilter) -> ApiResult<Vec<Provider>> {
        self.read(move |c| {
            let all = store::provider_list(c)?;
            // An unknown `in_tree` provider matches nothing, as in Placement.
            let tree_root = match &f.in_tree {
                Some(u) => match all.iter().find(|p| &p.uuid == u) {
                    Some(p) => Some(p.root_uuid.clone()),
                    None => return Ok(vec![]),
                },
                None => None,
            };
            check_traits_exist(c, &f.traits)?;
            let mut out = vec![];
            for p in all {
                if f.name.as_ref().is_some_and(|n| n != &p.name)
                    || f.uuid.as_ref().is_some_and(|u| u != &p.uuid)
                    || tree_root.as_ref().is_some_and(|r| r != &p.root_uuid)
                    || !member_of_matches(c, &p.uuid, &f.member_of)?
                    || !traits_match(&store::provider_traits(c, &p.uuid)?, &f.traits)
                    || !has_room(c, &p.uuid, &f.resources)?
                {
                    continue;
                }
                out.push(p);
            }
            Ok(out)
        })
        .await
    }

    pub async fn provider_get(&self, uuid: &str) -> ApiResult<Provider> {
        let uuid = uuid.to_owned();
        self.read(move |c| load_provider(c, &uuid)).await
    }

    /// Creates a provider; a parent puts it in the parent's tree.
    pub async fn provider_create(
        &self,
        uuid: Option<String>,
        name: String,
        parent: Option<String>,
    ) -> ApiResult<Provider> {
        let uuid = match uuid {
            Some(u) => normalize_uuid(&u, "uuid")?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        check_provider_name(&name)?;
        self.write(move |tx| {
            let root_uuid = match &parent {
                Some(pu) => {
                    store::provider_get(tx, pu)?
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "parent provider UUID {pu} does not exist."
                            ))
                        })?
                        .root_uuid
                }
                None => uuid.clone(),
            };
            let p = Provider {
                uuid,
                name,
                generation: 0,
                parent_uuid: parent,
                root_uuid,
            };
            store::provider_insert(tx, &p)?;
            Ok(p)
        })
        .await
    }

    /// Renames and (from 1.14) sets the parent; re-parenting needs `allow_reparent`.
    pub async fn provider_update(
        &self,
        uuid: &str,
        name: String,
        parent: Option<Option<String>>,
        allow_reparent: bool,
    ) -> ApiResult<Provider> {
        check_provider_name(&name)?;
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            let p = load_provider(tx, &uuid)?;
            let new_parent = match parent {
                None => p.parent_uuid.clone(),
                Some(np) => np,
            };
            let mut root = p.root_uuid.clone();
            if new_parent != p.parent_uuid {
                if p.parent_uuid.is_some() && !allow_reparent {
                    return Err(ApiError::bad_request(
                        "Unable to save resource provider: re-parenting a provider is not \
                         currently allowed.",
                    ));
                }
                if let Some(np) = &new_parent {
                    let parent = store::provider_get(tx, np)?.ok_or_else(|| {
                        ApiError::bad_request(format!("parent provider UUID {np} does not exist."))
                    })?;
                    if parent.root_uuid == p.root_uuid && is_descendant(tx, np, &uuid)? {
                        return Err(ApiError::bad_request(
                            "Unable to save resource provider: creating a loop in the \
                             provider tree is not allowed.",
                        ));
                    }
                    root = parent.root_uuid;
                } else {
                    root = uuid.clone();
                }
            }
            store::provider_update(tx, &uuid, &name, new_parent.as_deref(), &root)?;
            if root != p.root_uuid {
                reroot_subtree(tx, &uuid, &root)?;
            }
            load_provider(tx, &uuid)
        })
        .await
    }

    pub async fn provider_delete(&self, uuid: &str) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            if store::provider_has_allocations(tx, &uuid)? {
                return Err(ApiError::conflict_typed(
                    codes::PROVIDER_IN_USE,
                    format!(
                        "Unable to delete resource provider {uuid}: Resource provider has allocations."
                    ),
                ));
            }
            if store::provider_has_children(tx, &uuid)? {
                return Err(ApiError::conflict_typed(
                    codes::PROVIDER_CANNOT_DELETE_PARENT,
                    format!(
                        "Unable to delete parent resource provider {uuid}: It has child resource providers."
                    ),
                ));
            }
            store::provider_delete(tx, &uuid)
        })
        .await
    }

    // --- inventories ----------------------------------------------------------------

    pub async fn inventories_get(&self, uuid: &str) -> ApiResult<(i64, Vec<InventorySpec>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::inventories(c, &uuid)?))
        })
        .await
    }

    /// Replaces all inventories if `generation` is still current.
    pub async fn inventories_put(
        &self,
        uuid: &str,
        generation: i64,
        inventories: Vec<InventorySpec>,
        reserved_can_be_total: bool,
    ) -> ApiResult<(i64, Vec<InventorySpec>)> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            for inv in &inventories {
                check_class_known(tx, &uuid, &inv.resource_class)?;
                inv.validate(&uuid, reserved_can_be_total)?;
            }
            let rp_gen = store::provider_bump(tx, &uuid, Some(generation))?;
            replace_inventories(tx, &uuid, &inventories)?;
            Ok((rp_gen, store::inventories(tx, &uuid)?))
        })
        .await
    }

    /// `DELETE /resource_providers/{uuid}/inventories` (1.5).
    pub async fn inventories_delete(&self, uuid: &str) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            replace_inventories(tx, &uuid, &[])?;
            store::provider_bump(tx, &uuid, None)?;
            Ok(())
        })
        .await
    }

    pub async fn inventory_get(&self, uuid: &str, class: &str) -> ApiResult<(i64, InventorySpec)> {
        let (uuid, class) = (uuid.to_owned(), class.to_owned());
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            let inv = store::inventories(c, &uuid)?
                .into_iter()
                .find(|i| i.resource_class == class)
                .ok_or_else(|| {
                    ApiError::Missing(format!("No inventory of class {class} for {uuid}"))
                })?;
            Ok((p.generation, inv))
        })
        .await
    }

    /// PUT (`create = false`, the class must already have inventory) or POST
    /// (`create = true`, it must not) of one inventory record.
    pub async fn inventory_write(
        &self,
        uuid: &str,
        generation: i64,
        inv: InventorySpec,
        create: bool,
        reserved_can_be_total: bool,
    ) -> ApiResult<(i64, InventorySpec)> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            check_class_known(tx, &uuid, &inv.resource_class)?;
            inv.validate(&uuid, reserved_can_be_total)?;
            let exists = store::inventories(tx, &uuid)?
                .iter()
                .any(|i| i.resource_class == inv.resource_class);
            if create && exists {
                return Err(ApiError::Conflict(format!(
                    "Update conflict: Inventory for '{}' on resource provider '{uuid}' already exists.",
                    inv.resource_class
                )));
            }
            if !create && !exists {
                return Err(ApiError::bad_request(format!(
                    "No inventory record with resource class for resource provider {uuid}"
                )));
            }
            let rp_gen = store::provider_bump(tx, &uuid, Some(generation))?;
            store::inventory_upsert(tx, &uuid, &inv)?;
            Ok((rp_gen, inv))
        })
        .await
    }

    pub async fn inventory_delete(&self, uuid: &str, class: &str) -> ApiResult<()> {
        let (uuid, class) = (uuid.to_owned(), class.to_owned());
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            if store::used(tx, &uuid, &class)? > 0 {
                return Err(inventory_in_use(&uuid, &class));
            }
            if !store::inventory_delete(tx, &uuid, &class)? {
                return Err(ApiError::Missing(format!(
                    "No inventory of class {class} found for delete"
                )));
            }
            store::provider_bump(tx, &uuid, None)?;
            Ok(())
        })
        .await
    }

    // --- resource classes -----------------------------------------------------------

    pub async fn classes_list(&self) -> ApiResult<Vec<String>> {
        self.read(|c| {
            let mut all: Vec<String> = STANDARD_CLASSES.iter().map(|s| s.to_string()).collect();
            all.extend(store::custom_classes(c)?);
            Ok(all)
        })
        .await
    }

    pub async fn class_get(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.read(move |c| {
            if is_standard_class(&name) || store::custom_class_exists(c, &name)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!("No such resource class {name}.")))
            }
        })
        .await
    }

    /// POST (`idempotent = false`: an existing class is 409) or, from 1.7, PUT
    /// (`idempotent = true`). Returns whether the class was created.
    pub async fn class_create(&self, name: &str, idempotent: bool) -> ApiResult<bool> {
        check_custom(name, "resource class")?;
        let name = name.to_owned();
        self.write(move |tx| {
            if store::custom_class_exists(tx, &name)? {
                if idempotent {
                    return Ok(false);
                }
                return Err(ApiError::Conflict(format!(
                    "Conflicting resource class already exists: {name}"
                )));
            }
            store::custom_class_insert(tx, &name)?;
            Ok(true)
        })
        .await
    }

    pub async fn class_delete(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            if is_standard_class(&name) {
                return Err(ApiError::bad_request(format!(
                    "Cannot delete standard resource class {name}."
                )));
            }
            if !store::custom_class_exists(tx, &name)? {
                return Err(ApiError::Missing(format!("No such resource class {name}.")));
            }
            if store::class_in_use(tx, &name)? {
                return Err(ApiError::Conflict(format!(
                    "Unable to delete resource class {name}. Cannot delete resource class {name}. \
                     Class is in use in inventory."
                )));
            }
            store::custom_class_delete(tx, &name)?;
            Ok(())
        })
        .await
    }

    // --- traits ----------------------------------------------------------------------

    /// All traits, filtered by `name=in:a,b` / `startswith:X` and `associated=`.
    pub async fn traits_list(
        &self,
        name_filter: Option<String>,
        associated: Option<bool>,
    ) -> ApiResult<Vec<String>> {
        let filter = match name_filter.as_deref() {
            None => None,
            Some(f) => Some(parse_trait_name_filter(f)?),
        };
        self.read(move |c| {
            let mut all = standard_traits();
            all.extend(store::custom_traits(c)?);
            if let Some(assoc) = associated {
                let used: BTreeSet<String> = store::associated_traits(c)?.into_iter().collect();
                all.retain(|t| used.contains(t) == assoc);
            }
            if let Some(f) = &filter {
                all.retain(|t| f.matches(t));
            }
            all.sort();
            Ok(all)
        })
        .await
    }

    pub async fn trait_exists(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.read(move |c| {
            if is_standard_trait(&name) || store::custom_trait_exists(c, &name)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!("No such trait(s): {name}.")))
            }
        })
        .await
    }

    /// Creates a custom trait; false when it already existed.
    pub async fn trait_put(&self, name: &str) -> ApiResult<bool> {
        if !is_custom_name(name) {
            return Err(ApiError::bad_request(
                "The trait is invalid. A valid trait must be no longer than 255 characters, \
                 start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \
                 \"0\"-\"9\" and \"_\"",
            ));
        }
        let name = name.to_owned();
        self.write(move |tx| store::custom_trait_insert(tx, &name))
            .await
    }

    pub async fn trait_delete(&self, name: &str) -> ApiResult<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            if is_standard_trait(&name) {
                return Err(ApiError::bad_request(format!(
                    "Cannot delete standard trait {name}."
                )));
            }
            if !store::custom_trait_exists(tx, &name)? {
                return Err(ApiError::Missing(format!("No such trait(s): {name}.")));
            }
            if store::trait_in_use(tx, &name)? {
                return Err(ApiError::Conflict(format!(
                    "The trait {name} is in use by a resource provider."
                )));
            }
            store::custom_trait_delete(tx, &name)?;
            Ok(())
        })
        .await
    }

    pub async fn provider_traits_get(&self, uuid: &str) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::provider_traits(c, &uuid)?))
        })
        .await
    }

    /// Replaces a provider's traits if `generation` is current; unknown traits are 400.
    pub async fn provider_traits_put(
        &self,
        uuid: &str,
        generation: i64,
        traits: Vec<String>,
    ) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            let mut unknown = vec![];
            for t in &traits {
                if !is_standard_trait(t) && !store::custom_trait_exists(tx, t)? {
                    unknown.push(t.as_str());
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "No such trait(s): {}.",
                    unknown.join(", ")
                )));
            }
            let rp_gen = store::provider_bump(tx, &uuid, Some(generation))?;
            store::provider_traits_set(tx, &uuid, &traits)?;
            Ok((rp_gen, store::provider_traits(tx, &uuid)?))
        })
        .await
    }

    pub async fn provider_traits_delete(&self, uuid: &str) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            store::provider_traits_set(tx, &uuid, &[])?;
            store::provider_bump(tx, &uuid, None)?;
            Ok(())
        })
        .await
    }

    // --- aggregates ------------------------------------------------------------------

    pub async fn aggregates_get(&self, uuid: &str) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::provider_aggregates(c, &uuid)?))
        })
        .await
    }

    /// Replaces a provider's aggregates; from 1.19 guarded by and bumping the generation.
    pub async fn aggregates_put(
        &self,
        uuid: &str,
        generation: Option<i64>,
        aggregates: Vec<String>,
    ) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        let aggregates = aggregates
            .iter()
            .map(|a| normalize_uuid(a, "aggregates"))
            .collect::<ApiResult<Vec<_>>>()?;
        self.write(move |tx| {
            let p = load_provider(tx, &uuid)?;
            let rp_gen = match generation {
                Some(g) => store::provider_bump(tx, &uuid, Some(g))?,
                None => p.generation,
            };
            store::provider_aggregates_set(tx, &uuid, &aggregates)?;
            Ok((rp_gen, store::provider_aggregates(tx, &uuid)?))
        })
        .await
    }

    // --- allocations and usages -------------------------------------------------------

    pub async fn allocations_get(&self, consumer: &str) -> ApiResult<ConsumerView> {
        let consumer = consumer.to_owned();
        self.read(move |c| {
            let mut view = ConsumerView {
                consumer: store::consumer_get(c, &consumer)?,
                allocations: BTreeMap::new(),
            };
            for (p, class, used) in store::consumer_allocations(c, &consumer)? {
                if !view.allocations.contains_key(&p) {
                    let rp_gen = load_provider(c, &p)?.generation;
                    view.allocations
                        .insert(p.clone(), (rp_gen, BTreeMap::new()));
                }
                if let Some((_, m)) = view.allocations.get_mut(&p) {
                    m.insert(class, used);
                }
            }
            Ok(view)
        })
        .await
    }

    /// PUT /allocations/{c} (one consumer) and POST /allocations (several): one
    /// transaction, so either every consumer's allocations change or none does.
    pub async fn allocations_put(&self, requests: Vec<ConsumerAllocations>) -> ApiResult<()> {
        self.write(move |tx| write_allocations(tx, &requests)).await
    }

    pub async fn allocations_delete(&self, consumer: &str) -> ApiResult<()> {
        let consumer = consumer.to_owned();
        self.write(move |tx| {
            if delete_consumer_allocations(tx, &consumer)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!(
                    "No allocations for consumer '{consumer}'"
                )))
            }
        })
        .await
    }

    /// consumer -> class -> used on one provider, with the provider's generation.
    pub async fn provider_allocations(
        &self,
        uuid: &str,
    ) -> ApiResult<(i64, BTreeMap<String, BTreeMap<String, i64>>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
            for (consumer, class, used) in store::provider_allocations(c, &uuid)? {
                out.entry(consumer).or_default().insert(class, used);
            }
            Ok((p.generation, out))
        })
        .await
    }

    /// Usage per inventoried class (0 when unused) and the provider's generation.
    pub async fn provider_usage_view(&self, uuid: &str) -> ApiResult<(i64, BTreeMap<String, i64>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            let mut usages: BTreeMap<String, i64> = store::inventories(c, &uuid)?
                .into_iter()
                .map(|i| (i.resource_class, 0))
                .collect();
            usages.extend(store::provider_usages(c, &uuid)?);
            Ok((p.generation, usages))
        })
        .await
    }

    pub async fn project_usages(
        &self,
        project: String,
        user: Option<String>,
    ) -> ApiResult<BTreeMap<String, i64>> {
        self.read(move |c| store::project_usages(c, &project, user.as_deref()))
            .await
    }

    // --- allocation candidates --------------------------------------------------------

    /// Providers that alone can satisfy every requested class, with their summaries.
    pub async fn allocation_candidates(
        &self,
        req: CandidateRequest,
    ) -> ApiResult<Vec<ProviderUsage>> {
        self.read(move |c| {
            for class in req.resources.keys() {
                if !is_standard_class(class) && !store::custom_class_exists(c, class)? {
                    return Err(ApiError::bad_request(format!(
                        "Invalid resource class in resources parameter: No such resource class {class}."
                    )));
                }
            }
            check_traits_exist(c, &req.traits)?;
            let mut out = vec![];
            for p in store::provider_list(c)? {
                if req.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
                let traits = store::provider_traits(c, &p.uuid)?;
                if !traits_match(&traits, &req.traits)
                    || !member_of_matches(c, &p.uuid, &req.member_of)?
                    || !has_room(c, &p.uuid, &req.resources)?
                {
                    continue;
                }
                out.push(ProviderUsage {
                    inventories: store::inventories(c, &p.uuid)?,
                    usages: store::provider_usages(c, &p.uuid)?,
                    traits,
                    provider: p,
                });
            }
            Ok(out)
        })
        .await
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

/// Deletes a consumer's allocations and record; false when it had none.
fn delete_consumer_allocations(tx: &Transaction, consumer: &str) -> ApiResult<bool> {
    let providers: BTreeSet<String> = store::consumer_allocations(tx, consumer)?
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    let n = store::consumer_allocations_delete(tx, consumer)?;
    store::consumer_delete(tx, consumer)?;
    for p in &providers {
        store::provider_bump(tx, p, None)?;
    }
    Ok(n > 0)
}

/// Writes the allocations of several consumers: generations first, then every old
/// allocation is removed, then each new one is checked against the inventory and
/// inserted. Any failure returns an error and the caller's transaction rolls back.
fn write_allocations(tx: &Transaction, requests: &[ConsumerAllocations]) -> ApiResult<()> {
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for r in requests {
        let existing = store::consumer_get(tx, &r.consumer)?;
        if let Some(expected) = r.consumer_generation {
            match (&existing, expected) {
                (Some(k), Some(g)) if k.generation == g => {}
                (None, None) => {}
                (Some(k), got) => {
                    return Err(ApiError::conflict_typed(
                        codes::CONCURRENT_UPDATE,
                        format!(
                            "consumer generation conflict - expected {} but got {}",
                            k.generation,
                            got.map_or("None".to_owned(), |g| g.to_string())
                        ),
                    ));
                }
                (None, Some(g)) => {
                    return Err(ApiError::conflict_typed(
                        codes::CONCURRENT_UPDATE,
                        format!("consumer generation conflict - expected null but got {g}"),
                    ));
                }
            }
        }
        for (p, _, _) in store::consumer_allocations(tx, &r.consumer)? {
            touched.insert(p);
        }
        store::consumer_allocations_delete(tx, &r.consumer)?;
    }
    for r in requests {
        if r.allocations.values().all(BTreeMap::is_empty) {
            store::consumer_delete(tx, &r.consumer)?;
            continue;
        }
        store::consumer_save(tx, &r.consumer, &r.project_id, &r.user_id)?;
        for (provider, resources) in &r.allocations {
            if store::provider_get(tx, provider)?.is_none() {
                return Err(ApiError::bad_request(format!(
                    "Allocation for resource provider '{provider}' that does not exist."
                )));
            }
            let inventories = store::inventories(tx, provider)?;
            for (class, &amount) in resources {
                if !is_standard_class(class) && !store::custom_class_exists(tx, class)? {
                    return Err(ApiError::bad_request(format!(
                        "Unable to allocate inventory: No such resource class {class}."
                    )));
                }
                if amount < 1 {
                    return Err(ApiError::bad_request(format!(
                        "JSON does not validate: {amount} is less than the minimum of 1 ({class})"
                    )));
                }
                let inv = inventories
                    .iter()
                    .find(|i| &i.resource_class == class)
                    .ok_or_else(|| {
                        ApiError::Conflict(format!(
                            "Unable to allocate inventory: Inventory for '{class}' on resource \
                             provider '{provider}' invalid."
                        ))
                    })?;
                check_amount(tx, provider, inv, amount)?;
                store::allocation_insert(tx, &r.consumer, provider, class, amount)?;
            }
            touched.insert(provider.clone());
        }
    }
    for p in &touched {
        store::provider_bump(tx, p, None)?;
    }
    Ok(())
}

/// min/max unit, step size and capacity for one more `amount` of `inv`'s class.
fn check_amount(c: &Connection, provider: &str, inv: &InventorySpec, amount: i64) -> ApiResult<()> {
    let class = &inv.resource_class;
    if amount < inv.min_unit || amount > inv.max_unit || amount % inv.step_size != 0 {
        return Err(ApiError::Conflict(format!(
            "Unable to allocate inventory: Unable to create allocation for '{class}' on resource \
             provider '{provider}'. The requested amount would violate inventory constraints."
        )));
    }
    if store::used(c, provider, class)? + amount > inv.capacity() {
        return Err(ApiError::Conflict(format!(
            "Unable to allocate inventory: Unable to create allocation for '{class}' on resource \
             provider '{provider}'. The requested amount would exceed the capacity."
        )));
    }
    Ok(())
}

/// Whether `provider` could take every (class, amount) on top of current usage.
fn has_room(c: &Connection, provider: &str, wanted: &BTreeMap<String, i64>) -> ApiResult<bool> {
    if wanted.is_empty() {
        return Ok(true);
    }
    let inventories = store::inventories(c, provider)?;
    for (class, &amount) in wanted {
        let Some(inv) = inventories.iter().find(|i| &i.resource_class == class) else {
            return Ok(false);
        };
        match check_amount(c, provider, inv, amount) {
            Ok(()) => {}
            Err(ApiError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn traits_match(have: &[String], f: &TraitFilter) -> bool {
    f.required.iter().all(|t| have.contains(t)) && !f.forbidden.iter().any(|t| have.contains(t))
}

fn check_traits_exist(c: &Connection, f: &TraitFilter) -> ApiResult<()> {
    for t in f.required.iter().chain(&f.forbidden) {
        if !is_standard_trait(t) && !store::custom_trait_exists(c, t)? {
            return Err(ApiError::bad_request(format!(
                "Invalid query string parameters: No such trait(s): {t}"
            )));
        }
    }
    Ok(())
}

fn member_of_matches(c: &Connection, provider: &str, member_of: &[Vec<String>]) -> ApiResult<bool> {
    if member_of.is_empty() {
        return Ok(true);
    }
    let mine = store::provider_aggregates(c, provider)?;
    Ok(member_of
        .iter()
        .all(|any| any.iter().any(|a| mine.contains(a))))
}

/// Whether `candidate` lies in the subtree below `ancestor`.
fn is_descendant(c: &Connection, candidate: &str, ancestor: &str) -> ApiResult<bool> {
    let mut cur = Some(candidate.to_owned());
    while let Some(u) = cur {
        if u == ancestor {
            return Ok(true);
        }
        cur = store::provider_get(c, &u)?.and_then(|p| p.parent_uuid);
    }
    Ok(false)
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
pub fn normalize_uuid(s: &str, field: &str) -> ApiResult<String> {
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
