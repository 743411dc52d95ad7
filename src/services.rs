//! The OpenStack services onestack serves: their catalog type and name, URL prefix,
//! and whether this build implements them yet.

use crate::profile::ServiceName;

pub(crate) struct ServiceSpec {
    pub name: ServiceName,
    /// Catalog type, as clients look it up.
    pub catalog_type: &'static str,
    /// Catalog name, as DevStack registers it.
    pub catalog_name: &'static str,
    /// Endpoint path below the public URL; `$(project_id)s` is filled per token.
    pub endpoint_path: Option<&'static str>,
    pub implemented: bool,
}

pub(crate) const SERVICES: &[ServiceSpec] = &[
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

pub(crate) fn spec(name: ServiceName) -> Option<&'static ServiceSpec> {
    SERVICES.iter().find(|s| s.name == name)
}

/// A future a registered service's start-up step returns.
pub(crate) type StartFuture<'a> = futures_util::future::BoxFuture<'a, anyhow::Result<()>>;

/// One service as the daemon wires it: its catalog entries, its routes (with its
/// fault format and body limit), what it finishes or undoes at start-up before the
/// listener serves, and the long-running tasks it spawns. Each service implements it
/// in its own `registration.rs`; `REGISTRY` lists them, and the daemon loops over
/// that list, so a new service is one folder plus one line there.
pub(crate) trait Service: Send + Sync {
    /// The profile's name for it: whether it is enabled.
    fn name(&self) -> ServiceName;

    /// The catalog entries it registers (type, name, endpoint path).
    #[cfg(test)]
    fn catalog(&self) -> Vec<&'static ServiceSpec> {
        let name = self.name();
        SERVICES.iter().filter(|s| s.name == name).collect()
    }

    /// Adds its routes to the API router (before authentication and request ids are
    /// layered around the whole).
    fn mount(
        &self,
        app: axum::Router<crate::cloud::Cloud>,
        cloud: &crate::cloud::Cloud,
    ) -> axum::Router<crate::cloud::Cloud>;

    /// Start-up recovery, awaited before the listener serves: no client sees what a
    /// crash left half done. Long work is spawned here rather than awaited. An error
    /// stops the start (the state cannot be trusted); what may fail without that is
    /// logged by the service and not returned.
    fn recover<'a>(&'a self, _cloud: &'a crate::cloud::Cloud) -> StartFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    /// Long-running tasks (reconcilers, expirers, power sync), spawned once every
    /// enabled service has recovered.
    fn spawn_background(&self, _cloud: &crate::cloud::Cloud) {}
}

/// Every service this build serves, in start-up order (identity first: the others'
/// bootstrap asks it for projects; network before compute: instance recovery plugs
/// ports into the networks).
pub(crate) static REGISTRY: &[&dyn Service] = &[
    &crate::identity::registration::Registration,
    &crate::image::registration::Registration,
    &crate::network::registration::Registration,
    &crate::placement::registration::Registration,
    &crate::volume::registration::Registration,
    &crate::compute::registration::Registration,
    &crate::object::registration::Registration,
    &crate::orchestration::registration::Registration,
];

/// The registered services the profile enables.
pub(crate) fn enabled(
    cloud: &crate::cloud::Cloud,
) -> impl Iterator<Item = &'static dyn Service> + '_ {
    REGISTRY
        .iter()
        .copied()
        .filter(|s| cloud.profile.services.enabled.contains(&s.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every implemented API in the catalog is registered once (the dashboard is a
    /// site on top, mounted around the APIs, not a registered service).
    #[test]
    fn every_implemented_service_is_registered_once() {
        for spec in SERVICES
            .iter()
            .filter(|s| s.implemented && s.name != ServiceName::Dashboard)
        {
            let n = REGISTRY.iter().filter(|r| r.name() == spec.name).count();
            assert_eq!(n, 1, "{:?} registered {n} times", spec.name);
        }
        for r in REGISTRY {
            assert!(
                !r.catalog().is_empty(),
                "{:?} has no catalog entry",
                r.name()
            );
        }
        assert_eq!(REGISTRY[0].name(), ServiceName::Identity);
    }
}
