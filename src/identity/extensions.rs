//! Keystone's smaller extensions: domain-specific configuration
//! (`/v3/domains/{id}/config`), endpoint groups and project endpoint filters
//! (OS-EP-FILTER), and the access rules of application credentials.

use std::collections::BTreeSet;

use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{Endpoint, new_id};
use super::store_ext::{self as sx, AccessRule, ConfigRow, EndpointGroup};
use super::{Identity, found, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

// --- domain configuration -------------------------------------------------------

/// The options a domain may override, with Keystone's defaults
/// (keystone.resource.core.DomainConfigManager's whitelist; keystone.conf defaults).
fn default_options(group: &str) -> Option<Vec<(&'static str, Value)>> {
    use serde_json::json;
    match group {
        "identity" => Some(vec![("driver", json!("sql")), ("list_limit", Value::Null)]),
        "ldap" => Some(vec![
            ("url", json!("ldap://localhost")),
            ("user", Value::Null),
            ("suffix", json!("cn=example,cn=com")),
            ("query_scope", json!("one")),
            ("page_size", json!(0)),
            ("alias_dereferencing", json!("default")),
            ("debug_level", Value::Null),
            ("chase_referrals", Value::Null),
            ("user_tree_dn", Value::Null),
            ("user_filter", Value::Null),
            ("user_objectclass", json!("inetOrgPerson")),
            ("user_id_attribute", json!("cn")),
            ("user_name_attribute", json!("sn")),
            ("user_description_attribute", json!("description")),
            ("user_mail_attribute", json!("mail")),
            ("user_pass_attribute", json!("userPassword")),
            ("user_enabled_attribute", json!("enabled")),
            ("user_enabled_invert", json!(false)),
            ("user_enabled_mask", json!(0)),
            ("user_enabled_default", json!("True")),
            ("user_attribute_ignore", json!(["default_project_id"])),
            ("user_default_project_id_attribute", Value::Null),
            ("user_enabled_emulation", json!(false)),
            ("user_enabled_emulation_dn", Value::Null),
            ("user_enabled_emulation_use_group_config", json!(false)),
            ("user_additional_attribute_mapping", json!([])),
            ("group_tree_dn", Value::Null),
            ("group_filter", Value::Null),
            ("group_objectclass", json!("groupOfNames")),
            ("group_id_attribute", json!("cn")),
            ("group_name_attribute", json!("ou")),
            ("group_member_attribute", json!("member")),
            ("group_members_are_ids", json!(false)),
            ("group_desc_attribute", json!("description")),
            ("group_attribute_ignore", json!([])),
            ("group_additional_attribute_mapping", json!([])),
            ("tls_cacertfile", Value::Null),
            ("tls_cacertdir", Value::Null),
            ("use_tls", json!(false)),
            ("tls_req_cert", json!("demand")),
            ("use_pool", json!(true)),
            ("pool_size", json!(10)),
            ("pool_retry_max", json!(3)),
            ("pool_retry_delay", json!(0.1)),
            ("pool_connection_timeout", json!(-1)),
            ("pool_connection_lifetime", json!(600)),
            ("use_auth_pool", json!(true)),
            ("auth_pool_size", json!(100)),
            ("auth_pool_connection_lifetime", json!(60)),
        ]),
        _ => None,
    }
}

/// Options that are stored but never shown back (Keystone's sensitive options).
fn is_sensitive(group: &str, option: &str) -> bool {
    group == "ldap" && option == "password"
}

fn invalid_config(reason: impl std::fmt::Display) -> ApiError {
    ApiError::Forbidden(format!("Invalid domain specific configuration: {reason}."))
}

fn config_not_found(domain_id: &str, what: &str) -> ApiError {
    ApiError::Missing(format!(
        "Could not find {what} in domain configuration for domain {domain_id}."
    ))
}

fn check_group(group: &str) -> ApiResult<()> {
    default_options(group).map(drop).ok_or_else(|| {
        invalid_config(format_args!(
            "Group {group} is not supported for domain specific configurations"
        ))
    })
}

fn check_option(group: &str, option: &str) -> ApiResult<()> {
    check_group(group)?;
    let known = default_options(group)
        .unwrap_or_default()
        .iter()
        .any(|(o, _)| *o == option)
        || is_sensitive(group, option);
    if known {
        Ok(())
    } else {
        Err(invalid_config(format_args!(
            "Option {option} in group {group} is not supported for domain specific configurations"
        )))
    }
}

/// Flattens `{group: {option: value}}` into rows, checking every group and option.
fn config_rows(config: &Map<String, Value>) -> ApiResult<Vec<ConfigRow>> {
    if config.is_empty() {
        return Err(invalid_config("the configuration is empty"));
    }
    let mut rows = Vec::new();
    for (group, options) in config {
        check_group(group)?;
        let Some(options) = options.as_object() else {
            return Err(invalid_config(format_args!(
                "group {group} must be an object of options"
            )));
        };
        for (option, value) in options {
            check_option(group, option)?;
            rows.push((
                group.clone(),
                option.clone(),
                value.clone(),
                is_sensitive(group, option),
            ));
        }
    }
    Ok(rows)
}

/// A change of a domain's configuration: the options it sets, each checked
/// against Keystone's whitelist, and the group (and option) the URL names, which
/// must already be configured.
#[derive(Debug, Clone)]
pub(crate) struct DomainConfigChange {
    group: Option<String>,
    option: Option<String>,
    rows: Vec<ConfigRow>,
}

impl DomainConfigChange {
    /// Reads the `config` of a `PATCH` to the whole configuration, to one
    /// `group`, or to one `option` of it, with Keystone's messages.
    pub(crate) fn from_body(
        group: Option<String>,
        option: Option<String>,
        config: &Map<String, Value>,
    ) -> ApiResult<Self> {
        let rows = match (&group, &option) {
            (None, _) => config_rows(config)?,
            (Some(g), None) => {
                if config.keys().any(|k| k != g) {
                    return Err(invalid_config(format_args!(
                        "Trying to update group {g}, so that, and only that, group must be specified in the config"
                    )));
                }
                config_rows(config)?
            }
            (Some(g), Some(o)) => vec![option_row(g, o, config)?],
        };
        Ok(DomainConfigChange {
            group,
            option,
            rows,
        })
    }
}

/// The row of a `PATCH` to one option: the body holds that option alone.
fn option_row(group: &str, option: &str, config: &Map<String, Value>) -> ApiResult<ConfigRow> {
    check_option(group, option)?;
    match (config.len(), config.get(option)) {
        (1, Some(v)) => Ok((
            group.to_owned(),
            option.to_owned(),
            v.clone(),
            is_sensitive(group, option),
        )),
        _ => Err(invalid_config(format_args!(
            "Trying to update option {option} in group {group}, so that, and only that, option must be specified in the config"
        ))),
    }
}

/// Keystone updates what exists: the group (or option) named in the URL must
/// already be configured.
fn check_configured(
    current: &[ConfigRow],
    domain_id: &str,
    group: &str,
    option: Option<&str>,
) -> ApiResult<()> {
    let present = current
        .iter()
        .any(|(cg, co, _, _)| cg == group && option.is_none_or(|o| o == co));
    if present {
        return Ok(());
    }
    let what = match option {
        Some(o) => format!("option {o} in group {group}"),
        None => format!("group {group}"),
    };
    Err(config_not_found(domain_id, &what))
}

/// `{group: {option: value}}` of the visible (not sensitive) rows.
fn config_view(rows: &[ConfigRow], group: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for (g, o, v, sensitive) in rows {
        if *sensitive || group.is_some_and(|want| want != g) {
            continue;
        }
        let entry = out
            .entry(g.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(o.clone(), v.clone());
        }
    }
    out
}

impl Identity {
    fn domain_must_exist(c: &Connection, id: &str) -> ApiResult<()> {
        found(store::domain_get(c, id)?, "domain", id).map(drop)
    }

    /// `PUT /v3/domains/{id}/config`: replaces the configuration; true when it is
    /// new. A refused `config` is reported to an admin only, as in `domain_config_update`.
    pub(crate) async fn domain_config_create(
        &self,
        ctx: &RequestContext,
        domain_id: String,
        config: ApiResult<DomainConfigChange>,
    ) -> ApiResult<(bool, Map<String, Value>)> {
        ctx.require_admin()?;
        let rows = config?.rows;
        self.write(move |c| {
            Self::domain_must_exist(c, &domain_id)?;
            let existed = sx::domain_config_delete(c, &domain_id, None, None)? > 0;
            for r in &rows {
                sx::domain_config_set(c, &domain_id, r)?;
            }
            Ok((
                !existed,
                config_view(&sx::domain_config_get(c, &domain_id)?, None),
            ))
        })
        .await
    }

    /// `GET /v3/domains/{id}/config[/{group}[/{option}]]`.
    pub(crate) async fn domain_config_get(
        &self,
        ctx: &RequestContext,
        domain_id: String,
        group: Option<String>,
        option: Option<String>,
    ) -> ApiResult<Map<String, Value>> {
        ctx.require_admin()?;
        if let Some(g) = &group {
            match &option {
                Some(o) => check_option(g, o)?,
                None => check_group(g)?,
            }
        }
        self.read(move |c| {
            Self::domain_must_exist(c, &domain_id)?;
            let rows = sx::domain_config_get(c, &domain_id)?;
            let view = config_view(&rows, group.as_deref());
            match (group, option) {
                (None, _) if view.is_empty() => Err(config_not_found(&domain_id, "any options")),
                (None, _) => Ok(view),
                (Some(g), None) if view.is_empty() => {
                    Err(config_not_found(&domain_id, &format!("group {g}")))
                }
                (Some(_), None) => Ok(view),
                (Some(g), Some(o)) => {
                    let value = view
                        .get(&g)
                        .and_then(|m| m.get(&o))
                        .cloned()
                        .ok_or_else(|| {
                            config_not_found(&domain_id, &format!("option {o} in group {g}"))
                        })?;
                    Ok(Map::from_iter([(o, value)]))
                }
            }
        })
        .await
    }

    /// `PATCH /v3/domains/{id}/config[/{group}[/{option}]]`: merges the given options
    /// and answers the whole configuration. `change` is the change as the API read
    /// it, or why its body was refused: a caller who is not an admin is refused
    /// whatever the body says.
    pub(crate) async fn domain_config_update(
        &self,
        ctx: &RequestContext,
        domain_id: String,
        change: ApiResult<DomainConfigChange>,
    ) -> ApiResult<Map<String, Value>> {
        ctx.require_admin()?;
        let DomainConfigChange {
            group,
            option,
            rows,
        } = change?;
        self.write(move |c| {
            Self::domain_must_exist(c, &domain_id)?;
            if let Some(g) = &group {
                let current = sx::domain_config_get(c, &domain_id)?;
                check_configured(&current, &domain_id, g, option.as_deref())?;
            }
            for r in &rows {
                sx::domain_config_set(c, &domain_id, r)?;
            }
            Ok(config_view(&sx::domain_config_get(c, &domain_id)?, None))
        })
        .await
    }

    /// `DELETE /v3/domains/{id}/config[/{group}[/{option}]]`.
    pub(crate) async fn domain_config_delete(
        &self,
        ctx: &RequestContext,
        domain_id: String,
        group: Option<String>,
        option: Option<String>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        if let Some(g) = &group {
            match &option {
                Some(o) => check_option(g, o)?,
                None => check_group(g)?,
            }
        }
        self.write(move |c| {
            Self::domain_must_exist(c, &domain_id)?;
            let n = sx::domain_config_delete(c, &domain_id, group.as_deref(), option.as_deref())?;
            if n == 0 {
                let what = match (&group, &option) {
                    (None, _) => "any options".to_owned(),
                    (Some(g), None) => format!("group {g}"),
                    (Some(g), Some(o)) => format!("option {o} in group {g}"),
                };
                return Err(config_not_found(&domain_id, &what));
            }
            Ok(())
        })
        .await
    }

    /// `GET /v3/domains/config[/{group}[/{option}]]/default`.
    pub(crate) async fn domain_config_default(
        &self,
        ctx: &RequestContext,
        group: Option<String>,
        option: Option<String>,
    ) -> ApiResult<Map<String, Value>> {
        ctx.require_admin()?;
        let groups: Vec<String> = match &group {
            Some(g) => {
                check_group(g)?;
                vec![g.clone()]
            }
            None => vec!["identity".into(), "ldap".into()],
        };
        if let (Some(g), Some(o)) = (&group, &option) {
            check_option(g, o)?;
            let value = default_options(g)
                .unwrap_or_default()
                .into_iter()
                .find(|(name, _)| name == o)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    invalid_config(format_args!(
                        "Reading the default for option {o} in group {g} is not supported"
                    ))
                })?;
            return Ok(Map::from_iter([(o.clone(), value)]));
        }
        let mut out = Map::new();
        for g in groups {
            let opts: Map<String, Value> = default_options(&g)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            out.insert(g, Value::Object(opts));
        }
        Ok(out)
    }
}

// --- endpoint groups ------------------------------------------------------------

/// What a request does to an OS-EP-FILTER association (project–endpoint group,
/// project–endpoint): `HEAD`/`GET` checks it, `PUT` adds it, `DELETE` removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Association {
    Check,
    Add,
    Remove,
}

impl Association {
    /// The association operation an HTTP method asks for (the routes serve only
    /// `GET`/`HEAD`, `PUT` and `DELETE`).
    pub(crate) fn from_method(method: &axum::http::Method) -> Association {
        match *method {
            axum::http::Method::PUT => Association::Add,
            axum::http::Method::DELETE => Association::Remove,
            _ => Association::Check,
        }
    }

    /// Runs `run` as a read for a check, in a write transaction otherwise.
    async fn run(
        self,
        identity: &Identity,
        run: impl FnOnce(&Connection) -> ApiResult<()> + Send + 'static,
    ) -> ApiResult<()> {
        if self == Association::Check {
            identity.read(run).await
        } else {
            identity.write(move |c| run(c)).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointGroupInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub filters: Option<Map<String, Value>>,
}

/// Keystone's schema: filters name only service_id, region_id and interface.
fn check_filters(f: &Map<String, Value>) -> ApiResult<()> {
    if f.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid input for field 'filters': {} does not have enough properties",
        ));
    }
    for (k, v) in f {
        if !matches!(k.as_str(), "service_id" | "region_id" | "interface") {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'filters': Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        if !v.is_string() {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'filters/{k}': {v} is not of type 'string'"
            )));
        }
    }
    Ok(())
}

/// Whether an endpoint matches every filter of a group.
pub(super) fn group_matches(g: &EndpointGroup, e: &Endpoint) -> bool {
    g.filters.iter().all(|(k, v)| {
        let want = v.as_str().unwrap_or_default();
        match k.as_str() {
            "service_id" => e.service_id == want,
            "interface" => e.interface == want,
            "region_id" => e.region_id.as_deref() == Some(want),
            _ => false,
        }
    })
}

/// The endpoint ids a project may see when it has an endpoint filter, else None.
pub(crate) fn project_endpoint_filter(
    c: &Connection,
    project_id: &str,
) -> ApiResult<Option<BTreeSet<String>>> {
    if !sx::project_has_endpoint_filter(c, project_id)? {
        return Ok(None);
    }
    let mut ids: BTreeSet<String> = sx::project_endpoints(c, project_id)?.into_iter().collect();
    let groups = sx::project_endpoint_groups(c, project_id)?;
    if !groups.is_empty() {
        for e in store::endpoint_list(c)? {
            if groups.iter().any(|g| group_matches(g, &e)) {
                ids.insert(e.id);
            }
        }
    }
    Ok(Some(ids))
}

impl Identity {
    pub(crate) async fn endpoint_group_create(
        &self,
        ctx: &RequestContext,
        input: EndpointGroupInput,
    ) -> ApiResult<EndpointGroup> {
        ctx.require_admin()?;
        let name = input.name.ok_or_else(|| {
            ApiError::bad_request("Invalid input for field 'name': 'name' is a required property")
        })?;
        let filters = input.filters.ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field 'filters': 'filters' is a required property",
            )
        })?;
        check_filters(&filters)?;
        let g = EndpointGroup {
            id: new_id(),
            name,
            description: input.description.unwrap_or_default(),
            filters,
        };
        let out = g.clone();
        self.write(move |c| sx::endpoint_group_upsert(c, &g))
            .await?;
        Ok(out)
    }

    pub(crate) async fn endpoint_group_list(
        &self,
        ctx: &RequestContext,
    ) -> ApiResult<Vec<EndpointGroup>> {
        ctx.require_admin()?;
        self.read(sx::endpoint_group_list).await
    }

    pub(crate) async fn endpoint_group_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<EndpointGroup> {
        ctx.require_admin()?;
        self.read(move |c| found(sx::endpoint_group_get(c, &id)?, "endpoint group", &id))
            .await
    }

    pub(crate) async fn endpoint_group_update(
        &self,
        ctx: &RequestContext,
        id: String,
        input: EndpointGroupInput,
    ) -> ApiResult<EndpointGroup> {
        ctx.require_admin()?;
        if let Some(f) = &input.filters {
            check_filters(f)?;
        }
        self.write(move |c| {
            let mut g = found(sx::endpoint_group_get(c, &id)?, "endpoint group", &id)?;
            if let Some(v) = input.name {
                g.name = v;
            }
            if let Some(v) = input.description {
                g.description = v;
            }
            if let Some(v) = input.filters {
                g.filters = v;
            }
            sx::endpoint_group_upsert(c, &g)?;
            Ok(g)
        })
        .await
    }

    pub(crate) async fn endpoint_group_delete(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            found(sx::endpoint_group_get(c, &id)?, "endpoint group", &id)?;
            sx::endpoint_group_delete(c, &id)
        })
        .await
    }

    /// The endpoints an endpoint group selects.
    pub(crate) async fn endpoint_group_endpoints(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<Endpoint>> {
        ctx.require_admin()?;
        self.read(move |c| {
            let g = found(sx::endpoint_group_get(c, &id)?, "endpoint group", &id)?;
            let mut list = store::endpoint_list(c)?;
            list.retain(|e| group_matches(&g, e));
            Ok(list)
        })
        .await
    }

    /// `PUT`/`HEAD`/`DELETE /v3/OS-EP-FILTER/endpoint_groups/{g}/projects/{p}`.
    pub(crate) async fn endpoint_group_project(
        &self,
        ctx: &RequestContext,
        group: String,
        project: String,
        op: Association,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let run = move |c: &Connection| -> ApiResult<()> {
            found(sx::endpoint_group_get(c, &group)?, "endpoint group", &group)?;
            found(store::project_get(c, &project)?, "project", &project)?;
            let missing = || {
                ApiError::Missing(format!(
                    "Could not find project endpoint group: {group}, {project}."
                ))
            };
            match op {
                Association::Add => sx::endpoint_group_project_add(c, &group, &project),
                Association::Remove => sx::endpoint_group_project_remove(c, &group, &project)?
                    .then_some(())
                    .ok_or_else(missing),
                Association::Check => sx::endpoint_group_project_exists(c, &group, &project)?
                    .then_some(())
                    .ok_or_else(missing),
            }
        };
        op.run(self, run).await
    }

    pub(crate) async fn endpoint_group_projects(
        &self,
        ctx: &RequestContext,
        group: String,
    ) -> ApiResult<Vec<super::model::Project>> {
        ctx.require_admin()?;
        self.read(move |c| {
            found(sx::endpoint_group_get(c, &group)?, "endpoint group", &group)?;
            let mut out = Vec::new();
            for pid in sx::endpoint_group_projects(c, &group)? {
                out.extend(store::project_get(c, &pid)?);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn project_endpoint_groups(
        &self,
        ctx: &RequestContext,
        project: String,
    ) -> ApiResult<Vec<EndpointGroup>> {
        ctx.require_admin()?;
        self.read(move |c| {
            found(store::project_get(c, &project)?, "project", &project)?;
            sx::project_endpoint_groups(c, &project)
        })
        .await
    }

    /// `PUT`/`HEAD`/`DELETE /v3/OS-EP-FILTER/projects/{p}/endpoints/{e}`.
    pub(crate) async fn project_endpoint(
        &self,
        ctx: &RequestContext,
        project: String,
        endpoint: String,
        op: Association,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        let run = move |c: &Connection| -> ApiResult<()> {
            found(store::project_get(c, &project)?, "project", &project)?;
            found(store::endpoint_get(c, &endpoint)?, "endpoint", &endpoint)?;
            let missing = || {
                ApiError::Missing(format!(
                    "Could not find project endpoint: {project}, {endpoint}."
                ))
            };
            match op {
                Association::Add => sx::project_endpoint_add(c, &endpoint, &project),
                Association::Remove => sx::project_endpoint_remove(c, &endpoint, &project)?
                    .then_some(())
                    .ok_or_else(missing),
                Association::Check => sx::project_endpoints(c, &project)?
                    .contains(&endpoint)
                    .then_some(())
                    .ok_or_else(missing),
            }
        };
        op.run(self, run).await
    }

    /// `GET /v3/OS-EP-FILTER/projects/{p}/endpoints`: what the project's catalog holds.
    pub(crate) async fn project_endpoints(
        &self,
        ctx: &RequestContext,
        project: String,
    ) -> ApiResult<Vec<Endpoint>> {
        ctx.require_admin()?;
        self.read(move |c| {
            found(store::project_get(c, &project)?, "project", &project)?;
            let mut list = store::endpoint_list(c)?;
            if let Some(ids) = project_endpoint_filter(c, &project)? {
                list.retain(|e| ids.contains(&e.id));
            }
            Ok(list)
        })
        .await
    }

    /// `GET /v3/OS-EP-FILTER/endpoints/{e}/projects`.
    pub(crate) async fn endpoint_projects(
        &self,
        ctx: &RequestContext,
        endpoint: String,
    ) -> ApiResult<Vec<super::model::Project>> {
        ctx.require_admin()?;
        self.read(move |c| {
            found(store::endpoint_get(c, &endpoint)?, "endpoint", &endpoint)?;
            let mut out = Vec::new();
            for pid in sx::endpoint_projects(c, &endpoint)? {
                out.extend(store::project_get(c, &pid)?);
            }
            Ok(out)
        })
        .await
    }

    /// The endpoint ids a project's catalog is limited to, or None for all.
    pub(crate) async fn catalog_filter(
        &self,
        project_id: Option<&str>,
    ) -> ApiResult<Option<BTreeSet<String>>> {
        let Some(pid) = project_id.map(str::to_owned) else {
            return Ok(None);
        };
        self.read(move |c| project_endpoint_filter(c, &pid)).await
    }
}

// --- access rules ---------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessRuleInput {
    pub id: Option<String>,
    pub service: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
}

const METHODS: &[&str] = &["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"];

/// Resolves the rules of a new application credential: a rule given by id must be one
/// of the user's; a new one is checked and reuses the user's identical rule if any.
pub(crate) fn resolve_access_rules(
    c: &Connection,
    user_id: &str,
    input: Vec<AccessRuleInput>,
) -> ApiResult<Vec<AccessRule>> {
    let mut out = Vec::new();
    for r in input {
        if let Some(id) = &r.id {
            let rule = sx::access_rule_get(c, user_id, id)?
                .ok_or_else(|| ApiError::not_found("access rule", id.clone()))?;
            out.push(rule);
            continue;
        }
        let field = |v: Option<String>, name: &str| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid input for field 'access_rules/0': '{name}' is a required property"
                ))
            })
        };
        let service = field(r.service, "service")?;
        let path = field(r.path, "path")?;
        let method = field(r.method, "method")?;
        if !METHODS.contains(&method.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'access_rules/0/method': '{method}' is not one of {METHODS:?}"
            )));
        }
        if !path.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'access_rules/0/path': '{path}' does not match '^/.*'"
            )));
        }
        let mut rule = AccessRule {
            id: String::new(),
            service,
            path,
            method,
        };
        match sx::access_rule_find(c, user_id, &rule)? {
            Some(existing) => out.push(existing),
            None => {
                rule.id = new_id();
                sx::access_rule_insert(c, user_id, &rule)?;
                out.push(rule);
            }
        }
    }
    Ok(out)
}

impl Identity {
    fn access_rules_allowed(ctx: &RequestContext, user_id: &str) -> ApiResult<()> {
        policy::IDENTITY_OWNER.enforce_target(ctx, Target::user(user_id))
    }

    pub(crate) async fn access_rule_list(
        &self,
        ctx: &RequestContext,
        user_id: String,
    ) -> ApiResult<Vec<AccessRule>> {
        Self::access_rules_allowed(ctx, &user_id)?;
        self.read(move |c| {
            found(store::user_get(c, &user_id)?, "user", &user_id)?;
            sx::access_rule_list(c, &user_id)
        })
        .await
    }

    pub(crate) async fn access_rule_get(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<AccessRule> {
        Self::access_rules_allowed(ctx, &user_id)?;
        self.read(move |c| found(sx::access_rule_get(c, &user_id, &id)?, "access rule", &id))
            .await
    }

    pub(crate) async fn access_rule_delete(
        &self,
        ctx: &RequestContext,
        user_id: String,
        id: String,
    ) -> ApiResult<()> {
        Self::access_rules_allowed(ctx, &user_id)?;
        self.write(move |c| {
            found(sx::access_rule_get(c, &user_id, &id)?, "access rule", &id)?;
            if sx::access_rule_in_use(c, &id)? {
                return Err(ApiError::Forbidden(format!(
                    "Cannot delete access rule {id} because it is still in use by an application credential."
                )));
            }
            sx::access_rule_delete(c, &id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rows_refuse_unknown_groups_and_options() {
        let ok: Map<String, Value> =
            serde_json::from_str(r#"{"ldap": {"url": "ldap://x", "password": "s"}}"#).unwrap();
        let rows = config_rows(&ok).unwrap();
        assert_eq!(rows.len(), 2);
        let view = config_view(&rows, None);
        assert!(view["ldap"].get("password").is_none(), "sensitive hidden");
        let bad: Map<String, Value> = serde_json::from_str(r#"{"nova": {"x": 1}}"#).unwrap();
        assert!(matches!(config_rows(&bad), Err(ApiError::Forbidden(_))));
        let bad: Map<String, Value> = serde_json::from_str(r#"{"identity": {"nope": 1}}"#).unwrap();
        assert!(matches!(config_rows(&bad), Err(ApiError::Forbidden(_))));
    }
}
