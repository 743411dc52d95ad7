//! The reconciler: converges the host to the database at start, after every
//! networking change, when the host's default routes move (with `masquerade` on,
//! see `dataplane::route_watch`), and periodically to repair drift (a bridge or
//! namespace deleted by hand, a dnsmasq that died). Its last outcome is written to the state
//! directory for `onestack status`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::cloud::Cloud;
use crate::dataplane::metadata::MetadataResolver;
use crate::dataplane::{Dataplane, DataplaneConfig, Owner, route_watch};
use crate::profile::{DataplaneMode, NetworkSection};

pub(crate) const STATUS_FILE: &str = "dataplane-status.json";

/// How often the host is checked even without changes.
const RESYNC: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DataplaneStatus {
    pub converged_at: String,
    pub millis: u64,
    pub changes: usize,
    pub networks: usize,
    pub routers: usize,
    /// Instance ports (taps).
    pub ports: usize,
    /// Every port wired on the host: instance taps, DHCP and router legs.
    #[serde(default)]
    pub wired_ports: usize,
    pub errors: Vec<String>,
}

/// The dataplane of the cloud in `state_dir`: its objects are told apart from any
/// other onestack's on the machine by an owner derived from the state directory,
/// which also names its namespaces when the profile sets no `namespace_prefix`.
pub(crate) fn dataplane_config(
    state_dir: &std::path::Path,
    net: &NetworkSection,
) -> DataplaneConfig {
    let owner = Owner::for_state_dir(state_dir);
    let namespace_prefix = if net.namespace_prefix.is_empty() {
        owner.namespace_prefix()
    } else {
        net.namespace_prefix.clone()
    };
    DataplaneConfig {
        host_netns: Some(net.host_netns.clone()).filter(|n| !n.is_empty()),
        namespace_prefix,
        state_dir: state_dir.join("dataplane"),
        owner,
    }
}

/// Runs forever: one converge per batch of changes. `metadata` answers requests to
/// 169.254.169.254 from instances (None: every metadata request is a 404).
pub(crate) async fn run(cloud: Cloud, metadata: Option<Arc<dyn MetadataResolver>>) {
    let net = cloud.profile.network.clone();
    if net.dataplane == DataplaneMode::Off {
        tracing::info!("dataplane is off in the profile: networking is API-only");
        return;
    }
    if !crate::state::is_root() {
        tracing::warn!(
            "not running as root: bridges, namespaces, nftables and dnsmasq need root, so \
             networking is API-only and instances get no network (start as root for the \
             dataplane, or set [network] dataplane = \"off\" to silence this)"
        );
        return;
    }
    let dataplane = Arc::new(Dataplane::new(dataplane_config(&cloud.state_dir, &net)));
    dataplane.set_metadata_resolver(metadata);
    let changes = cloud.network.changes();
    let routes = Arc::new(Notify::new());
    // Dropped with this task, which ends the route watcher too.
    let mut helpers = JoinSet::new();
    converge_once(&cloud, &dataplane, &net).await;
    if net.masquerade {
        // After the first converge: a named host namespace exists by then.
        helpers.spawn(route_watch::watch(dataplane.clone(), routes.clone()));
    }
    loop {
        tokio::select! {
            _ = changes.notified() => {
                // Let a burst of API calls settle into one converge.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ = routes.notified() => {}
            _ = tokio::time::sleep(RESYNC) => {}
        }
        converge_once(&cloud, &dataplane, &net).await;
    }
}

async fn converge_once(cloud: &Cloud, dataplane: &Dataplane, net: &NetworkSection) {
    let gate = cloud.network.converge_gate();
    let _converging = gate.lock().await;
    let started = Instant::now();
    let seq = cloud.network.change_seq();
    let plan = match cloud
        .network
        .host_plan(net.external_bridge.clone(), net.masquerade)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "could not compute the host networking plan");
            return;
        }
    };
    let report = dataplane.converge(&plan).await;
    match cloud
        .network
        .port_status_sync(report.ports_up.clone())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(ports = n, "port status follows the dataplane"),
        Err(e) => tracing::warn!(error = %e, "could not record port status"),
    }
    cloud.network.mark_converged(seq);
    let status = DataplaneStatus {
        converged_at: crate::http::time::iso_seconds(chrono::Utc::now()),
        millis: started.elapsed().as_millis() as u64,
        changes: report.applied,
        networks: plan.networks.len(),
        routers: plan.routers.len(),
        ports: plan.ports.len(),
        wired_ports: plan.wired_ports(),
        errors: report.errors.clone(),
    };
    if report.applied > 0 || !report.errors.is_empty() {
        tracing::info!(
            changes = report.applied,
            errors = report.errors.len(),
            ms = status.millis,
            "dataplane converged"
        );
    }
    for e in &report.errors {
        tracing::warn!(error = %e, "dataplane item failed");
    }
    if let Err(e) = crate::state::write_json(&cloud.state_dir, STATUS_FILE, &status) {
        tracing::warn!(error = %e, "could not record the dataplane status");
    }
}
