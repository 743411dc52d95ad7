//! SQL for the image service, and nothing else.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::*;
use crate::http::error::{ApiError, ApiResult};

pub(crate) fn now() -> String {
    crate::http::time::iso_seconds(chrono::Utc::now())
}

const IMAGE_COLS: &str = "id, name, owner, status, visibility, protected, os_hidden, disk_format, \
    container_format, min_disk, min_ram, size, virtual_size, checksum, os_hash_algo, os_hash_value, \
    properties, tags, created_at, updated_at";

fn image_row(r: &Row) -> rusqlite::Result<Image> {
    let status: String = r.get(3)?;
    let props: String = r.get(16)?;
    let tags: String = r.get(17)?;
    Ok(Image {
        id: r.get(0)?,
        name: r.get(1)?,
        owner: r.get(2)?,
        status: ImageStatus::parse(&status).unwrap_or(ImageStatus::Killed),
        visibility: r.get(4)?,
        protected: r.get(5)?,
        os_hidden: r.get(6)?,
        disk_format: r.get(7)?,
        container_format: r.get(8)?,
        min_disk: r.get(9)?,
        min_ram: r.get(10)?,
        size: r.get(11)?,
        virtual_size: r.get(12)?,
        checksum: r.get(13)?,
        os_hash_algo: r.get(14)?,
        os_hash_value: r.get(15)?,
        properties: serde_json::from_str(&props).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
    })
}

pub(crate) fn image_insert(c: &Connection, i: &Image) -> ApiResult<()> {
    c.execute(
        &format!("INSERT INTO images ({IMAGE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"),
        params![
            i.id, i.name, i.owner, i.status.as_str(), i.visibility, i.protected, i.os_hidden,
            i.disk_format, i.container_format, i.min_disk, i.min_ram, i.size, i.virtual_size,
            i.checksum, i.os_hash_algo, i.os_hash_value,
            serde_json::Value::Object(i.properties.clone()).to_string(),
            serde_json::to_string(&i.tags).unwrap_or_else(|_| "[]".into()),
            i.created_at, i.updated_at
        ],
    )
    .map_err(|e| crate::http::error::conflict_on_unique(e, || format!("An image with identifier {} already exists", i.id)))?;
    Ok(())
}

/// Writes every mutable column of an image.
pub(crate) fn image_update(c: &Connection, i: &Image) -> ApiResult<()> {
    c.execute(
        "UPDATE images SET name = ?2, owner = ?3, status = ?4, visibility = ?5, protected = ?6,
            os_hidden = ?7, disk_format = ?8, container_format = ?9, min_disk = ?10, min_ram = ?11,
            size = ?12, virtual_size = ?13, checksum = ?14, os_hash_algo = ?15, os_hash_value = ?16,
            properties = ?17, tags = ?18, updated_at = ?19 WHERE id = ?1",
        params![
            i.id,
            i.name,
            i.owner,
            i.status.as_str(),
            i.visibility,
            i.protected,
            i.os_hidden,
            i.disk_format,
            i.container_format,
            i.min_disk,
            i.min_ram,
            i.size,
            i.virtual_size,
            i.checksum,
            i.os_hash_algo,
            i.os_hash_value,
            serde_json::Value::Object(i.properties.clone()).to_string(),
            serde_json::to_string(&i.tags).unwrap_or_else(|_| "[]".into()),
            i.updated_at
        ],
    )?;
    Ok(())
}

pub(crate) fn image_get(c: &Connection, id: &str) -> ApiResult<Option<Image>> {
    Ok(c.query_row(
        &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
        [id],
        image_row,
    )
    .optional()?)
}

pub(crate) fn image_list(c: &Connection) -> ApiResult<Vec<Image>> {
    let mut st = c.prepare(&format!("SELECT {IMAGE_COLS} FROM images"))?;
    let rows = st.query_map([], image_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn images_in_status(c: &Connection, status: ImageStatus) -> ApiResult<Vec<Image>> {
    let mut st = c.prepare(&format!(
        "SELECT {IMAGE_COLS} FROM images WHERE status = ?1"
    ))?;
    let rows = st
        .query_map([status.as_str()], image_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn image_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM images WHERE id = ?1", [id])?;
    Ok(())
}

/// Images and stored bytes a project owns, for quotas.
pub(crate) fn project_usage(c: &Connection, owner: &str) -> ApiResult<(i64, i64)> {
    Ok(c.query_row(
        "SELECT count(*), coalesce(sum(size), 0) FROM images WHERE owner = ?1",
        [owner],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

// --- members --------------------------------------------------------------------

fn member_row(r: &Row) -> rusqlite::Result<Member> {
    Ok(Member {
        image_id: r.get(0)?,
        member_id: r.get(1)?,
        status: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

pub(crate) fn member_insert(c: &Connection, m: &Member) -> ApiResult<()> {
    c.execute(
        "INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![m.image_id, m.member_id, m.status, m.created_at, m.updated_at],
    )
    .map_err(|e| {
        crate::http::error::conflict_on_unique(e, || format!("Member {} already exists for image {}", m.member_id, m.image_id))
    })?;
    Ok(())
}

pub(crate) fn member_update(c: &Connection, m: &Member) -> ApiResult<()> {
    c.execute(
        "UPDATE image_members SET status = ?3, updated_at = ?4 WHERE image_id = ?1 AND member_id = ?2",
        params![m.image_id, m.member_id, m.status, m.updated_at],
    )?;
    Ok(())
}

pub(crate) fn member_get(
    c: &Connection,
    image_id: &str,
    member_id: &str,
) -> ApiResult<Option<Member>> {
    Ok(c.query_row(
        "SELECT image_id, member_id, status, created_at, updated_at FROM image_members WHERE image_id = ?1 AND member_id = ?2",
        [image_id, member_id],
        member_row,
    )
    .optional()?)
}

pub(crate) fn member_list(c: &Connection, image_id: &str) -> ApiResult<Vec<Member>> {
    let mut st = c.prepare(
        "SELECT image_id, member_id, status, created_at, updated_at FROM image_members WHERE image_id = ?1 ORDER BY created_at, member_id",
    )?;
    let rows = st
        .query_map([image_id], member_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every membership of a project, keyed by image, for listing.
pub(crate) fn memberships_of(c: &Connection, member_id: &str) -> ApiResult<Vec<Member>> {
    let mut st = c.prepare(
        "SELECT image_id, member_id, status, created_at, updated_at FROM image_members WHERE member_id = ?1",
    )?;
    let rows = st
        .query_map([member_id], member_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn member_delete(c: &Connection, image_id: &str, member_id: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?2",
        [image_id, member_id],
    )? > 0)
}

// --- tasks ----------------------------------------------------------------------

const TASK_COLS: &str = "id, type, status, owner, image_id, input, result, message, created_at, updated_at, expires_at, \
     request_id, user_id";

fn task_row(r: &Row) -> rusqlite::Result<Task> {
    let input: String = r.get(5)?;
    let result: Option<String> = r.get(6)?;
    Ok(Task {
        id: r.get(0)?,
        task_type: r.get(1)?,
        status: r.get(2)?,
        owner: r.get(3)?,
        image_id: r.get(4)?,
        input: serde_json::from_str(&input).unwrap_or_default(),
        result: result.and_then(|s| serde_json::from_str(&s).ok()),
        message: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        expires_at: r.get(10)?,
        request_id: r.get(11)?,
        user_id: r.get(12)?,
    })
}

pub(crate) fn task_upsert(c: &Connection, t: &Task) -> ApiResult<()> {
    c.execute(
        &format!("INSERT INTO image_tasks ({TASK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
          ON CONFLICT (id) DO UPDATE SET status = excluded.status, result = excluded.result,
            message = excluded.message, updated_at = excluded.updated_at, expires_at = excluded.expires_at"),
        params![
            t.id, t.task_type, t.status, t.owner, t.image_id, t.input.to_string(),
            t.result.as_ref().map(|r| r.to_string()), t.message, t.created_at, t.updated_at, t.expires_at,
            t.request_id, t.user_id
        ],
    )?;
    Ok(())
}

pub(crate) fn task_get(c: &Connection, id: &str) -> ApiResult<Option<Task>> {
    Ok(c.query_row(
        &format!("SELECT {TASK_COLS} FROM image_tasks WHERE id = ?1"),
        [id],
        task_row,
    )
    .optional()?)
}

pub(crate) fn task_list(c: &Connection) -> ApiResult<Vec<Task>> {
    let mut st = c.prepare(&format!(
        "SELECT {TASK_COLS} FROM image_tasks ORDER BY created_at DESC, id"
    ))?;
    let rows = st.query_map([], task_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn tasks_in_status(c: &Connection, status: &str) -> ApiResult<Vec<Task>> {
    let mut st = c.prepare(&format!(
        "SELECT {TASK_COLS} FROM image_tasks WHERE status = ?1"
    ))?;
    let rows = st
        .query_map([status], task_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("No image found with ID {id}"))
}

pub(crate) fn count(c: &Connection) -> ApiResult<i64> {
    Ok(c.query_row("SELECT count(*) FROM images", [], |r| r.get(0))?)
}
