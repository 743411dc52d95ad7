//! Compute API against the real binary: request validation and policy without a
//! guest, then a real guest (the project's test image under QEMU, TCG here)
//! through its whole lifecycle, restarts of onestack and the loss of its VMM, and
//! a failed build that must leave nothing behind. Tests that need QEMU or the
//! test image skip loudly when they are missing.

mod common;

use std::time::{Duration, Instant};

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const MV: &str = "compute 2.79";

struct Api<'a> {
    s: &'a Server,
    token: String,
}

impl Api<'_> {
    fn req(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .s
            .client
            .request(method, format!("{}{path}", self.s.base))
            .header("X-Auth-Token", &self.token)
            .header("OpenStack-API-Version", MV);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request")
    }

    fn get(&self, path: &str) -> Value {
        let r = self.req(Method::GET, path, None);
        assert_eq!(r.status(), 200, "GET {path}");
        json_of(r)
    }

    fn action(&self, id: &str, body: Value) -> Response {
        self.req(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            Some(body),
        )
    }

    fn server(&self, id: &str) -> Value {
        self.get(&format!("/compute/v2.1/servers/{id}"))["server"].clone()
    }

    /// Polls until the server reaches `status` with no task (panics on ERROR).
    fn wait_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.server(id);
            if s["status"] == status && s["OS-EXT-STS:task_state"].is_null() {
                return s;
            }
            assert!(
                s["status"] != "ERROR" || status == "ERROR",
                "server went to ERROR: {s}"
            );
            assert!(
                Instant::now() < deadline,
                "server never reached {status}: {s}\n{}",
                self.s.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn console(&self, id: &str) -> String {
        let r = self.action(id, json!({"os-getConsoleOutput": {"length": null}}));
        assert_eq!(r.status(), 200);
        json_of(r)["output"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the console shows `needle` `times` times.
    fn wait_console(&self, id: &str, needle: &str, times: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let out = self.console(id);
            if out.matches(needle).count() >= times {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "console never showed {needle} x{times}:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The id of image `name` once it is active (the bootstrap image is registered
    /// in the background at start).
    fn image_id(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.get(&format!("/image/v2/images?name={name}"));
            if v["images"][0]["status"] == "active" {
                return v["images"][0]["id"].as_str().expect("image").to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "image {name} never became active: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn create(&self, body: Value) -> Response {
        self.req(Method::POST, "/compute/v2.1/servers", Some(body))
    }
}

fn nova_error(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status, "expected {status}");
    let v = json_of(r);
    let (_, inner) = v.as_object().and_then(|o| o.iter().next()).expect("fault");
    assert_eq!(inner["code"], status, "{v}");
    inner["message"].as_str().expect("message").to_owned()
}

/// A tiny raw image through Glance (no guest needed for validation tests).
fn small_image(api: &Api, name: &str) -> String {
    let r = api.req(
        Method::POST,
        "/image/v2/images",
        Some(json!({"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"})),
    );
    assert_eq!(r.status(), 201);
    let id = json_of(r)["id"].as_str().expect("id").to_owned();
    let put = api
        .s
        .client
        .put(format!("{}/image/v2/images/{id}/file", api.s.base))
        .header("X-Auth-Token", &api.token)
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 1 << 20])
        .send()
        .expect("upload");
    assert_eq!(put.status(), 204);
    id
}

#[test]
fn discovery_and_microversions() {
    let s = Server::start_with_profile(Some(&common::compute_profile(None)));
    let r = s
        .client
        .get(format!("{}/compute/", s.base))
        .send()
        .expect("versions");
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    // Nova lists the legacy v2.0 API first, then v2.1 with its microversions.
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][0]["version"], "");
    assert_eq!(v["versions"][1]["id"], "v2.1");
    assert_eq!(v["versions"][1]["version"], "2.104");
    let v2 = json_of(
        s.client
            .get(format!("{}/compute/v2/", s.base))
            .send()
            .expect("v2"),
    );
    assert_eq!(v2["version"]["id"], "v2.0");
    assert_eq!(
        v2["version"]["links"][0]["href"],
        v["versions"][0]["links"][0]["href"]
    );
    let v = json_of(
        s.client
            .get(format!("{}/compute/v2.1", s.base))
            .send()
            .expect("v2.1"),
    );
    assert_eq!(v["version"]["min_version"], "2.1");
    let api = Api {
        s: &s,
        token: s.demo(),
    };
    let r = api
        .s
        .client
        .get(format!("{}/compute/v2.1/servers", s.base))
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", "compute 2.105")
        .send()
        .expect("406");
    assert_eq!(r.status(), 406);
    let r = api
        .s
        .client
        .get(format!("{}/compute/v2.1/servers", s.base))
        .header("X-Auth-Token", &api.token)
        .header("X-OpenStack-Nova-API-Version", "2.47")
        .send()
        .expect("legacy");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.47");
    assert!(
        r.headers()["vary"]
            .to_str()
            .expect("vary")
            .contains("OpenStack-API-Version")
    );
    // The legacy /v2 API ignores microversion headers: served as 2.1.
    let r = api
        .s
        .client
        .get(format!("{}/compute/v2/servers", s.base))
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", "compute 2.999")
        .send()
        .expect("legacy v2");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.1");
    let r = s
        .client
        .get(format!("{}/compute/v2.1/servers", s.base))
        .send()
        .expect("anon");
    assert_eq!(r.status(), 401);
}

#[test]
fn server_create_rejects_bad_input() {
    let s = Server::start_with_profile(Some(&common::compute_profile(None)));
    let api = Api {
        s: &s,
        token: s.demo(),
    };
    let image = small_image(
        &Api {
            s: &s,
            token: s.admin(),
        },
        "tiny-raw",
    );
    let net = api.get("/networking/v2.0/networks?name=private")["networks"][0]["id"]
        .as_str()
        .expect("private")
        .to_owned();
    let ok = json!({"server": {"name": "vm", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}]}});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(&|b| b["server"]["imageRef"] = json!("6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1")),
            400,
            "Image",
        ),
        (
            with(&|b| b["server"]["flavorRef"] = json!("no-such-flavor")),
            400,
            "Flavor",
        ),
        (
            with(&|b| {
                b["server"]["networks"] = json!([{"uuid": "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1"}])
            }),
            400,
            "Network",
        ),
        (
            with(&|b| b["server"]["networks"] = json!([{"uuid": "nope"}])),
            400,
            "networks",
        ),
        (
            with(&|b| {
                b["server"].as_object_mut().expect("obj").remove("networks");
            }),
            400,
            "networks",
        ),
        (
            with(&|b| {
                b["server"].as_object_mut().expect("obj").remove("name");
            }),
            400,
            "name",
        ),
        (with(&|b| b["server"]["name"] = json!("   ")), 400, "name"),
        (with(&|b| b["server"]["bogus"] = json!(1)), 400, "bogus"),
        (
            with(&|b| b["server"]["user_data"] = json!("%%% not base64")),
            400,
            "base 64",
        ),
        (
            with(&|b| b["server"]["key_name"] = json!("missing-key")),
            400,
            "key_name",
        ),
        (
            with(&|b| b["server"]["availability_zone"] = json!("elsewhere")),
            400,
            "availability zone",
        ),
        (
            with(&|b| b["server"]["max_count"] = json!(0)),
            400,
            "max_count",
        ),
    ];
    for (body, status, needle) in cases {
        let msg = nova_error(api.create(body.clone()), status);
        assert!(msg.contains(needle), "{needle} not in {msg} for {body}");
    }
    let r = api
        .s
        .client
        .post(format!("{}/compute/v2.1/servers", s.base))
        .header("X-Auth-Token", &api.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .expect("bad json");
    nova_error(r, 400);
    // Flavor smaller than the image: a 2 GiB virtual image on a 1 GiB flavor.
    let big = {
        let admin = Api {
            s: &s,
            token: s.admin(),
        };
        let r = admin.req(Method::POST, "/image/v2/images", Some(json!({"name": "big", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"})));
        let id = json_of(r)["id"].as_str().expect("id").to_owned();
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("big.qcow2");
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&file)
            .arg("2G")
            .output()
            .expect("qemu-img");
        assert!(out.status.success());
        let put = admin
            .s
            .client
            .put(format!("{}/image/v2/images/{id}/file", s.base))
            .header("X-Auth-Token", &admin.token)
            .header("Content-Type", "application/octet-stream")
            .body(std::fs::read(&file).expect("read"))
            .send()
            .expect("upload");
        assert_eq!(put.status(), 204);
        id
    };
    let msg = nova_error(
        api.create(with(&|b| b["server"]["imageRef"] = json!(big))),
        400,
    );
    assert!(msg.contains("too small"), "{msg}");
    // Unknown server and another project's view.
    nova_error(
        api.req(
            Method::GET,
            "/compute/v2.1/servers/6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1",
            None,
        ),
        404,
    );
    nova_error(
        api.req(Method::GET, "/compute/v2.1/servers/not-a-server", None),
        404,
    );
    nova_error(
        api.action(
            "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1",
            json!({"os-stop": null}),
        ),
        404,
    );
}

#[test]
fn server_lifecycle_on_a_real_guest() {
    let Some(image_file) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image_file))));
    let demo = Api {
        s: &s,
        token: s.demo(),
    };
    let admin = Api {
        s: &s,
        token: s.admin(),
    };
    let image = demo.image_id("cirros");
    let r = demo.create(
        json!({"server": {"name": "life", "imageRef": image, "flavorRef": "42", "networks": "none",
        "config_drive": true, "metadata": {"role": "test"}, "user_data": "IyEvYmluL3NoCmVjaG8gaGk="}}),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let v = demo.wait_status(&id, "ACTIVE", Duration::from_secs(60));
    eprintln!("figure: POST /servers to ACTIVE in {:?}", started.elapsed());
    assert_eq!(v["OS-EXT-STS:power_state"], 1);
    assert_eq!(v["flavor"]["original_name"], "m1.nano");
    assert_eq!(v["metadata"]["role"], "test");
    let out = demo.wait_console(&id, "onestack-guest ready", 1, Duration::from_secs(90));
    eprintln!(
        "figure: POST /servers to console marker in {:?}",
        started.elapsed()
    );
    assert!(out.contains("hostname=life"), "{out}");

    // Wrong-state actions are 409s with Nova's message.
    let msg = nova_error(demo.action(&id, json!({"os-start": null})), 409);
    assert!(msg.contains("vm_state active"), "{msg}");
    nova_error(demo.action(&id, json!({"resume": null})), 409);
    nova_error(demo.action(&id, json!({"confirmResize": null})), 409);
    nova_error(demo.action(&id, json!({"reboot": {"type": "GENTLE"}})), 400);
    nova_error(demo.action(&id, json!({"notAnAction": null})), 400);

    assert_eq!(demo.action(&id, json!({"os-stop": null})).status(), 202);
    let v = demo.wait_status(&id, "SHUTOFF", Duration::from_secs(90));
    assert_eq!(v["OS-EXT-STS:power_state"], 4);
    assert_eq!(demo.action(&id, json!({"os-start": null})).status(), 202);
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(60));
    demo.wait_console(&id, "onestack-guest ready", 2, Duration::from_secs(90));

    assert_eq!(demo.action(&id, json!({"pause": null})).status(), 202);
    assert_eq!(
        demo.wait_status(&id, "PAUSED", Duration::from_secs(30))["OS-EXT-STS:power_state"],
        3
    );
    assert_eq!(demo.action(&id, json!({"unpause": null})).status(), 202);
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    assert_eq!(demo.action(&id, json!({"suspend": null})).status(), 202);
    demo.wait_status(&id, "SUSPENDED", Duration::from_secs(60));
    assert_eq!(demo.action(&id, json!({"resume": null})).status(), 202);
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(60));
    assert_eq!(
        demo.action(&id, json!({"reboot": {"type": "HARD"}}))
            .status(),
        202
    );
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(60));
    demo.wait_console(&id, "onestack-guest ready", 3, Duration::from_secs(90));

    // Lock: the member's actions are refused, the admin's are not.
    assert_eq!(
        demo.action(&id, json!({"lock": {"locked_reason": "exam"}}))
            .status(),
        202
    );
    let msg = nova_error(demo.action(&id, json!({"os-stop": null})), 409);
    assert!(msg.contains("locked"), "{msg}");
    assert_eq!(demo.server(&id)["locked_reason"], "exam");
    assert_eq!(demo.action(&id, json!({"unlock": null})).status(), 202);

    // Resize to m1.micro and confirm, then rebuild.
    assert_eq!(
        demo.action(&id, json!({"resize": {"flavorRef": "84"}}))
            .status(),
        202
    );
    let v = demo.wait_status(&id, "VERIFY_RESIZE", Duration::from_secs(120));
    assert_eq!(v["flavor"]["original_name"], "m1.micro");
    assert_eq!(
        demo.action(&id, json!({"confirmResize": null})).status(),
        204
    );
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    let r = demo.action(
        &id,
        json!({"rebuild": {"imageRef": image, "name": "reborn"}}),
    );
    assert_eq!(r.status(), 202);
    assert_eq!(json_of(r)["server"]["status"], "REBUILD");
    let v = demo.wait_status(&id, "ACTIVE", Duration::from_secs(120));
    assert_eq!(v["name"], "reborn");

    // Snapshot into the image service.
    let r = demo.action(&id, json!({"createImage": {"name": "life-snap"}}));
    assert_eq!(r.status(), 202);
    let snap = json_of(r)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let img = demo.get(&format!("/image/v2/images/{snap}"));
        if img["status"] == "active" {
            assert_eq!(img["disk_format"], "qcow2");
            assert_eq!(img["image_type"], "snapshot");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "snapshot never became active: {img}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The record of it all.
    let actions = demo.get(&format!("/compute/v2.1/servers/{id}/os-instance-actions"));
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in [
        "create",
        "stop",
        "start",
        "pause",
        "unpause",
        "suspend",
        "resume",
        "reboot",
        "resize",
        "confirmResize",
        "rebuild",
        "createImage",
    ] {
        assert!(names.contains(&a), "{a} missing from {names:?}");
    }
    let create_req = actions["instanceActions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["action"] == "create")
        .expect("create")["request_id"]
        .as_str()
        .expect("rid")
        .to_owned();
    let detail = demo.get(&format!(
        "/compute/v2.1/servers/{id}/os-instance-actions/{create_req}"
    ));
    assert_eq!(detail["instanceAction"]["events"][0]["result"], "Success");

    // Another project cannot see it; the admin can, with host attributes.
    let other = json_of(admin.req(
        Method::POST,
        "/identity/v3/projects",
        Some(json!({"project": {"name": "other"}})),
    ));
    let _ = other;
    let all = admin.get("/compute/v2.1/servers/detail?all_tenants=1");
    assert!(
        all["servers"]
            .as_array()
            .expect("list")
            .iter()
            .any(|s| s["id"] == id.as_str())
    );
    assert!(
        admin.server(&id)["OS-EXT-SRV-ATTR:instance_name"]
            .as_str()
            .expect("name")
            .starts_with("instance-")
    );

    // Delete: gone, and no VMM left.
    let r = demo.req(Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None);
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(60);
    while demo
        .req(Method::GET, &format!("/compute/v2.1/servers/{id}"), None)
        .status()
        != 404
    {
        assert!(Instant::now() < deadline, "server never went away");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        !s.state_dir().join("instances").join(&id).exists(),
        "instance directory left behind"
    );
}

#[test]
fn servers_survive_kill_9_and_the_loss_of_their_vmm() {
    let Some(image_file) = common::guest_image() else {
        return;
    };
    let mut s = Server::start_with_profile(Some(&common::compute_profile(Some(&image_file))));
    let token = s.demo();
    let (id, pid) = {
        let api = Api {
            s: &s,
            token: token.clone(),
        };
        let image = api.image_id("cirros");
        let r = api.create(json!({"server": {"name": "durable", "imageRef": image, "flavorRef": "42", "networks": "none"}}));
        assert_eq!(r.status(), 202);
        let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
        api.wait_status(&id, "ACTIVE", Duration::from_secs(60));
        let stopped = api.create(json!({"server": {"name": "stays-off", "imageRef": image, "flavorRef": "42", "networks": "none"}}));
        let off = json_of(stopped)["server"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        api.wait_status(&off, "ACTIVE", Duration::from_secs(60));
        assert_eq!(api.action(&off, json!({"os-stop": null})).status(), 202);
        api.wait_status(&off, "SHUTOFF", Duration::from_secs(90));
        let pid = vmm_pid(&s, &id);
        (id, pid)
    };
    s.kill9();
    assert!(common::process_alive(pid), "the VMM must outlive onestack");
    s.launch();
    let api = Api {
        s: &s,
        token: token.clone(),
    };
    let v = api.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    assert_eq!(v["OS-EXT-STS:power_state"], 1);
    assert_eq!(
        vmm_pid(&s, &id),
        pid,
        "the running VMM was adopted, not replaced"
    );

    // A host reboot: every VMM gone. ACTIVE comes back, SHUTOFF stays off.
    s.kill9();
    common::kill_vmms(s.state_dir());
    s.launch();
    let api = Api { s: &s, token };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running =
            std::fs::read_to_string(s.state_dir().join("instances").join(&id).join("qemu.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .is_some_and(|p| p != pid && common::process_alive(p));
        if running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ACTIVE server was not started again:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    api.wait_status(&id, "ACTIVE", Duration::from_secs(30));
    let list = api.get("/compute/v2.1/servers/detail?name=stays-off");
    assert_eq!(list["servers"][0]["status"], "SHUTOFF");
    api.wait_console(&id, "onestack-guest ready", 2, Duration::from_secs(90));
}

fn vmm_pid(s: &Server, id: &str) -> i32 {
    std::fs::read_to_string(s.state_dir().join("instances").join(id).join("qemu.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid")
}

/// Waits for ERROR and returns the server document.
fn wait_error(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = api.server(id);
        if s["status"] == "ERROR" {
            return s;
        }
        assert!(s["status"] != "ACTIVE", "build should have failed: {s}");
        assert!(Instant::now() < deadline, "server never reached ERROR: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Nothing of a failed build is left: no port, no allocation, no directory, no VMM.
fn assert_clean_slate(s: &Server, admin: &Api, id: &str) {
    let ports = admin.get(&format!("/networking/v2.0/ports?device_id={id}"));
    assert_eq!(
        ports["ports"].as_array().map(Vec::len),
        Some(0),
        "leaked ports: {ports}"
    );
    let r = admin
        .s
        .client
        .get(format!("{}/placement/allocations/{id}", s.base))
        .header("X-Auth-Token", &admin.token)
        .send()
        .expect("allocations");
    let alloc = json_of(r);
    assert_eq!(
        alloc["allocations"].as_object().map(|o| o.len()),
        Some(0),
        "leaked allocation: {alloc}"
    );
    assert!(
        !s.state_dir().join("instances").join(id).exists(),
        "instance directory left behind"
    );
}

#[test]
fn failed_builds_leave_nothing_behind() {
    let Some(image_file) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image_file))));
    let demo = Api {
        s: &s,
        token: s.demo(),
    };
    let admin = Api {
        s: &s,
        token: s.admin(),
    };
    let image = demo.image_id("cirros");
    let net = demo.get("/networking/v2.0/networks?name=private")["networks"][0]["id"]
        .as_str()
        .expect("private")
        .to_owned();

    // Scheduling: a flavor (within an unlimited RAM quota) larger than this host's
    // memory capacity in Placement is NoValidHost.
    let project = demo.get("/identity/v3/auth/projects")["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["name"] == "demo")
        .expect("demo project")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = admin.req(
        Method::PUT,
        &format!("/compute/v2.1/os-quota-sets/{project}"),
        Some(json!({"quota_set": {"ram": -1}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let providers = admin.get("/placement/resource_providers");
    let rp = providers["resource_providers"][0]["uuid"]
        .as_str()
        .expect("provider")
        .to_owned();
    let inv = admin.get(&format!("/placement/resource_providers/{rp}/inventories"));
    let mem = &inv["inventories"]["MEMORY_MB"];
    let capacity = (mem["total"].as_f64().expect("total")
        - mem["reserved"].as_f64().unwrap_or(0.0))
        * mem["allocation_ratio"].as_f64().expect("ratio");
    let r = admin.req(Method::POST, "/compute/v2.1/flavors", Some(json!({"flavor": {"name": "huge", "ram": capacity as i64 + 1024, "vcpus": 1, "disk": 1, "id": "huge"}})));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let r = demo.create(json!({"server": {"name": "nohost", "imageRef": image, "flavorRef": "huge", "networks": [{"uuid": net}]}}));
    assert_eq!(r.status(), 202);
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    let v = wait_error(&demo, &id);
    assert!(
        v["fault"]["message"]
            .as_str()
            .expect("fault")
            .contains("No valid host"),
        "{v}"
    );
    assert_clean_slate(&s, &admin, &id);

    // Spawning: a kernel QEMU cannot load (an aki image of zeros, with a ramdisk:
    // "linux kernel too old to load a ram disk") makes the VMM fail after ports,
    // claim and disk were made; all of them are undone.
    let junk = small_image(&admin, "bad-kernel");
    let r = admin.req(Method::POST, "/image/v2/images", Some(json!({"name": "with-bad-kernel", "disk_format": "qcow2", "container_format": "bare", "visibility": "public", "kernel_id": junk, "ramdisk_id": junk})));
    assert_eq!(r.status(), 201);
    let bad = json_of(r)["id"].as_str().expect("id").to_owned();
    let put = admin
        .s
        .client
        .put(format!("{}/image/v2/images/{bad}/file", s.base))
        .header("X-Auth-Token", &admin.token)
        .header("Content-Type", "application/octet-stream")
        .body(std::fs::read(&image_file).expect("image"))
        .send()
        .expect("upload");
    assert_eq!(put.status(), 204);
    let r = demo.create(json!({"server": {"name": "nokernel", "imageRef": bad, "flavorRef": "42", "networks": [{"uuid": net}]}}));
    assert_eq!(r.status(), 202);
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    let v = wait_error(&demo, &id);
    assert!(
        v["fault"]["message"]
            .as_str()
            .expect("fault")
            .contains("aborted"),
        "{v}"
    );
    assert_clean_slate(&s, &admin, &id);

    // An ERROR server can still be deleted, and goes.
    assert_eq!(
        demo.req(Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None)
            .status(),
        204
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while demo
        .req(Method::GET, &format!("/compute/v2.1/servers/{id}"), None)
        .status()
        != 404
    {
        assert!(Instant::now() < deadline, "ERROR server never went away");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Quota: ERROR servers count, as in Nova; with none left the project may boot
    // 1 instance and the second is a 403.
    let listed = demo.get("/compute/v2.1/servers");
    for srv in listed["servers"].as_array().expect("servers") {
        let sid = srv["id"].as_str().expect("id");
        assert_eq!(
            demo.req(
                Method::DELETE,
                &format!("/compute/v2.1/servers/{sid}"),
                None
            )
            .status(),
            204
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !demo.get("/compute/v2.1/servers")["servers"]
        .as_array()
        .expect("servers")
        .is_empty()
    {
        assert!(Instant::now() < deadline, "servers never went away");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = admin.req(
        Method::PUT,
        &format!("/compute/v2.1/os-quota-sets/{project}"),
        Some(json!({"quota_set": {"instances": 1}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let first = demo.create(
        json!({"server": {"name": "q1", "imageRef": image, "flavorRef": "42", "networks": "none"}}),
    );
    assert_eq!(first.status(), 202, "{}", first.text().unwrap_or_default());
    let msg = nova_error(demo.create(json!({"server": {"name": "q2", "imageRef": image, "flavorRef": "42", "networks": "none"}})), 403);
    assert!(msg.contains("Quota exceeded"), "{msg}");
}

/// One compute request at microversion `mv` (os-services changes shape across them).
fn at_mv(api: &Api, mv: &str, method: Method, path: &str, body: Option<Value>) -> Response {
    let mut r = api
        .s
        .client
        .request(method, format!("{}/compute/v2.1{path}", api.s.base))
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

/// The standard traits of this host's resource provider.
fn provider_traits(api: &Api) -> Vec<String> {
    let rps = api.get("/placement/resource_providers");
    let rp = rps["resource_providers"][0]["uuid"]
        .as_str()
        .expect("provider")
        .to_owned();
    let r = api
        .s
        .client
        .get(format!(
            "{}/placement/resource_providers/{rp}/traits",
            api.s.base
        ))
        .header("X-Auth-Token", &api.token)
        .header("OpenStack-API-Version", "placement 1.6")
        .send()
        .expect("traits");
    let v = json_of(r);
    serde_json::from_value(v["traits"].clone()).expect("trait names")
}

#[test]
fn a_disabled_compute_service_takes_no_new_servers() {
    let mut s = Server::start();
    let (admin_token, demo_token) = (s.admin(), s.demo());
    let sid = {
        let admin = Api {
            s: &s,
            token: admin_token.clone(),
        };
        let demo = Api {
            s: &s,
            token: demo_token.clone(),
        };
        let v = admin.get("/compute/v2.1/os-services?binary=nova-compute");
        let sid = v["services"][0]["id"].as_str().expect("uuid").to_owned();
        let path = format!("/os-services/{sid}");

        // Nova's validation and policy.
        let bad = [
            json!({"status": "enabled", "disabled_reason": "why"}),
            json!({"status": "off"}),
            json!({"disabled_reason": "no status"}),
            json!({"status": "disabled", "colour": "red"}),
        ];
        for body in bad {
            nova_error(at_mv(&admin, "2.53", Method::PUT, &path, Some(body)), 400);
        }
        nova_error(
            at_mv(
                &demo,
                "2.53",
                Method::PUT,
                &path,
                Some(json!({"status": "disabled"})),
            ),
            403,
        );
        let missing = "/os-services/00000000-0000-0000-0000-000000000000";
        nova_error(
            at_mv(
                &admin,
                "2.53",
                Method::PUT,
                missing,
                Some(json!({"status": "disabled"})),
            ),
            404,
        );
        let sched =
            admin.get("/compute/v2.1/os-services?binary=nova-scheduler")["services"][0]["id"]
                .as_str()
                .expect("scheduler")
                .to_owned();
        nova_error(
            at_mv(
                &admin,
                "2.53",
                Method::PUT,
                &format!("/os-services/{sched}"),
                Some(json!({"forced_down": true})),
            ),
            400,
        );
        nova_error(at_mv(&admin, "2.53", Method::DELETE, &path, None), 409);

        // Disable with a reason: os-services, os-hypervisors, zones and Placement agree.
        let r = at_mv(
            &admin,
            "2.53",
            Method::PUT,
            &path,
            Some(json!({"status": "disabled", "disabled_reason": "maintenance"})),
        );
        assert_eq!(r.status(), 200);
        let v = json_of(r);
        assert_eq!(v["service"]["status"], "disabled", "{v}");
        assert_eq!(v["service"]["disabled_reason"], "maintenance");
        assert_eq!(v["service"]["id"], sid.as_str());
        let h = admin.get("/compute/v2.1/os-hypervisors/detail");
        assert_eq!(h["hypervisors"][0]["status"], "disabled", "{h}");
        assert_eq!(
            h["hypervisors"][0]["service"]["disabled_reason"],
            "maintenance"
        );
        let z = admin.get("/compute/v2.1/os-availability-zone");
        assert_eq!(
            z["availabilityZoneInfo"][0]["zoneState"]["available"],
            false
        );
        assert!(provider_traits(&admin).contains(&"COMPUTE_STATUS_DISABLED".to_owned()));

        // The scheduler refuses the host: NoValidHost, nothing left behind.
        let image = small_image(&admin, "tiny");
        let r = demo.create(
            json!({"server": {"name": "nohost", "imageRef": image, "flavorRef": "1", "networks": "none"}}),
        );
        assert_eq!(r.status(), 202);
        let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
        wait_error(&demo, &id);
        let v = admin.server(&id);
        assert!(
            v["fault"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("No valid host")),
            "{v}"
        );
        assert!(
            v["fault"]["details"]
                .as_str()
                .is_some_and(|m| m.contains("is disabled")),
            "{v}"
        );
        assert_clean_slate(&s, &admin, &id);
        sid
    };

    // The state survives a restart.
    s.kill9();
    s.launch();
    let admin = Api {
        s: &s,
        token: s.admin(),
    };
    let v = admin.get("/compute/v2.1/os-services?binary=nova-compute");
    assert_eq!(v["services"][0]["status"], "disabled", "{v}");
    assert_eq!(v["services"][0]["disabled_reason"], "maintenance");
    assert!(provider_traits(&admin).contains(&"COMPUTE_STATUS_DISABLED".to_owned()));

    // The pre-2.53 actions, with host and binary in the body.
    let host = v["services"][0]["host"].as_str().expect("host").to_owned();
    let body = json!({"host": host, "binary": "nova-compute"});
    let r = at_mv(
        &admin,
        "2.1",
        Method::PUT,
        "/os-services/enable",
        Some(body.clone()),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(r)["service"],
        json!({"host": host, "binary": "nova-compute", "status": "enabled"})
    );
    assert!(!provider_traits(&admin).contains(&"COMPUTE_STATUS_DISABLED".to_owned()));
    nova_error(
        at_mv(
            &admin,
            "2.1",
            Method::PUT,
            "/os-services/enable",
            Some(json!({"host": "elsewhere", "binary": "nova-compute"})),
        ),
        404,
    );
    nova_error(
        at_mv(
            &admin,
            "2.10",
            Method::PUT,
            "/os-services/force-down",
            Some(json!({"host": host, "binary": "nova-compute", "forced_down": true})),
        ),
        404,
    );
    let r = at_mv(
        &admin,
        "2.11",
        Method::PUT,
        "/os-services/force-down",
        Some(json!({"host": host, "binary": "nova-compute", "forced_down": true})),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["service"]["forced_down"], true);
    let v = admin.get("/compute/v2.1/os-services?binary=nova-compute");
    assert_eq!(v["services"][0]["state"], "down", "{v}");
    assert_eq!(v["services"][0]["status"], "enabled", "{v}");
    let r = at_mv(
        &admin,
        "2.53",
        Method::PUT,
        &format!("/os-services/{sid}"),
        Some(json!({"forced_down": false})),
    );
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(v["service"]["state"], "up", "{v}");
    assert_eq!(v["service"]["forced_down"], false, "{v}");
}

/// Before 2.37 a server that names no network gets the project's one network, or
/// none at all when the project has none (Nova boots it without a NIC); only an
/// explicit `"auto"` insists on a network.
#[test]
fn a_server_asking_for_no_network_in_particular_boots_without_one() {
    let Some(image_file) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image_file))));
    let admin = Api {
        s: &s,
        token: s.admin(),
    };
    let image = admin.image_id("cirros");
    // The admin project owns only the external `public` network, which is not a
    // candidate.
    let r = at_mv(
        &admin,
        "2.1",
        Method::POST,
        "/servers",
        Some(json!({"server": {"name": "nonet", "imageRef": image, "flavorRef": "42"}})),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    let v = admin.wait_status(&id, "ACTIVE", Duration::from_secs(120));
    assert_eq!(v["addresses"], json!({}), "{v}");
    let ports = admin.get(&format!("/networking/v2.0/ports?device_id={id}"));
    assert_eq!(ports["ports"], json!([]));
    assert_eq!(
        admin
            .req(Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None)
            .status(),
        204
    );
}

/// The server-view and server-action behaviours of microversions 2.84 to 2.104
/// on a real guest: hostnames (2.90/2.94), the zone pin (2.96/2.104), image
/// properties (2.98), scheduler hints (2.100), shares refused without virtiofs
/// (2.97), evacuate refused while the host is up (2.95), strict queries (2.102).
#[test]
fn microversions_past_2_79_on_a_real_guest() {
    let Some(image_file) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image_file))));
    let demo = Api {
        s: &s,
        token: s.demo(),
    };
    let admin = Api {
        s: &s,
        token: s.admin(),
    };
    let image = demo.image_id("cirros");
    let fqdn = format!("{}-guest-test.domaintest.com", "x".repeat(52));
    let create = |mv: &str, server: Value| {
        at_mv(
            &demo,
            mv,
            Method::POST,
            "/servers",
            Some(json!({"server": server, "os:scheduler_hints": {"magic": "yes"}})),
        )
    };
    let base = json!({"name": "mv", "imageRef": image, "flavorRef": "42", "networks": "none"});
    let with = |extra: Value| {
        let mut b = base.clone();
        if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        b
    };
    // A hostname needs 2.90, an FQDN 2.94, and one server.
    nova_error(create("2.89", with(json!({"hostname": "plain"}))), 400);
    nova_error(create("2.93", with(json!({"hostname": fqdn}))), 400);
    nova_error(
        create("2.94", with(json!({"hostname": "one", "max_count": 2}))),
        400,
    );
    let r = create(
        "2.94",
        with(json!({"hostname": fqdn, "availability_zone": "nova"})),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(90));

    let show = |mv: &str| {
        let r = at_mv(&demo, mv, Method::GET, &format!("/servers/{id}"), None);
        assert_eq!(r.status(), 200);
        json_of(r)["server"].clone()
    };
    let v = show("2.100");
    assert_eq!(
        v["OS-EXT-SRV-ATTR:hostname"],
        fqdn.as_str(),
        "2.90: members see it"
    );
    assert_eq!(v["pinned_availability_zone"], "nova");
    assert_eq!(v["scheduler_hints"], json!({"magic": ["yes"]}));
    assert!(v["image"]["properties"].is_object(), "{v}");
    let old = show("2.89");
    assert!(old.get("OS-EXT-SRV-ATTR:hostname").is_none());
    let old = show("2.95");
    assert!(old.get("pinned_availability_zone").is_none());
    assert!(old["image"].get("properties").is_none());
    assert!(show("2.99").get("scheduler_hints").is_none());

    // 2.102: a show takes no query parameters.
    let r = at_mv(
        &demo,
        "2.102",
        Method::GET,
        &format!("/servers/{id}?x=1"),
        None,
    );
    nova_error(r, 400);
    let r = at_mv(
        &demo,
        "2.101",
        Method::GET,
        &format!("/servers/{id}?x=1"),
        None,
    );
    assert_eq!(r.status(), 200);

    // 2.104: unpin, refuse another zone, re-pin to the current one, no-op again.
    let put = |mv: &str, server: Value| {
        at_mv(
            &demo,
            mv,
            Method::PUT,
            &format!("/servers/{id}"),
            Some(json!({ "server": server })),
        )
    };
    nova_error(put("2.103", json!({"pinned_availability_zone": null})), 400);
    let r = put("2.104", json!({"pinned_availability_zone": null}));
    assert_eq!(r.status(), 200);
    assert!(json_of(r)["server"]["pinned_availability_zone"].is_null());
    assert!(show("2.104")["pinned_availability_zone"].is_null());
    nova_error(
        put("2.104", json!({"pinned_availability_zone": "elsewhere"})),
        409,
    );
    let r = put("2.104", json!({"pinned_availability_zone": "nova"}));
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["server"]["pinned_availability_zone"], "nova");
    assert_eq!(
        put("2.104", json!({"pinned_availability_zone": "nova"})).status(),
        200
    );
    let msg = nova_error(
        put("2.104", json!({"pinned_availability_zone": "other"})),
        409,
    );
    assert!(msg.contains("Unpin first"), "{msg}");

    // Hostname updates: a label from 2.90, an FQDN from 2.94.
    nova_error(put("2.90", json!({"hostname": "a.b"})), 400);
    let r = put("2.94", json!({"hostname": "renamed.example"}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(r)["server"]["OS-EXT-SRV-ATTR:hostname"],
        "renamed.example"
    );

    // 2.97: shares need virtiofs, which this host does not offer.
    let r = at_mv(
        &demo,
        "2.97",
        Method::GET,
        &format!("/servers/{id}/shares"),
        None,
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["shares"], json!([]));
    let r = at_mv(
        &demo,
        "2.96",
        Method::GET,
        &format!("/servers/{id}/shares"),
        None,
    );
    assert_eq!(r.status(), 404);
    let share = json!({"share": {"share_id": "11111111-2222-4333-8444-555555555555"}});
    let msg = nova_error(
        at_mv(
            &demo,
            "2.97",
            Method::POST,
            &format!("/servers/{id}/shares"),
            Some(share.clone()),
        ),
        409,
    );
    assert!(msg.contains("vm_state active"), "{msg}");

    // 2.95: evacuate is an admin's, refused while the host's compute service is up.
    let msg = nova_error(
        at_mv(
            &admin,
            "2.95",
            Method::POST,
            &format!("/servers/{id}/action"),
            Some(json!({"evacuate": {}})),
        ),
        400,
    );
    assert!(msg.contains("still in use"), "{msg}");
    nova_error(
        at_mv(
            &demo,
            "2.95",
            Method::POST,
            &format!("/servers/{id}/action"),
            Some(json!({"evacuate": {}})),
        ),
        403,
    );

    // Rebuild at 2.100 answers with the full view, hostname and hints included.
    let r = at_mv(
        &demo,
        "2.100",
        Method::POST,
        &format!("/servers/{id}/action"),
        Some(json!({"rebuild": {"imageRef": image, "hostname": "rebuilt"}})),
    );
    assert_eq!(r.status(), 202);
    let v = json_of(r)["server"].clone();
    assert_eq!(v["scheduler_hints"], json!({"magic": ["yes"]}));
    assert_eq!(v["pinned_availability_zone"], "nova");
    demo.wait_status(&id, "ACTIVE", Duration::from_secs(120));
    assert_eq!(show("2.100")["OS-EXT-SRV-ATTR:hostname"], "rebuilt");

    // Stopped, the share attach reaches the host check.
    assert_eq!(demo.action(&id, json!({"os-stop": null})).status(), 202);
    demo.wait_status(&id, "SHUTOFF", Duration::from_secs(90));
    let msg = nova_error(
        at_mv(
            &demo,
            "2.97",
            Method::POST,
            &format!("/servers/{id}/shares"),
            Some(share),
        ),
        409,
    );
    assert!(msg.contains("not configured correctly"), "{msg}");
    let r = at_mv(
        &demo,
        "2.97",
        Method::DELETE,
        &format!("/servers/{id}/shares/11111111-2222-4333-8444-555555555555"),
        None,
    );
    nova_error(r, 404);

    // 2.84: instance action events carry `details` (null when they succeeded).
    let actions = demo.get(&format!("/compute/v2.1/servers/{id}/os-instance-actions"));
    let rid = actions["instanceActions"][0]["request_id"]
        .as_str()
        .expect("rid")
        .to_owned();
    let r = at_mv(
        &demo,
        "2.84",
        Method::GET,
        &format!("/servers/{id}/os-instance-actions/{rid}"),
        None,
    );
    let a = json_of(r);
    for e in a["instanceAction"]["events"].as_array().expect("events") {
        assert!(e.get("details").is_some(), "{e}");
    }

    assert_eq!(
        demo.req(Method::DELETE, &format!("/compute/v2.1/servers/{id}"), None)
            .status(),
        204
    );
}
