//! Project pages of compute: overview (quota usage), instances (list, launch,
//! actions, detail with console log and serial console) and key pairs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{Value, json};

use super::super::view::{Action, Cell, Field, Form as UiForm, Table, link, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::{Posted, back, options, page, panel, script_session, segment};
use crate::profile::ServiceName;

/// `GET /dashboard/project/overview`: the project's quota usage (Horizon's pie
/// charts as bars): instances, vCPUs, RAM, volumes, floating IPs, security groups.
pub(super) async fn overview(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let mut usage = compute_usage(&d, &sess).await;
    if d.serves(ServiceName::Volume) {
        usage.extend(volume_usage(&d, &sess).await);
    }
    if d.serves(ServiceName::Network) {
        usage.extend(network_usage(&d, &sess).await);
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

/// One usage bar: used of limit, a negative limit being unlimited.
fn usage_bar(label: &str, used: i64, limit: i64) -> Value {
    let pct = if limit > 0 {
        (used * 100 / limit).clamp(0, 100)
    } else {
        0
    };
    let limit = if limit < 0 {
        "unlimited".to_owned()
    } else {
        limit.to_string()
    };
    json!({"label": label, "used": used, "limit": limit, "pct": pct})
}

/// An integer of a limits or quota body, 0 when absent.
fn count(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// Bars from an absolute-limits body: each (label, used key, max key).
fn absolute_bars(a: &Value, rows: &[(&str, &str, &str)]) -> Vec<Value> {
    rows.iter()
        .map(|(label, used, max)| usage_bar(label, count(a, used), count(a, max)))
        .collect()
}

/// Nova's absolute limits: instances, vCPUs, RAM (none when unreadable).
async fn compute_usage(d: &Dash, sess: &super::Session) -> Vec<Value> {
    let Ok(l) = d.backend.get(&sess.token, "/compute/v2.1/limits").await else {
        return vec![];
    };
    let rows = [
        ("Instances", "totalInstancesUsed", "maxTotalInstances"),
        ("VCPUs", "totalCoresUsed", "maxTotalCores"),
        ("RAM (MB)", "totalRAMUsed", "maxTotalRAMSize"),
    ];
    absolute_bars(&l["limits"]["absolute"], &rows)
}

/// Cinder's absolute limits: volumes and their gigabytes.
async fn volume_usage(d: &Dash, sess: &super::Session) -> Vec<Value> {
    let path = format!("/volume/v3/{}/limits", sess.project_id);
    let Ok(l) = d.backend.get(&sess.token, path).await else {
        return vec![];
    };
    let rows = [
        ("Volumes", "totalVolumesUsed", "maxTotalVolumes"),
        (
            "Volume storage (GB)",
            "totalGigabytesUsed",
            "maxTotalVolumeGigabytes",
        ),
    ];
    absolute_bars(&l["limits"]["absolute"], &rows)
}

/// Neutron's quota details: floating IPs, security groups, networks, routers.
async fn network_usage(d: &Dash, sess: &super::Session) -> Vec<Value> {
    let path = format!("/networking/v2.0/quotas/{}/details", sess.project_id);
    let Ok(q) = d.backend.get(&sess.token, path).await else {
        return vec![];
    };
    let q = &q["quota"];
    [
        ("floatingip", "Floating IPs"),
        ("security_group", "Security groups"),
        ("network", "Networks"),
        ("router", "Routers"),
    ]
    .iter()
    .map(|(k, label)| usage_bar(label, count(&q[k], "used"), count(&q[k], "limit")))
    .collect()
}

/// `GET /dashboard/project/instances`: the project's servers; the page refreshes
/// itself while any is in a transitional state.
pub(super) async fn instances(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
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
        instance_row(&mut table, sv, &flavor_names);
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

/// One server's row of the instances table, with the actions its state allows.
fn instance_row(table: &mut Table, sv: &Value, flavor_names: &HashMap<&str, &str>) {
    let id = s(sv, "id");
    let flavor = s(&sv["flavor"], "id");
    let task = text(sv, "OS-EXT-STS:task_state");
    let state = s(sv, "status");
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
            Cell::from(power_label(sv)),
        ],
        instance_row_actions(id, state),
    );
}

/// Nova's power state as Horizon names it.
fn power_label(sv: &Value) -> &'static str {
    match sv.get("OS-EXT-STS:power_state").and_then(Value::as_i64) {
        Some(1) => "Running",
        Some(3) => "Paused",
        Some(4) => "Shut down",
        Some(7) => "Suspended",
        Some(0) | None => "No state",
        Some(_) => "Other",
    }
}

/// The row buttons of a server in `state`; Delete always.
fn instance_row_actions(id: &str, state: &str) -> Vec<Action> {
    let act = |label: &str, op: &str| {
        Action::new(label, format!("/dashboard/project/instances/{id}/action")).field("op", op)
    };
    let mut actions = match state {
        "SHUTOFF" => vec![act("Start", "start")],
        "ACTIVE" => vec![act("Stop", "stop"), act("Reboot", "reboot")],
        "VERIFY_RESIZE" => vec![
            act("Confirm resize", "confirm-resize"),
            act("Revert resize", "revert-resize"),
        ],
        _ => vec![],
    };
    actions.push(act("Delete", "delete").danger());
    actions
}

/// A server's addresses as "net: ip, ip; ..."./// A server's addresses as "net: ip, ip; ...".
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
pub(super) async fn launch_page(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let choices = launch_choices(&d, &sess).await?;
    let form = UiForm::new(
        "launch",
        "Launch Instance",
        "/dashboard/project/instances",
        "Launch",
        launch_fields(d.serves(ServiceName::Volume), &choices),
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

/// What the launch form offers, read as the user; only images and flavors must be
/// readable, the other lists are empty when their service does not answer.
struct LaunchChoices {
    images: Value,
    flavors: Value,
    nets: Value,
    keys: Value,
    sgs: Value,
    vols: Value,
}

/// Reads the launch form's choices from the services at once.
async fn launch_choices(d: &Dash, sess: &super::Session) -> Result<LaunchChoices, PageError> {
    let t = &sess.token;
    let volumes_path = format!("/volume/v3/{}/volumes/detail", sess.project_id);
    let (images, flavors, nets, keys, sgs, vols) = tokio::join!(
        d.backend.get(t, "/image/v2/images?status=active"),
        d.backend.get(t, "/compute/v2.1/flavors/detail"),
        d.backend.get(t, "/networking/v2.0/networks"),
        d.backend.get(t, "/compute/v2.1/os-keypairs"),
        d.backend.get(t, "/networking/v2.0/security-groups"),
        async {
            if d.serves(ServiceName::Volume) {
                d.backend.get(t, volumes_path.clone()).await
            } else {
                Ok(Value::Null)
            }
        },
    );
    Ok(LaunchChoices {
        images: images?,
        flavors: flavors?,
        nets: nets.unwrap_or_default(),
        keys: keys.unwrap_or_default(),
        sgs: sgs.unwrap_or_default(),
        vols: vols.unwrap_or_default(),
    })
}

/// The launch form's fields, the volume boot sources only where Block Storage is served.
fn launch_fields(volumes: bool, c: &LaunchChoices) -> Vec<Field> {
    let mut sources = vec![("image".to_owned(), "Image".to_owned())];
    if volumes {
        sources.push(("volume".to_owned(), "Volume".to_owned()));
        sources.push((
            "image-volume".to_owned(),
            "Image (on a new volume)".to_owned(),
        ));
    }
    let mut fields = vec![
        Field::text("name", "Instance name").required(),
        Field::select("source", "Boot source", sources).value("image"),
        Field::select(
            "image",
            "Image",
            options(list(&c.images, "images"), "id", |i| s(i, "name").to_owned()),
        ),
    ];
    if volumes {
        fields.extend(boot_volume_fields(&c.vols));
    }
    let mut flavors: Vec<Value> = list(&c.flavors, "flavors").to_vec();
    flavors.sort_by_key(|f| f.get("ram").and_then(Value::as_i64).unwrap_or(0));
    fields.extend([
        Field::select("flavor", "Flavor", options(&flavors, "id", flavor_label)),
        Field {
            kind: "multiselect",
            ..Field::select("network", "Networks", launch_network_options(&c.nets))
        },
        Field::select("key_name", "Key pair", keypair_options(&c.keys)),
        Field {
            kind: "multiselect",
            value: "default".into(),
            ..Field::select(
                "security_group",
                "Security groups",
                security_group_options(&c.sgs),
            )
        },
        Field::text("user_data", "User data (cloud-init, optional)").kind("textarea"),
        Field::text("count", "Count").kind("number").value("1"),
    ]);
    fields
}

/// The fields of the volume boot sources: an existing volume, or the size and
/// lifetime of a new one made from the image.
fn boot_volume_fields(vols: &Value) -> [Field; 3] {
    // The volumes an instance can boot from: bootable and not attached (Horizon's
    // "Volume" boot source lists the same).
    let bootable: Vec<Value> = list(vols, "volumes")
        .iter()
        .filter(|v| s(v, "bootable") == "true" && s(v, "status") == "available")
        .cloned()
        .collect();
    let volume_opts = options(&bootable, "id", |v| {
        format!("{} ({} GB)", volume_name(v), text(v, "size"))
    });
    [
        Field::select("volume", "Volume (boot source Volume)", volume_opts),
        Field::text("volume_size", "New volume size (GB)")
            .kind("number")
            .value("1"),
        Field::text(
            "delete_on_termination",
            "Delete the volume with the instance",
        )
        .kind("checkbox"),
    ]
}

/// A flavor as the forms offer it: name and size.
fn flavor_label(f: &Value) -> String {
    format!(
        "{} ({} vCPU, {} MB RAM, {} GB disk)",
        s(f, "name"),
        text(f, "vcpus"),
        text(f, "ram"),
        text(f, "disk")
    )
}

/// The networks a server may be launched on: the project's own and shared ones,
/// not an external network the project does not share.
fn launch_network_options(nets: &Value) -> Vec<(String, String)> {
    list(nets, "networks")
        .iter()
        .filter(|n| {
            n.get("router:external") != Some(&Value::Bool(true))
                || n.get("shared") == Some(&Value::Bool(true))
        })
        .map(|n| (s(n, "id").to_owned(), s(n, "name").to_owned()))
        .collect()
}

/// The user's key pairs, after a "(none)" choice.
fn keypair_options(keys: &Value) -> Vec<(String, String)> {
    let mut key_opts = vec![(String::new(), "(none)".to_owned())];
    key_opts.extend(list(keys, "keypairs").iter().map(|k| {
        (
            s(&k["keypair"], "name").to_owned(),
            s(&k["keypair"], "name").to_owned(),
        )
    }));
    key_opts
}

/// Security groups by name, as Nova takes them at boot.
fn security_group_options(sgs: &Value) -> Vec<(String, String)> {
    let mut sg_names: Vec<String> = list(sgs, "security_groups")
        .iter()
        .map(|g| s(g, "name").to_owned())
        .collect();
    sg_names.dedup();
    sg_names.into_iter().map(|n| (n.clone(), n)).collect()
}

/// `POST /dashboard/project/instances`: creates the server(s) as the user.
pub(super) async fn instance_launch(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
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
        "flavorRef": f.required("flavor", "Flavor")?,
        "min_count": count,
        "max_count": count,
    });
    // The boot source, as Horizon sends it: an image as the local root disk, or a
    // root volume in `block_device_mapping_v2` (an existing one, or one Nova makes
    // from the image); Nova validates the mapping and answers in its words.
    let delete_on_termination = f.get("delete_on_termination") == "1";
    match f.get("source") {
        "" | "image" => server["imageRef"] = json!(f.required("image", "Image")?),
        "volume" => {
            server["block_device_mapping_v2"] = json!([{
                "boot_index": 0,
                "uuid": f.required("volume", "Volume")?,
                "source_type": "volume",
                "destination_type": "volume",
                "delete_on_termination": delete_on_termination,
            }]);
        }
        "image-volume" => {
            let size: u32 = f
                .required("volume_size", "New volume size")?
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    PageError::BadInput(
                        "New volume size must be a whole number of GB, at least 1.".into(),
                    )
                })?;
            server["block_device_mapping_v2"] = json!([{
                "boot_index": 0,
                "uuid": f.required("image", "Image")?,
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": size,
                "delete_on_termination": delete_on_termination,
            }]);
        }
        other => {
            return Err(PageError::BadInput(format!(
                "'{other}' is not a boot source (image, volume or image-volume)."
            )));
        }
    }
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

/// `POST /dashboard/project/instances/{id}/action`: the server actions (start,
/// stop, reboot, pause, suspend, lock and their undos, resize with its confirm and
/// revert, rebuild, snapshot), interface and volume attach/detach, and delete; each
/// is one compute API call as the user.
pub(super) async fn instance_action(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let id = segment(&id)?;
    let server = format!("/compute/v2.1/servers/{id}");
    let action = |body: Value| (Method::POST, format!("{server}/action"), Some(body));
    let (method, path, body) = match f.get("op") {
        "delete" => (Method::DELETE, server.clone(), None),
        "start" => action(json!({"os-start": null})),
        "stop" => action(json!({"os-stop": null})),
        "reboot" => action(json!({"reboot": {"type": "SOFT"}})),
        "hard-reboot" => action(json!({"reboot": {"type": "HARD"}})),
        "pause" => action(json!({"pause": null})),
        "unpause" => action(json!({"unpause": null})),
        "suspend" => action(json!({"suspend": null})),
        "resume" => action(json!({"resume": null})),
        "lock" => action(json!({"lock": null})),
        "unlock" => action(json!({"unlock": null})),
        "resize" => action(json!({"resize": {"flavorRef": f.required("flavor", "Flavor")?}})),
        "confirm-resize" => action(json!({"confirmResize": null})),
        "revert-resize" => action(json!({"revertResize": null})),
        "rebuild" => action(json!({"rebuild": {"imageRef": f.required("image", "Image")?}})),
        "snapshot" => {
            action(json!({"createImage": {"name": f.required("name", "Snapshot name")?}}))
        }
        "attach-interface" => (
            Method::POST,
            format!("{server}/os-interface"),
            Some(json!({"interfaceAttachment": {"net_id": f.required("network", "Network")?}})),
        ),
        "detach-interface" => (
            Method::DELETE,
            format!(
                "{server}/os-interface/{}",
                segment(f.required("port_id", "Port")?)?
            ),
            None,
        ),
        "attach-volume" => (
            Method::POST,
            format!("{server}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": f.required("volume", "Volume")?}})),
        ),
        "detach-volume" => (
            Method::DELETE,
            format!(
                "{server}/os-volume_attachments/{}",
                segment(f.required("volume", "Volume")?)?
            ),
            None,
        ),
        other => return Err(PageError::BadInput(format!("Unknown action '{other}'."))),
    };
    d.backend.call(&sess.token, method, &path, body).await?;
    match (f.get("op"), f.get("next")) {
        ("snapshot", _) => back("/dashboard/project/images"),
        ("delete", _) => back("/dashboard/project/instances"),
        (_, "detail") => back(&format!("/dashboard/project/instances/{id}")),
        _ => back("/dashboard/project/instances"),
    }
}

/// The one-click actions a server in `status` offers (Horizon's row actions).
fn simple_ops(status: &str, locked: bool) -> Vec<(&'static str, &'static str)> {
    let mut ops = match status {
        "ACTIVE" => vec![
            ("stop", "Stop"),
            ("reboot", "Reboot"),
            ("hard-reboot", "Hard reboot"),
            ("pause", "Pause"),
            ("suspend", "Suspend"),
        ],
        "SHUTOFF" => vec![("start", "Start")],
        "PAUSED" => vec![("unpause", "Unpause")],
        "SUSPENDED" => vec![("resume", "Resume")],
        "VERIFY_RESIZE" => vec![
            ("confirm-resize", "Confirm resize"),
            ("revert-resize", "Revert resize"),
        ],
        _ => vec![],
    };
    ops.push(if locked {
        ("unlock", "Unlock")
    } else {
        ("lock", "Lock")
    });
    ops
}

/// `GET /dashboard/project/instances/{id}`: details, the one-click actions, forms
/// for the actions that need a choice (resize, rebuild, snapshot, attach an
/// interface or a volume), its interfaces and volumes, the console log and the
/// serial console (opened by the page's script).
pub(super) async fn instance_detail(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let id = segment(&id)?;
    let r = instance_reads(&d, &sess, &id).await?;
    let sv = &r.server["server"];
    let locked = sv.get("locked").and_then(Value::as_bool).unwrap_or(false);
    let facts = instance_facts(sv, &r.flavors, locked);
    let st = s(sv, "status");
    let (forms, tables) = instance_forms(&id, st, s(&sv["flavor"], "id"), &r);
    Ok(page(
        &d,
        &sess,
        "instances",
        &format!("Instance {}", s(sv, "name")),
        "instance.html",
        json!({
            "server": {"id": s(sv, "id"), "name": s(sv, "name"), "status": st},
            "facts": facts, "log": r.log, "ops": simple_ops(st, locked),
            "live": !text(sv, "OS-EXT-STS:task_state").is_empty(),
            "forms": forms, "tables": tables,
        }),
    )
    .await)
}

/// What the instance page reads as the user: the server (which must be readable),
/// its console log and interfaces (a failure shown in their place), and the
/// flavors, images, networks and volumes its forms offer.
struct InstanceReads {
    server: Value,
    log: String,
    flavors: Value,
    images: Value,
    nets: Value,
    ifaces: Value,
    vols: Value,
}

/// Reads everything the instance page shows at once.
async fn instance_reads(
    d: &Dash,
    sess: &super::Session,
    id: &str,
) -> Result<InstanceReads, PageError> {
    let t = &sess.token;
    let server = format!("/compute/v2.1/servers/{id}");
    let volumes = d.serves(ServiceName::Volume);
    let console = format!("{server}/action");
    let (sv, log, flavors, images, nets, ifaces, vols) = tokio::join!(
        d.backend.get(t, server.clone()),
        d.backend
            .post(t, &console, json!({"os-getConsoleOutput": {"length": 200}}),),
        d.backend.get(t, "/compute/v2.1/flavors/detail"),
        d.backend.get(t, "/image/v2/images?status=active"),
        d.backend.get(t, "/networking/v2.0/networks"),
        d.backend.get(t, format!("{server}/os-interface")),
        async {
            if volumes {
                d.backend
                    .get(t, format!("/volume/v3/{}/volumes/detail", sess.project_id))
                    .await
            } else {
                Ok(Value::Null)
            }
        },
    );
    Ok(InstanceReads {
        server: sv?,
        log: log
            .map(|v| text(&v, "output"))
            .unwrap_or_else(|e| format!("(no console log: {})", e.message)),
        flavors: flavors.unwrap_or_default(),
        images: images.unwrap_or_default(),
        nets: nets.unwrap_or_default(),
        ifaces: ifaces.unwrap_or_else(
            |e| json!({"error": format!("Interfaces could not be read: {}", e.message)}),
        ),
        vols: vols.unwrap_or_default(),
    })
}

/// The instance page's facts, the flavor by name when it can be read.
fn instance_facts(sv: &Value, flavors: &Value, locked: bool) -> Vec<(&'static str, String)> {
    let flavor_id = s(&sv["flavor"], "id");
    let flavor_name = list(flavors, "flavors")
        .iter()
        .find(|f| s(f, "id") == flavor_id)
        .map_or(flavor_id, |f| s(f, "name"));
    vec![
        ("ID", text(sv, "id")),
        ("Status", text(sv, "status")),
        ("Task", text(sv, "OS-EXT-STS:task_state")),
        ("IP addresses", addresses(sv)),
        ("Flavor", flavor_name.to_owned()),
        ("Image", s(&sv["image"], "id").to_owned()),
        ("Key pair", text(sv, "key_name")),
        ("Created", text(sv, "created")),
        ("Locked", if locked { "yes" } else { "no" }.to_owned()),
    ]
}

/// The instance page's forms (actions with a choice) and its interface and volume
/// tables.
fn instance_forms(
    id: &str,
    st: &str,
    flavor_id: &str,
    r: &InstanceReads,
) -> (Vec<UiForm>, Vec<Table>) {
    let (flavors, images, nets, ifaces, vols) =
        (&r.flavors, &r.images, &r.nets, &r.ifaces, &r.vols);
    let to = format!("/dashboard/project/instances/{id}/action");
    let mut forms = vec![];
    if matches!(st, "ACTIVE" | "SHUTOFF") {
        forms.extend([
            resize_form(&to, flavor_id, flavors),
            action_form(
                &to,
                "instance-rebuild",
                "Rebuild Instance",
                "rebuild",
                vec![Field::select(
                    "image",
                    "Image",
                    options(list(images, "images"), "id", |i| s(i, "name").to_owned()),
                )],
            ),
            action_form(
                &to,
                "instance-snapshot",
                "Create Snapshot",
                "snapshot",
                vec![Field::text("name", "Snapshot name").required()],
            ),
            attach_interface_form(&to, nets),
        ]);
        if !vols.is_null() {
            forms.push(attach_volume_form(&to, vols));
        }
    }
    let mut tables = vec![interfaces_table(&to, nets, ifaces)];
    if !vols.is_null() {
        tables.push(instance_volumes_table(id, &to, vols));
    }
    (forms, tables)
}

/// A form posting server action `op` to `to`, back to the instance page after.
fn action_form(to: &str, fid: &str, title: &str, op: &str, mut fields: Vec<Field>) -> UiForm {
    fields.push(Field::text("op", "").kind("hidden").value(op));
    fields.push(Field::text("next", "").kind("hidden").value("detail"));
    UiForm::new(fid, title, to, title, fields)
}

/// A row button posting server action `op` to `to`, back to the instance page after.
fn detail_action(to: &str, label: &str, op: &str) -> Action {
    Action::new(label, to.to_owned())
        .field("op", op)
        .field("next", "detail")
}

/// Resize: any flavor but the server's own.
fn resize_form(to: &str, flavor_id: &str, flavors: &Value) -> UiForm {
    let other: Vec<Value> = list(flavors, "flavors")
        .iter()
        .filter(|f| s(f, "id") != flavor_id)
        .cloned()
        .collect();
    action_form(
        to,
        "instance-resize",
        "Resize Instance",
        "resize",
        vec![Field::select(
            "flavor",
            "New flavor",
            options(&other, "id", flavor_label),
        )],
    )
}

/// Attach an interface on any network but an external one.
fn attach_interface_form(to: &str, nets: &Value) -> UiForm {
    let attachable: Vec<Value> = list(nets, "networks")
        .iter()
        .filter(|n| n.get("router:external") != Some(&Value::Bool(true)))
        .cloned()
        .collect();
    action_form(
        to,
        "instance-attach-interface",
        "Attach Interface",
        "attach-interface",
        vec![Field::select(
            "network",
            "Network",
            options(&attachable, "id", |n| s(n, "name").to_owned()),
        )],
    )
}

/// Attach one of the project's available volumes.
fn attach_volume_form(to: &str, vols: &Value) -> UiForm {
    let available: Vec<Value> = list(vols, "volumes")
        .iter()
        .filter(|v| s(v, "status") == "available")
        .cloned()
        .collect();
    action_form(
        to,
        "instance-attach-volume",
        "Attach Volume",
        "attach-volume",
        vec![Field::select(
            "volume",
            "Volume",
            options(&available, "id", |v| {
                format!("{} ({} GiB)", volume_name(v), text(v, "size"))
            }),
        )],
    )
}

/// The server's interfaces, each with a Detach button; a read failure shows as the
/// empty text.
fn interfaces_table(to: &str, nets: &Value, ifaces: &Value) -> Table {
    let mut ports = Table::new(
        "interfaces",
        "Interfaces",
        vec!["Port", "Network", "Fixed IPs", "MAC address", "State"],
    );
    ports.empty = match ifaces.get("error").and_then(Value::as_str) {
        Some(e) => e.to_owned(),
        None => "No interfaces.".into(),
    };
    for i in list(ifaces, "interfaceAttachments") {
        let port = s(i, "port_id");
        let net = list(nets, "networks")
            .iter()
            .find(|n| s(n, "id") == s(i, "net_id"))
            .map_or(s(i, "net_id"), |n| s(n, "name"));
        let ips: Vec<&str> = list(i, "fixed_ips")
            .iter()
            .map(|f| s(f, "ip_address"))
            .collect();
        ports.row(
            port,
            vec![
                Cell::from(port),
                Cell::from(net),
                Cell::from(ips.join(", ")),
                Cell::from(s(i, "mac_addr")),
                status(s(i, "port_state")),
            ],
            vec![
                detail_action(to, "Detach", "detach-interface")
                    .field("port_id", port)
                    .danger(),
            ],
        );
    }
    ports
}

/// The volumes attached to server `id`, each with a Detach button.
fn instance_volumes_table(id: &str, to: &str, vols: &Value) -> Table {
    let mut attached = Table::new(
        "instance-volumes",
        "Volumes",
        vec!["Volume", "Size", "Device"],
    );
    attached.empty = "No volumes attached.".into();
    for v in list(vols, "volumes") {
        for a in list(v, "attachments")
            .iter()
            .filter(|a| s(a, "server_id") == id)
        {
            attached.row(
                s(v, "id"),
                vec![
                    Cell::from(volume_name(v)),
                    Cell::from(format!("{} GiB", text(v, "size"))),
                    Cell::from(s(a, "device")),
                ],
                vec![
                    detail_action(to, "Detach", "detach-volume")
                        .field("volume", s(v, "id"))
                        .danger(),
                ],
            );
        }
    }
    attached
}

/// A volume's name, or its id when it has none.
fn volume_name(v: &Value) -> &str {
    match s(v, "name") {
        "" => s(v, "id"),
        n => n,
    }
}

/// `POST /dashboard/project/instances/{id}/console` (script, `X-CSRF-Token`): a
/// serial console URL for the page's WebSocket. The URL carries Nova's short-lived
/// console token, not the user's Keystone token.
pub(super) async fn instance_console(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = script_session(&d, &headers).await?;
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
pub(super) async fn keypairs(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
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
pub(super) async fn keypair_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
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
pub(super) async fn keypair_delete(
    State(d): State<Dash>,
    Path(name): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!("/compute/v2.1/os-keypairs/{}", segment(&name)?),
        )
        .await?;
    back("/dashboard/project/key-pairs")
}
