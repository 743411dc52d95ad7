//! Nova's catalog resources over HTTP against the real binary (dataplane off):
//! flavors, keypairs, limits and quotas, server groups, availability zones,
//! services, hypervisors and usage, with microversion gates and policy.

mod common;

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const KEY: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx8nkQv/zgGgB4rMYmIf+6A4l6Rr+o/6lHBQdW5aYd44bd8JttDCE/F/pNRr0lRE+PiqSPO8nDPHw0010JeMH9gYgnnFlyY3/OcJ02RhIPyyxYpv9FhY+2YiUkpwFOcLImyrxEsYXpD/0d3ac30bNH6Sw9JD9UZHYcpSxsIbECHw== Generated-by-Nova";
const KEY_FP: &str = "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c";

fn call(
    s: &Server,
    m: Method,
    path: &str,
    token: Option<&str>,
    mv: &str,
    body: Option<Value>,
) -> Response {
    let mut r = s
        .client
        .request(m, format!("{}/compute/v2.1{path}", s.base))
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(t) = token {
        r = r.header("X-Auth-Token", t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn get(s: &Server, path: &str, token: &str, mv: &str) -> Value {
    let r = call(s, Method::GET, path, Some(token), mv, None);
    assert_eq!(r.status(), 200, "GET {path}");
    json_of(r)
}

/// Asserts a status and Nova's fault body, returning the message.
fn fault(r: Response, code: u16) -> String {
    let status = r.status().as_u16();
    let v = json_of(r);
    assert_eq!(status, code, "{v}");
    let key = match code {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        409 => "conflictingRequest",
        _ => "computeFault",
    };
    assert_eq!(v[key]["code"], code, "{v}");
    v[key]["message"].as_str().expect("message").to_owned()
}

fn project_of(s: &Server, token: &str) -> String {
    json_of(s.validate(token, token))["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned()
}

/// A second project with its own member user; returns (token, project id).
fn other_member(s: &Server, admin: &str) -> (String, String) {
    let p = json_of(s.post("/projects", admin, json!({"project": {"name": "other"}})));
    let pid = p["project"]["id"].as_str().expect("pid").to_owned();
    let u = json_of(s.post(
        "/users",
        admin,
        json!({"user": {"name": "other", "password": "secret-pw", "default_project_id": pid}}),
    ));
    let uid = u["user"]["id"].as_str().expect("uid").to_owned();
    let roles = json_of(s.get("/roles?name=member", admin));
    let rid = roles["roles"][0]["id"].as_str().expect("rid").to_owned();
    let r = s.req(
        Method::PUT,
        &format!("/projects/{pid}/users/{uid}/roles/{rid}"),
        Some(admin),
        None,
    );
    assert_eq!(r.status(), 204);
    (s.token("other", "secret-pw", Some("other")), pid)
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn flavors_devstack_defaults_views_and_gates() {
    let s = Server::start();
    let demo = s.demo();
    let v = get(&s, "/flavors/detail", &demo, "2.1");
    let all = names(&v, "flavors");
    for n in [
        "m1.tiny",
        "m1.small",
        "m1.medium",
        "m1.large",
        "m1.xlarge",
        "m1.nano",
        "m1.micro",
        "cirros256",
        "ds512M",
        "ds1G",
        "ds2G",
        "ds4G",
    ] {
        assert!(all.contains(&n.to_string()), "{n} in {all:?}");
    }
    let tiny = v["flavors"]
        .as_array()
        .expect("list")
        .iter()
        .find(|f| f["id"] == "1")
        .expect("m1.tiny")
        .clone();
    assert_eq!(tiny["name"], "m1.tiny");
    assert_eq!(tiny["ram"], 512);
    assert_eq!(tiny["disk"], 1);
    assert_eq!(tiny["vcpus"], 1);
    assert_eq!(tiny["swap"], "");
    assert_eq!(tiny["OS-FLV-EXT-DATA:ephemeral"], 0);
    assert_eq!(tiny["OS-FLV-DISABLED:disabled"], false);
    assert_eq!(tiny["os-flavor-access:is_public"], true);
    assert_eq!(tiny["rxtx_factor"], 1.0);
    assert!(tiny.get("extra_specs").is_none() && tiny.get("description").is_none());
    assert!(
        tiny["links"][0]["href"]
            .as_str()
            .expect("href")
            .ends_with("/compute/v2.1/flavors/1")
    );
    // Nova's default order is by flavorid as a string.
    let ids: Vec<&str> = v["flavors"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| f["id"].as_str().expect("id"))
        .collect();
    assert_eq!(&ids[..7], ["1", "2", "3", "4", "42", "5", "84"]);

    let v = get(&s, "/flavors/1", &demo, "2.61");
    assert_eq!(v["flavor"]["extra_specs"]["hw_rng:allowed"], "True");
    assert_eq!(v["flavor"]["description"], Value::Null);
    let v = get(&s, "/flavors/1", &demo, "2.60");
    assert!(v["flavor"].get("extra_specs").is_none());
    let v = get(&s, "/flavors", &demo, "latest");
    assert!(v["flavors"][0].get("ram").is_none());
    assert!(v["flavors"][0].get("description").is_some());
    // The SDK's name lookup first tries the name as an id.
    assert!(
        fault(
            call(
                &s,
                Method::GET,
                "/flavors/m1.tiny",
                Some(&demo),
                "2.1",
                None
            ),
            404
        )
        .contains("m1.tiny")
    );

    // Filters, paging and their errors.
    let v = get(&s, "/flavors/detail?minRam=4096&minDisk=40", &demo, "2.1");
    let mut big = names(&v, "flavors");
    big.sort();
    assert_eq!(big, ["m1.large", "m1.medium", "m1.xlarge"]);
    let v = get(&s, "/flavors?limit=2", &demo, "2.1");
    assert_eq!(v["flavors"].as_array().expect("page").len(), 2);
    let next = v["flavors_links"][0]["href"].as_str().expect("next link");
    assert!(
        next.contains("marker=2") && next.contains("limit=2"),
        "{next}"
    );
    let v = get(&s, "/flavors?limit=2&marker=2", &demo, "2.1");
    assert_eq!(v["flavors"][0]["id"], "3");
    let v = get(
        &s,
        "/flavors/detail?sort_key=memory_mb&sort_dir=desc&limit=1",
        &demo,
        "2.1",
    );
    assert_eq!(v["flavors"][0]["name"], "m1.xlarge");
    fault(
        call(
            &s,
            Method::GET,
            "/flavors?marker=nope",
            Some(&demo),
            "2.1",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/flavors?minRam=big",
            Some(&demo),
            "2.1",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/flavors?sort_key=bogus",
            Some(&demo),
            "2.1",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/flavors?limit=-1",
            Some(&demo),
            "2.1",
            None,
        ),
        400,
    );

    // Microversions: 2.105 is too new, garbage is 400, latest is 2.104.
    let r = call(&s, Method::GET, "/flavors", Some(&demo), "2.105", None);
    assert_eq!(r.status(), 406);
    let r = call(&s, Method::GET, "/flavors", Some(&demo), "latest", None);
    assert_eq!(r.headers()["openstack-api-version"], "compute 2.104");
    fault(call(&s, Method::GET, "/flavors", None, "2.1", None), 401);
}

#[test]
fn flavor_create_delete_access_and_extra_specs() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let demo_project = project_of(&s, &demo);
    let body = json!({"flavor": {"name": "f1", "ram": 256, "vcpus": 1, "disk": 1, "id": null,
        "swap": 0, "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": true}});
    fault(
        call(
            &s,
            Method::POST,
            "/flavors",
            Some(&demo),
            "2.1",
            Some(body.clone()),
        ),
        403,
    );
    let r = call(
        &s,
        Method::POST,
        "/flavors",
        Some(&admin),
        "2.1",
        Some(body.clone()),
    );
    assert_eq!(r.status(), 200);
    let f = json_of(r)["flavor"].clone();
    let fid = f["id"].as_str().expect("id").to_owned();
    assert_eq!(fid.len(), 36, "generated UUID");
    assert!(
        fault(
            call(
                &s,
                Method::POST,
                "/flavors",
                Some(&admin),
                "2.1",
                Some(body)
            ),
            409
        )
        .contains("name f1")
    );
    let dup_id = json!({"flavor": {"name": "f2", "ram": 256, "vcpus": 1, "disk": 1, "id": "1"}});
    assert!(
        fault(
            call(
                &s,
                Method::POST,
                "/flavors",
                Some(&admin),
                "2.1",
                Some(dup_id)
            ),
            409
        )
        .contains("ID 1")
    );
    for bad in [
        json!({"flavor": {"name": "b", "ram": 0, "vcpus": 1, "disk": 1}}),
        json!({"flavor": {"name": "b", "ram": 1, "vcpus": "x", "disk": 1}}),
        json!({"flavor": {"name": "b", "ram": 1, "vcpus": 1}}),
        json!({"flavor": {"name": "b", "ram": 1, "vcpus": 1, "disk": 1, "description": "d"}}),
        json!({"flavor": {"name": "b", "ram": 1, "vcpus": 1, "disk": 1, "id": "no/slash"}}),
        json!({"nope": {}}),
    ] {
        fault(
            call(&s, Method::POST, "/flavors", Some(&admin), "2.1", Some(bad)),
            400,
        );
    }
    let r = s
        .client
        .post(format!("{}/compute/v2.1/flavors", s.base))
        .header("X-Auth-Token", &admin)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .expect("post");
    fault(r, 400);

    // Description (2.55) and its gate.
    let with_desc = json!({"flavor": {"name": "f3", "ram": 64, "vcpus": 1, "disk": 0,
        "id": "f3", "description": "small one"}});
    let v = json_of(call(
        &s,
        Method::POST,
        "/flavors",
        Some(&admin),
        "2.55",
        Some(with_desc),
    ));
    assert_eq!(v["flavor"]["description"], "small one");
    let upd = json!({"flavor": {"description": "changed"}});
    fault(
        call(
            &s,
            Method::PUT,
            "/flavors/f3",
            Some(&admin),
            "2.1",
            Some(upd.clone()),
        ),
        404,
    );
    fault(
        call(
            &s,
            Method::PUT,
            "/flavors/f3",
            Some(&demo),
            "2.55",
            Some(upd.clone()),
        ),
        403,
    );
    let v = json_of(call(
        &s,
        Method::PUT,
        "/flavors/f3",
        Some(&admin),
        "2.55",
        Some(upd),
    ));
    assert_eq!(v["flavor"]["description"], "changed");
    fault(
        call(
            &s,
            Method::PUT,
            "/flavors/f3",
            Some(&admin),
            "2.55",
            Some(json!({"flavor": {"name": "x"}})),
        ),
        400,
    );

    // Extra specs.
    let path = format!("/flavors/{fid}/os-extra_specs");
    let specs = json!({"extra_specs": {"hw:cpu_policy": "dedicated", "quota:n": 2}});
    fault(
        call(
            &s,
            Method::POST,
            &path,
            Some(&demo),
            "2.1",
            Some(specs.clone()),
        ),
        403,
    );
    let v = json_of(call(
        &s,
        Method::POST,
        &path,
        Some(&admin),
        "2.1",
        Some(specs),
    ));
    assert_eq!(v["extra_specs"]["quota:n"], "2");
    let v = get(&s, &path, &demo, "2.1");
    assert_eq!(v["extra_specs"]["hw:cpu_policy"], "dedicated");
    let v = get(&s, &format!("{path}/hw:cpu_policy"), &demo, "2.1");
    assert_eq!(v, json!({"hw:cpu_policy": "dedicated"}));
    let v = json_of(call(
        &s,
        Method::PUT,
        &format!("{path}/hw:cpu_policy"),
        Some(&admin),
        "2.1",
        Some(json!({"hw:cpu_policy": "shared"})),
    ));
    assert_eq!(v["hw:cpu_policy"], "shared");
    fault(
        call(
            &s,
            Method::PUT,
            &format!("{path}/hw:cpu_policy"),
            Some(&admin),
            "2.1",
            Some(json!({"other": "x"})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::POST,
            &path,
            Some(&admin),
            "2.1",
            Some(json!({"extra_specs": {"bad/key": "x"}})),
        ),
        400,
    );
    let r = call(
        &s,
        Method::DELETE,
        &format!("{path}/quota:n"),
        Some(&admin),
        "2.1",
        None,
    );
    assert_eq!(r.status(), 200);
    fault(
        call(
            &s,
            Method::DELETE,
            &format!("{path}/quota:n"),
            Some(&admin),
            "2.1",
            None,
        ),
        404,
    );
    fault(
        call(
            &s,
            Method::GET,
            &format!("{path}/quota:n"),
            Some(&admin),
            "2.1",
            None,
        ),
        404,
    );
    let v = get(&s, &format!("/flavors/{fid}"), &demo, "2.61");
    assert_eq!(
        v["flavor"]["extra_specs"],
        json!({"hw:cpu_policy": "shared"})
    );

    // A private flavor: invisible to other projects until shared.
    let private = json!({"flavor": {"name": "priv", "ram": 64, "vcpus": 1, "disk": 0,
        "id": "priv", "os-flavor-access:is_public": false}});
    json_of(call(
        &s,
        Method::POST,
        "/flavors",
        Some(&admin),
        "2.1",
        Some(private),
    ));
    fault(
        call(&s, Method::GET, "/flavors/priv", Some(&demo), "2.1", None),
        404,
    );
    assert!(
        !names(&get(&s, "/flavors?is_public=None", &demo, "2.1"), "flavors")
            .contains(&"priv".into())
    );
    assert!(
        names(
            &get(&s, "/flavors?is_public=None", &admin, "2.1"),
            "flavors"
        )
        .contains(&"priv".into())
    );
    assert!(!names(&get(&s, "/flavors", &admin, "2.1"), "flavors").contains(&"priv".into()));
    assert_eq!(
        names(
            &get(&s, "/flavors?is_public=false", &admin, "2.1"),
            "flavors"
        ),
        ["priv"]
    );
    let v = get(&s, "/flavors/priv/os-flavor-access", &admin, "2.1");
    assert_eq!(v["flavor_access"], json!([]));
    fault(
        call(
            &s,
            Method::GET,
            "/flavors/priv/os-flavor-access",
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    assert!(
        fault(
            call(
                &s,
                Method::GET,
                "/flavors/1/os-flavor-access",
                Some(&admin),
                "2.1",
                None
            ),
            404
        )
        .contains("public")
    );
    let add = json!({"addTenantAccess": {"tenant": demo_project}});
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&demo),
            "2.1",
            Some(add.clone()),
        ),
        403,
    );
    let v = json_of(call(
        &s,
        Method::POST,
        "/flavors/priv/action",
        Some(&admin),
        "2.1",
        Some(add.clone()),
    ));
    assert_eq!(
        v["flavor_access"],
        json!([{"flavor_id": "priv", "tenant_id": demo_project}])
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&admin),
            "2.1",
            Some(add),
        ),
        409,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/1/action",
            Some(&admin),
            "2.1",
            Some(json!({"addTenantAccess": {"tenant": demo_project}})),
        ),
        409,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&admin),
            "2.1",
            Some(json!({"addTenantAccess": {"tenant": "no-such-project"}})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&admin),
            "2.1",
            Some(json!({"addTenantAccess": {}})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&admin),
            "2.1",
            Some(json!({"bogusAction": {}})),
        ),
        400,
    );
    assert_eq!(
        get(&s, "/flavors/priv", &demo, "2.1")["flavor"]["name"],
        "priv"
    );
    assert!(names(&get(&s, "/flavors", &demo, "2.1"), "flavors").contains(&"priv".into()));
    let rm = json!({"removeTenantAccess": {"tenant": demo_project}});
    json_of(call(
        &s,
        Method::POST,
        "/flavors/priv/action",
        Some(&admin),
        "2.1",
        Some(rm.clone()),
    ));
    fault(
        call(
            &s,
            Method::POST,
            "/flavors/priv/action",
            Some(&admin),
            "2.1",
            Some(rm),
        ),
        404,
    );
    fault(
        call(&s, Method::GET, "/flavors/priv", Some(&demo), "2.1", None),
        404,
    );

    // Delete.
    fault(
        call(
            &s,
            Method::DELETE,
            "/flavors/priv",
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            "/flavors/priv",
            Some(&admin),
            "2.1",
            None
        )
        .status(),
        202
    );
    fault(
        call(
            &s,
            Method::DELETE,
            "/flavors/priv",
            Some(&admin),
            "2.1",
            None,
        ),
        404,
    );

    // Deleted default flavors stay deleted across a restart (bootstrap runs once).
    assert_eq!(
        call(&s, Method::DELETE, "/flavors/d4", Some(&admin), "2.1", None).status(),
        202
    );
    let mut s = s;
    s.kill9();
    s.launch();
    let admin = s.admin();
    fault(
        call(&s, Method::GET, "/flavors/d4", Some(&admin), "2.1", None),
        404,
    );
    assert_eq!(
        get(&s, "/flavors/f3", &admin, "2.55")["flavor"]["description"],
        "changed"
    );
}

#[test]
fn keypairs_import_generate_list_show_delete() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let r = call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&demo),
        "2.1",
        Some(json!({"keypair": {"name": "k1", "public_key": KEY}})),
    );
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(v["keypair"]["fingerprint"], KEY_FP);
    assert!(v["keypair"].get("type").is_none());
    assert!(v["keypair"].get("private_key").is_none());
    let r = call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&demo),
        "2.2",
        Some(json!({"keypair": {"name": "k2", "public_key": KEY, "type": "ssh"}})),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(json_of(r)["keypair"]["type"], "ssh");
    assert!(
        fault(
            call(
                &s,
                Method::POST,
                "/os-keypairs",
                Some(&demo),
                "2.10",
                Some(json!({"keypair": {"name": "k1", "public_key": KEY}}))
            ),
            409
        )
        .contains("already exists")
    );
    for bad in [
        json!({"keypair": {"name": "k3", "public_key": "ssh-rsa not-a-key"}}),
        json!({"keypair": {"name": "k3", "public_key": "garbage"}}),
        json!({"keypair": {"name": "bad/name", "public_key": KEY}}),
        json!({"keypair": {"name": "", "public_key": KEY}}),
        json!({"keypair": {"public_key": KEY}}),
        json!({"keypair": {"name": "k3", "public_key": KEY, "type": "pgp"}}),
    ] {
        fault(
            call(
                &s,
                Method::POST,
                "/os-keypairs",
                Some(&demo),
                "2.2",
                Some(bad),
            ),
            400,
        );
    }
    // An x509 certificate (2.2): SHA-1 of the DER.
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUfKjiFBSYjRrMNF/KVi1f89Z2Mc8wCgYIKoZIzj0EAwIw\nGDEWMBQGA1UEAwwNb25lc3RhY2stdGVzdDAeFw0yNjEyMDIyMDE3MjJaFw0zNjEx\nMjkyMDE3MjJaMBgxFjAUBgNVBAMMDW9uZXN0YWNrLXRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQa6DfqshI3KFT0Ot1bMbSKif5p/cBdCqZBgOzvfxSYT3eu\nFRD+TYUqbBQLsH2+9SOsB5/jqMjH/Kc35QMl9STao1MwUTAdBgNVHQ4EFgQU5Rtr\nVGDcqlmr91MEAAn9MXZMbf4wHwYDVR0jBBgwFoAU5RtrVGDcqlmr91MEAAn9MXZM\nbf4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBa0BEIaJQJ8igo\nl7iOFwFPB2b1+S9LN3f445uoS56jHQIhAKZaYDXVlLpGmfEoih+ebzR0EclHYkg1\n6OstJzzrDUYc\n-----END CERTIFICATE-----";
    let r = call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&demo),
        "2.2",
        Some(json!({"keypair": {"name": "cert", "public_key": cert, "type": "x509"}})),
    );
    assert_eq!(r.status(), 201);
    let v = json_of(r);
    assert_eq!(
        v["keypair"]["fingerprint"],
        "a2:48:63:13:4a:da:d1:d4:4a:64:c8:a9:4d:7e:b3:dd:c3:b8:5d:6e"
    );
    assert_eq!(v["keypair"]["type"], "x509");
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            "/os-keypairs/cert",
            Some(&demo),
            "2.2",
            None
        )
        .status(),
        204
    );
    // `type` is unknown below 2.2.
    fault(
        call(
            &s,
            Method::POST,
            "/os-keypairs",
            Some(&demo),
            "2.1",
            Some(json!({"keypair": {"name": "k3", "public_key": KEY, "type": "ssh"}})),
        ),
        400,
    );
    // Generation returns the private key once.
    let v = json_of(call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&demo),
        "2.2",
        Some(json!({"keypair": {"name": "gen"}})),
    ));
    assert!(
        v["keypair"]["private_key"]
            .as_str()
            .expect("private")
            .contains("PRIVATE KEY")
    );
    assert!(
        v["keypair"]["public_key"]
            .as_str()
            .expect("public")
            .starts_with("ssh-")
    );

    let v = get(&s, "/os-keypairs", &demo, "2.2");
    let listed: Vec<&str> = v["keypairs"]
        .as_array()
        .expect("list")
        .iter()
        .map(|k| k["keypair"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(listed, ["gen", "k1", "k2"]);
    assert_eq!(v["keypairs"][1]["keypair"]["type"], "ssh");
    let v = get(&s, "/os-keypairs?limit=2", &demo, "2.35");
    assert_eq!(v["keypairs"].as_array().expect("page").len(), 2);
    assert!(
        v["keypairs_links"][0]["href"]
            .as_str()
            .expect("next")
            .contains("marker=k1")
    );
    let v = get(&s, "/os-keypairs?limit=2&marker=k1", &demo, "2.35");
    assert_eq!(v["keypairs"][0]["keypair"]["name"], "k2");
    fault(
        call(
            &s,
            Method::GET,
            "/os-keypairs?marker=zz",
            Some(&demo),
            "2.35",
            None,
        ),
        400,
    );

    let v = get(&s, "/os-keypairs/k1", &demo, "2.2");
    assert_eq!(v["keypair"]["fingerprint"], KEY_FP);
    assert_eq!(v["keypair"]["deleted"], false);
    assert!(v["keypair"]["id"].is_i64());
    // Another user does not see them; admin sees them only by user_id (2.10).
    fault(
        call(
            &s,
            Method::GET,
            "/os-keypairs/k1",
            Some(&admin),
            "2.2",
            None,
        ),
        404,
    );
    assert_eq!(
        get(&s, "/os-keypairs", &admin, "2.2")["keypairs"],
        json!([])
    );
    let demo_user = json_of(s.validate(&demo, &demo))["token"]["user"]["id"]
        .as_str()
        .expect("user")
        .to_owned();
    let v = get(
        &s,
        &format!("/os-keypairs?user_id={demo_user}"),
        &admin,
        "2.10",
    );
    assert_eq!(v["keypairs"].as_array().expect("list").len(), 3);
    let admin_user = json_of(s.validate(&admin, &admin))["token"]["user"]["id"]
        .as_str()
        .expect("user")
        .to_owned();
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-keypairs?user_id={admin_user}"),
            Some(&demo),
            "2.10",
            None,
        ),
        403,
    );
    fault(
        call(
            &s,
            Method::POST,
            "/os-keypairs",
            Some(&demo),
            "2.10",
            Some(json!({"keypair": {"name": "x", "public_key": KEY, "user_id": admin_user}})),
        ),
        403,
    );
    let r = call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&admin),
        "2.10",
        Some(json!({"keypair": {"name": "for-demo", "public_key": KEY, "user_id": demo_user}})),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(json_of(r)["keypair"]["user_id"], demo_user);

    assert_eq!(
        call(
            &s,
            Method::DELETE,
            "/os-keypairs/k1",
            Some(&demo),
            "2.1",
            None
        )
        .status(),
        202
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            "/os-keypairs/k2",
            Some(&demo),
            "2.2",
            None
        )
        .status(),
        204
    );
    fault(
        call(
            &s,
            Method::DELETE,
            "/os-keypairs/k2",
            Some(&demo),
            "2.2",
            None,
        ),
        404,
    );
    fault(
        call(&s, Method::GET, "/os-keypairs", None, "2.2", None),
        401,
    );
}

#[test]
fn limits_and_quota_sets() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let demo_project = project_of(&s, &demo);
    let v = get(&s, "/limits", &demo, "2.1");
    let abs = &v["limits"]["absolute"];
    assert_eq!(v["limits"]["rate"], json!([]));
    assert_eq!(abs["maxTotalInstances"], 10);
    assert_eq!(abs["maxTotalCores"], 20);
    assert_eq!(abs["maxTotalRAMSize"], 51200);
    assert_eq!(abs["maxServerMeta"], 128);
    assert_eq!(abs["maxImageMeta"], 128);
    assert_eq!(abs["maxPersonality"], 5);
    assert_eq!(abs["maxPersonalitySize"], 10240);
    assert_eq!(abs["maxTotalKeypairs"], 100);
    assert_eq!(abs["maxServerGroups"], 10);
    assert_eq!(abs["maxServerGroupMembers"], 10);
    assert_eq!(abs["totalInstancesUsed"], 0);
    assert_eq!(abs["maxTotalFloatingIps"], 10);
    assert!(abs.get("maxSecurityGroups").is_some());
    let v = get(&s, "/limits", &demo, "latest");
    let abs = &v["limits"]["absolute"];
    assert!(abs.get("maxTotalFloatingIps").is_none());
    assert!(abs.get("maxPersonality").is_none());
    assert!(abs.get("maxImageMeta").is_none());
    assert_eq!(abs["totalServerGroupsUsed"], 0);

    let admin_project = project_of(&s, &admin);
    fault(
        call(
            &s,
            Method::GET,
            &format!("/limits?tenant_id={admin_project}"),
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    let v = get(
        &s,
        &format!("/limits?tenant_id={demo_project}"),
        &admin,
        "2.1",
    );
    assert_eq!(v["limits"]["absolute"]["maxTotalInstances"], 10);

    let v = get(&s, &format!("/os-quota-sets/{demo_project}"), &demo, "2.1");
    assert_eq!(v["quota_set"]["id"], demo_project);
    assert_eq!(v["quota_set"]["instances"], 10);
    assert_eq!(v["quota_set"]["floating_ips"], 10);
    let v = get(
        &s,
        &format!("/os-quota-sets/{demo_project}"),
        &demo,
        "latest",
    );
    assert!(v["quota_set"].get("floating_ips").is_none());
    assert!(v["quota_set"].get("injected_files").is_none());
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-quota-sets/{admin_project}"),
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    let d = get(
        &s,
        &format!("/os-quota-sets/{demo_project}/defaults"),
        &demo,
        "2.1",
    );
    assert_eq!(d["quota_set"]["cores"], 20);

    let path = format!("/os-quota-sets/{demo_project}");
    fault(
        call(
            &s,
            Method::PUT,
            &path,
            Some(&demo),
            "2.1",
            Some(json!({"quota_set": {"instances": 20}})),
        ),
        403,
    );
    let v = json_of(call(
        &s,
        Method::PUT,
        &path,
        Some(&admin),
        "2.1",
        Some(json!({"quota_set": {"instances": 20, "key_pairs": 1, "server_groups": "1"}})),
    ));
    assert_eq!(v["quota_set"]["instances"], 20);
    assert!(v["quota_set"].get("id").is_none());
    for bad in [
        json!({"quota_set": {"instances": -5}}),
        json!({"quota_set": {"bogus": 1}}),
        json!({"quota_set": {"instances": "many"}}),
        json!({"quota": {}}),
    ] {
        fault(
            call(&s, Method::PUT, &path, Some(&admin), "2.1", Some(bad)),
            400,
        );
    }
    fault(
        call(
            &s,
            Method::PUT,
            &path,
            Some(&admin),
            "2.36",
            Some(json!({"quota_set": {"floating_ips": 1}})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::PUT,
            "/os-quota-sets/no-such-project",
            Some(&admin),
            "2.1",
            Some(json!({"quota_set": {"instances": 1}})),
        ),
        400,
    );
    assert_eq!(
        get(&s, "/limits", &demo, "2.1")["limits"]["absolute"]["maxTotalInstances"],
        20
    );

    // The key pair and server group quotas are enforced by their create paths.
    let r = call(
        &s,
        Method::POST,
        "/os-keypairs",
        Some(&demo),
        "2.2",
        Some(json!({"keypair": {"name": "one", "public_key": KEY}})),
    );
    assert_eq!(r.status(), 201);
    assert!(
        fault(
            call(
                &s,
                Method::POST,
                "/os-keypairs",
                Some(&demo),
                "2.2",
                Some(json!({"keypair": {"name": "two", "public_key": KEY}}))
            ),
            403
        )
        .contains("too many key pairs")
    );
    let g = json!({"server_group": {"name": "g", "policies": ["affinity"]}});
    assert_eq!(
        call(
            &s,
            Method::POST,
            "/os-server-groups",
            Some(&demo),
            "2.1",
            Some(g.clone())
        )
        .status(),
        200
    );
    assert!(
        fault(
            call(
                &s,
                Method::POST,
                "/os-server-groups",
                Some(&demo),
                "2.1",
                Some(g)
            ),
            403
        )
        .contains("too many server groups")
    );
    // A limit below usage needs force.
    fault(
        call(
            &s,
            Method::PUT,
            &path,
            Some(&admin),
            "2.1",
            Some(json!({"quota_set": {"server_groups": 0}})),
        ),
        400,
    );
    json_of(call(
        &s,
        Method::PUT,
        &path,
        Some(&admin),
        "2.1",
        Some(json!({"quota_set": {"server_groups": 0, "force": true}})),
    ));

    let v = get(&s, &format!("{path}/detail"), &demo, "2.1");
    assert_eq!(
        v["quota_set"]["server_groups"],
        json!({"limit": 0, "in_use": 1, "reserved": 0})
    );
    assert_eq!(v["quota_set"]["key_pairs"]["in_use"], 1);
    assert_eq!(v["quota_set"]["instances"]["limit"], 20);

    fault(
        call(&s, Method::DELETE, &path, Some(&demo), "2.1", None),
        403,
    );
    assert_eq!(
        call(&s, Method::DELETE, &path, Some(&admin), "2.1", None).status(),
        202
    );
    assert_eq!(get(&s, &path, &demo, "2.1")["quota_set"]["instances"], 10);
    fault(call(&s, Method::GET, &path, None, "2.1", None), 401);
}

#[test]
fn server_groups_policies_isolation() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let (other, _) = other_member(&s, &admin);
    let v = json_of(call(
        &s,
        Method::POST,
        "/os-server-groups",
        Some(&demo),
        "2.1",
        Some(json!({"server_group": {"name": "old", "policies": ["anti-affinity"]}})),
    ));
    let g = &v["server_group"];
    assert_eq!(g["policies"], json!(["anti-affinity"]));
    assert_eq!(g["members"], json!([]));
    assert_eq!(g["metadata"], json!({}));
    assert!(g.get("project_id").is_none());
    let old = g["id"].as_str().expect("id").to_owned();
    let v = json_of(call(
        &s,
        Method::POST,
        "/os-server-groups",
        Some(&demo),
        "2.64",
        Some(
            json!({"server_group": {"name": "new", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 2}}}),
        ),
    ));
    let g = &v["server_group"];
    assert_eq!(g["policy"], "anti-affinity");
    assert_eq!(g["rules"], json!({"max_server_per_host": 2}));
    assert!(g.get("policies").is_none());
    assert!(g["project_id"].is_string() && g["user_id"].is_string());
    for (mv, bad) in [
        (
            "2.1",
            json!({"server_group": {"name": "x", "policies": ["soft-affinity"]}}),
        ),
        (
            "2.1",
            json!({"server_group": {"name": "x", "policy": "affinity"}}),
        ),
        ("2.1", json!({"server_group": {"name": "x"}})),
        (
            "2.64",
            json!({"server_group": {"name": "x", "policies": ["affinity"]}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "x", "policy": "affinity", "rules": {"max_server_per_host": 1}}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "x", "policy": "nope"}}),
        ),
    ] {
        fault(
            call(
                &s,
                Method::POST,
                "/os-server-groups",
                Some(&demo),
                mv,
                Some(bad),
            ),
            400,
        );
    }
    let v = json_of(call(
        &s,
        Method::POST,
        "/os-server-groups",
        Some(&demo),
        "2.15",
        Some(json!({"server_group": {"name": "soft", "policies": ["soft-affinity"]}})),
    ));
    assert_eq!(v["server_group"]["policies"], json!(["soft-affinity"]));

    assert_eq!(
        names(
            &get(&s, "/os-server-groups", &demo, "2.13"),
            "server_groups"
        ),
        ["old", "new", "soft"]
    );
    assert_eq!(
        names(
            &get(&s, "/os-server-groups?limit=1&offset=1", &demo, "2.13"),
            "server_groups"
        ),
        ["new"]
    );
    assert!(
        names(
            &get(&s, "/os-server-groups", &other, "2.13"),
            "server_groups"
        )
        .is_empty()
    );
    assert!(
        names(
            &get(&s, "/os-server-groups?all_projects=True", &other, "2.13"),
            "server_groups"
        )
        .is_empty()
    );
    assert_eq!(
        names(
            &get(&s, "/os-server-groups?all_projects=True", &admin, "2.13"),
            "server_groups"
        )
        .len(),
        3
    );
    assert!(
        names(
            &get(&s, "/os-server-groups", &admin, "2.13"),
            "server_groups"
        )
        .is_empty()
    );

    assert_eq!(
        get(&s, &format!("/os-server-groups/{old}"), &demo, "2.1")["server_group"]["name"],
        "old"
    );
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-server-groups/{old}"),
            Some(&other),
            "2.1",
            None,
        ),
        404,
    );
    fault(
        call(
            &s,
            Method::DELETE,
            &format!("/os-server-groups/{old}"),
            Some(&other),
            "2.1",
            None,
        ),
        404,
    );
    assert_eq!(
        call(
            &s,
            Method::DELETE,
            &format!("/os-server-groups/{old}"),
            Some(&demo),
            "2.1",
            None
        )
        .status(),
        204
    );
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-server-groups/{old}"),
            Some(&demo),
            "2.1",
            None,
        ),
        404,
    );
    fault(
        call(&s, Method::GET, "/os-server-groups", None, "2.1", None),
        401,
    );
}

#[test]
fn zones_services_hypervisors_and_usage() {
    let s = Server::start();
    let admin = s.admin();
    let demo = s.demo();
    let v = get(&s, "/os-availability-zone", &demo, "2.1");
    assert_eq!(
        v["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}])
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-availability-zone/detail",
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    let v = get(&s, "/os-availability-zone/detail", &admin, "2.1");
    let zones = v["availabilityZoneInfo"].as_array().expect("zones");
    assert_eq!(zones.len(), 2);
    let nova = zones
        .iter()
        .find(|z| z["zoneName"] == "nova")
        .expect("nova zone");
    let host = nova["hosts"]
        .as_object()
        .expect("hosts")
        .keys()
        .next()
        .expect("host")
        .clone();
    assert_eq!(nova["hosts"][&host]["nova-compute"]["available"], true);

    fault(
        call(&s, Method::GET, "/os-services", Some(&demo), "2.1", None),
        403,
    );
    let v = get(&s, "/os-services", &admin, "2.1");
    let svcs = v["services"].as_array().expect("services");
    assert_eq!(svcs.len(), 3);
    assert!(
        svcs.iter()
            .all(|x| x["state"] == "up" && x["status"] == "enabled" && x["id"].is_i64())
    );
    let compute = svcs
        .iter()
        .find(|x| x["binary"] == "nova-compute")
        .expect("compute");
    assert_eq!(compute["zone"], "nova");
    assert_eq!(compute["host"], host.as_str());
    let v = get(&s, "/os-services?binary=nova-compute", &admin, "2.53");
    assert_eq!(v["services"].as_array().expect("one").len(), 1);
    let sid = v["services"][0]["id"].as_str().expect("uuid id").to_owned();
    assert_eq!(sid.len(), 36);
    assert_eq!(v["services"][0]["forced_down"], false);
    fault(
        call(
            &s,
            Method::PUT,
            &format!("/os-services/{sid}"),
            Some(&admin),
            "2.53",
            Some(json!({"status": "paused"})),
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::PUT,
            &format!("/os-services/{sid}"),
            Some(&demo),
            "2.53",
            Some(json!({"status": "disabled"})),
        ),
        403,
    );

    fault(
        call(&s, Method::GET, "/os-hypervisors", Some(&demo), "2.1", None),
        403,
    );
    let v = get(&s, "/os-hypervisors", &admin, "2.1");
    assert_eq!(
        v["hypervisors"],
        json!([{"id": 1, "hypervisor_hostname": host, "state": "up", "status": "enabled"}])
    );
    let v = get(&s, "/os-hypervisors/detail", &admin, "2.53");
    let h = &v["hypervisors"][0];
    let hid = h["id"].as_str().expect("uuid").to_owned();
    assert_eq!(h["hypervisor_type"], "QEMU");
    assert!(h["vcpus"].as_i64().expect("vcpus") >= 1);
    assert!(h["memory_mb"].as_i64().expect("memory") > 0);
    assert_eq!(h["running_vms"], 0);
    assert_eq!(h["service"]["id"], sid.as_str());
    assert!(h["host_ip"].is_string());
    assert!(h["cpu_info"].is_object());
    let v = get(
        &s,
        &format!("/os-hypervisors/{hid}?with_servers=true"),
        &admin,
        "2.53",
    );
    assert_eq!(v["hypervisor"]["servers"], json!([]));
    fault(
        call(
            &s,
            Method::GET,
            "/os-hypervisors/1",
            Some(&admin),
            "2.53",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-hypervisors/{}", uuid_zero()),
            Some(&admin),
            "2.53",
            None,
        ),
        404,
    );
    assert_eq!(
        get(&s, "/os-hypervisors/1", &admin, "2.1")["hypervisor"]["id"],
        1
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-hypervisors?hypervisor_hostname_pattern=zzz-none",
            Some(&admin),
            "2.53",
            None,
        ),
        404,
    );
    let v = get(&s, "/os-hypervisors/statistics", &admin, "2.1");
    assert_eq!(v["hypervisor_statistics"]["count"], 1);
    assert_eq!(v["hypervisor_statistics"]["running_vms"], 0);

    let demo_project = project_of(&s, &demo);
    let admin_project = project_of(&s, &admin);
    let q = "start=2020-01-01T00:00:00&end=2030-01-01T00:00:00.000000&detailed=1";
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-simple-tenant-usage?{q}"),
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    let v = get(&s, &format!("/os-simple-tenant-usage?{q}"), &admin, "2.1");
    assert_eq!(v["tenant_usages"], json!([]));
    let v = get(
        &s,
        &format!("/os-simple-tenant-usage/{demo_project}?{q}"),
        &demo,
        "2.1",
    );
    assert_eq!(v["tenant_usage"], json!({}));
    fault(
        call(
            &s,
            Method::GET,
            &format!("/os-simple-tenant-usage/{admin_project}?{q}"),
            Some(&demo),
            "2.1",
            None,
        ),
        403,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-simple-tenant-usage?start=2030-01-01T00:00:00&end=2020-01-01T00:00:00",
            Some(&admin),
            "2.1",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-simple-tenant-usage?start=yesterday",
            Some(&admin),
            "2.1",
            None,
        ),
        400,
    );
    fault(
        call(
            &s,
            Method::GET,
            "/os-simple-tenant-usage",
            None,
            "2.1",
            None,
        ),
        401,
    );
}

fn uuid_zero() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

#[test]
fn every_route_needs_a_token() {
    let s = Server::start();
    // The version document answers with and without the trailing slash.
    for path in ["/compute/v2.1", "/compute/v2.1/"] {
        let r = s
            .client
            .get(format!("{}{path}", s.base))
            .send()
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(json_of(r)["version"]["version"], "2.104");
    }
    for (m, path) in [
        (Method::GET, "/flavors"),
        (Method::GET, "/flavors/detail"),
        (Method::GET, "/flavors/1"),
        (Method::POST, "/flavors"),
        (Method::DELETE, "/flavors/1"),
        (Method::GET, "/flavors/1/os-extra_specs"),
        (Method::GET, "/flavors/1/os-flavor-access"),
        (Method::POST, "/flavors/1/action"),
        (Method::GET, "/os-keypairs"),
        (Method::POST, "/os-keypairs"),
        (Method::GET, "/os-keypairs/k"),
        (Method::GET, "/limits"),
        (Method::GET, "/os-quota-sets/p"),
        (Method::GET, "/os-quota-sets/p/defaults"),
        (Method::GET, "/os-quota-sets/p/detail"),
        (Method::GET, "/os-server-groups"),
        (Method::GET, "/os-availability-zone"),
        (Method::GET, "/os-availability-zone/detail"),
        (Method::GET, "/os-services"),
        (Method::GET, "/os-hypervisors"),
        (Method::GET, "/os-hypervisors/detail"),
        (Method::GET, "/os-hypervisors/statistics"),
        (Method::GET, "/os-simple-tenant-usage"),
    ] {
        let r = call(&s, m.clone(), path, None, "2.1", Some(json!({})));
        assert_eq!(r.status(), 401, "{m} {path}");
    }
}
