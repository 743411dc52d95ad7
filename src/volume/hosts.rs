//! The backend as Cinder's admin views show it: the hosts (`os-hosts`), the pool the
//! scheduler sees (`scheduler-stats/get_pools`) and the backend's capabilities.
//! One process serves the scheduler and the one volume backend, so these are
//! read from the database and the backend's filesystem, not from service reports.

use std::collections::BTreeMap;

use super::model::{BACKEND_NAME, VolumeType};
use super::{VolumeService, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// What the backend reports of itself, as a Cinder volume driver does.
pub(crate) const VENDOR: &str = "Open Source";
pub(crate) const DRIVER_VERSION: &str = "1.0.0";
/// Hypervisors open the volume's file directly (the attachments' `local` connector).
pub(crate) const PROTOCOL: &str = "local";

/// The first of a type's extra specs that names a capability this backend lacks,
/// as Cinder's scheduler (CapabilitiesFilter) checks them; `None` when it fits.
/// Scoped keys (`capabilities:x` aside, `scope:key`) are not capabilities.
pub(crate) fn unmet_spec(t: &VolumeType) -> Option<(String, String)> {
    t.extra_specs.iter().find_map(|(k, v)| {
        let key = k.strip_prefix("capabilities:").unwrap_or(k);
        let have = match key {
            "volume_backend_name" => BACKEND_NAME,
            "vendor_name" => VENDOR,
            "storage_protocol" => PROTOCOL,
            _ => return None,
        };
        let want = v.strip_prefix("<in>").map(str::trim).unwrap_or(v);
        let fits = if v.starts_with("<in>") {
            have.contains(want)
        } else {
            want.eq_ignore_ascii_case(have)
        };
        (!fits).then(|| (k.clone(), v.clone()))
    })
}

/// A project's share of the backend: volumes, their GiB, snapshots, their GiB.
pub(crate) type ProjectUsage = [i64; 4];

impl VolumeService {
    /// Per-project usage of the backend (admin), for `GET /os-hosts/{host}`.
    pub(crate) async fn host_usage(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<BTreeMap<String, ProjectUsage>> {
        ctx.require_admin()?;
        self.read(|c| store::usage_by_project(c).map_err(sql)).await
    }

    /// (total, free) GiB of the backend's storage; (0, 0) when it cannot be read,
    /// as Cinder reports a backend whose stats are unknown.
    pub(crate) async fn pool_capacity(&self) -> (u64, u64) {
        let backend = self.inner.backend.clone();
        match tokio::task::spawn_blocking(move || backend.capacity_gib()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "volume backend capacity unreadable");
                (0, 0)
            }
            Err(e) => {
                tracing::warn!(error = %e, "volume backend capacity task failed");
                (0, 0)
            }
        }
    }

    /// `host@backend`, the name of the volume service's host.
    pub(crate) fn backend_host(&self) -> String {
        format!("{}@{}", self.inner.host, super::model::BACKEND_NAME)
    }

    /// Whether `name` names this backend: `host@backend`, or a pool `host@backend#pool`.
    pub(crate) fn is_backend(&self, name: &str) -> bool {
        name == self.backend_host() || name == self.volume_host()
    }
}

/// Cinder's 404 for an unknown host.
pub(crate) fn host_not_found(host: &str) -> ApiError {
    ApiError::Missing(format!("Host {host} could not be found."))
}
