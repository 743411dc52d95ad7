//! Profiles (`profiles/*.toml`): DevStack's local.conf made typed. An unknown key or a
//! bad value is an error naming the file, key and line before anything starts.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Profiles shipped inside the binary, so `--profile NAME` works from any directory.
const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../profiles/default.toml")),
    ("minimal", include_str!("../profiles/minimal.toml")),
    ("teaching", include_str!("../profiles/teaching.toml")),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub(crate) cloud: CloudSection,
    pub(crate) identity: IdentitySection,
    pub(crate) services: ServicesSection,
    pub(crate) compute: ComputeSection,
    pub(crate) network: NetworkSection,
    #[serde(default)]
    pub image: ImageSection,
    #[serde(default)]
    pub(crate) lab: LabSection,
    #[serde(default)]
    pub(crate) http: HttpSection,
    #[serde(default)]
    pub(crate) volume: VolumeSection,
}

/// Block storage: where volumes live and how guests reach them (DevStack's
/// CINDER_ENABLED_BACKENDS, VOLUME_GROUP_NAME and CINDER_TARGET_HELPER).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct VolumeSection {
    /// `file` (sparse raw files in the state directory) or `lvm` (thin volumes).
    pub(crate) backend: VolumeBackend,
    /// The LVM volume group (`backend = "lvm"`); `onestack install` can make it
    /// on a loop file.
    pub(crate) volume_group: String,
    /// The thin pool inside the volume group.
    pub(crate) thin_pool: String,
    /// `none` (the hypervisor opens the volume directly) or `tgtadm` (volumes are
    /// exported over iSCSI with CHAP by the userspace tgt daemon and QEMU opens
    /// them with its own initiator).
    pub(crate) target_helper: TargetHelper,
    /// `address:port` the iSCSI targets listen on.
    pub(crate) iscsi_portal: SocketAddr,
    /// tgtd's management channel (`tgtd -C`, socket `/var/run/tgtd/socket.N`,
    /// at most 32767); 0 is the system's tgt service.
    pub(crate) tgt_control_port: u16,
    /// Start and supervise a tgtd of our own on `tgt_control_port` and
    /// `iscsi_portal` (false: use the running one, e.g. the system's tgt service).
    pub(crate) tgt_managed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum VolumeBackend {
    File,
    Lvm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TargetHelper {
    None,
    Tgtadm,
}

impl Default for VolumeSection {
    fn default() -> Self {
        VolumeSection {
            backend: VolumeBackend::File,
            volume_group: "stack-volumes-lvmdriver-1".into(),
            thin_pool: "stack-volumes-lvmdriver-1-pool".into(),
            target_helper: TargetHelper::None,
            iscsi_portal: SocketAddr::from(([127, 0, 0, 1], 3260)),
            tgt_control_port: 0,
            tgt_managed: false,
        }
    }
}

/// The API listener's limits (see `http::listener`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpSection {
    /// Connections held open at once; a new one over the cap closes the oldest idle one.
    pub(crate) max_connections: usize,
    /// Connections held open from one client address.
    pub(crate) max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub(crate) header_timeout_secs: u64,
    /// Longest pause, in seconds, while a client sends a request body.
    pub(crate) body_timeout_secs: u64,
    /// Largest JSON request body, in bytes (oslo.middleware's max_request_body_size).
    pub(crate) max_json_body: usize,
    /// Build links in responses from the request's Host and X-Forwarded-Proto
    /// headers (behind a proxy that sets them) instead of the configured public host.
    pub(crate) links_from_request: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            max_connections: 1024,
            max_connections_per_address: 256,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_json_body: 114_688,
            links_from_request: false,
        }
    }
}

/// A classroom (`onestack lab create`): what each student gets.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LabSection {
    /// Each student's private subnet (the same range in every project: routers keep
    /// them apart).
    pub(crate) private_cidr: Cidr,
    pub(crate) dns_nameservers: Vec<Ipv4Addr>,
    pub(crate) quota_networks: i64,
    pub(crate) quota_subnets: i64,
    pub(crate) quota_ports: i64,
    pub(crate) quota_routers: i64,
    pub(crate) quota_floating_ips: i64,
    pub(crate) quota_security_groups: i64,
    /// Compute quotas, applied when the cloud serves compute.
    pub(crate) quota_instances: i64,
    pub(crate) quota_cores: i64,
    pub(crate) quota_ram_mb: i64,
}

impl Default for LabSection {
    fn default() -> Self {
        LabSection {
            private_cidr: Cidr {
                addr: Ipv4Addr::new(10, 10, 0, 0),
                prefix: 24,
            },
            dns_nameservers: Vec::new(),
            quota_networks: 2,
            quota_subnets: 2,
            quota_ports: 20,
            quota_routers: 1,
            quota_floating_ips: 2,
            quota_security_groups: 5,
            quota_instances: 2,
            quota_cores: 2,
            quota_ram_mb: 2048,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageSection {
    /// Images a project may own; -1 is unlimited.
    pub(crate) quota_images: i64,
    /// Bytes of image data a project may store; -1 is unlimited.
    pub(crate) quota_bytes: i64,
    /// The largest single image accepted, in bytes (Glance's image_size_cap).
    pub(crate) size_cap: i64,
    /// A bootable image registered as public on start when the file exists, as
    /// DevStack does with CirrOS. Empty = none.
    pub(crate) bootstrap_image: String,
    pub(crate) bootstrap_image_name: String,
    pub(crate) bootstrap_image_format: String,
    /// The bootstrap image's `min_ram` (MiB) and `min_disk` (GiB): the test image
    /// needs 128 MiB (a smaller flavor would boot a guest that hangs) and 1 GiB.
    pub(crate) bootstrap_image_min_ram: i64,
    pub(crate) bootstrap_image_min_disk: i64,
    /// A kernel (and initramfs) registered beside the bootstrap image as its own
    /// `<name>-kernel` (aki) and `<name>-ramdisk` (ari) images, named by the disk
    /// image's `kernel_id`/`ramdisk_id`, so servers boot the kernel directly
    /// (DevStack's AMI-style CirrOS). Empty or missing file = firmware disk boot.
    pub(crate) bootstrap_kernel: String,
    pub(crate) bootstrap_ramdisk: String,
    /// Glance's `[import_filtering_opts]` for `web-download` and `/v2/tasks` imports:
    /// a URL passes when its scheme, host and port pass. An allowed list, when not
    /// empty, wins over the disallowed one; a URL without a port is checked as its
    /// scheme's default port (Glance's defaults: http and https, ports 80 and 443).
    pub(crate) import_allowed_schemes: Vec<String>,
    pub(crate) import_disallowed_schemes: Vec<String>,
    pub(crate) import_allowed_hosts: Vec<String>,
    pub(crate) import_disallowed_hosts: Vec<String>,
    pub(crate) import_allowed_ports: Vec<u16>,
    pub(crate) import_disallowed_ports: Vec<u16>,
}

impl Default for ImageSection {
    fn default() -> Self {
        ImageSection {
            quota_images: 100,
            quota_bytes: 100 << 30,
            size_cap: 1 << 40,
            bootstrap_image: String::new(),
            bootstrap_image_name: "cirros".into(),
            bootstrap_image_format: "qcow2".into(),
            bootstrap_image_min_ram: 128,
            bootstrap_image_min_disk: 1,
            bootstrap_kernel: String::new(),
            bootstrap_ramdisk: String::new(),
            import_allowed_schemes: vec!["http".into(), "https".into()],
            import_disallowed_schemes: vec![],
            import_allowed_hosts: vec![],
            import_disallowed_hosts: vec![],
            import_allowed_ports: vec![80, 443],
            import_disallowed_ports: vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloudSection {
    pub(crate) listen: SocketAddr,
    #[serde(default)]
    pub(crate) public_host: String,
    pub(crate) region: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentitySection {
    #[serde(default)]
    pub(crate) admin_password: String,
    #[serde(default)]
    pub(crate) demo_password: String,
    pub(crate) token_expiration: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServicesSection {
    pub(crate) enabled: Vec<ServiceName>,
}

/// The OpenStack services onestack knows by their catalog type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ServiceName {
    Identity,
    Compute,
    Image,
    Network,
    Volume,
    ObjectStore,
    Placement,
    Orchestration,
    Metric,
    Dashboard,
}

/// `[compute] hypervisor`: the driver choice lives with the drivers that honour it.
pub(crate) use crate::virt::detect::Choice as Hypervisor;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComputeSection {
    pub(crate) hypervisor: Hypervisor,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkSection {
    pub(crate) floating_range: Cidr,
    pub(crate) public_gateway: Ipv4Addr,
    /// First and last floating IP of the public subnet's allocation pool; unset =
    /// the whole floating range. `onestack install` sets them when the floating IPs
    /// share a subnet with the host (a VirtualBox host-only or bridged network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) floating_pool_start: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) floating_pool_end: Option<Ipv4Addr>,
    /// DevStack's IPV4_ADDRS_SAFE_TO_USE: the tenants' IPv4 address space, the prefix
    /// of the shared default pool `shared-default-subnetpool-v4`.
    #[serde(default = "default_ipv4_addrs_safe_to_use")]
    pub(crate) ipv4_addrs_safe_to_use: Cidr,
    /// DevStack's USE_SUBNETPOOL: create the shared default pool on first start and
    /// carve `private-subnet` out of it.
    #[serde(default = "default_true")]
    pub(crate) use_subnetpool: bool,
    /// DevStack's SUBNETPOOL_SIZE_V4: the pool's default prefix length, which
    /// `private-subnet` and every subnet asked of the pool without a size get.
    #[serde(default = "default_subnetpool_size_v4")]
    pub(crate) subnetpool_size_v4: u8,
    /// A fixed range for `private-subnet` instead of the pool's first block; unset =
    /// from the pool (or all of `ipv4_addrs_safe_to_use` with `use_subnetpool` off,
    /// DevStack's FIXED_RANGE default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fixed_range: Option<Cidr>,
    /// DevStack's IP_VERSION: `4`, or `4+6` for the IPv6 half of the default
    /// networks too (the pool `shared-default-subnetpool-v6`, `ipv6-private-subnet`
    /// on router1, `ipv6-public-subnet` on `public`, routed to the host).
    #[serde(default = "default_ip_version")]
    pub(crate) ip_version: IpVersion,
    /// DevStack's IPV6_ADDRS_SAFE_TO_USE: the tenants' IPv6 space and the prefix of
    /// the default IPv6 pool; unset = a random RFC 4193 `fdXX:XXXX:XXXX::/56` drawn
    /// on first start (DevStack's `fd$IPV6_GLOBAL_ID::/56`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ipv6_addrs_safe_to_use: Option<ipnet::Ipv6Net>,
    /// DevStack's SUBNETPOOL_SIZE_V6.
    #[serde(default = "default_subnetpool_size_v6")]
    pub(crate) subnetpool_size_v6: u8,
    /// DevStack's IPV6_RA_MODE and IPV6_ADDRESS_MODE for `ipv6-private-subnet`
    /// (`slaac`, `dhcpv6-stateless` or `dhcpv6-stateful`).
    #[serde(default = "default_ipv6_mode")]
    pub(crate) ipv6_ra_mode: String,
    #[serde(default = "default_ipv6_mode")]
    pub(crate) ipv6_address_mode: String,
    /// DevStack's IPV6_PUBLIC_RANGE: `ipv6-public-subnet` on `public`.
    #[serde(default = "default_ipv6_public_range")]
    pub(crate) ipv6_public_range: ipnet::Ipv6Net,
    /// DevStack's IPV6_PUBLIC_NETWORK_GATEWAY: the host's address on the external
    /// bridge, the routers' IPv6 default gateway.
    #[serde(default = "default_ipv6_public_network_gateway")]
    pub(crate) ipv6_public_network_gateway: Ipv6Addr,
    /// DevStack's IPV6_ROUTER_GW_IP: router1's address on `ipv6-public-subnet`,
    /// through which the host routes to `ipv6-private-subnet`.
    #[serde(default = "default_ipv6_router_gw_ip")]
    pub(crate) ipv6_router_gw_ip: Ipv6Addr,
    /// `host`: converge bridges, namespaces, nftables and dnsmasq on this machine;
    /// `off`: the networking API only.
    #[serde(default = "default_dataplane")]
    pub(crate) dataplane: DataplaneMode,
    #[serde(default = "default_external_bridge")]
    pub(crate) external_bridge: String,
    /// Run the dataplane inside this network namespace instead of the host's own
    /// (a whole fake host, for tests).
    #[serde(default)]
    pub(crate) host_netns: String,
    /// Prefix of the router/DHCP namespaces onestack creates. Empty: none for the
    /// installed cloud (`/var/lib/onestack`, DevStack's `qrouter-<id>`), else
    /// `os<tag>-` with a tag derived from the state directory, so that clouds on one
    /// machine never share names (see `dataplane::Owner`).
    #[serde(default)]
    pub(crate) namespace_prefix: String,
    /// Masquerade the floating range out of the host (instances reach the internet).
    #[serde(default = "default_true")]
    pub(crate) masquerade: bool,
    /// Create DevStack's `public` network, the demo `private` network and `router1`
    /// on first start.
    #[serde(default = "default_true")]
    pub(crate) create_default_networks: bool,
}

/// DevStack's IP_VERSION values onestack's bootstrap supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) enum IpVersion {
    #[serde(rename = "4")]
    V4,
    #[serde(rename = "4+6")]
    V4V6,
}

/// `4`, not DevStack's `4+6`: see docs/ARCHITECTURE.md (network bootstrap).
fn default_ip_version() -> IpVersion {
    IpVersion::V4
}

/// DevStack's SUBNETPOOL_SIZE_V6 default.
fn default_subnetpool_size_v6() -> u8 {
    64
}

/// DevStack's IPV6_RA_MODE / IPV6_ADDRESS_MODE default.
fn default_ipv6_mode() -> String {
    "slaac".into()
}

/// DevStack's IPV6_PUBLIC_RANGE default (the documentation prefix, RFC 3849).
fn default_ipv6_public_range() -> ipnet::Ipv6Net {
    ipnet::Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 64).unwrap_or_default()
}

fn default_ipv6_public_network_gateway() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)
}

fn default_ipv6_router_gw_ip() -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DataplaneMode {
    Host,
    Off,
}

fn default_dataplane() -> DataplaneMode {
    DataplaneMode::Host
}

fn default_external_bridge() -> String {
    "br-ex".into()
}

fn default_true() -> bool {
    true
}

/// DevStack's IPV4_ADDRS_SAFE_TO_USE default (stackrc).
fn default_ipv4_addrs_safe_to_use() -> Cidr {
    Cidr {
        addr: Ipv4Addr::new(10, 0, 0, 0),
        prefix: 22,
    }
}

/// DevStack's SUBNETPOOL_SIZE_V4 default (lib/neutron_plugins/services/l3).
fn default_subnetpool_size_v4() -> u8 {
    26
}

impl NetworkSection {
    /// The range `private-subnet` is made with when it does not come from the pool:
    /// `fixed_range`, else DevStack's FIXED_RANGE default, the whole safe range.
    pub(crate) fn private_range(&self) -> Cidr {
        self.fixed_range.unwrap_or(self.ipv4_addrs_safe_to_use)
    }

    /// Whether the default networks get their IPv6 half (IP_VERSION `4+6`).
    pub(crate) fn with_ipv6(&self) -> bool {
        self.ip_version == IpVersion::V4V6
    }

    fn check_v6(&self) -> Result<(), String> {
        for (key, mode) in [
            ("ipv6_ra_mode", &self.ipv6_ra_mode),
            ("ipv6_address_mode", &self.ipv6_address_mode),
        ] {
            if crate::dataplane::plan::Ipv6Mode::parse(mode).is_none() {
                return Err(format!(
                    "key `network.{key}`: `{mode}` is not slaac, dhcpv6-stateless or dhcpv6-stateful"
                ));
            }
        }
        let public = self.ipv6_public_range;
        if public.trunc() != public {
            return Err(format!(
                "key `network.ipv6_public_range`: `{public}` has host bits set"
            ));
        }
        for (key, ip) in [
            (
                "ipv6_public_network_gateway",
                self.ipv6_public_network_gateway,
            ),
            ("ipv6_router_gw_ip", self.ipv6_router_gw_ip),
        ] {
            if !public.contains(&ip) || ip == public.network() {
                return Err(format!(
                    "key `network.{key}`: `{ip}` is not a host address of ipv6_public_range ({public})"
                ));
            }
        }
        if self.ipv6_public_network_gateway == self.ipv6_router_gw_ip {
            return Err(
                "keys `network.ipv6_public_network_gateway` and `network.ipv6_router_gw_ip` must differ"
                    .into(),
            );
        }
        let min = self.ipv6_addrs_safe_to_use.map_or(56, |s| s.prefix_len());
        if let Some(safe) = self.ipv6_addrs_safe_to_use
            && safe.trunc() != safe
        {
            return Err(format!(
                "key `network.ipv6_addrs_safe_to_use`: `{safe}` has host bits set"
            ));
        }
        // SLAAC needs /64 subnets, so neither the space nor its blocks may be longer.
        if !(min..=64).contains(&self.subnetpool_size_v6) {
            return Err(format!(
                "key `network.subnetpool_size_v6` must be between {min} (the prefix length of `ipv6_addrs_safe_to_use`) and 64"
            ));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let safe = self.ipv4_addrs_safe_to_use;
        if !safe.is_network() {
            return Err(format!(
                "key `network.ipv4_addrs_safe_to_use`: `{}` has host bits set",
                String::from(safe)
            ));
        }
        if !(safe.prefix..=30).contains(&self.subnetpool_size_v4) {
            return Err(format!(
                "key `network.subnetpool_size_v4` must be between {} (the prefix length of `ipv4_addrs_safe_to_use`) and 30",
                safe.prefix
            ));
        }
        self.check_v6()?;
        if let (true, Some(fixed)) = (self.use_subnetpool, self.fixed_range)
            && fixed.overlaps(&safe)
            && !safe.contains(&fixed)
        {
            return Err(format!(
                "key `network.fixed_range`: `{}` must lie inside `ipv4_addrs_safe_to_use` ({}) or not overlap it",
                String::from(fixed),
                String::from(safe)
            ));
        }
        Ok(())
    }
}

/// An IPv4 prefix such as `172.24.4.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct Cidr {
    pub(crate) addr: Ipv4Addr,
    pub(crate) prefix: u8,
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR like 10.0.0.0/24"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`{p}` is not a prefix length (0-32)"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// No host bits set (`10.0.0.0/22`, not `10.0.0.1/22`).
    pub(crate) fn is_network(&self) -> bool {
        u32::from(self.addr) & !self.mask() == 0
    }

    /// Whether `other` lies wholly inside this prefix.
    pub(crate) fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix
            && u32::from(other.addr) & self.mask() == u32::from(self.addr) & self.mask()
    }

    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        format!("{}/{}", c.addr, c.prefix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("profile {file}: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "no profile named `{0}` (built in: default, minimal, teaching); pass a file path instead"
    )]
    Unknown(String),
}

impl Profile {
    /// Loads a built-in profile by name, or a file when `name` looks like a path.
    pub(crate) fn load(name: &str) -> Result<Profile, ProfileError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            return Profile::parse(text, &format!("profiles/{name}.toml"));
        }
        let path = PathBuf::from(name);
        if name.contains('/') || name.ends_with(".toml") || path.exists() {
            return Profile::from_file(&path);
        }
        Err(ProfileError::Unknown(name.to_owned()))
    }

    pub fn from_file(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            file: file.clone(),
            source,
        })?;
        Profile::parse(&text, &file)
    }

    /// Parses and checks a profile; toml's messages carry the line, column and key.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let invalid = |message: String| ProfileError::Invalid {
            file: file.to_owned(),
            message,
        };
        let profile: Profile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        profile.check().map_err(invalid)?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), String> {
        if self.cloud.region.trim().is_empty() {
            return Err("key `cloud.region` must not be empty".into());
        }
        if !self.services.enabled.contains(&ServiceName::Identity) {
            return Err(
                "key `services.enabled` must include \"identity\": every other service needs it"
                    .into(),
            );
        }
        if self.image.quota_images < -1 || self.image.quota_bytes < -1 || self.image.size_cap < 1 {
            return Err("keys `image.quota_images`/`image.quota_bytes` must be -1 or more and `image.size_cap` positive".into());
        }
        if !crate::image::model::DISK_FORMATS.contains(&self.image.bootstrap_image_format.as_str())
        {
            return Err(format!(
                "key `image.bootstrap_image_format`: unknown disk format `{}`",
                self.image.bootstrap_image_format
            ));
        }
        self.network.check()?;
        if self.volume.tgt_control_port > 32767 {
            return Err(
                "key `volume.tgt_control_port` must be at most 32767 (tgtd's limit)".into(),
            );
        }
        if self.volume.volume_group.is_empty() || self.volume.thin_pool.is_empty() {
            return Err(
                "keys `volume.volume_group` and `volume.thin_pool` must not be empty".into(),
            );
        }
        if !(60..=7 * 24 * 3600).contains(&self.identity.token_expiration) {
            return Err(
                "key `identity.token_expiration` must be between 60 and 604800 seconds".into(),
            );
        }
        Ok(())
    }

    /// The host put in catalog URLs.
    pub(crate) fn public_host(&self) -> String {
        if !self.cloud.public_host.is_empty() {
            return self.cloud.public_host.clone();
        }
        let ip = self.cloud.listen.ip();
        if ip.is_unspecified() {
            "127.0.0.1".into()
        } else {
            ip.to_string()
        }
    }

    /// `http://host[:port]`, the root of every service URL in the catalog.
    pub(crate) fn public_url(&self) -> String {
        let port = self.cloud.listen.port();
        let host = self.public_host();
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        if port == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{port}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse() {
        for (name, _) in BUILTIN {
            Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn unknown_key_names_file_key_and_line() {
        let text = include_str!("../profiles/default.toml").replace(
            "region = \"RegionOne\"",
            "region = \"RegionOne\"\nregoin = \"x\"",
        );
        let err = Profile::parse(&text, "my.toml")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("my.toml"), "{err}");
        assert!(err.contains("regoin"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let base = include_str!("../profiles/default.toml");
        for (from, to) in [
            ("\"0.0.0.0:80\"", "\"nowhere\""),
            ("\"172.24.4.0/24\"", "\"172.24.4.0/33\""),
            ("\"identity\", \"compute\"", "\"identity\", \"computer\""),
            ("hypervisor = \"auto\"", "hypervisor = \"vmware\""),
            ("token_expiration = 3600", "token_expiration = 5"),
        ] {
            assert!(base.contains(from), "fixture lacks {from}");
            let text = base.replace(from, to);
            let err = Profile::parse(&text, "p.toml");
            assert!(err.is_err(), "{to} accepted");
        }
    }

    #[test]
    fn tenant_range_knobs_default_to_devstack() {
        let p = Profile::load("default").expect("default");
        let n = &p.network;
        assert_eq!(String::from(n.ipv4_addrs_safe_to_use), "10.0.0.0/22");
        assert!(n.use_subnetpool);
        assert_eq!(n.subnetpool_size_v4, 26);
        assert_eq!(n.fixed_range, None);
        assert_eq!(String::from(n.private_range()), "10.0.0.0/22");
        assert_eq!(n.ip_version, IpVersion::V4);
        assert_eq!(n.ipv6_addrs_safe_to_use, None);
        assert_eq!(n.subnetpool_size_v6, 64);
        assert_eq!(
            (&*n.ipv6_ra_mode, &*n.ipv6_address_mode),
            ("slaac", "slaac")
        );
        assert_eq!(n.ipv6_public_range.to_string(), "2001:db8::/64");
        assert_eq!(n.ipv6_public_network_gateway.to_string(), "2001:db8::2");
        assert_eq!(n.ipv6_router_gw_ip.to_string(), "2001:db8::1");
        // A profile written before the pool knobs (only `fixed_range`) still loads.
        let minimal = include_str!("../profiles/minimal.toml");
        let old = minimal.replacen(
            "[network]\n",
            "[network]\nfixed_range = \"10.1.0.0/24\"\n",
            1,
        );
        let p = Profile::parse(&old, "old.toml").expect("old profile");
        assert_eq!(
            String::from(p.network.ipv4_addrs_safe_to_use),
            "10.0.0.0/22"
        );
        assert_eq!(String::from(p.network.private_range()), "10.1.0.0/24");
    }

    #[test]
    fn tenant_range_knobs_are_checked() {
        let base = include_str!("../profiles/default.toml");
        let bad = [
            (
                "ipv4_addrs_safe_to_use = \"10.0.0.0/22\"",
                "ipv4_addrs_safe_to_use = \"10.0.1.0/22\"",
                "host bits",
            ),
            (
                "subnetpool_size_v4 = 26",
                "subnetpool_size_v4 = 20",
                "subnetpool_size_v4",
            ),
            (
                "subnetpool_size_v4 = 26",
                "subnetpool_size_v4 = 31",
                "subnetpool_size_v4",
            ),
            (
                "# fixed_range = \"10.0.0.0/24\"",
                "fixed_range = \"10.0.0.0/16\"",
                "inside",
            ),
            ("ip_version = \"4\"", "ip_version = \"6\"", "ip_version"),
            (
                "ipv6_ra_mode = \"slaac\"",
                "ipv6_ra_mode = \"radvd\"",
                "ipv6_ra_mode",
            ),
            (
                "subnetpool_size_v6 = 64",
                "subnetpool_size_v6 = 80",
                "subnetpool_size_v6",
            ),
            (
                "# ipv6_addrs_safe_to_use = \"fd00:1234:5678::/56\"",
                "ipv6_addrs_safe_to_use = \"fd00:1234:5678::1/56\"",
                "host bits",
            ),
            (
                "ipv6_router_gw_ip = \"2001:db8::1\"",
                "ipv6_router_gw_ip = \"2001:db9::1\"",
                "ipv6_router_gw_ip",
            ),
            (
                "ipv6_router_gw_ip = \"2001:db8::1\"",
                "ipv6_router_gw_ip = \"2001:db8::2\"",
                "must differ",
            ),
        ];
        for (from, to, why) in bad {
            assert!(base.contains(from), "fixture lacks {from}");
            let err = Profile::parse(&base.replace(from, to), "p.toml")
                .expect_err(to)
                .to_string();
            assert!(err.contains(why), "{to}: {err}");
        }
        for to in [
            "fixed_range = \"10.0.1.0/24\"",
            "fixed_range = \"192.168.7.0/24\"",
        ] {
            let text = base.replace("# fixed_range = \"10.0.0.0/24\"", to);
            Profile::parse(&text, "p.toml").unwrap_or_else(|e| panic!("{to}: {e}"));
        }
        // Without the pool any fixed range goes.
        let text = base
            .replace("use_subnetpool = true", "use_subnetpool = false")
            .replace(
                "# fixed_range = \"10.0.0.0/24\"",
                "fixed_range = \"10.0.0.0/16\"",
            );
        Profile::parse(&text, "p.toml").expect("no pool");
    }

    #[test]
    fn public_url_omits_port_80() {
        let mut p = Profile::load("default").expect("default");
        assert_eq!(p.public_url(), "http://127.0.0.1");
        p.cloud.listen = "10.1.2.3:8080".parse().expect("addr");
        assert_eq!(p.public_url(), "http://10.1.2.3:8080");
    }
}
