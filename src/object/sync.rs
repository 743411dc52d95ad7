//! Container sync within this cluster (Swift's container-sync): a container whose
//! `X-Container-Sync-To` names another container (`//realm/cluster/AUTH_x/c`, or
//! the old `http://127.0.0.1/v1/AUTH_x/c` form) has its objects copied there, when
//! both carry the same `X-Container-Sync-Key`, by a background pass every few
//! seconds. There is one realm (`realm1`) with one cluster (`name1`): this cloud,
//! the names DevStack's `container-sync-realms.conf` and tempest use.
//!
//! Copies go new object by new object (by timestamp, from a point kept in memory;
//! after a restart every object is compared once again). An object already there
//! with the same ETag is left alone, so two containers syncing to each other settle.
//! Deletes travel too: a syncing container keeps a tombstone per deleted object
//! (for a week, Swift's `reclaim_age`), and the pass deletes the copy when it is
//! older than the delete. Not done: a large object arrives as one plain object of
//! its whole content.

use std::collections::HashMap;
use std::time::Duration;

use super::model::{self, Meta};
use super::{ObjectService, PutInput, now_secs, sql, store};
use crate::http::error::{ApiError, ApiResult};

/// The realm and cluster of `//realm/cluster/account/container`.
pub(crate) const REALM: &str = "realm1";
pub(crate) const CLUSTER: &str = "name1";
/// How often the sync pass runs (tempest's `container_sync_interval` is 5 s).
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// How far behind the clock the sync point stays, in seconds.
const SETTLE_SECS: f64 = 5.0;
/// Objects copied (and deletes passed on) per container per pass.
const BATCH: usize = 1000;
/// How long a delete is remembered (Swift's default `reclaim_age`, one week).
const RECLAIM_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// How far a container's sync got: the timestamps up to which its objects were
/// copied and its deletes passed on.
#[derive(Clone, Copy, Default)]
pub(crate) struct SyncPoint {
    objects: f64,
    deletes: f64,
}

/// Where a pass's point moves once it has handled the change at `ts`. The point
/// stays a few seconds behind the clock: a PUT (or DELETE) whose timestamp was
/// taken just before another's but committed after this pass is still seen by
/// the next one; it never moves back before `since`.
fn point_after(ts: f64, since: f64) -> f64 {
    let settled = model::now_ts() - SETTLE_SECS;
    ts.min(settled).max(since)
}

/// Whether a container syncs to another (its deletes are then remembered).
pub(crate) fn syncs(meta: &Meta) -> bool {
    meta.get("x-container-sync-to")
        .is_some_and(|v| !v.is_empty())
}

/// The (account, container) an `X-Container-Sync-To` names, or Swift's 400 message.
pub(crate) fn parse_sync_to(value: &str) -> Result<(String, String), String> {
    if let Some(rest) = value.strip_prefix("//") {
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() != 4 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!("Invalid X-Container-Sync-To format {value:?}"));
        }
        if !parts[0].eq_ignore_ascii_case(REALM) {
            return Err(format!("No realm key for {:?}", parts[0]));
        }
        if !parts[1].eq_ignore_ascii_case(CLUSTER) {
            return Err(format!(
                "No cluster endpoint for {:?} {:?}",
                parts[0], parts[1]
            ));
        }
        return Ok((parts[2].to_owned(), parts[3].to_owned()));
    }
    let url = url::Url::parse(value).map_err(|_| {
        format!(
            "Invalid scheme {:?} in X-Container-Sync-To, must be \"//\", \"http\", or \"https\".",
            value.split(':').next().unwrap_or("")
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "Invalid scheme {:?} in X-Container-Sync-To, must be \"//\", \"http\", or \"https\".",
            url.scheme()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("Params, queries, and fragments not allowed in X-Container-Sync-To".into());
    }
    let host = url.host_str().unwrap_or("");
    // Swift's default `allowed_sync_hosts`: this host only.
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
        return Err(format!("Invalid host {host:?} in X-Container-Sync-To"));
    }
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    match segs.iter().position(|s| *s == "v1") {
        Some(i) if segs.len() == i + 3 => Ok((
            percent_encoding::percent_decode_str(segs[i + 1])
                .decode_utf8_lossy()
                .into_owned(),
            percent_encoding::percent_decode_str(segs[i + 2])
                .decode_utf8_lossy()
                .into_owned(),
        )),
        _ => Err("Path required in X-Container-Sync-To".into()),
    }
}

impl ObjectService {
    /// One sync pass over every syncing container; `points` keeps, per container,
    /// the timestamp up to which its objects were copied.
    pub(crate) async fn sync_once(
        &self,
        points: &mut HashMap<(String, String), SyncPoint>,
    ) -> ApiResult<usize> {
        let sources = self.read(|c| store::sync_sources(c).map_err(sql)).await?;
        let horizon = model::now_ts() - RECLAIM_SECS;
        self.write(move |c| store::tombstones_reap(c, horizon).map_err(sql))
            .await?;
        let mut copied = 0;
        for (account, name, meta) in sources {
            match self.sync_container(&account, &name, &meta, points).await {
                Ok(n) => copied += n,
                Err(e) => {
                    tracing::warn!(error = %e, %account, container = %name, "container sync")
                }
            }
        }
        Ok(copied)
    }

    async fn sync_container(
        &self,
        account: &str,
        name: &str,
        meta: &Meta,
        points: &mut HashMap<(String, String), SyncPoint>,
    ) -> ApiResult<usize> {
        let Some((to_account, to_container)) = self.sync_target(meta).await? else {
            return Ok(0);
        };
        let to = (to_account.as_str(), to_container.as_str());
        let point = points
            .entry((account.to_owned(), name.to_owned()))
            .or_default();
        let copied = self.sync_copies(account, name, to, point).await?;
        Ok(copied + self.sync_deletes(account, name, to, point).await?)
    }

    /// The container a syncing container's metadata names, when it exists and
    /// holds the same key (Swift's realm check).
    async fn sync_target(&self, meta: &Meta) -> ApiResult<Option<(String, String)>> {
        let (Some(to), Some(key)) = (
            meta.get("x-container-sync-to").filter(|v| !v.is_empty()),
            meta.get("x-container-sync-key").filter(|v| !v.is_empty()),
        ) else {
            return Ok(None);
        };
        let Ok((to_account, to_container)) = parse_sync_to(to) else {
            return Ok(None);
        };
        let Some(target) = self.container_find(&to_account, &to_container).await? else {
            return Ok(None);
        };
        if target.meta.get("x-container-sync-key") != Some(key) {
            return Ok(None);
        }
        Ok(Some((to_account, to_container)))
    }

    /// Copies the objects written since the point to the target, when the copy
    /// there is missing or older and different; moves the point on.
    async fn sync_copies(
        &self,
        account: &str,
        name: &str,
        (to_account, to_container): (&str, &str),
        point: &mut SyncPoint,
    ) -> ApiResult<usize> {
        let since = point.objects;
        let (a, c) = (account.to_owned(), name.to_owned());
        let objects = self
            .read(move |db| store::objects_since(db, &a, &c, since, now_secs(), BATCH).map_err(sql))
            .await?;
        let mut copied = 0;
        for o in objects {
            let ts = o.ts;
            let there = self.object_find(to_account, to_container, &o.name).await?;
            if there.is_none_or(|t| t.etag != o.etag && t.ts < o.ts) {
                self.sync_object_copy(to_account, to_container, o).await?;
                copied += 1;
            }
            point.objects = point_after(ts, since);
        }
        Ok(copied)
    }

    /// Writes one object's whole content into the target with its own timestamp.
    async fn sync_object_copy(
        &self,
        to_account: &str,
        to_container: &str,
        o: model::Object,
    ) -> ApiResult<()> {
        let ts = o.ts;
        let body = self.object_body(o.clone()).await?;
        let input = PutInput {
            content_type: o.content_type.clone(),
            meta: o.meta.clone(),
            delete_at: o.delete_at,
            dlo_manifest: None,
            etag: None,
            content_length: Some(body.size),
            if_none_match_star: false,
        };
        let stream = self.stream(body.pieces);
        self.object_put_at(to_account, to_container, &o.name, input, stream, Some(ts))
            .await?;
        Ok(())
    }

    /// Passes the deletes since the point on to the target, where its copy is
    /// older than the delete; moves the point on.
    async fn sync_deletes(
        &self,
        account: &str,
        name: &str,
        (to_account, to_container): (&str, &str),
        point: &mut SyncPoint,
    ) -> ApiResult<usize> {
        let since = point.deletes;
        let (a, c) = (account.to_owned(), name.to_owned());
        let deletes = self
            .read(move |db| store::tombstones_since(db, &a, &c, since, BATCH).map_err(sql))
            .await?;
        let mut deleted = 0;
        for (object, ts) in deletes {
            let there = self.object_find(to_account, to_container, &object).await?;
            if there.is_some_and(|t| t.ts < ts) {
                match self.object_delete(to_account, to_container, &object).await {
                    Ok(()) => deleted += 1,
                    // Deleted there meanwhile: nothing left to pass on.
                    Err(ApiError::Missing(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            point.deletes = point_after(ts, since);
        }
        Ok(deleted)
    }

    /// The sync loop, for the daemon's lifetime.
    pub(crate) async fn run_sync(self) {
        let mut points = HashMap::new();
        loop {
            match self.sync_once(&mut points).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(objects = n, "container sync copied or deleted objects"),
                Err(e) => tracing::warn!(error = %e, "container sync"),
            }
            tokio::time::sleep(SYNC_INTERVAL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_targets() {
        assert_eq!(
            parse_sync_to("//realm1/name1/AUTH_p/c"),
            Ok(("AUTH_p".into(), "c".into()))
        );
        assert!(
            parse_sync_to("//other/name1/AUTH_p/c")
                .unwrap_err()
                .starts_with("No realm key")
        );
        assert!(
            parse_sync_to("//realm1/x/AUTH_p/c")
                .unwrap_err()
                .starts_with("No cluster endpoint")
        );
        assert_eq!(
            parse_sync_to("http://127.0.0.1:8080/object-storage/v1/AUTH_p/c"),
            Ok(("AUTH_p".into(), "c".into()))
        );
        assert!(parse_sync_to("http://example.com/v1/AUTH_p/c").is_err());
        assert!(parse_sync_to("ftp://127.0.0.1/v1/AUTH_p/c").is_err());
    }
}
