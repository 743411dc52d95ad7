//! DHCP: per network, a `qdhcp-` namespace with an `ns-` leg into the bridge and one
//! dnsmasq running inside it, answering only for the planned ports (static ranges
//! plus a hosts file), so every instance always gets its own port's address.
//! Files live in `{state_dir}/dhcp/<network id>/`. A host change rewrites the hosts
//! file and sends SIGHUP; a config change, a rebuilt leg or a dead process restarts
//! it. A process is only ever signalled after `/proc/PID/cmdline` proves it is the
//! dnsmasq started with our config file. The leg also carries 169.254.169.254/32,
//! where onestack answers metadata requests (see `metadata.rs`), and every subnet's
//! option 121 routes that address through the DHCP port.
//!
//! IPv6: the same dnsmasq serves DHCPv6 (the leg holds the DHCP port's address in
//! each prefix, which is how dnsmasq picks the interface): `static` (fixed leases
//! by MAC only) for DHCPv6-stateful, information requests for DHCPv6-stateless.
//! Router advertisements of a subnet attached to a router come from that router's
//! namespace (`ra.rs`, as Neutron's radvd). A subnet with an `ipv6_ra_mode` but no
//! router is advertised from here with the flags of its address mode (`ra-only`
//! for SLAAC, `ra-stateless` (A+O) for DHCPv6-stateless, `static` under
//! `enable-ra` (M) for DHCPv6-stateful) and "router lifetime 0": hosts learn the
//! prefix (on-link, SLAAC) but take no default route from the DHCP namespace,
//! which does not forward. The DHCP leg itself accepts no advertisements.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cmd::{CmdError, Ns};
use super::ipv4;
use super::links::{self, Links};
use super::plan::{DhcpPlan, Ipv6Mode, NetworkPlan, device_name, tap_name};
use super::router::canonical_addr;
use super::{Dataplane, NsLeg};

/// The files of one dnsmasq: a network's (`{state_dir}/dhcp/<network id>/`) or a
/// router's (`{state_dir}/ra/<router id>/`, see `ra.rs`).
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) conf: PathBuf,
    pub(super) hosts: PathBuf,
    pub(super) pid: PathBuf,
}

impl Files {
    fn new(state_dir: &Path, network_id: &str) -> Files {
        Files::at(state_dir.join(DHCP_DIR).join(network_id))
    }

    pub(super) fn at(dir: PathBuf) -> Files {
        Files {
            conf: dir.join("dnsmasq.conf"),
            hosts: dir.join("hosts"),
            pid: dir.join("pid"),
            dir,
        }
    }
}

/// Under the state directory: one directory per network's DHCP dnsmasq.
const DHCP_DIR: &str = "dhcp";

/// Converges the DHCP namespace and dnsmasq of one network; returns the host device
/// it uses and its errors.
pub async fn converge(
    dp: &Dataplane,
    host_links: &mut Links,
    net: &NetworkPlan,
    dhcp: &DhcpPlan,
) -> (String, Vec<String>) {
    let item = format!("dhcp of network {}", net.id);
    let outer = tap_name(&dhcp.port_id);
    let errs = |e: &dyn std::fmt::Display| vec![format!("{item}: {e}")];
    if !safe_id(&net.id) {
        return (outer, errs(&"network id is not a safe directory name"));
    }
    let name = dp.ns_name(&dhcp.namespace);
    let (relinked, mut errors) = match ensure_leg(dp, host_links, net, dhcp, &name, &outer).await {
        Ok(v) => v,
        Err(e) => return (outer, errs(&e)),
    };
    let files = Files::new(&dp.config.state_dir, &net.id);
    let inner = device_name("ns-", &dhcp.port_id);
    if let Err(e) = ensure_process(dp, &files, &name, &inner, dhcp, relinked).await {
        errors.push(e);
    }
    (
        outer,
        errors.into_iter().map(|e| format!("{item}: {e}")).collect(),
    )
}

pub(super) fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Namespace, veth and addresses; `Ok((recreated, item errors))`.
async fn ensure_leg(
    dp: &Dataplane,
    host_links: &mut Links,
    net: &NetworkPlan,
    dhcp: &DhcpPlan,
    name: &str,
    outer: &str,
) -> Result<(bool, Vec<String>), CmdError> {
    let r = &dp.runner;
    links::ensure_namespace(r, &dp.config.owner, name).await?;
    let ns = Ns::Named(name.to_string());
    let mut inner_links = links::dump(r, &ns).await?;
    let inner = device_name("ns-", &dhcp.port_id);
    let leg = NsLeg {
        outer,
        inner: &inner,
        bridge: &net.bridge,
        mac: &dhcp.mac,
        mtu: net.mtu,
    };
    let relinked = dp
        .ensure_leg_veth(host_links, name, &mut inner_links, &leg)
        .await?;
    let mut errors = Vec::new();
    if relinked {
        // As Neutron's DHCP agent: the DHCP port takes no router advertisements
        // (no default route, no addresses of its own from a router's prefixes).
        let key = format!("net.ipv6.conf.{inner}.accept_ra=0");
        if let Err(e) = r.mutate(ns.exec(&["sysctl", "-q", "-w", &key])).await {
            errors.push(e);
        }
    }
    let have = inner_links[&inner].clone();
    errors.extend(dp.fix_leg_ends(host_links, &ns, &have, &leg).await);
    let mut want: Vec<String> = dhcp
        .addresses
        .iter()
        .filter_map(|a| canonical_addr(a))
        .collect();
    want.push(super::metadata::METADATA_CIDR.to_string());
    errors.extend(links::sync_addrs(r, &ns, &inner, &have.addrs, &want).await);
    for stale in inner_links.keys().filter(|n| *n != "lo" && **n != inner) {
        if let Err(e) = links::delete_link(r, &ns, stale).await {
            errors.push(e);
        }
    }
    Ok((relinked, errors.iter().map(|e| e.to_string()).collect()))
}

/// Writes the files and makes sure the right dnsmasq runs with them.
async fn ensure_process(
    dp: &Dataplane,
    files: &Files,
    ns: &str,
    interface: &str,
    dhcp: &DhcpPlan,
    relinked: bool,
) -> Result<(), String> {
    let conf = config(files, interface, dhcp);
    ensure_daemon(dp, files, ns, &conf, Some(&hosts(dhcp)), relinked).await
}

/// Writes `conf` (and the hosts file) and makes sure one dnsmasq runs with them in
/// namespace `ns`: started when missing, restarted when the config changed, the
/// namespace or its devices were recreated (`relinked`), or it runs elsewhere;
/// sent SIGHUP when only the hosts changed.
pub(super) async fn ensure_daemon(
    dp: &Dataplane,
    files: &Files,
    ns: &str,
    conf: &str,
    hosts: Option<&str>,
    relinked: bool,
) -> Result<(), String> {
    tokio::fs::create_dir_all(&files.dir)
        .await
        .map_err(|e| format!("create {}: {e}", files.dir.display()))?;
    let conf_changed = write_if_changed(&files.conf, conf).await?;
    let hosts_changed = match hosts {
        Some(h) => write_if_changed(&files.hosts, h).await?,
        None => false,
    };
    let running = running_pid(files).filter(|pid| in_namespace(*pid, ns));
    match running {
        Some(pid) if !conf_changed && !relinked => {
            if hosts_changed {
                signal(dp, pid, "HUP").await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        _ => {
            stop(dp, files).await?;
            start(dp, files, ns).await
        }
    }
}

async fn write_if_changed(path: &Path, text: &str) -> Result<bool, String> {
    if tokio::fs::read_to_string(path).await.ok().as_deref() == Some(text) {
        return Ok(false);
    }
    onestack_common::fsutil::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(true)
}

/// dnsmasq's configuration. It runs as root because the state directory may be
/// private (0700) and the hosts file is re-read on SIGHUP after privileges drop.
fn config(files: &Files, interface: &str, dhcp: &DhcpPlan) -> String {
    let dir = files.dir.display();
    let mut c = format!(
        "# generated by onestack; rewritten on every converge\n\
         interface={interface}\nexcept-interface=lo\nbind-interfaces\n\
         no-resolv\nno-hosts\nuser=root\ngroup=root\n\
         pid-file={}\ndhcp-hostsfile={}\ndhcp-leasefile={dir}/leases\n\
         log-facility={dir}/log\ndhcp-authoritative\ndomain=openstacklocal\n",
        files.pid.display(),
        files.hosts.display(),
    );
    for (i, s) in dhcp.subnets.iter().enumerate() {
        let Some((addr, len)) = ipv4::parse_cidr(&s.cidr) else {
            continue;
        };
        let net = std::net::Ipv4Addr::from(u32::from(addr) & u32::from(ipv4::mask(len)));
        let tag = format!("tag:s{i}");
        let lease = s.lease_seconds.max(120);
        let _ = writeln!(
            c,
            "dhcp-range=set:s{i},{net},static,{},{lease}s",
            ipv4::mask(len)
        );
        match s.gateway {
            Some(gw) => {
                let _ = writeln!(c, "dhcp-option={tag},option:router,{gw}");
            }
            None => {
                let _ = writeln!(c, "dhcp-option={tag},option:router");
            }
        }
        if !s.dns_servers.is_empty() {
            let dns: Vec<String> = s.dns_servers.iter().map(|d| d.to_string()).collect();
            let _ = writeln!(c, "dhcp-option={tag},option:dns-server,{}", dns.join(","));
        }
        let routes = routes(s, &dhcp.addresses);
        if !routes.is_empty() {
            let _ = writeln!(
                c,
                "dhcp-option={tag},option:classless-static-route,{routes}"
            );
            let _ = writeln!(c, "dhcp-option={tag},249,{routes}");
        }
        if s.mtu > 0 {
            let _ = writeln!(c, "dhcp-option={tag},option:mtu,{}", s.mtu);
        }
    }
    config6(&mut c, interface, dhcp);
    c
}

/// The IPv6 part: router advertisements and DHCPv6 per subnet (tags `v6s<i>`).
/// `static` ranges are advertised only under `enable-ra`, so that is set only when
/// a stateful subnet is ours to advertise: a subnet its router advertises is
/// served DHCPv6 here without a second, conflicting advertisement.
fn config6(c: &mut String, interface: &str, dhcp: &DhcpPlan) {
    let mut advertise = false;
    let mut enable_ra = false;
    for (i, s) in dhcp.subnets6.iter().enumerate() {
        let Ok(net) = s.cidr.parse::<ipnet::Ipv6Net>() else {
            continue;
        };
        let (prefix, len) = (net.trunc().addr(), net.prefix_len());
        let lease = s.lease_seconds.max(120);
        let mode = match (s.advertise, s.address_mode) {
            (true, Ipv6Mode::Slaac) => "ra-only",
            (true, Ipv6Mode::Dhcpv6Stateless) => "ra-stateless",
            (false, Ipv6Mode::Slaac) => continue,
            // DHCPv6 without advertisements (an outside router sends them);
            // `static` answers only the ports we know.
            (false, _) => "static",
            (true, Ipv6Mode::Dhcpv6Stateful) => "static",
        };
        advertise |= s.advertise;
        enable_ra |= s.advertise && mode == "static";
        let _ = writeln!(c, "dhcp-range=set:v6s{i},{prefix},{mode},{len},{lease}s");
        if !s.dns_servers.is_empty() {
            let dns: Vec<String> = s.dns_servers.iter().map(|d| format!("[{d}]")).collect();
            let _ = writeln!(
                c,
                "dhcp-option=tag:v6s{i},option6:dns-server,{}",
                dns.join(",")
            );
        }
    }
    if advertise {
        let mtu = dhcp
            .subnets6
            .iter()
            .map(|s| s.mtu)
            .find(|m| *m >= 1280)
            .map(|m| format!("mtu:{m},"))
            .unwrap_or_default();
        if enable_ra {
            c.push_str("enable-ra\n");
        }
        let _ = writeln!(c, "ra-param={interface},{mtu}30,0");
    }
}

/// Option 121 routes, in Neutron's order: the subnet's host routes, the metadata
/// address through the DHCP port's address on this subnet, then the default route
/// through the gateway (clients that get option 121 ignore option 3).
fn routes(s: &super::plan::DhcpSubnet, dhcp_addresses: &[String]) -> String {
    let mut v: Vec<String> = s
        .host_routes
        .iter()
        .filter_map(|(dst, nh)| Some(format!("{},{nh}", ipv4::network(dst)?)))
        .collect();
    let metadata = super::metadata::METADATA_CIDR;
    let own = ipv4::parse_cidr(&s.cidr).and_then(|(net, len)| {
        let m = u32::from(ipv4::mask(len));
        dhcp_addresses
            .iter()
            .filter_map(|a| ipv4::parse_cidr(a))
            .map(|(a, _)| a)
            .find(|a| u32::from(*a) & m == u32::from(net) & m)
    });
    if let Some(addr) = own
        && !s
            .host_routes
            .iter()
            .any(|(d, _)| ipv4::network(d).as_deref() == Some(metadata))
    {
        v.push(format!("{metadata},{addr}"));
    }
    if let Some(gw) = s.gateway
        && !s
            .host_routes
            .iter()
            .any(|(d, _)| ipv4::network(d).as_deref() == Some("0.0.0.0/0"))
    {
        v.push(format!("0.0.0.0/0,{gw}"));
    }
    v.join(",")
}

fn hosts(dhcp: &DhcpPlan) -> String {
    let mut s = String::new();
    for h in &dhcp.hosts {
        let _ = writeln!(
            s,
            "{},{},{}",
            h.mac.to_lowercase(),
            hostname(&h.hostname, h.ip.into()),
            h.ip
        );
    }
    // One line per address, as Neutron writes them; dnsmasq matches a DHCPv6
    // client to its MAC through the link-local source of its request.
    for h in &dhcp.hosts6 {
        let _ = writeln!(
            s,
            "{},{},[{}]",
            h.mac.to_lowercase(),
            hostname(&h.hostname, h.ip.into()),
            h.ip
        );
    }
    s
}

/// A DNS label dnsmasq accepts; Neutron's `host-a-b-c-d` (`host-fd00--5`) when the
/// name is unusable.
fn hostname(name: &str, ip: std::net::IpAddr) -> String {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-');
    if ok {
        name.to_string()
    } else {
        format!("host-{}", ip.to_string().replace(['.', ':'], "-"))
    }
}

/// The pid in our pid file, if that process is the dnsmasq using our config.
fn running_pid(files: &Files) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(&files.pid)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_our_dnsmasq(pid, &files.conf).then_some(pid)
}

fn is_our_dnsmasq(pid: u32, conf: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let want = format!("--conf-file={}", conf.display());
    args.first().is_some_and(|a| a.ends_with("dnsmasq")) && args.contains(&want)
}

/// Whether the process runs in namespace `ns` (a namespace deleted and recreated by
/// hand leaves dnsmasq serving an orphan namespace).
fn in_namespace(pid: u32, ns: &str) -> bool {
    let proc_ns = std::fs::metadata(format!("/proc/{pid}/ns/net"));
    let named = std::fs::metadata(format!("/run/netns/{ns}"));
    match (proc_ns, named) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

async fn start(dp: &Dataplane, files: &Files, ns: &str) -> Result<(), String> {
    let conf = format!("--conf-file={}", files.conf.display());
    let argv = Ns::Named(ns.to_string()).exec(&["dnsmasq", &conf]);
    dp.runner.mutate(argv).await.map_err(|e| e.to_string())?;
    // dnsmasq's parent exits once the daemon is initialised; the pid file is then there.
    match running_pid(files) {
        Some(_) => Ok(()),
        None => Err(format!(
            "dnsmasq in {ns} exited after start, see {}/log",
            files.dir.display()
        )),
    }
}

async fn signal(dp: &Dataplane, pid: u32, sig: &str) -> Result<(), CmdError> {
    let argv = vec!["kill".into(), format!("-{sig}"), pid.to_string()];
    dp.runner.mutate(argv).await.map(drop)
}

/// Stops our dnsmasq for these files, if it runs (TERM, then KILL after 3 s).
async fn stop(dp: &Dataplane, files: &Files) -> Result<(), String> {
    let Some(pid) = running_pid(files) else {
        return Ok(());
    };
    signal(dp, pid, "TERM").await.map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(3);
    while is_our_dnsmasq(pid, &files.conf) {
        if Instant::now() > deadline {
            signal(dp, pid, "KILL").await.map_err(|e| e.to_string())?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Stops dnsmasq and removes the files of every network not in `keep`.
pub async fn remove_stale(dp: &Dataplane, keep: &BTreeSet<String>) -> Vec<String> {
    remove_stale_under(dp, DHCP_DIR, "dhcp of network", keep).await
}

/// Stops the dnsmasq of, and removes, every directory under `{state_dir}/{sub}`
/// whose name (a network or router id) is not in `keep`; `what` names the item
/// in errors.
pub(super) async fn remove_stale_under(
    dp: &Dataplane,
    sub: &str,
    what: &str,
    keep: &BTreeSet<String>,
) -> Vec<String> {
    let root = dp.config.state_dir.join(sub);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let Ok(id) = e.file_name().into_string() else {
            continue;
        };
        if keep.contains(&id) {
            continue;
        }
        let files = Files::at(root.join(&id));
        if let Err(err) = stop(dp, &files).await {
            errors.push(format!("{what} {id}: {err}"));
            continue;
        }
        if let Err(err) = std::fs::remove_dir_all(&files.dir) {
            errors.push(format!(
                "{what} {id}: remove {}: {err}",
                files.dir.display()
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Dhcp6Host, Dhcp6Subnet, DhcpHost, DhcpSubnet};

    fn plan() -> DhcpPlan {
        DhcpPlan {
            namespace: "qdhcp-n".into(),
            port_id: "p".into(),
            mac: "fa:16:3e:00:00:02".into(),
            addresses: vec!["10.0.0.2/24".into()],
            subnets: vec![DhcpSubnet {
                subnet_id: "s".into(),
                cidr: "10.0.0.0/24".into(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                dns_servers: vec!["10.0.0.53".parse().unwrap()],
                host_routes: vec![("10.9.0.0/16".into(), "10.0.0.9".parse().unwrap())],
                lease_seconds: 86400,
                mtu: 1450,
            }],
            hosts: vec![DhcpHost {
                mac: "FA:16:3E:00:00:05".into(),
                ip: "10.0.0.5".parse().unwrap(),
                hostname: "bad name".into(),
            }],
            subnets6: vec![],
            hosts6: vec![],
        }
    }

    fn subnet6(id: &str, cidr: &str, mode: Ipv6Mode) -> Dhcp6Subnet {
        Dhcp6Subnet {
            subnet_id: id.into(),
            cidr: cidr.into(),
            address_mode: mode,
            advertise: true,
            dns_servers: vec![],
            lease_seconds: 86400,
            mtu: 1450,
        }
    }

    #[test]
    fn ipv6_config_and_hosts() {
        let files = Files::new(Path::new("/s"), "n");
        let mut p = plan();
        let c = config(&files, "ns-p", &p);
        assert!(!c.contains("enable-ra"), "no IPv6, no RA: {c}");
        p.subnets6 = vec![
            subnet6("a", "fd00:1::/64", Ipv6Mode::Slaac),
            subnet6("b", "fd00:2::5/64", Ipv6Mode::Dhcpv6Stateful),
            subnet6("c", "fd00:3::/64", Ipv6Mode::Dhcpv6Stateless),
        ];
        p.subnets6[2].dns_servers = vec!["fd00:3::53".parse().unwrap()];
        p.hosts6 = vec![Dhcp6Host {
            mac: "FA:16:3E:00:00:05".into(),
            ip: "fd00:2::5".parse().unwrap(),
            hostname: String::new(),
        }];
        let c = config(&files, "ns-p", &p);
        assert!(
            c.contains("dhcp-range=set:v6s0,fd00:1::,ra-only,64,86400s\n"),
            "{c}"
        );
        assert!(
            c.contains("dhcp-range=set:v6s1,fd00:2::,static,64,86400s\n"),
            "{c}"
        );
        assert!(
            c.contains("dhcp-range=set:v6s2,fd00:3::,ra-stateless,64,86400s\n"),
            "{c}"
        );
        assert!(c.contains("dhcp-option=tag:v6s2,option6:dns-server,[fd00:3::53]\n"));
        assert!(
            c.contains("enable-ra\nra-param=ns-p,mtu:1450,30,0\n"),
            "{c}"
        );
        assert!(
            hosts(&p).ends_with("fa:16:3e:00:00:05,host-fd00-2--5,[fd00:2::5]\n"),
            "{}",
            hosts(&p)
        );
        // A SLAAC subnet without ra_mode expects an outside router: nothing to do.
        p.subnets6 = vec![subnet6("a", "fd00:1::/64", Ipv6Mode::Slaac)];
        p.subnets6[0].advertise = false;
        assert!(!config(&files, "ns-p", &p).contains("fd00:1"));
        // Its router advertises the stateless subnet: DHCPv6 here, and no
        // `enable-ra`, which would advertise the `static` range too.
        p.subnets6 = vec![
            subnet6("a", "fd00:1::/64", Ipv6Mode::Slaac),
            subnet6("c", "fd00:3::/64", Ipv6Mode::Dhcpv6Stateless),
        ];
        p.subnets6[1].advertise = false;
        let c = config(&files, "ns-p", &p);
        assert!(
            c.contains("dhcp-range=set:v6s1,fd00:3::,static,64,86400s\n"),
            "{c}"
        );
        assert!(!c.contains("enable-ra"), "{c}");
        assert!(c.contains("ra-param=ns-p,mtu:1450,30,0\n"), "{c}");
        p.subnets6.remove(0);
        assert!(!config(&files, "ns-p", &p).contains("ra-param"));
    }

    #[test]
    fn config_and_hosts() {
        let files = Files::new(Path::new("/s"), "n");
        let c = config(&files, "ns-p", &plan());
        assert!(c.contains("dhcp-range=set:s0,10.0.0.0,static,255.255.255.0,86400s\n"));
        assert!(c.contains("dhcp-option=tag:s0,option:router,10.0.0.1\n"));
        assert!(
            c.contains("option:classless-static-route,10.9.0.0/16,10.0.0.9,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1\n")
        );
        assert!(c.contains("dhcp-option=tag:s0,249,10.9.0.0/16,10.0.0.9,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1\n"));
        // Without host routes or gateway, the metadata route alone is still given.
        let mut bare = plan();
        bare.subnets[0].host_routes.clear();
        bare.subnets[0].gateway = None;
        let c = config(&files, "ns-p", &bare);
        assert!(
            c.contains("option:classless-static-route,169.254.169.254/32,10.0.0.2\n"),
            "{c}"
        );
        assert!(c.contains("dhcp-option=tag:s0,option:mtu,1450\n"));
        assert!(c.contains("dhcp-hostsfile=/s/dhcp/n/hosts\n"));
        assert_eq!(hosts(&plan()), "fa:16:3e:00:00:05,host-10-0-0-5,10.0.0.5\n");
        assert!(!safe_id("../x") && safe_id("3f2a-11"));
    }
}
