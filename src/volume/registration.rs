//! Cinder in the service registry: `/volume`, Nova-style faults (Cinder shares
//! them), the oslo body limit; volume tasks a crash interrupted are finished or
//! failed before serving.

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
        ServiceName::Volume
    }

    fn mount(&self, app: Router<Cloud>, cloud: &Cloud) -> Router<Cloud> {
        let volume = super::api::router(cloud.clone())
            .layer(DefaultBodyLimit::max(cloud.profile.http.max_json_body))
            .layer(from_fn_with_state(FaultFormat::Nova, render_faults));
        app.merge(volume)
    }

    fn recover<'a>(&'a self, cloud: &'a Cloud) -> StartFuture<'a> {
        Box::pin(async move {
            // Before serving: no client sees a volume an interrupted task left `creating`.
            let report = cloud.volume.recover().await;
            tracing::info!(
                finished = report.finished,
                failed = report.failed,
                "volume tasks recovered"
            );
            Ok(())
        })
    }
}
