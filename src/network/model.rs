//! Neutron resources as stored and shown: each struct serializes to its API view
//! (less `tenant_id`, which the API adds as a copy of `project_id`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) const NETWORK: &str = "network";
pub(crate) const SUBNET: &str = "subnet";
pub(crate) const SUBNETPOOL: &str = "subnetpool";
pub(crate) const PORT: &str = "port";
pub(crate) const ROUTER: &str = "router";
pub(crate) const FLOATING_IP: &str = "floatingip";
pub(crate) const SECURITY_GROUP: &str = "security_group";
pub(crate) const SECURITY_GROUP_RULE: &str = "security_group_rule";

pub(crate) const OWNER_DHCP: &str = "network:dhcp";
pub(crate) const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
pub(crate) const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
pub(crate) const OWNER_FLOATING_IP: &str = "network:floatingip";

/// Attributes every Neutron resource has (standard-attr-* extensions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Std {
    pub id: String,
    pub project_id: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

impl Std {
    pub(crate) fn new(project_id: &str, description: Option<String>) -> Std {
        let now = crate::http::time::iso_seconds(chrono::Utc::now());
        Std {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_owned(),
            description: description.unwrap_or_default(),
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
        }
    }

    /// Marks a change: newer `updated_at`, next revision.
    pub(crate) fn touch(&mut self) {
        self.updated_at = crate::http::time::iso_seconds(chrono::Utc::now());
        self.revision_number += 1;
    }
}

/// Common access to the standard attributes of any resource.
pub(crate) trait Resource:
    Serialize + for<'de> Deserialize<'de> + Clone + Send + 'static
{
    const KIND: &'static str;
    fn std(&self) -> &Std;
    fn std_mut(&mut self) -> &mut Std;
}

macro_rules! resource {
    ($t:ty, $kind:expr) => {
        impl Resource for $t {
            const KIND: &'static str = $kind;
            fn std(&self) -> &Std {
                &self.std
            }
            fn std_mut(&mut self) -> &mut Std {
                &mut self.std
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Network {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub admin_state_up: bool,
    pub status: String,
    pub subnets: Vec<String>,
    pub shared: bool,
    #[serde(rename = "router:external")]
    pub external: bool,
    pub mtu: u32,
    pub port_security_enabled: bool,
    #[serde(rename = "provider:network_type")]
    pub network_type: String,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    pub availability_zone_hints: Vec<String>,
    pub availability_zones: Vec<String>,
    pub ipv4_address_scope: Option<String>,
    pub ipv6_address_scope: Option<String>,
    pub is_default: bool,
    pub dns_domain: String,
    pub l2_adjacency: bool,
}
resource!(Network, NETWORK);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AllocationPool {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Subnet {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub service_types: Vec<String>,
    pub segment_id: Option<String>,
    /// Whether the subnet's network is external (the subnet-external-network
    /// extension): read from the network whenever a subnet is shown.
    #[serde(rename = "router:external", default)]
    pub router_external: bool,
}
resource!(Subnet, SUBNET);

/// A pool of prefixes that subnets are carved from (Neutron's subnet_allocation).
/// `prefixes` is kept compacted (merged and sorted), as Neutron shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SubnetPool {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub prefixes: Vec<String>,
    pub default_prefixlen: u8,
    pub min_prefixlen: u8,
    pub max_prefixlen: u8,
    /// Per-project limit in addresses (IPv4) or /64s (IPv6); `None` is unlimited.
    pub default_quota: Option<u64>,
    pub ip_version: u8,
    pub shared: bool,
    pub is_default: bool,
    /// Address scopes are not offered, so this is always `null`.
    pub address_scope_id: Option<String>,
}
resource!(SubnetPool, SUBNETPOOL);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Port {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub network_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub extra_dhcp_opts: Vec<Value>,
    pub port_security_enabled: bool,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    #[serde(rename = "binding:profile")]
    pub binding_profile: Value,
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: Value,
    pub dns_name: String,
    pub dns_assignment: Vec<Value>,
    pub qos_policy_id: Option<String>,
    pub propagate_uplink_status: bool,
}
resource!(Port, PORT);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<FixedIp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Route {
    pub destination: String,
    pub nexthop: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Router {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub admin_state_up: bool,
    pub status: String,
    pub external_gateway_info: Option<GatewayInfo>,
    pub routes: Vec<Route>,
    pub distributed: bool,
    pub ha: bool,
    pub availability_zone_hints: Vec<String>,
    pub availability_zones: Vec<String>,
    pub flavor_id: Option<String>,
}
resource!(Router, ROUTER);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FloatingIp {
    #[serde(flatten)]
    pub std: Std,
    pub floating_ip_address: String,
    pub floating_network_id: String,
    pub router_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub status: String,
    pub dns_domain: String,
    pub dns_name: String,
    pub qos_policy_id: Option<String>,
}
resource!(FloatingIp, FLOATING_IP);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SecurityGroup {
    #[serde(flatten)]
    pub std: Std,
    pub name: String,
    pub stateful: bool,
    pub shared: bool,
}
resource!(SecurityGroup, SECURITY_GROUP);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SecurityGroupRule {
    #[serde(flatten)]
    pub std: Std,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
    pub normalized_cidr: Option<String>,
    pub belongs_to_default_sg: bool,
}
resource!(SecurityGroupRule, SECURITY_GROUP_RULE);

/// Neutron's default quotas; -1 is unlimited.
pub(crate) const DEFAULT_QUOTAS: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("subnetpool", -1),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
];

/// A floating IP port forwarding (floating-ip-port-forwarding): traffic to the
/// floating IP on `external` ports of `protocol` goes to `internal_ip_address` on
/// `internal` ports. Not a standard-attribute resource: no project, tags or
/// timestamps of its own; it belongs to its floating IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortForwarding {
    pub id: String,
    pub floatingip_id: String,
    pub internal_port_id: String,
    pub internal_ip_address: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// First and last external port; equal for a single port.
    pub external: (u16, u16),
    /// First and last internal port; equal for a single port (1-N forwarding).
    pub internal: (u16, u16),
    pub description: String,
}

impl PortForwarding {
    /// The summary a floating IP shows of each of its forwardings (Neutron's
    /// expose-port-forwarding-in-fip fields).
    pub(crate) fn summary(&self) -> Value {
        let single = |(a, b): (u16, u16)| (a == b).then_some(a);
        serde_json::json!({
            "id": self.id,
            "internal_ip_address": self.internal_ip_address,
            "protocol": self.protocol,
            "internal_port": single(self.internal),
            "external_port": single(self.external),
            "internal_port_id": self.internal_port_id,
        })
    }

    /// The API view: a single port shows as `external_port` and as a range of one
    /// (`"22:22"`); a range shows `external_port: null`.
    pub(crate) fn view(&self) -> Value {
        let single = |(a, b): (u16, u16)| (a == b).then_some(a);
        serde_json::json!({
            "id": self.id,
            "external_port": single(self.external),
            "internal_port": single(self.internal),
            "external_port_range": format!("{}:{}", self.external.0, self.external.1),
            "internal_port_range": format!("{}:{}", self.internal.0, self.internal.1),
            "internal_ip_address": self.internal_ip_address,
            "internal_port_id": self.internal_port_id,
            "protocol": self.protocol,
            "description": self.description,
        })
    }
}
