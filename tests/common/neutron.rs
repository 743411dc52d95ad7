//! Neutron v2.0 request helpers shared by the networking API tests.

use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::{Server, json_of};

pub(crate) fn call(
    s: &Server,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}/networking/v2.0{path}", s.base))
        .header("X-Auth-Token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

pub(crate) fn post(s: &Server, token: &str, coll: &str, key: &str, body: Value) -> Value {
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

/// POST /subnets with `body` as the subnet; returns the created subnet.
pub(crate) fn post_subnet(s: &Server, token: &str, body: Value) -> Value {
    post(s, token, "subnets", "subnet", body)
}

pub(crate) fn neutron_error(r: Response, code: u16) -> String {
    assert_eq!(r.status().as_u16(), code);
    let v = json_of(r);
    v["NeutronError"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("NeutronError body: {v}"))
        .to_owned()
}

pub(crate) fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Checks that the first-start bootstrap finished (it does before the API answers;
/// the wait only bounds a regression): `router1`'s leg on `private-subnet` is the
/// last thing it makes.
pub(crate) fn wait_default_networks(s: &Server, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let routers = json_of(call(s, Method::GET, "/routers?name=router1", token, None));
        if let Some(r) = routers["routers"][0]["id"].as_str() {
            let path = format!("/ports?device_id={r}&device_owner=network:router_interface");
            let ports = json_of(call(s, Method::GET, &path, token, None));
            if ports["ports"].as_array().is_some_and(|p| !p.is_empty()) {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the default networks never appeared:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
