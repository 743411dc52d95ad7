//! Nova's serial console end to end: a real QEMU guest, a console URL from the
//! compute API, a WebSocket to the serial proxy, and a command typed into the
//! guest's shell on ttyS0; console tokens kept across kill -9 of onestack, stored
//! only as hashes, and dropped with their server.

mod common;

use std::time::{Duration, Instant};

use common::{Server, json_of};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn req(
    s: &Server,
    token: &str,
    mv: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut r = s
        .client
        .request(method, format!("{}{path}", s.base))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn nova_error(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status, "expected {status}");
    let v = json_of(r);
    let (_, inner) = v.as_object().and_then(|o| o.iter().next()).expect("fault");
    assert_eq!(inner["code"], status, "{v}");
    inner["message"].as_str().expect("message").to_owned()
}

fn wait_server(s: &Server, token: &str, id: &str, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let v = json_of(req(
            s,
            token,
            "2.79",
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            None,
        ));
        let srv = &v["server"];
        if srv["status"] == status && srv["OS-EXT-STS:task_state"].is_null() {
            return;
        }
        assert!(srv["status"] != "ERROR", "server went to ERROR: {srv}");
        assert!(
            Instant::now() < deadline,
            "never {status}: {srv}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn console_output(s: &Server, token: &str, id: &str) -> String {
    let r = req(
        s,
        token,
        "2.79",
        Method::POST,
        &format!("/compute/v2.1/servers/{id}/action"),
        Some(json!({"os-getConsoleOutput": {}})),
    );
    assert_eq!(r.status(), 200);
    json_of(r)["output"].as_str().unwrap_or_default().to_owned()
}

/// Boots a server from the bootstrap image and waits until its shell on ttyS0 is
/// ready; returns its id.
fn boot_guest(s: &Server, token: &str, name: &str) -> String {
    // The bootstrap image is imported in the background: wait until it is active.
    let deadline = Instant::now() + Duration::from_secs(60);
    let image_id = loop {
        let path = "/image/v2/images?name=cirros";
        let images = json_of(req(s, token, "2.79", Method::GET, path, None));
        let img = &images["images"][0];
        if img["status"] == "active" {
            break img["id"].as_str().expect("image").to_owned();
        }
        assert!(Instant::now() < deadline, "image never active: {images}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let r = req(
        s,
        token,
        "2.79",
        Method::POST,
        "/compute/v2.1/servers",
        Some(
            json!({"server": {"name": name, "imageRef": image_id, "flavorRef": "42", "networks": "none"}}),
        ),
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    wait_server(s, token, &id, "ACTIVE", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !console_output(s, token, &id).contains("onestack-guest ready") {
        assert!(Instant::now() < deadline, "guest never got ready");
        std::thread::sleep(Duration::from_millis(500));
    }
    id
}

/// Opens the console URL with Nova's `binary` subprotocol, types `line` and
/// returns everything the guest printed until `want` appeared (or the timeout).
async fn type_into_console(url: &str, line: &str, want: &str, within: Duration) -> String {
    let mut request = url.into_client_request().expect("ws request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "binary".parse().expect("header"));
    let (mut ws, resp) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connect");
    assert_eq!(resp.status().as_u16(), 101);
    assert_eq!(resp.headers()["sec-websocket-protocol"], "binary");
    ws.send(Message::Binary(line.as_bytes().to_vec().into()))
        .await
        .expect("send");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !String::from_utf8_lossy(&seen).contains(want) {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Binary(b)))) => seen.extend_from_slice(&b),
            Ok(Some(Ok(Message::Text(t)))) => panic!("proxy sent a text frame: {t}"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("websocket error: {e}"),
            Ok(None) => panic!("proxy closed; got {:?}", String::from_utf8_lossy(&seen)),
            Err(_) => break,
        }
    }
    let _ = ws.close(None).await;
    String::from_utf8_lossy(&seen).into_owned()
}

/// The status the proxy answers a would-be WebSocket client with, when it refuses.
async fn refused_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => panic!("{url} was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn serial_console_reaches_the_guest_shell() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let token = s.demo();
    let id = boot_guest(&s, &token, "serial");

    let consoles = format!("/compute/v2.1/servers/{id}/remote-consoles");
    let body = json!({"remote_console": {"protocol": "serial", "type": "serial"}});
    // Before 2.6 the resource does not exist; other protocols are unavailable.
    nova_error(
        req(
            &s,
            &token,
            "2.5",
            Method::POST,
            &consoles,
            Some(body.clone()),
        ),
        404,
    );
    let msg = nova_error(
        req(
            &s,
            &token,
            "2.6",
            Method::POST,
            &consoles,
            Some(json!({"remote_console": {"protocol": "vnc", "type": "novnc"}})),
        ),
        400,
    );
    assert!(msg.contains("Unavailable console type"), "{msg}");
    nova_error(
        req(
            &s,
            &token,
            "2.6",
            Method::POST,
            &consoles,
            Some(json!({"remote_console": {"protocol": "serial", "type": "novnc"}})),
        ),
        400,
    );
    nova_error(
        req(
            &s,
            &token,
            "2.6",
            Method::POST,
            &consoles,
            Some(json!({"remote_console": {"protocol": "telnet", "type": "serial"}})),
        ),
        400,
    );

    let r = req(
        &s,
        &token,
        "2.6",
        Method::POST,
        &consoles,
        Some(body.clone()),
    );
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    let rc = &v["remote_console"];
    assert_eq!(rc["protocol"], "serial");
    assert_eq!(rc["type"], "serial");
    let url = rc["url"].as_str().expect("url").to_owned();
    let ws_base = s.base.replacen("http://", "ws://", 1);
    assert!(
        url.starts_with(&format!("{ws_base}/compute/serial/?token=")),
        "{url}"
    );

    // The deprecated action hands out a different token for the same console.
    let r = req(
        &s,
        &token,
        "2.1",
        Method::POST,
        &format!("/compute/v2.1/servers/{id}/action"),
        Some(json!({"os-getSerialConsole": {"type": "serial"}})),
    );
    assert_eq!(r.status(), 200);
    let legacy = json_of(r);
    assert_eq!(legacy["console"]["type"], "serial");
    let legacy_url = legacy["console"]["url"].as_str().expect("url").to_owned();
    assert_ne!(legacy_url, url);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    let out = rt.block_on(type_into_console(
        &url,
        "\recho hi-$((6*7))\r",
        "hi-42",
        Duration::from_secs(30),
    ));
    assert!(out.contains("hi-42"), "the shell never answered: {out:?}");
    eprintln!(
        "figure: console command round trip in {:?}",
        started.elapsed()
    );
    // The same port still feeds os-getConsoleOutput.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !console_output(&s, &token, &id).contains("hi-42") {
        assert!(Instant::now() < deadline, "console.log lost the session");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The legacy URL works too, after the first client left.
    let out = rt.block_on(type_into_console(
        &legacy_url,
        "echo legacy-$((2+3))\r",
        "legacy-5",
        Duration::from_secs(30),
    ));
    assert!(out.contains("legacy-5"), "{out:?}");

    // Wrong and missing tokens are refused before any upgrade.
    let bad = format!("{ws_base}/compute/serial/?token=0123456789abcdef0123456789abcdef");
    assert_eq!(rt.block_on(refused_status(&bad)), 401);
    assert_eq!(
        rt.block_on(refused_status(&format!("{ws_base}/compute/serial/"))),
        401
    );
    let log = s.log();
    let secret = url.rsplit('=').next().expect("token");
    assert!(!log.contains(secret), "console token leaked into the log");

    // A server that is not running has no console.
    let r = req(
        &s,
        &token,
        "2.79",
        Method::POST,
        &format!("/compute/v2.1/servers/{id}/action"),
        Some(json!({"os-stop": null})),
    );
    assert_eq!(r.status(), 202);
    wait_server(&s, &token, &id, "SHUTOFF", Duration::from_secs(90));
    nova_error(
        req(&s, &token, "2.6", Method::POST, &consoles, Some(body)),
        409,
    );
}

/// Bytes of every file of the SQLite database (main file, WAL, shared memory).
fn database_bytes(s: &Server) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(s.state_dir())
        .expect("state dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("state.db"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("read database file"))
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Rows of `console_auth_tokens` for a server: (token_hash, console_type, ttl in s).
fn token_rows(s: &Server, server_id: &str) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open(s.state_dir().join("state.db")).expect("open db");
    c.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let mut st = c
        .prepare(
            "SELECT token_hash, console_type, expires_at - created_at
             FROM console_auth_tokens WHERE instance_uuid = ?1",
        )
        .expect("prepare");
    st.query_map([server_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn console_tokens_survive_kill_9_and_die_with_their_server() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let mut s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let token = s.demo();
    let id = boot_guest(&s, &token, "durable-console");
    let r = req(
        &s,
        &token,
        "2.6",
        Method::POST,
        &format!("/compute/v2.1/servers/{id}/remote-consoles"),
        Some(json!({"remote_console": {"protocol": "serial", "type": "serial"}})),
    );
    assert_eq!(r.status(), 200);
    let url = json_of(r)["remote_console"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let secret = url
        .rsplit_once("token=")
        .expect("token in url")
        .1
        .to_owned();

    // Stored as its SHA-256 with Nova's 600 s lifetime, never in clear: neither in
    // the database file nor in the WAL a kill -9 leaves unmerged.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    assert_eq!(
        token_rows(&s, &id),
        vec![(hash.clone(), "serial".to_owned(), 600)]
    );
    s.kill9();
    let files = database_bytes(&s);
    assert!(files.iter().any(|(n, _)| n == "state.db"), "no database");
    for (name, bytes) in &files {
        assert!(
            !contains(bytes, secret.as_bytes()),
            "console token in clear in {name}"
        );
    }

    // A token that expired while onestack was down is dropped at start.
    {
        let c = rusqlite::Connection::open(s.state_dir().join("state.db")).expect("open db");
        c.execute(
            "INSERT INTO console_auth_tokens
                 (token_hash, instance_uuid, console_type, access_path, expires_at, created_at)
             VALUES ('expired', ?1, 'serial', '/nonexistent', 1, 0)",
            [&id],
        )
        .expect("insert an expired token");
    }

    // After the restart (the guest's VMM is adopted) the same token opens the console.
    s.launch();
    wait_server(&s, &token, &id, "ACTIVE", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while token_rows(&s, &id).len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the expired token stayed: {:?}",
            token_rows(&s, &id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(token_rows(&s, &id), vec![(hash, "serial".to_owned(), 600)]);
    let ws_base = s.base.replacen("http://", "ws://", 1);
    let url = format!("{ws_base}/compute/serial/?token={secret}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let out = rt.block_on(type_into_console(
        &url,
        "\recho kept-$((40+2))\r",
        "kept-42",
        Duration::from_secs(30),
    ));
    assert!(out.contains("kept-42"), "the shell never answered: {out:?}");
    assert!(
        !s.log().contains(&secret),
        "console token leaked into the log"
    );

    // Deleting the server drops its tokens: the URL is refused before any upgrade.
    let r = req(
        &s,
        &token,
        "2.79",
        Method::DELETE,
        &format!("/compute/v2.1/servers/{id}"),
        None,
    );
    assert_eq!(r.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = format!("/compute/v2.1/servers/{id}");
        if req(&s, &token, "2.79", Method::GET, &path, None).status() == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "server never went away");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(rt.block_on(refused_status(&url)), 401);
    assert!(token_rows(&s, &id).is_empty(), "tokens outlived the server");
}
