//! Unit tests of the cloud-hypervisor driver against a fake REST server on a Unix
//! socket that records every request and answers like the documented API.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::*;
use crate::{DiskKind, DiskSpec};

/// A `vm.counters` answer of cloud-hypervisor v54 for a booted VM with one disk
/// never written to and one NIC (the counter names of its block and net devices;
/// the write latency minimum and maximum still hold their initial `u64::MAX`).
const COUNTERS_ANSWER: &str = r#"{
  "_disk0": {
    "read_bytes": 147753984, "read_ops": 64306, "write_bytes": 0, "write_ops": 0,
    "read_latency_min": 3, "read_latency_max": 65932, "read_latency_avg": 19,
    "write_latency_min": 18446744073709551615,
    "write_latency_max": 18446744073709551615,
    "write_latency_avg": 1844674407370955
  },
  "_net1": {"rx_bytes": 90112, "rx_frames": 1021, "tx_bytes": 4096, "tx_frames": 37}
}"#;

#[test]
fn counters_are_unsigned_64_bit() {
    let c: VmCounters = serde_json::from_str(COUNTERS_ANSWER).expect("v54 counters parse");
    assert_eq!(c["_disk0"]["write_latency_min"], u64::MAX);
    assert_eq!(c["_disk0"]["write_latency_avg"], 1_844_674_407_370_955);
    assert_eq!(c["_net1"]["rx_frames"], 1021);
}

#[derive(Default)]
struct FakeVmm {
    /// (method, path, JSON body or Null).
    calls: Vec<(String, String, Value)>,
    state: Option<&'static str>,
    /// Paths answered with 500 and an error text.
    fail: Vec<String>,
}

type Shared = Arc<Mutex<FakeVmm>>;

async fn answer(vmm: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    let mut v = vmm.lock().unwrap();
    v.calls.push((method, path.clone(), json));
    let reply = |status: StatusCode, body: String| {
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    if v.fail.contains(&path) {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error from API: The VM could not boot: bad kernel".into(),
        );
    }
    let endpoint = path.trim_start_matches("/api/v1/");
    match endpoint {
        "vmm.ping" => reply(StatusCode::OK, json!({"version": "v44.0"}).to_string()),
        "vm.info" => match v.state {
            Some(state) => reply(
                StatusCode::OK,
                json!({"config": {"payload": {}}, "state": state, "memory_actual_size": 1})
                    .to_string(),
            ),
            None => reply(StatusCode::NOT_FOUND, String::new()),
        },
        "vm.counters" => reply(StatusCode::OK, COUNTERS_ANSWER.to_owned()),
        "vm.add-net" => reply(
            StatusCode::OK,
            json!({"id": "p2", "bdf": "0000:00:06.0"}).to_string(),
        ),
        other => {
            let next = match other {
                "vm.create" => Some("Created"),
                "vm.boot" | "vm.resume" | "vm.reboot" => Some("Running"),
                "vm.pause" => Some("Paused"),
                "vm.shutdown" | "vm.power-button" => Some("Shutdown"),
                "vm.delete" => None,
                _ => v.state,
            };
            v.state = next;
            reply(StatusCode::NO_CONTENT, String::new())
        }
    }
}

/// Serves the fake API on `sock` until the test ends.
fn serve(sock: &Path) -> Shared {
    let vmm: Shared = Arc::default();
    let listener = tokio::net::UnixListener::bind(sock).unwrap();
    let shared = vmm.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(shared.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    vmm
}

fn spec(dir: &Path) -> VmSpec {
    VmSpec {
        instance_id: "0f1e2d3c-0000-4000-8000-00000000000a".into(),
        name: "instance-0000000a".into(),
        vcpus: 2,
        memory_mb: 512,
        disks: vec![DiskSpec {
            id: "root".into(),
            path: "/d/root.qcow2".into(),
            format: DiskFormat::Qcow2,
            kind: DiskKind::Disk,
            read_only: false,
            iscsi: None,
        }],
        nics: vec![NicSpec {
            port_id: "p1".into(),
            tap: "tap1".into(),
            mac: "fa:16:3e:00:00:01".into(),
        }],
        boot: BootSource::Kernel {
            kernel: "/k/vmlinux".into(),
            initrd: Some("/k/initrd".into()),
            cmdline: "console=ttyS0".into(),
        },
        run_dir: dir.to_path_buf(),
        netns: None,
    }
}

/// A stand-in VMM process whose command line names the API socket, so the driver
/// recognises it as this instance's VMM; killed when dropped.
struct FakeProcess(std::process::Child);

impl FakeProcess {
    fn start(spec: &VmSpec) -> FakeProcess {
        let f = RunFiles::of(spec);
        let child = std::process::Command::new("sh")
            .arg("-c")
            // Not a lone command: sh would exec it and lose the socket argument.
            .arg("while :; do sleep 1; done")
            .arg(f.sock.display().to_string())
            // Its `sleep` outlives a SIGKILL of the shell by up to a second: it must
            // not hold the test's output pipes.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Until the child has exec'd the shell, /proc shows the test binary's command
        // line, which names no socket, and the driver would not recognise its VMM.
        let sock = f.sock.display().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read(format!("/proc/{}/cmdline", child.id()))
            .map(|c| String::from_utf8_lossy(&c).contains(&sock))
            .unwrap_or(false)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the stand-in VMM never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::write(&f.pid, child.id().to_string()).unwrap();
        FakeProcess(child)
    }
}

impl Drop for FakeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn calls(vmm: &Shared) -> Vec<(String, String, Value)> {
    std::mem::take(&mut vmm.lock().unwrap().calls)
}

fn paths(vmm: &Shared) -> Vec<String> {
    calls(vmm)
        .into_iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect()
}

fn driver() -> CloudHypervisorDriver {
    CloudHypervisorDriver::new(
        "/nonexistent/cloud-hypervisor".into(),
        VirtConfig {
            soft_reboot_grace: Duration::from_secs(2),
            ..VirtConfig::default()
        },
    )
}

#[tokio::test]
async fn boot_creates_then_boots_with_the_documented_body() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let vmm = serve(&RunFiles::of(&spec).sock);
    let d = driver();
    d.boot_vm(&CloudHypervisorDriver::client(&spec), &spec)
        .await
        .unwrap();
    let c = calls(&vmm);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].0.as_str(), c[0].1.as_str()),
        ("PUT", "/api/v1/vm.create")
    );
    assert_eq!(
        (c[1].0.as_str(), c[1].1.as_str()),
        ("PUT", "/api/v1/vm.boot")
    );
    assert_eq!(c[1].2, Value::Null);
    let console = spec.console_log().display().to_string();
    assert_eq!(
        c[0].2,
        json!({
            "cpus": {"boot_vcpus": 2, "max_vcpus": 2},
            "memory": {"size": 512u64 * 1024 * 1024},
            "payload": {"kernel": "/k/vmlinux", "initramfs": "/k/initrd", "cmdline": "console=ttyS0"},
            "disks": [{"path": "/d/root.qcow2", "readonly": false, "id": "root", "image_type": "Qcow2"}],
            "net": [{"tap": "tap1", "mac": "fa:16:3e:00:00:01", "id": "p1"}],
            "serial": {"mode": "File", "file": console},
            "console": {"mode": "Off"}
        })
    );
}

#[test]
fn firmware_boot_needs_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(dir.path());
    s.boot = BootSource::Firmware;
    assert!(matches!(
        vm_config(&s, None),
        Err(VirtError::Unavailable(_))
    ));
    let c = vm_config(&s, Some(Path::new("/fw/hypervisor-fw"))).unwrap();
    assert_eq!(c.payload.firmware.as_deref(), Some("/fw/hypervisor-fw"));
    assert!(c.payload.kernel.is_none());
}

#[tokio::test]
async fn driver_sends_the_documented_requests() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let vmm = serve(&RunFiles::of(&spec).sock);
    let d = driver();

    // No process yet: nothing to talk to.
    assert_eq!(d.power_state(&spec).await.unwrap(), PowerState::NoState);
    assert!(matches!(
        d.pause(&spec).await,
        Err(VirtError::NotRunning(_))
    ));

    let _proc = FakeProcess::start(&spec);
    // Launch adopts the live VMM; it has no VM yet, so it creates and boots one.
    d.launch(&spec).await.unwrap();
    assert_eq!(
        paths(&vmm),
        [
            "GET /api/v1/vmm.ping",
            "GET /api/v1/vm.info",
            "PUT /api/v1/vm.create",
            "PUT /api/v1/vm.boot"
        ]
    );
    assert_eq!(d.power_state(&spec).await.unwrap(), PowerState::Running);
    // A second launch adopts without touching the VM.
    d.launch(&spec).await.unwrap();
    assert_eq!(
        paths(&vmm),
        [
            "GET /api/v1/vm.info",
            "GET /api/v1/vmm.ping",
            "GET /api/v1/vm.info"
        ]
    );

    d.pause(&spec).await.unwrap();
    d.unpause(&spec).await.unwrap();
    d.reboot(&spec, true).await.unwrap();
    assert_eq!(
        paths(&vmm),
        [
            "PUT /api/v1/vm.pause",
            "PUT /api/v1/vm.resume",
            "PUT /api/v1/vm.reboot"
        ]
    );

    // Soft reboot: power button, the guest goes off, booted again.
    d.reboot(&spec, false).await.unwrap();
    assert_eq!(
        paths(&vmm),
        [
            "PUT /api/v1/vm.power-button",
            "GET /api/v1/vm.info",
            "PUT /api/v1/vm.boot"
        ]
    );

    let nic = NicSpec {
        port_id: "p2".into(),
        tap: "tap2".into(),
        mac: "fa:16:3e:00:00:02".into(),
    };
    d.attach_nic(&spec, &nic).await.unwrap();
    d.detach_nic(&spec, "p2").await.unwrap();
    let c = calls(&vmm);
    assert_eq!(c[0].1, "/api/v1/vm.add-net");
    assert_eq!(
        c[0].2,
        json!({"tap": "tap2", "mac": "fa:16:3e:00:00:02", "id": "p2"})
    );
    assert_eq!(c[1].1, "/api/v1/vm.remove-device");
    assert_eq!(c[1].2, json!({"id": "p2"}));

    let client = CloudHypervisorDriver::client(&spec);
    client
        .resize(&VmResize {
            desired_vcpus: Some(4),
            desired_ram: None,
        })
        .await
        .unwrap();
    let counters = client.counters().await.unwrap();
    assert_eq!(counters["_disk0"]["read_bytes"], 147_753_984);
    assert_eq!(counters["_disk0"]["write_latency_min"], u64::MAX);
    let c = calls(&vmm);
    assert_eq!(c[0].2, json!({"desired_vcpus": 4}));
    assert_eq!(c[1].1, "/api/v1/vm.counters");

    client
        .add_disk(&DiskConfig {
            path: "/d/vol.raw".into(),
            readonly: false,
            id: Some("vol-1".into()),
            image_type: Some("Raw".into()),
        })
        .await
        .unwrap();
    let c = calls(&vmm);
    assert_eq!(c[0].1, "/api/v1/vm.add-disk");
    assert_eq!(
        c[0].2,
        json!({"path": "/d/vol.raw", "readonly": false, "id": "vol-1", "image_type": "Raw"})
    );

    client.delete().await.unwrap();
    assert_eq!(paths(&vmm), ["PUT /api/v1/vm.delete"]);
    assert!(client.info().await.unwrap().is_none());
}

#[tokio::test]
async fn shutdown_presses_the_button_then_stops_the_vmm() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let vmm = serve(&RunFiles::of(&spec).sock);
    vmm.lock().unwrap().state = Some("Running");
    let mut proc = FakeProcess::start(&spec);
    let pid = proc.0.id();
    let d = driver();
    // The fake never exits on vmm.shutdown, so the driver must SIGKILL it (our child).
    let reaper = std::thread::spawn(move || {
        let _ = proc.0.wait();
        proc
    });
    d.shutdown(&spec, Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        paths(&vmm),
        [
            "PUT /api/v1/vm.power-button",
            "GET /api/v1/vm.info",
            "PUT /api/v1/vm.shutdown",
            "PUT /api/v1/vmm.shutdown"
        ]
    );
    drop(reaper.join().unwrap());
    assert!(!process::alive(pid));
    assert!(!RunFiles::of(&spec).pid.exists());
    assert_eq!(d.power_state(&spec).await.unwrap(), PowerState::NoState);
}

#[tokio::test]
async fn info_states_map_to_power_states() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let vmm = serve(&RunFiles::of(&spec).sock);
    let _proc = FakeProcess::start(&spec);
    let d = driver();
    for (state, want) in [
        ("Created", PowerState::Shutdown),
        ("Running", PowerState::Running),
        ("Shutdown", PowerState::Shutdown),
        ("Paused", PowerState::Paused),
        ("BreakPoint", PowerState::Paused),
    ] {
        vmm.lock().unwrap().state = Some(state);
        assert_eq!(d.power_state(&spec).await.unwrap(), want, "{state}");
    }
    vmm.lock().unwrap().state = None;
    assert_eq!(d.power_state(&spec).await.unwrap(), PowerState::Shutdown);
}

#[tokio::test]
async fn errors_carry_the_body_text() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let vmm = serve(&RunFiles::of(&spec).sock);
    vmm.lock().unwrap().fail.push("/api/v1/vm.boot".into());
    let err = driver()
        .boot_vm(&CloudHypervisorDriver::client(&spec), &spec)
        .await
        .unwrap_err();
    match err {
        VirtError::Failed { op, message } => {
            assert_eq!(op, "launch");
            assert!(message.contains("500"), "{message}");
            assert!(
                message.contains("The VM could not boot: bad kernel"),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // 404 on a PUT is an error too; on GET vm.info it means "no VM".
    let client = CloudHypervisorDriver::client(&spec);
    assert!(client.info().await.unwrap().is_some());
    vmm.lock().unwrap().state = None;
    assert!(client.info().await.unwrap().is_none());
}

#[tokio::test]
async fn live_cloud_hypervisor_boots() {
    let Some(binary) = crate::detect::which("cloud-hypervisor") else {
        eprintln!("SKIP live_cloud_hypervisor_boots: cloud-hypervisor is not installed");
        return;
    };
    if let Err(why) = crate::detect::kvm_usable() {
        eprintln!("SKIP live_cloud_hypervisor_boots: KVM not usable: {why}");
        return;
    }
    // With the binary and KVM present, at least the VMM must start and answer.
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let d = CloudHypervisorDriver::new(binary, VirtConfig::default());
    let pid = d.spawn_vmm(&spec).await.unwrap();
    let ping = CloudHypervisorDriver::client(&spec).ping().await.unwrap();
    assert!(!ping.version.is_empty());
    d.destroy(&spec).await.unwrap();
    assert!(!process::alive(pid));
}
