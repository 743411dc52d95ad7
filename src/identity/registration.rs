//! Keystone in the service registry: `/identity`, Keystone's fault shape, the
//! oslo body limit, and the key reload / revocation pruning loop.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

use crate::cloud::Cloud;
use crate::http::error::FaultFormat;
use crate::http::render_faults;
use crate::profile::ServiceName;
use crate::services::Service;

pub(crate) struct Registration;

impl Service for Registration {
    fn name(&self) -> ServiceName {
        ServiceName::Identity
    }

    fn mount(&self, app: Router<Cloud>, cloud: &Cloud) -> Router<Cloud> {
        let identity = super::api::router()
            .layer(DefaultBodyLimit::max(cloud.profile.http.max_json_body))
            .layer(from_fn_with_state(FaultFormat::Keystone, render_faults));
        // `/identity/` (the version-discovery URL clients derive from the catalog) is
        // not part of the nested router, which only serves `/identity` itself.
        app.route(
            "/identity/",
            axum::routing::get(super::api::versions)
                .layer(from_fn_with_state(FaultFormat::Keystone, render_faults)),
        )
        .nest("/identity", identity)
    }

    fn spawn_background(&self, cloud: &Cloud) {
        tokio::spawn(housekeeping(cloud.clone()));
    }
}

/// Periodic upkeep: pick up rotated Fernet keys, drop revocation events that can no
/// longer match a live token.
async fn housekeeping(cloud: Cloud) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        if let Err(e) = cloud.identity.tokens().reload() {
            tracing::warn!(error = %e, "reloading Fernet keys failed");
        }
        let horizon = chrono::Utc::now()
            - chrono::Duration::seconds(i64::from(cloud.profile.identity.token_expiration) + 300);
        let pruned = cloud
            .db
            .write(move |c| super::facade::revocations_prune_tx(c, horizon))
            .await;
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "pruning revocation events failed");
        }
    }
}
