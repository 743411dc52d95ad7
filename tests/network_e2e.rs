//! End to end networking: the real `onestack` binary, driven only over the Neutron
//! API, with its dataplane converging inside a network namespace this test creates
//! (a whole fake host with its own br-ex and nftables). Two "instances" (namespaces
//! whose eth0 is a veth, the host end named as the port's tap) get their port's
//! address from dnsmasq by DHCP, talk to each other as the security group allows,
//! reach the outside through the router's SNAT and are reached through a floating
//! IP; then the server is killed, the dataplane wrecked by hand, and after a restart
//! on the same state directory the same traffic passes with the same addresses.
//! Skips loudly unless root with `ip`, `nft` and `dnsmasq`. A Drop guard removes the
//! server, every dnsmasq it started and every namespace of the test.

#[macro_use]
#[path = "common/netns.rs"]
mod netns;

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::Server;
use netns::*;
use reqwest::Method;
use serde_json::{Value, json};

const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(5);
const CONVERGE: Duration = Duration::from_secs(20);
const HOST_EXT: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 1);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 1);

/// The server and the fake host; dropping it removes everything the test made.
struct Cloud {
    tag: String,
    host: String,
    /// The prefix of its router/DHCP namespaces.
    ns_prefix: String,
    server: Server,
    token: String,
}

impl Cloud {
    fn start() -> Cloud {
        Cloud::start_with(false)
    }

    /// With `masquerade` on, the fake host masquerades the external range out of
    /// its default-route devices (the other tests keep it off).
    fn start_with(masquerade: bool) -> Cloud {
        let tag = format!("e2e{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let host = format!("{tag}-host");
        sh(&["ip", "netns", "add", &host]);
        sh(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        let prefix = format!("namespace_prefix = \"{tag}-\"\n");
        let masq = format!("masquerade = {masquerade}");
        Cloud::start_in(&tag, &host, &[("masquerade = true", &masq)], &prefix)
    }

    /// A cloud whose dataplane lives in the fake host `host` (made by the caller,
    /// whose namespaces start with `{tag}-`), the default test profile with `edits`
    /// applied and `extra` added to its `[network]` section.
    fn start_in(tag: &str, host: &str, edits: &[(&str, &str)], extra: &str) -> Cloud {
        let base = common::test_profile();
        assert!(base.contains("dataplane = \"off\"") && base.contains("masquerade = true"));
        let mut profile = base.replace(
            "dataplane = \"off\"",
            &format!("dataplane = \"host\"\nhost_netns = \"{host}\"\n{extra}"),
        );
        for (from, to) in edits {
            assert!(profile.contains(from), "the profile has {from}");
            profile = profile.replace(from, to);
        }
        // From here on the guard owns the host namespace, even if the start fails.
        let dir = tempfile::tempdir().expect("tempdir");
        let ns_prefix = match extra.contains("namespace_prefix") {
            true => format!("{tag}-"),
            false => onestack::dataplane::Owner::for_state_dir(dir.path()).namespace_prefix(),
        };
        let mut cloud = Cloud {
            tag: tag.to_owned(),
            host: host.to_owned(),
            ns_prefix,
            server: Server {
                dir,
                child: None,
                base: String::new(),
                client: reqwest::blocking::Client::new(),
                profile: None,
            },
            token: String::new(),
        };
        let path = cloud.server.state_dir().join("profile.toml");
        std::fs::write(&path, profile).expect("profile");
        cloud.server.profile = Some(path);
        cloud.server.launch();
        cloud.token = cloud.server.admin();
        cloud
    }

    /// A Neutron call as admin: (status, JSON body or Null).
    fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .server
            .client
            .request(
                method.clone(),
                format!("{}/networking/v2.0{path}", self.server.base),
            )
            .header("X-Auth-Token", &self.token);
        if let Some(b) = &body {
            r = r.json(b);
        }
        let resp = r.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: {status}, not JSON: {text}"))
        };
        (status, v)
    }

    /// A call that must answer `want`; panics with the request and the answer.
    fn ok(&self, method: Method, path: &str, body: Option<Value>, want: u16) -> Value {
        let (status, v) = self.call(method.clone(), path, body.clone());
        assert_eq!(
            status,
            want,
            "{method} {path} {body:?} answered {status}: {v}\n--- server log ---\n{}",
            self.server.log()
        );
        v
    }

    fn create(&self, collection: &str, key: &str, body: Value) -> Value {
        let v = self.ok(
            Method::POST,
            &format!("/{collection}"),
            Some(json!({ key: body })),
            201,
        );
        v[key].clone()
    }

    fn state(&self) -> &Path {
        self.server.state_dir()
    }

    fn status_file(&self) -> PathBuf {
        self.state().join("dataplane-status.json")
    }

    /// Waits for a dataplane converge that finished after `since`, planned `ports`
    /// instance ports and reported no error; returns its status.
    fn converged(&self, since: SystemTime, ports: u64) -> Value {
        let deadline = Instant::now() + CONVERGE;
        let mut last = Value::Null;
        loop {
            let path = self.status_file();
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh
                && let Ok(v) = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
            {
                if v["ports"] == ports && v["errors"].as_array().is_some_and(|e| e.is_empty()) {
                    return v;
                }
                last = v;
            }
            assert!(
                Instant::now() < deadline,
                "the dataplane did not converge within {CONVERGE:?}; last status {last}\n\
                 --- server log ---\n{}",
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An "instance": a namespace whose eth0 (with the port's MAC) is a veth whose
    /// other end sits in the host namespace named as the port's tap.
    fn instance(&self, name: &str, port: &Value) -> String {
        let ns = format!("{}-{name}", self.tag);
        sh(&["ip", "netns", "add", &ns]);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "-n",
            &self.host,
            "link",
            "add",
            &tap(port),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ]);
        sh(&[
            "ip",
            "-n",
            &ns,
            "link",
            "set",
            "eth0",
            "address",
            port["mac_address"].as_str().expect("mac"),
            "up",
        ]);
        ns
    }

    /// The master of a device of the host namespace.
    fn master_of(&self, dev: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["-n", &self.host, "-j", "link", "show", "dev", dev])
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v[0]["master"].as_str().map(str::to_owned)
    }

    /// Namespaces of this test whose name starts with `{tag}-{kind}`.
    fn namespaces(&self, kind: &str) -> Vec<String> {
        netns_starting(&format!("{}-{kind}", self.tag))
    }

    /// The cloud's router and DHCP namespaces.
    fn cloud_namespaces(&self) -> Vec<String> {
        let mut v = netns_starting(&format!("{}qrouter-", self.ns_prefix));
        v.extend(netns_starting(&format!("{}qdhcp-", self.ns_prefix)));
        v.sort();
        v
    }

    /// dnsmasq processes started for this state directory (checked by command line).
    fn our_dnsmasqs(&self) -> Vec<String> {
        let state = self.state().to_string_lossy().into_owned();
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

    /// The fake host's side of a `kill -9` plus a reboot: every bridge and every
    /// router/DHCP namespace gone, the security-group tables flushed.
    fn wreck_dataplane(&self) {
        let out = sh(&[
            "ip", "-n", &self.host, "-j", "link", "show", "type", "bridge",
        ]);
        let bridges: Value = serde_json::from_str(&out).expect("json");
        for b in bridges.as_array().into_iter().flatten() {
            let name = b["ifname"].as_str().expect("ifname");
            sh(&["ip", "-n", &self.host, "link", "del", name]);
        }
        for ns in self.namespaces("q") {
            sh(&["ip", "netns", "del", &ns]);
        }
        // The cloud's tables are named after its state directory (`onestack-<tag>`).
        let ruleset = sh(&["ip", "netns", "exec", &self.host, "nft", "list", "tables"]);
        for line in ruleset.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["table", family @ ("bridge" | "inet"), name] = words[..]
                && name.starts_with("onestack")
            {
                sh(&[
                    "ip", "netns", "exec", &self.host, "nft", "flush", "table", family, name,
                ]);
            }
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // The server first (it would rebuild what we remove), then every dnsmasq
        // of our state directory: by pid file, then any left (verified as dnsmasq
        // with our state directory on its command line), then our namespaces.
        self.server.kill9();
        let mut pids = Vec::new();
        // DHCP and router-advertisement dnsmasqs.
        let dirs = ["dhcp", "ra"].map(|d| self.state().join("dataplane").join(d));
        for e in dirs.iter().flat_map(std::fs::read_dir).flatten().flatten() {
            if let Ok(pid) = std::fs::read_to_string(e.path().join("pid")) {
                pids.push(pid.trim().to_owned());
            }
        }
        let ours = self.our_dnsmasqs();
        let killed: Vec<&String> = pids.iter().filter(|p| ours.contains(p)).collect();
        for pid in &killed {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        // A killed process stays in /proc until it is gone; wait for that.
        eventually(Duration::from_secs(2), || {
            let left = self.our_dnsmasqs();
            !killed.iter().any(|p| left.contains(p))
        });
        for pid in self.our_dnsmasqs() {
            eprintln!("cleanup: dnsmasq {pid} of this test had no pid file; killing it");
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        let mut left = self.namespaces("");
        left.extend(self.cloud_namespaces());
        for ns in left {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

fn netns_starting(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn tap(port: &Value) -> String {
    onestack::dataplane::plan::tap_name(&id(port))
}

fn fixed_ip(port: &Value) -> Ipv4Addr {
    port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("fixed ip")
        .parse()
        .expect("IPv4")
}

/// DHCP in `ns` must hand out the port's address with the subnet's gateway.
fn lease(ns: &str, port: &Value) {
    let mac = port["mac_address"].as_str().expect("mac");
    let got = dhcp(ns, mac).unwrap_or_else(|e| panic!("DHCP in {ns}: {e}"));
    assert_eq!(got.ip, fixed_ip(port), "{ns} leased its port's fixed IP");
    assert_eq!(got.prefix, 24);
    assert_eq!(got.router, Some(GATEWAY));
}

/// The traffic the security group and the router must let through (and not).
fn check_traffic(
    host: &str,
    (a, port_a): (&str, &Value),
    (b, port_b): (&str, &Value),
    fip: Ipv4Addr,
    snat: Ipv4Addr,
) {
    let (ip_a, ip_b) = (fixed_ip(port_a), fixed_ip(port_b));
    assert!(
        eventually(LONG, || ping(a, ip_b, SHORT)),
        "A pings B (ICMP open)"
    );
    assert!(ping(b, ip_a, LONG), "B pings A");
    let seen = tcp_peer(a, ip_b, 22, LONG).expect("TCP 22 is open in the group");
    assert_eq!(seen, ip_a.to_string(), "east-west is not NATed");
    assert_eq!(
        tcp_peer(a, ip_b, 23, SHORT),
        Err(std::io::ErrorKind::TimedOut),
        "TCP 23 (listening, no rule) is dropped"
    );
    assert!(
        eventually(LONG, || ping(host, fip, SHORT)),
        "the host pings the floating IP"
    );
    let seen = tcp_peer(host, fip, 22, LONG).expect("the host reaches A's floating IP");
    assert_eq!(seen, HOST_EXT.to_string(), "A sees the real client");
    let seen = tcp_peer(b, HOST_EXT, 8080, LONG).expect("B reaches the outside");
    assert_eq!(
        seen,
        snat.to_string(),
        "B is SNATed to the router's gateway"
    );
    let seen = tcp_peer(a, HOST_EXT, 8080, LONG).expect("A reaches the outside");
    assert_eq!(seen, fip.to_string(), "A leaves with its floating IP");
}

/// Port status through the API: a bound port is DOWN while the "VM" has not opened
/// its end (peer down), ACTIVE once it has, DOWN when the device disappears. A
/// harmless port update wakes the reconciler, standing in for its periodic resync.
fn port_status_follows_the_device(cloud: &Cloud, net: &str, wired: &[Value]) {
    let port = cloud.create(
        "ports",
        "port",
        json!({"network_id": net, "name": "e2e-status", "device_owner": "compute:nova",
               "binding:host_id": "e2e-compute"}),
    );
    let path = format!("/ports/{}", id(&port));
    let ns = format!("{}-vmC", cloud.tag);
    sh(&["ip", "netns", "add", &ns]);
    sh(&[
        "ip",
        "-n",
        &cloud.host,
        "link",
        "add",
        &tap(&port),
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &ns,
    ]);
    let status_after_poke = |want: &str| {
        let mut n = 0;
        eventually(LONG, || {
            n += 1;
            let body = json!({"port": {"description": format!("status poke {n}")}});
            cloud.ok(Method::PUT, &path, Some(body), 200);
            std::thread::sleep(Duration::from_millis(150));
            cloud.ok(Method::GET, &path, None, 200)["port"]["status"] == want
        })
    };
    // Wired by the dataplane (on the bridge, up) but nobody holds the other end.
    let bridge = onestack::dataplane::plan::bridge_name(net);
    assert!(eventually(LONG, || cloud.master_of(&tap(&port)).as_deref()
        == Some(bridge.as_str())));
    // Created bound (ACTIVE as the API reports a bound port), then the host shows
    // a device without carrier: DOWN, and it stays DOWN across further converges.
    assert!(status_after_poke("DOWN"), "DOWN while the peer is down");
    assert!(
        status_after_poke("DOWN"),
        "still DOWN after another converge"
    );
    let rev_down = cloud.ok(Method::GET, &path, None, 200)["port"]["revision_number"].clone();
    let opened = Instant::now();
    sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
    assert!(status_after_poke("ACTIVE"), "ACTIVE once the VM end is up");
    eprintln!(
        "FIGURE device up -> port ACTIVE in the API: {:?}",
        opened.elapsed()
    );
    let rev_up = cloud.ok(Method::GET, &path, None, 200)["port"]["revision_number"].clone();
    assert!(
        rev_up.as_u64() > rev_down.as_u64(),
        "the status change bumps the revision"
    );
    // The other wired ports have carrier by now, so they are ACTIVE too.
    for p in wired {
        let v = cloud.ok(Method::GET, &format!("/ports/{}", id(p)), None, 200);
        assert_eq!(v["port"]["status"], "ACTIVE", "{}", v["port"]["name"]);
    }
    sh(&["ip", "-n", &ns, "link", "set", "eth0", "down"]);
    assert!(
        status_after_poke("DOWN"),
        "DOWN again when the VM end goes down"
    );
    sh(&["ip", "netns", "del", &ns]);
    cloud.ok(Method::DELETE, &path, None, 204);
}

#[test]
fn neutron_api_drives_a_real_dataplane_across_a_restart() {
    require_privileges!();
    let started = Instant::now();
    let mut cloud = Cloud::start();

    // The defaults: `public` with 172.24.4.1 on br-ex in the fake host.
    let nets = cloud.ok(Method::GET, "/networks?name=public", None, 200);
    let public = id(&nets["networks"][0]);
    cloud.converged(SystemTime::UNIX_EPOCH, 0);
    // The default networks are created just after start-up, so the first converge
    // may predate them: wait for the one that plumbs br-ex.
    let br_ex_ready = eventually(CONVERGE, || {
        std::process::Command::new("ip")
            .args(["-n", &cloud.host, "-4", "addr", "show", "dev", "br-ex"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("172.24.4.1/24"))
    });
    assert!(
        br_ex_ready,
        "br-ex never got 172.24.4.1/24:\n{}",
        cloud.server.log()
    );

    // 1. Network, subnet, router with a gateway on public, a security group.
    let net = cloud.create("networks", "network", json!({"name": "e2e-net"}));
    let subnet = cloud.create(
        "subnets",
        "subnet",
        json!({"network_id": id(&net), "ip_version": 4, "cidr": "10.20.0.0/24",
               "enable_dhcp": true, "name": "e2e-subnet"}),
    );
    assert_eq!(subnet["gateway_ip"], GATEWAY.to_string());
    let router = cloud.create(
        "routers",
        "router",
        json!({"name": "e2e-router", "external_gateway_info": {"network_id": public}}),
    );
    cloud.ok(
        Method::PUT,
        &format!("/routers/{}/add_router_interface", id(&router)),
        Some(json!({"subnet_id": id(&subnet)})),
        200,
    );
    let router =
        cloud.ok(Method::GET, &format!("/routers/{}", id(&router)), None, 200)["router"].clone();
    let snat: Ipv4Addr = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("router gateway address")
        .parse()
        .expect("IPv4");
    let sg = cloud.create(
        "security-groups",
        "security_group",
        json!({"name": "e2e-sg"}),
    );
    let icmp = cloud.create(
        "security-group-rules",
        "security_group_rule",
        json!({"security_group_id": id(&sg), "direction": "ingress",
               "ethertype": "IPv4", "protocol": "icmp"}),
    );
    cloud.create(
        "security-group-rules",
        "security_group_rule",
        json!({"security_group_id": id(&sg), "direction": "ingress", "ethertype": "IPv4",
               "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
    );

    // 2. Two ports; their "VM taps" plugged in; then bound to a host, which is
    // what makes the dataplane wire them.
    let ports: Vec<Value> = ["a", "b"]
        .iter()
        .map(|n| {
            cloud.create(
                "ports",
                "port",
                json!({"network_id": id(&net), "name": format!("e2e-{n}"),
                       "security_groups": [id(&sg)]}),
            )
        })
        .collect();
    let (port_a, port_b) = (&ports[0], &ports[1]);
    let a = cloud.instance("vmA", port_a);
    let b = cloud.instance("vmB", port_b);
    serve_peer_address(&b, 22);
    serve_peer_address(&b, 23);
    serve_peer_address(&a, 22);
    serve_peer_address(&cloud.host, 8080);

    let bind_since = SystemTime::now();
    let bound_at = Instant::now();
    for p in &ports {
        let v = cloud.ok(
            Method::PUT,
            &format!("/ports/{}", id(p)),
            Some(json!({"port": {"binding:host_id": "e2e-compute"}})),
            200,
        );
        assert_eq!(v["port"]["binding:host_id"], "e2e-compute");
    }

    // 3. Converged: taps enslaved to the network's bridge; DHCP gives each
    // instance its port's address.
    let status = cloud.converged(bind_since, 2);
    let converged_after = bound_at.elapsed();
    let bridge = onestack::dataplane::plan::bridge_name(&id(&net));
    for p in &ports {
        assert_eq!(cloud.master_of(&tap(p)).as_deref(), Some(bridge.as_str()));
    }
    lease(&a, port_a);
    let lease_a = bound_at.elapsed();
    lease(&b, port_b);
    let lease_b = bound_at.elapsed();
    eprintln!(
        "FIGURE port binding API call -> DHCP lease in the instance: {lease_a:?} \
         (converge seen after {converged_after:?}, converge itself {} ms; second port {lease_b:?})",
        status["millis"]
    );

    port_status_follows_the_device(&cloud, &id(&net), &ports);

    let (ip_a, ip_b) = (fixed_ip(port_a), fixed_ip(port_b));
    assert!(
        eventually(LONG, || ping(&a, ip_b, SHORT)),
        "A pings B (ICMP open)"
    );
    let seen = tcp_peer(&a, ip_b, 22, LONG).expect("TCP 22 is open in the group");
    assert_eq!(seen, ip_a.to_string());
    assert_eq!(
        tcp_peer(&a, ip_b, 23, SHORT),
        Err(std::io::ErrorKind::TimedOut),
        "TCP 23 (listening, no rule) is dropped"
    );

    // Removing the ICMP rule through the API stops ping within seconds.
    let removed_at = Instant::now();
    cloud.ok(
        Method::DELETE,
        &format!("/security-group-rules/{}", id(&icmp)),
        None,
        204,
    );
    assert!(
        eventually(LONG, || !ping(&a, ip_b, SHORT)),
        "ICMP is dropped once its rule is deleted"
    );
    eprintln!(
        "FIGURE security group rule delete -> ping blocked: {:?}",
        removed_at.elapsed()
    );
    // Back again, for the rest of the test.
    cloud.create(
        "security-group-rules",
        "security_group_rule",
        json!({"security_group_id": id(&sg), "direction": "ingress",
               "ethertype": "IPv4", "protocol": "icmp"}),
    );
    assert!(
        eventually(LONG, || ping(&a, ip_b, SHORT)),
        "ICMP passes again once a rule allows it"
    );

    // 4. A floating IP for A: the host reaches A through it; B leaves with the
    // router's address.
    let fip = cloud.create(
        "floatingips",
        "floatingip",
        json!({"floating_network_id": public, "port_id": id(port_a)}),
    );
    assert_eq!(fip["fixed_ip_address"], ip_a.to_string());
    assert_eq!(fip["router_id"], id(&router));
    let fip: Ipv4Addr = fip["floating_ip_address"]
        .as_str()
        .expect("floating_ip_address")
        .parse()
        .expect("IPv4");
    check_traffic(&cloud.host, (&a, port_a), (&b, port_b), fip, snat);

    // Hairpin: A reaches B's floating IP from behind the same router; B sees the
    // router's gateway address (the SNAT that brings the reply back through it).
    let fip_b = cloud.create(
        "floatingips",
        "floatingip",
        json!({"floating_network_id": public, "port_id": id(port_b)}),
    );
    let fip_b_ip: Ipv4Addr = fip_b["floating_ip_address"]
        .as_str()
        .expect("floating_ip_address")
        .parse()
        .expect("IPv4");
    assert!(
        eventually(LONG, || ping(&a, fip_b_ip, SHORT)),
        "A pings B's floating IP (hairpin)"
    );
    let seen = tcp_peer(&a, fip_b_ip, 22, LONG).expect("A reaches B's floating IP over TCP");
    assert_eq!(
        seen,
        snat.to_string(),
        "hairpin is SNATed to the router gateway"
    );
    let seen = tcp_peer(&cloud.host, fip_b_ip, 22, LONG).expect("the host reaches B's FIP");
    assert_eq!(
        seen,
        HOST_EXT.to_string(),
        "outside clients are not hairpin-SNATed"
    );
    cloud.ok(
        Method::DELETE,
        &format!("/floatingips/{}", id(&fip_b)),
        None,
        204,
    );

    // 5. kill -9, wreck the fake host's dataplane by hand, start again on the same
    // state directory: same addresses, same traffic.
    cloud.server.kill9();
    cloud.wreck_dataplane();
    assert!(cloud.namespaces("q").is_empty());
    for ns in [&a, &b] {
        sh(&["ip", "-n", ns, "addr", "flush", "dev", "eth0"]);
    }
    let restart_since = SystemTime::now();
    let restarted_at = Instant::now();
    cloud.server.launch();
    let status = cloud.converged(restart_since, 2);
    eprintln!(
        "FIGURE restart -> dataplane rebuilt: {:?} (converge {} ms, {} changes)",
        restarted_at.elapsed(),
        status["millis"],
        status["changes"]
    );
    assert_eq!(
        cloud.namespaces("q").len(),
        4,
        "2 routers + 2 DHCP namespaces"
    );
    lease(&a, port_a);
    lease(&b, port_b);
    check_traffic(&cloud.host, (&a, port_a), (&b, port_b), fip, snat);
    let dnsmasqs = cloud.our_dnsmasqs();
    assert_eq!(
        dnsmasqs.len(),
        2,
        "one dnsmasq per DHCP network (private, e2e-net), none left from before the restart: {dnsmasqs:?}"
    );
    eprintln!("FIGURE whole test: {:?}", started.elapsed());
}

impl Cloud {
    /// Waits for the default `public` network on br-ex, then makes `<prefix>-net`
    /// (10.20.0.0/24) behind `<prefix>-router`, whose gateway is on `public`.
    /// Returns `public`'s id and the new network.
    fn routed_network(&self, prefix: &str) -> (String, Value) {
        let nets = self.ok(Method::GET, "/networks?name=public", None, 200);
        let public = id(&nets["networks"][0]);
        let br_ex_ready = eventually(CONVERGE, || {
            std::process::Command::new("ip")
                .args(["-n", &self.host, "-4", "addr", "show", "dev", "br-ex"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("172.24.4.1/24"))
        });
        assert!(br_ex_ready, "br-ex never got 172.24.4.1/24");
        let net = self.create(
            "networks",
            "network",
            json!({"name": format!("{prefix}-net")}),
        );
        let subnet = self.create(
            "subnets",
            "subnet",
            json!({"network_id": id(&net), "ip_version": 4, "cidr": "10.20.0.0/24"}),
        );
        let router = self.create(
            "routers",
            "router",
            json!({"name": format!("{prefix}-router"),
                   "external_gateway_info": {"network_id": public}}),
        );
        self.ok(
            Method::PUT,
            &format!("/routers/{}/add_router_interface", id(&router)),
            Some(json!({"subnet_id": id(&subnet)})),
            200,
        );
        (public, net)
    }
}

/// A floating IP port forwarding made through the API: the host reaches the
/// instance's TCP 22 on the floating IP's port 2222 once the dataplane converged,
/// again after kill -9 and a wrecked dataplane, and no longer once it is deleted.
#[test]
fn port_forwarding_through_the_api_across_a_restart() {
    require_privileges!();
    let mut cloud = Cloud::start();
    let (public, net) = cloud.routed_network("pf");
    let sg = cloud.create(
        "security-groups",
        "security_group",
        json!({"name": "pf-sg"}),
    );
    cloud.create(
        "security-group-rules",
        "security_group_rule",
        json!({"security_group_id": id(&sg), "direction": "ingress", "ethertype": "IPv4",
               "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
    );
    let port = cloud.create(
        "ports",
        "port",
        json!({"network_id": id(&net), "security_groups": [id(&sg)]}),
    );
    let vm = cloud.instance("vm", &port);
    serve_peer_address(&vm, 22);
    let since = SystemTime::now();
    cloud.ok(
        Method::PUT,
        &format!("/ports/{}", id(&port)),
        Some(json!({"port": {"binding:host_id": "e2e-compute"}})),
        200,
    );
    cloud.converged(since, 1);
    lease(&vm, &port);

    let fip = cloud.create(
        "floatingips",
        "floatingip",
        json!({"floating_network_id": public}),
    );
    let fip_ip: Ipv4Addr = fip["floating_ip_address"]
        .as_str()
        .expect("floating_ip_address")
        .parse()
        .expect("IPv4");
    let created_at = Instant::now();
    let pf = cloud.ok(
        Method::POST,
        &format!("/floatingips/{}/port_forwardings", id(&fip)),
        Some(json!({"port_forwarding": {
            "internal_port_id": id(&port), "internal_ip_address": fixed_ip(&port).to_string(),
            "internal_port": 22, "external_port": 2222, "protocol": "tcp"}})),
        201,
    )["port_forwarding"]
        .clone();
    assert!(
        eventually(LONG, || tcp_peer(&cloud.host, fip_ip, 2222, SHORT).is_ok()),
        "the host reaches the instance through {fip_ip}:2222\n{}",
        cloud.server.log()
    );
    eprintln!(
        "FIGURE port forwarding create -> first TCP connect through it: {:?}",
        created_at.elapsed()
    );
    let seen = tcp_peer(&cloud.host, fip_ip, 2222, LONG).expect("through the forwarding");
    assert_eq!(
        seen,
        HOST_EXT.to_string(),
        "the instance sees the real client"
    );

    // kill -9, dataplane wrecked, start again: the forwarding is rebuilt from the
    // database.
    cloud.server.kill9();
    cloud.wreck_dataplane();
    sh(&["ip", "-n", &vm, "addr", "flush", "dev", "eth0"]);
    let since = SystemTime::now();
    cloud.server.launch();
    cloud.token = cloud.server.admin();
    cloud.converged(since, 1);
    lease(&vm, &port);
    assert!(
        eventually(LONG, || tcp_peer(&cloud.host, fip_ip, 2222, SHORT).is_ok()),
        "the forwarding is back after the restart"
    );

    // Deleted: nothing answers on the floating IP any more.
    cloud.ok(
        Method::DELETE,
        &format!("/floatingips/{}/port_forwardings/{}", id(&fip), id(&pf)),
        None,
        204,
    );
    assert!(
        eventually(LONG, || tcp_peer(&cloud.host, fip_ip, 2222, SHORT).is_err()),
        "no forwarding after the delete"
    );
}

/// An uplink of the fake host: `dev` (`{net}.2/24`) is a veth to namespace
/// `{tag}-{name}` (`{net}.1/24`), an "ISP" that also holds `FAR` and serves on
/// 8080 the address each client came from. Nothing routes back to the external
/// range there, so only a masqueraded connection gets an answer.
fn uplink(cloud: &Cloud, name: &str, dev: &str, net: &str) {
    let ns = format!("{}-{name}", cloud.tag);
    sh(&["ip", "netns", "add", &ns]);
    sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    sh(&[
        "ip",
        "-n",
        &cloud.host,
        "link",
        "add",
        dev,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &ns,
    ]);
    let (host_addr, isp_addr) = (format!("{net}.2/24"), format!("{net}.1/24"));
    sh(&[
        "ip",
        "-n",
        &cloud.host,
        "addr",
        "add",
        &host_addr,
        "dev",
        dev,
    ]);
    sh(&["ip", "-n", &cloud.host, "link", "set", dev, "up"]);
    sh(&["ip", "-n", &ns, "addr", "add", &isp_addr, "dev", "eth0"]);
    sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
    sh(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{FAR}/32"),
        "dev",
        "lo",
    ]);
    serve_peer_address(&ns, 8080);
}

/// A server beyond the host's default route, reachable through either uplink.
const FAR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// Well below the 60 s periodic resync: only a converge on the route change passes.
const ROUTE_FOLLOW: Duration = Duration::from_secs(15);

/// The external masquerade follows the host's default route without waiting for the
/// periodic resync: no default route when onestack starts, then one appears (a NAT
/// NIC's late DHCP lease) and later moves to another device (a laptop changing
/// networks). Each time an instance behind the router's SNAT reaches a server
/// beyond the default route, seen from the uplink's address.
#[test]
fn masquerade_follows_a_default_route_that_appears_and_moves() {
    require_privileges!();
    let cloud = Cloud::start_with(true);
    let (_, net) = cloud.routed_network("uplink");
    let port = cloud.create("ports", "port", json!({"network_id": id(&net)}));
    let vm = cloud.instance("vm", &port);
    let since = SystemTime::now();
    cloud.ok(
        Method::PUT,
        &format!("/ports/{}", id(&port)),
        Some(json!({"port": {"binding:host_id": "e2e-compute"}})),
        200,
    );
    cloud.converged(since, 1);
    lease(&vm, &port);

    // Both uplinks exist, neither carries the default route: nothing goes far.
    uplink(&cloud, "ispa", "up0", "198.51.100");
    uplink(&cloud, "ispb", "up1", "198.51.101");
    assert!(
        tcp_peer(&vm, FAR, 8080, SHORT).is_err(),
        "no way out without a default route"
    );
    let nat = || sh(&["ip", "netns", "exec", &cloud.host, "nft", "list", "ruleset"]);
    assert!(!nat().contains("masquerade"), "no uplink, no masquerade");

    // The default route appears after start, then moves to the other uplink: each
    // time the masquerade follows at once.
    let follow = |what: &str, change: &[&str], uplink: &str, seen_as: &str| {
        let started = Instant::now();
        let mut argv = vec!["ip", "-n", cloud.host.as_str(), "route"];
        argv.extend_from_slice(change);
        sh(&argv);
        let rule = format!("oifname \"{uplink}\" masquerade");
        let ruled = eventually(ROUTE_FOLLOW, || nat().contains(&rule));
        eprintln!(
            "FIGURE default route {what} -> masquerade rule: {:?}",
            started.elapsed()
        );
        assert!(
            ruled
                && eventually(ROUTE_FOLLOW, || {
                    tcp_peer(&vm, FAR, 8080, SHORT).as_deref() == Ok(seen_as)
                }),
            "the instance goes out masqueraded by {uplink} once the default route {what}\n{}\n{}",
            nat(),
            cloud.server.log()
        );
    };
    follow(
        "added",
        &["add", "default", "via", "198.51.100.1"],
        "up0",
        "198.51.100.2",
    );
    follow(
        "moved",
        &["replace", "default", "via", "198.51.101.1", "dev", "up1"],
        "up1",
        "198.51.101.2",
    );
    let ruleset = nat();
    assert!(
        ruleset.contains("oifname \"up1\" masquerade") && !ruleset.contains("\"up0\""),
        "{ruleset}"
    );
}

/// An "instance" of `cloud` on DevStack's `private` network with a floating IP
/// that admits ICMP: (namespace, port, floating IP, the subnet's gateway).
fn private_instance(cloud: &Cloud, name: &str) -> (String, Value, Ipv4Addr, Ipv4Addr) {
    let nets = cloud.ok(Method::GET, "/networks?name=private", None, 200);
    let net = id(&nets["networks"][0]);
    let subnets = cloud.ok(Method::GET, "/subnets?name=private-subnet", None, 200);
    let gateway: Ipv4Addr = subnets["subnets"][0]["gateway_ip"]
        .as_str()
        .expect("gateway")
        .parse()
        .expect("IPv4");
    let port = cloud.create(
        "ports",
        "port",
        json!({"network_id": net, "name": name, "device_owner": "compute:nova",
               "binding:host_id": "e2e-compute"}),
    );
    let group = port["security_groups"][0].as_str().expect("a group");
    cloud.create(
        "security-group-rules",
        "security_group_rule",
        json!({"security_group_id": group, "direction": "ingress", "ethertype": "IPv4",
               "protocol": "icmp"}),
    );
    let publics = cloud.ok(Method::GET, "/networks?name=public", None, 200);
    let fip = cloud.create(
        "floatingips",
        "floatingip",
        json!({"floating_network_id": id(&publics["networks"][0]), "port_id": id(&port)}),
    );
    let fip: Ipv4Addr = fip["floating_ip_address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("IPv4");
    let ns = cloud.instance(name, &port);
    (ns, port, fip, gateway)
}

/// A harmless change that makes the cloud converge; waits for that converge,
/// which must report no error.
fn poke(cloud: &Cloud, port: &Value, n: usize) {
    let since = SystemTime::now();
    let body = json!({"port": {"description": format!("poke {n}")}});
    cloud.ok(
        Method::PUT,
        &format!("/ports/{}", id(port)),
        Some(body),
        200,
    );
    cloud.converged(since, 1);
}

/// DHCP, the router and the floating IP from the fake host, for one instance.
fn instance_traffic(cloud: &Cloud, (ns, port, fip, gateway): &(String, Value, Ipv4Addr, Ipv4Addr)) {
    let got = eventually(LONG, || {
        dhcp(ns, port["mac_address"].as_str().expect("mac")).is_ok()
    });
    assert!(
        got,
        "{ns}: DHCP answers\n--- log ---\n{}",
        cloud.server.log()
    );
    assert!(
        eventually(LONG, || ping(ns, *gateway, SHORT)),
        "{ns} pings its router"
    );
    assert!(
        eventually(LONG, || ping(&cloud.host, *fip, SHORT)),
        "the host pings {ns}'s floating IP {fip}\n--- log ---\n{}",
        cloud.server.log()
    );
}

/// Two clouds on one machine: two state directories, one (fake) host, neither
/// profile naming a namespace prefix, each with DevStack's `router1` and DHCP
/// network `private` and an instance with a floating IP, one cloud on br-ex and the
/// other on br-ex2. Through several converges of each (each one a full converge,
/// as the periodic one), both keep their namespaces and traffic; a namespace left
/// that cannot be entered is rebuilt; `down --purge-network` of one leaves the
/// other whole.
#[test]
fn two_clouds_on_one_host_keep_apart() {
    require_privileges!();
    let tag = format!("two{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let host = format!("{tag}-host");
    sh(&["ip", "netns", "add", &host]);
    sh(&["ip", "-n", &host, "link", "set", "lo", "up"]);
    let a = Cloud::start_in(&tag, &host, &[], "");
    let mut b = Cloud::start_in(
        &tag,
        &host,
        &[
            (
                "floating_range = \"172.24.4.0/24\"",
                "floating_range = \"172.24.5.0/24\"",
            ),
            (
                "public_gateway = \"172.24.4.1\"",
                "public_gateway = \"172.24.5.1\"",
            ),
            (
                "external_bridge = \"br-ex\"",
                "external_bridge = \"br-ex2\"",
            ),
        ],
        "",
    );
    assert!(!a.ns_prefix.is_empty() && !b.ns_prefix.is_empty());
    assert_ne!(
        a.ns_prefix, b.ns_prefix,
        "each state directory names its namespaces"
    );
    let vm_a = private_instance(&a, "vmA");
    let vm_b = private_instance(&b, "vmB");
    a.converged(SystemTime::UNIX_EPOCH, 1);
    b.converged(SystemTime::UNIX_EPOCH, 1);
    let (ns_a, ns_b) = (a.cloud_namespaces(), b.cloud_namespaces());
    assert_eq!(ns_a.len(), 2, "router1 and private's DHCP: {ns_a:?}");
    assert_eq!(ns_b.len(), 2, "router1 and private's DHCP: {ns_b:?}");
    instance_traffic(&a, &vm_a);
    instance_traffic(&b, &vm_b);

    for n in 0..3 {
        poke(&a, &vm_a.1, n);
        poke(&b, &vm_b.1, n);
    }
    assert_eq!(a.cloud_namespaces(), ns_a, "cloud A kept its namespaces");
    assert_eq!(b.cloud_namespaces(), ns_b, "cloud B kept its namespaces");
    instance_traffic(&a, &vm_a);
    instance_traffic(&b, &vm_b);

    // A namespace whose /run/netns entry is left but cannot be entered is rebuilt.
    let dhcp_ns = ns_a
        .iter()
        .find(|n| n.contains("qdhcp-"))
        .expect("a DHCP namespace")
        .clone();
    sh(&["ip", "netns", "del", &dhcp_ns]);
    std::fs::write(Path::new("/run/netns").join(&dhcp_ns), b"").expect("stale entry");
    poke(&a, &vm_a.1, 10);
    sh(&["ip", "-n", &dhcp_ns, "link", "show", "dev", "lo"]);
    instance_traffic(&a, &vm_a);

    // One cloud's purge takes its own, and nothing of the other's.
    b.server.kill9();
    let out = b.server.onestack(&["down", "--purge-network"]);
    assert!(
        out.status.success(),
        "purge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(b.cloud_namespaces().is_empty(), "B's namespaces are gone");
    assert!(b.master_of(&tap(&vm_b.1)).is_none(), "B's tap is released");
    assert_eq!(a.cloud_namespaces(), ns_a, "A's namespaces are untouched");
    instance_traffic(&a, &vm_a);
    poke(&a, &vm_a.1, 11);
    instance_traffic(&a, &vm_a);
}
/// A router's extra routes set over the API reach its namespace's routing table,
/// and `routes: null` takes them out again.
#[test]
fn router_extra_routes_reach_the_router_namespace() {
    require_privileges!();
    let cloud = Cloud::start();
    cloud.routed_network("xr");
    let routers = cloud.ok(Method::GET, "/routers?name=xr-router", None, 200);
    let router = id(&routers["routers"][0]);
    let ns = format!("{}-qrouter-{router}", cloud.tag);
    let table = || {
        Command::new("ip")
            .args(["-n", &ns, "-4", "route", "show", "proto", "static"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let want = "192.168.77.0/24 via 10.20.0.50";
    cloud.ok(
        Method::PUT,
        &format!("/routers/{router}"),
        Some(json!({"router": {"routes": [
            {"destination": "192.168.77.0/24", "nexthop": "10.20.0.50"}]}})),
        200,
    );
    assert!(
        eventually(CONVERGE, || table().contains(want)),
        "the route never reached {ns}: {}\n{}",
        table(),
        cloud.server.log()
    );
    cloud.ok(
        Method::PUT,
        &format!("/routers/{router}"),
        Some(json!({"router": {"routes": null}})),
        200,
    );
    assert!(
        eventually(CONVERGE, || !table().contains("192.168.77.0/24")),
        "the route stayed in {ns}: {}",
        table()
    );
    assert!(
        table().contains("default via"),
        "the gateway route stays: {}",
        table()
    );
}
