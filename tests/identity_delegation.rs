//! Keystone's delegation and catalog extensions over HTTP against the real binary:
//! trusts and trust-scoped tokens, access rules of application credentials (enforced
//! on other services' requests), endpoint groups filtering the catalog, domain
//! configuration and projects acting as domains; each kept across a kill -9.

mod common;

use common::{Server, expect_error, json_of};
use reqwest::Method;
use serde_json::{Value, json};

fn id_of(s: &Server, admin: &str, path: &str, key: &str) -> String {
    json_of(s.get(path, admin))[key][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} at {path}"))
        .to_owned()
}

fn subject(r: reqwest::blocking::Response) -> (String, Value) {
    assert_eq!(r.status(), 201, "token issue");
    let t = r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_owned();
    (t, json_of(r))
}

fn trust_auth(
    s: &Server,
    user: &str,
    password: &str,
    trust_id: &str,
) -> reqwest::blocking::Response {
    s.auth(
        user,
        password,
        Some(json!({"OS-TRUST:trust": {"id": trust_id}})),
    )
}

#[test]
fn trusts_delegate_roles_and_scope_tokens() {
    let mut s = Server::start();
    let admin = s.admin();
    let demo_pw = s.password("demo");
    let demo = s.demo();
    let demo_id = id_of(&s, &admin, "/users?name=demo", "users");
    let project = id_of(&s, &admin, "/projects?name=demo", "projects");
    let trustee = json_of(s.post(
        "/users",
        &admin,
        json!({"user": {"name": "trustee", "password": "trustee-pass-1"}}),
    ))["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = |impersonation: bool, extra: Value| {
        let mut t = json!({"trustor_user_id": demo_id, "trustee_user_id": trustee,
            "project_id": project, "impersonation": impersonation, "roles": [{"name": "member"}]});
        if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
            t.extend(e.clone());
        }
        json!({"trust": t})
    };
    // Bad input: a bad expiry is 400; someone else's trust, or a role the trustor
    // lacks, is 403.
    expect_error(
        s.post(
            "/OS-TRUST/trusts",
            &demo,
            body(true, json!({"expires_at": "bad.123Z"})),
        ),
        400,
    );
    expect_error(
        s.post("/OS-TRUST/trusts", &admin, body(true, json!({}))),
        403,
    );
    expect_error(
        s.post("/OS-TRUST/trusts", &demo, {
            let mut b = body(true, json!({}));
            b["trust"]["roles"] = json!([{"name": "admin"}]);
            b
        }),
        403,
    );
    let r = s.post(
        "/OS-TRUST/trusts",
        &demo,
        body(true, json!({"remaining_uses": 1})),
    );
    assert_eq!(r.status(), 201);
    let trust = json_of(r)["trust"].clone();
    let tid = trust["id"].as_str().expect("id").to_owned();
    assert_eq!(trust["roles"][0]["name"], "member");
    assert_eq!(trust["remaining_uses"], 1);
    assert!(
        trust["links"]["self"]
            .as_str()
            .expect("link")
            .ends_with(&format!("/v3/OS-TRUST/trusts/{tid}"))
    );
    // The trustee sees it; others do not; listing all is for administrators.
    let trustee_tok = s.token("trustee", "trustee-pass-1", None);
    assert_eq!(
        s.get(&format!("/OS-TRUST/trusts/{tid}"), &trustee_tok)
            .status(),
        200
    );
    let list = json_of(s.get(
        &format!("/OS-TRUST/trusts?trustee_user_id={trustee}"),
        &trustee_tok,
    ));
    assert_eq!(list["trusts"].as_array().map(Vec::len), Some(1));
    expect_error(s.get("/OS-TRUST/trusts", &demo), 403);
    assert_eq!(s.get("/OS-TRUST/trusts/", &admin).status(), 200);
    let member = id_of(&s, &admin, "/roles?name=member", "roles");
    let reader = id_of(&s, &admin, "/roles?name=reader", "roles");
    assert_eq!(
        s.get(&format!("/OS-TRUST/trusts/{tid}/roles/{member}"), &demo)
            .status(),
        200
    );
    expect_error(
        s.get(&format!("/OS-TRUST/trusts/{tid}/roles/{reader}"), &demo),
        404,
    );

    // The trust survives a crash.
    s.kill9();
    s.launch();

    // A trust-scoped token: the trustee acting as the trustor with the delegated
    // roles (and the ones they imply) only.
    let (tok, v) = subject(trust_auth(&s, "trustee", "trustee-pass-1", &tid));
    let t = &v["token"];
    assert_eq!(t["OS-TRUST:trust"]["id"], tid.as_str());
    assert_eq!(t["OS-TRUST:trust"]["impersonation"], true);
    assert_eq!(
        t["user"]["id"],
        demo_id.as_str(),
        "impersonation acts as the trustor"
    );
    assert_eq!(t["project"]["id"], project.as_str());
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        roles.contains(&"member") && !roles.contains(&"admin"),
        "{roles:?}"
    );
    // The one use is spent; the trustor cannot use it; the token cannot be rescoped.
    expect_error(trust_auth(&s, "trustee", "trustee-pass-1", &tid), 404);
    expect_error(trust_auth(&s, "demo", &demo_pw, &tid), 404);
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}},
        "scope": {"project": {"id": project}}}});
    expect_error(
        s.req(Method::POST, "/auth/tokens", None, Some(rescope)),
        403,
    );
    // Deleting the trust ends its tokens.
    assert_eq!(s.get("/auth/catalog", &tok).status(), 200);
    expect_error(
        s.req(
            Method::DELETE,
            &format!("/OS-TRUST/trusts/{tid}"),
            Some(&trustee_tok),
            None,
        ),
        403,
    );
    assert_eq!(
        s.req(
            Method::DELETE,
            &format!("/OS-TRUST/trusts/{tid}"),
            Some(&demo),
            None
        )
        .status(),
        204
    );
    expect_error(s.get("/auth/catalog", &tok), 401);
    expect_error(s.get(&format!("/OS-TRUST/trusts/{tid}"), &demo), 404);

    // Without impersonation the token is the trustee's.
    let r = s.post("/OS-TRUST/trusts", &demo, body(false, json!({})));
    let tid = json_of(r)["trust"]["id"].as_str().expect("id").to_owned();
    let (_, v) = subject(trust_auth(&s, "trustee", "trustee-pass-1", &tid));
    assert_eq!(v["token"]["user"]["id"], trustee.as_str());
    assert_eq!(
        v["token"]["OS-TRUST:trust"]["trustor_user"]["id"],
        demo_id.as_str()
    );
}

#[test]
fn access_rules_limit_what_an_application_credential_may_call() {
    let mut s = Server::start();
    let demo = s.demo();
    let admin = s.admin();
    let demo_id = id_of(&s, &admin, "/users?name=demo", "users");
    let rules = json!([{"service": "compute", "method": "GET", "path": "/v2.1/flavors"}]);
    let r = s.post(
        &format!("/users/{demo_id}/application_credentials"),
        &demo,
        json!({"application_credential": {"name": "ruled", "access_rules": rules}}),
    );
    assert_eq!(r.status(), 201);
    let ac = json_of(r)["application_credential"].clone();
    let rule = &ac["access_rules"][0];
    assert_eq!(rule["service"], "compute");
    assert_eq!(rule["path"], "/v2.1/flavors");
    let rule_id = rule["id"].as_str().expect("rule id").to_owned();
    // A second credential with the same rule shares it.
    let r = s.post(
        &format!("/users/{demo_id}/application_credentials"),
        &demo,
        json!({"application_credential": {"name": "ruled-2", "access_rules": rules}}),
    );
    assert_eq!(
        json_of(r)["application_credential"]["access_rules"][0]["id"],
        rule_id.as_str()
    );
    let bad = json!({"application_credential": {"name": "bad",
        "access_rules": [{"service": "compute", "method": "FETCH", "path": "/x"}]}});
    expect_error(
        s.post(
            &format!("/users/{demo_id}/application_credentials"),
            &demo,
            bad,
        ),
        400,
    );

    s.kill9();
    s.launch();

    let auth = json!({"auth": {"identity": {"methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": ac["secret"]}}}});
    let (tok, _) = subject(s.req(Method::POST, "/auth/tokens", None, Some(auth)));
    let call = |path: &str| {
        s.client
            .get(format!("{}{path}", s.base))
            .header("X-Auth-Token", &tok)
            .send()
            .expect("call")
            .status()
            .as_u16()
    };
    assert_eq!(call("/compute/v2.1/flavors"), 200, "the rule allows it");
    assert_eq!(call("/compute/v2.1/servers"), 401, "no rule for it");
    assert_eq!(
        call("/image/v2/images"),
        401,
        "no rule for the image service"
    );

    let list = json_of(s.get(&format!("/users/{demo_id}/access_rules"), &demo));
    assert_eq!(list["access_rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        s.get(&format!("/users/{demo_id}/access_rules/{rule_id}"), &demo)
            .status(),
        200
    );
    // In use: refused; once its credentials are gone it can be deleted.
    let del_rule = |tok: &str| {
        s.req(
            Method::DELETE,
            &format!("/users/{demo_id}/access_rules/{rule_id}"),
            Some(tok),
            None,
        )
    };
    expect_error(del_rule(&demo), 403);
    for a in json_of(s.get(&format!("/users/{demo_id}/application_credentials"), &demo))["application_credentials"]
        .as_array()
        .expect("list")
    {
        let id = a["id"].as_str().expect("id");
        let r = s.req(Method::DELETE, &format!("/users/{demo_id}/application_credentials/{id}"), Some(&demo), None);
        assert_eq!(r.status(), 204);
    }
    assert_eq!(del_rule(&demo).status(), 204);
    expect_error(
        s.get(&format!("/users/{demo_id}/access_rules/{rule_id}"), &demo),
        404,
    );
}

#[test]
fn endpoint_groups_filter_a_projects_catalog() {
    let mut s = Server::start();
    let admin = s.admin();
    let project = id_of(&s, &admin, "/projects?name=demo", "projects");
    let identity = id_of(&s, &admin, "/services?type=identity", "services");
    let r = s.post(
        "/OS-EP-FILTER/endpoint_groups",
        &admin,
        json!({"endpoint_group": {"name": "only-identity", "filters": {"service_id": identity}}}),
    );
    assert_eq!(r.status(), 201);
    let g = json_of(r)["endpoint_group"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bad = json!({"endpoint_group": {"name": "x", "filters": {"colour": "red"}}});
    expect_error(s.post("/OS-EP-FILTER/endpoint_groups", &admin, bad), 400);
    expect_error(s.get("/OS-EP-FILTER/endpoint_groups", &s.demo()), 403);
    let path = format!("/OS-EP-FILTER/endpoint_groups/{g}/projects/{project}");
    expect_error(s.get(&path, &admin), 404);
    assert_eq!(s.req(Method::PUT, &path, Some(&admin), None).status(), 204);

    s.kill9();
    s.launch();

    assert_eq!(s.get(&path, &admin).status(), 200);
    let catalog = json_of(s.get("/auth/catalog", &s.demo()))["catalog"].clone();
    let types: Vec<&str> = catalog
        .as_array()
        .expect("catalog")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(
        types,
        vec!["identity"],
        "the demo project sees its endpoint group only"
    );
    let admin_catalog = json_of(s.get("/auth/catalog", &admin))["catalog"].clone();
    assert!(
        admin_catalog.as_array().expect("catalog").len() > 1,
        "other projects are not filtered"
    );
    let eps = json_of(s.get(
        &format!("/OS-EP-FILTER/projects/{project}/endpoints"),
        &admin,
    ));
    assert!(
        eps["endpoints"]
            .as_array()
            .expect("eps")
            .iter()
            .all(|e| e["service_id"] == identity.as_str())
    );
    assert_eq!(
        s.req(Method::DELETE, &path, Some(&admin), None).status(),
        204
    );
    let catalog = json_of(s.get("/auth/catalog", &s.demo()))["catalog"].clone();
    assert!(catalog.as_array().expect("catalog").len() > 1);
    assert_eq!(
        s.req(
            Method::DELETE,
            &format!("/OS-EP-FILTER/endpoint_groups/{g}"),
            Some(&admin),
            None
        )
        .status(),
        204
    );
    expect_error(
        s.get(&format!("/OS-EP-FILTER/endpoint_groups/{g}"), &admin),
        404,
    );
}

#[test]
fn domain_configuration_and_projects_acting_as_domains() {
    let mut s = Server::start();
    let admin = s.admin();
    let r = s.post(
        "/projects",
        &admin,
        json!({"project": {"name": "dom-proj", "is_domain": true}}),
    );
    assert_eq!(r.status(), 201);
    let p = json_of(r)["project"].clone();
    assert_eq!(p["is_domain"], true);
    assert_eq!(p["domain_id"], Value::Null);
    let d = p["id"].as_str().expect("id").to_owned();
    assert_eq!(s.get(&format!("/domains/{d}"), &admin).status(), 200);
    let listed = json_of(s.get("/projects?is_domain=true", &admin));
    assert!(
        listed["projects"]
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x["id"] == d.as_str())
    );
    let listed = json_of(s.get("/projects", &admin));
    assert!(
        !listed["projects"]
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x["id"] == d.as_str())
    );

    let cfg = json!({"config": {"identity": {"driver": "ldap"},
        "ldap": {"url": "ldap://example.org", "password": "sekrit"}}});
    let put = |body: Value| {
        s.req(
            Method::PUT,
            &format!("/domains/{d}/config"),
            Some(&admin),
            Some(body),
        )
    };
    let r = put(cfg.clone());
    assert_eq!(r.status(), 201);
    let shown = json_of(r)["config"].clone();
    assert_eq!(shown["ldap"]["url"], "ldap://example.org");
    assert!(
        shown["ldap"].get("password").is_none(),
        "sensitive options are not shown"
    );
    assert_eq!(put(cfg).status(), 200, "replacing answers 200");
    expect_error(put(json!({"config": {"nova": {"x": 1}}})), 403);
    expect_error(
        s.req(
            Method::PUT,
            &format!("/domains/{d}/config"),
            Some(&s.demo()),
            Some(json!({"config": {"identity": {"driver": "sql"}}})),
        ),
        403,
    );

    s.kill9();
    s.launch();

    let opt = format!("/domains/{d}/config/identity/driver");
    assert_eq!(json_of(s.get(&opt, &admin))["config"]["driver"], "ldap");
    let r = s.req(
        Method::PATCH,
        &opt,
        Some(&admin),
        Some(json!({"config": {"driver": "sql"}})),
    );
    assert_eq!(json_of(r)["config"]["identity"]["driver"], "sql");
    assert_eq!(
        s.req(Method::DELETE, &opt, Some(&admin), None).status(),
        204
    );
    expect_error(s.get(&opt, &admin), 404);
    let defaults = json_of(s.get("/domains/config/default", &admin))["config"].clone();
    assert_eq!(defaults["identity"]["driver"], "sql");
    assert!(defaults["ldap"].get("url").is_some());
    assert_eq!(
        s.req(
            Method::DELETE,
            &format!("/domains/{d}/config"),
            Some(&admin),
            None
        )
        .status(),
        204
    );
    expect_error(s.get(&format!("/domains/{d}/config"), &admin), 404);

    // The project acting as a domain is disabled and deleted through the projects API.
    let r = s.req(
        Method::PATCH,
        &format!("/projects/{d}"),
        Some(&admin),
        Some(json!({"project": {"enabled": false}})),
    );
    assert_eq!(json_of(r)["project"]["enabled"], false);
    assert_eq!(
        s.req(
            Method::DELETE,
            &format!("/projects/{d}"),
            Some(&admin),
            None
        )
        .status(),
        204
    );
    expect_error(s.get(&format!("/domains/{d}"), &admin), 404);
}
