//! SQL for the networking service: typed documents per resource kind, and the
//! address/MAC allocation tables whose primary keys forbid double allocation.

use rusqlite::{Connection, OptionalExtension, params};

use super::model::{PortForwarding, Resource};
use crate::http::error::conflict_on_unique;
use crate::http::error::{ApiError, ApiResult, neutron};

fn decode<T: Resource>(doc: String) -> ApiResult<T> {
    serde_json::from_str(&doc)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("corrupt {} document: {e}", T::KIND)))
}

pub(crate) fn put<T: Resource>(c: &Connection, r: &T) -> ApiResult<()> {
    let doc = serde_json::to_string(r).map_err(|e| ApiError::Internal(e.into()))?;
    c.execute(
        "INSERT INTO net_resources (kind, id, project_id, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, id) DO UPDATE SET project_id = excluded.project_id, doc = excluded.doc",
        params![T::KIND, r.std().id, r.std().project_id, doc],
    )?;
    Ok(())
}

pub(crate) fn get<T: Resource>(c: &Connection, id: &str) -> ApiResult<Option<T>> {
    let doc: Option<String> = c
        .query_row(
            "SELECT doc FROM net_resources WHERE kind = ?1 AND id = ?2",
            params![T::KIND, id],
            |r| r.get(0),
        )
        .optional()?;
    doc.map(decode).transpose()
}

pub(crate) fn list<T: Resource>(c: &Connection) -> ApiResult<Vec<T>> {
    let mut st = c.prepare_cached("SELECT doc FROM net_resources WHERE kind = ?1 ORDER BY id")?;
    let docs: Vec<String> = st
        .query_map([T::KIND], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    docs.into_iter().map(decode).collect()
}

pub(crate) fn count(c: &Connection, kind: &str, project_id: &str) -> ApiResult<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM net_resources WHERE kind = ?1 AND project_id = ?2",
        params![kind, project_id],
        |r| r.get(0),
    )?)
}

pub(crate) fn delete<T: Resource>(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM net_resources WHERE kind = ?1 AND id = ?2",
        params![T::KIND, id],
    )?;
    Ok(())
}

// --- allocations ----------------------------------------------------------------

/// Records an address; a second holder of the same address is a 409.
pub(crate) fn ip_allocate(
    c: &Connection,
    subnet_id: &str,
    ip: &str,
    port_id: &str,
    network_id: &str,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES (?1, ?2, ?3, ?4)",
        params![subnet_id, ip, port_id, network_id],
    )
    .map_err(|e| match conflict_on_unique(e, || format!("IP address {ip} already allocated in subnet {subnet_id}")) {
        ApiError::Conflict(m) => ApiError::conflict_typed(neutron::IP_ADDRESS_ALREADY_ALLOCATED, m),
        other => other,
    })?;
    Ok(())
}

pub(crate) fn ip_release_port(c: &Connection, port_id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM ip_allocations WHERE port_id = ?1", [port_id])?;
    Ok(())
}

/// Releases `port_id`'s addresses in one subnet.
pub(crate) fn ip_release(c: &Connection, subnet_id: &str, port_id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM ip_allocations WHERE subnet_id = ?1 AND port_id = ?2",
        [subnet_id, port_id],
    )?;
    Ok(())
}

pub(crate) fn ips_in_subnet(c: &Connection, subnet_id: &str) -> ApiResult<Vec<(String, String)>> {
    let mut st =
        c.prepare_cached("SELECT ip_address, port_id FROM ip_allocations WHERE subnet_id = ?1")?;
    let rows = st
        .query_map([subnet_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn mac_allocate(c: &Connection, mac: &str, port_id: &str) -> ApiResult<()> {
    c.execute(
        "INSERT INTO mac_allocations (mac_address, port_id) VALUES (?1, ?2)",
        params![mac, port_id],
    )
    .map_err(|e| {
        match conflict_on_unique(e, || {
            format!("Unable to complete operation for network. The mac address {mac} is in use.")
        }) {
            ApiError::Conflict(m) => ApiError::conflict_typed(neutron::MAC_ADDRESS_IN_USE, m),
            other => other,
        }
    })?;
    Ok(())
}

pub(crate) fn mac_release_port(c: &Connection, port_id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM mac_allocations WHERE port_id = ?1", [port_id])?;
    Ok(())
}

// --- subnet pool allocations -----------------------------------------------------

/// Records that `subnet_id` holds `cidr` from a pool; the same prefix twice is a 409.
pub(crate) fn pool_allocation_add(
    c: &Connection,
    subnetpool_id: &str,
    cidr: &str,
    subnet_id: &str,
    project_id: &str,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO subnetpool_allocations (subnetpool_id, cidr, subnet_id, project_id)
         VALUES (?1, ?2, ?3, ?4)",
        params![subnetpool_id, cidr, subnet_id, project_id],
    )
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("Prefix {cidr} of subnet pool {subnetpool_id} is already allocated.")
        })
    })?;
    Ok(())
}

/// The prefixes allocated from a pool, with the project holding each.
pub(crate) fn pool_allocations(
    c: &Connection,
    subnetpool_id: &str,
) -> ApiResult<Vec<(String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT cidr, project_id FROM subnetpool_allocations WHERE subnetpool_id = ?1 ORDER BY cidr",
    )?;
    let rows = st
        .query_map([subnetpool_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Returns a deleted subnet's prefix to its pool (a no-op for other subnets).
pub(crate) fn pool_allocation_release(c: &Connection, subnet_id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM subnetpool_allocations WHERE subnet_id = ?1",
        [subnet_id],
    )?;
    Ok(())
}

// --- quotas ---------------------------------------------------------------------

pub(crate) fn quota_overrides(c: &Connection, project_id: &str) -> ApiResult<Vec<(String, i64)>> {
    let mut st = c.prepare("SELECT resource, quota FROM net_quotas WHERE project_id = ?1")?;
    let rows = st
        .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn quota_projects(c: &Connection) -> ApiResult<Vec<String>> {
    let mut st = c.prepare("SELECT DISTINCT project_id FROM net_quotas ORDER BY 1")?;
    let rows = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn quota_set(
    c: &Connection,
    project_id: &str,
    resource: &str,
    quota: i64,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO net_quotas (project_id, resource, quota) VALUES (?1, ?2, ?3)
         ON CONFLICT (project_id, resource) DO UPDATE SET quota = excluded.quota",
        params![project_id, resource, quota],
    )?;
    Ok(())
}

pub(crate) fn quota_reset(c: &Connection, project_id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM net_quotas WHERE project_id = ?1", [project_id])?;
    Ok(())
}

/// Resources per kind, for `onestack status`.
pub(crate) fn counts(c: &Connection) -> ApiResult<Vec<(String, i64)>> {
    let mut st =
        c.prepare("SELECT kind, count(*) FROM net_resources GROUP BY kind ORDER BY kind")?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --- port forwardings -------------------------------------------------------------

const PF_COLUMNS: &str = "id, floatingip_id, internal_port_id, internal_ip_address, protocol,
     external_port_start, external_port_end, internal_port_start, internal_port_end, description";

fn pf_row(r: &rusqlite::Row) -> rusqlite::Result<PortForwarding> {
    Ok(PortForwarding {
        id: r.get(0)?,
        floatingip_id: r.get(1)?,
        internal_port_id: r.get(2)?,
        internal_ip_address: r.get(3)?,
        protocol: r.get(4)?,
        external: (r.get(5)?, r.get(6)?),
        internal: (r.get(7)?, r.get(8)?),
        description: r.get(9)?,
    })
}

/// Inserts or replaces a port forwarding; a second rule for the same floating IP,
/// protocol and first external port is a 409.
pub(crate) fn pf_put(c: &Connection, pf: &PortForwarding) -> ApiResult<()> {
    c.execute(
        &format!(
            "INSERT INTO net_port_forwardings ({PF_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET internal_port_id = excluded.internal_port_id,
               internal_ip_address = excluded.internal_ip_address, protocol = excluded.protocol,
               external_port_start = excluded.external_port_start, external_port_end = excluded.external_port_end,
               internal_port_start = excluded.internal_port_start, internal_port_end = excluded.internal_port_end,
               description = excluded.description"
        ),
        params![
            pf.id,
            pf.floatingip_id,
            pf.internal_port_id,
            pf.internal_ip_address,
            pf.protocol,
            pf.external.0,
            pf.external.1,
            pf.internal.0,
            pf.internal.1,
            pf.description
        ],
    )
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "A duplicate port forwarding entry with same attributes already exists, conflicting values are external_port {} protocol {}",
                pf.external.0, pf.protocol
            )
        })
    })?;
    Ok(())
}

pub(crate) fn pf_get(c: &Connection, id: &str) -> ApiResult<Option<PortForwarding>> {
    Ok(c.query_row(
        &format!("SELECT {PF_COLUMNS} FROM net_port_forwardings WHERE id = ?1"),
        [id],
        pf_row,
    )
    .optional()?)
}

/// The forwardings of one floating IP, or of every floating IP with `None`.
pub(crate) fn pf_list(
    c: &Connection,
    floatingip_id: Option<&str>,
) -> ApiResult<Vec<PortForwarding>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {PF_COLUMNS} FROM net_port_forwardings
         WHERE ?1 IS NULL OR floatingip_id = ?1 ORDER BY id"
    ))?;
    let rows = st
        .query_map([floatingip_id], pf_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn pf_list_for_port(c: &Connection, port_id: &str) -> ApiResult<Vec<PortForwarding>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {PF_COLUMNS} FROM net_port_forwardings WHERE internal_port_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([port_id], pf_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn pf_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM net_port_forwardings WHERE id = ?1", [id])?;
    Ok(())
}
