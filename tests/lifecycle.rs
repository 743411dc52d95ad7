//! The binary's lifecycle: restart safety after kill -9, profile errors before
//! start, and the credential/status/reset commands.

mod common;

use common::{Server, bin, json_of};
use serde_json::json;

#[test]
fn everything_survives_kill_9_including_tokens() {
    let mut s = Server::start();
    let a = s.admin();
    let p = json_of(s.post("/projects", &a, json!({"project": {"name": "durable"}})));
    let pid = p["project"]["id"].as_str().expect("id").to_owned();
    let u = json_of(s.post(
        "/users",
        &a,
        json!({"user": {"name": "durable-user", "password": "pw", "default_project_id": pid}}),
    ));
    let uid = u["user"]["id"].as_str().expect("id").to_owned();
    let member = json_of(s.get("/roles?name=member", &a))["roles"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.req(
        reqwest::Method::PUT,
        &format!("/projects/{pid}/users/{uid}/roles/{member}"),
        Some(&a),
        None,
    );
    let user_token = s.token("durable-user", "pw", Some("durable"));
    let revoked = s.token("durable-user", "pw", Some("durable"));
    assert_eq!(
        s.client
            .delete(s.url("/auth/tokens"))
            .header("X-Auth-Token", &a)
            .header("X-Subject-Token", &revoked)
            .send()
            .expect("revoke")
            .status(),
        204
    );
    let admin_pw = s.password("admin");

    s.kill9();
    s.launch();

    assert_eq!(
        s.password("admin"),
        admin_pw,
        "generated passwords are kept"
    );
    assert_eq!(
        s.get(&format!("/projects/{pid}"), &a).status(),
        200,
        "admin token still valid"
    );
    let v = json_of(s.validate(&a, &user_token));
    assert_eq!(v["token"]["project"]["name"], "durable");
    assert_eq!(
        s.validate(&a, &revoked).status(),
        404,
        "revocation survived"
    );
    assert_eq!(s.auth("durable-user", "pw", None).status(), 201);
    let names = json_of(s.get("/users", &a));
    assert!(
        names["users"]
            .as_array()
            .expect("users")
            .iter()
            .any(|u| u["name"] == "durable-user")
    );
}

#[test]
fn bad_profiles_are_rejected_before_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("bad.toml");
    let text = include_str!("../profiles/minimal.toml").replace(
        "region = \"RegionOne\"",
        "region = \"RegionOne\"\nregoin = 1",
    );
    std::fs::write(&profile, text).expect("write");
    let out = std::process::Command::new(bin())
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["up", "--listen", "127.0.0.1:0", "--profile"])
        .arg(&profile)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("regoin") && err.contains("line"),
        "{err}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "nothing was started or created"
    );
    let out = std::process::Command::new(bin())
        .args(["up", "--profile", "no-such-profile"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn openrc_clouds_yaml_status_rotate_and_reset() {
    let mut s = Server::start();
    let out = s.onestack(&["openrc", "--user", "demo"]);
    assert!(out.status.success());
    let rc = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        rc.contains("export OS_USERNAME=demo") && rc.contains("export OS_PROJECT_NAME=demo"),
        "{rc}"
    );
    assert!(
        rc.contains(&format!("export OS_AUTH_URL={}/identity", s.base)),
        "{rc}"
    );
    let out = s.onestack(&["clouds-yaml"]);
    let y = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(y.contains("onestack-admin:") && y.contains(&s.password("admin")));
    let out = s.onestack(&["status"]);
    let st = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        st.contains("onestack is up") && st.contains("answering") && st.contains("users: 2"),
        "{st}"
    );
    assert_eq!(out.status.code(), Some(0), "up and answering: exit 0");
    let clouds = s.state_dir().join("clouds.yaml");
    let file = std::fs::File::create(&clouds).expect("create");
    let out = std::process::Command::new(common::bin())
        .arg("--state-dir")
        .arg(s.state_dir())
        .arg("clouds-yaml")
        .stdout(file)
        .status()
        .expect("clouds-yaml");
    assert!(out.success());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&clouds)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "a clouds.yaml redirected to a file is private");

    // Rotation keeps existing tokens valid; a running server picks up keys itself.
    let t = s.admin();
    assert!(s.onestack(&["fernet-rotate"]).status.success());
    assert_eq!(s.get("/auth/catalog", &t).status(), 200);

    let out = s.onestack(&["reset", "--yes"]);
    assert!(!out.status.success(), "reset refuses while running");
    s.kill9();
    let out = s.onestack(&["status"]);
    assert_eq!(out.status.code(), Some(3), "not running: exit 3");
    let st = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        st.contains(&format!(
            "not running (state directory {})",
            s.state_dir().display()
        )),
        "{st}"
    );
    let out = s.onestack(&["reset"]);
    assert!(!out.status.success(), "reset needs --yes");
    let out = s.onestack(&["reset", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!s.state_dir().exists());
    std::fs::create_dir_all(s.state_dir()).expect("recreate for tempdir cleanup");
}

#[test]
fn a_second_instance_on_the_same_state_is_refused() {
    let s = Server::start();
    let out = s.onestack(&["up", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
}

#[test]
fn status_names_the_compute_driver_its_reason_and_the_instance_restore() {
    let qemu_installed = std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok();
    let profile = common::test_profile().replace("hypervisor = \"auto\"", "hypervisor = \"qemu\"");
    let s = Server::start_with_profile(Some(&profile));
    // The restore runs once serving; wait for its outcome to be recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let st = loop {
        let out = s.onestack(&["status"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st = String::from_utf8_lossy(&out.stdout).to_string();
        if !st.contains("not finished") {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "restore never recorded:\n{st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if qemu_installed {
        assert!(st.contains("compute: QEMU (QEMU with "), "{st}");
        assert!(
            st.contains("KVM acceleration") || st.contains("TCG emulation: "),
            "the reason says which accelerator and why: {st}"
        );
    } else {
        eprintln!("note: qemu-system-x86_64 is not installed; checking the refusal reason");
        assert!(
            st.contains("compute: QEMU (QEMU was chosen but qemu-system-x86_64 is not installed)"),
            "{st}"
        );
    }
    assert!(
        st.contains("): 0 adopted, 0 restarted, 0 builds resumed, 0 tasks finished, 0 errors"),
        "{st}"
    );
    assert!(st.contains("\nservers: 0\n"), "{st}");
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.state_dir().join("compute-status.json")).expect("file"),
    )
    .expect("json");
    assert_eq!(recorded["hypervisor"], "QEMU");
    assert!(
        recorded["recovery"]["errors"].as_array().is_some(),
        "{recorded}"
    );
}

/// `reset --yes` ends the instances' QEMU processes (which outlive onestack by
/// design) before it deletes their disks.
#[test]
fn reset_stops_the_instances_it_deletes() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let mut s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let t = s.demo();
    let api = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut r = s
            .client
            .request(method, format!("{}/compute/v2.1{path}", s.base))
            .header("OpenStack-API-Version", "compute 2.37")
            .header("X-Auth-Token", &t);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().unwrap_or_default())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let image_id = loop {
        let v = json_of(
            s.client
                .get(format!("{}/image/v2/images?name=cirros", s.base))
                .header("X-Auth-Token", &t)
                .send()
                .expect("images"),
        );
        if v["images"][0]["status"] == "active" {
            break v["images"][0]["id"].as_str().expect("id").to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no active image");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let (st, v) = api(
        reqwest::Method::POST,
        "/servers",
        Some(
            json!({"server": {"name": "doomed", "imageRef": image_id, "flavorRef": "42",
                               "networks": "none"}}),
        ),
    );
    assert_eq!(st, 202, "{v}");
    let id = v["server"]["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, v) = api(reqwest::Method::GET, &format!("/servers/{id}"), None);
        if v["server"]["status"] == "ACTIVE" {
            break;
        }
        assert_ne!(v["server"]["status"], "ERROR", "{v}\n{}", s.log());
        assert!(std::time::Instant::now() < deadline, "never ACTIVE: {v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let pidfile = s.state_dir().join("instances").join(&id).join("qemu.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("qemu.pid")
        .trim()
        .parse()
        .expect("pid");
    assert!(common::process_alive(pid));
    s.kill9();
    assert!(common::process_alive(pid), "the VM outlives onestack");
    let out = s.onestack(&["reset", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("stopped instance {id}")), "{text}");
    assert!(!common::process_alive(pid), "no QEMU left behind");
    std::fs::create_dir_all(s.state_dir()).expect("recreate for tempdir cleanup");
}
