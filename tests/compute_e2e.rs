//! End to end compute: the real `onestack` binary with QEMU (TCG here) and its
//! dataplane inside a network namespace this test creates (a whole fake host). Driven
//! only over the API as the demo user, a server on `private` gets its port's address
//! by DHCP, its name and key from the metadata service at 169.254.169.254, and runs its
//! `#!` user_data (which pings the outside through the router's SNAT); a floating IP
//! answers ping from the host once the security group allows ICMP; the VMM outlives a
//! `kill -9` of onestack and is adopted; after a simulated host reboot (every process,
//! namespace, bridge, tap and nft rule gone) the ACTIVE server boots again with the same
//! address and its floating IP answers, while a SHUTOFF server stays off.
//! Skips loudly unless root with `ip`, `nft`, `dnsmasq`, QEMU and the test image. A Drop
//! guard kills every VMM, the server and every dnsmasq by PID and removes every
//! namespace of the test, even on panic.

#[macro_use]
#[path = "common/netns.rs"]
mod netns;

mod common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use common::{Server, json_of};
use netns::*;
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const MV: &str = "compute 2.79";
const KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";
/// The public network's gateway, on br-ex of the fake host.
const HOST_EXT: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 1);
const MARKER: &str = "onestack-guest ready ";
const BOOT: Duration = Duration::from_secs(120);

/// The guest's user_data: prints the key the metadata service delivered and whether
/// the outside (br-ex of the fake host) answers ping through the router.
fn user_data() -> String {
    let script = format!(
        "#!/bin/sh\n\
         echo \"e2e-authorized-keys: $(cat /root/.ssh/authorized_keys)\"\n\
         for i in 1 2 3 4 5; do\n\
         if ping -c 1 -W 2 {HOST_EXT} >/dev/null 2>&1; then echo \"e2e-gateway-ping ok\"; exit 0; fi\n\
         sleep 1\n\
         done\n\
         echo \"e2e-gateway-ping failed\"\n"
    );
    base64::engine::general_purpose::STANDARD.encode(script)
}

/// The server and the fake host; dropping it removes everything the test made.
struct Cloud {
    tag: String,
    host: String,
    server: Server,
}

impl Cloud {
    fn start(image: &std::path::Path) -> Cloud {
        let tag = format!("ce2e{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let host = format!("{tag}-host");
        sh(&["ip", "netns", "add", &host]);
        sh(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        let base = common::test_profile();
        let profile = base
            .replace(
                "dataplane = \"off\"",
                &format!(
                    "dataplane = \"host\"\nhost_netns = \"{host}\"\nnamespace_prefix = \"{tag}-\""
                ),
            )
            .replace("masquerade = true", "masquerade = false")
            .replace("hypervisor = \"auto\"", "hypervisor = \"qemu\"")
            .replace(
                "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
                &format!("bootstrap_image = \"{}\"", image.display()),
            );
        assert!(profile.contains(&host) && profile.contains("\"qemu\""));
        // From here on the guard owns the host namespace, even if the start fails.
        let mut cloud = Cloud {
            tag,
            host,
            server: Server {
                dir: tempfile::tempdir().expect("tempdir"),
                child: None,
                base: String::new(),
                client: reqwest::blocking::Client::new(),
                profile: None,
            },
        };
        let path = cloud.server.state_dir().join("profile.toml");
        std::fs::write(&path, profile).expect("profile");
        cloud.server.profile = Some(path);
        cloud.server.launch();
        cloud
    }

    /// Namespaces of this test whose name starts with `{tag}-{kind}`.
    fn namespaces(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{}-{kind}", self.tag);
        std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    /// dnsmasq processes started for this state directory (checked by command line).
    fn our_dnsmasqs(&self) -> Vec<String> {
        let state = self.server.state_dir().to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().into_string().ok()?;
                pid.parse::<u32>().ok()?;
                let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let args: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                let is_ours = args.first().is_some_and(|a| a.ends_with("dnsmasq"))
                    && args.iter().any(|a| a.contains(&state));
                is_ours.then_some(pid)
            })
            .collect()
    }

    /// Every dnsmasq of this state directory killed (verified by command line).
    fn kill_dnsmasqs(&self) {
        let ours = self.our_dnsmasqs();
        for pid in &ours {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        eventually(Duration::from_secs(2), || {
            let left = self.our_dnsmasqs();
            !ours.iter().any(|p| left.contains(p))
        });
    }

    /// What a host reboot leaves: no onestack, no VMM, no dnsmasq, no router or DHCP
    /// namespace, and an empty host namespace (no bridge, tap or nft table).
    fn simulate_reboot(&mut self) {
        self.server.kill9();
        common::kill_vmms(self.server.state_dir());
        self.kill_dnsmasqs();
        for ns in self.namespaces("q") {
            sh(&["ip", "netns", "del", &ns]);
        }
        sh(&["ip", "netns", "exec", &self.host, "nft", "flush", "ruleset"]);
        sh(&["ip", "netns", "del", &self.host]);
        sh(&["ip", "netns", "add", &self.host]);
        sh(&["ip", "-n", &self.host, "link", "set", "lo", "up"]);
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // The server first (it would start again what we remove), then the VMMs and
        // every dnsmasq of our state directory, then our namespaces.
        self.server.kill9();
        common::kill_vmms(self.server.state_dir());
        self.kill_dnsmasqs();
        for ns in self.namespaces("") {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// The demo user's view of the API.
struct Api<'a> {
    s: &'a Server,
    token: String,
}

impl Api<'_> {
    fn req(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .s
            .client
            .request(method, format!("{}{path}", self.s.base))
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", MV);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request")
    }

    /// A call that must answer `want`; its JSON body (or Null).
    fn ok(&self, method: Method, path: &str, body: Option<Value>, want: u16) -> Value {
        let r = self.req(method.clone(), path, body);
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        assert_eq!(
            status,
            want,
            "{method} {path} answered {status}: {text}\n--- server log ---\n{}",
            self.s.log()
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn server(&self, id: &str) -> Value {
        self.ok(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            None,
            200,
        )["server"]
            .clone()
    }

    fn action(&self, id: &str, body: Value) {
        self.ok(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            Some(body),
            202,
        );
    }

    /// Polls until the server reaches `status` with no task (panics on ERROR).
    fn wait_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.server(id);
            if s["status"] == status && s["OS-EXT-STS:task_state"].is_null() {
                return s;
            }
            assert!(s["status"] != "ERROR", "server went to ERROR: {s}");
            assert!(
                Instant::now() < deadline,
                "server never reached {status}: {s}\n{}",
                self.s.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn console(&self, id: &str) -> String {
        let r = self.req(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            Some(json!({"os-getConsoleOutput": {"length": null}})),
        );
        assert_eq!(r.status(), 200);
        json_of(r)["output"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the console shows the marker `times` times; returns the console.
    fn wait_marker(&self, id: &str, times: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let out = self.console(id);
            if out.matches(MARKER).count() >= times {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "console never showed the marker x{times}:\n{out}\n--- server log ---\n{}",
                self.s.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The `n`th marker line of a console (0-based), without the trailing CR.
fn marker(console: &str, n: usize) -> String {
    console
        .lines()
        .filter(|l| l.starts_with(MARKER))
        .nth(n)
        .unwrap_or_else(|| panic!("no marker #{n} in:\n{console}"))
        .trim_end()
        .to_owned()
}

fn vmm_pid(s: &Server, id: &str) -> Option<i32> {
    std::fs::read_to_string(s.state_dir().join("instances").join(id).join("qemu.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| common::process_alive(*p))
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

#[test]
fn a_booted_server_lives_on_a_real_network_across_restarts_and_a_host_reboot() {
    require_privileges!();
    let Some(image) = common::guest_image() else {
        return;
    };
    let started = Instant::now();
    let mut cloud = Cloud::start(&image);
    let api = Api {
        s: &cloud.server,
        token: cloud.server.demo(),
    };

    // 1. A keypair and a server on `private` with it; a second server, stopped.
    api.ok(
        Method::POST,
        "/compute/v2.1/os-keypairs",
        Some(json!({"keypair": {"name": "e2e-key", "public_key": KEY}})),
        201,
    );
    let private = str_of(
        &api.ok(
            Method::GET,
            "/networking/v2.0/networks?name=private",
            None,
            200,
        )["networks"][0]["id"],
    );
    // The bootstrap image is imported in the background at start.
    let mut image_id = String::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            let v = api.ok(Method::GET, "/image/v2/images?name=cirros", None, 200);
            image_id = v["images"][0]["id"].as_str().unwrap_or_default().to_owned();
            v["images"][0]["status"] == "active"
        }),
        "the bootstrap image never became active"
    );
    let posted = Instant::now();
    let v = api.ok(
        Method::POST,
        "/compute/v2.1/servers",
        Some(
            json!({"server": {"name": "e2e-vm", "imageRef": image_id, "flavorRef": "42",
                   "networks": [{"uuid": private}], "key_name": "e2e-key",
                   "user_data": user_data()}}),
        ),
        202,
    );
    let id = str_of(&v["server"]["id"]);
    let v = api.ok(
        Method::POST,
        "/compute/v2.1/servers",
        Some(
            json!({"server": {"name": "e2e-off", "imageRef": image_id, "flavorRef": "42",
                   "networks": "none"}}),
        ),
        202,
    );
    let off = str_of(&v["server"]["id"]);
    let srv = api.wait_status(&id, "ACTIVE", BOOT);
    let to_active = posted.elapsed();
    assert_eq!(srv["key_name"], "e2e-key");
    let ports = api.ok(
        Method::GET,
        &format!("/networking/v2.0/ports?device_id={id}"),
        None,
        200,
    );
    let port = ports["ports"][0].clone();
    let port_id = str_of(&port["id"]);
    let ip = str_of(&port["fixed_ips"][0]["ip_address"]);
    assert_eq!(
        srv["addresses"]["private"][0]["addr"], ip,
        "the server shows its port's address"
    );
    let console = api.wait_marker(&id, 1, BOOT);
    let to_marker = posted.elapsed();
    assert_eq!(
        marker(&console, 0),
        format!("onestack-guest ready hostname=e2e-vm ip={ip} source=metadata"),
        "DHCP and metadata worked:\n{console}"
    );
    assert!(
        console.contains("1 public key(s) written"),
        "the key arrived:\n{console}"
    );
    let key_body = KEY.split_whitespace().nth(1).expect("key body");
    assert!(
        console
            .lines()
            .any(|l| l.starts_with("e2e-authorized-keys: ssh-rsa ") && l.contains(key_body)),
        "the guest holds the imported key:\n{console}"
    );
    assert!(
        console.contains("e2e-gateway-ping ok"),
        "the guest reaches br-ex of the host through the router's SNAT:\n{console}"
    );
    eprintln!(
        "figure: POST /servers -> ACTIVE {to_active:?}, -> console marker (TCG) {to_marker:?}"
    );

    api.wait_status(&off, "ACTIVE", BOOT);
    api.action(&off, json!({"os-stop": null}));
    api.wait_status(&off, "SHUTOFF", BOOT);

    // 2. A floating IP: ping from the host only once the group allows ICMP.
    let public = str_of(
        &api.ok(
            Method::GET,
            "/networking/v2.0/networks?name=public",
            None,
            200,
        )["networks"][0]["id"],
    );
    let since = SystemTime::now();
    let fip = api.ok(
        Method::POST,
        "/networking/v2.0/floatingips",
        Some(json!({"floatingip": {"floating_network_id": public, "port_id": port_id}})),
        201,
    )["floatingip"]
        .clone();
    assert_eq!(fip["fixed_ip_address"], ip);
    let fip: Ipv4Addr = str_of(&fip["floating_ip_address"]).parse().expect("IPv4");
    // Wait for a converge after the association so the "no" below means the group.
    let status_file = cloud.server.state_dir().join("dataplane-status.json");
    assert!(
        eventually(Duration::from_secs(20), || {
            std::fs::metadata(&status_file)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > since)
                && std::fs::read_to_string(&status_file)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .is_some_and(|v| v["errors"].as_array().is_some_and(|e| e.is_empty()))
        }),
        "no clean converge after the floating IP association"
    );
    assert!(
        !eventually(Duration::from_secs(3), || ping(
            &cloud.host,
            fip,
            Duration::from_millis(700)
        )),
        "ICMP to the floating IP must be dropped while the group has no rule for it"
    );
    let sg = str_of(&srv["security_groups"][0]["name"]);
    let groups = api.ok(
        Method::GET,
        &format!("/networking/v2.0/security-groups?name={sg}"),
        None,
        200,
    );
    let sg_id = str_of(&groups["security_groups"][0]["id"]);
    let allowed_at = Instant::now();
    api.ok(
        Method::POST,
        "/networking/v2.0/security-group-rules",
        Some(
            json!({"security_group_rule": {"security_group_id": sg_id, "direction": "ingress",
                   "ethertype": "IPv4", "protocol": "icmp"}}),
        ),
        201,
    );
    assert!(
        eventually(Duration::from_secs(15), || ping(
            &cloud.host,
            fip,
            Duration::from_millis(700)
        )),
        "the host pings the floating IP once ICMP is allowed\n{}",
        cloud.server.log()
    );
    eprintln!(
        "figure: ICMP rule added -> floating IP answers {:?}",
        allowed_at.elapsed()
    );

    // 3. kill -9 onestack: the VMM keeps running and is adopted.
    let pid = vmm_pid(&cloud.server, &id).expect("a running VMM");
    drop(api);
    cloud.server.kill9();
    assert!(
        vmm_pid(&cloud.server, &id) == Some(pid),
        "the VMM outlives onestack"
    );
    cloud.server.launch();
    let api = Api {
        s: &cloud.server,
        token: cloud.server.demo(),
    };
    api.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    assert_eq!(
        vmm_pid(&cloud.server, &id),
        Some(pid),
        "the running VMM was adopted"
    );
    assert!(
        eventually(Duration::from_secs(10), || ping(
            &cloud.host,
            fip,
            Duration::from_millis(700)
        )),
        "the floating IP answers after the restart"
    );

    // 4. A host reboot: nothing left but the state directory.
    drop(api);
    cloud.simulate_reboot();
    assert!(cloud.namespaces("q").is_empty());
    let up_at = Instant::now();
    cloud.server.launch();
    let api = Api {
        s: &cloud.server,
        token: cloud.server.demo(),
    };
    assert!(
        eventually(Duration::from_secs(120), || ping(
            &cloud.host,
            fip,
            Duration::from_millis(700)
        )),
        "the floating IP never answered after the reboot\n{}",
        cloud.server.log()
    );
    let to_ping = up_at.elapsed();
    let new_pid = vmm_pid(&cloud.server, &id).expect("a new VMM");
    assert_ne!(new_pid, pid, "a new QEMU process\n{}", cloud.server.log());
    api.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    let console = api.wait_marker(&id, 2, BOOT);
    assert_eq!(
        marker(&console, 1),
        format!("onestack-guest ready hostname=e2e-vm ip={ip} source=metadata"),
        "the same address after the reboot:\n{console}"
    );
    assert_eq!(api.server(&off)["status"], "SHUTOFF", "SHUTOFF stays off");
    assert!(
        vmm_pid(&cloud.server, &off).is_none(),
        "no VMM for the SHUTOFF server"
    );
    eprintln!(
        "figure: `onestack up` after a simulated host reboot -> floating IP answers ping {to_ping:?}"
    );
    eprintln!("figure: whole test {:?}", started.elapsed());
}

/// The README's "Boot a server", command for command, with `openstack` from the
/// clients' venv (`scripts/venv.sh`) as the demo user: the security group rules,
/// a generated keypair, the server, a floating IP, which the (fake) host then pings.
#[test]
fn the_readme_boot_a_server_path_reaches_the_instance() {
    require_privileges!();
    let Some(image) = common::guest_image() else {
        return;
    };
    let venv = std::env::var_os("ONESTACK_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/onestack/venv"))
        })
        .unwrap_or_default();
    if !venv.join("bin/openstack").is_file() {
        eprintln!(
            "SKIP: no openstack CLI at {} (run scripts/venv.sh)",
            venv.display()
        );
        return;
    }
    let started = Instant::now();
    let cloud = Cloud::start(&image);
    let work = tempfile::tempdir().expect("tempdir");
    // As in the README, but `onestack` with this cloud's state directory and no
    // sudo (the test runs as root).
    let script = r#"set -euo pipefail
onestack() { "$ONESTACK_BIN" --state-dir "$STATE" "$@"; }
onestack openrc --user demo > demo-openrc.sh && . ./demo-openrc.sh
openstack security group rule create --protocol icmp default
openstack security group rule create --protocol tcp --dst-port 22 default
openstack keypair create mykey > mykey.pem && chmod 600 mykey.pem
openstack server create --image cirros --flavor m1.nano --network private \
    --key-name mykey --wait vm1
openstack console log show vm1
FIP=$(openstack floating ip create public -f value -c floating_ip_address)
openstack server add floating ip vm1 "$FIP"
echo "FLOATING=$FIP"
"#;
    // The bootstrap image is registered in the background at start.
    assert!(
        eventually(Duration::from_secs(60), || {
            let t = cloud.server.demo();
            let v = json_of(
                cloud
                    .server
                    .client
                    .get(format!("{}/image/v2/images?name=cirros", cloud.server.base))
                    .header("X-Auth-Token", &t)
                    .send()
                    .expect("images"),
            );
            v["images"][0]["status"] == "active"
        }),
        "no cirros image"
    );
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("ONESTACK_BIN", common::bin())
        .env("STATE", cloud.server.state_dir())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the README's commands failed:\n{stdout}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        cloud.server.log()
    );
    let pem = std::fs::read_to_string(work.path().join("mykey.pem")).expect("mykey.pem");
    assert!(pem.contains("PRIVATE KEY"), "a private key: {pem}");
    let fip: Ipv4Addr = stdout
        .lines()
        .find_map(|l| l.strip_prefix("FLOATING="))
        .expect("a floating IP")
        .trim()
        .parse()
        .expect("IPv4");
    let reached = eventually(BOOT, || ping(&cloud.host, fip, Duration::from_millis(700)));
    assert!(
        reached,
        "the host never reached {fip}\n{stdout}\n--- server log ---\n{}",
        cloud.server.log()
    );
    eprintln!(
        "figure: the README's Boot a server commands, from a started cloud to a pingable floating IP: {:?}",
        started.elapsed()
    );
}
