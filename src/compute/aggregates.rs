//! Host aggregates (api-ref: compute "Host aggregates (os-aggregates)"): named
//! groups of this cloud's compute host with metadata; as in Nova, the
//! `availability_zone` metadata key is the aggregate's zone. Every operation is
//! admin-only (Nova's default policy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ComputeService;
use super::store::aggregates as store;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// The metadata key holding an aggregate's availability zone.
pub(crate) const AZ_KEY: &str = "availability_zone";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Aggregate {
    /// Stored in their own columns.
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub uuid: String,
    #[serde(skip)]
    pub name: String,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl Aggregate {
    pub(crate) fn availability_zone(&self) -> Option<&str> {
        self.metadata.get(AZ_KEY).map(String::as_str)
    }
}

/// A change to an aggregate: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct AggregateChange {
    pub name: Option<String>,
    /// `Some(None)` removes the zone.
    pub availability_zone: Option<Option<String>>,
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

fn not_found(id: i64) -> ApiError {
    ApiError::Missing(format!("Aggregate {id} could not be found."))
}

fn check_zone(zone: Option<&str>) -> ApiResult<()> {
    if zone == Some("internal") {
        return Err(ApiError::bad_request(
            "Aggregates can not have the availability zone 'internal' of the internal services.",
        ));
    }
    Ok(())
}

impl ComputeService {
    pub(crate) async fn aggregate_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Aggregate>> {
        ctx.require_admin()?;
        self.read(store::list).await
    }

    pub(crate) async fn aggregate_get(
        &self,
        ctx: &RequestContext,
        id: i64,
    ) -> ApiResult<Aggregate> {
        ctx.require_admin()?;
        self.read(move |c| store::get(c, id)?.ok_or_else(|| not_found(id)))
            .await
    }

    pub(crate) async fn aggregate_create(
        &self,
        ctx: &RequestContext,
        name: String,
        zone: Option<String>,
    ) -> ApiResult<Aggregate> {
        ctx.require_admin()?;
        check_zone(zone.as_deref())?;
        let mut a = Aggregate {
            uuid: uuid::Uuid::new_v4().to_string(),
            name,
            created_at: now(),
            ..Aggregate::default()
        };
        if let Some(z) = zone {
            a.metadata.insert(AZ_KEY.into(), z);
        }
        self.write(move |c| {
            a.id = store::insert(c, &a)?;
            Ok(a)
        })
        .await
    }

    /// Applies `f` to the stored aggregate and writes it back, stamping `updated_at`.
    async fn aggregate_modify(
        &self,
        ctx: &RequestContext,
        id: i64,
        f: impl FnOnce(&mut Aggregate) -> ApiResult<()> + Send + 'static,
    ) -> ApiResult<Aggregate> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut a = store::get(c, id)?.ok_or_else(|| not_found(id))?;
            f(&mut a)?;
            check_zone(a.availability_zone())?;
            a.updated_at = Some(now());
            store::put(c, &a)?;
            Ok(a)
        })
        .await
    }

    pub(crate) async fn aggregate_update(
        &self,
        ctx: &RequestContext,
        id: i64,
        change: AggregateChange,
    ) -> ApiResult<Aggregate> {
        self.aggregate_modify(ctx, id, move |a| {
            if let Some(n) = change.name {
                a.name = n;
            }
            match change.availability_zone {
                Some(Some(z)) => {
                    a.metadata.insert(AZ_KEY.into(), z);
                }
                Some(None) => {
                    a.metadata.remove(AZ_KEY);
                }
                None => {}
            }
            Ok(())
        })
        .await
    }

    /// Sets metadata keys; a `None` value removes the key.
    pub(crate) async fn aggregate_set_metadata(
        &self,
        ctx: &RequestContext,
        id: i64,
        metadata: BTreeMap<String, Option<String>>,
    ) -> ApiResult<Aggregate> {
        self.aggregate_modify(ctx, id, move |a| {
            for (k, v) in metadata {
                match v {
                    Some(v) => a.metadata.insert(k, v),
                    None => a.metadata.remove(&k),
                };
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn aggregate_add_host(
        &self,
        ctx: &RequestContext,
        id: i64,
        host: String,
    ) -> ApiResult<Aggregate> {
        ctx.require_admin()?;
        if host != self.config().host {
            return Err(ApiError::Missing(format!(
                "Compute host {host} could not be found."
            )));
        }
        let others = self.read(store::list).await?;
        self.aggregate_modify(ctx, id, move |a| {
            if a.hosts.contains(&host) {
                return Err(ApiError::Conflict(format!(
                    "Aggregate {id} already has host {host}."
                )));
            }
            zone_fits(a, &others, &host)?;
            a.hosts.push(host);
            Ok(())
        })
        .await
    }

    pub(crate) async fn aggregate_remove_host(
        &self,
        ctx: &RequestContext,
        id: i64,
        host: String,
    ) -> ApiResult<Aggregate> {
        self.aggregate_modify(ctx, id, move |a| {
            let before = a.hosts.len();
            a.hosts.retain(|h| h != &host);
            if a.hosts.len() == before {
                return Err(ApiError::Missing(format!(
                    "Cannot remove host {host} in aggregate {id}"
                )));
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn aggregate_delete(&self, ctx: &RequestContext, id: i64) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let a = store::get(c, id)?.ok_or_else(|| not_found(id))?;
            if !a.hosts.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "Cannot delete aggregate: {id}. Reason: Host aggregate is not empty."
                )));
            }
            store::delete(c, id)
        })
        .await
    }

    /// The availability zone of this cloud's compute host: the zone of an
    /// aggregate holding it, else Nova's default `nova`.
    /// Request Image Pre-caching (2.81): every image must exist; when this host
    /// is in the aggregate, each image's base file (`_base/<image id>`, what
    /// builds back their root disks on) is made in the background, as Nova's
    /// computes do on the conductor's cast. A failure is logged, as in Nova.
    pub(crate) async fn aggregate_cache_images(
        &self,
        ctx: &RequestContext,
        id: i64,
        image_ids: Vec<String>,
    ) -> ApiResult<()> {
        let agg = self.aggregate_get(ctx, id).await?;
        let mut images = Vec::new();
        for image_id in image_ids {
            let image = self
                .inner
                .image
                .image_get(ctx, image_id.clone())
                .await
                .map_err(|e| match e {
                    ApiError::Internal(e) => ApiError::Internal(e),
                    _ => ApiError::bad_request(format!("Image {image_id} could not be found.")),
                })?;
            images.push(image);
        }
        if !agg.hosts.contains(&self.config().host) {
            return Ok(());
        }
        let this = self.clone();
        tokio::spawn(async move {
            for image in images {
                match this.cache_image(&image).await {
                    Ok(()) => tracing::info!(image = %image.id, "image cached"),
                    Err(e) => {
                        tracing::warn!(image = %image.id, error = %e, "caching the image failed")
                    }
                }
            }
        });
        Ok(())
    }

    pub(crate) async fn host_zone(&self) -> ApiResult<String> {
        let host = self.config().host.clone();
        let all = self.read(store::list).await?;
        Ok(all
            .iter()
            .filter(|a| a.hosts.contains(&host))
            .find_map(|a| a.availability_zone().map(str::to_owned))
            .unwrap_or_else(|| "nova".into()))
    }
}

/// A host may be in several aggregates but in one availability zone only.
fn zone_fits(a: &Aggregate, all: &[Aggregate], host: &str) -> ApiResult<()> {
    let Some(zone) = a.availability_zone() else {
        return Ok(());
    };
    let clash: Vec<&str> = all
        .iter()
        .filter(|o| o.id != a.id && o.hosts.iter().any(|h| h == host))
        .filter_map(|o| o.availability_zone())
        .filter(|z| *z != zone)
        .collect();
    if clash.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Cannot add host to aggregate {}. Reason: One or more hosts already in availability zone(s) {clash:?}.",
            a.id
        )))
    }
}
