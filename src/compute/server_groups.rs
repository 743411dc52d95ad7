//! Server groups: affinity policies, their members and quotas, and the membership
//! checks the server create path runs (this cloud is one host, so anti-affinity
//! allows `max_server_per_host` members, by default one).

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::catalog as store;
use super::{ComputeService, caller_project, quotas, sees};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServerGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// affinity, anti-affinity, soft-affinity or soft-anti-affinity.
    pub policy: String,
    /// The anti-affinity rule (2.64+); None = Nova's default of one per host.
    pub max_server_per_host: Option<i64>,
    pub created_at: String,
}

/// A group with its current members.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    pub group: ServerGroup,
    pub members: Vec<String>,
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupCreate {
    pub name: String,
    pub policy: String,
    pub max_server_per_host: Option<i64>,
}

fn policies_at(minor: u32) -> &'static [&'static str] {
    if minor >= 15 {
        &[
            "anti-affinity",
            "affinity",
            "soft-anti-affinity",
            "soft-affinity",
        ]
    } else {
        &["anti-affinity", "affinity"]
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// Parses `{"server_group": ...}`: `policies: [p]` below 2.64, `policy` and
/// `rules` from 2.64.
pub(crate) fn parse_create(body: &Value, minor: u32) -> ApiResult<GroupCreate> {
    let g = body
        .get("server_group")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("'server_group' is a required property"))?;
    let known: &[&str] = if minor >= 64 {
        &["name", "policy", "rules"]
    } else {
        &["name", "policies"]
    };
    if let Some(k) = g.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let name = match g.get("name") {
        Some(Value::String(s)) if (1..=255).contains(&s.chars().count()) && s.trim() == s => {
            s.clone()
        }
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field/attribute name. Value: {v}."
            )));
        }
        None => return Err(bad("'name' is a required property")),
    };
    let policy = group_policy(g, minor)?;
    let max_server_per_host = match g.get("rules") {
        None => None,
        Some(Value::Object(r)) if r.is_empty() => None,
        Some(Value::Object(r)) => Some(parse_max_server_per_host(r, &policy)?),
        Some(v) => {
            return Err(bad(format!(
                "Invalid input for field/attribute rules. Value: {v}."
            )));
        }
    };
    Ok(GroupCreate {
        name,
        policy,
        max_server_per_host,
    })
}

/// The group's policy: `policy` from 2.64, the one entry of `policies` before.
fn group_policy(g: &serde_json::Map<String, Value>, minor: u32) -> ApiResult<String> {
    let allowed = policies_at(minor);
    if minor >= 64 {
        return match g.get("policy") {
            Some(Value::String(p)) if allowed.contains(&p.as_str()) => Ok(p.clone()),
            Some(v) => Err(bad(format!(
                "Invalid input for field/attribute policy. Value: {v}. {v} is not one of {allowed:?}"
            ))),
            None => Err(bad("'policy' is a required property")),
        };
    }
    match g
        .get("policies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([Value::String(p)]) if allowed.contains(&p.as_str()) => Ok(p.clone()),
        Some(_) | None if g.contains_key("policies") => Err(bad(format!(
            "Invalid input for field/attribute policies. Value: {}. It must be a list of one of {allowed:?}",
            g["policies"]
        ))),
        _ => Err(bad("'policies' is a required property")),
    }
}

/// The `max_server_per_host` rule (2.64): anti-affinity only, a positive integer.
fn parse_max_server_per_host(r: &serde_json::Map<String, Value>, policy: &str) -> ApiResult<i64> {
    if policy != "anti-affinity" {
        return Err(bad("Only anti-affinity policy supports rules."));
    }
    if let Some(k) = r.keys().find(|k| *k != "max_server_per_host") {
        return Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let v = &r["max_server_per_host"];
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| *n >= 1)
    .ok_or_else(|| {
        bad(format!(
            "Invalid input for field/attribute max_server_per_host. Value: {v}. It must be a positive integer."
        ))
    })
}

fn group_missing(id: &str) -> ApiError {
    ApiError::Missing(format!("Instance group {id} could not be found."))
}

/// Current members, leaving out servers that no longer exist.
fn members(c: &Connection, group_id: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for id in store::server_group_members(c, group_id)? {
        if super::store::server_get(c, &id)?.is_some() {
            out.push(id);
        }
    }
    Ok(out)
}

/// Puts a new server into a group at create time. 400 when the caller cannot see
/// the group, 403 over the member quota, 409 "No valid host" when anti-affinity
/// would need a second host.
pub(crate) fn add_member(
    c: &Connection,
    group_id: &str,
    server_id: &str,
    ctx: &RequestContext,
) -> ApiResult<()> {
    let group = store::server_group_get(c, group_id)?
        .filter(|g| sees(ctx, &g.project_id))
        .ok_or_else(|| bad(format!("Instance group {group_id} could not be found.")))?;
    let current = members(c, group_id)?;
    let allowed = quotas::limit(c, &group.project_id, "server_group_members")?;
    if !quotas::fits(allowed, current.len() as i64, 1) {
        return Err(ApiError::Forbidden(
            "Quota exceeded, too many servers in group".into(),
        ));
    }
    if group.policy == "anti-affinity"
        && current.len() as i64 >= group.max_server_per_host.unwrap_or(1)
    {
        return Err(ApiError::Conflict(format!(
            "No valid host was found. There are not enough hosts available: server group {group_id} is anti-affinity and this cloud has one host."
        )));
    }
    store::server_group_member_add(c, group_id, server_id)
}

/// Drops a server from whatever group it is in (on delete).
pub(crate) fn remove_member(c: &Connection, server_id: &str) -> ApiResult<()> {
    store::server_group_member_remove(c, server_id)
}

impl ComputeService {
    /// `POST /os-server-groups`.
    pub(crate) async fn server_group_create(
        &self,
        ctx: &RequestContext,
        req: GroupCreate,
    ) -> ApiResult<GroupView> {
        ctx.require_project_write(ctx.project_id().unwrap_or_default())?;
        let group = ServerGroup {
            id: uuid::Uuid::new_v4().to_string(),
            name: req.name,
            project_id: caller_project(ctx)?,
            user_id: ctx.user.id.clone(),
            policy: req.policy,
            max_server_per_host: req.max_server_per_host,
            created_at: crate::http::time::iso_seconds(chrono::Utc::now()),
        };
        self.write(move |c| {
            let allowed = quotas::limit(c, &group.project_id, "server_groups")?;
            let used = store::server_group_count(c, &group.project_id)?;
            if !quotas::fits(allowed, used, 1) {
                return Err(ApiError::Forbidden(
                    "Quota exceeded, too many server groups.".into(),
                ));
            }
            store::server_group_insert(c, &group)?;
            Ok(GroupView {
                group,
                members: Vec::new(),
            })
        })
        .await
    }

    /// `GET /os-server-groups`: the project's groups; all of them for an admin
    /// asking `all_projects`.
    pub(crate) async fn server_group_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<GroupView>> {
        let project = if all_projects
            && ctx.allowed(crate::http::policy::COMPUTE_SERVER_GROUPS_ALL_PROJECTS)
        {
            None
        } else {
            Some(caller_project(ctx)?)
        };
        self.read(move |c| {
            store::server_group_list(c, project.as_deref())?
                .into_iter()
                .map(|g| {
                    let members = members(c, &g.id)?;
                    Ok(GroupView { group: g, members })
                })
                .collect()
        })
        .await
    }

    /// `GET /os-server-groups/{id}`: 404 for another project's group.
    pub(crate) async fn server_group_show(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<GroupView> {
        let ctx = ctx.clone();
        self.read(move |c| {
            let g = store::server_group_get(c, &id)?
                .filter(|g| sees(&ctx, &g.project_id))
                .ok_or_else(|| group_missing(&id))?;
            let members = members(c, &id)?;
            Ok(GroupView { group: g, members })
        })
        .await
    }

    /// `DELETE /os-server-groups/{id}`.
    pub(crate) async fn server_group_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let g = store::server_group_get(c, &id)?
                .filter(|g| sees(&ctx, &g.project_id))
                .ok_or_else(|| group_missing(&id))?;
            super::may_change(&ctx, &g.project_id)?;
            store::server_group_delete(c, &id)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::tests::{db, member, server};
    use serde_json::json;

    fn group(id: &str, policy: &str, max: Option<i64>) -> ServerGroup {
        ServerGroup {
            id: id.into(),
            name: id.into(),
            project_id: "p".into(),
            user_id: "u".into(),
            policy: policy.into(),
            max_server_per_host: max,
            created_at: "2030-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn membership_on_one_host() {
        let (_dir, db) = db();
        let ctx = member("p");
        db.write_blocking(|c| {
            for i in 0..4 {
                crate::compute::store::server_insert(
                    c,
                    &server(&format!("s{i}"), "p", 1, 64, None, None),
                )?;
            }
            store::server_group_insert(c, &group("anti", "anti-affinity", None))?;
            store::server_group_insert(c, &group("anti2", "anti-affinity", Some(2)))?;
            store::server_group_insert(c, &group("aff", "affinity", None))?;
            add_member(c, "anti", "s0", &ctx)?;
            let e = add_member(c, "anti", "s1", &ctx).expect_err("second anti-affinity member");
            assert!(
                matches!(&e, ApiError::Conflict(m) if m.starts_with("No valid host was found."))
            );
            // The failed add left nothing behind: s1 can join another group.
            add_member(c, "anti2", "s1", &ctx)?;
            add_member(c, "anti2", "s2", &ctx)?;
            assert!(add_member(c, "anti2", "s3", &ctx).is_err());
            // Another project cannot use the group: 400, as Nova's create does.
            let e = add_member(c, "aff", "s3", &member("q")).expect_err("foreign group");
            assert!(matches!(e, ApiError::BadRequest(_)));
            assert!(matches!(
                add_member(c, "nope", "s3", &ctx),
                Err(ApiError::BadRequest(_))
            ));
            // Member quota.
            catalog_quota(c)?;
            add_member(c, "aff", "s3", &ctx)?;
            remove_member(c, "s0")?;
            add_member(c, "anti", "s0", &ctx)?;
            assert_eq!(store::server_group_members(c, "anti")?, ["s0"]);
            Ok::<_, ApiError>(())
        })
        .expect("membership");
    }

    fn catalog_quota(c: &Connection) -> ApiResult<()> {
        store::quota_put(c, "p", "server_group_members", 0)?;
        let e = add_member(c, "aff", "s3", &member("p")).expect_err("member quota");
        assert!(matches!(&e, ApiError::Forbidden(m) if m.contains("too many servers in group")));
        store::quota_put(c, "p", "server_group_members", 10)
    }

    #[test]
    fn policies_by_microversion() {
        let g = parse_create(
            &json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}}),
            1,
        )
        .expect("valid");
        assert_eq!(g.policy, "anti-affinity");
        assert!(
            parse_create(
                &json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}}),
                14
            )
            .is_err()
        );
        assert!(
            parse_create(
                &json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}}),
                15
            )
            .is_ok()
        );
        assert!(
            parse_create(
                &json!({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}}),
                1
            )
            .is_err()
        );
        assert!(
            parse_create(
                &json!({"server_group": {"name": "g", "policy": "affinity"}}),
                63
            )
            .is_err()
        );
        let g = parse_create(
            &json!({"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}),
            64,
        )
        .expect("valid");
        assert_eq!(g.max_server_per_host, Some(2));
        assert!(parse_create(
            &json!({"server_group": {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}}),
            64
        )
        .is_err());
        assert!(parse_create(
            &json!({"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}}),
            64
        )
        .is_err());
        assert!(parse_create(&json!({"server_group": {"policies": ["affinity"]}}), 1).is_err());
        assert!(
            parse_create(
                &json!({"server_group": {"name": "", "policies": ["affinity"]}}),
                1
            )
            .is_err()
        );
    }
}
