//! Makes the host match a `SetupPlan`, idempotently: every step reads first and
//! changes only what differs, and each change is counted and named, so a second
//! run reports zero. Connections over other NICs are never touched: only the
//! taken-over NIC's addresses move, and they are added to the bridge before they
//! leave the NIC.

use crate::dataplane::cmd::{CmdError, Ns, run_sync};

use super::nics::{self, ObservedLink};
use super::plan::{SetupPlan, Takeover};

/// Our own nftables table (the dataplane's is `onestack`).
pub(crate) const NFT_TABLE: &str = "onestack-host";

/// Runs host commands in one namespace and records the changing ones.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) ns: Ns,
    pub(crate) changes: Vec<String>,
    /// Print instead of doing (dry run).
    pub(crate) dry_run: bool,
}

impl Host {
    pub(crate) fn new(ns: Ns, dry_run: bool) -> Host {
        Host {
            ns,
            changes: Vec::new(),
            dry_run,
        }
    }

    fn query(&self, argv: Vec<String>) -> Result<String, CmdError> {
        run_sync(&argv, None)
    }

    /// A changing command: recorded, and run unless this is a dry run.
    fn change(&mut self, argv: Vec<String>, stdin: Option<&str>) -> Result<(), CmdError> {
        let line = argv.join(" ");
        if self.dry_run {
            // A dry run changes nothing: the plan is printed by the caller, not logged
            // as if it had been applied.
            tracing::debug!(command = %line, "would change the host");
        } else {
            tracing::info!(command = %line, "host change");
        }
        self.changes.push(line);
        if !self.dry_run {
            run_sync(&argv, stdin)?;
        }
        Ok(())
    }

    fn ip(&mut self, args: &[&str]) -> Result<(), CmdError> {
        let argv = self.ns.ip(args);
        self.change(argv, None)
    }

    fn links(&self) -> Result<Vec<ObservedLink>, CmdError> {
        nics::parse_links(&self.query(self.ns.ip(&["-d", "-j", "addr", "show"]))?)
    }
}

/// Applies `plan`; returns on the first failure (the next run resumes: every step
/// checks before it acts).
pub(crate) fn apply(host: &mut Host, plan: &SetupPlan) -> Result<(), CmdError> {
    let links = host.links()?;
    let find = |n: &str| links.iter().find(|l| l.name == n).cloned();
    let br = plan.bridge.as_str();
    let bridge = find(br);
    ensure_bridge(host, plan, bridge.as_ref())?;
    let on_bridge: Vec<String> = bridge
        .map(|l| l.addrs.iter().map(|a| a.cidr()).collect())
        .unwrap_or_default();
    if !on_bridge.contains(&plan.bridge_address) {
        host.ip(&["addr", "add", &plan.bridge_address, "dev", br])?;
    }
    if let Some(t) = &plan.takeover {
        enslave_nic(host, t, br, find(&t.nic))?;
        move_routes(host, t, br)?;
    }
    ensure_forwarding(host)?;
    ensure_nft(host, plan)
}

/// The bridge exists, is up and (on a takeover) carries the NIC's MAC; a link
/// of that name that is not a bridge is a conflict we do not resolve.
fn ensure_bridge(
    host: &mut Host,
    plan: &SetupPlan,
    bridge: Option<&ObservedLink>,
) -> Result<(), CmdError> {
    let br = plan.bridge.as_str();
    match bridge {
        None => {
            let mut args = vec!["link", "add", "name", br];
            if let Some(t) = &plan.takeover {
                args.extend(["address", t.mac.as_str()]);
            }
            args.extend([
                "type",
                "bridge",
                "forward_delay",
                "0",
                "nf_call_iptables",
                "1",
            ]);
            host.ip(&args)?;
            host.ip(&["link", "set", "dev", br, "up"])
        }
        Some(l) if l.kind.as_deref() != Some("bridge") => Err(CmdError::Failed {
            command: format!("ensure bridge {br}"),
            status: "conflict".into(),
            stderr: format!("{br} exists and is not a bridge"),
        }),
        Some(l) => {
            if let Some(t) = &plan.takeover
                && !l.mac.eq_ignore_ascii_case(&t.mac)
            {
                host.ip(&["link", "set", "dev", br, "address", &t.mac])?;
            }
            if !l.up {
                host.ip(&["link", "set", "dev", br, "up"])?;
            }
            Ok(())
        }
    }
}

/// The taken-over NIC is a port of the bridge, up, with no address of its own.
fn enslave_nic(
    host: &mut Host,
    t: &Takeover,
    br: &str,
    nic: Option<ObservedLink>,
) -> Result<(), CmdError> {
    if nic.as_ref().and_then(|n| n.master.as_deref()) != Some(br) {
        host.ip(&["link", "set", "dev", &t.nic, "master", br])?;
    }
    if nic.as_ref().is_some_and(|n| !n.up) {
        host.ip(&["link", "set", "dev", &t.nic, "up"])?;
    }
    for a in nic.map(|n| n.addrs).unwrap_or_default() {
        host.ip(&["addr", "del", &a.cidr(), "dev", &t.nic])?;
    }
    Ok(())
}

/// The gateway routes that went through the NIC go through the bridge, with
/// their metric; a route already there is left alone.
fn move_routes(host: &mut Host, t: &Takeover, br: &str) -> Result<(), CmdError> {
    let routes = nics::parse_routes(
        &host.query(host.ns.ip(&["-j", "-4", "route", "show", "table", "main"]))?,
    )?;
    for m in &t.routes {
        let present = routes
            .iter()
            .any(|r| r.dst == m.dst && r.dev == br && r.gateway == Some(m.via));
        if !present {
            let (via, metric) = (m.via.to_string(), m.metric.to_string());
            let argv = [
                "route", "replace", &m.dst, "via", &via, "dev", br, "metric", &metric,
            ];
            host.ip(&argv)?;
        }
    }
    Ok(())
}

fn ensure_forwarding(host: &mut Host) -> Result<(), CmdError> {
    let cur = host.query(host.ns.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]))?;
    if cur.trim() != "1" {
        let argv = host
            .ns
            .exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        host.change(argv, None)?;
    }
    Ok(())
}

/// The whole `ip onestack-host` table as nft reads it.
pub(crate) fn nft_table(plan: &SetupPlan) -> String {
    let mut rules = String::new();
    for r in &plan.nat {
        let net = crate::dataplane::ipv4::network(&r.source).unwrap_or_else(|| r.source.clone());
        rules += &format!(
            "\t\tip saddr {net} oifname \"{}\" masquerade comment \"{}\"\n",
            r.out_interface,
            r.comment.replace('"', "'")
        );
    }
    format!(
        "table ip {NFT_TABLE} {{\n\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{rules}\t}}\n}}\n"
    )
}

/// Rewrites the table only when a rule is missing or one of ours is extra.
fn ensure_nft(host: &mut Host, plan: &SetupPlan) -> Result<(), CmdError> {
    let listing = host
        .query(host.ns.exec(&["nft", "list", "table", "ip", NFT_TABLE]))
        .ok();
    let in_sync = listing.as_deref().is_some_and(|text| {
        let rule_lines: Vec<&str> = text.lines().filter(|l| l.contains("masquerade")).collect();
        rule_lines.len() == plan.nat.len()
            && plan.nat.iter().all(|r| {
                let comment = r.comment.replace('"', "'");
                rule_lines.iter().any(|l| {
                    l.contains(&format!("comment \"{comment}\""))
                        && l.contains(&format!("oifname \"{}\"", r.out_interface))
                })
            })
    });
    if in_sync {
        return Ok(());
    }
    let mut script = String::new();
    if listing.is_some() {
        script += &format!("delete table ip {NFT_TABLE}\n");
    }
    script += &nft_table(plan);
    let argv = host.ns.exec(&["nft", "-f", "-"]);
    host.change(argv, Some(&script))
}

/// Undoes `apply`: the NIC leaves the bridge and gets its addresses and routes
/// back, the bridge goes (when `install` created it), our table goes. Keeps going
/// past failures and returns them all.
pub(crate) fn revert(host: &mut Host, plan: &SetupPlan, created_bridge: bool) -> Vec<String> {
    let links = match host.links() {
        Ok(l) => l,
        Err(e) => return vec![e.to_string()],
    };
    let find = |n: &str| links.iter().find(|l| l.name == n);
    let br = plan.bridge.as_str();
    let bridge = find(br);
    let mut errors = Vec::new();
    if let Some(t) = &plan.takeover
        && let Some(nic) = find(&t.nic)
    {
        release_nic(host, t, nic, br, bridge, &mut errors);
    }
    if let Some(b) = bridge {
        let res = if created_bridge {
            host.ip(&["link", "del", "dev", br])
        } else if b.addrs.iter().any(|a| a.cidr() == plan.bridge_address) {
            host.ip(&["addr", "del", &plan.bridge_address, "dev", br])
        } else {
            Ok(())
        };
        errors.extend(res.err().map(|e| e.to_string()));
    }
    errors.extend(drop_nft(host).err().map(|e| e.to_string()));
    errors
}

/// The NIC leaves the bridge and gets back the addresses and gateway routes the
/// bridge held for it; each failure is recorded and the rest still run.
fn release_nic(
    host: &mut Host,
    t: &Takeover,
    nic: &ObservedLink,
    br: &str,
    bridge: Option<&ObservedLink>,
    errors: &mut Vec<String>,
) {
    let mut record = |res: Result<(), CmdError>| errors.extend(res.err().map(|e| e.to_string()));
    if nic.master.as_deref() == Some(br) {
        record(host.ip(&["link", "set", "dev", &t.nic, "nomaster"]));
    }
    let have: Vec<String> = nic.addrs.iter().map(|a| a.cidr()).collect();
    for a in t.addresses.iter().filter(|a| !have.contains(a)) {
        if bridge.is_some_and(|b| b.addrs.iter().any(|x| &x.cidr() == a)) {
            record(host.ip(&["addr", "del", a, "dev", br]));
        }
        record(host.ip(&["addr", "add", a, "dev", &t.nic]));
    }
    for m in &t.routes {
        let (via, metric) = (m.via.to_string(), m.metric.to_string());
        let argv = [
            "route", "replace", &m.dst, "via", &via, "dev", &t.nic, "metric", &metric,
        ];
        record(host.ip(&argv));
    }
}

/// Deletes our nft table when it is there.
fn drop_nft(host: &mut Host) -> Result<(), CmdError> {
    if host
        .query(host.ns.exec(&["nft", "list", "table", "ip", NFT_TABLE]))
        .is_err()
    {
        return Ok(());
    }
    let argv = host.ns.exec(&["nft", "delete", "table", "ip", NFT_TABLE]);
    host.change(argv, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_rules_carry_comments() {
        let plan = SetupPlan {
            nics: Vec::new(),
            uplink: Some("enp0s3".into()),
            bridge: "br-ex".into(),
            bridge_address: "172.24.4.1/24".into(),
            takeover: None,
            floating_range: "172.24.4.0/24".into(),
            pool_start: "172.24.4.2".parse().expect("ip"),
            pool_end: "172.24.4.254".parse().expect("ip"),
            public_gateway: "172.24.4.1".parse().expect("ip"),
            nat: vec![super::super::plan::NatRule {
                source: "172.24.4.0/24".into(),
                out_interface: "enp0s3".into(),
                comment: "onestack: floating \"range\"".into(),
            }],
            public_host: "10.0.2.15".into(),
            notes: Vec::new(),
        };
        let t = nft_table(&plan);
        assert!(t.contains("ip saddr 172.24.4.0/24 oifname \"enp0s3\" masquerade comment \"onestack: floating 'range'\""), "{t}");
    }
}
