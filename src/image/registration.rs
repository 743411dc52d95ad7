//! Glance in the service registry: `/image`, plain faults, bulk bodies; at start
//! interrupted uploads go back to `queued`, then imports resume and the bootstrap
//! image is registered in the background.

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
        ServiceName::Image
    }

    fn mount(&self, app: Router<Cloud>, _cloud: &Cloud) -> Router<Cloud> {
        let image = super::api::router()
            .layer(DefaultBodyLimit::max(crate::http::json::MAX_JSON_BODY))
            .layer(from_fn_with_state(FaultFormat::Plain, render_faults));
        // `/image/` (tempest's and keystoneauth's form of the catalog URL's root) is
        // not part of the nested router either.
        app.route(
            "/image/",
            axum::routing::get(super::api::versions_choice)
                .layer(from_fn_with_state(FaultFormat::Plain, render_faults)),
        )
        .nest("/image", image)
    }

    fn recover<'a>(&'a self, cloud: &'a Cloud) -> StartFuture<'a> {
        Box::pin(async move {
            let image = cloud.image.clone();
            // Uploads a crash cut short go back to `queued` before anyone lists them.
            let imports = tokio::task::spawn_blocking(move || image.recover()).await??;
            tokio::spawn(background_work(cloud.clone(), imports));
            Ok(())
        })
    }
}

/// Work that may take a while and must not delay serving: resuming interrupted
/// image imports and registering the bootstrap image.
async fn background_work(cloud: Cloud, imports: Vec<String>) {
    cloud.image.resume_imports(imports).await;
    let Ok(Some(admin)) = cloud.identity.project_id_by_name("default", "admin").await else {
        return;
    };
    match cloud.image.register_bootstrap_image(admin).await {
        Ok(Some(id)) => tracing::info!(image = %id, "registered the bootstrap image"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not register the bootstrap image"),
    }
    if let Ok(false) = cloud.image.has_bootable_image().await {
        tracing::warn!(
            "no bootable image is registered, so `openstack server create --image cirros` fails; \
             `sudo onestack build-image` builds the test image and puts it where the profile's \
             [image] bootstrap_image says ({}); then start onestack again",
            cloud.profile.image.bootstrap_image
        );
    }
}
