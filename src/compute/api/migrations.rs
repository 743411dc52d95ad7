//! Migrations (api-ref: compute "Migrations (os-migrations)"): the records of
//! resizes with Nova's filters, paging (2.59) and fields by microversion.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::Microversion;
use super::params::query;
use crate::cloud::Cloud;
use crate::compute::store::migrations::MigrationRow;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ApiResult};

pub(super) fn routes() -> Router<Cloud> {
    Router::new().route("/os-migrations", get(migration_list))
}

/// Nova writes migration times without a zone, with microseconds.
fn nova_time(t: &str) -> String {
    t.trim_end_matches('Z').to_owned()
}

fn view(m: &MigrationRow, mv: Microversion, dest_host: &str) -> Value {
    let mut v = json!({
        "id": m.id,
        "status": m.status,
        "instance_uuid": m.server_id,
        "source_node": m.source_compute,
        "source_compute": m.source_compute,
        "dest_node": m.dest_compute,
        "dest_compute": m.dest_compute,
        "dest_host": dest_host,
        "old_instance_type_id": m.old_instance_type_id,
        "new_instance_type_id": m.new_instance_type_id,
        "created_at": nova_time(&m.created_at),
        "updated_at": m.updated_at.as_deref().map(nova_time),
    });
    if mv.at_least(23) {
        v["migration_type"] = json!(m.migration_type);
    }
    if mv.at_least(59) {
        v["uuid"] = json!(m.uuid);
    }
    if mv.at_least(80) {
        v["user_id"] = json!(m.user_id);
        v["project_id"] = json!(m.project_id);
    }
    v
}

/// List Migrations: `GET /os-migrations` (admin), newest first; filters `host`,
/// `status`, `instance_uuid`, `source_compute`, `migration_type` (2.23),
/// `changes-since` (2.59), `changes-before` (2.66), `user_id` and `project_id`
/// (2.80, the requester of the move); `limit`/`marker` (2.59).
type Changed = chrono::DateTime<chrono::Utc>;

/// The `changes-since` (2.59) and `changes-before` (2.66) bounds of a listing.
struct ChangeWindow {
    since: Option<Changed>,
    before: Option<Changed>,
}

impl ChangeWindow {
    fn of(q: &HashMap<String, String>, mv: Microversion) -> ApiResult<ChangeWindow> {
        let time = |key: &str| -> ApiResult<Option<Changed>> {
            q.get(key)
                .map(|v| {
                    crate::http::time::parse(v).map_err(|_| {
                        ApiError::bad_request(format!(
                            "Invalid input for query parameters {key}. Value: {v}."
                        ))
                    })
                })
                .transpose()
        };
        let since = if mv.at_least(59) {
            time("changes-since")?
        } else {
            None
        };
        let before = if mv.at_least(66) {
            time("changes-before")?
        } else {
            None
        };
        Ok(ChangeWindow { since, before })
    }

    /// Whether a migration last changed at `changed` lies in the window; one
    /// without a readable time is outside any bound.
    fn holds(&self, changed: Option<Changed>) -> bool {
        self.since.is_none_or(|t| changed.is_some_and(|c| c >= t))
            && self.before.is_none_or(|t| changed.is_some_and(|c| c <= t))
    }
}

/// Whether a migration passes the listing's filters; the type filter counts
/// from 2.23 and the user and project filters from 2.80.
fn migration_matches(
    m: &MigrationRow,
    q: &HashMap<String, String>,
    mv: Microversion,
    window: &ChangeWindow,
) -> bool {
    let eq = |key: &str, v: &str| q.get(key).is_none_or(|want| want == v);
    let changed = crate::http::time::parse(m.updated_at.as_deref().unwrap_or(&m.created_at)).ok();
    q.get("host")
        .is_none_or(|h| *h == m.source_compute || *h == m.dest_compute)
        && eq("status", &m.status)
        && eq("instance_uuid", &m.server_id)
        && eq("source_compute", &m.source_compute)
        && (!mv.at_least(23) || eq("migration_type", &m.migration_type))
        && (!mv.at_least(80) || eq("user_id", &m.user_id) && eq("project_id", &m.project_id))
        && window.holds(changed)
}

/// Applies `marker` (the page starts after it) and `limit` (2.59 paging).
fn page_migrations(list: &mut Vec<&MigrationRow>, q: &HashMap<String, String>) -> ApiResult<()> {
    if let Some(marker) = q.get("marker") {
        let at = list
            .iter()
            .position(|m| m.uuid == *marker)
            .ok_or_else(|| ApiError::bad_request(format!("Marker {marker} could not be found.")))?;
        list.drain(..=at);
    }
    if let Some(l) = q.get("limit") {
        let n: usize = l.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}."
            ))
        })?;
        list.truncate(n);
    }
    Ok(())
}

async fn migration_list(
    State(cloud): State<Cloud>,
    ctx: Ctx,
    mv: Microversion,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let q = query(raw)?;
    let all = cloud.compute.migration_list(&ctx).await?;
    let window = ChangeWindow::of(&q, mv)?;
    let mut list: Vec<&MigrationRow> = all
        .iter()
        .filter(|m| migration_matches(m, &q, mv, &window))
        .collect();
    if mv.at_least(59) {
        page_migrations(&mut list, &q)?;
    }
    let dest_host = cloud.profile.public_host();
    let out: Vec<Value> = list.iter().map(|m| view(m, mv, &dest_host)).collect();
    Ok(axum::Json(json!({"migrations": out})))
}
