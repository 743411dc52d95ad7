//! Live tests of the QEMU driver through the library API: real QEMU processes (KVM
//! when usable, TCG otherwise) booting a 512-byte guest built here that prints a
//! marker on COM1. They skip loudly when qemu-system-x86_64 is not installed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onestack::virt::detect::Choice;
use onestack::virt::qmp::{NoArgs, ObjectProperty, PathArgs, Qmp, StatusInfo};
use onestack::virt::{
    BootSource, DiskFormat, DiskKind, DiskSpec, Hypervisor, NicSpec, PowerState, VirtConfig,
    VmSpec, process, select, which,
};

const MARKER: &str = "onestack-bootsector\r\n";

/// Real-mode x86 boot sector: print MARKER on COM1, then idle with interrupts on
/// (the BIOS timer wakes `hlt`), acknowledging ACPI PCI unplug requests the way a
/// guest OS's _EJ0 method does: read the PIIX4 hotplug "down" bitmap (0xae04) and
/// write it to the eject register (0xae08).
fn boot_sector() -> [u8; 512] {
    let mut code: Vec<u8> = vec![
        0xFA, // cli
        0x31, 0xC0, // xor ax, ax
        0x8E, 0xD8, // mov ds, ax
        0xFC, // cld
        0xBA, 0xF8, 0x03, // mov dx, 0x3f8
        0xBE, 0x27, 0x7C, // mov si, 0x7c27 (message)
        0xAC, // .print: lodsb
        0x84, 0xC0, // test al, al
        0x74, 0x03, // jz .idle
        0xEE, // out dx, al
        0xEB, 0xF8, // jmp .print
        0xFB, // .idle: sti
        0xF4, // .wait: hlt
        0xBA, 0x04, 0xAE, // mov dx, 0xae04
        0x66, 0xED, // in eax, dx
        0x66, 0x85, 0xC0, // test eax, eax
        0x74, 0xF5, // jz .wait
        0xBA, 0x08, 0xAE, // mov dx, 0xae08
        0x66, 0xEF, // out dx, eax
        0xEB, 0xEE, // jmp .wait
    ];
    assert_eq!(code.len(), 0x27);
    code.extend_from_slice(MARKER.as_bytes());
    code.push(0);
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    sector
}

fn qemu_present(test: &str) -> bool {
    if which("qemu-system-x86_64").is_none() {
        eprintln!(
            "SKIP {test}: qemu-system-x86_64 is not installed \
             (apt-get install -t bookworm-backports qemu-system-x86)"
        );
        return false;
    }
    true
}

fn driver(cfg: VirtConfig) -> Arc<dyn Hypervisor> {
    let (driver, reason) = select(Choice::Qemu, cfg).expect("QEMU driver");
    eprintln!("driver: {reason}");
    driver
}

fn fast_cfg() -> VirtConfig {
    VirtConfig {
        soft_reboot_grace: Duration::from_secs(2),
        detach_timeout: Duration::from_secs(20),
        ..VirtConfig::default()
    }
}

/// One test guest: its temp dir, spec, and cleanup of its own QEMU (by the pid in
/// its pid file, only if that process carries this instance id) and namespace.
struct Guest {
    _dir: tempfile::TempDir,
    spec: VmSpec,
    netns: Option<String>,
}

impl Guest {
    fn new() -> Guest {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("root.raw");
        let mut image = vec![0u8; 1024 * 1024];
        image[..512].copy_from_slice(&boot_sector());
        std::fs::write(&disk, image).unwrap();
        let spec = VmSpec {
            instance_id: uuid::Uuid::new_v4().to_string(),
            name: "instance-0000ffff".into(),
            vcpus: 1,
            memory_mb: 64,
            disks: vec![DiskSpec {
                id: "root".into(),
                path: disk,
                format: DiskFormat::Raw,
                kind: DiskKind::Disk,
                read_only: false,
                iscsi: None,
            }],
            nics: vec![],
            boot: BootSource::Firmware,
            run_dir: dir.path().join("run"),
            netns: None,
        };
        Guest {
            _dir: dir,
            spec,
            netns: None,
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.spec.run_dir.join("qemu.pid")
    }

    fn marker_count(&self) -> usize {
        std::fs::read_to_string(self.spec.console_log())
            .map(|s| s.matches(MARKER).count())
            .unwrap_or(0)
    }

    /// Waits until the console shows the marker `n` times; returns the time taken.
    fn wait_marker(&self, n: usize) -> Duration {
        let start = Instant::now();
        while self.marker_count() < n {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "marker #{n} not seen; console: {:?}",
                std::fs::read_to_string(self.spec.console_log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed()
    }

    async fn qmp(&self) -> Qmp {
        Qmp::connect(&self.spec.run_dir.join("qmp.sock"), Duration::from_secs(10))
            .await
            .unwrap()
    }

    async fn peripherals(&self) -> Vec<String> {
        let mut qmp = self.qmp().await;
        let props: Vec<ObjectProperty> = qmp
            .execute(
                "qom-list",
                Some(&PathArgs {
                    path: "/machine/peripheral",
                }),
            )
            .await
            .unwrap();
        props
            .into_iter()
            .filter(|p| p.kind.starts_with("child<"))
            .map(|p| p.name)
            .collect()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Some(pid) = process::read_pid_file(&self.pid_file())
            && process::cmdline_contains(pid, &self.spec.instance_id)
        {
            let _ = process::signal(pid, libc::SIGKILL);
        }
        if let Some(ns) = &self.netns {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", ns])
                .status();
        }
    }
}

/// Processes whose command line carries `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process::cmdline_contains(*pid, needle))
        .collect()
}

/// (process group, session) of `pid` from /proc/<pid>/stat.
fn pgrp_session(pid: u32) -> (i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    (rest[2].parse().unwrap(), rest[3].parse().unwrap())
}

#[tokio::test]
async fn launch_pause_adopt_and_destroy() {
    if !qemu_present("launch_pause_adopt_and_destroy") {
        return;
    }
    let g = Guest::new();
    let h = driver(fast_cfg());
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::NoState);
    let start = Instant::now();
    h.launch(&g.spec).await.unwrap();
    let launched = start.elapsed();
    let to_marker = start.elapsed() + g.wait_marker(1);
    let pid = h.pid(&g.spec).await.expect("pid");
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Running);

    // Daemonized away from us: another session and process group, so it outlives us.
    let (pgrp, sid) = pgrp_session(pid);
    let (our_pgrp, our_sid) = pgrp_session(std::process::id());
    assert_ne!(pgrp, our_pgrp);
    assert_ne!(sid, our_sid);

    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!(
        "FIGURES: launch returned after {launched:?}, marker on console after {to_marker:?}, \
         idle VMM RSS {} KiB (64 MiB guest)",
        process::rss_kib(pid).unwrap_or(0)
    );

    h.pause(&g.spec).await.unwrap();
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Paused);
    h.unpause(&g.spec).await.unwrap();
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Running);

    // A new driver (as after an onestack restart) adopts the process.
    let h2 = driver(fast_cfg());
    h2.launch(&g.spec).await.unwrap();
    assert_eq!(h2.pid(&g.spec).await, Some(pid));
    assert_eq!(processes_with(&g.spec.instance_id), vec![pid]);
    assert_eq!(g.marker_count(), 1, "adoption must not reboot the guest");
    assert_eq!(h2.power_state(&g.spec).await.unwrap(), PowerState::Running);

    h2.destroy(&g.spec).await.unwrap();
    assert!(!process::alive(pid));
    assert!(!g.pid_file().exists());
    assert!(!g.spec.run_dir.join("qmp.sock").exists());
    assert_eq!(h2.power_state(&g.spec).await.unwrap(), PowerState::NoState);
    h2.destroy(&g.spec).await.unwrap();
    h.destroy(&g.spec).await.unwrap();
}

/// A state directory deep enough that `<run dir>/serial.sock` exceeds `sun_path`
/// (108 bytes): the guest still boots, answers QMP, is adopted, and its serial
/// console accepts a connection; destroy removes the short link.
#[tokio::test]
async fn a_deep_run_directory_boots_adopts_and_serves_its_console() {
    if !qemu_present("a_deep_run_directory_boots_adopts_and_serves_its_console") {
        return;
    }
    let mut g = Guest::new();
    let deep = g.spec.run_dir.join("d".repeat(90)).join("run");
    g.spec.run_dir = deep;
    assert!(g.spec.run_dir.join("serial.sock").as_os_str().len() >= 108);
    let h = driver(fast_cfg());
    h.launch(&g.spec)
        .await
        .expect("launch with a deep run directory");
    g.wait_marker(1);
    let pid = h.pid(&g.spec).await.expect("pid");
    h.pause(&g.spec).await.expect("QMP through the short path");
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Paused);
    h.unpause(&g.spec).await.expect("unpause");

    let h2 = driver(fast_cfg());
    h2.launch(&g.spec).await.expect("adopt");
    assert_eq!(
        h2.pid(&g.spec).await,
        Some(pid),
        "the same process is adopted"
    );
    let serial = h2
        .serial_socket(&g.spec)
        .expect("QEMU offers a serial socket");
    assert!(serial.as_os_str().len() < 108, "{}", serial.display());
    tokio::net::UnixStream::connect(&serial)
        .await
        .expect("the serial console accepts a connection");

    h2.destroy(&g.spec).await.expect("destroy");
    assert!(!process::alive(pid));
    let link = serial.parent().expect("link").to_path_buf();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the short link goes with the instance: {}",
        link.display()
    );
}

const SPEC_ENV: &str = "ONESTACK_VIRT_TEST_SPEC";

/// Not a test on its own: `survives_the_death_of_its_launcher` runs it in a child
/// process that launches the guest, says so, and waits to be killed.
#[tokio::test]
#[ignore = "helper process for survives_the_death_of_its_launcher"]
async fn launcher_child() {
    let Ok(raw) = std::env::var(SPEC_ENV) else {
        eprintln!(
            "SKIP launcher_child: only runs as the child of survives_the_death_of_its_launcher"
        );
        return;
    };
    let spec: VmSpec = serde_json::from_str(&raw).unwrap();
    driver(fast_cfg()).launch(&spec).await.unwrap();
    println!("LAUNCHED");
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn survives_the_death_of_its_launcher() {
    use std::io::Read;
    if !qemu_present("survives_the_death_of_its_launcher") {
        return;
    }
    let g = Guest::new();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "launcher_child", "--nocapture"])
        .env(SPEC_ENV, serde_json::to_string(&g.spec).unwrap())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("LAUNCHED") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "launcher ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // kill -9 the "onestack" that launched it.
    child.kill().unwrap();
    child.wait().unwrap();
    // EOF proves QEMU holds no copy of the launcher's stdout pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the VMM still holds the launcher's pipe"
    );
    g.wait_marker(1);
    let pid = process::read_pid_file(&g.pid_file()).expect("pid file");
    assert!(process::alive(pid), "QEMU died with its launcher");
    let h = driver(fast_cfg());
    h.launch(&g.spec).await.unwrap();
    assert_eq!(h.pid(&g.spec).await, Some(pid));
    assert_eq!(processes_with(&g.spec.instance_id), vec![pid]);
    assert_eq!(g.marker_count(), 1);
    h.destroy(&g.spec).await.unwrap();
}

#[tokio::test]
async fn suspend_saves_to_disk_and_launch_resumes() {
    if !qemu_present("suspend_saves_to_disk_and_launch_resumes") {
        return;
    }
    let g = Guest::new();
    let h = driver(fast_cfg());
    h.launch(&g.spec).await.unwrap();
    g.wait_marker(1);
    let pid = h.pid(&g.spec).await.unwrap();
    let t = Instant::now();
    h.suspend(&g.spec).await.unwrap();
    let saved_in = t.elapsed();
    let state = g.spec.run_dir.join("suspend.state");
    assert!(!process::alive(pid));
    assert!(state.is_file());
    assert_eq!(h.pid(&g.spec).await, None);
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Suspended);
    let size = std::fs::metadata(&state).unwrap().len();

    let t = Instant::now();
    h.launch(&g.spec).await.unwrap();
    eprintln!(
        "FIGURES: suspend took {saved_in:?} ({size} bytes state), resume took {:?}",
        t.elapsed()
    );
    let pid2 = h.pid(&g.spec).await.expect("process back");
    assert_ne!(pid, pid2);
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Running);
    assert!(
        !state.exists(),
        "the saved state is dropped once the guest runs"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(g.marker_count(), 1, "a resume continues, it does not boot");
    h.destroy(&g.spec).await.unwrap();
}

#[tokio::test]
async fn reboots_run_the_guest_again() {
    if !qemu_present("reboots_run_the_guest_again") {
        return;
    }
    let g = Guest::new();
    let h = driver(fast_cfg());
    h.launch(&g.spec).await.unwrap();
    g.wait_marker(1);
    let pid = h.pid(&g.spec).await.unwrap();
    h.reboot(&g.spec, true).await.unwrap();
    g.wait_marker(2);
    assert_eq!(h.pid(&g.spec).await, Some(pid), "a reset keeps the process");
    // This guest ignores the ACPI power button: soft reboot falls back to a reset
    // after the grace period.
    h.reboot(&g.spec, false).await.unwrap();
    g.wait_marker(3);
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::Running);
    h.destroy(&g.spec).await.unwrap();
    // Rebooting a guest with no process launches it.
    h.reboot(&g.spec, true).await.unwrap();
    g.wait_marker(4);
    h.destroy(&g.spec).await.unwrap();
}

#[tokio::test]
async fn shutdown_with_a_short_grace_ends_the_process() {
    if !qemu_present("shutdown_with_a_short_grace_ends_the_process") {
        return;
    }
    let g = Guest::new();
    let h = driver(fast_cfg());
    h.launch(&g.spec).await.unwrap();
    g.wait_marker(1);
    let pid = h.pid(&g.spec).await.unwrap();
    let t = Instant::now();
    h.shutdown(&g.spec, Duration::from_secs(1)).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(!process::alive(pid));
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::NoState);
    h.shutdown(&g.spec, Duration::from_secs(1)).await.unwrap();
    assert!(matches!(
        h.pause(&g.spec).await,
        Err(onestack::virt::VirtError::NotRunning(_))
    ));
}

#[tokio::test]
async fn a_failed_start_reports_qemus_reason() {
    if !qemu_present("a_failed_start_reports_qemus_reason") {
        return;
    }
    let mut g = Guest::new();
    g.spec.disks[0].path = g.spec.run_dir.join("missing.raw");
    let h = driver(fast_cfg());
    let err = h.launch(&g.spec).await.unwrap_err().to_string();
    assert!(err.contains("missing.raw"), "{err}");
    assert_eq!(h.pid(&g.spec).await, None);
    assert!(processes_with(&g.spec.instance_id).is_empty());
    assert_eq!(h.power_state(&g.spec).await.unwrap(), PowerState::NoState);
}

fn run(args: &[&str]) -> bool {
    std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn nic_hotplug_in_a_namespace() {
    if !qemu_present("nic_hotplug_in_a_namespace") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP nic_hotplug_in_a_namespace: needs root for a network namespace");
        return;
    }
    let mut g = Guest::new();
    let ns = format!("osvt-{}", &g.spec.instance_id[..8]);
    assert!(run(&["ip", "netns", "add", &ns]), "ip netns add");
    g.netns = Some(ns.clone());
    for tap in ["tapvt0", "tapvt1"] {
        assert!(run(&[
            "ip", "-n", &ns, "tuntap", "add", "dev", tap, "mode", "tap"
        ]));
        assert!(run(&["ip", "-n", &ns, "link", "set", tap, "up"]));
    }
    g.spec.netns = Some(ns.clone());
    g.spec.nics = vec![NicSpec {
        port_id: "port-a".into(),
        tap: "tapvt0".into(),
        mac: "fa:16:3e:00:00:0a".into(),
    }];
    let h = driver(fast_cfg());
    h.launch(&g.spec).await.unwrap();
    g.wait_marker(1);
    assert!(g.peripherals().await.contains(&"nic-port-a".to_string()));

    let nic = NicSpec {
        port_id: "port-b".into(),
        tap: "tapvt1".into(),
        mac: "fa:16:3e:00:00:0b".into(),
    };
    h.attach_nic(&g.spec, &nic).await.unwrap();
    assert!(g.peripherals().await.contains(&"nic-port-b".to_string()));
    h.attach_nic(&g.spec, &nic).await.unwrap(); // idempotent
    let t = Instant::now();
    h.detach_nic(&g.spec, "port-b").await.unwrap();
    eprintln!("FIGURES: NIC unplug acknowledged after {:?}", t.elapsed());
    let left = g.peripherals().await;
    assert!(!left.contains(&"nic-port-b".to_string()), "{left:?}");
    assert!(left.contains(&"nic-port-a".to_string()));
    h.detach_nic(&g.spec, "port-b").await.unwrap(); // already gone

    let mut qmp = g.qmp().await;
    let st: StatusInfo = qmp.execute("query-status", None::<&NoArgs>).await.unwrap();
    assert!(st.running);
    h.destroy(&g.spec).await.unwrap();
}

#[test]
fn boot_sector_is_well_formed() {
    let s = boot_sector();
    assert_eq!(&s[510..], &[0x55, 0xAA]);
    let msg = &s[0x27..0x27 + MARKER.len()];
    assert_eq!(msg, MARKER.as_bytes());
}
