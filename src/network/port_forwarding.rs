//! Floating IP port forwardings (Networking API v2.0: Floating IPs port forwarding,
//! with the description and port-ranges extensions), validated as Neutron's port
//! forwarding plugin does. A floating IP with forwardings is bound to the router
//! that joins the internal port's subnet to the floating network.

use std::net::Ipv4Addr;

use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use super::model::*;
use super::routers::router_for_subnet;
use super::{NetworkService, load_visible, may_change, not_found, sees, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

/// The `port_forwarding` body of a create or update.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortForwardingInput {
    pub external_port: Option<Value>,
    pub internal_port: Option<Value>,
    pub external_port_range: Option<Value>,
    pub internal_port_range: Option<Value>,
    pub internal_ip_address: Option<String>,
    pub internal_port_id: Option<String>,
    pub protocol: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid input for {field}. Reason: {reason}."))
}

/// One port, 1-65535, as a number or a string of digits (`null` is absent).
fn parse_port(field: &str, v: &Value) -> ApiResult<Option<u16>> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(p @ 1..=65535) => Ok(u16::try_from(p).ok()),
        _ => Err(invalid(
            field,
            format!("Invalid port '{v}', the port value must be a value between 1 and 65535"),
        )),
    }
}

/// `"80:90"` (or `"80"`) as (first, last).
fn parse_range(field: &str, v: &Value) -> ApiResult<Option<(u16, u16)>> {
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid(field, format!("'{v}' is not a valid port range"))),
    };
    let (a, b) = s.split_once(':').unwrap_or((&s, &s));
    let bad = || {
        invalid(
            field,
            format!(
                "'{s}' is not a valid port range, use 'first:last' with ports between 1 and 65535"
            ),
        )
    };
    let a = parse_port(field, &Value::String(a.into()))
        .map_err(|_| bad())?
        .ok_or_else(bad)?;
    let b = parse_port(field, &Value::String(b.into()))
        .map_err(|_| bad())?
        .ok_or_else(bad)?;
    if a > b {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// The port or the range given for one side; both at once is a 400.
fn side(port: &Option<Value>, range: &Option<Value>, name: &str) -> ApiResult<Option<(u16, u16)>> {
    let single = port
        .as_ref()
        .map(|v| parse_port(&format!("{name}_port"), v))
        .transpose()?
        .flatten();
    let ranged = range
        .as_ref()
        .map(|v| parse_range(&format!("{name}_port_range"), v))
        .transpose()?
        .flatten();
    match (single, ranged) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "You cannot use the attributes {name}_port and {name}_port_range in the same request."
        ))),
        (Some(p), None) => Ok(Some((p, p))),
        (None, r) => Ok(r),
    }
}

fn protocol(p: &str) -> ApiResult<String> {
    let p = p.trim().to_ascii_lowercase();
    if p == "tcp" || p == "udp" {
        Ok(p)
    } else {
        Err(invalid(
            "protocol",
            format!("'{p}' is not in ['tcp', 'udp']"),
        ))
    }
}

/// Neutron's rule for ranges: internal and external ranges of the same size (N-N)
/// or one internal port behind an external range (1-N).
fn check_relation(pf: &PortForwarding) -> ApiResult<()> {
    let width = |(a, b): (u16, u16)| b - a;
    if width(pf.internal) > 0 && width(pf.internal) != width(pf.external) {
        return Err(ApiError::bad_request(
            "Invalid ranges of internal and/or external ports. The relation between internal and external ports must be N-N or 1-N",
        ));
    }
    Ok(())
}

fn overlaps(a: (u16, u16), b: (u16, u16)) -> bool {
    a.0.max(b.0) <= a.1.min(b.1)
}

fn range_text((a, b): (u16, u16)) -> String {
    format!("{a}:{b}")
}

/// No two forwardings of a floating IP share an external port of a protocol, and
/// no two forward to the same internal address and port.
fn check_collisions(c: &Connection, pf: &PortForwarding) -> ApiResult<()> {
    for other in store::pf_list(c, None)?
        .iter()
        .filter(|o| o.id != pf.id && o.protocol == pf.protocol)
    {
        if other.floatingip_id == pf.floatingip_id && overlaps(other.external, pf.external) {
            return Err(ApiError::bad_request(format!(
                "There is a port collision with the external_port_range. The following ranges collides: {} and {}",
                range_text(other.external),
                range_text(pf.external)
            )));
        }
        if other.internal_port_id == pf.internal_port_id
            && other.internal_ip_address == pf.internal_ip_address
            && overlaps(other.internal, pf.internal)
        {
            return Err(ApiError::bad_request(format!(
                "There is a port collision with the internal_port_range. The following ranges collides: {} and {}",
                range_text(other.internal),
                range_text(pf.internal)
            )));
        }
    }
    Ok(())
}

/// The internal port must be the caller's, the address one of its IPv4 fixed IPs
/// (its first one when none is given), and a router must join that subnet to the
/// floating network; returns the router's id.
fn check_internal(
    c: &Connection,
    ctx: &RequestContext,
    fip: &FloatingIp,
    pf: &mut PortForwarding,
    new_port: bool,
) -> ApiResult<String> {
    let port: Port = store::get(c, &pf.internal_port_id)?
        .filter(|p: &Port| sees(ctx, &p.std.project_id))
        .ok_or_else(|| not_found(PORT, &pf.internal_port_id))?;
    let fixed = internal_address(&port, pf)?;
    let router = router_for_subnet(c, &fip.floating_network_id, &fixed.subnet_id)?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "External network {} is not reachable from subnet {}. Cannot set Port forwarding for port {} with Floating IP {}",
            fip.floating_network_id, fixed.subnet_id, port.std.id, fip.std.id
        ))
    })?;
    if let Some(bound) = fip.router_id.as_deref().filter(|r| *r != router) {
        return Err(ApiError::bad_request(format!(
            "The Floating IP {} had been set on router {bound}, the internal Neutron port {} can not reach it",
            fip.std.id, port.std.id
        )));
    }
    // Neutron: a port whose address already has a floating IP of its own cannot
    // become the target of port forwardings (checked when the port is named).
    if new_port {
        refuse_port_with_floating_ip(c, &port, pf)?;
    }
    Ok(router)
}

/// The port's IPv4 fixed IP the forwarding goes to: the one asked for, or the
/// port's first; `pf` gets it in canonical form.
fn internal_address<'a>(port: &'a Port, pf: &mut PortForwarding) -> ApiResult<&'a FixedIp> {
    let v4: Vec<&FixedIp> = port
        .fixed_ips
        .iter()
        .filter(|f| f.ip_address.parse::<Ipv4Addr>().is_ok())
        .collect();
    let first = v4.first().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Requested internal port {} must allocate an IPv4 address at least.",
            port.std.id
        ))
    })?;
    if pf.internal_ip_address.is_empty() {
        pf.internal_ip_address = first.ip_address.clone();
    }
    let wanted: Ipv4Addr = pf.internal_ip_address.parse().map_err(|_| {
        invalid(
            "internal_ip_address",
            format!("'{}' is not a valid IP address", pf.internal_ip_address),
        )
    })?;
    pf.internal_ip_address = wanted.to_string();
    let found = v4
        .iter()
        .find(|f| f.ip_address.parse::<Ipv4Addr>().ok() == Some(wanted));
    found.copied().ok_or_else(|| {
        let ips: Vec<&str> = v4.iter().map(|f| f.ip_address.as_str()).collect();
        ApiError::bad_request(format!(
            "Requested internal IP address {} is not suitable for internal neutron port {}, as its fixed_ips are {ips:?}",
            pf.internal_ip_address, port.std.id
        ))
    })
}

/// 409 when the port already has a floating IP of its own.
fn refuse_port_with_floating_ip(c: &Connection, port: &Port, pf: &PortForwarding) -> ApiResult<()> {
    if let Some(other) = store::list::<FloatingIp>(c)?
        .into_iter()
        .find(|f| f.port_id.as_deref() == Some(port.std.id.as_str()))
    {
        return Err(ApiError::conflict_typed(
            neutron::PORT_HAS_BINDING_FLOATING_IP,
            format!(
                "Cannot create port forwarding to floating IP {} ({}) with port {} using fixed IP {}, as that port already has a binding floating IP.",
                other.floating_ip_address, other.std.id, port.std.id, pf.internal_ip_address
            ),
        ));
    }
    Ok(())
}

/// Applies an input onto `pf` (a blank one for a create) and validates the result.
fn apply_input(
    pf: &mut PortForwarding,
    input: &PortForwardingInput,
    creating: bool,
) -> ApiResult<()> {
    if let Some(p) = &input.protocol {
        pf.protocol = protocol(p)?;
    }
    if let Some(e) = side(&input.external_port, &input.external_port_range, "external")? {
        pf.external = e;
    }
    if let Some(i) = side(&input.internal_port, &input.internal_port_range, "internal")? {
        pf.internal = i;
    }
    if let Some(id) = &input.internal_port_id {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(invalid(
                "internal_port_id",
                format!("'{id}' is not a valid UUID"),
            ));
        }
        pf.internal_port_id = id.clone();
    }
    if let Some(ip) = &input.internal_ip_address {
        pf.internal_ip_address = ip.clone();
    }
    if let Some(d) = &input.description {
        if d.len() > 255 {
            return Err(invalid(
                "description",
                "the description is longer than 255 characters",
            ));
        }
        pf.description = d.clone();
    }
    if creating {
        let missing = [
            ("internal_port_id", pf.internal_port_id.is_empty()),
            ("protocol", pf.protocol.is_empty()),
            ("external_port", pf.external.0 == 0),
            ("internal_port", pf.internal.0 == 0),
        ];
        if let Some((field, _)) = missing.iter().find(|(_, m)| *m) {
            return Err(ApiError::bad_request(format!(
                "Failed to parse request. Required attribute '{field}' not specified"
            )));
        }
    }
    check_relation(pf)
}

/// Loads a floating IP the caller may see (404 otherwise, also for another project's).
fn load_fip(c: &Connection, ctx: &RequestContext, id: &str) -> ApiResult<FloatingIp> {
    load_visible::<FloatingIp>(c, ctx, id)
}

fn pf_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Port Forwarding {id} could not be found."))
}

fn load_pf(c: &Connection, fip_id: &str, id: &str) -> ApiResult<PortForwarding> {
    store::pf_get(c, id)?
        .filter(|p| p.floatingip_id == fip_id)
        .ok_or_else(|| pf_not_found(id))
}

/// Binds the floating IP to `router` (ACTIVE) or, with `None`, frees it (DOWN).
fn bind_fip(c: &Connection, fip: &mut FloatingIp, router: Option<String>) -> ApiResult<()> {
    if fip.router_id != router {
        fip.status = if router.is_some() { "ACTIVE" } else { "DOWN" }.into();
        fip.router_id = router;
        fip.std.touch();
        store::put(c, fip)?;
    }
    Ok(())
}

/// The 409 Neutron gives when a floating IP with forwardings would be associated
/// with a port or deleted.
pub(crate) fn check_fip_free(c: &Connection, fip_id: &str) -> ApiResult<()> {
    if store::pf_list(c, Some(fip_id))?.is_empty() {
        Ok(())
    } else {
        Err(ApiError::conflict_typed(
            neutron::FIP_IN_USE_BY_PORT_FORWARDING,
            format!("Floating IP {fip_id} in use by Port Forwarding resources."),
        ))
    }
}

/// Drops the forwardings to `port_id` whose address is not in `keep` (a port that
/// is deleted keeps nothing), freeing floating IPs left without forwardings.
pub(crate) fn forget_port(c: &Connection, port_id: &str, keep: &[FixedIp]) -> ApiResult<()> {
    for pf in store::pf_list_for_port(c, port_id)? {
        if keep.iter().any(|f| f.ip_address == pf.internal_ip_address) {
            continue;
        }
        store::pf_delete(c, &pf.id)?;
        if store::pf_list(c, Some(&pf.floatingip_id))?.is_empty()
            && let Some(mut fip) = store::get::<FloatingIp>(c, &pf.floatingip_id)?
        {
            bind_fip(c, &mut fip, None)?;
        }
    }
    Ok(())
}

/// Whether a forwarding through `router_id` targets an address in `subnet_id`
/// (the router interface on that subnet is then in use).
pub(crate) fn router_subnet_in_use(
    c: &Connection,
    router_id: &str,
    subnet_id: &str,
) -> ApiResult<bool> {
    for pf in store::pf_list(c, None)? {
        let through = store::get::<FloatingIp>(c, &pf.floatingip_id)?
            .is_some_and(|f| f.router_id.as_deref() == Some(router_id));
        let on_subnet = store::get::<Port>(c, &pf.internal_port_id)?.is_some_and(|p| {
            p.fixed_ips
                .iter()
                .any(|f| f.subnet_id == subnet_id && f.ip_address == pf.internal_ip_address)
        });
        if through && on_subnet {
            return Ok(true);
        }
    }
    Ok(false)
}

impl NetworkService {
    /// Every forwarding by floating IP id, for the `port_forwardings` attribute
    /// of floating IPs (expose-port-forwarding-in-fip). Callers pass only floating
    /// IPs the caller may see.
    pub(crate) async fn port_forwardings_by_fip(
        &self,
    ) -> ApiResult<std::collections::HashMap<String, Vec<PortForwarding>>> {
        self.read(|c| {
            let mut by_fip: std::collections::HashMap<String, Vec<PortForwarding>> =
                std::collections::HashMap::new();
            for pf in store::pf_list(c, None)? {
                by_fip.entry(pf.floatingip_id.clone()).or_default().push(pf);
            }
            Ok(by_fip)
        })
        .await
    }

    /// `POST /v2.0/floatingips/{floatingip_id}/port_forwardings`.
    pub(crate) async fn port_forwarding_create(
        &self,
        ctx: &RequestContext,
        fip_id: String,
        input: PortForwardingInput,
    ) -> ApiResult<PortForwarding> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut fip = load_fip(c, &ctx, &fip_id)?;
            may_change(&ctx, &fip.std.project_id)?;
            let mut pf = PortForwarding {
                id: uuid::Uuid::new_v4().to_string(),
                floatingip_id: fip_id.clone(),
                internal_port_id: String::new(),
                internal_ip_address: String::new(),
                protocol: String::new(),
                external: (0, 0),
                internal: (0, 0),
                description: String::new(),
            };
            apply_input(&mut pf, &input, true)?;
            if let Some(port_id) = &fip.port_id {
                return Err(ApiError::Conflict(format!(
                    "Cannot associate floating IP {} ({}) with port {} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                    fip.floating_ip_address,
                    fip.std.id,
                    port_id,
                    fip.fixed_ip_address.clone().unwrap_or_default(),
                    fip.floating_network_id
                )));
            }
            let router = check_internal(c, &ctx, &fip, &mut pf, true)?;
            check_collisions(c, &pf)?;
            store::pf_put(c, &pf)?;
            bind_fip(c, &mut fip, Some(router))?;
            tracing::info!(fip = %fip_id, pf = %pf.id, "port forwarding created");
            Ok(pf)
        })
        .await
    }

    /// `GET /v2.0/floatingips/{floatingip_id}/port_forwardings`.
    pub(crate) async fn port_forwarding_list(
        &self,
        ctx: &RequestContext,
        fip_id: String,
    ) -> ApiResult<Vec<PortForwarding>> {
        let ctx = ctx.clone();
        self.read(move |c| {
            load_fip(c, &ctx, &fip_id)?;
            store::pf_list(c, Some(&fip_id))
        })
        .await
    }

    /// `GET /v2.0/floatingips/{floatingip_id}/port_forwardings/{id}`.
    pub(crate) async fn port_forwarding_get(
        &self,
        ctx: &RequestContext,
        fip_id: String,
        id: String,
    ) -> ApiResult<PortForwarding> {
        let ctx = ctx.clone();
        self.read(move |c| {
            load_fip(c, &ctx, &fip_id)?;
            load_pf(c, &fip_id, &id)
        })
        .await
    }

    /// `PUT /v2.0/floatingips/{floatingip_id}/port_forwardings/{id}`: any attribute;
    /// the result is validated as a create is.
    pub(crate) async fn port_forwarding_update(
        &self,
        ctx: &RequestContext,
        fip_id: String,
        id: String,
        input: PortForwardingInput,
    ) -> ApiResult<PortForwarding> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let fip = load_fip(c, &ctx, &fip_id)?;
            may_change(&ctx, &fip.std.project_id)?;
            let mut pf = load_pf(c, &fip_id, &id)?;
            if input.project_id.is_some() || input.tenant_id.is_some() {
                return Err(ApiError::bad_request(
                    "Cannot update read-only attribute project_id",
                ));
            }
            apply_input(&mut pf, &input, false)?;
            if input.internal_port_id.is_some() && input.internal_ip_address.is_none() {
                // A new port without an address takes the port's first IPv4 address.
                let old = store::pf_get(c, &id)?.map(|o| o.internal_port_id);
                if old.as_deref() != Some(pf.internal_port_id.as_str()) {
                    pf.internal_ip_address.clear();
                }
            }
            // Neutron keeps the floating IP's router; the forwarding must still reach it.
            check_internal(c, &ctx, &fip, &mut pf, input.internal_port_id.is_some())?;
            check_collisions(c, &pf)?;
            store::pf_put(c, &pf)?;
            Ok(pf)
        })
        .await
    }

    /// `DELETE /v2.0/floatingips/{floatingip_id}/port_forwardings/{id}`: the last
    /// one frees the floating IP from its router.
    pub(crate) async fn port_forwarding_delete(
        &self,
        ctx: &RequestContext,
        fip_id: String,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut fip = load_fip(c, &ctx, &fip_id)?;
            may_change(&ctx, &fip.std.project_id)?;
            load_pf(c, &fip_id, &id)?;
            store::pf_delete(c, &id)?;
            if store::pf_list(c, Some(&fip_id))?.is_empty() {
                bind_fip(c, &mut fip, None)?;
            }
            tracing::info!(fip = %fip_id, pf = %id, "port forwarding deleted");
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn blank() -> PortForwarding {
        PortForwarding {
            id: "x".into(),
            floatingip_id: "f".into(),
            internal_port_id: String::new(),
            internal_ip_address: String::new(),
            protocol: String::new(),
            external: (0, 0),
            internal: (0, 0),
            description: String::new(),
        }
    }

    fn input(v: Value) -> PortForwardingInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ports_and_ranges_parse() {
        assert_eq!(parse_port("p", &json!(22)).unwrap(), Some(22));
        assert_eq!(parse_port("p", &json!("2222")).unwrap(), Some(2222));
        assert_eq!(parse_port("p", &Value::Null).unwrap(), None);
        for bad in [
            json!(0),
            json!(65536),
            json!(-1),
            json!("ssh"),
            json!(true),
            json!(1.5),
        ] {
            assert!(parse_port("p", &bad).is_err(), "{bad}");
        }
        assert_eq!(parse_range("r", &json!("80:90")).unwrap(), Some((80, 90)));
        assert_eq!(parse_range("r", &json!("80")).unwrap(), Some((80, 80)));
        for bad in [
            json!("90:80"),
            json!("0:10"),
            json!("a:b"),
            json!("1:70000"),
            json!([1]),
        ] {
            assert!(parse_range("r", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_input_rules() {
        let id = "0b0b0001-0000-4000-8000-000000000001";
        let mut pf = blank();
        let ok = json!({"internal_port_id": id, "internal_ip_address": "10.0.0.5",
                        "internal_port": 22, "external_port": 2222, "protocol": "TCP"});
        apply_input(&mut pf, &input(ok), true).unwrap();
        assert_eq!(
            (pf.protocol.as_str(), pf.external, pf.internal),
            ("tcp", (2222, 2222), (22, 22))
        );

        let cases = [
            json!({"internal_port_id": id, "internal_port": 22, "external_port": 2222, "protocol": "icmp"}),
            json!({"internal_port_id": id, "internal_port": 22, "protocol": "tcp"}),
            json!({"internal_port_id": "nope", "internal_port": 22, "external_port": 1, "protocol": "tcp"}),
            json!({"internal_port_id": id, "internal_port": 22, "external_port": 1, "external_port_range": "1:2", "protocol": "tcp"}),
            json!({"internal_port_id": id, "internal_port_range": "80:85", "external_port_range": "80:90", "protocol": "tcp"}),
            json!({"internal_port_id": id, "internal_port": 22, "external_port": 99999, "protocol": "udp"}),
        ];
        for c in cases {
            assert!(
                apply_input(&mut blank(), &input(c.clone()), true).is_err(),
                "{c}"
            );
        }
        // 1-N and N-N ranges are fine.
        let one_n = json!({"internal_port_id": id, "internal_port": 80, "external_port_range": "8000:8010", "protocol": "tcp"});
        apply_input(&mut blank(), &input(one_n), true).unwrap();
        let n_n = json!({"internal_port_id": id, "internal_port_range": "80:90", "external_port_range": "8080:8090", "protocol": "udp"});
        apply_input(&mut blank(), &input(n_n), true).unwrap();
    }

    #[test]
    fn view_shows_ports_and_ranges() {
        let mut pf = blank();
        pf.external = (2222, 2222);
        pf.internal = (22, 22);
        let v = pf.view();
        assert_eq!(v["external_port"], 2222);
        assert_eq!(v["external_port_range"], "2222:2222");
        pf.external = (8000, 8010);
        assert_eq!(pf.view()["external_port"], Value::Null);
        assert!(overlaps((80, 90), (90, 95)));
        assert!(!overlaps((80, 89), (90, 95)));
    }
}
