//! Quotas (`os-quota-sets`) and absolute limits. Usage is counted from the volumes
//! inside the transaction that adds to it, so two concurrent creates cannot both
//! slip under a limit.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::store::{self, Usage};
use super::{VolumeService, caller_project, sql};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Cinder's default quota class.
pub(super) const DEFAULTS: &[(&str, i64)] = &[
    ("volumes", 10),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
    ("per_volume_gigabytes", -1),
];

/// Per-type resources, named `<resource>_<type name>`.
const PER_TYPE: &[&str] = &["volumes", "gigabytes", "snapshots"];

/// Every quota resource of `project`: defaults, then what an admin set.
pub(super) fn limits_tx(c: &Connection, project: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, v)| ((*k).into(), *v)).collect();
    for t in store::type_list(c).map_err(sql)? {
        for r in PER_TYPE {
            out.insert(format!("{r}_{}", t.name), -1);
        }
    }
    for (k, v) in store::quota_get(c, "").map_err(sql)? {
        out.insert(k, v);
    }
    for (k, v) in store::quota_get(c, project).map_err(sql)? {
        if out.contains_key(&k) {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// In-use counts per resource (backups are not served yet: 0).
fn in_use(u: &Usage, resource: &str) -> i64 {
    match resource {
        "volumes" => u.volumes,
        "gigabytes" => u.gigabytes,
        "snapshots" => u.snapshots,
        r => {
            for (t, (n, gb, snaps)) in &u.per_type {
                if r == format!("volumes_{t}") {
                    return *n;
                }
                if r == format!("gigabytes_{t}") {
                    return *gb;
                }
                if r == format!("snapshots_{t}") {
                    return *snaps;
                }
            }
            0
        }
    }
}

/// Checks that `project` may add `volumes` volumes and `gigabytes` GiB of type
/// `type_name` (a new volume of `size`, or an extend by `gigabytes`); 413 otherwise.
pub(super) fn check_tx(
    c: &Connection,
    project: &str,
    type_name: &str,
    volumes: i64,
    snapshots: i64,
    gigabytes: i64,
    size: i64,
) -> ApiResult<()> {
    let limits = limits_tx(c, project)?;
    let usage = store::usage(c, project).map_err(sql)?;
    let per_volume = limits.get("per_volume_gigabytes").copied().unwrap_or(-1);
    if volumes > 0 && per_volume >= 0 && size > per_volume {
        return Err(ApiError::OverQuota(format!(
            "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed limit {per_volume}G."
        )));
    }
    for name in ["volumes".to_owned(), format!("volumes_{type_name}")] {
        let limit = limits.get(&name).copied().unwrap_or(-1);
        if volumes > 0 && limit >= 0 && in_use(&usage, &name) + volumes > limit {
            return Err(ApiError::OverQuota(format!(
                "VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) exceeded for quota '{name}'."
            )));
        }
    }
    for name in ["snapshots".to_owned(), format!("snapshots_{type_name}")] {
        let limit = limits.get(&name).copied().unwrap_or(-1);
        if snapshots > 0 && limit >= 0 && in_use(&usage, &name) + snapshots > limit {
            return Err(ApiError::OverQuota(format!(
                "SnapshotLimitExceeded: Maximum number of snapshots allowed ({limit}) exceeded for quota '{name}'."
            )));
        }
    }
    for name in ["gigabytes".to_owned(), format!("gigabytes_{type_name}")] {
        let limit = limits.get(&name).copied().unwrap_or(-1);
        let used = in_use(&usage, &name);
        if gigabytes > 0 && limit >= 0 && used + gigabytes > limit {
            return Err(ApiError::OverQuota(format!(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed {name} quota. Requested {gigabytes}G, quota is {limit}G and {used}G has been consumed."
            )));
        }
    }
    Ok(())
}

/// One resource's limit and use, as `?usage=True` shows it.
pub(crate) struct QuotaUsage {
    pub limit: i64,
    pub in_use: i64,
}

impl VolumeService {
    /// `GET /os-quota-sets/{project}`: a reader of that project, or an admin.
    pub(crate) async fn quota_show(
        &self,
        ctx: &RequestContext,
        project: String,
    ) -> ApiResult<BTreeMap<String, QuotaUsage>> {
        if !super::sees(ctx, &project) {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| {
            let limits = limits_tx(c, &project)?;
            let usage = store::usage(c, &project).map_err(sql)?;
            Ok(limits
                .into_iter()
                .map(|(k, limit)| {
                    let in_use = in_use(&usage, &k);
                    (k, QuotaUsage { limit, in_use })
                })
                .collect())
        })
        .await
    }

    /// The default quotas (any caller).
    pub(crate) async fn quota_defaults(&self) -> ApiResult<BTreeMap<String, i64>> {
        self.read(|c| limits_tx(c, "")).await
    }

    /// `PUT /os-quota-sets/{project}` (admin): sets the given limits (each >= -1).
    pub(crate) async fn quota_update(
        &self,
        ctx: &RequestContext,
        project: String,
        changes: BTreeMap<String, i64>,
    ) -> ApiResult<BTreeMap<String, i64>> {
        ctx.require_admin()?;
        self.write(move |c| {
            let known = limits_tx(c, &project)?;
            let bad: Vec<&str> = changes
                .keys()
                .filter(|k| !known.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !bad.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Bad key(s) {} in quota_set",
                    bad.join(",")
                )));
            }
            for (k, v) in &changes {
                if *v < -1 {
                    return Err(ApiError::bad_request(format!(
                        "Quota limit {v} for {k} must be -1 or greater."
                    )));
                }
                store::quota_set(c, &project, k, *v).map_err(sql)?;
            }
            limits_tx(c, &project)
        })
        .await
    }

    /// `DELETE /os-quota-sets/{project}` (admin): back to the defaults.
    pub(crate) async fn quota_delete(
        &self,
        ctx: &RequestContext,
        project: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        if project.is_empty() {
            return Err(ApiError::bad_request("A project id is required."));
        }
        self.write(move |c| store::quota_delete(c, &project).map_err(sql))
            .await
    }

    /// The caller project's limits and use, for `GET /limits`.
    pub(crate) async fn limits(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<(BTreeMap<String, i64>, Usage)> {
        let project = caller_project(ctx)?;
        self.read(move |c| {
            Ok((
                limits_tx(c, &project)?,
                store::usage(c, &project).map_err(sql)?,
            ))
        })
        .await
    }
}
