//! Project pages of networking: networks (with subnets), the topology picture,
//! routers, security groups and rules, floating IPs.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::super::topology;
use super::super::view::{Action, Cell, Field, Form as UiForm, Table, link, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::{Posted, back, options, page, panel, segment};

const NET: &str = "/networking/v2.0";

/// `GET /dashboard/project/networks`.
pub(super) async fn networks(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (nets, subnets) = tokio::join!(
        d.backend.get(t, &format!("{NET}/networks")),
        d.backend.get(t, &format!("{NET}/subnets"))
    );
    let (nets, subnets) = (nets?, subnets?);
    let cidrs = subnet_cidrs(&subnets);
    let mut table = Table::new(
        "networks",
        "Networks",
        vec!["Name", "Subnets", "Shared", "External", "Status"],
    );
    for n in list(&nets, "networks") {
        let id = s(n, "id");
        let mine = s(n, "project_id") == sess.project_id;
        let actions = if mine {
            vec![Action::new("Delete", format!("/dashboard/project/networks/{id}/delete")).danger()]
        } else {
            vec![]
        };
        table.row(
            id,
            vec![
                Cell::from(s(n, "name")),
                Cell::from(cidrs.get(id).cloned().unwrap_or_default().join(", ")),
                Cell::from(text(n, "shared")),
                Cell::from(text(n, "router:external")),
                status(s(n, "status")),
            ],
            actions,
        );
    }
    let create = UiForm::new(
        "network-create",
        "Create Network",
        "/dashboard/project/networks",
        "Create Network",
        vec![
            Field::text("name", "Network name").required(),
            Field::text("subnet_name", "Subnet name"),
            Field::text("cidr", "Network address (CIDR), e.g. 192.168.10.0/24"),
            Field::text("gateway_ip", "Gateway IP (blank: the first address)"),
            Field::text("enable_dhcp", "Enable DHCP")
                .kind("checkbox")
                .value("1"),
        ],
    );
    panel(
        &d,
        &sess,
        "networks",
        "Networks",
        vec![create],
        vec![table],
        None,
    )
    .await
}

fn subnet_cidrs(subnets: &Value) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for sn in list(subnets, "subnets") {
        out.entry(s(sn, "network_id").to_owned())
            .or_default()
            .push(s(sn, "cidr").to_owned());
    }
    out
}

/// `POST /dashboard/project/networks`: the network and, when a CIDR is given, its
/// subnet; a refused subnet removes the network again (nothing half made).
pub(super) async fn network_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let name = f.required("name", "Network name")?;
    let net = d
        .backend
        .post(
            &sess.token,
            &format!("{NET}/networks"),
            json!({"network": {"name": name}}),
        )
        .await?;
    let net_id = s(&net["network"], "id").to_owned();
    if !f.get("cidr").is_empty() {
        let mut subnet = json!({
            "network_id": net_id,
            "ip_version": if f.get("cidr").contains(':') { 6 } else { 4 },
            "cidr": f.get("cidr"),
            "enable_dhcp": f.get("enable_dhcp") == "1",
            "name": if f.get("subnet_name").is_empty() { format!("{name}-subnet") } else { f.get("subnet_name").to_owned() },
        });
        if !f.get("gateway_ip").is_empty() {
            subnet["gateway_ip"] = json!(f.get("gateway_ip"));
        }
        if let Err(e) = d
            .backend
            .post(
                &sess.token,
                &format!("{NET}/subnets"),
                json!({"subnet": subnet}),
            )
            .await
        {
            if let Err(undo) = d
                .backend
                .delete(&sess.token, &format!("{NET}/networks/{net_id}"))
                .await
            {
                tracing::warn!(error = %undo, network = %net_id, "removing a network whose subnet was refused");
            }
            return Err(e.into());
        }
    }
    back("/dashboard/project/networks")
}

/// `POST /dashboard/project/networks/{id}/delete`.
pub(super) async fn network_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(&sess.token, &format!("{NET}/networks/{}", segment(&id)?))
        .await?;
    back("/dashboard/project/networks")
}

/// `GET /dashboard/project/topology`: networks, routers, instances and their
/// floating IPs as one SVG picture.
pub(super) async fn topology(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (nets, subnets, ports, routers, servers, fips) = tokio::join!(
        d.backend.get(t, &format!("{NET}/networks")),
        d.backend.get(t, &format!("{NET}/subnets")),
        d.backend.get(t, &format!("{NET}/ports")),
        d.backend.get(t, &format!("{NET}/routers")),
        d.backend.get(t, "/compute/v2.1/servers"),
        d.backend.get(t, &format!("{NET}/floatingips")),
    );
    let picture = topology::layout(
        &nets?,
        &subnets?,
        &ports?,
        &routers?,
        &servers.unwrap_or_default(),
        &fips.unwrap_or_default(),
    );
    Ok(page(
        &d,
        &sess,
        "topology",
        "Network Topology",
        "topology.html",
        json!({"topo": picture}),
    )
    .await)
}

/// `GET /dashboard/project/routers`.
pub(super) async fn routers(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (routers, nets, subnets) = tokio::join!(
        d.backend.get(t, &format!("{NET}/routers")),
        d.backend.get(t, &format!("{NET}/networks")),
        d.backend.get(t, &format!("{NET}/subnets")),
    );
    let (routers, nets, subnets) = (routers?, nets?, subnets?);
    let subnet_opts = options(
        &list(&subnets, "subnets")
            .iter()
            .filter(|sn| s(sn, "project_id") == sess.project_id)
            .cloned()
            .collect::<Vec<_>>(),
        "id",
        |sn| format!("{} ({})", s(sn, "name"), s(sn, "cidr")),
    );
    let table = routers_table(&routers, &nets, subnet_opts);
    let mut ext_opts = vec![(String::new(), "(no gateway)".to_owned())];
    ext_opts.extend(
        list(&nets, "networks")
            .iter()
            .filter(|n| n.get("router:external") == Some(&Value::Bool(true)))
            .map(|n| (s(n, "id").to_owned(), s(n, "name").to_owned())),
    );
    let default_ext = ext_opts.get(1).map(|o| o.0.clone()).unwrap_or_default();
    let create = UiForm::new(
        "router-create",
        "Create Router",
        "/dashboard/project/routers",
        "Create Router",
        vec![
            Field::text("name", "Router name").required(),
            Field::select("external_network", "External network", ext_opts).value(default_ext),
        ],
    );
    panel(
        &d,
        &sess,
        "routers",
        "Routers",
        vec![create],
        vec![table],
        None,
    )
    .await
}

/// The project's routers, their external networks by name, each with Add
/// interface (on one of the project's subnets) and Delete.
fn routers_table(routers: &Value, nets: &Value, subnet_opts: Vec<(String, String)>) -> Table {
    let net_name: HashMap<&str, &str> = list(nets, "networks")
        .iter()
        .map(|n| (s(n, "id"), s(n, "name")))
        .collect();
    let mut table = Table::new(
        "routers",
        "Routers",
        vec!["Name", "External network", "Status", "Admin state"],
    );
    for r in list(routers, "routers") {
        let id = s(r, "id");
        let ext = s(&r["external_gateway_info"], "network_id");
        table.row(
            id,
            vec![
                Cell::from(s(r, "name")),
                Cell::from(*net_name.get(ext).unwrap_or(&ext)),
                status(s(r, "status")),
                Cell::from(if r.get("admin_state_up") == Some(&Value::Bool(true)) {
                    "UP"
                } else {
                    "DOWN"
                }),
            ],
            vec![
                Action::new(
                    "Add interface",
                    format!("/dashboard/project/routers/{id}/interface"),
                )
                .input(Field::select("subnet_id", "Subnet", subnet_opts.clone())),
                Action::new("Delete", format!("/dashboard/project/routers/{id}/delete")).danger(),
            ],
        );
    }
    table
}

/// `POST /dashboard/project/routers`.
pub(super) async fn router_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let mut router = json!({"name": f.required("name", "Router name")?});
    if !f.get("external_network").is_empty() {
        router["external_gateway_info"] = json!({"network_id": f.get("external_network")});
    }
    d.backend
        .post(
            &sess.token,
            &format!("{NET}/routers"),
            json!({"router": router}),
        )
        .await?;
    back("/dashboard/project/routers")
}

/// `POST /dashboard/project/routers/{id}/interface`: attaches a subnet.
pub(super) async fn router_interface_add(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let subnet = f.required("subnet_id", "Subnet")?;
    d.backend
        .call(
            &sess.token,
            Method::PUT,
            &format!("{NET}/routers/{}/add_router_interface", segment(&id)?),
            Some(json!({"subnet_id": subnet})),
        )
        .await?;
    back("/dashboard/project/routers")
}

/// `POST /dashboard/project/routers/{id}/delete`: removes its subnet interfaces
/// first, as Horizon does, then the router.
pub(super) async fn router_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    let id = segment(&id)?;
    let ports = d
        .backend
        .get(
            &sess.token,
            &format!("{NET}/ports?device_id={id}&device_owner=network:router_interface"),
        )
        .await?;
    for p in list(&ports, "ports") {
        for ip in list(p, "fixed_ips") {
            d.backend
                .call(
                    &sess.token,
                    Method::PUT,
                    &format!("{NET}/routers/{id}/remove_router_interface"),
                    Some(json!({"subnet_id": s(ip, "subnet_id")})),
                )
                .await?;
        }
    }
    d.backend
        .delete(&sess.token, &format!("{NET}/routers/{id}"))
        .await?;
    back("/dashboard/project/routers")
}

/// `GET /dashboard/project/security-groups`.
pub(super) async fn security_groups(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let v = d
        .backend
        .get(
            &sess.token,
            &format!("{NET}/security-groups?project_id={}", sess.project_id),
        )
        .await?;
    let mut table = Table::new(
        "security-groups",
        "Security Groups",
        vec!["Name", "Description", "Rules"],
    );
    for g in list(&v, "security_groups") {
        let id = s(g, "id");
        table.row(
            id,
            vec![
                link(
                    s(g, "name"),
                    format!("/dashboard/project/security-groups/{id}"),
                ),
                Cell::from(s(g, "description")),
                Cell::from(list(g, "security_group_rules").len().to_string()),
            ],
            vec![
                Action::new(
                    "Delete",
                    format!("/dashboard/project/security-groups/{id}/delete"),
                )
                .danger(),
            ],
        );
    }
    let create = UiForm::new(
        "sg-create",
        "Create Security Group",
        "/dashboard/project/security-groups",
        "Create Security Group",
        vec![
            Field::text("name", "Name").required(),
            Field::text("description", "Description"),
        ],
    );
    panel(
        &d,
        &sess,
        "security-groups",
        "Security Groups",
        vec![create],
        vec![table],
        None,
    )
    .await
}

/// `POST /dashboard/project/security-groups`.
pub(super) async fn security_group_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let body = json!({"security_group": {"name": f.required("name", "Name")?, "description": f.get("description")}});
    let g = d
        .backend
        .post(&sess.token, &format!("{NET}/security-groups"), body)
        .await?;
    back(&format!(
        "/dashboard/project/security-groups/{}",
        s(&g["security_group"], "id")
    ))
}

/// `POST /dashboard/project/security-groups/{id}/delete`.
pub(super) async fn security_group_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!("{NET}/security-groups/{}", segment(&id)?),
        )
        .await?;
    back("/dashboard/project/security-groups")
}

/// `GET /dashboard/project/security-groups/{id}`: the rules, and a form to add one.
pub(super) async fn security_group_detail(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let id = segment(&id)?;
    let g = d
        .backend
        .get(&sess.token, &format!("{NET}/security-groups/{id}"))
        .await?;
    let g = &g["security_group"];
    let table = rules_table(&id, g);
    let opt = |v: &[&str]| {
        v.iter()
            .map(|x| (x.to_string(), x.to_string()))
            .collect::<Vec<_>>()
    };
    let add = UiForm::new(
        "rule-create",
        "Add Rule",
        &format!("/dashboard/project/security-groups/{id}/rules"),
        "Add Rule",
        vec![
            Field::select("direction", "Direction", opt(&["ingress", "egress"])),
            Field::select("protocol", "Protocol", opt(&["tcp", "udp", "icmp", "any"])),
            Field::text("port_min", "Port (or first port)").kind("number"),
            Field::text("port_max", "Last port (blank: one port)").kind("number"),
            Field::text("remote_ip_prefix", "Remote CIDR").value("0.0.0.0/0"),
        ],
    );
    panel(
        &d,
        &sess,
        "security-groups",
        &format!("Security Group {}", s(g, "name")),
        vec![add],
        vec![table],
        None,
    )
    .await
}

/// A security group's rules, each with Delete.
fn rules_table(id: &str, g: &Value) -> Table {
    let mut table = Table::new(
        "rules",
        "Rules",
        vec![
            "Direction",
            "Ether type",
            "Protocol",
            "Port range",
            "Remote",
        ],
    );
    for r in list(g, "security_group_rules") {
        let rid = s(r, "id");
        table.row(
            rid,
            vec![
                Cell::from(s(r, "direction")),
                Cell::from(s(r, "ethertype")),
                Cell::from(if s(r, "protocol").is_empty() {
                    "any"
                } else {
                    s(r, "protocol")
                }),
                Cell::from(rule_ports(r)),
                Cell::from(rule_remote(r)),
            ],
            vec![
                Action::new(
                    "Delete",
                    format!("/dashboard/project/security-groups/{id}/rules/{rid}/delete"),
                )
                .danger(),
            ],
        );
    }
    table
}

/// A rule's port range: one port, `min-max`, or "any".
fn rule_ports(r: &Value) -> String {
    let ports = match (text(r, "port_range_min"), text(r, "port_range_max")) {
        (a, b) if a.is_empty() => b,
        (a, b) if a == b => a,
        (a, b) => format!("{a}-{b}"),
    };
    if ports.is_empty() {
        "any".to_owned()
    } else {
        ports
    }
}

/// A rule's remote end: a CIDR, a group, or nothing.
fn rule_remote(r: &Value) -> String {
    match (s(r, "remote_ip_prefix"), s(r, "remote_group_id")) {
        ("", "") => String::new(),
        ("", grp) => format!("group {grp}"),
        (cidr, _) => cidr.to_owned(),
    }
}

/// `POST /dashboard/project/security-groups/{id}/rules`.
pub(super) async fn security_group_rule_create(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let id = segment(&id)?;
    let port = |k: &str| -> Result<Option<u16>, PageError> {
        match f.get(k) {
            "" => Ok(None),
            p => p
                .parse()
                .map(Some)
                .map_err(|_| PageError::BadInput(format!("'{p}' is not a port number (0-65535)."))),
        }
    };
    let (min, max) = (port("port_min")?, port("port_max")?);
    let cidr = f.get("remote_ip_prefix");
    let mut rule = json!({
        "security_group_id": id,
        "direction": f.required("direction", "Direction")?,
        "ethertype": if cidr.contains(':') { "IPv6" } else { "IPv4" },
    });
    match f.get("protocol") {
        "" | "any" => {}
        p => rule["protocol"] = json!(p),
    }
    if let Some(min) = min {
        rule["port_range_min"] = json!(min);
        rule["port_range_max"] = json!(max.unwrap_or(min));
    }
    if !cidr.is_empty() {
        rule["remote_ip_prefix"] = json!(cidr);
    }
    d.backend
        .post(
            &sess.token,
            &format!("{NET}/security-group-rules"),
            json!({"security_group_rule": rule}),
        )
        .await?;
    back(&format!("/dashboard/project/security-groups/{id}"))
}

/// `POST /dashboard/project/security-groups/{id}/rules/{rule}/delete`.
pub(super) async fn security_group_rule_delete(
    State(d): State<Dash>,
    Path((id, rule)): Path<(String, String)>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!("{NET}/security-group-rules/{}", segment(&rule)?),
        )
        .await?;
    back(&format!(
        "/dashboard/project/security-groups/{}",
        segment(&id)?
    ))
}

/// `GET /dashboard/project/floating-ips`.
pub(super) async fn floating_ips(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (fips, nets, ports, servers) = tokio::join!(
        d.backend.get(t, &format!("{NET}/floatingips")),
        d.backend
            .get(t, &format!("{NET}/networks?router:external=true")),
        d.backend.get(t, &format!("{NET}/ports")),
        d.backend.get(t, "/compute/v2.1/servers"),
    );
    let (fips, nets, ports) = (fips?, nets?, ports?);
    let servers = servers.unwrap_or_default();
    let port_opts = instance_port_options(&ports, &servers);
    let table = floating_ips_table(&fips, &nets, &port_opts);
    let pools = options(list(&nets, "networks"), "id", |n| s(n, "name").to_owned());
    let alloc = UiForm::new(
        "fip-allocate",
        "Allocate IP to Project",
        "/dashboard/project/floating-ips",
        "Allocate IP",
        vec![Field::select("pool", "Pool", pools)],
    );
    panel(
        &d,
        &sess,
        "floating-ips",
        "Floating IPs",
        vec![alloc],
        vec![table],
        None,
    )
    .await
}

/// The instance ports a floating IP can go to, labelled "server: fixed IP".
fn instance_port_options(ports: &Value, servers: &Value) -> Vec<(String, String)> {
    let server_name: HashMap<&str, &str> = list(servers, "servers")
        .iter()
        .map(|sv| (s(sv, "id"), s(sv, "name")))
        .collect();
    list(ports, "ports")
        .iter()
        .filter(|p| s(p, "device_owner").starts_with("compute:"))
        .map(|p| {
            let ip = list(p, "fixed_ips")
                .first()
                .map_or("", |i| s(i, "ip_address"));
            let dev = s(p, "device_id");
            (
                s(p, "id").to_owned(),
                format!("{}: {ip}", server_name.get(dev).unwrap_or(&dev)),
            )
        })
        .collect()
}

/// The project's floating IPs, their ports by label and pools by name.
fn floating_ips_table(fips: &Value, nets: &Value, port_opts: &[(String, String)]) -> Table {
    let port_label: HashMap<&str, &str> = port_opts
        .iter()
        .map(|(id, l)| (id.as_str(), l.as_str()))
        .collect();
    let mut table = Table::new(
        "floating-ips",
        "Floating IPs",
        vec!["IP address", "Mapped fixed IP", "Pool", "Status"],
    );
    let pool_name: HashMap<&str, &str> = list(nets, "networks")
        .iter()
        .map(|n| (s(n, "id"), s(n, "name")))
        .collect();
    for fip in list(fips, "floatingips") {
        let port = s(fip, "port_id");
        let net = s(fip, "floating_network_id");
        table.row(
            s(fip, "id"),
            vec![
                Cell::from(s(fip, "floating_ip_address")),
                Cell::from(
                    port_label
                        .get(port)
                        .map_or_else(|| s(fip, "fixed_ip_address").to_owned(), |l| l.to_string()),
                ),
                Cell::from(*pool_name.get(net).unwrap_or(&net)),
                status(s(fip, "status")),
            ],
            floating_ip_actions(s(fip, "id"), port, port_opts),
        );
    }
    table
}

/// A floating IP's buttons: associate (free) or disassociate (in use), release.
fn floating_ip_actions(id: &str, port: &str, port_opts: &[(String, String)]) -> Vec<Action> {
    let first = if port.is_empty() {
        Action::new(
            "Associate",
            format!("/dashboard/project/floating-ips/{id}/associate"),
        )
        .input(Field::select("port_id", "Port", port_opts.to_vec()))
    } else {
        Action::new(
            "Disassociate",
            format!("/dashboard/project/floating-ips/{id}/disassociate"),
        )
    };
    vec![
        first,
        Action::new(
            "Release",
            format!("/dashboard/project/floating-ips/{id}/delete"),
        )
        .danger(),
    ]
}

/// `POST /dashboard/project/floating-ips`: allocates one from a pool.
pub(super) async fn floating_ip_allocate(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let pool = f.required("pool", "Pool")?;
    d.backend
        .post(
            &sess.token,
            &format!("{NET}/floatingips"),
            json!({"floatingip": {"floating_network_id": pool}}),
        )
        .await?;
    back("/dashboard/project/floating-ips")
}

async fn floating_ip_set_port(
    d: &Dash,
    token: &str,
    id: &str,
    port: Value,
) -> Result<(), PageError> {
    d.backend
        .call(
            token,
            Method::PUT,
            &format!("{NET}/floatingips/{}", segment(id)?),
            Some(json!({"floatingip": {"port_id": port}})),
        )
        .await?;
    Ok(())
}

/// `POST /dashboard/project/floating-ips/{id}/associate`.
pub(super) async fn floating_ip_associate(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let port = f.required("port_id", "Port")?;
    floating_ip_set_port(&d, &sess.token, &id, json!(port)).await?;
    back("/dashboard/project/floating-ips")
}

/// `POST /dashboard/project/floating-ips/{id}/disassociate`.
pub(super) async fn floating_ip_disassociate(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    floating_ip_set_port(&d, &sess.token, &id, Value::Null).await?;
    back("/dashboard/project/floating-ips")
}

/// `POST /dashboard/project/floating-ips/{id}/delete`.
pub(super) async fn floating_ip_release(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(&sess.token, &format!("{NET}/floatingips/{}", segment(&id)?))
        .await?;
    back("/dashboard/project/floating-ips")
}
