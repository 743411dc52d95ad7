//! Project pages of images and volumes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::super::view::{Action, Cell, Field, Form as UiForm, Table, link, list, s, status, text};
use super::super::{Dash, PageError, PageResult};
use super::{Posted, back, page, panel, script_session, segment};

/// `GET /dashboard/project/images`.
pub(super) async fn images(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let v = d.backend.get(&sess.token, "/image/v2/images").await?;
    let mut table = Table::new(
        "images",
        "Images",
        vec!["Name", "Status", "Visibility", "Disk format", "Size"],
    );
    for i in list(&v, "images") {
        let id = s(i, "id");
        let size = i
            .get("size")
            .and_then(Value::as_u64)
            .map_or(String::new(), human_size);
        let actions = if s(i, "owner") == sess.project_id {
            vec![Action::new("Delete", format!("/dashboard/project/images/{id}/delete")).danger()]
        } else {
            vec![]
        };
        // An image with data downloads (streamed) from its name.
        let name = if s(i, "status") == "active" {
            link(
                s(i, "name"),
                format!("/dashboard/project/images/{id}/download"),
            )
        } else {
            Cell::from(s(i, "name"))
        };
        table.row(
            id,
            vec![
                name,
                status(s(i, "status")),
                Cell::from(s(i, "visibility")),
                Cell::from(s(i, "disk_format")),
                Cell::from(size),
            ],
            actions,
        );
    }
    Ok(page(
        &d,
        &sess,
        "images",
        "Images",
        "images.html",
        json!({"forms": [], "tables": [table]}),
    )
    .await)
}

pub(super) fn human_size(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `POST /dashboard/project/images`: the image record. The page's script asks for
/// JSON (the id, to upload the file to); without a script the record stays queued.
pub(super) async fn image_create(
    State(d): State<Dash>,
    headers: HeaderMap,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let body = json!({
        "name": f.required("name", "Image name")?,
        "disk_format": if f.get("disk_format").is_empty() { "qcow2" } else { f.get("disk_format") },
        "container_format": "bare",
        "visibility": if f.get("visibility").is_empty() { "private" } else { f.get("visibility") },
    });
    let made = d
        .backend
        .post(&sess.token, "/image/v2/images", body)
        .await?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(Json(json!({"id": s(&made, "id")})).into_response());
    }
    back("/dashboard/project/images")
}

/// `PUT /dashboard/project/images/{id}/data` (script, `X-CSRF-Token`): streams the
/// file to the image API's upload as the user.
pub(super) async fn image_upload(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> PageResult {
    let sess = script_session(&d, &headers).await?;
    d.backend
        .send(
            Some(&sess.token),
            Method::PUT,
            &format!("/image/v2/images/{}/file", segment(&id)?),
            body,
            Some("application/octet-stream"),
        )
        .await?;
    Ok(Json(json!({"id": id})).into_response())
}

/// `GET /dashboard/project/images/{id}/download`: the image's data, streamed from
/// the image store to the browser as `<name>.<disk format>`.
pub(super) async fn image_download(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let seg = segment(&id)?;
    let image = d
        .backend
        .get(&sess.token, format!("/image/v2/images/{seg}"))
        .await?;
    let (parts, body) = d
        .backend
        .stream(
            Some(&sess.token),
            Method::GET,
            &format!("/image/v2/images/{seg}/file"),
            &[],
            Body::empty(),
            None,
        )
        .await?;
    let file = format!("{}.{}", s(&image, "name"), s(&image, "disk_format"));
    Ok(super::object::attachment(&parts.headers, body, &file))
}

/// `POST /dashboard/project/images/{id}/delete`.
pub(super) async fn image_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(&sess.token, &format!("/image/v2/images/{}", segment(&id)?))
        .await?;
    back("/dashboard/project/images")
}

fn volumes_base(project: &str) -> String {
    format!("/volume/v3/{project}")
}

/// `GET /dashboard/project/volumes`.
pub(super) async fn volumes(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let t = &sess.token;
    let base = volumes_base(&sess.project_id);
    let (vols, servers, snaps) = tokio::join!(
        d.backend.get(t, &format!("{base}/volumes/detail")),
        d.backend.get(t, "/compute/v2.1/servers"),
        d.backend.get(t, &format!("{base}/snapshots/detail")),
    );
    let vols = vols?;
    let (servers, snaps) = (servers.unwrap_or_default(), snaps.unwrap_or_default());
    let server_opts: Vec<(String, String)> = list(&servers, "servers")
        .iter()
        .map(|sv| (s(sv, "id").to_owned(), s(sv, "name").to_owned()))
        .collect();
    let create = UiForm::new(
        "volume-create",
        "Create Volume",
        "/dashboard/project/volumes",
        "Create Volume",
        vec![
            Field::text("name", "Volume name"),
            Field::text("size", "Size (GiB)")
                .kind("number")
                .value("1")
                .required(),
            Field::text("description", "Description"),
        ],
    );
    let tables = vec![
        volumes_table(&vols, &server_opts),
        snapshots_table(&snaps, &vols),
    ];
    panel(&d, &sess, "volumes", "Volumes", vec![create], tables, None).await
}

/// A resource's name, or its id when it has none.
fn name_or_id(v: &Value) -> &str {
    match s(v, "name") {
        "" => s(v, "id"),
        n => n,
    }
}

/// The project's volumes, with where each is attached (servers by name).
fn volumes_table(vols: &Value, server_opts: &[(String, String)]) -> Table {
    let name_of = |id: &str| {
        server_opts
            .iter()
            .find(|(i, _)| i == id)
            .map_or(id.to_owned(), |(_, n)| n.clone())
    };
    let mut table = Table::new(
        "volumes",
        "Volumes",
        vec!["Name", "Size", "Status", "Type", "Attached to", "Bootable"],
    );
    for v in list(vols, "volumes") {
        let attached: Vec<String> = list(v, "attachments")
            .iter()
            .map(|a| format!("{} on {}", name_of(s(a, "server_id")), s(a, "device")))
            .collect();
        table.row(
            s(v, "id"),
            vec![
                Cell::from(name_or_id(v)),
                Cell::from(format!("{} GiB", text(v, "size"))),
                status(s(v, "status")),
                Cell::from(s(v, "volume_type")),
                Cell::from(attached.join(", ")),
                Cell::from(s(v, "bootable")),
            ],
            volume_actions(v, server_opts),
        );
    }
    table
}

/// A volume's buttons: attach when available, detach per attachment, snapshot
/// when available or in use, delete.
fn volume_actions(v: &Value, server_opts: &[(String, String)]) -> Vec<Action> {
    let id = s(v, "id");
    let mut actions = vec![];
    if s(v, "status") == "available" {
        actions.push(
            Action::new("Attach", format!("/dashboard/project/volumes/{id}/attach"))
                .input(Field::select("server_id", "Instance", server_opts.to_vec())),
        );
    }
    for a in list(v, "attachments") {
        actions.push(
            Action::new("Detach", format!("/dashboard/project/volumes/{id}/detach"))
                .field("server_id", s(a, "server_id")),
        );
    }
    if matches!(s(v, "status"), "available" | "in-use") {
        actions.push(
            Action::new(
                "Create snapshot",
                format!("/dashboard/project/volumes/{id}/snapshot"),
            )
            .input(Field::text("name", "Snapshot name")),
        );
    }
    actions.push(Action::new("Delete", format!("/dashboard/project/volumes/{id}/delete")).danger());
    actions
}

/// The project's volume snapshots, their volumes by name.
fn snapshots_table(snaps: &Value, vols: &Value) -> Table {
    let vol_name = |id: &str| {
        list(vols, "volumes")
            .iter()
            .find(|v| s(v, "id") == id)
            .map_or(id.to_owned(), |v| match s(v, "name") {
                "" => id.to_owned(),
                n => n.to_owned(),
            })
    };
    let mut snap_table = Table::new(
        "snapshots",
        "Volume Snapshots",
        vec!["Name", "Size", "Status", "Volume", "Created"],
    );
    snap_table.empty = "No snapshots.".into();
    for sn in list(snaps, "snapshots") {
        let id = s(sn, "id");
        let mut actions = vec![];
        if s(sn, "status") == "available" {
            actions.push(
                Action::new(
                    "Create volume",
                    format!("/dashboard/project/snapshots/{id}/volume"),
                )
                .input(Field::text("name", "Volume name")),
            );
        }
        actions.push(
            Action::new(
                "Delete",
                format!("/dashboard/project/snapshots/{id}/delete"),
            )
            .danger(),
        );
        snap_table.row(
            id,
            vec![
                Cell::from(name_or_id(sn)),
                Cell::from(format!("{} GiB", text(sn, "size"))),
                status(s(sn, "status")),
                Cell::from(vol_name(s(sn, "volume_id"))),
                Cell::from(s(sn, "created_at")),
            ],
            actions,
        );
    }
    snap_table
}

/// `POST /dashboard/project/volumes/{id}/snapshot`: `force` as Horizon sends it,
/// so an attached (in-use) volume can be snapshotted too.
pub(super) async fn volume_snapshot_create(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let mut snap = json!({"volume_id": segment(&id)?, "force": true});
    if !f.get("name").is_empty() {
        snap["name"] = json!(f.get("name"));
    }
    d.backend
        .post(
            &sess.token,
            &format!("{}/snapshots", volumes_base(&sess.project_id)),
            json!({"snapshot": snap}),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/snapshots/{id}/delete`.
pub(super) async fn snapshot_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!(
                "{}/snapshots/{}",
                volumes_base(&sess.project_id),
                segment(&id)?
            ),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/snapshots/{id}/volume`: a new volume from the
/// snapshot, of the snapshot's size.
pub(super) async fn snapshot_volume_create(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let base = volumes_base(&sess.project_id);
    let id = segment(&id)?;
    let snap = d
        .backend
        .get(&sess.token, format!("{base}/snapshots/{id}"))
        .await?;
    let mut vol = json!({"snapshot_id": id, "size": snap["snapshot"]["size"]});
    if !f.get("name").is_empty() {
        vol["name"] = json!(f.get("name"));
    }
    d.backend
        .post(
            &sess.token,
            &format!("{base}/volumes"),
            json!({"volume": vol}),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/volumes`.
pub(super) async fn volume_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let size: u32 = f
        .required("size", "Size")?
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            PageError::BadInput("Size must be a whole number of GiB, at least 1.".into())
        })?;
    let mut vol = json!({"size": size, "description": f.get("description")});
    if !f.get("name").is_empty() {
        vol["name"] = json!(f.get("name"));
    }
    d.backend
        .post(
            &sess.token,
            &format!("{}/volumes", volumes_base(&sess.project_id)),
            json!({"volume": vol}),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/volumes/{id}/delete`.
pub(super) async fn volume_delete(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    d.backend
        .delete(
            &sess.token,
            &format!(
                "{}/volumes/{}",
                volumes_base(&sess.project_id),
                segment(&id)?
            ),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/volumes/{id}/attach`: through compute, as Horizon does.
pub(super) async fn volume_attach(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let server = segment(f.required("server_id", "Instance")?)?;
    d.backend
        .post(
            &sess.token,
            &format!("/compute/v2.1/servers/{server}/os-volume_attachments"),
            json!({"volumeAttachment": {"volumeId": id}}),
        )
        .await?;
    back("/dashboard/project/volumes")
}

/// `POST /dashboard/project/volumes/{id}/detach`.
pub(super) async fn volume_detach(
    State(d): State<Dash>,
    Path(id): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let server = segment(f.required("server_id", "Instance")?)?;
    d.backend
        .call(
            &sess.token,
            Method::DELETE,
            &format!(
                "/compute/v2.1/servers/{server}/os-volume_attachments/{}",
                segment(&id)?
            ),
            None,
        )
        .await?;
    back("/dashboard/project/volumes")
}
