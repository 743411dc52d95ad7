//! Neutron v2.0 HTTP routes under `/networking`: discovery, the resource
//! collections, subnet pools, floating IP port forwardings, extensions, agents, availability
//! zones, IP availability, quotas.

mod crud;
mod info;
mod port_forwardings;
mod resources;
mod subnetpools;
mod view;

use axum::Router;

use crate::cloud::Cloud;

pub(crate) use info::versions;

pub(crate) fn router() -> Router<Cloud> {
    Router::new()
        .merge(info::routes())
        .merge(resources::routes())
        .merge(subnetpools::routes())
        .merge(resources::tag_routes())
        .merge(port_forwardings::routes())
}
