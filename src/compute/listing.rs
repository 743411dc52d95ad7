//! `GET /servers` filters and sorting as Nova applies them: `name` and `ip` are
//! regular expressions, `status` maps to vm_state, tags filters, changes-since.

use regex::Regex;

use super::api::Microversion;
use super::model::Server;
use crate::cloud::Cloud;
use crate::http::error::{ApiError, ApiResult};

const STATUSES: &[&str] = &[
    "ACTIVE",
    "BUILD",
    "DELETED",
    "ERROR",
    "HARD_REBOOT",
    "MIGRATING",
    "PASSWORD",
    "PAUSED",
    "REBOOT",
    "REBUILD",
    "RESCUE",
    "RESIZE",
    "REVERT_RESIZE",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "SHUTOFF",
    "SOFT_DELETED",
    "SUSPENDED",
    "UNKNOWN",
    "VERIFY_RESIZE",
];

#[derive(Default)]
pub(crate) struct ServerFilter {
    name: Option<Regex>,
    ip: Option<Regex>,
    status: Option<String>,
    image: Option<String>,
    flavor: Option<String>,
    changes_since: Option<chrono::DateTime<chrono::Utc>>,
    changes_before: Option<chrono::DateTime<chrono::Utc>>,
    tags: Vec<String>,
    tags_any: Vec<String>,
    not_tags: Vec<String>,
    not_tags_any: Vec<String>,
    uuid: Option<String>,
    key_name: Option<String>,
    locked: Option<bool>,
    user_id: Option<String>,
    reservation_id: Option<String>,
    host: Option<String>,
    sort_key: String,
    sort_desc: bool,
}

fn regex(field: &str, v: &str) -> ApiResult<Regex> {
    Regex::new(v)
        .map_err(|_| ApiError::bad_request(format!("Invalid regular expression for {field}: {v}")))
}

fn list(v: Option<&str>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

impl ServerFilter {
    pub(crate) fn from_query(
        q: &[(String, String)],
        mv: Microversion,
        admin: bool,
    ) -> ApiResult<ServerFilter> {
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let mut f = ServerFilter {
            sort_key: "created_at".into(),
            sort_desc: true,
            ..Default::default()
        };
        f.name = get("name")
            .filter(|v| !v.is_empty())
            .map(|v| regex("name", v))
            .transpose()?;
        f.ip = get("ip")
            .filter(|v| !v.is_empty())
            .map(|v| regex("ip", v))
            .transpose()?;
        if let Some(st) = get("status") {
            let up = st.to_ascii_uppercase();
            if !STATUSES.contains(&up.as_str()) && mv.at_least(38) {
                return Err(ApiError::bad_request(format!("Invalid status value: {st}")));
            }
            f.status = Some(up);
        }
        f.image = get("image").map(|v| v.rsplit('/').next().unwrap_or(v).to_owned());
        f.flavor = get("flavor").map(|v| v.rsplit('/').next().unwrap_or(v).to_owned());
        for (key, slot) in [
            ("changes-since", &mut f.changes_since),
            ("changes-before", &mut f.changes_before),
        ] {
            if let Some(v) = get(key) {
                *slot = Some(crate::http::time::parse(v).map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters {key}. Value: {v}."
                    ))
                })?);
            }
        }
        f.tags = list(get("tags"));
        f.tags_any = list(get("tags-any"));
        f.not_tags = list(get("not-tags"));
        f.not_tags_any = list(get("not-tags-any"));
        f.uuid = get("uuid").map(str::to_owned);
        f.key_name = get("key_name").map(str::to_owned);
        f.reservation_id = get("reservation_id").map(str::to_owned);
        f.locked =
            get("locked").map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
        if admin || mv.at_least(83) {
            f.user_id = get("user_id").map(str::to_owned);
        }
        if admin {
            // An admin-only filter in Nova (ignored for others).
            f.host = get("host").map(str::to_owned);
        }
        f.set_sort(get("sort_key"), get("sort_dir"))?;
        Ok(f)
    }

    /// `sort_key` (one of the keys Nova sorts servers by) and `sort_dir`.
    fn set_sort(&mut self, key: Option<&str>, dir: Option<&str>) -> ApiResult<()> {
        if let Some(k) = key {
            let allowed = [
                "created_at",
                "display_name",
                "updated_at",
                "uuid",
                "vm_state",
                "task_state",
                "launched_at",
                "project_id",
                "user_id",
                "key_name",
            ];
            if !allowed.contains(&k) {
                return Err(ApiError::bad_request(format!("Invalid sort_key: {k}")));
            }
            self.sort_key = k.to_owned();
        }
        if let Some(d) = dir {
            self.sort_desc = match d {
                "asc" => false,
                "desc" => true,
                other => return Err(ApiError::bad_request(format!("Invalid sort_dir: {other}"))),
            };
        }
        Ok(())
    }

    fn keeps(&self, s: &Server) -> bool {
        let updated = crate::http::time::parse(&s.updated_at).ok();
        self.name.as_ref().is_none_or(|r| r.is_match(&s.name))
            && self.status.as_ref().is_none_or(|st| s.status() == st)
            && self.image.as_ref().is_none_or(|i| *i == s.image_id)
            && self.flavor.as_ref().is_none_or(|f| *f == s.flavor.id)
            && self
                .changes_since
                .is_none_or(|t| updated.is_some_and(|u| u >= t))
            && self
                .changes_before
                .is_none_or(|t| updated.is_some_and(|u| u <= t))
            && self.tags.iter().all(|t| s.tags.contains(t))
            && (self.tags_any.is_empty() || self.tags_any.iter().any(|t| s.tags.contains(t)))
            && (self.not_tags.is_empty() || !self.not_tags.iter().all(|t| s.tags.contains(t)))
            && !self.not_tags_any.iter().any(|t| s.tags.contains(t))
            && self.uuid.as_ref().is_none_or(|u| *u == s.id)
            && self
                .key_name
                .as_ref()
                .is_none_or(|k| s.key_name.as_ref() == Some(k))
            && self.locked.is_none_or(|l| s.locked == l)
            && self.user_id.as_ref().is_none_or(|u| *u == s.user_id)
            && self
                .reservation_id
                .as_ref()
                .is_none_or(|r| *r == s.reservation_id)
    }

    fn sort_value(&self, s: &Server) -> String {
        match self.sort_key.as_str() {
            "display_name" => s.name.clone(),
            "updated_at" => s.updated_at.clone(),
            "uuid" => s.id.clone(),
            "vm_state" => s.vm_state.as_str().into(),
            "task_state" => s.task_state.map(|t| t.as_str()).unwrap_or("").into(),
            "launched_at" => s.launched_at.clone().unwrap_or_default(),
            "project_id" => s.project_id.clone(),
            "user_id" => s.user_id.clone(),
            "key_name" => s.key_name.clone().unwrap_or_default(),
            _ => s.created_at.clone(),
        }
    }

    /// Filters and sorts (stable: the store's newest-first order breaks ties).
    pub(crate) async fn apply(
        &self,
        servers: Vec<Server>,
        cloud: &Cloud,
    ) -> ApiResult<Vec<Server>> {
        // Every server runs on this one compute host.
        if self
            .host
            .as_ref()
            .is_some_and(|h| *h != cloud.compute.config().host)
        {
            return Ok(Vec::new());
        }
        let mut out: Vec<Server> = servers.into_iter().filter(|s| self.keeps(s)).collect();
        if let Some(ip) = &self.ip {
            let ports: Vec<String> = out
                .iter()
                .flat_map(|s| s.ports.iter().map(|p| p.port_id.clone()))
                .collect();
            let nics = cloud.network.instance_nics(ports).await?;
            out.retain(|s| {
                nics.iter().any(|n| {
                    s.ports.iter().any(|p| p.port_id == n.port.std.id)
                        && n.port.fixed_ips.iter().any(|f| ip.is_match(&f.ip_address))
                })
            });
        }
        if self.sort_key != "created_at" || !self.sort_desc {
            out.sort_by_key(|s| self.sort_value(s));
            if self.sort_desc {
                out.reverse();
            }
        }
        Ok(out)
    }
}
