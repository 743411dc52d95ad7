//! The compute service on the fake VMM: real SQLite, real image, network and
//! placement services, the dataplane off, and `FakeHypervisor` failing on request.
//! Each test fails one build step or one action and checks that nothing is left
//! behind (no port, no allocation, no instance directory, no VMM) and that the server
//! shows the status and fault Nova would.

use std::sync::Arc;

use serde_json::{Value, json};

use super::actions::Work;
use super::model::{Server, VmState};
use super::servers::ServerCreateBody;
use super::{ComputeConfig, ComputeService, store};
use crate::db::Db;
use crate::http::context::RequestContext;
use crate::image::{ImageFiles, ImageService};
use crate::network::NetworkService;
use crate::placement::PlacementService;
use crate::virt::PowerState;
use crate::virt::fake::FakeHypervisor;

const PROJECT: &str = "harness-project";

struct Harness {
    _dir: tempfile::TempDir,
    compute: ComputeService,
    fake: Arc<FakeHypervisor>,
    image: ImageService,
    network: NetworkService,
    placement: PlacementService,
    ctx: RequestContext,
    image_id: String,
}

/// A project member and admin of `PROJECT` (the build's own checks are not under test).
fn context() -> RequestContext {
    RequestContext::scoped("harness-user", PROJECT, &["admin", "member", "reader"])
}

/// The database with Nova's default flavors, in `dir`.
fn database(dir: &std::path::Path) -> Db {
    let db = Db::open(&dir.join("state.db")).expect("database");
    db.write_blocking(super::flavors::bootstrap_flavors)
        .expect("flavors");
    db
}

/// Registers this host's compute node with placement; returns its provider uuid.
fn compute_node(placement: &PlacementService, dir: &std::path::Path) -> String {
    let provider = crate::placement::compute_node_uuid();
    let inventory = crate::placement::host_inventory(dir).expect("inventory");
    placement
        .register_blocking(&provider, "harness-host", &inventory, vec![])
        .expect("compute node provider");
    provider
}

/// A 1 MiB raw image, uploaded; returns its id.
async fn raw_image(image: &ImageService, ctx: &RequestContext) -> String {
    let created = image
        .image_create(
            ctx,
            crate::image::ImageCreate {
                name: Some("disk".into()),
                disk_format: Some("raw".into()),
                container_format: Some("bare".into()),
                ..Default::default()
            },
        )
        .await
        .expect("image create");
    image
        .image_upload(
            ctx,
            created.id.clone(),
            crate::bytestream::once(vec![0u8; 1 << 20].into()),
        )
        .await
        .expect("image upload");
    created.id
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = database(dir.path());
        let profile = crate::profile::Profile::load("default").expect("default profile");
        let image = ImageService::new(
            db.clone(),
            ImageFiles::open(dir.path()).expect("image files"),
            profile.image.clone(),
        );
        let network = NetworkService::new(db.clone());
        let placement = PlacementService::new(db.clone());
        let provider = compute_node(&placement, dir.path());
        let fake = Arc::new(FakeHypervisor::new());
        let compute = ComputeService::new(
            db,
            ComputeConfig {
                instances_dir: dir.path().join("instances"),
                netns: None,
                host: "harness-host".into(),
                provider_uuid: provider,
                dataplane: false,
            },
            fake.clone(),
            image.clone(),
            network.clone(),
            placement.clone(),
        );
        let ctx = context();
        let image_id = raw_image(&image, &ctx).await;
        Harness {
            _dir: dir,
            compute,
            fake,
            image,
            network,
            placement,
            ctx,
            image_id,
        }
    }

    /// A network with one IPv4 subnet; returns its id.
    async fn network(&self, cidr: &str) -> String {
        let net = self
            .network
            .network_create(
                &self.ctx,
                serde_json::from_value(json!({"name": format!("net-{cidr}")})).expect("input"),
            )
            .await
            .expect("network");
        self.network
            .subnet_create(
                &self.ctx,
                serde_json::from_value(json!({
                    "network_id": net.std.id, "cidr": cidr, "ip_version": 4
                }))
                .expect("input"),
            )
            .await
            .expect("subnet");
        net.std.id
    }

    /// Records a server as the API does and runs its build to the end.
    async fn boot(&self, flavor: &str, networks: Value) -> Server {
        let body: ServerCreateBody = serde_json::from_value(json!({"server": {
            "name": "harness", "imageRef": self.image_id, "flavorRef": flavor,
            "networks": networks,
        }}))
        .expect("create body");
        let mv = super::api::microversion::Microversion(2, 37);
        let plan = self
            .compute
            .server_create_plan(&self.ctx, body, mv)
            .await
            .expect("create plan");
        let nets = plan.networks.clone();
        let servers = self
            .compute
            .server_create_records(&self.ctx, plan, nets, "req-harness".into())
            .await
            .expect("create records");
        let id = servers[0].id.clone();
        self.compute.build(&id, &self.ctx, "req-harness").await;
        self.server(&id).await
    }

    async fn server(&self, id: &str) -> Server {
        let id = id.to_owned();
        self.compute
            .read(move |c| store::server_get_any(c, &id))
            .await
            .expect("read")
            .expect("server row")
    }

    /// Accepts an action as the API does, then waits for its background work.
    async fn act(&self, id: &str, work: Work) -> Server {
        self.compute
            .server_action(&self.ctx, id.to_owned(), work, "req-action".into())
            .await
            .expect("action accepted");
        for _ in 0..500 {
            let s = self.server(id).await;
            if s.task_state.is_none() {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the action on {id} never finished");
    }

    /// Ports whose device is the server.
    async fn ports_of(&self, id: &str) -> usize {
        self.network
            .ports_of_device(id.to_owned())
            .await
            .expect("ports")
            .len()
    }

    async fn allocation_of(&self, id: &str) -> usize {
        self.placement
            .allocations_get(id)
            .await
            .expect("allocations")
            .allocations
            .len()
    }

    /// Nothing of a failed build is left: the server is ERROR with `fault`, and it
    /// holds no port, allocation, instance directory or running VMM.
    async fn assert_clean_error(&self, s: &Server, fault: &str) {
        assert_eq!(s.vm_state, VmState::Error, "{s:?}");
        assert_eq!(s.task_state, None);
        let got = s
            .fault
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        assert!(got.contains(fault), "fault {got:?} should name {fault:?}");
        assert!(s.ports.is_empty(), "ports recorded: {:?}", s.ports);
        assert_eq!(
            self.ports_of(&s.id).await,
            0,
            "a port is left in the network"
        );
        assert_eq!(self.allocation_of(&s.id).await, 0, "an allocation is left");
        assert!(
            !self.compute.paths(&s.id).dir.exists(),
            "the instance directory is left"
        );
        let vm = self.fake.vm(&s.id);
        assert!(
            vm.as_ref().is_none_or(|v| v.pid.is_none()),
            "a VMM is left: {vm:?}"
        );
    }
}

fn on(net: &str) -> Value {
    json!([{"uuid": net}])
}

#[tokio::test]
async fn a_build_that_succeeds_holds_what_the_failed_ones_must_release() {
    let h = Harness::new().await;
    let net = h.network("10.20.0.0/24").await;
    let s = h.boot("1", on(&net)).await;
    assert_eq!(s.vm_state, VmState::Active, "{:?}", s.fault);
    assert_eq!(s.ports.len(), 1);
    assert_eq!(h.ports_of(&s.id).await, 1);
    assert_eq!(h.allocation_of(&s.id).await, 1);
    assert!(h.compute.paths(&s.id).disk.exists());
    assert_eq!(h.fake.vm(&s.id).map(|v| v.state), Some(PowerState::Running));
}

#[tokio::test]
async fn scheduling_fails_with_no_valid_host_and_claims_nothing() {
    let h = Harness::new().await;
    let net = h.network("10.21.0.0/24").await;
    // The host has 64 MB of memory: no flavor fits.
    let mut small = crate::placement::host_inventory(h._dir.path()).expect("inventory");
    for inv in small.iter_mut().filter(|i| i.resource_class == "MEMORY_MB") {
        inv.total = 64;
        inv.max_unit = 64;
        inv.reserved = 0;
    }
    h.placement
        .register_blocking(
            &crate::placement::compute_node_uuid(),
            "harness-host",
            &small,
            vec![],
        )
        .expect("shrink the host");
    let s = h.boot("1", on(&net)).await;
    h.assert_clean_error(&s, "No valid host").await;
    assert!(h.fake.ops_for(&s.id).iter().all(|op| *op != "launch"));
}

#[tokio::test]
async fn networking_fails_on_the_second_nic_and_the_first_port_goes() {
    let h = Harness::new().await;
    let a = h.network("10.22.0.0/24").await;
    let b = h.network("10.23.0.0/24").await;
    // The second NIC asks for an address another port already holds.
    h.network
        .instance_port_create(
            &h.ctx,
            b.clone(),
            Some("10.23.0.50".into()),
            vec![],
            "someone-else".into(),
            "harness-host".into(),
        )
        .await
        .expect("the port holding the address");
    let s = h
        .boot(
            "1",
            json!([{"uuid": a}, {"uuid": b, "fixed_ip": "10.23.0.50"}]),
        )
        .await;
    h.assert_clean_error(&s, "during networking").await;
    assert!(
        s.fault
            .as_ref()
            .is_some_and(|f| f.message.contains("10.23.0.50"))
    );
    assert_eq!(
        h.ports_of("someone-else").await,
        1,
        "the other port is kept"
    );
}

#[tokio::test]
async fn disks_fail_when_the_image_data_is_gone_and_ports_and_claim_go() {
    let h = Harness::new().await;
    let net = h.network("10.24.0.0/24").await;
    std::fs::remove_file(h.image.file_path(&h.image_id)).expect("remove the image data");
    let s = h.boot("1", on(&net)).await;
    h.assert_clean_error(&s, "during block device mapping")
        .await;
    assert!(h.fake.ops_for(&s.id).iter().all(|op| *op != "launch"));
}

#[tokio::test]
async fn the_vmm_fails_to_launch_and_everything_is_undone() {
    let h = Harness::new().await;
    let net = h.network("10.25.0.0/24").await;
    h.fake.fail_next("launch");
    let s = h.boot("1", on(&net)).await;
    h.assert_clean_error(&s, "aborted").await;
    assert_eq!(h.fake.ops_for(&s.id), vec!["launch", "destroy"]);
}

#[tokio::test]
async fn a_failed_stop_or_pause_leaves_the_server_active_with_a_fault() {
    let h = Harness::new().await;
    let net = h.network("10.26.0.0/24").await;
    let s = h.boot("1", on(&net)).await;
    for (op, work) in [("shutdown", Work::Stop), ("pause", Work::Pause)] {
        h.fake.fail_next(op);
        let after = h.act(&s.id, work).await;
        assert_eq!(after.vm_state, VmState::Active, "after a failed {op}");
        assert!(after.fault.is_some(), "a failed {op} records a fault");
        assert_eq!(h.fake.vm(&s.id).map(|v| v.state), Some(PowerState::Running));
    }
    // The server still works: the next stop succeeds.
    let stopped = h.act(&s.id, Work::Stop).await;
    assert_eq!(stopped.vm_state, VmState::Stopped);
}

#[tokio::test]
async fn a_failed_reboot_puts_the_server_in_error_as_nova_does() {
    let h = Harness::new().await;
    let net = h.network("10.27.0.0/24").await;
    let s = h.boot("1", on(&net)).await;
    h.fake.fail_next("reboot");
    let after = h.act(&s.id, Work::Reboot { hard: true }).await;
    assert_eq!(after.vm_state, VmState::Error);
    assert!(after.fault.is_some());
    // Its resources stay (an ERROR server is still the project's until deleted).
    assert_eq!(h.ports_of(&s.id).await, 1);
    assert_eq!(h.allocation_of(&s.id).await, 1);
}

#[tokio::test]
async fn a_failed_interface_attach_leaves_no_port() {
    let h = Harness::new().await;
    let a = h.network("10.28.0.0/24").await;
    let b = h.network("10.29.0.0/24").await;
    let s = h.boot("1", on(&a)).await;
    h.fake.fail_next("attach_nic");
    let req: super::interfaces::InterfaceAttach =
        serde_json::from_value(json!({"net_id": b})).expect("attach body");
    let got = h
        .compute
        .interface_attach(&h.ctx, s.id.clone(), req, "req-attach".into())
        .await;
    assert!(got.is_err(), "the attach must fail");
    assert_eq!(
        h.ports_of(&s.id).await,
        1,
        "only the boot NIC's port is left"
    );
    assert_eq!(h.server(&s.id).await.ports.len(), 1);
    assert_eq!(h.fake.vm(&s.id).map(|v| v.nics.len()), Some(1));
}

#[tokio::test]
async fn an_undo_step_that_fails_does_not_stop_the_others() {
    let h = Harness::new().await;
    let net = h.network("10.30.0.0/24").await;
    h.fake.fail_next("launch");
    h.fake.fail_next("destroy");
    let s = h.boot("1", on(&net)).await;
    h.assert_clean_error(&s, "aborted").await;
}

#[tokio::test]
async fn a_resize_whose_vmm_fails_ends_in_error_with_the_migration_in_error() {
    let h = Harness::new().await;
    let net = h.network("10.31.0.0/24").await;
    let s = h.boot("1", on(&net)).await;
    let bigger = h
        .compute
        .flavor_show(&h.ctx, "2".into())
        .await
        .expect("flavor 2");
    h.fake.fail_next("launch");
    let after = h.act(&s.id, Work::Resize { flavor: bigger }).await;
    assert_eq!(after.vm_state, VmState::Error);
    assert!(after.fault.is_some());
    let sid = s.id.clone();
    let statuses: Vec<String> = h
        .compute
        .read(store::migrations::list)
        .await
        .expect("migrations")
        .into_iter()
        .filter(|m| m.server_id == sid)
        .map(|m| m.status)
        .collect();
    assert_eq!(statuses, vec!["error".to_owned()]);
}
