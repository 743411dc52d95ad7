//! Keystone v3 over HTTP against the real binary: every route, good and bad input.

mod common;

use common::{Server, expect_error, json_of};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn version_discovery_matches_keystoneauth_expectations() {
    let s = Server::start();
    let r = s
        .client
        .get(format!("{}/identity", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 300);
    assert!(
        r.headers()["x-openstack-request-id"]
            .to_str()
            .expect("id")
            .starts_with("req-")
    );
    let v = json_of(r);
    let v3 = &v["versions"]["values"][0];
    assert_eq!(v3["status"], "stable");
    assert_eq!(v3["links"][0]["rel"], "self");
    assert_eq!(v3["links"][0]["href"], format!("{}/identity/v3/", s.base));
    assert_eq!(
        v3["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    let v = json_of(s.client.get(s.url("")).send().expect("get"));
    assert!(v["version"]["id"].as_str().expect("id").starts_with("v3."));
    let r = s
        .client
        .get(format!("{}/nowhere", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 404);
}

#[test]
fn password_auth_issues_project_domain_system_and_unscoped_tokens() {
    let s = Server::start();
    let pw = s.password("admin");
    let r = s.auth(
        "admin",
        &pw,
        Some(json!({"project": {"name": "admin", "domain": {"name": "Default"}}})),
    );
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    let v = json_of(r);
    let t = &v["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["user"]["domain"]["id"], "default");
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"member") && roles.contains(&"reader"),
        "implied roles: {roles:?}"
    );
    let exp = t["expires_at"].as_str().expect("expires_at");
    chrono::NaiveDateTime::parse_from_str(exp, "%Y-%m-%dT%H:%M:%S%.fZ")
        .expect("strict expires_at format");
    let ep = &t["catalog"][0]["endpoints"][0];
    assert_eq!(ep["region"], "RegionOne");
    let types: Vec<&str> = t["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for wanted in ["identity", "image", "network"] {
        assert!(types.contains(&wanted), "{wanted} in catalog: {types:?}");
    }

    let r = s.auth("admin", &pw, Some(json!({"domain": {"id": "default"}})));
    assert_eq!(r.status(), 401, "admin has no domain role by default");
    let r = s.auth("admin", &pw, Some(json!({"system": {"all": true}})));
    assert_eq!(r.status(), 201);
    assert_eq!(json_of(r)["token"]["system"]["all"], true);
    // Without a scope, Keystone scopes to the default project.
    let v = json_of(s.auth("admin", &pw, None));
    assert_eq!(v["token"]["project"]["name"], "admin");
    let v = json_of(s.auth("admin", &pw, Some(json!("unscoped"))));
    assert!(v["token"].get("project").is_none() && v["token"].get("catalog").is_none());

    // nocatalog, and rescoping with the token method keeps the expiry.
    let r = s.req(Method::POST, "/auth/tokens?nocatalog", None, Some(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})));
    assert_eq!(r.status(), 201);
    let v = json_of(r);
    assert!(v["token"].get("catalog").is_none());
    assert_eq!(v["token"]["project"]["name"], "demo");
    assert_eq!(v["token"]["expires_at"], t["expires_at"]);
    assert_eq!(v["token"]["audit_ids"].as_array().map(Vec::len), Some(2));
}

#[test]
fn bad_authentication_requests() {
    let s = Server::start();
    let pw = s.password("admin");
    let msg = expect_error(s.auth("admin", "wrong", None), 401);
    assert!(msg.contains("requires authentication"));
    let r = s.auth("admin", "wrong", None);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("hdr")
            .starts_with("Keystone uri=")
    );
    expect_error(s.auth("nobody", &pw, None), 401);
    expect_error(
        s.auth(
            "admin",
            &pw,
            Some(json!({"project": {"name": "nope", "domain": {"id": "default"}}})),
        ),
        401,
    );
    let r = s
        .client
        .post(s.url("/auth/tokens"))
        .header("content-type", "application/json")
        .body("{\"auth\": ")
        .send()
        .expect("post");
    assert!(expect_error(r, 400).contains("Malformed"));
    let r = s.req(
        Method::POST,
        "/auth/tokens",
        None,
        Some(json!({"auth": {"identity": {"methods": ["password"]}}})),
    );
    assert!(expect_error(r, 400).contains("password"));
    let r = s.req(
        Method::POST,
        "/auth/tokens",
        None,
        Some(json!({"nothing": 1})),
    );
    expect_error(r, 400);
    let r = s.req(
        Method::POST,
        "/auth/tokens",
        None,
        Some(json!({"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}})),
    );
    expect_error(r, 401);
}

#[test]
fn validate_check_and_revoke_tokens() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let check = |subject: &str, method: Method| {
        s.client
            .request(method, s.url("/auth/tokens"))
            .header("X-Auth-Token", &admin)
            .header("X-Subject-Token", subject)
            .send()
            .expect("req")
    };
    let r = check(&demo, Method::GET);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-subject-token"], demo.as_str());
    assert_eq!(json_of(r)["token"]["project"]["name"], "demo");
    assert_eq!(check(&demo, Method::HEAD).status(), 200);
    assert_eq!(check("gAAAAAbogus", Method::GET).status(), 404);
    // A member may revoke its own token, not somebody else's.
    let r = s
        .client
        .delete(s.url("/auth/tokens"))
        .header("X-Auth-Token", &demo)
        .header("X-Subject-Token", &admin)
        .send()
        .expect("del");
    assert_eq!(r.status(), 403);
    assert_eq!(check(&demo, Method::DELETE).status(), 204);
    expect_error(check(&demo, Method::GET), 404);
    expect_error(s.get("/auth/catalog", &demo), 401);
    let r = s
        .client
        .get(s.url("/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .send()
        .expect("get");
    expect_error(r, 400);
}

#[test]
fn auth_catalog_projects_domains_system() {
    let s = Server::start();
    let demo = s.demo();
    let v = json_of(s.get("/auth/catalog", &demo));
    assert!(
        v["catalog"]
            .as_array()
            .expect("catalog")
            .iter()
            .any(|e| e["type"] == "identity")
    );
    let v = json_of(s.get("/auth/projects", &demo));
    let names: Vec<&str> = v["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec!["demo"]);
    let v = json_of(s.get("/auth/system", &demo));
    assert_eq!(v["system"], json!([]));
    let v = json_of(s.get("/auth/system", &s.admin()));
    assert_eq!(v["system"], json!([{"all": true}]));
    let v = json_of(s.get("/auth/domains", &demo));
    assert_eq!(v["domains"], json!([]));
}

fn create(s: &Server, token: &str, path: &str, key: &str, body: Value) -> Value {
    let r = s.post(path, token, json!({key: body}));
    assert_eq!(r.status(), 201, "create {path}");
    json_of(r)[key].clone()
}

#[test]
fn projects_users_groups_domains_crud_with_filters_and_pages() {
    let s = Server::start();
    let a = s.admin();
    let p = create(
        &s,
        &a,
        "/projects",
        "project",
        json!({"name": "p1", "description": "first"}),
    );
    let pid = p["id"].as_str().expect("id").to_owned();
    assert_eq!(p["domain_id"], "default");
    assert!(
        p["links"]["self"]
            .as_str()
            .expect("link")
            .ends_with(&format!("/identity/v3/projects/{pid}"))
    );
    expect_error(
        s.post("/projects", &a, json!({"project": {"name": "p1"}})),
        409,
    );
    expect_error(
        s.post("/projects", &a, json!({"project": {"description": "x"}})),
        400,
    );
    expect_error(
        s.post("/projects", &a, json!({"project": {"name": ""}})),
        400,
    );
    let v = json_of(s.get("/projects?name=p1", &a));
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(1));
    let v = json_of(s.req(
        Method::PATCH,
        &format!("/projects/{pid}"),
        Some(&a),
        Some(json!({"project": {"description": "changed", "enabled": false}})),
    ));
    assert_eq!(v["project"]["description"], "changed");
    assert_eq!(
        json_of(s.get("/projects?enabled=false", &a))["projects"][0]["id"],
        pid.as_str()
    );
    // Pagination: limit + marker with a next link.
    for n in 2..=4 {
        create(
            &s,
            &a,
            "/projects",
            "project",
            json!({"name": format!("p{n}")}),
        );
    }
    let v = json_of(s.get("/projects?limit=2", &a));
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(2));
    let next = v["links"]["next"].as_str().expect("next link").to_owned();
    let r = s
        .client
        .get(&next)
        .header("X-Auth-Token", &a)
        .send()
        .expect("next");
    let v2 = json_of(r);
    assert_ne!(v2["projects"][0]["id"], v["projects"][0]["id"]);
    expect_error(s.get("/projects?marker=nope", &a), 400);

    let u = create(
        &s,
        &a,
        "/users",
        "user",
        json!({"name": "u1", "password": "pw-u1", "email": "u1@example.org", "default_project_id": pid}),
    );
    let uid = u["id"].as_str().expect("id").to_owned();
    assert_eq!(u["email"], "u1@example.org");
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    expect_error(s.post("/users", &a, json!({"user": {"name": "u1"}})), 409);
    expect_error(
        s.post(
            "/users",
            &a,
            json!({"user": {"name": "u2", "domain_id": "nope"}}),
        ),
        404,
    );
    let v = json_of(s.req(
        Method::PATCH,
        &format!("/users/{uid}"),
        Some(&a),
        Some(json!({"user": {"email": "new@example.org"}})),
    ));
    assert_eq!(v["user"]["email"], "new@example.org");
    assert_eq!(
        json_of(s.get("/users?name=u1", &a))["users"][0]["id"],
        uid.as_str()
    );

    let g = create(&s, &a, "/groups", "group", json!({"name": "g1"}));
    let gid = g["id"].as_str().expect("id").to_owned();
    assert_eq!(
        s.req(
            Method::PUT,
            &format!("/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .status(),
        204
    );
    assert_eq!(
        s.req(
            Method::HEAD,
            &format!("/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .status(),
        204
    );
    assert_eq!(
        json_of(s.get(&format!("/groups/{gid}/users"), &a))["users"][0]["id"],
        uid.as_str()
    );
    assert_eq!(
        json_of(s.get(&format!("/users/{uid}/groups"), &a))["groups"][0]["id"],
        gid.as_str()
    );
    assert_eq!(
        s.req(
            Method::DELETE,
            &format!("/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .status(),
        204
    );
    assert_eq!(
        s.req(
            Method::HEAD,
            &format!("/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .status(),
        404
    );

    let d = create(&s, &a, "/domains", "domain", json!({"name": "lab"}));
    let did = d["id"].as_str().expect("id").to_owned();
    create(
        &s,
        &a,
        "/projects",
        "project",
        json!({"name": "p1", "domain_id": did}),
    );
    expect_error(
        s.req(Method::DELETE, &format!("/domains/{did}"), Some(&a), None),
        403,
    );
    s.req(
        Method::PATCH,
        &format!("/domains/{did}"),
        Some(&a),
        Some(json!({"domain": {"enabled": false}})),
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/domains/{did}"), Some(&a), None)
            .status(),
        204
    );
    expect_error(s.get(&format!("/domains/{did}"), &a), 404);
    assert_eq!(
        json_of(s.get("/domains?name=Default", &a))["domains"][0]["id"],
        "default"
    );

    assert_eq!(
        s.req(Method::DELETE, &format!("/users/{uid}"), Some(&a), None)
            .status(),
        204
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/groups/{gid}"), Some(&a), None)
            .status(),
        204
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/projects/{pid}"), Some(&a), None)
            .status(),
        204
    );
    expect_error(s.get(&format!("/projects/{pid}"), &a), 404);
    expect_error(
        s.req(Method::DELETE, &format!("/users/{uid}"), Some(&a), None),
        404,
    );
}

#[test]
fn roles_implied_roles_grants_and_role_assignments() {
    let s = Server::start();
    let a = s.admin();
    let p = create(&s, &a, "/projects", "project", json!({"name": "proj"}));
    let pid = p["id"].as_str().expect("id").to_owned();
    let u = create(
        &s,
        &a,
        "/users",
        "user",
        json!({"name": "alice", "password": "alice-pw"}),
    );
    let uid = u["id"].as_str().expect("id").to_owned();
    let r1 = create(&s, &a, "/roles", "role", json!({"name": "operator"}));
    let rid = r1["id"].as_str().expect("id").to_owned();
    expect_error(
        s.post("/roles", &a, json!({"role": {"name": "Operator"}})),
        409,
    );
    let member = json_of(s.get("/roles?name=member", &a))["roles"][0]["id"]
        .as_str()
        .expect("member")
        .to_owned();
    // operator implies member (which implies reader).
    assert_eq!(
        s.req(
            Method::PUT,
            &format!("/roles/{rid}/implies/{member}"),
            Some(&a),
            None
        )
        .status(),
        201
    );
    expect_error(
        s.req(
            Method::PUT,
            &format!("/roles/{member}/implies/{rid}"),
            Some(&a),
            None,
        ),
        400,
    );
    let inf = json_of(s.get("/role_inferences", &a));
    assert!(inf["role_inferences"].as_array().expect("list").len() >= 3);
    // Keystone's InvalidImpliedRole (403): nothing implies admin, and a global role
    // does not imply a domain-specific one (the other way round is fine).
    let admin_role = json_of(s.get("/roles?name=admin", &a))["roles"][0]["id"]
        .as_str()
        .expect("admin")
        .to_owned();
    expect_error(
        s.req(
            Method::PUT,
            &format!("/roles/{rid}/implies/{admin_role}"),
            Some(&a),
            None,
        ),
        403,
    );
    let droles: Vec<String> = (0..2)
        .map(|i| {
            json_of(s.post(
                "/roles",
                &a,
                json!({"role": {"name": format!("dom-role-{i}"), "domain_id": "default"}}),
            ))["role"]["id"]
                .as_str()
                .expect("domain role")
                .to_owned()
        })
        .collect();
    let implies = |p: &str, i: &str| {
        s.req(
            Method::PUT,
            &format!("/roles/{p}/implies/{i}"),
            Some(&a),
            None,
        )
        .status()
    };
    assert_eq!(implies(&droles[0], &droles[1]), 201);
    assert_eq!(implies(&droles[0], &member), 201);
    expect_error(
        s.req(
            Method::PUT,
            &format!("/roles/{member}/implies/{}", droles[1]),
            Some(&a),
            None,
        ),
        403,
    );
    // A domain-specific role granted on a project is not effective itself; the
    // global roles it implies are.
    let dgrant = format!("/projects/{pid}/users/{uid}/roles/{}", droles[0]);
    assert_eq!(s.req(Method::PUT, &dgrant, Some(&a), None).status(), 204);
    let eff = json_of(s.get(
        &format!("/role_assignments?effective&user.id={uid}&scope.project.id={pid}"),
        &a,
    ));
    let ids: Vec<&str> = eff["role_assignments"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|x| x["role"]["id"].as_str())
        .collect();
    assert!(!ids.contains(&droles[0].as_str()), "{eff}");
    assert!(!ids.contains(&droles[1].as_str()), "{eff}");
    assert!(ids.contains(&member.as_str()), "{eff}");
    assert_eq!(s.req(Method::DELETE, &dgrant, Some(&a), None).status(), 204);

    let grant = format!("/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(s.req(Method::HEAD, &grant, Some(&a), None).status(), 404);
    assert_eq!(s.req(Method::PUT, &grant, Some(&a), None).status(), 204);
    assert_eq!(s.req(Method::HEAD, &grant, Some(&a), None).status(), 204);
    expect_error(
        s.req(
            Method::PUT,
            &format!("/projects/{pid}/users/{uid}/roles/nope"),
            Some(&a),
            None,
        ),
        404,
    );
    let v = json_of(s.get(&format!("/projects/{pid}/users/{uid}/roles"), &a));
    assert_eq!(v["roles"][0]["name"], "operator");

    let t = s.token("alice", "alice-pw", Some("proj"));
    let v = json_of(s.validate(&t, &t));
    let names: Vec<&str> = v["token"]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["member", "operator", "reader"]);

    let v = json_of(s.get(
        &format!("/role_assignments?user.id={uid}&include_names"),
        &a,
    ));
    let ra = &v["role_assignments"][0];
    assert_eq!(ra["role"]["name"], "operator");
    assert_eq!(ra["user"]["name"], "alice");
    assert_eq!(ra["scope"]["project"]["name"], "proj");
    let v = json_of(s.get(&format!("/role_assignments?user.id={uid}&effective"), &a));
    assert_eq!(
        v["role_assignments"].as_array().map(Vec::len),
        Some(3),
        "operator + implied member + reader: {v}"
    );

    // Group grants reach members in the effective report; domain-inherited grants reach projects.
    let g = create(&s, &a, "/groups", "group", json!({"name": "ops"}));
    let gid = g["id"].as_str().expect("id").to_owned();
    s.req(
        Method::PUT,
        &format!("/groups/{gid}/users/{uid}"),
        Some(&a),
        None,
    );
    let reader = json_of(s.get("/roles?name=reader", &a))["roles"][0]["id"]
        .as_str()
        .expect("reader")
        .to_owned();
    let inherit =
        format!("/OS-INHERIT/domains/default/groups/{gid}/roles/{reader}/inherited_to_projects");
    assert_eq!(s.req(Method::PUT, &inherit, Some(&a), None).status(), 204);
    let v = json_of(s.get(
        &format!("/role_assignments?user.id={uid}&effective&scope.project.id={pid}"),
        &a,
    ));
    assert!(
        v["role_assignments"]
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["links"]["membership"].is_string()),
        "{v}"
    );
    let v = json_of(s.get(&format!("/role_assignments?group.id={gid}"), &a));
    assert_eq!(
        v["role_assignments"][0]["scope"]["OS-INHERIT:inherited_to"],
        "projects"
    );

    // Unassigning takes effect on existing tokens at once.
    assert_eq!(s.req(Method::DELETE, &grant, Some(&a), None).status(), 204);
    let v = json_of(s.validate(&a, &t));
    let names: Vec<&str> = v["token"]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["reader"],
        "only the inherited group role is left"
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/roles/{rid}"), Some(&a), None)
            .status(),
        204
    );
}

#[test]
fn regions_services_endpoints_crud() {
    let s = Server::start();
    let a = s.admin();
    let r = create(
        &s,
        &a,
        "/regions",
        "region",
        json!({"id": "RegionTwo", "description": "second"}),
    );
    assert_eq!(r["id"], "RegionTwo");
    expect_error(
        s.post("/regions", &a, json!({"region": {"id": "RegionTwo"}})),
        409,
    );
    let svc = create(
        &s,
        &a,
        "/services",
        "service",
        json!({"type": "compute", "name": "nova"}),
    );
    let sid = svc["id"].as_str().expect("id").to_owned();
    expect_error(
        s.post("/services", &a, json!({"service": {"name": "typeless"}})),
        400,
    );
    let ep = create(
        &s,
        &a,
        "/endpoints",
        "endpoint",
        json!({"service_id": sid, "interface": "public", "region_id": "RegionTwo", "url": "http://example.test/compute/v2.1"}),
    );
    let eid = ep["id"].as_str().expect("id").to_owned();
    assert_eq!(ep["region"], "RegionTwo");
    expect_error(
        s.post(
            "/endpoints",
            &a,
            json!({"endpoint": {"service_id": sid, "interface": "sideways", "url": "http://x/"}}),
        ),
        400,
    );
    expect_error(
        s.post(
            "/endpoints",
            &a,
            json!({"endpoint": {"service_id": sid, "interface": "public", "url": "not a url"}}),
        ),
        400,
    );
    expect_error(
        s.post(
            "/endpoints",
            &a,
            json!({"endpoint": {"service_id": "nope", "interface": "public", "url": "http://x/"}}),
        ),
        404,
    );
    let v = json_of(s.get(&format!("/endpoints?service_id={sid}"), &a));
    assert_eq!(v["endpoints"].as_array().map(Vec::len), Some(1));
    let cat = json_of(s.get("/auth/catalog", &a));
    assert!(
        cat["catalog"]
            .as_array()
            .expect("catalog")
            .iter()
            .any(|e| e["type"] == "compute"),
        "new service shows in the catalog"
    );
    expect_error(
        s.req(Method::DELETE, "/regions/RegionTwo", Some(&a), None),
        409,
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/endpoints/{eid}"), Some(&a), None)
            .status(),
        204
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("/services/{sid}"), Some(&a), None)
            .status(),
        204
    );
    assert_eq!(
        s.req(Method::DELETE, "/regions/RegionTwo", Some(&a), None)
            .status(),
        204
    );
    let v = json_of(s.get("/regions", &s.demo()));
    assert_eq!(
        v["regions"][0]["id"], "RegionOne",
        "any user may read regions"
    );
}

#[test]
fn application_credentials_authenticate_and_die_with_deletion() {
    let s = Server::start();
    let demo = s.demo();
    let me = json_of(s.validate(&demo, &demo))["token"]["user"]["id"]
        .as_str()
        .expect("uid")
        .to_owned();
    let path = format!("/users/{me}/application_credentials");
    let r = s.post(
        &path,
        &demo,
        json!({"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}}),
    );
    assert_eq!(r.status(), 201);
    let ac = json_of(r)["application_credential"].clone();
    let (id, secret) = (
        ac["id"].as_str().expect("id").to_owned(),
        ac["secret"].as_str().expect("secret").to_owned(),
    );
    assert_eq!(ac["roles"][0]["name"], "reader");
    expect_error(
        s.post(
            &path,
            &demo,
            json!({"application_credential": {"name": "ci"}}),
        ),
        409,
    );
    expect_error(
        s.post(
            &path,
            &demo,
            json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}}),
        ),
        403,
    );
    let list = json_of(s.get(&path, &demo));
    assert!(list["application_credentials"][0].get("secret").is_none());

    let auth = |secret: &str| {
        s.req(Method::POST, "/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}})))
    };
    let r = auth(&secret);
    assert_eq!(r.status(), 201);
    let v = json_of(r);
    assert_eq!(v["token"]["project"]["name"], "demo");
    assert_eq!(
        v["token"]["roles"],
        json!([{"id": ac["roles"][0]["id"], "name": "reader"}])
    );
    assert_eq!(v["token"]["application_credential"]["restricted"], true);
    expect_error(auth("wrong-secret"), 401);
    let by_name = s.req(Method::POST, "/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "ci", "user": {"name": "demo", "domain": {"id": "default"}}, "secret": secret}}}})));
    assert_eq!(by_name.status(), 201);
    let ac_token = by_name.headers()["x-subject-token"]
        .to_str()
        .expect("t")
        .to_owned();
    // A restricted application credential cannot mint more of itself.
    expect_error(
        s.post(
            &path,
            &ac_token,
            json!({"application_credential": {"name": "child"}}),
        ),
        403,
    );
    assert_eq!(
        s.req(Method::DELETE, &format!("{path}/{id}"), Some(&demo), None)
            .status(),
        204
    );
    expect_error(auth(&secret), 401);
    expect_error(s.get("/auth/catalog", &ac_token), 401);
}

#[test]
fn password_change_revokes_old_tokens() {
    let s = Server::start();
    let a = s.admin();
    let u = create(
        &s,
        &a,
        "/users",
        "user",
        json!({"name": "bob", "password": "old-pw"}),
    );
    let uid = u["id"].as_str().expect("id").to_owned();
    let t = s.token("bob", "old-pw", None);
    let change = |tok: &str, orig: &str| {
        s.post(
            &format!("/users/{uid}/password"),
            tok,
            json!({"user": {"password": "new-pw", "original_password": orig}}),
        )
    };
    expect_error(change(&t, "not-it"), 401);
    assert_eq!(change(&t, "old-pw").status(), 204);
    expect_error(s.auth("bob", "old-pw", None), 401);
    assert_eq!(s.auth("bob", "new-pw", None).status(), 201);
    expect_error(s.get(&format!("/users/{uid}"), &t), 401);
}

#[test]
fn members_see_only_their_own_and_readers_only_read() {
    let s = Server::start();
    let a = s.admin();
    let demo = s.demo();
    let admin_project = json_of(s.get("/projects?name=admin", &a))["projects"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let demo_project = json_of(s.get("/projects?name=demo", &a))["projects"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    expect_error(s.get(&format!("/projects/{admin_project}"), &demo), 403);
    assert_eq!(
        s.get(&format!("/projects/{demo_project}"), &demo).status(),
        200
    );
    expect_error(
        s.post("/projects", &demo, json!({"project": {"name": "mine"}})),
        403,
    );
    expect_error(s.get("/users", &demo), 403);
    expect_error(
        s.get(
            &format!("/role_assignments?scope.project.id={admin_project}"),
            &demo,
        ),
        403,
    );
    assert_eq!(
        s.get(
            &format!("/role_assignments?scope.project.id={demo_project}"),
            &demo
        )
        .status(),
        200
    );
    let admin_user = json_of(s.get("/users?name=admin", &a))["users"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    expect_error(s.get(&format!("/users/{admin_user}"), &demo), 403);
    expect_error(
        s.get(
            &format!("/users/{admin_user}/application_credentials"),
            &demo,
        ),
        403,
    );
}

#[test]
fn expired_and_forged_tokens_are_refused() {
    use onestack::identity::token::{ScopePayload, TokenPayload, TokenProvider, new_audit_id};
    let s = Server::start();
    let a = s.admin();
    let me = json_of(s.validate(&a, &a))["token"]["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Sign a payload with the cloud's own keys, but an expiry in the past.
    let keys = TokenProvider::open(&s.state_dir().join("fernet-keys")).expect("keys");
    let now = chrono::Utc::now().timestamp_micros();
    let expired = keys
        .encode(&TokenPayload {
            user_id: me,
            methods: vec!["password".into()],
            scope: ScopePayload::System,
            issued_at: now - 7_200_000_000,
            expires_at: now - 3_600_000_000,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
            trust_id: None,
            oauth_access_token_id: None,
        })
        .expect("encode");
    expect_error(s.get("/auth/catalog", &expired), 401);
    expect_error(s.validate(&a, &expired), 404);
    // A token from another cloud's keys is not ours.
    let other = tempfile::tempdir().expect("tempdir");
    let foreign = TokenProvider::open(other.path()).expect("keys");
    let forged = foreign
        .encode(&TokenPayload {
            user_id: "someone".into(),
            methods: vec!["password".into()],
            scope: ScopePayload::Unscoped,
            issued_at: now,
            expires_at: now + 3_600_000_000,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
            trust_id: None,
            oauth_access_token_id: None,
        })
        .expect("encode");
    expect_error(s.get("/auth/catalog", &forged), 401);
    expect_error(s.validate(&a, &forged), 404);
}

/// Keystone's `identity:validate_token`/`check_token`: the token's own user, an
/// admin, a service or a system reader; another user gets 403.
#[test]
fn only_the_subject_an_admin_or_a_service_validates_a_token() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let validate = |caller: &str, subject: &str, method: Method| {
        s.client
            .request(method, s.url("/auth/tokens"))
            .header("X-Auth-Token", caller)
            .header("X-Subject-Token", subject)
            .send()
            .expect("req")
    };
    // Its own token: yes.
    assert_eq!(validate(&demo, &demo, Method::GET).status(), 200);
    assert_eq!(validate(&demo, &demo, Method::HEAD).status(), 200);
    // Somebody else's: no.
    expect_error(validate(&demo, &admin, Method::GET), 403);
    assert_eq!(validate(&demo, &admin, Method::HEAD).status(), 403);
    // An invalid subject is 404 for anyone (Keystone validates it before the policy).
    expect_error(validate(&demo, "gAAAAAbogus", Method::GET), 404);
    // An admin validates any token.
    assert_eq!(validate(&admin, &demo, Method::GET).status(), 200);
    expect_error(validate(&admin, "gAAAAAbogus", Method::GET), 404);
    // A user holding the service role validates other users' tokens.
    let pw = "svc-password-1";
    let user = json_of(s.post(
        "/users",
        &admin,
        json!({"user": {"name": "svc-validator", "password": pw, "domain_id": "default"}}),
    ));
    let uid = user["user"]["id"].as_str().expect("id").to_owned();
    let roles = json_of(s.get("/roles?name=service", &admin));
    let service_role = match roles["roles"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            json_of(s.post("/roles", &admin, json!({"role": {"name": "service"}})))["role"]["id"]
                .as_str()
                .expect("role id")
                .to_owned()
        }
    };
    let projects = json_of(s.get("/projects?name=service", &admin));
    let project = match projects["projects"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            json_of(s.post("/projects", &admin, json!({"project": {"name": "service"}})))["project"]
                ["id"]
                .as_str()
                .expect("project id")
                .to_owned()
        }
    };
    let r = s.req(
        Method::PUT,
        &format!("/projects/{project}/users/{uid}/roles/{service_role}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status(), 204);
    let r = s.req(
        Method::POST,
        "/auth/tokens",
        None,
        Some(json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": uid, "password": pw}}},
            "scope": {"project": {"id": project}}}})),
    );
    assert_eq!(r.status(), 201);
    let svc = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    assert_eq!(validate(&svc, &demo, Method::GET).status(), 200);
}

/// `PUT /v3/regions/{id}` creates a region with that id (409 the second time);
/// project and domain names are at most 64 characters (Keystone's schema).
#[test]
fn region_put_and_name_length_limits() {
    let s = Server::start();
    let admin = s.admin();
    let put = |body: Value| s.req(Method::PUT, "/regions/my-region", Some(&admin), Some(body));
    let r = put(json!({"region": {"description": "mine"}}));
    assert_eq!(r.status(), 201);
    let v = json_of(r);
    assert_eq!(v["region"]["id"], "my-region");
    assert_eq!(v["region"]["description"], "mine");
    expect_error(put(json!({"region": {}})), 409);
    let r = s.req(
        Method::PUT,
        "/regions/other",
        Some(&admin),
        Some(json!({"region": {"id": "not-other"}})),
    );
    expect_error(r, 400);
    let demo = s.demo();
    let r = s.req(
        Method::PUT,
        "/regions/by-demo",
        Some(&demo),
        Some(json!({"region": {}})),
    );
    expect_error(r, 403);
    assert_eq!(
        json_of(s.get("/regions/my-region", &admin))["region"]["id"],
        "my-region"
    );

    let long = "x".repeat(65);
    let r = s.post("/projects", &admin, json!({"project": {"name": long}}));
    expect_error(r, 400);
    let r = s.post("/domains", &admin, json!({"domain": {"name": long}}));
    expect_error(r, 400);
    let ok = "y".repeat(64);
    let r = s.post("/projects", &admin, json!({"project": {"name": ok}}));
    assert_eq!(r.status(), 201);

    // The version document also answers on `/identity/` (tempest's discovery URL).
    let r = s
        .client
        .get(format!("{}/identity/", s.base))
        .send()
        .expect("get");
    assert_eq!(r.status(), 300);
}

/// `/v3/credentials` (an EC2 credential's id is the SHA-256 of its access key; the
/// owner or an admin), `/users/{id}/credentials/OS-EC2`, `/v3/policies` (admin
/// writes), project tags, and an endpoint naming a new region creates it. All of it
/// survives a restart; the blob is not stored in clear.
#[test]
fn credentials_ec2_policies_tags_survive_a_restart() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let v = json_of(s.req(Method::GET, "/users?name=demo", Some(&admin), None));
    let demo_id = v["users"][0]["id"].as_str().expect("demo id").to_owned();
    let v = json_of(s.get("/projects?name=demo", &admin));
    let demo_project = v["projects"][0]["id"].as_str().expect("project").to_owned();

    // Generic credentials.
    let blob = r#"{"access": "AKIAEXAMPLE", "secret": "s3cr3t-value"}"#;
    let body = json!({"credential": {"user_id": demo_id, "project_id": demo_project,
                      "type": "ec2", "blob": blob}});
    let r = s.post("/credentials", &demo, body.clone());
    assert_eq!(r.status(), 201);
    let cred = json_of(r)["credential"].clone();
    use sha2::Digest;
    let want_id = hex::encode(sha2::Sha256::digest(b"AKIAEXAMPLE"));
    assert_eq!(cred["id"], want_id.as_str());
    assert_eq!(cred["blob"], blob);
    expect_error(s.post("/credentials", &demo, body), 409);
    // Another user's credential: a member may not create it.
    let r = s.post(
        "/credentials",
        &demo,
        json!({"credential": {"user_id": "someone-else", "type": "totp", "blob": "x"}}),
    );
    expect_error(r, 403);
    let r = s.post(
        "/credentials",
        &admin,
        json!({"credential": {"user_id": demo_id, "type": "ec2", "blob": "{}"}}),
    );
    expect_error(r, 400);
    let r = s.req(
        Method::PATCH,
        &format!("/credentials/{want_id}"),
        Some(&demo),
        Some(json!({"credential": {"blob": r#"{"access": "AKIANEW", "secret": "x"}"#}})),
    );
    assert_eq!(r.status(), 200);

    // EC2 credentials of the demo user.
    let r = s.post(
        &format!("/users/{demo_id}/credentials/OS-EC2"),
        &demo,
        json!({"tenant_id": demo_project}),
    );
    assert_eq!(r.status(), 201);
    let ec2 = json_of(r)["credential"].clone();
    let access = ec2["access"].as_str().expect("access").to_owned();
    assert_eq!(ec2["tenant_id"], demo_project.as_str());
    assert!(ec2["secret"].as_str().is_some_and(|x| x.len() >= 32));

    // Policies: admin writes, a member neither writes nor reads.
    let r = s.post(
        "/policies",
        &admin,
        json!({"policy": {"type": "application/json", "blob": "{\"rule\": \"\"}"}}),
    );
    assert_eq!(r.status(), 201);
    let policy = json_of(r)["policy"]["id"].as_str().expect("id").to_owned();
    expect_error(
        s.post(
            "/policies",
            &demo,
            json!({"policy": {"type": "t", "blob": "b"}}),
        ),
        403,
    );
    expect_error(s.get("/policies", &demo), 403);

    // Project tags.
    let tag_url = format!("/projects/{demo_project}/tags/blue");
    assert_eq!(
        s.req(Method::PUT, &tag_url, Some(&admin), None).status(),
        201
    );
    assert_eq!(s.get(&tag_url, &admin).status(), 204);
    let r = s.req(
        Method::PUT,
        &format!("/projects/{demo_project}/tags"),
        Some(&admin),
        Some(json!({"tags": ["blue", "green"]})),
    );
    assert_eq!(json_of(r)["tags"], json!(["blue", "green"]));
    let r = s.req(
        Method::PUT,
        &format!("/projects/{demo_project}/tags"),
        Some(&admin),
        Some(json!({"tags": ["a/b"]})),
    );
    expect_error(r, 400);
    expect_error(s.req(Method::PUT, &tag_url, Some(&demo), None), 403);

    // An endpoint naming an unknown region creates it (Keystone's behaviour).
    let svc = json_of(s.post(
        "/services",
        &admin,
        json!({"service": {"type": "t-svc", "name": "t"}}),
    ))["service"]["id"]
        .as_str()
        .expect("svc")
        .to_owned();
    let r = s.post(
        "/endpoints",
        &admin,
        json!({"endpoint": {"service_id": svc, "interface": "public",
               "url": "http://example.test/", "region": "brand-new"}}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(s.get("/regions/brand-new", &admin).status(), 200);

    // After a restart: all of it is still there, and the secret is not in clear in
    // the database.
    s.kill9();
    s.launch();
    let admin = s.admin();
    let demo = s.demo();
    let cred = json_of(s.get(&format!("/credentials/{want_id}"), &demo));
    assert!(
        cred["credential"]["blob"]
            .as_str()
            .is_some_and(|b| b.contains("AKIANEW"))
    );
    let r = s.get(
        &format!("/users/{demo_id}/credentials/OS-EC2/{access}"),
        &demo,
    );
    assert_eq!(json_of(r)["credential"]["secret"], ec2["secret"]);
    assert_eq!(s.get(&format!("/policies/{policy}"), &admin).status(), 200);
    assert_eq!(s.get(&tag_url, &admin).status(), 204);
    let secret = ec2["secret"].as_str().expect("secret").as_bytes();
    for file in ["state.db", "state.db-wal"] {
        let db = std::fs::read(s.state_dir().join(file)).unwrap_or_default();
        assert!(
            !db.windows(secret.len()).any(|w| w == secret),
            "an EC2 secret is stored in clear in {file}"
        );
    }
    // Deleting the EC2 credential: 404 afterwards.
    let r = s.req(
        Method::DELETE,
        &format!("/users/{demo_id}/credentials/OS-EC2/{access}"),
        Some(&demo),
        None,
    );
    assert_eq!(r.status(), 204);
    expect_error(
        s.get(
            &format!("/users/{demo_id}/credentials/OS-EC2/{access}"),
            &demo,
        ),
        404,
    );
}
