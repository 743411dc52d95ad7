//! Project pages of compute: overview (quota usage), instances (list, launch,
//! actions, detail with console log and serial console) and key pairs.

use std::collections::HashMap;

use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{Value, json};

use super::super::view::{
    Action, Cell, Field, Form as UiForm, FormData, Table, link, list, s, status, text,
};
use super::super::{Dash, PageError, PageResult, session};
use super::{back, options, page, panel, segment};

/// `GET /dashboard/project/overview`: the project's quota usage (Horizon's pie
/// charts as bars): instances, vCPUs, RAM, volumes, floating IPs, security groups.
pub async fn overview(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let mut usage: Vec<Value> = vec![];
    let mut add = |label: &str, used: i64, limit: i64| {
        let pct = if limit > 0 {
            (used * 100 / limit).clamp(0, 100)
        } else {
            0
        };
        usage.push(json!({"label": label, "used": used, "limit": if limit < 0 { "unlimited".to_owned() } else { limit.to_string() }, "pct": pct}));
    };
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    if let Ok(l) = d.backend.get(t, "/compute/v2.1/limits").await {
        let a = &l["limits"]["absolute"];
        add(
            "Instances",
            n(a, "totalInstancesUsed"),
            n(a, "maxTotalInstances"),
        );
        add("VCPUs", n(a, "totalCoresUsed"), n(a, "maxTotalCores"));
        add("RAM (MB)", n(a, "totalRAMUsed"), n(a, "maxTotalRAMSize"));
    }
    if d.serves(crate::profile::ServiceName::Volume)
        && let Ok(l) = d
            .backend
            .get(t, &format!("/volume/v3/{}/limits", sess.project_id))
            .await
    {
        let a = &l["limits"]["absolute"];
        add("Volumes", n(a, "totalVolumesUsed"), n(a, "maxTotalVolumes"));
        add(
            "Volume storage (GB)",
            n(a, "totalGigabytesUsed"),
            n(a, "maxTotalVolumeGigabytes"),
        );
    }
    if d.serves(crate::profile::ServiceName::Network)
        && let Ok(q) = d
            .backend
            .get(
                t,
                &format!("/networking/v2.0/quotas/{}/details", sess.project_id),
            )
            .await
    {
        let q = &q["quota"];
        for (k, label) in [
            ("floatingip", "Floating IPs"),
            ("security_group", "Security groups"),
            ("network", "Networks"),
            ("router", "Routers"),
        ] {
            add(label, n(&q[k], "used"), n(&q[k], "limit"));
        }
    }
    Ok(page(
        &d,
        &sess,
        "overview",
        "Overview",
        "overview.html",
        json!({"usage": usage}),
    )
    .await)
}

/// `GET /dashboard/project/instances`: the project's servers; the page refreshes
/// itself while any is in a transitional state.
pub async fn instances(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let servers = d.backend.get(t, "/compute/v2.1/servers/detail").await?;
    let flavors = d
        .backend
        .get(t, "/compute/v2.1/flavors")
        .await
        .unwrap_or_default();
    let flavor_names: HashMap<&str, &str> = list(&flavors, "flavors")
        .iter()
        .map(|f| (s(f, "id"), s(f, "name")))
        .collect();
    let mut table = Table::new(
        "instances",
        "Instances",
        vec!["Name", "IP addresses", "Flavor", "Status", "Task", "Power"],
    );
    table.empty = "No instances yet: launch one.".into();
    for sv in list(&servers, "servers") {
        let id = s(sv, "id");
        let flavor = s(&sv["flavor"], "id");
        let task = text(sv, "OS-EXT-STS:task_state");
        let power = match sv.get("OS-EXT-STS:power_state").and_then(Value::as_i64) {
            Some(1) => "Running",
            Some(3) => "Paused",
            Some(4) => "Shut down",
            Some(7) => "Suspended",
            Some(0) | None => "No state",
            Some(_) => "Other",
        };
        let state = s(sv, "status");
        let mut actions = vec![];
        let act = |label: &str, op: &str| {
            Action::new(label, format!("/dashboard/project/instances/{id}/action")).field("op", op)
        };
        match state {
            "SHUTOFF" => actions.push(act("Start", "start")),
            "ACTIVE" => {
                actions.push(act("Stop", "stop"));
                actions.push(act("Reboot", "reboot"));
            }
            _ => {}
        }
        actions.push(act("Delete", "delete").danger());
        let mut st = status(state);
        if !task.is_empty() {
            st.class = Some("live".into());
        }
        table.row(
            id,
            vec![
                link(s(sv, "name"), format!("/dashboard/project/instances/{id}")),
                Cell::from(addresses(sv)),
                Cell::from(*flavor_names.get(flavor).unwrap_or(&flavor)),
                st,
                Cell::from(task),
                Cell::from(power),
            ],
            actions,
        );
    }
    let launch = UiForm::new(
        "launch-link",
        "",
        "/dashboard/project/instances/launch",
        "Launch Instance",
        vec![],
    );
    panel(
        &d,
        &sess,
        "instances",
        "Instances",
        vec![launch],
        vec![table],
        None,
    )
    .await
}

/// A server's addresses as "net: ip, ip; ...".
fn addresses(sv: &Value) -> String {
    let Some(map) = sv.get("addresses").and_then(Value::as_object) else {
        return String::new();
    };
    map.iter()
        .map(|(net, ips)| {
            let ips: Vec<&str> = ips
                .as_array()
                .map_or(vec![], |a| a.iter().map(|i| s(i, "addr")).collect());
            format!("{net}: {}", ips.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `GET /dashboard/project/instances/launch`: the launch form, its choices read
/// from the services as the user.
pub async fn launch_page(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let (images, flavors, nets, keys, sgs) = tokio::join!(
        d.backend.get(t, "/image/v2/images?status=active"),
        d.backend.get(t, "/compute/v2.1/flavors/detail"),
        d.backend.get(t, "/networking/v2.0/networks"),
        d.backend.get(t, "/compute/v2.1/os-keypairs"),
        d.backend.get(t, "/networking/v2.0/security-groups"),
    );
    let (images, flavors) = (images?, flavors?);
    let (nets, keys, sgs) = (
        nets.unwrap_or_default(),
        keys.unwrap_or_default(),
        sgs.unwrap_or_default(),
    );
    let mut flavor_list: Vec<&Value> = list(&flavors, "flavors").iter().collect();
    flavor_list.sort_by_key(|f| f.get("ram").and_then(Value::as_i64).unwrap_or(0));
    let flavor_opts: Vec<(String, String)> = flavor_list
        .iter()
        .map(|f| {
            (
                s(f, "id").to_owned(),
                format!(
                    "{} ({} vCPU, {} MB RAM, {} GB disk)",
                    s(f, "name"),
                    text(f, "vcpus"),
                    text(f, "ram"),
                    text(f, "disk")
                ),
            )
        })
        .collect();
    let net_opts: Vec<(String, String)> = list(&nets, "networks")
        .iter()
        .filter(|n| {
            n.get("router:external") != Some(&Value::Bool(true))
                || n.get("shared") == Some(&Value::Bool(true))
        })
        .map(|n| (s(n, "id").to_owned(), s(n, "name").to_owned()))
        .collect();
    let mut key_opts = vec![(String::new(), "(none)".to_owned())];
    key_opts.extend(list(&keys, "keypairs").iter().map(|k| {
        (
            s(&k["keypair"], "name").to_owned(),
            s(&k["keypair"], "name").to_owned(),
        )
    }));
    let mut sg_names: Vec<String> = list(&sgs, "security_groups")
        .iter()
        .map(|g| s(g, "name").to_owned())
        .collect();
    sg_names.dedup();
    let fields = vec![
        Field::text("name", "Instance name").required(),
        Field::select(
            "image",
            "Image",
            options(list(&images, "images"), "id", |i| s(i, "name").to_owned()),
        ),
        Field::select("flavor", "Flavor", flavor_opts),
        Field {
            kind: "multiselect",
            ..Field::select("network", "Networks", net_opts)
        },
        Field::select("key_name", "Key pair", key_opts),
        Field {
            kind: "multiselect",
            value: "default".into(),
            ..Field::select(
                "security_group",
                "Security groups",
                sg_names.iter().map(|n| (n.clone(), n.clone())).collect(),
            )
        },
        Field::text("user_data", "User data (cloud-init, optional)").kind("textarea"),
        Field::text("count", "Count").kind("number").value("1"),
    ];
    let form = UiForm::new(
        "launch",
        "Launch Instance",
        "/dashboard/project/instances",
        "Launch",
        fields,
    );
    Ok(page(
        &d,
        &sess,
        "instances",
        "Launch Instance",
        "launch.html",
        json!({"form": form}),
    )
    .await)
}

/// `POST /dashboard/project/instances`: creates the server(s) as the user.
pub async fn instance_launch(
    State(d): State<Dash>,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let f = FormData(f).checked(&sess)?;
    let name = f.required("name", "Instance name")?;
    let count: u32 = match f.get("count") {
        "" => 1,
        c => c
            .parse()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| {
                PageError::BadInput("Count must be a whole number from 1 to 50.".into())
            })?,
    };
    let mut server = json!({
        "name": name,
        "imageRef": f.required("image", "Image")?,
        "flavorRef": f.required("flavor", "Flavor")?,
        "min_count": count,
        "max_count": count,
    });
    let nets = f.all("network");
    if !nets.is_empty() {
        server["networks"] = Value::Array(nets.iter().map(|n| json!({"uuid": n})).collect());
    }
    if !f.get("key_name").is_empty() {
        server["key_name"] = json!(f.get("key_name"));
    }
    let sgs = f.all("security_group");
    if !sgs.is_empty() {
        server["security_groups"] = Value::Array(sgs.iter().map(|n| json!({"name": n})).collect());
    }
    if !f.get("user_data").is_empty() {
        server["user_data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(f.get("user_data")));
    }
    d.backend
        .post(
            &sess.token,
            "/compute/v2.1/servers",
            json!({"server": server}),
        )
        .await?;
    back("/dashboard/project/instances")
}

/// `POST /dashboard/project/instances/{id}/action`: start, stop, reboot, pause,
/// suspend, lock and their undos, delete.
pub async fn instance_action(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let f = FormData(f).checked(&sess)?;
    let id = segment(&id)?;
    let body = match f.get("op") {
        "delete" => {
            d.backend
                .delete(&sess.token, &format!("/compute/v2.1/servers/{id}"))
                .await?;
            return back("/dashboard/project/instances");
        }
        "start" => json!({"os-start": null}),
        "stop" => json!({"os-stop": null}),
        "reboot" => json!({"reboot": {"type": "SOFT"}}),
        "hard-reboot" => json!({"reboot": {"type": "HARD"}}),
        "pause" => json!({"pause": null}),
        "unpause" => json!({"unpause": null}),
        "suspend" => json!({"suspend": null}),
        "resume" => json!({"resume": null}),
        "lock" => json!({"lock": null}),
        "unlock" => json!({"unlock": null}),
        other => return Err(PageError::BadInput(format!("Unknown action '{other}'."))),
    };
    d.backend
        .post(
            &sess.token,
            &format!("/compute/v2.1/servers/{id}/action"),
            body,
        )
        .await?;
    match f.get("next") {
        "detail" => back(&format!("/dashboard/project/instances/{id}")),
        _ => back("/dashboard/project/instances"),
    }
}

/// `GET /dashboard/project/instances/{id}`: details, the console log and the
/// serial console (opened by the page's script).
pub async fn instance_detail(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let id = segment(&id)?;
    let sv = d
        .backend
        .get(&sess.token, &format!("/compute/v2.1/servers/{id}"))
        .await?;
    let sv = &sv["server"];
    let log = d
        .backend
        .post(
            &sess.token,
            &format!("/compute/v2.1/servers/{id}/action"),
            json!({"os-getConsoleOutput": {"length": 200}}),
        )
        .await
        .map(|v| text(&v, "output"))
        .unwrap_or_else(|e| format!("(no console log: {})", e.message));
    let facts: Vec<(&str, String)> = vec![
        ("ID", text(sv, "id")),
        ("Status", text(sv, "status")),
        ("Task", text(sv, "OS-EXT-STS:task_state")),
        ("IP addresses", addresses(sv)),
        ("Flavor", s(&sv["flavor"], "id").to_owned()),
        ("Image", s(&sv["image"], "id").to_owned()),
        ("Key pair", text(sv, "key_name")),
        ("Created", text(sv, "created")),
        ("Locked", text(sv, "locked")),
    ];
    let st = s(sv, "status");
    let ops: Vec<(&str, &str)> = match st {
        "ACTIVE" => vec![
            ("stop", "Stop"),
            ("reboot", "Reboot"),
            ("hard-reboot", "Hard reboot"),
            ("pause", "Pause"),
            ("suspend", "Suspend"),
            ("lock", "Lock"),
            ("unlock", "Unlock"),
        ],
        "SHUTOFF" => vec![("start", "Start")],
        "PAUSED" => vec![("unpause", "Unpause")],
        "SUSPENDED" => vec![("resume", "Resume")],
        _ => vec![],
    };
    Ok(page(
        &d,
        &sess,
        "instances",
        &format!("Instance {}", s(sv, "name")),
        "instance.html",
        json!({"server": {"id": s(sv, "id"), "name": s(sv, "name"), "status": st}, "facts": facts, "log": log, "ops": ops, "live": !text(sv, "OS-EXT-STS:task_state").is_empty()}),
    )
    .await)
}

/// `POST /dashboard/project/instances/{id}/console` (script, `X-CSRF-Token`): a
/// serial console URL for the page's WebSocket. The URL carries Nova's short-lived
/// console token, not the user's Keystone token.
pub async fn instance_console(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !session::csrf_matches(&sess.csrf, sent) {
        return Err(PageError::Csrf);
    }
    let id = segment(&id)?;
    let v = d
        .backend
        .call(
            &sess.token,
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/remote-consoles"),
            Some(json!({"remote_console": {"protocol": "serial", "type": "serial"}})),
        )
        .await?;
    Ok(Json(json!({"url": s(&v["remote_console"], "url")})).into_response())
}

/// `GET /dashboard/project/key-pairs`.
pub async fn keypairs(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    keypairs_page(&d, &sess, None).await
}

async fn keypairs_page(d: &Dash, sess: &super::Session, notice: Option<Value>) -> PageResult {
    let keys = d
        .backend
        .get(&sess.token, "/compute/v2.1/os-keypairs")
        .await?;
    let mut table = Table::new("keypairs", "Key Pairs", vec!["Name", "Fingerprint"]);
    for k in list(&keys, "keypairs") {
        let k = &k["keypair"];
        let name = s(k, "name");
        let action = Action::new(
            "Delete",
            format!(
                "/dashboard/project/key-pairs/{}/delete",
                segment(name).unwrap_or_default()
            ),
        )
        .danger();
        table.row(
            name,
            vec![Cell::from(name), Cell::from(s(k, "fingerprint"))],
            vec![action],
        );
    }
    let create = UiForm::new(
        "keypair-create",
        "Create Key Pair",
        "/dashboard/project/key-pairs",
        "Create Key Pair",
        vec![Field::text("name", "Key pair name").required()],
    );
    let import = UiForm::new(
        "keypair-import",
        "Import Public Key",
        "/dashboard/project/key-pairs",
        "Import Key Pair",
        vec![
            Field::text("name", "Key pair name").required(),
            Field::text("public_key", "Public key")
                .kind("textarea")
                .required(),
        ],
    );
    super::panel(
        d,
        sess,
        "key-pairs",
        "Key Pairs",
        vec![create, import],
        vec![table],
        notice,
    )
    .await
}

/// `POST /dashboard/project/key-pairs`: creates (the private key is shown once, with
/// a download link) or imports a key pair.
pub async fn keypair_create(
    State(d): State<Dash>,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let f = FormData(f).checked(&sess)?;
    let mut kp = json!({"name": f.required("name", "Key pair name")?});
    if !f.get("public_key").is_empty() {
        kp["public_key"] = json!(f.get("public_key"));
    }
    let made = d
        .backend
        .post(
            &sess.token,
            "/compute/v2.1/os-keypairs",
            json!({"keypair": kp}),
        )
        .await?;
    let private = s(&made["keypair"], "private_key");
    if private.is_empty() {
        return back("/dashboard/project/key-pairs");
    }
    let notice = json!({
        "title": format!("Key pair {} created", s(&made["keypair"], "name")),
        "text": "This is the only copy of the private key: save it now.",
        "secret": private,
        "filename": format!("{}.pem", s(&made["keypair"], "name")),
    });
    keypairs_page(&d, &sess, Some(notice)).await
}

/// `POST /dashboard/project/key-pairs/{name}/delete`.
pub async fn keypair_delete(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    FormData(f).checked(&sess)?;
    d.backend
        .delete(
            &sess.token,
            &format!("/compute/v2.1/os-keypairs/{}", segment(&name)?),
        )
        .await?;
    back("/dashboard/project/key-pairs")
}
