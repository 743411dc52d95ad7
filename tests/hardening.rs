//! The front door under hostile input: a connection flood, keep-alive after an early
//! refusal, and a bad-input table over the routes of every service.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Issues a token and lists servers on fresh connections; returns the slower time.
fn token_and_servers(s: &Server) -> Duration {
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let started = Instant::now();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": s.password("admin")}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = client
        .post(format!("{}/identity/v3/auth/tokens", s.base))
        .json(&body)
        .send()
        .expect("token issue answered");
    assert_eq!(r.status(), 201, "token issue");
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    let issue = started.elapsed();
    let started = Instant::now();
    let r = client
        .get(format!("{}/compute/v2.1/servers", s.base))
        .header("X-Auth-Token", token)
        .send()
        .expect("server list answered");
    assert_eq!(r.status(), 200, "server list");
    issue.max(started.elapsed())
}

const FLOOD_TARGET: &str = "ONESTACK_FLOOD_TARGET";

/// One flood process (file descriptors are per process): opens
/// `ONESTACK_FLOOD_COUNT` connections to `ONESTACK_FLOOD_TARGET` from source
/// addresses 127.<net>.x.y, every other one sending half a request, prints
/// `opened N`, and holds them until its stdin closes.
#[test]
#[ignore = "a worker process of flood_of_idle_connections_keeps_the_api_answering"]
fn flood_worker() {
    let Ok(target) = std::env::var(FLOOD_TARGET) else {
        eprintln!("flood_worker runs only as a child of the flood test");
        return;
    };
    let count: usize = std::env::var("ONESTACK_FLOOD_COUNT")
        .expect("count")
        .parse()
        .expect("count");
    let net: u8 = std::env::var("ONESTACK_FLOOD_NET")
        .expect("net")
        .parse()
        .expect("net");
    let target: std::net::SocketAddr = target.parse().expect("target");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let held = rt.block_on(async move {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        futures_util::stream::iter(0..count)
            .map(|i| async move {
                let src = std::net::SocketAddr::from((
                    [127, net, (i / 250) as u8, (i % 250) as u8 + 1],
                    0,
                ));
                let sock = tokio::net::TcpSocket::new_v4().ok()?;
                sock.bind(src).ok()?;
                let connect = tokio::time::timeout(Duration::from_secs(10), sock.connect(target));
                let mut stream = connect.await.ok()?.ok()?;
                if i % 2 == 1 {
                    let half = b"GET /compute/v2.1/servers HTTP/1.1\r\nHost: x\r\nX-Auth-To";
                    stream.write_all(half).await.ok()?;
                }
                Some(stream)
            })
            .buffer_unordered(512)
            .filter_map(|s| async move { s })
            .collect::<Vec<_>>()
            .await
    });
    println!("opened {}", held.len());
    std::io::stdout().flush().expect("flush");
    let mut rest = String::new();
    let _eof = std::io::stdin().read_to_string(&mut rest);
    drop(held);
}

fn spawn_flood(target: &str, count: usize, net: u8) -> (Child, usize) {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["flood_worker", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(FLOOD_TARGET, target)
        .env("ONESTACK_FLOOD_COUNT", count.to_string())
        .env("ONESTACK_FLOOD_NET", net.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("flood worker");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let opened = lines
        .by_ref()
        .map_while(Result::ok)
        // libtest prints "test flood_worker ... " before the worker's own line.
        .find_map(|l| {
            l.rsplit_once("opened ")
                .map(|(_, n)| n.trim().parse().expect("n"))
        })
        .expect("worker reports its connections");
    (child, opened)
}

/// 20,000 idle and half-sent connections (two processes of 10,000, from 40 source
/// addresses): the API keeps answering, its connections and memory stay bounded,
/// and memory stays near the baseline after the flood.
#[test]
fn flood_of_idle_connections_keeps_the_api_answering() {
    let s = Server::start();
    let pid = s.child.as_ref().expect("child").id();
    let target = s.base.trim_start_matches("http://").to_owned();
    token_and_servers(&s);
    let baseline = rss(pid);
    let started = Instant::now();
    let (mut a, opened_a) = spawn_flood(&target, 10_000, 1);
    let (mut b, opened_b) = spawn_flood(&target, 10_000, 2);
    let flood_secs = started.elapsed().as_secs_f64();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(token_and_servers(&s));
    }
    let during = rss(pid);
    let files = open_files(pid);
    a.kill().expect("stop worker a");
    b.kill().expect("stop worker b");
    a.wait().expect("reap a");
    b.wait().expect("reap b");
    std::thread::sleep(Duration::from_secs(1));
    let after_latency = token_and_servers(&s);
    let after = rss(pid);
    println!(
        "flood: {opened_a}+{opened_b} connections in {flood_secs:.1} s; RSS baseline {} MB, \
         during {} MB, after {} MB; {files} open files; slowest token+list during {} ms, \
         after {} ms",
        baseline >> 20,
        during >> 20,
        after >> 20,
        slowest.as_millis(),
        after_latency.as_millis()
    );
    assert!(opened_a + opened_b > 1024, "the flood reached the server");
    // The default cap is 1,024 connections; the rest are the database, logs, keys.
    assert!(files < 1024 + 256, "{files} open files during the flood");
    assert!(
        during < baseline + (100 << 20),
        "RSS grew {} MB during the flood",
        (during - baseline) >> 20
    );
    assert!(
        after < baseline + (100 << 20),
        "RSS {} MB over the baseline after the flood",
        (after.saturating_sub(baseline)) >> 20
    );
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body).
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').expect("header line");
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().expect("length"))
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (status, headers, body)
}

fn says_close(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"))
}

/// A 100 KB body with a garbage token is refused at once; the next request on the
/// same connection succeeds, or the refusal said `Connection: close` and the server
/// then closes cleanly (the client reads the whole answer, no reset).
#[test]
fn keep_alive_after_an_early_refusal() {
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_owned();
    for (path, size, refused) in [
        ("/compute/v2.1/servers", 100 * 1024, 401),
        ("/networking/v2.0/networks", 100 * 1024, 401),
        ("/identity/v3/auth/tokens", 20 << 20, 413),
    ] {
        let stream = TcpStream::connect(&addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut w = stream.try_clone().expect("clone");
        let body = vec![b'a'; size];
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: garbage\r\n\
             Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        );
        let writer = std::thread::spawn(move || {
            // The server may stop reading early; it must still answer.
            w.write_all(head.as_bytes())
                .and_then(|()| w.write_all(&body))
                .is_ok()
        });
        let mut r = BufReader::new(stream);
        let (status, headers, body) = read_response(&mut r);
        assert_eq!(
            status,
            refused,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice::<Value>(&body).expect("a JSON fault");
        let sent = writer.join().expect("writer");
        if says_close(&headers) {
            let mut rest = Vec::new();
            let n = r
                .read_to_end(&mut rest)
                .expect("a clean close, not a reset");
            assert_eq!(n, 0, "nothing after the answer");
        } else {
            assert!(sent, "{path}: body sent on a connection kept open");
            let get = format!("GET /identity/v3 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            r.get_mut()
                .write_all(get.as_bytes())
                .expect("second request");
            let (status, _, _) = read_response(&mut r);
            assert_eq!(status, 200, "{path}: second request on the connection");
        }
    }
}

/// Which service a path belongs to, and whether `body` is its fault shape.
fn shaped(path: &str, status: u16, body: &Value) -> bool {
    let code = |v: &Value| v["code"].as_u64() == Some(u64::from(status));
    if path.starts_with("/compute") || path.starts_with("/volume") {
        body.as_object().is_some_and(|o| {
            o.len() == 1 && o.values().all(|f| code(f) && f["message"].is_string())
        })
    } else if path.starts_with("/networking") {
        body["NeutronError"]["type"].is_string() && body["NeutronError"]["message"].is_string()
    } else if path.starts_with("/image") {
        code(body) && body["message"].is_string()
    } else if path.starts_with("/placement") {
        body["errors"][0]["status"].as_u64() == Some(u64::from(status))
            && body["errors"][0]["detail"].is_string()
    } else {
        code(&body["error"]) && body["error"]["message"].is_string()
    }
}

/// The routes of every service: method, path (`{id}` is an object id), and the
/// key of the object its create/update body carries (empty: no JSON body).
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/identity/v3/projects", ""),
    ("POST", "/identity/v3/projects", "project"),
    ("GET", "/identity/v3/projects/{id}", ""),
    ("PATCH", "/identity/v3/projects/{id}", "project"),
    ("DELETE", "/identity/v3/projects/{id}", ""),
    ("GET", "/identity/v3/users", ""),
    ("POST", "/identity/v3/users", "user"),
    ("GET", "/identity/v3/users/{id}", ""),
    ("PATCH", "/identity/v3/users/{id}", "user"),
    ("POST", "/identity/v3/users/{id}/password", "user"),
    ("GET", "/identity/v3/users/{id}/groups", ""),
    ("GET", "/identity/v3/users/{id}/projects", ""),
    ("GET", "/identity/v3/groups", ""),
    ("POST", "/identity/v3/groups", "group"),
    ("GET", "/identity/v3/groups/{id}/users", ""),
    ("GET", "/identity/v3/domains", ""),
    ("POST", "/identity/v3/domains", "domain"),
    ("GET", "/identity/v3/roles", ""),
    ("POST", "/identity/v3/roles", "role"),
    ("GET", "/identity/v3/role_assignments", ""),
    ("GET", "/identity/v3/regions", ""),
    ("POST", "/identity/v3/regions", "region"),
    ("GET", "/identity/v3/services", ""),
    ("POST", "/identity/v3/services", "service"),
    ("GET", "/identity/v3/endpoints", ""),
    ("POST", "/identity/v3/endpoints", "endpoint"),
    ("GET", "/identity/v3/auth/projects", ""),
    ("GET", "/identity/v3/auth/catalog", ""),
    ("POST", "/identity/v3/auth/tokens", "auth"),
    ("GET", "/compute/v2.1/servers", ""),
    ("POST", "/compute/v2.1/servers", "server"),
    ("GET", "/compute/v2.1/servers/detail", ""),
    ("GET", "/compute/v2.1/servers/{id}", ""),
    ("PUT", "/compute/v2.1/servers/{id}", "server"),
    ("DELETE", "/compute/v2.1/servers/{id}", ""),
    ("POST", "/compute/v2.1/servers/{id}/action", "reboot"),
    ("GET", "/compute/v2.1/servers/{id}/ips", ""),
    ("GET", "/compute/v2.1/servers/{id}/os-instance-actions", ""),
    (
        "POST",
        "/compute/v2.1/servers/{id}/remote-consoles",
        "remote_console",
    ),
    ("GET", "/compute/v2.1/flavors", ""),
    ("GET", "/compute/v2.1/flavors/detail", ""),
    ("POST", "/compute/v2.1/flavors", "flavor"),
    ("GET", "/compute/v2.1/flavors/{id}", ""),
    (
        "POST",
        "/compute/v2.1/flavors/{id}/action",
        "addTenantAccess",
    ),
    ("GET", "/compute/v2.1/os-keypairs", ""),
    ("POST", "/compute/v2.1/os-keypairs", "keypair"),
    ("GET", "/compute/v2.1/os-keypairs/{id}", ""),
    ("GET", "/compute/v2.1/os-server-groups", ""),
    ("POST", "/compute/v2.1/os-server-groups", "server_group"),
    ("GET", "/compute/v2.1/limits", ""),
    ("GET", "/compute/v2.1/os-hypervisors/detail", ""),
    ("GET", "/compute/v2.1/os-services", ""),
    ("GET", "/compute/v2.1/os-quota-sets/{id}", ""),
    ("PUT", "/compute/v2.1/os-quota-sets/{id}", "quota_set"),
    ("GET", "/compute/v2.1/os-simple-tenant-usage", ""),
    ("GET", "/networking/v2.0/networks", ""),
    ("POST", "/networking/v2.0/networks", "network"),
    ("GET", "/networking/v2.0/networks/{id}", ""),
    ("PUT", "/networking/v2.0/networks/{id}", "network"),
    ("DELETE", "/networking/v2.0/networks/{id}", ""),
    ("GET", "/networking/v2.0/subnets", ""),
    ("POST", "/networking/v2.0/subnets", "subnet"),
    ("GET", "/networking/v2.0/ports", ""),
    ("POST", "/networking/v2.0/ports", "port"),
    ("PUT", "/networking/v2.0/ports/{id}", "port"),
    ("GET", "/networking/v2.0/routers", ""),
    ("POST", "/networking/v2.0/routers", "router"),
    (
        "PUT",
        "/networking/v2.0/routers/{id}/add_router_interface",
        "subnet_id",
    ),
    ("GET", "/networking/v2.0/floatingips", ""),
    ("POST", "/networking/v2.0/floatingips", "floatingip"),
    ("GET", "/networking/v2.0/security-groups", ""),
    ("POST", "/networking/v2.0/security-groups", "security_group"),
    (
        "POST",
        "/networking/v2.0/security-group-rules",
        "security_group_rule",
    ),
    ("GET", "/networking/v2.0/subnetpools", ""),
    ("GET", "/networking/v2.0/quotas/{id}", ""),
    ("PUT", "/networking/v2.0/quotas/{id}", "quota"),
    ("GET", "/networking/v2.0/extensions", ""),
    ("GET", "/image/v2/images", ""),
    ("POST", "/image/v2/images", "name"),
    ("GET", "/image/v2/images/{id}", ""),
    ("DELETE", "/image/v2/images/{id}", ""),
    ("GET", "/image/v2/images/{id}/members", ""),
    ("POST", "/image/v2/images/{id}/members", "member"),
    ("GET", "/image/v2/schemas/image", ""),
    ("GET", "/placement/resource_providers", ""),
    ("POST", "/placement/resource_providers", "name"),
    ("GET", "/placement/resource_providers/{id}", ""),
    (
        "PUT",
        "/placement/resource_providers/{id}/inventories",
        "inventories",
    ),
    ("GET", "/placement/resource_classes", ""),
    ("GET", "/placement/traits", ""),
    ("GET", "/placement/allocation_candidates", ""),
    ("PUT", "/placement/allocations/{id}", "allocations"),
    ("GET", "/placement/usages", ""),
];

/// Malformed JSON, wrong types, over-long strings, bad path parameters, bad limits
/// and markers, wrong Content-Type, 20 MB bodies, no or garbage token, on every
/// route: never a 5xx, and every error in the fault shape of the route's service.
#[test]
fn bad_input_gets_shaped_client_errors_on_every_route() {
    let s = Server::start();
    let admin = s.admin();
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let id = "4f6c8e4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
    let long = "n".repeat(100_000);
    let mut requests = 0usize;
    let mut errors = 0usize;
    let mut unshaped = Vec::new();
    let mut server_errors = Vec::new();
    let mut check = |what: &str, method: &str, path: &str, r: reqwest::blocking::Response| {
        requests += 1;
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        if status >= 500 {
            server_errors.push(format!("{what}: {method} {path} -> {status} {text}"));
        }
        if status >= 400 {
            errors += 1;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if !shaped(path, status, &body) {
                unshaped.push(format!("{what}: {method} {path} -> {status} {text}"));
            }
        }
    };
    let send =
        |method: &str, path: &str, token: Option<&str>, ct: Option<&str>, body: Option<Vec<u8>>| {
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            let mut rb = client.request(m, format!("{}{path}", s.base));
            if let Some(t) = token {
                rb = rb.header("X-Auth-Token", t);
            }
            if let Some(c) = ct {
                rb = rb.header("Content-Type", c);
            }
            if let Some(b) = body {
                rb = rb.body(b);
            }
            rb.send().expect("answered")
        };
    let json_ct = Some("application/json");
    for &(method, template, key) in ROUTES {
        let path = template.replace("{id}", id);
        let writes = !key.is_empty();
        let body_of = |v: Value| Some(serde_json::to_vec(&v).expect("json"));
        let good_shape = if writes {
            body_of(json!({key: {}}))
        } else {
            None
        };
        // Authentication.
        check(
            "no token",
            method,
            &path,
            send(method, &path, None, json_ct, good_shape.clone()),
        );
        check(
            "garbage token",
            method,
            &path,
            send(method, &path, Some("garbage"), json_ct, good_shape.clone()),
        );
        // Path parameters that name nothing or escape.
        if template.contains("{id}") {
            for bad in ["%FF", "..%2F..%2Fv3%2Fusers", "%00", "a%20b"] {
                let p = template.replace("{id}", bad);
                check(
                    "bad path parameter",
                    method,
                    &p,
                    send(method, &p, Some(&admin), json_ct, good_shape.clone()),
                );
            }
        }
        if method == "GET" && !template.contains("{id}") {
            for q in [
                "limit=abc",
                "limit=-1",
                "limit=18446744073709551616",
                "marker=nope",
                "sort_key=%FF&sort_dir=sideways",
            ] {
                let p = format!("{path}?{q}");
                check(
                    "bad query",
                    method,
                    &p,
                    send(method, &p, Some(&admin), None, None),
                );
            }
        }
        if !writes {
            continue;
        }
        for (what, ct, body) in [
            ("malformed JSON", json_ct, Some(b"{\"x\": ".to_vec())),
            ("not an object", json_ct, body_of(json!([1, 2]))),
            ("wrong type", json_ct, body_of(json!({key: 5}))),
            (
                "wrong field types",
                json_ct,
                body_of(json!({key: {"name": 5, "description": [], "enabled": "yes", "id": {}}})),
            ),
            (
                "over-long strings",
                json_ct,
                body_of(json!({key: {"name": long, "description": long}})),
            ),
            (
                "invalid UTF-8",
                json_ct,
                Some(b"{\"x\": \"\xff\xfe\"}".to_vec()),
            ),
            (
                "text/plain",
                Some("text/plain"),
                body_of(json!({key: {"name": "x"}})),
            ),
            (
                "form",
                Some("application/x-www-form-urlencoded"),
                Some(b"name=x".to_vec()),
            ),
            ("empty", json_ct, Some(Vec::new())),
        ] {
            check(
                what,
                method,
                &path,
                send(method, &path, Some(&admin), ct, body),
            );
        }
    }
    // 20 MB bodies (a few routes per service; each is refused before it is read).
    for path in [
        "/identity/v3/projects",
        "/compute/v2.1/servers",
        "/networking/v2.0/networks",
        "/image/v2/images",
        "/placement/resource_providers",
    ] {
        let big = vec![b' '; 20 << 20];
        check(
            "20 MB body",
            "POST",
            path,
            send("POST", path, Some(&admin), json_ct, Some(big)),
        );
    }
    // Unknown routes and methods under each prefix.
    for path in [
        "/identity/v3/nothing",
        "/compute/v2.1/nothing",
        "/networking/v2.0/nothing",
        "/image/v2/nothing",
        "/placement/nothing",
    ] {
        check(
            "unknown route",
            "GET",
            path,
            send("GET", path, Some(&admin), None, None),
        );
        check(
            "unknown route",
            "PATCH",
            path,
            send("PATCH", path, Some(&admin), None, None),
        );
    }
    let shaped_pct = 100.0 * (errors - unshaped.len()) as f64 / errors.max(1) as f64;
    println!(
        "bad input: {} routes, {requests} requests, {errors} errors, {shaped_pct:.1}% in the \
         service's fault shape, {} 5xx",
        ROUTES.len(),
        server_errors.len()
    );
    assert!(
        server_errors.is_empty(),
        "5xx answers:\n{}",
        server_errors.join("\n")
    );
    assert!(
        unshaped.is_empty(),
        "errors not in the service's shape:\n{}",
        unshaped.join("\n")
    );
}

/// The first start killed (SIGKILL) at several moments after it is ready: the
/// bootstrap image ends active on the next start, every time.
#[test]
fn bootstrap_image_import_survives_a_killed_first_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A stand-in bootstrap image: a raw disk of a few MB (any bytes are a raw disk).
    let image = dir.path().join("bootstrap.raw");
    let mut f = std::fs::File::create(&image).expect("image");
    let block = vec![0x5au8; 1 << 20];
    for _ in 0..16 {
        f.write_all(&block).expect("write image");
    }
    drop(f);
    let profile = common::test_profile()
        .replace(
            "bootstrap_image = \"/usr/local/share/onestack/test-image.qcow2\"",
            &format!("bootstrap_image = \"{}\"", image.display()),
        )
        .replace(
            "bootstrap_image_format = \"qcow2\"",
            "bootstrap_image_format = \"raw\"",
        );
    assert!(profile.contains(&image.display().to_string()));
    for delay_ms in [0u64, 50, 100, 150, 300] {
        let mut s = Server::start_with_profile(Some(&profile));
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.kill9();
        s.launch();
        let admin = s.admin();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = s
                .client
                .get(format!("{}/image/v2/images?name=cirros", s.base))
                .header("X-Auth-Token", &admin)
                .send()
                .expect("image list");
            let v: Value = r.json().expect("json");
            let images = v["images"].as_array().expect("images").clone();
            assert!(images.len() <= 1, "one bootstrap image: {v}");
            let status = images
                .first()
                .map(|i| i["status"].as_str().unwrap_or("").to_owned());
            if status.as_deref() == Some("active") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "killed {delay_ms} ms after ready: bootstrap image {status:?}\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s.kill9();
    }
}

/// The api-ref's limits: Neutron names and descriptions of 255 characters, a
/// Keystone region id of 255, a Keystone user description that is a string.
#[test]
fn api_ref_limits_are_enforced() {
    let s = Server::start();
    let admin = s.admin();
    let long = "n".repeat(256);
    let ok = "n".repeat(255);
    let post = |path: &str, body: Value| {
        s.client
            .post(format!("{}{path}", s.base))
            .header("X-Auth-Token", &admin)
            .json(&body)
            .send()
            .expect("answered")
    };
    for (path, key) in [
        ("/networking/v2.0/ports", "port"),
        ("/networking/v2.0/routers", "router"),
        ("/networking/v2.0/security-groups", "security_group"),
        ("/networking/v2.0/networks", "network"),
    ] {
        for field in ["name", "description"] {
            let r = post(path, json!({key: {field: long}}));
            assert_eq!(r.status(), 400, "{path} {field} of 256");
            let v: Value = r.json().expect("json");
            assert_eq!(v["NeutronError"]["type"], "BadRequest", "{v}");
        }
    }
    let r = post(
        "/networking/v2.0/security-groups",
        json!({"security_group": {"name": ok}}),
    );
    assert_eq!(r.status(), 201, "a name of 255 is fine");
    let r = post("/identity/v3/regions", json!({"region": {"id": long}}));
    assert_eq!(r.status(), 400, "region id of 256");
    let r = post("/identity/v3/regions", json!({"region": {"id": ok}}));
    assert_eq!(r.status(), 201, "region id of 255");
    let r = post(
        "/identity/v3/users",
        json!({"user": {"name": "typed", "description": 5}}),
    );
    assert_eq!(r.status(), 400, "a user description that is a number");
    let r = post(
        "/identity/v3/users",
        json!({"user": {"name": "typed", "description": "fine"}}),
    );
    assert_eq!(r.status(), 201, "a string description");
}

/// Sends raw bytes on a new connection and reads the one answer.
fn raw(addr: &str, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = stream.try_clone().expect("clone");
    // hyper may answer before reading all of an over-long request line.
    let request = request.to_vec();
    let writer = std::thread::spawn(move || w.write_all(&request).is_ok());
    let mut r = BufReader::new(stream);
    let answer = read_response(&mut r);
    drop(writer.join());
    answer
}

/// The rejections no route sees — a URI over the API's limit (8 KB) or over
/// hyper's (64 KB), a header field over 8 KB or a head over 64 KB, a request line
/// hyper cannot parse, an unknown route or method —
/// and version discovery with and without a trailing slash, under every prefix:
/// each answer in that service's fault shape with the real service's status.
#[test]
fn rejections_before_routing_have_each_services_shape() {
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let project = s
        .client
        .get(format!("{}/identity/v3/auth/tokens", s.base))
        .header("X-Auth-Token", s.admin())
        .header("X-Subject-Token", s.admin())
        .send()
        .expect("token")
        .json::<Value>()
        .expect("json")["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let prefixes = [
        "/identity/v3",
        "/compute/v2.1",
        "/networking/v2.0",
        "/image/v2",
        "/placement",
        &format!("/volume/v3/{project}"),
    ];
    let mut checked = 0;
    for prefix in prefixes {
        for (what, len, status) in [
            ("a URI over 8 KB", 10_000, 414),
            ("a URI over 64 KB", 70_000, 414),
        ] {
            let req = format!(
                "GET {prefix}/nothing?q={} HTTP/1.1\r\nHost: {addr}\r\n\r\n",
                "a".repeat(len)
            );
            let (got, headers, body) = raw(&addr, req.as_bytes());
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(got, status, "{prefix}: {what}");
            assert!(shaped(prefix, got, &v), "{prefix}: {what}: {v}");
            assert!(
                headers
                    .iter()
                    .any(|(k, v)| k == "content-type" && v == "application/json"),
                "{prefix}: {what}: {headers:?}"
            );
            checked += 1;
        }
        // Header fields: one over Apache's 8,190-byte field limit, one of 70 KB, and
        // ten fields under the field limit that make a 75 KB head.
        let many: String = (0..10)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "b".repeat(7_500)))
            .collect();
        for (what, fields) in [
            (
                "a 10 KB header",
                format!("X-Big: {}\r\n", "b".repeat(10_000)),
            ),
            (
                "a 70 KB header",
                format!("X-Big: {}\r\n", "b".repeat(70_000)),
            ),
            ("a 75 KB head", many.clone()),
        ] {
            let req = format!("GET {prefix}/nothing HTTP/1.1\r\nHost: {addr}\r\n{fields}\r\n");
            let (got, _, body) = raw(&addr, req.as_bytes());
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(got, 431, "{prefix}: {what}: {v}");
            assert!(shaped(prefix, got, &v), "{prefix}: {what}: {v}");
            checked += 1;
        }
        for method in ["GET", "PATCH"] {
            let r = s
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).expect("method"),
                    format!("{}{prefix}/nothing/at/all", s.base),
                )
                .header("X-Auth-Token", s.admin())
                .send()
                .expect("answered");
            let got = r.status().as_u16();
            let v: Value = r.json().unwrap_or(Value::Null);
            assert!(
                got == 404 || got == 405,
                "{prefix}: {method} unknown route {got}"
            );
            assert!(shaped(prefix, got, &v), "{prefix}: {method} unknown: {v}");
            checked += 1;
        }
    }
    // A request line hyper cannot parse names no service: Keystone's shape.
    let (got, _, body) = raw(&addr, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(got, 400);
    assert!(shaped("/", got, &v), "garbage request line: {v}");
    // Version discovery with and without the trailing slash.
    for root in [
        "/identity",
        "/compute",
        "/networking",
        "/image",
        "/placement",
        "/volume",
    ] {
        for path in [root.to_owned(), format!("{root}/")] {
            let r = s
                .client
                .get(format!("{}{path}", s.base))
                .send()
                .expect("answered");
            let got = r.status().as_u16();
            assert!(got == 200 || got == 300, "{path}: {got}");
            let v: Value = r.json().expect("a version document");
            assert!(
                v["versions"].is_object() || v["versions"].is_array(),
                "{path}: {v}"
            );
            checked += 1;
        }
    }
    println!("rejections before routing: {checked} answers checked");
}

/// A bad `limit` or `marker` is a 400 worded as the real service words it, through
/// the one pager (http::pagination); a limit too large for a machine word is no limit.
#[test]
fn bad_limits_and_markers_are_worded_as_each_service() {
    let s = Server::start();
    let admin = s.admin();
    let project = s
        .client
        .get(format!("{}/identity/v3/auth/tokens", s.base))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &admin)
        .send()
        .expect("token")
        .json::<Value>()
        .expect("json")["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let volumes = format!("/volume/v3/{project}/volumes");
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "/compute/v2.1/servers",
            "limit=abc",
            400,
            "Invalid input for query parameters limit",
        ),
        (
            "/compute/v2.1/servers",
            "limit=-1",
            400,
            "Invalid input for query parameters limit",
        ),
        (
            "/compute/v2.1/servers",
            "marker=nope",
            400,
            "marker [nope] not found",
        ),
        (
            "/compute/v2.1/servers",
            "limit=18446744073709551616",
            200,
            "",
        ),
        (
            "/compute/v2.1/flavors",
            "limit=abc",
            400,
            "Invalid input for query parameters limit",
        ),
        (
            "/networking/v2.0/networks",
            "limit=abc",
            400,
            "Limit must be an integer 0 or greater",
        ),
        (
            "/networking/v2.0/ports",
            "limit=-1",
            400,
            "Limit must be an integer 0 or greater",
        ),
        (
            "/networking/v2.0/networks",
            "marker=nope",
            400,
            "Marker 'nope' could not be found.",
        ),
        (
            "/networking/v2.0/networks",
            "limit=18446744073709551616",
            200,
            "",
        ),
        (&volumes, "limit=abc", 400, "limit param must be an integer"),
        (&volumes, "limit=-1", 400, "limit param must be positive"),
        (
            &volumes,
            "marker=nope",
            400,
            "Marker nope could not be found.",
        ),
    ];
    for &(path, q, status, want) in cases {
        let r = s
            .client
            .get(format!("{}{path}?{q}", s.base))
            .header("X-Auth-Token", &admin)
            .send()
            .expect("answered");
        let got = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        assert_eq!(got, status, "{path}?{q}: {text}");
        if status >= 400 {
            let v: Value = serde_json::from_str(&text).expect("json");
            assert!(shaped(path, got, &v), "{path}?{q}: {v}");
            assert!(text.contains(want), "{path}?{q}: {text}");
        }
    }
}
