//! Block storage v3 over HTTP against the real binary: discovery and microversions,
//! volumes on the file backend (create, list with filters/sort/paging, update,
//! metadata, extend, delete), types and extra specs, quotas and limits, zones and
//! services, project isolation and admin-only routes, Cinder's fault shape, and
//! volumes from images and uploaded to images (raw and qcow2), and interrupted volume
//! tasks finished after kill -9.

mod common;

use std::time::{Duration, Instant};

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;

/// A caller: token and project.
struct U {
    token: String,
    project: String,
}

fn login(s: &Server, user: &str) -> U {
    let r = s.auth(
        user,
        &s.password(user),
        Some(json!({"project": {"name": user, "domain": {"id": "default"}}})),
    );
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    let v = json_of(r);
    let project = v["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    U { token, project }
}

fn call(
    s: &Server,
    u: &U,
    m: Method,
    path: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}/volume/v3/{}{path}", s.base, u.project))
        .header("X-Auth-Token", &u.token);
    if let Some(v) = version {
        r = r.header("OpenStack-API-Version", format!("volume {v}"));
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn get(s: &Server, u: &U, path: &str) -> Value {
    let r = call_new(s, u, Method::GET, path, None);
    assert_eq!(r.status(), 200, "GET {path}");
    json_of(r)
}

/// A request at the newest microversion, 3.70.
fn call_new(s: &Server, u: &U, m: Method, path: &str, body: Option<Value>) -> Response {
    call(s, u, m, path, Some("3.70"), body)
}

/// `GET path` without a microversion header; the response as it comes.
fn get_raw(s: &Server, u: &U, path: &str) -> Response {
    call(s, u, Method::GET, path, None, None)
}

/// `POST path` with `body`, without a microversion header.
fn post(s: &Server, u: &U, path: &str, body: Value) -> Response {
    call(s, u, Method::POST, path, None, Some(body))
}

/// `PUT path` with `body`, without a microversion header.
fn put(s: &Server, u: &U, path: &str, body: Value) -> Response {
    call(s, u, Method::PUT, path, None, Some(body))
}

/// `DELETE path` without a microversion header.
fn delete(s: &Server, u: &U, path: &str) -> Response {
    call(s, u, Method::DELETE, path, None, None)
}

/// Asserts Cinder's fault shape (`{"<kind>": {"code", "message"}}`); returns the message.
fn fault(r: Response, status: u16, kind: &str) -> String {
    assert_eq!(r.status().as_u16(), status, "expected {status}");
    let v = json_of(r);
    assert_eq!(v[kind]["code"], status, "{v}");
    v[kind]["message"].as_str().expect("message").to_owned()
}

fn create(s: &Server, u: &U, body: Value) -> Value {
    let r = call_new(
        s,
        u,
        Method::POST,
        "/volumes",
        Some(json!({"volume": body})),
    );
    assert_eq!(r.status(), 202, "create");
    json_of(r)["volume"].clone()
}

/// Polls `GET path` until the `key` record's status is `want` (20 s at most);
/// the record.
fn wait_for(s: &Server, u: &U, path: &str, key: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get(s, u, path)[key].clone();
        if v["status"] == want {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} stuck in {}", v["status"]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_status(s: &Server, u: &U, id: &str, want: &str) -> Value {
    wait_for(s, u, &format!("/volumes/{id}"), "volume", want)
}

/// Polls `GET path` until it answers 404 (20 s at most).
fn gone(s: &Server, u: &U, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while call_new(s, u, Method::GET, path, None).status() != 404 {
        assert!(Instant::now() < deadline, "{path} not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_gone(s: &Server, u: &U, id: &str) {
    gone(s, u, &format!("/volumes/{id}"));
}

fn file_of(s: &Server, id: &str) -> std::path::PathBuf {
    s.state_dir().join("volumes").join(format!("volume-{id}"))
}

#[test]
fn discovery_microversions_and_catalog() {
    let s = Server::start();
    let r = s
        .client
        .get(format!("{}/volume", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 300);
    let v = json_of(r);
    assert_eq!(v["versions"][0]["id"], "v3.0");
    assert_eq!(v["versions"][0]["min_version"], "3.0");
    assert_eq!(v["versions"][0]["version"], "3.70");
    let r = s
        .client
        .get(format!("{}/volume/v3/", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);
    let admin = login(&s, "admin");
    let r = call(&s, &admin, Method::GET, "/volumes", Some("latest"), None);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["openstack-api-version"], "volume 3.70");
    let r = get_raw(&s, &admin, "/volumes");
    assert_eq!(r.headers()["openstack-api-version"], "volume 3.0");
    fault(
        call(&s, &admin, Method::GET, "/volumes", Some("3.71"), None),
        406,
        "computeFault",
    );
    fault(
        call(&s, &admin, Method::GET, "/volumes", Some("3.x"), None),
        400,
        "badRequest",
    );
    // Without a token: 401; a URL naming another project: Cinder's 400.
    let r = s
        .client
        .get(format!("{}/volume/v3/{}/volumes", s.base, admin.project))
        .send()
        .expect("get");
    assert_eq!(r.status(), 401);
    let demo = login(&s, "demo");
    let r = s
        .client
        .get(format!("{}/volume/v3/{}/volumes", s.base, admin.project))
        .header("X-Auth-Token", &demo.token)
        .send()
        .expect("get");
    assert_eq!(fault(r, 400, "badRequest"), "Malformed request url");
    // The project-less form (Cinder since Yoga) serves the caller's project.
    let r = s
        .client
        .get(format!("{}/volume/v3/volumes", s.base))
        .header("X-Auth-Token", &demo.token)
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);
    // Both DevStack catalog entries point at the project's v3 root.
    let r = s.auth(
        "demo",
        &s.password("demo"),
        Some(json!({"project": {"name": "demo", "domain": {"id": "default"}}})),
    );
    let cat = json_of(r)["token"]["catalog"].clone();
    for ty in ["block-storage", "volumev3"] {
        let e = cat
            .as_array()
            .expect("catalog")
            .iter()
            .find(|e| e["type"] == ty)
            .unwrap_or_else(|| panic!("{ty} in the catalog"));
        let url = e["endpoints"][0]["url"].as_str().expect("url");
        assert!(
            url.ends_with(&format!("/volume/v3/{}", demo.project)),
            "{url}"
        );
    }
}

#[test]
fn volume_lifecycle_on_sparse_files() {
    let s = Server::start();
    let u = login(&s, "demo");
    // The nulls the CLI sends are accepted.
    let v = create(
        &s,
        &u,
        json!({"size": 1, "name": "v1", "description": null, "volume_type": null,
               "availability_zone": null, "metadata": {"a": "1"}, "imageRef": null,
               "snapshot_id": null, "source_volid": null, "consistencygroup_id": null,
               "backup_id": null}),
    );
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["status"], "creating");
    assert_eq!(v["volume_type"], "lvmdriver-1");
    assert!(
        v.get("os-vol-host-attr:host").is_none(),
        "admin-only attribute"
    );
    let v = wait_status(&s, &u, &id, "available");
    assert_eq!(v["size"], 1);
    assert_eq!(v["metadata"]["a"], "1");
    assert_eq!(v["bootable"], "false");
    assert_eq!(v["consumes_quota"], true);
    let md = std::fs::metadata(file_of(&s, &id)).expect("backing file");
    assert_eq!(md.len(), GIB);
    // Update and metadata.
    let r = call_new(
        &s,
        &u,
        Method::PUT,
        &format!("/volumes/{id}"),
        Some(json!({"volume": {"name": "renamed", "description": "d"}})),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["volume"]["name"], "renamed");
    let r = post(
        &s,
        &u,
        &format!("/volumes/{id}/metadata"),
        json!({"metadata": {"b": "2"}}),
    );
    assert_eq!(json_of(r)["metadata"], json!({"a": "1", "b": "2"}));
    let r = put(
        &s,
        &u,
        &format!("/volumes/{id}/metadata/b"),
        json!({"meta": {"b": "3"}}),
    );
    assert_eq!(json_of(r)["meta"]["b"], "3");
    let r = delete(&s, &u, &format!("/volumes/{id}/metadata/a"));
    assert_eq!(r.status(), 200);
    assert_eq!(
        get(&s, &u, &format!("/volumes/{id}/metadata"))["metadata"],
        json!({"b": "3"})
    );
    fault(
        get_raw(&s, &u, &format!("/volumes/{id}/metadata/a")),
        404,
        "itemNotFound",
    );
    // Bootable flag and extend.
    let r = post(
        &s,
        &u,
        &format!("/volumes/{id}/action"),
        json!({"os-set_bootable": {"bootable": true}}),
    );
    assert_eq!(r.status(), 200);
    let r = post(
        &s,
        &u,
        &format!("/volumes/{id}/action"),
        json!({"os-extend": {"new_size": 3}}),
    );
    assert_eq!(r.status(), 202);
    let v = wait_status(&s, &u, &id, "available");
    assert_eq!(v["size"], 3);
    assert_eq!(v["bootable"], "true");
    assert_eq!(
        std::fs::metadata(file_of(&s, &id)).expect("file").len(),
        3 * GIB
    );
    let m = fault(
        post(
            &s,
            &u,
            &format!("/volumes/{id}/action"),
            json!({"os-extend": {"new_size": 2}}),
        ),
        400,
        "badRequest",
    );
    assert!(m.contains("greater than current size"), "{m}");
    fault(
        post(
            &s,
            &u,
            &format!("/volumes/{id}/action"),
            json!({"os-bogus": {}}),
        ),
        400,
        "badRequest",
    );
    // An admin-only action is refused to a member.
    fault(
        post(
            &s,
            &u,
            &format!("/volumes/{id}/action"),
            json!({"os-reset_status": {"status": "error"}}),
        ),
        403,
        "forbidden",
    );
    // Delete removes the row and the file.
    let r = delete(&s, &u, &format!("/volumes/{id}?cascade=False&force=False"));
    assert_eq!(r.status(), 202);
    wait_gone(&s, &u, &id);
    assert!(!file_of(&s, &id).exists());
}

#[test]
fn bad_input_gets_cinder_faults() {
    let s = Server::start();
    let u = login(&s, "demo");
    for size in [
        json!(0),
        json!(-1),
        json!("abc"),
        json!(1.5),
        json!(null),
        json!([1]),
    ] {
        let r = post(&s, &u, "/volumes", json!({"volume": {"size": size}}));
        fault(r, 400, "badRequest");
    }
    // A string of digits is a size, as in Cinder's schema.
    let r = post(&s, &u, "/volumes", json!({"volume": {"size": "1"}}));
    assert_eq!(r.status(), 202);
    fault(
        post(&s, &u, "/volumes", json!({"size": 1})),
        400,
        "badRequest",
    );
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"size": 1, "availability_zone": "elsewhere"}}),
        ),
        400,
        "badRequest",
    );
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "nope"}}),
        ),
        404,
        "itemNotFound",
    );
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"size": 1, "metadata": {"k": {"nested": 1}}}}),
        ),
        400,
        "badRequest",
    );
    let r = s
        .client
        .post(format!("{}/volume/v3/{}/volumes", s.base, u.project))
        .header("X-Auth-Token", &u.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .expect("post");
    fault(r, 400, "badRequest");
    let m = fault(
        get_raw(&s, &u, "/volumes/no-such-volume"),
        404,
        "itemNotFound",
    );
    assert_eq!(m, "Volume no-such-volume could not be found.");
    fault(
        get_raw(&s, &u, "/volumes/detail?sort=bogus:asc"),
        400,
        "badRequest",
    );
    fault(
        get_raw(&s, &u, "/volumes/detail?marker=nope"),
        400,
        "badRequest",
    );
}

#[test]
fn listing_filters_sorts_and_pages() {
    let s = Server::start();
    let u = login(&s, "demo");
    let mut ids = Vec::new();
    for (name, size) in [("a", 1), ("b", 2), ("c", 3)] {
        let v = create(
            &s,
            &u,
            json!({"size": size, "name": name, "metadata": {"n": name}}),
        );
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        wait_status(&s, &u, id, "available");
    }
    let names = |v: &Value| -> Vec<String> {
        v["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .map(|x| x["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(&get(&s, &u, "/volumes/detail?sort=size:asc")),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(&get(&s, &u, "/volumes?sort_key=name&sort_dir=desc")),
        ["c", "b", "a"]
    );
    assert_eq!(names(&get(&s, &u, "/volumes/detail?name=b")), ["b"]);
    assert_eq!(
        names(&get(
            &s,
            &u,
            "/volumes/detail?metadata=%7B%27n%27%3A%20%27c%27%7D"
        )),
        ["c"]
    );
    assert_eq!(
        names(&get(&s, &u, "/volumes/detail?status=available&size=2")),
        ["b"]
    );
    // limit/marker with a next link that carries the marker.
    let page = get(&s, &u, "/volumes/detail?sort=name:asc&limit=2");
    assert_eq!(names(&page), ["a", "b"]);
    let next = page["volumes_links"][0]["href"].as_str().expect("next");
    assert!(next.contains(&format!("marker={}", ids[1])), "{next}");
    let page = get(
        &s,
        &u,
        &format!("/volumes/detail?sort=name:asc&limit=2&marker={}", ids[1]),
    );
    assert_eq!(names(&page), ["c"]);
    assert!(page.get("volumes_links").is_none());
    let counted = get(&s, &u, "/volumes?with_count=true&limit=1");
    assert_eq!(counted["count"], 3);
    let summary = get(&s, &u, "/volumes/summary");
    assert_eq!(summary["volume-summary"]["total_size"], 6);
    assert_eq!(summary["volume-summary"]["total_count"], 3);
}

#[test]
fn projects_are_isolated_and_admin_routes_refuse_members() {
    let s = Server::start();
    let admin = login(&s, "admin");
    let demo = login(&s, "demo");
    let v = create(&s, &admin, json!({"size": 1, "name": "admins"}));
    let id = v["id"].as_str().expect("id").to_owned();
    wait_status(&s, &admin, &id, "available");
    // Another project's volume is not found, for reads and writes alike.
    fault(
        get_raw(&s, &demo, &format!("/volumes/{id}")),
        404,
        "itemNotFound",
    );
    fault(
        delete(&s, &demo, &format!("/volumes/{id}")),
        404,
        "itemNotFound",
    );
    fault(
        put(
            &s,
            &demo,
            &format!("/volumes/{id}"),
            json!({"volume": {"name": "x"}}),
        ),
        404,
        "itemNotFound",
    );
    assert_eq!(
        get(&s, &demo, "/volumes/detail?all_tenants=1")["volumes"],
        json!([])
    );
    // The admin sees it with the admin attributes, and every project's with all_tenants.
    let v = get(&s, &admin, &format!("/volumes/{id}"))["volume"].clone();
    assert!(
        v["os-vol-host-attr:host"]
            .as_str()
            .expect("host")
            .ends_with("@lvmdriver-1#lvmdriver-1")
    );
    create(&s, &demo, json!({"size": 1, "name": "demos"}));
    assert_eq!(
        get(&s, &admin, "/volumes")["volumes"]
            .as_array()
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        get(&s, &admin, "/volumes?all_tenants=1")["volumes"]
            .as_array()
            .expect("list")
            .len(),
        2
    );
    // Admin-only routes.
    fault(get_raw(&s, &demo, "/os-services"), 403, "forbidden");
    fault(
        post(&s, &demo, "/types", json!({"volume_type": {"name": "t"}})),
        403,
        "forbidden",
    );
    fault(
        put(
            &s,
            &demo,
            &format!("/os-quota-sets/{}", demo.project),
            json!({"quota_set": {"volumes": 100}}),
        ),
        403,
        "forbidden",
    );
    fault(
        get_raw(&s, &demo, &format!("/os-quota-sets/{}", admin.project)),
        403,
        "forbidden",
    );
    let services = get(&s, &admin, "/os-services")["services"].clone();
    let binaries: Vec<&str> = services
        .as_array()
        .expect("services")
        .iter()
        .map(|x| x["binary"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(binaries, ["cinder-scheduler", "cinder-volume"]);
    assert!(
        services
            .as_array()
            .expect("services")
            .iter()
            .all(|x| x["state"] == "up")
    );
    let zones = get(&s, &demo, "/os-availability-zone");
    assert_eq!(zones["availabilityZoneInfo"][0]["zoneName"], "nova");
    // A forced delete is an admin's.
    fault(
        post(
            &s,
            &demo,
            &format!("/volumes/{id}/action"),
            json!({"os-force_delete": {}}),
        ),
        404,
        "itemNotFound",
    );
    let r = post(
        &s,
        &admin,
        &format!("/volumes/{id}/action"),
        json!({"os-reset_status": {"status": "error"}}),
    );
    assert_eq!(r.status(), 202);
    wait_status(&s, &admin, &id, "error");
    let r = post(
        &s,
        &admin,
        &format!("/volumes/{id}/action"),
        json!({"os-force_delete": {}}),
    );
    assert_eq!(r.status(), 202);
    wait_gone(&s, &admin, &id);
}

#[test]
fn types_extra_specs_and_access() {
    let s = Server::start();
    let admin = login(&s, "admin");
    let demo = login(&s, "demo");
    let names = |v: &Value| -> Vec<String> {
        v["volume_types"]
            .as_array()
            .expect("types")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(&get(&s, &demo, "/types")),
        ["__DEFAULT__", "lvmdriver-1"]
    );
    let d = get(&s, &demo, "/types/default")["volume_type"].clone();
    assert_eq!(d["name"], "lvmdriver-1");
    // A member sees only the user-visible extra specs.
    assert_eq!(d["extra_specs"], json!({}));
    let d = get(&s, &admin, "/types/default")["volume_type"].clone();
    assert_eq!(d["extra_specs"]["volume_backend_name"], "lvmdriver-1");
    // Create a private type with extra specs; demo sees it only once given access.
    let r = post(
        &s,
        &admin,
        "/types",
        json!({"volume_type": {
        "name": "gold", "description": "fast", "os-volume-type-access:is_public": false,
        "extra_specs": {"volume_backend_name": "lvmdriver-1", "multiattach": "<is> True"}}}),
    );
    assert_eq!(r.status(), 200);
    let t = json_of(r)["volume_type"].clone();
    let tid = t["id"].as_str().expect("id").to_owned();
    assert_eq!(t["is_public"], false);
    fault(
        post(
            &s,
            &admin,
            "/types",
            json!({"volume_type": {"name": "gold"}}),
        ),
        409,
        "conflictingRequest",
    );
    fault(
        get_raw(&s, &demo, &format!("/types/{tid}")),
        404,
        "itemNotFound",
    );
    let r = post(
        &s,
        &admin,
        &format!("/types/{tid}/action"),
        json!({"addProjectAccess": {"project": demo.project}}),
    );
    assert_eq!(r.status(), 202);
    let acc = get(&s, &admin, &format!("/types/{tid}/os-volume-type-access"));
    assert_eq!(
        acc["volume_type_access"][0]["project_id"],
        demo.project.as_str()
    );
    assert!(names(&get(&s, &demo, "/types")).contains(&"gold".to_owned()));
    let t = get(&s, &demo, &format!("/types/{tid}"))["volume_type"].clone();
    assert_eq!(t["extra_specs"], json!({"multiattach": "<is> True"}));
    // Extra specs one by one.
    let r = put(
        &s,
        &admin,
        &format!("/types/{tid}/extra_specs/tier"),
        json!({"tier": "1"}),
    );
    assert_eq!(json_of(r), json!({"tier": "1"}));
    fault(
        put(
            &s,
            &admin,
            &format!("/types/{tid}/extra_specs/tier"),
            json!({"other": "1"}),
        ),
        400,
        "badRequest",
    );
    assert_eq!(
        get(&s, &admin, &format!("/types/{tid}/extra_specs/tier"))["tier"],
        "1"
    );
    let r = delete(&s, &admin, &format!("/types/{tid}/extra_specs/tier"));
    assert_eq!(r.status(), 202);
    fault(
        get_raw(&s, &admin, &format!("/types/{tid}/extra_specs/tier")),
        404,
        "itemNotFound",
    );
    // A volume of that type (by name) makes it multiattach and in use.
    let v = create(&s, &demo, json!({"size": 1, "volume_type": "gold"}));
    assert_eq!(v["volume_type"], "gold");
    assert_eq!(v["multiattach"], true);
    fault(
        delete(&s, &admin, &format!("/types/{tid}")),
        400,
        "badRequest",
    );
    let dt = get(&s, &admin, "/types?is_public=None");
    let default_id = dt["volume_types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["name"] == "__DEFAULT__")
        .and_then(|t| t["id"].as_str())
        .expect("default")
        .to_owned();
    fault(
        delete(&s, &admin, &format!("/types/{default_id}")),
        400,
        "badRequest",
    );
    let r = put(
        &s,
        &admin,
        &format!("/types/{tid}"),
        json!({"volume_type": {"description": "faster"}}),
    );
    assert_eq!(json_of(r)["volume_type"]["description"], "faster");
}

#[test]
fn quotas_and_limits() {
    let s = Server::start();
    let admin = login(&s, "admin");
    let demo = login(&s, "demo");
    let q = get(&s, &demo, &format!("/os-quota-sets/{}", demo.project))["quota_set"].clone();
    assert_eq!(q["volumes"], 10);
    assert_eq!(q["gigabytes"], 1000);
    assert_eq!(q["volumes_lvmdriver-1"], -1);
    let r = put(
        &s,
        &admin,
        &format!("/os-quota-sets/{}", demo.project),
        json!({"quota_set": {"volumes": 2, "gigabytes": 5}}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["quota_set"]["volumes"], 2);
    fault(
        put(
            &s,
            &admin,
            &format!("/os-quota-sets/{}", demo.project),
            json!({"quota_set": {"bogus": 2}}),
        ),
        400,
        "badRequest",
    );
    fault(
        put(
            &s,
            &admin,
            &format!("/os-quota-sets/{}", demo.project),
            json!({"quota_set": {"volumes": -5}}),
        ),
        400,
        "badRequest",
    );
    let m = fault(
        post(&s, &demo, "/volumes", json!({"volume": {"size": 6}})),
        413,
        "overLimit",
    );
    assert!(m.contains("gigabytes"), "{m}");
    let a = create(&s, &demo, json!({"size": 2}));
    create(&s, &demo, json!({"size": 2}));
    let m = fault(
        post(&s, &demo, "/volumes", json!({"volume": {"size": 1}})),
        413,
        "overLimit",
    );
    assert!(m.contains("Maximum number of volumes allowed (2)"), "{m}");
    let id = a["id"].as_str().expect("id");
    wait_status(&s, &demo, id, "available");
    // Extending past the gigabytes quota is refused too.
    fault(
        post(
            &s,
            &demo,
            &format!("/volumes/{id}/action"),
            json!({"os-extend": {"new_size": 4}}),
        ),
        413,
        "overLimit",
    );
    let q = get(
        &s,
        &demo,
        &format!("/os-quota-sets/{}?usage=True", demo.project),
    )["quota_set"]
        .clone();
    assert_eq!(
        q["volumes"],
        json!({"limit": 2, "in_use": 2, "reserved": 0, "allocated": 0})
    );
    assert_eq!(q["gigabytes"]["in_use"], 4);
    let l = get(&s, &demo, "/limits")["limits"]["absolute"].clone();
    assert_eq!(l["maxTotalVolumes"], 2);
    assert_eq!(l["totalVolumesUsed"], 2);
    assert_eq!(l["totalGigabytesUsed"], 4);
    let r = delete(&s, &admin, &format!("/os-quota-sets/{}", demo.project));
    assert_eq!(r.status(), 200);
    assert_eq!(
        get(&s, &demo, &format!("/os-quota-sets/{}", demo.project))["quota_set"]["volumes"],
        10
    );
    let d = get(
        &s,
        &demo,
        &format!("/os-quota-sets/{}/defaults", demo.project),
    );
    assert_eq!(d["quota_set"]["snapshots"], 10);
}

/// Tasks a crash interrupted (a create before its file, an extend before the new
/// size was recorded, a delete before the row went) are finished at the next start.
#[test]
fn interrupted_tasks_finish_after_kill9() {
    let mut s = Server::start();
    let u = login(&s, "demo");
    let mut ids = Vec::new();
    for name in ["creating", "extending", "deleting"] {
        let v = create(&s, &u, json!({"size": 1, "name": name}));
        let id = v["id"].as_str().expect("id").to_owned();
        wait_status(&s, &u, &id, "available");
        ids.push(id);
    }
    s.kill9();
    {
        let db = rusqlite::Connection::open(s.state_dir().join("state.db")).expect("db");
        let set = |id: &str, status: &str, task: &str| {
            db.execute(
                "UPDATE volumes SET status = ?2, task = ?3 WHERE id = ?1",
                rusqlite::params![id, status, task],
            )
            .expect("update");
        };
        set(&ids[0], "creating", r#"{"op":"create","size":1}"#);
        std::fs::remove_file(file_of(&s, &ids[0])).expect("remove");
        // A temp file of the interrupted create, never renamed.
        std::fs::write(
            s.state_dir().join(format!("volumes/volume-{}.tmp", ids[0])),
            b"x",
        )
        .expect("tmp");
        set(
            &ids[1],
            "extending",
            r#"{"op":"extend","new_size":2,"attached":false}"#,
        );
        set(&ids[2], "deleting", r#"{"op":"delete"}"#);
    }
    s.launch();
    let u = login(&s, "demo");
    let v = get(&s, &u, &format!("/volumes/{}", ids[0]))["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(
        std::fs::metadata(file_of(&s, &ids[0])).expect("file").len(),
        GIB
    );
    let v = get(&s, &u, &format!("/volumes/{}", ids[1]))["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(v["size"], 2);
    assert_eq!(
        std::fs::metadata(file_of(&s, &ids[1])).expect("file").len(),
        2 * GIB
    );
    fault(
        get_raw(&s, &u, &format!("/volumes/{}", ids[2])),
        404,
        "itemNotFound",
    );
    assert!(!file_of(&s, &ids[2]).exists());
    let left: Vec<_> = std::fs::read_dir(s.state_dir().join("volumes"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "only the two volumes' files remain: {left:?}"
    );
}

fn snap_status(s: &Server, u: &U, id: &str, want: &str) -> Value {
    wait_for(s, u, &format!("/snapshots/{id}"), "snapshot", want)
}

fn write_at(path: &std::path::Path, offset: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    f.write_all(data).expect("write");
    f.sync_all().expect("sync");
}

fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).expect("open");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    let mut b = vec![0; len];
    f.read_exact(&mut b).expect("read");
    b
}

/// Snapshots copy the volume's data at that moment; volumes made from a snapshot
/// or another volume hold it; a volume with snapshots is deleted only by cascade.
#[test]
fn snapshots_and_volumes_from_snapshots_and_volumes() {
    let s = Server::start();
    let u = login(&s, "demo");
    let v = create(
        &s,
        &u,
        json!({"size": 1, "name": "src", "volume_type": "__DEFAULT__"}),
    );
    let vid = v["id"].as_str().expect("id").to_owned();
    wait_status(&s, &u, &vid, "available");
    write_at(&file_of(&s, &vid), 512 << 20, b"before");
    let r = call_new(
        &s,
        &u,
        Method::POST,
        "/snapshots",
        Some(
            json!({"snapshot": {"volume_id": vid, "name": "s1", "metadata": {"k": "v"}, "force": false}}),
        ),
    );
    assert_eq!(r.status(), 202);
    let sn = json_of(r)["snapshot"].clone();
    let sid = sn["id"].as_str().expect("id").to_owned();
    let sn = snap_status(&s, &u, &sid, "available");
    assert_eq!(sn["size"], 1);
    assert_eq!(sn["volume_id"], vid.as_str());
    assert_eq!(sn["os-extended-snapshot-attributes:progress"], "100%");
    assert_eq!(sn["metadata"]["k"], "v");
    // Data written after the snapshot is not in it.
    write_at(&file_of(&s, &vid), 512 << 20, b"after!");
    let list = get(&s, &u, "/snapshots/detail?name=s1");
    assert_eq!(list["snapshots"].as_array().expect("list").len(), 1);
    let r = put(
        &s,
        &u,
        &format!("/snapshots/{sid}"),
        json!({"snapshot": {"name": "s2"}}),
    );
    assert_eq!(json_of(r)["snapshot"]["name"], "s2");
    // A volume from the snapshot (bigger, type inherited) and one from the volume.
    let a = create(&s, &u, json!({"size": 2, "snapshot_id": sid}));
    let aid = a["id"].as_str().expect("id").to_owned();
    assert_eq!(a["snapshot_id"], sid.as_str());
    let a = wait_status(&s, &u, &aid, "available");
    assert_eq!(a["volume_type"], "__DEFAULT__");
    assert_eq!(read_at(&file_of(&s, &aid), 512 << 20, 6), b"before");
    assert_eq!(
        std::fs::metadata(file_of(&s, &aid)).expect("file").len(),
        2 * GIB
    );
    let b = create(&s, &u, json!({"source_volid": vid}));
    let bid = b["id"].as_str().expect("id").to_owned();
    let b = wait_status(&s, &u, &bid, "available");
    assert_eq!(b["size"], 1);
    assert_eq!(b["source_volid"], vid.as_str());
    assert_eq!(read_at(&file_of(&s, &bid), 512 << 20, 6), b"after!");
    // Two sources at once: refused.
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"size": 1, "snapshot_id": sid, "source_volid": vid}}),
        ),
        400,
        "badRequest",
    );
    // Usage counts the snapshot and its gigabytes.
    let q = get(&s, &u, &format!("/os-quota-sets/{}?usage=True", u.project))["quota_set"].clone();
    assert_eq!(q["snapshots"]["in_use"], 1);
    assert_eq!(q["gigabytes"]["in_use"], 5);
    // The source volume has a snapshot: delete needs cascade.
    let m = fault(
        delete(&s, &u, &format!("/volumes/{vid}")),
        400,
        "badRequest",
    );
    assert!(m.contains("dependent snapshots"), "{m}");
    let r = delete(&s, &u, &format!("/volumes/{vid}?cascade=True"));
    assert_eq!(r.status(), 202);
    wait_gone(&s, &u, &vid);
    fault(
        get_raw(&s, &u, &format!("/snapshots/{sid}")),
        404,
        "itemNotFound",
    );
    assert!(
        !s.state_dir()
            .join(format!("volumes/snapshot-{sid}"))
            .exists()
    );
    // The copies live on.
    assert_eq!(read_at(&file_of(&s, &aid), 512 << 20, 6), b"before");
}

#[test]
fn snapshot_of_a_volume_in_error_is_refused_and_snapshot_delete_finishes_after_kill9() {
    let mut s = Server::start();
    let u = login(&s, "demo");
    let admin = login(&s, "admin");
    let v = create(&s, &u, json!({"size": 1}));
    let vid = v["id"].as_str().expect("id").to_owned();
    wait_status(&s, &u, &vid, "available");
    let r = post(
        &s,
        &admin,
        &format!("/volumes/{vid}/action"),
        json!({"os-reset_status": {"status": "error"}}),
    );
    assert_eq!(r.status(), 202);
    fault(
        post(
            &s,
            &u,
            "/snapshots",
            json!({"snapshot": {"volume_id": vid}}),
        ),
        400,
        "badRequest",
    );
    post(
        &s,
        &admin,
        &format!("/volumes/{vid}/action"),
        json!({"os-reset_status": {"status": "available"}}),
    );
    let r = post(
        &s,
        &u,
        "/snapshots",
        json!({"snapshot": {"volume_id": vid}}),
    );
    let sid = json_of(r)["snapshot"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    snap_status(&s, &u, &sid, "available");
    s.kill9();
    {
        let db = rusqlite::Connection::open(s.state_dir().join("state.db")).expect("db");
        db.execute(
            "UPDATE volume_snapshots SET status = 'deleting', task = 'delete' WHERE id = ?1",
            [&sid],
        )
        .expect("update");
    }
    s.launch();
    let u = login(&s, "demo");
    fault(
        get_raw(&s, &u, &format!("/snapshots/{sid}")),
        404,
        "itemNotFound",
    );
    assert!(
        !s.state_dir()
            .join(format!("volumes/snapshot-{sid}"))
            .exists()
    );
    let r = delete(&s, &u, &format!("/volumes/{vid}"));
    assert_eq!(r.status(), 202);
}

/// Uploads `data` as a Glance image in `format`; returns its id.
fn upload_image(s: &Server, u: &U, format: &str, data: Vec<u8>) -> String {
    let r = s
        .client
        .post(format!("{}/image/v2/images", s.base))
        .header("X-Auth-Token", &u.token)
        .json(&json!({"name": format!("img-{format}"), "disk_format": format, "container_format": "bare"}))
        .send()
        .expect("image create");
    assert_eq!(r.status(), 201);
    let id = json_of(r)["id"].as_str().expect("id").to_owned();
    let r = s
        .client
        .put(format!("{}/image/v2/images/{id}/file", s.base))
        .header("X-Auth-Token", &u.token)
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .expect("upload");
    assert_eq!(r.status(), 204);
    id
}

/// A volume from a raw and from a qcow2 image holds the image's disk content (the
/// qcow2 converted to raw), is bootable and carries the image's metadata.
#[test]
fn volumes_from_images() {
    let s = Server::start();
    let u = login(&s, "demo");
    let mut raw = vec![0u8; 1 << 20];
    raw[4096..4101].copy_from_slice(b"image");
    let raw_id = upload_image(&s, &u, "raw", raw.clone());
    let qcow2 = {
        let dir = tempfile::tempdir().expect("tmp");
        let src = dir.path().join("d.raw");
        let dst = dir.path().join("d.qcow2");
        std::fs::write(&src, &raw).expect("write");
        let ok = std::process::Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&src)
            .arg(&dst)
            .status()
            .map(|st| st.success())
            .unwrap_or(false);
        if ok {
            Some(std::fs::read(&dst).expect("read"))
        } else {
            None
        }
    };
    let mut images = vec![raw_id];
    match qcow2 {
        Some(q) => images.push(upload_image(&s, &u, "qcow2", q)),
        None => eprintln!("SKIP (qcow2 half): qemu-img is not installed"),
    }
    for image in images {
        let v = create(&s, &u, json!({"size": 1, "imageRef": image}));
        let id = v["id"].as_str().expect("id").to_owned();
        let v = wait_status(&s, &u, &id, "available");
        assert_eq!(v["bootable"], "true");
        assert_eq!(v["volume_image_metadata"]["image_id"], image.as_str());
        assert_eq!(read_at(&file_of(&s, &id), 4096, 5), b"image");
        assert_eq!(
            std::fs::metadata(file_of(&s, &id)).expect("file").len(),
            GIB
        );
    }
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": "no-such-image"}}),
        ),
        400,
        "badRequest",
    );
    fault(
        post(
            &s,
            &u,
            "/volumes",
            json!({"volume": {"imageRef": "no-such-image"}}),
        ),
        400,
        "badRequest",
    );
}

/// A Glance image by id, as the caller sees it.
fn image_get(s: &Server, u: &U, id: &str) -> Value {
    let r = s
        .client
        .get(format!("{}/image/v2/images/{id}", s.base))
        .header("X-Auth-Token", &u.token)
        .send()
        .expect("image get");
    assert_eq!(r.status(), 200);
    json_of(r)
}

/// The first `len` bytes of an image's data (the rest of the stream is dropped).
fn image_head(s: &Server, u: &U, id: &str, len: usize) -> Vec<u8> {
    use std::io::Read;
    let r = s
        .client
        .get(format!("{}/image/v2/images/{id}/file", s.base))
        .header("X-Auth-Token", &u.token)
        .send()
        .expect("image download");
    assert_eq!(r.status(), 200);
    let mut out = vec![0u8; len];
    r.take(len as u64).read_exact(&mut out).expect("image data");
    out
}

/// `os-volume_upload_image`: the volume's data becomes an active Glance image in
/// the asked format (raw as it is, qcow2 converted), the volume returns to
/// `available`, and bad formats or a missing volume get Cinder's faults.
#[test]
fn volumes_upload_to_images() {
    let s = Server::start();
    let u = login(&s, "demo");
    let v = create(&s, &u, json!({"size": 1, "name": "to-upload"}));
    let id = v["id"].as_str().expect("id").to_owned();
    wait_status(&s, &u, &id, "available");
    write_at(&file_of(&s, &id), 4096, b"upload");
    let upload = |format: &str| {
        let r = post(
            &s,
            &u,
            &format!("/volumes/{id}/action"),
            json!({"os-volume_upload_image": {
                "image_name": format!("from-volume-{format}"),
                "disk_format": format,
                "container_format": "bare",
            }}),
        );
        assert_eq!(r.status(), 202, "upload as {format}");
        let out = json_of(r)["os-volume_upload_image"].clone();
        assert_eq!(out["disk_format"], format, "{out}");
        out["image_id"].as_str().expect("image id").to_owned()
    };
    let wait_active = |image: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let i = image_get(&s, &u, image);
            if i["status"] == "active" {
                return i;
            }
            assert!(
                Instant::now() < deadline && i["status"] != "killed",
                "image {image}: {i}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    let raw = upload("raw");
    let image = wait_active(&raw);
    assert_eq!(image["size"], GIB, "{image}");
    assert_eq!(&image_head(&s, &u, &raw, 4102)[4096..], b"upload");
    wait_status(&s, &u, &id, "available");

    let qcow2 = upload("qcow2");
    let image = wait_active(&qcow2);
    assert_eq!(image["disk_format"], "qcow2");
    assert!(image["size"].as_u64().expect("size") < GIB, "{image}");
    assert_eq!(image_head(&s, &u, &qcow2, 4), b"QFI\xfb");
    wait_status(&s, &u, &id, "available");

    let bad = post(
        &s,
        &u,
        &format!("/volumes/{id}/action"),
        json!({"os-volume_upload_image": {"image_name": "x", "disk_format": "iso"}}),
    );
    let m = fault(bad, 400, "badRequest");
    assert!(m.contains("Invalid disk-format 'iso'"), "{m}");
    fault(
        post(
            &s,
            &u,
            "/volumes/00000000-0000-4000-8000-000000000000/action",
            json!({"os-volume_upload_image": {"image_name": "x"}}),
        ),
        404,
        "itemNotFound",
    );
}

/// A create from an image interrupted before its converted file was complete is
/// redone at the next start.
#[test]
fn interrupted_create_from_image_is_redone_after_kill9() {
    let mut s = Server::start();
    let u = login(&s, "demo");
    let mut raw = vec![0u8; 1 << 20];
    raw[8192..8197].copy_from_slice(b"again");
    let image = upload_image(&s, &u, "raw", raw);
    let v = create(&s, &u, json!({"size": 1, "imageRef": image}));
    let id = v["id"].as_str().expect("id").to_owned();
    wait_status(&s, &u, &id, "available");
    s.kill9();
    {
        let db = rusqlite::Connection::open(s.state_dir().join("state.db")).expect("db");
        let task = json!({"op": "create", "size": 1, "source": {"kind": "image", "id": image, "format": "raw"}});
        db.execute(
            "UPDATE volumes SET status = 'creating', task = ?2 WHERE id = ?1",
            rusqlite::params![id, task.to_string()],
        )
        .expect("update");
    }
    std::fs::remove_file(file_of(&s, &id)).expect("remove");
    std::fs::write(
        s.state_dir().join(format!("volumes/volume-{id}.tmp")),
        b"partial",
    )
    .expect("tmp");
    s.launch();
    let u = login(&s, "demo");
    let v = get(&s, &u, &format!("/volumes/{id}"))["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(read_at(&file_of(&s, &id), 8192, 5), b"again");
    assert!(
        !s.state_dir()
            .join(format!("volumes/volume-{id}.tmp"))
            .exists()
    );
}

fn group_status(s: &Server, u: &U, id: &str, want: &str) -> Value {
    wait_for(s, u, &format!("/groups/{id}"), "group", want)
}

fn gsnap_status(s: &Server, u: &U, id: &str, want: &str) -> Value {
    wait_for(
        s,
        u,
        &format!("/group_snapshots/{id}"),
        "group_snapshot",
        want,
    )
}

#[test]
fn generic_groups_types_snapshots_and_copies() {
    let mut s = Server::start();
    let admin = login(&s, "admin");
    let demo = login(&s, "demo");
    let v = |minor: u32| format!("3.{minor}");
    let post = |u: &U, path: &str, body: Value| call_new(&s, u, Method::POST, path, Some(body));

    // Group types: admin-only to change, older microversions do not have them.
    let body =
        json!({"group_type": {"name": "gt1", "description": "d", "group_specs": {"k": "v"}}});
    fault(post(&demo, "/group_types", body.clone()), 403, "forbidden");
    fault(
        call(
            &s,
            &admin,
            Method::POST,
            "/group_types",
            Some(&v(10)),
            Some(body.clone()),
        ),
        404,
        "itemNotFound",
    );
    let r = post(&admin, "/group_types", body.clone());
    assert_eq!(r.status(), 202);
    let gt = json_of(r)["group_type"].clone();
    assert_eq!(gt["group_specs"], json!({"k": "v"}));
    fault(
        post(&admin, "/group_types", body),
        409,
        "conflictingRequest",
    );
    let gt_id = gt["id"].as_str().expect("id").to_owned();
    // Members see public types without their specs.
    let shown = get(&s, &demo, &format!("/group_types/{gt_id}"))["group_type"].clone();
    assert_eq!(shown["name"], "gt1");
    assert!(shown.get("group_specs").is_none(), "{shown}");
    let r = post(
        &admin,
        &format!("/group_types/{gt_id}/group_specs"),
        json!({"group_specs": {"a": "1"}}),
    );
    assert_eq!(r.status(), 202);
    assert_eq!(
        get(&s, &admin, &format!("/group_types/{gt_id}/group_specs"))["group_specs"],
        json!({"k": "v", "a": "1"})
    );
    let r = call_new(
        &s,
        &admin,
        Method::DELETE,
        &format!("/group_types/{gt_id}/group_specs/a"),
        None,
    );
    assert_eq!(r.status(), 202);
    fault(
        call_new(
            &s,
            &admin,
            Method::GET,
            &format!("/group_types/{gt_id}/group_specs/a"),
            None,
        ),
        404,
        "itemNotFound",
    );

    // A group of the default type's volumes, made by the member.
    let vt = get(&s, &demo, "/types/default")["volume_type"]["id"]
        .as_str()
        .expect("type")
        .to_owned();
    let msg = fault(
        post(
            &demo,
            "/groups",
            json!({"group": {"group_type": gt_id, "name": "g"}}),
        ),
        400,
        "badRequest",
    );
    assert!(msg.contains("volume_types"), "{msg}");
    let r = post(
        &demo,
        "/groups",
        json!({"group": {"group_type": gt_id, "volume_types": [vt], "name": "g1"}}),
    );
    assert_eq!(r.status(), 202);
    let g1 = json_of(r)["group"]["id"].as_str().expect("id").to_owned();
    group_status(&s, &demo, &g1, "available");
    let vol = create(
        &s,
        &demo,
        json!({"size": 1, "volume_type": vt, "group_id": g1, "name": "m1"}),
    );
    assert_eq!(vol["group_id"], g1.as_str());
    let vol_id = vol["id"].as_str().expect("id").to_owned();
    wait_status(&s, &demo, &vol_id, "available");
    let other = create(
        &s,
        &demo,
        json!({"size": 1, "volume_type": vt, "name": "m2"}),
    );
    let other_id = other["id"].as_str().expect("id").to_owned();
    wait_status(&s, &demo, &other_id, "available");
    // The group type is in use; so is the volume type.
    fault(
        call_new(
            &s,
            &admin,
            Method::DELETE,
            &format!("/group_types/{gt_id}"),
            None,
        ),
        400,
        "badRequest",
    );
    // Add and remove volumes.
    let put = |body: Value| call_new(&s, &demo, Method::PUT, &format!("/groups/{g1}"), Some(body));
    assert_eq!(
        put(json!({"group": {"add_volumes": other_id}})).status(),
        202
    );
    let g = get(&s, &demo, &format!("/groups/{g1}"))["group"].clone();
    assert_eq!(g["volumes"].as_array().map(Vec::len), Some(2), "{g}");
    assert_eq!(
        put(json!({"group": {"remove_volumes": other_id, "name": "renamed"}})).status(),
        202
    );
    let msg = fault(
        put(json!({"group": {"remove_volumes": other_id}})),
        400,
        "badRequest",
    );
    assert!(msg.contains("is not in group"), "{msg}");
    fault(put(json!({"group": {}})), 400, "badRequest");
    let g = get(&s, &demo, &format!("/groups/{g1}"))["group"].clone();
    assert_eq!(g["name"], "renamed");
    assert_eq!(g["volumes"], json!([vol_id]));
    assert_eq!(g["volume_types"], json!([vt]));
    let listed = get(&s, &demo, &format!("/volumes/detail?group_id={g1}"))["volumes"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    // A group snapshot: one snapshot per member, through the snapshot task.
    let r = post(
        &demo,
        "/group_snapshots",
        json!({"group_snapshot": {"group_id": g1, "name": "gs1"}}),
    );
    assert_eq!(r.status(), 202);
    let gs = json_of(r)["group_snapshot"].clone();
    assert_eq!(gs["group_type_id"], gt_id.as_str());
    let gs_id = gs["id"].as_str().expect("id").to_owned();
    gsnap_status(&s, &demo, &gs_id, "available");
    let snaps = get(&s, &demo, "/snapshots/detail")["snapshots"].clone();
    let member: Vec<&Value> = snaps
        .as_array()
        .expect("list")
        .iter()
        .filter(|x| x["group_snapshot_id"] == gs_id.as_str())
        .collect();
    assert_eq!(member.len(), 1);
    assert_eq!(member[0]["volume_id"], vol_id.as_str());
    assert_eq!(member[0]["status"], "available");
    // The group cannot go while it has a group snapshot.
    let msg = fault(
        post(
            &demo,
            &format!("/groups/{g1}/action"),
            json!({"delete": {"delete-volumes": true}}),
        ),
        400,
        "badRequest",
    );
    assert!(msg.contains("group snapshots"), "{msg}");

    // Copies: a group from the group snapshot and one from the group.
    let r = post(
        &demo,
        "/groups/action",
        json!({"create-from-src": {"group_snapshot_id": gs_id, "name": "from-snap"}}),
    );
    assert_eq!(r.status(), 202);
    let g2 = json_of(r)["group"]["id"].as_str().expect("id").to_owned();
    let g = group_status(&s, &demo, &g2, "available");
    assert_eq!(g["group_snapshot_id"], gs_id.as_str());
    assert_eq!(g["volumes"].as_array().map(Vec::len), Some(1));
    let r = post(
        &demo,
        "/groups/action",
        json!({"create-from-src": {"source_group_id": g1, "name": "from-group"}}),
    );
    assert_eq!(r.status(), 202);
    let g3 = json_of(r)["group"]["id"].as_str().expect("id").to_owned();
    let g = group_status(&s, &demo, &g3, "available");
    let copy = g["volumes"][0].as_str().expect("copy").to_owned();
    assert_eq!(
        get(&s, &demo, &format!("/volumes/{copy}"))["volume"]["source_volid"],
        vol_id.as_str()
    );

    // Status resets are admin-only and from their microversions.
    let reset = |u: &U, path: &str, minor: u32, status: &str| {
        call(
            &s,
            u,
            Method::POST,
            path,
            Some(&v(minor)),
            Some(json!({"reset_status": {"status": status}})),
        )
    };
    let gpath = format!("/groups/{g3}/action");
    fault(reset(&demo, &gpath, 20, "error"), 403, "forbidden");
    fault(reset(&admin, &gpath, 19, "error"), 404, "itemNotFound");
    fault(reset(&admin, &gpath, 20, "bogus"), 400, "badRequest");
    assert_eq!(reset(&admin, &gpath, 20, "error").status(), 202);
    group_status(&s, &demo, &g3, "error");
    let spath = format!("/group_snapshots/{gs_id}/action");
    fault(reset(&admin, &spath, 18, "error"), 404, "itemNotFound");
    assert_eq!(reset(&admin, &spath, 19, "creating").status(), 202);
    gsnap_status(&s, &demo, &gs_id, "creating");
    assert_eq!(reset(&admin, &spath, 19, "available").status(), 202);

    // Deleting the group snapshot deletes its snapshots; a kill -9 while they are
    // being deleted is settled at the next start.
    let r = call_new(
        &s,
        &demo,
        Method::DELETE,
        &format!("/group_snapshots/{gs_id}"),
        None,
    );
    assert_eq!(r.status(), 202);
    s.kill9();
    s.launch();
    let admin = login(&s, "admin");
    let demo = login(&s, "demo");
    gone(&s, &demo, &format!("/group_snapshots/{gs_id}"));
    gone(
        &s,
        &demo,
        &format!("/snapshots/{}", member[0]["id"].as_str().expect("id")),
    );

    // Delete without delete-volumes is refused while volumes remain; with it the
    // volumes go first, then the group.
    let msg = fault(
        call_new(
            &s,
            &demo,
            Method::POST,
            &format!("/groups/{g1}/action"),
            Some(json!({"delete": {"delete-volumes": false}})),
        ),
        400,
        "badRequest",
    );
    assert!(msg.contains("delete-volumes"), "{msg}");
    for g in [&g1, &g2, &g3] {
        let r = call_new(
            &s,
            &demo,
            Method::POST,
            &format!("/groups/{g}/action"),
            Some(json!({"delete": {"delete-volumes": true}})),
        );
        assert_eq!(r.status(), 202, "delete {g}");
    }
    for g in [&g1, &g2, &g3] {
        gone(&s, &demo, &format!("/groups/{g}"));
    }
    wait_gone(&s, &demo, &vol_id);
    wait_gone(&s, &demo, &copy);
    // The volume removed from the group stays.
    wait_status(&s, &demo, &other_id, "available");
    assert!(
        get(&s, &demo, "/groups/detail")["groups"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let r = call_new(
        &s,
        &admin,
        Method::DELETE,
        &format!("/group_types/{gt_id}"),
        None,
    );
    assert_eq!(r.status(), 202);
}
