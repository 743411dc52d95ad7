//! Consumers' allocations and usages: claims written with their generation checks,
//! against capacity, all in one transaction.

use super::*;

impl PlacementService {
    /// Replaces the allocations of `consumer` against `provider` with `resources`,
    /// atomically; capacity is checked without the consumer's own current allocations.
    /// `Err(ApiError::Conflict(..))` when there is no room.
    pub(crate) async fn claim(
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
    pub(crate) async fn release(&self, consumer: &str) -> ApiResult<()> {
        let consumer = consumer.to_owned();
        self.write(move |tx| delete_consumer_allocations(tx, &consumer).map(|_| ()))
            .await
    }

    /// (class, used) for a provider.
    pub(crate) async fn provider_usages(&self, provider: &str) -> ApiResult<Vec<(String, i64)>> {
        let provider = provider.to_owned();
        self.read(move |c| {
            load_provider(c, &provider)?;
            Ok(store::provider_usages(c, &provider)?.into_iter().collect())
        })
        .await
    }

    // --- allocations and usages -------------------------------------------------------

    pub(crate) async fn allocations_get(&self, consumer: &str) -> ApiResult<ConsumerView> {
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
    pub(crate) async fn allocations_put(
        &self,
        requests: Vec<ConsumerAllocations>,
    ) -> ApiResult<()> {
        self.write(move |tx| write_allocations(tx, &requests)).await
    }

    pub(crate) async fn allocations_delete(&self, consumer: &str) -> ApiResult<()> {
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
    pub(crate) async fn provider_allocations(
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
    pub(crate) async fn provider_usage_view(
        &self,
        uuid: &str,
    ) -> ApiResult<(i64, BTreeMap<String, i64>)> {
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

    pub(crate) async fn project_usages(
        &self,
        project: String,
        user: Option<String>,
    ) -> ApiResult<BTreeMap<String, i64>> {
        self.read(move |c| store::project_usages(c, &project, user.as_deref()))
            .await
    }
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
            check_consumer_generation(existing.as_ref(), expected)?;
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
            allocate_on_provider(tx, &r.consumer, provider, resources)?;
            touched.insert(provider.clone());
        }
    }
    for p in &touched {
        store::provider_bump(tx, p, None)?;
    }
    Ok(())
}

/// The generation the caller saw must be the consumer's (`None`: it believes
/// the consumer is new).
fn check_consumer_generation(
    existing: Option<&store::Consumer>,
    expected: Option<i64>,
) -> ApiResult<()> {
    match (existing, expected) {
        (Some(k), Some(g)) if k.generation == g => Ok(()),
        (None, None) => Ok(()),
        (Some(k), got) => Err(ApiError::conflict_typed(
            codes::CONCURRENT_UPDATE,
            format!(
                "consumer generation conflict - expected {} but got {}",
                k.generation,
                got.map_or("None".to_owned(), |g| g.to_string())
            ),
        )),
        (None, Some(g)) => Err(ApiError::conflict_typed(
            codes::CONCURRENT_UPDATE,
            format!("consumer generation conflict - expected null but got {g}"),
        )),
    }
}

/// Inserts a consumer's allocations against one provider, each checked: the
/// provider and class exist, the amount is positive and fits the inventory.
fn allocate_on_provider(
    tx: &Transaction,
    consumer: &str,
    provider: &str,
    resources: &BTreeMap<String, i64>,
) -> ApiResult<()> {
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
        store::allocation_insert(tx, consumer, provider, class, amount)?;
    }
    Ok(())
}

/// min/max unit, step size and capacity for one more `amount` of `inv`'s class.
pub(super) fn check_amount(
    c: &Connection,
    provider: &str,
    inv: &InventorySpec,
    amount: i64,
) -> ApiResult<()> {
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
