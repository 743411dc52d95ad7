//! Glance v2 over HTTP against the real binary.

mod common;

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::{Body, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

const PATCH: &str = "application/openstack-images-v2.1-json-patch";

fn url(s: &Server, path: &str) -> String {
    format!("{}/image/v2{path}", s.base)
}

fn call(s: &Server, m: Method, path: &str, token: &str) -> RequestBuilder {
    s.client
        .request(m, url(s, path))
        .header("X-Auth-Token", token)
}

fn create(s: &Server, token: &str, body: Value) -> Value {
    let r = call(s, Method::POST, "/images", token)
        .json(&body)
        .send()
        .expect("create");
    assert_eq!(r.status(), 201, "create image");
    json_of(r)
}

fn upload(s: &Server, token: &str, id: &str, data: Vec<u8>) -> Response {
    call(s, Method::PUT, &format!("/images/{id}/file"), token)
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .expect("upload")
}

fn patch(s: &Server, token: &str, id: &str, ops: Value) -> Response {
    call(s, Method::PATCH, &format!("/images/{id}"), token)
        .header("Content-Type", PATCH)
        .body(ops.to_string())
        .send()
        .expect("patch")
}

/// A minimal valid qcow2 v3 header (what format detection reads) padded with data.
fn qcow2_bytes(virtual_size: u64, len: usize) -> Vec<u8> {
    let mut h = vec![0u8; len.max(512)];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[24..32].copy_from_slice(&virtual_size.to_be_bytes());
    for (i, b) in h.iter_mut().enumerate().skip(512) {
        *b = (i % 251) as u8;
    }
    h
}

fn status(s: &Server, token: &str, id: &str) -> String {
    json_of(
        call(s, Method::GET, &format!("/images/{id}"), token)
            .send()
            .expect("show"),
    )["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

fn glance_error(r: Response, code: u16) -> String {
    assert_eq!(r.status().as_u16(), code);
    let v = json_of(r);
    assert_eq!(v["code"], code, "{v}");
    v["message"].as_str().expect("message").to_owned()
}

#[test]
fn discovery_points_clients_at_v2() {
    let s = Server::start();
    let r = s
        .client
        .get(format!("{}/image", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 300);
    let v = json_of(r);
    assert_eq!(v["versions"][0]["status"], "CURRENT");
    assert_eq!(
        v["versions"][0]["links"][0]["href"],
        format!("{}/image/v2/", s.base)
    );
    assert_eq!(
        s.client
            .get(format!("{}/image/versions", s.base))
            .send()
            .expect("get")
            .status(),
        200
    );
    let cat = json_of(s.get("/auth/catalog", &s.admin()));
    let image = cat["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|e| e["type"] == "image")
        .cloned()
        .expect("image in catalog");
    assert_eq!(image["endpoints"][0]["url"], format!("{}/image", s.base));
}

#[test]
fn upload_download_round_trip_with_hashes_and_ranges() {
    let s = Server::start();
    let t = s.admin();
    let img = create(
        &s,
        &t,
        json!({"name": "disk", "disk_format": "qcow2", "container_format": "bare", "os_distro": "cirros", "tags": ["a"]}),
    );
    let id = img["id"].as_str().expect("id").to_owned();
    assert_eq!(img["status"], "queued");
    assert_eq!(img["size"], Value::Null);
    assert_eq!(img["os_distro"], "cirros");
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    // No data yet: Glance answers 204.
    assert_eq!(
        call(&s, Method::GET, &format!("/images/{id}/file"), &t)
            .send()
            .expect("get")
            .status(),
        204
    );

    let r = call(&s, Method::PUT, &format!("/images/{id}/file"), &t)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .expect("upload");
    glance_error(r, 415);
    let r = call(&s, Method::POST, "/images", &t)
        .json(&json!({"name": "h"}))
        .send()
        .expect("create");
    assert_eq!(
        r.headers()["openstack-image-import-methods"],
        "glance-direct,web-download"
    );
    let data = qcow2_bytes(1 << 30, 300_000);
    assert_eq!(upload(&s, &t, &id, data.clone()).status(), 204);
    let v = json_of(
        call(&s, Method::GET, &format!("/images/{id}"), &t)
            .send()
            .expect("show"),
    );
    assert_eq!(v["status"], "active");
    assert_eq!(v["size"], 300_000);
    assert_eq!(v["virtual_size"], 1u64 << 30);
    assert_eq!(v["checksum"], format!("{:x}", md5::Md5::digest(&data)));
    assert_eq!(v["os_hash_algo"], "sha512");
    assert_eq!(v["os_hash_value"], hex::encode(Sha512::digest(&data)));
    glance_error(upload(&s, &t, &id, data.clone()), 409);

    let r = call(&s, Method::GET, &format!("/images/{id}/file"), &t)
        .send()
        .expect("download");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-md5"],
        v["checksum"].as_str().expect("md5")
    );
    assert_eq!(r.bytes().expect("bytes").as_ref(), data.as_slice());
    let r = call(&s, Method::GET, &format!("/images/{id}/file"), &t)
        .header("Range", "bytes=100-199")
        .send()
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/300000");
    assert_eq!(r.bytes().expect("bytes").as_ref(), &data[100..200]);
    let r = call(&s, Method::GET, &format!("/images/{id}/file"), &t)
        .header("Range", "bytes=400000-")
        .send()
        .expect("range");
    assert_eq!(r.status(), 416);
}

#[test]
fn wrong_formats_and_unsafe_images_are_refused() {
    let s = Server::start();
    let t = s.admin();
    let raw = create(
        &s,
        &t,
        json!({"name": "r", "disk_format": "raw", "container_format": "bare"}),
    );
    let rid = raw["id"].as_str().expect("id");
    let msg = glance_error(upload(&s, &t, rid, qcow2_bytes(1 << 20, 4096)), 400);
    assert!(msg.contains("mismatch"), "{msg}");
    assert_eq!(
        status(&s, &t, rid),
        "queued",
        "a refused upload leaves the image queued"
    );
    let q = create(
        &s,
        &t,
        json!({"name": "q", "disk_format": "qcow2", "container_format": "bare"}),
    );
    let qid = q["id"].as_str().expect("id");
    glance_error(upload(&s, &t, qid, b"plain bytes, not qcow2".to_vec()), 400);
    let mut backing = qcow2_bytes(1 << 20, 4096);
    backing[8..16].copy_from_slice(&512u64.to_be_bytes());
    assert!(glance_error(upload(&s, &t, qid, backing), 400).contains("backing file"));
    assert_eq!(
        upload(&s, &t, rid, vec![7u8; 10_000]).status(),
        204,
        "real raw data is fine"
    );
    let nofmt = create(&s, &t, json!({"name": "n"}));
    glance_error(
        upload(&s, &t, nofmt["id"].as_str().expect("id"), vec![1, 2, 3]),
        400,
    );
    let files: Vec<_> = std::fs::read_dir(s.state_dir().join("images"))
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        files,
        vec![rid.to_owned()],
        "only the accepted image has a file: {files:?}"
    );
}

#[test]
fn create_and_patch_rules() {
    let s = Server::start();
    let t = s.admin();
    for (body, code) in [
        (json!({"name": "x", "status": "active"}), 403),
        (json!({"name": "x", "size": 5}), 403),
        (json!({"name": "x", "disk_format": "floppy"}), 400),
        (json!({"name": "x", "min_ram": -1}), 400),
        (json!({"name": "x", "custom": 5}), 400),
        (json!({"name": "x", "os_glance_foo": "y"}), 403),
        (json!({"name": "x", "id": "not-a-uuid"}), 400),
    ] {
        let r = call(&s, Method::POST, "/images", &t)
            .json(&body)
            .send()
            .expect("create");
        glance_error(r, code);
    }
    let r = call(&s, Method::POST, "/images", &t)
        .header("Content-Type", "application/json")
        .body("{bad")
        .send()
        .expect("create");
    glance_error(r, 400);
    let fixed = "8a5ad3b2-6b2a-4b8e-9d6e-2f0c7f1d9e01";
    create(&s, &t, json!({"id": fixed, "name": "fixed"}));
    glance_error(
        call(&s, Method::POST, "/images", &t)
            .json(&json!({"id": fixed}))
            .send()
            .expect("dup"),
        409,
    );

    let img = create(
        &s,
        &t,
        json!({"name": "p", "disk_format": "raw", "container_format": "bare"}),
    );
    let id = img["id"].as_str().expect("id");
    let v = json_of(patch(
        &s,
        &t,
        id,
        json!([
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
            {"op": "add", "path": "/tags", "value": ["x", "y", "x"]},
            {"op": "replace", "path": "/min_ram", "value": 64},
        ]),
    ));
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["hw_disk_bus"], "virtio");
    assert_eq!(v["tags"], json!(["x", "y"]));
    assert_eq!(v["min_ram"], 64);
    let v = json_of(patch(
        &s,
        &t,
        id,
        json!([{"op": "remove", "path": "/hw_disk_bus"}]),
    ));
    assert!(v.get("hw_disk_bus").is_none());
    glance_error(
        patch(
            &s,
            &t,
            id,
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
        ),
        403,
    );
    glance_error(
        patch(&s, &t, id, json!([{"op": "remove", "path": "/nope"}])),
        409,
    );
    glance_error(
        patch(
            &s,
            &t,
            id,
            json!([{"op": "replace", "path": "/nope", "value": "x"}]),
        ),
        409,
    );
    glance_error(
        patch(&s, &t, id, json!([{"op": "move", "path": "/name"}])),
        400,
    );
    glance_error(patch(&s, &t, id, json!({"op": "replace"})), 400);
    let r = call(&s, Method::PATCH, &format!("/images/{id}"), &t)
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .expect("patch");
    glance_error(r, 415);
    assert_eq!(status(&s, &t, id), "queued");
    // Tags API.
    assert_eq!(
        call(&s, Method::PUT, &format!("/images/{id}/tags/z"), &t)
            .send()
            .expect("tag")
            .status(),
        204
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/images/{id}/tags/x"), &t)
            .send()
            .expect("untag")
            .status(),
        204
    );
    glance_error(
        call(&s, Method::DELETE, &format!("/images/{id}/tags/x"), &t)
            .send()
            .expect("untag"),
        404,
    );
    // Protected images cannot be deleted until unprotected.
    patch(
        &s,
        &t,
        id,
        json!([{"op": "replace", "path": "/protected", "value": true}]),
    );
    glance_error(
        call(&s, Method::DELETE, &format!("/images/{id}"), &t)
            .send()
            .expect("del"),
        403,
    );
    patch(
        &s,
        &t,
        id,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    );
    assert_eq!(
        call(&s, Method::DELETE, &format!("/images/{id}"), &t)
            .send()
            .expect("del")
            .status(),
        204
    );
    glance_error(
        call(&s, Method::GET, &format!("/images/{id}"), &t)
            .send()
            .expect("show"),
        404,
    );
}

#[test]
fn deactivate_blocks_downloads_for_non_admins() {
    let s = Server::start();
    let t = s.admin();
    let img = create(
        &s,
        &t,
        json!({"name": "pub", "disk_format": "raw", "container_format": "bare", "visibility": "public"}),
    );
    let id = img["id"].as_str().expect("id");
    glance_error(
        call(
            &s,
            Method::POST,
            &format!("/images/{id}/actions/deactivate"),
            &t,
        )
        .send()
        .expect("d"),
        403,
    );
    upload(&s, &t, id, vec![1u8; 1000]);
    assert_eq!(
        call(
            &s,
            Method::POST,
            &format!("/images/{id}/actions/deactivate"),
            &t
        )
        .send()
        .expect("d")
        .status(),
        204
    );
    assert_eq!(status(&s, &t, id), "deactivated");
    let demo = s.demo();
    glance_error(
        call(&s, Method::GET, &format!("/images/{id}/file"), &demo)
            .send()
            .expect("get"),
        403,
    );
    assert_eq!(
        call(&s, Method::GET, &format!("/images/{id}/file"), &t)
            .send()
            .expect("get")
            .status(),
        200
    );
    glance_error(
        call(
            &s,
            Method::POST,
            &format!("/images/{id}/actions/reactivate"),
            &demo,
        )
        .send()
        .expect("r"),
        403,
    );
    assert_eq!(
        call(
            &s,
            Method::POST,
            &format!("/images/{id}/actions/reactivate"),
            &t
        )
        .send()
        .expect("r")
        .status(),
        204
    );
    assert_eq!(
        call(&s, Method::GET, &format!("/images/{id}/file"), &demo)
            .send()
            .expect("get")
            .status(),
        200
    );
}

#[test]
fn sharing_members_and_project_isolation() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let demo_project = json_of(s.validate(&demo, &demo))["token"]["project"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let private = create(
        &s,
        &admin,
        json!({"name": "secret", "visibility": "private", "disk_format": "raw", "container_format": "bare"}),
    );
    let pid = private["id"].as_str().expect("id");
    upload(&s, &admin, pid, vec![9u8; 100]);
    glance_error(
        call(&s, Method::GET, &format!("/images/{pid}"), &demo)
            .send()
            .expect("show"),
        404,
    );
    glance_error(
        call(&s, Method::GET, &format!("/images/{pid}/file"), &demo)
            .send()
            .expect("get"),
        404,
    );
    glance_error(
        patch(
            &s,
            &demo,
            pid,
            json!([{"op": "replace", "path": "/name", "value": "mine"}]),
        ),
        404,
    );
    glance_error(
        call(&s, Method::DELETE, &format!("/images/{pid}"), &demo)
            .send()
            .expect("del"),
        404,
    );
    let list = json_of(
        call(&s, Method::GET, "/images", &demo)
            .send()
            .expect("list"),
    );
    assert!(
        list["images"]
            .as_array()
            .expect("images")
            .iter()
            .all(|i| i["id"] != pid)
    );
    // Only shared images get members.
    glance_error(
        call(&s, Method::POST, &format!("/images/{pid}/members"), &admin)
            .json(&json!({"member": demo_project}))
            .send()
            .expect("m"),
        403,
    );

    let shared = create(
        &s,
        &admin,
        json!({"name": "shared", "disk_format": "raw", "container_format": "bare"}),
    );
    let sid = shared["id"].as_str().expect("id");
    assert_eq!(shared["visibility"], "shared");
    let r = call(&s, Method::POST, &format!("/images/{sid}/members"), &admin)
        .json(&json!({"member": demo_project}))
        .send()
        .expect("m");
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["status"], "pending");
    glance_error(
        call(&s, Method::POST, &format!("/images/{sid}/members"), &admin)
            .json(&json!({"member": demo_project}))
            .send()
            .expect("m"),
        409,
    );
    // Pending: visible by id, not listed by default, listed with member_status=pending.
    assert_eq!(
        call(&s, Method::GET, &format!("/images/{sid}"), &demo)
            .send()
            .expect("show")
            .status(),
        200
    );
    let ids = |v: Value| -> Vec<String> {
        v["images"]
            .as_array()
            .expect("images")
            .iter()
            .filter_map(|i| i["id"].as_str().map(String::from))
            .collect()
    };
    assert!(
        !ids(json_of(
            call(&s, Method::GET, "/images", &demo).send().expect("l")
        ))
        .contains(&sid.to_owned())
    );
    assert!(
        ids(json_of(
            call(
                &s,
                Method::GET,
                "/images?member_status=pending&visibility=shared",
                &demo
            )
            .send()
            .expect("l")
        ))
        .contains(&sid.to_owned())
    );
    // The owner cannot accept for the member; the member can.
    let member_path = format!("/images/{sid}/members/{demo_project}");
    glance_error(
        call(&s, Method::PUT, &member_path, &admin)
            .json(&json!({"status": "accepted"}))
            .send()
            .expect("u"),
        403,
    );
    glance_error(
        call(&s, Method::PUT, &member_path, &demo)
            .json(&json!({"status": "maybe"}))
            .send()
            .expect("u"),
        400,
    );
    let other_member = format!("/images/{sid}/members/some-other-project");
    glance_error(
        call(&s, Method::PUT, &other_member, &demo)
            .json(&json!({"status": "accepted"}))
            .send()
            .expect("u"),
        403,
    );
    assert_eq!(
        json_of(
            call(&s, Method::PUT, &member_path, &demo)
                .json(&json!({"status": "accepted"}))
                .send()
                .expect("u")
        )["status"],
        "accepted"
    );
    assert!(
        ids(json_of(
            call(&s, Method::GET, "/images", &demo).send().expect("l")
        ))
        .contains(&sid.to_owned())
    );
    let members = json_of(
        call(&s, Method::GET, &format!("/images/{sid}/members"), &demo)
            .send()
            .expect("ml"),
    );
    assert_eq!(members["members"].as_array().map(Vec::len), Some(1));
    // A member may read but not change or delete the image, nor remove members.
    glance_error(
        patch(
            &s,
            &demo,
            sid,
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
        ),
        403,
    );
    glance_error(
        call(&s, Method::DELETE, &member_path, &demo)
            .send()
            .expect("d"),
        403,
    );
    assert_eq!(
        call(&s, Method::DELETE, &member_path, &admin)
            .send()
            .expect("d")
            .status(),
        204
    );
    glance_error(
        call(&s, Method::GET, &format!("/images/{sid}"), &demo)
            .send()
            .expect("show"),
        404,
    );
    // Only admin publicizes.
    let own = create(&s, &demo, json!({"name": "demo-own"}));
    let oid = own["id"].as_str().expect("id");
    glance_error(
        patch(
            &s,
            &demo,
            oid,
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
        ),
        403,
    );
    glance_error(
        call(&s, Method::POST, "/images", &demo)
            .json(&json!({"name": "p", "visibility": "public"}))
            .send()
            .expect("c"),
        403,
    );
    assert_eq!(
        json_of(patch(
            &s,
            &demo,
            oid,
            json!([{"op": "replace", "path": "/visibility", "value": "community"}])
        ))["visibility"],
        "community"
    );
}

#[test]
fn listing_filters_sorting_and_pages() {
    let s = Server::start();
    let t = s.admin();
    for (n, name) in ["delta", "alpha", "echo", "charlie", "bravo"]
        .iter()
        .enumerate()
    {
        let tags = if n % 2 == 0 {
            json!(["even"])
        } else {
            json!([])
        };
        create(
            &s,
            &t,
            json!({"name": name, "tags": tags, "disk_format": "raw", "container_format": "bare"}),
        );
    }
    let names = |q: &str| -> Vec<String> {
        json_of(
            call(&s, Method::GET, &format!("/images{q}"), &t)
                .send()
                .expect("list"),
        )["images"]
            .as_array()
            .expect("images")
            .iter()
            .filter_map(|i| i["name"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        names("?sort=name:asc"),
        vec!["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(names("?sort_key=name&sort_dir=desc")[0], "echo");
    assert_eq!(
        names("?tag=even&sort=name:asc"),
        vec!["bravo", "delta", "echo"]
    );
    assert_eq!(names("?name=bravo"), vec!["bravo"]);
    assert_eq!(
        names("?name=in:alpha,echo&sort=name:asc"),
        vec!["alpha", "echo"]
    );
    assert_eq!(names("?status=active").len(), 0);
    let page = json_of(
        call(&s, Method::GET, "/images?limit=2&sort=name:asc", &t)
            .send()
            .expect("list"),
    );
    assert_eq!(page["images"].as_array().map(Vec::len), Some(2));
    let mut next = page["next"].as_str().expect("next").to_owned();
    let mut seen = 2;
    loop {
        let v = json_of(
            s.client
                .get(format!("{}/image{next}", s.base))
                .header("X-Auth-Token", &t)
                .send()
                .expect("next"),
        );
        seen += v["images"].as_array().map(Vec::len).unwrap_or(0);
        match v["next"].as_str() {
            Some(n) => next = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 5);
    glance_error(
        call(&s, Method::GET, "/images?sort_key=color", &t)
            .send()
            .expect("l"),
        400,
    );
    glance_error(
        call(&s, Method::GET, "/images?marker=nope", &t)
            .send()
            .expect("l"),
        400,
    );
    glance_error(
        call(&s, Method::GET, "/images?limit=x", &t)
            .send()
            .expect("l"),
        400,
    );
    glance_error(
        call(&s, Method::GET, "/images?created_at=gte:yesterday", &t)
            .send()
            .expect("l"),
        400,
    );
    assert_eq!(names("?created_at=gte:2000-01-01T00:00:00Z").len(), 5);
    assert_eq!(names("?changes-since=2999-01-01T00:00:00Z").len(), 0);
}

#[test]
fn interoperable_import_runs_as_a_task() {
    let s = Server::start();
    let t = s.admin();
    let info = json_of(
        call(&s, Method::GET, "/info/import", &t)
            .send()
            .expect("info"),
    );
    assert_eq!(
        info["import-methods"]["value"],
        json!(["glance-direct", "web-download"])
    );
    let img = create(
        &s,
        &t,
        json!({"name": "imp", "disk_format": "qcow2", "container_format": "bare"}),
    );
    let id = img["id"].as_str().expect("id");
    glance_error(
        call(&s, Method::POST, &format!("/images/{id}/import"), &t)
            .json(&json!({"method": {"name": "glance-direct"}}))
            .send()
            .expect("i"),
        409,
    );
    let data = qcow2_bytes(1 << 21, 50_000);
    let r = call(&s, Method::PUT, &format!("/images/{id}/stage"), &t)
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .expect("stage");
    assert_eq!(r.status(), 204);
    assert_eq!(status(&s, &t, id), "uploading");
    glance_error(
        call(&s, Method::POST, &format!("/images/{id}/import"), &t)
            .json(&json!({"method": {"name": "glance-download"}}))
            .send()
            .expect("i"),
        400,
    );
    let r = call(&s, Method::POST, &format!("/images/{id}/import"), &t)
        .json(&json!({"method": {"name": "glance-direct"}}))
        .send()
        .expect("i");
    assert_eq!(r.status(), 202);
    let request_id = r.headers()["x-openstack-request-id"]
        .to_str()
        .expect("request id")
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&s, &t, id) != "active" {
        assert!(
            std::time::Instant::now() < deadline,
            "import did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // As in Glance, the task records its outcome just after the image goes active.
    let tasks = loop {
        let tasks = json_of(
            call(&s, Method::GET, &format!("/images/{id}/tasks"), &t)
                .send()
                .expect("tasks"),
        );
        if tasks["tasks"][0]["status"] != "processing" {
            break tasks;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(tasks["tasks"][0]["status"], "success");
    assert_eq!(tasks["tasks"][0]["type"], "api_image_import");
    assert_eq!(tasks["tasks"][0]["request_id"], request_id.as_str());
    assert!(tasks["tasks"][0]["user_id"].is_string(), "{tasks}");
    let tid = tasks["tasks"][0]["id"].as_str().expect("tid");
    assert_eq!(
        json_of(
            call(&s, Method::GET, &format!("/tasks/{tid}"), &t)
                .send()
                .expect("task")
        )["result"]["image_id"],
        id
    );
    glance_error(
        call(&s, Method::GET, &format!("/tasks/{tid}"), &s.demo())
            .send()
            .expect("task"),
        404,
    );
    let r = call(&s, Method::GET, &format!("/images/{id}/file"), &t)
        .send()
        .expect("get");
    assert_eq!(r.bytes().expect("bytes").as_ref(), data.as_slice());
    // A failed import (format mismatch) records the failure and re-queues the image.
    let bad = create(
        &s,
        &t,
        json!({"name": "bad", "disk_format": "qcow2", "container_format": "bare"}),
    );
    let bid = bad["id"].as_str().expect("id");
    call(&s, Method::PUT, &format!("/images/{bid}/stage"), &t)
        .body(vec![0u8; 1000])
        .send()
        .expect("stage");
    call(&s, Method::POST, &format!("/images/{bid}/import"), &t)
        .json(&json!({"method": {"name": "glance-direct"}}))
        .send()
        .expect("i");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let tasks = json_of(
            call(&s, Method::GET, &format!("/images/{bid}/tasks"), &t)
                .send()
                .expect("tasks"),
        );
        if tasks["tasks"][0]["status"] == "failure" {
            assert!(
                tasks["tasks"][0]["message"]
                    .as_str()
                    .expect("msg")
                    .contains("mismatch")
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import failure not recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(status(&s, &t, bid), "queued");
}

#[test]
fn quotas_give_413() {
    let profile = common::test_profile()
        .replace("quota_images = 100", "quota_images = 3")
        .replace("quota_bytes = 107374182400", "quota_bytes = 100000");
    let s = Server::start_with_profile(Some(&profile));
    let t = s.demo();
    let a = create(
        &s,
        &t,
        json!({"name": "a", "disk_format": "raw", "container_format": "bare"}),
    );
    let b = create(
        &s,
        &t,
        json!({"name": "b", "disk_format": "raw", "container_format": "bare"}),
    );
    create(&s, &t, json!({"name": "c"}));
    glance_error(
        call(&s, Method::POST, "/images", &t)
            .json(&json!({"name": "d"}))
            .send()
            .expect("c"),
        413,
    );
    assert_eq!(
        upload(&s, &t, a["id"].as_str().expect("id"), vec![1u8; 60_000]).status(),
        204
    );
    let bid = b["id"].as_str().expect("id");
    glance_error(upload(&s, &t, bid, vec![1u8; 60_000]), 413);
    assert_eq!(status(&s, &t, bid), "queued");
    let usage = json_of(
        call(&s, Method::GET, "/info/usage", &t)
            .send()
            .expect("usage"),
    );
    assert_eq!(usage["usage"]["image_size_total"]["usage"], 60_000);
    assert_eq!(usage["usage"]["image_count_total"]["limit"], 3);
    // The admin project has its own quota.
    create(&s, &s.admin(), json!({"name": "admin-image"}));
}

#[test]
fn an_upload_cut_by_kill_9_leaves_a_queued_image_and_no_partial_file() {
    let mut s = Server::start();
    let t = s.admin();
    let img = create(
        &s,
        &t,
        json!({"name": "big", "disk_format": "raw", "container_format": "bare"}),
    );
    let id = img["id"].as_str().expect("id").to_owned();
    // A body that trickles out, so the server is mid-upload when it dies.
    struct Slow(usize);
    impl std::io::Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            let n = buf.len().min(self.0).min(64 * 1024);
            buf[..n].fill(3);
            self.0 -= n;
            Ok(n)
        }
    }
    let target = url(&s, &format!("/images/{id}/file"));
    let client = s.client.clone();
    let token = t.clone();
    let uploader = std::thread::spawn(move || {
        let _ = client
            .put(target)
            .header("X-Auth-Token", token)
            .body(Body::new(Slow(50 << 20)))
            .send();
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&s, &t, &id) != "saving" {
        assert!(std::time::Instant::now() < deadline, "upload did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.kill9();
    let _ = uploader.join();
    let partial = std::fs::read_dir(s.state_dir().join("images"))
        .expect("ls")
        .count();
    assert!(partial >= 1, "the partial temp file existed before restart");
    s.launch();
    assert_eq!(status(&s, &t, &id), "queued");
    assert_eq!(
        std::fs::read_dir(s.state_dir().join("images"))
            .expect("ls")
            .count(),
        0,
        "partial file swept"
    );
    assert_eq!(
        upload(&s, &t, &id, vec![5u8; 1000]).status(),
        204,
        "the image can be uploaded again"
    );
}

#[test]
fn bootstrap_image_is_registered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("guest.qcow2");
    std::fs::write(&file, qcow2_bytes(64 << 20, 10_000)).expect("write");
    let profile = common::test_profile().replace(
        "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
        &format!("bootstrap_image = \"{}\"", file.display()),
    );
    let mut s = Server::start_with_profile(Some(&profile));
    let demo = s.demo();
    let find = |s: &Server| -> Vec<Value> {
        json_of(
            call(s, Method::GET, "/images?name=cirros", &demo)
                .send()
                .expect("list"),
        )["images"]
            .as_array()
            .expect("images")
            .clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while find(&s)
        .first()
        .map(|i| i["status"] != "active")
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "bootstrap image not registered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let img = &find(&s)[0];
    assert_eq!(img["visibility"], "public");
    assert_eq!(img["virtual_size"], 64u64 << 20);
    assert_eq!(
        img["min_ram"], 128,
        "a smaller flavor would boot a guest that hangs"
    );
    assert_eq!(img["min_disk"], 1);
    s.kill9();
    s.launch();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(find(&s).len(), 1, "not registered twice");
}

/// DevStack's AMI-style CirrOS: the profile's kernel and ramdisk become their own
/// aki/ari images, named by the disk image's kernel_id/ramdisk_id, once.
#[test]
fn bootstrap_kernel_and_ramdisk_are_their_own_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("guest.qcow2");
    let kernel = dir.path().join("vmlinux");
    let ramdisk = dir.path().join("initrd.img");
    std::fs::write(&disk, qcow2_bytes(64 << 20, 10_000)).expect("write");
    std::fs::write(&kernel, vec![0x7fu8; 4096]).expect("write");
    std::fs::write(&ramdisk, vec![0x1fu8; 2048]).expect("write");
    let profile = common::test_profile()
        .replace(
            "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
            &format!("bootstrap_image = \"{}\"", disk.display()),
        )
        .replace(
            "bootstrap_kernel = \"/usr/local/share/onestack/vmlinux\"",
            &format!("bootstrap_kernel = \"{}\"", kernel.display()),
        )
        .replace(
            "bootstrap_ramdisk = \"/usr/local/share/onestack/initrd.img\"",
            &format!("bootstrap_ramdisk = \"{}\"", ramdisk.display()),
        );
    let mut s = Server::start_with_profile(Some(&profile));
    let demo = s.demo();
    let named = |s: &Server, name: &str| -> Vec<Value> {
        json_of(
            call(s, Method::GET, &format!("/images?name={name}"), &demo)
                .send()
                .expect("list"),
        )["images"]
            .as_array()
            .expect("images")
            .clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while named(&s, "cirros")
        .first()
        .map(|i| i["status"] != "active")
        .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "bootstrap image not registered"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let img = named(&s, "cirros")[0].clone();
    let aki = named(&s, "cirros-kernel")[0].clone();
    let ari = named(&s, "cirros-ramdisk")[0].clone();
    assert_eq!(img["kernel_id"], aki["id"]);
    assert_eq!(img["ramdisk_id"], ari["id"]);
    assert_eq!(
        (aki["disk_format"].clone(), aki["container_format"].clone()),
        (json!("aki"), json!("aki"))
    );
    assert_eq!(
        (ari["disk_format"].clone(), ari["container_format"].clone()),
        (json!("ari"), json!("ari"))
    );
    assert_eq!(aki["status"], "active");
    assert_eq!(aki["size"], 4096);
    assert_eq!(ari["visibility"], "public");
    s.kill9();
    s.launch();
    std::thread::sleep(std::time::Duration::from_millis(300));
    for name in ["cirros", "cirros-kernel", "cirros-ramdisk"] {
        assert_eq!(named(&s, name).len(), 1, "{name} registered twice");
    }
}

#[test]
fn every_image_route_needs_a_token() {
    let s = Server::start();
    let t = s.admin();
    let id = create(&s, &t, json!({"name": "x"}))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let routes = [
        (Method::GET, "/images".to_owned()),
        (Method::POST, "/images".to_owned()),
        (Method::GET, format!("/images/{id}")),
        (Method::PATCH, format!("/images/{id}")),
        (Method::DELETE, format!("/images/{id}")),
        (Method::PUT, format!("/images/{id}/file")),
        (Method::GET, format!("/images/{id}/file")),
        (Method::PUT, format!("/images/{id}/stage")),
        (Method::POST, format!("/images/{id}/import")),
        (Method::POST, format!("/images/{id}/actions/deactivate")),
        (Method::POST, format!("/images/{id}/actions/reactivate")),
        (Method::PUT, format!("/images/{id}/tags/t")),
        (Method::DELETE, format!("/images/{id}/tags/t")),
        (Method::GET, format!("/images/{id}/members")),
        (Method::POST, format!("/images/{id}/members")),
        (Method::GET, format!("/images/{id}/members/p")),
        (Method::PUT, format!("/images/{id}/members/p")),
        (Method::DELETE, format!("/images/{id}/members/p")),
        (Method::GET, format!("/images/{id}/tasks")),
        (Method::GET, "/tasks".to_owned()),
        (Method::GET, "/tasks/x".to_owned()),
        (Method::GET, "/schemas/image".to_owned()),
        (Method::GET, "/info/import".to_owned()),
        (Method::GET, "/info/stores".to_owned()),
        (Method::GET, "/info/usage".to_owned()),
    ];
    let demo = s.demo();
    for (m, path) in routes {
        let r = s
            .client
            .request(m.clone(), url(&s, &path))
            .send()
            .expect("req");
        assert_eq!(r.status(), 401, "anonymous {m} {path}");
        // As another project, the admin's shared-visibility image does not exist.
        if path.starts_with(&format!("/images/{id}")) {
            let body = if path.ends_with("/import") {
                json!({"method": {"name": "glance-direct"}})
            } else if path.ends_with("/members") {
                json!({"member": "p"})
            } else if path.ends_with("/members/p") {
                json!({"status": "accepted"})
            } else {
                json!([])
            };
            let ctype = if m == Method::PATCH {
                PATCH
            } else if path.ends_with("/file") || path.ends_with("/stage") {
                "application/octet-stream"
            } else {
                "application/json"
            };
            let r = call(&s, m.clone(), &path, &demo)
                .header("Content-Type", ctype)
                .body(body.to_string())
                .send()
                .expect("req");
            assert_eq!(r.status(), 404, "other project {m} {path}");
        }
    }
    assert_eq!(status(&s, &t, &id), "queued", "nothing changed");
    let schema = json_of(
        call(&s, Method::GET, "/schemas/image", &demo)
            .send()
            .expect("schema"),
    );
    assert_eq!(schema["name"], "image");
    assert_eq!(schema["additionalProperties"]["type"], "string");
}

#[test]
fn the_older_patch_dialect_works_beside_2_1() {
    let s = Server::start();
    let t = s.admin();
    let img = create(
        &s,
        &t,
        json!({"name": "old", "disk_format": "raw", "container_format": "bare", "protected": true}),
    );
    let id = img["id"].as_str().expect("id");
    let old = |ops: Value| {
        call(&s, Method::PATCH, &format!("/images/{id}"), &t)
            .header(
                "Content-Type",
                "application/openstack-images-v2.0-json-patch",
            )
            .body(ops.to_string())
            .send()
            .expect("patch")
    };
    let r = old(json!([
        {"replace": "/name", "value": "renamed"},
        {"add": "/color", "value": "blue"},
        {"replace": "/protected", "value": false},
    ]));
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["color"], "blue");
    assert_eq!(v["protected"], false);
    // In this dialect adding what exists is a conflict (2.1 replaces it).
    assert!(glance_error(old(json!([{"add": "/color", "value": "red"}])), 409).contains("color"));
    assert_eq!(
        patch(
            &s,
            &t,
            id,
            json!([{"op": "add", "path": "/color", "value": "red"}])
        )
        .status(),
        200
    );
    glance_error(
        old(json!([{"remove": "/color"}, {"remove": "/color"}])),
        409,
    );
    glance_error(
        old(json!([{"add": "/a", "replace": "/b", "value": "x"}])),
        400,
    );
    glance_error(old(json!([{"op": "add", "path": "/a", "value": "x"}])), 400);
    glance_error(old(json!([{"add": "/a"}])), 400);
    glance_error(old(json!({"add": "/a", "value": "x"})), 400);
    glance_error(old(json!([{"add": "/os_glance_x", "value": "x"}])), 403);
    glance_error(old(json!([{"add": "/status", "value": "active"}])), 403);
    let r = call(&s, Method::PATCH, &format!("/images/{id}"), &t)
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .expect("patch");
    assert_eq!(r.status(), 415);
    // Nothing of the refused patches was applied.
    let v = json_of(
        call(&s, Method::GET, &format!("/images/{id}"), &t)
            .send()
            .expect("show"),
    );
    assert_eq!(v["color"], "red");
    assert!(v.get("a").is_none());
    assert_eq!(
        call(&s, Method::DELETE, &format!("/images/{id}"), &t)
            .send()
            .expect("delete")
            .status(),
        204
    );
}

#[test]
fn image_root_with_a_slash_lists_versions() {
    let s = Server::start();
    let r = s
        .client
        .get(format!("{}/image/", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 300);
    assert_eq!(json_of(r)["versions"][0]["status"], "CURRENT");
}

fn metadef(s: &Server, m: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let r = call(s, m, &format!("/metadefs{path}"), token);
    match body {
        Some(b) => r.json(&b),
        None => r,
    }
    .send()
    .expect("metadefs request")
}

#[test]
fn metadata_definitions_follow_glance_and_survive_restart() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let types = json_of(metadef(&s, Method::GET, "/resource_types", &demo, None));
    let names: Vec<&str> = types["resource_types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"OS::Glance::Image"), "{types}");
    assert!(names.contains(&"OS::Nova::Flavor"), "{types}");

    // Only an admin defines; a member is refused.
    let ns = json!({"namespace": "Test::Ns", "display_name": "Test", "visibility": "public",
                    "protected": true, "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}]});
    assert_eq!(
        metadef(&s, Method::POST, "/namespaces", &demo, Some(ns.clone())).status(),
        403
    );
    let r = metadef(&s, Method::POST, "/namespaces", &admin, Some(ns.clone()));
    assert_eq!(r.status(), 201);
    assert!(
        r.headers()["location"]
            .to_str()
            .expect("location")
            .ends_with("/v2/metadefs/namespaces/Test::Ns")
    );
    let v = json_of(r);
    assert_eq!(v["protected"], true);
    assert_eq!(v["resource_type_associations"][0]["prefix"], "hw_");
    glance_error(
        metadef(&s, Method::POST, "/namespaces", &admin, Some(ns)),
        409,
    );
    glance_error(
        metadef(
            &s,
            Method::POST,
            "/namespaces",
            &admin,
            Some(json!({"namespace": "x", "bogus": 1})),
        ),
        400,
    );
    let private = json!({"namespace": "Test::Private"});
    assert_eq!(
        metadef(&s, Method::POST, "/namespaces", &admin, Some(private)).status(),
        201
    );

    // Contents: objects, properties, tags, associations.
    let prop = json!({"name": "hypervisor_type", "title": "Hypervisor", "type": "string", "enum": ["kvm", "qemu"]});
    let r = metadef(
        &s,
        Method::POST,
        "/namespaces/Test::Ns/properties",
        &admin,
        Some(prop),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(json_of(r)["enum"], json!(["kvm", "qemu"]));
    glance_error(
        metadef(
            &s,
            Method::POST,
            "/namespaces/Test::Ns/properties",
            &admin,
            Some(json!({"name": "p", "title": "P", "type": "strange"})),
        ),
        400,
    );
    let r = metadef(
        &s,
        Method::POST,
        "/namespaces/Test::Ns/objects",
        &admin,
        Some(json!({"name": "CPU", "description": "limits",
                                "properties": {"quota:cpu": {"title": "Q", "type": "integer"}}})),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        json_of(r)["self"],
        "/v2/metadefs/namespaces/Test::Ns/objects/CPU"
    );
    let r = metadef(
        &s,
        Method::POST,
        "/namespaces/Test::Ns/tags",
        &admin,
        Some(json!({"tags": [{"name": "a"}, {"name": "b"}]})),
    );
    assert_eq!(r.status(), 201);
    glance_error(
        metadef(
            &s,
            Method::POST,
            "/namespaces/Test::Ns/tags/A",
            &admin,
            None,
        ),
        409,
    );
    assert_eq!(
        metadef(
            &s,
            Method::POST,
            "/namespaces/Test::Ns/tags/c",
            &admin,
            None
        )
        .status(),
        201
    );
    let r = metadef(
        &s,
        Method::PUT,
        "/namespaces/Test::Ns/tags/c",
        &admin,
        Some(json!({"name": "d"})),
    );
    assert_eq!(json_of(r)["name"], "d");

    // A reader of another project sees the public namespace with its contents, not
    // the private one.
    let shown = json_of(metadef(
        &s,
        Method::GET,
        "/namespaces/Test::Ns",
        &demo,
        None,
    ));
    assert_eq!(
        shown["properties"]["hypervisor_type"]["title"],
        "Hypervisor"
    );
    assert_eq!(shown["objects"][0]["name"], "CPU");
    assert_eq!(shown["tags"].as_array().map(Vec::len), Some(3));
    glance_error(
        metadef(&s, Method::GET, "/namespaces/Test::Private", &demo, None),
        404,
    );
    let listed = json_of(metadef(&s, Method::GET, "/namespaces", &demo, None));
    let listed: Vec<&str> = listed["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["namespace"].as_str())
        .collect();
    assert!(listed.contains(&"Test::Ns") && !listed.contains(&"Test::Private"));
    let filtered = json_of(metadef(
        &s,
        Method::GET,
        "/namespaces?resource_types=OS::Nova::Flavor",
        &admin,
        None,
    ));
    assert_eq!(filtered["namespaces"].as_array().map(Vec::len), Some(0));
    glance_error(
        metadef(
            &s,
            Method::DELETE,
            "/namespaces/Test::Ns/tags/a",
            &demo,
            None,
        ),
        403,
    );

    // Protected: nothing inside or the namespace itself can be deleted.
    glance_error(
        metadef(&s, Method::DELETE, "/namespaces/Test::Ns", &admin, None),
        403,
    );
    glance_error(
        metadef(
            &s,
            Method::DELETE,
            "/namespaces/Test::Ns/objects/CPU",
            &admin,
            None,
        ),
        403,
    );

    // Everything is in SQLite.
    s.kill9();
    s.launch();
    let admin = s.admin();
    let props = json_of(metadef(
        &s,
        Method::GET,
        "/namespaces/Test::Ns/properties",
        &admin,
        None,
    ));
    assert_eq!(props["properties"]["hypervisor_type"]["type"], "string");

    // Renaming keeps the contents; unprotected, it goes with all of them.
    let r = metadef(
        &s,
        Method::PUT,
        "/namespaces/Test::Ns",
        &admin,
        Some(json!({"namespace": "Test::Renamed", "visibility": "private", "protected": false})),
    );
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(v["protected"], false);
    assert!(
        v.get("display_name").is_none(),
        "unset attributes return to defaults"
    );
    let objects = json_of(metadef(
        &s,
        Method::GET,
        "/namespaces/Test::Renamed/objects",
        &admin,
        None,
    ));
    assert_eq!(objects["objects"][0]["name"], "CPU");
    assert_eq!(
        metadef(
            &s,
            Method::DELETE,
            "/namespaces/Test::Renamed/resource_types/OS::Glance::Image",
            &admin,
            None
        )
        .status(),
        204
    );
    assert_eq!(
        metadef(
            &s,
            Method::DELETE,
            "/namespaces/Test::Renamed",
            &admin,
            None
        )
        .status(),
        204
    );
    glance_error(
        metadef(
            &s,
            Method::GET,
            "/namespaces/Test::Renamed/objects",
            &admin,
            None,
        ),
        404,
    );
    for name in [
        "namespace",
        "namespaces",
        "object",
        "objects",
        "property",
        "properties",
        "tag",
        "tags",
    ] {
        let v = json_of(
            call(
                &s,
                Method::GET,
                &format!("/schemas/metadefs/{name}"),
                &admin,
            )
            .send()
            .expect("schema"),
        );
        assert_eq!(v["name"], name);
    }
    let v = json_of(
        call(&s, Method::GET, "/schemas/metadefs/resource_type", &admin)
            .send()
            .expect("schema"),
    );
    assert_eq!(v["name"], "resource_type_association");
}

/// Without the bootstrap image file, `up` says once that no bootable image is
/// registered and how to get one.
#[test]
fn up_says_once_when_no_bootable_image_is_registered() {
    let profile = common::test_profile().replace(
        "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
        "bootstrap_image = \"/nonexistent/onestack-test-image.qcow2\"",
    );
    let s = Server::start_with_profile(Some(&profile));
    let said = |s: &Server| s.log().matches("no bootable image is registered").count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while said(&s) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no word:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = s.log();
    assert!(
        log.contains("onestack build-image")
            && log.contains("/nonexistent/onestack-test-image.qcow2"),
        "how to get one:\n{log}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(said(&s), 1, "said once:\n{log}");
}

/// A tiny HTTP/1.0 server on a loopback port, for web-download: `/good.qcow2` is
/// `data`; `/stall-once` sends half of `data` and then nothing on its first
/// request, all of it afterwards; `/redirect` points at a port the import filter
/// refuses; anything else is 404. Returns the port and the count of `/stall-once`
/// requests; runs until the test process ends.
fn serve(data: Vec<u8>) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stalls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = stalls.clone();
    let data = std::sync::Arc::new(data);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let data = data.clone();
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", data.len());
                let _ = match path.as_str() {
                    "/good.qcow2" => conn
                        .write_all(head.as_bytes())
                        .and_then(|_| conn.write_all(&data)),
                    "/stall-once" if seen.fetch_add(1, Ordering::SeqCst) == 0 => {
                        let _ = conn.write_all(head.as_bytes());
                        let _ = conn.write_all(&data[..data.len() / 2]);
                        // Hold the connection open, sending nothing more.
                        std::thread::sleep(std::time::Duration::from_secs(600));
                        Ok(())
                    }
                    "/stall-once" => conn
                        .write_all(head.as_bytes())
                        .and_then(|_| conn.write_all(&data)),
                    "/redirect" => conn.write_all(
                        b"HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n",
                    ),
                    _ => conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                };
            });
        }
    });
    (port, stalls)
}

fn wait_image(s: &Server, token: &str, id: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = json_of(
            call(s, Method::GET, &format!("/images/{id}"), token)
                .send()
                .expect("show"),
        );
        if v["status"] == want && (want != "queued" || v.get("os_glance_failed_import").is_some()) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "image {id}: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn wait_task(s: &Server, token: &str, id: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = json_of(
            call(s, Method::GET, &format!("/tasks/{id}"), token)
                .send()
                .expect("task"),
        );
        if v["status"] == want {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "task {id}: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn web_download_and_tasks_fetch_through_the_import_filter() {
    let data = qcow2_bytes(1 << 20, 200_000);
    let (port, _) = serve(data.clone());
    let profile = common::test_profile()
        .replace(
            "import_allowed_hosts = []",
            "import_allowed_hosts = [\"127.0.0.1\"]",
        )
        .replace(
            "import_allowed_ports = [80, 443]",
            &format!("import_allowed_ports = [{port}]"),
        );
    let s = Server::start_with_profile(Some(&profile));
    let t = s.admin();
    let demo = s.demo();
    let base = format!("http://127.0.0.1:{port}");
    let import = |id: &str, uri: &str| {
        call(&s, Method::POST, &format!("/images/{id}/import"), &t)
            .json(&json!({"method": {"name": "web-download", "uri": uri}}))
            .send()
            .expect("import")
    };
    let new_image = || {
        create(
            &s,
            &t,
            json!({"name": "wd", "disk_format": "qcow2", "container_format": "bare"}),
        )["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };

    // Fetched, hashed and activated.
    let id = new_image();
    assert_eq!(import(&id, &format!("{base}/good.qcow2")).status(), 202);
    let img = wait_image(&s, &t, &id, "active");
    assert_eq!(img["size"], data.len());
    assert_eq!(img["checksum"], hex::encode(md5::Md5::digest(&data)));
    let r = call(&s, Method::GET, &format!("/images/{id}/file"), &t)
        .send()
        .expect("download");
    assert_eq!(r.bytes().expect("bytes").as_ref(), data.as_slice());
    // Only a queued image takes a web-download.
    glance_error(import(&id, &format!("{base}/good.qcow2")), 409);

    // Refused by the filter before anything is fetched: the default port, another
    // host, another scheme; a missing URI.
    let id = new_image();
    for uri in [
        "http://127.0.0.1/good.qcow2".to_string(),
        format!("http://does-not.exist:{port}/x"),
        format!("ftp://127.0.0.1:{port}/x"),
    ] {
        let msg = glance_error(import(&id, &uri), 400);
        assert!(msg.contains("does not pass filtering"), "{msg}");
    }
    let r = call(&s, Method::POST, &format!("/images/{id}/import"), &t)
        .json(&json!({"method": {"name": "web-download"}}))
        .send()
        .expect("import");
    glance_error(r, 400);
    assert_eq!(status(&s, &t, &id), "queued");

    // A fetch that fails (404; a redirect the filter refuses): back to queued, the
    // store named in os_glance_failed_import, the task failed with the reason.
    for path in ["/missing", "/redirect"] {
        let id = new_image();
        assert_eq!(import(&id, &format!("{base}{path}")).status(), 202);
        let img = wait_image(&s, &t, &id, "queued");
        assert_eq!(img["os_glance_failed_import"], "local");
        let tasks = json_of(
            call(&s, Method::GET, &format!("/images/{id}/tasks"), &t)
                .send()
                .expect("tasks"),
        );
        let task = &tasks["tasks"][0];
        assert_eq!(task["status"], "failure", "{task}");
        assert!(
            task["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{task}"
        );
        // A later import that works clears the mark.
        assert_eq!(import(&id, &format!("{base}/good.qcow2")).status(), 202);
        let img = wait_image(&s, &t, &id, "active");
        assert!(img.get("os_glance_failed_import").is_none(), "{img}");
    }

    // Glance's older tasks API: admin only, type import.
    let task = |token: &str, body: Value| {
        call(&s, Method::POST, "/tasks", token)
            .json(&body)
            .send()
            .expect("task")
    };
    let good = json!({"type": "import", "input": {
        "import_from": format!("{base}/good.qcow2"), "import_from_format": "qcow2",
        "image_properties": {"name": "from-task", "disk_format": "qcow2", "container_format": "bare"}}});
    glance_error(task(&demo, good.clone()), 403);
    let r = task(&t, good);
    assert_eq!(r.status(), 201);
    let created = json_of(r);
    assert_eq!(created["type"], "import");
    let done = wait_task(&s, &t, created["id"].as_str().expect("id"), "success");
    let image_id = done["result"]["image_id"]
        .as_str()
        .expect("image id")
        .to_owned();
    assert_eq!(status(&s, &t, &image_id), "active");
    let bad = json!({"type": "import", "input": {
        "import_from": "http://example.org/x.qcow2", "import_from_format": "qcow2",
        "image_properties": {"name": "x", "disk_format": "qcow2", "container_format": "bare"}}});
    let msg = glance_error(task(&t, bad), 400);
    assert!(msg.contains("does not pass filtering"), "{msg}");
    let msg = glance_error(
        task(
            &t,
            json!({"type": "import", "input": {"import_from_format": "qcow2"}}),
        ),
        400,
    );
    assert!(msg.contains("import_from"), "{msg}");
    glance_error(task(&t, json!({"type": "export", "input": {}})), 400);
    // A failed fetch fails the task.
    let failing = json!({"type": "import", "input": {
        "import_from": format!("{base}/missing"), "import_from_format": "qcow2",
        "image_properties": {"name": "y", "disk_format": "qcow2", "container_format": "bare"}}});
    let r = task(&t, failing);
    assert_eq!(r.status(), 201);
    let failed = wait_task(&s, &t, json_of(r)["id"].as_str().expect("id"), "failure");
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("404")),
        "{failed}"
    );
}

#[test]
fn a_web_download_cut_by_kill_9_is_fetched_again_at_start() {
    let data = qcow2_bytes(1 << 20, 400_000);
    let (port, stalls) = serve(data.clone());
    let profile = common::test_profile()
        .replace(
            "import_allowed_hosts = []",
            "import_allowed_hosts = [\"127.0.0.1\"]",
        )
        .replace(
            "import_allowed_ports = [80, 443]",
            &format!("import_allowed_ports = [{port}]"),
        );
    let mut s = Server::start_with_profile(Some(&profile));
    let t = s.admin();
    let id = create(
        &s,
        &t,
        json!({"name": "cut", "disk_format": "qcow2", "container_format": "bare"}),
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = call(&s, Method::POST, &format!("/images/{id}/import"), &t)
        .json(&json!({"method": {"name": "web-download", "uri": format!("http://127.0.0.1:{port}/stall-once")}}))
        .send()
        .expect("import");
    assert_eq!(r.status(), 202);
    // The first fetch has half the bytes and waits for more: cut it there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stalls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no fetch");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(status(&s, &t, &id), "importing");
    s.kill9();
    s.launch();
    let t = s.admin();
    let img = wait_image(&s, &t, &id, "active");
    assert_eq!(
        stalls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "fetched again"
    );
    assert_eq!(img["checksum"], hex::encode(md5::Md5::digest(&data)));
    let leftovers: Vec<_> = std::fs::read_dir(s.state_dir().join("images"))
        .expect("images dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!s.state_dir().join("staging").join(&id).exists());
}
