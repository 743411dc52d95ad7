//! `onestack install` in a simulated VirtualBox VM built from network namespaces:
//! "vm" has enp0s3 wired to "vbox-nat" (plays 10.0.2.2: dnsmasq DHCP, masquerade)
//! and, per scenario, enp0s8 wired to "laptop" (192.168.56.1, host-only) or to a
//! LAN router (bridged). Root only; skips loudly otherwise.

#[macro_use]
#[path = "common/netns.rs"]
mod netns;

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
        let out = Command::new(bin())
            .arg("--state-dir")
            .arg(self.state())
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
        let mut args = vec!["install", "--netns", vm.as_str(), "--no-packages"];
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
    lab.install(&[]);
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
    let left = sh(&["ip", "netns", "list"]);
    assert!(!left.contains(&format!("{}-qrouter", lab.vm())), "{left}");
}
