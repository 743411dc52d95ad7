//! SQL for the Placement service and nothing else.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::model::{InventorySpec, Provider};
use crate::http::error::conflict_on_unique;
use crate::http::error::{ApiError, ApiResult, placement as codes};

fn now() -> String {
    crate::http::time::iso_micros(chrono::Utc::now())
}

fn provider_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Provider> {
    Ok(Provider {
        uuid: r.get(0)?,
        name: r.get(1)?,
        generation: r.get(2)?,
        parent_uuid: r.get(3)?,
        root_uuid: r.get(4)?,
    })
}

const PROVIDER_COLS: &str = "uuid, name, generation, parent_uuid, root_uuid";

// --- providers ------------------------------------------------------------------

pub(crate) fn provider_get(c: &Connection, uuid: &str) -> ApiResult<Option<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLS} FROM placement_providers WHERE uuid = ?1");
    Ok(c.query_row(&sql, [uuid], provider_row).optional()?)
}

pub(crate) fn provider_list(c: &Connection) -> ApiResult<Vec<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLS} FROM placement_providers ORDER BY created_at, uuid");
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map([], provider_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn duplicate_name(e: rusqlite::Error, name: &str) -> ApiError {
    if crate::db::is_unique_violation(&e) {
        ApiError::conflict_typed(
            codes::DUPLICATE_NAME,
            format!("Conflicting resource provider name: {name} already exists."),
        )
    } else {
        ApiError::Internal(e.into())
    }
}

pub(crate) fn provider_insert(c: &Connection, p: &Provider) -> ApiResult<()> {
    let t = now();
    c.execute(
        "INSERT INTO placement_providers (uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![p.uuid, p.name, p.generation, p.parent_uuid, p.root_uuid, t],
    )
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, Some(m))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || m.contains("placement_providers.uuid") =>
        {
            ApiError::Conflict(format!(
                "Conflicting resource provider uuid: {} already exists.",
                p.uuid
            ))
        }
        _ => duplicate_name(e, &p.name),
    })?;
    Ok(())
}

/// Renames and re-parents one provider (its generation is left alone, as in Placement).
pub(crate) fn provider_update(
    c: &Connection,
    uuid: &str,
    name: &str,
    parent: Option<&str>,
    root: &str,
) -> ApiResult<()> {
    c.execute(
        "UPDATE placement_providers SET name = ?2, parent_uuid = ?3, root_uuid = ?4, updated_at = ?5 WHERE uuid = ?1",
        params![uuid, name, parent, root, now()],
    )
    .map_err(|e| duplicate_name(e, name))?;
    Ok(())
}

/// Increments a provider's generation; with `expected`, only if it still matches
/// (the optimistic concurrency Placement clients rely on). Returns the new value.
pub(crate) fn provider_bump(c: &Connection, uuid: &str, expected: Option<i64>) -> ApiResult<i64> {
    let n = match expected {
        Some(g) => c.execute(
            "UPDATE placement_providers SET generation = generation + 1, updated_at = ?3
             WHERE uuid = ?1 AND generation = ?2",
            params![uuid, g, now()],
        )?,
        None => c.execute(
            "UPDATE placement_providers SET generation = generation + 1, updated_at = ?2 WHERE uuid = ?1",
            params![uuid, now()],
        )?,
    };
    if n == 0 {
        return Err(ApiError::conflict_typed(
            codes::CONCURRENT_UPDATE,
            "resource provider generation conflict",
        ));
    }
    Ok(c.query_row(
        "SELECT generation FROM placement_providers WHERE uuid = ?1",
        [uuid],
        |r| r.get(0),
    )?)
}

pub(crate) fn provider_delete(c: &Connection, uuid: &str) -> ApiResult<()> {
    c.execute("DELETE FROM placement_providers WHERE uuid = ?1", [uuid])?;
    Ok(())
}

pub(crate) fn provider_has_children(c: &Connection, uuid: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_providers WHERE parent_uuid = ?1)",
        [uuid],
        |r| r.get(0),
    )?)
}

pub(crate) fn provider_has_allocations(c: &Connection, uuid: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_allocations WHERE provider_uuid = ?1)",
        [uuid],
        |r| r.get(0),
    )?)
}

// --- inventories ----------------------------------------------------------------

pub(crate) fn inventories(c: &Connection, provider: &str) -> ApiResult<Vec<InventorySpec>> {
    let mut st = c.prepare_cached(
        "SELECT resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio
         FROM placement_inventories WHERE provider_uuid = ?1 ORDER BY resource_class",
    )?;
    let rows = st.query_map([provider], |r| {
        Ok(InventorySpec {
            resource_class: r.get(0)?,
            total: r.get(1)?,
            reserved: r.get(2)?,
            min_unit: r.get(3)?,
            max_unit: r.get(4)?,
            step_size: r.get(5)?,
            allocation_ratio: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn inventory_upsert(c: &Connection, provider: &str, i: &InventorySpec) -> ApiResult<()> {
    c.execute(
        "INSERT INTO placement_inventories
           (provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (provider_uuid, resource_class) DO UPDATE SET
           total = excluded.total, reserved = excluded.reserved, min_unit = excluded.min_unit,
           max_unit = excluded.max_unit, step_size = excluded.step_size,
           allocation_ratio = excluded.allocation_ratio",
        params![
            provider,
            i.resource_class,
            i.total,
            i.reserved,
            i.min_unit,
            i.max_unit,
            i.step_size,
            i.allocation_ratio
        ],
    )?;
    Ok(())
}

pub(crate) fn inventory_delete(c: &Connection, provider: &str, class: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM placement_inventories WHERE provider_uuid = ?1 AND resource_class = ?2",
        params![provider, class],
    )? > 0)
}

/// Amount allocated per class on one provider.
pub(crate) fn provider_usages(c: &Connection, provider: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut st = c.prepare_cached(
        "SELECT resource_class, SUM(used) FROM placement_allocations
         WHERE provider_uuid = ?1 GROUP BY resource_class",
    )?;
    let rows = st.query_map([provider], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Amount allocated per class by the consumers of a project (and user).
pub(crate) fn project_usages(
    c: &Connection,
    project: &str,
    user: Option<&str>,
) -> ApiResult<BTreeMap<String, i64>> {
    let mut st = c.prepare_cached(
        "SELECT a.resource_class, SUM(a.used) FROM placement_allocations a
         JOIN placement_consumers k ON k.uuid = a.consumer_uuid
         WHERE k.project_id = ?1 AND (?2 IS NULL OR k.user_id = ?2)
         GROUP BY a.resource_class",
    )?;
    let rows = st.query_map(params![project, user], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether any inventory or allocation uses `class`.
pub(crate) fn class_in_use(c: &Connection, class: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_inventories WHERE resource_class = ?1)
             OR EXISTS (SELECT 1 FROM placement_allocations WHERE resource_class = ?1)",
        [class],
        |r| r.get(0),
    )?)
}

// --- custom resource classes and traits -------------------------------------------

fn names(c: &Connection, sql: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn custom_classes(c: &Connection) -> ApiResult<Vec<String>> {
    names(c, "SELECT name FROM placement_custom_classes ORDER BY name")
}

pub(crate) fn custom_class_exists(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_custom_classes WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

pub(crate) fn custom_class_insert(c: &Connection, name: &str) -> ApiResult<()> {
    c.execute(
        "INSERT INTO placement_custom_classes (name, created_at) VALUES (?1, ?2)",
        params![name, now()],
    )
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("Conflicting resource class already exists: {name}")
        })
    })?;
    Ok(())
}

pub(crate) fn custom_class_delete(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM placement_custom_classes WHERE name = ?1",
        [name],
    )? > 0)
}

pub(crate) fn custom_traits(c: &Connection) -> ApiResult<Vec<String>> {
    names(c, "SELECT name FROM placement_custom_traits ORDER BY name")
}

pub(crate) fn custom_trait_exists(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_custom_traits WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// Inserts a custom trait; false when it already existed.
pub(crate) fn custom_trait_insert(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "INSERT INTO placement_custom_traits (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, now()],
    )? > 0)
}

pub(crate) fn custom_trait_delete(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM placement_custom_traits WHERE name = ?1",
        [name],
    )? > 0)
}

pub(crate) fn trait_in_use(c: &Connection, name: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM placement_provider_traits WHERE trait = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// Every trait some provider has.
pub(crate) fn associated_traits(c: &Connection) -> ApiResult<Vec<String>> {
    names(
        c,
        "SELECT DISTINCT trait FROM placement_provider_traits ORDER BY trait",
    )
}

// --- provider traits and aggregates ----------------------------------------------

pub(crate) fn provider_traits(c: &Connection, provider: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT trait FROM placement_provider_traits WHERE provider_uuid = ?1 ORDER BY trait",
    )?;
    let rows = st.query_map([provider], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn provider_traits_set(
    c: &Connection,
    provider: &str,
    traits: &[String],
) -> ApiResult<()> {
    c.execute(
        "DELETE FROM placement_provider_traits WHERE provider_uuid = ?1",
        [provider],
    )?;
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO placement_provider_traits (provider_uuid, trait) VALUES (?1, ?2)",
    )?;
    for t in traits {
        st.execute(params![provider, t])?;
    }
    Ok(())
}

pub(crate) fn provider_aggregates(c: &Connection, provider: &str) -> ApiResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT aggregate_uuid FROM placement_provider_aggregates WHERE provider_uuid = ?1 ORDER BY aggregate_uuid",
    )?;
    let rows = st.query_map([provider], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn provider_aggregates_set(
    c: &Connection,
    provider: &str,
    aggs: &[String],
) -> ApiResult<()> {
    c.execute(
        "DELETE FROM placement_provider_aggregates WHERE provider_uuid = ?1",
        [provider],
    )?;
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO placement_provider_aggregates (provider_uuid, aggregate_uuid) VALUES (?1, ?2)",
    )?;
    for a in aggs {
        st.execute(params![provider, a])?;
    }
    Ok(())
}

// --- consumers and allocations ---------------------------------------------------

/// A consumer record: who owns the allocations and its generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Consumer {
    pub uuid: String,
    pub project_id: String,
    pub user_id: String,
    pub generation: i64,
}

pub(crate) fn consumer_get(c: &Connection, uuid: &str) -> ApiResult<Option<Consumer>> {
    Ok(c.query_row(
        "SELECT uuid, project_id, user_id, generation FROM placement_consumers WHERE uuid = ?1",
        [uuid],
        |r| {
            Ok(Consumer {
                uuid: r.get(0)?,
                project_id: r.get(1)?,
                user_id: r.get(2)?,
                generation: r.get(3)?,
            })
        },
    )
    .optional()?)
}

/// Creates the consumer or records its new owner, and moves its generation on.
pub(crate) fn consumer_save(
    c: &Connection,
    uuid: &str,
    project: &str,
    user: &str,
) -> ApiResult<()> {
    let t = now();
    c.execute(
        "INSERT INTO placement_consumers (uuid, project_id, user_id, generation, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?4)
         ON CONFLICT (uuid) DO UPDATE SET project_id = excluded.project_id,
           user_id = excluded.user_id, generation = generation + 1, updated_at = excluded.updated_at",
        params![uuid, project, user, t],
    )?;
    Ok(())
}

pub(crate) fn consumer_delete(c: &Connection, uuid: &str) -> ApiResult<()> {
    c.execute("DELETE FROM placement_consumers WHERE uuid = ?1", [uuid])?;
    Ok(())
}

/// (provider, class, used) of one consumer.
pub(crate) fn consumer_allocations(
    c: &Connection,
    consumer: &str,
) -> ApiResult<Vec<(String, String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT provider_uuid, resource_class, used FROM placement_allocations
         WHERE consumer_uuid = ?1 ORDER BY provider_uuid, resource_class",
    )?;
    let rows = st.query_map([consumer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (consumer, class, used) on one provider.
pub(crate) fn provider_allocations(
    c: &Connection,
    provider: &str,
) -> ApiResult<Vec<(String, String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT consumer_uuid, resource_class, used FROM placement_allocations
         WHERE provider_uuid = ?1 ORDER BY consumer_uuid, resource_class",
    )?;
    let rows = st.query_map([provider], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn consumer_allocations_delete(c: &Connection, consumer: &str) -> ApiResult<usize> {
    Ok(c.execute(
        "DELETE FROM placement_allocations WHERE consumer_uuid = ?1",
        [consumer],
    )?)
}

pub(crate) fn allocation_insert(
    c: &Connection,
    consumer: &str,
    provider: &str,
    class: &str,
    used: i64,
) -> ApiResult<()> {
    c.execute(
        "INSERT INTO placement_allocations (consumer_uuid, provider_uuid, resource_class, used)
         VALUES (?1, ?2, ?3, ?4)",
        params![consumer, provider, class, used],
    )?;
    Ok(())
}

/// Amount of `class` allocated on `provider` by everyone.
pub(crate) fn used(c: &Connection, provider: &str, class: &str) -> ApiResult<i64> {
    Ok(c.query_row(
        "SELECT COALESCE(SUM(used), 0) FROM placement_allocations
         WHERE provider_uuid = ?1 AND resource_class = ?2",
        params![provider, class],
        |r| r.get(0),
    )?)
}
