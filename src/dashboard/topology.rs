//! The network topology picture's layout: networks as vertical bars, routers and
//! instances as boxes on the left with a line to each network they have a port on,
//! floating IPs under their instance. The template draws it as SVG.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::view::{list, s};

#[derive(Serialize)]
pub(super) struct Picture {
    pub width: u32,
    pub height: u32,
    pub networks: Vec<NetBar>,
    pub devices: Vec<Device>,
}

#[derive(Serialize)]
pub(super) struct NetBar {
    pub id: String,
    pub name: String,
    pub cidrs: String,
    pub external: bool,
    pub x: u32,
}

#[derive(Serialize)]
pub(super) struct Device {
    pub kind: &'static str,
    pub name: String,
    /// The name cut to fit the box.
    pub label: String,
    pub href: String,
    pub y: u32,
    pub links: Vec<Link>,
    pub fip: String,
}

#[derive(Serialize)]
pub(super) struct Link {
    pub x: u32,
    pub ip: String,
}

const FIRST_BAR: u32 = 260;
const BAR_GAP: u32 = 150;
const ROW: u32 = 72;

/// Lays out the project's networks, routers, instances and floating IPs (the
/// services' list answers).
pub(super) fn layout(
    nets: &Value,
    subnets: &Value,
    ports: &Value,
    routers: &Value,
    servers: &Value,
    fips: &Value,
) -> Picture {
    let networks = network_bars(nets, subnets);
    let bar_x: HashMap<&str, u32> = networks.iter().map(|n| (n.id.as_str(), n.x)).collect();
    let (mut by_device, fip_of_device) = device_links(ports, fips, &bar_x);
    let mut devices = vec![];
    for r in list(routers, "routers") {
        let id = s(r, "id");
        let links = router_links(r, by_device.remove(id).unwrap_or_default(), &bar_x);
        let href = "/dashboard/project/routers".into();
        let fip = fip_of_device.get(id).copied();
        devices.push(device(
            "router",
            id,
            s(r, "name"),
            href,
            links,
            fip,
            devices.len(),
        ));
    }
    for sv in list(servers, "servers") {
        let id = s(sv, "id");
        let links = by_device.remove(id).unwrap_or_default();
        let href = format!("/dashboard/project/instances/{id}");
        let fip = fip_of_device.get(id).copied();
        devices.push(device(
            "instance",
            id,
            s(sv, "name"),
            href,
            links,
            fip,
            devices.len(),
        ));
    }
    let width = FIRST_BAR + networks.len().max(1) as u32 * BAR_GAP;
    let height = (60 + devices.len() as u32 * ROW + 40).max(300);
    Picture {
        width,
        height,
        networks,
        devices,
    }
}

/// A router's links: its interface ports' and its gateway's on the external bar.
fn router_links(r: &Value, mut links: Vec<Link>, bar_x: &HashMap<&str, u32>) -> Vec<Link> {
    let gw = &r["external_gateway_info"];
    let gateway = bar_x.get(s(gw, "network_id")).map(|&x| Link {
        x,
        ip: list(gw, "external_fixed_ips")
            .first()
            .map_or("", |i| s(i, "ip_address"))
            .to_owned(),
    });
    if let Some(l) = gateway
        && !links.iter().any(|k| k.x == l.x)
    {
        links.push(l);
    }
    links
}

/// The networks as bars left to right, external ones first (as Horizon draws
/// them), each with its subnets' CIDRs.
fn network_bars(nets: &Value, subnets: &Value) -> Vec<NetBar> {
    let mut cidrs: HashMap<&str, Vec<&str>> = HashMap::new();
    for sn in list(subnets, "subnets") {
        cidrs
            .entry(s(sn, "network_id"))
            .or_default()
            .push(s(sn, "cidr"));
    }
    let mut net_list: Vec<&Value> = list(nets, "networks").iter().collect();
    net_list.sort_by_key(|n| {
        (
            n.get("router:external") != Some(&Value::Bool(true)),
            s(n, "name").to_owned(),
        )
    });
    net_list
        .iter()
        .enumerate()
        .map(|(i, n)| NetBar {
            id: s(n, "id").to_owned(),
            name: s(n, "name").to_owned(),
            cidrs: cidrs
                .get(s(n, "id"))
                .map(|c| c.join(" "))
                .unwrap_or_default(),
            external: n.get("router:external") == Some(&Value::Bool(true)),
            x: FIRST_BAR + i as u32 * BAR_GAP,
        })
        .collect()
}

/// The links of each device to the bars its ports are on (in a stable order),
/// and the floating IP of each device that has one.
fn device_links<'a>(
    ports: &'a Value,
    fips: &'a Value,
    bar_x: &HashMap<&str, u32>,
) -> (BTreeMap<&'a str, Vec<Link>>, HashMap<&'a str, &'a str>) {
    let mut by_device: BTreeMap<&str, Vec<Link>> = BTreeMap::new();
    let mut fip_of_port: HashMap<&str, &str> = HashMap::new();
    for f in list(fips, "floatingips") {
        fip_of_port.insert(s(f, "port_id"), s(f, "floating_ip_address"));
    }
    let mut fip_of_device: HashMap<&str, &str> = HashMap::new();
    for p in list(ports, "ports") {
        let Some(&x) = bar_x.get(s(p, "network_id")) else {
            continue;
        };
        let ip = list(p, "fixed_ips")
            .first()
            .map_or("", |i| s(i, "ip_address"));
        by_device.entry(s(p, "device_id")).or_default().push(Link {
            x,
            ip: ip.to_owned(),
        });
        if let Some(f) = fip_of_port.get(s(p, "id")) {
            fip_of_device.insert(s(p, "device_id"), f);
        }
    }
    (by_device, fip_of_device)
}

/// A name cut to `max` characters, the last one an ellipsis.
fn cut_to(name: &str, max: usize) -> String {
    if name.chars().count() > max {
        format!("{}…", name.chars().take(max - 1).collect::<String>())
    } else {
        name.to_owned()
    }
}

/// The `row`th device box; a device without a name shows its id's start.
fn device(
    kind: &'static str,
    id: &str,
    name: &str,
    href: String,
    links: Vec<Link>,
    fip: Option<&str>,
    row: usize,
) -> Device {
    let name: String = if name.is_empty() {
        id.chars().take(8).collect()
    } else {
        name.to_owned()
    };
    Device {
        kind,
        label: cut_to(&name, 18),
        name,
        href,
        y: 60 + row as u32 * ROW,
        links,
        fip: fip.map(str::to_owned).unwrap_or_default(),
    }
}

/// A stack's resources as a picture: each resource a box, in columns by how deep
/// it sits in the dependency graph (what needs nothing first), with an arrow from
/// each resource to those that need it (Heat's `required_by`).
#[derive(Serialize)]
pub(super) struct StackPicture {
    pub width: u32,
    pub height: u32,
    pub nodes: Vec<StackNode>,
    pub edges: Vec<Edge>,
}

#[derive(Serialize)]
pub(super) struct StackNode {
    pub name: String,
    pub label: String,
    pub kind: String,
    pub status: String,
    /// ok, bad or live, as the status cells.
    pub class: &'static str,
    pub href: Option<String>,
    pub x: u32,
    pub y: u32,
}

#[derive(Serialize)]
pub(super) struct Edge {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

const NODE_W: u32 = 170;
const NODE_H: u32 = 48;
const COL_GAP: u32 = 230;
const ROW_GAP: u32 = 70;

/// Lays out `resources` (the resource list's answer); `href` gives a resource's
/// dashboard page from its type and physical id.
pub(super) fn stack_layout(
    resources: &Value,
    href: impl Fn(&str, &str) -> Option<String>,
) -> StackPicture {
    let items = list(resources, "resources");
    let needs = dependencies(items);
    let depth = depths(&needs);
    // Within a column, by name, so the picture is stable between refreshes.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (depth[i], s(&items[i], "resource_name").to_owned()));
    let mut pos = vec![(0u32, 0u32); items.len()];
    let mut rows: BTreeMap<u32, u32> = BTreeMap::new();
    for &i in &order {
        let row = rows.entry(depth[i]).or_default();
        pos[i] = (20 + depth[i] * COL_GAP, 20 + *row * ROW_GAP);
        *row += 1;
    }
    let nodes = items
        .iter()
        .zip(&pos)
        .map(|(r, &p)| stack_node(r, p, &href))
        .collect();
    let mut edges = vec![];
    for (b, from) in needs.iter().enumerate() {
        for &a in from {
            edges.push(Edge {
                x1: pos[a].0 + NODE_W,
                y1: pos[a].1 + NODE_H / 2,
                x2: pos[b].0,
                y2: pos[b].1 + NODE_H / 2,
            });
        }
    }
    let cols = depth.iter().max().map_or(1, |d| d + 1);
    let tallest = rows.values().max().copied().unwrap_or(1);
    StackPicture {
        width: 40 + (cols - 1) * COL_GAP + NODE_W,
        height: (40 + tallest.saturating_sub(1) * ROW_GAP + NODE_H).max(100),
        nodes,
        edges,
    }
}

/// needs[b] = the resources b needs (a is in needs[b] when b is in a's
/// `required_by`), by index in `items`.
fn dependencies(items: &[Value]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, r)| (s(r, "resource_name"), i))
        .collect();
    let mut needs: Vec<Vec<usize>> = vec![vec![]; items.len()];
    for (a, r) in items.iter().enumerate() {
        for b in list(r, "required_by") {
            if let Some(&b) = b.as_str().and_then(|n| index.get(n)) {
                needs[b].push(a);
            }
        }
    }
    needs
}

/// Each resource's depth in the dependency graph, by relaxation; at most n
/// rounds, so a (malformed) cycle cannot loop.
fn depths(needs: &[Vec<usize>]) -> Vec<u32> {
    let n = needs.len();
    let mut depth = vec![0u32; n];
    for _ in 0..n {
        let mut changed = false;
        for b in 0..n {
            let want = needs[b].iter().map(|&a| depth[a] + 1).max().unwrap_or(0);
            if want > depth[b] && want < n as u32 {
                depth[b] = want;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

/// One resource's box at `pos`, classed by its status as the status cells are.
fn stack_node(
    r: &Value,
    (x, y): (u32, u32),
    href: &impl Fn(&str, &str) -> Option<String>,
) -> StackNode {
    let name = s(r, "resource_name").to_owned();
    let status = s(r, "resource_status").to_owned();
    let class = if status.ends_with("_COMPLETE") {
        "ok"
    } else if status.ends_with("_FAILED") {
        "bad"
    } else {
        "live"
    };
    StackNode {
        label: cut_to(&name, 20),
        kind: s(r, "resource_type").to_owned(),
        status,
        class,
        href: href(s(r, "resource_type"), s(r, "physical_resource_id")),
        x,
        y,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stack_resources_are_columns_by_dependency() {
        let res = json!({"resources": [
            {"resource_name": "server", "resource_type": "OS::Nova::Server", "resource_status": "CREATE_IN_PROGRESS", "physical_resource_id": "s1", "required_by": []},
            {"resource_name": "net", "resource_type": "OS::Neutron::Net", "resource_status": "CREATE_COMPLETE", "physical_resource_id": "n1", "required_by": ["subnet", "server"]},
            {"resource_name": "subnet", "resource_type": "OS::Neutron::Subnet", "resource_status": "CREATE_FAILED", "physical_resource_id": "", "required_by": ["server"]}]});
        let p = stack_layout(&res, |_, id| (!id.is_empty()).then(|| format!("/x/{id}")));
        let at = |n: &str| p.nodes.iter().find(|x| x.name == n).expect(n);
        assert!(at("net").x < at("subnet").x && at("subnet").x < at("server").x);
        assert_eq!(
            (at("net").class, at("subnet").class, at("server").class),
            ("ok", "bad", "live")
        );
        assert_eq!(p.edges.len(), 3);
        assert_eq!(at("subnet").href, None);
        assert_eq!(at("server").href.as_deref(), Some("/x/s1"));
        // A cycle (which Heat never reports) still ends.
        let cyc = json!({"resources": [
            {"resource_name": "a", "required_by": ["b"]}, {"resource_name": "b", "required_by": ["a"]}]});
        assert_eq!(stack_layout(&cyc, |_, _| None).nodes.len(), 2);
    }

    #[test]
    fn routers_and_instances_connect_to_their_networks() {
        let nets = json!({"networks": [
            {"id": "n1", "name": "private"},
            {"id": "ext", "name": "public", "router:external": true}]});
        let subnets = json!({"subnets": [{"network_id": "n1", "cidr": "10.0.0.0/24"}]});
        let ports = json!({"ports": [
            {"id": "p1", "network_id": "n1", "device_id": "r1", "fixed_ips": [{"ip_address": "10.0.0.1"}]},
            {"id": "p2", "network_id": "n1", "device_id": "s1", "fixed_ips": [{"ip_address": "10.0.0.5"}]}]});
        let routers = json!({"routers": [{"id": "r1", "name": "router1",
            "external_gateway_info": {"network_id": "ext", "external_fixed_ips": [{"ip_address": "172.24.4.2"}]}}]});
        let servers = json!({"servers": [{"id": "s1", "name": "vm"}]});
        let fips = json!({"floatingips": [{"port_id": "p2", "floating_ip_address": "172.24.4.9"}]});
        let p = layout(&nets, &subnets, &ports, &routers, &servers, &fips);
        assert_eq!(p.networks[0].name, "public", "external first");
        assert_eq!(p.networks[1].cidrs, "10.0.0.0/24");
        let router = &p.devices[0];
        assert_eq!(router.links.len(), 2, "private port and gateway");
        let vm = &p.devices[1];
        assert_eq!(vm.links.len(), 1);
        assert_eq!(vm.links[0].x, p.networks[1].x);
        assert_eq!(vm.fip, "172.24.4.9");
    }
}
