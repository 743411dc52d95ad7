//! Neutron v2.0 over HTTP against the real binary (dataplane off).

mod common;

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

fn call(s: &Server, m: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}/networking/v2.0{path}", s.base))
        .header("X-Auth-Token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn post(s: &Server, token: &str, coll: &str, key: &str, body: Value) -> Value {
    let r = call(
        s,
        Method::POST,
        &format!("/{coll}"),
        token,
        Some(json!({ key: body })),
    );
    assert_eq!(r.status(), 201, "create {coll}");
    json_of(r)[key].clone()
}

fn neutron_error(r: Response, code: u16) -> String {
    assert_eq!(r.status().as_u16(), code);
    let v = json_of(r);
    v["NeutronError"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("NeutronError body: {v}"))
        .to_owned()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[test]
fn discovery_defaults_and_extensions() {
    let s = Server::start();
    let demo = s.demo();
    let v = json_of(
        s.client
            .get(format!("{}/networking", s.base))
            .send()
            .expect("get"),
    );
    assert_eq!(v["versions"][0]["id"], "v2.0");
    let nets = json_of(call(&s, Method::GET, "/networks", &demo, None));
    let names: Vec<&str> = nets["networks"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(
        names.contains(&"public") && names.contains(&"private"),
        "{names:?}"
    );
    let public = nets["networks"]
        .as_array()
        .expect("list")
        .iter()
        .find(|n| n["name"] == "public")
        .expect("public")
        .clone();
    assert_eq!(public["router:external"], true);
    assert!(
        public.get("provider:network_type").is_none(),
        "provider attributes are admin-only"
    );
    let ext = json_of(call(
        &s,
        Method::GET,
        "/networks?router:external=True",
        &demo,
        None,
    ));
    assert_eq!(ext["networks"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        call(&s, Method::GET, "/extensions/router", &demo, None).status(),
        200
    );
    neutron_error(
        call(
            &s,
            Method::GET,
            "/extensions/external-gateway-multihoming",
            &demo,
            None,
        ),
        404,
    );
    neutron_error(call(&s, Method::GET, "/networks/net1", &demo, None), 404);
    let routers = json_of(call(&s, Method::GET, "/routers", &demo, None));
    assert_eq!(routers["routers"][0]["name"], "router1");
    assert_eq!(
        routers["routers"][0]["external_gateway_info"]["network_id"],
        public["id"]
    );
    let sgs = json_of(call(&s, Method::GET, "/security-groups", &demo, None));
    let default = &sgs["security_groups"][0];
    assert_eq!(default["name"], "default");
    assert_eq!(
        default["security_group_rules"].as_array().map(Vec::len),
        Some(4)
    );
    let agents = json_of(call(&s, Method::GET, "/agents", &s.admin(), None));
    assert!(
        agents["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .all(|a| a["alive"] == true)
    );
}

#[test]
fn subnets_ports_and_ipam_rules() {
    let s = Server::start();
    let t = s.demo();
    let net = post(&s, &t, "networks", "network", json!({"name": "n1"}));
    let nid = id(&net);
    let sub = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 4, "cidr": "10.5.0.0/24", "name": "s1"}),
    );
    assert_eq!(sub["gateway_ip"], "10.5.0.1");
    assert_eq!(
        sub["allocation_pools"],
        json!([{"start": "10.5.0.2", "end": "10.5.0.254"}])
    );
    for field in ["dns_nameservers", "host_routes", "service_types", "tags"] {
        assert!(sub[field].is_array(), "{field} must be a list");
    }
    // Bad subnets.
    for (body, code) in [
        (
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.5.0.128/25"}),
            400,
        ),
        (
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.6.0.0/24", "gateway_ip": "10.7.0.1"}),
            400,
        ),
        (
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.6.0.5/24"}),
            400,
        ),
        (
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.6.0.0/24", "allocation_pools": [{"start": "10.6.0.1", "end": "10.6.0.9"}]}),
            409,
        ),
        (
            json!({"network_id": nid, "ip_version": 5, "cidr": "10.6.0.0/24"}),
            400,
        ),
        (
            json!({"network_id": "nope", "ip_version": 4, "cidr": "10.6.0.0/24"}),
            404,
        ),
        (
            json!({"network_id": nid, "ip_version": 4, "cidr": "10.6.0.0/24", "bogus": 1}),
            400,
        ),
    ] {
        neutron_error(
            call(
                &s,
                Method::POST,
                "/subnets",
                &t,
                Some(json!({"subnet": body})),
            ),
            code,
        );
    }
    let p1 = post(
        &s,
        &t,
        "ports",
        "port",
        json!({"network_id": nid, "name": "p1"}),
    );
    let ip1 = p1["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("ip")
        .to_owned();
    assert_eq!(p1["status"], "DOWN");
    assert!(
        p1["mac_address"]
            .as_str()
            .expect("mac")
            .starts_with("fa:16:3e:")
    );
    assert_eq!(
        p1["security_groups"].as_array().map(Vec::len),
        Some(1),
        "default group"
    );
    // The same address twice is a conflict; a free one is fine.
    let taken = json!({"network_id": nid, "fixed_ips": [{"ip_address": ip1}]});
    assert!(
        neutron_error(
            call(&s, Method::POST, "/ports", &t, Some(json!({"port": taken}))),
            409
        )
        .contains("already allocated")
    );
    let chosen = post(
        &s,
        &t,
        "ports",
        "port",
        json!({"network_id": nid, "fixed_ips": [{"subnet_id": id(&sub), "ip_address": "10.5.0.50"}]}),
    );
    assert_eq!(chosen["fixed_ips"][0]["ip_address"], "10.5.0.50");
    neutron_error(
        call(
            &s,
            Method::POST,
            "/ports",
            &t,
            Some(json!({"port": {"network_id": nid, "fixed_ips": [{"ip_address": "10.99.0.5"}]}})),
        ),
        400,
    );
    // Filters and fields as the CLI sends them.
    let v = json_of(call(
        &s,
        Method::GET,
        &format!("/ports?network_id={nid}&fields=id&fields=name&fields=fixed_ips"),
        &t,
        None,
    ));
    let ports = v["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .all(|p| p.get("mac_address").is_none() && p.get("fixed_ips").is_some())
    );
    let v = json_of(call(
        &s,
        Method::GET,
        &format!("/ports?fixed_ips=ip_address%3D{ip1}"),
        &t,
        None,
    ));
    assert_eq!(v["ports"].as_array().map(Vec::len), Some(1));
    // Paging with ports_links.
    let v = json_of(call(&s, Method::GET, "/ports?limit=1", &t, None));
    assert_eq!(v["ports_links"][0]["rel"], "next");
    // If-Match revision checks.
    let pid = id(&p1);
    let rev = p1["revision_number"].as_u64().expect("rev");
    let r = s
        .client
        .put(format!("{}/networking/v2.0/ports/{pid}", s.base))
        .header("X-Auth-Token", &t)
        .header("If-Match", format!("revision_number={}", rev + 5))
        .json(&json!({"port": {"name": "x"}}))
        .send()
        .expect("put");
    neutron_error(r, 412);
    let r = s
        .client
        .put(format!("{}/networking/v2.0/ports/{pid}", s.base))
        .header("X-Auth-Token", &t)
        .header("If-Match", format!("revision_number={rev}"))
        .json(&json!({"port": {"name": "renamed"}}))
        .send()
        .expect("put");
    let v = json_of(r);
    assert_eq!(v["port"]["name"], "renamed");
    assert_eq!(v["port"]["revision_number"], rev + 1);
    // In-use network and subnet.
    neutron_error(
        call(&s, Method::DELETE, &format!("/networks/{nid}"), &t, None),
        409,
    );
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/subnets/{}", id(&sub)),
            &t,
            None,
        ),
        409,
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/ports/{pid}"), &t, None).status(),
        204
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", id(&chosen)),
            &t,
            None
        )
        .status(),
        204
    );
    // The released address is handed out again, never while held.
    let again = post(&s, &t, "ports", "port", json!({"network_id": nid}));
    assert_eq!(again["fixed_ips"][0]["ip_address"], ip1.as_str());
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", id(&again)),
            &t,
            None
        )
        .status(),
        204
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/networks/{nid}"), &t, None).status(),
        204
    );
    neutron_error(
        call(&s, Method::GET, &format!("/subnets/{}", id(&sub)), &t, None),
        404,
    );
}

#[test]
fn routers_floating_ips_and_their_errors() {
    let s = Server::start();
    let t = s.demo();
    let public =
        json_of(call(&s, Method::GET, "/networks?name=public", &t, None))["networks"][0].clone();
    let net = post(&s, &t, "networks", "network", json!({"name": "n"}));
    let sub = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": id(&net), "ip_version": 4, "cidr": "10.8.0.0/24"}),
    );
    let router = post(&s, &t, "routers", "router", json!({"name": "r"}));
    let rid = id(&router);
    let add = |body: Value| {
        call(
            &s,
            Method::PUT,
            &format!("/routers/{rid}/add_router_interface"),
            &t,
            Some(body),
        )
    };
    let r = add(json!({"subnet_id": id(&sub)}));
    assert_eq!(r.status(), 200);
    let info = json_of(r);
    assert_eq!(info["subnet_id"], id(&sub).as_str());
    neutron_error(add(json!({"subnet_id": id(&sub)})), 400);
    let gw = call(
        &s,
        Method::PUT,
        &format!("/routers/{rid}"),
        &t,
        Some(json!({"router": {"external_gateway_info": {"network_id": id(&net)}}})),
    );
    assert!(neutron_error(gw, 400).contains("not an external network"));
    let gw = json_of(call(
        &s,
        Method::PUT,
        &format!("/routers/{rid}"),
        &t,
        Some(json!({"router": {"external_gateway_info": {"network_id": public["id"]}}})),
    ));
    assert_eq!(gw["router"]["external_gateway_info"]["enable_snat"], true);
    // Floating IPs only come from external networks.
    neutron_error(
        call(
            &s,
            Method::POST,
            "/floatingips",
            &t,
            Some(json!({"floatingip": {"floating_network_id": id(&net)}})),
        ),
        400,
    );
    let port = post(&s, &t, "ports", "port", json!({"network_id": id(&net)}));
    let fip = post(
        &s,
        &t,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": public["id"], "port_id": id(&port)}),
    );
    assert_eq!(fip["status"], "ACTIVE");
    assert_eq!(fip["router_id"], rid.as_str());
    assert_eq!(fip["fixed_ip_address"], port["fixed_ips"][0]["ip_address"]);
    // A port of another project cannot be the target.
    let admin = s.admin();
    let admin_net = post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "admin-net"}),
    );
    post(
        &s,
        &admin,
        "subnets",
        "subnet",
        json!({"network_id": id(&admin_net), "ip_version": 4, "cidr": "10.9.0.0/24"}),
    );
    let admin_port = post(
        &s,
        &admin,
        "ports",
        "port",
        json!({"network_id": id(&admin_net)}),
    );
    let other = call(
        &s,
        Method::PUT,
        &format!("/floatingips/{}", id(&fip)),
        &t,
        Some(json!({"floatingip": {"port_id": id(&admin_port)}})),
    );
    neutron_error(other, 404);
    neutron_error(
        call(
            &s,
            Method::GET,
            &format!("/ports/{}", id(&admin_port)),
            &t,
            None,
        ),
        404,
    );
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", id(&admin_port)),
            &t,
            None,
        ),
        404,
    );
    neutron_error(
        call(
            &s,
            Method::POST,
            "/ports",
            &t,
            Some(json!({"port": {"network_id": id(&admin_net)}})),
        ),
        404,
    );
    // Router legs are not deleted through the port API; routers with legs stay.
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/ports/{}", info["port_id"].as_str().expect("port")),
            &t,
            None,
        ),
        409,
    );
    neutron_error(
        call(&s, Method::DELETE, &format!("/routers/{rid}"), &t, None),
        409,
    );
    let v = json_of(call(
        &s,
        Method::PUT,
        &format!("/floatingips/{}", id(&fip)),
        &t,
        Some(json!({"floatingip": {"port_id": null}})),
    ));
    assert_eq!(v["floatingip"]["port_id"], Value::Null);
    let rm = call(
        &s,
        Method::PUT,
        &format!("/routers/{rid}/remove_router_interface"),
        &t,
        Some(json!({"subnet_id": id(&sub)})),
    );
    assert_eq!(rm.status(), 200);
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/floatingips/{}", id(&fip)),
            &t,
            None
        )
        .status(),
        204
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/routers/{rid}"), &t, None).status(),
        204
    );
}

#[test]
fn security_group_rules_validation() {
    let s = Server::start();
    let t = s.demo();
    let sg = post(
        &s,
        &t,
        "security-groups",
        "security_group",
        json!({"name": "web"}),
    );
    let sgid = id(&sg);
    let rule = |body: Value| {
        call(
            &s,
            Method::POST,
            "/security-group-rules",
            &t,
            Some(json!({"security_group_rule": body})),
        )
    };
    let ok = rule(
        json!({"security_group_id": sgid, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
    );
    assert_eq!(ok.status(), 201);
    neutron_error(
        rule(
            json!({"security_group_id": sgid, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        ),
        409,
    );
    for bad in [
        json!({"security_group_id": sgid, "direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}),
        json!({"security_group_id": sgid, "direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 70000}),
        json!({"security_group_id": sgid, "direction": "sideways"}),
        json!({"security_group_id": sgid, "direction": "ingress", "protocol": "teleport"}),
        json!({"security_group_id": sgid, "direction": "ingress", "remote_ip_prefix": "::/0"}),
        json!({"security_group_id": sgid, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sgid}),
    ] {
        neutron_error(rule(bad), 400);
    }
    let default = json_of(call(
        &s,
        Method::GET,
        "/security-groups?name=default",
        &t,
        None,
    ))["security_groups"][0]
        .clone();
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/security-groups/{}", id(&default)),
            &t,
            None,
        ),
        409,
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/security-groups/{sgid}"),
            &t,
            None
        )
        .status(),
        204
    );
}

#[test]
fn quotas_and_isolation() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let demo_project = json_of(s.validate(&demo, &demo))["token"]["project"]["id"]
        .as_str()
        .expect("p")
        .to_owned();
    let q = json_of(call(
        &s,
        Method::GET,
        &format!("/quotas/{demo_project}"),
        &demo,
        None,
    ));
    assert_eq!(q["quota"]["network"], 100);
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/quotas/{demo_project}"),
            &demo,
            Some(json!({"quota": {"network": 1}})),
        ),
        403,
    );
    let v = json_of(call(
        &s,
        Method::PUT,
        &format!("/quotas/{demo_project}"),
        &admin,
        Some(json!({"quota": {"network": 2}})),
    ));
    assert_eq!(v["quota"]["network"], 2);
    post(&s, &demo, "networks", "network", json!({"name": "second"}));
    assert!(
        neutron_error(
            call(
                &s,
                Method::POST,
                "/networks",
                &demo,
                Some(json!({"network": {"name": "third"}}))
            ),
            409
        )
        .contains("Quota exceeded")
    );
    let d = json_of(call(
        &s,
        Method::GET,
        &format!("/quotas/{demo_project}/details"),
        &demo,
        None,
    ));
    assert_eq!(d["quota"]["network"]["used"], 2);
    // Members cannot make shared or external networks, nor see admin's private ones.
    neutron_error(
        call(
            &s,
            Method::POST,
            "/networks",
            &demo,
            Some(json!({"network": {"name": "x", "shared": true}})),
        ),
        403,
    );
    let private = post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "admin-only"}),
    );
    neutron_error(
        call(
            &s,
            Method::GET,
            &format!("/networks/{}", id(&private)),
            &demo,
            None,
        ),
        404,
    );
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/networks/{}", id(&private)),
            &demo,
            Some(json!({"network": {"name": "mine"}})),
        ),
        404,
    );
    let list = json_of(call(&s, Method::GET, "/networks", &demo, None));
    assert!(
        list["networks"]
            .as_array()
            .expect("list")
            .iter()
            .all(|n| n["name"] != "admin-only")
    );
    neutron_error(
        call(&s, Method::GET, "/network-ip-availabilities", &demo, None),
        403,
    );
    let avail = json_of(call(
        &s,
        Method::GET,
        "/network-ip-availabilities",
        &admin,
        None,
    ));
    assert!(
        avail["network_ip_availabilities"]
            .as_array()
            .expect("list")
            .iter()
            .any(|a| a["used_ips"].as_u64() > Some(0))
    );
    // Anonymous callers get 401 everywhere.
    for path in [
        "/networks",
        "/subnets",
        "/ports",
        "/routers",
        "/floatingips",
        "/security-groups",
        "/security-group-rules",
        "/quotas",
        "/extensions",
        "/agents",
    ] {
        let r = s
            .client
            .get(format!("{}/networking/v2.0{path}", s.base))
            .send()
            .expect("get");
        assert_eq!(r.status(), 401, "{path}");
    }
}

#[test]
fn addresses_stay_allocated_across_kill_9() {
    let mut s = Server::start();
    let t = s.demo();
    let net = post(&s, &t, "networks", "network", json!({"name": "n"}));
    post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": id(&net), "ip_version": 4, "cidr": "10.3.0.0/29"}),
    );
    let mut held = Vec::new();
    for _ in 0..3 {
        let p = post(&s, &t, "ports", "port", json!({"network_id": id(&net)}));
        held.push(
            p["fixed_ips"][0]["ip_address"]
                .as_str()
                .expect("ip")
                .to_owned(),
        );
    }
    s.kill9();
    s.launch();
    let t = s.demo();
    let p = post(&s, &t, "ports", "port", json!({"network_id": id(&net)}));
    let new_ip = p["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("ip")
        .to_owned();
    assert!(!held.contains(&new_ip), "{new_ip} handed out twice");
    // /29: gateway .1, DHCP .2, three held, one new: the pool (.2-.6) is exhausted.
    assert_eq!(new_ip, "10.3.0.6");
    neutron_error(
        call(
            &s,
            Method::POST,
            "/ports",
            &t,
            Some(json!({"port": {"network_id": id(&net)}})),
        ),
        409,
    );
}

#[test]
fn tags_on_resources() {
    let s = Server::start();
    let t = s.demo();
    let router =
        json_of(call(&s, Method::GET, "/routers?name=router1", &t, None))["routers"][0].clone();
    let path = format!("/routers/{}/tags", id(&router));
    assert_eq!(
        call(&s, Method::PUT, &format!("{path}/blue"), &t, None).status(),
        201
    );
    assert_eq!(
        call(&s, Method::GET, &format!("{path}/blue"), &t, None).status(),
        204
    );
    neutron_error(call(&s, Method::GET, &format!("{path}/red"), &t, None), 404);
    let v = json_of(call(
        &s,
        Method::PUT,
        &path,
        &t,
        Some(json!({"tags": ["a", "b"]})),
    ));
    assert_eq!(v["tags"], json!(["a", "b"]));
    let list = json_of(call(&s, Method::GET, "/routers?tags=a,b", &t, None));
    assert_eq!(list["routers"].as_array().map(Vec::len), Some(1));
    let list = json_of(call(&s, Method::GET, "/routers?not-tags-any=a", &t, None));
    assert_eq!(list["routers"].as_array().map(Vec::len), Some(0));
    assert_eq!(call(&s, Method::DELETE, &path, &t, None).status(), 204);
    assert_eq!(
        json_of(call(&s, Method::GET, &path, &t, None))["tags"],
        json!([])
    );
    neutron_error(call(&s, Method::PUT, "/nowhere/1/tags/x", &t, None), 404);
}

#[test]
fn an_empty_gateway_object_clears_the_gateway() {
    let s = Server::start();
    let t = s.demo();
    let router = post(&s, &t, "routers", "router", json!({"name": "gw"}));
    let public =
        json_of(call(&s, Method::GET, "/networks?name=public", &t, None))["networks"][0].clone();
    let path = format!("/routers/{}", id(&router));
    let set = json_of(call(
        &s,
        Method::PUT,
        &path,
        &t,
        Some(json!({"router": {"external_gateway_info": {"network_id": public["id"]}}})),
    ));
    assert_eq!(
        set["router"]["external_gateway_info"]["network_id"],
        public["id"]
    );
    let cleared = json_of(call(
        &s,
        Method::PUT,
        &path,
        &t,
        Some(json!({"router": {"external_gateway_info": {}}})),
    ));
    assert_eq!(cleared["router"]["external_gateway_info"], Value::Null);
    neutron_error(
        call(
            &s,
            Method::PUT,
            &path,
            &t,
            Some(json!({"router": {"external_gateway_info": {"enable_snat": true}}})),
        ),
        400,
    );
}

#[test]
fn ipv6_subnets_slaac_and_stateful_addresses() {
    let s = Server::start();
    let t = s.demo();
    let nid = id(&post(&s, &t, "networks", "network", json!({"name": "n6"})));
    let v4 = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 4, "cidr": "10.61.0.0/24"}),
    );
    let slaac = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:61::/64",
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    );
    let stateful = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:62::/64",
               "ipv6_ra_mode": "dhcpv6-stateful", "ipv6_address_mode": "dhcpv6-stateful"}),
    );
    assert_eq!(slaac["gateway_ip"], "fd00:61::1");
    // No fixed_ips asked for: one IPv4, one stateful IPv6, the SLAAC address.
    let p = post(&s, &t, "ports", "port", json!({"network_id": nid}));
    let mac = p["mac_address"].as_str().expect("mac");
    let by_subnet = |sub: &Value| -> String {
        p["fixed_ips"]
            .as_array()
            .expect("fixed_ips")
            .iter()
            .find(|f| f["subnet_id"] == sub["id"])
            .unwrap_or_else(|| panic!("no address on {}: {p}", sub["cidr"]))["ip_address"]
            .as_str()
            .expect("ip")
            .to_owned()
    };
    let eui = onestack::dataplane::plan::eui64("fd00:61::".parse().unwrap(), mac).unwrap();
    assert_eq!(
        by_subnet(&slaac),
        eui.to_string(),
        "SLAAC address from the MAC"
    );
    assert!(by_subnet(&stateful).starts_with("fd00:62::"));
    assert!(by_subnet(&v4).starts_with("10.61.0."));
    assert_eq!(p["fixed_ips"].as_array().map(Vec::len), Some(3));
    // The DHCP port serves every DHCP-enabled subnet, IPv6 included.
    let ports = json_of(call(
        &s,
        Method::GET,
        &format!("/ports?network_id={nid}&device_owner=network:dhcp"),
        &t,
        None,
    ));
    let dhcp = &ports["ports"][0];
    assert_eq!(
        dhcp["fixed_ips"].as_array().map(Vec::len),
        Some(3),
        "{dhcp}"
    );
}

#[test]
fn ipv6_subnet_for_an_external_router_cannot_join_a_router() {
    let s = Server::start();
    let t = s.demo();
    let nid = id(&post(&s, &t, "networks", "network", json!({"name": "n6r"})));
    let external_ra = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:71::/64",
               "ipv6_address_mode": "slaac"}),
    );
    let routed = post(
        &s,
        &t,
        "subnets",
        "subnet",
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:72::/64",
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    );
    let rid = id(&post(&s, &t, "routers", "router", json!({"name": "r6"})));
    let add = |body: Value| {
        call(
            &s,
            Method::PUT,
            &format!("/routers/{rid}/add_router_interface"),
            &t,
            Some(body),
        )
    };
    let msg = neutron_error(add(json!({"subnet_id": id(&external_ra)})), 400);
    assert!(
        msg.contains("configured to receive RAs from an external router"),
        "{msg}"
    );
    let r = add(json!({"subnet_id": id(&routed)}));
    assert_eq!(r.status(), 200, "a subnet with an RA mode joins the router");
}
