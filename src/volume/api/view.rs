//! How volumes and types look on the wire, per microversion and role.

use serde_json::{Value, json};

use super::Mv;
use crate::http::context::RequestContext;
use crate::http::policy;
use crate::volume::model::{Volume, VolumeType};

/// Cinder's `links`: a versioned self link and an unversioned bookmark.
pub(super) fn links(root: &str, collection: &str, id: &str) -> Value {
    let bookmark = root.replacen("/volume/v3", "/volume", 1);
    json!([
        {"rel": "self", "href": format!("{root}/{collection}/{id}")},
        {"rel": "bookmark", "href": format!("{bookmark}/{collection}/{id}")},
    ])
}

/// A volume's attachments as the volume shows them (the attached ones).
fn attachments(v: &Volume) -> Value {
    v.attachments
        .iter()
        .filter(|a| matches!(a.status.as_str(), "attached" | "detaching"))
        .map(|a| {
            json!({
                "id": v.id,
                "attachment_id": a.id,
                "volume_id": v.id,
                "server_id": a.instance_uuid,
                "host_name": null,
                "device": a.mountpoint,
                "attached_at": a.attached_at,
            })
        })
        .collect()
}

/// The user metadata, with the admin metadata's `readonly` flag as Cinder shows it.
fn shown_metadata(v: &Volume) -> std::collections::BTreeMap<String, String> {
    let mut m = v.metadata.clone();
    if let Some(r) = v.admin_metadata.get("readonly") {
        m.insert("readonly".into(), r.clone());
    }
    m
}

/// The list form: id, name and links.
pub(super) fn volume_summary(root: &str, v: &Volume) -> Value {
    json!({"id": v.id, "name": v.name, "links": links(root, "volumes", &v.id)})
}

/// The detail form, with the admin-only attributes for admins.
pub(super) fn volume_detail(
    root: &str,
    v: &Volume,
    mv: Mv,
    ctx: &RequestContext,
    host: &str,
) -> Value {
    let mut out = volume_attributes(root, v);
    if !v.image_metadata.is_empty() {
        out["volume_image_metadata"] = json!(v.image_metadata);
    }
    if ctx.allowed(policy::VOLUME_HOST_ATTRIBUTE) {
        out["os-vol-host-attr:host"] = json!(host);
    }
    if ctx.allowed(policy::VOLUME_MIG_STATUS_ATTRIBUTE) {
        out["os-vol-mig-status-attr:migstat"] = Value::Null;
        out["os-vol-mig-status-attr:name_id"] = Value::Null;
    }
    microversion_attributes(&mut out, v, mv, ctx, host);
    out
}

/// The attributes every microversion shows.
fn volume_attributes(root: &str, v: &Volume) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "status": v.status.as_str(),
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "attachments": attachments(v),
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "multiattach": v.multiattach,
        "volume_type": v.type_name,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "metadata": shown_metadata(v),
        "links": links(root, "volumes", &v.id),
        "user_id": v.user_id,
        "replication_status": null,
        "consistencygroup_id": null,
        "migration_status": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    })
}

/// The attributes later microversions add (some for admins only).
fn microversion_attributes(out: &mut Value, v: &Volume, mv: Mv, ctx: &RequestContext, host: &str) {
    if mv.at_least(13) {
        out["group_id"] = json!(v.group_id);
    }
    if mv.at_least(21) && ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) {
        out["provider_id"] = Value::Null;
    }
    if mv.at_least(48) {
        out["service_uuid"] = json!(crate::volume::facade::service_uuid(host));
        // 3.69: null means "not known until attached" (no shared targets here).
        out["shared_targets"] = if mv.at_least(69) {
            Value::Null
        } else {
            json!(false)
        };
    }
    if mv.at_least(61) && ctx.allowed(crate::http::policy::VOLUME_HOST_ATTRIBUTE) {
        out["cluster_name"] = Value::Null;
    }
    if mv.at_least(63) {
        out["volume_type_id"] = json!(v.type_id);
    }
    if mv.at_least(64) {
        out["encryption_key_id"] = Value::Null;
    }
    if mv.at_least(65) {
        out["consumes_quota"] = json!(true);
    }
}

/// The volume as create and update answer it: Cinder adds the tenant, host,
/// migration and image-metadata attributes only to show and list.
pub(super) fn volume_written(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|k, _| {
            !k.starts_with("os-vol-") && k != "volume_image_metadata" && k != "cluster_name"
        });
    }
    v
}

/// A volume type as create (`creating`) and update answer it: without the QoS
/// id, and update also without the older is_public spelling (Cinder's views).
pub(super) fn volume_type_written(t: &VolumeType, creating: bool) -> Value {
    let mut v = volume_type(t);
    if let Value::Object(m) = &mut v {
        m.remove("qos_specs_id");
        if !creating {
            m.remove("os-volume-type-access:is_public");
        }
    }
    v
}

/// A volume type; `os-volume-type-access:is_public` is Cinder's older spelling.
pub(super) fn volume_type(t: &VolumeType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": t.extra_specs,
        "qos_specs_id": t.qos_specs_id,
    })
}
