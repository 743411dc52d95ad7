//! Table test: every identity route unauthenticated (401) and as a member of another
//! project (403).

mod common;

use common::{Server, expect_error, json_of};
use reqwest::Method;
use serde_json::json;

fn id_of(s: &Server, token: &str, path: &str, key: &str) -> String {
    json_of(s.get(path, token))[key][0]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[test]
fn every_route_needs_a_token_and_the_right_role() {
    let s = Server::start();
    let a = s.admin();
    let demo = s.demo();
    let p = id_of(&s, &a, "/projects?name=admin", "projects");
    let u = id_of(&s, &a, "/users?name=admin", "users");
    let r = id_of(&s, &a, "/roles?name=admin", "roles");
    let r2 = id_of(&s, &a, "/roles?name=member", "roles");
    let svc = id_of(&s, &a, "/services", "services");
    let ep = id_of(&s, &a, "/endpoints", "endpoints");
    let g = json_of(s.post("/groups", &a, json!({"group": {"name": "admins"}})))["group"]["id"]
        .as_str()
        .expect("g")
        .to_owned();
    let ac = json_of(s.post(
        &format!("/users/{u}/application_credentials"),
        &a,
        json!({"application_credential": {"name": "mine"}}),
    ))["application_credential"]["id"]
        .as_str()
        .expect("ac")
        .to_owned();

    let get = Method::GET;
    let post = Method::POST;
    let patch = Method::PATCH;
    let put = Method::PUT;
    let del = Method::DELETE;
    let head = Method::HEAD;
    // Routes a member of the demo project must not use on admin's resources.
    let forbidden: Vec<(Method, String)> = vec![
        (get.clone(), "/domains".into()),
        (post.clone(), "/domains".into()),
        (patch.clone(), "/domains/default".into()),
        (del.clone(), "/domains/default".into()),
        (get.clone(), "/projects".into()),
        (post.clone(), "/projects".into()),
        (get.clone(), format!("/projects/{p}")),
        (patch.clone(), format!("/projects/{p}")),
        (del.clone(), format!("/projects/{p}")),
        (get.clone(), "/users".into()),
        (post.clone(), "/users".into()),
        (get.clone(), format!("/users/{u}")),
        (patch.clone(), format!("/users/{u}")),
        (del.clone(), format!("/users/{u}")),
        (post.clone(), format!("/users/{u}/password")),
        (get.clone(), format!("/users/{u}/groups")),
        (get.clone(), format!("/users/{u}/projects")),
        (get.clone(), format!("/users/{u}/application_credentials")),
        (post.clone(), format!("/users/{u}/application_credentials")),
        (
            get.clone(),
            format!("/users/{u}/application_credentials/{ac}"),
        ),
        (
            del.clone(),
            format!("/users/{u}/application_credentials/{ac}"),
        ),
        (get.clone(), "/groups".into()),
        (post.clone(), "/groups".into()),
        (get.clone(), format!("/groups/{g}")),
        (patch.clone(), format!("/groups/{g}")),
        (del.clone(), format!("/groups/{g}")),
        (get.clone(), format!("/groups/{g}/users")),
        (put.clone(), format!("/groups/{g}/users/{u}")),
        (head.clone(), format!("/groups/{g}/users/{u}")),
        (del.clone(), format!("/groups/{g}/users/{u}")),
        (get.clone(), "/roles".into()),
        (post.clone(), "/roles".into()),
        (get.clone(), format!("/roles/{r}")),
        (patch.clone(), format!("/roles/{r}")),
        (del.clone(), format!("/roles/{r}")),
        (get.clone(), format!("/roles/{r}/implies")),
        (put.clone(), format!("/roles/{r}/implies/{r2}")),
        (head.clone(), format!("/roles/{r}/implies/{r2}")),
        (del.clone(), format!("/roles/{r}/implies/{r2}")),
        (get.clone(), "/role_inferences".into()),
        (get.clone(), "/role_assignments".into()),
        (get.clone(), format!("/projects/{p}/users/{u}/roles")),
        (put.clone(), format!("/projects/{p}/users/{u}/roles/{r}")),
        (head.clone(), format!("/projects/{p}/users/{u}/roles/{r}")),
        (del.clone(), format!("/projects/{p}/users/{u}/roles/{r}")),
        (put.clone(), format!("/projects/{p}/groups/{g}/roles/{r}")),
        (put.clone(), format!("/domains/default/users/{u}/roles/{r}")),
        (
            put.clone(),
            format!("/domains/default/groups/{g}/roles/{r}"),
        ),
        (put.clone(), format!("/system/users/{u}/roles/{r}")),
        (get.clone(), format!("/system/users/{u}/roles")),
        (
            put.clone(),
            format!("/OS-INHERIT/domains/default/users/{u}/roles/{r}/inherited_to_projects"),
        ),
        (post.clone(), "/regions".into()),
        (patch.clone(), "/regions/RegionOne".into()),
        (del.clone(), "/regions/RegionOne".into()),
        (get.clone(), "/services".into()),
        (post.clone(), "/services".into()),
        (get.clone(), format!("/services/{svc}")),
        (patch.clone(), format!("/services/{svc}")),
        (del.clone(), format!("/services/{svc}")),
        (get.clone(), "/endpoints".into()),
        (post.clone(), "/endpoints".into()),
        (get.clone(), format!("/endpoints/{ep}")),
        (patch.clone(), format!("/endpoints/{ep}")),
        (del.clone(), format!("/endpoints/{ep}")),
    ];
    // Routes any authenticated caller may use, but not an anonymous one.
    let readable: Vec<(Method, String)> = vec![
        (get.clone(), "/auth/catalog".into()),
        (get.clone(), "/auth/projects".into()),
        (get.clone(), "/auth/domains".into()),
        (get.clone(), "/auth/system".into()),
        (get.clone(), "/regions".into()),
        (get.clone(), "/regions/RegionOne".into()),
        (get.clone(), "/domains/default".into()),
    ];
    let body = |m: &Method| (matches!(*m, Method::POST | Method::PATCH)).then(|| json!({}));
    for (m, path) in forbidden.iter().chain(readable.iter()) {
        let r = s.req(m.clone(), path, None, body(m));
        assert_eq!(r.status(), 401, "anonymous {m} {path}");
        assert!(r.headers().contains_key("www-authenticate"), "{m} {path}");
        let r = s.req(m.clone(), path, Some("not-a-token"), body(m));
        assert_eq!(r.status(), 401, "bad token {m} {path}");
    }
    for (m, path) in &forbidden {
        let r = s.req(m.clone(), path, Some(&demo), body(m));
        let status = r.status().as_u16();
        // A malformed body may be caught first (400) where the route parses one.
        assert!(
            status == 403 || (status == 400 && body(m).is_some()),
            "member {m} {path}: {status}"
        );
        if status == 403 && *m != Method::HEAD {
            expect_error(s.req(m.clone(), path, Some(&demo), body(m)), 403);
        }
    }
    for (m, path) in &readable {
        assert_eq!(
            s.req(m.clone(), path, Some(&demo), None).status(),
            200,
            "member {m} {path}"
        );
    }
    // Nothing changed: admin's project and user are still there.
    assert_eq!(s.get(&format!("/projects/{p}"), &a).status(), 200);
    assert_eq!(s.get(&format!("/users/{u}"), &a).status(), 200);
}

#[test]
fn member_bodies_that_parse_are_still_forbidden() {
    let s = Server::start();
    let demo = s.demo();
    for (path, body) in [
        ("/projects", json!({"project": {"name": "x"}})),
        ("/users", json!({"user": {"name": "x"}})),
        ("/groups", json!({"group": {"name": "x"}})),
        ("/roles", json!({"role": {"name": "x"}})),
        ("/domains", json!({"domain": {"name": "x"}})),
        ("/regions", json!({"region": {"id": "x"}})),
        ("/services", json!({"service": {"type": "x"}})),
    ] {
        expect_error(s.post(path, &demo, body), 403);
    }
}
