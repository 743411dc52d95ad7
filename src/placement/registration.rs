//! Placement in the service registry: its routes at `/placement` (and the root
//! forms it merges), Placement's fault shape with error codes, bulk bodies.

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
        ServiceName::Placement
    }

    fn mount(&self, app: Router<Cloud>, _cloud: &Cloud) -> Router<Cloud> {
        let placement = super::api::router()
            .layer(DefaultBodyLimit::max(crate::http::json::MAX_JSON_BODY))
            .layer(from_fn_with_state(FaultFormat::Placement, render_faults));
        app.merge(placement)
    }
}
