//! Route-coverage authorization test: every route of every service, read from the
//! routers' source, must have a row in `tests/routes.txt` saying who may call it, and
//! every row is checked against a running cloud — anonymous callers get 401, project
//! members get 403 from admin routes, project readers get 403 when they create.
//! A new route without a row fails `every_route_has_a_row`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use common::Server;
use regex::Regex;
use reqwest::Method;

/// Service directory -> the URL prefixes its routers are mounted under (longest first).
const PREFIXES: &[(&str, &[&str])] = &[
    ("identity", &["/identity"]),
    ("compute", &["/compute/v2.1", "/compute"]),
    ("image", &["/image"]),
    ("network", &["/networking"]),
    ("placement", &["/placement", ""]),
    ("volume", &["/volume/v3/{project_id}", "/volume/v3", ""]),
    (
        "object",
        &["/object-storage/v1/{account}", "/object-storage", "/s3"],
    ),
    (
        "orchestration",
        &["/orchestration/v1/{tenant_id}", "/orchestration", ""],
    ),
];

type Route = (String, String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    Public,
    Token,
    Admin,
    MemberWrite(String),
    /// S3: refuses an anonymous caller (403 `AccessDenied`, S3 has no 401) and a
    /// request signed with a project reader's EC2 credential when it writes.
    Signed,
}

#[derive(Debug, Clone)]
struct Row {
    service: String,
    method: String,
    url: String,
    access: Access,
}

fn parse_table(text: &str) -> Vec<Row> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let mut next = || parts.next().unwrap_or_else(|| panic!("short row: {l}"));
            let (service, method, url, access) = (next(), next(), next(), next());
            let access = match access {
                "public" => Access::Public,
                "token" => Access::Token,
                "admin" => Access::Admin,
                "signed" => Access::Signed,
                "member-write" => {
                    let body = l.split_once("member-write").map(|(_, b)| b.trim());
                    Access::MemberWrite(body.unwrap_or_default().to_owned())
                }
                other => panic!("unknown access {other} in: {l}"),
            };
            Row {
                service: service.into(),
                method: method.into(),
                url: url.into(),
                access,
            }
        })
        .collect()
}

/// `(service, METHOD, path)` for every `.route("path", get(..).post(..))` in a
/// service's `api/` source: what its routers serve, below their mount point. A
/// method router built by a function of the same sources (`fn x(..) ->
/// MethodRouter`) is read through that function. A `.route(` whose path is not a
/// literal, or whose methods cannot be read, is returned as unreadable: the table
/// cannot cover what the scan cannot see.
fn routes_in_source(files: &[(String, String)]) -> (BTreeSet<Route>, Vec<String>) {
    let builders = method_router_fns(files);
    let mut out = BTreeSet::new();
    let mut unreadable = Vec::new();
    for (service, text) in files {
        for at in text.match_indices(".route(").map(|(i, _)| i) {
            let here = &text[at..];
            let Some(m) = LITERAL_ROUTE.captures(here) else {
                let call = here.lines().next().unwrap_or_default();
                unreadable.push(format!(
                    "{service}: a .route( whose path is not a literal: {call}"
                ));
                continue;
            };
            // The method router: up to the parenthesis that closes `.route(`.
            let rest = &here[m.get(0).expect("match").end()..];
            let verbs = verbs_in(&rest[..closing(rest, '(', ')')], &builders, 3);
            if verbs.is_empty() {
                unreadable.push(format!(
                    "{service}: {} has no method the scan can read",
                    &m[1]
                ));
            }
            for verb in verbs {
                out.insert((service.clone(), verb, m[1].to_owned()));
            }
        }
    }
    (out, unreadable)
}

/// A `.route(` call whose path is a string literal, at the start of the text.
static LITERAL_ROUTE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\.route\(\s*"([^"]*)"\s*,"#).expect("regex"));
/// A method router's verb: `get(`, `.post(`, `axum::routing::delete(`.
static VERB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s.(:])(get|post|put|patch|delete|head)\(").expect("regex")
});
/// A function call, to read a builder function through.
static CALL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\w+)\(").expect("regex"));

/// Where the bracket (`open`, `close`) left open before `text` closes.
fn closing(text: &str, open: char, close: char) -> usize {
    let mut depth = 1;
    text.char_indices()
        .find(|&(_, c)| {
            if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
            }
            depth == 0
        })
        .map_or(text.len(), |(i, _)| i)
}

/// The bodies of the functions that build a method router, by name.
fn method_router_fns(files: &[(String, String)]) -> std::collections::HashMap<String, String> {
    let head = Regex::new(r"fn\s+(\w+)[^{;]*->\s*MethodRouter[^{;]*\{").expect("regex");
    let mut out = std::collections::HashMap::new();
    for (_, text) in files {
        for m in head.captures_iter(text) {
            let body = &text[m.get(0).expect("match").end()..];
            let end = closing(body, '{', '}');
            out.insert(m[1].to_owned(), body[..end].to_owned());
        }
    }
    out
}

/// The HTTP methods a method router expression serves: its `get(..)`, `.post(..)`
/// and the like, and those of the builder functions it calls (`depth` deep).
fn verbs_in(
    text: &str,
    builders: &std::collections::HashMap<String, String>,
    depth: usize,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = VERB
        .captures_iter(text)
        .map(|v| v[1].to_uppercase())
        .collect();
    if depth > 0 {
        for c in CALL.captures_iter(text) {
            if let Some(body) = builders.get(&c[1]) {
                out.extend(verbs_in(body, builders, depth - 1));
            }
        }
    }
    out
}

/// The source routes a table row stands for: its URL below each of the service's
/// mount points.
fn row_keys(row: &Row) -> Vec<Route> {
    let prefixes = PREFIXES
        .iter()
        .find(|(s, _)| *s == row.service)
        .map_or(&[][..], |(_, p)| *p);
    prefixes
        .iter()
        .filter_map(|p| row.url.strip_prefix(p))
        .map(|rest| if rest.is_empty() { "/" } else { rest })
        .map(|path| (row.service.clone(), row.method.clone(), path.to_owned()))
        .collect()
}

/// Source routes with no row, and rows that match no source route.
fn coverage(source: &BTreeSet<Route>, rows: &[Row]) -> (Vec<Route>, Vec<String>) {
    let covered: BTreeSet<Route> = rows.iter().flat_map(row_keys).collect();
    let missing = source.difference(&covered).cloned().collect();
    let stale = rows
        .iter()
        .filter(|r| !row_keys(r).iter().any(|k| source.contains(k)))
        .map(|r| format!("{} {} {}", r.service, r.method, r.url))
        .collect();
    (missing, stale)
}

fn api_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, service: &str, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, service, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((service.to_owned(), text));
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for (service, _) in PREFIXES {
        walk(&src.join(service).join("api"), service, &mut out);
    }
    // Object storage's second front-end, S3, mounted under `/s3`.
    walk(&src.join("object").join("s3"), "object", &mut out);
    out
}

fn table() -> Vec<Row> {
    parse_table(include_str!("routes.txt"))
}

#[test]
fn every_route_has_a_row() {
    let (source, unreadable) = routes_in_source(&api_sources());
    assert!(
        unreadable.is_empty(),
        "routes the scan cannot read: {unreadable:#?}"
    );
    let rows = table();
    println!(
        "{} routes in the routers, {} rows",
        source.len(),
        rows.len()
    );
    assert!(
        source.len() > 200,
        "too few routes found: the source scan is broken"
    );
    let (missing, stale) = coverage(&source, &rows);
    let missing: Vec<String> = missing
        .iter()
        .map(|(s, m, p)| format!("{s} {m} {p}"))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row in tests/routes.txt: {missing:#?}\nrows for no route: {stale:#?}"
    );
}

#[test]
fn a_new_route_without_a_row_is_caught() {
    let src = r#"
        Router::new()
            .route("/v2.0/things", get(list::<Thing>).post(create::<Thing>))
            .route(
                "/v2.0/things/{id}",
                get(show::<Thing>).delete(delete::<Thing>),
            )
    "#;
    let (source, unreadable) = routes_in_source(&[("network".into(), src.into())]);
    assert_eq!(source.len(), 4, "{source:?}");
    assert!(unreadable.is_empty(), "{unreadable:?}");
    let rows = parse_table(
        "network GET /networking/v2.0/things token\n\
         network POST /networking/v2.0/things member-write {\"thing\": {}}\n\
         network GET /networking/v2.0/things/{id} token\n\
         network PUT /networking/v2.0/gone admin\n",
    );
    assert_eq!(
        rows[1].access,
        Access::MemberWrite("{\"thing\": {}}".into())
    );
    let (missing, stale) = coverage(&source, &rows);
    assert_eq!(
        missing,
        vec![(
            "network".to_string(),
            "DELETE".to_string(),
            "/v2.0/things/{id}".to_string()
        )]
    );
    assert_eq!(stale, vec!["network PUT /networking/v2.0/gone".to_string()]);
}

#[test]
fn method_router_builders_are_read_and_built_paths_are_refused() {
    let src = r#"
        Router::new()
            .route("/v3/things/{id}/roles/{role_id}", grant_methods(k))
            .route(&format!("/v3/{seg}/roles"), get(list))
            .route("/v3/opaque", opaque_router())

        fn grant_methods(k: Kind) -> MethodRouter<Cloud> {
            ops(move |op: Op| move |s: State<Cloud>| handle(k, s, op))
        }

        fn ops<H, T>(on: impl Fn(Op) -> H) -> MethodRouter<Cloud>
        where
            H: Handler<T, Cloud>,
        {
            put(on(Op::Put)).head(on(Op::Check)).delete(on(Op::Delete))
        }
    "#;
    let (source, unreadable) = routes_in_source(&[("identity".into(), src.into())]);
    let verbs: Vec<&str> = source.iter().map(|(_, m, _)| m.as_str()).collect();
    assert_eq!(verbs, ["DELETE", "HEAD", "PUT"], "{source:?}");
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert!(unreadable[0].contains("not a literal"), "{unreadable:?}");
    assert!(unreadable[1].contains("/v3/opaque"), "{unreadable:?}");
}

/// A URL to call: a project id parameter names another project than the caller's
/// (the admin's), every other path parameter an id that names nothing.
fn concrete(url: &str, project: &str) -> String {
    let re = Regex::new(r"\{[^}]*\}").expect("regex");
    let url = url
        .replace("{project_id}", project)
        .replace("{tenant_id}", project);
    re.replace_all(&url, "00000000-0000-4000-8000-000000000000")
        .into_owned()
}

#[test]
fn every_route_enforces_its_access() {
    let s = Server::start();
    let admin = s.admin();
    let member = s.demo();
    let reader = reader_token(&s, &admin);
    let client = reqwest::blocking::Client::new();
    let base = s.url("").replace("/identity/v3", "");
    let other_project = project_id(&s, &admin, "admin");
    let call = |method: &str, url: &str, token: Option<&str>, body: Option<&str>| {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let version = if url.starts_with("/compute") {
            "compute 2.37"
        } else {
            "placement latest"
        };
        let mut req = client
            .request(m, format!("{base}{}", concrete(url, &other_project)))
            .header("OpenStack-API-Version", version)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        let body = body
            .map(str::to_owned)
            .or_else(|| matches!(method, "POST" | "PUT" | "PATCH").then(|| "{}".to_owned()));
        if let Some(b) = body {
            req = req.body(b);
        }
        req.send().expect("request").status().as_u16()
    };
    let reader_ec2 = reader_ec2(&s, &admin);
    let mut failures = Vec::new();
    let rows = table();
    for r in &rows {
        let anonymous = call(&r.method, &r.url, None, None);
        if r.access == Access::Signed {
            if anonymous != 403 {
                failures.push(format!(
                    "{} {}: anonymous got {anonymous}, not 403",
                    r.method, r.url
                ));
            }
            if r.method == "GET" && r.url == "/s3/" {
                // The reader's signature is good: its ListBuckets is answered, so
                // the 403s below are the policy's, not a signature refusal.
                let url = format!("{base}/s3/");
                let got = s3_signed(&client, "GET", &url, &reader_ec2);
                if got.0 != 200 {
                    failures.push(format!("GET /s3/: reader got {got:?}, not 200"));
                }
            }
            if !matches!(r.method.as_str(), "GET" | "HEAD") {
                let url = format!("{base}{}", concrete(&r.url, &other_project));
                let (got, _) = s3_signed(&client, &r.method, &url, &reader_ec2);
                if got != 403 {
                    failures.push(format!("{} {}: reader got {got}, not 403", r.method, r.url));
                }
            }
            continue;
        }
        match (&r.access, anonymous) {
            (Access::Public, 401) => {
                failures.push(format!("{} {}: public but 401", r.method, r.url))
            }
            (Access::Public, _) | (_, 401) => {}
            (_, got) => failures.push(format!("{} {}: anonymous got {got}", r.method, r.url)),
        }
        if r.access == Access::Admin {
            let got = call(&r.method, &r.url, Some(&member), None);
            if got != 403 {
                failures.push(format!("{} {}: member got {got}, not 403", r.method, r.url));
            }
        }
        if let Access::MemberWrite(body) = &r.access {
            let got = call(&r.method, &r.url, Some(&reader), Some(body));
            if got != 403 {
                failures.push(format!("{} {}: reader got {got}, not 403", r.method, r.url));
            }
        }
    }
    println!("{} routes checked", rows.len());
    assert!(failures.is_empty(), "{failures:#?}");
}

fn project_id(s: &Server, admin: &str, name: &str) -> String {
    common::json_of(s.get(&format!("/projects?name={name}"), admin))["projects"][0]["id"]
        .as_str()
        .expect("project id")
        .to_owned()
}

/// An EC2 credential (access, secret) of the reader user on the demo project.
fn reader_ec2(s: &Server, admin: &str) -> (String, String) {
    let user = common::json_of(s.get("/users?name=route-reader", admin))["users"][0]["id"]
        .as_str()
        .expect("reader user")
        .to_owned();
    let project = project_id(s, admin, "demo");
    let (access, secret) = (
        "route-reader-access".to_owned(),
        "route-reader-secret".to_owned(),
    );
    let blob = serde_json::json!({"access": access, "secret": secret}).to_string();
    let r = s.post(
        "/credentials",
        admin,
        serde_json::json!({"credential": {
            "type": "ec2", "user_id": user, "project_id": project, "blob": blob,
        }}),
    );
    assert_eq!(r.status(), 201, "reader EC2 credential");
    (access, secret)
}

/// Sends an empty S3 request signed with SigV4 (`UNSIGNED-PAYLOAD`); its status and
/// body.
fn s3_signed(
    client: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    (access, secret): &(String, String),
) -> (u16, String) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mac = |key: &[u8], msg: &str| -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
        m.update(msg.as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    let u = url::Url::parse(url).expect("url");
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().expect("host")),
        None => u.host_str().expect("host").to_owned(),
    };
    let now = chrono::Utc::now();
    let date = now.format("%Y%m%d").to_string();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let region = "RegionOne";
    let canonical = format!(
        "{method}\n{}\n\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD",
        u.path()
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = mac(format!("AWS4{secret}").as_bytes(), &date);
    for part in [region, "s3", "aws4_request"] {
        key = mac(&key, part);
    }
    let sig = hex::encode(mac(&key, &to_sign));
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"
    );
    let r = client
        .request(Method::from_bytes(method.as_bytes()).expect("method"), url)
        .header("x-amz-date", stamp)
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("authorization", auth)
        .send()
        .expect("S3 request");
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

/// A user holding only the reader role on the demo project.
fn reader_token(s: &Server, admin: &str) -> String {
    let user = common::json_of(s.post(
        "/users",
        admin,
        serde_json::json!({"user": {"name": "route-reader", "password": "reader-pass-1"}}),
    ))["user"]["id"]
        .as_str()
        .expect("user id")
        .to_owned();
    let role = common::json_of(s.get("/roles?name=reader", admin))["roles"][0]["id"]
        .as_str()
        .expect("reader role")
        .to_owned();
    let project = project_id(s, admin, "demo");
    let r = s.req(
        Method::PUT,
        &format!("/projects/{project}/users/{user}/roles/{role}"),
        Some(admin),
        None,
    );
    assert_eq!(r.status(), 204, "grant reader");
    s.token("route-reader", "reader-pass-1", Some("demo"))
}

/// Objects the admin project owns, one per kind a path parameter can name, keyed by
/// the URL segment before the parameter (`networks` for `/networks/{id}`).
struct Fixtures {
    ids: std::collections::HashMap<&'static str, String>,
    project: String,
}

impl Fixtures {
    /// The object a parameter after `segment` names: the admin project's object of
    /// that kind, the admin project itself for project parameters, else an id that
    /// names nothing (kinds without a fixture: servers, which would need a guest).
    fn fill(&self, url: &str) -> String {
        let nil = "00000000-0000-4000-8000-000000000000".to_owned();
        let mut out = Vec::new();
        let mut prev = "";
        let mut after_collection = false;
        for seg in url.split('/') {
            let filled = match seg {
                "{project_id}" | "{tenant_id}" | "{project}" => self.project.clone(),
                "{account}" => format!("AUTH_{}", self.project),
                "{collection}" => {
                    after_collection = true;
                    "networks".to_owned()
                }
                s if s.starts_with('{') => {
                    let kind = if after_collection {
                        after_collection = false;
                        "networks"
                    } else {
                        prev
                    };
                    // A second parameter (metadata key, tag, member) finds no
                    // fixture: it names something below an object already named.
                    match self.ids.get(kind) {
                        Some(id) => id.clone(),
                        _ if s == "{container}" => "rc-admin".to_owned(),
                        _ if s == "{*object}" => "rc-object".to_owned(),
                        _ => nil.clone(),
                    }
                }
                s => s.to_owned(),
            };
            out.push(filled);
            prev = seg;
        }
        out.join("/")
    }
}

/// Creates the admin project's objects the wrong-project requests aim at.
fn admin_fixtures(s: &Server, admin: &str, project: &str) -> Fixtures {
    let client = reqwest::blocking::Client::new();
    let base = s.url("").replace("/identity/v3", "");
    let post = |path: &str, body: serde_json::Value| -> serde_json::Value {
        let r = client
            .post(format!("{base}{path}"))
            .header("X-Auth-Token", admin)
            .header("OpenStack-API-Version", "compute 2.37")
            .json(&body)
            .send()
            .expect("fixture request");
        let status = r.status();
        let text = r.text().expect("body");
        assert!(status.is_success(), "fixture {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    };
    let id = |v: &serde_json::Value, key: &str| -> String {
        v[key]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {v}"))
            .to_owned()
    };
    let mut ids = std::collections::HashMap::new();
    let net = post(
        "/networking/v2.0/networks",
        serde_json::json!({"network": {"name": "rc-admin-net"}}),
    );
    let net = id(&net, "network");
    let subnet = post(
        "/networking/v2.0/subnets",
        serde_json::json!({"subnet": {"network_id": net, "cidr": "10.250.0.0/24", "ip_version": 4}}),
    );
    ids.insert("subnets", id(&subnet, "subnet"));
    let port = post(
        "/networking/v2.0/ports",
        serde_json::json!({"port": {"network_id": net}}),
    );
    ids.insert("ports", id(&port, "port"));
    let router = post(
        "/networking/v2.0/routers",
        serde_json::json!({"router": {"name": "rc-admin-router"}}),
    );
    ids.insert("routers", id(&router, "router"));
    let sg = post(
        "/networking/v2.0/security-groups",
        serde_json::json!({"security_group": {"name": "rc-admin-sg"}}),
    );
    let rule = sg["security_group"]["security_group_rules"][0]["id"]
        .as_str()
        .expect("a default rule")
        .to_owned();
    let sg = id(&sg, "security_group");
    let pool = post(
        "/networking/v2.0/subnetpools",
        serde_json::json!({"subnetpool": {"name": "rc-admin-pool", "prefixes": ["10.251.0.0/16"]}}),
    );
    ids.insert("subnetpools", id(&pool, "subnetpool"));
    let public = common::json_of(
        client
            .get(format!("{base}/networking/v2.0/networks?name=public"))
            .header("X-Auth-Token", admin)
            .send()
            .expect("public"),
    )["networks"][0]["id"]
        .as_str()
        .expect("the public network")
        .to_owned();
    let fip = post(
        "/networking/v2.0/floatingips",
        serde_json::json!({"floatingip": {"floating_network_id": public}}),
    );
    let fip = id(&fip, "floatingip");
    let vol = post(
        "/volume/v3/volumes",
        serde_json::json!({"volume": {"size": 1, "name": "rc-admin-vol"}}),
    );
    let vol = id(&vol, "volume");
    let image = post(
        "/image/v2/images",
        serde_json::json!({"name": "rc-admin-image", "visibility": "private"}),
    )["id"]
        .as_str()
        .expect("image id")
        .to_owned();
    post(
        "/image/v2/metadefs/namespaces",
        serde_json::json!({"namespace": "rc-admin-ns", "visibility": "private"}),
    );
    post(
        "/compute/v2.1/os-keypairs",
        serde_json::json!({"keypair": {"name": "rc-admin-key"}}),
    );
    let group = post(
        "/compute/v2.1/os-server-groups",
        serde_json::json!({"server_group": {"name": "rc-admin-group", "policies": ["affinity"]}}),
    );
    let flavor = post(
        "/compute/v2.1/flavors",
        serde_json::json!({"flavor": {"name": "rc-private", "ram": 64, "vcpus": 1, "disk": 0,
            "os-flavor-access:is_public": false}}),
    );
    ids.insert("flavors", id(&flavor, "flavor"));
    ids.insert("os-server-groups", id(&group, "server_group"));
    ids.insert("os-keypairs", "rc-admin-key".to_owned());
    ids.insert("namespaces", "rc-admin-ns".to_owned());
    ids.insert("images", image);
    for k in ["networks", "os-networks", "os-tenant-networks"] {
        ids.insert(k, net.clone());
    }
    for k in ["security-groups", "os-security-groups"] {
        ids.insert(k, sg.clone());
    }
    for k in ["security-group-rules", "os-security-group-rules"] {
        ids.insert(k, rule.clone());
    }
    for k in ["floatingips", "os-floating-ips"] {
        ids.insert(k, fip.clone());
    }
    ids.insert("volumes", vol);
    Fixtures {
        ids,
        project: project.to_owned(),
    }
}

/// What the real service answers a project member who names another project's
/// object, where it is not the default (404 for an object the caller cannot see,
/// 403 for a URL naming another project).
const WRONG_PROJECT: &[(&str, &str, u16, &str)] = &[
    (
        "POST",
        "/volume/v3/backups/{id}/action",
        403,
        "the backup actions (os-reset_status, os-force_delete) are admin-only in Cinder, checked before the lookup",
    ),
    (
        "GET",
        "/compute/v2.1/os-quota-sets/{tenant_id}/defaults",
        200,
        "os_compute_api:os-quota-sets:defaults is `@`: any caller reads the defaults",
    ),
    (
        "GET",
        "/networking/v2.0/quotas/{project_id}/default",
        200,
        "Neutron checks get_quota against the caller's own project for the defaults",
    ),
    (
        "PUT",
        "/volume/v3/types/{id}",
        403,
        "volume_extension:types_manage is admin-only, authorized before the lookup",
    ),
    (
        "POST",
        "/volume/v3/types/{id}/action",
        403,
        "volume_extension:volume_type_access:addProjectAccess: admin, before the lookup",
    ),
    (
        "POST",
        "/volume/v3/types/{id}/extra_specs",
        403,
        "volume_extension:types_extra_specs:create is admin-only, before the lookup",
    ),
    (
        "PUT",
        "/volume/v3/types/{id}/extra_specs/{key}",
        403,
        "volume_extension:types_extra_specs:update is admin-only, before the lookup",
    ),
];

/// A valid body for a write, so that the request reaches the lookup and the policy
/// (every real service validates the body first and answers 400 to `{}`), with its
/// content type.
fn wrong_project_body(method: &str, url: &str) -> (String, &'static str) {
    const JSON: &str = "application/json";
    let nil = "00000000-0000-4000-8000-000000000000";
    let last = url.rsplit('/').next().unwrap_or_default();
    let body = match (method, last) {
        ("PATCH", _) if url.starts_with("/image/") => {
            return (
                r#"[{"op": "replace", "path": "/name", "value": "x"}]"#.to_owned(),
                "application/openstack-images-v2.1-json-patch",
            );
        }
        ("PUT", "file" | "stage") => return ("data".to_owned(), "application/octet-stream"),
        (_, "action") if url.contains("/servers/") => r#"{"os-stop": null}"#.to_owned(),
        (_, "action") if url.contains("/volumes/") => {
            r#"{"os-extend": {"new_size": 2}}"#.to_owned()
        }
        (_, "action") if url.contains("/snapshots/") => r#"{"os-force_delete": {}}"#.to_owned(),
        (_, "action") if url.contains("/backups/") => r#"{"os-force_delete": {}}"#.to_owned(),
        (_, "restore") => r#"{"restore": {"name": "r"}}"#.to_owned(),
        (_, "accept") => r#"{"accept": {"auth_key": "0123456789abcdef"}}"#.to_owned(),
        (_, "action") if url.contains("/types/") => {
            format!(r#"{{"addProjectAccess": {{"project": "{nil}"}}}}"#)
        }
        (_, "metadata") => r#"{"metadata": {"k": "v"}}"#.to_owned(),
        ("PUT", _) if url.contains("/metadata/") => format!(r#"{{"meta": {{"{last}": "v"}}}}"#),
        ("PUT", _) if url.contains("/extra_specs/") => format!(r#"{{"{last}": "v"}}"#),
        (_, "extra_specs") => r#"{"extra_specs": {"k": "v"}}"#.to_owned(),
        (_, "tags") if url.contains("/metadefs/") => r#"{"tags": [{"name": "t"}]}"#.to_owned(),
        (_, "tags") => r#"{"tags": ["a"]}"#.to_owned(),
        ("PUT" | "POST", _) if url.contains("/metadefs/") && url.contains("/tags/") => {
            r#"{"name": "t2"}"#.to_owned()
        }
        (_, "os-interface") => r#"{"interfaceAttachment": {}}"#.to_owned(),
        (_, "remote-consoles") => {
            r#"{"remote_console": {"protocol": "serial", "type": "serial"}}"#.to_owned()
        }
        (_, "os-volume_attachments") => {
            format!(r#"{{"volumeAttachment": {{"volumeId": "{nil}"}}}}"#)
        }
        ("PUT", _) if url.contains("/os-volume_attachments/") => {
            format!(r#"{{"volumeAttachment": {{"volumeId": "{last}"}}}}"#)
        }
        (_, "add_router_interface" | "remove_router_interface") => {
            format!(r#"{{"subnet_id": "{nil}"}}"#)
        }
        (_, "add_prefixes" | "remove_prefixes") => r#"{"prefixes": ["10.252.0.0/24"]}"#.to_owned(),
        (_, "import") => r#"{"method": {"name": "glance-direct"}}"#.to_owned(),
        (_, "members") => format!(r#"{{"member": "{nil}"}}"#),
        ("PUT", _) if url.contains("/members/") => r#"{"status": "accepted"}"#.to_owned(),
        (_, "port_forwardings") => format!(
            r#"{{"port_forwarding": {{"protocol": "tcp", "internal_ip_address": "10.0.0.5",
                "internal_port": 22, "external_port": 2222, "internal_port_id": "{nil}"}}}}"#
        ),
        ("PUT", _) if url.contains("/port_forwardings/") => {
            r#"{"port_forwarding": {"external_port": 2223}}"#.to_owned()
        }
        ("PUT", _) if url.contains("/quotas/") => r#"{"quota": {"network": 5}}"#.to_owned(),
        ("PUT", _) if url.contains("/os-quota-sets/") => {
            r#"{"quota_set": {"volumes": 5}}"#.to_owned()
        }
        ("PUT", _) => {
            // `PUT /<collection>/{id}`: the collection's singular envelope.
            let segs: Vec<&str> = url.split('/').collect();
            let collection = segs
                .get(segs.len().saturating_sub(2))
                .copied()
                .unwrap_or("");
            let key = match collection {
                "floatingips" => return (r#"{"floatingip": {"port_id": null}}"#.into(), JSON),
                "security-groups" => "security_group",
                "subnetpools" => "subnetpool",
                "types" => "volume_type",
                c => c.trim_end_matches('s'),
            };
            format!(r#"{{"{key}": {{"name": "x"}}}}"#)
        }
        _ => "{}".to_owned(),
    };
    (body, JSON)
}

/// The real service's answer to a member of another project for `row`.
fn wrong_project_answer(row: &Row) -> u16 {
    if let Some((.., status, _)) = WRONG_PROJECT
        .iter()
        .find(|(m, u, ..)| *m == row.method && *u == row.url)
    {
        return *status;
    }
    let names_project = ["{project_id}", "{tenant_id}", "{project}", "{account}"]
        .iter()
        .any(|p| row.url.contains(p));
    if names_project { 403 } else { 404 }
}

/// A member of the demo project names the admin project's objects on every
/// project-scoped route (a path parameter, not public, not admin-only: those are
/// checked above) and gets the real service's 404 or 403, never the object.
#[test]
fn every_route_hides_another_projects_objects() {
    let s = Server::start();
    let admin = s.admin();
    let member = s.demo();
    let admin_project = project_id(&s, &admin, "admin");
    let fixtures = admin_fixtures(&s, &admin, &admin_project);
    let client = reqwest::blocking::Client::new();
    let base = s.url("").replace("/identity/v3", "");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut with_fixture = 0;
    for r in table().iter().filter(|r| {
        r.url.contains('{')
            && r.service != "identity"
            && matches!(r.access, Access::Token | Access::MemberWrite(_))
    }) {
        let url = fixtures.fill(&r.url);
        if !url.contains("00000000-0000-4000-8000-000000000000") {
            with_fixture += 1;
        }
        let body = match &r.access {
            Access::MemberWrite(b) => Some((b.clone(), "application/json")),
            _ => matches!(r.method.as_str(), "POST" | "PUT" | "PATCH")
                .then(|| wrong_project_body(&r.method, &url)),
        };
        let m = Method::from_bytes(r.method.as_bytes()).expect("method");
        let mut req = client
            .request(m, format!("{base}{url}"))
            .header("X-Auth-Token", &member)
            .header("OpenStack-API-Version", "compute 2.37");
        if let Some((b, content_type)) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let got = req.send().expect("request").status().as_u16();
        checked += 1;
        let want = wrong_project_answer(r);
        if got != want {
            failures.push(format!(
                "{} {} ({url}): got {got}, want {want}",
                r.method, r.url
            ));
        }
    }
    println!(
        "{checked} project-scoped routes checked from another project, {with_fixture} on a real object"
    );
    assert!(checked > 150, "too few project-scoped routes: {checked}");
    assert!(failures.is_empty(), "{failures:#?}");
}
