//! The OpenStack services onestack serves: their catalog type and name, URL prefix,
//! and whether this build implements them yet.

use crate::profile::ServiceName;

pub struct ServiceSpec {
    pub name: ServiceName,
    /// Catalog type, as clients look it up.
    pub catalog_type: &'static str,
    /// Catalog name, as DevStack registers it.
    pub catalog_name: &'static str,
    /// Endpoint path below the public URL; `$(project_id)s` is filled per token.
    pub endpoint_path: Option<&'static str>,
    pub implemented: bool,
}

pub const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        name: ServiceName::Identity,
        catalog_type: "identity",
        catalog_name: "keystone",
        endpoint_path: Some("/identity"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Compute,
        catalog_type: "compute",
        catalog_name: "nova",
        endpoint_path: Some("/compute/v2.1"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Image,
        catalog_type: "image",
        catalog_name: "glance",
        endpoint_path: Some("/image"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Network,
        catalog_type: "network",
        catalog_name: "neutron",
        endpoint_path: Some("/networking"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Volume,
        catalog_type: "block-storage",
        catalog_name: "cinder",
        endpoint_path: Some("/volume/v3/$(project_id)s"),
        implemented: true,
    },
    // DevStack registers Cinder a second time under its versioned type, which older
    // clients (and tempest's `catalog_type`) look up.
    ServiceSpec {
        name: ServiceName::Volume,
        catalog_type: "volumev3",
        catalog_name: "cinderv3",
        endpoint_path: Some("/volume/v3/$(project_id)s"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::ObjectStore,
        catalog_type: "object-store",
        catalog_name: "swift",
        endpoint_path: Some("/object-storage/v1/AUTH_$(project_id)s"),
        implemented: true,
    },
    // S3 on the same containers and objects, as DevStack registers Swift's s3api: a
    // path prefix rather than a port, so one listener (and one TLS setup) serves it.
    ServiceSpec {
        name: ServiceName::ObjectStore,
        catalog_type: "s3",
        catalog_name: "s3",
        endpoint_path: Some("/s3"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Placement,
        catalog_type: "placement",
        catalog_name: "placement",
        endpoint_path: Some("/placement"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Orchestration,
        catalog_type: "orchestration",
        catalog_name: "heat",
        endpoint_path: Some("/orchestration/v1/$(project_id)s"),
        implemented: true,
    },
    ServiceSpec {
        name: ServiceName::Metric,
        catalog_type: "metric",
        catalog_name: "gnocchi",
        endpoint_path: Some("/metric"),
        implemented: false,
    },
    ServiceSpec {
        name: ServiceName::Dashboard,
        catalog_type: "dashboard",
        catalog_name: "horizon",
        endpoint_path: None,
        implemented: true,
    },
];

pub fn spec(name: ServiceName) -> Option<&'static ServiceSpec> {
    SERVICES.iter().find(|s| s.name == name)
}
