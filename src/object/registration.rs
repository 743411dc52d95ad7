//! Swift in the service registry: `/object-storage` (Swift renders its own faults),
//! S3 under `/s3`, and `/info` at the root; partial uploads a crash left are removed before serving,
//! and the expirer and container sync run in the background.

use axum::Router;

use crate::cloud::Cloud;
use crate::profile::ServiceName;
use crate::services::{Service, StartFuture};

pub(crate) struct Registration;

impl Service for Registration {
    fn name(&self) -> ServiceName {
        ServiceName::ObjectStore
    }

    fn mount(&self, app: Router<Cloud>, _cloud: &Cloud) -> Router<Cloud> {
        // `/info` is also served at the root, where python-swiftclient and tempest
        // look for it. S3 (s3api's face on the same data) signs its requests
        // instead of carrying tokens and renders S3's XML faults itself.
        app.nest("/object-storage", super::api::router())
            .nest(super::s3::PREFIX, super::s3::router())
            .route("/info", axum::routing::get(super::api::info))
    }

    fn recover<'a>(&'a self, cloud: &'a Cloud) -> StartFuture<'a> {
        Box::pin(async move {
            // The object service still serves what is whole; the cause is logged.
            if let Err(e) = cloud.object.recover().await {
                tracing::error!(error = %e, "object storage recovery");
            }
            Ok(())
        })
    }

    fn spawn_background(&self, cloud: &Cloud) {
        tokio::spawn(cloud.object.clone().run_expirer());
        tokio::spawn(cloud.object.clone().run_sync());
    }
}
