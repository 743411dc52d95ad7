//! Route-coverage authorization test: every route of every service, read from the
//! routers' source, must have a row in `tests/routes.txt` saying who may call it, and
//! every row is checked against a running cloud — anonymous callers get 401, project
//! members get 403 from admin routes, project readers get 403 when they create.
//! A new route without a row fails `every_route_has_a_row`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::Server;
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
        &["/object-storage/v1/{account}", "/object-storage"],
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
/// service's `api/` source: what its routers serve, below their mount point.
fn routes_in_source(files: &[(String, String)]) -> BTreeSet<Route> {
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]*)"\s*,"#).expect("regex");
    let method = regex::Regex::new(r"(?:^|[\s.(])(get|post|put|patch|delete|head)\(").expect("re");
    let mut out = BTreeSet::new();
    for (service, text) in files {
        for m in route.captures_iter(text) {
            let whole = m.get(0).expect("match");
            // The method router: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let rest = &text[whole.end()..];
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            for verb in method.captures_iter(&rest[..end]) {
                out.insert((service.clone(), verb[1].to_uppercase(), m[1].to_owned()));
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
    out
}

fn table() -> Vec<Row> {
    parse_table(include_str!("routes.txt"))
}

#[test]
fn every_route_has_a_row() {
    let source = routes_in_source(&api_sources());
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
    let source = routes_in_source(&[("network".into(), src.into())]);
    assert_eq!(source.len(), 4, "{source:?}");
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

/// A URL to call: a project id parameter names another project than the caller's
/// (the admin's), every other path parameter an id that names nothing.
fn concrete(url: &str, project: &str) -> String {
    let re = regex::Regex::new(r"\{[^}]*\}").expect("regex");
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
    let mut failures = Vec::new();
    let rows = table();
    for r in &rows {
        let anonymous = call(&r.method, &r.url, None, None);
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
