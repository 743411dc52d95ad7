//! `OS::Cinder::*`: volumes and volume attachments, and a volume's attributes.

use serde_json::{Map, Value, json};

use super::lookup::image_id;
use super::{Created, prop_err, s, text_of};
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

/// `OS::Cinder::Volume`, from an image by name or id, a snapshot or a volume.
pub(super) async fn volume_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name: String,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let size = props.get("size").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let image = match s(props, "image") {
        Some(i) => Some(image_id(cloud, ctx, res, &i).await?),
        None => None,
    };
    let metadata = match props.get("metadata") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
        _ => Default::default(),
    };
    let req = crate::volume::facade::VolumeCreate {
        size: size.unwrap_or(0),
        name: Some(name),
        description: s(props, "description"),
        volume_type: s(props, "volume_type"),
        availability_zone: s(props, "availability_zone"),
        metadata,
        multiattach: false,
        snapshot_id: s(props, "snapshot_id"),
        source_volid: s(props, "source_volid"),
        image_ref: image,
        group_id: None,
    };
    Ok(Created::id(cloud.volume.volume_create(ctx, req).await?.id))
}

/// `OS::Cinder::VolumeAttachment`, through the compute facade as Heat goes
/// through Nova: the guest gets the disk hot-plugged. Its id is
/// `<server>:<volume>`.
pub(super) async fn volume_attachment_create(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    props: &Map<String, Value>,
) -> ApiResult<Created> {
    let server = s(props, "instance_uuid")
        .ok_or_else(|| prop_err(res, "Property instance_uuid not assigned"))?;
    let volume =
        s(props, "volume_id").ok_or_else(|| prop_err(res, "Property volume_id not assigned"))?;
    cloud
        .compute
        .volume_attach(
            ctx,
            server.clone(),
            volume.clone(),
            s(props, "mountpoint"),
            format!("req-{}", uuid::Uuid::new_v4()),
            // Heat calls Nova at a microversion past 2.20, where a shelved
            // server takes volumes too.
            true,
            // OS::Cinder::VolumeAttachment leaves the volume behind.
            false,
        )
        .await?;
    Ok(Created::id(format!("{server}:{volume}")))
}

/// A volume's `show`, and the attributes Heat names in Cinder's v1 words.
pub(super) async fn volume_attributes(
    cloud: &Cloud,
    ctx: &RequestContext,
    id: &str,
    out: &mut Map<String, Value>,
) -> ApiResult<Value> {
    let v = cloud.volume.volume_get(ctx, id.to_owned()).await?;
    out.insert("display_name".into(), json!(v.name));
    out.insert("display_description".into(), json!(v.description));
    out.insert("attachments".into(), json!([]));
    out.insert("attachments_list".into(), json!([]));
    Ok(
        json!({"id": v.id, "name": v.name, "description": v.description, "size": v.size, "status": v.status.as_str(), "bootable": v.bootable, "volume_type": v.type_name, "availability_zone": v.availability_zone, "metadata": v.metadata, "created_at": v.created_at}),
    )
}
