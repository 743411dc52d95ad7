//! `onestack install` in a simulated VirtualBox VM built from network namespaces:
//! "vm" has enp0s3 wired to "vbox-nat" (plays 10.0.2.2: dnsmasq DHCP, masquerade)
//! and, per scenario, enp0s8 wired to "laptop" (192.168.56.1, host-only) or to a
//! LAN router (bridged). Root only; skips loudly otherwise.

#[macro_use]
#[path = "common/netns.rs"]
mod netns;

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netns::{in_netns, sh};

/// The binary under test; `ONESTACK_BIN` points at a copy when the build
/// directory is shared and may be rebuilt while the tests run.
fn bin() -> String {
    std::env::var("ONESTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_onestack").to_string())
}

/// The namespaces of one scenario, removed on drop (also when the test panics),
/// with the dnsmasq it started.
struct Lab {
    tag: String,
    dnsmasq: Option<Child>,
    server: Option<Child>,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(name: &str) -> Lab {
        let tag = format!("hs{}{name}", std::process::id() % 10000);
        let lab = Lab {
            tag,
            dnsmasq: None,
            server: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for ns in [lab.vm(), lab.nat(), lab.laptop()] {
            sh(&["ip", "netns", "add", &ns]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        std::fs::create_dir_all(lab.leases()).expect("lease dir");
        lab
    }
    fn vm(&self) -> String {
        format!("{}-vm", self.tag)
    }
    fn nat(&self) -> String {
        format!("{}-vbox-nat", self.tag)
    }
    fn laptop(&self) -> String {
        format!("{}-laptop", self.tag)
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }
    fn leases(&self) -> PathBuf {
        self.dir.path().join("leases")
    }
    fn ip(&self, ns: &str, args: &str) -> String {
        let mut argv = vec!["ip", "-n", ns];
        argv.extend(args.split_whitespace());
        sh(&argv)
    }

    /// enp0s3 on the VirtualBox NAT: 10.0.2.15 by DHCP from dnsmasq at 10.0.2.2,
    /// which masquerades to a fake internet (203.0.113.0/24).
    fn nat_nic(&mut self) {
        let (vm, nat) = (self.vm(), self.nat());
        sh(&[
            "ip", "link", "add", "name", "enp0s3", "netns", &vm, "type", "veth", "peer", "name",
            "eth0", "netns", &nat,
        ]);
        self.ip(&nat, "addr add 10.0.2.2/24 dev eth0");
        self.ip(&nat, "link set eth0 up");
        self.ip(&nat, "link add wan0 type veth peer name wan0p");
        self.ip(&nat, "link set wan0p up");
        self.ip(&nat, "addr add 203.0.113.1/24 dev wan0");
        self.ip(&nat, "link set wan0 up");
        self.ip(&vm, "link set enp0s3 up");
        sh(&[
            "ip",
            "netns",
            "exec",
            &nat,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
        for cmd in [
            "add table ip vbox",
            "add chain ip vbox post { type nat hook postrouting priority srcnat; }",
            "add rule ip vbox post oifname wan0 masquerade",
        ] {
            sh(&["ip", "netns", "exec", &nat, "nft", cmd]);
        }
        let pid_file = self.dir.path().join("dnsmasq.pid");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &nat,
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
            ])
            .args([
                "--port=0",
                "--bind-interfaces",
                "--interface=eth0",
                "--except-interface=lo",
            ])
            .args([
                "--dhcp-range=10.0.2.15,10.0.2.15,255.255.255.0,1h",
                "--dhcp-option=3,10.0.2.2",
            ])
            .arg(format!(
                "--dhcp-leasefile={}",
                self.dir.path().join("nat.leases").display()
            ))
            .arg(format!("--pid-file={}", pid_file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq");
        self.dnsmasq = Some(child);
        let mac = self.mac(&vm, "enp0s3");
        let lease = in_netns(&vm, move || netns::dhcp_exchange_on("enp0s3", mac))
            .expect("DHCP lease from vbox-nat");
        assert_eq!(lease.ip, Ipv4Addr::new(10, 0, 2, 15));
        // What a DHCP client does with the lease: a dynamic address, a dhcp route.
        self.ip(
            &vm,
            "addr add 10.0.2.15/24 dev enp0s3 valid_lft 3600 preferred_lft 3600",
        );
        self.ip(
            &vm,
            "route add default via 10.0.2.2 dev enp0s3 proto dhcp metric 100",
        );
    }

    /// enp0s8 to "laptop" at `peer` (host-only: 192.168.56.1; bridged: a LAN router).
    fn second_nic(&self, vm_addr: &str, peer_addr: &str) {
        let (vm, lap) = (self.vm(), self.laptop());
        sh(&[
            "ip", "link", "add", "name", "enp0s8", "netns", &vm, "type", "veth", "peer", "name",
            "eth0", "netns", &lap,
        ]);
        self.ip(&lap, &format!("addr add {peer_addr} dev eth0"));
        self.ip(&lap, "link set eth0 up");
        self.ip(&vm, &format!("addr add {vm_addr} dev enp0s8"));
        self.ip(&vm, "link set enp0s8 up");
    }

    fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(ns, &format!("-j link show {dev}"))).expect("json");
        let s = v[0]["address"].as_str().expect("mac").to_string();
        let b: Vec<u8> = s
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("hex"))
            .collect();
        b.try_into().expect("6 bytes")
    }

    fn onestack(&self, args: &[&str]) -> (bool, String) {
        self.onestack_at(&self.state(), args)
    }

    /// `onestack` on the state directory `state` with this lab's etc and lease dirs.
    fn onestack_at(&self, state: &Path, args: &[&str]) -> (bool, String) {
        let out = Command::new(bin())
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .env("ONESTACK_ETC_DIR", self.etc())
            .env("ONESTACK_LEASE_DIRS", self.leases())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run onestack");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn install(&self, extra: &[&str]) -> String {
        let vm = self.vm();
        let mut args = vec![
            "install",
            "--netns",
            vm.as_str(),
            "--no-packages",
            "--no-image",
        ];
        args.extend(extra);
        let (ok, text) = self.onestack(&args);
        assert!(ok, "install failed:\n{text}");
        text
    }

    fn addrs(&self, dev: &str) -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.ip(&self.vm(), &format!("-j -4 addr show dev {dev}")))
                .expect("json");
        v[0]["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| format!("{}/{}", x["local"].as_str().unwrap_or(""), x["prefixlen"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn link_exists(&self, dev: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.vm(), "link", "show", dev])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn nft_host_table(&self) -> String {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.vm(),
            "nft",
            "list",
            "table",
            "ip",
            "onestack-host",
        ])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Ours and the ones the cloud made with our prefix (qrouter-, qdhcp-).
        let all = Command::new("ip").args(["netns", "list"]).output();
        let listed = all
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for ns in listed.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(&format!("{}-", self.tag)) {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
}

fn changes(text: &str) -> usize {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Changes: made ")
                .or_else(|| l.strip_prefix("Changes: would make "))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no change count in:\n{text}"))
}

/// An echo server in the VM and an established session to it from vbox-nat.
fn ssh_like_session(lab: &Lab) -> TcpStream {
    echo_session(lab, &lab.nat(), "10.0.2.15:2222")
}

/// An echo server in the VM on `addr` and an established session to it from `from`.
fn echo_session(lab: &Lab, from: &str, addr: &'static str) -> TcpStream {
    let listener = in_netns(&lab.vm(), move || TcpListener::bind(addr).expect("bind"));
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 || c.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    // Retried: a neighbour entry left FAILED by the DHCP exchange clears in a moment.
    let mut s = in_netns(from, move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(addr) {
                Ok(s) => return s,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("connect: {e}, retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("connect: {e}"),
            }
        }
    });
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    echo(&mut s, b"before");
    s
}

fn echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write over the NAT NIC");
    let mut buf = vec![0u8; msg.len()];
    s.read_exact(&mut buf).expect("echo over the NAT NIC");
    assert_eq!(buf, msg);
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn verify_unit(unit: &Path) {
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
    else {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    // Offline, verify may still mention the machine's own units; only ours matters.
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("onestack.service"))
        .collect();
    assert!(
        out.status.success() || ours.is_empty(),
        "systemd-analyze verify: {err}"
    );
    assert!(
        ours.is_empty(),
        "systemd-analyze verify complained: {ours:?}"
    );
}

#[test]
fn nat_and_host_only() {
    require_privileges!();
    let mut lab = Lab::new("a");
    lab.nat_nic();
    lab.second_nic("192.168.56.10/24", "192.168.56.1/24");
    let mut session = ssh_like_session(&lab);
    // A session from the laptop to the host-only address, whose NIC br-ex takes over.
    let mut laptop_session = echo_session(&lab, &lab.laptop(), "192.168.56.10:2223");

    let dry = lab.install(&["--dry-run"]);
    assert!(dry.contains("enp0s3") && dry.contains("NAT "), "{dry}");
    assert!(dry.contains("host-only"), "{dry}");
    assert!(
        dry.contains("br-ex takes over enp0s8 (host-only): 192.168.56.10/24 moves"),
        "{dry}"
    );
    assert!(dry.contains("floating range 192.168.56.0/24 (pool 192.168.56.128 - 192.168.56.254), gateway 192.168.56.10"), "{dry}");
    assert!(
        dry.contains("masquerade 192.168.56.0/24 out of enp0s3"),
        "{dry}"
    );
    assert!(changes(&dry) > 0);
    assert!(!lab.link_exists("br-ex"), "dry run created br-ex");
    assert!(
        !lab.state().join("profile.toml").exists(),
        "dry run wrote the profile"
    );
    // With --horizon, the plan names Horizon's venv, settings, static files and
    // unit, and a dry run makes none of them.
    let dry_hz = lab.install(&["--dry-run", "--horizon"]);
    for want in [
        "install horizon==27.0.0",
        "local_settings.py",
        "collect and compress Horizon's static files",
        "onestack-horizon.service",
    ] {
        assert!(dry_hz.contains(want), "{want} missing:\n{dry_hz}");
    }
    assert!(
        !lab.state().join("horizon").exists(),
        "dry run wrote Horizon's files"
    );

    let first = lab.install(&[]);
    eprintln!("{first}");
    assert!(changes(&first) > 0);
    assert_eq!(lab.addrs("br-ex"), vec!["192.168.56.10/24".to_string()]);
    assert!(lab.addrs("enp0s8").is_empty(), "the address left enp0s8");
    let enp0s8: serde_json::Value =
        serde_json::from_str(&lab.ip(&lab.vm(), "-j link show enp0s8")).expect("json");
    assert_eq!(enp0s8[0]["master"], "br-ex");
    let table = lab.nft_host_table();
    assert!(
        table.contains("ip saddr 192.168.56.0/24 oifname \"enp0s3\" masquerade comment"),
        "{table}"
    );
    assert!(
        netns::ping(
            &lab.laptop(),
            Ipv4Addr::new(192, 168, 56, 10),
            Duration::from_secs(3)
        ),
        "laptop reaches the VM over br-ex"
    );
    echo(&mut session, b"after the install");
    echo(&mut laptop_session, b"after the address moved to br-ex");

    let profile = std::fs::read_to_string(lab.state().join("profile.toml")).expect("profile");
    for want in [
        "floating_range = \"192.168.56.0/24\"",
        "public_gateway = \"192.168.56.10\"",
        "floating_pool_start = \"192.168.56.128\"",
        "public_host = \"192.168.56.10\"",
    ] {
        assert!(profile.contains(want), "{want} not in\n{profile}");
    }
    onestack::profile::Profile::from_file(&lab.state().join("profile.toml"))
        .expect("the effective profile loads");
    let unit = lab.etc().join("systemd/system/onestack.service");
    let unit_text = std::fs::read_to_string(&unit).expect("unit");
    assert!(
        unit_text.contains(&format!(
            "up --profile {}",
            lab.state().join("profile.toml").display()
        )),
        "{unit_text}"
    );
    verify_unit(&unit);
    for f in ["clouds.yaml", "admin-openrc.sh", "demo-openrc.sh"] {
        assert_eq!(mode(&lab.etc().join("openstack").join(f)), 0o600, "{f}");
    }
    let clouds =
        std::fs::read_to_string(lab.etc().join("openstack/clouds.yaml")).expect("clouds.yaml");
    assert!(clouds.contains("http://192.168.56.10/identity"), "{clouds}");

    let t = Instant::now();
    let second = lab.install(&[]);
    let took = t.elapsed();
    eprintln!(
        "second install (already provisioned): {} ms",
        took.as_millis()
    );
    assert_eq!(changes(&second), 0, "second run changed things:\n{second}");
    echo(&mut session, b"after the second install");

    // A reboot loses the bridge and the table; host-restore (the unit's
    // ExecStartPre) puts them back.
    lab.ip(&lab.vm(), "link del br-ex");
    lab.ip(&lab.vm(), "addr add 192.168.56.10/24 dev enp0s8");
    sh(&[
        "ip",
        "netns",
        "exec",
        &lab.vm(),
        "nft",
        "delete",
        "table",
        "ip",
        "onestack-host",
    ]);
    let (ok, text) = lab.onestack(&["host-restore"]);
    assert!(ok, "{text}");
    assert_eq!(lab.addrs("br-ex"), vec!["192.168.56.10/24".to_string()]);
    assert!(lab.nft_host_table().contains("masquerade"));
    assert_eq!(changes(&lab.install(&[])), 0, "restore left a difference");

    let (ok, text) = lab.onestack(&["uninstall"]);
    assert!(ok, "uninstall: {text}");
    assert!(!lab.link_exists("br-ex"), "{text}");
    assert_eq!(lab.addrs("enp0s8"), vec!["192.168.56.10/24".to_string()]);
    assert!(!lab.etc().join("systemd/system/onestack.service").exists());
    assert!(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.vm(),
                "nft",
                "list",
                "table",
                "ip",
                "onestack-host"
            ])
            .output()
            .is_ok_and(|o| !o.status.success())
    );
    assert!(
        netns::ping(
            &lab.laptop(),
            Ipv4Addr::new(192, 168, 56, 10),
            Duration::from_secs(3)
        ),
        "laptop reaches the VM after uninstall"
    );
    echo(&mut session, b"after uninstall");
    let (ok, text) = lab.onestack(&["uninstall", "--purge"]);
    assert!(ok, "{text}");
    assert!(!lab.state().exists());
}

#[test]
fn nat_only() {
    require_privileges!();
    let mut lab = Lab::new("b");
    lab.nat_nic();
    let mut session = ssh_like_session(&lab);
    let first = lab.install(&[]);
    assert!(
        first.contains("br-ex standalone with 172.24.4.1/24"),
        "{first}"
    );
    assert_eq!(lab.addrs("br-ex"), vec!["172.24.4.1/24".to_string()]);
    assert!(
        lab.nft_host_table()
            .contains("ip saddr 172.24.4.0/24 oifname \"enp0s3\" masquerade")
    );
    let profile = std::fs::read_to_string(lab.state().join("profile.toml")).expect("profile");
    assert!(
        profile.contains("floating_range = \"172.24.4.0/24\"")
            && profile.contains("public_host = \"10.0.2.15\""),
        "{profile}"
    );
    // DevStack's tenant range (the default pool's prefix) holds the NAT network.
    assert!(
        first.contains("Tenant range (ipv4_addrs_safe_to_use): 10.0.0.0/22 overlaps")
            && profile.contains("ipv4_addrs_safe_to_use = \"10.1.0.0/22\"")
            && !profile.contains("fixed_range"),
        "{first}\n{profile}"
    );
    // An "instance" on the external range (the laptop namespace is free here)
    // reaches the fake internet through br-ex, forwarding and the masquerade.
    let inst = lab.laptop();
    sh(&[
        "ip",
        "link",
        "add",
        "name",
        "fip-br",
        "netns",
        &lab.vm(),
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &inst,
    ]);
    lab.ip(&lab.vm(), "link set fip-br master br-ex up");
    lab.ip(&inst, "addr add 172.24.4.50/24 dev eth0");
    lab.ip(&inst, "link set eth0 up");
    lab.ip(&inst, "route add default via 172.24.4.1");
    assert!(
        netns::ping(&inst, Ipv4Addr::new(203, 0, 113, 1), Duration::from_secs(3)),
        "external range reaches the outside through the NAT NIC"
    );
    echo(&mut session, b"after");
    lab.ip(&lab.vm(), "link del fip-br");
    assert_eq!(changes(&lab.install(&[])), 0);
}

#[test]
fn bridged() {
    require_privileges!();
    let mut lab = Lab::new("c");
    lab.nat_nic();
    // enp0s8 bridged to the laptop's LAN: a DHCP'd address and the LAN router as a
    // second (higher-metric) default route.
    lab.second_nic("192.168.1.50/24", "192.168.1.1/24");
    lab.ip(
        &lab.vm(),
        "addr change 192.168.1.50/24 dev enp0s8 valid_lft 3600 preferred_lft 3600",
    );
    lab.ip(
        &lab.vm(),
        "route add default via 192.168.1.1 dev enp0s8 proto dhcp metric 200",
    );
    let mut session = ssh_like_session(&lab);
    let first = lab.install(&[]);
    assert!(first.contains("bridged"), "{first}");
    assert!(
        first.contains("br-ex takes over enp0s8 (bridged)"),
        "{first}"
    );
    assert!(
        first.contains("floating range 192.168.1.0/24 (pool 192.168.1.128 - 192.168.1.254)"),
        "{first}"
    );
    assert_eq!(lab.addrs("br-ex"), vec!["192.168.1.50/24".to_string()]);
    let routes = lab.ip(&lab.vm(), "-4 route show default");
    assert!(
        routes.contains("default via 192.168.1.1 dev br-ex metric 200"),
        "{routes}"
    );
    assert!(
        routes.contains("default via 10.0.2.2 dev enp0s3"),
        "{routes}"
    );
    assert!(netns::ping(
        &lab.laptop(),
        Ipv4Addr::new(192, 168, 1, 50),
        Duration::from_secs(3)
    ));
    echo(&mut session, b"after");
    assert_eq!(changes(&lab.install(&[])), 0);
}

#[test]
fn devstack_range_already_routed() {
    require_privileges!();
    let mut lab = Lab::new("d");
    lab.nat_nic();
    lab.ip(&lab.vm(), "route add 172.24.4.0/24 via 10.0.2.2 dev enp0s3");
    let first = lab.install(&[]);
    assert!(
        first.contains("br-ex standalone with 172.24.5.1/24"),
        "{first}"
    );
    assert_eq!(lab.addrs("br-ex"), vec!["172.24.5.1/24".to_string()]);
    assert!(lab.nft_host_table().contains("ip saddr 172.24.5.0/24"));
    assert_eq!(changes(&lab.install(&[])), 0);
}

/// The whole path: install, the cloud started with the effective profile (its
/// dataplane in the VM), a class created through its API, the laptop reaching a
/// student router's gateway on the host-only network; then uninstall with the
/// cloud running.
#[test]
fn install_then_up_and_lab() {
    require_privileges!();
    let mut lab = Lab::new("e");
    lab.nat_nic();
    lab.second_nic("192.168.56.10/24", "192.168.56.1/24");
    // The default profile with its test image files under the lab's directory:
    // install builds the guest from distribution packages and puts all three there.
    let share = lab.dir.path().join("share");
    let base = include_str!("../profiles/default.toml").replace(
        "/usr/local/share/onestack/",
        &format!("{}/", share.display()),
    );
    let base_path = lab.dir.path().join("base.toml");
    std::fs::write(&base_path, base).expect("write");
    let base_arg = base_path.to_string_lossy().into_owned();
    let vm = lab.vm();
    let install = |extra: &[&str]| {
        let mut args = vec![
            "install",
            "--netns",
            vm.as_str(),
            "--no-packages",
            "--profile",
            base_arg.as_str(),
        ];
        args.extend(extra);
        let (ok, text) = lab.onestack(&args);
        assert!(ok, "install failed:\n{text}");
        text
    };
    let dry = install(&["--dry-run"]);
    assert!(
        dry.contains("Test image: would build it from distribution packages for")
            && !share.exists(),
        "{dry}"
    );
    let built = Instant::now();
    let first = install(&[]);
    println!("install with the test image build: {:?}", built.elapsed());
    for file in ["test-image.qcow2", "vmlinux", "initrd.img"] {
        let path = share.join(file);
        assert!(
            first.contains(&format!("install test image file {}", path.display())),
            "{first}"
        );
        let meta = std::fs::metadata(&path).expect("built file");
        assert!(meta.len() > 0, "{file} is empty");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644, "{file}");
    }
    assert!(!install(&[]).contains("install test image file"));
    let state = lab.state();
    let log = std::fs::File::create(lab.dir.path().join("server.log")).expect("log");
    // The control plane runs in the root namespace (a process inside `ip netns
    // exec` has its own mount namespace, where the namespaces the dataplane adds
    // would not be visible to the rest of the test), on loopback; the dataplane
    // runs in the VM namespace as the effective profile says.
    let profile = std::fs::read_to_string(state.join("profile.toml"))
        .expect("profile")
        .replace(
            "public_host = \"192.168.56.10\"",
            "public_host = \"127.0.0.1\"",
        );
    std::fs::write(lab.dir.path().join("up.toml"), profile).expect("write");
    let child = Command::new(bin())
        .arg("--state-dir")
        .arg(&state)
        .args(["up", "--listen", "127.0.0.1:0", "--profile"])
        .arg(lab.dir.path().join("up.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("onestack up");
    lab.server = Some(child);
    let server_log =
        || std::fs::read_to_string(lab.dir.path().join("server.log")).unwrap_or_default();
    let mut port = 0u16;
    assert!(
        netns::eventually(Duration::from_secs(30), || {
            let rt: Option<serde_json::Value> = std::fs::read_to_string(state.join("runtime.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            port = rt
                .and_then(|v| v["listen"].as_str()?.rsplit(':').next()?.parse().ok())
                .unwrap_or(0);
            port != 0
        }),
        "the cloud did not start:\n{}",
        server_log()
    );
    let converged = || -> Option<serde_json::Value> {
        std::fs::read_to_string(state.join("dataplane-status.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    assert!(
        netns::eventually(Duration::from_secs(30), || converged()
            .is_some_and(|v| v["routers"].as_u64() >= Some(1))),
        "no converge:\n{}",
        server_log()
    );
    // The cloud's converge kept what install set up.
    assert_eq!(lab.addrs("br-ex"), vec!["192.168.56.10/24".to_string()]);

    let out_dir = lab.dir.path().join("class");
    let lab_create = || {
        let out = Command::new(bin())
            .arg("--state-dir")
            .arg(&state)
            .args(["lab", "create", "--students", "2", "--out-dir"])
            .arg(&out_dir)
            .output()
            .expect("lab create");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "lab create: {text}\n{}", server_log());
        text
    };
    let table = lab_create();
    eprintln!("{table}");
    assert!(
        table.contains("student01") && table.contains("student02"),
        "{table}"
    );
    assert_eq!(lab_create(), table, "a second lab create is the same class");
    for s in ["student01", "student02"] {
        let f = out_dir.join(s).join("clouds.yaml");
        assert_eq!(mode(&f), 0o600);
        assert!(
            std::fs::read_to_string(&f)
                .expect("yaml")
                .contains(&format!("username: \"{s}\""))
        );
    }
    // student01's router has its gateway in the floating pool, reachable from the laptop.
    let router = table
        .lines()
        .find(|l| l.starts_with("student01"))
        .and_then(|l| l.split_whitespace().nth(3))
        .expect("router id")
        .to_string();
    let rns = format!("{}-qrouter-{router}", lab.vm());
    let mut gw: Option<Ipv4Addr> = None;
    assert!(
        netns::eventually(Duration::from_secs(20), || {
            let out = Command::new("ip")
                .args(["-n", &rns, "-4", "-j", "addr", "show"])
                .output();
            let v: serde_json::Value = out
                .ok()
                .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                .unwrap_or_default();
            gw = v
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["ifname"].as_str().is_some_and(|n| n.starts_with("qg-")))
                .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
                .find_map(|a| a["local"].as_str()?.parse().ok());
            gw.is_some()
        }),
        "no router gateway in {rns}:\n{}\n{}\n{:?}",
        server_log(),
        sh(&["ip", "netns", "list"]),
        converged()
    );
    let gw = gw.expect("gateway");
    assert!(
        gw.octets()[..3] == [192, 168, 56] && gw.octets()[3] >= 128,
        "gateway {gw} outside the pool"
    );
    assert!(
        netns::ping(&lab.laptop(), gw, Duration::from_secs(5)),
        "laptop reaches router gateway {gw}"
    );

    let (ok, text) = lab.onestack(&["uninstall"]);
    assert!(ok, "uninstall: {text}");
    if let Some(mut c) = lab.server.take() {
        let _ = c.wait();
    }
    assert!(!lab.link_exists("br-ex"), "{text}");
    assert_eq!(lab.addrs("enp0s8"), vec!["192.168.56.10/24".to_string()]);
    // The stopped cloud's router namespaces go as the dataplane is purged; wait
    // for their removal rather than racing it.
    let prefix = format!("{}-qrouter", lab.vm());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut left = sh(&["ip", "netns", "list"]);
    while left.contains(&prefix) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        left = sh(&["ip", "netns", "list"]);
    }
    assert!(!left.contains(&prefix), "{left}");
}

/// What the guest of the end-to-end test runs from metadata: a ping to the
/// VirtualBox NAT gateway (10.0.2.2), which it can only reach through the
/// router's SNAT, br-ex and the VM's masquerade out of enp0s3.
const NAT_PING: &str = "#!/bin/sh\n\
    for i in 1 2 3 4 5 6; do\n\
    if ping -c 1 -W 2 10.0.2.2 >/dev/null 2>&1; then echo \"e2e-nat-ping ok\"; exit 0; fi\n\
    sleep 1\n\
    done\n\
    echo \"e2e-nat-ping fail\"\n";
const GUEST_MARKER: &str = "onestack-guest ready ";

/// The cloud of the end-to-end test; dropping it ends onestack, every VMM and every
/// dnsmasq of its state directory by PID (before the lab removes the namespaces).
struct Cloud(common::Server);

impl Cloud {
    /// dnsmasq processes whose command line names this state directory.
    fn dnsmasqs(&self) -> Vec<i32> {
        let state = self.0.state_dir().to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let args: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (args.first().is_some_and(|a| a.ends_with("dnsmasq"))
                    && args.iter().any(|a| a.contains(&state)))
                .then_some(pid)
            })
            .collect()
    }

    /// onestack, the VMMs and dnsmasq gone, as after a power cut.
    fn kill_all(&mut self) {
        self.0.kill9();
        common::kill_vmms(self.0.state_dir());
        let ours = self.dnsmasqs();
        for pid in &ours {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        netns::eventually(Duration::from_secs(3), || {
            let left = self.dnsmasqs();
            !ours.iter().any(|p| left.contains(p))
        });
    }

    /// A call as `token` that must answer `want`; its JSON body (or Null).
    fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        want: u16,
    ) -> serde_json::Value {
        let mut r = self
            .0
            .client
            .request(method.clone(), format!("{}{path}", self.0.base))
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", "compute 2.79");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().expect("request");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        assert_eq!(
            status,
            want,
            "{method} {path} answered {status}: {text}\n--- server log ---\n{}",
            self.0.log()
        );
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    fn server(&self, token: &str, id: &str) -> serde_json::Value {
        self.call(
            token,
            reqwest::Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            None,
            200,
        )["server"]
            .clone()
    }

    /// Polls until the server is `status` with no task (panics on ERROR).
    fn wait_status(&self, token: &str, id: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let s = self.server(token, id);
            if s["status"] == status && s["OS-EXT-STS:task_state"].is_null() {
                return;
            }
            assert!(s["status"] != "ERROR", "server went to ERROR: {s}");
            assert!(
                Instant::now() < deadline,
                "server never reached {status}: {s}\n{}",
                self.0.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until the console shows `text` `times` times; returns the console.
    fn wait_console(&self, token: &str, id: &str, text: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.call(
                token,
                reqwest::Method::POST,
                &format!("/compute/v2.1/servers/{id}/action"),
                Some(serde_json::json!({"os-getConsoleOutput": {"length": null}})),
                200,
            )["output"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if out.matches(text).count() >= times {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "the console never showed {text:?} x{times}:\n{out}\n--- server log ---\n{}",
                self.0.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn vmm_pid(&self, id: &str) -> Option<i32> {
        let path = self
            .0
            .state_dir()
            .join("instances")
            .join(id)
            .join("qemu.pid");
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|p| common::process_alive(*p))
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The VM's and its routers' addresses, routes and nft rules, for a failure message.
fn diagnose(lab: &Lab) -> String {
    let vm = lab.vm();
    let mut out = String::new();
    let run = |argv: &[&str]| {
        Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .map(|o| {
                format!(
                    "$ {}\n{}{}",
                    argv.join(" "),
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default()
    };
    let gateway = netns::ping(
        &lab.laptop(),
        Ipv4Addr::new(192, 168, 56, 128),
        Duration::from_secs(2),
    );
    out += &format!("ping 192.168.56.128 from the laptop: {gateway}\n");
    out += &run(&["ip", "-n", &lab.laptop(), "neigh"]);
    let listed = sh(&["ip", "netns", "list"]);
    let mut spaces = vec![vm.clone()];
    spaces.extend(
        listed
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{vm}-qrouter")))
            .map(str::to_owned),
    );
    for ns in &spaces {
        for dst in [
            Ipv4Addr::new(10, 0, 2, 2),
            Ipv4Addr::new(10, 1, 0, 3),
            Ipv4Addr::new(192, 168, 56, 129),
        ] {
            let reached = netns::ping(ns, dst, Duration::from_secs(2));
            out += &format!("ping {dst} from {ns}: {reached}\n");
        }
        out += &run(&["ip", "-n", ns, "-br", "addr"]);
        out += &run(&["ip", "-n", ns, "route"]);
        out += &run(&["ip", "netns", "exec", ns, "sysctl", "net.ipv4.ip_forward"]);
        out += &run(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
    }
    out
}

fn text_of(v: &serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// What a reboot of the VM loses, inside the "vm" namespace only: every router and
/// DHCP namespace of the cloud, every link but lo and the two NICs (br-ex, the
/// network bridges, taps, veths), every nft table, IP forwarding; enp0s8 comes back
/// with its configured address as netplan would bring it up.
fn reboot_vm(lab: &Lab, cloud: &mut Cloud) {
    cloud.kill_all();
    let vm = lab.vm();
    let listed = sh(&["ip", "netns", "list"]);
    for ns in listed.lines().filter_map(|l| l.split_whitespace().next()) {
        if ns.starts_with(&format!("{vm}-")) {
            sh(&["ip", "netns", "del", ns]);
        }
    }
    let links: serde_json::Value =
        serde_json::from_str(&lab.ip(&vm, "-j link show")).expect("json");
    for l in links.as_array().into_iter().flatten() {
        let name = l["ifname"].as_str().unwrap_or_default();
        if !["lo", "enp0s3", "enp0s8"].contains(&name) {
            // A veth's peer goes with it, so a later delete may find nothing.
            let _ = Command::new("ip")
                .args(["-n", &vm, "link", "del", name])
                .status();
        }
    }
    sh(&["ip", "netns", "exec", &vm, "nft", "flush", "ruleset"]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &vm,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=0",
    ]);
    lab.ip(&vm, "addr add 192.168.56.10/24 dev enp0s8");
    let left: serde_json::Value = serde_json::from_str(&lab.ip(&vm, "-j link show")).expect("json");
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(3),
        "only lo and the NICs survive: {left}"
    );
    assert!(
        !sh(&["ip", "netns", "list"]).contains(&format!("{vm}-")),
        "a cloud namespace survived"
    );
}

/// End to end in the simulated VirtualBox VM (NAT + host-only): install, `up`,
/// a real guest (test image, m1.nano, demo's `private`) whose floating IP from the
/// host-only range answers ping from the laptop and which reaches 10.0.2.2 through
/// SNAT; then a reboot of the VM (processes, bridges, namespaces and nft tables
/// gone) and the same plain `up`, which re-applies the host networking itself:
/// the floating IP answers again, the ACTIVE server
/// is ACTIVE with the same fixed IP, the SHUTOFF one stays SHUTOFF.
#[test]
fn instance_in_the_vm_survives_a_reboot() {
    require_privileges!();
    let Some(image) = common::guest_image() else {
        return;
    };
    let started = Instant::now();
    let mut lab = Lab::new("f");
    lab.nat_nic();
    lab.second_nic("192.168.56.10/24", "192.168.56.1/24");
    let state_dir = tempfile::tempdir().expect("tempdir");
    let state = state_dir.path().to_path_buf();
    let vm = lab.vm();
    // The base profile: the control plane on loopback in the root namespace (see
    // install_then_up_and_lab), QEMU and the test image. `install` derives the
    // effective profile from it; a plain `up` must then use that one.
    let mut base = include_str!("../profiles/default.toml").to_owned();
    for (from, to) in [
        (
            "public_host = \"\"",
            "public_host = \"127.0.0.1\"".to_owned(),
        ),
        ("hypervisor = \"auto\"", "hypervisor = \"qemu\"".to_owned()),
        (
            "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
            format!("bootstrap_image = {:?}", image.to_string_lossy()),
        ),
        // The kernel and initramfs the image build leaves beside the disk: the
        // guest boots them directly (AMI-style), as an installed cloud does.
        (
            "bootstrap_kernel = \"/usr/local/share/onestack/vmlinux\"",
            format!(
                "bootstrap_kernel = {:?}",
                image.with_file_name("vmlinux").to_string_lossy()
            ),
        ),
        (
            "bootstrap_ramdisk = \"/usr/local/share/onestack/initrd.img\"",
            format!(
                "bootstrap_ramdisk = {:?}",
                image.with_file_name("initrd.img").to_string_lossy()
            ),
        ),
    ] {
        assert!(base.contains(from), "default.toml has {from}");
        base = base.replace(from, &to);
    }
    let base_path = lab.dir.path().join("base.toml");
    std::fs::write(&base_path, base).expect("write");
    let base_arg = base_path.to_string_lossy().into_owned();
    let (ok, text) = lab.onestack_at(
        &state,
        &[
            "install",
            "--netns",
            &vm,
            "--no-packages",
            "--profile",
            &base_arg,
        ],
    );
    assert!(ok, "install failed:\n{text}");
    let profile: toml::Table =
        toml::from_str(&std::fs::read_to_string(state.join("profile.toml")).expect("profile"))
            .expect("toml");
    assert_eq!(
        profile["network"]["floating_range"].as_str(),
        Some("192.168.56.0/24")
    );
    assert_eq!(profile["network"]["host_netns"].as_str(), Some(vm.as_str()));
    // A second install without --profile keeps the base profile.
    let (ok, text) = lab.onestack_at(&state, &["install", "--netns", &vm, "--no-packages"]);
    assert!(ok, "second install failed:\n{text}");
    assert!(
        text.contains(&format!("Profile: {base_arg}")) && changes(&text) == 0,
        "a second install keeps the profile and changes nothing:\n{text}"
    );

    // A plain `onestack up` (no --profile): the installed profile.
    let mut cloud = Cloud(common::Server {
        dir: state_dir,
        child: None,
        base: String::new(),
        client: reqwest::blocking::Client::new(),
        profile: None,
    });
    cloud.0.launch();
    let token = cloud.0.demo();
    use reqwest::Method;
    use serde_json::json;

    let private = text_of(
        &cloud.call(
            &token,
            Method::GET,
            "/networking/v2.0/networks?name=private",
            None,
            200,
        )["networks"][0]["id"],
    );
    let public = text_of(
        &cloud.call(
            &token,
            Method::GET,
            "/networking/v2.0/networks?name=public",
            None,
            200,
        )["networks"][0]["id"],
    );
    let mut image_id = String::new();
    assert!(
        netns::eventually(Duration::from_secs(60), || {
            let v = cloud.call(
                &token,
                Method::GET,
                "/image/v2/images?name=cirros",
                None,
                200,
            );
            image_id = v["images"][0]["id"].as_str().unwrap_or_default().to_owned();
            v["images"][0]["status"] == "active"
        }),
        "the bootstrap image never became active\n{}",
        cloud.0.log()
    );
    use base64::Engine as _;
    let v = cloud.call(
        &token,
        Method::POST,
        "/compute/v2.1/servers",
        Some(
            json!({"server": {"name": "vbox-vm", "imageRef": image_id, "flavorRef": "42",
               "networks": [{"uuid": private}],
               "user_data": base64::engine::general_purpose::STANDARD.encode(NAT_PING)}}),
        ),
        202,
    );
    let id = text_of(&v["server"]["id"]);
    let v = cloud.call(
        &token,
        Method::POST,
        "/compute/v2.1/servers",
        Some(
            json!({"server": {"name": "vbox-off", "imageRef": image_id, "flavorRef": "42",
               "networks": "none"}}),
        ),
        202,
    );
    let off = text_of(&v["server"]["id"]);
    cloud.wait_status(&token, &id, "ACTIVE", Duration::from_secs(120));
    let port = cloud.call(
        &token,
        Method::GET,
        &format!("/networking/v2.0/ports?device_id={id}"),
        None,
        200,
    )["ports"][0]
        .clone();
    let ip = text_of(&port["fixed_ips"][0]["ip_address"]);
    let console = cloud.wait_console(&token, &id, GUEST_MARKER, 1);
    assert!(
        console.contains(&format!(
            "onestack-guest ready hostname=vbox-vm ip={ip} source=metadata"
        )),
        "DHCP and metadata in the VM:\n{console}"
    );
    let console = cloud.wait_console(&token, &id, "e2e-nat-ping ", 1);
    assert!(
        console.contains("e2e-nat-ping ok"),
        "the guest reaches 10.0.2.2 through SNAT and the NAT NIC:\n{console}\n{}",
        diagnose(&lab)
    );
    cloud.wait_status(&token, &off, "ACTIVE", Duration::from_secs(120));
    cloud.call(
        &token,
        Method::POST,
        &format!("/compute/v2.1/servers/{off}/action"),
        Some(json!({"os-stop": null})),
        202,
    );
    cloud.wait_status(&token, &off, "SHUTOFF", Duration::from_secs(120));

    // ICMP allowed by the server's group, then a floating IP from the host-only range.
    let sg = text_of(
        &cloud.call(
            &token,
            Method::GET,
            "/networking/v2.0/security-groups?name=default",
            None,
            200,
        )["security_groups"][0]["id"],
    );
    cloud.call(
        &token,
        Method::POST,
        "/networking/v2.0/security-group-rules",
        Some(
            json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress",
               "ethertype": "IPv4", "protocol": "icmp"}}),
        ),
        201,
    );
    let fip = cloud.call(
        &token,
        Method::POST,
        "/networking/v2.0/floatingips",
        Some(json!({"floatingip": {"floating_network_id": public,
               "port_id": text_of(&port["id"])}})),
        201,
    )["floatingip"]
        .clone();
    let fip: Ipv4Addr = text_of(&fip["floating_ip_address"]).parse().expect("IPv4");
    assert!(
        fip.octets()[..3] == [192, 168, 56] && fip.octets()[3] >= 128,
        "floating IP {fip} outside the host-only pool"
    );
    let laptop = lab.laptop();
    let pings = |within: u64| {
        netns::eventually(Duration::from_secs(within), || {
            netns::ping(&laptop, fip, Duration::from_millis(700))
        })
    };
    assert!(
        pings(30),
        "the laptop never reached floating IP {fip}\n{}\n{}",
        cloud.0.log(),
        diagnose(&lab)
    );
    let before_pid = cloud.vmm_pid(&id).expect("a running VMM");
    eprintln!(
        "figure: install + up + boot + floating IP {:?}",
        started.elapsed()
    );

    // The VM reboots; then the same plain `onestack up`, without `host-restore`.
    reboot_vm(&lab, &mut cloud);
    // The kernel dismantles deleted namespaces asynchronously: wait for silence.
    assert!(
        netns::eventually(Duration::from_secs(10), || !netns::ping(
            &laptop,
            fip,
            Duration::from_millis(700)
        )),
        "the floating IP answered with everything gone"
    );
    let up_at = Instant::now();
    cloud.0.launch();
    assert_eq!(
        lab.addrs("br-ex"),
        vec!["192.168.56.10/24".to_string()],
        "`up` re-applied the host networking"
    );
    assert!(
        pings(120),
        "the floating IP never answered after the reboot\n{}",
        cloud.0.log()
    );
    let to_ping = up_at.elapsed();
    eprintln!(
        "figure: after a simulated VM reboot: plain `onestack up` -> floating IP answers ping from the laptop {to_ping:?}"
    );
    let token = cloud.0.demo();
    cloud.wait_status(&token, &id, "ACTIVE", Duration::from_secs(30));
    let after = cloud.server(&token, &id);
    assert_eq!(
        after["addresses"]["private"][0]["addr"], ip,
        "the same fixed IP after the reboot: {after}"
    );
    let new_pid = cloud.vmm_pid(&id).expect("a VMM after the reboot");
    assert_ne!(new_pid, before_pid, "a new QEMU process");
    let console = cloud.wait_console(&token, &id, GUEST_MARKER, 2);
    assert_eq!(
        console
            .lines()
            .filter(|l| l.starts_with(&format!("onestack-guest ready hostname=vbox-vm ip={ip} ")))
            .count(),
        2,
        "booted again with the same address:\n{console}"
    );
    assert_eq!(
        console.matches("e2e-nat-ping ok").count(),
        2,
        "SNAT to 10.0.2.2 works again after the reboot:\n{console}"
    );
    assert_eq!(
        cloud.server(&token, &off)["status"],
        "SHUTOFF",
        "SHUTOFF stays off"
    );
    assert!(
        cloud.vmm_pid(&off).is_none(),
        "no VMM for the SHUTOFF server"
    );
    eprintln!("figure: whole test {:?}", started.elapsed());
}
