//! The compute side of instance metadata: what a server's metadata says
//! (shared by the 169.254.169.254 service and the config drive), and the
//! resolver the dataplane's metadata listeners ask, which identifies the
//! instance only by the port owning the request's source address.

use std::net::IpAddr;

use base64::Engine;

use super::metadata::{InstanceMetadata, LinkIp, MetadataReply, NetworkLink};
use super::model::Server;
use super::{ComputeService, store};
use crate::dataplane::metadata::MetadataResolver;
use crate::http::error::{ApiError, ApiResult};
use crate::network::instance::InstanceNic;

impl ComputeService {
    /// Everything the metadata service and the config drive say about `s`.
    pub(crate) async fn instance_metadata(&self, s: &Server) -> ApiResult<InstanceMetadata> {
        let nics = self.server_nics(s).await?;
        let names = self.inner.network.security_group_names().await?;
        let mut groups: Vec<String> = Vec::new();
        for n in &nics {
            for g in &n.port.security_groups {
                let name = names.get(g).cloned().unwrap_or_else(|| g.clone());
                if !groups.contains(&name) {
                    groups.push(name);
                }
            }
        }
        let dns_servers = nics
            .iter()
            .flat_map(|n| n.subnets.iter().flat_map(|sn| sn.dns_nameservers.iter()))
            .filter_map(|d| d.parse().ok())
            .collect();
        Ok(InstanceMetadata {
            uuid: s.id.clone(),
            name: s.name.clone(),
            hostname: s.hostname.clone(),
            project_id: s.project_id.clone(),
            availability_zone: s.availability_zone.clone(),
            launch_index: s.launch_index,
            public_keys: match (&s.key_name, &s.key_data) {
                (Some(n), Some(k)) => vec![(n.clone(), k.clone())],
                _ => vec![],
            },
            meta: s.metadata.clone(),
            user_data: s.user_data.as_deref().and_then(|u| {
                base64::engine::general_purpose::STANDARD
                    .decode(u.trim())
                    .ok()
            }),
            links: nics.iter().map(link).collect(),
            dns_servers,
            instance_type: s.flavor.name.clone(),
            ami_id: s.image_id.clone(),
            reservation_id: s.reservation_id.clone(),
            security_groups: groups,
        })
    }

    /// Builds `disk.config` (ISO 9660, label `config-2`) for `s`.
    pub(crate) async fn write_config_drive(&self, s: &Server) -> ApiResult<()> {
        let md = self.instance_metadata(s).await?;
        let out = self.paths(&s.id).config_drive;
        super::configdrive::build(&md.config_drive_files(), &out)
            .await
            .map_err(ApiError::Internal)
    }
}

fn link(n: &InstanceNic) -> NetworkLink {
    let ips = n
        .port
        .fixed_ips
        .iter()
        .filter_map(|f| {
            let address: IpAddr = f.ip_address.parse().ok()?;
            let subnet = n.subnets.iter().find(|s| s.std.id == f.subnet_id)?;
            let prefix_len = subnet.cidr.split('/').nth(1)?.parse().ok()?;
            Some(LinkIp {
                address,
                prefix_len,
                gateway: subnet.gateway_ip.as_deref().and_then(|g| g.parse().ok()),
                host_routes: subnet
                    .host_routes
                    .iter()
                    .filter_map(|r| Some((r.destination.clone(), r.nexthop.parse().ok()?)))
                    .collect(),
                dhcp: subnet.enable_dhcp,
            })
        })
        .collect();
    NetworkLink {
        port_id: n.port.std.id.clone(),
        mac: n.port.mac_address.clone(),
        network_id: n.network.std.id.clone(),
        mtu: n.network.mtu,
        ips,
    }
}

#[async_trait::async_trait]
impl MetadataResolver for ComputeService {
    async fn lookup(&self, network_id: &str, source: IpAddr, path: &str) -> MetadataReply {
        let port = self
            .inner
            .network
            .port_by_address(network_id.to_owned(), source.to_string())
            .await;
        let Ok(Some(port)) = port else {
            return MetadataReply::NotFound;
        };
        let device = port.device_id.clone();
        let server = self.read(move |c| store::server_get(c, &device)).await;
        let Ok(Some(server)) = server else {
            return MetadataReply::NotFound;
        };
        if !server.ports.iter().any(|p| p.port_id == port.std.id) {
            return MetadataReply::NotFound;
        }
        match self.instance_metadata(&server).await {
            Ok(md) => md.lookup(path),
            Err(e) => {
                tracing::warn!(server = server.id, error = %e, "metadata lookup failed");
                MetadataReply::NotFound
            }
        }
    }
}
