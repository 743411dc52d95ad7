//! Names to ids: a HOT property may name a network, subnet, router, security
//! group, image or flavor by name or by id; a name is looked up through the owning
//! service's facade with the stack owner's context, with Heat's errors.

use serde_json::Value;

use super::prop_err;
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::ApiResult;

pub(super) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The id of the one listed `(name, id)` pair named `name`, else how many are.
fn one_named(
    name: &str,
    listed: impl IntoIterator<Item = (String, String)>,
) -> Result<String, usize> {
    let mut found: Vec<String> = listed
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, id)| id)
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(n),
    }
}

/// A network or subnet named `name`, with Heat's errors for none and for several.
fn neutron_named(
    res: &str,
    kind: &str,
    name: &str,
    listed: impl IntoIterator<Item = (String, String)>,
) -> ApiResult<String> {
    one_named(name, listed).map_err(|count| {
        let m = if count == 0 {
            format!(
                "Error validating value '{name}': The neutron {kind} ({name}) could not be found."
            )
        } else {
            format!(
                "Multiple {kind} matches found for name '{name}', use an ID to be more specific."
            )
        };
        prop_err(res, m)
    })
}

pub(super) async fn network_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let nets = cloud.network.network_list(ctx).await?;
    neutron_named(
        res,
        "network",
        name_or_id,
        nets.into_iter().map(|n| (n.name, n.std.id)),
    )
}

pub(super) async fn subnet_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let subnets = cloud.network.subnet_list(ctx).await?;
    neutron_named(
        res,
        "subnet",
        name_or_id,
        subnets.into_iter().map(|n| (n.name, n.std.id)),
    )
}

pub(super) async fn router_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let routers = cloud.network.router_list(ctx).await?;
    one_named(name_or_id, routers.into_iter().map(|r| (r.name, r.std.id))).map_err(|_| {
        prop_err(
            res,
            format!("The neutron router ({name_or_id}) could not be found."),
        )
    })
}

pub(super) async fn security_group_ids(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    groups: &Value,
) -> ApiResult<Vec<String>> {
    let Value::Array(items) = groups else {
        return Err(prop_err(res, "security_groups must be a list"));
    };
    let mut out = Vec::new();
    let mut all = None;
    for g in items {
        let g = g
            .as_str()
            .ok_or_else(|| prop_err(res, "security_groups must be a list of strings"))?;
        if is_uuid(g) {
            out.push(g.to_owned());
            continue;
        }
        if all.is_none() {
            all = Some(cloud.network.security_group_list(ctx).await?);
        }
        let found = all
            .iter()
            .flatten()
            .find(|(sg, _)| sg.name == g)
            .ok_or_else(|| {
                prop_err(
                    res,
                    format!("The neutron security_group ({g}) could not be found."),
                )
            })?;
        out.push(found.0.std.id.clone());
    }
    Ok(out)
}

pub(super) async fn image_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if is_uuid(name_or_id) {
        return Ok(name_or_id.to_owned());
    }
    let page = cloud
        .image
        .image_list(
            ctx,
            crate::image::ListQuery(vec![("name".into(), name_or_id.to_owned())]),
        )
        .await?;
    match page.images.as_slice() {
        [i] => Ok(i.id.clone()),
        [] => Err(prop_err(
            res,
            format!(
                "Error validating value '{name_or_id}': No images matching {{'name': '{name_or_id}'}}."
            ),
        )),
        _ => Err(prop_err(
            res,
            format!("Multiple images matching {{'name': '{name_or_id}'}}."),
        )),
    }
}

pub(super) async fn flavor_id(
    cloud: &Cloud,
    ctx: &RequestContext,
    res: &str,
    name_or_id: &str,
) -> ApiResult<String> {
    if cloud
        .compute
        .flavor_show(ctx, name_or_id.to_owned())
        .await
        .is_ok()
    {
        return Ok(name_or_id.to_owned());
    }
    let q = crate::compute::flavors::FlavorQuery::parse(
        &Default::default(),
        ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT),
    )?;
    let page = cloud.compute.flavor_list(ctx, q).await?;
    page.items
        .into_iter()
        .find(|f| f.name == name_or_id)
        .map(|f| f.id)
        .ok_or_else(|| prop_err(res, format!("Error validating value '{name_or_id}': The Flavor ID ({name_or_id}) could not be found.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Vec<(String, String)> {
        [("a", "1"), ("b", "2"), ("b", "3")]
            .into_iter()
            .map(|(n, i)| (n.to_owned(), i.to_owned()))
            .collect()
    }

    #[test]
    fn a_name_matches_one_none_or_several() {
        assert_eq!(one_named("a", listed()), Ok("1".to_owned()));
        assert_eq!(one_named("c", listed()), Err(0));
        assert_eq!(one_named("b", listed()), Err(2));
        let none = neutron_named("r", "network", "c", listed()).expect_err("none");
        assert!(
            none.to_string().contains(
                "Error validating value 'c': The neutron network (c) could not be found."
            ),
            "{none}"
        );
        let several = neutron_named("r", "subnet", "b", listed()).expect_err("several");
        assert!(
            several.to_string().contains(
                "Multiple subnet matches found for name 'b', use an ID to be more specific."
            ),
            "{several}"
        );
    }
}
