//! `onestack up`: opens the state, bootstraps, wires the services behind one
//! listener and runs until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
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
use crate::http::error::FaultFormat;
use crate::http::{authenticate, render_faults, request_id};
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
pub struct Prepared {
    pub cloud: Cloud,
    /// Images whose import a crash interrupted; resumed once serving.
    pub resumable_imports: Vec<String>,
    _lock: std::fs::File,
}

/// Creates the state directory and takes its lock, so two clouds never share it.
pub fn lock_state_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
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
pub fn prepare(opts: UpOptions, lock: std::fs::File) -> anyhow::Result<Prepared> {
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
    let public_url = profile.public_url();
    state::write_json(
        &dir,
        state::CLOUD_FILE,
        &CloudInfo {
            auth_url: format!("{public_url}/identity"),
            region: profile.cloud.region.clone(),
            public_url,
            network: Some(profile.network.clone()),
        },
    )?;
    let image = ImageService::new(db.clone(), ImageFiles::open(&dir)?, profile.image.clone());
    let network = NetworkService::new(db.clone());
    let placement = PlacementService::new(db.clone());
    let compute = compute_service(&profile, &dir, &db, &image, &network, &placement);
    let volume = crate::volume::VolumeService::open(
        db.clone(),
        &dir,
        crate::placement::host::hostname(),
        Some(image.clone()),
    )?;
    compute.set_volume(volume.clone());
    let object = crate::object::ObjectService::open(db.clone(), &dir)?;
    let orchestration = crate::orchestration::OrchestrationService::open(db.clone());
    let resumable_imports = image.recover()?;
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
        resumable_imports,
        _lock: lock,
    })
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
        reason: reason.clone(),
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
            netns: Some(net.host_netns.clone()).filter(|n| !n.is_empty()),
            provider_uuid: crate::placement::compute_node_uuid(),
            host,
            hypervisor_reason: reason,
            dataplane: net.dataplane == crate::profile::DataplaneMode::Host,
        },
        hypervisor,
        image.clone(),
        network.clone(),
        placement.clone(),
    )
}

/// Adds the start-up instance restore outcome to `compute-status.json`.
fn record_recovery(dir: &std::path::Path, report: crate::compute::recover::RecoveryReport) {
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

/// The whole HTTP surface: one listener, DevStack-style prefixes. Each service's
/// router renders its own faults (and axum's rejections) in its format; a path no
/// service routes gets the fault format of the prefix it is under.
pub fn router(cloud: Cloud) -> Router {
    use axum::extract::DefaultBodyLimit;
    let enabled = |s: ServiceName| cloud.profile.services.enabled.contains(&s);
    // Keystone and Nova refuse bodies over oslo.middleware's max_request_body_size;
    // the others take bulk bodies up to the largest JSON body of any API.
    let oslo_limit = DefaultBodyLimit::max(cloud.profile.http.max_json_body);
    let bulk_limit = DefaultBodyLimit::max(crate::http::json::MAX_JSON_BODY);
    let identity = crate::identity::api::router()
        .layer(oslo_limit)
        .layer(from_fn_with_state(FaultFormat::Keystone, render_faults));
    // `/identity/` (the version-discovery URL clients derive from the catalog) is
    // not part of the nested router, which only serves `/identity` itself.
    let mut app = Router::new()
        .route(
            "/identity/",
            axum::routing::get(crate::identity::api::versions)
                .layer(from_fn_with_state(FaultFormat::Keystone, render_faults)),
        )
        .nest("/identity", identity);
    if enabled(ServiceName::Image) {
        let image = crate::image::api::router()
            .layer(bulk_limit)
            .layer(from_fn_with_state(FaultFormat::Plain, render_faults));
        // `/image/` (tempest's and keystoneauth's form of the catalog URL's root) is
        // not part of the nested router either.
        app = app
            .route(
                "/image/",
                axum::routing::get(crate::image::api::versions_choice)
                    .layer(from_fn_with_state(FaultFormat::Plain, render_faults)),
            )
            .nest("/image", image);
    }
    if enabled(ServiceName::Compute) {
        let compute = crate::compute::api::router()
            .layer(oslo_limit)
            .layer(from_fn_with_state(FaultFormat::Nova, render_faults));
        app = app.nest("/compute", compute);
    }
    if enabled(ServiceName::Network) {
        let network = crate::network::api::router()
            .layer(bulk_limit)
            .layer(from_fn_with_state(FaultFormat::Neutron, render_faults));
        // `/networking/` (tempest's unversioned form of the catalog URL) is not part
        // of the nested router, which only serves `/networking` itself.
        app = app
            .route(
                "/networking/",
                axum::routing::get(crate::network::api::versions)
                    .layer(from_fn_with_state(FaultFormat::Neutron, render_faults)),
            )
            .nest("/networking", network);
    }
    if enabled(ServiceName::Volume) {
        let volume = crate::volume::api::router(cloud.clone())
            .layer(oslo_limit)
            .layer(from_fn_with_state(FaultFormat::Nova, render_faults));
        app = app.merge(volume);
    }
    if enabled(ServiceName::ObjectStore) {
        // Swift renders its own faults; `/info` is also served at the root, where
        // python-swiftclient and tempest look for it.
        // S3 (s3api's face on the same data) signs its requests instead of carrying
        // tokens and renders S3's XML faults itself.
        app = app
            .nest("/object-storage", crate::object::api::router())
            .nest(crate::object::s3::PREFIX, crate::object::s3::router())
            .route("/info", axum::routing::get(crate::object::api::info));
    }
    if enabled(ServiceName::Orchestration) {
        let orchestration = crate::orchestration::api::router()
            .layer(bulk_limit)
            .layer(from_fn_with_state(FaultFormat::Plain, render_faults))
            .layer(from_fn(crate::orchestration::api::heat_faults));
        app = app.merge(orchestration);
    }
    if enabled(ServiceName::Placement) {
        let placement = crate::placement::api::router()
            .layer(bulk_limit)
            .layer(from_fn_with_state(FaultFormat::Placement, render_faults));
        app = app.merge(placement);
    }
    let api = app
        .route("/", axum::routing::get(root))
        .fallback(crate::http::unknown_route)
        .layer(from_fn_with_state(cloud.clone(), authenticate))
        .layer(from_fn_with_state(cloud.clone(), crate::http::public_links))
        .layer(from_fn(request_id))
        .with_state(cloud.clone());
    if enabled(ServiceName::Dashboard) {
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
    let mut prepared = tokio::task::spawn_blocking(move || prepare(opts, lock)).await??;
    let cloud = prepared.cloud.clone();
    let services: Vec<String> = SERVICES
        .iter()
        .filter(|s| s.implemented && cloud.profile.services.enabled.contains(&s.name))
        .map(|s| s.catalog_type.to_owned())
        .collect();
    state::write_json(
        &state_dir,
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
    tokio::spawn(housekeeping(cloud.clone()));
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::Network)
    {
        let resolver: std::sync::Arc<dyn crate::dataplane::metadata::MetadataResolver> =
            std::sync::Arc::new(cloud.compute.clone());
        tokio::spawn(crate::reconcile::run(cloud.clone(), Some(resolver)));
    }
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::Compute)
    {
        let compute = cloud.compute.clone();
        let dir = state_dir.clone();
        tokio::spawn(async move {
            let report = compute.recover().await;
            record_recovery(&dir, report);
            compute.power_sync_loop().await;
        });
    }
    create_default_networks(&cloud).await;
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::Volume)
    {
        // Before serving: no client sees a volume an interrupted task left `creating`.
        let report = cloud.volume.recover().await;
        tracing::info!(
            finished = report.finished,
            failed = report.failed,
            "volume tasks recovered"
        );
    }
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::ObjectStore)
    {
        // Before serving: files of uploads a crash cut short are removed.
        if let Err(e) = cloud.object.recover().await {
            tracing::error!(error = %e, "object storage recovery");
        }
        tokio::spawn(cloud.object.clone().run_expirer());
    }
    if cloud
        .profile
        .services
        .enabled
        .contains(&ServiceName::Orchestration)
    {
        let c = cloud.clone();
        tokio::spawn(async move { c.orchestration.recover_stacks(&c).await });
    }
    tokio::spawn(start_background_work(
        cloud.clone(),
        std::mem::take(&mut prepared.resumable_imports),
    ));
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
    let http = &cloud.profile.http;
    let limits = crate::http::listener::Limits {
        max_connections: crate::http::listener::connection_cap(http.max_connections),
        max_connections_per_address: http.max_connections_per_address,
        header_timeout: Duration::from_secs(http.header_timeout_secs),
        body_timeout: Duration::from_secs(http.body_timeout_secs),
    };
    let app = router(cloud);
    crate::http::listener::serve(listener, app, limits, shutdown_signal()).await;
    let _ = std::fs::remove_file(state_dir.join(state::RUNTIME_FILE));
    tracing::info!("onestack stopped");
    drop(prepared);
    Ok(())
}

/// DevStack's default networks, on the first start only (a few rows; later starts
/// just read the marker). Done before serving, as DevStack has them when stack.sh
/// ends: a client that sees the API up also sees `public`, `private` and `router1`.
async fn create_default_networks(cloud: &Cloud) {
    let Ok(Some(admin)) = cloud.identity.project_id_by_name("default", "admin").await else {
        return;
    };
    let demo = cloud
        .identity
        .project_id_by_name("default", "demo")
        .await
        .ok()
        .flatten();
    let net_cfg = &cloud.profile.network;
    if let (true, true, Some(demo)) = (
        cloud
            .profile
            .services
            .enabled
            .contains(&ServiceName::Network),
        net_cfg.create_default_networks,
        demo,
    ) {
        match cloud
            .network
            .create_default_networks(net_cfg, &admin, &demo)
            .await
        {
            Ok(true) => tracing::info!(
                "created the default subnet pool, the public and private networks and router1"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not create the default networks"),
        }
    }
}

/// Work that may take a while and must not delay serving: resuming interrupted
/// image imports and registering the bootstrap image.
async fn start_background_work(cloud: Cloud, imports: Vec<String>) {
    cloud.image.resume_imports(imports).await;
    let Ok(Some(admin)) = cloud.identity.project_id_by_name("default", "admin").await else {
        return;
    };
    match cloud.image.register_bootstrap_image(admin).await {
        Ok(Some(id)) => tracing::info!(image = %id, "registered the bootstrap image"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not register the bootstrap image"),
    }
    if let Ok(false) = cloud.image.has_bootable_image().await {
        tracing::warn!(
            "no bootable image is registered, so `openstack server create --image cirros` fails; \
             `sudo onestack build-image` builds the test image and puts it where the profile's \
             [image] bootstrap_image says ({}); then start onestack again",
            cloud.profile.image.bootstrap_image
        );
    }
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

/// Periodic upkeep: pick up rotated Fernet keys, drop revocation events that can no
/// longer match a live token.
async fn housekeeping(cloud: Cloud) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        if let Err(e) = cloud.identity.tokens().reload() {
            tracing::warn!(error = %e, "reloading Fernet keys failed");
        }
        let horizon = chrono::Utc::now()
            - chrono::Duration::seconds(i64::from(cloud.profile.identity.token_expiration) + 300);
        let pruned = cloud
            .db
            .write(move |c| crate::identity::facade::revocations_prune_tx(c, horizon))
            .await;
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "pruning revocation events failed");
        }
    }
}
