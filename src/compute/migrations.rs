//! Migration records (os-migrations). On one host the only migrations are
//! resizes, which Nova records as migrations too (`migration_type` "resize").

use super::ComputeService;
use super::store::migrations::{self, MigrationRow};
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

impl ComputeService {
    /// `GET /os-migrations` (admin): every record, newest first.
    pub(crate) async fn migration_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<MigrationRow>> {
        ctx.require_admin()?;
        self.read(migrations::list).await
    }
}
