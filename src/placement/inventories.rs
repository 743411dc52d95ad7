//! A provider's inventories: what it has of each resource class, and the rules that
//! keep allocated capacity from vanishing.

use super::*;

impl PlacementService {
    /// The provider's inventories (for os-hypervisors).
    pub(crate) async fn provider_inventories(
        &self,
        provider: &str,
    ) -> ApiResult<Vec<InventorySpec>> {
        let provider = provider.to_owned();
        self.read(move |c| {
            load_provider(c, &provider)?;
            store::inventories(c, &provider)
        })
        .await
    }

    // --- inventories ----------------------------------------------------------------

    pub(crate) async fn inventories_get(&self, uuid: &str) -> ApiResult<(i64, Vec<InventorySpec>)> {
        let uuid = uuid.to_owned();
        self.read(move |c| {
            let p = load_provider(c, &uuid)?;
            Ok((p.generation, store::inventories(c, &uuid)?))
        })
        .await
    }

    /// Replaces all inventories if `generation` is still current.
    pub(crate) async fn inventories_put(
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
    pub(crate) async fn inventories_delete(&self, uuid: &str) -> ApiResult<()> {
        let uuid = uuid.to_owned();
        self.write(move |tx| {
            load_provider(tx, &uuid)?;
            replace_inventories(tx, &uuid, &[])?;
            store::provider_bump(tx, &uuid, None)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn inventory_get(
        &self,
        uuid: &str,
        class: &str,
    ) -> ApiResult<(i64, InventorySpec)> {
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
    pub(crate) async fn inventory_write(
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

    pub(crate) async fn inventory_delete(&self, uuid: &str, class: &str) -> ApiResult<()> {
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
}
