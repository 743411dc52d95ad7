//! Compute quotas as Nova keeps them with unified limits off: defaults, per-project
//! overrides (os-quota-sets), usage counted from the servers, key pairs and server
//! groups themselves, and the checks the create paths run.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::ComputeService;
use super::store::{self, catalog};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Nova's default quotas. The network ones are only shown below 2.36, the
/// injected-file ones below 2.57.
pub(crate) const DEFAULTS: &[(&str, i64)] = &[
    ("cores", 20),
    ("fixed_ips", -1),
    ("floating_ips", 10),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("injected_files", 5),
    ("instances", 10),
    ("key_pairs", 100),
    ("metadata_items", 128),
    ("ram", 51200),
    ("security_group_rules", 20),
    ("security_groups", 10),
    ("server_group_members", 10),
    ("server_groups", 10),
];

const NETWORK_RESOURCES: &[&str] = &[
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
];
const FILE_RESOURCES: &[&str] = &[
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "injected_files",
];

/// Whether a resource is part of the API at microversion 2.`minor`.
pub(crate) fn shown_at(resource: &str, minor: u32) -> bool {
    !(minor >= 36 && NETWORK_RESOURCES.contains(&resource)
        || minor >= 57 && FILE_RESOURCES.contains(&resource))
}

/// Whether a resource is part of the quota class view at microversion 2.`minor`:
/// the server group ones appear at 2.50, when the network ones go (not at 2.36 as
/// in os-quota-sets), and the injected-file ones go at 2.57.
pub(crate) fn class_shown_at(resource: &str, minor: u32) -> bool {
    let server_groups = matches!(resource, "server_groups" | "server_group_members");
    !(minor < 50 && server_groups
        || minor >= 50 && NETWORK_RESOURCES.contains(&resource)
        || minor >= 57 && FILE_RESOURCES.contains(&resource))
}

/// The default limits: Nova's built-in defaults overlaid with the `default`
/// quota class (what os-quota-class-sets changed).
pub(crate) fn defaults(c: &Connection) -> ApiResult<BTreeMap<String, i64>> {
    class_limits(c, "default")
}

/// A quota class's limits: the defaults (for `default`, the built-in ones)
/// overlaid with what was set on the class.
pub(crate) fn class_limits(c: &Connection, class_name: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, i64> = DEFAULTS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    out.extend(catalog::quota_class(c, "default")?);
    if class_name != "default" {
        out.extend(catalog::quota_class(c, class_name)?);
    }
    Ok(out)
}

/// The effective limits of a project: defaults overlaid with its overrides.
pub(crate) fn limits(c: &Connection, project_id: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut out = defaults(c)?;
    out.extend(catalog::quota_overrides(c, project_id)?);
    Ok(out)
}

/// One effective limit (-1 = unlimited).
pub(crate) fn limit(c: &Connection, project_id: &str, resource: &str) -> ApiResult<i64> {
    Ok(limits(c, project_id)?.get(resource).copied().unwrap_or(-1))
}

/// Whether adding `requested` to `used` stays within `limit` (-1 = unlimited).
pub(crate) fn fits(limit: i64, used: i64, requested: i64) -> bool {
    limit < 0 || used + requested <= limit
}

/// What a project uses now, per resource name.
pub(crate) fn usage(c: &Connection, project_id: &str) -> ApiResult<BTreeMap<&'static str, i64>> {
    let (instances, cores, ram) = store::project_usage(c, project_id)?;
    let groups = catalog::server_group_count(c, project_id)?;
    Ok(BTreeMap::from([
        ("instances", instances),
        ("cores", cores),
        ("ram", ram),
        ("server_groups", groups),
    ]))
}

/// The 403 Nova returns when a server create or resize exceeds a quota.
fn exceeded(resource: &str, requested: i64, used: i64, allowed: i64) -> ApiError {
    ApiError::Forbidden(format!(
        "Quota exceeded for {resource}: Requested {requested}, but already used {used} of {allowed} {resource}"
    ))
}

/// Checks a server create of `count` instances with `vcpus` and `ram` (MiB) each.
pub(crate) fn check_server_quota(
    c: &Connection,
    project_id: &str,
    count: i64,
    vcpus: i64,
    ram: i64,
) -> ApiResult<()> {
    let lim = limits(c, project_id)?;
    let (n, cores, used_ram) = store::project_usage(c, project_id)?;
    for (resource, used, requested) in [
        ("instances", n, count),
        ("cores", cores, vcpus * count),
        ("ram", used_ram, ram * count),
    ] {
        let allowed = lim.get(resource).copied().unwrap_or(-1);
        if !fits(allowed, used, requested) {
            return Err(exceeded(resource, requested, used, allowed));
        }
    }
    Ok(())
}

/// Checks the growth of a resize (negative deltas always fit).
pub(crate) fn check_resize_quota(
    c: &Connection,
    project_id: &str,
    delta_vcpus: i64,
    delta_ram: i64,
) -> ApiResult<()> {
    let lim = limits(c, project_id)?;
    let (_, cores, used_ram) = store::project_usage(c, project_id)?;
    for (resource, used, requested) in [("cores", cores, delta_vcpus), ("ram", used_ram, delta_ram)]
    {
        let allowed = lim.get(resource).copied().unwrap_or(-1);
        if requested > 0 && !fits(allowed, used, requested) {
            return Err(exceeded(resource, requested, used, allowed));
        }
    }
    Ok(())
}

/// `PUT /os-quota-sets/{tenant_id}` as the service takes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QuotaSetUpdate {
    /// New limits by resource name (-1: unlimited).
    pub(crate) limits: BTreeMap<String, i64>,
    /// Set a limit even below what the project already uses.
    pub(crate) force: bool,
}

impl ComputeService {
    /// Reading a project's quotas: admin, or a reader of that project.
    fn quota_read_allowed(ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
        ctx.require_project_read(project_id)
    }

    /// `GET /os-quota-sets/{tenant_id}`: the effective limits.
    pub(crate) async fn quota_show(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<BTreeMap<String, i64>> {
        Self::quota_read_allowed(ctx, &project_id)?;
        self.read(move |c| limits(c, &project_id)).await
    }

    /// `GET /os-quota-sets/{tenant_id}/detail`: limit, in_use and reserved (0).
    pub(crate) async fn quota_detail(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<BTreeMap<String, (i64, i64)>> {
        Self::quota_read_allowed(ctx, &project_id)?;
        let user = ctx.user.id.clone();
        self.read(move |c| {
            let lim = limits(c, &project_id)?;
            let used = usage(c, &project_id)?;
            let keypairs = catalog::keypair_count(c, &user)?;
            Ok(lim
                .into_iter()
                .map(|(k, l)| {
                    let u = match k.as_str() {
                        "key_pairs" => keypairs,
                        other => used.get(other).copied().unwrap_or(0),
                    };
                    (k, (l, u))
                })
                .collect())
        })
        .await
    }

    /// `PUT /os-quota-sets/{tenant_id}` (admin). Without `force`, a limit below
    /// what is in use is refused as Nova does.
    pub(crate) async fn quota_update(
        &self,
        ctx: &RequestContext,
        project_id: String,
        update: QuotaSetUpdate,
    ) -> ApiResult<BTreeMap<String, i64>> {
        ctx.require_admin()?;
        self.write(move |c| {
            if !crate::identity::facade::project_exists_tx(c, &project_id)? {
                return Err(ApiError::bad_request(format!(
                    "Project ID {project_id} is not a valid project."
                )));
            }
            let used = usage(c, &project_id)?;
            for (k, v) in &update.limits {
                let in_use = used.get(k.as_str()).copied().unwrap_or(0);
                if !update.force && *v >= 0 && *v < in_use {
                    return Err(ApiError::bad_request(format!(
                        "Quota limit {v} for {k} must be greater than or equal to already used and reserved {in_use}."
                    )));
                }
                catalog::quota_put(c, &project_id, k, *v)?;
            }
            limits(c, &project_id)
        })
        .await
    }

    /// `DELETE /os-quota-sets/{tenant_id}` (admin): back to the defaults.
    pub(crate) async fn quota_delete(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| catalog::quota_reset(c, &project_id))
            .await
    }

    /// `GET /os-quota-sets/{tenant_id}/defaults`: the defaults every project starts with.
    pub(crate) async fn quota_defaults(&self) -> ApiResult<BTreeMap<String, i64>> {
        self.read(defaults).await
    }

    /// `GET /os-quota-class-sets/{id}` (admin): the class's limits.
    pub(crate) async fn quota_class_show(
        &self,
        ctx: &RequestContext,
        class_name: String,
    ) -> ApiResult<BTreeMap<String, i64>> {
        ctx.require_admin()?;
        self.read(move |c| class_limits(c, &class_name)).await
    }

    /// `PUT /os-quota-class-sets/{id}` (admin): sets limits of a class; changing the
    /// `default` class changes the defaults of every project without an override.
    pub(crate) async fn quota_class_update(
        &self,
        ctx: &RequestContext,
        class_name: String,
        changes: BTreeMap<String, i64>,
    ) -> ApiResult<BTreeMap<String, i64>> {
        ctx.require_admin()?;
        if class_name.is_empty() || class_name.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "quota_class_name has to be between 1 and 255 characters long.",
            ));
        }
        self.write(move |c| {
            for (k, v) in &changes {
                catalog::quota_class_put(c, &class_name, k, *v)?;
            }
            class_limits(c, &class_name)
        })
        .await
    }

    /// `GET /limits`: the caller's (or, for admin, `tenant_id`'s) limits and usage.
    pub(crate) async fn limits_show(
        &self,
        ctx: &RequestContext,
        tenant_id: Option<String>,
    ) -> ApiResult<(BTreeMap<String, i64>, BTreeMap<&'static str, i64>)> {
        let project = match tenant_id {
            Some(t) if ctx.project_id() != Some(t.as_str()) => {
                ctx.require_admin()?;
                t
            }
            Some(t) => t,
            None => super::caller_project(ctx)?,
        };
        self.read(move |c| Ok((limits(c, &project)?, usage(c, &project)?)))
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compute::model::Server;
    use crate::db::Db;
    use crate::http::context::{NamedRef, RequestContext, Scope};
    use serde_json::json;

    /// A fresh migrated state database in a temp dir.
    pub(crate) fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("state.db")).expect("db");
        (dir, db)
    }

    /// A server row document with the given owner, size and life times.
    pub(crate) fn server(
        id: &str,
        project: &str,
        vcpus: i64,
        ram: i64,
        launched: Option<&str>,
        deleted: Option<&str>,
    ) -> Server {
        serde_json::from_value(json!({
            "id": id, "instance_name": format!("instance-{id}"), "name": format!("vm-{id}"),
            "description": null, "project_id": project, "user_id": "u", "image_id": "img",
            "flavor": {"id": "1", "name": "m1.tiny", "ram": ram, "vcpus": vcpus, "disk": 1,
                "ephemeral": 0, "swap": 0, "rxtx_factor": 1.0, "is_public": true,
                "disabled": false, "description": null, "extra_specs": {}},
            "old_flavor": null, "key_name": null, "key_data": null, "user_data": null,
            "metadata": {}, "tags": [], "security_groups": [], "availability_zone": "nova",
            "config_drive": false, "hostname": "vm", "vm_state": "active", "task_state": null,
            "power_state": 1, "locked": false, "locked_reason": null, "locked_by": null,
            "launch_index": 0, "reservation_id": "r-1", "fault": null, "ports": [],
            "requested_networks": null, "server_group": null, "progress": 0,
            "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z",
            "launched_at": launched, "terminated_at": deleted, "deleted_at": deleted,
            "generation": 0
        }))
        .expect("server fixture")
    }

    /// A member of `project`.
    pub(crate) fn member(project: &str) -> RequestContext {
        let named = |id: &str| NamedRef {
            id: id.into(),
            name: id.into(),
        };
        RequestContext {
            user: named("u"),
            user_domain: named("default"),
            scope: Scope::Project {
                project: named(project),
                domain: named("default"),
            },
            roles: vec![named("member")],
            methods: vec!["password".into()],
            audit_ids: vec![],
            issued_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
            application_credential: None,
            trust: None,
        }
    }

    #[test]
    fn server_quota_counts_live_servers_and_overrides() {
        let (_dir, db) = db();
        db.write_blocking(|c| {
            check_server_quota(c, "p", 10, 2, 512)?;
            for i in 0..10 {
                super::store::server_insert(c, &server(&format!("s{i}"), "p", 1, 512, None, None))?;
            }
            // A deleted server no longer counts.
            let mut gone = server("gone", "p", 1, 512, None, None);
            super::store::server_insert(c, &gone)?;
            gone.deleted_at = Some("2030-01-01T00:00:00Z".into());
            super::store::server_put(c, &mut gone)?;
            let e = check_server_quota(c, "p", 1, 1, 64).expect_err("11th instance");
            assert!(matches!(&e, ApiError::Forbidden(m)
                if m == "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"), "{e:?}");
            // Other projects are unaffected; cores and ram are checked too.
            check_server_quota(c, "q", 1, 20, 51200)?;
            assert!(check_server_quota(c, "q", 1, 21, 64).is_err());
            assert!(check_server_quota(c, "q", 2, 1, 30000).is_err());
            catalog::quota_put(c, "p", "instances", -1)?;
            check_server_quota(c, "p", 5, 1, 64)?;
            // Resize: 10 cores used of 20.
            check_resize_quota(c, "p", 10, 0)?;
            assert!(check_resize_quota(c, "p", 11, 0).is_err());
            check_resize_quota(c, "p", -5, -512)?;
            Ok::<_, ApiError>(())
        })
        .expect("quota checks");
    }

    #[test]
    fn quota_math() {
        assert!(fits(10, 9, 1));
        assert!(!fits(10, 10, 1));
        assert!(!fits(20, 18, 4));
        assert!(fits(-1, 1_000_000, 5));
        assert!(fits(0, 0, 0));
        assert!(!fits(0, 0, 1));
    }

    #[test]
    fn exceeded_message_is_novas() {
        let e = exceeded("instances", 1, 10, 10);
        assert!(matches!(e, ApiError::Forbidden(m)
            if m == "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"));
    }

    #[test]
    fn microversion_gates() {
        assert!(shown_at("floating_ips", 35));
        assert!(!shown_at("floating_ips", 36));
        assert!(shown_at("injected_files", 56));
        assert!(!shown_at("injected_files", 57));
        assert!(shown_at("instances", 79));
    }
}
