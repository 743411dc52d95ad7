//! Per-project quotas (`/v2.0/quotas`); exceeding one is a 409 as in Neutron.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::model::DEFAULT_QUOTAS;
use super::{NetworkService, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult, neutron};

/// The quotas in force for a project: defaults overridden per project.
pub(super) fn limits(c: &Connection, project_id: &str) -> ApiResult<BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, i64> = DEFAULT_QUOTAS
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    for (k, v) in store::quota_overrides(c, project_id)? {
        out.insert(k, v);
    }
    Ok(out)
}

/// Refuses to create one more `kind` when the project is at its quota.
pub(super) fn check(c: &Connection, kind: &str, project_id: &str) -> ApiResult<()> {
    let limit = limits(c, project_id)?.get(kind).copied().unwrap_or(-1);
    if limit >= 0 && store::count(c, kind, project_id)? >= limit {
        return Err(ApiError::conflict_typed(
            neutron::OVER_QUOTA,
            format!("Quota exceeded for resources: ['{kind}']."),
        ));
    }
    Ok(())
}

impl NetworkService {
    pub(crate) async fn quota_get(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<BTreeMap<String, i64>> {
        if !crate::http::policy::NETWORK_READ.allows(ctx, Some(project_id.as_str())) {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| limits(c, &project_id)).await
    }

    /// Limit and current use of each resource (`/v2.0/quotas/{id}/details`).
    pub(crate) async fn quota_details(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<BTreeMap<String, (i64, i64)>> {
        if !crate::http::policy::NETWORK_READ.allows(ctx, Some(project_id.as_str())) {
            return Err(ApiError::forbidden());
        }
        self.read(move |c| {
            let mut out = BTreeMap::new();
            for (k, v) in limits(c, &project_id)? {
                let used = store::count(c, &k, &project_id)?;
                out.insert(k, (v, used));
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn quota_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<(String, BTreeMap<String, i64>)>> {
        ctx.require_admin()?;
        self.read(|c| {
            store::quota_projects(c)?
                .into_iter()
                .map(|p| limits(c, &p).map(|l| (p, l)))
                .collect()
        })
        .await
    }

    pub(crate) async fn quota_update(
        &self,
        ctx: &RequestContext,
        project_id: String,
        values: BTreeMap<String, serde_json::Value>,
    ) -> ApiResult<BTreeMap<String, i64>> {
        ctx.require_admin()?;
        let mut parsed = Vec::new();
        for (k, v) in values {
            if !DEFAULT_QUOTAS.iter().any(|(name, _)| *name == k) {
                return Err(ApiError::bad_request(format!(
                    "Unrecognized attribute(s) '{k}'"
                )));
            }
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n >= -1)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid input for {k}: '{v}' must be an integer of -1 or more."
                    ))
                })?;
            parsed.push((k, n));
        }
        self.write(move |c| {
            for (k, n) in &parsed {
                store::quota_set(c, &project_id, k, *n)?;
            }
            limits(c, &project_id)
        })
        .await
    }

    pub(crate) async fn quota_reset(
        &self,
        ctx: &RequestContext,
        project_id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| store::quota_reset(c, &project_id))
            .await
    }
}
