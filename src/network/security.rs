//! Security groups and rules (Networking API v2.0: Security groups, Security group
//! rules), with the per-project `default` group Neutron creates on first use.

use rusqlite::Connection;
use serde::Deserialize;

use super::model::*;
use super::{
    NetworkService, load_visible, may_change, not_found, owner_project, quotas, sees, store,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleInput {
    pub security_group_id: Option<String>,
    pub direction: Option<String>,
    pub ethertype: Option<String>,
    pub protocol: Option<serde_json::Value>,
    /// A number or a numeric string, checked by [`port_value`].
    pub port_range_min: Option<serde_json::Value>,
    pub port_range_max: Option<serde_json::Value>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
    pub description: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Neutron accepts it; a rule belongs to its group's project"
    )]
    pub project_id: Option<String>,
    #[expect(
        dead_code,
        reason = "accepted as Neutron accepts it; a rule belongs to its group's project"
    )]
    pub tenant_id: Option<String>,
}

/// Protocol names Neutron accepts, with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("ipv6-encap", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("pgm", 113),
    ("sctp", 132),
    ("udplite", 136),
    ("vrrp", 112),
    ("dccp", 33),
];

fn rule(
    project: &str,
    group: &str,
    direction: &str,
    ethertype: &str,
    remote_group: Option<&str>,
) -> SecurityGroupRule {
    SecurityGroupRule {
        std: Std::new(project, None),
        security_group_id: group.to_owned(),
        direction: direction.to_owned(),
        ethertype: ethertype.to_owned(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group.map(str::to_owned),
        remote_address_group_id: None,
        normalized_cidr: None,
        belongs_to_default_sg: true,
    }
}

/// Returns the project's `default` group, creating it with Neutron's default rules
/// (ingress from members of the group, all egress) when missing.
pub(crate) fn ensure_default_group(c: &Connection, project_id: &str) -> ApiResult<String> {
    if let Some(sg) = store::list::<SecurityGroup>(c)?
        .into_iter()
        .find(|g| g.std.project_id == project_id && g.name == "default")
    {
        return Ok(sg.std.id);
    }
    let sg = SecurityGroup {
        std: Std::new(project_id, Some("Default security group".into())),
        name: "default".into(),
        stateful: true,
        shared: false,
    };
    store::put(c, &sg)?;
    for (direction, ethertype, remote) in [
        ("ingress", "IPv4", Some(sg.std.id.as_str())),
        ("ingress", "IPv6", Some(sg.std.id.as_str())),
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
    ] {
        store::put(
            c,
            &rule(project_id, &sg.std.id, direction, ethertype, remote),
        )?;
    }
    Ok(sg.std.id)
}

pub(crate) fn rules_of(c: &Connection, group_id: &str) -> ApiResult<Vec<SecurityGroupRule>> {
    Ok(store::list::<SecurityGroupRule>(c)?
        .into_iter()
        .filter(|r| r.security_group_id == group_id)
        .collect())
}

fn normalize_protocol(p: Option<serde_json::Value>) -> ApiResult<Option<String>> {
    let text = match p {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("any") => {
            return Ok(None);
        }
        Some(serde_json::Value::String(s)) => s.to_ascii_lowercase(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Security group rule protocol {other} not supported."
            )));
        }
    };
    if PROTOCOLS.iter().any(|(name, _)| *name == text) {
        return Ok(Some(text));
    }
    match text.parse::<u16>() {
        Ok(n) if n <= 255 => Ok(Some(text)),
        _ => Err(ApiError::bad_request(format!(
            "Security group rule protocol {text} not supported. Only protocol values {} and integer representations [0 to 255] are supported.",
            PROTOCOLS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A port bound as Neutron converts it (`convert_validate_port_value`): an
/// integer (or numeric string) 0-65535, `null` for none.
fn port_value(v: Option<serde_json::Value>) -> ApiResult<Option<u32>> {
    let n = match &v {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    let shown = match &v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    match n.and_then(|n| u32::try_from(n).ok()) {
        Some(p) if p <= 65535 => Ok(Some(p)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value for port {shown}"
        ))),
    }
}

/// Port ranges as Neutron's `_validate_port_range` checks them: only for protocols
/// with ports (min <= max, no port 0); for ICMP, type and code 0-255.
fn check_ports(protocol: Option<&str>, min: Option<u32>, max: Option<u32>) -> ApiResult<()> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(protocol) = protocol else {
        return Err(ApiError::bad_request(
            "Must also specify protocol if port range is given.",
        ));
    };
    let with_ports = matches!(
        protocol,
        "tcp" | "udp" | "sctp" | "dccp" | "udplite" | "6" | "17" | "33" | "132" | "136"
    );
    let icmp = matches!(protocol, "icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58");
    if with_ports {
        if min == Some(0) || max == Some(0) {
            return Err(ApiError::bad_request("Invalid value for port 0"));
        }
        return match (min, max) {
            (Some(lo), Some(hi)) if lo <= hi => Ok(()),
            _ => Err(ApiError::bad_request(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            )),
        };
    }
    if icmp {
        for (v, field, attr) in [
            (min, "type", "port_range_min"),
            (max, "code", "port_range_max"),
        ] {
            if let Some(v) = v.filter(|v| *v > 255) {
                return Err(ApiError::bad_request(format!(
                    "Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."
                )));
            }
        }
        if let (None, Some(code)) = (min, max) {
            return Err(ApiError::bad_request(format!(
                "ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."
            )));
        }
        return Ok(());
    }
    if min.is_some() && min != max {
        return Err(ApiError::bad_request(format!(
            "Ports cannot be specified for protocol {protocol}. Ports are only supported for tcp, udp, udplite, sctp, dccp, icmp, ipv6-icmp."
        )));
    }
    Ok(())
}

/// A new rule in its group: validated, within quota and not a duplicate; the
/// group's revision moves with it.
fn rule_create_tx(
    c: &Connection,
    ctx: &RequestContext,
    input: RuleInput,
) -> ApiResult<SecurityGroupRule> {
    let group_id = input
        .security_group_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("Invalid input: security_group_id is required."))?;
    let sg: SecurityGroup = load_visible(c, ctx, &group_id)?;
    may_change(ctx, &sg.std.project_id)?;
    let (direction, ethertype) = rule_direction(&input)?;
    let protocol = normalize_protocol(input.protocol.clone())?;
    let port_min = port_value(input.port_range_min.clone())?;
    let port_max = port_value(input.port_range_max.clone())?;
    check_ports(protocol.as_deref(), port_min, port_max)?;
    let prefix = remote_prefix(&input, &ethertype)?;
    if let Some(g) = &input.remote_group_id {
        // Another project's group is as absent as a missing one (unless shared).
        store::get::<SecurityGroup>(c, g)?
            .filter(|r| sees(ctx, &r.std.project_id) || r.shared)
            .ok_or_else(|| ApiError::Missing(format!("Security group {g} does not exist")))?;
    }
    quotas::check(c, SECURITY_GROUP_RULE, &sg.std.project_id)?;
    let remote_group = input.remote_group_id.as_deref();
    let mut r = rule(
        &sg.std.project_id,
        &group_id,
        &direction,
        &ethertype,
        remote_group,
    );
    r.std.description = input.description.unwrap_or_default();
    r.protocol = protocol;
    r.port_range_min = port_min;
    r.port_range_max = port_max;
    r.remote_ip_prefix = prefix.map(|p| p.to_string());
    r.normalized_cidr = prefix.map(|p| p.trunc().to_string());
    r.remote_address_group_id = input.remote_address_group_id;
    r.belongs_to_default_sg = sg.name == "default";
    refuse_duplicate_rule(c, &r)?;
    store::put(c, &r)?;
    let mut group = sg;
    group.std.touch();
    store::put(c, &group)?;
    Ok(r)
}

/// The rule's direction and ethertype (IPv4 unless given), each one Neutron knows.
fn rule_direction(input: &RuleInput) -> ApiResult<(String, String)> {
    let direction = input.direction.clone().unwrap_or_default();
    if !["ingress", "egress"].contains(&direction.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
        )));
    }
    let ethertype = input.ethertype.clone().unwrap_or_else(|| "IPv4".into());
    if !["IPv4", "IPv6"].contains(&ethertype.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for ethertype. Reason: '{ethertype}' is not in ['IPv4', 'IPv6']."
        )));
    }
    Ok((direction, ethertype))
}

/// The rule's `remote_ip_prefix` (a bare address is a host prefix), of the
/// rule's ethertype; a rule names a remote prefix or a remote group, not both.
fn remote_prefix(input: &RuleInput, ethertype: &str) -> ApiResult<Option<ipnet::IpNet>> {
    if input.remote_ip_prefix.is_some() && input.remote_group_id.is_some() {
        return Err(ApiError::bad_request(
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    let Some(p) = &input.remote_ip_prefix else {
        return Ok(None);
    };
    let net: ipnet::IpNet = p
        .parse()
        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for remote_ip_prefix: '{p}' is not a valid CIDR."
            ))
        })?;
    let v = if net.addr().is_ipv4() { "IPv4" } else { "IPv6" };
    if v != ethertype {
        return Err(ApiError::bad_request(format!(
            "Conflicting value ethertype {ethertype} for CIDR {p}"
        )));
    }
    Ok(Some(net))
}

/// 409 when the group has a rule matching the same traffic already.
fn refuse_duplicate_rule(c: &Connection, r: &SecurityGroupRule) -> ApiResult<()> {
    let key = |o: &SecurityGroupRule| {
        (
            o.direction.clone(),
            o.ethertype.clone(),
            o.protocol.clone(),
            o.port_range_min,
            o.port_range_max,
            o.normalized_cidr.clone(),
            o.remote_group_id.clone(),
        )
    };
    let wanted = key(r);
    if let Some(dup) = rules_of(c, &r.security_group_id)?
        .iter()
        .find(|o| key(o) == wanted)
    {
        return Err(ApiError::conflict_typed(
            neutron::SECURITY_GROUP_RULE_EXISTS,
            format!(
                "Security group rule already exists. Rule id is {}.",
                dup.std.id
            ),
        ));
    }
    Ok(())
}

impl NetworkService {
    pub(crate) async fn security_group_create(
        &self,
        ctx: &RequestContext,
        input: GroupInput,
    ) -> ApiResult<SecurityGroup> {
        let project = owner_project(ctx, input.project_id.clone().or(input.tenant_id.clone()))?;
        if !ctx.can_write() {
            return Err(ApiError::forbidden());
        }
        let name = input.name.unwrap_or_default();
        if name.eq_ignore_ascii_case("default") {
            return Err(ApiError::conflict_typed(
                neutron::SECURITY_GROUP_DEFAULT_ALREADY_EXISTS,
                "Default security group already exists.",
            ));
        }
        self.write(move |c| {
            ensure_default_group(c, &project)?;
            quotas::check(c, SECURITY_GROUP, &project)?;
            let mut std = Std::new(&project, input.description);
            std.tags = input.tags.unwrap_or_default();
            let sg = SecurityGroup {
                std,
                name,
                stateful: input.stateful.unwrap_or(true),
                shared: false,
            };
            store::put(c, &sg)?;
            for ethertype in ["IPv4", "IPv6"] {
                let mut r = rule(&project, &sg.std.id, "egress", ethertype, None);
                r.belongs_to_default_sg = false;
                store::put(c, &r)?;
            }
            Ok(sg)
        })
        .await
    }

    pub(crate) async fn security_group_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let sg: SecurityGroup = load_visible(c, &ctx, &id)?;
            let rules = rules_of(c, &id)?;
            Ok((sg, rules))
        })
        .await
    }

    /// Lists groups; a project's `default` group appears on its first listing.
    pub(crate) async fn security_group_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<(SecurityGroup, Vec<SecurityGroupRule>)>> {
        if let Some(p) = ctx.project_id().map(str::to_owned) {
            self.write(move |c| ensure_default_group(c, &p).map(drop))
                .await?;
        }
        let ctx = ctx.clone();
        self.read(move |c| {
            let rules = store::list::<SecurityGroupRule>(c)?;
            Ok(store::list::<SecurityGroup>(c)?
                .into_iter()
                .filter(|g| sees(&ctx, &g.std.project_id) || g.shared)
                .map(|g| {
                    let mine = rules
                        .iter()
                        .filter(|r| r.security_group_id == g.std.id)
                        .cloned()
                        .collect();
                    (g, mine)
                })
                .collect())
        })
        .await
    }

    pub(crate) async fn security_group_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: GroupInput,
    ) -> ApiResult<(SecurityGroup, Vec<SecurityGroupRule>)> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut sg: SecurityGroup = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &sg.std.project_id)?;
            if let Some(n) = input.name {
                // Neutron's name_not_default validator runs first, then the
                // default group refuses any new name.
                if n.eq_ignore_ascii_case("default") {
                    return Err(ApiError::conflict_typed(
                        neutron::SECURITY_GROUP_DEFAULT_ALREADY_EXISTS,
                        "Default security group already exists.",
                    ));
                }
                if sg.name == "default" {
                    return Err(ApiError::Conflict(
                        "Updating default security group not allowed.".into(),
                    ));
                }
                sg.name = n;
            }
            if let Some(d) = input.description {
                sg.std.description = d;
            }
            if let Some(t) = input.tags {
                sg.std.tags = t;
            }
            if let Some(s) = input.stateful {
                sg.stateful = s;
            }
            sg.std.touch();
            store::put(c, &sg)?;
            Ok((sg, rules_of(c, &id)?))
        })
        .await
    }

    pub(crate) async fn security_group_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let sg: SecurityGroup = load_visible(c, &ctx, &id)?;
            may_change(&ctx, &sg.std.project_id)?;
            if sg.name == "default" && !ctx.allowed(crate::http::policy::NETWORK_ADMIN_CONTEXT) {
                return Err(ApiError::conflict_typed(
                    neutron::SECURITY_GROUP_CANNOT_REMOVE_DEFAULT,
                    "Insufficient rights for removing default security group.",
                ));
            }
            if store::list::<Port>(c)?
                .iter()
                .any(|p| p.security_groups.contains(&id))
            {
                return Err(ApiError::conflict_typed(
                    neutron::SECURITY_GROUP_IN_USE,
                    format!("Security Group {id} in use."),
                ));
            }
            // The group's own rules go with it, and so do other groups' rules
            // naming it as their remote group (Neutron's foreign key cascades).
            for r in store::list::<SecurityGroupRule>(c)? {
                if r.security_group_id == id || r.remote_group_id.as_deref() == Some(id.as_str()) {
                    store::delete::<SecurityGroupRule>(c, &r.std.id)?;
                }
            }
            store::delete::<SecurityGroup>(c, &id)
        })
        .await
    }

    /// `POST /v2.0/security-group-rules`.
    pub(crate) async fn security_group_rule_create(
        &self,
        ctx: &RequestContext,
        input: RuleInput,
    ) -> ApiResult<SecurityGroupRule> {
        let ctx = ctx.clone();
        self.write(move |c| rule_create_tx(c, &ctx, input)).await
    }

    pub(crate) async fn security_group_rule_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<SecurityGroupRule> {
        self.get_visible(ctx, id).await
    }

    pub(crate) async fn security_group_rule_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<SecurityGroupRule>> {
        self.list_owned(ctx).await
    }

    pub(crate) async fn security_group_rule_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let r: SecurityGroupRule = store::get(c, &id)?
                .filter(|r: &SecurityGroupRule| sees(&ctx, &r.std.project_id))
                .ok_or_else(|| not_found(SECURITY_GROUP_RULE, &id))?;
            may_change(&ctx, &r.std.project_id)?;
            store::delete::<SecurityGroupRule>(c, &id)
        })
        .await
    }
}
