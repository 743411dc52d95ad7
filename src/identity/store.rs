//! SQL for the identity service, and nothing else. Constraint violations become
//! Conflict here, so handlers never see SQLite errors.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::*;
use crate::http::error::ApiResult;
use crate::http::error::conflict_on_unique;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    crate::http::time::iso_micros(t)
}

fn now() -> String {
    ts(Utc::now())
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn json_vec(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn dup(what: &'static str, name: &str) -> impl FnOnce() -> String {
    let name = name.to_owned();
    move || {
        format!(
            "Conflict occurred attempting to store {what} - Duplicate entry found with name {name}."
        )
    }
}

// --- domains --------------------------------------------------------------------

const DOMAIN_COLS: &str = "id, name, description, enabled, tags";

fn domain_row(r: &Row) -> rusqlite::Result<Domain> {
    Ok(Domain {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        tags: json_vec(r.get(4)?),
    })
}

pub(crate) fn domain_insert(c: &Connection, d: &Domain) -> ApiResult<()> {
    c.execute(
        "INSERT INTO domains (id, name, description, enabled, tags, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![d.id, d.name, d.description, d.enabled, to_json(&d.tags), now()],
    )
    .map_err(|e| conflict_on_unique(e, dup("domain", &d.name)))?;
    Ok(())
}

pub(crate) fn domain_update(c: &Connection, d: &Domain) -> ApiResult<()> {
    c.execute(
        "UPDATE domains SET name = ?2, description = ?3, enabled = ?4, tags = ?5 WHERE id = ?1",
        params![d.id, d.name, d.description, d.enabled, to_json(&d.tags)],
    )
    .map_err(|e| conflict_on_unique(e, dup("domain", &d.name)))?;
    Ok(())
}

pub(crate) fn domain_get(c: &Connection, id: &str) -> ApiResult<Option<Domain>> {
    Ok(c.query_row(
        &format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = ?1"),
        [id],
        domain_row,
    )
    .optional()?)
}

pub(crate) fn domain_by_name(c: &Connection, name: &str) -> ApiResult<Option<Domain>> {
    Ok(c.query_row(
        &format!("SELECT {DOMAIN_COLS} FROM domains WHERE name = ?1"),
        [name],
        domain_row,
    )
    .optional()?)
}

pub(crate) fn domain_list(c: &Connection) -> ApiResult<Vec<Domain>> {
    let mut st = c.prepare(&format!("SELECT {DOMAIN_COLS} FROM domains ORDER BY id"))?;
    let rows = st.query_map([], domain_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deletes a domain and everything it owns (projects, users, groups and their grants).
pub(crate) fn domain_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM assignments WHERE (actor_type = 'user' AND actor_id IN (SELECT id FROM users WHERE domain_id = ?1))
            OR (actor_type = 'group' AND actor_id IN (SELECT id FROM groups WHERE domain_id = ?1))
            OR (target_type = 'project' AND target_id IN (SELECT id FROM projects WHERE domain_id = ?1))
            OR (target_type = 'domain' AND target_id = ?1)",
        [id],
    )?;
    c.execute("DELETE FROM users WHERE domain_id = ?1", [id])?;
    c.execute("DELETE FROM groups WHERE domain_id = ?1", [id])?;
    c.execute(
        "UPDATE projects SET parent_id = NULL WHERE domain_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM projects WHERE domain_id = ?1", [id])?;
    c.execute("DELETE FROM roles WHERE domain_id = ?1", [id])?;
    c.execute("DELETE FROM domains WHERE id = ?1", [id])?;
    Ok(())
}

// --- projects -------------------------------------------------------------------

const PROJECT_COLS: &str = "id, name, domain_id, parent_id, description, enabled, tags";

fn project_row(r: &Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        domain_id: r.get(2)?,
        parent_id: r.get(3)?,
        description: r.get(4)?,
        enabled: r.get(5)?,
        tags: json_vec(r.get(6)?),
        is_domain: false,
    })
}

pub(crate) fn project_insert(c: &Connection, p: &Project) -> ApiResult<()> {
    c.execute(
        "INSERT INTO projects (id, name, domain_id, parent_id, description, enabled, tags, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![p.id, p.name, p.domain_id, p.parent_id, p.description, p.enabled, to_json(&p.tags), now()],
    )
    .map_err(|e| conflict_on_unique(e, dup("project", &p.name)))?;
    Ok(())
}

pub(crate) fn project_update(c: &Connection, p: &Project) -> ApiResult<()> {
    c.execute(
        "UPDATE projects SET name = ?2, description = ?3, enabled = ?4, tags = ?5 WHERE id = ?1",
        params![p.id, p.name, p.description, p.enabled, to_json(&p.tags)],
    )
    .map_err(|e| conflict_on_unique(e, dup("project", &p.name)))?;
    Ok(())
}

pub(crate) fn project_get(c: &Connection, id: &str) -> ApiResult<Option<Project>> {
    Ok(c.query_row(
        &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"),
        [id],
        project_row,
    )
    .optional()?)
}

pub(crate) fn project_by_name(
    c: &Connection,
    domain_id: &str,
    name: &str,
) -> ApiResult<Option<Project>> {
    Ok(c.query_row(
        &format!("SELECT {PROJECT_COLS} FROM projects WHERE domain_id = ?1 AND name = ?2"),
        [domain_id, name],
        project_row,
    )
    .optional()?)
}

pub(crate) fn project_list(c: &Connection) -> ApiResult<Vec<Project>> {
    let mut st = c.prepare(&format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id"))?;
    let rows = st.query_map([], project_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn project_has_children(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM projects WHERE parent_id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

pub(crate) fn project_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM assignments WHERE target_type = 'project' AND target_id = ?1",
        [id],
    )?;
    c.execute(
        "UPDATE users SET default_project_id = NULL WHERE default_project_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM projects WHERE id = ?1", [id])?;
    Ok(())
}

// --- users ----------------------------------------------------------------------

const USER_COLS: &str = "id, name, domain_id, enabled, password_hash, default_project_id, extra";

fn user_row(r: &Row) -> rusqlite::Result<User> {
    let extra: String = r.get(6)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        domain_id: r.get(2)?,
        enabled: r.get(3)?,
        password_hash: r.get(4)?,
        default_project_id: r.get(5)?,
        extra: serde_json::from_str(&extra).unwrap_or_default(),
    })
}

pub(crate) fn user_insert(c: &Connection, u: &User) -> ApiResult<()> {
    c.execute(
        "INSERT INTO users (id, name, domain_id, enabled, password_hash, default_project_id, extra, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![u.id, u.name, u.domain_id, u.enabled, u.password_hash, u.default_project_id, to_json(&u.extra), now()],
    )
    .map_err(|e| conflict_on_unique(e, dup("user", &u.name)))?;
    Ok(())
}

pub(crate) fn user_update(c: &Connection, u: &User) -> ApiResult<()> {
    c.execute(
        "UPDATE users SET name = ?2, enabled = ?3, password_hash = ?4, default_project_id = ?5, extra = ?6
         WHERE id = ?1",
        params![u.id, u.name, u.enabled, u.password_hash, u.default_project_id, to_json(&u.extra)],
    )
    .map_err(|e| conflict_on_unique(e, dup("user", &u.name)))?;
    Ok(())
}

pub(crate) fn user_get(c: &Connection, id: &str) -> ApiResult<Option<User>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        user_row,
    )
    .optional()?)
}

pub(crate) fn user_by_name(c: &Connection, domain_id: &str, name: &str) -> ApiResult<Option<User>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE domain_id = ?1 AND name = ?2"),
        [domain_id, name],
        user_row,
    )
    .optional()?)
}

pub(crate) fn user_list(c: &Connection) -> ApiResult<Vec<User>> {
    let mut st = c.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY id"))?;
    let rows = st.query_map([], user_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn user_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM assignments WHERE actor_type = 'user' AND actor_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(())
}

// --- groups ---------------------------------------------------------------------

const GROUP_COLS: &str = "id, name, domain_id, description";

fn group_row(r: &Row) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        domain_id: r.get(2)?,
        description: r.get(3)?,
    })
}

pub(crate) fn group_insert(c: &Connection, g: &Group) -> ApiResult<()> {
    c.execute(
        "INSERT INTO groups (id, name, domain_id, description) VALUES (?1, ?2, ?3, ?4)",
        params![g.id, g.name, g.domain_id, g.description],
    )
    .map_err(|e| conflict_on_unique(e, dup("group", &g.name)))?;
    Ok(())
}

pub(crate) fn group_update(c: &Connection, g: &Group) -> ApiResult<()> {
    c.execute(
        "UPDATE groups SET name = ?2, description = ?3 WHERE id = ?1",
        params![g.id, g.name, g.description],
    )
    .map_err(|e| conflict_on_unique(e, dup("group", &g.name)))?;
    Ok(())
}

pub(crate) fn group_get(c: &Connection, id: &str) -> ApiResult<Option<Group>> {
    Ok(c.query_row(
        &format!("SELECT {GROUP_COLS} FROM groups WHERE id = ?1"),
        [id],
        group_row,
    )
    .optional()?)
}

pub(crate) fn group_list(c: &Connection) -> ApiResult<Vec<Group>> {
    let mut st = c.prepare(&format!("SELECT {GROUP_COLS} FROM groups ORDER BY id"))?;
    let rows = st.query_map([], group_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn group_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute(
        "DELETE FROM assignments WHERE actor_type = 'group' AND actor_id = ?1",
        [id],
    )?;
    c.execute("DELETE FROM groups WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn group_member_add(c: &Connection, group_id: &str, user_id: &str) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?1, ?2)",
        [group_id, user_id],
    )?;
    Ok(())
}

pub(crate) fn group_member_remove(
    c: &Connection,
    group_id: &str,
    user_id: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
        [group_id, user_id],
    )? > 0)
}

pub(crate) fn group_member_exists(
    c: &Connection,
    group_id: &str,
    user_id: &str,
) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = ?1 AND user_id = ?2)",
        [group_id, user_id],
        |r| r.get(0),
    )?)
}

pub(crate) fn group_users(c: &Connection, group_id: &str) -> ApiResult<Vec<User>> {
    let mut st = c.prepare(&format!(
        "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = ?1 ORDER BY u.id",
        USER_COLS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
    ))?;
    let rows = st
        .query_map([group_id], user_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn user_groups(c: &Connection, user_id: &str) -> ApiResult<Vec<Group>> {
    let mut st = c.prepare(
        "SELECT g.id, g.name, g.domain_id, g.description FROM groups g
         JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ?1 ORDER BY g.id",
    )?;
    let rows = st
        .query_map([user_id], group_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --- roles ----------------------------------------------------------------------

const ROLE_COLS: &str = "id, name, domain_id, description";

fn role_row(r: &Row) -> rusqlite::Result<Role> {
    Ok(Role {
        id: r.get(0)?,
        name: r.get(1)?,
        domain_id: r.get(2)?,
        description: r.get(3)?,
    })
}

pub(crate) fn role_insert(c: &Connection, r: &Role) -> ApiResult<()> {
    c.execute(
        "INSERT INTO roles (id, name, domain_id, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![r.id, r.name, r.domain_id, r.description, now()],
    )
    .map_err(|e| conflict_on_unique(e, dup("role", &r.name)))?;
    Ok(())
}

pub(crate) fn role_update(c: &Connection, r: &Role) -> ApiResult<()> {
    c.execute(
        "UPDATE roles SET name = ?2, description = ?3 WHERE id = ?1",
        params![r.id, r.name, r.description],
    )
    .map_err(|e| conflict_on_unique(e, dup("role", &r.name)))?;
    Ok(())
}

pub(crate) fn role_get(c: &Connection, id: &str) -> ApiResult<Option<Role>> {
    Ok(c.query_row(
        &format!("SELECT {ROLE_COLS} FROM roles WHERE id = ?1"),
        [id],
        role_row,
    )
    .optional()?)
}

pub(crate) fn role_by_name(c: &Connection, name: &str) -> ApiResult<Option<Role>> {
    Ok(c.query_row(
        &format!("SELECT {ROLE_COLS} FROM roles WHERE name = ?1 AND domain_id IS NULL"),
        [name],
        role_row,
    )
    .optional()?)
}

pub(crate) fn role_list(c: &Connection) -> ApiResult<Vec<Role>> {
    let mut st = c.prepare(&format!("SELECT {ROLE_COLS} FROM roles ORDER BY id"))?;
    let rows = st.query_map([], role_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn role_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM roles WHERE id = ?1", [id])?;
    Ok(())
}

pub(crate) fn implied_role_add(c: &Connection, prior: &str, implied: &str) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO implied_roles (prior_role_id, implied_role_id) VALUES (?1, ?2)",
        [prior, implied],
    )?;
    Ok(())
}

pub(crate) fn implied_role_remove(c: &Connection, prior: &str, implied: &str) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM implied_roles WHERE prior_role_id = ?1 AND implied_role_id = ?2",
        [prior, implied],
    )? > 0)
}

/// Every (prior, implied) pair.
pub(crate) fn implied_role_list(c: &Connection) -> ApiResult<Vec<(String, String)>> {
    let mut st =
        c.prepare("SELECT prior_role_id, implied_role_id FROM implied_roles ORDER BY 1, 2")?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --- assignments ----------------------------------------------------------------

fn assignment_row(r: &Row) -> rusqlite::Result<Assignment> {
    let at: String = r.get(0)?;
    let tt: String = r.get(2)?;
    Ok(Assignment {
        actor_type: ActorType::parse(&at).unwrap_or(ActorType::User),
        actor_id: r.get(1)?,
        target_type: TargetType::parse(&tt).unwrap_or(TargetType::Project),
        target_id: r.get(3)?,
        role_id: r.get(4)?,
        inherited: r.get(5)?,
    })
}

pub(crate) fn assignment_add(c: &Connection, a: &Assignment) -> ApiResult<()> {
    c.execute(
        "INSERT OR IGNORE INTO assignments (actor_type, actor_id, target_type, target_id, role_id, inherited)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![a.actor_type.as_str(), a.actor_id, a.target_type.as_str(), a.target_id, a.role_id, a.inherited],
    )?;
    Ok(())
}

pub(crate) fn assignment_remove(c: &Connection, a: &Assignment) -> ApiResult<bool> {
    Ok(c.execute(
        "DELETE FROM assignments WHERE actor_type = ?1 AND actor_id = ?2 AND target_type = ?3
           AND target_id = ?4 AND role_id = ?5 AND inherited = ?6",
        params![
            a.actor_type.as_str(),
            a.actor_id,
            a.target_type.as_str(),
            a.target_id,
            a.role_id,
            a.inherited
        ],
    )? > 0)
}

pub(crate) fn assignment_exists(c: &Connection, a: &Assignment) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE actor_type = ?1 AND actor_id = ?2 AND target_type = ?3
           AND target_id = ?4 AND role_id = ?5 AND inherited = ?6)",
        params![a.actor_type.as_str(), a.actor_id, a.target_type.as_str(), a.target_id, a.role_id, a.inherited],
        |r| r.get(0),
    )?)
}

pub(crate) fn assignment_list(c: &Connection) -> ApiResult<Vec<Assignment>> {
    let mut st = c.prepare(
        "SELECT actor_type, actor_id, target_type, target_id, role_id, inherited FROM assignments
         ORDER BY actor_type, actor_id, target_type, target_id, role_id",
    )?;
    let rows = st
        .query_map([], assignment_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The roles a user holds on the given targets, directly or through a group, with
/// implied roles expanded. `targets` are `type:id:inherited` keys.
pub(crate) fn effective_roles(
    c: &Connection,
    user_id: &str,
    targets: &[String],
) -> ApiResult<Vec<Role>> {
    let targets = to_json(&targets);
    let mut st = c.prepare_cached(
        "WITH RECURSIVE
           direct(role_id) AS (
             SELECT a.role_id FROM assignments a
              WHERE ((a.actor_type = 'user' AND a.actor_id = ?1)
                  OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?1)))
                AND (a.target_type || ':' || a.target_id || ':' || a.inherited) IN (SELECT value FROM json_each(?2))),
           eff(role_id) AS (
             SELECT role_id FROM direct
             UNION SELECT i.implied_role_id FROM implied_roles i JOIN eff ON i.prior_role_id = eff.role_id)
         SELECT r.id, r.name, r.domain_id, r.description FROM roles r JOIN eff ON r.id = eff.role_id
          WHERE r.domain_id IS NULL ORDER BY r.name",
    )?;
    let rows = st
        .query_map(params![user_id, targets], role_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every project on which a user holds any role (directly, via a group, or inherited
/// from the project's domain).
pub(crate) fn projects_with_roles(c: &Connection, user_id: &str) -> ApiResult<Vec<Project>> {
    let mut st = c.prepare(&format!(
        "SELECT {} FROM projects p WHERE EXISTS (
            SELECT 1 FROM assignments a
             WHERE ((a.actor_type = 'user' AND a.actor_id = ?1)
                 OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?1)))
               AND ((a.target_type = 'project' AND a.target_id = p.id)
                 OR (a.target_type = 'domain' AND a.target_id = p.domain_id AND a.inherited = 1)))
         ORDER BY p.id",
        PROJECT_COLS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
    ))?;
    let rows = st
        .query_map([user_id], project_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every domain on which a user holds a (non-inherited) role.
pub(crate) fn domains_with_roles(c: &Connection, user_id: &str) -> ApiResult<Vec<Domain>> {
    let mut st = c.prepare(&format!(
        "SELECT {} FROM domains d WHERE EXISTS (
            SELECT 1 FROM assignments a
             WHERE ((a.actor_type = 'user' AND a.actor_id = ?1)
                 OR (a.actor_type = 'group' AND a.actor_id IN (SELECT group_id FROM group_members WHERE user_id = ?1)))
               AND a.target_type = 'domain' AND a.target_id = d.id AND a.inherited = 0)
         ORDER BY d.id",
        DOMAIN_COLS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ")
    ))?;
    let rows = st
        .query_map([user_id], domain_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// --- catalog --------------------------------------------------------------------

fn region_row(r: &Row) -> rusqlite::Result<Region> {
    Ok(Region {
        id: r.get(0)?,
        description: r.get(1)?,
        parent_region_id: r.get(2)?,
    })
}

pub(crate) fn region_insert(c: &Connection, r: &Region) -> ApiResult<()> {
    c.execute(
        "INSERT INTO regions (id, description, parent_region_id) VALUES (?1, ?2, ?3)",
        params![r.id, r.description, r.parent_region_id],
    )
    .map_err(|e| conflict_on_unique(e, || format!("Duplicate ID, {}.", r.id)))?;
    Ok(())
}

pub(crate) fn region_update(c: &Connection, r: &Region) -> ApiResult<()> {
    c.execute(
        "UPDATE regions SET description = ?2, parent_region_id = ?3 WHERE id = ?1",
        params![r.id, r.description, r.parent_region_id],
    )?;
    Ok(())
}

pub(crate) fn region_get(c: &Connection, id: &str) -> ApiResult<Option<Region>> {
    Ok(c.query_row(
        "SELECT id, description, parent_region_id FROM regions WHERE id = ?1",
        [id],
        region_row,
    )
    .optional()?)
}

pub(crate) fn region_list(c: &Connection) -> ApiResult<Vec<Region>> {
    let mut st = c.prepare("SELECT id, description, parent_region_id FROM regions ORDER BY id")?;
    let rows = st.query_map([], region_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn region_in_use(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM endpoints WHERE region_id = ?1)
             OR EXISTS (SELECT 1 FROM regions WHERE parent_region_id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

pub(crate) fn region_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM regions WHERE id = ?1", [id])?;
    Ok(())
}

fn service_row(r: &Row) -> rusqlite::Result<Service> {
    Ok(Service {
        id: r.get(0)?,
        service_type: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        enabled: r.get(4)?,
    })
}

pub(crate) fn service_insert(c: &Connection, s: &Service) -> ApiResult<()> {
    c.execute(
        "INSERT INTO services (id, type, name, description, enabled) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.id, s.service_type, s.name, s.description, s.enabled],
    )?;
    Ok(())
}

pub(crate) fn service_update(c: &Connection, s: &Service) -> ApiResult<()> {
    c.execute(
        "UPDATE services SET type = ?2, name = ?3, description = ?4, enabled = ?5 WHERE id = ?1",
        params![s.id, s.service_type, s.name, s.description, s.enabled],
    )?;
    Ok(())
}

pub(crate) fn service_get(c: &Connection, id: &str) -> ApiResult<Option<Service>> {
    Ok(c.query_row(
        "SELECT id, type, name, description, enabled FROM services WHERE id = ?1",
        [id],
        service_row,
    )
    .optional()?)
}

pub(crate) fn service_list(c: &Connection) -> ApiResult<Vec<Service>> {
    let mut st =
        c.prepare("SELECT id, type, name, description, enabled FROM services ORDER BY id")?;
    let rows = st.query_map([], service_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn service_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM endpoints WHERE service_id = ?1", [id])?;
    c.execute("DELETE FROM services WHERE id = ?1", [id])?;
    Ok(())
}

fn endpoint_row(r: &Row) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(0)?,
        service_id: r.get(1)?,
        interface: r.get(2)?,
        region_id: r.get(3)?,
        url: r.get(4)?,
        enabled: r.get(5)?,
    })
}

const ENDPOINT_COLS: &str = "id, service_id, interface, region_id, url, enabled";

pub(crate) fn endpoint_insert(c: &Connection, e: &Endpoint) -> ApiResult<()> {
    c.execute(
        "INSERT INTO endpoints (id, service_id, interface, region_id, url, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.id, e.service_id, e.interface, e.region_id, e.url, e.enabled],
    )?;
    Ok(())
}

pub(crate) fn endpoint_update(c: &Connection, e: &Endpoint) -> ApiResult<()> {
    c.execute(
        "UPDATE endpoints SET service_id = ?2, interface = ?3, region_id = ?4, url = ?5, enabled = ?6 WHERE id = ?1",
        params![e.id, e.service_id, e.interface, e.region_id, e.url, e.enabled],
    )?;
    Ok(())
}

pub(crate) fn endpoint_get(c: &Connection, id: &str) -> ApiResult<Option<Endpoint>> {
    Ok(c.query_row(
        &format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = ?1"),
        [id],
        endpoint_row,
    )
    .optional()?)
}

pub(crate) fn endpoint_list(c: &Connection) -> ApiResult<Vec<Endpoint>> {
    let mut st = c.prepare(&format!(
        "SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY id"
    ))?;
    let rows = st.query_map([], endpoint_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(crate) fn endpoint_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM endpoints WHERE id = ?1", [id])?;
    Ok(())
}

// --- application credentials ----------------------------------------------------

const APP_CRED_COLS: &str =
    "id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, roles";

fn app_cred_row(r: &Row) -> rusqlite::Result<AppCredential> {
    let expires: Option<String> = r.get(6)?;
    let roles: String = r.get(8)?;
    Ok(AppCredential {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        project_id: r.get(3)?,
        secret_hash: r.get(4)?,
        description: r.get(5)?,
        expires_at: expires.as_deref().and_then(parse_ts),
        unrestricted: r.get(7)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        access_rules: Vec::new(),
    })
}

/// Fills in the access rules of application credentials just read.
fn with_rules(c: &Connection, mut a: AppCredential) -> ApiResult<AppCredential> {
    a.access_rules = super::store_ext::app_cred_rules(c, &a.id)?;
    Ok(a)
}

pub(crate) fn app_cred_insert(c: &Connection, a: &AppCredential) -> ApiResult<()> {
    c.execute(
        "INSERT INTO application_credentials (id, name, user_id, project_id, secret_hash, description,
            expires_at, unrestricted, roles, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            a.id, a.name, a.user_id, a.project_id, a.secret_hash, a.description,
            a.expires_at.map(ts), a.unrestricted, to_json(&a.roles), now()
        ],
    )
    .map_err(|e| conflict_on_unique(e, dup("application credential", &a.name)))?;
    for r in &a.access_rules {
        super::store_ext::app_cred_rules_link(c, &a.id, &r.id)?;
    }
    Ok(())
}

pub(crate) fn app_cred_get(c: &Connection, id: &str) -> ApiResult<Option<AppCredential>> {
    c.query_row(
        &format!("SELECT {APP_CRED_COLS} FROM application_credentials WHERE id = ?1"),
        [id],
        app_cred_row,
    )
    .optional()?
    .map(|a| with_rules(c, a))
    .transpose()
}

pub(crate) fn app_cred_by_name(
    c: &Connection,
    user_id: &str,
    name: &str,
) -> ApiResult<Option<AppCredential>> {
    c.query_row(
        &format!(
            "SELECT {APP_CRED_COLS} FROM application_credentials WHERE user_id = ?1 AND name = ?2"
        ),
        [user_id, name],
        app_cred_row,
    )
    .optional()?
    .map(|a| with_rules(c, a))
    .transpose()
}

pub(crate) fn app_cred_list(c: &Connection, user_id: &str) -> ApiResult<Vec<AppCredential>> {
    let mut st = c.prepare(&format!(
        "SELECT {APP_CRED_COLS} FROM application_credentials WHERE user_id = ?1 ORDER BY id"
    ))?;
    let rows: Vec<AppCredential> = st
        .query_map([user_id], app_cred_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(|a| with_rules(c, a)).collect()
}

pub(crate) fn app_cred_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM application_credentials WHERE id = ?1", [id])?;
    Ok(())
}

// --- revocations ----------------------------------------------------------------

pub(crate) fn revocation_add(c: &Connection, e: &RevocationEvent) -> ApiResult<()> {
    c.execute(
        "INSERT INTO revocation_events (audit_id, user_id, project_id, issued_before, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            e.audit_id,
            e.user_id,
            e.project_id,
            ts(e.issued_before),
            now()
        ],
    )?;
    Ok(())
}

/// Whether any revocation event matches a token with these attributes.
pub(crate) fn is_revoked(
    c: &Connection,
    audit_ids: &[String],
    user_id: &str,
    project_id: Option<&str>,
    issued_at: DateTime<Utc>,
) -> ApiResult<bool> {
    let mut st = c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM revocation_events
           WHERE audit_id IN (SELECT value FROM json_each(?1))
              OR (audit_id IS NULL AND user_id = ?2 AND issued_before >= ?4)
              OR (audit_id IS NULL AND project_id = ?3 AND issued_before >= ?4))",
    )?;
    Ok(st.query_row(
        params![to_json(&audit_ids), user_id, project_id, ts(issued_at)],
        |r| r.get(0),
    )?)
}

/// Drops events that can no longer match a live token.
pub(crate) fn revocation_prune(c: &Connection, older_than: DateTime<Utc>) -> ApiResult<usize> {
    Ok(c.execute(
        "DELETE FROM revocation_events WHERE revoked_at < ?1",
        [ts(older_than)],
    )?)
}

pub(crate) fn counts(c: &Connection) -> ApiResult<Vec<(&'static str, i64)>> {
    let mut out = Vec::new();
    for (label, table) in [
        ("domains", "domains"),
        ("projects", "projects"),
        ("users", "users"),
        ("groups", "groups"),
        ("roles", "roles"),
        ("application credentials", "application_credentials"),
    ] {
        let n: i64 = c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        out.push((label, n));
    }
    Ok(out)
}

// --- credentials and policies ---------------------------------------------------

/// A credential row; `sealed_blob` is the blob encrypted with the credential keys.
pub(crate) struct CredentialRow {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub sealed_blob: String,
}

fn credential_row(r: &Row) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        project_id: r.get(2)?,
        cred_type: r.get(3)?,
        sealed_blob: r.get(4)?,
    })
}

pub(crate) fn credential_insert(c: &Connection, r: &CredentialRow) -> ApiResult<()> {
    c.execute(
        "INSERT INTO credentials (id, user_id, project_id, type, sealed_blob)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![r.id, r.user_id, r.project_id, r.cred_type, r.sealed_blob],
    )
    .map_err(|e| conflict_on_unique(e, || format!("Duplicate ID, {}.", r.id)))?;
    Ok(())
}

pub(crate) fn credential_get(c: &Connection, id: &str) -> ApiResult<Option<CredentialRow>> {
    Ok(c.query_row(
        "SELECT id, user_id, project_id, type, sealed_blob FROM credentials WHERE id = ?1",
        [id],
        credential_row,
    )
    .optional()?)
}

pub(crate) fn credential_list(c: &Connection) -> ApiResult<Vec<CredentialRow>> {
    let mut st = c.prepare(
        "SELECT id, user_id, project_id, type, sealed_blob FROM credentials ORDER BY id",
    )?;
    let rows = st.query_map([], credential_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn credential_update(c: &Connection, r: &CredentialRow) -> ApiResult<()> {
    c.execute(
        "UPDATE credentials SET user_id = ?2, project_id = ?3, type = ?4, sealed_blob = ?5
         WHERE id = ?1",
        params![r.id, r.user_id, r.project_id, r.cred_type, r.sealed_blob],
    )?;
    Ok(())
}

pub(crate) fn credential_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM credentials WHERE id = ?1", [id])?;
    Ok(())
}

/// A deleted user's credentials go with it (Keystone deletes them too).
pub(crate) fn credentials_delete_for_user(c: &Connection, user_id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM credentials WHERE user_id = ?1", [user_id])?;
    Ok(())
}

fn policy_row(r: &Row) -> rusqlite::Result<Policy> {
    Ok(Policy {
        id: r.get(0)?,
        policy_type: r.get(1)?,
        blob: r.get(2)?,
    })
}

pub(crate) fn policy_insert(c: &Connection, p: &Policy) -> ApiResult<()> {
    c.execute(
        "INSERT INTO policies (id, type, blob) VALUES (?1, ?2, ?3)",
        params![p.id, p.policy_type, p.blob],
    )?;
    Ok(())
}

pub(crate) fn policy_get(c: &Connection, id: &str) -> ApiResult<Option<Policy>> {
    Ok(c.query_row(
        "SELECT id, type, blob FROM policies WHERE id = ?1",
        [id],
        policy_row,
    )
    .optional()?)
}

pub(crate) fn policy_list(c: &Connection) -> ApiResult<Vec<Policy>> {
    let mut st = c.prepare("SELECT id, type, blob FROM policies ORDER BY id")?;
    let rows = st.query_map([], policy_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn policy_update(c: &Connection, p: &Policy) -> ApiResult<()> {
    c.execute(
        "UPDATE policies SET type = ?2, blob = ?3 WHERE id = ?1",
        params![p.id, p.policy_type, p.blob],
    )?;
    Ok(())
}

pub(crate) fn policy_delete(c: &Connection, id: &str) -> ApiResult<()> {
    c.execute("DELETE FROM policies WHERE id = ?1", [id])?;
    Ok(())
}
