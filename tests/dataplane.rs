//! Privileged dataplane tests with real traffic. Each test builds a whole fake host
//! inside network namespaces it creates ("host", instances), converges hand-made
//! plans into it and checks DHCP, security groups, SNAT, floating IPs and their
//! port forwardings, the metadata service on 169.254.169.254, restart and
//! idempotence with real packets. The traffic helpers (a DHCP client, ping, TCP)
//! are in `tests/common/netns.rs` and run on threads that entered the instance's
//! namespace, so no DHCP client or ping binary is needed. Tests skip loudly unless
//! root with `ip`, `nft` and `dnsmasq` installed. Everything is removed by a Drop
//! guard.

#[macro_use]
#[path = "common/netns.rs"]
mod netns;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netns::*;
use onestack::compute::metadata::InstanceMetadata;
use onestack::dataplane::metadata::{MetadataReply, MetadataResolver};
use onestack::dataplane::plan::*;
use onestack::dataplane::route_watch::RouteEvents;
use onestack::dataplane::{ConvergeReport, Dataplane, DataplaneConfig, Owner};

/// One fake host: a unique namespace prefix, the host namespace, a state dir, and
/// the dataplane. Dropping it removes every namespace and process of the test.
struct Env {
    tag: String,
    host: String,
    state: tempfile::TempDir,
    dp: Dataplane,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new() -> Env {
        let tag = format!("ost{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let host = format!("{tag}-host");
        sh(&["ip", "netns", "add", &host]);
        sh(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        let state = tempfile::tempdir().expect("tempdir");
        let dp = Dataplane::new(DataplaneConfig {
            host_netns: Some(host.clone()),
            namespace_prefix: format!("{tag}-"),
            state_dir: state.path().to_path_buf(),
            // The installed cloud's names: tables `onestack`, alias `onestack`.
            owner: Owner::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Env {
            tag,
            host,
            state,
            dp,
            rt,
        }
    }

    fn converge(&self, plan: &HostPlan) -> ConvergeReport {
        self.rt.block_on(self.dp.converge(plan))
    }

    fn converge_ok(&self, plan: &HostPlan) -> ConvergeReport {
        let r = self.converge(plan);
        assert!(r.errors.is_empty(), "converge errors: {:#?}", r.errors);
        r
    }

    /// An "instance": a namespace whose eth0 is a veth, the host end named as the
    /// port's tap, the way a VM's tap is plugged.
    fn instance(&self, name: &str, port: &PortPlan) -> String {
        let ns = format!("{}-{name}", self.tag);
        sh(&["ip", "netns", "add", &ns]);
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        sh(&[
            "ip", "-n", &self.host, "link", "add", &port.tap, "type", "veth", "peer", "name",
            "eth0", "netns", &ns,
        ]);
        sh(&[
            "ip", "-n", &ns, "link", "set", "eth0", "address", &port.mac, "up",
        ]);
        ns
    }

    fn host_ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.host];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip -d -j link` of the host without the ever-moving bridge timers.
    fn host_links(&self) -> serde_json::Value {
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.retain(|k, _| !k.ends_with("_timer"));
                    m.values_mut().for_each(strip);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut v =
            serde_json::from_str(&self.host_ip(&["-d", "-j", "link", "show"])).expect("json");
        strip(&mut v);
        v
    }

    fn our_namespaces(&self) -> Vec<String> {
        std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&format!("{}-q", self.tag)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // dnsmasq first (DHCP and router advertisements, by our pid files, checked
        // against our state dir), then every namespace this test created.
        let dirs = ["dhcp", "ra"].map(|d| self.state.path().join(d));
        let entries = dirs.iter().flat_map(std::fs::read_dir).flatten().flatten();
        for e in entries {
            let Ok(pid) = std::fs::read_to_string(e.path().join("pid")) else {
                continue;
            };
            let pid = pid.trim();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ours =
                String::from_utf8_lossy(&cmdline).contains(&*self.state.path().to_string_lossy());
            if ours {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        for e in std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.tag) {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
            }
        }
    }
}

// ------------------------------------------------------------------ the plans

const NET: &str = "5e0c1a2b-0000-4000-8000-000000000001";
const EXT: &str = "5e0c1a2b-0000-4000-8000-0000000000ee";
const ROUTER: &str = "77aa0000-0000-4000-8000-000000000001";
const SG: &str = "5c000000-0000-4000-8000-000000000001";
const FIP: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 20);
const ROUTER_GW: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 10);
const HOST_EXT: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 1);

fn port(n: u8, ip: Ipv4Addr) -> PortPlan {
    let id = format!("0b0b{n:04x}-0000-4000-8000-00000000000{n}");
    PortPlan {
        tap: tap_name(&id),
        id,
        bridge: bridge_name(NET),
        mac: format!("fa:16:3e:00:00:{n:02x}"),
        ips: vec![ip],
        ips6: vec![],
        admin_state_up: true,
        port_security: true,
        security_groups: vec![SG.into()],
        allowed_address_pairs: vec![],
    }
}

fn vm1() -> PortPlan {
    port(1, Ipv4Addr::new(10, 0, 0, 5))
}

fn vm2() -> PortPlan {
    port(2, Ipv4Addr::new(10, 0, 0, 6))
}

fn sg_rule(id: &str, dir: &str, proto: Option<&str>, port: Option<u16>) -> RulePlan {
    RulePlan {
        id: id.into(),
        direction: dir.into(),
        ethertype: "IPv4".into(),
        protocol: proto.map(String::from),
        port_range_min: port,
        port_range_max: port,
        remote_ip_prefix: Some("0.0.0.0/0".into()),
        remote_group_id: None,
    }
}

/// One tenant network with DHCP, two instance ports, a router with SNAT and a
/// floating IP for vm1, and a group that opens TCP 80 (and ICMP when `icmp`).
fn plan(icmp: bool) -> HostPlan {
    let ports = vec![vm1(), vm2()];
    let mut rules = vec![
        sg_rule("eg-any", "egress", None, None),
        sg_rule("in-http", "ingress", Some("tcp"), Some(80)),
    ];
    if icmp {
        rules.push(sg_rule("in-icmp", "ingress", Some("icmp"), None));
    }
    let hosts = ports
        .iter()
        .map(|p| DhcpHost {
            mac: p.mac.clone(),
            ip: p.ips[0],
            hostname: format!("vm-{}", &p.id[..8]),
        })
        .collect();
    let dhcp_port = "d0d00000-0000-4000-8000-000000000001";
    HostPlan {
        external: Some(ExternalPlan {
            network_id: EXT.into(),
            bridge: "br-ex".into(),
            host_address: Some(format!("{HOST_EXT}/24")),
            cidr: "172.24.4.0/24".into(),
            masquerade: true,
            host_address6: None,
            routes6: vec![],
        }),
        networks: vec![
            NetworkPlan {
                id: NET.into(),
                bridge: bridge_name(NET),
                mtu: 1450,
                admin_state_up: true,
                dhcp: Some(DhcpPlan {
                    namespace: format!("qdhcp-{NET}"),
                    port_id: dhcp_port.into(),
                    mac: "fa:16:3e:00:00:d0".into(),
                    addresses: vec!["10.0.0.2/24".into()],
                    subnets: vec![DhcpSubnet {
                        subnet_id: "5b000000-0000-4000-8000-000000000001".into(),
                        cidr: "10.0.0.0/24".into(),
                        gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
                        dns_servers: vec![],
                        host_routes: vec![],
                        lease_seconds: 600,
                        mtu: 1450,
                    }],
                    hosts,
                    subnets6: vec![],
                    hosts6: vec![],
                }),
            },
            external_network(),
        ],
        routers: vec![RouterPlan {
            id: ROUTER.into(),
            namespace: format!("qrouter-{ROUTER}"),
            interfaces: vec![RouterInterface {
                port_id: "a1a10000-0000-4000-8000-000000000001".into(),
                bridge: bridge_name(NET),
                mac: "fa:16:3e:00:00:a1".into(),
                address: "10.0.0.1/24".into(),
                ra_mode: None,
                dns_servers: vec![],
            }],
            gateway: Some(RouterGateway {
                port_id: "9a9a0000-0000-4000-8000-000000000001".into(),
                bridge: "br-ex".into(),
                mac: "fa:16:3e:00:00:9a".into(),
                address: format!("{ROUTER_GW}/24"),
                next_hop: Some(HOST_EXT),
                snat: true,
                internal_cidrs: vec!["10.0.0.0/24".into()],
                address6: None,
                next_hop6: None,
            }),
            floating_ips: vec![FloatingIpPlan {
                floating_ip: FIP,
                fixed_ip: Ipv4Addr::new(10, 0, 0, 5),
            }],
            routes: vec![],
            port_forwardings: vec![],
        }],
        ports,
        security_groups: vec![SecurityGroupPlan {
            id: SG.into(),
            rules,
            member_ips: vec![Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)],
            member_ips6: vec![],
        }],
    }
}

const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(5);

/// Both instances lease their planned addresses, with the planned router and MTU.
fn lease_both(env: &Env, a: &str, b: &str) {
    for (ns, p) in [(a, vm1()), (b, vm2())] {
        let lease = dhcp(ns, &p.mac).unwrap_or_else(|e| panic!("DHCP for {ns}: {e}"));
        assert_eq!(lease.ip, p.ips[0], "{ns} got the planned address");
        assert_eq!(lease.prefix, 24);
        assert_eq!(lease.router, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(lease.mtu, Some(1450));
    }
    let _ = env;
}

/// Outbound through SNAT (the outside sees the router's address, or the floating IP
/// for the instance that has one) and inbound through the floating IP.
fn check_router(env: &Env, with_fip: &str, without_fip: &str) {
    let seen = tcp_peer(without_fip, HOST_EXT, 8080, LONG).expect("instance reaches the outside");
    assert_eq!(
        seen,
        ROUTER_GW.to_string(),
        "outside sees the router's SNAT address"
    );
    let seen = tcp_peer(with_fip, HOST_EXT, 8080, LONG).expect("instance reaches the outside");
    assert_eq!(seen, FIP.to_string(), "outside sees the floating IP");
    assert!(ping(&env.host, FIP, LONG), "outside pings the floating IP");
    let seen = tcp_peer(&env.host, FIP, 80, LONG).expect("outside reaches the floating IP");
    assert_eq!(seen, HOST_EXT.to_string(), "instance sees the real client");
}

// ---------------------------------------------------------------------- tests

#[test]
fn dhcp_and_security_groups_filter_real_traffic() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    env.converge_ok(&plan(false));
    lease_both(&env, &a, &b);
    serve_peer_address(&b, 80);
    serve_peer_address(&b, 81);
    let vm2_ip = vm2().ips[0];
    let seen = tcp_peer(&a, vm2_ip, 80, LONG).expect("TCP 80 is open in the group");
    assert_eq!(seen, vm1().ips[0].to_string());
    assert_eq!(
        tcp_peer(&a, vm2_ip, 81, SHORT),
        Err(std::io::ErrorKind::TimedOut),
        "TCP 81 (listening, not in the group) is dropped"
    );
    assert!(!ping(&a, vm2_ip, SHORT), "ICMP is dropped without a rule");

    env.converge_ok(&plan(true));
    assert!(
        ping(&a, vm2_ip, LONG),
        "ICMP passes once the group allows it"
    );
    assert!(ping(&b, vm1().ips[0], LONG), "both ways");

    // Anti-spoofing: from an address that is not its port's, vm1 reaches nobody;
    // back on its own address it does again.
    sh(&["ip", "-n", &a, "addr", "flush", "dev", "eth0"]);
    sh(&["ip", "-n", &a, "addr", "add", "10.0.0.99/24", "dev", "eth0"]);
    assert!(!ping(&a, vm2_ip, SHORT), "a spoofed source is dropped");
    sh(&["ip", "-n", &a, "addr", "flush", "dev", "eth0"]);
    sh(&["ip", "-n", &a, "addr", "add", "10.0.0.5/24", "dev", "eth0"]);
    assert!(
        eventually(LONG, || ping(&a, vm2_ip, SHORT)),
        "own address passes again"
    );
}

#[test]
fn router_snat_floating_ip_restart_and_idempotence() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    let full = plan(true);
    env.converge_ok(&full);
    lease_both(&env, &a, &b);
    serve_peer_address(&env.host, 8080);
    serve_peer_address(&a, 80);
    check_router(&env, &a, &b);

    // Idempotence: a second converge issues no changing command and the host's
    // links and ruleset are byte-for-byte the same.
    let links_before = env.host_links();
    let nft_before = sh(&["ip", "netns", "exec", &env.host, "nft", "list", "ruleset"]);
    let again = env.converge_ok(&full);
    assert_eq!(again.applied, 0, "second converge changed nothing");
    assert_eq!(links_before, env.host_links());
    assert_eq!(
        nft_before,
        sh(&["ip", "netns", "exec", &env.host, "nft", "list", "ruleset"])
    );

    // Restart: wreck the dataplane by hand, converge, same traffic, same addresses.
    env.host_ip(&["link", "del", "br-ex"]);
    env.host_ip(&["link", "del", &bridge_name(NET)]);
    for ns in env.our_namespaces() {
        sh(&["ip", "netns", "del", &ns]);
    }
    sh(&[
        "ip", "netns", "exec", &env.host, "nft", "flush", "table", "bridge", "onestack",
    ]);
    sh(&["ip", "-n", &a, "addr", "flush", "dev", "eth0"]);
    let report = env.converge_ok(&full);
    assert!(report.applied > 0);
    lease_both(&env, &a, &b);
    assert!(
        eventually(LONG, || ping(&a, vm2().ips[0], SHORT)),
        "east-west after restart"
    );
    check_router(&env, &a, &b);
    assert_eq!(
        env.converge_ok(&full).applied,
        0,
        "converged state is stable"
    );
}

const FIP2: Ipv4Addr = Ipv4Addr::new(172, 24, 4, 30);

/// `plan(false)` with TCP 22 and 30-31 open in the group and, when `forward`, a
/// floating IP that only carries port forwardings to vm2: 2222 to 22, and the
/// shifted range 8000-8001 to 30-31.
fn plan_pf(forward: bool) -> HostPlan {
    let mut p = plan(false);
    // The fake host's masquerade of the external range would also rewrite the
    // bridged, br_netfilter-tracked packets on the tenant bridge (to the host's
    // 172.24.4.1), hiding which source address vm2 really sees.
    if let Some(e) = p.external.as_mut() {
        e.masquerade = false;
    }
    let rules = &mut p.security_groups[0].rules;
    rules.push(sg_rule("in-ssh", "ingress", Some("tcp"), Some(22)));
    let mut range = sg_rule("in-30-31", "ingress", Some("tcp"), Some(30));
    range.port_range_max = Some(31);
    rules.push(range);
    if forward {
        let vm = vm2().ips[0];
        p.routers[0].port_forwardings = vec![
            PortForwardPlan {
                floating_ip: FIP2,
                protocol: "tcp".into(),
                external: (2222, 2222),
                internal_ip: vm,
                internal: (22, 22),
            },
            PortForwardPlan {
                floating_ip: FIP2,
                protocol: "tcp".into(),
                external: (8000, 8001),
                internal_ip: vm,
                internal: (30, 31),
            },
        ];
    }
    p
}

#[test]
fn port_forwarding_reaches_the_instance_and_goes_with_the_rule() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    let with = plan_pf(true);
    env.converge_ok(&with);
    lease_both(&env, &a, &b);
    serve_peer_address(&b, 22);
    serve_peer_address(&b, 31);
    let check = |what: &str| {
        let seen = tcp_peer(&env.host, FIP2, 2222, LONG)
            .unwrap_or_else(|e| panic!("{what}: outside reaches vm2:22 through FIP2:2222: {e:?}"));
        assert_eq!(
            seen,
            HOST_EXT.to_string(),
            "{what}: vm2 sees the real client"
        );
        let seen = tcp_peer(&env.host, FIP2, 8001, LONG)
            .unwrap_or_else(|e| panic!("{what}: FIP2:8001 reaches vm2:31: {e:?}"));
        assert_eq!(seen, HOST_EXT.to_string());
    };
    check("first converge");
    // Only the forwarded ports: FIP2:22 ends at the router itself (refused), and
    // FIP2:8000 goes to vm2:30 where nothing listens.
    assert!(tcp_peer(&env.host, FIP2, 22, SHORT).is_err());
    assert_eq!(
        tcp_peer(&env.host, FIP2, 8000, SHORT),
        Err(std::io::ErrorKind::ConnectionRefused),
        "8000 maps to 30, not to 31"
    );
    // Hairpin: vm1, behind the same router, reaches the forwarding too.
    let seen = tcp_peer(&a, FIP2, 2222, LONG).expect("hairpin through the forwarding");
    assert_eq!(
        seen,
        ROUTER_GW.to_string(),
        "hairpin is SNATed to the router"
    );
    // vm2's own outbound traffic still leaves through the router's SNAT.
    serve_peer_address(&env.host, 8080);
    let seen = tcp_peer(&b, HOST_EXT, 8080, LONG).expect("vm2 reaches the outside");
    assert_eq!(seen, ROUTER_GW.to_string());

    // Idempotent: a second converge changes nothing.
    assert_eq!(
        env.converge_ok(&with).applied,
        0,
        "second converge changed nothing"
    );

    // The router namespace lost (a reboot): the converge rebuilds the forwarding.
    for ns in env
        .our_namespaces()
        .iter()
        .filter(|n| n.contains("qrouter"))
    {
        sh(&["ip", "netns", "del", ns]);
    }
    // The kernel dismantles a deleted namespace asynchronously.
    assert!(
        eventually(LONG, || tcp_peer(&env.host, FIP2, 2222, SHORT).is_err()),
        "gone with the router"
    );
    assert!(env.converge_ok(&with).applied > 0);
    assert!(
        eventually(LONG, || tcp_peer(&env.host, FIP2, 2222, SHORT).is_ok()),
        "forwarding rebuilt"
    );
    check("after the rebuild");

    // The forwarding deleted: FIP2 no longer answers and the rule is gone.
    env.converge_ok(&plan_pf(false));
    assert!(
        tcp_peer(&env.host, FIP2, 2222, SHORT).is_err(),
        "no forwarding after it was deleted"
    );
    let router_ns = env
        .our_namespaces()
        .into_iter()
        .find(|n| n.contains("qrouter"))
        .expect("router namespace");
    let nat = sh(&["ip", "netns", "exec", &router_ns, "nft", "list", "ruleset"]);
    assert!(!nat.contains("2222"), "no port forwarding rule left: {nat}");
    assert!(!nat.contains(&FIP2.to_string()), "{nat}");
    let addrs = sh(&["ip", "-n", &router_ns, "-j", "addr", "show"]);
    assert!(!addrs.contains(&FIP2.to_string()), "FIP2 left the qg- leg");
}

#[test]
fn a_new_floating_ip_is_announced_by_gratuitous_arp() {
    require_privileges!();
    let env = Env::new();
    let mut without = plan(true);
    without.routers[0].floating_ips.clear();
    env.converge_ok(&without);
    // The outside still remembers the floating IP at the MAC it had before (another
    // router, an earlier association).
    let fip = FIP.to_string();
    let stale = "02:00:00:00:00:99";
    env.host_ip(&[
        "neigh", "replace", &fip, "lladdr", stale, "dev", "br-ex", "nud", "stale",
    ]);
    // Past the neighbour table's locktime (1 s), so an update is allowed at all.
    std::thread::sleep(Duration::from_millis(1100));
    env.converge_ok(&plan(true));
    let gateway_mac = "fa:16:3e:00:00:9a";
    assert!(
        eventually(LONG, || env
            .host_ip(&["neigh", "show", &fip, "dev", "br-ex"])
            .contains(gateway_mac)),
        "the outside learned the floating IP at the router's MAC without sending to it: {}",
        env.host_ip(&["neigh", "show", &fip, "dev", "br-ex"])
    );
}

#[test]
fn external_masquerade_leaves_by_the_uplink_and_spares_bridged_traffic() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    // The host's uplink: up0 (198.51.100.2) to a "wan" namespace, the default route.
    let wan = format!("{}-wan", env.tag);
    sh(&["ip", "netns", "add", &wan]);
    sh(&["ip", "-n", &wan, "link", "set", "lo", "up"]);
    env.host_ip(&[
        "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", &wan,
    ]);
    env.host_ip(&["addr", "add", "198.51.100.2/24", "dev", "up0"]);
    env.host_ip(&["link", "set", "up0", "up"]);
    sh(&[
        "ip",
        "-n",
        &wan,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", &wan, "link", "set", "eth0", "up"]);
    env.host_ip(&["route", "add", "default", "via", "198.51.100.1"]);
    env.converge_ok(&plan(true));
    // A laptop on the external segment, through a NIC that is a port of br-ex (a
    // host-only adapter taken over by the bridge).
    let laptop = format!("{}-laptop", env.tag);
    sh(&["ip", "netns", "add", &laptop]);
    env.host_ip(&[
        "link", "add", "lap0", "type", "veth", "peer", "name", "eth0", "netns", &laptop,
    ]);
    env.host_ip(&["link", "set", "lap0", "master", "br-ex", "up"]);
    sh(&[
        "ip",
        "-n",
        &laptop,
        "addr",
        "add",
        "172.24.4.50/24",
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", &laptop, "link", "set", "eth0", "up"]);
    lease_both(&env, &a, &b);
    serve_peer_address(&wan, 8080);
    serve_peer_address(&laptop, 8080);

    let wan_peer = Ipv4Addr::new(198, 51, 100, 1);
    assert_eq!(
        tcp_peer(&a, wan_peer, 8080, LONG).as_deref(),
        Ok("198.51.100.2"),
        "the outside sees the host's uplink address"
    );
    assert_eq!(
        tcp_peer(&a, Ipv4Addr::new(172, 24, 4, 50), 8080, LONG).as_deref(),
        Ok(FIP.to_string().as_str()),
        "the laptop on the external segment sees the floating IP, not a masquerade"
    );
    assert_eq!(
        tcp_peer(&b, Ipv4Addr::new(172, 24, 4, 50), 8080, LONG).as_deref(),
        Ok(ROUTER_GW.to_string().as_str()),
        "and the router's SNAT address for an instance without one"
    );
    let table = sh(&[
        "ip", "netns", "exec", &env.host, "nft", "list", "table", "ip", "onestack",
    ]);
    assert!(table.contains("oifname \"up0\" masquerade"), "{table}");
}

/// Whether `events` reports a batch that may change the default routes within `wait`.
async fn default_route_news(events: &mut RouteEvents, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Ok(true)) => return true,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => panic!("route events: {e}"),
            Err(_) => return false,
        }
    }
}

/// The route-change subscription behind the masquerade's route watcher: opened in
/// the fake host, it reports a default route coming, a device going down (which
/// drops its routes without a route message), and neither a prefix route nor a
/// default route of another namespace.
#[test]
fn route_events_see_default_routes_of_their_namespace_only() {
    require_privileges!();
    let env = Env::new();
    let other = format!("{}-other", env.tag);
    sh(&["ip", "netns", "add", &other]);
    env.host_ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    // No IPv6 on the uplink: its address and router-solicitation work would send
    // link messages of its own after the subscription opens.
    for dev in ["up0", "up0p"] {
        let key = format!("net.ipv6.conf.{dev}.disable_ipv6=1");
        sh(&["ip", "netns", "exec", &env.host, "sysctl", "-qw", &key]);
    }
    env.host_ip(&["addr", "add", "198.51.100.2/24", "dev", "up0"]);
    env.host_ip(&["link", "set", "up0p", "up"]);
    env.host_ip(&["link", "set", "up0", "up"]);
    // The kernel reports the carrier and operational state later (linkwatch, up to
    // a second, more under load): subscribe only once the uplink is UP, or that
    // report would arrive as news during the quiet checks below.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ["up0", "up0p"].iter().any(|dev| {
        !env.host_ip(&["-j", "link", "show", dev])
            .contains("\"operstate\":\"UP\"")
    }) {
        assert!(std::time::Instant::now() < deadline, "up0 never came UP");
        std::thread::sleep(Duration::from_millis(50));
    }
    let quiet = Duration::from_millis(500);
    let soon = Duration::from_secs(2);
    env.rt.block_on(async {
        let mut events = RouteEvents::open(Some(&env.host))
            .await
            .expect("subscribed in the fake host");
        env.host_ip(&["route", "add", "10.9.0.0/16", "via", "198.51.100.1"]);
        assert!(
            !default_route_news(&mut events, quiet).await,
            "a prefix route is no news"
        );
        for args in [
            &["link", "add", "d0", "type", "veth", "peer", "name", "d0p"][..],
            &["addr", "add", "192.0.2.2/24", "dev", "d0"],
            &["link", "set", "d0p", "up"],
            &["link", "set", "d0", "up"],
            &["route", "add", "default", "via", "192.0.2.1"],
        ] {
            let mut argv = vec!["ip", "-n", other.as_str()];
            argv.extend_from_slice(args);
            sh(&argv);
        }
        assert!(
            !default_route_news(&mut events, quiet).await,
            "another namespace's routes are not seen"
        );
        env.host_ip(&["route", "add", "default", "via", "198.51.100.1"]);
        assert!(
            default_route_news(&mut events, soon).await,
            "a new default route is seen"
        );
        env.host_ip(&["link", "set", "up0", "down"]);
        assert!(
            default_route_news(&mut events, soon).await,
            "the uplink going down is seen"
        );
    });
    assert_eq!(
        env.host_ip(&["-4", "route", "show", "default"]).trim(),
        "",
        "the kernel dropped the default route with its device"
    );
}

#[test]
fn plan_changes_remove_what_is_gone_and_teardown_leaves_nothing() {
    require_privileges!();
    let env = Env::new();
    let _a = env.instance("vm1", &vm1());
    env.converge_ok(&plan(true));
    assert_eq!(env.our_namespaces().len(), 2, "router and dhcp namespaces");

    // Drop the router and vm2: its namespace and tap go, the adopted veth stays.
    let mut smaller = plan(true);
    smaller.routers.clear();
    smaller.ports.retain(|p| p.id == vm1().id);
    env.converge_ok(&smaller);
    assert_eq!(env.our_namespaces().len(), 1);
    let links = env.host_ip(&["-j", "link", "show"]);
    assert!(
        !links.contains(&vm2().tap),
        "created tap of a removed port is deleted"
    );
    assert!(links.contains(&vm1().tap));

    let errors = env.rt.block_on(env.dp.teardown());
    assert!(errors.is_empty(), "teardown errors: {errors:#?}");
    assert!(env.our_namespaces().is_empty());
    let links = env.host_ip(&["-d", "-j", "link", "show"]);
    assert!(
        !links.contains("\"onestack"),
        "no owned or adopted device left: {links}"
    );
    assert!(
        links.contains(&vm1().tap),
        "the instance's own veth is left alone"
    );
    let ruleset = sh(&["ip", "netns", "exec", &env.host, "nft", "list", "ruleset"]);
    assert!(!ruleset.contains("onestack"), "no table left: {ruleset}");
    let dhcp_dir = env.state.path().join("dhcp");
    assert!(
        std::fs::read_dir(&dhcp_dir)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    );
}

#[test]
fn converge_collects_errors_and_keeps_going() {
    require_privileges!();
    let env = Env::new();
    let mut p = plan(true);
    // A port on a bridge that does not exist fails; everything else still converges.
    let mut bad = vm2();
    bad.bridge = "brqmissing".into();
    p.ports = vec![vm1(), bad];
    p.security_groups[0]
        .rules
        .push(sg_rule("bogus", "ingress", Some("nonsense"), None));
    let report = env.converge(&p);
    assert!(
        report.errors.iter().any(|e| e.contains(&vm2().id)),
        "{:#?}",
        report.errors
    );
    assert!(
        report.errors.iter().any(|e| e.contains("bogus")),
        "{:#?}",
        report.errors
    );
    assert_eq!(env.our_namespaces().len(), 2, "router and dhcp still built");
}

/// Rebuild time of 50 networks / 200 ports (4 per network), each with DHCP, from
/// scratch and again when already converged. Run with `--run-ignored only`.
#[test]
#[ignore = "benchmark: cargo nextest run -E 'binary(dataplane)' --run-ignored only --no-capture"]
fn bench_converge_50_networks_200_ports() {
    require_privileges!();
    let env = Env::new();
    let mut plan = HostPlan::default();
    for n in 0..50u32 {
        let net = format!("{n:08x}-1111-4000-8000-000000000000");
        let hosts: Vec<DhcpHost> = (0..4u32)
            .map(|i| DhcpHost {
                mac: format!("fa:16:3e:01:{n:02x}:{i:02x}"),
                ip: Ipv4Addr::new(10, n as u8, 0, 10 + i as u8),
                hostname: format!("h{n}-{i}"),
            })
            .collect();
        for h in &hosts {
            let id = format!(
                "{n:04x}{:04x}-2222-4000-8000-000000000000",
                h.ip.octets()[3]
            );
            plan.ports.push(PortPlan {
                tap: tap_name(&id),
                id,
                bridge: bridge_name(&net),
                mac: h.mac.clone(),
                ips: vec![h.ip],
                ips6: vec![],
                admin_state_up: true,
                port_security: true,
                security_groups: vec![SG.into()],
                allowed_address_pairs: vec![],
            });
        }
        plan.networks.push(NetworkPlan {
            id: net.clone(),
            bridge: bridge_name(&net),
            mtu: 1450,
            admin_state_up: true,
            dhcp: Some(DhcpPlan {
                namespace: format!("qdhcp-{net}"),
                port_id: format!("{n:08x}-3333-4000-8000-000000000000"),
                mac: format!("fa:16:3e:02:{n:02x}:02"),
                addresses: vec![format!("10.{n}.0.2/24")],
                subnets: vec![DhcpSubnet {
                    subnet_id: net.clone(),
                    cidr: format!("10.{n}.0.0/24"),
                    gateway: Some(Ipv4Addr::new(10, n as u8, 0, 1)),
                    dns_servers: vec![],
                    host_routes: vec![],
                    lease_seconds: 600,
                    mtu: 1450,
                }],
                hosts,
                subnets6: vec![],
                hosts6: vec![],
            }),
        });
    }
    plan.security_groups = vec![SecurityGroupPlan {
        id: SG.into(),
        rules: vec![
            sg_rule("eg", "egress", None, None),
            sg_rule("ssh", "ingress", Some("tcp"), Some(22)),
        ],
        member_ips: plan.ports.iter().map(|p| p.ips[0]).collect(),
        member_ips6: vec![],
    }];
    let t = Instant::now();
    let first = env.converge_ok(&plan);
    let cold = t.elapsed();
    let t = Instant::now();
    let second = env.converge_ok(&plan);
    let warm = t.elapsed();
    eprintln!(
        "BENCH converge 50 networks / 200 ports: cold {cold:?} ({} changes), converged {warm:?} ({} changes)",
        first.applied, second.applied
    );
    assert_eq!(second.applied, 0);
}

// ------------------------------------------------------------------- metadata

/// A resolver that knows one instance, by its fixed IP on `NET`, and answers with
/// onestack's own metadata tree for it.
struct OneInstance {
    ip: Ipv4Addr,
    md: InstanceMetadata,
}

#[async_trait::async_trait]
impl MetadataResolver for OneInstance {
    async fn lookup(&self, network_id: &str, source: IpAddr, path: &str) -> MetadataReply {
        if network_id == NET && source == IpAddr::V4(self.ip) {
            self.md.lookup(path)
        } else {
            MetadataReply::NotFound
        }
    }
}

fn vm1_metadata() -> InstanceMetadata {
    InstanceMetadata {
        uuid: "a1b2c3d4-0000-4000-8000-000000000001".into(),
        name: "vm1".into(),
        hostname: "vm1".into(),
        project_id: "p1".into(),
        availability_zone: "nova".into(),
        launch_index: 0,
        public_keys: vec![("k".into(), "ssh-ed25519 AAAA test".into())],
        meta: Default::default(),
        user_data: None,
        links: vec![],
        dns_servers: vec![],
        instance_type: "m1.tiny".into(),
        ami_id: "img".into(),
        reservation_id: "r-1".into(),
        security_groups: vec!["default".into()],
    }
}

/// `curl` from inside namespace `ns`: (HTTP status, body).
fn curl_in(ns: &str, url: &str, extra: &[&str]) -> (u16, String) {
    let mut args = vec![
        "ip",
        "netns",
        "exec",
        ns,
        "curl",
        "-s",
        "--max-time",
        "5",
        "-w",
        "\n%{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

const MD_URL: &str = "http://169.254.169.254/openstack/latest/meta_data.json";

/// `n` metadata GETs from `ns`, each on a new connection; the sorted durations.
fn metadata_latencies(ns: &str, n: usize) -> Vec<Duration> {
    in_netns(ns, move || {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let mut s = std::net::TcpStream::connect(("169.254.169.254", 80)).expect("connect");
            s.write_all(
                b"GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
            )
            .expect("send");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read");
            v.push(t.elapsed());
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        }
        v.sort();
        v
    })
}

#[test]
fn metadata_through_the_dhcp_namespace() {
    require_privileges!();
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    let md = vm1_metadata();
    env.dp.set_metadata_resolver(Some(Arc::new(OneInstance {
        ip: vm1().ips[0],
        md: md.clone(),
    })));
    let full = plan(true);
    env.converge_ok(&full);
    let qdhcp = format!("{}-qdhcp-{NET}", env.tag);
    let addrs = sh(&["ip", "-n", &qdhcp, "-4", "addr", "show"]);
    assert!(addrs.contains("169.254.169.254/32"), "{addrs}");

    // The lease carries the metadata route through the DHCP port and the default route.
    let lease = dhcp(&a, &vm1().mac).expect("vm1 lease");
    assert!(
        lease
            .routes
            .contains(&("169.254.169.254/32".into(), Ipv4Addr::new(10, 0, 0, 2))),
        "{lease:?}"
    );
    assert!(
        lease
            .routes
            .contains(&("0.0.0.0/0".into(), Ipv4Addr::new(10, 0, 0, 1))),
        "{lease:?}"
    );
    let routes = sh(&["ip", "-n", &a, "route"]);
    assert!(routes.contains("169.254.169.254 via 10.0.0.2"), "{routes}");
    assert!(routes.contains("default via 10.0.0.1"), "{routes}");
    dhcp(&b, &vm2().mac).expect("vm2 lease");

    let (code, body) = curl_in(&a, MD_URL, &[]);
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("meta_data.json");
    assert_eq!(json["uuid"], md.uuid);
    assert_eq!(json["public_keys"]["k"], "ssh-ed25519 AAAA test");
    let (code, body) = curl_in(
        &a,
        "http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key",
        &[],
    );
    assert_eq!((code, body.as_str()), (200, "ssh-ed25519 AAAA test"));
    // An address the resolver does not know is a 404, whatever its headers claim.
    let spoof = ["-H", "X-Forwarded-For: 10.0.0.5"];
    assert_eq!(curl_in(&b, MD_URL, &spoof).0, 404);

    // A converged dataplane keeps its listener (no change, still answering).
    assert_eq!(env.converge_ok(&full).applied, 0);
    assert_eq!(curl_in(&a, MD_URL, &[]).0, 200);

    let lat = metadata_latencies(&a, 50);
    eprintln!(
        "BENCH metadata GET from an instance namespace: median {:?}, min {:?}, max {:?} (50 requests, new connection each)",
        lat[25], lat[0], lat[49]
    );

    // The DHCP namespace deleted by hand (it lingers, unnamed, while dnsmasq and the
    // old socket hold it): converge builds a new one, whose leg replaces the old
    // one on the bridge, and binds a new listener there.
    sh(&["ip", "netns", "del", &qdhcp]);
    let report = env.converge_ok(&full);
    assert!(report.applied > 0);
    let addrs = sh(&["ip", "-n", &qdhcp, "-4", "addr", "show"]);
    assert!(addrs.contains("169.254.169.254/32"), "{addrs}");
    assert!(
        eventually(LONG, || curl_in(&a, MD_URL, &["--max-time", "1"]).0 == 200),
        "metadata answers again after the namespace is rebuilt"
    );

    // A network without DHCP has no listener left.
    let mut no_dhcp = full.clone();
    no_dhcp.networks[0].dhcp = None;
    env.converge_ok(&no_dhcp);
    assert!(env.rt.block_on(env.dp.metadata_listeners()).is_empty());
    assert_ne!(curl_in(&a, MD_URL, &["--max-time", "1"]).0, 200);
}

// ------------------------------------------------------------------------ IPv6

const PREFIX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0);
const GW6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1);

/// The SLAAC address of a port on `PREFIX6`.
fn slaac(p: &PortPlan) -> Ipv6Addr {
    eui64(PREFIX6, &p.mac).expect("mac")
}

/// `plan(..)` plus a SLAAC subnet fd00:1::/64 on the same network, as Neutron's
/// `--ipv6-ra-mode slaac --ipv6-address-mode slaac`: the router leg carries the
/// gateway fd00:1::1 beside 10.0.0.1 (one port, two addresses), dnsmasq
/// advertises the prefix, the ports hold their EUI-64 addresses. The group is
/// Neutron's default one (egress anything, ingress from the group) when
/// `same_group`, else egress only.
fn plan6(same_group: bool) -> HostPlan {
    plan6_mode(same_group, Ipv6Mode::Slaac)
}

/// The port's address on `PREFIX6` under `mode`: EUI-64, or ::5 / ::6 from IPAM.
fn addr6(p: &PortPlan, mode: Ipv6Mode) -> Ipv6Addr {
    if mode.is_auto_address() {
        slaac(p)
    } else {
        let last = p.ips[0].octets()[3] as u16;
        Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, last)
    }
}

/// `plan6` with the subnet in another address mode; stateful gives the ports
/// fd00:1::5 and ::6 as fixed DHCPv6 leases.
fn plan6_mode(same_group: bool, mode: Ipv6Mode) -> HostPlan {
    let mut p = plan(false);
    for port in &mut p.ports {
        port.ips6 = vec![addr6(port, mode)];
    }
    let hosts6: Vec<Dhcp6Host> = p
        .ports
        .iter()
        .filter(|_| !mode.is_auto_address())
        .map(|port| Dhcp6Host {
            mac: port.mac.clone(),
            ip: port.ips6[0],
            hostname: String::new(),
        })
        .collect();
    let dhcp = p.networks[0].dhcp.as_mut().expect("dhcp");
    dhcp.hosts6 = hosts6;
    let dhcp_v6 = eui64(PREFIX6, &dhcp.mac).expect("mac");
    dhcp.addresses.push(format!("{dhcp_v6}/64"));
    dhcp.subnets6 = vec![Dhcp6Subnet {
        subnet_id: "5b000000-0000-4000-8000-000000000006".into(),
        cidr: "fd00:1::/64".into(),
        address_mode: mode,
        advertise: true,
        dns_servers: vec![],
        lease_seconds: 600,
        mtu: 1450,
    }];
    let leg = p.routers[0].interfaces[0].clone();
    p.routers[0].interfaces.push(RouterInterface {
        address: format!("{GW6}/64"),
        ..leg
    });
    let group = &mut p.security_groups[0];
    group.member_ips6 = p.ports.iter().flat_map(|p| p.ips6.clone()).collect();
    let rule = |id: &str, dir: &str, ethertype: &str, remote: Option<&str>| RulePlan {
        id: id.into(),
        direction: dir.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote.map(String::from),
    };
    group.rules = vec![
        rule("eg4", "egress", "IPv4", None),
        rule("eg6", "egress", "IPv6", None),
    ];
    if same_group {
        group.rules.push(rule("in4", "ingress", "IPv4", Some(SG)));
        group.rules.push(rule("in6", "ingress", "IPv6", Some(SG)));
    }
    p
}

/// Global IPv6 addresses of `eth0` in `ns` that finished duplicate address detection.
fn global6(ns: &str) -> Vec<String> {
    let out = sh(&["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["scope"] == "global" && a.get("tentative").is_none())
        .filter_map(|a| a["local"].as_str().map(String::from))
        .collect()
}

#[test]
fn ipv6_slaac_security_groups_and_router_gateway() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    let started = Instant::now();
    env.converge_ok(&plan6(false));
    // Kick router solicitation now that dnsmasq listens (a real guest boots later).
    for ns in [&a, &b] {
        sh(&["ip", "-n", ns, "link", "set", "eth0", "down"]);
        sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
    }
    for (ns, p) in [(&a, vm1()), (&b, vm2())] {
        let want = slaac(&p).to_string();
        assert!(
            eventually(Duration::from_secs(20), || global6(ns).contains(&want)),
            "{ns} forms {want} from the advertised prefix: {:?}",
            global6(ns)
        );
    }
    eprintln!(
        "BENCH IPv6: converge to SLAAC addresses on both instances in {:?}",
        started.elapsed()
    );
    let qrouter = format!("{}-qrouter-{ROUTER}", env.tag);
    assert!(forwards_ipv6(&qrouter), "the router forwards IPv6");
    let qr = sh(&["ip", "-n", &qrouter, "-6", "addr", "show"]);
    assert!(qr.contains("fd00:1::1/64"), "{qr}");
    let qr4 = sh(&["ip", "-n", &qrouter, "-4", "addr", "show"]);
    assert!(qr4.contains("10.0.0.1/24"), "one leg carries both: {qr4}");

    let (v1, v2) = (slaac(&vm1()), slaac(&vm2()));
    assert!(ping6(&a, GW6, LONG), "the router's IPv6 gateway answers");
    assert!(!ping6(&a, v2, SHORT), "no ingress IPv6 rule: dropped");

    env.converge_ok(&plan6(true));
    assert!(ping6(&a, v2, LONG), "the default group lets its members in");
    assert!(ping6(&b, v1, LONG), "both ways");
    assert_eq!(
        env.converge_ok(&plan6(true)).applied,
        0,
        "converged IPv6 state is stable"
    );

    // Anti-spoofing: from an address that is not its port's, vm1 reaches nobody.
    sh(&[
        "ip",
        "netns",
        "exec",
        &a,
        "sysctl",
        "-q",
        "-w",
        "net.ipv6.conf.eth0.accept_ra=0",
    ]);
    sh(&[
        "ip", "-n", &a, "-6", "addr", "flush", "dev", "eth0", "scope", "global",
    ]);
    sh(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        "fd00:1::99/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    assert!(!ping6(&a, v2, SHORT), "a spoofed IPv6 source is dropped");
    sh(&[
        "ip", "-n", &a, "-6", "addr", "flush", "dev", "eth0", "scope", "global",
    ]);
    let own = format!("{v1}/64");
    sh(&["ip", "-n", &a, "addr", "add", &own, "dev", "eth0", "nodad"]);
    assert!(
        eventually(LONG, || ping6(&a, v2, SHORT)),
        "own address passes again"
    );
    // IPv4 on the same ports still works alongside.
    lease_both(&env, &a, &b);
    assert!(ping(&a, vm2().ips[0], LONG), "IPv4 in the same group");
}

#[test]
fn ipv6_dhcpv6_stateful_hands_out_the_port_address() {
    require_privileges!();
    let env = Env::new();
    let (a, b) = (env.instance("vm1", &vm1()), env.instance("vm2", &vm2()));
    let mode = Ipv6Mode::Dhcpv6Stateful;
    env.converge_ok(&plan6_mode(true, mode));
    let conf = std::fs::read_to_string(env.state.path().join(format!("dhcp/{NET}/dnsmasq.conf")))
        .expect("dnsmasq.conf");
    assert!(conf.contains(",static,64,"), "{conf}");
    for (ns, p) in [(&a, vm1()), (&b, vm2())] {
        let got = dhcp6_solicit(ns, &p.mac).unwrap_or_else(|e| panic!("DHCPv6 for {ns}: {e}"));
        assert_eq!(got, addr6(&p, mode), "{ns} is offered its port's address");
        // A stateful prefix is not for SLAAC: only the leased address may appear.
        let own = format!("{got}/64");
        sh(&["ip", "-n", ns, "addr", "add", &own, "dev", "eth0", "nodad"]);
    }
    assert!(ping6(&a, GW6, LONG), "the router's IPv6 gateway answers");
    assert!(
        ping6(&a, addr6(&vm2(), mode), LONG),
        "same group, both stateful"
    );
    let formed: Vec<String> = global6(&a)
        .into_iter()
        .filter(|x| *x != addr6(&vm1(), mode).to_string())
        .collect();
    assert!(
        formed.is_empty(),
        "no SLAAC address on a stateful subnet: {formed:?}"
    );
}

// ----------------------------------------------- IPv6 router advertisements

/// Networks of the routed IPv6 test: A and B behind one router, C without one.
const NET_A: &str = "6a000001-0000-4000-8000-000000000001";
const NET_B: &str = "6b000002-0000-4000-8000-000000000002";
const NET_C: &str = "6c000003-0000-4000-8000-000000000003";
const ROUTER6: &str = "7e000006-0000-4000-8000-000000000006";

/// The /64 of network `n` (0xa, 0xb, 0xc): fd00:a::/64 ...
fn prefix_of(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, n, 0, 0, 0, 0, 0, 0)
}

/// The instance port on network `net` (`n` as in `prefix_of`), with its SLAAC address.
fn port6(net: &str, n: u16) -> PortPlan {
    let id = format!("0c0c{n:04x}-0000-4000-8000-00000000000{n:x}");
    let mac = format!("fa:16:3e:00:06:{n:02x}");
    PortPlan {
        tap: tap_name(&id),
        id,
        bridge: bridge_name(net),
        ips: vec![],
        ips6: vec![eui64(prefix_of(n), &mac).expect("mac")],
        mac,
        admin_state_up: true,
        port_security: true,
        security_groups: vec![SG.into()],
        allowed_address_pairs: vec![],
    }
}

/// A network with DHCP and one SLAAC subnet, `advertise` as the plan builder sets
/// it (only when no router advertises the subnet).
/// The external network's own entry: `br-ex`, no DHCP.
fn external_network() -> NetworkPlan {
    NetworkPlan {
        id: EXT.into(),
        bridge: "br-ex".into(),
        mtu: 1500,
        admin_state_up: true,
        dhcp: None,
    }
}

fn network6(net: &str, n: u16, advertise: bool) -> NetworkPlan {
    let dhcp_port = format!("d0d0{n:04x}-0000-4000-8000-00000000000{n:x}");
    let mac = format!("fa:16:3e:00:0d:{n:02x}");
    let dhcp_v6 = eui64(prefix_of(n), &mac).expect("mac");
    NetworkPlan {
        id: net.into(),
        bridge: bridge_name(net),
        mtu: 1450,
        admin_state_up: true,
        dhcp: Some(DhcpPlan {
            namespace: format!("qdhcp-{net}"),
            port_id: dhcp_port,
            mac,
            addresses: vec![format!("{dhcp_v6}/64")],
            subnets: vec![],
            hosts: vec![],
            subnets6: vec![Dhcp6Subnet {
                subnet_id: format!("5b00{n:04x}-0000-4000-8000-000000000006"),
                cidr: format!("{}/64", prefix_of(n)),
                address_mode: Ipv6Mode::Slaac,
                advertise,
                dns_servers: vec![],
                lease_seconds: 600,
                mtu: 1450,
            }],
            hosts6: vec![],
        }),
    }
}

/// The router's leg on network `n`: the subnet's gateway `prefix::1`.
fn leg6(net: &str, n: u16, ra_mode: Ipv6Mode) -> RouterInterface {
    RouterInterface {
        port_id: format!("a1a1{n:04x}-0000-4000-8000-00000000000{n:x}"),
        bridge: bridge_name(net),
        mac: format!("fa:16:3e:00:0a:{n:02x}"),
        address: format!("{}1/64", prefix_of(n)),
        ra_mode: Some(ra_mode),
        dns_servers: vec![],
    }
}

/// Neutron's `--ipv6-ra-mode slaac --ipv6-address-mode slaac` subnets on networks
/// A and B, both attached to one router (which advertises them), and one on C
/// that no router serves (its DHCP namespace advertises it, router lifetime 0).
/// One group lets any IPv6 in and out.
fn routed6_plan(mode_b: Ipv6Mode) -> HostPlan {
    let ports = vec![port6(NET_A, 0xa), port6(NET_B, 0xb), port6(NET_C, 0xc)];
    let rule = |id: &str, dir: &str| RulePlan {
        id: id.into(),
        direction: dir.into(),
        ethertype: "IPv6".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
    };
    HostPlan {
        external: None,
        networks: vec![
            network6(NET_A, 0xa, false),
            network6(NET_B, 0xb, false),
            network6(NET_C, 0xc, true),
        ],
        routers: vec![RouterPlan {
            id: ROUTER6.into(),
            namespace: format!("qrouter-{ROUTER6}"),
            interfaces: vec![leg6(NET_A, 0xa, Ipv6Mode::Slaac), leg6(NET_B, 0xb, mode_b)],
            gateway: None,
            floating_ips: vec![],
            routes: vec![],
            port_forwardings: vec![],
        }],
        security_groups: vec![SecurityGroupPlan {
            id: SG.into(),
            rules: vec![rule("eg6", "egress"), rule("in6", "ingress")],
            member_ips: vec![],
            member_ips6: ports.iter().flat_map(|p| p.ips6.clone()).collect(),
        }],
        ports,
    }
}

/// IPv6 default routes of `ns` as (gateway, device, protocol).
fn default6(ns: &str) -> Vec<(String, String, String)> {
    let out = sh(&["ip", "-n", ns, "-6", "-j", "route", "show", "default"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| (s(r, "gateway"), s(r, "dev"), s(r, "protocol")))
        .collect()
}

/// The link-local address of `dev` in `ns`.
fn link_local_of(ns: &str, dev: &str) -> String {
    let out = sh(&["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["scope"] == "link")
        .and_then(|a| a["local"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no link-local address on {dev} in {ns}"))
}

/// The pid of the router's advertising dnsmasq, if its pid file names a live one.
fn ra_pid(env: &Env) -> Option<u32> {
    let pid_file = env.state.path().join(format!("ra/{ROUTER6}/pid"));
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    dnsmasq_alive(pid).then_some(pid)
}

/// Whether `pid` is a live dnsmasq (a zombie has no command line).
fn dnsmasq_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("dnsmasq"))
}

#[test]
fn ipv6_router_advertises_default_route_between_subnets() {
    require_privileges!();
    let env = Env::new();
    let (pa, pb, pc) = (port6(NET_A, 0xa), port6(NET_B, 0xb), port6(NET_C, 0xc));
    let (a, b, c) = (
        env.instance("vma", &pa),
        env.instance("vmb", &pb),
        env.instance("vmc", &pc),
    );
    let started = Instant::now();
    let plan = routed6_plan(Ipv6Mode::Slaac);
    env.converge_ok(&plan);
    // Kick router solicitation now that the advertisers run (a guest boots later).
    for ns in [&a, &b, &c] {
        sh(&["ip", "-n", ns, "link", "set", "eth0", "down"]);
        sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
    }
    let qrouter = format!("{}-qrouter-{ROUTER6}", env.tag);
    for (ns, p, net, n) in [(&a, &pa, NET_A, 0xa), (&b, &pb, NET_B, 0xb)] {
        let want = p.ips6[0].to_string();
        assert!(
            eventually(Duration::from_secs(30), || global6(ns).contains(&want)
                && !default6(ns).is_empty()),
            "{ns} forms {want} and takes a default route from the router: {:?} {:?}",
            global6(ns),
            default6(ns)
        );
        let qr = device_name("qr-", &leg6(net, n, Ipv6Mode::Slaac).port_id);
        let router_ll = link_local_of(&qrouter, &qr);
        assert_eq!(
            default6(ns),
            vec![(router_ll, "eth0".to_string(), "ra".to_string())],
            "{ns}: one default route, via the router's link-local address, learned from its RA"
        );
    }
    eprintln!(
        "BENCH IPv6 RA: converge to SLAAC addresses and default routes on both instances in {:?}",
        started.elapsed()
    );
    assert!(
        ping6(&a, pb.ips6[0], LONG),
        "vm A reaches vm B across the router"
    );
    assert!(ping6(&b, pa.ips6[0], LONG), "and back");

    // No router on C: its DHCP namespace advertises the prefix, but not itself as
    // default router.
    let want = pc.ips6[0].to_string();
    assert!(
        eventually(Duration::from_secs(30), || global6(&c).contains(&want)),
        "{c} forms {want} from the DHCP namespace's advertisement: {:?}",
        global6(&c)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        default6(&c).is_empty(),
        "no router, no default route: {:?}",
        default6(&c)
    );
    assert!(!ping6(&c, pa.ips6[0], SHORT), "C has no route to A");

    // The DHCP namespaces of routed subnets send no advertisements of their own.
    let conf = |net: &str| {
        std::fs::read_to_string(env.state.path().join(format!("dhcp/{net}/dnsmasq.conf")))
            .expect("dnsmasq.conf")
    };
    assert!(!conf(NET_A).contains("ra-param"), "{}", conf(NET_A));
    assert!(!conf(NET_A).contains("enable-ra"), "{}", conf(NET_A));
    assert!(conf(NET_C).contains("ra-param="), "{}", conf(NET_C));
    let ra_conf =
        std::fs::read_to_string(env.state.path().join(format!("ra/{ROUTER6}/dnsmasq.conf")))
            .expect("router dnsmasq.conf");
    assert!(ra_conf.contains("port=0\n"), "{ra_conf}");
    assert!(forwards_ipv6(&qrouter), "the router forwards IPv6");

    // Idempotent: nothing changes and the advertiser keeps running.
    let pid = ra_pid(&env).expect("the router's dnsmasq runs");
    assert_eq!(
        env.converge_ok(&plan).applied,
        0,
        "converged state is stable"
    );
    assert_eq!(ra_pid(&env), Some(pid), "not restarted without a change");

    // A changed RA mode restarts it with the new flags.
    env.converge_ok(&routed6_plan(Ipv6Mode::Dhcpv6Stateless));
    let new_pid = ra_pid(&env).expect("the router's dnsmasq runs again");
    assert_ne!(new_pid, pid, "restarted on a config change");
    let ra_conf =
        std::fs::read_to_string(env.state.path().join(format!("ra/{ROUTER6}/dnsmasq.conf")))
            .expect("router dnsmasq.conf");
    assert!(ra_conf.contains(",ra-stateless,64,"), "{ra_conf}");

    // Without IPv6 legs the router advertises nothing: its dnsmasq and files go.
    let mut plan = routed6_plan(Ipv6Mode::Slaac);
    plan.routers[0].interfaces.clear();
    env.converge_ok(&plan);
    assert!(!dnsmasq_alive(new_pid), "the advertiser stopped");
    assert!(
        !env.state.path().join(format!("ra/{ROUTER6}")).exists(),
        "its files are gone"
    );
}

/// `--ipv6-ra-mode dhcpv6-stateful --ipv6-address-mode dhcpv6-stateful` on network
/// B behind the router: the router advertises the prefix with M and without A, so
/// the instance takes its default route but forms no address; DHCPv6 (from the
/// DHCP namespace only: the router's dnsmasq answers no client) hands out the
/// port's fixed address.
#[test]
fn ipv6_router_advertises_stateful_subnet_and_leaves_dhcpv6_to_dhcp() {
    require_privileges!();
    let env = Env::new();
    let mut plan = routed6_plan(Ipv6Mode::Dhcpv6Stateful);
    let fixed = Ipv6Addr::new(0xfd00, 0xb, 0, 0, 0, 0, 0, 5);
    plan.ports[1].ips6 = vec![fixed];
    let pb = plan.ports[1].clone();
    let dhcp = plan.networks[1].dhcp.as_mut().expect("dhcp");
    dhcp.subnets6[0].address_mode = Ipv6Mode::Dhcpv6Stateful;
    dhcp.hosts6 = vec![Dhcp6Host {
        mac: pb.mac.clone(),
        ip: fixed,
        hostname: String::new(),
    }];
    plan.security_groups[0].member_ips6 = plan.ports.iter().flat_map(|p| p.ips6.clone()).collect();
    let (a, b) = (
        env.instance("vma", &plan.ports[0]),
        env.instance("vmb", &pb),
    );
    env.converge_ok(&plan);
    for ns in [&a, &b] {
        sh(&["ip", "-n", ns, "link", "set", "eth0", "down"]);
        sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
    }
    let qrouter = format!("{}-qrouter-{ROUTER6}", env.tag);
    let qr = device_name("qr-", &leg6(NET_B, 0xb, Ipv6Mode::Dhcpv6Stateful).port_id);
    let router_ll = link_local_of(&qrouter, &qr);
    assert!(
        eventually(Duration::from_secs(30), || default6(&b)
            .iter()
            .any(|(gw, dev, _)| *gw == router_ll && dev == "eth0")),
        "{b} takes the router as default route: {:?}",
        default6(&b)
    );
    assert!(
        global6(&b).is_empty(),
        "no A flag, no SLAAC address: {:?}",
        global6(&b)
    );
    let got = dhcp6_solicit(&b, &pb.mac).expect("DHCPv6 advertise");
    assert_eq!(got, fixed, "the DHCP namespace offers the port's address");
    let ra_log = || {
        std::fs::read_to_string(env.state.path().join(format!("ra/{ROUTER6}/log")))
            .unwrap_or_default()
    };
    assert!(
        eventually(LONG, || ra_log().contains("DHCPSOLICIT")),
        "the router's dnsmasq saw the solicit: {}",
        ra_log()
    );
    assert!(
        ra_log()
            .lines()
            .filter(|l| l.contains("DHCPSOLICIT"))
            .all(|l| l.ends_with("ignored")),
        "and ignored it: {}",
        ra_log()
    );
    let own = format!("{fixed}/64");
    sh(&["ip", "-n", &b, "addr", "add", &own, "dev", "eth0", "nodad"]);
    let va = plan.ports[0].ips6[0].to_string();
    assert!(
        eventually(Duration::from_secs(30), || global6(&a).contains(&va)),
        "{a} forms {va}"
    );
    assert!(
        ping6(&b, plan.ports[0].ips6[0], LONG),
        "the stateful instance reaches the SLAAC one across the router"
    );
    // Teardown stops the advertiser before its namespace goes.
    let pid = ra_pid(&env).expect("the router's dnsmasq runs");
    let errors = env.rt.block_on(env.dp.teardown());
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(!dnsmasq_alive(pid), "the advertiser stopped");
    assert!(!env.state.path().join("ra").join(ROUTER6).exists());
}

/// Whether namespace `ns` forwards IPv6.
fn forwards_ipv6(ns: &str) -> bool {
    let out = sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-n",
        "net.ipv6.conf.all.forwarding",
    ]);
    out.trim() == "1"
}

const EXT_GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const ROUTER_GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// DevStack's IP_VERSION=4+6 shape: a SLAAC subnet on network A behind a router
/// whose gateway leg holds 172.24.4.10 and 2001:db8::1 on `public`, whose
/// ipv6-public-subnet gateway 2001:db8::2 the host holds on br-ex with a route to
/// the tenant prefix via the router. The group lets IPv6 out, and ICMPv6 echo in
/// only when `echo_in`.
fn external6_plan(echo_in: bool) -> HostPlan {
    let port = port6(NET_A, 0xa);
    let rule = |id: &str, dir: &str, protocol: Option<&str>| RulePlan {
        id: id.into(),
        direction: dir.into(),
        ethertype: "IPv6".into(),
        protocol: protocol.map(String::from),
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: Some("::/0".into()),
        remote_group_id: None,
    };
    let mut rules = vec![rule("eg6", "egress", None)];
    if echo_in {
        rules.push(rule("in-echo6", "ingress", Some("ipv6-icmp")));
    }
    HostPlan {
        external: Some(ExternalPlan {
            network_id: EXT.into(),
            bridge: "br-ex".into(),
            host_address: Some(format!("{HOST_EXT}/24")),
            cidr: "172.24.4.0/24".into(),
            masquerade: false,
            host_address6: Some(format!("{EXT_GW6}/64")),
            routes6: vec![(format!("{}/64", prefix_of(0xa)), ROUTER_GW6)],
        }),
        networks: vec![network6(NET_A, 0xa, false), external_network()],
        routers: vec![RouterPlan {
            id: ROUTER6.into(),
            namespace: format!("qrouter-{ROUTER6}"),
            interfaces: vec![leg6(NET_A, 0xa, Ipv6Mode::Slaac)],
            gateway: Some(RouterGateway {
                port_id: "9a9a0006-0000-4000-8000-000000000006".into(),
                bridge: "br-ex".into(),
                mac: "fa:16:3e:00:00:96".into(),
                address: format!("{ROUTER_GW}/24"),
                next_hop: Some(HOST_EXT),
                snat: true,
                internal_cidrs: vec![],
                address6: Some(format!("{ROUTER_GW6}/64")),
                next_hop6: Some(EXT_GW6),
            }),
            floating_ips: vec![],
            routes: vec![],
            port_forwardings: vec![],
        }],
        security_groups: vec![SecurityGroupPlan {
            id: SG.into(),
            rules,
            member_ips: vec![],
            member_ips6: port.ips6.clone(),
        }],
        ports: vec![port],
    }
}

/// The host's IPv6 routes on br-ex as (destination, gateway, protocol).
fn host_routes6(env: &Env) -> Vec<(String, String, String)> {
    let out = env.host_ip(&["-6", "-j", "route", "show", "dev", "br-ex"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = |r: &serde_json::Value, k: &str| match &r[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("gateway").is_some())
        .map(|r| (s(r, "dst"), s(r, "gateway"), s(r, "protocol")))
        .collect()
}

#[test]
fn ipv6_external_network_routes_host_and_instances_both_ways() {
    require_privileges!();
    let env = Env::new();
    let pa = port6(NET_A, 0xa);
    let vm = pa.ips6[0];
    let a = env.instance("vma", &pa);
    let started = Instant::now();
    env.converge_ok(&external6_plan(false));
    let converged = started.elapsed();
    sh(&["ip", "-n", &a, "link", "set", "eth0", "down"]);
    sh(&["ip", "-n", &a, "link", "set", "eth0", "up"]);
    assert!(
        eventually(Duration::from_secs(30), || global6(&a)
            .contains(&vm.to_string())
            && !default6(&a).is_empty()),
        "the instance forms {vm} and a default route from the router's RA: {:?} {:?}",
        global6(&a),
        default6(&a)
    );
    let qrouter = format!("{}-qrouter-{ROUTER6}", env.tag);
    let qg = device_name("qg-", "9a9a0006-0000-4000-8000-000000000006");
    let qg_addrs = sh(&["ip", "-n", &qrouter, "addr", "show", "dev", &qg]);
    assert!(qg_addrs.contains("2001:db8::1/64"), "{qg_addrs}");
    assert!(qg_addrs.contains("172.24.4.10/24"), "{qg_addrs}");
    assert!(
        default6(&qrouter).contains(&(EXT_GW6.to_string(), qg.clone(), "static".into())),
        "the router's IPv6 default route is the external gateway: {:?}",
        default6(&qrouter)
    );
    let brex = env.host_ip(&["-6", "addr", "show", "dev", "br-ex"]);
    assert!(brex.contains("2001:db8::2/64"), "{brex}");
    assert_eq!(
        host_routes6(&env),
        vec![(
            "fd00:a::/64".to_string(),
            ROUTER_GW6.to_string(),
            onestack::dataplane::HOST_ROUTE_PROTO.to_string()
        )],
        "the host routes the tenant prefix via the router, with onestack's protocol"
    );

    let t = Instant::now();
    assert!(
        ping6(&a, EXT_GW6, LONG),
        "the instance reaches the host's br-ex"
    );
    eprintln!(
        "BENCH external IPv6: converge {converged:?}, first instance->host echo {:?}",
        t.elapsed()
    );
    assert!(
        !ping6(&env.host, vm, SHORT),
        "no ingress ICMPv6 rule: the host's echo is dropped"
    );
    env.converge_ok(&external6_plan(true));
    assert!(
        ping6(&env.host, vm, LONG),
        "routed (no NAT66) to the instance"
    );
    assert_eq!(
        env.converge_ok(&external6_plan(true)).applied,
        0,
        "converged external IPv6 state is stable"
    );

    // Without the external IPv6 subnet: the addresses and routes go, IPv4 stays.
    let mut v4_only = external6_plan(true);
    let ext = v4_only.external.as_mut().expect("external");
    ext.host_address6 = None;
    ext.routes6.clear();
    let gw = v4_only.routers[0].gateway.as_mut().expect("gateway");
    gw.address6 = None;
    gw.next_hop6 = None;
    env.converge_ok(&v4_only);
    assert!(host_routes6(&env).is_empty(), "{:?}", host_routes6(&env));
    let brex = env.host_ip(&["-6", "addr", "show", "dev", "br-ex"]);
    assert!(
        !brex.contains("2001:db8::2"),
        "the host gives the external IPv6 gateway up with its subnet: {brex}"
    );
    let qg_addrs = sh(&["ip", "-n", &qrouter, "addr", "show", "dev", &qg]);
    assert!(!qg_addrs.contains("2001:db8::1"), "{qg_addrs}");
    assert!(qg_addrs.contains("172.24.4.10/24"), "{qg_addrs}");
    assert!(
        !default6(&qrouter)
            .iter()
            .any(|r| r.0 == EXT_GW6.to_string()),
        "{:?}",
        default6(&qrouter)
    );
    assert!(!ping6(&env.host, vm, SHORT), "no route, no reach");
}
