//! Placement (interface only until the service lands).
use crate::db::Db;
use crate::http::error::ApiResult;

#[derive(Clone)]
pub struct PlacementService {
    _db: Db,
}

#[derive(Debug, Clone)]
pub struct InventorySpec {
    pub resource_class: String,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

impl PlacementService {
    pub fn new(db: Db) -> Self {
        PlacementService { _db: db }
    }
    pub async fn ensure_provider(
        &self,
        _uuid: &str,
        _name: &str,
        _inv: Vec<InventorySpec>,
    ) -> ApiResult<()> {
        Ok(())
    }
    pub async fn claim(
        &self,
        _consumer: &str,
        _project_id: &str,
        _user_id: &str,
        _provider: &str,
        _resources: Vec<(String, i64)>,
    ) -> ApiResult<()> {
        Ok(())
    }
    pub async fn release(&self, _consumer: &str) -> ApiResult<()> {
        Ok(())
    }
    pub async fn provider_usages(&self, _provider: &str) -> ApiResult<Vec<(String, i64)>> {
        Ok(vec![])
    }
    pub async fn provider_inventories(&self, _provider: &str) -> ApiResult<Vec<InventorySpec>> {
        Ok(vec![])
    }
}
