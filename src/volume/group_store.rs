//! The SQL of generic volume groups: group types and their specs, groups with
//! their volume types, group snapshots, and which volumes and snapshots belong.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::group_settle::GroupKind;
use super::model::{Group, GroupSnapshot, GroupType};

// ---- group types ------------------------------------------------------------

const TYPE_COLS: &str = "id, name, description, is_public, created_at";

fn type_from_row(r: &Row) -> rusqlite::Result<GroupType> {
    Ok(GroupType {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        is_public: r.get(3)?,
        group_specs: BTreeMap::new(),
        created_at: r.get(4)?,
    })
}

fn with_specs(c: &Connection, mut t: GroupType) -> rusqlite::Result<GroupType> {
    let mut st =
        c.prepare_cached("SELECT key, value FROM volume_group_type_specs WHERE type_id = ?1")?;
    let rows = st.query_map([&t.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    t.group_specs = rows.collect::<rusqlite::Result<_>>()?;
    Ok(t)
}

/// A group type by id, else by name.
pub(super) fn type_find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<GroupType>> {
    let mut t = c
        .query_row(
            &format!("SELECT {TYPE_COLS} FROM volume_group_types WHERE id = ?1"),
            [id_or_name],
            type_from_row,
        )
        .optional()?;
    if t.is_none() {
        t = c
            .query_row(
                &format!("SELECT {TYPE_COLS} FROM volume_group_types WHERE name = ?1"),
                [id_or_name],
                type_from_row,
            )
            .optional()?;
    }
    t.map(|t| with_specs(c, t)).transpose()
}

pub(super) fn type_list(c: &Connection) -> rusqlite::Result<Vec<GroupType>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {TYPE_COLS} FROM volume_group_types ORDER BY created_at, id"
    ))?;
    let types = st
        .query_map([], type_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    types.into_iter().map(|t| with_specs(c, t)).collect()
}

pub(super) fn type_insert(c: &Connection, t: &GroupType) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_group_types (id, name, description, is_public, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, t.name, t.description, t.is_public, t.created_at],
    )?;
    specs_set(c, &t.id, &t.group_specs)
}

pub(super) fn type_update(c: &Connection, t: &GroupType, now: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_group_types SET name = ?2, description = ?3, is_public = ?4, \
         updated_at = ?5 WHERE id = ?1",
        params![t.id, t.name, t.description, t.is_public, now],
    )?;
    Ok(())
}

pub(super) fn type_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_group_types WHERE id = ?1", [id])?;
    Ok(())
}

/// Whether a group (not yet deleted) uses the type.
pub(super) fn type_in_use(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM volume_groups WHERE group_type_id = ?1)",
        [id],
        |r| r.get(0),
    )
}

/// Adds or replaces specs.
pub(super) fn specs_set(
    c: &Connection,
    type_id: &str,
    specs: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO volume_group_type_specs (type_id, key, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (type_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for (k, v) in specs {
        st.execute(params![type_id, k, v])?;
    }
    Ok(())
}

/// Removes one spec; false when the type had none by that key.
pub(super) fn spec_delete(c: &Connection, type_id: &str, key: &str) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM volume_group_type_specs WHERE type_id = ?1 AND key = ?2",
        params![type_id, key],
    )? > 0)
}

// ---- groups -----------------------------------------------------------------

const GROUP_COLS: &str = "id, project_id, user_id, name, description, status, \
    availability_zone, group_type_id, group_snapshot_id, source_group_id, created_at, updated_at";

fn group_from_row(r: &Row) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        project_id: r.get(1)?,
        user_id: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        status: r.get(5)?,
        availability_zone: r.get(6)?,
        group_type_id: r.get(7)?,
        group_snapshot_id: r.get(8)?,
        source_group_id: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        volume_types: Vec::new(),
    })
}

fn with_volume_types(c: &Connection, mut g: Group) -> rusqlite::Result<Group> {
    let mut st = c.prepare_cached(
        "SELECT type_id FROM volume_group_volume_types WHERE group_id = ?1 ORDER BY position",
    )?;
    g.volume_types = st
        .query_map([&g.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(g)
}

pub(super) fn group_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Group>> {
    let g = c
        .query_row(
            &format!("SELECT {GROUP_COLS} FROM volume_groups WHERE id = ?1"),
            [id],
            group_from_row,
        )
        .optional()?;
    g.map(|g| with_volume_types(c, g)).transpose()
}

/// Groups of `project` (every project's when None), newest first.
pub(super) fn group_list(c: &Connection, project: Option<&str>) -> rusqlite::Result<Vec<Group>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {GROUP_COLS} FROM volume_groups WHERE ?1 IS NULL OR project_id = ?1 \
         ORDER BY created_at DESC, id DESC"
    ))?;
    let groups = st
        .query_map([project], group_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    groups
        .into_iter()
        .map(|g| with_volume_types(c, g))
        .collect()
}

/// Groups in `status` (start-up recovery).
pub(super) fn groups_in_status(c: &Connection, status: &str) -> rusqlite::Result<Vec<Group>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {GROUP_COLS} FROM volume_groups WHERE status = ?1"
    ))?;
    let groups = st
        .query_map([status], group_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    groups
        .into_iter()
        .map(|g| with_volume_types(c, g))
        .collect()
}

pub(super) fn group_insert(c: &Connection, g: &Group) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_groups (id, project_id, user_id, name, description, status, \
         availability_zone, group_type_id, group_snapshot_id, source_group_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            g.id,
            g.project_id,
            g.user_id,
            g.name,
            g.description,
            g.status,
            g.availability_zone,
            g.group_type_id,
            g.group_snapshot_id,
            g.source_group_id,
            g.created_at,
        ],
    )?;
    let mut st = c.prepare_cached(
        "INSERT INTO volume_group_volume_types (group_id, position, type_id) VALUES (?1, ?2, ?3)",
    )?;
    for (i, t) in g.volume_types.iter().enumerate() {
        st.execute(params![g.id, i as i64, t])?;
    }
    Ok(())
}

/// Name, description and status.
pub(super) fn group_update(c: &Connection, g: &Group, now: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_groups SET name = ?2, description = ?3, status = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![g.id, g.name, g.description, g.status, now],
    )?;
    Ok(())
}

pub(super) fn group_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_groups WHERE id = ?1", [id])?;
    Ok(())
}

/// Ids of the volumes in a group.
pub(super) fn group_volume_ids(c: &Connection, group_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st =
        c.prepare_cached("SELECT id FROM volumes WHERE group_id = ?1 ORDER BY created_at, id")?;
    st.query_map([group_id], |r| r.get(0))?.collect()
}

/// Statuses of a group's volumes.
pub(super) fn group_volume_statuses(
    c: &Connection,
    group_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached("SELECT status FROM volumes WHERE group_id = ?1")?;
    st.query_map([group_id], |r| r.get(0))?.collect()
}

/// Puts a volume into a group, or out of any (None).
pub(super) fn volume_set_group(
    c: &Connection,
    volume_id: &str,
    group_id: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET group_id = ?2 WHERE id = ?1",
        params![volume_id, group_id],
    )?;
    Ok(())
}

// ---- group snapshots --------------------------------------------------------

const SNAP_COLS: &str = "id, project_id, user_id, group_id, group_type_id, name, description, \
    status, created_at, updated_at";

fn snap_from_row(r: &Row) -> rusqlite::Result<GroupSnapshot> {
    Ok(GroupSnapshot {
        id: r.get(0)?,
        project_id: r.get(1)?,
        user_id: r.get(2)?,
        group_id: r.get(3)?,
        group_type_id: r.get(4)?,
        name: r.get(5)?,
        description: r.get(6)?,
        status: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

pub(super) fn snapshot_get(c: &Connection, id: &str) -> rusqlite::Result<Option<GroupSnapshot>> {
    c.query_row(
        &format!("SELECT {SNAP_COLS} FROM volume_group_snapshots WHERE id = ?1"),
        [id],
        snap_from_row,
    )
    .optional()
}

pub(super) fn snapshot_list(
    c: &Connection,
    project: Option<&str>,
) -> rusqlite::Result<Vec<GroupSnapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAP_COLS} FROM volume_group_snapshots WHERE ?1 IS NULL OR project_id = ?1 \
         ORDER BY created_at DESC, id DESC"
    ))?;
    st.query_map([project], snap_from_row)?.collect()
}

pub(super) fn snapshots_in_status(
    c: &Connection,
    status: &str,
) -> rusqlite::Result<Vec<GroupSnapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAP_COLS} FROM volume_group_snapshots WHERE status = ?1"
    ))?;
    st.query_map([status], snap_from_row)?.collect()
}

pub(super) fn snapshots_of_group(
    c: &Connection,
    group_id: &str,
) -> rusqlite::Result<Vec<GroupSnapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAP_COLS} FROM volume_group_snapshots WHERE group_id = ?1"
    ))?;
    st.query_map([group_id], snap_from_row)?.collect()
}

pub(super) fn snapshot_insert(c: &Connection, s: &GroupSnapshot) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_group_snapshots (id, project_id, user_id, group_id, group_type_id, \
         name, description, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            s.id,
            s.project_id,
            s.user_id,
            s.group_id,
            s.group_type_id,
            s.name,
            s.description,
            s.status,
            s.created_at,
        ],
    )?;
    Ok(())
}

/// A group's or a group snapshot's status alone (settling, status resets).
pub(super) fn status_set(
    c: &Connection,
    kind: GroupKind,
    id: &str,
    status: &str,
    now: &str,
) -> rusqlite::Result<()> {
    let sql = match kind {
        GroupKind::Group => "UPDATE volume_groups SET status = ?2, updated_at = ?3 WHERE id = ?1",
        GroupKind::GroupSnapshot => {
            "UPDATE volume_group_snapshots SET status = ?2, updated_at = ?3 WHERE id = ?1"
        }
    };
    c.execute(sql, params![id, status, now])?;
    Ok(())
}

pub(super) fn snapshot_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_group_snapshots WHERE id = ?1", [id])?;
    Ok(())
}

/// The member snapshots of a group snapshot: (snapshot id, volume id, status).
pub(super) fn snapshot_members(
    c: &Connection,
    group_snapshot_id: &str,
) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT id, volume_id, status FROM volume_snapshots WHERE group_snapshot_id = ?1 \
         ORDER BY created_at, id",
    )?;
    st.query_map([group_snapshot_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?
    .collect()
}
