//! Heat in the service registry: `/orchestration`, Heat's fault shape, bulk bodies;
//! stacks a crash left in progress are resumed or failed in the background.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};

use crate::cloud::Cloud;
use crate::http::error::FaultFormat;
use crate::http::render_faults;
use crate::profile::ServiceName;
use crate::services::Service;

pub(crate) struct Registration;

impl Service for Registration {
    fn name(&self) -> ServiceName {
        ServiceName::Orchestration
    }

    fn mount(&self, app: Router<Cloud>, _cloud: &Cloud) -> Router<Cloud> {
        let orchestration = super::api::router()
            .layer(DefaultBodyLimit::max(crate::http::json::MAX_JSON_BODY))
            .layer(from_fn_with_state(FaultFormat::Plain, render_faults))
            .layer(from_fn(super::api::heat_faults));
        app.merge(orchestration)
    }

    fn spawn_background(&self, cloud: &Cloud) {
        let c = cloud.clone();
        tokio::spawn(async move { c.orchestration.recover_stacks(&c).await });
    }
}
