//! Placement over HTTP against the real binary: discovery and microversions, every
//! route with good and bad input, capacity and generation conflicts, the admin-only
//! policy, and allocations surviving kill -9.

mod common;

use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

fn call(
    s: &Server,
    m: Method,
    path: &str,
    token: Option<&str>,
    version: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut r = s.client.request(m, format!("{}/placement{path}", s.base));
    if let Some(t) = token {
        r = r.header("X-Auth-Token", t);
    }
    if let Some(v) = version {
        r = r.header("OpenStack-API-Version", format!("placement {v}"));
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

/// A client for one token at one microversion.
struct P<'a> {
    s: &'a Server,
    token: String,
    v: &'a str,
}

impl P<'_> {
    fn at<'b>(&'b self, v: &'b str) -> P<'b> {
        P {
            s: self.s,
            token: self.token.clone(),
            v,
        }
    }
    fn req(&self, m: Method, path: &str, body: Option<Value>) -> Response {
        call(self.s, m, path, Some(&self.token), Some(self.v), body)
    }
    fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path, None)
    }
    fn ok(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status(), 200, "GET {path}");
        json_of(r)
    }
    fn put(&self, path: &str, body: Value) -> Response {
        self.req(Method::PUT, path, Some(body))
    }
    fn post(&self, path: &str, body: Value) -> Response {
        self.req(Method::POST, path, Some(body))
    }
    fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path, None)
    }
}

/// Asserts Placement's error shape and status; returns the detail.
fn fault(r: Response, status: u16) -> (String, String) {
    assert_eq!(r.status().as_u16(), status, "expected {status}");
    let rid = r.headers()["x-openstack-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let v = json_of(r);
    let e = &v["errors"][0];
    assert_eq!(e["status"], status, "{v}");
    assert_eq!(e["request_id"], rid.as_str(), "{v}");
    assert!(e["title"].is_string(), "{v}");
    (
        e["detail"].as_str().expect("detail").to_owned(),
        e["code"].as_str().expect("code").to_owned(),
    )
}

fn create_provider(p: &P, name: &str) -> Value {
    let r = p
        .at("1.20")
        .post("/resource_providers", json!({"name": name}));
    assert_eq!(r.status(), 200, "create {name}");
    json_of(r)
}

fn set_inventory(p: &P, uuid: &str, inv: Value) -> i64 {
    let g = p.ok(&format!("/resource_providers/{uuid}"))["generation"]
        .as_i64()
        .expect("generation");
    let r = p.put(
        &format!("/resource_providers/{uuid}/inventories"),
        json!({"resource_provider_generation": g, "inventories": inv}),
    );
    assert_eq!(r.status(), 200);
    json_of(r)["resource_provider_generation"]
        .as_i64()
        .expect("cgen")
}

const C1: &str = "11111111-1111-4111-8111-111111111111";
const C2: &str = "22222222-2222-4222-8222-222222222222";
const PROJECT: &str = "33333333-3333-4333-8333-333333333333";
const USER: &str = "44444444-4444-4444-8444-444444444444";

#[test]
fn discovery_microversions_and_compute_node() {
    let s = Server::start();
    for path in ["/placement", "/placement/"] {
        let r = s
            .client
            .get(format!("{}{path}", s.base))
            .send()
            .expect("get");
        assert_eq!(r.status(), 200, "{path} needs no token");
        assert_eq!(r.headers()["openstack-api-version"], "placement 1.0");
        assert!(
            r.headers()["vary"]
                .to_str()
                .expect("vary")
                .contains("openstack-api-version")
        );
        let v = json_of(r);
        let ver = &v["versions"][0];
        assert_eq!(ver["id"], "v1.0");
        assert_eq!(ver["min_version"], "1.0");
        assert_eq!(ver["max_version"], "1.28");
        assert_eq!(ver["status"], "CURRENT");
    }
    let r = call(&s, Method::GET, "/", None, Some("latest"), None);
    assert_eq!(r.headers()["openstack-api-version"], "placement 1.28");
    let r = call(&s, Method::GET, "/", None, Some("1.29"), None);
    assert_eq!(r.status(), 406);
    let v = json_of(r);
    assert_eq!(
        v["errors"][0]["max_version"], "1.28",
        "osc-placement falls back with it"
    );
    assert_eq!(
        call(&s, Method::GET, "/", None, Some("1.x"), None).status(),
        400
    );
    assert_eq!(
        call(&s, Method::GET, "/", None, Some("2"), None).status(),
        400
    );

    // The host registered itself at start, with its real inventory and CPU traits.
    let p = P {
        s: &s,
        token: s.admin(),
        v: "1.28",
    };
    let rps = p.ok("/resource_providers")["resource_providers"].clone();
    assert_eq!(rps.as_array().expect("list").len(), 1, "{rps}");
    let node = &rps[0];
    let uuid = node["uuid"].as_str().expect("uuid");
    assert_eq!(node["root_provider_uuid"], uuid);
    let inv = p.ok(&format!("/resource_providers/{uuid}/inventories"));
    assert_eq!(inv["inventories"]["VCPU"]["allocation_ratio"], 16.0);
    assert_eq!(inv["inventories"]["MEMORY_MB"]["allocation_ratio"], 1.5);
    assert!(
        inv["inventories"]["MEMORY_MB"]["reserved"]
            .as_i64()
            .expect("reserved")
            <= 512
    );
    let traits = p.ok(&format!("/resource_providers/{uuid}/traits"));
    assert!(
        traits["traits"]
            .as_array()
            .expect("traits")
            .iter()
            .any(|t| t == "COMPUTE_NODE"),
        "{traits}"
    );
    let g = node["generation"].clone();
    let mut s = s;
    s.kill9();
    s.launch();
    let p = P {
        s: &s,
        token: s.admin(),
        v: "1.28",
    };
    let again = p.ok(&format!("/resource_providers/{uuid}"));
    assert_eq!(
        again["generation"], g,
        "restart with the same host changes nothing"
    );
    // Microversion gating: no tree fields before 1.14, no 404 route before 1.5.
    let old = p.at("1.0").ok(&format!("/resource_providers/{uuid}"));
    assert!(old.get("root_provider_uuid").is_none());
    assert!(p.at("1.0").get("/traits").status() == 404);
    assert_eq!(
        p.at("1.4")
            .delete(&format!("/resource_providers/{uuid}/inventories"))
            .status(),
        404
    );
}

#[test]
fn providers_inventories_classes_and_traits() {
    let s = Server::start();
    let p = P {
        s: &s,
        token: s.admin(),
        v: "1.28",
    };
    // Create: 201 + Location before 1.20, 200 + body from 1.20.
    let r = p
        .at("1.19")
        .post("/resource_providers", json!({"name": "old-style"}));
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().expect("loc").to_owned();
    assert!(
        loc.starts_with(&format!("{}/placement/resource_providers/", s.base)),
        "absolute, as clients GET it: {loc}"
    );
    assert_eq!(
        p.get(&loc.replace(&format!("{}/placement", s.base), ""))
            .status(),
        200
    );
    let given = "aaaaaaaa-0000-4000-8000-000000000001";
    let r = p
        .at("1.20")
        .post("/resource_providers", json!({"name": "rp1", "uuid": given}));
    assert_eq!(r.status(), 200);
    let rp1 = json_of(r);
    assert_eq!(rp1["uuid"], given);
    assert_eq!(rp1["generation"], 0);
    assert!(
        rp1["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["rel"] == "allocations")
    );
    let (_, code) = fault(p.post("/resource_providers", json!({"name": "rp1"})), 409);
    assert_eq!(code, "placement.duplicate_name");
    fault(
        p.post("/resource_providers", json!({"name": "x", "uuid": given})),
        409,
    );
    fault(
        p.post("/resource_providers", json!({"name": "x", "uuid": "nope"})),
        400,
    );
    fault(p.post("/resource_providers", json!({"name": ""})), 400);
    fault(p.post("/resource_providers", json!({"nam": "x"})), 400);
    fault(
        p.post(
            "/resource_providers",
            json!({"name": "x", "parent_provider_uuid": "bbbbbbbb-0000-4000-8000-000000000001"}),
        ),
        400,
    );
    fault(
        p.at("1.13").post(
            "/resource_providers",
            json!({"name": "x", "parent_provider_uuid": given}),
        ),
        400,
    );
    fault(
        p.get("/resource_providers/bbbbbbbb-0000-4000-8000-000000000001"),
        404,
    );

    // A child, then the tree filter.
    let r = p.post(
        "/resource_providers",
        json!({"name": "child", "parent_provider_uuid": given}),
    );
    let child = json_of(r);
    let child_uuid = child["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(child["root_provider_uuid"], given);
    let tree = p.ok(&format!("/resource_providers?in_tree={child_uuid}"));
    assert_eq!(tree["resource_providers"].as_array().expect("l").len(), 2);
    let none = p.ok("/resource_providers?in_tree=bbbbbbbb-0000-4000-8000-000000000001");
    assert_eq!(none["resource_providers"], json!([]));
    let by_name = p.ok("/resource_providers?name=rp1");
    assert_eq!(by_name["resource_providers"][0]["uuid"], given);
    fault(p.get("/resource_providers?bogus=1"), 400);
    fault(p.at("1.3").get("/resource_providers?resources=VCPU:1"), 400);
    fault(p.get("/resource_providers?resources=VCPU"), 400);
    fault(p.get(&format!("/resources_providers/{given}")), 404);
    fault(p.req(Method::PATCH, "/resource_providers", None), 405);
    // Deleting a parent is refused.
    let (_, code) = fault(p.delete(&format!("/resource_providers/{given}")), 409);
    assert_eq!(code, "placement.resource_provider.cannot_delete_parent");
    let upd = p.put(
        &format!("/resource_providers/{child_uuid}"),
        json!({"name": "child2"}),
    );
    assert_eq!(upd.status(), 200);
    assert_eq!(json_of(upd)["name"], "child2");
    fault(
        p.put(
            &format!("/resource_providers/{child_uuid}"),
            json!({"name": "child2", "parent_provider_uuid": null}),
        ),
        400,
    );
    fault(
        p.put(&format!("/resource_providers/{child_uuid}"), json!({})),
        400,
    );
    assert_eq!(
        p.delete(&format!("/resource_providers/{child_uuid}"))
            .status(),
        204
    );

    // Inventories: replace all with the generation, conflicts and validation.
    let inv_path = format!("/resource_providers/{given}/inventories");
    let g = set_inventory(
        &p,
        given,
        json!({
            "VCPU": {"total": 4, "allocation_ratio": 2.0, "max_unit": 4},
            "MEMORY_MB": {"total": 2048, "reserved": 512},
        }),
    );
    assert_eq!(g, 1, "generation bumps on an inventory change");
    let inv = p.ok(&inv_path);
    assert_eq!(inv["inventories"]["MEMORY_MB"]["min_unit"], 1);
    assert_eq!(inv["inventories"]["MEMORY_MB"]["max_unit"], 2147483647);
    assert_eq!(inv["inventories"]["VCPU"]["allocation_ratio"], 2.0);
    let (_, code) = fault(
        p.put(
            &inv_path,
            json!({"resource_provider_generation": 0, "inventories": {}}),
        ),
        409,
    );
    assert_eq!(code, "placement.concurrent_update");
    for (bad, what) in [
        (json!({"VCPU": {"total": 0}}), "total 0"),
        (
            json!({"VCPU": {"total": 4, "reserved": 5}}),
            "reserved > total",
        ),
        (
            json!({"VCPU": {"total": 4, "reserved": 4}}),
            "reserved == total before 1.26",
        ),
        (
            json!({"VCPU": {"total": 4, "min_unit": 5, "max_unit": 4}}),
            "min > max",
        ),
        (
            json!({"VCPU": {"total": 4, "allocation_ratio": 0}}),
            "ratio 0",
        ),
        (json!({"VCPU": {"total": "four"}}), "type"),
        (json!({"VCPU": {"total": 4, "colour": 1}}), "unknown field"),
        (json!({"CUSTOM_NOPE": {"total": 4}}), "unknown class"),
    ] {
        let (detail, _) = fault(
            p.at("1.25").put(
                &inv_path,
                json!({"resource_provider_generation": g, "inventories": bad}),
            ),
            400,
        );
        assert!(!detail.is_empty(), "{what}");
    }
    fault(p.put(&inv_path, json!({"inventories": {}})), 400);
    let r = p.put(&inv_path, json!({"resource_provider_generation": g, "inventories": {"VCPU": {"total": 4, "reserved": 4}}}));
    assert_eq!(r.status(), 200, "1.26 allows reserved == total");
    let g = json_of(r)["resource_provider_generation"]
        .as_i64()
        .expect("g");

    // Per class: POST, GET, PUT, DELETE.
    let r = p.post(
        &inv_path,
        json!({"resource_class": "DISK_GB", "resource_provider_generation": g, "total": 100}),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!(
            "{}/placement/resource_providers/{given}/inventories/DISK_GB",
            s.base
        )
        .as_str()
    );
    let g = json_of(r)["resource_provider_generation"]
        .as_i64()
        .expect("g");
    fault(
        p.post(
            &inv_path,
            json!({"resource_class": "DISK_GB", "resource_provider_generation": g, "total": 100}),
        ),
        409,
    );
    let disk = p.ok(&format!("{inv_path}/DISK_GB"));
    assert_eq!(disk["total"], 100);
    fault(p.get(&format!("{inv_path}/VGPU")), 404);
    let r = p.put(
        &format!("{inv_path}/DISK_GB"),
        json!({"resource_provider_generation": g, "total": 200, "step_size": 10}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["total"], 200);
    fault(
        p.put(
            &format!("{inv_path}/DISK_GB"),
            json!({"resource_provider_generation": g, "total": 300}),
        ),
        409,
    );
    fault(
        p.put(
            &format!("{inv_path}/VGPU"),
            json!({"resource_provider_generation": g + 1, "total": 1}),
        ),
        400,
    );
    assert_eq!(p.delete(&format!("{inv_path}/DISK_GB")).status(), 204);
    fault(p.delete(&format!("{inv_path}/DISK_GB")), 404);
    assert_eq!(p.delete(&inv_path).status(), 204);
    assert_eq!(p.ok(&inv_path)["inventories"], json!({}));

    // Resource classes.
    let classes = p.ok("/resource_classes");
    let names: Vec<&str> = classes["resource_classes"]
        .as_array()
        .expect("l")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for std in ["VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF"] {
        assert!(names.contains(&std), "{std}");
    }
    assert_eq!(
        p.ok("/resource_classes/VCPU")["links"][0]["href"],
        "/placement/resource_classes/VCPU"
    );
    assert_eq!(
        p.post("/resource_classes", json!({"name": "CUSTOM_GOLD"}))
            .status(),
        201
    );
    fault(
        p.post("/resource_classes", json!({"name": "CUSTOM_GOLD"})),
        409,
    );
    fault(p.post("/resource_classes", json!({"name": "GOLD"})), 400);
    assert_eq!(
        p.put("/resource_classes/CUSTOM_GOLD", json!(null)).status(),
        204
    );
    assert_eq!(
        p.put("/resource_classes/CUSTOM_SILVER", json!(null))
            .status(),
        201
    );
    fault(p.put("/resource_classes/SILVER", json!(null)), 400);
    fault(p.delete("/resource_classes/VCPU"), 400);
    fault(p.get("/resource_classes/CUSTOM_NONE"), 404);
    set_inventory(&p, given, json!({"CUSTOM_GOLD": {"total": 1}}));
    fault(p.delete("/resource_classes/CUSTOM_GOLD"), 409);
    assert_eq!(p.delete("/resource_classes/CUSTOM_SILVER").status(), 204);

    // Traits.
    let all = p.ok("/traits");
    assert!(
        all["traits"]
            .as_array()
            .expect("l")
            .iter()
            .any(|t| t == "HW_CPU_X86_SSE2")
    );
    assert_eq!(p.put("/traits/CUSTOM_FAST", json!(null)).status(), 201);
    assert_eq!(p.put("/traits/CUSTOM_FAST", json!(null)).status(), 204);
    fault(p.put("/traits/FAST", json!(null)), 400);
    assert_eq!(p.get("/traits/CUSTOM_FAST").status(), 204);
    assert_eq!(p.get("/traits/HW_CPU_X86_AVX").status(), 204);
    fault(p.get("/traits/CUSTOM_SLOW"), 404);
    let sw = p.ok("/traits?name=startswith:CUSTOM_");
    assert_eq!(sw["traits"], json!(["CUSTOM_FAST"]));
    let inl = p.ok("/traits?name=in:CUSTOM_FAST,HW_CPU_X86_AVX,NOPE");
    assert_eq!(inl["traits"], json!(["CUSTOM_FAST", "HW_CPU_X86_AVX"]));
    fault(p.get("/traits?name=CUSTOM_FAST"), 400);
    let tp = format!("/resource_providers/{given}/traits");
    let g = p.ok(&tp)["resource_provider_generation"]
        .as_i64()
        .expect("g");
    let r = p.put(
        &tp,
        json!({"traits": ["CUSTOM_FAST", "HW_CPU_X86_AVX"], "resource_provider_generation": g}),
    );
    assert_eq!(r.status(), 200);
    let v = json_of(r);
    assert_eq!(
        v["resource_provider_generation"],
        g + 1,
        "traits bump the generation"
    );
    fault(
        p.put(
            &tp,
            json!({"traits": ["CUSTOM_FAST"], "resource_provider_generation": g}),
        ),
        409,
    );
    fault(
        p.put(
            &tp,
            json!({"traits": ["CUSTOM_MISSING"], "resource_provider_generation": g + 1}),
        ),
        400,
    );
    let assoc = p.ok("/traits?associated=true");
    let assoc = assoc["traits"].as_array().expect("l");
    assert!(assoc.iter().any(|t| t == "CUSTOM_FAST"), "{assoc:?}");
    assert!(
        !assoc.iter().any(|t| t == "COMPUTE_STATUS_DISABLED"),
        "{assoc:?}"
    );
    let unassoc = p.ok("/traits?associated=false");
    assert!(
        unassoc["traits"]
            .as_array()
            .expect("l")
            .iter()
            .any(|t| t == "COMPUTE_STATUS_DISABLED")
    );
    let req = p.ok("/resource_providers?required=CUSTOM_FAST");
    assert_eq!(req["resource_providers"].as_array().expect("l").len(), 1);
    let forb = p.ok("/resource_providers?required=!CUSTOM_FAST");
    assert!(
        forb["resource_providers"]
            .as_array()
            .expect("l")
            .iter()
            .all(|r| r["uuid"] != given)
    );
    fault(p.delete("/traits/CUSTOM_FAST"), 409);
    fault(p.delete("/traits/HW_CPU_X86_AVX"), 400);
    assert_eq!(p.delete(&tp).status(), 204);
    assert_eq!(p.delete("/traits/CUSTOM_FAST").status(), 204);
    fault(p.delete("/traits/CUSTOM_FAST"), 404);

    // Aggregates, and member_of.
    let ap = format!("/resource_providers/{given}/aggregates");
    let agg = "cccccccc-0000-4000-8000-000000000001";
    let g = p.ok(&ap)["resource_provider_generation"]
        .as_i64()
        .expect("g");
    let r = p.put(
        &ap,
        json!({"aggregates": [agg], "resource_provider_generation": g}),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["aggregates"], json!([agg]));
    let r = p.at("1.1").put(&ap, json!([agg]));
    assert_eq!(r.status(), 200);
    fault(p.put(&ap, json!([agg])), 400);
    let m = p.ok(&format!("/resource_providers?member_of=in:{agg}"));
    assert_eq!(m["resource_providers"][0]["uuid"], given);
    fault(p.get("/resource_providers?member_of=in:nope"), 400);
}

#[test]
fn allocations_capacity_usages_and_candidates() {
    let s = Server::start();
    let p = P {
        s: &s,
        token: s.admin(),
        v: "1.28",
    };
    let rp = create_provider(&p, "alloc-rp")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    set_inventory(
        &p,
        &rp,
        json!({
            "VCPU": {"total": 2, "allocation_ratio": 2.0, "max_unit": 2},
            "MEMORY_MB": {"total": 1024, "reserved": 512, "step_size": 64},
        }),
    );
    let alloc = |vcpu: i64, mem: i64, cgen: Value| {
        json!({"allocations": {rp.clone(): {"resources": {"VCPU": vcpu, "MEMORY_MB": mem}}},
               "project_id": PROJECT, "user_id": USER, "consumer_generation": cgen})
    };
    let c1 = format!("/allocations/{C1}");
    // New consumer: consumer_generation must be null.
    let (d, code) = fault(p.put(&c1, alloc(1, 256, json!(1))), 409);
    assert!(d.contains("consumer generation conflict"), "{d}");
    assert_eq!(code, "placement.concurrent_update");
    fault(
        p.put(
            &c1,
            json!({"allocations": {}, "project_id": PROJECT, "user_id": USER}),
        ),
        400,
    );
    let g0 = p.ok(&format!("/resource_providers/{rp}"))["generation"]
        .as_i64()
        .expect("g");
    assert_eq!(p.put(&c1, alloc(2, 256, json!(null))).status(), 204);
    let got = p.ok(&c1);
    assert_eq!(got["allocations"][&rp]["resources"]["VCPU"], 2);
    assert_eq!(got["consumer_generation"], 1);
    assert_eq!(got["project_id"], PROJECT);
    assert_eq!(
        got["allocations"][&rp]["generation"],
        g0 + 1,
        "allocations bump the provider"
    );
    assert!(p.at("1.27").ok(&c1).get("consumer_generation").is_none());
    assert!(p.at("1.11").ok(&c1).get("project_id").is_none());
    // Stale consumer generation.
    fault(p.put(&c1, alloc(2, 256, json!(0))), 409);
    // Capacity: VCPU (2-0)*2 = 4, MEMORY (1024-512)*1 = 512.
    let c2 = format!("/allocations/{C2}");
    let (d, _) = fault(p.put(&c2, alloc(2, 512, json!(null))), 409);
    assert!(
        d.contains("The requested amount would exceed the capacity"),
        "{d}"
    );
    assert!(d.contains("MEMORY_MB"), "{d}");
    let (d, _) = fault(p.put(&c2, alloc(3, 64, json!(null))), 409);
    assert!(
        d.contains("would violate inventory constraints"),
        "max_unit: {d}"
    );
    let (d, _) = fault(p.put(&c2, alloc(1, 100, json!(null))), 409);
    assert!(
        d.contains("would violate inventory constraints"),
        "step_size: {d}"
    );
    fault(
        p.put(
            &c2,
            json!({"allocations": {rp.clone(): {"resources": {"DISK_GB": 1}}},
        "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
        ),
        409,
    );
    fault(p.put(&c2, json!({"allocations": {"dddddddd-0000-4000-8000-000000000001": {"resources": {"VCPU": 1}}},
        "project_id": PROJECT, "user_id": USER, "consumer_generation": null})), 400);
    fault(
        p.put(
            &c2,
            json!({"allocations": {rp.clone(): {"resources": {"VCPU": 0}}},
        "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
        ),
        400,
    );
    fault(p.put(&c2, json!({"allocations": {rp.clone(): {"resources": {"VCPU": 1}}}, "consumer_generation": null})), 400);
    fault(p.put(&c2, json!({"allocations": {rp.clone(): {"resources": {"VCPU": 1}}}, "project_id": PROJECT, "user_id": USER})), 400);
    fault(
        p.put("/allocations/not-a-uuid", alloc(1, 64, json!(null))),
        400,
    );
    assert_eq!(
        p.put(&c2, alloc(2, 256, json!(null))).status(),
        204,
        "exactly at capacity"
    );
    // Pre-1.12 list format and pre-1.28 (no consumer generation).
    let list = json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}],
                      "project_id": PROJECT, "user_id": USER});
    assert_eq!(p.at("1.8").put(&c2, list).status(), 204);

    // POST /allocations is all or nothing.
    let r = p.post("/allocations", json!({
        C1: {"allocations": {}, "project_id": PROJECT, "user_id": USER, "consumer_generation": 1},
        C2: {"allocations": {rp.clone(): {"resources": {"VCPU": 9}}}, "project_id": PROJECT, "user_id": USER, "consumer_generation": 2},
    }));
    fault(r, 409);
    assert_eq!(
        p.ok(&c1)["allocations"][&rp]["resources"]["VCPU"],
        2,
        "C1 untouched"
    );
    let r = p.post("/allocations", json!({
        C1: {"allocations": {}, "project_id": PROJECT, "user_id": USER, "consumer_generation": 1},
        C2: {"allocations": {rp.clone(): {"resources": {"VCPU": 2, "MEMORY_MB": 64}}}, "project_id": PROJECT, "user_id": USER, "consumer_generation": 2},
    }));
    assert_eq!(r.status(), 204);
    assert_eq!(p.ok(&c1)["allocations"], json!({}));
    fault(p.at("1.12").post("/allocations", json!({})), 404);

    // Usages.
    let u = p.ok(&format!("/resource_providers/{rp}/usages"));
    assert_eq!(u["usages"], json!({"MEMORY_MB": 64, "VCPU": 2}));
    let u = p.ok(&format!("/usages?project_id={PROJECT}"));
    assert_eq!(u["usages"]["VCPU"], 2);
    let u = p.ok(&format!("/usages?project_id={PROJECT}&user_id=other"));
    assert_eq!(u["usages"], json!({}));
    fault(p.get("/usages"), 400);
    let ra = p.ok(&format!("/resource_providers/{rp}/allocations"));
    assert_eq!(ra["allocations"][C2]["resources"]["VCPU"], 2);

    // Candidates: only providers with room, summaries, limit, traits.
    let cand = p.ok("/allocation_candidates?resources=MEMORY_MB:256");
    let reqs = cand["allocation_requests"].as_array().expect("l");
    assert!(
        reqs.iter()
            .any(|r| r["allocations"][&rp]["resources"]["MEMORY_MB"] == 256)
    );
    assert_eq!(
        cand["provider_summaries"][&rp]["resources"]["VCPU"]["used"],
        2
    );
    assert_eq!(
        cand["provider_summaries"][&rp]["resources"]["VCPU"]["capacity"],
        4
    );
    let full = p.ok("/allocation_candidates?resources=MEMORY_MB:512");
    assert!(
        full["provider_summaries"].get(&rp).is_none(),
        "full provider is no candidate"
    );
    let lim = p.ok("/allocation_candidates?resources=MEMORY_MB:64&limit=1");
    assert_eq!(lim["allocation_requests"].as_array().expect("l").len(), 1);
    let old = p
        .at("1.10")
        .ok("/allocation_candidates?resources=MEMORY_MB:64");
    assert!(old["allocation_requests"][0]["allocations"].is_array());
    fault(p.get("/allocation_candidates"), 400);
    fault(p.get("/allocation_candidates?resources=VCPU:-1"), 400);
    fault(p.get("/allocation_candidates?resources=CUSTOM_NONE:1"), 400);
    fault(
        p.get("/allocation_candidates?resources=VCPU:1&required=CUSTOM_NONE"),
        400,
    );
    fault(
        p.at("1.9").get("/allocation_candidates?resources=VCPU:1"),
        404,
    );

    // In-use protection.
    let (_, code) = fault(
        p.delete(&format!("/resource_providers/{rp}/inventories/VCPU")),
        409,
    );
    assert_eq!(code, "placement.inventory.inuse");
    let g = p.ok(&format!("/resource_providers/{rp}"))["generation"]
        .as_i64()
        .expect("g");
    let (_, code) = fault(p.put(&format!("/resource_providers/{rp}/inventories"), json!({"resource_provider_generation": g, "inventories": {"MEMORY_MB": {"total": 1024}}})), 409);
    assert_eq!(code, "placement.inventory.inuse");
    let (_, code) = fault(p.delete(&format!("/resource_providers/{rp}")), 409);
    assert_eq!(code, "placement.resource_provider.inuse");
    assert_eq!(p.delete(&c2).status(), 204);
    fault(p.delete(&c2), 404);
    assert_eq!(p.delete(&format!("/resource_providers/{rp}")).status(), 204);
}

#[test]
fn every_route_needs_an_admin() {
    let s = Server::start();
    let demo = s.demo();
    let rp = "eeeeeeee-0000-4000-8000-000000000001";
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/resource_providers".into()),
        (Method::POST, "/resource_providers".into()),
        (Method::GET, format!("/resource_providers/{rp}")),
        (Method::PUT, format!("/resource_providers/{rp}")),
        (Method::DELETE, format!("/resource_providers/{rp}")),
        (Method::GET, format!("/resource_providers/{rp}/inventories")),
        (Method::PUT, format!("/resource_providers/{rp}/inventories")),
        (
            Method::POST,
            format!("/resource_providers/{rp}/inventories"),
        ),
        (
            Method::DELETE,
            format!("/resource_providers/{rp}/inventories"),
        ),
        (
            Method::GET,
            format!("/resource_providers/{rp}/inventories/VCPU"),
        ),
        (
            Method::PUT,
            format!("/resource_providers/{rp}/inventories/VCPU"),
        ),
        (
            Method::DELETE,
            format!("/resource_providers/{rp}/inventories/VCPU"),
        ),
        (Method::GET, format!("/resource_providers/{rp}/traits")),
        (Method::PUT, format!("/resource_providers/{rp}/traits")),
        (Method::DELETE, format!("/resource_providers/{rp}/traits")),
        (Method::GET, format!("/resource_providers/{rp}/aggregates")),
        (Method::PUT, format!("/resource_providers/{rp}/aggregates")),
        (Method::GET, format!("/resource_providers/{rp}/usages")),
        (Method::GET, format!("/resource_providers/{rp}/allocations")),
        (Method::GET, "/resource_classes".into()),
        (Method::POST, "/resource_classes".into()),
        (Method::GET, "/resource_classes/VCPU".into()),
        (Method::PUT, "/resource_classes/CUSTOM_X".into()),
        (Method::DELETE, "/resource_classes/CUSTOM_X".into()),
        (Method::GET, "/traits".into()),
        (Method::GET, "/traits/CUSTOM_X".into()),
        (Method::PUT, "/traits/CUSTOM_X".into()),
        (Method::DELETE, "/traits/CUSTOM_X".into()),
        (Method::GET, format!("/allocations/{C1}")),
        (Method::PUT, format!("/allocations/{C1}")),
        (Method::DELETE, format!("/allocations/{C1}")),
        (Method::POST, "/allocations".into()),
        (Method::GET, "/usages?project_id=x".into()),
        (
            Method::GET,
            "/allocation_candidates?resources=VCPU:1".into(),
        ),
    ];
    for (m, path) in routes {
        let body = Some(json!({}));
        let r = call(&s, m.clone(), &path, None, Some("1.28"), body.clone());
        assert!(r.headers().contains_key("www-authenticate"), "{m} {path}");
        let (_, _) = fault(r, 401);
        let r = call(&s, m.clone(), &path, Some(&demo), Some("1.28"), body);
        let (detail, _) = fault(r, 403);
        assert!(
            detail.contains("Policy does not allow"),
            "{m} {path}: {detail}"
        );
    }
    let r = call(
        &s,
        Method::GET,
        "/resource_providers",
        Some("bogus"),
        None,
        None,
    );
    fault(r, 401);
}

#[test]
fn allocations_survive_kill_9() {
    let mut s = Server::start();
    let admin = s.admin();
    let p = P {
        s: &s,
        token: admin.clone(),
        v: "1.28",
    };
    let rp = create_provider(&p, "durable-rp")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    set_inventory(&p, &rp, json!({"VCPU": {"total": 8}}));
    assert_eq!(p.put("/traits/CUSTOM_DURABLE", json!(null)).status(), 201);
    let r = p.put(
        &format!("/allocations/{C1}"),
        json!({
        "allocations": {rp.clone(): {"resources": {"VCPU": 3}}},
        "project_id": PROJECT, "user_id": USER, "consumer_generation": null}),
    );
    assert_eq!(r.status(), 204);
    let before = p.ok(&format!("/resource_providers/{rp}"))["generation"].clone();
    s.kill9();
    s.launch();
    let p = P {
        s: &s,
        token: admin,
        v: "1.28",
    };
    let got = p.ok(&format!("/allocations/{C1}"));
    assert_eq!(got["allocations"][&rp]["resources"]["VCPU"], 3);
    assert_eq!(got["consumer_generation"], 1);
    assert_eq!(
        p.ok(&format!("/resource_providers/{rp}"))["generation"],
        before
    );
    assert_eq!(p.get("/traits/CUSTOM_DURABLE").status(), 204);
    let u = p.ok(&format!("/resource_providers/{rp}/usages"));
    assert_eq!(u["usages"]["VCPU"], 3);
}
