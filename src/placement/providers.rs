//! Resource providers: create, update, delete, the tree they form, their aggregates,
//! and the compute node's own provider.

use super::*;

impl PlacementService {
    // --- the Rust API the compute service calls --------------------------------

    /// The compute node's provider at start: create if missing, else update its name
    /// and inventories (idempotent; the generation moves only on a real change).
    #[cfg(test)]
    pub(crate) async fn ensure_provider(
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
    pub(crate) fn register_blocking(
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

    /// Adds (`present`) or removes one standard trait on a provider, bumping its
    /// generation only on a change; compute mirrors its service status this way.
    pub(crate) async fn provider_trait_set(
        &self,
        uuid: &str,
        name: &str,
        present: bool,
    ) -> ApiResult<()> {
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

    // --- resource providers -----------------------------------------------------

    pub(crate) async fn provider_list(&self, f: ProviderFilter) -> ApiResult<Vec<Provider>> {
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

    pub(crate) async fn provider_get(&self, uuid: &str) -> ApiResult<Provider> {
        let uuid = uuid.to_owned();
        self.read(move |c| load_provider(c, &uuid)).await
    }

    /// Creates a provider; a parent puts it in the parent's tree.
    pub(crate) async fn provider_create(
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
    pub(crate) async fn provider_update(
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

    pub(crate) async fn provider_delete(&self, uuid: &str) -> ApiResult<()> {
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

    // --- aggregates ------------------------------------------------------------------

    pub(crate) async fn aggregates_get(&self, uuid: &str) -> ApiResult<(i64, Vec<String>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::provider_aggregates(c, &uuid)?))
        })
        .await
    }

    /// Replaces a provider's aggregates; from 1.19 guarded by and bumping the generation.
    pub(crate) async fn aggregates_put(
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
}
