//! Floating IP port forwardings over HTTP against the real binary (dataplane off):
//! CRUD, Neutron's validation and collision rules, the floating IP binding to the
//! router, the interplay with floating IP association, port and interface
//! removal, project isolation, and persistence across kill -9.

mod common;

use common::neutron::{call, id, neutron_error, post, post_subnet};
use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

fn ip(port: &Value) -> String {
    port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("ip")
        .to_owned()
}

/// A project's network behind a router with a gateway on `public`, two ports on
/// it, a port on a subnet no router reaches, and a free floating IP.
struct Topo {
    router: String,
    subnet: String,
    port: Value,
    port2: Value,
    lonely: Value,
    fip: Value,
    public: String,
}

fn topo(s: &Server, t: &str) -> Topo {
    let public =
        id(&json_of(call(s, Method::GET, "/networks?name=public", t, None))["networks"][0]);
    let net = post(s, t, "networks", "network", json!({"name": "pf-net"}));
    let sub = post_subnet(
        s,
        t,
        json!({"network_id": id(&net), "ip_version": 4, "cidr": "10.8.0.0/24"}),
    );
    let router = post(
        s,
        t,
        "routers",
        "router",
        json!({"name": "pf-r", "external_gateway_info": {"network_id": public}}),
    );
    let r = call(
        s,
        Method::PUT,
        &format!("/routers/{}/add_router_interface", id(&router)),
        t,
        Some(json!({"subnet_id": id(&sub)})),
    );
    assert_eq!(r.status(), 200);
    let other = post(s, t, "networks", "network", json!({"name": "pf-lonely"}));
    post_subnet(
        s,
        t,
        json!({"network_id": id(&other), "ip_version": 4, "cidr": "10.9.0.0/24"}),
    );
    Topo {
        router: id(&router),
        subnet: id(&sub),
        port: post(s, t, "ports", "port", json!({"network_id": id(&net)})),
        port2: post(s, t, "ports", "port", json!({"network_id": id(&net)})),
        lonely: post(s, t, "ports", "port", json!({"network_id": id(&other)})),
        fip: post(
            s,
            t,
            "floatingips",
            "floatingip",
            json!({"floating_network_id": public}),
        ),
        public,
    }
}

fn pfs(fip: &Value) -> String {
    format!("/floatingips/{}/port_forwardings", id(fip))
}

fn create(s: &Server, t: &str, fip: &Value, body: Value) -> Response {
    call(
        s,
        Method::POST,
        &pfs(fip),
        t,
        Some(json!({ "port_forwarding": body })),
    )
}

fn ssh(port: &Value, external: u16) -> Value {
    json!({"internal_port_id": id(port), "internal_ip_address": ip(port),
           "internal_port": 22, "external_port": external, "protocol": "tcp"})
}

fn fip_show(s: &Server, t: &str, fip: &Value) -> Value {
    json_of(call(
        s,
        Method::GET,
        &format!("/floatingips/{}", id(fip)),
        t,
        None,
    ))["floatingip"]
        .clone()
}

#[test]
fn port_forwarding_crud_binds_the_floating_ip_and_survives_kill_9() {
    let mut s = Server::start();
    let t = s.demo();
    let ext = json_of(call(&s, Method::GET, "/extensions", &t, None));
    let aliases: Vec<&str> = ext["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for a in [
        "floating-ip-port-forwarding",
        "floating-ip-port-forwarding-description",
        "floating-ip-port-forwarding-port-ranges",
        "expose-port-forwarding-in-fip",
    ] {
        assert!(aliases.contains(&a), "{a} listed");
    }
    let topo = topo(&s, &t);
    let fip = &topo.fip;
    assert_eq!(fip["router_id"], Value::Null);

    let mut body = ssh(&topo.port, 2222);
    body["description"] = json!("ssh to vm1");
    let r = create(&s, &t, fip, body);
    assert_eq!(r.status(), 201);
    let pf = json_of(r)["port_forwarding"].clone();
    assert_eq!(pf["external_port"], 2222);
    assert_eq!(pf["internal_port"], 22);
    assert_eq!(pf["external_port_range"], "2222:2222");
    assert_eq!(pf["internal_port_range"], "22:22");
    assert_eq!(pf["protocol"], "tcp");
    assert_eq!(pf["internal_ip_address"], ip(&topo.port).as_str());
    assert_eq!(pf["internal_port_id"], id(&topo.port).as_str());
    assert_eq!(pf["description"], "ssh to vm1");
    let bound = fip_show(&s, &t, fip);
    assert_eq!(
        bound["router_id"],
        topo.router.as_str(),
        "bound to the router"
    );
    assert_eq!(bound["status"], "ACTIVE");
    assert_eq!(bound["port_id"], Value::Null);
    assert_eq!(
        bound["port_forwardings"],
        json!([{"id": id(&pf), "internal_ip_address": ip(&topo.port), "protocol": "tcp",
                "internal_port": 22, "external_port": 2222, "internal_port_id": id(&topo.port)}]),
        "expose-port-forwarding-in-fip"
    );

    // Show, list, filters and fields.
    let one = format!("{}/{}", pfs(fip), id(&pf));
    let shown = json_of(call(&s, Method::GET, &one, &t, None));
    assert_eq!(shown["port_forwarding"], pf);
    let list = json_of(call(&s, Method::GET, &pfs(fip), &t, None));
    assert_eq!(list["port_forwardings"].as_array().expect("list").len(), 1);
    let none = json_of(call(
        &s,
        Method::GET,
        &format!("{}?protocol=udp", pfs(fip)),
        &t,
        None,
    ));
    assert_eq!(none["port_forwardings"], json!([]));
    let ids = json_of(call(
        &s,
        Method::GET,
        &format!("{}?fields=id&external_port=2222", pfs(fip)),
        &t,
        None,
    ));
    assert_eq!(ids["port_forwardings"], json!([{"id": id(&pf)}]));
    let missing = format!("{}/{}", pfs(fip), uuid::Uuid::new_v4());
    assert!(
        neutron_error(call(&s, Method::GET, &missing, &t, None), 404).contains("Port Forwarding")
    );

    // Update: another external port and description; the old port is free again.
    let r = call(
        &s,
        Method::PUT,
        &one,
        &t,
        Some(json!({"port_forwarding": {"external_port": 2223, "description": "moved"}})),
    );
    assert_eq!(r.status(), 200);
    let updated = json_of(r)["port_forwarding"].clone();
    assert_eq!(updated["external_port"], 2223);
    assert_eq!(updated["internal_port"], 22);
    assert_eq!(updated["description"], "moved");

    // A range (1-N) and UDP on the same external port as TCP.
    let r = create(
        &s,
        &t,
        fip,
        json!({"internal_port_id": id(&topo.port2), "internal_port": 80,
               "external_port_range": "8000:8010", "protocol": "tcp"}),
    );
    assert_eq!(r.status(), 201);
    let ranged = json_of(r)["port_forwarding"].clone();
    assert_eq!(ranged["external_port"], Value::Null);
    assert_eq!(ranged["external_port_range"], "8000:8010");
    assert_eq!(
        ranged["internal_ip_address"],
        ip(&topo.port2).as_str(),
        "first IPv4 address of the port when none is given"
    );
    let mut udp = ssh(&topo.port, 2223);
    udp["protocol"] = json!("udp");
    assert_eq!(create(&s, &t, fip, udp).status(), 201);

    // Persisted: kill -9 and the rules are all there, the binding too.
    s.kill9();
    s.launch();
    let t = s.demo();
    let list = json_of(call(&s, Method::GET, &pfs(fip), &t, None));
    assert_eq!(list["port_forwardings"].as_array().expect("list").len(), 3);
    assert_eq!(fip_show(&s, &t, fip)["router_id"], topo.router.as_str());

    // Delete: 204, then 404; the last one frees the floating IP from the router.
    for pf in list["port_forwardings"].as_array().expect("list") {
        let path = format!("{}/{}", pfs(fip), id(pf));
        assert_eq!(call(&s, Method::DELETE, &path, &t, None).status(), 204);
        neutron_error(call(&s, Method::DELETE, &path, &t, None), 404);
    }
    let freed = fip_show(&s, &t, fip);
    assert_eq!(freed["router_id"], Value::Null);
    assert_eq!(freed["status"], "DOWN");
    assert_eq!(freed["port_forwardings"], json!([]));
    let _ = topo.public;
}

#[test]
fn port_forwarding_validation_and_collisions() {
    let s = Server::start();
    let t = s.demo();
    let topo = topo(&s, &t);
    let fip = &topo.fip;
    let r = create(&s, &t, fip, ssh(&topo.port, 2222));
    assert_eq!(r.status(), 201);
    let first = json_of(r)["port_forwarding"].clone();

    let mut bad = Vec::new();
    let mut with = |k: &str, v: Value| {
        let mut b = ssh(&topo.port, 3000);
        b[k] = v;
        bad.push(b);
    };
    with("protocol", json!("icmp"));
    with("external_port", json!(0));
    with("external_port", json!(70000));
    with("internal_port", json!("ssh"));
    with("internal_ip_address", json!("10.8.0.250"));
    with("internal_ip_address", json!("not-an-ip"));
    with("internal_port_id", json!("not-a-uuid"));
    with("external_port_range", json!("3000:3001"));
    with("bogus", json!(1));
    let mut no_proto = ssh(&topo.port, 3000);
    no_proto.as_object_mut().expect("obj").remove("protocol");
    bad.push(no_proto);
    bad.push(
        json!({"internal_port_id": id(&topo.port), "internal_port_range": "80:85",
                    "external_port_range": "80:90", "protocol": "tcp"}),
    );
    bad.push(
        json!({"internal_port_id": id(&topo.port), "internal_port": 22,
                    "external_port_range": "90:80", "protocol": "tcp"}),
    );
    for b in bad {
        let r = create(&s, &t, fip, b.clone());
        assert_eq!(r.status(), 400, "{b}");
    }
    // The internal port's subnet must reach the floating network through a router.
    let m = neutron_error(create(&s, &t, fip, ssh(&topo.lonely, 3000)), 400);
    assert!(m.contains("is not reachable from subnet"), "{m}");
    // A port of nobody the caller knows.
    let mut ghost = ssh(&topo.port, 3000);
    ghost["internal_port_id"] = json!(uuid::Uuid::new_v4().to_string());
    neutron_error(create(&s, &t, fip, ghost), 404);

    // Collisions are 400s, as Neutron's plugin raises them: the same external
    // port (or an overlapping range) and protocol on the floating IP, or the same
    // internal address and port twice.
    let m = neutron_error(create(&s, &t, fip, ssh(&topo.port2, 2222)), 400);
    assert!(
        m.contains("port collision with the external_port_range"),
        "{m}"
    );
    let overlapping = json!({"internal_port_id": id(&topo.port2), "internal_port": 80,
                             "external_port_range": "2200:2230", "protocol": "tcp"});
    neutron_error(create(&s, &t, fip, overlapping), 400);
    let m = neutron_error(create(&s, &t, fip, ssh(&topo.port, 2224)), 400);
    assert!(m.contains("internal_port_range"), "{m}");
    let r = create(&s, &t, fip, ssh(&topo.port2, 2224));
    assert_eq!(r.status(), 201);
    let second = json_of(r)["port_forwarding"].clone();
    // An update into a collision is refused and changes nothing.
    let path = format!("{}/{}", pfs(fip), id(&second));
    let r = call(
        &s,
        Method::PUT,
        &path,
        &t,
        Some(json!({"port_forwarding": {"external_port": 2222}})),
    );
    neutron_error(r, 400);
    let shown = json_of(call(&s, Method::GET, &path, &t, None));
    assert_eq!(shown["port_forwarding"]["external_port"], 2224);

    // A floating IP with forwardings cannot be associated with a port, nor deleted.
    let m = neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/floatingips/{}", id(fip)),
            &t,
            Some(json!({"floatingip": {"port_id": id(&topo.port)}})),
        ),
        409,
    );
    assert!(m.contains("in use by Port Forwarding resources"), "{m}");
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/floatingips/{}", id(fip)),
            &t,
            None,
        ),
        409,
    );
    // Nor can the router interface its forwardings go through be removed.
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/routers/{}/remove_router_interface", topo.router),
            &t,
            Some(json!({"subnet_id": topo.subnet})),
        ),
        409,
    );

    // And the other way: an associated floating IP gets no forwardings, and a port
    // holding its own floating IP is no forwarding target.
    let lonely = post(
        &s,
        &t,
        "ports",
        "port",
        json!({"network_id": topo.port["network_id"]}),
    );
    let associated = post(
        &s,
        &t,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": topo.public, "port_id": id(&lonely)}),
    );
    neutron_error(create(&s, &t, &associated, ssh(&topo.port, 4000)), 409);
    let m = neutron_error(create(&s, &t, fip, ssh(&lonely, 4000)), 409);
    assert!(m.contains("already has a binding floating IP"), "{m}");

    // A port that is already a target may still get a floating IP of its own (as
    // in Neutron without DVR), and its rules stay editable.
    let own = post(
        &s,
        &t,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": topo.public, "port_id": id(&topo.port)}),
    );
    let r = call(
        &s,
        Method::PUT,
        &format!("{}/{}", pfs(fip), id(&first)),
        &t,
        Some(json!({"port_forwarding": {"description": "still editable"}})),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/floatingips/{}", id(&own)),
            &t,
            None
        )
        .status(),
        204
    );

    // Deleting the internal port drops its forwardings; the floating IP stays bound
    // while one is left, and is freed with the last.
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", id(&topo.port2)),
            &t,
            None
        )
        .status(),
        204
    );
    let left = json_of(call(&s, Method::GET, &pfs(fip), &t, None));
    assert_eq!(left["port_forwardings"].as_array().expect("list").len(), 1);
    assert_eq!(fip_show(&s, &t, fip)["router_id"], topo.router.as_str());
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", id(&topo.port)),
            &t,
            None
        )
        .status(),
        204
    );
    let left = json_of(call(&s, Method::GET, &pfs(fip), &t, None));
    assert_eq!(left["port_forwardings"], json!([]));
    assert_eq!(fip_show(&s, &t, fip)["router_id"], Value::Null);
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/floatingips/{}", id(fip)),
            &t,
            None
        )
        .status(),
        204
    );
}

#[test]
fn port_forwardings_are_project_isolated() {
    let s = Server::start();
    let demo = s.demo();
    let admin = s.admin();
    let topo = topo(&s, &demo);
    let r = create(&s, &demo, &topo.fip, ssh(&topo.port, 2222));
    assert_eq!(r.status(), 201);
    let pf = json_of(r)["port_forwarding"].clone();
    let one = format!("{}/{}", pfs(&topo.fip), id(&pf));

    // The admin sees and manages everyone's.
    let list = json_of(call(&s, Method::GET, &pfs(&topo.fip), &admin, None));
    assert_eq!(list["port_forwardings"].as_array().expect("list").len(), 1);
    let r = call(
        &s,
        Method::PUT,
        &one,
        &admin,
        Some(json!({"port_forwarding": {"description": "by admin"}})),
    );
    assert_eq!(r.status(), 200);

    // Another project's floating IP does not exist for demo: every route is a 404.
    let admin_fip = post(
        &s,
        &admin,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": topo.public}),
    );
    let theirs = pfs(&admin_fip);
    neutron_error(call(&s, Method::GET, &theirs, &demo, None), 404);
    neutron_error(create(&s, &demo, &admin_fip, ssh(&topo.port, 2222)), 404);
    let fake = format!("{theirs}/{}", id(&pf));
    for m in [Method::GET, Method::DELETE] {
        neutron_error(call(&s, m, &fake, &demo, None), 404);
    }
    // A rule is only found under its own floating IP.
    let admin_view = format!("{theirs}/{}", id(&pf));
    neutron_error(call(&s, Method::GET, &admin_view, &admin, None), 404);

    // No token: 401 on every route.
    for (m, path) in [
        (Method::GET, pfs(&topo.fip)),
        (Method::POST, pfs(&topo.fip)),
        (Method::GET, one.clone()),
        (Method::PUT, one.clone()),
        (Method::DELETE, one.clone()),
    ] {
        let r = s
            .client
            .request(m, format!("{}/networking/v2.0{path}", s.base))
            .json(&json!({"port_forwarding": {}}))
            .send()
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
    }
    assert_eq!(call(&s, Method::DELETE, &one, &demo, None).status(), 204);
}
