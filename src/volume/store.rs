//! All block storage SQL.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{
    Attachment, BackedUpMeta, Backup, BackupStatus, Message, QosSpecs, Snapshot, SnapshotStatus,
    Task, Transfer, Volume, VolumeStatus, VolumeType,
};

/// Cinder's timestamp form: `2026-01-01T00:00:00.000000`, UTC without a zone.
pub(crate) fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

// ---- volume types ---------------------------------------------------------

fn type_from_row(r: &Row) -> rusqlite::Result<VolumeType> {
    Ok(VolumeType {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        is_public: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        qos_specs_id: r.get(6)?,
        extra_specs: BTreeMap::new(),
    })
}

const TYPE_COLS: &str = "id, name, description, is_public, created_at, updated_at, qos_specs_id";

fn with_specs(c: &Connection, mut t: VolumeType) -> rusqlite::Result<VolumeType> {
    let mut st =
        c.prepare_cached("SELECT key, value FROM volume_type_extra_specs WHERE type_id = ?1")?;
    t.extra_specs = st
        .query_map([&t.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(t)
}

pub(crate) fn type_list(c: &Connection) -> rusqlite::Result<Vec<VolumeType>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {TYPE_COLS} FROM volume_types ORDER BY name"
    ))?;
    let types = st
        .query_map([], type_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    types.into_iter().map(|t| with_specs(c, t)).collect()
}

/// A type by id, or else by name.
pub(crate) fn type_find(c: &Connection, id_or_name: &str) -> rusqlite::Result<Option<VolumeType>> {
    let t = c
        .query_row(
            &format!("SELECT {TYPE_COLS} FROM volume_types WHERE id = ?1"),
            [id_or_name],
            type_from_row,
        )
        .optional()?;
    let t = match t {
        Some(t) => Some(t),
        None => c
            .query_row(
                &format!("SELECT {TYPE_COLS} FROM volume_types WHERE name = ?1"),
                [id_or_name],
                type_from_row,
            )
            .optional()?,
    };
    t.map(|t| with_specs(c, t)).transpose()
}

pub(crate) fn type_insert(c: &Connection, t: &VolumeType) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_types (id, name, description, is_public, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![t.id, t.name, t.description, t.is_public, t.created_at],
    )?;
    extra_specs_set(c, &t.id, &t.extra_specs)
}

pub(crate) fn type_update(c: &Connection, t: &VolumeType) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_types SET name = ?2, description = ?3, is_public = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![t.id, t.name, t.description, t.is_public, now()],
    )?;
    Ok(())
}

pub(crate) fn type_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_types WHERE id = ?1", [id])?;
    Ok(())
}

/// Whether a volume has the type or a generic group allows it.
pub(crate) fn type_in_use(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM volumes WHERE type_id = ?1) \
         OR EXISTS (SELECT 1 FROM volume_group_volume_types WHERE type_id = ?1)",
        [id],
        |r| r.get(0),
    )
}

pub(crate) fn extra_specs_set(
    c: &Connection,
    type_id: &str,
    specs: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO volume_type_extra_specs (type_id, key, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (type_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for (k, v) in specs {
        st.execute(params![type_id, k, v])?;
    }
    Ok(())
}

pub(crate) fn extra_spec_delete(
    c: &Connection,
    type_id: &str,
    key: &str,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM volume_type_extra_specs WHERE type_id = ?1 AND key = ?2",
        params![type_id, key],
    )? > 0)
}

pub(crate) fn type_projects(c: &Connection, type_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT project_id FROM volume_type_projects WHERE type_id = ?1 ORDER BY project_id",
    )?;
    st.query_map([type_id], |r| r.get(0))?.collect()
}

pub(crate) fn type_project_add(
    c: &Connection,
    type_id: &str,
    project: &str,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "INSERT OR IGNORE INTO volume_type_projects (type_id, project_id) VALUES (?1, ?2)",
        params![type_id, project],
    )? > 0)
}

pub(crate) fn type_project_remove(
    c: &Connection,
    type_id: &str,
    project: &str,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM volume_type_projects WHERE type_id = ?1 AND project_id = ?2",
        params![type_id, project],
    )? > 0)
}

// ---- volumes ----------------------------------------------------------------

const VOLUME_COLS: &str = "v.id, v.project_id, v.user_id, v.name, v.description, v.size, \
    v.status, v.attach_status, v.availability_zone, v.type_id, t.name, v.bootable, \
    v.multiattach, v.snapshot_id, v.source_volid, v.image_id, v.task, v.error_reason, \
    v.created_at, v.updated_at, v.launched_at, v.group_id";

fn volume_from_row(r: &Row) -> rusqlite::Result<Volume> {
    let status: String = r.get(6)?;
    let task: Option<String> = r.get(16)?;
    Ok(Volume {
        id: r.get(0)?,
        project_id: r.get(1)?,
        user_id: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        size: r.get(5)?,
        // A status this build does not know reads as error, never as a panic.
        status: VolumeStatus::parse(&status).unwrap_or(VolumeStatus::Error),
        attach_status: r.get(7)?,
        availability_zone: r.get(8)?,
        type_id: r.get(9)?,
        type_name: r.get(10)?,
        bootable: r.get(11)?,
        multiattach: r.get(12)?,
        snapshot_id: r.get(13)?,
        source_volid: r.get(14)?,
        image_id: r.get(15)?,
        task: task.and_then(|t| serde_json::from_str(&t).ok()),
        error_reason: r.get(17)?,
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
        launched_at: r.get(20)?,
        metadata: BTreeMap::new(),
        image_metadata: BTreeMap::new(),
        admin_metadata: BTreeMap::new(),
        attachments: Vec::new(),
        group_id: r.get(21)?,
    })
}

fn with_metadata(c: &Connection, mut v: Volume) -> rusqlite::Result<Volume> {
    let mut st =
        c.prepare_cached("SELECT kind, key, value FROM volume_metadata WHERE volume_id = ?1")?;
    let rows = st.query_map([&v.id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
    })?;
    for row in rows {
        let (kind, k, value) = row?;
        let map = match kind.as_str() {
            "user" => &mut v.metadata,
            "image" => &mut v.image_metadata,
            _ => &mut v.admin_metadata,
        };
        map.insert(k, value);
    }
    v.attachments = attachments_of_volume(c, &v.id)?;
    Ok(v)
}

pub(crate) fn volume_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Volume>> {
    let v = c
        .query_row(
            &format!(
                "SELECT {VOLUME_COLS} FROM volumes v JOIN volume_types t ON t.id = v.type_id \
                 WHERE v.id = ?1"
            ),
            [id],
            volume_from_row,
        )
        .optional()?;
    v.map(|v| with_metadata(c, v)).transpose()
}

/// Every volume of `project` (every project's when None), with metadata.
pub(crate) fn volume_list(c: &Connection, project: Option<&str>) -> rusqlite::Result<Vec<Volume>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {VOLUME_COLS} FROM volumes v JOIN volume_types t ON t.id = v.type_id \
         WHERE ?1 IS NULL OR v.project_id = ?1"
    ))?;
    let vols = st
        .query_map([project], volume_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    vols.into_iter().map(|v| with_metadata(c, v)).collect()
}

/// Volumes with a task under way (for recovery).
pub(crate) fn volumes_with_task(c: &Connection) -> rusqlite::Result<Vec<Volume>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {VOLUME_COLS} FROM volumes v JOIN volume_types t ON t.id = v.type_id \
         WHERE v.task IS NOT NULL"
    ))?;
    st.query_map([], volume_from_row)?.collect()
}

pub(crate) fn volume_insert(c: &Connection, v: &Volume) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volumes (id, project_id, user_id, name, description, size, status, \
         attach_status, availability_zone, type_id, bootable, multiattach, snapshot_id, \
         source_volid, image_id, task, error_reason, created_at, group_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        params![
            v.id,
            v.project_id,
            v.user_id,
            v.name,
            v.description,
            v.size,
            v.status.as_str(),
            v.attach_status,
            v.availability_zone,
            v.type_id,
            v.bootable,
            v.multiattach,
            v.snapshot_id,
            v.source_volid,
            v.image_id,
            task_json(v.task.as_ref()),
            v.error_reason,
            v.created_at,
            v.group_id,
        ],
    )?;
    for (kind, map) in [("user", &v.metadata), ("image", &v.image_metadata)] {
        metadata_replace(c, &v.id, kind, map)?;
    }
    Ok(())
}

fn task_json(t: Option<&Task>) -> Option<String> {
    t.and_then(|t| serde_json::to_string(t).ok())
}

/// Records a status, the task now under way (None when done) and the error reason.
pub(crate) fn volume_set_state(
    c: &Connection,
    id: &str,
    status: VolumeStatus,
    task: Option<&Task>,
    error_reason: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET status = ?2, task = ?3, error_reason = ?4, updated_at = ?5, \
         launched_at = CASE WHEN ?2 = 'available' AND launched_at IS NULL THEN ?5 \
         ELSE launched_at END WHERE id = ?1",
        params![id, status.as_str(), task_json(task), error_reason, now()],
    )?;
    Ok(())
}

pub(crate) fn volume_set_size(c: &Connection, id: &str, size: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET size = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, size, now()],
    )?;
    Ok(())
}

pub(crate) fn volume_update(
    c: &Connection,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, name, description, now()],
    )?;
    Ok(())
}

/// The image a volume was last written from (`os-reimage`).
pub(crate) fn volume_set_image(c: &Connection, id: &str, image_id: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET image_id = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, image_id, now()],
    )?;
    Ok(())
}

pub(crate) fn volume_set_bootable(
    c: &Connection,
    id: &str,
    bootable: bool,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET bootable = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, bootable, now()],
    )?;
    Ok(())
}

pub(crate) fn volume_delete_row(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_attachments WHERE volume_id = ?1", [id])?;
    c.execute("DELETE FROM volumes WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn metadata_replace(
    c: &Connection,
    id: &str,
    kind: &str,
    map: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM volume_metadata WHERE volume_id = ?1 AND kind = ?2",
        params![id, kind],
    )?;
    metadata_merge(c, id, kind, map)
}

pub(crate) fn metadata_merge(
    c: &Connection,
    id: &str,
    kind: &str,
    map: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO volume_metadata (volume_id, kind, key, value) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (volume_id, kind, key) DO UPDATE SET value = excluded.value",
    )?;
    for (k, v) in map {
        st.execute(params![id, kind, k, v])?;
    }
    Ok(())
}

pub(crate) fn metadata_delete(
    c: &Connection,
    id: &str,
    kind: &str,
    key: &str,
) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "DELETE FROM volume_metadata WHERE volume_id = ?1 AND kind = ?2 AND key = ?3",
        params![id, kind, key],
    )? > 0)
}

// ---- quotas -------------------------------------------------------------------

/// Volumes, snapshots and gigabytes (of both) a project holds, in all and per
/// type name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Usage {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
    /// type name -> (volumes, gigabytes, snapshots)
    pub per_type: BTreeMap<String, (i64, i64, i64)>,
}

pub(crate) fn usage(c: &Connection, project: &str) -> rusqlite::Result<Usage> {
    let mut st = c.prepare_cached(
        "SELECT t.name, COUNT(*), COALESCE(SUM(v.size), 0) FROM volumes v \
         JOIN volume_types t ON t.id = v.type_id WHERE v.project_id = ?1 GROUP BY t.name",
    )?;
    let mut u = Usage::default();
    for row in st.query_map([project], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (name, n, gb) = row?;
        u.volumes += n;
        u.gigabytes += gb;
        u.per_type.insert(name, (n, gb, 0));
    }
    let mut st = c.prepare_cached(
        "SELECT t.name, COUNT(*), COALESCE(SUM(s.size), 0) FROM volume_snapshots s \
         JOIN volumes v ON v.id = s.volume_id JOIN volume_types t ON t.id = v.type_id \
         WHERE s.project_id = ?1 GROUP BY t.name",
    )?;
    for row in st.query_map([project], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (name, n, gb) = row?;
        u.snapshots += n;
        u.gigabytes += gb;
        let e = u.per_type.entry(name).or_default();
        e.1 += gb;
        e.2 += n;
    }
    Ok(u)
}

/// Per project: (volumes, their GiB, snapshots, their GiB), for `os-hosts/{host}`.
pub(crate) fn usage_by_project(c: &Connection) -> rusqlite::Result<BTreeMap<String, [i64; 4]>> {
    let mut out: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    let mut st = c.prepare_cached(
        "SELECT project_id, COUNT(*), COALESCE(SUM(size), 0) FROM volumes GROUP BY project_id",
    )?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (p, n, gb) = row?;
        let e = out.entry(p).or_default();
        e[0] = n;
        e[1] = gb;
    }
    let mut st = c.prepare_cached(
        "SELECT project_id, COUNT(*), COALESCE(SUM(size), 0) FROM volume_snapshots \
         GROUP BY project_id",
    )?;
    for row in st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (p, n, gb) = row?;
        let e = out.entry(p).or_default();
        e[2] = n;
        e[3] = gb;
    }
    Ok(out)
}

/// The limits set for `project` ('' holds the defaults an admin changed).
pub(crate) fn quota_get(c: &Connection, project: &str) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut st =
        c.prepare_cached("SELECT resource, hard_limit FROM volume_quotas WHERE project_id = ?1")?;
    st.query_map([project], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

pub(crate) fn quota_set(
    c: &Connection,
    project: &str,
    resource: &str,
    limit: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_quotas (project_id, resource, hard_limit) VALUES (?1, ?2, ?3) \
         ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        params![project, resource, limit],
    )?;
    Ok(())
}

pub(crate) fn quota_delete(c: &Connection, project: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_quotas WHERE project_id = ?1", [project])?;
    Ok(())
}

// ---- snapshots ------------------------------------------------------------------

const SNAPSHOT_COLS: &str = "id, volume_id, project_id, user_id, name, description, size, \
    status, metadata, task, error_reason, created_at, updated_at, progress, group_snapshot_id";

fn snapshot_from_row(r: &Row) -> rusqlite::Result<Snapshot> {
    let status: String = r.get(7)?;
    let metadata: String = r.get(8)?;
    Ok(Snapshot {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        project_id: r.get(2)?,
        user_id: r.get(3)?,
        name: r.get(4)?,
        description: r.get(5)?,
        size: r.get(6)?,
        status: SnapshotStatus::parse(&status).unwrap_or(SnapshotStatus::Error),
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        task: r.get(9)?,
        error_reason: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        progress: r.get(13)?,
        group_snapshot_id: r.get(14)?,
    })
}

pub(crate) fn snapshot_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Snapshot>> {
    c.query_row(
        &format!("SELECT {SNAPSHOT_COLS} FROM volume_snapshots WHERE id = ?1"),
        [id],
        snapshot_from_row,
    )
    .optional()
}

/// Snapshots of `project` (every project's when None).
pub(crate) fn snapshot_list(
    c: &Connection,
    project: Option<&str>,
) -> rusqlite::Result<Vec<Snapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLS} FROM volume_snapshots WHERE ?1 IS NULL OR project_id = ?1 \
         ORDER BY created_at DESC, id DESC"
    ))?;
    st.query_map([project], snapshot_from_row)?.collect()
}

pub(crate) fn snapshots_of_volume(c: &Connection, volume: &str) -> rusqlite::Result<Vec<Snapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLS} FROM volume_snapshots WHERE volume_id = ?1"
    ))?;
    st.query_map([volume], snapshot_from_row)?.collect()
}

pub(crate) fn snapshots_with_task(c: &Connection) -> rusqlite::Result<Vec<Snapshot>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLS} FROM volume_snapshots WHERE task IS NOT NULL"
    ))?;
    st.query_map([], snapshot_from_row)?.collect()
}

pub(crate) fn snapshot_insert(c: &Connection, s: &Snapshot) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_snapshots (id, volume_id, project_id, user_id, name, description, \
         size, status, metadata, task, created_at, group_snapshot_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            s.id,
            s.volume_id,
            s.project_id,
            s.user_id,
            s.name,
            s.description,
            s.size,
            s.status.as_str(),
            serde_json::to_string(&s.metadata).unwrap_or_else(|_| "{}".into()),
            s.task,
            s.created_at,
            s.group_snapshot_id,
        ],
    )?;
    Ok(())
}

pub(crate) fn snapshot_set_state(
    c: &Connection,
    id: &str,
    status: SnapshotStatus,
    task: Option<&str>,
    error_reason: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_snapshots SET status = ?2, task = ?3, error_reason = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![id, status.as_str(), task, error_reason, now()],
    )?;
    Ok(())
}

pub(crate) fn snapshot_update(
    c: &Connection,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    metadata: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_snapshots SET name = ?2, description = ?3, metadata = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![
            id,
            name,
            description,
            serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into()),
            now()
        ],
    )?;
    Ok(())
}

pub(crate) fn snapshot_delete_row(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_snapshots WHERE id = ?1", [id])?;
    Ok(())
}

// ---- attachments ------------------------------------------------------------

const ATTACHMENT_COLS: &str = "id, volume_id, instance_uuid, mountpoint, attach_mode, status, \
    connector, by_compute, created_at, attached_at, updated_at";

fn attachment_from_row(r: &Row) -> rusqlite::Result<Attachment> {
    let connector: Option<String> = r.get(6)?;
    Ok(Attachment {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        instance_uuid: r.get(2)?,
        mountpoint: r.get(3)?,
        attach_mode: r.get(4)?,
        status: r.get(5)?,
        connector: connector.and_then(|c| serde_json::from_str(&c).ok()),
        by_compute: r.get(7)?,
        created_at: r.get(8)?,
        attached_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

pub(crate) fn attachment_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Attachment>> {
    c.query_row(
        &format!("SELECT {ATTACHMENT_COLS} FROM volume_attachments WHERE id = ?1"),
        [id],
        attachment_from_row,
    )
    .optional()
}

pub(crate) fn attachments_of_volume(
    c: &Connection,
    volume: &str,
) -> rusqlite::Result<Vec<Attachment>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLS} FROM volume_attachments WHERE volume_id = ?1 \
         ORDER BY created_at, id"
    ))?;
    st.query_map([volume], attachment_from_row)?.collect()
}

pub(crate) fn attachments_of_instance(
    c: &Connection,
    instance: &str,
) -> rusqlite::Result<Vec<Attachment>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLS} FROM volume_attachments WHERE instance_uuid = ?1 \
         ORDER BY created_at, id"
    ))?;
    st.query_map([instance], attachment_from_row)?.collect()
}

/// Every attachment (of every project's volumes); callers filter by visibility.
pub(crate) fn attachment_list(c: &Connection) -> rusqlite::Result<Vec<Attachment>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ATTACHMENT_COLS} FROM volume_attachments ORDER BY created_at, id"
    ))?;
    st.query_map([], attachment_from_row)?.collect()
}

pub(crate) fn attachment_insert(c: &Connection, a: &Attachment) -> rusqlite::Result<()> {
    c.execute(
        &format!(
            "INSERT INTO volume_attachments ({ATTACHMENT_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            a.id,
            a.volume_id,
            a.instance_uuid,
            a.mountpoint,
            a.attach_mode,
            a.status,
            a.connector.as_ref().map(|c| c.to_string()),
            a.by_compute,
            a.created_at,
            a.attached_at,
            a.updated_at,
        ],
    )?;
    Ok(())
}

/// Rewrites an attachment's changeable fields.
pub(crate) fn attachment_update(c: &Connection, a: &Attachment) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_attachments SET instance_uuid = ?2, mountpoint = ?3, attach_mode = ?4, \
         status = ?5, connector = ?6, attached_at = ?7, updated_at = ?8 WHERE id = ?1",
        params![
            a.id,
            a.instance_uuid,
            a.mountpoint,
            a.attach_mode,
            a.status,
            a.connector.as_ref().map(|c| c.to_string()),
            a.attached_at,
            now(),
        ],
    )?;
    Ok(())
}

pub(crate) fn attachment_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_attachments WHERE id = ?1", [id])?;
    Ok(())
}

/// Sets a volume's attach_status (`attached` / `detached`).
pub(crate) fn volume_set_attach_status(c: &Connection, id: &str, s: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET attach_status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, s, now()],
    )?;
    Ok(())
}

// ---- transfers ------------------------------------------------------------------

const TRANSFER_COLS: &str =
    "id, volume_id, name, source_project_id, salt, crypt_hash, no_snapshots, created_at";

fn transfer_from_row(r: &Row) -> rusqlite::Result<Transfer> {
    Ok(Transfer {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        name: r.get(2)?,
        source_project_id: r.get(3)?,
        salt: r.get(4)?,
        crypt_hash: r.get(5)?,
        no_snapshots: r.get(6)?,
        created_at: r.get(7)?,
    })
}

pub(crate) fn transfer_insert(c: &Connection, t: &Transfer) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_transfers (id, volume_id, name, source_project_id, salt, \
         crypt_hash, no_snapshots, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            t.id,
            t.volume_id,
            t.name,
            t.source_project_id,
            t.salt,
            t.crypt_hash,
            t.no_snapshots,
            t.created_at
        ],
    )?;
    Ok(())
}

pub(crate) fn transfer_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Transfer>> {
    c.query_row(
        &format!("SELECT {TRANSFER_COLS} FROM volume_transfers WHERE id = ?1"),
        [id],
        transfer_from_row,
    )
    .optional()
}

/// Transfers offered by `project` (every project's when None), newest first.
pub(crate) fn transfer_list(
    c: &Connection,
    project: Option<&str>,
) -> rusqlite::Result<Vec<Transfer>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {TRANSFER_COLS} FROM volume_transfers \
         WHERE ?1 IS NULL OR source_project_id = ?1 ORDER BY created_at DESC, id DESC"
    ))?;
    st.query_map([project], transfer_from_row)?.collect()
}

pub(crate) fn transfer_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_transfers WHERE id = ?1", [id])?;
    Ok(())
}

/// Gives a volume (and, unless `volume_only`, its snapshots) to another owner.
pub(crate) fn volume_give(
    c: &Connection,
    volume: &str,
    project: &str,
    user: &str,
    volume_only: bool,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volumes SET project_id = ?2, user_id = ?3, updated_at = ?4 WHERE id = ?1",
        params![volume, project, user, now()],
    )?;
    if !volume_only {
        c.execute(
            "UPDATE volume_snapshots SET project_id = ?2, user_id = ?3, updated_at = ?4 \
             WHERE volume_id = ?1",
            params![volume, project, user, now()],
        )?;
    }
    Ok(())
}

// ---- QoS specs --------------------------------------------------------------------

fn qos_from_row(r: &Row) -> rusqlite::Result<QosSpecs> {
    let specs: String = r.get(3)?;
    Ok(QosSpecs {
        id: r.get(0)?,
        name: r.get(1)?,
        consumer: r.get(2)?,
        specs: serde_json::from_str(&specs).unwrap_or_default(),
        created_at: r.get(4)?,
    })
}

pub(crate) fn qos_list(c: &Connection) -> rusqlite::Result<Vec<QosSpecs>> {
    let mut st = c.prepare_cached(
        "SELECT id, name, consumer, specs, created_at FROM volume_qos_specs \
         ORDER BY created_at DESC, id DESC",
    )?;
    st.query_map([], qos_from_row)?.collect()
}

pub(crate) fn qos_get(c: &Connection, id: &str) -> rusqlite::Result<Option<QosSpecs>> {
    c.query_row(
        "SELECT id, name, consumer, specs, created_at FROM volume_qos_specs WHERE id = ?1",
        [id],
        qos_from_row,
    )
    .optional()
}

pub(crate) fn qos_name_taken(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM volume_qos_specs WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// Inserts or rewrites a QoS specs row.
pub(crate) fn qos_put(c: &Connection, q: &QosSpecs) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_qos_specs (id, name, consumer, specs, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET \
         consumer = excluded.consumer, specs = excluded.specs",
        params![
            q.id,
            q.name,
            q.consumer,
            serde_json::to_string(&q.specs).unwrap_or_else(|_| "{}".into()),
            q.created_at
        ],
    )?;
    Ok(())
}

pub(crate) fn qos_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_types SET qos_specs_id = NULL WHERE qos_specs_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM volume_qos_specs WHERE id = ?1", [id])?;
    Ok(())
}

/// (id, name) of the volume types associated with QoS specs `id`.
pub(crate) fn qos_types(c: &Connection, id: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT id, name FROM volume_types WHERE qos_specs_id = ?1 ORDER BY name",
    )?;
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Associates a type with QoS specs (`None`: disassociates it).
pub(crate) fn type_set_qos(
    c: &Connection,
    type_id: &str,
    qos: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_types SET qos_specs_id = ?2 WHERE id = ?1",
        params![type_id, qos],
    )?;
    Ok(())
}

pub(crate) fn type_qos(c: &Connection, type_id: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT qos_specs_id FROM volume_types WHERE id = ?1",
        [type_id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

// ---- messages ---------------------------------------------------------------------

const MESSAGE_COLS: &str = "id, project_id, request_id, resource_type, resource_uuid, \
    event_id, message_level, user_message, created_at, expires_at";

fn message_from_row(r: &Row) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        project_id: r.get(1)?,
        request_id: r.get(2)?,
        resource_type: r.get(3)?,
        resource_uuid: r.get(4)?,
        event_id: r.get(5)?,
        message_level: r.get(6)?,
        user_message: r.get(7)?,
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
    })
}

pub(crate) fn message_insert(c: &Connection, m: &Message) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO volume_messages ({MESSAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            m.id,
            m.project_id,
            m.request_id,
            m.resource_type,
            m.resource_uuid,
            m.event_id,
            m.message_level,
            m.user_message,
            m.created_at,
            m.expires_at
        ],
    )?;
    Ok(())
}

pub(crate) fn message_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Message>> {
    c.query_row(
        &format!("SELECT {MESSAGE_COLS} FROM volume_messages WHERE id = ?1"),
        [id],
        message_from_row,
    )
    .optional()
}

/// Messages of `project` (every project's when None), newest first.
pub(crate) fn message_list(
    c: &Connection,
    project: Option<&str>,
) -> rusqlite::Result<Vec<Message>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM volume_messages WHERE ?1 IS NULL OR project_id = ?1 \
         ORDER BY created_at DESC, id DESC"
    ))?;
    st.query_map([project], message_from_row)?.collect()
}

pub(crate) fn message_delete(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_messages WHERE id = ?1", [id])?;
    Ok(())
}

// ---- backups ----------------------------------------------------------------------

const BACKUP_COLS: &str = "b.id, b.volume_id, b.snapshot_id, b.project_id, b.user_id, b.name, \
    b.description, b.size, b.status, b.availability_zone, b.container, b.is_incremental, \
    b.parent_id, b.object_count, b.metadata, b.volume_meta, b.task, b.fail_reason, \
    b.data_timestamp, b.created_at, b.updated_at, \
    EXISTS (SELECT 1 FROM volume_backups d WHERE d.parent_id = b.id)";

fn backup_from_row(r: &Row) -> rusqlite::Result<Backup> {
    let status: String = r.get(8)?;
    let metadata: String = r.get(14)?;
    let volume_meta: String = r.get(15)?;
    Ok(Backup {
        id: r.get(0)?,
        volume_id: r.get(1)?,
        snapshot_id: r.get(2)?,
        project_id: r.get(3)?,
        user_id: r.get(4)?,
        name: r.get(5)?,
        description: r.get(6)?,
        size: r.get(7)?,
        status: BackupStatus::parse(&status).unwrap_or(BackupStatus::Error),
        availability_zone: r.get(9)?,
        container: r.get(10)?,
        is_incremental: r.get(11)?,
        parent_id: r.get(12)?,
        object_count: r.get(13)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        volume_meta: serde_json::from_str(&volume_meta).unwrap_or_default(),
        task: r.get(16)?,
        fail_reason: r.get(17)?,
        data_timestamp: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        has_dependents: r.get(21)?,
    })
}

pub(crate) fn backup_insert(c: &Connection, b: &Backup) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_backups (id, volume_id, snapshot_id, project_id, user_id, name, \
         description, size, status, availability_zone, container, is_incremental, parent_id, \
         object_count, metadata, volume_meta, task, fail_reason, data_timestamp, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
        params![
            b.id,
            b.volume_id,
            b.snapshot_id,
            b.project_id,
            b.user_id,
            b.name,
            b.description,
            b.size,
            b.status.as_str(),
            b.availability_zone,
            b.container,
            b.is_incremental,
            b.parent_id,
            b.object_count,
            serde_json::to_string(&b.metadata).unwrap_or_else(|_| "{}".into()),
            serde_json::to_string(&b.volume_meta).unwrap_or_else(|_| "{}".into()),
            b.task,
            b.fail_reason,
            b.data_timestamp,
            b.created_at,
        ],
    )?;
    Ok(())
}

pub(crate) fn backup_get(c: &Connection, id: &str) -> rusqlite::Result<Option<Backup>> {
    c.query_row(
        &format!("SELECT {BACKUP_COLS} FROM volume_backups b WHERE b.id = ?1"),
        [id],
        backup_from_row,
    )
    .optional()
}

/// Backups of `project` (every project's when None), newest first.
pub(crate) fn backup_list(c: &Connection, project: Option<&str>) -> rusqlite::Result<Vec<Backup>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {BACKUP_COLS} FROM volume_backups b WHERE ?1 IS NULL OR b.project_id = ?1 \
         ORDER BY b.created_at DESC, b.id DESC"
    ))?;
    st.query_map([project], backup_from_row)?.collect()
}

pub(crate) fn backups_with_task(c: &Connection) -> rusqlite::Result<Vec<Backup>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {BACKUP_COLS} FROM volume_backups b WHERE b.task IS NOT NULL"
    ))?;
    st.query_map([], backup_from_row)?.collect()
}

/// The newest available backup of a volume: the parent of an incremental one.
pub(crate) fn backup_latest_of_volume(
    c: &Connection,
    volume: &str,
) -> rusqlite::Result<Option<Backup>> {
    c.query_row(
        &format!(
            "SELECT {BACKUP_COLS} FROM volume_backups b WHERE b.volume_id = ?1 \
             AND b.status = 'available' ORDER BY b.created_at DESC, b.id DESC LIMIT 1"
        ),
        [volume],
        backup_from_row,
    )
    .optional()
}

/// Whether a backup is being made from snapshot `id` (its data must stay).
pub(crate) fn backup_reads_snapshot(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM volume_backups WHERE snapshot_id = ?1 AND task = 'create')",
        [id],
        |r| r.get(0),
    )
}

pub(crate) fn backup_set_state(
    c: &Connection,
    id: &str,
    status: BackupStatus,
    task: Option<&str>,
    fail_reason: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_backups SET status = ?2, task = ?3, fail_reason = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![id, status.as_str(), task, fail_reason, now()],
    )?;
    Ok(())
}

pub(crate) fn backup_update(
    c: &Connection,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    metadata: &BTreeMap<String, String>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_backups SET name = ?2, description = ?3, metadata = ?4, updated_at = ?5 \
         WHERE id = ?1",
        params![
            id,
            name,
            description,
            serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into()),
            now()
        ],
    )?;
    Ok(())
}

pub(crate) fn backup_delete_row(c: &Connection, id: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM volume_backups WHERE id = ?1", [id])?;
    Ok(())
}

/// (count, GiB) of `project`'s backups, for the backup quotas.
pub(crate) fn backup_usage(c: &Connection, project: &str) -> rusqlite::Result<(i64, i64)> {
    c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volume_backups WHERE project_id = ?1",
        [project],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Restores what a backup recorded of its volume: metadata (merged), image
/// metadata and the bootable flag.
pub(crate) fn volume_apply_backup_meta(
    c: &Connection,
    id: &str,
    m: &BackedUpMeta,
) -> rusqlite::Result<()> {
    metadata_merge(c, id, "user", &m.metadata)?;
    metadata_merge(c, id, "image", &m.image_metadata)?;
    if m.bootable {
        volume_set_bootable(c, id, true)?;
    }
    Ok(())
}

/// `os-update_snapshot_status`: the status and progress a snapshot's creator reports.
pub(crate) fn snapshot_set_progress(
    c: &Connection,
    id: &str,
    status: SnapshotStatus,
    progress: Option<&str>,
) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE volume_snapshots SET status = ?2, progress = COALESCE(?3, progress), \
         updated_at = ?4 WHERE id = ?1",
        params![id, status.as_str(), progress, now()],
    )?;
    Ok(())
}

// ---- iSCSI exports --------------------------------------------------------------

/// A volume's iSCSI export; `chap_secret` is sealed.
#[derive(Debug, Clone)]
pub(crate) struct ExportRow {
    pub volume_id: String,
    pub target_iqn: String,
    pub chap_user: String,
    pub chap_secret: String,
}

fn export_row(r: &rusqlite::Row) -> rusqlite::Result<ExportRow> {
    Ok(ExportRow {
        volume_id: r.get(0)?,
        target_iqn: r.get(1)?,
        chap_user: r.get(2)?,
        chap_secret: r.get(3)?,
    })
}

pub(crate) fn export_get(c: &Connection, volume_id: &str) -> rusqlite::Result<Option<ExportRow>> {
    c.query_row(
        "SELECT volume_id, target_iqn, chap_user, chap_secret FROM volume_exports
         WHERE volume_id = ?1",
        [volume_id],
        export_row,
    )
    .optional()
}

pub(crate) fn export_list(c: &Connection) -> rusqlite::Result<Vec<ExportRow>> {
    let mut st = c.prepare(
        "SELECT volume_id, target_iqn, chap_user, chap_secret FROM volume_exports
         ORDER BY created_at, volume_id",
    )?;
    st.query_map([], export_row)?.collect()
}

pub(crate) fn export_insert(c: &Connection, e: &ExportRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO volume_exports (volume_id, target_iqn, chap_user, chap_secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![e.volume_id, e.target_iqn, e.chap_user, e.chap_secret, now()],
    )?;
    Ok(())
}

pub(crate) fn export_delete(c: &Connection, volume_id: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM volume_exports WHERE volume_id = ?1",
        [volume_id],
    )?;
    Ok(())
}
