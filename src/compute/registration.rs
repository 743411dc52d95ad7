//! Nova in the service registry: `/compute`, Nova's fault shape, the oslo body
//! limit; instance restore and the power-state sync run in the background (a guest
//! takes seconds to boot, and the API serves meanwhile).

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
        ServiceName::Compute
    }

    fn mount(&self, app: Router<Cloud>, cloud: &Cloud) -> Router<Cloud> {
        let compute = super::api::router()
            .layer(DefaultBodyLimit::max(cloud.profile.http.max_json_body))
            .layer(from_fn_with_state(FaultFormat::Nova, render_faults));
        app.nest("/compute", compute)
    }

    fn spawn_background(&self, cloud: &Cloud) {
        let compute = cloud.compute.clone();
        let dir = cloud.state_dir.as_ref().clone();
        tokio::spawn(async move {
            let report = compute.recover().await;
            crate::daemon::record_recovery(&dir, report);
            compute.power_sync_loop().await;
        });
    }
}
