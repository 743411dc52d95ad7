//! Nova's admin APIs over HTTP against the real binary (dataplane off): host
//! aggregates, os-hosts, with Nova's policy, faults and microversion gates.

mod common;

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

fn call(s: &Server, m: Method, path: &str, token: &str, mv: &str, body: Option<Value>) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}/compute/v2.1{path}", s.base))
        .header("OpenStack-API-Version", format!("compute {mv}"))
        .header("X-Auth-Token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

/// A request to any service by its path under the cloud's root.
fn raw(s: &Server, m: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}{path}", s.base))
        .header("X-Auth-Token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn ok(r: Response, code: u16) -> Value {
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    assert_eq!(status, code, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts a status and Nova's fault body, returning the message.
fn fault(r: Response, code: u16) -> String {
    let status = r.status().as_u16();
    let v = json_of(r);
    assert_eq!(status, code, "{v}");
    let key = match code {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        409 => "conflictingRequest",
        501 => "notImplemented",
        _ => "computeFault",
    };
    assert_eq!(v[key]["code"], code, "{v}");
    v[key]["message"].as_str().expect("message").to_owned()
}

fn compute_host(s: &Server, admin: &str) -> String {
    let v = ok(
        call(
            s,
            Method::GET,
            "/os-services?binary=nova-compute",
            admin,
            "2.1",
            None,
        ),
        200,
    );
    v["services"][0]["host"].as_str().expect("host").to_owned()
}

#[test]
fn aggregates_crud_hosts_metadata_policy_and_restart() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let host = compute_host(&s, &admin);
    let post = |path: &str, t: &str, b: Value| call(&s, Method::POST, path, t, "2.1", Some(b));

    fault(
        post("/os-aggregates", &demo, json!({"aggregate": {"name": "a"}})),
        403,
    );
    fault(
        call(&s, Method::GET, "/os-aggregates", &demo, "2.1", None),
        403,
    );
    fault(
        post("/os-aggregates", &admin, json!({"aggregate": {"name": ""}})),
        400,
    );
    let long = "a".repeat(256);
    fault(
        post(
            "/os-aggregates",
            &admin,
            json!({"aggregate": {"name": long}}),
        ),
        400,
    );
    fault(
        post(
            "/os-aggregates",
            &admin,
            json!({"aggregate": {"name": "a", "x": 1}}),
        ),
        400,
    );

    let v = ok(
        post(
            "/os-aggregates",
            &admin,
            json!({"aggregate": {"name": "agg1"}}),
        ),
        200,
    );
    let a = &v["aggregate"];
    assert_eq!(a["availability_zone"], Value::Null);
    assert_eq!(a["deleted"], false);
    assert!(a.get("hosts").is_none() && a.get("uuid").is_none(), "{a}");
    let id = a["id"].as_i64().expect("id");
    fault(
        post(
            "/os-aggregates",
            &admin,
            json!({"aggregate": {"name": "agg1"}}),
        ),
        409,
    );

    let path = format!("/os-aggregates/{id}");
    let action = format!("{path}/action");
    fault(call(&s, Method::GET, &path, &demo, "2.1", None), 403);
    fault(
        call(&s, Method::GET, "/os-aggregates/-1", &admin, "2.1", None),
        404,
    );
    fault(
        call(&s, Method::DELETE, "/os-aggregates/-1", &admin, "2.1", None),
        404,
    );
    let v = ok(call(&s, Method::GET, &path, &admin, "2.41", None), 200);
    assert_eq!(v["aggregate"]["metadata"], json!({}));
    assert!(v["aggregate"]["uuid"].is_string());

    let v = ok(
        call(
            &s,
            Method::PUT,
            &path,
            &admin,
            "2.1",
            Some(json!({"aggregate": {"name": "agg2", "availability_zone": "az1"}})),
        ),
        200,
    );
    assert_eq!(v["aggregate"]["availability_zone"], "az1");
    assert!(v["aggregate"]["updated_at"].is_string());

    fault(
        post(
            &action,
            &admin,
            json!({"add_host": {"host": "nonexist_host"}}),
        ),
        404,
    );
    fault(
        post(&action, &demo, json!({"add_host": {"host": host}})),
        403,
    );
    let v = ok(
        post(&action, &admin, json!({"add_host": {"host": host}})),
        200,
    );
    assert_eq!(v["aggregate"]["hosts"], json!([host]));
    fault(
        post(&action, &admin, json!({"add_host": {"host": host}})),
        409,
    );
    fault(call(&s, Method::DELETE, &path, &admin, "2.1", None), 400);
    let v = ok(
        post(
            &action,
            &admin,
            json!({"set_metadata": {"metadata": {"k": "v", "gone": null}}}),
        ),
        200,
    );
    assert_eq!(
        v["aggregate"]["metadata"],
        json!({"k": "v", "availability_zone": "az1"})
    );

    // The host's zone follows its aggregate, in os-hosts too.
    let v = ok(
        call(&s, Method::GET, "/os-hosts?zone=az1", &admin, "2.1", None),
        200,
    );
    assert_eq!(
        v["hosts"],
        json!([{"host_name": host, "service": "compute", "zone": "az1"}])
    );

    s.kill9();
    s.launch();
    let admin = s.admin();
    let v = ok(
        call(&s, Method::GET, "/os-aggregates", &admin, "2.1", None),
        200,
    );
    assert_eq!(v["aggregates"][0]["hosts"], json!([host]));
    assert_eq!(v["aggregates"][0]["name"], "agg2");

    let post = |path: &str, b: Value| call(&s, Method::POST, path, &admin, "2.1", Some(b));
    fault(
        post(&action, json!({"remove_host": {"host": "nonexist_host"}})),
        404,
    );
    let v = ok(post(&action, json!({"remove_host": {"host": host}})), 200);
    assert_eq!(v["aggregate"]["hosts"], json!([]));
    ok(call(&s, Method::DELETE, &path, &admin, "2.1", None), 200);
    fault(call(&s, Method::GET, &path, &admin, "2.1", None), 404);
}

#[test]
fn os_hosts_list_show_update_and_gates() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let host = compute_host(&s, &admin);
    let get = |path: &str, t: &str| call(&s, Method::GET, path, t, "2.1", None);
    let v = ok(get("/os-hosts", &admin), 200);
    assert_eq!(v["hosts"].as_array().expect("hosts").len(), 3, "{v}");
    assert_eq!(
        ok(get("/os-hosts?zone=", &admin), 200)["hosts"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        ok(get("/os-hosts?zone=xxx", &admin), 200)["hosts"],
        json!([])
    );
    fault(get("/os-hosts", &demo), 403);
    fault(
        call(&s, Method::GET, "/os-hosts", &admin, "2.43", None),
        404,
    );

    let v = ok(get(&format!("/os-hosts/{host}"), &admin), 200);
    let rows = v["host"].as_array().expect("rows");
    assert_eq!(rows[0]["resource"]["project"], "(total)");
    assert_eq!(rows[0]["resource"]["host"], json!(host));
    assert!(rows[0]["resource"]["cpu"].as_i64().expect("cpu") >= 1);
    fault(get("/os-hosts/nonexistent_hostname", &admin), 404);
    fault(get(&format!("/os-hosts/{host}"), &demo), 403);

    let put = |h: &str, t: &str, b: Value| {
        call(
            &s,
            Method::PUT,
            &format!("/os-hosts/{h}"),
            t,
            "2.1",
            Some(b),
        )
    };
    fault(put(&host, &admin, json!({})), 400);
    fault(
        put(
            &host,
            &admin,
            json!({"status": "invalid", "maintenance_mode": "enable"}),
        ),
        400,
    );
    fault(
        put(
            &host,
            &admin,
            json!({"status": "enable", "maintenance_mode": "invalid"}),
        ),
        400,
    );
    fault(
        put("nonexistent_hostname", &admin, json!({"status": "enable"})),
        404,
    );
    fault(put(&host, &demo, json!({"status": "enable"})), 403);
    fault(
        put(&host, &admin, json!({"maintenance_mode": "enable"})),
        501,
    );
    let v = ok(put(&host, &admin, json!({"status": "disable"})), 200);
    assert_eq!(v, json!({"host": host, "status": "disabled"}));
    let v = ok(
        call(
            &s,
            Method::GET,
            "/os-services?binary=nova-compute",
            &admin,
            "2.1",
            None,
        ),
        200,
    );
    assert_eq!(v["services"][0]["status"], "disabled");
    ok(put(&host, &admin, json!({"status": "enable"})), 200);

    for action in ["startup", "shutdown", "reboot"] {
        fault(
            get(&format!("/os-hosts/nonexistent_hostname/{action}"), &admin),
            404,
        );
        fault(get(&format!("/os-hosts/{host}/{action}"), &demo), 403);
        fault(get(&format!("/os-hosts/{host}/{action}"), &admin), 501);
    }
}

/// A tiny raw public image, uploaded by `token` through the image API.
fn small_image(s: &Server, token: &str, name: &str) -> String {
    let body = json!({"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"});
    let r = raw(s, Method::POST, "/image/v2/images", token, Some(body));
    let id = ok(r, 201)["id"].as_str().expect("id").to_owned();
    let put = s
        .client
        .put(format!("{}/image/v2/images/{id}/file", s.base))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 1 << 20])
        .send()
        .expect("upload");
    assert_eq!(put.status(), 204);
    id
}

fn net(s: &Server, m: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let r = raw(s, m, &format!("/networking/v2.0{path}"), token, body);
    let code = r.status().as_u16();
    let v = ok(r, code);
    assert!(code < 300, "{path}: {v}");
    v
}

/// Nova's answers a member gets on server create: forcing a host is
/// admin-only (403), and another project's port or security group is refused
/// at once (400), with nothing recorded.
#[test]
fn server_create_refuses_forced_hosts_and_foreign_ports_and_groups() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let host = compute_host(&s, &admin);
    let image = small_image(&s, &admin, "tiny");
    let create = |t: &str, mv: &str, extra: Value| {
        let mut server =
            json!({"name": "vm", "imageRef": image, "flavorRef": "42", "networks": "none"});
        for (k, v) in extra.as_object().expect("extra") {
            server[k] = v.clone();
        }
        call(
            &s,
            Method::POST,
            "/servers",
            t,
            mv,
            Some(json!({"server": server})),
        )
    };
    let msg = fault(
        create(
            &demo,
            "2.37",
            json!({"availability_zone": format!("nova:{host}")}),
        ),
        403,
    );
    assert!(msg.contains("forced_host"), "{msg}");
    let msg = fault(create(&demo, "2.74", json!({"host": host})), 403);
    assert!(msg.contains("requested_destination"), "{msg}");
    fault(
        create(&demo, "2.74", json!({"hypervisor_hostname": host})),
        403,
    );
    fault(create(&admin, "2.74", json!({"host": "elsewhere"})), 400);
    fault(
        create(&demo, "2.37", json!({"availability_zone": "az-nowhere"})),
        400,
    );

    let sg = net(
        &s,
        Method::POST,
        "/security-groups",
        &admin,
        Some(json!({"security_group": {"name": "admins-only"}})),
    );
    let sg_id = sg["security_group"]["id"].as_str().expect("sg").to_owned();
    let msg = fault(
        create(&demo, "2.37", json!({"security_groups": [{"name": sg_id}]})),
        400,
    );
    assert!(msg.contains("not found"), "{msg}");
    fault(
        create(
            &demo,
            "2.37",
            json!({"security_groups": [{"name": "admins-only"}]}),
        ),
        400,
    );

    let network = net(
        &s,
        Method::POST,
        "/networks",
        &admin,
        Some(json!({"network": {"name": "adm"}})),
    );
    let net_id = network["network"]["id"].as_str().expect("net").to_owned();
    net(
        &s,
        Method::POST,
        "/subnets",
        &admin,
        Some(json!({"subnet": {"network_id": net_id, "cidr": "10.77.0.0/24", "ip_version": 4}})),
    );
    let port = net(
        &s,
        Method::POST,
        "/ports",
        &admin,
        Some(json!({"port": {"network_id": net_id}})),
    );
    let port_id = port["port"]["id"].as_str().expect("port").to_owned();
    let msg = fault(
        create(&demo, "2.37", json!({"networks": [{"port": port_id}]})),
        400,
    );
    assert!(msg.contains("could not be found"), "{msg}");

    let v = ok(call(&s, Method::GET, "/servers", &demo, "2.37", None), 200);
    assert_eq!(v["servers"], json!([]), "nothing was recorded");
    let v = net(&s, Method::GET, &format!("/ports/{port_id}"), &admin, None);
    assert_eq!(v["port"]["device_id"], "", "the port is untouched");
}

#[test]
fn proxy_images_and_security_groups_and_server_extras() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let image = small_image(&s, &admin, "proxied");
    let get = |p: &str, t: &str, mv: &str| call(&s, Method::GET, p, t, mv, None);

    let v = ok(get(&format!("/images/{image}"), &demo, "2.1"), 200);
    assert_eq!(v["image"]["status"], "ACTIVE");
    assert_eq!(v["image"]["progress"], 100);
    fault(get(&format!("/images/{image}"), &demo, "2.36"), 404);
    fault(
        get("/images/00000000-0000-0000-0000-000000000000", &demo, "2.1"),
        404,
    );
    let v = ok(get("/images/detail?name=proxied", &demo, "2.1"), 200);
    assert_eq!(v["images"].as_array().map(Vec::len), Some(1));
    let meta = format!("/images/{image}/metadata");
    let v = ok(
        call(
            &s,
            Method::POST,
            &meta,
            &admin,
            "2.1",
            Some(json!({"metadata": {"a": "1"}})),
        ),
        200,
    );
    assert_eq!(v["metadata"]["a"], "1");
    let v = ok(
        call(
            &s,
            Method::PUT,
            &format!("{meta}/b"),
            &admin,
            "2.1",
            Some(json!({"meta": {"b": "2"}})),
        ),
        200,
    );
    assert_eq!(v, json!({"meta": {"b": "2"}}));
    fault(
        call(
            &s,
            Method::PUT,
            &format!("{meta}/b"),
            &admin,
            "2.1",
            Some(json!({"meta": {"c": "2"}})),
        ),
        400,
    );
    let v = ok(
        call(
            &s,
            Method::PUT,
            &meta,
            &admin,
            "2.1",
            Some(json!({"metadata": {"z": "9"}})),
        ),
        200,
    );
    assert_eq!(v["metadata"], json!({"z": "9"}));
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("{meta}/z"),
            &admin,
            "2.1",
            None
        )
        .status(),
        204
    );
    fault(get(&format!("{meta}/z"), &admin, "2.1"), 404);

    let body = json!({"security_group": {"name": "web", "description": "d"}});
    let v = ok(
        call(
            &s,
            Method::POST,
            "/os-security-groups",
            &demo,
            "2.1",
            Some(body),
        ),
        200,
    );
    let sg = v["security_group"]["id"].as_str().expect("id").to_owned();
    fault(
        call(
            &s,
            Method::POST,
            "/os-security-groups",
            &demo,
            "2.1",
            Some(json!({"security_group": {"name": " "}})),
        ),
        400,
    );
    let rule = json!({"security_group_rule": {"parent_group_id": sg, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}});
    let v = ok(
        call(
            &s,
            Method::POST,
            "/os-security-group-rules",
            &demo,
            "2.1",
            Some(rule.clone()),
        ),
        200,
    );
    assert_eq!(
        v["security_group_rule"]["ip_range"],
        json!({"cidr": "10.0.0.0/8"})
    );
    fault(
        call(
            &s,
            Method::POST,
            "/os-security-group-rules",
            &demo,
            "2.1",
            Some(rule),
        ),
        400,
    );
    let bad = json!({"security_group_rule": {"parent_group_id": sg, "ip_protocol": "tcp", "from_port": 22, "to_port": 21}});
    fault(
        call(
            &s,
            Method::POST,
            "/os-security-group-rules",
            &demo,
            "2.1",
            Some(bad),
        ),
        400,
    );
    let v = ok(get(&format!("/os-security-groups/{sg}"), &demo, "2.1"), 200);
    assert_eq!(
        v["security_group"]["rules"].as_array().map(Vec::len),
        Some(1)
    );
    fault(
        get(&format!("/os-security-groups/{sg}"), &admin, "2.36"),
        404,
    );
    let groups = ok(get("/os-security-groups", &demo, "2.1"), 200);
    let default = groups["security_groups"]
        .as_array()
        .and_then(|l| l.iter().find(|g| g["name"] == "default"))
        .expect("default group")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    fault(
        call(
            &s,
            Method::DELETE,
            &format!("/os-security-groups/{default}"),
            &demo,
            "2.1",
            None,
        ),
        400,
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/os-security-groups/{sg}"),
            &demo,
            "2.1",
            None
        )
        .status(),
        202
    );
    fault(get(&format!("/os-security-groups/{sg}"), &demo, "2.1"), 404);

    let missing = "00000000-0000-0000-0000-000000000000";
    fault(
        get(
            &format!("/servers/{missing}/os-server-password"),
            &demo,
            "2.1",
        ),
        404,
    );
    fault(
        get(&format!("/servers/{missing}/diagnostics"), &demo, "2.48"),
        403,
    );
    fault(
        get(&format!("/servers/{missing}/diagnostics"), &admin, "2.48"),
        404,
    );
    let event = json!({"events": [{"name": "network-changed", "server_uuid": missing}]});
    fault(
        call(
            &s,
            Method::POST,
            "/os-server-external-events",
            &demo,
            "2.1",
            Some(event.clone()),
        ),
        403,
    );
    let r = call(
        &s,
        Method::POST,
        "/os-server-external-events",
        &admin,
        "2.1",
        Some(event),
    );
    assert_eq!(r.status(), 404);
    let reset = json!({"os-resetState": {"state": "active"}});
    fault(
        call(
            &s,
            Method::POST,
            &format!("/servers/{missing}/action"),
            &demo,
            "2.1",
            Some(reset.clone()),
        ),
        403,
    );
    fault(
        call(
            &s,
            Method::POST,
            &format!("/servers/{missing}/action"),
            &admin,
            "2.1",
            Some(reset),
        ),
        404,
    );
}

/// The project a token is scoped to, from its validation.
fn project_of(s: &Server, admin: &str, token: &str) -> String {
    let v = json_of(s.validate(admin, token));
    v["token"]["project"]["id"]
        .as_str()
        .expect("project id")
        .to_owned()
}

#[test]
fn extensions_hypervisor_search_audit_log_quota_classes_and_migrations() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let host = compute_host(&s, &admin);
    let get = |path: &str, t: &str, mv: &str| call(&s, Method::GET, path, t, mv, None);

    // Extensions: the frozen list, looked up by alias.
    let v = ok(get("/extensions", &demo, "2.1"), 200);
    let list = v["extensions"].as_array().expect("extensions");
    assert!(list.iter().any(|e| e["name"] == "Hosts"), "{v}");
    let v = ok(get("/extensions/os-consoles", &demo, "2.1"), 200);
    assert_eq!(v["extension"]["alias"], "os-consoles");
    fault(get("/extensions/os-nonexistent", &demo, "2.1"), 404);

    // Hypervisor search and servers below 2.53; gone from 2.53; admin only.
    let v = ok(
        get(&format!("/os-hypervisors/{host}/search"), &admin, "2.1"),
        200,
    );
    assert_eq!(v["hypervisors"][0]["hypervisor_hostname"], host);
    let v = ok(
        get(&format!("/os-hypervisors/{host}/servers"), &admin, "2.1"),
        200,
    );
    assert!(v["hypervisors"][0].get("servers").is_none(), "{v}");
    fault(
        get("/os-hypervisors/no-such-host-xyz/search", &admin, "2.1"),
        404,
    );
    fault(
        get(&format!("/os-hypervisors/{host}/search"), &admin, "2.53"),
        404,
    );
    fault(
        get(&format!("/os-hypervisors/{host}/servers"), &demo, "2.1"),
        403,
    );

    // The usage audit log: this host has not run the (periodic) audit.
    let v = ok(get("/os-instance_usage_audit_log", &admin, "2.1"), 200);
    let log = &v["instance_usage_audit_logs"];
    assert_eq!(log["num_hosts"], 1);
    assert_eq!(log["hosts_not_run"], json!([host]));
    let v = ok(
        get(
            "/os-instance_usage_audit_log/2026-03-15%2010:00:00",
            &admin,
            "2.1",
        ),
        200,
    );
    assert_eq!(
        v["instance_usage_audit_log"]["period_beginning"],
        "2026-02-01 00:00:00"
    );
    assert_eq!(
        v["instance_usage_audit_log"]["period_ending"],
        "2026-03-01 00:00:00"
    );
    fault(
        get("/os-instance_usage_audit_log/invalid", &admin, "2.1"),
        400,
    );
    fault(get("/os-instance_usage_audit_log", &demo, "2.1"), 403);

    // Quota classes: the `default` class is what every project starts with.
    let project = project_of(&s, &admin, &demo);
    let v = ok(get("/os-quota-class-sets/default", &admin, "2.1"), 200);
    assert_eq!(v["quota_class_set"]["id"], "default");
    assert_eq!(v["quota_class_set"]["instances"], 10);
    assert!(v["quota_class_set"].get("server_groups").is_none(), "{v}");
    assert!(v["quota_class_set"].get("floating_ips").is_some(), "{v}");
    let put = |body: Value, t: &str, mv: &str| {
        call(
            &s,
            Method::PUT,
            "/os-quota-class-sets/default",
            t,
            mv,
            Some(body),
        )
    };
    let v = ok(
        put(
            json!({"quota_class_set": {"instances": 55, "cores": 60}}),
            &admin,
            "2.1",
        ),
        200,
    );
    assert_eq!(v["quota_class_set"]["instances"], 55);
    assert!(v["quota_class_set"].get("id").is_none(), "{v}");
    fault(
        put(
            json!({"quota_class_set": {"injected_files": 3}}),
            &admin,
            "2.57",
        ),
        400,
    );
    fault(
        put(json!({"quota_class_set": {"instances": -2}}), &admin, "2.1"),
        400,
    );
    fault(
        put(json!({"quota_class_set": {"instances": 1}}), &demo, "2.1"),
        403,
    );
    let v = ok(
        get(&format!("/os-quota-sets/{project}/defaults"), &demo, "2.1"),
        200,
    );
    assert_eq!(v["quota_set"]["instances"], 55);

    // Migrations: none yet; admin only.
    let v = ok(get("/os-migrations", &admin, "2.23"), 200);
    assert_eq!(v["migrations"], json!([]));
    fault(get("/os-migrations", &demo, "2.1"), 403);

    // The class change is kept across a kill -9.
    s.kill9();
    s.launch();
    let admin = s.admin();
    let v = ok(
        call(
            &s,
            Method::GET,
            &format!("/os-quota-sets/{project}"),
            &admin,
            "2.1",
            None,
        ),
        200,
    );
    assert_eq!(v["quota_set"]["instances"], 55);
    assert_eq!(v["quota_set"]["cores"], 60);
}

#[test]
fn volume_proxies_create_show_list_and_delete() {
    let s = Server::start();
    let demo = s.demo();
    let call =
        |m: Method, path: &str, mv: &str, body: Option<Value>| call(&s, m, path, &demo, mv, body);
    for bad in [json!({"size": 0}), json!({"size": "#$%"}), json!({})] {
        fault(
            call(
                Method::POST,
                "/os-volumes",
                "2.1",
                Some(json!({"volume": bad})),
            ),
            400,
        );
    }
    let r = call(
        Method::POST,
        "/os-volumes",
        "2.1",
        Some(json!({"volume": {"size": 1, "display_name": "pv", "metadata": {"k": "v"}}})),
    );
    let v = ok(r, 200);
    let id = v["volume"]["id"].as_str().expect("id").to_owned();
    assert_eq!(v["volume"]["displayName"], "pv");
    assert_eq!(v["volume"]["attachments"], json!([{}]));
    let mut status = String::new();
    for _ in 0..100 {
        let v = ok(
            call(Method::GET, &format!("/os-volumes/{id}"), "2.1", None),
            200,
        );
        status = v["volume"]["status"].as_str().unwrap_or("").to_owned();
        if status == "available" {
            assert_eq!(v["volume"]["metadata"], json!({"k": "v"}));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "available");
    let v = ok(
        call(Method::GET, "/os-volumes/detail?limit=1", "2.1", None),
        200,
    );
    assert_eq!(v["volumes"].as_array().map(Vec::len), Some(1));
    let v = ok(call(Method::GET, "/os-volumes?offset=1", "2.1", None), 200);
    assert_eq!(v["volumes"], json!([]));
    // The proxies are gone from 2.36.
    fault(
        call(Method::GET, &format!("/os-volumes/{id}"), "2.36", None),
        404,
    );
    let v = ok(
        call(
            Method::POST,
            "/os-snapshots",
            "2.1",
            Some(json!({"snapshot": {"volume_id": id, "display_name": "ps"}})),
        ),
        200,
    );
    assert_eq!(v["snapshot"]["volumeId"], id);
    assert_eq!(v["snapshot"]["size"], 1);
    let snap = v["snapshot"]["id"]
        .as_str()
        .expect("snapshot id")
        .to_owned();
    let mut deleted = false;
    for _ in 0..100 {
        let r = call(
            Method::DELETE,
            &format!("/os-snapshots/{snap}"),
            "2.1",
            None,
        );
        if r.status() == 202 {
            deleted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(deleted, "the snapshot was not deleted");
    let mut gone = false;
    for _ in 0..100 {
        let r = call(Method::DELETE, &format!("/os-volumes/{id}"), "2.1", None);
        if r.status() == 202 || r.status() == 404 {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the volume was not deleted");
    fault(
        call(
            Method::GET,
            "/os-volumes/8a1e3c0e-0000-4000-8000-000000000000",
            "2.1",
            None,
        ),
        404,
    );
}

/// The behaviours of microversions 2.80 to 2.104 that need no guest: each is
/// checked on both sides of the version that brought it.
#[test]
fn microversions_past_2_79_without_a_guest() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let host = compute_host(&s, &admin);

    // 2.81: image pre-caching into an aggregate's hosts.
    let agg = ok(
        call(
            &s,
            Method::POST,
            "/os-aggregates",
            &admin,
            "2.81",
            Some(json!({"aggregate": {"name": "cache"}})),
        ),
        200,
    )["aggregate"]["id"]
        .as_i64()
        .expect("aggregate id");
    ok(
        call(
            &s,
            Method::POST,
            &format!("/os-aggregates/{agg}/action"),
            &admin,
            "2.81",
            Some(json!({"add_host": {"host": host}})),
        ),
        200,
    );
    let image = small_image(&s, &admin, "to-cache");
    let path = format!("/os-aggregates/{agg}/images");
    let body = json!({"cache": [{"id": image}]});
    fault(
        call(&s, Method::POST, &path, &admin, "2.80", Some(body.clone())),
        404,
    );
    fault(
        call(&s, Method::POST, &path, &demo, "2.81", Some(body.clone())),
        403,
    );
    assert_eq!(
        call(&s, Method::POST, &path, &admin, "2.81", Some(body)).status(),
        202
    );
    let dup = json!({"cache": [{"id": image}, {"id": image}]});
    assert!(
        fault(
            call(&s, Method::POST, &path, &admin, "2.81", Some(dup)),
            400
        )
        .contains("Duplicate")
    );
    let missing = json!({"cache": [{"id": "00000000-0000-4000-8000-000000000000"}]});
    fault(
        call(&s, Method::POST, &path, &admin, "2.81", Some(missing)),
        400,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/os-aggregates/9999/images",
            &admin,
            "2.81",
            Some(json!({"cache": [{"id": image}]})),
        ),
        404,
    );
    fault(
        call(
            &s,
            Method::POST,
            &path,
            &admin,
            "2.81",
            Some(json!({"cache": []})),
        ),
        400,
    );

    // 2.86: known extra spec namespaces are validated, others are free.
    let flavor = ok(
        call(
            &s,
            Method::POST,
            "/flavors",
            &admin,
            "2.86",
            Some(json!({"flavor": {"name": "mv86", "ram": 64, "vcpus": 1, "disk": 0}})),
        ),
        200,
    )["flavor"]["id"]
        .as_str()
        .expect("flavor id")
        .to_owned();
    let specs = format!("/flavors/{flavor}/os-extra_specs");
    let bad = json!({"extra_specs": {"hw:cpu_policy": "sometimes"}});
    ok(
        call(&s, Method::POST, &specs, &admin, "2.85", Some(bad.clone())),
        200,
    );
    let msg = fault(
        call(&s, Method::POST, &specs, &admin, "2.86", Some(bad)),
        400,
    );
    assert!(msg.contains("is not one of"), "{msg}");
    fault(
        call(
            &s,
            Method::POST,
            &specs,
            &admin,
            "2.86",
            Some(json!({"extra_specs": {"hw:no_such_spec": "1"}})),
        ),
        400,
    );
    let v = ok(
        call(
            &s,
            Method::POST,
            &specs,
            &admin,
            "2.86",
            Some(json!({"extra_specs": {"hw:cpu_policy": "shared", "foo:bar": "baz"}})),
        ),
        200,
    );
    assert_eq!(v["extra_specs"]["foo:bar"], "baz");
    fault(
        call(
            &s,
            Method::PUT,
            &format!("{specs}/hw:numa_nodes"),
            &admin,
            "2.86",
            Some(json!({"hw:numa_nodes": "many"})),
        ),
        400,
    );

    // 2.88: hypervisors without the resource figures, uptime inline, the
    // statistics and uptime routes gone.
    let hv = ok(
        call(
            &s,
            Method::GET,
            "/os-hypervisors/detail",
            &admin,
            "2.88",
            None,
        ),
        200,
    );
    let h = &hv["hypervisors"][0];
    assert!(
        h.get("vcpus").is_none() && h.get("memory_mb").is_none(),
        "{h}"
    );
    assert!(h["uptime"].is_string(), "{h}");
    let old = ok(
        call(
            &s,
            Method::GET,
            "/os-hypervisors/detail",
            &admin,
            "2.87",
            None,
        ),
        200,
    );
    assert!(old["hypervisors"][0]["vcpus"].is_number());
    fault(
        call(
            &s,
            Method::GET,
            "/os-hypervisors/statistics",
            &admin,
            "2.88",
            None,
        ),
        404,
    );
    ok(
        call(
            &s,
            Method::GET,
            "/os-hypervisors/statistics",
            &admin,
            "2.87",
            None,
        ),
        200,
    );
    let hid = h["id"].as_str().expect("hypervisor id");
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-hypervisors/{hid}/uptime"),
            &admin,
            "2.88",
            None,
        ),
        404,
    );

    // 2.92: key pairs are imported only; names may carry '@' and '.'.
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDNyN+sTzrb4ZTc0oUN1M7qWxIPk4tJ3H7ajjgvQk8Hv x";
    fault(
        call(
            &s,
            Method::POST,
            "/os-keypairs",
            &demo,
            "2.92",
            Some(json!({"keypair": {"name": "gen"}})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/os-keypairs",
            &demo,
            "2.91",
            Some(json!({"keypair": {"name": "me@example.org", "public_key": key}})),
        ),
        400,
    );
    ok(
        call(
            &s,
            Method::POST,
            "/os-keypairs",
            &demo,
            "2.92",
            Some(json!({"keypair": {"name": "me@example.org", "public_key": key}})),
        ),
        201,
    );

    // 2.102: flavors lose rxtx_factor and the disabled flag, take a name filter;
    // unknown query parameters are refused (2.75 for the list APIs).
    let v = ok(
        call(
            &s,
            Method::GET,
            "/flavors/detail?name=^m1%5C.n",
            &demo,
            "2.102",
            None,
        ),
        200,
    );
    let names: Vec<&str> = v["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["m1.nano"], "{v}");
    assert!(v["flavors"][0].get("rxtx_factor").is_none());
    assert!(v["flavors"][0].get("OS-FLV-DISABLED:disabled").is_none());
    assert_eq!(v["flavors"][0]["swap"], 0);
    let old = ok(
        call(&s, Method::GET, "/flavors/detail", &demo, "2.101", None),
        200,
    );
    assert!(old["flavors"][0].get("rxtx_factor").is_some());
    fault(
        call(&s, Method::GET, "/flavors?name=x", &demo, "2.101", None),
        400,
    );
    fault(
        call(&s, Method::GET, "/flavors?bogus=1", &demo, "2.75", None),
        400,
    );
    ok(
        call(&s, Method::GET, "/flavors?bogus=1", &demo, "2.74", None),
        200,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors",
            &admin,
            "2.102",
            Some(
                json!({"flavor": {"name": "rx", "ram": 64, "vcpus": 1, "disk": 0, "rxtx_factor": 1.0}}),
            ),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            &format!("/flavors/{flavor}?x=1"),
            &demo,
            "2.102",
            None,
        ),
        400,
    );
    ok(
        call(
            &s,
            Method::GET,
            &format!("/flavors/{flavor}?x=1"),
            &demo,
            "2.101",
            None,
        ),
        200,
    );
    let msg = fault(
        call(
            &s,
            Method::GET,
            "/servers?frobnicate=1",
            &demo,
            "2.75",
            None,
        ),
        400,
    );
    assert!(msg.contains("'frobnicate' was unexpected"), "{msg}");
    ok(
        call(
            &s,
            Method::GET,
            "/servers?_private=1&name=x",
            &demo,
            "2.75",
            None,
        ),
        200,
    );
    ok(
        call(
            &s,
            Method::GET,
            "/servers?frobnicate=1",
            &demo,
            "2.74",
            None,
        ),
        200,
    );

    // 2.80: migrations carry and filter by the requester.
    ok(
        call(
            &s,
            Method::GET,
            "/os-migrations?user_id=u&project_id=p",
            &admin,
            "2.80",
            None,
        ),
        200,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-migrations?user_id=u",
            &admin,
            "2.79",
            None,
        ),
        400,
    );

    // 2.103: the os-volumes_boot alias is gone.
    fault(
        call(&s, Method::GET, "/os-volumes_boot", &demo, "2.103", None),
        404,
    );
}
