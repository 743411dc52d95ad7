//! Neutron v2.0 over HTTP against the real binary (dataplane off).

mod common;

use common::neutron::{call, id, neutron_error, post, post_subnet, wait_default_networks};
use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

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
    let sub = post_subnet(
        &s,
        &t,
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
    let sub = post_subnet(
        &s,
        &t,
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
    post_subnet(
        &s,
        &admin,
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
    // Authentication comes before the body: an anonymous malformed create is 401,
    // the same body from a member is 400.
    for collection in [
        "networks",
        "subnets",
        "ports",
        "routers",
        "subnetpools",
        "security-group-rules",
    ] {
        let url = format!("{}/networking/v2.0/{collection}", s.base);
        let anonymous = s
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .expect("post");
        assert_eq!(anonymous.status(), 401, "anonymous POST /{collection}");
        let member = s
            .client
            .post(&url)
            .header("x-auth-token", &demo)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .expect("post");
        neutron_error(member, 400);
    }
    // Security group rules cannot be updated (no PUT in Neutron's API).
    let sg = json_of(call(&s, Method::GET, "/security-groups", &demo, None));
    let rule = &sg["security_groups"][0]["security_group_rules"][0]["id"];
    let rule = rule.as_str().expect("a default rule");
    let put = call(
        &s,
        Method::PUT,
        &format!("/security-group-rules/{rule}"),
        &demo,
        Some(json!({"security_group_rule": {"description": "x"}})),
    );
    assert_eq!(put.status(), 405);
}

#[test]
fn addresses_stay_allocated_across_kill_9() {
    let mut s = Server::start();
    let t = s.demo();
    let net = post(&s, &t, "networks", "network", json!({"name": "n"}));
    post_subnet(
        &s,
        &t,
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
    let v4 = post_subnet(
        &s,
        &t,
        json!({"network_id": nid, "ip_version": 4, "cidr": "10.61.0.0/24"}),
    );
    let slaac = post_subnet(
        &s,
        &t,
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:61::/64",
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    );
    let stateful = post_subnet(
        &s,
        &t,
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
    let external_ra = post_subnet(
        &s,
        &t,
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:71::/64",
               "ipv6_address_mode": "slaac"}),
    );
    let routed = post_subnet(
        &s,
        &t,
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

// --- subnet pools ------------------------------------------------------------------

fn pool_subnet(s: &Server, token: &str, net: &str, body: Value) -> Response {
    let mut b = json!({"network_id": net, "ip_version": 4});
    for (k, v) in body.as_object().expect("object") {
        b[k] = v.clone();
    }
    call(
        s,
        Method::POST,
        "/subnets",
        token,
        Some(json!({"subnet": b})),
    )
}

fn cidr_of(r: Response) -> String {
    assert_eq!(r.status(), 201, "subnet from pool");
    json_of(r)["subnet"]["cidr"]
        .as_str()
        .expect("cidr")
        .to_owned()
}

/// DevStack's `shared-default-subnetpool-v4`, as `token` sees it.
fn default_pool_v4(s: &Server, token: &str) -> Value {
    let v = json_of(call(
        s,
        Method::GET,
        "/subnetpools?name=shared-default-subnetpool-v4",
        token,
        None,
    ));
    let pools = v["subnetpools"].as_array().expect("list");
    assert_eq!(pools.len(), 1, "{v}");
    pools[0].clone()
}

fn project_id(s: &Server, token: &str) -> String {
    json_of(s.validate(token, token))["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned()
}

/// The first-start bootstrap makes DevStack's shared default IPv4 pool (admin's,
/// IPV4_ADDRS_SAFE_TO_USE, SUBNETPOOL_SIZE_V4) and carves `private-subnet` from it;
/// tenants allocate from it; once deleted it stays deleted across restarts.
#[test]
fn bootstrap_makes_devstacks_default_subnet_pool() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    wait_default_networks(&s, &demo);

    let all = json_of(call(&s, Method::GET, "/subnetpools", &admin, None));
    let names: Vec<&str> = all["subnetpools"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["shared-default-subnetpool-v4"],
        "no IPv6 pool: the bootstrap makes no IPv6 private subnet"
    );
    let pool = default_pool_v4(&s, &admin);
    assert_eq!(pool["prefixes"], json!(["10.0.0.0/22"]));
    assert_eq!(pool["default_prefixlen"], 26);
    assert_eq!(
        (&pool["min_prefixlen"], &pool["max_prefixlen"]),
        (&json!(8), &json!(32))
    );
    assert_eq!(pool["ip_version"], 4);
    assert_eq!(pool["shared"], true);
    assert_eq!(pool["is_default"], true);
    assert_eq!(pool["project_id"], project_id(&s, &admin));
    assert_eq!(default_pool_v4(&s, &demo)["id"], pool["id"], "demo sees it");
    let pool_id = id(&pool);

    let subnets = json_of(call(
        &s,
        Method::GET,
        "/subnets?name=private-subnet",
        &demo,
        None,
    ));
    let private = &subnets["subnets"][0];
    assert_eq!(private["subnetpool_id"], pool_id.as_str());
    assert_eq!(private["cidr"], "10.0.0.0/26", "the pool's first /26");
    assert_eq!(private["gateway_ip"], "10.0.0.1");
    assert_eq!(
        private["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.62"}])
    );
    assert_eq!(private["project_id"], project_id(&s, &demo));

    // `openstack subnet create --subnet-pool shared-default-subnetpool-v4` by demo (the
    // client sends the pool's id), then with a size and from the default pool.
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "mine"}),
    ));
    let mine: Vec<Value> = [
        json!({"subnetpool_id": pool_id}),
        json!({"subnetpool_id": pool_id, "prefixlen": "24"}),
        json!({"use_default_subnetpool": true}),
    ]
    .into_iter()
    .map(|body| {
        let r = pool_subnet(&s, &demo, &net, body);
        assert_eq!(r.status(), 201, "subnet from the default pool");
        json_of(r)["subnet"].clone()
    })
    .collect();
    let cidrs: Vec<&str> = mine.iter().filter_map(|v| v["cidr"].as_str()).collect();
    assert_eq!(cidrs, ["10.0.0.64/26", "10.0.1.0/24", "10.0.0.128/26"]);
    assert!(mine.iter().all(|v| v["subnetpool_id"] == pool_id.as_str()));
    // Shared but the admin's: demo may not change or delete it.
    let path = format!("/subnetpools/{pool_id}");
    neutron_error(call(&s, Method::DELETE, &path, &demo, None), 403);
    neutron_error(call(&s, Method::DELETE, &path, &admin, None), 400);

    // Free the pool (demo's subnets, router1's leg, private-subnet), then delete it.
    for v in &mine {
        let r = call(
            &s,
            Method::DELETE,
            &format!("/subnets/{}", id(v)),
            &demo,
            None,
        );
        assert_eq!(r.status(), 204);
    }
    let router = json_of(call(&s, Method::GET, "/routers?name=router1", &demo, None));
    let r = call(
        &s,
        Method::PUT,
        &format!(
            "/routers/{}/remove_router_interface",
            id(&router["routers"][0])
        ),
        &demo,
        Some(json!({"subnet_id": private["id"]})),
    );
    assert_eq!(r.status(), 200);
    let r = call(
        &s,
        Method::DELETE,
        &format!("/subnets/{}", id(private)),
        &demo,
        None,
    );
    assert_eq!(r.status(), 204);
    assert_eq!(call(&s, Method::DELETE, &path, &admin, None).status(), 204);

    // A restart does not bring the pool (or private-subnet) back.
    s.kill9();
    s.launch();
    let admin = s.admin();
    let all = json_of(call(&s, Method::GET, "/subnetpools", &admin, None));
    assert_eq!(
        all["subnetpools"],
        json!([]),
        "the deleted pool stays deleted"
    );
    let subnets = json_of(call(
        &s,
        Method::GET,
        "/subnets?name=private-subnet",
        &admin,
        None,
    ));
    assert_eq!(subnets["subnets"], json!([]));
    let nets = json_of(call(&s, Method::GET, "/networks?name=public", &admin, None));
    assert_eq!(
        nets["networks"].as_array().map(Vec::len),
        Some(1),
        "no second public"
    );
}

#[test]
fn subnet_pools_crud_allocation_and_prefix_ops() {
    let s = Server::start();
    let demo = s.demo();
    let ext = json_of(call(&s, Method::GET, "/extensions", &demo, None));
    let aliases: Vec<&str> = ext["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for a in [
        "subnet_allocation",
        "default-subnetpools",
        "subnetpool-prefix-ops",
    ] {
        assert!(aliases.contains(&a), "{a} in {aliases:?}");
    }
    let pool = post(
        &s,
        &demo,
        "subnetpools",
        "subnetpool",
        json!({"name": "p", "prefixes": ["10.10.0.0/16"], "default_prefixlen": 24}),
    );
    let pid = id(&pool);
    assert_eq!(pool["prefixes"], json!(["10.10.0.0/16"]));
    assert_eq!(
        (
            &pool["default_prefixlen"],
            &pool["min_prefixlen"],
            &pool["max_prefixlen"]
        ),
        (&json!(24), &json!(8), &json!(32))
    );
    assert_eq!(pool["ip_version"], 4);
    assert_eq!(pool["shared"], false);
    assert_eq!(pool["is_default"], false);
    assert_eq!(pool["address_scope_id"], Value::Null);
    assert_eq!(pool["default_quota"], Value::Null);
    assert_eq!(pool["revision_number"], 1);
    assert_eq!(pool["tenant_id"], pool["project_id"]);
    for k in ["created_at", "updated_at", "description", "tags"] {
        assert!(pool.get(k).is_some(), "{k} in {pool}");
    }
    let listed = json_of(call(
        &s,
        Method::GET,
        "/subnetpools?name=p&fields=id&fields=name",
        &demo,
        None,
    ));
    assert_eq!(listed["subnetpools"], json!([{"id": pid, "name": "p"}]));
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/subnetpools/{pid}"),
        &demo,
        None,
    ));
    assert_eq!(shown["subnetpool"]["id"], pid);

    // Allocation: first free /24s in order, then Neutron's tightest-fit for other sizes.
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n"}),
    ));
    let r = pool_subnet(&s, &demo, &net, json!({"name": "s1", "subnetpool_id": pid}));
    assert_eq!(r.status(), 201);
    let s1 = json_of(r)["subnet"].clone();
    assert_eq!(s1["cidr"], "10.10.0.0/24");
    assert_eq!(s1["subnetpool_id"], pid);
    assert_eq!(s1["gateway_ip"], "10.10.0.1");
    let sub = |body: Value| cidr_of(pool_subnet(&s, &demo, &net, body));
    assert_eq!(sub(json!({"subnetpool_id": pid})), "10.10.1.0/24");
    // The openstack CLI sends prefixlen as a string.
    assert_eq!(
        sub(json!({"subnetpool_id": pid, "prefixlen": "26"})),
        "10.10.2.0/26"
    );
    assert_eq!(sub(json!({"subnetpool_id": pid})), "10.10.3.0/24");
    assert_eq!(
        sub(json!({"subnetpool_id": pid, "cidr": "10.10.8.0/22"})),
        "10.10.8.0/22"
    );
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/subnets/{}", id(&s1)),
        &demo,
        None,
    ));
    assert_eq!(shown["subnet"]["subnetpool_id"], pid);

    // Errors, with Neutron's messages.
    let taken = pool_subnet(
        &s,
        &demo,
        &net,
        json!({"subnetpool_id": pid, "cidr": "10.10.0.128/25"}),
    );
    assert!(neutron_error(taken, 409).contains("Cannot allocate requested subnet"));
    let outside = pool_subnet(
        &s,
        &demo,
        &net,
        json!({"subnetpool_id": pid, "cidr": "192.168.7.0/24"}),
    );
    assert!(neutron_error(outside, 400).contains("Cannot allocate requested subnet"));
    assert_eq!(
        neutron_error(
            pool_subnet(
                &s,
                &demo,
                &net,
                json!({"subnetpool_id": pid, "prefixlen": 7})
            ),
            400
        ),
        "Unable to allocate subnet with prefix length 7, minimum allowed prefix is 8."
    );
    assert_eq!(
        neutron_error(
            pool_subnet(
                &s,
                &demo,
                &net,
                json!({"subnetpool_id": pid, "prefixlen": 33})
            ),
            400
        ),
        "Unable to allocate subnet with prefix length 33, maximum allowed prefix is 32."
    );
    let both = pool_subnet(
        &s,
        &demo,
        &net,
        json!({"subnetpool_id": pid, "cidr": "10.10.9.0/24", "prefixlen": 24}),
    );
    assert!(neutron_error(both, 400).contains("must not be supplied together"));
    let none = pool_subnet(&s, &demo, &net, json!({}));
    assert!(
        neutron_error(none, 400)
            .contains("A cidr must be specified in the absence of a subnet pool")
    );
    let v6 = pool_subnet(
        &s,
        &demo,
        &net,
        json!({"subnetpool_id": pid, "ip_version": 6}),
    );
    assert!(neutron_error(v6, 400).contains("Cannot allocate IPv6 subnet from IPv4 subnet pool"));
    let missing = pool_subnet(&s, &demo, &net, json!({"subnetpool_id": "nope"}));
    assert!(neutron_error(missing, 404).contains("Subnet pool nope could not be found"));

    // A deleted subnet gives its prefix back.
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/subnets/{}", id(&s1)),
            &demo,
            None
        )
        .status(),
        204
    );
    assert_eq!(sub(json!({"subnetpool_id": pid})), "10.10.0.0/24");

    // Updates: If-Match, growing prefixes only, bounds re-checked.
    let put = |body: Value, if_match: Option<&str>| {
        let mut r = s
            .client
            .put(format!("{}/networking/v2.0/subnetpools/{pid}", s.base))
            .header("X-Auth-Token", &demo)
            .json(&json!({ "subnetpool": body }));
        if let Some(m) = if_match {
            r = r.header("If-Match", m);
        }
        r.send().expect("put")
    };
    neutron_error(put(json!({"name": "q"}), Some("revision_number=7")), 412);
    let r = put(json!({"name": "q"}), Some("revision_number=1"));
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(v["subnetpool"]["name"], "q");
    assert_eq!(v["subnetpool"]["revision_number"], 2);
    assert!(
        neutron_error(put(json!({"prefixes": ["10.10.0.0/17"]}), None), 400)
            .contains("Existing prefixes must be a subset of the new prefixes")
    );
    assert_eq!(
        neutron_error(put(json!({"min_prefixlen": 25}), None), 400),
        "Illegal prefix bounds: default_prefixlen=24, min_prefixlen=25."
    );
    neutron_error(put(json!({"shared": true}), None), 400);
    let v = json_of(put(
        json!({"prefixes": ["10.10.0.0/16", "172.16.0.0/24"]}),
        None,
    ));
    assert_eq!(
        v["subnetpool"]["prefixes"],
        json!(["10.10.0.0/16", "172.16.0.0/24"])
    );

    // add_prefixes / remove_prefixes: compacted lists, prefixes in use stay.
    let action = |name: &str, prefixes: Value| {
        call(
            &s,
            Method::PUT,
            &format!("/subnetpools/{pid}/{name}"),
            &demo,
            Some(json!({ "prefixes": prefixes })),
        )
    };
    let v = json_of(action("add_prefixes", json!(["10.11.0.0/16"])));
    assert_eq!(v["prefixes"], json!(["10.10.0.0/15", "172.16.0.0/24"]));
    let busy = action("remove_prefixes", json!(["10.10.0.0/16"]));
    assert!(neutron_error(busy, 400).contains("in use by a subnet"));
    let v = json_of(action(
        "remove_prefixes",
        json!(["10.11.0.0/16", "172.16.0.0/24"]),
    ));
    assert_eq!(v["prefixes"], json!(["10.10.0.0/16"]));

    // A pool that subnets use cannot go (Neutron's SubnetPoolDeleteError is a 400).
    assert_eq!(
        neutron_error(
            call(
                &s,
                Method::DELETE,
                &format!("/subnetpools/{pid}"),
                &demo,
                None
            ),
            400
        ),
        "Unable to delete subnet pool: Subnet pool has existing allocations."
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/networks/{net}"), &demo, None).status(),
        204
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/subnetpools/{pid}"),
            &demo,
            None
        )
        .status(),
        204
    );
    neutron_error(
        call(&s, Method::GET, &format!("/subnetpools/{pid}"), &demo, None),
        404,
    );
}

#[test]
fn subnet_pool_bounds_exhaustion_defaults_and_quota() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let create = |token: &str, body: Value| {
        call(
            &s,
            Method::POST,
            "/subnetpools",
            token,
            Some(json!({"subnetpool": body})),
        )
    };
    assert_eq!(
        neutron_error(
            create(
                &demo,
                json!({"name": "b", "prefixes": ["10.30.0.0/24"], "min_prefixlen": 27, "max_prefixlen": 26})
            ),
            400
        ),
        "Illegal prefix bounds: min_prefixlen=27, max_prefixlen=26."
    );
    assert_eq!(
        neutron_error(
            create(
                &demo,
                json!({"name": "b", "prefixes": ["10.30.0.0/24"], "max_prefixlen": 33})
            ),
            400
        ),
        "Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."
    );
    neutron_error(create(&demo, json!({"prefixes": ["10.30.0.0/24"]})), 400);
    neutron_error(create(&demo, json!({"name": "b"})), 400);
    neutron_error(create(&demo, json!({"name": "b", "prefixes": []})), 400);
    neutron_error(
        create(
            &demo,
            json!({"name": "b", "prefixes": ["10.30.0.0/24", "fd00::/64"]}),
        ),
        400,
    );
    neutron_error(
        create(&demo, json!({"name": "b", "prefixes": ["10.30.0.1/24"]})),
        400,
    );
    neutron_error(
        create(
            &demo,
            json!({"name": "b", "prefixes": ["10.30.0.0/24"], "address_scope_id": "x"}),
        ),
        404,
    );

    // Exhaustion: four /26s fit a /24, the fifth does not.
    let r = create(
        &demo,
        json!({"name": "small", "prefixes": ["10.30.0.0/24"], "min_prefixlen": 25, "default_prefixlen": 26, "max_prefixlen": 26}),
    );
    assert_eq!(r.status(), 201);
    let small = id(&json_of(r)["subnetpool"]);
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n"}),
    ));
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(cidr_of(pool_subnet(
            &s,
            &demo,
            &net,
            json!({"subnetpool_id": small}),
        )));
    }
    assert_eq!(
        got,
        [
            "10.30.0.0/26",
            "10.30.0.64/26",
            "10.30.0.128/26",
            "10.30.0.192/26"
        ]
    );
    assert_eq!(
        neutron_error(
            pool_subnet(&s, &demo, &net, json!({"subnetpool_id": small})),
            409
        ),
        "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /26."
    );

    // Default pools: admin only, one per IP version (the bootstrap's
    // shared-default-subnetpool-v4 is the IPv4 one), used by use_default_subnetpool.
    neutron_error(
        create(
            &demo,
            json!({"name": "d", "prefixes": ["10.40.0.0/16"], "is_default": true}),
        ),
        403,
    );
    wait_default_networks(&s, &demo);
    let second = create(
        &admin,
        json!({"name": "d2", "prefixes": ["10.41.0.0/16"], "is_default": true}),
    );
    assert!(neutron_error(second, 400).contains("Only one default may exist per IP family"));
    let default = default_pool_v4(&s, &demo);
    let r = pool_subnet(&s, &demo, &net, json!({"use_default_subnetpool": true}));
    assert_eq!(r.status(), 201);
    let v = json_of(r);
    assert_eq!(
        v["subnet"]["cidr"], "10.0.0.64/26",
        "private-subnet has the first /26"
    );
    assert_eq!(v["subnet"]["subnetpool_id"], default["id"]);
    let v6 = pool_subnet(
        &s,
        &demo,
        &net,
        json!({"use_default_subnetpool": true, "ip_version": 6}),
    );
    assert!(neutron_error(v6, 400).contains("No default subnetpool found for IPv6"));

    // default_quota counts addresses per project (IPv4).
    let r = create(
        &demo,
        json!({"name": "q", "prefixes": ["10.50.0.0/16"], "default_prefixlen": 24, "default_quota": 512}),
    );
    assert_eq!(r.status(), 201);
    let q = id(&json_of(r)["subnetpool"]);
    let net2 = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n2"}),
    ));
    cidr_of(pool_subnet(&s, &demo, &net2, json!({"subnetpool_id": q})));
    cidr_of(pool_subnet(&s, &demo, &net2, json!({"subnetpool_id": q})));
    assert_eq!(
        neutron_error(
            pool_subnet(&s, &demo, &net2, json!({"subnetpool_id": q})),
            409
        ),
        "Per-tenant subnet pool prefix quota exceeded."
    );

    // The pool quota is listed with the others.
    let demo_project = json_of(s.validate(&demo, &demo))["token"]["project"]["id"]
        .as_str()
        .expect("p")
        .to_owned();
    let d = json_of(call(
        &s,
        Method::GET,
        &format!("/quotas/{demo_project}/details"),
        &demo,
        None,
    ));
    assert_eq!(d["quota"]["subnetpool"]["limit"], -1);
    assert_eq!(d["quota"]["subnetpool"]["used"], 2);
}

#[test]
fn subnet_pool_isolation() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let private = post(
        &s,
        &admin,
        "subnetpools",
        "subnetpool",
        json!({"name": "adm", "prefixes": ["10.60.0.0/16"]}),
    );
    let shared = post(
        &s,
        &admin,
        "subnetpools",
        "subnetpool",
        json!({"name": "pub", "prefixes": ["10.61.0.0/16"], "shared": true, "default_prefixlen": 24}),
    );
    let (private, shared) = (id(&private), id(&shared));
    wait_default_networks(&s, &demo);
    let devstack = id(&default_pool_v4(&s, &demo));
    neutron_error(
        call(
            &s,
            Method::GET,
            &format!("/subnetpools/{private}"),
            &demo,
            None,
        ),
        404,
    );
    let listed = json_of(call(&s, Method::GET, "/subnetpools", &demo, None));
    let mut ids: Vec<&str> = listed["subnetpools"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    ids.sort();
    let mut want = [shared.as_str(), devstack.as_str()];
    want.sort();
    assert_eq!(ids, want, "the shared pools, not the admin's private one");
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n"}),
    ));
    neutron_error(
        pool_subnet(&s, &demo, &net, json!({"subnetpool_id": private})),
        404,
    );
    // A shared pool lends prefixes to every project but only its owner changes it.
    assert_eq!(
        cidr_of(pool_subnet(
            &s,
            &demo,
            &net,
            json!({"subnetpool_id": shared})
        )),
        "10.61.0.0/24"
    );
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/subnetpools/{shared}"),
            &demo,
            Some(json!({"subnetpool": {"name": "x"}})),
        ),
        403,
    );
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/subnetpools/{shared}/add_prefixes"),
            &demo,
            Some(json!({"prefixes": ["10.62.0.0/16"]})),
        ),
        403,
    );
    neutron_error(
        call(
            &s,
            Method::DELETE,
            &format!("/subnetpools/{shared}"),
            &demo,
            None,
        ),
        403,
    );
    neutron_error(
        call(
            &s,
            Method::POST,
            "/subnetpools",
            &demo,
            Some(
                json!({"subnetpool": {"name": "s", "prefixes": ["10.63.0.0/16"], "shared": true}}),
            ),
        ),
        403,
    );
    // The admin sees every project's pools.
    let mine = post(
        &s,
        &demo,
        "subnetpools",
        "subnetpool",
        json!({"name": "mine", "prefixes": ["10.64.0.0/16"]}),
    );
    let all = json_of(call(&s, Method::GET, "/subnetpools", &admin, None));
    assert_eq!(all["subnetpools"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        call(
            &s,
            Method::GET,
            &format!("/subnetpools/{}", id(&mine)),
            &admin,
            None
        )
        .status(),
        200
    );
}

#[test]
fn concurrent_subnet_creates_get_distinct_prefixes() {
    let s = Server::start();
    let demo = s.demo();
    let pool = id(&post(
        &s,
        &demo,
        "subnetpools",
        "subnetpool",
        json!({"name": "c", "prefixes": ["10.70.0.0/21"], "default_prefixlen": 24}),
    ));
    // One network per create, so only the pool keeps the prefixes apart.
    let nets: Vec<String> = (0..8)
        .map(|i| {
            id(&post(
                &s,
                &demo,
                "networks",
                "network",
                json!({"name": format!("c{i}")}),
            ))
        })
        .collect();
    let cidrs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = nets
            .iter()
            .map(|net| {
                let (s, demo, pool) = (&s, &demo, &pool);
                scope.spawn(move || {
                    cidr_of(pool_subnet(s, demo, net, json!({"subnetpool_id": pool})))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut sorted = cidrs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 8, "distinct prefixes: {cidrs:?}");
    let all: Vec<String> = (0..8).map(|i| format!("10.70.{i}.0/24")).collect();
    let mut want = all.clone();
    want.sort();
    assert_eq!(sorted, want);
    neutron_error(
        pool_subnet(&s, &demo, &nets[0], json!({"subnetpool_id": pool})),
        409,
    );
}

#[test]
fn pool_prefixes_stay_allocated_across_kill_9() {
    let mut s = Server::start();
    let t = s.demo();
    let pool = id(&post(
        &s,
        &t,
        "subnetpools",
        "subnetpool",
        json!({"name": "k", "prefixes": ["10.80.0.0/23"], "default_prefixlen": 24}),
    ));
    let net = id(&post(&s, &t, "networks", "network", json!({"name": "n"})));
    assert_eq!(
        cidr_of(pool_subnet(&s, &t, &net, json!({"subnetpool_id": pool}))),
        "10.80.0.0/24"
    );
    s.kill9();
    s.launch();
    let t = s.demo();
    assert_eq!(
        cidr_of(pool_subnet(&s, &t, &net, json!({"subnetpool_id": pool}))),
        "10.80.1.0/24"
    );
    neutron_error(
        pool_subnet(&s, &t, &net, json!({"subnetpool_id": pool})),
        409,
    );
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/subnetpools/{pool}"),
        &t,
        None,
    ));
    assert_eq!(shown["subnetpool"]["prefixes"], json!(["10.80.0.0/23"]));
}

/// `is_default` on networks as Neutron keeps it: the bootstrap's `public` is the
/// default external network, only an admin sets the flag, at most one external
/// network holds it (409 naming the holder), and an internal network never does.
#[test]
fn one_default_external_network() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    wait_default_networks(&s, &demo);
    let public = json_of(call(&s, Method::GET, "/networks?name=public", &admin, None))["networks"]
        [0]
    .clone();
    assert_eq!(public["is_default"], true, "{public}");
    let public_id = id(&public);

    let body = json!({"network": {"name": "ext2", "router:external": true, "is_default": true}});
    let msg = neutron_error(call(&s, Method::POST, "/networks", &admin, Some(body)), 409);
    assert!(msg.contains(&public_id), "{msg}");
    let ext2 = post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "ext2", "router:external": true}),
    );
    let ext2_path = format!("/networks/{}", id(&ext2));
    let make_default = json!({"network": {"is_default": true}});
    neutron_error(
        call(
            &s,
            Method::PUT,
            &ext2_path,
            &admin,
            Some(make_default.clone()),
        ),
        409,
    );
    neutron_error(
        call(
            &s,
            Method::PUT,
            &ext2_path,
            &demo,
            Some(make_default.clone()),
        ),
        403,
    );

    // Moving the flag: off public, then onto ext2.
    let public_path = format!("/networks/{public_id}");
    let r = call(
        &s,
        Method::PUT,
        &public_path,
        &admin,
        Some(json!({"network": {"is_default": false}})),
    );
    assert_eq!(json_of(r)["network"]["is_default"], false);
    let r = call(&s, Method::PUT, &ext2_path, &admin, Some(make_default));
    assert_eq!(json_of(r)["network"]["is_default"], true);

    // A network that is not external is never the default one.
    let internal = post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "int", "is_default": true}),
    );
    assert_eq!(internal["is_default"], false, "{internal}");
    let body = json!({"network": {"name": "d", "is_default": true}});
    neutron_error(call(&s, Method::POST, "/networks", &demo, Some(body)), 403);
}

/// Neutron's handling of ports that exist when an IPv6 subnet is added: a router
/// gateway set before the external network had IPv6 gets an address on the new
/// IPv6 subnet (DevStack's order for ipv6-public-subnet), and on a SLAAC subnet
/// every port but router interfaces gets its MAC-derived address.
#[test]
fn a_new_ipv6_subnet_reaches_the_ports_that_exist() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let ext = id(&post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "ext6", "router:external": true}),
    ));
    post_subnet(
        &s,
        &admin,
        json!({"network_id": ext, "ip_version": 4, "cidr": "198.18.0.0/24"}),
    );
    let router = post(
        &s,
        &admin,
        "routers",
        "router",
        json!({"name": "r6", "external_gateway_info": {"network_id": ext}}),
    );
    let rid = id(&router);
    let gateway_ips = || {
        let r = json_of(call(
            &s,
            Method::GET,
            &format!("/routers/{rid}"),
            &admin,
            None,
        ));
        r["router"]["external_gateway_info"]["external_fixed_ips"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(gateway_ips().len(), 1, "{:?}", gateway_ips());
    let v6 = post_subnet(
        &s,
        &admin,
        json!({"network_id": ext, "ip_version": 6, "cidr": "2001:db8:6::/64", "enable_dhcp": false}),
    );
    let ips = gateway_ips();
    let on_v6: Vec<&Value> = ips.iter().filter(|f| f["subnet_id"] == v6["id"]).collect();
    assert_eq!(on_v6.len(), 1, "the gateway gets an IPv6 address: {ips:?}");
    assert!(
        on_v6[0]["ip_address"]
            .as_str()
            .is_some_and(|a| a.starts_with("2001:db8:6::")),
        "{ips:?}"
    );
    assert_eq!(ips.len(), 2, "{ips:?}");

    let nid = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n66"}),
    ));
    let v4 = post_subnet(
        &s,
        &demo,
        json!({"network_id": nid, "ip_version": 4, "cidr": "10.66.0.0/24"}),
    );
    let port = post(&s, &demo, "ports", "port", json!({"network_id": nid}));
    let r2 = id(&post(
        &s,
        &demo,
        "routers",
        "router",
        json!({"name": "r66"}),
    ));
    let r = call(
        &s,
        Method::PUT,
        &format!("/routers/{r2}/add_router_interface"),
        &demo,
        Some(json!({"subnet_id": v4["id"]})),
    );
    assert_eq!(r.status(), 200);
    let slaac = post_subnet(
        &s,
        &demo,
        json!({"network_id": nid, "ip_version": 6, "cidr": "fd00:66::/64",
               "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}),
    );
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/ports/{}", id(&port)),
        &demo,
        None,
    ));
    let mac = shown["port"]["mac_address"].as_str().expect("mac");
    let eui = onestack::dataplane::plan::eui64("fd00:66::".parse().unwrap(), mac).unwrap();
    let fixed = &shown["port"]["fixed_ips"];
    assert!(
        fixed
            .as_array()
            .expect("fixed_ips")
            .iter()
            .any(|f| f["subnet_id"] == slaac["id"] && f["ip_address"] == eui.to_string()),
        "the existing port gets its SLAAC address: {fixed}"
    );
    let legs = json_of(call(
        &s,
        Method::GET,
        &format!("/ports?device_id={r2}"),
        &demo,
        None,
    ));
    assert!(
        !legs.to_string().contains("fd00:66::"),
        "router interfaces get no SLAAC address: {legs}"
    );
}

/// A second project with its own member user; returns its token.
fn other_member(s: &Server, admin: &str) -> String {
    let p = json_of(s.post("/projects", admin, json!({"project": {"name": "other"}})));
    let pid = p["project"]["id"].as_str().expect("pid").to_owned();
    let u = json_of(s.post(
        "/users",
        admin,
        json!({"user": {"name": "other", "password": "secret-pw", "default_project_id": pid}}),
    ));
    let uid = u["user"]["id"].as_str().expect("uid").to_owned();
    let roles = json_of(s.get("/roles?name=member", admin));
    let rid = roles["roles"][0]["id"].as_str().expect("rid").to_owned();
    let r = s.req(
        Method::PUT,
        &format!("/projects/{pid}/users/{uid}/roles/{rid}"),
        Some(admin),
        None,
    );
    assert_eq!(r.status(), 204);
    s.token("other", "secret-pw", Some("other"))
}

fn ids_of(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().expect("list").iter().map(id).collect()
}

#[test]
fn bulk_create_is_all_or_nothing() {
    let s = Server::start();
    let demo = s.demo();
    let r = call(
        &s,
        Method::POST,
        "/networks",
        &demo,
        Some(json!({"networks": [{"name": "bulk-a"}, {"name": "bulk-b"}]})),
    );
    assert_eq!(r.status(), 201);
    let made = json_of(r);
    let nets = made["networks"].as_array().expect("networks");
    assert_eq!(nets.len(), 2);
    assert_eq!(nets[1]["name"], "bulk-b");
    let (a, b) = (id(&nets[0]), id(&nets[1]));
    let subnets = json_of(call(
        &s,
        Method::POST,
        "/subnets",
        &demo,
        Some(json!({"subnets": [
            {"network_id": a, "cidr": "10.61.0.0/24", "ip_version": 4},
            {"network_id": b, "cidr": "10.62.0.0/24", "ip_version": 4},
        ]})),
    ));
    assert_eq!(subnets["subnets"].as_array().map(Vec::len), Some(2));
    let ports = json_of(call(
        &s,
        Method::POST,
        "/ports",
        &demo,
        Some(json!({"ports": [{"network_id": a, "name": "p1"}, {"network_id": b, "name": "p2"}]})),
    ));
    assert_eq!(ports["ports"][1]["name"], "p2");
    // ip-substring-filtering: part of an address picks the ports on 10.62.0.0/24
    // (p2 and the DHCP port, left out by device_owner).
    let hits = json_of(call(
        &s,
        Method::GET,
        "/ports?fixed_ips=ip_address_substr%3D10.62.0.&device_owner=",
        &demo,
        None,
    ));
    let names: Vec<&Value> = hits["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(names, vec!["p2"], "{hits}");
    // The second port asks for an address outside its subnet: nothing is made.
    let before = json_of(call(&s, Method::GET, "/ports", &demo, None))["ports"]
        .as_array()
        .map(Vec::len);
    neutron_error(
        call(
            &s,
            Method::POST,
            "/ports",
            &demo,
            Some(json!({"ports": [
                {"network_id": a, "name": "kept?"},
                {"network_id": b, "fixed_ips": [{"ip_address": "10.99.0.5"}]},
            ]})),
        ),
        400,
    );
    let after = json_of(call(&s, Method::GET, "/ports", &demo, None));
    assert_eq!(after["ports"].as_array().map(Vec::len), before);
    assert!(
        !after["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == "kept?")
    );
    neutron_error(
        call(
            &s,
            Method::POST,
            "/networks",
            &demo,
            Some(json!({"networks": []})),
        ),
        400,
    );
}

#[test]
fn router_routes_clear_with_null_and_overlapping_subnets_are_refused() {
    let s = Server::start();
    let demo = s.demo();
    let router = id(&post(&s, &demo, "routers", "router", json!({"name": "r"})));
    let mut subnets = Vec::new();
    for (i, cidr) in ["10.71.0.0/24", "10.72.0.0/24"].iter().enumerate() {
        let net = id(&post(
            &s,
            &demo,
            "networks",
            "network",
            json!({"name": format!("n{i}")}),
        ));
        subnets.push(id(&post_subnet(
            &s,
            &demo,
            json!({"network_id": net, "cidr": cidr, "ip_version": 4}),
        )));
        let r = call(
            &s,
            Method::PUT,
            &format!("/routers/{router}/add_router_interface"),
            &demo,
            Some(json!({"subnet_id": subnets[i]})),
        );
        assert_eq!(r.status(), 200);
    }
    let routes = json!([
        {"destination": "10.71.0.0/24", "nexthop": "10.71.0.2"},
        {"destination": "192.168.50.0/24", "nexthop": "10.72.0.9"},
    ]);
    let v = json_of(call(
        &s,
        Method::PUT,
        &format!("/routers/{router}"),
        &demo,
        Some(json!({"router": {"routes": routes}})),
    ));
    assert_eq!(v["router"]["routes"].as_array().map(Vec::len), Some(2));
    let v = json_of(call(
        &s,
        Method::PUT,
        &format!("/routers/{router}"),
        &demo,
        Some(json!({"router": {"routes": null}})),
    ));
    assert_eq!(v["router"]["routes"], json!([]));
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/routers/{router}"),
        &demo,
        None,
    ));
    assert_eq!(shown["router"]["routes"], json!([]));
    // A third network whose subnet overlaps the first: 400, no leg made.
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "n3"}),
    ));
    let overlapping = id(&post_subnet(
        &s,
        &demo,
        json!({"network_id": net, "cidr": "10.71.0.128/25", "ip_version": 4}),
    ));
    let msg = neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/routers/{router}/add_router_interface"),
            &demo,
            Some(json!({"subnet_id": overlapping})),
        ),
        400,
    );
    assert!(msg.contains("overlaps with cidr 10.71.0.0/24"), "{msg}");
    let legs = json_of(call(
        &s,
        Method::GET,
        &format!("/ports?device_id={router}"),
        &demo,
        None,
    ));
    assert_eq!(legs["ports"].as_array().map(Vec::len), Some(2));
}

#[test]
fn port_policy_follows_neutron_defaults() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    wait_default_networks(&s, &demo);
    let public =
        json_of(call(&s, Method::GET, "/networks?name=public", &demo, None))["networks"][0].clone();
    // A member may not make ports on the admin's unshared external network.
    let msg = neutron_error(
        call(
            &s,
            Method::POST,
            "/ports",
            &demo,
            Some(json!({"port": {"network_id": public["id"]}})),
        ),
        403,
    );
    assert!(msg.contains("create_port"), "{msg}");
    // On its own network the owner may choose the MAC and a network:* owner.
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "mine"}),
    ));
    post_subnet(
        &s,
        &demo,
        json!({"network_id": net, "cidr": "10.81.0.0/24", "ip_version": 4}),
    );
    let port = post(
        &s,
        &demo,
        "ports",
        "port",
        json!({"network_id": net, "mac_address": "fa:16:3e:11:22:33"}),
    );
    assert_eq!(port["mac_address"], "fa:16:3e:11:22:33");
    post(
        &s,
        &demo,
        "ports",
        "port",
        json!({"network_id": net, "device_owner": "network:custom"}),
    );
    // Changing a MAC is for admins (and project managers).
    neutron_error(
        call(
            &s,
            Method::PUT,
            &format!("/ports/{}", id(&port)),
            &demo,
            Some(json!({"port": {"mac_address": "fa:16:3e:11:22:34"}})),
        ),
        403,
    );
    // On a network shared with it, another project may make ports, but neither a
    // chosen MAC nor a network:* owner.
    let shared = id(&post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "shared", "shared": true}),
    ));
    post_subnet(
        &s,
        &admin,
        json!({"network_id": shared, "cidr": "10.82.0.0/24", "ip_version": 4}),
    );
    post(&s, &demo, "ports", "port", json!({"network_id": shared}));
    for extra in [
        json!({"device_owner": "network:router_interface"}),
        json!({"mac_address": "fa:16:3e:11:22:35"}),
    ] {
        let mut body = extra.clone();
        body["network_id"] = json!(shared);
        let msg = neutron_error(
            call(
                &s,
                Method::POST,
                "/ports",
                &demo,
                Some(json!({"port": body})),
            ),
            403,
        );
        assert!(msg.contains("is disallowed by policy"), "{msg}");
    }
    // The admin still makes ports anywhere.
    post(
        &s,
        &admin,
        "ports",
        "port",
        json!({"network_id": public["id"]}),
    );
    // Agents: an empty list for others, the agents for an admin.
    let agents = json_of(call(&s, Method::GET, "/agents", &demo, None));
    assert_eq!(agents["agents"], json!([]));
    let agents = json_of(call(&s, Method::GET, "/agents", &admin, None));
    assert!(agents["agents"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn security_group_names_rules_and_remote_groups() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let other = other_member(&s, &admin);
    let theirs = id(&post(
        &s,
        &other,
        "security-groups",
        "security_group",
        json!({"name": "theirs"}),
    ));
    let mine = id(&post(
        &s,
        &demo,
        "security-groups",
        "security_group",
        json!({"name": "mine"}),
    ));
    // Another project's group as remote_group_id is as absent as a missing one.
    let rule = |remote: &str| {
        call(
            &s,
            Method::POST,
            "/security-group-rules",
            &demo,
            Some(json!({"security_group_rule": {
                "security_group_id": mine, "direction": "ingress", "remote_group_id": remote}})),
        )
    };
    let msg = neutron_error(rule(&theirs), 404);
    assert!(msg.contains(&theirs), "{msg}");
    assert_eq!(rule(&mine).status(), 201);
    // The default group keeps its name; no other group takes it.
    let groups = json_of(call(
        &s,
        Method::GET,
        "/security-groups?name=default",
        &demo,
        None,
    ));
    let default = ids_of(&groups, "security_groups")[0].clone();
    let rename = |g: &str, name: &str| {
        call(
            &s,
            Method::PUT,
            &format!("/security-groups/{g}"),
            &demo,
            Some(json!({"security_group": {"name": name}})),
        )
    };
    assert!(neutron_error(rename(&default, "renamed"), 409).contains("default security group"));
    assert!(neutron_error(rename(&mine, "default"), 409).contains("already exists"));
    assert_eq!(rename(&mine, "still-mine").status(), 200);
    // Port range checks in Neutron's words.
    for (proto, min, max, want) in [
        ("tcp", json!(-16), json!(80), "Invalid value for port -16"),
        (
            "tcp",
            json!(80),
            json!(79),
            "port_range_min must be <= port_range_max",
        ),
        (
            "tcp",
            json!(80),
            json!(65536),
            "Invalid value for port 65536",
        ),
        (
            "tcp",
            Value::Null,
            json!(6),
            "port_range_min must be <= port_range_max",
        ),
        ("icmp", json!(1), json!(256), "Invalid value for ICMP code"),
        ("icmp", json!(300), json!(1), "Invalid value for ICMP type"),
        (
            "icmp",
            Value::Null,
            json!(6),
            "ICMP type (port-range-min) is missing",
        ),
    ] {
        let r = call(
            &s,
            Method::POST,
            "/security-group-rules",
            &demo,
            Some(json!({"security_group_rule": {
                "security_group_id": mine, "direction": "ingress", "protocol": proto,
                "port_range_min": min, "port_range_max": max}})),
        );
        let msg = neutron_error(r, 400);
        assert!(msg.contains(want), "{proto} {min} {max}: {msg}");
    }
}

#[test]
fn ipv6_modes_typed_faults_and_external_cleanup() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let net = id(&post(
        &s,
        &demo,
        "networks",
        "network",
        json!({"name": "v6"}),
    ));
    let subnet = |body: Value| {
        let mut b = body;
        b["network_id"] = json!(net);
        b["ip_version"] = json!(6);
        call(
            &s,
            Method::POST,
            "/subnets",
            &demo,
            Some(json!({"subnet": b})),
        )
    };
    let msg = neutron_error(
        subnet(json!({"cidr": "2001:db8:1::/64", "ipv6_ra_mode": "slaac",
            "ipv6_address_mode": "dhcpv6-stateful"})),
        400,
    );
    assert!(msg.contains("they must be the same value"), "{msg}");
    neutron_error(
        subnet(json!({"cidr": "2001:db8:1::/80", "ipv6_address_mode": "slaac"})),
        400,
    );
    let slaac = json_of(subnet(json!({"cidr": "2001:db8:1::/64",
        "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})));
    let slaac = id(&slaac["subnet"]);
    let port = post(&s, &demo, "ports", "port", json!({"network_id": net}));
    // A SLAAC subnet goes with its addresses; the port stays, so the network
    // cannot go.
    let r = call(
        &s,
        Method::DELETE,
        &format!("/subnets/{slaac}"),
        &demo,
        None,
    );
    assert_eq!(r.status(), 204);
    let shown = json_of(call(
        &s,
        Method::GET,
        &format!("/ports/{}", id(&port)),
        &demo,
        None,
    ));
    assert_eq!(shown["port"]["fixed_ips"], json!([]));
    neutron_error(
        call(&s, Method::DELETE, &format!("/networks/{net}"), &demo, None),
        409,
    );
    // A taken address is Neutron's IpAddressAlreadyAllocated.
    let v4 = post_subnet(
        &s,
        &demo,
        json!({"network_id": net, "cidr": "10.91.0.0/24", "ip_version": 4}),
    );
    let fixed = json!([{"subnet_id": id(&v4), "ip_address": "10.91.0.20"}]);
    post(
        &s,
        &demo,
        "ports",
        "port",
        json!({"network_id": net, "fixed_ips": fixed}),
    );
    let r = call(
        &s,
        Method::POST,
        "/ports",
        &demo,
        Some(json!({"port": {"network_id": net, "fixed_ips": fixed}})),
    );
    assert_eq!(r.status(), 409);
    assert_eq!(
        json_of(r)["NeutronError"]["type"],
        "IpAddressAlreadyAllocated"
    );
    // Subnets of an external network say so, and free floating IPs go with it.
    let ext = id(&post(
        &s,
        &admin,
        "networks",
        "network",
        json!({"name": "ext2", "router:external": true}),
    ));
    let ext_subnet = post_subnet(
        &s,
        &admin,
        json!({"network_id": ext, "cidr": "172.31.9.0/24", "ip_version": 4, "enable_dhcp": false}),
    );
    assert_eq!(ext_subnet["router:external"], true);
    let fip = post(
        &s,
        &admin,
        "floatingips",
        "floatingip",
        json!({"floating_network_id": ext}),
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/networks/{ext}"),
            &admin,
            None
        )
        .status(),
        204
    );
    neutron_error(
        call(
            &s,
            Method::GET,
            &format!("/floatingips/{}", id(&fip)),
            &admin,
            None,
        ),
        404,
    );
    // The unversioned root with a trailing slash lists the versions too.
    let v = json_of(
        s.client
            .get(format!("{}/networking/", s.base))
            .send()
            .expect("get"),
    );
    assert_eq!(v["versions"][0]["id"], "v2.0");
}
