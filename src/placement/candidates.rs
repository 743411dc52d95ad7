//! `GET /allocation_candidates`: providers (or trees) that could take a request.

use super::*;

impl PlacementService {
    // --- allocation candidates --------------------------------------------------------

    /// Providers that alone can satisfy every requested class, with their summaries.
    pub(crate) async fn allocation_candidates(
        &self,
        req: CandidateRequest,
    ) -> ApiResult<Vec<ProviderUsage>> {
        self.read(move |c| {
            for class in req.resources.keys() {
                if !is_standard_class(class) && !store::custom_class_exists(c, class)? {
                    return Err(ApiError::bad_request(format!(
                        "Invalid resource class in resources parameter: No such resource class {class}."
                    )));
                }
            }
            check_traits_exist(c, &req.traits)?;
            let mut out = vec![];
            for p in store::provider_list(c)? {
                if req.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
                let traits = store::provider_traits(c, &p.uuid)?;
                if !traits_match(&traits, &req.traits)
                    || !member_of_matches(c, &p.uuid, &req.member_of)?
                    || !has_room(c, &p.uuid, &req.resources)?
                {
                    continue;
                }
                out.push(ProviderUsage {
                    inventories: store::inventories(c, &p.uuid)?,
                    usages: store::provider_usages(c, &p.uuid)?,
                    traits,
                    provider: p,
                });
            }
            Ok(out)
        })
        .await
    }
}

/// Whether `provider` could take every (class, amount) on top of current usage.
pub(super) fn has_room(
    c: &Connection,
    provider: &str,
    wanted: &BTreeMap<String, i64>,
) -> ApiResult<bool> {
    if wanted.is_empty() {
        return Ok(true);
    }
    let inventories = store::inventories(c, provider)?;
    for (class, &amount) in wanted {
        let Some(inv) = inventories.iter().find(|i| &i.resource_class == class) else {
            return Ok(false);
        };
        match check_amount(c, provider, inv, amount) {
            Ok(()) => {}
            Err(ApiError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

pub(super) fn traits_match(have: &[String], f: &TraitFilter) -> bool {
    f.required.iter().all(|t| have.contains(t)) && !f.forbidden.iter().any(|t| have.contains(t))
}

pub(super) fn check_traits_exist(c: &Connection, f: &TraitFilter) -> ApiResult<()> {
    for t in f.required.iter().chain(&f.forbidden) {
        if !is_standard_trait(t) && !store::custom_trait_exists(c, t)? {
            return Err(ApiError::bad_request(format!(
                "Invalid query string parameters: No such trait(s): {t}"
            )));
        }
    }
    Ok(())
}

pub(super) fn member_of_matches(
    c: &Connection,
    provider: &str,
    member_of: &[Vec<String>],
) -> ApiResult<bool> {
    if member_of.is_empty() {
        return Ok(true);
    }
    let mine = store::provider_aggregates(c, provider)?;
    Ok(member_of
        .iter()
        .all(|any| any.iter().any(|a| mine.contains(a))))
}

/// Whether `candidate` lies in the subtree below `ancestor`.
pub(super) fn is_descendant(c: &Connection, candidate: &str, ancestor: &str) -> ApiResult<bool> {
    let mut cur = Some(candidate.to_owned());
    while let Some(u) = cur {
        if u == ancestor {
            return Ok(true);
        }
        cur = store::provider_get(c, &u)?.and_then(|p| p.parent_uuid);
    }
    Ok(false)
}
