//! The Linux dataplane: bridges, taps, namespaces, nftables and dnsmasq, converged
//! to a plan computed from the networking service's database.
//!
//! `Dataplane::converge` is idempotent: it observes the host, creates what is
//! missing, fixes what differs and removes what onestack owns but the plan no longer
//! names. It never stops at the first failure: every item's error is collected in
//! the report, so one broken port cannot keep the rest of the cloud offline.
//! Ownership: one onestack per state directory, told apart by its `Owner`. It owns
//! the namespaces named `{prefix}qrouter-*` / `{prefix}qdhcp-*` whose `lo` carries
//! its alias (a namespace of another onestack, or of Neutron, is never entered for
//! changes nor deleted), host devices whose alias is its own (created) or its
//! adopted alias (found and enslaved), the host's nftables tables of its name, and
//! dnsmasq processes started with a config under `{state_dir}/dhcp/` (DHCP) or
//! `{state_dir}/ra/` (router advertisements).
//! The metadata listeners (169.254.169.254:80 in each DHCP namespace) are tasks of
//! this process, kept in `metadata::MetadataServers`.

pub mod cmd;
pub mod dnsmasq;
pub mod garp;
pub mod ipv4;
pub mod links;
pub mod metadata;
pub mod netns;
pub mod nft;
pub mod plan;
pub mod ra;
pub mod route_watch;
pub mod router;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use cmd::{Ns, Runner};
use links::Links;
use plan::HostPlan;

/// Where the dataplane lives and how its objects are named.
#[derive(Debug, Clone, PartialEq)]
pub struct DataplaneConfig {
    /// The namespace playing "the host" (None: the root namespace, in production).
    pub host_netns: Option<String>,
    /// Prepended to every namespace the dataplane creates, so tests can isolate.
    pub namespace_prefix: String,
    /// dnsmasq files go under `{state_dir}/dhcp/<network id>/` and
    /// `{state_dir}/ra/<router id>/`.
    pub state_dir: PathBuf,
    /// Whose objects these are, among the onestacks of this machine.
    pub owner: Owner,
}

/// One onestack among several on a machine (a classroom host, CI): the names and
/// marks of what it owns on the host, derived from its state directory so that two
/// clouds never take each other's namespaces, devices or tables for their own.
/// The installed cloud (`/var/lib/onestack`) keeps DevStack's names: `qrouter-<id>`,
/// aliases `onestack`/`onestack-adopted`, nftables tables `onestack`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owner {
    /// Empty for `/var/lib/onestack`, else six hex digits of the state directory's
    /// canonical path.
    pub tag: String,
}

/// The state directory of the installed cloud, whose owner tag is empty.
pub const INSTALLED_STATE_DIR: &str = "/var/lib/onestack";

impl Owner {
    pub fn for_state_dir(dir: &std::path::Path) -> Owner {
        use sha2::Digest;
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if canonical == std::path::Path::new(INSTALLED_STATE_DIR) {
            return Owner::default();
        }
        let digest = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        Owner {
            tag: hex::encode(&digest[..3]),
        }
    }

    fn suffixed(&self, base: &str) -> String {
        if self.tag.is_empty() {
            base.to_string()
        } else {
            format!("{base}-{}", self.tag)
        }
    }

    /// The alias of host devices (and of `lo` in namespaces) this onestack created.
    pub fn owned_alias(&self) -> String {
        self.suffixed(links::ALIAS_OWNED)
    }

    /// The alias of host devices this onestack found and enslaved.
    pub fn adopted_alias(&self) -> String {
        if self.tag.is_empty() {
            links::ALIAS_ADOPTED.to_string()
        } else {
            format!("{}-adopted", self.owned_alias())
        }
    }

    /// The name of its nftables tables in the host namespace.
    pub fn nft_table(&self) -> String {
        self.suffixed(nft::TABLE)
    }

    /// The prefix of its router/DHCP namespaces when the profile names none.
    pub fn namespace_prefix(&self) -> String {
        if self.tag.is_empty() {
            String::new()
        } else {
            format!("os{}-", self.tag)
        }
    }
}

/// What a converge did: the number of changing commands issued, every error, and
/// what it saw of each planned port.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvergeReport {
    pub applied: usize,
    pub errors: Vec<String>,
    /// Port id -> whether its device is wired (on its bridge, up) and has carrier,
    /// i.e. a VMM opened the tap. Drives the API's port `status` (ACTIVE/DOWN).
    pub ports_up: BTreeMap<String, bool>,
}

impl ConvergeReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The Linux implementation of the host networking.
#[derive(Debug)]
pub struct Dataplane {
    config: DataplaneConfig,
    runner: Runner,
    nft: nft::NftCache,
    metadata: metadata::MetadataServers,
    /// One converge or teardown at a time: they read, then change, the same objects.
    busy: tokio::sync::Mutex<()>,
    /// The default-route devices the last converge masqueraded the external range
    /// to (None: no masquerade planned), for `route_watch` to compare against.
    uplinks: std::sync::Mutex<Option<Vec<String>>>,
}

/// The routing protocol number of the host routes onestack owns (tenant IPv6
/// subnets via their router); unassigned in iproute2's `rt_protos`.
pub const HOST_ROUTE_PROTO: &str = "201";

/// Namespace kinds the dataplane creates (after the prefix).
const NS_KINDS: [&str; 2] = ["qrouter-", "qdhcp-"];

impl Dataplane {
    pub fn new(config: DataplaneConfig) -> Dataplane {
        Dataplane {
            config,
            runner: Runner::default(),
            nft: nft::NftCache::default(),
            metadata: metadata::MetadataServers::default(),
            busy: tokio::sync::Mutex::new(()),
            uplinks: std::sync::Mutex::new(None),
        }
    }

    /// Who answers metadata requests (compute); `None` answers every request 404.
    pub fn set_metadata_resolver(&self, resolver: Option<Arc<dyn metadata::MetadataResolver>>) {
        self.metadata.set_resolver(resolver);
    }

    /// Networks whose metadata listener is running.
    pub async fn metadata_listeners(&self) -> BTreeSet<String> {
        self.metadata.running().await
    }

    pub fn config(&self) -> &DataplaneConfig {
        &self.config
    }

    /// The default-route devices the last converge masqueraded the external range
    /// out of; None when it planned no masquerade.
    pub fn masquerade_uplinks(&self) -> Option<Vec<String>> {
        self.uplinks.lock().ok().and_then(|u| u.clone())
    }

    /// The devices of the host namespace's IPv4 default routes, sorted, deduplicated.
    pub async fn default_route_devices(&self) -> Result<Vec<String>, cmd::CmdError> {
        let argv = self.host().ip(&["-4", "-j", "route", "show", "default"]);
        nft::default_route_devices(&self.runner.query(argv).await?)
    }

    /// Total changing commands issued by this dataplane so far.
    pub fn mutations(&self) -> usize {
        self.runner.mutations()
    }

    fn host(&self) -> Ns {
        Ns::from_option(self.config.host_netns.as_deref())
    }

    /// The real namespace name for a plan's `qrouter-<id>` / `qdhcp-<id>`.
    pub fn ns_name(&self, plan_name: &str) -> String {
        format!("{}{plan_name}", self.config.namespace_prefix)
    }

    /// Namespaces named like ours (prefix and kind), whoever marked them.
    fn namespaces_named_ours(&self) -> BTreeSet<String> {
        let p = &self.config.namespace_prefix;
        links::list_namespaces()
            .into_iter()
            .filter(|n| NS_KINDS.iter().any(|k| n.starts_with(&format!("{p}{k}"))))
            .collect()
    }

    /// Deletes those of `names` that carry our mark; an unmarked namespace, one
    /// another onestack marked, or one that cannot be entered is left alone, since
    /// nothing shows it is ours.
    async fn delete_our_namespaces(&self, names: impl Iterator<Item = &String>) -> Vec<String> {
        let mine = self.config.owner.owned_alias();
        let mut errors = Vec::new();
        for ns in names {
            match links::namespace_mark(&self.runner, ns).await {
                Ok(Some(m)) if m == mine => {}
                Ok(mark) => {
                    tracing::debug!(namespace = %ns, ?mark, "not ours: kept");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(namespace = %ns, error = %e, "cannot be entered: kept");
                    continue;
                }
            }
            if let Err(e) = links::delete_namespace(&self.runner, ns).await {
                errors.push(format!("namespace {ns}: {e}"));
            }
            self.nft.forget(&Ns::Named(ns.clone())).await;
        }
        errors
    }

    /// Makes the host match `plan`; see the module doc for what is touched.
    pub async fn converge(&self, plan: &HostPlan) -> ConvergeReport {
        let _busy = self.busy.lock().await;
        let before = self.runner.mutations();
        let mut errors = Vec::new();
        if let Ns::Named(host) = self.host()
            && let Err(e) = links::ensure_host_namespace(&self.runner, &host).await
        {
            errors.push(format!("host namespace {host}: {e}"));
        }
        errors.extend(self.remove_stale_services(plan).await);
        let mut ports_up = BTreeMap::new();
        match links::dump(&self.runner, &self.host()).await {
            Ok(mut host_links) => errors.extend(
                self.converge_host(plan, &mut host_links, &mut ports_up)
                    .await,
            ),
            Err(e) => errors.push(format!("host devices: {e}")),
        }
        errors.extend(self.converge_nft(plan).await);
        errors.extend(self.metadata.sync(&self.metadata_namespaces(plan)).await);
        for e in &errors {
            tracing::warn!(error = %e, "dataplane converge");
        }
        let applied = self.runner.mutations() - before;
        tracing::info!(applied, errors = errors.len(), "dataplane converged");
        ConvergeReport {
            applied,
            errors,
            ports_up,
        }
    }

    /// Network id -> DHCP namespace of every network that serves metadata.
    fn metadata_namespaces(&self, plan: &HostPlan) -> BTreeMap<String, String> {
        plan.networks
            .iter()
            .filter_map(|n| Some((n.id.clone(), self.ns_name(&n.dhcp.as_ref()?.namespace))))
            .collect()
    }

    /// dnsmasq of networks without DHCP and of routers that no longer advertise,
    /// then namespaces the plan no longer names.
    async fn remove_stale_services(&self, plan: &HostPlan) -> Vec<String> {
        let dhcp_nets: BTreeSet<String> = plan
            .networks
            .iter()
            .filter(|n| n.dhcp.is_some())
            .map(|n| n.id.clone())
            .collect();
        let mut errors = dnsmasq::remove_stale(self, &dhcp_nets).await;
        let advertising: BTreeSet<String> = plan
            .routers
            .iter()
            .filter(|r| ra::advertises(r))
            .map(|r| r.id.clone())
            .collect();
        errors.extend(ra::remove_stale(self, &advertising).await);
        let mut keep: BTreeSet<String> = plan
            .routers
            .iter()
            .map(|r| self.ns_name(&r.namespace))
            .collect();
        keep.extend(
            plan.networks
                .iter()
                .filter_map(|n| n.dhcp.as_ref())
                .map(|d| self.ns_name(&d.namespace)),
        );
        let named = self.namespaces_named_ours();
        errors.extend(self.delete_our_namespaces(named.difference(&keep)).await);
        errors
    }

    /// Bridges, routers, DHCP legs and ports, then removal of stale host devices.
    /// Records in `ports_up` whether each planned port is wired and has carrier.
    async fn converge_host(
        &self,
        plan: &HostPlan,
        host_links: &mut Links,
        ports_up: &mut BTreeMap<String, bool>,
    ) -> Vec<String> {
        let host = self.host();
        let r = &self.runner;
        let mut errors = Vec::new();
        let bridges = desired_bridges(plan);
        let mtus: BTreeMap<String, u32> = bridges
            .iter()
            .map(|(b, (mtu, _))| (b.clone(), *mtu))
            .collect();
        let mut wanted: BTreeSet<String> = bridges.keys().cloned().collect();
        for (name, (mtu, up)) in &bridges {
            if let Err(e) =
                links::ensure_bridge(r, &self.config.owner, &host, host_links, name, *mtu, *up)
                    .await
            {
                errors.push(format!("bridge {name}: {e}"));
            }
        }
        if let Some(ext) = &plan.external {
            errors.extend(self.sync_bridge_addr4(host_links, ext).await);
        }
        if let Some(ext) = &plan.external {
            errors.extend(self.sync_bridge_addr6(host_links, ext).await);
        }
        for rp in &plan.routers {
            let (devices, errs) = router::converge(self, host_links, &mtus, rp).await;
            wanted.extend(devices);
            errors.extend(errs);
        }
        if let Some(ext) = &plan.external {
            errors.extend(self.sync_host_routes6(ext).await);
        }
        for net in &plan.networks {
            if let Some(dhcp) = &net.dhcp {
                let (device, errs) = dnsmasq::converge(self, host_links, net, dhcp).await;
                wanted.insert(device);
                errors.extend(errs);
            }
        }
        for p in &plan.ports {
            let mtu = mtus.get(&p.bridge).copied().unwrap_or(1500);
            let (up, err) = self.converge_port(host_links, p, mtu).await;
            errors.extend(err);
            ports_up.insert(p.id.clone(), up);
            wanted.insert(p.tap.clone());
        }
        errors.extend(self.remove_stale_devices(host_links, &wanted).await);
        if let Err(e) = self.ensure_host_forwarding(plan).await {
            errors.push(format!("host forwarding: {e}"));
        }
        errors
    }

    /// The external IPv4 gateway address on the external bridge (IPv6 is synced on
    /// its own, by `sync_bridge_addr6`).
    async fn sync_bridge_addr4(&self, host_links: &Links, ext: &plan::ExternalPlan) -> Vec<String> {
        let Some(addr) = ext.host_address.as_deref().and_then(router::canonical_addr) else {
            return Vec::new();
        };
        let have: Vec<String> = host_links
            .get(&ext.bridge)
            .map(|l| l.addrs.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.contains(':'))
            .collect();
        links::sync_addrs(&self.runner, &self.host(), &ext.bridge, &have, &[addr])
            .await
            .into_iter()
            .map(|e| format!("external bridge {}: {e}", ext.bridge))
            .collect()
    }

    /// Wires one port's tap to its bridge. Returns whether the port is up (wired,
    /// administratively up and with carrier) and the error, if any.
    async fn converge_port(
        &self,
        host_links: &mut Links,
        p: &plan::PortPlan,
        mtu: u32,
    ) -> (bool, Option<String>) {
        // Carrier as observed before this converge: a device created or brought
        // up just now has none yet, and a later converge will see it.
        let carrier = host_links.get(&p.tap).is_some_and(|l| l.carrier);
        let host = self.host();
        let res = links::ensure_port_device(
            &self.runner,
            &self.config.owner,
            &host,
            host_links,
            &p.tap,
            &p.bridge,
            mtu,
            p.admin_state_up,
        );
        match res.await {
            Ok(()) => (p.admin_state_up && carrier, None),
            Err(e) => (false, Some(format!("port {}: {e}", p.id))),
        }
    }

    /// The external IPv6 gateway address on the external bridge. A bridge onestack
    /// created holds exactly the planned address (none once the external IPv6 subnet
    /// is gone); an adopted NIC's own static IPv6 addresses are never removed.
    async fn sync_bridge_addr6(&self, host_links: &Links, ext: &plan::ExternalPlan) -> Vec<String> {
        let host = self.host();
        let want: Vec<String> = ext
            .host_address6
            .as_deref()
            .and_then(router::canonical_addr)
            .into_iter()
            .collect();
        let link = host_links.get(&ext.bridge);
        let owned =
            link.is_some_and(|l| l.alias.as_deref() == Some(&self.config.owner.owned_alias()));
        let mut errors = Vec::new();
        if !want.is_empty()
            && let Err(e) = self.enable_bridge_ipv6(&ext.bridge).await
        {
            errors.push(format!("external bridge {}: {e}", ext.bridge));
        }
        let have: Vec<String> = link
            .map(|l| {
                l.addrs
                    .iter()
                    .filter(|a| a.contains(':'))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let have: Vec<String> = if owned {
            have
        } else {
            have.into_iter().filter(|a| want.contains(a)).collect()
        };
        for e in links::sync_addrs(&self.runner, &host, &ext.bridge, &have, &want).await {
            errors.push(format!("external bridge {}: {e}", ext.bridge));
        }
        errors
    }

    /// IPv6 on the external bridge, which bridges are created without, so the host
    /// can hold the external IPv6 gateway; router advertisements arriving there are
    /// ignored, so nothing on the external network can steer the host's routes.
    async fn enable_bridge_ipv6(&self, bridge: &str) -> Result<(), cmd::CmdError> {
        let host = self.host();
        for (key, want) in [("accept_ra", "0"), ("disable_ipv6", "0")] {
            let key = format!("net.ipv6.conf.{bridge}.{key}");
            let cur = self
                .runner
                .query(host.exec(&["sysctl", "-n", &key]))
                .await?;
            if cur.trim() != want {
                let set = format!("{key}={want}");
                self.runner
                    .mutate(host.exec(&["sysctl", "-q", "-w", &set]))
                    .await?;
            }
        }
        Ok(())
    }

    /// The host's routes to tenant IPv6 subnets on the external bridge, tagged with
    /// their own routing protocol number so no other route is ever touched. With
    /// no external bridge address planned, the routes the bridge has are removed.
    async fn sync_host_routes6(&self, ext: &plan::ExternalPlan) -> Vec<String> {
        let host = self.host();
        let dev = ext.bridge.as_str();
        let show = [
            "-6",
            "-j",
            "route",
            "show",
            "dev",
            dev,
            "proto",
            HOST_ROUTE_PROTO,
        ];
        let have: BTreeSet<(String, String)> = match self.runner.query(host.ip(&show)).await {
            Ok(out) => match router::parse_routes(&out) {
                Ok(routes) => routes,
                Err(e) => return vec![format!("external IPv6 routes: {e}")],
            },
            // No bridge (yet): nothing of ours can be routed through it.
            Err(_) if ext.routes6.is_empty() => return Vec::new(),
            Err(e) => return vec![format!("external IPv6 routes: {e}")],
        };
        let want: BTreeSet<(String, String)> = ext
            .routes6
            .iter()
            .map(|(dst, via)| (dst.clone(), via.to_string()))
            .collect();
        let mut errors = Vec::new();
        for (dst, via) in have.difference(&want) {
            let argv = ["-6", "route", "del", dst, "via", via, "dev", dev];
            let argv = [&argv[..], &["proto", HOST_ROUTE_PROTO]].concat();
            if let Err(e) = self.runner.mutate(host.ip(&argv)).await {
                errors.push(format!("external IPv6 route {dst}: {e}"));
            }
        }
        for (dst, via) in want.difference(&have) {
            let argv = ["-6", "route", "replace", dst, "via", via, "dev", dev];
            let argv = [&argv[..], &["proto", HOST_ROUTE_PROTO]].concat();
            if let Err(e) = self.runner.mutate(host.ip(&argv)).await {
                errors.push(format!("external IPv6 route {dst}: {e}"));
            }
        }
        errors
    }

    /// Deletes devices we created and releases devices we adopted, when unplanned.
    async fn remove_stale_devices(
        &self,
        host_links: &Links,
        wanted: &BTreeSet<String>,
    ) -> Vec<String> {
        let host = self.host();
        let mut errors = Vec::new();
        // Ports first, so a bridge removal never races its own ports.
        let mut stale: Vec<&links::Link> = host_links
            .values()
            .filter(|l| l.is_ours(&self.config.owner) && !wanted.contains(&l.name))
            .collect();
        stale.sort_by_key(|l| l.kind.as_deref() == Some("bridge"));
        let owned = self.config.owner.owned_alias();
        for l in stale {
            let res = match l.alias.as_deref() {
                Some(a) if a == owned => links::delete_link(&self.runner, &host, &l.name).await,
                _ => {
                    let argv = host.ip(&["link", "set", "dev", &l.name, "nomaster", "alias", ""]);
                    self.runner.mutate(argv).await.map(drop)
                }
            };
            if let Err(e) = res {
                errors.push(format!("device {}: {e}", l.name));
            }
        }
        errors
    }

    /// Masquerading the external network needs forwarding in the host namespace.
    async fn ensure_host_forwarding(&self, plan: &HostPlan) -> Result<(), cmd::CmdError> {
        if !plan.external.as_ref().is_some_and(|e| e.masquerade) {
            return Ok(());
        }
        let host = self.host();
        let cur = self
            .runner
            .query(host.exec(&["sysctl", "-n", "net.ipv4.ip_forward"]))
            .await?;
        if cur.trim() != "1" {
            let argv = host.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
            self.runner.mutate(argv).await?;
        }
        Ok(())
    }

    /// Security-group tables and the external masquerade in the host namespace.
    async fn converge_nft(&self, plan: &HostPlan) -> Vec<String> {
        let host = self.host();
        let table = self.config.owner.nft_table();
        let sg = nft::security_tables(plan, &table);
        let mut errors: Vec<String> = sg
            .errors
            .iter()
            .map(|e| format!("security groups: {e}"))
            .collect();
        let uplinks = match plan.external.as_ref().filter(|e| e.masquerade) {
            Some(_) => Some(match self.default_route_devices().await {
                Ok(devices) => devices,
                Err(e) => {
                    errors.push(format!("external masquerade: default routes: {e}"));
                    Vec::new()
                }
            }),
            None => None,
        };
        if let Ok(mut last) = self.uplinks.lock() {
            last.clone_from(&uplinks);
        }
        let uplinks = uplinks.unwrap_or_default();
        let tables = [
            ("inet", sg.inet),
            ("bridge", sg.bridge),
            (
                "ip",
                nft::host_nat(plan.external.as_ref(), &uplinks, &table),
            ),
        ];
        for (family, text) in tables {
            if let Err(e) = self
                .nft
                .apply(&self.runner, &host, family, &table, text.as_deref())
                .await
            {
                errors.push(format!("nftables {family} {table}: {e}"));
            }
        }
        errors
    }

    /// Removes everything onestack owns (for `onestack down --purge-network`),
    /// continuing past failures and returning them all.
    pub async fn teardown(&self) -> Vec<String> {
        let _busy = self.busy.lock().await;
        self.metadata.stop_all().await;
        let mut errors = dnsmasq::remove_stale(self, &BTreeSet::new()).await;
        errors.extend(ra::remove_stale(self, &BTreeSet::new()).await);
        let named = self.namespaces_named_ours();
        errors.extend(self.delete_our_namespaces(named.iter()).await);
        let host = self.host();
        if self
            .config
            .host_netns
            .as_deref()
            .is_none_or(|n| links::list_namespaces().contains(n))
        {
            match links::dump(&self.runner, &host).await {
                Ok(l) => errors.extend(self.remove_stale_devices(&l, &BTreeSet::new()).await),
                Err(e) => errors.push(format!("host devices: {e}")),
            }
            // Routes through a kept (adopted) bridge outlive its devices.
            let flush = ["-6", "route", "flush", "proto", HOST_ROUTE_PROTO];
            if let Err(e) = self.runner.mutate(host.ip(&flush)).await {
                errors.push(format!("external IPv6 routes: {e}"));
            }
            let table = self.config.owner.nft_table();
            for family in ["inet", "bridge", "ip"] {
                let res = self.nft.apply(&self.runner, &host, family, &table, None);
                if let Err(e) = res.await {
                    errors.push(format!("nftables {family} {table}: {e}"));
                }
            }
        }
        for e in &errors {
            tracing::warn!(error = %e, "dataplane teardown");
        }
        errors
    }
}

/// Every bridge the plan needs, with (MTU, up). The external bridge is always up.
fn desired_bridges(plan: &HostPlan) -> BTreeMap<String, (u32, bool)> {
    let mut b: BTreeMap<String, (u32, bool)> = plan
        .networks
        .iter()
        .map(|n| (n.bridge.clone(), (n.mtu, n.admin_state_up)))
        .collect();
    if let Some(ext) = &plan.external {
        b.entry(ext.bridge.clone()).or_insert((1500, true));
    }
    b
}

/// A veth leg from the host into a router or DHCP namespace, as it should be:
/// the host end `outer` in `bridge`, the namespace end `inner` with the port's
/// MAC, both up at the network's MTU.
pub(crate) struct NsLeg<'a> {
    pub outer: &'a str,
    pub inner: &'a str,
    pub bridge: &'a str,
    pub mac: &'a str,
    pub mtu: u32,
}

impl Dataplane {
    /// Makes the leg's veth pair into namespace `ns` (rebuilt when half there);
    /// true when it was (re)created.
    pub(crate) async fn ensure_leg_veth(
        &self,
        host_links: &mut Links,
        ns: &str,
        inner_links: &mut Links,
        leg: &NsLeg<'_>,
    ) -> Result<bool, cmd::CmdError> {
        links::ensure_veth(
            &self.runner,
            &self.config.owner,
            &self.host(),
            host_links,
            leg.outer,
            ns,
            inner_links,
            leg.inner,
        )
        .await
    }

    /// Brings both ends of the leg in line (the host end marked ours), carrying
    /// on past a failed end; returns every error.
    pub(crate) async fn fix_leg_ends(
        &self,
        host_links: &Links,
        ns: &Ns,
        inner: &links::Link,
        leg: &NsLeg<'_>,
    ) -> Vec<cmd::CmdError> {
        let mut errors = Vec::new();
        let owned = self.config.owner.owned_alias();
        let outer_want = links::Want {
            master: Some(leg.bridge),
            mtu: Some(leg.mtu),
            up: true,
            alias: Some(&owned),
            mac: None,
        };
        let outer = &host_links[leg.outer];
        if let Err(e) = links::fix(&self.runner, &self.host(), outer, &outer_want).await {
            errors.push(e);
        }
        let inner_want = links::Want {
            mtu: Some(leg.mtu),
            mac: Some(leg.mac),
            up: true,
            ..links::Want::default()
        };
        if let Err(e) = links::fix(&self.runner, ns, inner, &inner_want).await {
            errors.push(e);
        }
        errors
    }
}
