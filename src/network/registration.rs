//! Neutron in the service registry: `/networking`, Neutron's fault shape, bulk
//! bodies; DevStack's default networks before serving, the dataplane reconciler in
//! the background.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

use crate::cloud::Cloud;
use crate::http::error::FaultFormat;
use crate::http::render_faults;
use crate::profile::ServiceName;
use crate::services::{Service, StartFuture};

pub(crate) struct Registration;

impl Service for Registration {
    fn name(&self) -> ServiceName {
        ServiceName::Network
    }

    fn mount(&self, app: Router<Cloud>, _cloud: &Cloud) -> Router<Cloud> {
        let network = super::api::router()
            .layer(DefaultBodyLimit::max(crate::http::json::MAX_JSON_BODY))
            .layer(from_fn_with_state(FaultFormat::Neutron, render_faults));
        // `/networking/` (tempest's unversioned form of the catalog URL) is not part
        // of the nested router, which only serves `/networking` itself.
        app.route(
            "/networking/",
            axum::routing::get(super::api::versions)
                .layer(from_fn_with_state(FaultFormat::Neutron, render_faults)),
        )
        .nest("/networking", network)
    }

    fn recover<'a>(&'a self, cloud: &'a Cloud) -> StartFuture<'a> {
        Box::pin(async move {
            create_default_networks(cloud).await;
            Ok(())
        })
    }

    fn spawn_background(&self, cloud: &Cloud) {
        let resolver: std::sync::Arc<dyn crate::dataplane::metadata::MetadataResolver> =
            std::sync::Arc::new(cloud.compute.clone());
        tokio::spawn(crate::reconcile::run(cloud.clone(), Some(resolver)));
    }
}

/// DevStack's default networks, on the first start only (a few rows; later starts
/// just read the marker). Done before serving, as DevStack has them when stack.sh
/// ends: a client that sees the API up also sees `public`, `private` and `router1`.
async fn create_default_networks(cloud: &Cloud) {
    let net_cfg = &cloud.profile.network;
    if !net_cfg.create_default_networks {
        return;
    }
    let Ok(Some(admin)) = cloud.identity.project_id_by_name("default", "admin").await else {
        return;
    };
    let Ok(Some(demo)) = cloud.identity.project_id_by_name("default", "demo").await else {
        return;
    };
    match cloud
        .network
        .create_default_networks(net_cfg, &admin, &demo)
        .await
    {
        Ok(true) => tracing::info!(
            "created the default subnet pool, the public and private networks and router1"
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not create the default networks"),
    }
}
