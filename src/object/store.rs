//! All SQL of the object service: accounts, containers, objects, listings, usage
//! counters and the reap list of files no row references.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{Account, Container, Entry, ListQuery, Meta, Object};

pub(crate) type Res<T> = rusqlite::Result<T>;

fn meta_of(s: String) -> Meta {
    serde_json::from_str(&s).unwrap_or_default()
}

fn meta_json(m: &Meta) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn account_get(c: &Connection, account: &str) -> Res<Option<Account>> {
    let row = c
        .query_row(
            "SELECT created_at, put_ts, meta FROM swift_accounts WHERE account = ?1",
            [account],
            |r| {
                Ok((
                    r.get::<_, f64>(0)?,
                    r.get::<_, f64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((created_at, put_ts, meta)) = row else {
        return Ok(None);
    };
    let (container_count, object_count, bytes_used) = c.query_row(
        "SELECT COUNT(*), COALESCE(SUM(object_count), 0), COALESCE(SUM(bytes_used), 0)
         FROM swift_containers WHERE account = ?1",
        [account],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    )?;
    Ok(Some(Account {
        account: account.to_owned(),
        created_at,
        put_ts,
        meta: meta_of(meta),
        container_count: container_count as u64,
        object_count: object_count as u64,
        bytes_used: bytes_used as u64,
    }))
}

/// Creates the account on first use (Swift's `account_autocreate`).
pub(crate) fn account_ensure(c: &Connection, account: &str, ts: f64) -> Res<()> {
    c.execute(
        "INSERT OR IGNORE INTO swift_accounts (account, created_at, put_ts) VALUES (?1, ?2, ?2)",
        params![account, ts],
    )?;
    Ok(())
}

pub(crate) fn account_set_meta(c: &Connection, account: &str, meta: &Meta) -> Res<()> {
    c.execute(
        "UPDATE swift_accounts SET meta = ?2 WHERE account = ?1",
        params![account, meta_json(meta)],
    )?;
    Ok(())
}

fn container_row(r: &Row) -> Res<Container> {
    Ok(Container {
        name: r.get(0)?,
        created_at: r.get(1)?,
        put_ts: r.get(2)?,
        meta: meta_of(r.get(3)?),
        object_count: r.get::<_, i64>(4)? as u64,
        bytes_used: r.get::<_, i64>(5)? as u64,
    })
}

const CONTAINER_COLS: &str = "name, created_at, put_ts, meta, object_count, bytes_used";

pub(crate) fn container_get(c: &Connection, account: &str, name: &str) -> Res<Option<Container>> {
    c.query_row(
        &format!("SELECT {CONTAINER_COLS} FROM swift_containers WHERE account = ?1 AND name = ?2"),
        params![account, name],
        container_row,
    )
    .optional()
}

/// Creates the container; false when it already existed.
pub(crate) fn container_insert(
    c: &Connection,
    account: &str,
    name: &str,
    ts: f64,
    meta: &Meta,
) -> Res<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO swift_containers (account, name, created_at, put_ts, meta)
         VALUES (?1, ?2, ?3, ?3, ?4)",
        params![account, name, ts, meta_json(meta)],
    )?;
    Ok(n == 1)
}

pub(crate) fn container_set_meta(
    c: &Connection,
    account: &str,
    name: &str,
    meta: &Meta,
) -> Res<()> {
    c.execute(
        "UPDATE swift_containers SET meta = ?3 WHERE account = ?1 AND name = ?2",
        params![account, name, meta_json(meta)],
    )?;
    Ok(())
}

pub(crate) fn container_delete(c: &Connection, account: &str, name: &str) -> Res<()> {
    c.execute(
        "DELETE FROM swift_containers WHERE account = ?1 AND name = ?2",
        params![account, name],
    )?;
    Ok(())
}

/// One page of names in key order (or reverse), after `marker`, before `end_marker`,
/// starting with `prefix`.
fn page(
    c: &Connection,
    sql_base: &str,
    keys: &[&dyn rusqlite::ToSql],
    q: &ListQuery,
    after: Option<&str>,
    limit: usize,
) -> Res<Vec<String>> {
    let (cmp_after, cmp_end, order) = if q.reverse {
        ("<", ">", "DESC")
    } else {
        (">", "<", "ASC")
    };
    let mut sql = sql_base.to_owned();
    let mut args: Vec<&dyn rusqlite::ToSql> = keys.to_vec();
    let prefix_len = q.prefix.as_ref().map(|p| p.len() as i64);
    if let Some(a) = &after {
        args.push(a);
        sql += &format!(" AND name {cmp_after} ?{}", args.len());
    }
    if let Some(e) = &q.end_marker {
        args.push(e);
        sql += &format!(" AND name {cmp_end} ?{}", args.len());
    }
    if let (Some(p), Some(len)) = (&q.prefix, &prefix_len) {
        args.push(len);
        let l = args.len();
        args.push(p);
        sql += &format!(
            " AND substr(CAST(name AS BLOB), 1, ?{l}) = CAST(?{} AS BLOB)",
            args.len()
        );
    }
    let lim = limit as i64;
    args.push(&lim);
    sql += &format!(" ORDER BY name {order} LIMIT ?{}", args.len());
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(args.as_slice(), |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Names for a listing, with the delimiter's roll-up into `subdir` entries (each
/// subdir counts once toward the limit, as in Swift).
fn list_names(
    c: &Connection,
    sql_base: &str,
    keys: &[&dyn rusqlite::ToSql],
    q: &ListQuery,
) -> Res<Vec<Entry<String>>> {
    let mut out = Vec::new();
    let mut after = q.marker.clone();
    let prefix = q.prefix.clone().unwrap_or_default();
    while out.len() < q.limit {
        let want = q.limit - out.len();
        let names = page(c, sql_base, keys, q, after.as_deref(), want)?;
        if names.is_empty() {
            break;
        }
        let full = names.len() == want;
        let mut jumped = false;
        for name in names {
            after = Some(name.clone());
            if let Some(d) = q.delimiter {
                let rest = &name[prefix.len()..];
                if let Some(i) = rest.find(d) {
                    let sub = format!("{prefix}{}", &rest[..i + d.len_utf8()]);
                    if out
                        .last()
                        .is_none_or(|e: &Entry<String>| e.key(|s| s.as_str()) != sub)
                    {
                        out.push(Entry::Subdir(sub.clone()));
                    }
                    // Skip every name under this subdir.
                    // (forward: past every name below it; the highest code point
                    // sorts after any UTF-8 a name can hold there)
                    after = Some(if q.reverse {
                        sub.clone()
                    } else {
                        format!("{sub}{}", "\u{10FFFF}".repeat(4))
                    });
                    jumped = true;
                    break;
                }
            }
            out.push(Entry::Item(name));
            if out.len() >= q.limit {
                break;
            }
        }
        if !full && !jumped {
            break;
        }
    }
    Ok(out)
}

pub(crate) fn container_list(
    c: &Connection,
    account: &str,
    q: &ListQuery,
) -> Res<Vec<Entry<Container>>> {
    let names = list_names(
        c,
        "SELECT name FROM swift_containers WHERE account = ?1",
        &[&account],
        q,
    )?;
    let mut out = Vec::with_capacity(names.len());
    for e in names {
        match e {
            Entry::Subdir(s) => out.push(Entry::Subdir(s)),
            Entry::Item(n) => {
                if let Some(ct) = container_get(c, account, &n)? {
                    out.push(Entry::Item(ct));
                }
            }
        }
    }
    Ok(out)
}

const OBJECT_COLS: &str = "account, container, name, size, etag, content_type, ts, meta, blob, \
     delete_at, dlo_manifest, slo_manifest";

fn object_row(r: &Row) -> Res<Object> {
    Ok(Object {
        account: r.get(0)?,
        container: r.get(1)?,
        name: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        etag: r.get(4)?,
        content_type: r.get(5)?,
        ts: r.get(6)?,
        meta: meta_of(r.get(7)?),
        blob: r.get(8)?,
        delete_at: r.get(9)?,
        dlo_manifest: r.get(10)?,
        slo_manifest: r.get(11)?,
    })
}

/// The live object (an expired one is gone at once, before the expirer reaps it).
pub(crate) fn object_get(
    c: &Connection,
    account: &str,
    container: &str,
    name: &str,
    now: i64,
) -> Res<Option<Object>> {
    c.query_row(
        &format!(
            "SELECT {OBJECT_COLS} FROM swift_objects WHERE account = ?1 AND container = ?2
             AND name = ?3 AND (delete_at IS NULL OR delete_at > ?4)"
        ),
        params![account, container, name, now],
        object_row,
    )
    .optional()
}

/// Objects of a listing; expired ones are filtered after the page is cut, which can
/// only shorten a page while they wait for the expirer.
pub(crate) fn object_list(
    c: &Connection,
    account: &str,
    container: &str,
    q: &ListQuery,
    now: i64,
) -> Res<Vec<Entry<Object>>> {
    let names = list_names(
        c,
        "SELECT name FROM swift_objects WHERE account = ?1 AND container = ?2",
        &[&account, &container],
        q,
    )?;
    let mut out = Vec::with_capacity(names.len());
    for e in names {
        match e {
            Entry::Subdir(s) => out.push(Entry::Subdir(s)),
            Entry::Item(n) => {
                if let Some(o) = object_get(c, account, container, &n, now)? {
                    out.push(Entry::Item(o));
                }
            }
        }
    }
    Ok(out)
}

/// Removes the object's row, fixes the counters and queues its file for reaping.
/// Returns the removed row.
pub(crate) fn object_remove(
    c: &Connection,
    account: &str,
    container: &str,
    name: &str,
) -> Res<Option<Object>> {
    let old = c
        .query_row(
            &format!(
                "SELECT {OBJECT_COLS} FROM swift_objects WHERE account = ?1 AND container = ?2 AND name = ?3"
            ),
            params![account, container, name],
            object_row,
        )
        .optional()?;
    if let Some(o) = &old {
        c.execute(
            "DELETE FROM swift_objects WHERE account = ?1 AND container = ?2 AND name = ?3",
            params![account, container, name],
        )?;
        c.execute(
            "UPDATE swift_containers SET object_count = object_count - 1,
             bytes_used = bytes_used - ?3 WHERE account = ?1 AND name = ?2",
            params![account, container, o.size as i64],
        )?;
        if let Some(b) = &o.blob {
            reap_push(c, b)?;
        }
    }
    Ok(old)
}

/// Takes the row out without reaping its file (the file moves to another row).
pub(crate) fn object_detach(
    c: &Connection,
    account: &str,
    container: &str,
    name: &str,
) -> Res<Option<Object>> {
    let old = object_remove(c, account, container, name)?;
    if let Some(b) = old.as_ref().and_then(|o| o.blob.as_ref()) {
        c.execute("DELETE FROM swift_reap WHERE blob = ?1", [b])?;
    }
    Ok(old)
}

/// Inserts (the caller removed any previous row first) and counts the object.
pub(crate) fn object_insert(c: &Connection, o: &Object) -> Res<()> {
    c.execute(
        &format!("INSERT INTO swift_objects ({OBJECT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            o.account,
            o.container,
            o.name,
            o.size as i64,
            o.etag,
            o.content_type,
            o.ts,
            meta_json(&o.meta),
            o.blob,
            o.delete_at,
            o.dlo_manifest,
            o.slo_manifest
        ],
    )?;
    c.execute(
        "UPDATE swift_containers SET object_count = object_count + 1,
         bytes_used = bytes_used + ?3 WHERE account = ?1 AND name = ?2",
        params![o.account, o.container, o.size as i64],
    )?;
    Ok(())
}

/// Metadata-only update (POST): user metadata, content type, expiry.
pub(crate) fn object_update_meta(c: &Connection, o: &Object) -> Res<()> {
    c.execute(
        "UPDATE swift_objects SET meta = ?4, content_type = ?5, delete_at = ?6, ts = ?7,
         dlo_manifest = ?8
         WHERE account = ?1 AND container = ?2 AND name = ?3",
        params![
            o.account,
            o.container,
            o.name,
            meta_json(&o.meta),
            o.content_type,
            o.delete_at,
            o.ts,
            o.dlo_manifest
        ],
    )?;
    Ok(())
}

/// Whether the container holds any row (expired ones still count until reaped,
/// as in Swift).
pub(crate) fn container_has_objects(c: &Connection, account: &str, container: &str) -> Res<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM swift_objects WHERE account = ?1 AND container = ?2)",
        params![account, container],
        |r| r.get(0),
    )
}

/// Expired objects, oldest first.
pub(crate) fn expired(
    c: &Connection,
    now: i64,
    limit: usize,
) -> Res<Vec<(String, String, String)>> {
    let mut st = c.prepare_cached(
        "SELECT account, container, name FROM swift_objects
         WHERE delete_at IS NOT NULL AND delete_at <= ?1 ORDER BY delete_at LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}

pub(crate) fn reap_push(c: &Connection, blob: &str) -> Res<()> {
    c.execute(
        "INSERT OR IGNORE INTO swift_reap (blob) VALUES (?1)",
        [blob],
    )?;
    Ok(())
}

pub(crate) fn reap_list(c: &Connection) -> Res<Vec<String>> {
    let mut st = c.prepare_cached("SELECT blob FROM swift_reap LIMIT 1000")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

pub(crate) fn reap_done(c: &Connection, blob: &str) -> Res<()> {
    c.execute("DELETE FROM swift_reap WHERE blob = ?1", [blob])?;
    Ok(())
}

/// Every file a row references (for the start-up sweep of orphans).
pub(crate) fn all_blobs(c: &Connection) -> Res<std::collections::HashSet<String>> {
    let mut st = c.prepare("SELECT blob FROM swift_objects WHERE blob IS NOT NULL")?;
    let rows = st.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Containers that sync to another (`X-Container-Sync-To` set): (account, name, meta).
pub(crate) fn sync_sources(c: &Connection) -> Res<Vec<(String, String, Meta)>> {
    let mut st = c.prepare_cached(
        "SELECT account, name, meta FROM swift_containers
         WHERE meta LIKE '%\"x-container-sync-to\"%'",
    )?;
    let rows = st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, meta_of(r.get::<_, String>(2)?)))
    })?;
    rows.collect()
}

/// Records (or moves forward) the delete of `name` in a syncing container.
pub(crate) fn tombstone_put(
    c: &Connection,
    account: &str,
    container: &str,
    name: &str,
    ts: f64,
) -> Res<()> {
    c.execute(
        "INSERT INTO swift_tombstones (account, container, name, ts) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account, container, name) DO UPDATE SET ts = MAX(ts, excluded.ts)",
        params![account, container, name, ts],
    )?;
    Ok(())
}

/// Deletes in a container after `ts` as (name, timestamp), oldest first.
pub(crate) fn tombstones_since(
    c: &Connection,
    account: &str,
    container: &str,
    ts: f64,
    limit: usize,
) -> Res<Vec<(String, f64)>> {
    let mut st = c.prepare_cached(
        "SELECT name, ts FROM swift_tombstones WHERE account = ?1 AND container = ?2 AND ts > ?3
         ORDER BY ts LIMIT ?4",
    )?;
    let rows = st.query_map(params![account, container, ts, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

/// Forgets deletes older than `before` (seconds since the epoch).
pub(crate) fn tombstones_reap(c: &Connection, before: f64) -> Res<usize> {
    c.execute(
        "DELETE FROM swift_tombstones WHERE ts < ?1",
        params![before],
    )
}

/// Live objects of a container changed after `ts`, oldest first.
pub(crate) fn objects_since(
    c: &Connection,
    account: &str,
    container: &str,
    ts: f64,
    now: i64,
    limit: usize,
) -> Res<Vec<Object>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {OBJECT_COLS} FROM swift_objects WHERE account = ?1 AND container = ?2
         AND ts > ?3 AND (delete_at IS NULL OR delete_at > ?4) ORDER BY ts LIMIT ?5"
    ))?;
    let rows = st.query_map(
        params![account, container, ts, now, limit as i64],
        object_row,
    )?;
    rows.collect()
}
