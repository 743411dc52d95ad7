//! Network devices and namespaces: observe them with one `ip -d -j addr show` per
//! namespace, then create what is missing and fix what differs with as few `ip`
//! calls as possible. Devices onestack creates carry its owned alias (`onestack`
//! for the installed cloud); devices that already existed under a planned name (a
//! tap opened by QEMU, a test's veth) are adopted with its adopted alias
//! (`onestack-adopted`), so they are released, never deleted, when the plan drops
//! them. A device or namespace marked by another onestack is never taken over.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Owner;
use super::cmd::{CmdError, Ns, Runner, ip_json};

/// Alias of devices the installed onestack created (and may delete); others
/// append their owner tag (see `Owner`).
pub const ALIAS_OWNED: &str = "onestack";
/// Alias of devices the installed onestack found and enslaved (never deleted).
pub const ALIAS_ADOPTED: &str = "onestack-adopted";

/// Whether an alias marks a device as some onestack's (this one's or another's).
pub fn is_onestack_alias(alias: &str) -> bool {
    alias == ALIAS_OWNED || alias.starts_with("onestack-")
}

/// What `ip` reports about one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub name: String,
    /// `bridge`, `veth`, `tun`, ... (None for plain devices such as `lo`).
    pub kind: Option<String>,
    pub mac: String,
    pub mtu: u32,
    pub up: bool,
    /// `LOWER_UP`: the device has carrier (a VMM holds the tap open, a veth's peer is up).
    pub carrier: bool,
    pub master: Option<String>,
    pub alias: Option<String>,
    /// Configured addresses of global scope, `a.b.c.d/len` or `fd00::1/64`;
    /// addresses the kernel formed itself (SLAAC, `dynamic`) are not listed.
    pub addrs: Vec<String>,
    /// For bridges: whether bridged IPv4 goes through the inet hooks (conntrack).
    pub nf_call_iptables: Option<bool>,
    /// For bridges: the same for bridged IPv6.
    pub nf_call_ip6tables: Option<bool>,
}

impl Link {
    /// Created or adopted by `owner`.
    pub fn is_ours(&self, owner: &Owner) -> bool {
        self.alias
            .as_deref()
            .is_some_and(|a| a == owner.owned_alias() || a == owner.adopted_alias())
    }
}

pub type Links = BTreeMap<String, Link>;

/// All devices of a namespace, by name.
pub async fn dump(r: &Runner, ns: &Ns) -> Result<Links, CmdError> {
    let out = r.query(ns.ip(&["-d", "-j", "addr", "show"])).await?;
    parse_dump(&out)
}

/// Parses `ip -d -j addr show` output: an entry without a name is skipped, output
/// that is not ip's JSON list is an error.
pub fn parse_dump(json: &str) -> Result<Links, CmdError> {
    Ok(ip_json(json)?
        .iter()
        .filter_map(parse_link)
        .map(|l| (l.name.clone(), l))
        .collect())
}

fn parse_link(v: &Value) -> Option<Link> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let info = v.get("linkinfo");
    let flags = v.get("flags").and_then(Value::as_array);
    let addrs = v
        .get("addr_info")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(global_addr).collect())
        .unwrap_or_default();
    Some(Link {
        name: s("ifname")?,
        kind: info
            .and_then(|i| i.get("info_kind"))
            .and_then(Value::as_str)
            .map(str::to_string),
        mac: s("address").unwrap_or_default().to_lowercase(),
        mtu: v.get("mtu").and_then(Value::as_u64).unwrap_or(0) as u32,
        up: flags.is_some_and(|f| f.iter().any(|x| x == "UP")),
        carrier: flags.is_some_and(|f| f.iter().any(|x| x == "LOWER_UP")),
        master: s("master"),
        alias: s("ifalias").filter(|a| !a.is_empty()),
        addrs,
        nf_call_iptables: bridge_flag(info, "nf_call_iptables"),
        nf_call_ip6tables: bridge_flag(info, "nf_call_ip6tables"),
    })
}

fn bridge_flag(info: Option<&Value>, key: &str) -> Option<bool> {
    info.and_then(|i| i.get("info_data"))
        .and_then(|d| d.get(key))
        .and_then(Value::as_u64)
        .map(|n| n != 0)
}

fn global_addr(a: &Value) -> Option<String> {
    let family = a.get("family")?.as_str()?;
    if !matches!(family, "inet" | "inet6") || a.get("scope")? != "global" {
        return None;
    }
    if a.get("dynamic").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    Some(format!(
        "{}/{}",
        a.get("local")?.as_str()?,
        a.get("prefixlen")?.as_u64()?
    ))
}

/// The state a device should be in; `None` fields are left alone.
#[derive(Debug, Clone, Default)]
pub struct Want<'a> {
    pub master: Option<&'a str>,
    pub mtu: Option<u32>,
    pub mac: Option<&'a str>,
    pub up: bool,
    /// Set only on host-namespace devices, to mark ownership.
    pub alias: Option<&'a str>,
}

/// Brings an existing device to `want` with a single `ip link set`, if anything differs.
pub async fn fix(r: &Runner, ns: &Ns, have: &Link, want: &Want<'_>) -> Result<(), CmdError> {
    let mut args: Vec<String> = Vec::new();
    if let Some(m) = want.master
        && have.master.as_deref() != Some(m)
    {
        args.extend(["master".into(), m.into()]);
    }
    if let Some(mtu) = want.mtu
        && have.mtu != mtu
    {
        args.extend(["mtu".into(), mtu.to_string()]);
    }
    if let Some(mac) = want.mac
        && !have.mac.eq_ignore_ascii_case(mac)
    {
        args.extend(["address".into(), mac.to_lowercase()]);
    }
    if let Some(alias) = want.alias
        && have.alias.as_deref() != Some(alias)
    {
        args.extend(["alias".into(), alias.into()]);
    }
    if have.up != want.up {
        args.push(if want.up { "up" } else { "down" }.into());
    }
    if args.is_empty() {
        return Ok(());
    }
    let mut argv = vec!["link", "set", "dev", have.name.as_str()];
    argv.extend(args.iter().map(String::as_str));
    r.mutate(ns.ip(&argv)).await.map(drop)
}

/// The alias to keep on a host device: a new one or ours stays ours, anything else
/// is adopted, but a device another onestack marked is refused.
pub fn alias_for(owner: &Owner, have: Option<&Link>) -> Result<String, CmdError> {
    let Some(link) = have else {
        return Ok(owner.owned_alias());
    };
    match link.alias.as_deref() {
        Some(a) if a == owner.owned_alias() => Ok(owner.owned_alias()),
        Some(a) if a == owner.adopted_alias() => Ok(owner.adopted_alias()),
        Some(a) if is_onestack_alias(a) => Err(CmdError::Failed {
            command: format!("take device {}", link.name),
            status: "conflict".into(),
            stderr: format!(
                "device {} belongs to another onestack on this machine (alias {a}); \
                 give each cloud its own external_bridge",
                link.name
            ),
        }),
        _ => Ok(owner.adopted_alias()),
    }
}

/// A Linux bridge that passes bridged IPv4 and IPv6 through conntrack (for
/// security groups), without IPv6 addresses of the host's own when created here.
pub async fn ensure_bridge(
    r: &Runner,
    owner: &Owner,
    ns: &Ns,
    links: &mut Links,
    name: &str,
    mtu: u32,
    up: bool,
) -> Result<(), CmdError> {
    if links
        .get(name)
        .is_some_and(|l| l.kind.as_deref() != Some("bridge"))
    {
        return Err(not_a(name, "bridge", ns));
    }
    let alias = alias_for(owner, links.get(name))?;
    if !links.contains_key(name) {
        let mtu_s = mtu.to_string();
        let argv = ["link", "add", "name", name, "mtu", &mtu_s, "type", "bridge"];
        let mut argv: Vec<&str> = argv.to_vec();
        argv.extend([
            "forward_delay",
            "0",
            "nf_call_iptables",
            "1",
            "nf_call_ip6tables",
            "1",
        ]);
        r.mutate(ns.ip(&argv)).await?;
        links.insert(name.into(), created(name, "bridge", mtu));
        // The host has no IPv6 of its own on a bridge it made, as with Neutron's
        // Linux bridge agent: it must not take addresses from tenant router
        // advertisements, nor be reachable from the tenant network that way.
        let key = format!("net.ipv6.conf.{name}.disable_ipv6=1");
        r.mutate(ns.exec(&["sysctl", "-q", "-w", &key])).await?;
    }
    let have = links[name].clone();
    if have.nf_call_iptables == Some(false) || have.nf_call_ip6tables == Some(false) {
        let argv = [
            "link",
            "set",
            "dev",
            name,
            "type",
            "bridge",
            "nf_call_iptables",
            "1",
            "nf_call_ip6tables",
            "1",
        ];
        r.mutate(ns.ip(&argv)).await?;
    }
    let want = Want {
        mtu: Some(mtu),
        up,
        alias: Some(&alias),
        ..Want::default()
    };
    fix(r, ns, &have, &want).await
}

/// A port device on a bridge: kept if it exists (VM tap, test veth), else a new tap.
#[allow(clippy::too_many_arguments)]
pub async fn ensure_port_device(
    r: &Runner,
    owner: &Owner,
    ns: &Ns,
    links: &mut Links,
    name: &str,
    bridge: &str,
    mtu: u32,
    up: bool,
) -> Result<(), CmdError> {
    let alias = alias_for(owner, links.get(name))?;
    if !links.contains_key(name) {
        r.mutate(ns.ip(&["tuntap", "add", "dev", name, "mode", "tap"]))
            .await?;
        links.insert(name.into(), created(name, "tun", 0));
    }
    let have = links[name].clone();
    let want = Want {
        master: Some(bridge),
        mtu: Some(mtu),
        up,
        alias: Some(&alias),
        ..Want::default()
    };
    fix(r, ns, &have, &want).await
}

/// A veth pair from the host namespace (`outer`, which goes on a bridge) into
/// another namespace (`inner`). A half-present pair is rebuilt. Returns whether
/// the pair was (re)created, so services bound to it (dnsmasq) can be restarted.
#[allow(clippy::too_many_arguments)]
pub async fn ensure_veth(
    r: &Runner,
    owner: &Owner,
    host: &Ns,
    host_links: &mut Links,
    outer: &str,
    inner_ns: &str,
    inner_links: &mut Links,
    inner: &str,
) -> Result<bool, CmdError> {
    let outer_ok = host_links
        .get(outer)
        .is_some_and(|l| l.kind.as_deref() == Some("veth"));
    let inner_ok = inner_links.contains_key(inner);
    if outer_ok && inner_ok {
        return Ok(false);
    }
    if host_links.get(outer).is_some_and(|l| l.is_ours(owner)) {
        delete_link(r, host, outer).await?;
    }
    if inner_ok {
        delete_link(r, &Ns::Named(inner_ns.to_string()), inner).await?;
    }
    let argv = [
        "link", "add", "name", outer, "type", "veth", "peer", "name", inner, "netns", inner_ns,
    ];
    r.mutate(host.ip(&argv)).await?;
    host_links.insert(outer.into(), created(outer, "veth", 0));
    inner_links.insert(inner.into(), created(inner, "veth", 0));
    Ok(true)
}

/// Deletes a device; one already gone is fine (a namespace deletion takes its veth
/// peers with it, asynchronously, so a dump can still list them; a tap goes
/// with its VMM).
pub async fn delete_link(r: &Runner, ns: &Ns, name: &str) -> Result<(), CmdError> {
    match r.mutate(ns.ip(&["link", "del", "dev", name])).await {
        Err(e) if e.device_gone() => Ok(()),
        other => other.map(drop),
    }
}

/// Makes the configured addresses of `dev` exactly `want` (each `a.b.c.d/len` or
/// `fd00::1/64`). IPv6 ones skip duplicate address detection: they are the
/// port's own, allocated by IPAM, and usable at once.
pub async fn sync_addrs(
    r: &Runner,
    ns: &Ns,
    dev: &str,
    have: &[String],
    want: &[String],
) -> Vec<CmdError> {
    let mut errors = Vec::new();
    let want_set: BTreeSet<&str> = want.iter().map(String::as_str).collect();
    let have_set: BTreeSet<&str> = have.iter().map(String::as_str).collect();
    for a in have_set.difference(&want_set) {
        if let Err(e) = r.mutate(ns.ip(&["addr", "del", a, "dev", dev])).await {
            errors.push(e);
        }
    }
    for a in want_set.difference(&have_set) {
        let mut argv = vec!["addr", "add", a, "dev", dev];
        if a.contains(':') {
            argv.push("nodad");
        }
        if let Err(e) = r.mutate(ns.ip(&argv)).await {
            errors.push(e);
        }
    }
    errors
}

/// A freshly created device as `ip` would report it, so `fix` can finish it.
fn created(name: &str, kind: &str, mtu: u32) -> Link {
    Link {
        name: name.into(),
        kind: Some(kind.into()),
        mtu,
        ..Link::default()
    }
}

fn not_a(name: &str, what: &str, ns: &Ns) -> CmdError {
    CmdError::Failed {
        command: format!("ensure {what} {name}"),
        status: "conflict".into(),
        stderr: format!(
            "a device named {name} exists in {} and is not a {what}",
            ns.label()
        ),
    }
}

/// Names of the network namespaces that exist (`ip netns` keeps them in /run/netns).
pub fn list_namespaces() -> BTreeSet<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Creates `name` with `lo` up, if it does not exist (the namespace standing in
/// for the host, which is not marked).
pub async fn ensure_host_namespace(r: &Runner, name: &str) -> Result<(), CmdError> {
    if list_namespaces().contains(name) {
        return Ok(());
    }
    add_namespace(r, name, None).await
}

async fn add_namespace(r: &Runner, name: &str, mark: Option<&str>) -> Result<(), CmdError> {
    r.mutate(vec!["ip".into(), "netns".into(), "add".into(), name.into()])
        .await?;
    let mut argv = vec!["link", "set", "dev", "lo", "up"];
    if let Some(m) = mark {
        argv.extend(["alias", m]);
    }
    r.mutate(Ns::Named(name.into()).ip(&argv)).await.map(drop)
}

/// Who marked namespace `name` (the alias of its `lo`; None: unmarked). An error
/// means the namespace cannot be entered (its `/run/netns` entry is left from a
/// namespace that is gone, or not a namespace at all).
pub async fn namespace_mark(r: &Runner, name: &str) -> Result<Option<String>, CmdError> {
    let out = r
        .query(Ns::Named(name.into()).ip(&["-j", "link", "show", "dev", "lo"]))
        .await?;
    Ok(parse_dump(&out)?.remove("lo").and_then(|l| l.alias))
}

/// Makes router/DHCP namespace `name` exist, `owner`'s: created with `lo` up and
/// marked; an unmarked one (made by an older onestack) is marked; one that cannot
/// be entered is rebuilt; one another onestack marked is refused, untouched.
pub async fn ensure_namespace(r: &Runner, owner: &Owner, name: &str) -> Result<(), CmdError> {
    let mine = owner.owned_alias();
    if !list_namespaces().contains(name) {
        return add_namespace(r, name, Some(&mine)).await;
    }
    match namespace_mark(r, name).await {
        Ok(Some(m)) if m == mine => Ok(()),
        Ok(None) => {
            let argv = ["link", "set", "dev", "lo", "alias", mine.as_str()];
            r.mutate(Ns::Named(name.into()).ip(&argv)).await.map(drop)
        }
        Ok(Some(m)) => Err(CmdError::Failed {
            command: format!("take namespace {name}"),
            status: "conflict".into(),
            stderr: format!(
                "namespace {name} belongs to another onestack on this machine ({m}); \
                 give each cloud its own namespace_prefix"
            ),
        }),
        // Output ip could run but we could not read says nothing about the namespace.
        Err(e @ CmdError::Output { .. }) => Err(e),
        Err(e) => {
            tracing::warn!(namespace = name, error = %e, "namespace cannot be entered: rebuilding it");
            delete_namespace(r, name).await?;
            add_namespace(r, name, Some(&mine)).await
        }
    }
}

pub async fn delete_namespace(r: &Runner, name: &str) -> Result<(), CmdError> {
    r.mutate(vec!["ip".into(), "netns".into(), "del".into(), name.into()])
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json() {
        let json = r#"[{"ifindex":3,"ifname":"brq1","flags":["BROADCAST","MULTICAST","UP"],
            "mtu":1450,"address":"AA:bb:cc:dd:ee:ff","ifalias":"onestack",
            "linkinfo":{"info_kind":"bridge","info_data":{"nf_call_iptables":1}},
            "addr_info":[{"family":"inet","local":"10.0.0.1","prefixlen":24,"scope":"global"},
                         {"family":"inet6","local":"fd00::1","prefixlen":64,"scope":"global"},
                         {"family":"inet6","local":"fd00::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true},
                         {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]},
            {"ifindex":4,"ifname":"tapx","flags":["BROADCAST"],"mtu":1500,
             "address":"00:00:00:00:00:01","master":"brq1","addr_info":[]}]"#;
        let links = parse_dump(json).expect("json");
        assert!(parse_dump("garbage").is_err());
        let br = &links["brq1"];
        assert!(br.up && br.is_ours(&Owner::default()) && !br.carrier);
        assert_eq!(br.mac, "aa:bb:cc:dd:ee:ff");
        assert_eq!(
            br.addrs,
            vec!["10.0.0.1/24".to_string(), "fd00::1/64".to_string()]
        );
        assert_eq!(br.nf_call_iptables, Some(true));
        let tap = &links["tapx"];
        assert!(!tap.up && !tap.is_ours(&Owner::default()) && !tap.carrier);
        assert_eq!(tap.master.as_deref(), Some("brq1"));
    }

    #[test]
    fn adoption_keeps_foreign_devices_foreign() {
        let owner = Owner::default();
        let alias_for = |l: Option<&Link>| alias_for(&owner, l).expect("not foreign");
        assert_eq!(alias_for(None), ALIAS_OWNED);
        let mut l = Link::default();
        assert_eq!(alias_for(Some(&l)), ALIAS_ADOPTED);
        l.alias = Some(ALIAS_OWNED.into());
        assert_eq!(alias_for(Some(&l)), ALIAS_OWNED);
    }

    #[test]
    fn another_onestacks_devices_are_refused() {
        let other = Owner {
            tag: "a1b2c3".into(),
        };
        assert_eq!(other.owned_alias(), "onestack-a1b2c3");
        assert_eq!(other.adopted_alias(), "onestack-a1b2c3-adopted");
        let mut l = Link {
            name: "br-ex".into(),
            alias: Some(ALIAS_OWNED.into()),
            ..Link::default()
        };
        assert!(alias_for(&other, Some(&l)).is_err());
        assert!(!l.is_ours(&other));
        l.alias = Some(other.adopted_alias());
        assert!(l.is_ours(&other) && !l.is_ours(&Owner::default()));
        assert!(alias_for(&Owner::default(), Some(&l)).is_err());
        l.alias = Some("eth0 uplink".into());
        assert_eq!(
            alias_for(&other, Some(&l)).expect("adopted"),
            other.adopted_alias()
        );
    }
}
