//! Consumers' allocations, project usages and allocation candidates (api-ref:
//! allocations, usages, allocation_candidates).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Admin, Mv, check_params, query_pairs, single};
use crate::cloud::Cloud;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Json, parse};
use crate::placement::model::{
    ConsumerAllocations, ProviderResources, parse_member_of, parse_required, parse_resources,
};
use crate::placement::{CandidateRequest, INCOMPLETE_CONSUMER, normalize_uuid};

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/allocations", axum::routing::post(allocation_manage))
        .route(
            "/allocations/{consumer}",
            get(allocation_show)
                .put(allocation_update)
                .delete(allocation_delete),
        )
        .route("/usages", get(usage_list))
        .route("/allocation_candidates", get(allocation_candidate_list))
}

/// `GET /allocations/{consumer}`; owner from 1.12, consumer generation from 1.28.
async fn allocation_show(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(consumer): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let view = cloud.placement.allocations_get(&consumer).await?;
    let allocs: Map<String, Value> = view
        .allocations
        .into_iter()
        .map(|(p, (rp_gen, r))| (p, json!({"generation": rp_gen, "resources": r})))
        .collect();
    let mut body = json!({"allocations": allocs});
    if let (true, Some(c)) = (mv.at_least(12), &view.consumer) {
        body["project_id"] = json!(c.project_id);
        body["user_id"] = json!(c.user_id);
        if mv.at_least(28) {
            body["consumer_generation"] = json!(c.generation);
        }
    }
    Ok(axum::Json(body))
}

/// Distinguishes `"consumer_generation": null` from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Before 1.12: a list of `{"resource_provider": {"uuid"}, "resources"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListBody {
    allocations: Vec<ListItem>,
    project_id: Option<String>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListItem {
    resource_provider: ProviderRef,
    resources: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderRef {
    uuid: String,
}

/// From 1.12: provider UUID -> `{"resources", "generation"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictBody {
    allocations: BTreeMap<String, DictItem>,
    project_id: Option<String>,
    user_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    consumer_generation: Option<Option<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictItem {
    resources: BTreeMap<String, i64>,
    /// Informational only: Placement checks consumer, not provider, generations here.
    #[allow(dead_code)]
    generation: Option<i64>,
}

/// Turns one consumer's body into what the service writes, applying the rules of
/// this microversion (owner required from 1.8, consumer generation from 1.28).
/// `allow_empty`: POST /allocations (and PUT from 1.28) may clear a consumer.
fn consumer_request(
    consumer: &str,
    body: Value,
    mv: Mv,
    allow_empty: bool,
) -> ApiResult<ConsumerAllocations> {
    let consumer = normalize_uuid(consumer, "consumer_uuid")?;
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.into()))?;
    let (allocations, project, user, generation) = if mv.at_least(12) {
        let b: DictBody = parse(&bytes)?;
        let mut map = ProviderResources::new();
        for (p, item) in b.allocations {
            map.insert(normalize_uuid(&p, "allocations")?, item.resources);
        }
        (map, b.project_id, b.user_id, b.consumer_generation)
    } else {
        let b: ListBody = parse(&bytes)?;
        let mut map = ProviderResources::new();
        for item in b.allocations {
            let p = normalize_uuid(&item.resource_provider.uuid, "resource_provider.uuid")?;
            map.entry(p).or_default().extend(item.resources);
        }
        (map, b.project_id, b.user_id, None)
    };
    if allocations.is_empty() && !allow_empty {
        return Err(ApiError::bad_request(
            "JSON does not validate: allocations must not be empty",
        ));
    }
    if allocations.values().any(BTreeMap::is_empty) {
        return Err(ApiError::bad_request(
            "JSON does not validate: resources must name at least one resource class",
        ));
    }
    if mv.at_least(8) && (project.is_none() || user.is_none()) {
        return Err(ApiError::bad_request(
            "JSON does not validate: 'project_id' and 'user_id' are required properties",
        ));
    }
    if mv.at_least(28) && generation.is_none() {
        return Err(ApiError::bad_request(
            "JSON does not validate: 'consumer_generation' is a required property",
        ));
    }
    Ok(ConsumerAllocations {
        consumer,
        project_id: project.unwrap_or_else(|| INCOMPLETE_CONSUMER.to_owned()),
        user_id: user.unwrap_or_else(|| INCOMPLETE_CONSUMER.to_owned()),
        consumer_generation: if mv.at_least(28) { generation } else { None },
        allocations,
    })
}

/// `PUT /allocations/{consumer}`: replaces all of its allocations, 204.
async fn allocation_update(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Path(consumer): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    let req = consumer_request(&consumer, body, mv, mv.at_least(28))?;
    cloud.placement.allocations_put(vec![req]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /allocations` (1.13): several consumers in one transaction, 204.
async fn allocation_manage(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    Json(body): Json<BTreeMap<String, Value>>,
) -> ApiResult<Response> {
    mv.require(13)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "JSON does not validate: at least one consumer is required",
        ));
    }
    let reqs = body
        .into_iter()
        .map(|(consumer, v)| consumer_request(&consumer, v, mv, true))
        .collect::<ApiResult<Vec<_>>>()?;
    cloud.placement.allocations_put(reqs).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn allocation_delete(
    _: Admin,
    State(cloud): State<Cloud>,
    Path(consumer): Path<String>,
) -> ApiResult<StatusCode> {
    cloud.placement.allocations_delete(&consumer).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /usages?project_id=&user_id=` (1.9).
async fn usage_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    mv.require(9)?;
    let pairs = query_pairs(raw)?;
    check_params(&pairs, &["project_id", "user_id"])?;
    let project = single(&pairs, "project_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid query string parameters: 'project_id' is a required property",
        )
    })?;
    let user = single(&pairs, "user_id")?.map(str::to_owned);
    let usages = cloud
        .placement
        .project_usages(project.to_owned(), user)
        .await?;
    Ok(axum::Json(json!({"usages": usages})))
}

/// `GET /allocation_candidates` (1.10): single-provider candidates for `resources`,
/// with `limit` (1.16), `required` (1.17, `!` from 1.22) and `member_of` (1.21).
async fn allocation_candidate_list(
    _: Admin,
    mv: Mv,
    State(cloud): State<Cloud>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<Value>> {
    mv.require(10)?;
    let pairs = query_pairs(raw)?;
    let req = candidate_request(&mv, &pairs)?;
    let wanted = req.resources.clone();
    let found = cloud.placement.allocation_candidates(req).await?;
    Ok(axum::Json(candidates_view(&mv, &wanted, &found)))
}

/// The query of a candidates request at this microversion: only the
/// unnumbered group, only the parameters the version knows.
fn candidate_request(mv: &Mv, pairs: &[(String, String)]) -> ApiResult<CandidateRequest> {
    if mv.at_least(25)
        && let Some((k, _)) = pairs.iter().find(|(k, _)| {
            ["resources", "required", "member_of"]
                .iter()
                .any(|p| k.len() > p.len() && k.starts_with(p))
        })
    {
        return Err(ApiError::bad_request(format!(
            "Invalid query string parameters: granular request groups ('{k}') are not \
             supported by this cloud; use the unnumbered group."
        )));
    }
    let mut allowed = vec!["resources"];
    for (minor, key) in [
        (16, "limit"),
        (17, "required"),
        (21, "member_of"),
        (25, "group_policy"),
    ] {
        if mv.at_least(minor) {
            allowed.push(key);
        }
    }
    check_params(pairs, &allowed)?;
    let resources = single(pairs, "resources")?.ok_or_else(|| {
        ApiError::bad_request("Invalid query string parameters: 'resources' is a required property")
    })?;
    let mut req = CandidateRequest {
        resources: parse_resources(resources)?,
        ..Default::default()
    };
    if let Some(r) = single(pairs, "required")? {
        req.traits = parse_required(r, mv.at_least(22))?;
    }
    let member_of: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "member_of")
        .map(|(_, v)| v.as_str())
        .collect();
    if member_of.len() > 1 && !mv.at_least(24) {
        single(pairs, "member_of")?;
    }
    req.member_of = member_of
        .into_iter()
        .map(parse_member_of)
        .collect::<ApiResult<_>>()?;
    if let Some(l) = single(pairs, "limit")? {
        let n: usize = l.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid query string parameters: 'limit' must be a positive integer, got {l}"
            ))
        })?;
        req.limit = Some(n);
    }
    Ok(req)
}

/// The candidates as Placement shows them: an allocation request each (a map
/// from 1.12), and each provider's summary (every class from 1.27, traits
/// from 1.17).
fn candidates_view(
    mv: &Mv,
    wanted: &BTreeMap<String, i64>,
    found: &[crate::placement::ProviderUsage],
) -> Value {
    let mut requests = vec![];
    let mut summaries = Map::new();
    for c in found {
        let uuid = &c.provider.uuid;
        requests.push(if mv.at_least(12) {
            json!({"allocations": {uuid.clone(): {"resources": wanted}}})
        } else {
            json!({"allocations": [{"resource_provider": {"uuid": uuid}, "resources": wanted}]})
        });
        let mut res = Map::new();
        for inv in &c.inventories {
            if mv.at_least(27) || wanted.contains_key(&inv.resource_class) {
                res.insert(
                    inv.resource_class.clone(),
                    json!({
                        "capacity": inv.capacity(),
                        "used": c.usages.get(&inv.resource_class).copied().unwrap_or(0),
                    }),
                );
            }
        }
        let mut summary = json!({"resources": res});
        if mv.at_least(17) {
            summary["traits"] = json!(c.traits);
        }
        summaries.insert(uuid.clone(), summary);
    }
    json!({
        "allocation_requests": requests,
        "provider_summaries": summaries,
    })
}
