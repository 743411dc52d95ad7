//! Servers (Compute API: Servers): create, list, show, update, delete, and the
//! request validation Nova's JSON schemas do. The slow part of a create runs in
//! `build`, after the 202.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::api::Microversion;
use super::model::*;
use super::{ComputeService, caller_project, may_change, sees, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// `POST /servers` body (`server`), with every field Nova's schema allows up to 2.79.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerCreate {
    pub name: Option<String>,
    #[serde(rename = "imageRef")]
    pub image_ref: Option<String>,
    #[serde(rename = "flavorRef")]
    pub flavor_ref: Option<Value>,
    #[serde(rename = "adminPass")]
    pub admin_pass: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub networks: Option<Value>,
    #[serde(rename = "OS-DCF:diskConfig")]
    pub disk_config: Option<String>,
    #[serde(rename = "accessIPv4")]
    pub access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    pub access_ipv6: Option<String>,
    pub personality: Option<Vec<Value>>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub security_groups: Option<Vec<SecurityGroupRef>>,
    pub config_drive: Option<Value>,
    pub availability_zone: Option<String>,
    #[expect(
        dead_code,
        reason = "the legacy (v1) mapping is accepted as Nova accepts it; onestack boots from v2 mappings only"
    )]
    pub block_device_mapping: Option<Vec<Value>>,
    pub block_device_mapping_v2: Option<Vec<BlockDeviceMapping>>,
    pub min_count: Option<Value>,
    pub max_count: Option<Value>,
    pub return_reservation_id: Option<bool>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    #[expect(
        dead_code,
        reason = "accepted as Nova accepts it; onestack does not verify image signatures"
    )]
    pub trusted_image_certificates: Option<Vec<String>>,
    pub host: Option<String>,
    pub hypervisor_hostname: Option<String>,
    /// 2.90: the guest's hostname instead of one derived from the name.
    pub hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecurityGroupRef {
    pub name: String,
}

#[derive(Debug, Deserialize, Clone)]
pub(crate) struct BlockDeviceMapping {
    pub uuid: Option<String>,
    pub boot_index: Option<Value>,
    pub source_type: Option<String>,
    pub destination_type: Option<String>,
    pub delete_on_termination: Option<bool>,
    pub volume_size: Option<Value>,
    pub device_name: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Nova accepts it; every disk is virtio and formatted by the guest"
    )]
    pub disk_bus: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Nova accepts it; every disk is virtio and formatted by the guest"
    )]
    pub device_type: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Nova accepts it; every disk is virtio and formatted by the guest"
    )]
    pub guest_format: Option<String>,
    pub tag: Option<String>,
    pub volume_type: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Nova accepts it; every disk is virtio and formatted by the guest"
    )]
    pub no_device: Option<bool>,
}

/// The whole `POST /servers` document (`os:scheduler_hints` sits beside `server`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerCreateBody {
    pub server: ServerCreate,
    #[serde(rename = "os:scheduler_hints")]
    pub scheduler_hints: Option<BTreeMap<String, Value>>,
    #[serde(rename = "OS-SCH-HNT:scheduler_hints")]
    pub scheduler_hints_legacy: Option<BTreeMap<String, Value>>,
}

/// One requested NIC.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub(crate) enum RequestedNic {
    Network {
        id: String,
        fixed_ip: Option<String>,
        tag: Option<String>,
    },
    Port {
        id: String,
        tag: Option<String>,
    },
}

/// `networks` after validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestedNetworks {
    /// `"auto"` (2.37+): the project's network, and an error when there is none.
    Auto,
    /// No `networks` before 2.37: the project's network if it has one, else no NIC.
    Any,
    None,
    List(Vec<RequestedNic>),
}

/// `PUT /servers/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::present")]
    pub description: Option<Option<String>>,
    #[serde(rename = "accessIPv4")]
    pub access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    pub access_ipv6: Option<String>,
    #[serde(rename = "OS-DCF:diskConfig")]
    pub disk_config: Option<String>,
    pub hostname: Option<String>,
    /// 2.104: null unpins the server, its current zone re-pins it.
    #[serde(default, deserialize_with = "crate::http::json::present")]
    pub pinned_availability_zone: Option<Option<String>>,
}

/// `OS-DCF:diskConfig` is AUTO or MANUAL; access addresses are IPv4 / IPv6
/// (empty clears them).
pub(crate) fn check_access(
    disk_config: &Option<String>,
    v4: &Option<String>,
    v6: &Option<String>,
) -> ApiResult<()> {
    if let Some(d) = disk_config
        .as_deref()
        .filter(|d| !["AUTO", "MANUAL"].contains(d))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute OS-DCF:diskConfig. Value: {d}. '{d}' is not one of ['AUTO', 'MANUAL']"
        )));
    }
    let bad = |field: &str, v: &str| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. '{v}' is not a '{}'",
            if field == "accessIPv4" {
                "ipv4"
            } else {
                "ipv6"
            }
        ))
    };
    if let Some(a) = v4
        .as_deref()
        .filter(|a| !a.is_empty() && a.parse::<std::net::Ipv4Addr>().is_err())
    {
        return Err(bad("accessIPv4", a));
    }
    if let Some(a) = v6
        .as_deref()
        .filter(|a| !a.is_empty() && a.parse::<std::net::Ipv6Addr>().is_err())
    {
        return Err(bad("accessIPv6", a));
    }
    Ok(())
}

/// An access IPv6 address in its canonical form (`::babe:dc0c:1602` for
/// `0000:...:babe:220.12.22.2`), as Nova stores it in an IP address column;
/// the empty string (no address) stays empty.
pub(crate) fn canonical_ipv6(a: String) -> String {
    a.parse::<std::net::Ipv6Addr>()
        .map(|ip| ip.to_string())
        .unwrap_or(a)
}

/// Applies checked disk config and access addresses (None leaves them).
pub(crate) fn set_access(
    s: &mut Server,
    disk: Option<String>,
    v4: Option<String>,
    v6: Option<String>,
) {
    if let Some(d) = disk {
        s.disk_config = d;
    }
    if let Some(a) = v4 {
        s.access_ipv4 = a;
    }
    if let Some(a) = v6 {
        s.access_ipv6 = canonical_ipv6(a);
    }
}

impl ComputeService {
    /// Records the disk config and access addresses a rebuild or resize asked
    /// for, once the action is accepted.
    pub(crate) async fn server_set_access(
        &self,
        id: &str,
        disk: Option<String>,
        v4: Option<String>,
        v6: Option<String>,
    ) -> ApiResult<()> {
        self.mutate(id, move |s| {
            set_access(s, disk, v4, v6);
            Ok(())
        })
        .await
    }
}

pub(crate) fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.len() > 255 || name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute name. Value must be 1-255 characters and not only whitespace.",
        ));
    }
    Ok(())
}

pub(crate) fn check_description(d: &Option<String>) -> ApiResult<()> {
    if d.as_ref().is_some_and(|d| d.chars().count() > 255) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute description. Value has more than 255 characters.",
        ));
    }
    Ok(())
}

pub(crate) fn check_metadata(meta: &BTreeMap<String, String>) -> ApiResult<()> {
    if meta.len() > 128 {
        return Err(ApiError::Forbidden(
            "Quota exceeded, too many metadata items.".into(),
        ));
    }
    for (k, v) in meta {
        if k.is_empty() || k.len() > 255 || v.len() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Key '{k}' or its value is empty or longer than 255 characters."
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_tags(tags: &[String]) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute tags: at most 50 tags.",
        ));
    }
    for t in tags {
        if t.is_empty() || t.len() > 60 || t.contains('/') || t.contains(',') {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute tags. Value: {t}. Tags are 1-60 characters without '/' or ','."
            )));
        }
    }
    Ok(())
}

/// A positive integer that JSON may carry as a number or a numeric string.
fn count(v: &Option<Value>, field: &str) -> ApiResult<Option<u32>> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value must be an integer greater than or equal to 1."
        ))
    };
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n >= 1 && *n <= 1000)
            .map(|n| Some(n as u32))
            .ok_or_else(bad),
        Some(Value::String(s)) => s
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Validates `networks` as Nova does for the given microversion.
pub(crate) fn parse_networks(v: &Option<Value>, mv: Microversion) -> ApiResult<RequestedNetworks> {
    match v {
        None if mv.at_least(37) => Err(ApiError::bad_request(
            "Invalid input for field/attribute networks. 'networks' is a required property.",
        )),
        None => Ok(RequestedNetworks::Any),
        Some(Value::String(s)) if mv.at_least(37) && s == "auto" => Ok(RequestedNetworks::Auto),
        Some(Value::String(s)) if mv.at_least(37) && s == "none" => Ok(RequestedNetworks::None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| parse_nic(item, mv))
            .collect::<ApiResult<Vec<_>>>()
            .map(RequestedNetworks::List),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute networks. Value: {other}. It must be 'auto', 'none' or a list."
        ))),
    }
}

/// One entry of `networks`: a port, or a network with an optional fixed IP.
fn parse_nic(item: &Value, mv: Microversion) -> ApiResult<RequestedNic> {
    let obj = item.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute networks. Each entry must be an object.",
        )
    })?;
    for key in obj.keys() {
        if !["uuid", "port", "fixed_ip", "tag"].contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute networks. Additional properties are not allowed ('{key}' was unexpected)."
            )));
        }
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let tag = text("tag");
    if tag.is_some() && !mv.at_least(32) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute networks. 'tag' needs microversion 2.32.",
        ));
    }
    match (text("port"), text("uuid")) {
        (Some(port), _) => {
            if !is_uuid(&port) {
                return Err(ApiError::bad_request(format!(
                    "Bad networks format: port uuid ({port}) is not in proper format"
                )));
            }
            if obj.contains_key("fixed_ip") {
                return Err(ApiError::bad_request(
                    "Specified Fixed IP cannot be used with port: the port already has a Fixed IP allocated.",
                ));
            }
            Ok(RequestedNic::Port { id: port, tag })
        }
        (None, Some(net)) => network_nic(net, text("fixed_ip"), tag),
        (None, None) => Err(ApiError::bad_request(
            "Bad networks format: each entry needs a 'uuid' or a 'port'.",
        )),
    }
}

/// A NIC on network `net`, with the fixed IP asked for if any.
fn network_nic(
    net: String,
    fixed_ip: Option<String>,
    tag: Option<String>,
) -> ApiResult<RequestedNic> {
    if !is_uuid(&net) {
        return Err(ApiError::bad_request(format!(
            "Bad networks format: network uuid is not in proper format ({net})"
        )));
    }
    if let Some(ip) = &fixed_ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(ApiError::bad_request(format!(
            "Invalid fixed IP address ({ip})"
        )));
    }
    Ok(RequestedNic::Network {
        id: net,
        fixed_ip,
        tag,
    })
}

/// Nova's 400 for a block device mapping it cannot honour.
fn bdm_invalid(why: &str) -> ApiError {
    ApiError::bad_request(format!("Block Device Mapping is Invalid: {why}"))
}

/// A mapping's `boot_index`: a number, a numeric string or null.
fn boot_index(b: &BlockDeviceMapping) -> ApiResult<Option<i64>> {
    match &b.boot_index {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bdm_invalid("boot_index must be an integer.")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bdm_invalid("boot_index must be an integer.")),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute boot_index. Value: {other}. {other} is not of type 'integer', 'string', 'null'"
        ))),
    }
}

/// A mapping's `volume_size` in GiB (0 when absent).
fn volume_size(b: &BlockDeviceMapping) -> ApiResult<i64> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute volume_size. Value: {v}. It must be an integer of at least 0."
        ))
    };
    match &b.volume_size {
        None | Some(Value::Null) => Ok(0),
        Some(v @ Value::Number(n)) => n.as_i64().filter(|n| *n >= 0).ok_or_else(|| bad(v)),
        Some(v @ Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

/// What `imageRef` and `block_device_mapping_v2` ask to boot: the image of a
/// local root disk (None for a volume-backed server) and the volumes to make
/// and attach (new volumes' ids are still empty). Nova's schema and its
/// `_validate_bdm` checks, in its words.
pub(crate) fn parse_block_devices(
    req: &ServerCreate,
) -> ApiResult<(Option<String>, Vec<BlockDevice>)> {
    let mut local_boot_image = None;
    let mut devices = Vec::new();
    let mut boot_entries = 0;
    for b in req.block_device_mapping_v2.iter().flatten() {
        let (index, mapping) = parse_mapping(b)?;
        if index == Some(0) {
            boot_entries += 1;
        }
        match mapping {
            Mapping::LocalImage(id) => local_boot_image = Some(id),
            Mapping::NotMade => {}
            Mapping::Volume(d) => devices.push(d),
        }
    }
    if boot_entries > 1 {
        return Err(bdm_invalid(
            "Boot sequence for the instance and image/block device mapping combination is not valid.",
        ));
    }
    let volume_boot = devices.iter().any(|d| d.boot_index == Some(0));
    let image = req.image_ref.as_deref().filter(|s| !s.is_empty());
    let image = match (image, local_boot_image, volume_boot) {
        (_, _, true) => None,
        (Some(i), _, false) => Some(i.to_owned()),
        (None, Some(i), false) => Some(i),
        (None, None, false) => {
            return Err(ApiError::bad_request(
                "Block Device Mapping is Invalid: imageRef or a boot_index 0 image mapping is required.",
            ));
        }
    };
    Ok((image.map(|i| image_id_of(&i)).transpose()?, devices))
}

/// The image id of an `imageRef`, which may be a URL ending in the id (as in the
/// v2.0 API).
fn image_id_of(image: &str) -> ApiResult<String> {
    let id = image.rsplit('/').next().unwrap_or(image).to_owned();
    if !is_uuid(&id) {
        return Err(ApiError::bad_request(format!(
            "Invalid imageRef provided: {image}"
        )));
    }
    Ok(id)
}

/// What one block device mapping asks for.
enum Mapping {
    /// The image of the local root disk.
    LocalImage(String),
    /// A local disk beside the root disk (ephemeral or swap), which is not made.
    NotMade,
    /// A volume to attach (made first unless it exists).
    Volume(BlockDevice),
}

/// The schema's enums for `source_type` and `destination_type`.
fn check_mapping_types(source: &str, dest: Option<&str>) -> ApiResult<()> {
    if !["volume", "image", "snapshot", "blank"].contains(&source) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute source_type. Value: {source}. '{source}' is not one of ['volume', 'image', 'snapshot', 'blank']"
        )));
    }
    if let Some(d) = dest.filter(|d| !["local", "volume"].contains(d)) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute destination_type. Value: {d}. '{d}' is not one of ['local', 'volume']"
        )));
    }
    Ok(())
}

/// One entry of `block_device_mapping_v2` and its boot index, by Nova's schema
/// and `_validate_bdm`.
fn parse_mapping(b: &BlockDeviceMapping) -> ApiResult<(Option<i64>, Mapping)> {
    let source = b.source_type.as_deref().unwrap_or("volume");
    let dest = b.destination_type.as_deref();
    check_mapping_types(source, dest)?;
    let index = boot_index(b)?;
    let size = volume_size(b)?;
    let uuid = || {
        b.uuid.clone().filter(|u| is_uuid(u)).ok_or_else(|| {
            bdm_invalid(&format!(
                "a {source} mapping needs the uuid of its {source}."
            ))
        })
    };
    let source = match (source, dest) {
        ("image", Some("local") | None) => {
            if index != Some(0) {
                return Err(bdm_invalid("Mapping image to local is not supported."));
            }
            return Ok((index, Mapping::LocalImage(uuid()?)));
        }
        ("blank", Some("local") | None) => {
            if index == Some(0) {
                return Err(ApiError::bad_request(
                    "Blank boot devices are not supported.",
                ));
            }
            return Ok((index, Mapping::NotMade));
        }
        ("volume", Some("local")) | ("snapshot", Some("local")) => {
            return Err(bdm_invalid(&format!(
                "Mapping {source} to local is not supported."
            )));
        }
        ("volume", _) => BlockSource::Existing,
        ("image", Some("volume")) => BlockSource::Image { id: uuid()? },
        ("snapshot", _) => BlockSource::Snapshot { id: uuid()? },
        _ => BlockSource::Blank,
    };
    if matches!(source, BlockSource::Image { .. } | BlockSource::Blank) && size == 0 {
        return Err(ApiError::bad_request(
            "Images with destination_type 'volume' need to have a non-zero size specified",
        ));
    }
    let volume_id = if source == BlockSource::Existing {
        uuid()?
    } else {
        String::new()
    };
    Ok((
        index,
        Mapping::Volume(volume_device(b, volume_id, index, source, size)),
    ))
}

/// The volume a mapping attaches, as the server records it.
fn volume_device(
    b: &BlockDeviceMapping,
    volume_id: String,
    boot_index: Option<i64>,
    source: BlockSource,
    size: i64,
) -> BlockDevice {
    BlockDevice {
        volume_id,
        boot_index,
        source,
        size,
        volume_type: b.volume_type.clone(),
        // Nova's default for a mapping the API is given.
        delete_on_termination: b.delete_on_termination.unwrap_or(false),
        device_name: b.device_name.clone().filter(|d| !d.is_empty()),
        tag: b.tag.clone(),
    }
}

fn flavor_id(v: &Option<Value>) -> ApiResult<String> {
    let id = match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute flavorRef. 'flavorRef' is a required property.",
            ));
        }
    };
    Ok(id.rsplit('/').next().unwrap_or(&id).to_owned())
}

fn config_drive(v: &Option<Value>) -> ApiResult<bool> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" | "off" => Ok(false),
            "true" | "1" | "yes" | "on" => Ok(true),
            _ => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute config_drive. Value: {s}"
            ))),
        },
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute config_drive. Value: {other}"
        ))),
    }
}

/// A hostname asked for by create, update or rebuild: from 2.90 a single label
/// (2 to 63 letters, digits and inner hyphens), from 2.94 also an FQDN (up to
/// 255 of letters, digits, `-`, `.` and `_`), as Nova's schemas say.
pub(crate) fn check_hostname(h: &Option<String>, mv: Microversion) -> ApiResult<()> {
    let Some(h) = h else { return Ok(()) };
    if !mv.at_least(90) {
        return Err(ApiError::bad_request(
            "Additional properties are not allowed ('hostname' was unexpected).",
        ));
    }
    let ok = if mv.at_least(94) {
        (1..=255).contains(&h.len())
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    } else {
        let b = h.as_bytes();
        (2..=63).contains(&b.len())
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute hostname. Value: {h}. '{h}' is not a valid hostname"
        )))
    }
}

/// 2.104's rules for changing a server's zone pin: null always unpins; a zone
/// must be the one the server is in, and a pinned server is unpinned before it
/// is pinned elsewhere (409 otherwise). Setting the current value is a no-op.
fn repin(s: &Server, to: Option<&str>) -> ApiResult<()> {
    let Some(to) = to else { return Ok(()) };
    if s.pinned_availability_zone.as_deref() == Some(to) {
        return Ok(());
    }
    if s.pinned_availability_zone.is_some() {
        return Err(ApiError::Conflict(
            "Cannot change pinned availability zone directly. Unpin first by setting pinned_availability_zone to null.".into(),
        ));
    }
    if to != s.availability_zone {
        return Err(ApiError::Conflict(format!(
            "Server can only be pinned to its current availability zone '{}', but '{to}' was requested.",
            s.availability_zone
        )));
    }
    Ok(())
}

/// A server name turned into a hostname as Nova sanitizes it.
pub(crate) fn hostname_for(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            ' ' | '_' | '.' => out.push('-'),
            _ => {}
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    if trimmed.is_empty() {
        "server".into()
    } else {
        trimmed
    }
}

/// What a validated create resolves to before any row is written.
pub(crate) struct CreatePlan {
    pub name: String,
    /// The image of the root disk; None for a volume-backed server.
    pub image: Option<crate::image::model::Image>,
    /// The volumes to make and attach (new ones get their ids per server).
    pub block_devices: Vec<BlockDevice>,
    pub flavor: Flavor,
    pub networks: RequestedNetworks,
    pub keypair: Option<Keypair>,
    pub count: u32,
    pub req: ServerCreate,
    pub group: Option<String>,
    /// The availability zone the servers land in.
    pub zone: String,
    /// The zone the create named (the servers are pinned to it), if any.
    pub pinned_zone: Option<String>,
    /// The scheduler hints as the request spec keeps them.
    pub hints: BTreeMap<String, Vec<String>>,
}

/// What every server of one create shares, worked out once from the plan.
struct CreateCommon {
    project: String,
    user: String,
    now: String,
    reservation_id: String,
    requested: Value,
    security_groups: Vec<String>,
    config_drive: bool,
    image_id: String,
    image_properties: BTreeMap<String, String>,
}

impl CreateCommon {
    fn new(
        ctx: &RequestContext,
        plan: &CreatePlan,
        networks: &RequestedNetworks,
    ) -> ApiResult<Self> {
        let project = caller_project(ctx)?;
        let requested = match networks {
            RequestedNetworks::Auto => Value::String("auto".into()),
            RequestedNetworks::Any => Value::String("any".into()),
            RequestedNetworks::None => Value::String("none".into()),
            RequestedNetworks::List(n) => {
                serde_json::to_value(n).map_err(|e| ApiError::Internal(e.into()))?
            }
        };
        let mut security_groups: Vec<String> = plan
            .req
            .security_groups
            .iter()
            .flatten()
            .map(|g| g.name.clone())
            .collect();
        if security_groups.is_empty() {
            security_groups = vec!["default".into()];
        }
        Ok(Self {
            project,
            user: ctx.user.id.clone(),
            now: crate::http::time::iso_seconds(chrono::Utc::now()),
            reservation_id: format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            requested,
            security_groups,
            config_drive: config_drive(&plan.req.config_drive)?,
            image_id: plan
                .image
                .as_ref()
                .map(|i| i.id.clone())
                .unwrap_or_default(),
            image_properties: plan
                .image
                .as_ref()
                .map(|i| crate::compute::model::image_properties(&i.properties))
                .unwrap_or_default(),
        })
    }
}

/// Server `i` of a create, in BUILD/scheduling; a count over one numbers the names.
fn new_server(plan: &CreatePlan, common: &CreateCommon, i: u32) -> Server {
    let req = &plan.req;
    let name = if plan.count > 1 {
        format!("{}-{}", plan.name, i + 1)
    } else {
        plan.name.clone()
    };
    Server {
        id: uuid::Uuid::new_v4().to_string(),
        instance_name: String::new(),
        hostname: req.hostname.clone().unwrap_or_else(|| hostname_for(&name)),
        name,
        description: req.description.clone(),
        project_id: common.project.clone(),
        user_id: common.user.clone(),
        image_id: common.image_id.clone(),
        flavor: plan.flavor.clone(),
        old_flavor: None,
        key_name: plan.keypair.as_ref().map(|k| k.name.clone()),
        key_data: plan.keypair.as_ref().map(|k| k.public_key.clone()),
        user_data: req.user_data.clone(),
        metadata: req.metadata.clone().unwrap_or_default(),
        tags: req.tags.clone().unwrap_or_default(),
        security_groups: common.security_groups.clone(),
        availability_zone: plan.zone.clone(),
        config_drive: common.config_drive,
        disk_config: req.disk_config.clone().unwrap_or_else(|| "MANUAL".into()),
        access_ipv4: req.access_ipv4.clone().unwrap_or_default(),
        access_ipv6: canonical_ipv6(req.access_ipv6.clone().unwrap_or_default()),
        vm_state: VmState::Building,
        task_state: Some(TaskState::Scheduling),
        power_state: 0,
        locked: false,
        locked_reason: None,
        locked_by: None,
        launch_index: i,
        reservation_id: common.reservation_id.clone(),
        fault: None,
        ports: vec![],
        requested_networks: common.requested.clone(),
        server_group: plan.group.clone(),
        rescue_image_id: None,
        shelved_image_id: None,
        rebuild_image_id: None,
        volume_overlays: BTreeMap::new(),
        block_devices: own_new_volumes(&plan.block_devices),
        pinned_availability_zone: plan.pinned_zone.clone(),
        scheduler_hints: plan.hints.clone(),
        image_properties: common.image_properties.clone(),
        attached_delete_on_termination: Default::default(),
        progress: 0,
        created_at: common.now.clone(),
        updated_at: common.now.clone(),
        launched_at: None,
        terminated_at: None,
        deleted_at: None,
        generation: 1,
    }
}

/// Each server gets its own new volumes: a fresh id on every mapping without one.
fn own_new_volumes(devices: &[BlockDevice]) -> Vec<BlockDevice> {
    devices
        .iter()
        .cloned()
        .map(|mut d| {
            if d.volume_id.is_empty() {
                d.volume_id = uuid::Uuid::new_v4().to_string();
            }
            d
        })
        .collect()
}

/// Stores one new server, its instance name from the row sequence, its group
/// membership and its "create" action.
fn insert_created_server(
    c: &rusqlite::Connection,
    mut s: Server,
    ctx: &RequestContext,
    request_id: &str,
    now: &str,
) -> ApiResult<Server> {
    let seq = store::server_insert(c, &s)?;
    s.instance_name = format!("instance-{seq:08x}");
    store::server_put(c, &mut s)?;
    if let Some(g) = &s.server_group {
        match super::server_groups::add_member(c, g, &s.id, ctx) {
            Ok(()) => {}
            // The scheduler's answer for a policy this one host cannot
            // meet: the server exists, in ERROR with NoValidHost.
            Err(ApiError::Conflict(m)) => {
                s.vm_state = VmState::Error;
                s.task_state = None;
                s.fault = Some(ServerFault {
                    code: 500,
                    message: "No valid host was found. ".into(),
                    details: m,
                    created: now.to_owned(),
                });
                store::server_put(c, &mut s)?;
            }
            Err(e) => return Err(e),
        }
    }
    store::action_put(c, &new_action(&s, "create", request_id, ctx))?;
    Ok(s)
}

/// The request checks Nova's schema and API make before anything is read: the
/// name, the fields each microversion allows, metadata, user data, config drive.
/// Returns the server name.
fn check_create_request(req: &ServerCreate, mv: Microversion) -> ApiResult<String> {
    let name = req.name.clone().ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute name. 'name' is a required property.",
        )
    })?;
    check_name(&name)?;
    check_description(&req.description)?;
    check_create_microversion(req, mv)?;
    check_hostname(&req.hostname, mv)?;
    check_tags(req.tags.as_deref().unwrap_or_default())?;
    check_access(&req.disk_config, &req.access_ipv4, &req.access_ipv6)?;
    check_metadata(&req.metadata.clone().unwrap_or_default())?;
    if let Some(ud) = &req.user_data {
        check_user_data(ud)?;
    }
    config_drive(&req.config_drive)?;
    Ok(name)
}

/// The create fields that came or went with a microversion: `description` (2.19),
/// `tags` (2.52), `personality` (gone in 2.57), `host`/`hypervisor_hostname` (2.74).
fn check_create_microversion(req: &ServerCreate, mv: Microversion) -> ApiResult<()> {
    if req.description.is_some() && !mv.at_least(19) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute description: needs microversion 2.19.",
        ));
    }
    if req.tags.is_some() && !mv.at_least(52) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute tags: needs microversion 2.52.",
        ));
    }
    if req.personality.is_some() && mv.at_least(57) {
        return Err(ApiError::bad_request(
            "Additional properties are not allowed ('personality' was unexpected).",
        ));
    }
    if (req.host.is_some() || req.hypervisor_hostname.is_some()) && !mv.at_least(74) {
        return Err(ApiError::bad_request(
            "Additional properties are not allowed ('host' was unexpected).",
        ));
    }
    Ok(())
}

/// User data must be base 64 of at most 64 KiB.
fn check_user_data(ud: &str) -> ApiResult<()> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(ud.trim())
        .map_err(|_| ApiError::bad_request("User data needs to be valid base 64."))?;
    if raw.len() > 65535 {
        return Err(ApiError::bad_request(
            "User data too large. User data must be no larger than 65535 bytes once base64 encoded.",
        ));
    }
    Ok(())
}

/// `min_count`/`max_count` as (min, max), 1 by default.
fn create_counts(req: &ServerCreate) -> ApiResult<(u32, u32)> {
    let min = count(&req.min_count, "min_count")?.unwrap_or(1);
    let max = count(&req.max_count, "max_count")?.unwrap_or(min);
    if min > max {
        return Err(ApiError::bad_request("min_count must be <= max_count"));
    }
    if req.hostname.is_some() && max > 1 {
        return Err(ApiError::bad_request(
            "Unable to allocate a single hostname to multiple instances",
        ));
    }
    Ok((min, max))
}

/// More than one server cannot share a port the request names.
fn check_multi_create_ports(max: u32, networks: &RequestedNetworks) -> ApiResult<()> {
    if max > 1
        && matches!(networks, RequestedNetworks::List(n) if n.iter().any(|x| matches!(x, RequestedNic::Port { .. })))
    {
        return Err(ApiError::bad_request(
            "Multiple instances cannot use the same port: max_count > 1 with a port.",
        ));
    }
    Ok(())
}

/// More than one server cannot attach the same existing volume.
fn check_multi_create_volumes(max: u32, block_devices: &[BlockDevice]) -> ApiResult<()> {
    if max > 1
        && block_devices
            .iter()
            .any(|d| d.source == BlockSource::Existing)
    {
        return Err(ApiError::bad_request(
            "Multiple instances cannot attach the same volume: max_count > 1 with a volume mapping.",
        ));
    }
    Ok(())
}

/// Nova's request spec keeps the zone the create named: the server stays pinned
/// to it.
fn pinned_zone(req: &ServerCreate) -> Option<String> {
    req.availability_zone
        .as_deref()
        .and_then(|az| az.split(':').next())
        .filter(|az| !az.is_empty())
        .map(str::to_owned)
}

impl ComputeService {
    /// Validates a create against the image, flavor, network and keypair services.
    pub(crate) async fn server_create_plan(
        &self,
        ctx: &RequestContext,
        body: ServerCreateBody,
        mv: Microversion,
    ) -> ApiResult<CreatePlan> {
        let req = body.server;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        let project = caller_project(ctx)?;
        let name = check_create_request(&req, mv)?;
        let (min, max) = create_counts(&req)?;
        let networks = parse_networks(&req.networks, mv)?;
        check_multi_create_ports(max, &networks)?;
        let (image_id, block_devices) = parse_block_devices(&req)?;
        check_multi_create_volumes(max, &block_devices)?;
        let flavor_ref = flavor_id(&req.flavor_ref)?;
        let hints = body
            .scheduler_hints
            .or(body.scheduler_hints_legacy)
            .unwrap_or_default();
        let group = hints
            .get("group")
            .and_then(Value::as_str)
            .map(str::to_owned);

        let zone = self.check_destination(ctx, &req).await?;
        let image = match image_id {
            Some(id) => Some(self.image_for_boot(ctx, id).await?),
            None => None,
        };
        self.check_block_devices(ctx, &block_devices).await?;
        let flavor = self.flavor_for_boot(ctx, flavor_ref).await?;
        if let Some(image) = &image {
            check_image_fits(image, &flavor)?;
        }
        let keypair = match &req.key_name {
            None => None,
            Some(k) => Some(self.keypair_for_boot(ctx, k.clone()).await?),
        };
        self.check_networks(ctx, &networks, &req).await?;
        self.check_create_quota(project, min, &flavor).await?;
        Ok(CreatePlan {
            name,
            image,
            block_devices,
            flavor,
            networks,
            keypair,
            count: max,
            pinned_zone: pinned_zone(&req),
            req,
            group,
            hints: crate::compute::model::request_spec_hints(&hints),
            zone,
        })
    }

    /// The flavor a server boots with, as the caller may use it.
    async fn flavor_for_boot(&self, ctx: &RequestContext, id: String) -> ApiResult<Flavor> {
        let ctx = ctx.clone();
        self.read(move |c| super::flavors::flavor_for_boot(c, &ctx, &id))
            .await
    }

    /// The caller's key pair a server boots with.
    async fn keypair_for_boot(&self, ctx: &RequestContext, name: String) -> ApiResult<Keypair> {
        let user = ctx.user.id.clone();
        self.read(move |c| super::keypairs::keypair_for_boot(c, &user, &name))
            .await
    }

    /// The project's instance, core and RAM quota must hold `min` more servers.
    async fn check_create_quota(
        &self,
        project: String,
        min: u32,
        flavor: &Flavor,
    ) -> ApiResult<()> {
        let (vcpus, ram) = (flavor.vcpus, flavor.ram);
        self.read(move |c| {
            super::quotas::check_server_quota(
                c,
                &project,
                i64::from(min),
                vcpus * i64::from(min),
                ram * i64::from(min),
            )
        })
        .await
    }

    /// The active image a server boots from (Nova's 400s otherwise).
    async fn image_for_boot(
        &self,
        ctx: &RequestContext,
        image_id: String,
    ) -> ApiResult<crate::image::model::Image> {
        let image = self
            .inner
            .image
            .image_get(ctx, image_id.clone())
            .await
            .map_err(|e| match e {
                ApiError::Internal(e) => ApiError::Internal(e),
                _ => ApiError::bad_request(format!("Image {image_id} could not be found.")),
            })?;
        if image.status != crate::image::model::ImageStatus::Active {
            return Err(ApiError::bad_request(format!(
                "Image {image_id} is not active."
            )));
        }
        Ok(image)
    }

    /// The volumes, images and snapshots a mapping names must be the caller's to
    /// use, an existing volume `available`, and a new volume big enough for its
    /// image: Nova refuses the create (400) rather than failing the build.
    async fn check_block_devices(
        &self,
        ctx: &RequestContext,
        devices: &[BlockDevice],
    ) -> ApiResult<()> {
        if devices.is_empty() {
            return Ok(());
        }
        let vol = self.volume()?.clone();
        for d in devices {
            match &d.source {
                BlockSource::Existing => {
                    let v =
                        vol.volume_get(ctx, d.volume_id.clone())
                            .await
                            .map_err(|e| match e {
                                ApiError::Internal(e) => ApiError::Internal(e),
                                _ => bdm_invalid(&format!("failed to get volume {}.", d.volume_id)),
                            })?;
                    if v.status.as_str() != "available" {
                        return Err(ApiError::bad_request(format!(
                            "Invalid volume: volume '{}' status must be 'available'. Currently in '{}'",
                            v.id,
                            v.status.as_str()
                        )));
                    }
                    // Nova's InvalidBDMVolumeNotBootable: a root volume must say
                    // it can boot.
                    if d.boot_index == Some(0) && !v.bootable {
                        return Err(ApiError::bad_request(format!(
                            "Block Device {} is not bootable.",
                            v.id
                        )));
                    }
                }
                BlockSource::Image { id } => {
                    let image = self.image_for_boot(ctx, id.clone()).await?;
                    const GIB: i64 = 1 << 30;
                    let bytes = image.virtual_size.or(image.size).unwrap_or(0);
                    if bytes > d.size * GIB || image.min_disk > d.size {
                        return Err(ApiError::bad_request(format!(
                            "Volume is smaller than the minimum size specified in image metadata. Volume size is {} bytes, minimum size is {} bytes.",
                            d.size * GIB,
                            bytes.max(image.min_disk * GIB)
                        )));
                    }
                }
                BlockSource::Snapshot { id } => {
                    vol.snapshot_get(ctx, id.clone())
                        .await
                        .map_err(|e| match e {
                            ApiError::Internal(e) => ApiError::Internal(e),
                            _ => bdm_invalid(&format!("failed to get snapshot {id}.")),
                        })?;
                }
                BlockSource::Blank => {}
            }
        }
        Ok(())
    }

    /// Where a server is asked to go: `zone:host[:node]` and `host` /
    /// `hypervisor_hostname` (2.74) are admin-only in Nova's default policy; the
    /// zone must be this host's. Returns the server's zone.
    async fn check_destination(
        &self,
        ctx: &RequestContext,
        req: &ServerCreate,
    ) -> ApiResult<String> {
        use crate::http::policy::{COMPUTE_FORCED_HOST, COMPUTE_REQUESTED_DESTINATION};
        let forced = req
            .availability_zone
            .as_deref()
            .is_some_and(|az| az.contains(':'));
        if forced {
            COMPUTE_FORCED_HOST.enforce_named(ctx, None)?;
        }
        let destination = req.host.iter().chain(req.hypervisor_hostname.iter());
        for host in destination {
            COMPUTE_REQUESTED_DESTINATION.enforce_named(ctx, None)?;
            if *host != self.config().host {
                return Err(ApiError::bad_request(format!(
                    "Compute host {host} could not be found."
                )));
            }
        }
        let zone = self.host_zone().await?;
        if let Some(az) = &req.availability_zone {
            let asked = az.split(':').next().unwrap_or(az);
            if !asked.is_empty() && asked != zone {
                return Err(ApiError::bad_request(format!(
                    "The requested availability zone is not available: {az}"
                )));
            }
        }
        Ok(zone)
    }

    /// The networks must be usable by the caller, the ports the caller's and
    /// free, the security groups the caller's: Nova refuses a create at once
    /// (400/409) rather than failing the build later.
    async fn check_networks(
        &self,
        ctx: &RequestContext,
        networks: &RequestedNetworks,
        req: &ServerCreate,
    ) -> ApiResult<()> {
        let mut ports = Vec::new();
        if let RequestedNetworks::List(nics) = networks {
            for nic in nics {
                match nic {
                    RequestedNic::Network { id, .. } => {
                        self.inner.network.network_for_boot(ctx, id.clone()).await?;
                    }
                    RequestedNic::Port { id, .. } => ports.push(id.clone()),
                }
            }
        }
        let groups = req
            .security_groups
            .iter()
            .flatten()
            .map(|g| g.name.clone())
            .collect();
        self.inner
            .network
            .instance_boot_check(ctx, ports, groups)
            .await
    }

    /// Records the servers of a validated create (BUILD/scheduling) and their
    /// "create" actions, in one transaction; the builds start after it commits.
    pub(crate) async fn server_create_records(
        &self,
        ctx: &RequestContext,
        plan: CreatePlan,
        networks: RequestedNetworks,
        request_id: String,
    ) -> ApiResult<Vec<Server>> {
        let common = CreateCommon::new(ctx, &plan, &networks)?;
        let servers: Vec<Server> = (0..plan.count)
            .map(|i| new_server(&plan, &common, i))
            .collect();
        let ctx = ctx.clone();
        let now = common.now;
        self.write(move |c| {
            servers
                .into_iter()
                .map(|s| insert_created_server(c, s, &ctx, &request_id, &now))
                .collect()
        })
        .await
    }

    /// `GET /servers/{id}`: 404 for servers the caller may not see.
    pub(crate) async fn server_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Server> {
        let ctx = ctx.clone();
        self.read(move |c| visible(c, &ctx, &id)).await
    }

    /// `GET /servers[/detail]`: the caller's project, or every project for an
    /// admin asking `all_tenants`.
    pub(crate) async fn server_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
        project: Option<String>,
        deleted: bool,
    ) -> ApiResult<Vec<Server>> {
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        // As in Nova, `tenant_id`/`project_id` only narrows an `all_tenants` list;
        // without it the caller's own project is listed.
        let scope = if ctx.allowed(crate::http::policy::COMPUTE_ALL_TENANTS) && all_projects {
            project
        } else {
            Some(caller_project(ctx)?)
        };
        let deleted = deleted && ctx.allowed(crate::http::policy::COMPUTE_ALL_FILTERS);
        self.read(move |c| store::server_list(c, scope.as_deref(), deleted))
            .await
    }

    /// `PUT /servers/{id}`.
    pub(crate) async fn server_update(
        &self,
        ctx: &RequestContext,
        id: String,
        up: ServerUpdate,
        mv: Microversion,
    ) -> ApiResult<Server> {
        if let Some(n) = &up.name {
            check_name(n)?;
        }
        if let Some(d) = &up.description {
            if !mv.at_least(19) {
                return Err(ApiError::bad_request(
                    "Additional properties are not allowed ('description' was unexpected).",
                ));
            }
            check_description(d)?;
        }
        check_hostname(&up.hostname, mv)?;
        if up.pinned_availability_zone.is_some() && !mv.at_least(104) {
            return Err(ApiError::bad_request(
                "Additional properties are not allowed ('pinned_availability_zone' was unexpected).",
            ));
        }
        check_access(&up.disk_config, &up.access_ipv4, &up.access_ipv6)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut s = visible(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            if let Some(pin) = &up.pinned_availability_zone {
                repin(&s, pin.as_deref())?;
            }
            if let Some(n) = up.name {
                s.name = n;
            }
            if let Some(d) = up.description {
                s.description = d;
            }
            if let Some(h) = up.hostname {
                s.hostname = h;
            }
            if let Some(pin) = up.pinned_availability_zone {
                s.pinned_availability_zone = pin;
            }
            set_access(&mut s, up.disk_config, up.access_ipv4, up.access_ipv6);
            store::server_put(c, &mut s)?;
            Ok(s)
        })
        .await
    }

    /// The instance actions of a server the caller sees.
    pub(crate) async fn server_actions(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<InstanceAction>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let s = store::server_get_any(c, &id)?
                .filter(|s| sees(&ctx, &s.project_id))
                .ok_or_else(|| server_not_found(&id))?;
            store::action_list(c, &s.id)
        })
        .await
    }

    pub(crate) async fn server_action_get(
        &self,
        ctx: &RequestContext,
        id: String,
        request_id: String,
    ) -> ApiResult<InstanceAction> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let s = store::server_get_any(c, &id)?
                .filter(|s| sees(&ctx, &s.project_id))
                .ok_or_else(|| server_not_found(&id))?;
            store::action_get(c, &s.id, &request_id)?.ok_or_else(|| {
                ApiError::Missing(format!("Action {request_id} could not be found."))
            })
        })
        .await
    }
}

/// Root disk must hold the image (flavor disk 0 means "the image's size").
fn check_image_fits(image: &crate::image::model::Image, flavor: &Flavor) -> ApiResult<()> {
    const GIB: i64 = 1 << 30;
    if flavor.ram < image.min_ram {
        return Err(ApiError::bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    if flavor.disk == 0 {
        return Ok(());
    }
    let image_size = image.virtual_size.or(image.size).unwrap_or(0);
    if image_size > flavor.disk * GIB {
        return Err(ApiError::bad_request(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {} bytes, image is {image_size} bytes.",
            flavor.disk * GIB
        )));
    }
    if image.min_disk > flavor.disk {
        return Err(ApiError::bad_request(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {} bytes, image min_disk is {} GiB.",
            flavor.disk * GIB,
            image.min_disk
        )));
    }
    Ok(())
}

pub(crate) fn server_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Instance {id} could not be found."))
}

/// A live server the caller may see.
pub(crate) fn visible(
    c: &rusqlite::Connection,
    ctx: &RequestContext,
    id: &str,
) -> ApiResult<Server> {
    store::server_get(c, id)?
        .filter(|s| sees(ctx, &s.project_id))
        .ok_or_else(|| server_not_found(id))
}

pub(crate) fn new_action(
    s: &Server,
    action: &str,
    request_id: &str,
    ctx: &RequestContext,
) -> InstanceAction {
    let now = crate::http::time::iso_micros(chrono::Utc::now());
    InstanceAction {
        request_id: request_id.to_owned(),
        server_id: s.id.clone(),
        action: action.to_owned(),
        project_id: ctx.project_id().unwrap_or(&s.project_id).to_owned(),
        user_id: ctx.user.id.clone(),
        start_time: now.clone(),
        updated_at: now,
        message: None,
        events: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_follow_the_microversion() {
        let auto = Some(Value::String("auto".into()));
        assert_eq!(
            parse_networks(&auto, Microversion(2, 37)).ok(),
            Some(RequestedNetworks::Auto)
        );
        assert!(parse_networks(&auto, Microversion(2, 1)).is_err());
        assert!(parse_networks(&None, Microversion(2, 37)).is_err());
        assert_eq!(
            parse_networks(&None, Microversion(2, 1)).ok(),
            Some(RequestedNetworks::Any)
        );
        let list = serde_json::json!([{"uuid": "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1", "fixed_ip": "10.0.0.5"}]);
        let parsed = parse_networks(&Some(list), Microversion(2, 79)).expect("valid");
        assert!(matches!(parsed, RequestedNetworks::List(ref n) if n.len() == 1));
        let bad = serde_json::json!([{"uuid": "not-a-uuid"}]);
        assert!(parse_networks(&Some(bad), Microversion(2, 79)).is_err());
        let unknown =
            serde_json::json!([{"uuid": "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1", "bogus": 1}]);
        assert!(parse_networks(&Some(unknown), Microversion(2, 79)).is_err());
        let bad_ip = serde_json::json!([{"uuid": "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1", "fixed_ip": "10.0.0"}]);
        assert!(parse_networks(&Some(bad_ip), Microversion(2, 79)).is_err());
    }

    #[test]
    fn hostnames_are_sanitized() {
        assert_eq!(hostname_for("My Server_1"), "my-server-1");
        assert_eq!(hostname_for("!!!"), "server");
        assert_eq!(hostname_for("vm.example"), "vm-example");
    }

    #[test]
    fn bdm_image_entry_gives_the_image() {
        let req = ServerCreate {
            block_device_mapping_v2: Some(vec![BlockDeviceMapping {
                uuid: Some("6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1".into()),
                boot_index: Some(Value::from(0)),
                source_type: Some("image".into()),
                destination_type: Some("local".into()),
                delete_on_termination: Some(true),
                volume_size: None,
                device_name: None,
                disk_bus: None,
                device_type: None,
                guest_format: None,
                tag: None,
                volume_type: None,
                no_device: None,
            }]),
            ..Default::default()
        };
        let (image, devices) = parse_block_devices(&req).expect("valid mapping");
        assert_eq!(
            image.as_deref(),
            Some("6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1")
        );
        assert!(devices.is_empty());
        assert!(parse_block_devices(&ServerCreate::default()).is_err());
    }

    fn bdm(v: Value) -> BlockDeviceMapping {
        serde_json::from_value(v).expect("a mapping")
    }

    #[test]
    fn bdm_volume_boot_has_no_image_and_keeps_delete_on_termination() {
        let vol = "0b8e3f2a-5a3c-4a8e-9d36-1c2b3a4d5e6f";
        let req = ServerCreate {
            image_ref: Some(String::new()),
            block_device_mapping_v2: Some(vec![bdm(serde_json::json!({
                "uuid": vol, "source_type": "volume", "destination_type": "volume",
                "boot_index": 0, "delete_on_termination": true}))]),
            ..Default::default()
        };
        let (image, devices) = parse_block_devices(&req).expect("valid mapping");
        assert_eq!(image, None);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].volume_id, vol);
        assert_eq!(devices[0].source, BlockSource::Existing);
        assert!(devices[0].delete_on_termination);

        // The CLI's --boot-from-volume: image to volume, a size, no deletion.
        let req = ServerCreate {
            image_ref: Some(String::new()),
            block_device_mapping_v2: Some(vec![bdm(serde_json::json!({
                "uuid": vol, "source_type": "image", "destination_type": "volume",
                "boot_index": "0", "volume_size": 1}))]),
            ..Default::default()
        };
        let (image, devices) = parse_block_devices(&req).expect("valid mapping");
        assert_eq!(image, None);
        assert_eq!(devices[0].source, BlockSource::Image { id: vol.into() });
        assert_eq!(devices[0].size, 1);
        assert!(!devices[0].delete_on_termination);
    }

    #[test]
    fn bdm_bad_entries_are_400() {
        let img = "6f4c3f66-8d0b-4b7a-9b57-4cd4c6d1f7a1";
        let bad = [
            // tempest's invalid second mapping
            serde_json::json!([{"source_type": "image", "uuid": img, "boot_index": 0,
                "destination_type": "local", "delete_on_termination": true},
                {"source_type": "volume", "uuid": img, "destination_type": "invalid"}]),
            serde_json::json!([{"source_type": "floppy", "uuid": img, "boot_index": 0}]),
            // image to volume without a size
            serde_json::json!([{"source_type": "image", "uuid": img, "boot_index": 0,
                "destination_type": "volume"}]),
            // two boot disks
            serde_json::json!([{"source_type": "volume", "uuid": img, "boot_index": 0},
                {"source_type": "volume", "uuid": img, "boot_index": "0"}]),
            serde_json::json!([{"source_type": "volume", "boot_index": 0}]),
            serde_json::json!([{"source_type": "volume", "uuid": img, "boot_index": "x"}]),
        ];
        for b in bad {
            let req = ServerCreate {
                image_ref: Some(img.into()),
                block_device_mapping_v2: Some(serde_json::from_value(b.clone()).expect("json")),
                ..Default::default()
            };
            let e = parse_block_devices(&req).expect_err(&b.to_string());
            assert_eq!(e.status().as_u16(), 400, "{b}");
        }
    }

    #[test]
    fn counts_and_config_drive() {
        assert_eq!(
            count(&Some(Value::from(2)), "max_count").ok(),
            Some(Some(2))
        );
        assert!(count(&Some(Value::from(0)), "max_count").is_err());
        assert_eq!(
            count(&Some(Value::from("3")), "min_count").ok(),
            Some(Some(3))
        );
        assert_eq!(config_drive(&Some(Value::from("True"))).ok(), Some(true));
        assert!(config_drive(&Some(Value::from("maybe"))).is_err());
    }
}
