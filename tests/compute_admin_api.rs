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
