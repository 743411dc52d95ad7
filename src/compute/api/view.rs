//! The server document as Nova renders it for a given microversion and caller.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::Microversion;
use crate::compute::model::{Flavor, Server, VmState};
use crate::http::context::RequestContext;
use crate::http::policy;
use crate::network::instance::InstanceNic;

/// What a view needs beyond the server row.
pub(crate) struct ViewCtx<'a> {
    pub base: &'a str,
    pub mv: Microversion,
    pub ctx: &'a RequestContext,
    pub host: &'a str,
    /// NICs by port id.
    pub nics: &'a HashMap<String, InstanceNic>,
}

pub(crate) fn links(base: &str, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/compute/v2.1/{kind}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/compute/{kind}/{id}")},
    ])
}

/// `GET /servers` entries.
pub(crate) fn brief(base: &str, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(base, "servers", &s.id)})
}

/// Nova's hostId: sha224 of project id and host, hiding the host itself.
pub(crate) fn host_id(project_id: &str, host: &str) -> String {
    hex::encode(Sha224::digest(format!("{project_id}{host}").as_bytes()))
}

fn flavor_view(v: &ViewCtx, f: &Flavor) -> Value {
    if v.mv.at_least(47) {
        json!({
            "original_name": f.name,
            "vcpus": f.vcpus,
            "ram": f.ram,
            "disk": f.disk,
            "ephemeral": f.ephemeral,
            "swap": f.swap,
            "extra_specs": f.extra_specs,
        })
    } else {
        json!({"id": f.id, "links": [{"rel": "bookmark", "href": format!("{}/compute/flavors/{}", v.base, f.id)}]})
    }
}

/// `addresses`: per network name, fixed then floating addresses of each NIC.
pub(crate) fn addresses(s: &Server, nics: &HashMap<String, InstanceNic>) -> Map<String, Value> {
    let mut out = Map::new();
    for sp in &s.ports {
        let Some(nic) = nics.get(&sp.port_id) else {
            continue;
        };
        let entry = out
            .entry(nic.network.name.clone())
            .or_insert_with(|| Value::Array(vec![]));
        let Value::Array(list) = entry else { continue };
        for ip in &nic.port.fixed_ips {
            let version = if ip.ip_address.contains(':') { 6 } else { 4 };
            list.push(json!({
                "version": version,
                "addr": ip.ip_address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": nic.port.mac_address,
            }));
        }
        for fip in &nic.floating_ips {
            list.push(json!({
                "version": 4,
                "addr": fip,
                "OS-EXT-IPS:type": "floating",
                "OS-EXT-IPS-MAC:mac_addr": nic.port.mac_address,
            }));
        }
    }
    out
}

/// Security group names on the server's ports (what it was booted with when it
/// has no ports).
fn security_groups(
    s: &Server,
    nics: &HashMap<String, InstanceNic>,
    names: &HashMap<String, String>,
) -> Value {
    let mut seen: Vec<String> = Vec::new();
    for sp in &s.ports {
        if let Some(nic) = nics.get(&sp.port_id) {
            for g in &nic.port.security_groups {
                let name = names.get(g).cloned().unwrap_or_else(|| g.clone());
                if !seen.contains(&name) {
                    seen.push(name);
                }
            }
        }
    }
    if s.ports.is_empty() {
        seen = s.security_groups.clone();
    }
    Value::Array(seen.into_iter().map(|n| json!({"name": n})).collect())
}

/// The full server document (`GET /servers/{id}`, `/servers/detail`).
pub(crate) fn detail(v: &ViewCtx, s: &Server, group_names: &HashMap<String, String>) -> Value {
    let mut d = base_detail(v, s, group_names);
    let Value::Object(m) = &mut d else { return d };
    // Nova leaves `security_groups` out of a server that has none.
    if m.get("security_groups")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        m.remove("security_groups");
    }
    if v.ctx.allowed(policy::COMPUTE_EXTENDED_ATTRIBUTES) {
        insert_extended_attributes(m, v, s);
    }
    insert_microversion_fields(m, v, s);
    if s.vm_state != VmState::Active && s.vm_state != VmState::Building {
        m.remove("progress");
    }
    if let (Some(f), VmState::Error) = (&s.fault, s.vm_state) {
        let mut fault = json!({"code": f.code, "message": f.message, "created": f.created});
        if v.ctx.allowed(policy::COMPUTE_ADMIN_CONTEXT) || f.code != 500 {
            fault["details"] = f.details.clone().into();
        }
        m.insert("fault".into(), fault);
    }
    d
}

/// The server's image reference: empty for a volume-backed server; from 2.98 with
/// the image properties the server was built with.
fn image_ref(v: &ViewCtx, s: &Server) -> Value {
    if s.image_id.is_empty() {
        return Value::String(String::new());
    }
    let mut image = json!({"id": s.image_id, "links": [{"rel": "bookmark", "href": format!("{}/compute/images/{}", v.base, s.image_id)}]});
    if v.mv.at_least(98) {
        image["properties"] = json!(s.image_properties);
    }
    image
}

/// The fields every caller sees at every microversion.
fn base_detail(v: &ViewCtx, s: &Server, group_names: &HashMap<String, String>) -> Value {
    let usage_time = |t: &Option<String>| {
        t.as_deref()
            .map(|t| t.trim_end_matches('Z').to_owned() + ".000000")
    };
    json!({
        "id": s.id,
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": if s.vm_state == VmState::Building && s.launched_at.is_none() && s.ports.is_empty() { String::new() } else { host_id(&s.project_id, v.host) },
        "image": image_ref(v, s),
        "flavor": flavor_view(v, &s.flavor),
        "created": s.created_at,
        "updated": s.updated_at,
        "addresses": addresses(s, v.nics),
        "accessIPv4": s.access_ipv4,
        "accessIPv6": s.access_ipv6,
        "links": links(v.base, "servers", &s.id),
        "OS-DCF:diskConfig": s.disk_config,
        "progress": s.progress,
        "OS-EXT-AZ:availability_zone": s.availability_zone,
        "config_drive": if s.config_drive { "True" } else { "" },
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": usage_time(&s.launched_at),
        "OS-SRV-USG:terminated_at": usage_time(&s.terminated_at),
        "security_groups": security_groups(s, v.nics, group_names),
        "OS-EXT-STS:task_state": s.task_state.map(|t| t.as_str()),
        "OS-EXT-STS:vm_state": s.vm_state.as_str(),
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
    })
}

/// The `OS-EXT-SRV-ATTR` fields an admin sees (more of them from 2.3).
fn insert_extended_attributes(m: &mut serde_json::Map<String, Value>, v: &ViewCtx, s: &Server) {
    m.insert("OS-EXT-SRV-ATTR:host".into(), v.host.into());
    m.insert(
        "OS-EXT-SRV-ATTR:instance_name".into(),
        s.instance_name.clone().into(),
    );
    m.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), v.host.into());
    if !v.mv.at_least(3) {
        return;
    }
    m.insert(
        "OS-EXT-SRV-ATTR:reservation_id".into(),
        s.reservation_id.clone().into(),
    );
    m.insert("OS-EXT-SRV-ATTR:launch_index".into(), s.launch_index.into());
    m.insert("OS-EXT-SRV-ATTR:hostname".into(), s.hostname.clone().into());
    m.insert("OS-EXT-SRV-ATTR:kernel_id".into(), "".into());
    m.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), "".into());
    m.insert("OS-EXT-SRV-ATTR:root_device_name".into(), "/dev/vda".into());
    m.insert(
        "OS-EXT-SRV-ATTR:user_data".into(),
        s.user_data.clone().into(),
    );
}

/// The fields later microversions added, each from its own version.
fn insert_microversion_fields(m: &mut serde_json::Map<String, Value>, v: &ViewCtx, s: &Server) {
    let mv = v.mv;
    if mv.at_least(9) {
        m.insert("locked".into(), s.locked.into());
    }
    if mv.at_least(16) && v.ctx.allowed(policy::COMPUTE_HOST_STATUS) {
        m.insert("host_status".into(), "UP".into());
    }
    if mv.at_least(19) {
        m.insert("description".into(), s.description.clone().into());
    }
    if mv.at_least(26) {
        m.insert("tags".into(), s.tags.clone().into());
    }
    if mv.at_least(63) {
        m.insert("trusted_image_certificates".into(), Value::Null);
    }
    if mv.at_least(71) {
        m.insert(
            "server_groups".into(),
            s.server_group.iter().cloned().collect::<Vec<_>>().into(),
        );
    }
    if mv.at_least(73) {
        m.insert("locked_reason".into(), s.locked_reason.clone().into());
    }
    // 2.90 shows the hostname to everyone (admins have it from 2.3 already).
    if mv.at_least(90) && !m.contains_key("OS-EXT-SRV-ATTR:hostname") {
        m.insert("OS-EXT-SRV-ATTR:hostname".into(), s.hostname.clone().into());
    }
    if mv.at_least(96) {
        m.insert(
            "pinned_availability_zone".into(),
            s.pinned_availability_zone.clone().into(),
        );
    }
    if mv.at_least(100) {
        m.insert("scheduler_hints".into(), json!(s.scheduler_hints));
    }
}
