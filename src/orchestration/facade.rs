//! What the rest of onestack may call on orchestration: opening it, the start-up
//! recovery of interrupted stack operations, and the lists the API and `status`
//! show.

use crate::cloud::Cloud;
use crate::db::Db;

use super::OrchestrationService;

impl OrchestrationService {
    /// The service on the state database.
    pub fn open(db: Db) -> OrchestrationService {
        OrchestrationService::new(db)
    }

    /// Resumes or fails the stack operations a restart interrupted. Run once at
    /// start, after the other services recovered.
    pub async fn recover_stacks(&self, cloud: &Cloud) {
        match self.recover(cloud).await {
            Ok((resumed, failed)) => {
                tracing::info!(resumed, failed, "stack operations recovered")
            }
            Err(e) => tracing::error!(error = %e, "could not recover stack operations"),
        }
    }
}

/// The resource types templates may use.
pub fn resource_types() -> Vec<&'static str> {
    super::resources::type_names()
}

/// The HOT versions accepted.
pub fn template_versions() -> &'static [&'static str] {
    super::template::VERSIONS
}
