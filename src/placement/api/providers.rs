//! Resource providers and what hangs off them: inventories, traits, aggregates,
//! usages and allocations (api-ref: resource_providers, resource_provider,
//! inventories, inventory, resource_provider_traits, aggregates,
//! resource_provider_usages, resource_provider_allocations).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Admin, Mv, PREFIX, check_params, link, location, query_pairs, single};
use crate::cloud::Cloud;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Json;
use crate::placement::model::{
    InventoryFields, InventorySpec, Provider, parse_member_of, parse_required, parse_resources,
};
use crate::placement::{ProviderFilter, normalize_uuid};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route(
            "/resource_providers",
            get(resource_provider_list).post(resource_provider_create),
        )
        .route(
            "/resource_providers/{uuid}",
            get(resource_provider_show)
                .put(resource_provider_update)
                .delete(resource_provider_delete),
        )
        .route(
            "/resource_providers/{uuid}/inventories",
            get(inventory_list)
                .put(inventory_replace)
                .post(inventory_create)
                .delete(inventory_delete_all),
        )
        .route(
            "/resource_providers/{uuid}/inventories/{class}",
            get(inventory_show)
                .put(inventory_update)
                .delete(inventory_delete),
        )
        .route(
            "/resource_providers/{uuid}/traits",
            get(provider_traits_list)
                .put(provider_traits_update)
                .delete(provider_traits_delete),
        )
        .route(
            "/resource_providers/{uuid}/aggregates",
            get(aggregates_list).put(aggregates_update),
        )
        .route("/resource_providers/{uuid}/usages", get(provider_usages))
        .route(
            "/resource_providers/{uuid}/allocations",
            get(provider_allocations),
        )
}

fn provider_href(uuid: &str) -> String {
    format!("{PREFIX}/resource_providers/{uuid}")
}

/// A provider as shown at this microversion (links grow with it; tree fields at 1.14).
fn provider_view(p: &Provider, mv: Mv) -> Value {
    let base = provider_href(&p.uuid);
    let mut links = vec![link("self", base.clone())];
    if mv.at_least(1) {
        links.push(link("aggregates", format!("{base}/aggregates")));
    }
    links.push(link("inventories", format!("{base}/inventories")));
    links.push(link("usages", format!("{base}/usages")));
    if mv.at_least(6) {
        links.push(link("traits", format!("{base}/traits")));
    }
    if mv.at_least(11) {
        links.push(link("allocations", format!("{base}/allocations")));
    }
    let mut v = json!({
        "uuid": p.uuid, "name": p.name, "generation": p.generation, "links": links,
    });
    if mv.at_least(14) {
        v["parent_provider_uuid"] = json!(p.parent_uuid);
        v["root_provider_uuid"] = json!(p.root_uuid);
    }
    v
}

fn inventory_view(i: &InventorySpec) -> Value {
    json!({
        "total": i.total, "reserved": i.reserved, "min_unit": i.min_unit,
        "max_unit": i.max_unit, "step_size": i.step_size,
        "allocation_ratio": i.allocation_ratio,
    })
}

fn path_uuid(uuid: &str) -> ApiResult<String> {
    // A malformed UUID can name no provider: Placement answers 404 too.
    uuid::Uuid::parse_str(uuid)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::Missing(format!("No resource provider with uuid {uuid} found")))
}

/// `GET /resource_providers` with name, uuid, member_of (1.3), resources (1.4),
/// in_tree (1.14) and required (1.18; forbidden `!` from 1.22) filters.
async fn resource_provider_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    let pairs = query_pairs(raw)?;
    let mut allowed = vec!["name", "uuid"];
    for (minor, key) in [
        (3, "member_of"),
        (4, "resources"),
        (14, "in_tree"),
        (18, "required"),
    ] {
        if mv.at_least(minor) {
            allowed.push(key);
        }
    }
    check_params(&pairs, &allowed)?;
    let mut f = ProviderFilter {
        name: single(&pairs, "name")?.map(str::to_owned),
        uuid: single(&pairs, "uuid")?
            .map(|u| normalize_uuid(u, "uuid"))
            .transpose()?,
        in_tree: single(&pairs, "in_tree")?
            .map(|u| normalize_uuid(u, "in_tree"))
            .transpose()?,
        ..Default::default()
    };
    let member_of: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "member_of")
        .map(|(_, v)| v.as_str())
        .collect();
    if member_of.len() > 1 && !mv.at_least(24) {
        single(&pairs, "member_of")?;
    }
    f.member_of = member_of
        .into_iter()
        .map(parse_member_of)
        .collect::<ApiResult<_>>()?;
    if let Some(r) = single(&pairs, "resources")? {
        f.resources = parse_resources(r)?;
    }
    if let Some(r) = single(&pairs, "required")? {
        f.traits = parse_required(r, mv.at_least(22))?;
    }
    let list = cloud.placement.provider_list(f).await?;
    let views: Vec<Value> = list.iter().map(|p| provider_view(p, mv)).collect();
    Ok(axum::Json(json!({"resource_providers": views})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderCreate {
    name: String,
    uuid: Option<String>,
    #[serde(default)]
    parent_provider_uuid: Option<String>,
}

/// `POST /resource_providers`: 201 without a body, from 1.20 200 with the provider.
async fn resource_provider_create(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    headers: HeaderMap,
    Json(body): Json<ProviderCreate>,
) -> ApiResult<Response> {
    let parent = parent_field(body.parent_provider_uuid, mv)?;
    let p = cloud
        .placement
        .provider_create(body.uuid, body.name, parent)
        .await?;
    let location = location(&headers, &provider_href(&p.uuid));
    if mv.at_least(20) {
        Ok((StatusCode::OK, location, axum::Json(provider_view(&p, mv))).into_response())
    } else {
        Ok((StatusCode::CREATED, location).into_response())
    }
}

fn parent_field(parent: Option<String>, mv: Mv) -> ApiResult<Option<String>> {
    match parent {
        Some(_) if !mv.at_least(14) => Err(ApiError::bad_request(
            "JSON does not validate: Additional properties are not allowed \
             ('parent_provider_uuid' was unexpected)",
        )),
        Some(p) => Ok(Some(normalize_uuid(&p, "parent_provider_uuid")?)),
        None => Ok(None),
    }
}

async fn resource_provider_show(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let p = cloud.placement.provider_get(&path_uuid(&uuid)?).await?;
    Ok(axum::Json(provider_view(&p, mv)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderUpdate {
    name: String,
    /// Absent: unchanged; null: un-parent (refused before 1.37).
    #[serde(default, deserialize_with = "present")]
    parent_provider_uuid: Option<Option<String>>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn resource_provider_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
    Json(body): Json<ProviderUpdate>,
) -> ApiResult<axum::Json<Value>> {
    let uuid = path_uuid(&uuid)?;
    let parent = match body.parent_provider_uuid {
        None => None,
        Some(Some(p)) => Some(parent_field(Some(p), mv)?),
        Some(None) if mv.at_least(14) => Some(None),
        Some(None) => {
            return Err(parent_field(Some(String::new()), mv)
                .err()
                .unwrap_or_else(|| ApiError::bad_request("parent_provider_uuid is not allowed")));
        }
    };
    let p = cloud
        .placement
        .provider_update(&uuid, body.name, parent, false)
        .await?;
    Ok(axum::Json(provider_view(&p, mv)))
}

async fn resource_provider_delete(
    _: Admin,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.placement.provider_delete(&path_uuid(&uuid)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- inventories -------------------------------------------------------------------

async fn inventory_list(
    _: Admin,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (rp_gen, invs) = cloud.placement.inventories_get(&path_uuid(&uuid)?).await?;
    Ok(axum::Json(inventories_body(rp_gen, &invs)))
}

fn inventories_body(rp_gen: i64, invs: &[InventorySpec]) -> Value {
    let map: Map<String, Value> = invs
        .iter()
        .map(|i| (i.resource_class.clone(), inventory_view(i)))
        .collect();
    json!({"inventories": map, "resource_provider_generation": rp_gen})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoriesPut {
    resource_provider_generation: i64,
    inventories: BTreeMap<String, InventoryFields>,
}

/// `PUT /resource_providers/{uuid}/inventories`: replaces them all.
async fn inventory_replace(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
    Json(body): Json<InventoriesPut>,
) -> ApiResult<axum::Json<Value>> {
    let invs: Vec<InventorySpec> = body
        .inventories
        .into_iter()
        .map(|(class, f)| f.with_class(class))
        .collect();
    let (rp_gen, invs) = cloud
        .placement
        .inventories_put(
            &path_uuid(&uuid)?,
            body.resource_provider_generation,
            invs,
            mv.at_least(26),
        )
        .await?;
    Ok(axum::Json(inventories_body(rp_gen, &invs)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryPost {
    resource_class: String,
    resource_provider_generation: i64,
    total: i64,
    reserved: Option<i64>,
    min_unit: Option<i64>,
    max_unit: Option<i64>,
    step_size: Option<i64>,
    allocation_ratio: Option<f64>,
}

/// One inventory's fields as sent, defaults not yet applied.
struct InventoryFieldsLoose {
    total: i64,
    reserved: Option<i64>,
    min_unit: Option<i64>,
    max_unit: Option<i64>,
    step_size: Option<i64>,
    allocation_ratio: Option<f64>,
}

impl InventoryFieldsLoose {
    fn with_class(self, class: String) -> InventorySpec {
        InventorySpec {
            resource_class: class,
            total: self.total,
            reserved: self.reserved.unwrap_or(0),
            min_unit: self.min_unit.unwrap_or(1),
            max_unit: self.max_unit.unwrap_or(crate::placement::model::MAX_INT),
            step_size: self.step_size.unwrap_or(1),
            allocation_ratio: self.allocation_ratio.unwrap_or(1.0),
        }
    }
}

fn inventory_body(rp_gen: i64, inv: &InventorySpec) -> Value {
    let mut v = inventory_view(inv);
    v["resource_provider_generation"] = json!(rp_gen);
    v
}

/// `POST /resource_providers/{uuid}/inventories`: one new class, 201.
async fn inventory_create(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    Json(body): Json<InventoryPost>,
) -> ApiResult<Response> {
    let uuid = path_uuid(&uuid)?;
    let fields = InventoryFieldsLoose {
        total: body.total,
        reserved: body.reserved,
        min_unit: body.min_unit,
        max_unit: body.max_unit,
        step_size: body.step_size,
        allocation_ratio: body.allocation_ratio,
    };
    let inv = fields.with_class(body.resource_class);
    let (rp_gen, inv) = cloud
        .placement
        .inventory_write(
            &uuid,
            body.resource_provider_generation,
            inv,
            true,
            mv.at_least(26),
        )
        .await?;
    let location = location(
        &headers,
        &format!(
            "{}/inventories/{}",
            provider_href(&uuid),
            inv.resource_class
        ),
    );
    Ok((
        StatusCode::CREATED,
        location,
        axum::Json(inventory_body(rp_gen, &inv)),
    )
        .into_response())
}

async fn inventory_delete_all(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(5)?;
    cloud
        .placement
        .inventories_delete(&path_uuid(&uuid)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn inventory_show(
    _: Admin,
    State(cloud): State<Cloud>,
    Path((uuid, class)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let (rp_gen, inv) = cloud
        .placement
        .inventory_get(&path_uuid(&uuid)?, &class)
        .await?;
    Ok(axum::Json(inventory_body(rp_gen, &inv)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryPut {
    resource_provider_generation: i64,
    total: i64,
    reserved: Option<i64>,
    min_unit: Option<i64>,
    max_unit: Option<i64>,
    step_size: Option<i64>,
    allocation_ratio: Option<f64>,
}

/// `PUT /resource_providers/{uuid}/inventories/{class}`: updates an existing one.
async fn inventory_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path((uuid, class)): Path<(String, String)>,
    Json(b): Json<InventoryPut>,
) -> ApiResult<axum::Json<Value>> {
    let fields = InventoryFieldsLoose {
        total: b.total,
        reserved: b.reserved,
        min_unit: b.min_unit,
        max_unit: b.max_unit,
        step_size: b.step_size,
        allocation_ratio: b.allocation_ratio,
    };
    let (rp_gen, inv) = cloud
        .placement
        .inventory_write(
            &path_uuid(&uuid)?,
            b.resource_provider_generation,
            fields.with_class(class),
            false,
            mv.at_least(26),
        )
        .await?;
    Ok(axum::Json(inventory_body(rp_gen, &inv)))
}

async fn inventory_delete(
    _: Admin,
    State(cloud): State<Cloud>,
    Path((uuid, class)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    cloud
        .placement
        .inventory_delete(&path_uuid(&uuid)?, &class)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- traits (1.6) ------------------------------------------------------------------

fn traits_body(rp_gen: i64, traits: &[String]) -> Value {
    json!({"traits": traits, "resource_provider_generation": rp_gen})
}

async fn provider_traits_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(6)?;
    let (rp_gen, traits) = cloud
        .placement
        .provider_traits_get(&path_uuid(&uuid)?)
        .await?;
    Ok(axum::Json(traits_body(rp_gen, &traits)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraitsPut {
    traits: Vec<String>,
    resource_provider_generation: i64,
}

async fn provider_traits_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
    Json(body): Json<TraitsPut>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(6)?;
    let (rp_gen, traits) = cloud
        .placement
        .provider_traits_put(
            &path_uuid(&uuid)?,
            body.resource_provider_generation,
            body.traits,
        )
        .await?;
    Ok(axum::Json(traits_body(rp_gen, &traits)))
}

async fn provider_traits_delete(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(6)?;
    cloud
        .placement
        .provider_traits_delete(&path_uuid(&uuid)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- aggregates (1.1; generation from 1.19) -------------------------------------------

fn aggregates_body(rp_gen: i64, aggs: &[String], mv: Mv) -> Value {
    let mut v = json!({"aggregates": aggs});
    if mv.at_least(19) {
        v["resource_provider_generation"] = json!(rp_gen);
    }
    v
}

async fn aggregates_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(1)?;
    let (rp_gen, aggs) = cloud.placement.aggregates_get(&path_uuid(&uuid)?).await?;
    Ok(axum::Json(aggregates_body(rp_gen, &aggs, mv)))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AggregatesPut {
    /// 1.19+: `{"aggregates": [...], "resource_provider_generation": N}`
    WithGeneration {
        aggregates: Vec<String>,
        resource_provider_generation: i64,
    },
    /// Before 1.19: a bare list.
    List(Vec<String>),
}

async fn aggregates_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
    Json(body): Json<AggregatesPut>,
) -> ApiResult<axum::Json<Value>> {
    mv.require(1)?;
    let (rp_gen, aggs) = match (body, mv.at_least(19)) {
        (
            AggregatesPut::WithGeneration {
                aggregates,
                resource_provider_generation,
            },
            true,
        ) => (Some(resource_provider_generation), aggregates),
        (AggregatesPut::List(a), false) => (None, a),
        (_, true) => {
            return Err(ApiError::bad_request(
                "JSON does not validate: an object with 'aggregates' and \
                 'resource_provider_generation' is required",
            ));
        }
        (_, false) => {
            return Err(ApiError::bad_request(
                "JSON does not validate: a list of aggregate UUIDs is required",
            ));
        }
    };
    let (rp_gen, aggs) = cloud
        .placement
        .aggregates_put(&path_uuid(&uuid)?, rp_gen, aggs)
        .await?;
    Ok(axum::Json(aggregates_body(rp_gen, &aggs, mv)))
}

// --- usages and allocations of one provider ------------------------------------------

async fn provider_usages(
    _: Admin,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (rp_gen, usages) = cloud
        .placement
        .provider_usage_view(&path_uuid(&uuid)?)
        .await?;
    Ok(axum::Json(
        json!({"usages": usages, "resource_provider_generation": rp_gen}),
    ))
}

async fn provider_allocations(
    _: Admin,
    State(cloud): State<Cloud>,
    Path(uuid): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let (rp_gen, allocs) = cloud
        .placement
        .provider_allocations(&path_uuid(&uuid)?)
        .await?;
    let map: Map<String, Value> = allocs
        .into_iter()
        .map(|(c, r)| (c, json!({"resources": r})))
        .collect();
    Ok(axum::Json(
        json!({"allocations": map, "resource_provider_generation": rp_gen}),
    ))
}
