//! Instance metadata as Nova serves it: the OpenStack tree (`openstack/<version>/
//! meta_data.json`, `network_data.json`, `user_data`, vendor data, password) and the
//! EC2 tree (`<version>/meta-data/...`, `user-data`), both for the metadata service
//! (`lookup`, one GET path) and for the config drive (`config_drive_files`).
//! Version gating, listings and path handling follow nova/api/metadata/base.py.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Map, Value, json};

pub use crate::dataplane::metadata::MetadataReply;

/// Everything the metadata service says about one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMetadata {
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// Shown as is (Nova shows `<name>.novalocal` when `dhcp_domain` is set).
    pub hostname: String,
    pub project_id: String,
    pub availability_zone: String,
    pub launch_index: u32,
    /// (key name, OpenSSH public key).
    pub public_keys: Vec<(String, String)>,
    /// Server metadata.
    pub meta: BTreeMap<String, String>,
    /// Already base64-decoded.
    pub user_data: Option<Vec<u8>>,
    /// One per port, in attachment order.
    pub links: Vec<NetworkLink>,
    pub dns_servers: Vec<IpAddr>,
    /// Flavor name (EC2 `instance-type`).
    pub instance_type: String,
    /// Image id (EC2 `ami-id`).
    pub ami_id: String,
    pub reservation_id: String,
    /// Security group names.
    pub security_groups: Vec<String>,
}

/// One port of the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkLink {
    pub port_id: String,
    pub mac: String,
    pub network_id: String,
    pub mtu: u32,
    pub ips: Vec<LinkIp>,
}

/// One fixed IP of a port, with its subnet's routing.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkIp {
    pub address: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    /// (destination CIDR, next hop)
    pub host_routes: Vec<(String, IpAddr)>,
    /// The subnet has DHCP: the guest is told `ipv4_dhcp` instead of a static address.
    pub dhcp: bool,
}

/// EC2 API versions Nova knows, oldest first.
const EC2_VERSIONS: [&str; 9] = [
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];
/// EC2 versions Nova writes to the config drive (`config_drive_skip_versions` skips the rest).
const EC2_DRIVE_VERSIONS: [&str; 2] = ["2009-04-04", "latest"];

const GRIZZLY: &str = "2013-04-04";
const HAVANA: &str = "2013-10-17";
const LIBERTY: &str = "2015-10-15";
const NEWTON_ONE: &str = "2016-06-30";
const NEWTON_TWO: &str = "2016-10-06";
const VICTORIA: &str = "2020-10-14";
/// OpenStack metadata versions, oldest first (Folsom .. Victoria).
const OPENSTACK_VERSIONS: [&str; 9] = [
    "2012-08-10",
    GRIZZLY,
    HAVANA,
    LIBERTY,
    NEWTON_ONE,
    NEWTON_TWO,
    "2017-02-22",
    "2018-08-27",
    VICTORIA,
];

const MD_JSON: &str = "meta_data.json";
const UD: &str = "user_data";
const VD_JSON: &str = "vendor_data.json";
const VD2_JSON: &str = "vendor_data2.json";
const NW_JSON: &str = "network_data.json";
const PASSWORD: &str = "password";

const TEXT: &str = "text/plain; charset=UTF-8";
const JSON: &str = "application/json";

impl InstanceMetadata {
    /// Every file of the config drive: the OpenStack tree (`openstack/latest/...` and the dated
    /// versions cloud-init knows, e.g. 2012-08-10 ... 2018-08-27) and the EC2 tree (`ec2/latest/...`).
    pub fn config_drive_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for v in EC2_DRIVE_VERSIONS {
            if let Some(ud) = &self.user_data {
                files.push((format!("ec2/{v}/user-data"), ud.clone()));
            }
            let mut md = self.ec2_meta_data(ec2_version(v).unwrap_or("2009-04-04"));
            strip_names(&mut md);
            files.push((format!("ec2/{v}/meta-data.json"), to_json(&md)));
        }
        for v in OPENSTACK_VERSIONS.iter().copied().chain(["latest"]) {
            let Some(real) = openstack_version(v) else {
                continue;
            };
            for name in self.openstack_files(real) {
                if name == PASSWORD {
                    continue; // served by the metadata service only, as in Nova
                }
                if let MetadataReply::File { body, .. } = self.openstack_file(real, name) {
                    files.push((format!("openstack/{v}/{name}"), body));
                }
            }
        }
        files
    }

    /// Answers one metadata-service GET path as Nova's metadata API does: `/`, `/openstack`,
    /// `/openstack/latest/{meta_data.json,network_data.json,user_data,vendor_data.json,
    /// vendor_data2.json,password}` (user_data 404 when none), version listings as text,
    /// and the EC2 tree `/latest/meta-data/...`, `/2009-04-04/...`, `/latest/user-data`
    /// (listings are newline-separated, directories end with `/`, public-keys/0/openssh-key).
    pub fn lookup(&self, path: &str) -> MetadataReply {
        let mut tokens = normalize(path);
        match tokens.first().map(String::as_str) {
            Some("openstack") | Some("ec2") => {}
            _ => tokens.insert(0, "ec2".into()),
        }
        let rest: Vec<&str> = tokens[1..].iter().map(String::as_str).collect();
        if tokens[0] == "openstack" {
            self.openstack_lookup(&rest)
        } else {
            self.ec2_lookup(&rest)
        }
    }

    fn openstack_lookup(&self, rest: &[&str]) -> MetadataReply {
        let Some(version) = rest.first() else {
            let mut v: Vec<&str> = OPENSTACK_VERSIONS.to_vec();
            v.push("latest");
            return text(v.join("\n"));
        };
        let Some(real) = openstack_version(version) else {
            return MetadataReply::NotFound;
        };
        match rest[1..] {
            [] => text(self.openstack_files(real).join("\n")),
            [name] if self.openstack_files(real).contains(&name) => self.openstack_file(real, name),
            _ => MetadataReply::NotFound,
        }
    }

    /// The files of one OpenStack version, in Nova's listing order.
    fn openstack_files(&self, version: &str) -> Vec<&'static str> {
        let mut v = vec![MD_JSON];
        if self.user_data.is_some() {
            v.push(UD);
        }
        let at_least = |min: &str| version >= min;
        if at_least(GRIZZLY) {
            v.push(PASSWORD);
        }
        if at_least(HAVANA) {
            v.push(VD_JSON);
        }
        if at_least(LIBERTY) {
            v.push(NW_JSON);
        }
        if at_least(NEWTON_TWO) {
            v.push(VD2_JSON);
        }
        v
    }

    fn openstack_file(&self, version: &str, name: &str) -> MetadataReply {
        match name {
            MD_JSON => json_file(&self.meta_data_json(version)),
            NW_JSON => json_file(&self.network_data_json()),
            VD_JSON | VD2_JSON => json_file(&json!({})),
            UD => match &self.user_data {
                Some(ud) => MetadataReply::File {
                    body: ud.clone(),
                    content_type: TEXT,
                },
                None => MetadataReply::NotFound,
            },
            // No password was ever posted by the guest: Nova answers an empty body.
            PASSWORD => text(String::new()),
            _ => MetadataReply::NotFound,
        }
    }

    /// `meta_data.json` of one (real, dated) version.
    pub fn meta_data_json(&self, version: &str) -> Value {
        let mut m = Map::new();
        m.insert("uuid".into(), json!(self.uuid));
        m.insert("meta".into(), json!(self.meta));
        m.insert("hostname".into(), json!(self.hostname));
        m.insert("name".into(), json!(self.name));
        m.insert("launch_index".into(), json!(self.launch_index));
        m.insert("availability_zone".into(), json!(self.availability_zone));
        if !self.public_keys.is_empty() {
            let keys: Map<String, Value> = self
                .public_keys
                .iter()
                .map(|(n, k)| (n.clone(), json!(k)))
                .collect();
            m.insert("public_keys".into(), Value::Object(keys));
            let list: Vec<Value> = self
                .public_keys
                .iter()
                .map(|(n, k)| json!({"name": n, "type": "ssh", "data": k}))
                .collect();
            m.insert("keys".into(), Value::Array(list));
        }
        if version >= GRIZZLY {
            let mut seed = vec![0u8; 512];
            rand::rng().fill_bytes(&mut seed);
            let seed = base64::engine::general_purpose::STANDARD.encode(seed);
            m.insert("random_seed".into(), json!(seed));
        }
        if version >= LIBERTY {
            m.insert("project_id".into(), json!(self.project_id));
        }
        if version >= NEWTON_ONE {
            m.insert("devices".into(), json!([]));
        }
        if version >= VICTORIA {
            m.insert("dedicated_cpus".into(), json!([]));
        }
        Value::Object(m)
    }

    /// `network_data.json` as Nova builds it from the instance's ports.
    pub fn network_data_json(&self) -> Value {
        let dns: Vec<Value> = self
            .dns_servers
            .iter()
            .map(|a| json!({"type": "dns", "address": a.to_string()}))
            .collect();
        let mut links = Vec::new();
        let mut networks = Vec::new();
        for l in &self.links {
            let link_id = crate::dataplane::plan::tap_name(&l.port_id);
            links.push(json!({
                "id": link_id,
                "vif_id": l.port_id,
                "type": "phy",
                "mtu": l.mtu,
                "ethernet_mac_address": l.mac,
            }));
            for ip in &l.ips {
                let id = format!("network{}", networks.len());
                let v = if ip.address.is_ipv4() { 4 } else { 6 };
                if ip.dhcp {
                    networks.push(json!({
                        "id": id, "type": format!("ipv{v}_dhcp"), "link": link_id,
                        "network_id": l.network_id,
                    }));
                    continue;
                }
                let mut routes = Vec::new();
                if let Some(gw) = ip.gateway {
                    let any = if v == 4 { "0.0.0.0" } else { "::" };
                    routes.push(json!({"network": any, "netmask": any, "gateway": gw.to_string()}));
                }
                for (cidr, nh) in &ip.host_routes {
                    if let Ok(net) = cidr.parse::<ipnet::IpNet>() {
                        routes.push(json!({
                            "network": net.network().to_string(),
                            "netmask": net.netmask().to_string(),
                            "gateway": nh.to_string(),
                        }));
                    }
                }
                networks.push(json!({
                    "id": id,
                    "type": format!("ipv{v}"),
                    "link": link_id,
                    "ip_address": ip.address.to_string(),
                    "netmask": netmask(ip.address, ip.prefix_len),
                    "routes": routes,
                    "network_id": l.network_id,
                    "services": dns,
                }));
            }
        }
        json!({"links": links, "networks": networks, "services": dns})
    }

    fn ec2_lookup(&self, rest: &[&str]) -> MetadataReply {
        let Some(version) = rest.first() else {
            let mut v: Vec<&str> = EC2_VERSIONS.to_vec();
            v.push("latest");
            return text(v.join("\n"));
        };
        let Some(real) = ec2_version(version) else {
            return MetadataReply::NotFound;
        };
        match rest[1..] {
            [] => {
                let mut v = vec!["meta-data/"];
                if self.user_data.is_some() {
                    v.push("user-data");
                }
                text(v.join("\n"))
            }
            ["user-data"] => match &self.user_data {
                Some(ud) => MetadataReply::File {
                    body: ud.clone(),
                    content_type: TEXT,
                },
                None => MetadataReply::NotFound,
            },
            ["meta-data", ref path @ ..] => {
                let tree = self.ec2_meta_data(real);
                match find(&tree, path) {
                    Some(node) => text(ec2_print(node)),
                    None => MetadataReply::NotFound,
                }
            }
            _ => MetadataReply::NotFound,
        }
    }

    /// The EC2 `meta-data` tree of one real version; `_name` keys label directories in
    /// listings (`public-keys/` lists `0=mykey`), as in Nova.
    pub fn ec2_meta_data(&self, version: &str) -> Value {
        let at_least = |min: &str| {
            let pos = |v: &str| EC2_VERSIONS.iter().position(|x| *x == v);
            pos(version) >= pos(min)
        };
        let local_ipv4 = self
            .links
            .iter()
            .flat_map(|l| &l.ips)
            .find(|ip| ip.address.is_ipv4())
            .map(|ip| ip.address.to_string())
            .unwrap_or_default();
        let mut m = Map::new();
        m.insert("ami-id".into(), json!(self.ami_id));
        m.insert("ami-launch-index".into(), json!(self.launch_index));
        m.insert("ami-manifest-path".into(), json!("FIXME"));
        m.insert("instance-id".into(), json!(ec2_instance_id(&self.uuid)));
        m.insert("hostname".into(), json!(self.hostname));
        m.insert("local-ipv4".into(), json!(local_ipv4));
        m.insert("reservation-id".into(), json!(self.reservation_id));
        m.insert("security-groups".into(), json!(self.security_groups));
        if !self.public_keys.is_empty() {
            let keys: Map<String, Value> = self
                .public_keys
                .iter()
                .enumerate()
                .map(|(i, (name, key))| {
                    (
                        i.to_string(),
                        json!({"_name": format!("{i}={name}"), "openssh-key": key}),
                    )
                })
                .collect();
            m.insert("public-keys".into(), Value::Object(keys));
        }
        if at_least("2007-01-19") {
            m.insert("local-hostname".into(), json!(self.hostname));
            m.insert("public-hostname".into(), json!(self.hostname));
            m.insert("public-ipv4".into(), json!(""));
        }
        if at_least("2007-08-29") {
            m.insert("instance-type".into(), json!(self.instance_type));
        }
        if at_least("2007-12-15") {
            m.insert(
                "block-device-mapping".into(),
                json!({"ami": "vda", "root": "/dev/vda"}),
            );
        }
        if at_least("2008-02-01") {
            m.insert(
                "placement".into(),
                json!({"availability-zone": self.availability_zone}),
            );
        }
        if at_least("2008-09-01") {
            m.insert("instance-action".into(), json!("none"));
        }
        Value::Object(m)
    }
}

/// `/a//b/./c/../` -> `[a, b]`, like Python's `posixpath.normpath`.
fn normalize(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in path.split('/') {
        match t {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            t => out.push(t.to_string()),
        }
    }
    out
}

fn openstack_version(v: &str) -> Option<&'static str> {
    match v {
        "latest" => OPENSTACK_VERSIONS.last().copied(),
        v => OPENSTACK_VERSIONS.iter().copied().find(|x| *x == v),
    }
}

fn ec2_version(v: &str) -> Option<&'static str> {
    match v {
        "latest" => EC2_VERSIONS.last().copied(),
        v => EC2_VERSIONS.iter().copied().find(|x| *x == v),
    }
}

/// EC2 ids are `i-` and 8 hex digits; Nova maps its internal id, we use the uuid's head.
fn ec2_instance_id(uuid: &str) -> String {
    let hex: String = uuid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("i-{hex:0>8}")
}

fn find<'a>(mut node: &'a Value, path: &[&str]) -> Option<&'a Value> {
    for t in path {
        if *t == "_name" {
            return None;
        }
        node = node.as_object()?.get(*t)?;
    }
    Some(node)
}

/// Nova's `ec2_md_print`: directories list their sorted keys (sub-directories with a
/// trailing `/`, or their `_name`), lists are one item per line, scalars as text.
fn ec2_print(node: &Value) -> String {
    match node {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| *k != "_name").collect();
            keys.sort();
            let lines: Vec<String> = keys
                .into_iter()
                .map(|k| match &m[k] {
                    Value::Object(sub) => match sub.get("_name").and_then(Value::as_str) {
                        Some(n) => n.to_string(),
                        None => format!("{k}/"),
                    },
                    _ => k.clone(),
                })
                .collect();
            lines.join("\n")
        }
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn strip_names(v: &mut Value) {
    if let Value::Object(m) = v {
        m.remove("_name");
        m.values_mut().for_each(strip_names);
    }
}

fn netmask(addr: IpAddr, len: u8) -> String {
    match addr {
        IpAddr::V4(_) => ipnet::Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, len.min(32))
            .map(|n| n.netmask().to_string())
            .unwrap_or_default(),
        IpAddr::V6(_) => ipnet::Ipv6Net::new(std::net::Ipv6Addr::UNSPECIFIED, len.min(128))
            .map(|n| n.netmask().to_string())
            .unwrap_or_default(),
    }
}

fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn json_file(v: &Value) -> MetadataReply {
    MetadataReply::File {
        body: to_json(v),
        content_type: JSON,
    }
}

fn text(s: String) -> MetadataReply {
    MetadataReply::File {
        body: s.into_bytes(),
        content_type: TEXT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample demo@host";

    fn instance() -> InstanceMetadata {
        InstanceMetadata {
            uuid: "8d1e6a0c-7c1f-4a53-9a3e-2d3f4b5c6d7e".into(),
            name: "vm1".into(),
            hostname: "vm1".into(),
            project_id: "p1".into(),
            availability_zone: "nova".into(),
            launch_index: 0,
            public_keys: vec![("mykey".into(), KEY.into())],
            meta: BTreeMap::from([("role".into(), "web".into())]),
            user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
            links: vec![NetworkLink {
                port_id: "0b0b0001-0000-4000-8000-000000000001".into(),
                mac: "fa:16:3e:00:00:01".into(),
                network_id: "net-1".into(),
                mtu: 1450,
                ips: vec![LinkIp {
                    address: "10.0.0.5".parse().unwrap(),
                    prefix_len: 24,
                    gateway: Some("10.0.0.1".parse().unwrap()),
                    host_routes: vec![("10.9.0.0/16".into(), "10.0.0.9".parse().unwrap())],
                    dhcp: false,
                }],
            }],
            dns_servers: vec!["10.0.0.53".parse().unwrap()],
            instance_type: "m1.tiny".into(),
            ami_id: "img-1".into(),
            reservation_id: "r-abcdefgh".into(),
            security_groups: vec!["default".into(), "web".into()],
        }
    }

    fn body(r: MetadataReply) -> (String, &'static str) {
        match r {
            MetadataReply::File { body, content_type } => {
                (String::from_utf8(body).unwrap(), content_type)
            }
            MetadataReply::NotFound => panic!("404"),
        }
    }

    fn get_json(i: &InstanceMetadata, path: &str) -> Value {
        let (b, ct) = body(i.lookup(path));
        assert_eq!(ct, JSON, "{path}");
        serde_json::from_str(&b).unwrap()
    }

    #[test]
    fn meta_data_json_has_the_api_shape() {
        let i = instance();
        let md = get_json(&i, "/openstack/latest/meta_data.json");
        assert_eq!(md["uuid"], i.uuid);
        assert_eq!(md["name"], "vm1");
        assert_eq!(md["hostname"], "vm1");
        assert_eq!(md["launch_index"], 0);
        assert_eq!(md["availability_zone"], "nova");
        assert_eq!(md["project_id"], "p1");
        assert_eq!(md["meta"], json!({"role": "web"}));
        assert_eq!(md["public_keys"], json!({"mykey": KEY}));
        assert_eq!(
            md["keys"],
            json!([{"name": "mykey", "type": "ssh", "data": KEY}])
        );
        assert_eq!(md["devices"], json!([]));
        let seed = base64::engine::general_purpose::STANDARD
            .decode(md["random_seed"].as_str().unwrap())
            .unwrap();
        assert_eq!(seed.len(), 512);
        // Older versions lack the newer fields.
        let old = get_json(&i, "/openstack/2012-08-10/meta_data.json");
        assert!(old.get("random_seed").is_none() && old.get("project_id").is_none());
        let liberty = get_json(&i, "/openstack/2015-10-15/meta_data.json");
        assert_eq!(liberty["project_id"], "p1");
        assert!(liberty.get("devices").is_none());
        // No key: neither public_keys nor keys.
        let mut nokey = i.clone();
        nokey.public_keys.clear();
        let md = get_json(&nokey, "/openstack/latest/meta_data.json");
        assert!(md.get("public_keys").is_none() && md.get("keys").is_none());
    }

    #[test]
    fn network_data_json_as_nova_builds_it() {
        let mut i = instance();
        let nd = get_json(&i, "/openstack/latest/network_data.json");
        assert_eq!(
            nd["links"],
            json!([{"id": "tap0b0b0001-00", "vif_id": "0b0b0001-0000-4000-8000-000000000001",
                    "type": "phy", "mtu": 1450, "ethernet_mac_address": "fa:16:3e:00:00:01"}])
        );
        let net = &nd["networks"][0];
        assert_eq!(net["id"], "network0");
        assert_eq!(net["type"], "ipv4");
        assert_eq!(net["link"], "tap0b0b0001-00");
        assert_eq!(net["ip_address"], "10.0.0.5");
        assert_eq!(net["netmask"], "255.255.255.0");
        assert_eq!(net["network_id"], "net-1");
        assert_eq!(
            net["routes"],
            json!([{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                   {"network": "10.9.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.9"}])
        );
        assert_eq!(
            net["services"],
            json!([{"type": "dns", "address": "10.0.0.53"}])
        );
        assert_eq!(
            nd["services"],
            json!([{"type": "dns", "address": "10.0.0.53"}])
        );
        i.links[0].ips[0].dhcp = true;
        i.links[0].ips.push(LinkIp {
            address: "fd00::5".parse().unwrap(),
            prefix_len: 64,
            gateway: None,
            host_routes: vec![],
            dhcp: false,
        });
        let nd = i.network_data_json();
        assert_eq!(
            nd["networks"][0],
            json!({"id": "network0", "type": "ipv4_dhcp", "link": "tap0b0b0001-00",
                   "network_id": "net-1"})
        );
        assert_eq!(nd["networks"][1]["type"], "ipv6");
        assert_eq!(nd["networks"][1]["netmask"], "ffff:ffff:ffff:ffff::");
        assert_eq!(nd["networks"][1]["routes"], json!([]));
    }

    #[test]
    fn openstack_listings_and_files() {
        let i = instance();
        let (top, ct) = body(i.lookup("/openstack"));
        assert_eq!(ct, TEXT);
        assert!(top.starts_with("2012-08-10\n2013-04-04\n"));
        assert!(top.ends_with("2018-08-27\n2020-10-14\nlatest"));
        assert_eq!(
            body(i.lookup("/openstack/latest/")).0,
            "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
        );
        assert_eq!(
            body(i.lookup("/openstack/2012-08-10")).0,
            "meta_data.json\nuser_data"
        );
        assert_eq!(
            body(i.lookup("/openstack/latest/user_data")).0,
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            get_json(&i, "/openstack/latest/vendor_data.json"),
            json!({})
        );
        assert_eq!(
            get_json(&i, "/openstack/latest/vendor_data2.json"),
            json!({})
        );
        assert_eq!(body(i.lookup("/openstack/latest/password")).0, "");
        assert_eq!(
            i.lookup("/openstack/2012-08-10/network_data.json"),
            MetadataReply::NotFound
        );
        assert_eq!(
            i.lookup("/openstack/1999-01-01/meta_data.json"),
            MetadataReply::NotFound
        );
        assert_eq!(
            i.lookup("/openstack/latest/nothing"),
            MetadataReply::NotFound
        );
        let mut none = i.clone();
        none.user_data = None;
        assert_eq!(
            none.lookup("/openstack/latest/user_data"),
            MetadataReply::NotFound
        );
        assert!(
            !body(none.lookup("/openstack/latest"))
                .0
                .contains("user_data")
        );
    }

    #[test]
    fn ec2_tree_and_listings() {
        let i = instance();
        let (root, _) = body(i.lookup("/"));
        assert!(root.starts_with("1.0\n2007-01-19\n") && root.ends_with("2009-04-04\nlatest"));
        assert_eq!(body(i.lookup("/latest")).0, "meta-data/\nuser-data");
        let listing = body(i.lookup("/latest/meta-data/")).0;
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(
            lines,
            [
                "ami-id",
                "ami-launch-index",
                "ami-manifest-path",
                "block-device-mapping/",
                "hostname",
                "instance-action",
                "instance-id",
                "instance-type",
                "local-hostname",
                "local-ipv4",
                "placement/",
                "public-hostname",
                "public-ipv4",
                "public-keys/",
                "reservation-id",
                "security-groups",
            ]
        );
        assert_eq!(body(i.lookup("/latest/meta-data/public-keys")).0, "0=mykey");
        assert_eq!(
            body(i.lookup("/latest/meta-data/public-keys/0")).0,
            "openssh-key"
        );
        assert_eq!(
            body(i.lookup("/latest/meta-data/public-keys/0/openssh-key")).0,
            KEY
        );
        assert_eq!(
            body(i.lookup("/2009-04-04/meta-data/local-ipv4")).0,
            "10.0.0.5"
        );
        assert_eq!(body(i.lookup("/latest/meta-data/ami-launch-index")).0, "0");
        assert_eq!(
            body(i.lookup("/latest/meta-data/security-groups")).0,
            "default\nweb"
        );
        assert_eq!(
            body(i.lookup("/latest/meta-data/placement/availability-zone")).0,
            "nova"
        );
        assert_eq!(
            body(i.lookup("/latest/meta-data/instance-type")).0,
            "m1.tiny"
        );
        assert_eq!(
            body(i.lookup("/latest/meta-data/instance-id")).0,
            "i-8d1e6a0c"
        );
        assert_eq!(
            body(i.lookup("/latest/user-data")).0,
            "#!/bin/sh\necho hi\n"
        );
        // Old versions lack newer keys; unknown paths and versions are 404.
        assert_eq!(
            i.lookup("/1.0/meta-data/instance-type"),
            MetadataReply::NotFound
        );
        assert_eq!(i.lookup("/latest/meta-data/nope"), MetadataReply::NotFound);
        assert_eq!(
            i.lookup("/latest/meta-data/public-keys/0/_name"),
            MetadataReply::NotFound
        );
        assert_eq!(i.lookup("/2010-01-01/meta-data"), MetadataReply::NotFound);
        assert_eq!(body(i.lookup("/ec2/latest/meta-data/hostname")).0, "vm1");
        let mut none = i;
        none.user_data = None;
        assert_eq!(none.lookup("/latest/user-data"), MetadataReply::NotFound);
        assert_eq!(body(none.lookup("/latest")).0, "meta-data/");
    }

    #[test]
    fn config_drive_tree() {
        let i = instance();
        let files = i.config_drive_files();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "openstack/latest/meta_data.json",
            "openstack/latest/network_data.json",
            "openstack/latest/user_data",
            "openstack/latest/vendor_data.json",
            "openstack/latest/vendor_data2.json",
            "openstack/2012-08-10/meta_data.json",
            "openstack/2018-08-27/network_data.json",
            "ec2/latest/meta-data.json",
            "ec2/latest/user-data",
            "ec2/2009-04-04/meta-data.json",
        ] {
            assert!(names.contains(&want), "missing {want}: {names:?}");
        }
        assert!(!names.iter().any(|n| n.ends_with("/password")));
        assert!(!names.contains(&"openstack/2012-08-10/network_data.json"));
        let (_, ec2) = files
            .iter()
            .find(|(n, _)| n == "ec2/latest/meta-data.json")
            .unwrap();
        let ec2: Value = serde_json::from_slice(ec2).unwrap();
        assert_eq!(ec2["public-keys"], json!({"0": {"openssh-key": KEY}}));
        assert_eq!(ec2["security-groups"], json!(["default", "web"]));
        assert_eq!(ec2["placement"], json!({"availability-zone": "nova"}));
    }
}
