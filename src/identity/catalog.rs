//! Regions, services and endpoints, and the service catalog built from them.

use std::sync::Arc;

use serde::Deserialize;

use super::model::*;
use super::{Identity, found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct RegionInput {
    pub id: Option<String>,
    pub description: Option<String>,
    pub parent_region_id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ServiceInput {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct EndpointInput {
    pub service_id: Option<String>,
    pub interface: Option<String>,
    pub region_id: Option<String>,
    /// Older clients send `region` for the region id.
    pub region: Option<String>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
}

/// One service of the catalog with its enabled endpoints.
#[derive(Debug, Clone)]
pub(crate) struct CatalogEntry {
    pub service: Service,
    pub endpoints: Vec<Endpoint>,
}

fn check_interface(i: &str) -> ApiResult<()> {
    if matches!(i, "public" | "internal" | "admin") {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid input for field 'interface': '{i}' is not one of ['public', 'internal', 'admin']"
        )))
    }
}

fn check_url(u: &str) -> ApiResult<()> {
    url::Url::parse(u).map(drop).map_err(|_| {
        ApiError::bad_request(format!("Invalid input for field 'url': '{u}' is not a URL"))
    })
}

/// An endpoint's region: `region_id`, or the legacy `region`; both must agree.
fn endpoint_region(region_id: Option<String>, region: Option<String>) -> ApiResult<Option<String>> {
    match (region_id, region) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad_request(
            "Conflicting region_id and region in the endpoint.",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// Keystone creates the region an endpoint names when it does not exist yet.
fn ensure_region(c: &rusqlite::Connection, id: &str) -> ApiResult<()> {
    if store::region_get(c, id)?.is_none() {
        store::region_insert(
            c,
            &Region {
                id: id.to_owned(),
                description: String::new(),
                parent_region_id: None,
            },
        )?;
    }
    Ok(())
}

impl Identity {
    /// The catalog of every enabled service with its enabled endpoints.
    pub(crate) async fn catalog(&self) -> ApiResult<Arc<Vec<CatalogEntry>>> {
        let generation = self.generation();
        {
            let cached = self
                .inner_catalog()
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((_, cat)) = cached.as_ref().filter(|(g, _)| *g == generation) {
                return Ok(cat.clone());
            }
        }
        let cat = Arc::new(
            self.read(|c| {
                let endpoints = store::endpoint_list(c)?;
                Ok(store::service_list(c)?
                    .into_iter()
                    .filter(|s| s.enabled)
                    .map(|service| CatalogEntry {
                        endpoints: endpoints
                            .iter()
                            .filter(|e| e.enabled && e.service_id == service.id)
                            .cloned()
                            .collect(),
                        service,
                    })
                    .collect::<Vec<_>>())
            })
            .await?,
        );
        *self
            .inner_catalog()
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((generation, cat.clone()));
        Ok(cat)
    }

    // --- regions ----------------------------------------------------------------

    pub(crate) async fn region_create(
        &self,
        ctx: &RequestContext,
        input: RegionInput,
    ) -> ApiResult<Region> {
        ctx.require_admin()?;
        crate::http::validate::max_len("id", input.id.as_deref(), 255)?;
        self.write(move |c| {
            if let Some(p) = input.parent_region_id.as_deref() {
                found(store::region_get(c, p)?, "region", p)?;
            }
            let r = Region {
                id: input.id.unwrap_or_else(new_id),
                description: input.description.unwrap_or_default(),
                parent_region_id: input.parent_region_id,
            };
            store::region_insert(c, &r)?;
            Ok(r)
        })
        .await
    }

    pub(crate) async fn region_list(&self, _ctx: &RequestContext) -> ApiResult<Vec<Region>> {
        self.read(store::region_list).await
    }

    pub(crate) async fn region_get(&self, _ctx: &RequestContext, id: String) -> ApiResult<Region> {
        self.read(move |c| found(store::region_get(c, &id)?, "region", &id))
            .await
    }

    pub(crate) async fn region_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: RegionInput,
    ) -> ApiResult<Region> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut r = found(store::region_get(c, &id)?, "region", &id)?;
            if let Some(v) = input.description {
                r.description = v;
            }
            if let Some(p) = input.parent_region_id {
                found(store::region_get(c, &p)?, "region", &p)?;
                if p == r.id {
                    return Err(ApiError::bad_request("A region cannot be its own parent."));
                }
                r.parent_region_id = Some(p);
            }
            store::region_update(c, &r)?;
            Ok(r)
        })
        .await
    }

    pub(crate) async fn region_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::region_get(c, &id)?, "region", &id)?;
            if store::region_in_use(c, &id)? {
                return Err(ApiError::Conflict(format!(
                    "Region {id} is referenced by endpoints or child regions."
                )));
            }
            store::region_delete(c, &id)
        })
        .await
    }

    // --- services ---------------------------------------------------------------

    pub(crate) async fn service_create(
        &self,
        ctx: &RequestContext,
        input: ServiceInput,
    ) -> ApiResult<Service> {
        ctx.require_admin()?;
        let service_type = input
            .service_type
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Invalid input for field 'type': 'type' is a required property.",
                )
            })?;
        let s = Service {
            id: new_id(),
            service_type,
            name: input.name.unwrap_or_default(),
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
        };
        let out = s.clone();
        self.write(move |c| store::service_insert(c, &s)).await?;
        Ok(out)
    }

    pub(crate) async fn service_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Service>> {
        ctx.require_admin()?;
        self.read(store::service_list).await
    }

    pub(crate) async fn service_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Service> {
        ctx.require_admin()?;
        self.read(move |c| found(store::service_get(c, &id)?, "service", &id))
            .await
    }

    pub(crate) async fn service_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: ServiceInput,
    ) -> ApiResult<Service> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut s = found(store::service_get(c, &id)?, "service", &id)?;
            if let Some(v) = input.service_type {
                s.service_type = v;
            }
            if let Some(v) = input.name {
                s.name = v;
            }
            if let Some(v) = input.description {
                s.description = v;
            }
            if let Some(v) = input.enabled {
                s.enabled = v;
            }
            store::service_update(c, &s)?;
            Ok(s)
        })
        .await
    }

    pub(crate) async fn service_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::service_get(c, &id)?, "service", &id)?;
            store::service_delete(c, &id)
        })
        .await
    }

    // --- endpoints --------------------------------------------------------------

    pub(crate) async fn endpoint_create(
        &self,
        ctx: &RequestContext,
        input: EndpointInput,
    ) -> ApiResult<Endpoint> {
        ctx.require_admin()?;
        let service_id = input.service_id.ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field 'service_id': 'service_id' is a required property.",
            )
        })?;
        let interface = input.interface.ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field 'interface': 'interface' is a required property.",
            )
        })?;
        let url = input.url.ok_or_else(|| {
            ApiError::bad_request("Invalid input for field 'url': 'url' is a required property.")
        })?;
        check_interface(&interface)?;
        check_url(&url)?;
        self.write(move |c| {
            found(store::service_get(c, &service_id)?, "service", &service_id)?;
            let region_id = endpoint_region(input.region_id, input.region)?;
            if let Some(r) = region_id.as_deref() {
                ensure_region(c, r)?;
            }
            let e = Endpoint {
                id: new_id(),
                service_id,
                interface,
                region_id,
                url,
                enabled: input.enabled.unwrap_or(true),
            };
            store::endpoint_insert(c, &e)?;
            Ok(e)
        })
        .await
    }

    pub(crate) async fn endpoint_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Endpoint>> {
        ctx.require_admin()?;
        self.read(store::endpoint_list).await
    }

    pub(crate) async fn endpoint_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Endpoint> {
        ctx.require_admin()?;
        self.read(move |c| found(store::endpoint_get(c, &id)?, "endpoint", &id))
            .await
    }

    pub(crate) async fn endpoint_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: EndpointInput,
    ) -> ApiResult<Endpoint> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut e = found(store::endpoint_get(c, &id)?, "endpoint", &id)?;
            if let Some(v) = input.service_id {
                found(store::service_get(c, &v)?, "service", &v)?;
                e.service_id = v;
            }
            if let Some(v) = input.interface {
                check_interface(&v)?;
                e.interface = v;
            }
            if let Some(v) = endpoint_region(input.region_id, input.region)? {
                ensure_region(c, &v)?;
                e.region_id = Some(v);
            }
            if let Some(v) = input.url {
                check_url(&v)?;
                e.url = v;
            }
            if let Some(v) = input.enabled {
                e.enabled = v;
            }
            store::endpoint_update(c, &e)?;
            Ok(e)
        })
        .await
    }

    pub(crate) async fn endpoint_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(store::endpoint_get(c, &id)?, "endpoint", &id)?;
            store::endpoint_delete(c, &id)
        })
        .await
    }
}
