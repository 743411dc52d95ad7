//! `onestack up`: opens the state, bootstraps, wires the services behind one
//! listener and runs until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::cloud::Cloud;
use crate::db::Db;
use crate::http::{authenticate, request_id};
use crate::identity::bootstrap::{self, Credentials};
use crate::identity::token::TokenProvider;
use crate::identity::{Identity, IdentityConfig};
use crate::image::{ImageFiles, ImageService};
use crate::network::NetworkService;
use crate::placement::PlacementService;
use crate::profile::{Profile, ServiceName};
use crate::services::SERVICES;
use crate::state::{self, CloudInfo, RuntimeInfo};

pub struct UpOptions {
    pub profile: Profile,
    pub state_dir: PathBuf,
    pub listen: Option<SocketAddr>,
}

/// Everything `up` needs before it accepts connections.
pub(crate) struct Prepared {
    pub(crate) cloud: Cloud,
    _lock: std::fs::File,
}

/// Creates the state directory and takes its lock, so two clouds never share it.
pub(crate) fn lock_state_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating state directory {}", dir.display()))?;
    let lock = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(state::LOCK_FILE))?
    };
    lock.try_lock()
        .map_err(|_| anyhow::anyhow!("another onestack is already running on {}", dir.display()))?;
    Ok(lock)
}

/// Migrates and bootstraps the locked state directory. `opts.listen` must be the
/// address actually bound, so catalog URLs carry the real port.
pub(crate) fn prepare(opts: UpOptions, lock: std::fs::File) -> anyhow::Result<Prepared> {
    let mut profile = opts.profile;
    if let Some(l) = opts.listen {
        profile.cloud.listen = l;
    }
    let dir = opts.state_dir;
    let db = Db::open(&dir.join(state::DB_FILE))?;
    let (creds, changed) = Credentials::resolve(&dir, &profile)?;
    bootstrap::run(&db, &profile, &creds, changed)?;
    db.write_blocking(crate::compute::flavors::bootstrap_flavors)
        .map_err(|e| anyhow::anyhow!("creating the default flavors: {e}"))?;
    let tokens = TokenProvider::open(&dir.join(state::FERNET_DIR))?;
    let identity = Identity::new(
        db.clone(),
        tokens,
        IdentityConfig {
            token_expiration: chrono::Duration::seconds(profile.identity.token_expiration.into()),
        },
    );
    state::write_json(&dir, state::CLOUD_FILE, &CloudInfo::of(&profile))?;
    let image = ImageService::new(db.clone(), ImageFiles::open(&dir)?, profile.image.clone());
    let network = NetworkService::new(db.clone());
    let placement = PlacementService::new(db.clone());
    let compute = compute_service(&profile, &dir, &db, &image, &network, &placement);
    let volume = crate::volume::VolumeService::open_profile(
        db.clone(),
        &dir,
        crate::placement::host::hostname(),
        Some(image.clone()),
        &profile.volume,
        guest_netns(&profile),
    )?;
    compute.set_volume(volume.clone());
    let object = crate::object::ObjectService::open(db.clone(), &dir)?;
    let orchestration = crate::orchestration::OrchestrationService::open(db.clone());
    if profile.services.enabled.contains(&ServiceName::Placement)
        && let Err(e) = register_compute_node(&placement, &db, &dir)
    {
        // Placement still serves; only claims against this host fail until fixed.
        tracing::error!(error = %e, "could not register this host with placement");
    }
    Ok(Prepared {
        cloud: Cloud {
            profile: Arc::new(profile),
            state_dir: Arc::new(dir),
            db,
            identity,
            image,
            network,
            placement,
            compute,
            volume,
            object,
            orchestration,
        },
        _lock: lock,
    })
}

/// The network namespace the guests run in (the host's when None).
fn guest_netns(profile: &Profile) -> Option<String> {
    Some(profile.network.host_netns.clone()).filter(|n| !n.is_empty())
}

/// The compute service on the VMM the profile and the host allow.
fn compute_service(
    profile: &Profile,
    dir: &std::path::Path,
    db: &Db,
    image: &ImageService,
    network: &NetworkService,
    placement: &PlacementService,
) -> crate::compute::ComputeService {
    let (hypervisor, reason): (Arc<dyn crate::virt::Hypervisor>, String) = match crate::virt::select(
        profile.compute.hypervisor,
        crate::virt::VirtConfig::default(),
    ) {
        Ok(chosen) => chosen,
        Err(why) => {
            tracing::warn!(reason = %why, "no hypervisor can run instances on this host");
            let driver = crate::virt::unavailable::Unavailable {
                kind: crate::virt::HypervisorKind::Qemu,
                reason: why.clone(),
            };
            (Arc::new(driver), why)
        }
    };
    tracing::info!(hypervisor = hypervisor.kind().hypervisor_type(), reason = %reason, "compute driver chosen");
    let record = state::ComputeStatus {
        hypervisor: hypervisor.kind().hypervisor_type().to_owned(),
        reason,
        started_at: chrono::Utc::now().to_rfc3339(),
        recovery: None,
        recovered_at: None,
    };
    if let Err(e) = state::write_json(dir, state::COMPUTE_STATUS_FILE, &record) {
        tracing::warn!(error = %e, "could not record the compute driver for `onestack status`");
    }
    let host = crate::placement::host::hostname();
    let net = &profile.network;
    crate::compute::ComputeService::new(
        db.clone(),
        crate::compute::ComputeConfig {
            instances_dir: dir.join("instances"),
            netns: guest_netns(profile),
            provider_uuid: crate::placement::compute_node_uuid(),
            host,
            dataplane: net.dataplane == crate::profile::DataplaneMode::Host,
        },
        hypervisor,
        image.clone(),
        network.clone(),
        placement.clone(),
    )
}

/// Adds the start-up instance restore outcome to `compute-status.json`.
pub(crate) fn record_recovery(
    dir: &std::path::Path,
    report: crate::compute::recover::RecoveryReport,
) {
    let recorded = state::read_json::<state::ComputeStatus>(dir, state::COMPUTE_STATUS_FILE)
        .and_then(|found| {
            let mut record = found.context("compute-status.json is missing")?;
            record.recovery = Some(report);
            record.recovered_at = Some(chrono::Utc::now().to_rfc3339());
            state::write_json(dir, state::COMPUTE_STATUS_FILE, &record)
        });
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not record the instance restore for `onestack status`");
    }
}

/// Records this host as the compute node's resource provider (create or refresh its
/// inventory and CPU traits), before the listener accepts requests.
fn register_compute_node(
    placement: &PlacementService,
    db: &Db,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let uuid = crate::placement::compute_node_uuid();
    let name = crate::placement::host::hostname();
    let inventory = crate::placement::host_inventory(dir)?;
    let mut traits = crate::placement::host_cpu_traits();
    // An operator-disabled nova-compute stays disabled across restarts.
    if crate::compute::services::compute_disabled_blocking(db)
        .map_err(|e| anyhow::anyhow!("reading the compute service state: {e}"))?
    {
        traits.push(crate::compute::services::DISABLED_TRAIT.to_owned());
    }
    placement
        .register_blocking(&uuid, &name, &inventory, traits)
        .map_err(|e| anyhow::anyhow!("registering compute node provider {uuid}: {e}"))?;
    tracing::info!(provider = %uuid, host = %name, "compute node resource provider ready");
    Ok(())
}

/// The whole HTTP surface: one listener, DevStack-style prefixes, each enabled
/// service of the registry mounted by itself. Each service's router renders its own
/// faults (and axum's rejections) in its format; a path no service routes gets the
/// fault format of the prefix it is under.
pub(crate) fn router(cloud: Cloud) -> Router {
    let app = crate::services::enabled(&cloud).fold(Router::new(), |app, s| s.mount(app, &cloud));
    let api = app
        .route("/", axum::routing::get(root))
        .fallback(crate::http::unknown_route)
        .layer(from_fn_with_state(cloud.clone(), authenticate))
        .layer(from_fn_with_state(cloud.clone(), crate::http::public_links))
        .layer(from_fn(request_id))
        .with_state(cloud.clone());
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::Dashboard)
    {
        crate::dashboard::mount(api, cloud)
    } else {
        api
    }
}

/// `GET /`: where each API lives, for people poking at the host with a browser.
async fn root(
    axum::extract::State(cloud): axum::extract::State<Cloud>,
    headers: HeaderMap,
) -> Response {
    let base = crate::http::base_url(&headers);
    let services: Vec<_> = SERVICES
        .iter()
        .filter(|s| s.implemented && cloud.profile.services.enabled.contains(&s.name))
        .filter_map(|s| s.endpoint_path.map(|p| json!({"type": s.catalog_type, "url": format!("{base}{}", p.split("/$(").next().unwrap_or(p))})))
        .collect();
    axum::Json(json!({"onestack": env!("CARGO_PKG_VERSION"), "services": services})).into_response()
}

/// Runs the cloud until a stop signal.
pub async fn run(opts: UpOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let state_dir = opts.state_dir.clone();
    let lock = lock_state_dir(&state_dir)?;
    let wanted = opts.listen.unwrap_or(opts.profile.cloud.listen);
    let listener = tokio::net::TcpListener::bind(wanted).await.with_context(|| {
        format!("cannot listen on {wanted} (a port below 1024 needs root; try --listen 127.0.0.1:8080)")
    })?;
    let local = listener.local_addr()?;
    let opts = UpOptions {
        listen: Some(local),
        ..opts
    };
    let prepared = tokio::task::spawn_blocking(move || prepare(opts, lock)).await??;
    let cloud = prepared.cloud.clone();
    let services = record_runtime(&cloud, &state_dir, local)?;
    // Before serving: each service finishes or undoes what a crash interrupted, in
    // registry order; then their long-running tasks start.
    for service in crate::services::enabled(&cloud) {
        service
            .recover(&cloud)
            .await
            .with_context(|| format!("recovering {:?}", service.name()))?;
    }
    for service in crate::services::enabled(&cloud) {
        service.spawn_background(&cloud);
    }
    announce_ready(&cloud, &state_dir, local, started, &services);
    let http = &cloud.profile.http;
    let limits = crate::http::listener::Limits {
        max_connections: crate::http::listener::connection_cap(http.max_connections),
        max_connections_per_address: http.max_connections_per_address,
        header_timeout: Duration::from_secs(http.header_timeout_secs),
        body_timeout: Duration::from_secs(http.body_timeout_secs),
    };
    let gate = cloud.network.converge_gate();
    let app = router(cloud);
    crate::http::listener::serve(listener, app, limits, shutdown_signal()).await;
    // A dataplane converge in flight finishes first (bounded, within `onestack
    // stop`'s 30 s); the next start would redo it, but a namespace made and not
    // yet marked as this cloud's would be left to no one.
    // Held to the end, so that no other converge starts.
    let _no_more_converges = match tokio::time::timeout(Duration::from_secs(20), gate.lock()).await
    {
        Ok(held) => Some(held),
        Err(_) => {
            tracing::warn!("a dataplane converge was still running at stop");
            None
        }
    };
    crate::fsutil::discard(state_dir.join(state::RUNTIME_FILE));
    tracing::info!("onestack stopped");
    drop(prepared);
    Ok(())
}

/// Writes `runtime.json` (pid, address, services) for `status` and `stop`,
/// and warns of services the profile enables that this build lacks; the
/// services served.
fn record_runtime(
    cloud: &Cloud,
    state_dir: &Path,
    local: SocketAddr,
) -> anyhow::Result<Vec<String>> {
    let services: Vec<String> = SERVICES
        .iter()
        .filter(|s| s.implemented && cloud.profile.services.enabled.contains(&s.name))
        .map(|s| s.catalog_type.to_owned())
        .collect();
    state::write_json(
        state_dir,
        state::RUNTIME_FILE,
        &RuntimeInfo {
            pid: std::process::id(),
            listen: local.to_string(),
            started_at: chrono::Utc::now().to_rfc3339(),
            services: services.clone(),
        },
    )?;
    let pending: Vec<&str> = SERVICES
        .iter()
        .filter(|s| !s.implemented && cloud.profile.services.enabled.contains(&s.name))
        .map(|s| s.catalog_type)
        .collect();
    if !pending.is_empty() {
        tracing::warn!(services = ?pending, "enabled in the profile but not available in this build yet");
    }
    Ok(services)
}

/// Tells the log and the terminal that the cloud serves, and how to reach it.
fn announce_ready(
    cloud: &Cloud,
    state_dir: &Path,
    local: SocketAddr,
    started: Instant,
    services: &[String],
) {
    let public = cloud.profile.public_url();
    tracing::info!(listen = %local, ms = started.elapsed().as_millis() as u64, "onestack is ready");
    println!(
        "onestack is up in {} ms, listening on {local}",
        started.elapsed().as_millis()
    );
    println!("  identity (auth URL): {public}/identity");
    println!("  services: {}", services.join(", "));
    println!(
        "  credentials: onestack openrc --state-dir {} [--user admin|demo], or onestack clouds-yaml",
        state_dir.display()
    );
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stop signal received, finishing requests in flight");
}
