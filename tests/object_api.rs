//! Object storage (Swift v1) over HTTP against the real binary: accounts, containers,
//! objects, listings, metadata, faults, ranges and conditions, copies, expiry, ACLs,
//! temp URLs, large objects, versioning, quotas, bulk delete, and restart safety.

mod common;

use common::Server;
use reqwest::Method;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;

struct Swift<'a> {
    s: &'a Server,
    token: String,
    account: String,
}

fn project_of(s: &Server, user: &str, project: &str) -> (String, String) {
    let r = s.auth(
        user,
        &s.password(user),
        Some(serde_json::json!({"project": {"name": project, "domain": {"id": "default"}}})),
    );
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    let body: Value = r.json().expect("json");
    let id = body["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    (token, id)
}

impl<'a> Swift<'a> {
    fn demo(s: &'a Server) -> Swift<'a> {
        let (token, id) = project_of(s, "demo", "demo");
        Swift {
            s,
            token,
            account: format!("AUTH_{id}"),
        }
    }

    fn url(&self, path: &str) -> String {
        let base = self.s.url("").replace("/identity/v3", "");
        format!("{base}/object-storage/v1/{}{path}", self.account)
    }

    fn req(&self, method: &str, path: &str) -> RequestBuilder {
        self.s
            .client
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                self.url(path),
            )
            .header("X-Auth-Token", &self.token)
    }

    fn send(&self, method: &str, path: &str) -> Response {
        self.req(method, path).send().expect("send")
    }

    fn put(&self, path: &str, body: &'static [u8]) -> Response {
        self.req("PUT", path).body(body).send().expect("put")
    }
}

fn h(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn containers_objects_and_listings() {
    let s = Server::start();
    let sw = Swift::demo(&s);
    let r = sw.send("HEAD", "");
    assert_eq!(r.status(), 204);
    assert_eq!(h(&r, "x-account-container-count"), "0");
    assert_eq!(sw.send("PUT", "/c1").status(), 201);
    assert_eq!(sw.send("PUT", "/c1").status(), 202);
    assert_eq!(sw.send("PUT", "/c2").status(), 201);

    let r = sw
        .req("PUT", "/c1/a/b.txt")
        .header("etag", "5d41402abc4b2a76b9719d911017c592")
        .header("x-object-meta-color", "blue")
        .body("hello")
        .send()
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "etag"), "5d41402abc4b2a76b9719d911017c592");
    for name in ["a/c.txt", "b", "d/e", "z"] {
        assert_eq!(sw.put(&format!("/c1/{name}"), b"xy").status(), 201);
    }
    let r = sw.send("GET", "/c1/a/b.txt");
    assert_eq!(r.status(), 200);
    assert_eq!(h(&r, "content-type"), "text/plain");
    assert_eq!(h(&r, "x-object-meta-color"), "blue");
    assert_eq!(h(&r, "content-length"), "5");
    assert_eq!(r.text().expect("body"), "hello");

    let plain = sw.send("GET", "/c1").text().expect("list");
    assert_eq!(plain, "a/b.txt\na/c.txt\nb\nd/e\nz\n");
    let delim = sw.send("GET", "/c1?delimiter=/").text().expect("list");
    assert_eq!(delim, "a/\nb\nd/\nz\n");
    let rev = sw
        .send("GET", "/c1?delimiter=/&reverse=true")
        .text()
        .expect("list");
    assert_eq!(rev, "z\nd/\nb\na/\n");
    let page = sw
        .send("GET", "/c1?marker=a/c.txt&limit=2")
        .text()
        .expect("list");
    assert_eq!(page, "b\nd/e\n");
    let ended = sw
        .send("GET", "/c1?end_marker=b&prefix=a/")
        .text()
        .expect("list");
    assert_eq!(ended, "a/b.txt\na/c.txt\n");
    let json: Value = sw
        .send("GET", "/c1?format=json&prefix=a/&delimiter=/")
        .json()
        .expect("json");
    assert_eq!(json[0]["name"], "a/b.txt");
    assert_eq!(json[0]["hash"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(json[0]["bytes"], 5);
    let xml = sw
        .send("GET", "/c1?format=xml&delimiter=/")
        .text()
        .expect("xml");
    assert!(
        xml.contains("<container name=\"c1\"><subdir name=\"a/\"><name>a/</name></subdir>"),
        "{xml}"
    );
    assert_eq!(sw.send("GET", "/c1?limit=10001").status(), 412);

    let r = sw.send("HEAD", "/c1");
    assert_eq!(h(&r, "x-container-object-count"), "5");
    assert_eq!(h(&r, "x-container-bytes-used"), "13");
    let accts: Value = sw.send("GET", "?format=json").json().expect("json");
    assert_eq!(accts.as_array().map(Vec::len), Some(2));
    assert_eq!(accts[0]["count"], 5);
    let r = sw.send("HEAD", "");
    assert_eq!(h(&r, "x-account-object-count"), "5");
    assert_eq!(h(&r, "x-account-bytes-used"), "13");

    // Metadata: account and container merge, object POST replaces.
    let r = sw
        .req("POST", "")
        .header("x-account-meta-owner", "me")
        .send()
        .expect("post");
    assert_eq!(r.status(), 204);
    assert_eq!(h(&sw.send("HEAD", ""), "x-account-meta-owner"), "me");
    sw.req("POST", "/c1")
        .header("x-container-meta-a", "1")
        .send()
        .expect("post");
    sw.req("POST", "/c1")
        .header("x-container-meta-b", "2")
        .send()
        .expect("post");
    let r = sw.send("HEAD", "/c1");
    assert_eq!(
        (h(&r, "x-container-meta-a"), h(&r, "x-container-meta-b")),
        ("1".into(), "2".into())
    );
    sw.req("POST", "/c1")
        .header("x-remove-container-meta-a", "x")
        .send()
        .expect("post");
    assert_eq!(h(&sw.send("HEAD", "/c1"), "x-container-meta-a"), "");
    let r = sw
        .req("POST", "/c1/a/b.txt")
        .header("x-object-meta-size", "big")
        .send()
        .expect("post");
    assert_eq!(r.status(), 202);
    let r = sw.send("HEAD", "/c1/a/b.txt");
    assert_eq!(h(&r, "x-object-meta-size"), "big");
    assert_eq!(h(&r, "x-object-meta-color"), "");

    // Delete: 409 while not empty.
    assert_eq!(sw.send("DELETE", "/c1").status(), 409);
    for name in ["a/b.txt", "a/c.txt", "b", "d/e", "z"] {
        assert_eq!(sw.send("DELETE", &format!("/c1/{name}")).status(), 204);
    }
    assert_eq!(sw.send("DELETE", "/c1/z").status(), 404);
    assert_eq!(sw.send("DELETE", "/c1").status(), 204);
    assert_eq!(sw.send("HEAD", "/c1").status(), 404);
    assert_eq!(h(&sw.send("HEAD", ""), "x-account-bytes-used"), "0");
}

#[test]
fn faults_and_access() {
    let s = Server::start();
    let sw = Swift::demo(&s);
    assert_eq!(sw.send("PUT", "/c").status(), 201);
    // 411 without a length or chunked encoding; 422 on a wrong ETag; 400 on names.
    let no_len = sw.send("PUT", "/c/o");
    assert_eq!(no_len.status(), 411);
    let r = sw
        .req("PUT", "/c/o")
        .header("etag", "0".repeat(32))
        .body("data")
        .send()
        .expect("put");
    assert_eq!(r.status(), 422);
    assert_eq!(sw.send("HEAD", "/c/o").status(), 404);
    let long = "x".repeat(1025);
    assert_eq!(sw.put(&format!("/c/{long}"), b"x").status(), 400);
    assert_eq!(
        sw.send("PUT", &format!("/{}", "c".repeat(257))).status(),
        400
    );
    assert_eq!(sw.put("/missing/o", b"x").status(), 404);
    let r = sw
        .req("PUT", "/c/m")
        .header(format!("x-object-meta-{}", "n".repeat(129)), "v")
        .body("x")
        .send()
        .expect("put");
    assert_eq!(r.status(), 400);
    // Unsatisfiable range: 416.
    assert_eq!(sw.put("/c/o", b"0123456789").status(), 201);
    let r = sw
        .req("GET", "/c/o")
        .header("range", "bytes=20-30")
        .send()
        .expect("get");
    assert_eq!(r.status(), 416);
    assert_eq!(h(&r, "content-range"), "bytes */10");

    // Anonymous: 401; another project's member: 403; a reader reads only.
    let anon = s.client.get(sw.url("/c/o")).send().expect("anon");
    assert_eq!(anon.status(), 401);
    assert!(anon.text().expect("body").contains("Unauthorized"));
    let (admin_token, _) = project_of(&s, "admin", "admin");
    let other = Swift {
        s: &s,
        token: admin_token,
        account: sw.account.clone(),
    };
    assert_eq!(other.send("GET", "/c/o").status(), 403);
    assert_eq!(other.send("PUT", "/c2").status(), 403);
    // ACLs: a public read ACL opens objects (and listings with .rlistings) to anyone.
    let r = sw
        .req("POST", "/c")
        .header("x-container-read", ".r:*")
        .send()
        .expect("acl");
    assert_eq!(r.status(), 204);
    let anon = s.client.get(sw.url("/c/o")).send().expect("anon");
    assert_eq!(anon.status(), 200);
    assert_eq!(
        s.client.get(sw.url("/c")).send().expect("anon").status(),
        401
    );
    sw.req("POST", "/c")
        .header("x-container-read", ".r:*,.rlistings")
        .send()
        .expect("acl");
    assert_eq!(
        s.client.get(sw.url("/c")).send().expect("anon").status(),
        200
    );
    assert_eq!(
        s.client
            .put(sw.url("/c/p"))
            .body("x")
            .send()
            .expect("anon")
            .status(),
        401
    );
    assert_eq!(other.put("/c/p", b"x").status(), 403);
    let r = sw
        .req("POST", "/c")
        .header("x-container-write", "*:*")
        .send()
        .expect("acl");
    assert_eq!(r.status(), 204);
    assert_eq!(other.put("/c/p", b"x").status(), 201);
    let r = sw
        .req("POST", "/c")
        .header("x-container-write", ".r:*")
        .send()
        .expect("acl");
    assert_eq!(r.status(), 400);
}

#[test]
fn ranges_conditions_copies_and_expiry() {
    let s = Server::start();
    let sw = Swift::demo(&s);
    sw.send("PUT", "/c");
    let r = sw.put("/c/o", b"0123456789");
    let etag = h(&r, "etag");
    let r = sw
        .req("GET", "/c/o")
        .header("range", "bytes=2-4")
        .send()
        .expect("get");
    assert_eq!(r.status(), 206);
    assert_eq!(h(&r, "content-range"), "bytes 2-4/10");
    assert_eq!(r.text().expect("body"), "234");
    let r = sw
        .req("GET", "/c/o")
        .header("range", "bytes=-3")
        .send()
        .expect("get");
    assert_eq!(r.text().expect("body"), "789");
    let r = sw
        .req("GET", "/c/o")
        .header("range", "bytes=0-1,8-")
        .send()
        .expect("get");
    assert_eq!(r.status(), 206);
    assert!(h(&r, "content-type").starts_with("multipart/byteranges"));
    let text = r.text().expect("body");
    assert!(
        text.contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 8-9/10\r\n\r\n89\r\n"),
        "{text}"
    );

    let r = sw
        .req("GET", "/c/o")
        .header("if-none-match", &etag)
        .send()
        .expect("get");
    assert_eq!(r.status(), 304);
    let r = sw
        .req("GET", "/c/o")
        .header("if-match", "\"nope\"")
        .send()
        .expect("get");
    assert_eq!(r.status(), 412);
    let lm = h(&sw.send("HEAD", "/c/o"), "last-modified");
    let r = sw
        .req("GET", "/c/o")
        .header("if-modified-since", &lm)
        .send()
        .expect("get");
    assert_eq!(r.status(), 304);
    let r = sw
        .req("PUT", "/c/o")
        .header("if-none-match", "*")
        .body("x")
        .send()
        .expect("put");
    assert_eq!(r.status(), 412);

    // COPY and X-Copy-From carry the metadata.
    sw.req("POST", "/c/o")
        .header("x-object-meta-k", "v")
        .send()
        .expect("post");
    let r = sw
        .req("COPY", "/c/o")
        .header("destination", "/c/o2")
        .send()
        .expect("copy");
    assert_eq!(r.status(), 201);
    assert_eq!(h(&r, "x-copied-from"), "c/o");
    let r = sw.send("GET", "/c/o2");
    assert_eq!(h(&r, "x-object-meta-k"), "v");
    assert_eq!(r.text().expect("body"), "0123456789");
    let r = sw
        .req("PUT", "/c/o3")
        .header("x-copy-from", "/c/o")
        .header("content-length", "0")
        .send()
        .expect("copy");
    assert_eq!(r.status(), 201);
    assert_eq!(sw.send("GET", "/c/o3").text().expect("body"), "0123456789");

    // Expiry: gone from GET and listings at once, then reaped.
    let r = sw
        .req("PUT", "/c/tmp")
        .header("x-delete-after", "1")
        .body("bye")
        .send()
        .expect("put");
    assert_eq!(r.status(), 201);
    assert!(!h(&sw.send("HEAD", "/c/tmp"), "x-delete-at").is_empty());
    let r = sw
        .req("PUT", "/c/bad")
        .header("x-delete-at", "12")
        .body("x")
        .send()
        .expect("put");
    assert_eq!(r.status(), 400);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(sw.send("GET", "/c/tmp").status(), 404);
    assert!(!sw.send("GET", "/c").text().expect("list").contains("tmp"));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(h(&sw.send("HEAD", "/c"), "x-container-object-count"), "3");
}

#[test]
fn large_objects_versions_quotas_tempurl_bulk() {
    let s = Server::start();
    let sw = Swift::demo(&s);
    sw.send("PUT", "/c");
    sw.send("PUT", "/segs");
    let e1 = h(&sw.put("/segs/1", b"aaa"), "etag");
    let e2 = h(&sw.put("/segs/2", b"bbbb"), "etag");
    // Static large object.
    let manifest = format!(
        r#"[{{"path": "/segs/1", "etag": "{e1}", "size_bytes": 3}}, {{"path": "/segs/2", "etag": null, "size_bytes": null}}]"#
    );
    let r = sw
        .req("PUT", "/c/slo?multipart-manifest=put")
        .body(manifest)
        .send()
        .expect("slo");
    assert_eq!(r.status(), 201);
    let r = sw.send("GET", "/c/slo");
    assert_eq!(h(&r, "x-static-large-object"), "True");
    let want = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(format!("{e1}{e2}")))
    );
    assert_eq!(h(&r, "etag"), want);
    assert_eq!(r.text().expect("body"), "aaabbbb");
    let r = sw
        .req("GET", "/c/slo")
        .header("range", "bytes=2-4")
        .send()
        .expect("get");
    assert_eq!(r.text().expect("body"), "abb");
    let m: Value = sw
        .send("GET", "/c/slo?multipart-manifest=get")
        .json()
        .expect("manifest");
    assert_eq!(m[1]["name"], "/segs/2");
    let bad = r#"[{"path": "/segs/1", "etag": "00000000000000000000000000000000"}]"#;
    assert_eq!(
        sw.req("PUT", "/c/bad?multipart-manifest=put")
            .body(bad)
            .send()
            .expect("slo")
            .status(),
        400
    );
    // Dynamic large object.
    let r = sw
        .req("PUT", "/c/dlo")
        .header("x-object-manifest", "segs/")
        .body("")
        .send()
        .expect("dlo");
    assert_eq!(r.status(), 201);
    assert_eq!(sw.send("GET", "/c/dlo").text().expect("body"), "aaabbbb");
    // Deleting the SLO with its segments.
    let r = sw.send("DELETE", "/c/slo?multipart-manifest=delete");
    assert_eq!(r.status(), 200);
    assert_eq!(sw.send("HEAD", "/segs/1").status(), 404);

    // Versioning (stack mode): an overwrite archives, a delete restores.
    sw.send("PUT", "/old");
    sw.req("PUT", "/v")
        .header("x-versions-location", "old")
        .send()
        .expect("put");
    sw.put("/v/o", b"one");
    sw.put("/v/o", b"two");
    assert_eq!(h(&sw.send("HEAD", "/old"), "x-container-object-count"), "1");
    assert_eq!(sw.send("DELETE", "/v/o").status(), 204);
    assert_eq!(sw.send("GET", "/v/o").text().expect("body"), "one");

    // Quotas.
    sw.req("PUT", "/q")
        .header("x-container-meta-quota-bytes", "5")
        .send()
        .expect("q");
    assert_eq!(sw.put("/q/a", b"12345").status(), 201);
    assert_eq!(sw.put("/q/b", b"1").status(), 413);

    // Temp URL with the account key, both digests.
    sw.req("POST", "")
        .header("x-account-meta-temp-url-key", "secret")
        .send()
        .expect("key");
    sw.put("/c/t.txt", b"temp");
    let exp = chrono::Utc::now().timestamp() + 60;
    let path = format!("/object-storage/v1/{}/c/t.txt", sw.account);
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"secret").expect("key");
    mac.update(format!("GET\n{exp}\n{path}").as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    let base = sw.url("/c/t.txt");
    let r = s
        .client
        .get(format!("{base}?temp_url_sig={sig}&temp_url_expires={exp}"))
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);
    assert!(h(&r, "content-disposition").contains("t.txt"));
    assert_eq!(r.text().expect("body"), "temp");
    let r = s
        .client
        .put(format!("{base}?temp_url_sig={sig}&temp_url_expires={exp}"))
        .body("x")
        .send()
        .expect("put");
    assert_eq!(r.status(), 401);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"secret").expect("key");
    mac.update(format!("GET\n{exp}\n/v1/{}/c/t.txt", sw.account).as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    let r = s
        .client
        .get(format!("{base}?temp_url_sig={sig}&temp_url_expires={exp}"))
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);

    // Bulk delete.
    sw.put("/c/x y", b"1");
    let r = sw
        .req("POST", "?bulk-delete")
        .header("accept", "application/json")
        .header("content-type", "text/plain")
        .body("/c/x%20y\n/c/nothing\n")
        .send()
        .expect("bulk");
    let v: Value = r.json().expect("json");
    assert_eq!(v["Number Deleted"], 1);
    assert_eq!(v["Number Not Found"], 1);
}

#[test]
fn objects_survive_kill9_and_orphans_are_swept() {
    let mut s = Server::start();
    let sw = Swift::demo(&s);
    sw.send("PUT", "/c");
    assert_eq!(sw.put("/c/keep", b"kept bytes").status(), 201);
    let token = sw.token.clone();
    let account = sw.account.clone();
    // A file no row names, as a crash between rename and commit leaves one.
    let orphan = s
        .state_dir()
        .join("objects/ab/ab0000000000000000000000000000ff");
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"torn").expect("orphan");
    s.kill9();
    s.launch();
    let sw = Swift {
        s: &s,
        token,
        account,
    };
    let r = sw.send("GET", "/c/keep");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().expect("body"), "kept bytes");
    assert_eq!(h(&sw.send("HEAD", "/c"), "x-container-bytes-used"), "10");
    assert!(!orphan.exists(), "the orphan file is swept at start");
}

/// Polls `path` until it answers `status` (container sync runs every 2 s and keeps
/// a few seconds behind the clock).
fn wait_status(sw: &Swift, path: &str, status: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let got = sw.send("HEAD", path).status().as_u16();
        if got == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "HEAD {path}: still {got}, waiting for {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn container_sync_passes_on_copies_and_deletes() {
    let s = Server::start();
    let sw = Swift::demo(&s);
    let to = format!("//realm1/name1/{}/dst", sw.account);
    let r = sw
        .req("PUT", "/src")
        .header("x-container-sync-to", &to)
        .header("x-container-sync-key", "k1")
        .send()
        .expect("put");
    assert_eq!(r.status(), 201);
    let r = sw
        .req("PUT", "/dst")
        .header("x-container-sync-key", "k1")
        .send()
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(sw.put("/src/kept", b"one").status(), 201);
    assert_eq!(sw.put("/src/gone", b"two").status(), 201);
    assert_eq!(sw.put("/dst/own", b"mine").status(), 201);
    wait_status(&sw, "/dst/kept", 200);
    wait_status(&sw, "/dst/gone", 200);

    // The delete in the source reaches the copy; the rest stays.
    assert_eq!(sw.send("DELETE", "/src/gone").status(), 204);
    wait_status(&sw, "/dst/gone", 404);
    assert_eq!(sw.send("GET", "/dst/kept").text().expect("body"), "one");
    assert_eq!(sw.send("GET", "/dst/own").text().expect("body"), "mine");

    // An object written again after its delete is copied again.
    assert_eq!(sw.put("/src/gone", b"three").status(), 201);
    wait_status(&sw, "/dst/gone", 200);
    assert_eq!(sw.send("GET", "/dst/gone").text().expect("body"), "three");
}
