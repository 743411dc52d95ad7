//! Compute and block storage request helpers for the tests that boot the test guest
//! and attach volumes to it (volume_attach, volume_iscsi).

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::{Server, json_of};

/// A request at the microversions these tests are written for (volume 3.60,
/// compute 2.79), chosen by the path's service.
pub(crate) fn req(
    s: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let (service, version) = if path.starts_with("/volume") {
        ("volume", "3.60")
    } else {
        ("compute", "2.79")
    };
    let mut r = s
        .client
        .request(method, format!("{}{path}", s.base))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("{service} {version}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

pub(crate) fn console(s: &Server, token: &str, id: &str) -> String {
    let r = req(
        s,
        token,
        Method::POST,
        &format!("/compute/v2.1/servers/{id}/action"),
        Some(json!({"os-getConsoleOutput": {}})),
    );
    assert_eq!(r.status(), 200);
    json_of(r)["output"].as_str().unwrap_or_default().to_owned()
}

/// Waits until the console holds `n` occurrences of `needle`.
pub(crate) fn wait_console(
    s: &Server,
    token: &str,
    id: &str,
    needle: &str,
    n: usize,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let out = console(s, token, id);
        if out.matches(needle).count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} x{n} on the console:\n{out}\n--- server log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the server is `status` with no task left; fails at once on ERROR.
pub(crate) fn wait_server(s: &Server, token: &str, id: &str, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let v = json_of(req(
            s,
            token,
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            None,
        ));
        let srv = &v["server"];
        if srv["status"] == status && srv["OS-EXT-STS:task_state"].is_null() {
            return;
        }
        assert!(srv["status"] != "ERROR", "server went to ERROR: {srv}");
        assert!(Instant::now() < deadline, "never {status}: {srv}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub(crate) fn volume(s: &Server, token: &str, project: &str, id: &str) -> Value {
    json_of(req(
        s,
        token,
        Method::GET,
        &format!("/volume/v3/{project}/volumes/{id}"),
        None,
    ))["volume"]
        .clone()
}

pub(crate) fn wait_volume(s: &Server, token: &str, project: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = volume(s, token, project, id);
        if v["status"] == status {
            return v;
        }
        assert!(Instant::now() < deadline, "volume never {status}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 1 GiB volume, once available.
pub(crate) fn create_volume(s: &Server, token: &str, project: &str, name: &str) -> String {
    let r = req(
        s,
        token,
        Method::POST,
        &format!("/volume/v3/{project}/volumes"),
        Some(json!({"volume": {"size": 1, "name": name}})),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["volume"]["id"].as_str().expect("id").to_owned();
    wait_volume(s, token, project, &id, "available");
    id
}

/// How a test boots its guest: its name, the user_data script, and how long the
/// guest may take to become ACTIVE and then to print its ready line.
pub(crate) struct Guest<'a> {
    pub name: &'a str,
    pub user_data: &'a str,
    pub active_within: Duration,
    pub ready_within: Duration,
}

/// Boots the test guest (`cirros`, flavor 42, no network, config drive) and waits
/// for its ready line on the console.
pub(crate) fn boot_guest(s: &Server, token: &str, g: &Guest<'_>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let image_id = loop {
        let images = json_of(req(
            s,
            token,
            Method::GET,
            "/image/v2/images?name=cirros",
            None,
        ));
        let img = &images["images"][0];
        if img["status"] == "active" {
            break img["id"].as_str().expect("image").to_owned();
        }
        assert!(Instant::now() < deadline, "image never active: {images}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let user_data = base64::engine::general_purpose::STANDARD.encode(g.user_data);
    let r = req(
        s,
        token,
        Method::POST,
        "/compute/v2.1/servers",
        Some(json!({"server": {
            "name": g.name, "imageRef": image_id, "flavorRef": "42",
            "networks": "none", "config_drive": true, "user_data": user_data,
        }})),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    wait_server(s, token, &id, "ACTIVE", g.active_within);
    wait_console(s, token, &id, "onestack-guest ready", 1, g.ready_within);
    id
}
