//! Which query parameters each compute route accepts, by microversion: Nova's
//! query schemas with `additionalProperties: false` (2.53 hypervisors, 2.58/2.66
//! instance actions, 2.59-2.80 migrations, 2.75 for the list APIs, and 2.102 for
//! every other route Nova gave one). An unknown parameter is then a 400; below a
//! route's first strict version (and on routes Nova leaves open) anything passes,
//! as in Nova. The check itself is [`crate::http::validate::known_query_params`].

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Microversion;

/// `(since minor, parameters)`: from `2.since` the route takes only these (the
/// last stage not above the request's version applies).
type Stages = &'static [(u32, &'static [&'static str])];

/// The parameters of `GET /servers` and `/servers/detail` from 2.75 (Nova's
/// `index_query_v275`); names starting with `_` pass too.
const SERVER_LIST: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "all_tenants",
    "auto_disk_config",
    "availability_zone",
    "block_device_mapping",
    "changes-before",
    "changes-since",
    "config_drive",
    "created_at",
    "deleted",
    "description",
    "display_description",
    "display_name",
    "flavor",
    "host",
    "hostname",
    "image",
    "image_ref",
    "info_cache",
    "ip",
    "ip6",
    "kernel_id",
    "key_name",
    "launch_index",
    "launched_at",
    "limit",
    "locked",
    "locked_by",
    "marker",
    "metadata",
    "name",
    "node",
    "not-tags",
    "not-tags-any",
    "pci_devices",
    "power_state",
    "progress",
    "project_id",
    "ramdisk_id",
    "reservation_id",
    "root_device_name",
    "security_groups",
    "services",
    "soft_deleted",
    "sort_dir",
    "sort_key",
    "status",
    "system_metadata",
    "tags",
    "tags-any",
    "task_state",
    "tenant_id",
    "terminated_at",
    "user_id",
    "uuid",
    "vm_state",
];

const FLAVOR_LIST_275: &[&str] = &[
    "is_public",
    "limit",
    "marker",
    "minDisk",
    "minRam",
    "sort_dir",
    "sort_key",
];
const FLAVOR_LIST_2102: &[&str] = &[
    "is_public",
    "limit",
    "marker",
    "minDisk",
    "minRam",
    "name",
    "sort_dir",
    "sort_key",
];
const MIGRATIONS_259: &[&str] = &[
    "changes-since",
    "hidden",
    "host",
    "instance_uuid",
    "limit",
    "marker",
    "migration_type",
    "source_compute",
    "status",
];
const MIGRATIONS_266: &[&str] = &[
    "changes-before",
    "changes-since",
    "hidden",
    "host",
    "instance_uuid",
    "limit",
    "marker",
    "migration_type",
    "source_compute",
    "status",
];
const MIGRATIONS_280: &[&str] = &[
    "changes-before",
    "changes-since",
    "hidden",
    "host",
    "instance_uuid",
    "limit",
    "marker",
    "migration_type",
    "project_id",
    "source_compute",
    "status",
    "user_id",
];

/// Strict from 2.102 with no parameters at all.
const NONE_FROM_2102: Stages = &[(102, &[])];
const USER_ID_FROM_275: Stages = &[(75, &["user_id"])];

/// The GET routes Nova's 2.102 gave an empty query schema; they take any
/// parameter below it.
const GETS_NONE_FROM_2102: &[&str] = &[
    "/servers/{id}",
    "/servers/{id}/ips",
    "/servers/{id}/ips/{network}",
    "/servers/{id}/metadata",
    "/servers/{id}/metadata/{key}",
    "/servers/{id}/os-instance-actions/{request_id}",
    "/servers/{id}/os-interface",
    "/servers/{id}/os-interface/{port_id}",
    "/servers/{id}/diagnostics",
    "/servers/{id}/os-server-password",
    "/servers/{id}/os-security-groups",
    "/flavors/{id}",
    "/flavors/{id}/os-extra_specs",
    "/flavors/{id}/os-extra_specs/{key}",
    "/flavors/{id}/os-flavor-access",
    "/os-availability-zone",
    "/os-availability-zone/detail",
    "/os-quota-class-sets/{id}",
    "/os-server-groups/{id}",
    "/os-aggregates",
    "/os-aggregates/{id}",
    "/extensions",
    "/extensions/{alias}",
    "/os-instance_usage_audit_log",
    "/os-instance_usage_audit_log/{before}",
];

/// The stages of a route (path as the router names it, below `/v2.1`).
fn stages(method: &Method, path: &str) -> Option<Stages> {
    let get = *method == Method::GET;
    if get && GETS_NONE_FROM_2102.contains(&path) {
        return Some(NONE_FROM_2102);
    }
    Some(match path {
        "/servers" | "/servers/detail" if get => &[(75, SERVER_LIST)],
        "/servers/{id}/os-instance-actions" if get => &[
            (58, &["changes-since", "limit", "marker"]),
            (66, &["changes-before", "changes-since", "limit", "marker"]),
        ],
        "/servers/{id}/os-volume_attachments" if get => &[(75, &["limit", "offset"])],
        "/servers/{id}/shares" | "/servers/{id}/shares/{share_id}" if get => &[(97, &[])],
        "/flavors" | "/flavors/detail" if get => &[(75, FLAVOR_LIST_275), (102, FLAVOR_LIST_2102)],
        "/limits" if get => &[(75, &["tenant_id"])],
        "/os-hypervisors" | "/os-hypervisors/detail" if get => &[(
            53,
            &[
                "hypervisor_hostname_pattern",
                "limit",
                "marker",
                "with_servers",
            ],
        )],
        "/os-hypervisors/{id}" if get => &[(53, &["with_servers"])],
        "/os-keypairs" if get => &[(75, &["limit", "marker", "user_id"])],
        "/os-keypairs/{name}" if get || *method == Method::DELETE => USER_ID_FROM_275,
        "/os-quota-sets/{tenant_id}" => USER_ID_FROM_275,
        "/os-quota-sets/{tenant_id}/detail" if get => USER_ID_FROM_275,
        "/os-server-groups" if get => &[(75, &["all_projects", "limit", "offset"])],
        "/os-services" if get => &[(75, &["binary", "host"])],
        "/os-simple-tenant-usage" if get => {
            &[(75, &["detailed", "end", "limit", "marker", "start"])]
        }
        "/os-simple-tenant-usage/{tenant_id}" if get => {
            &[(75, &["end", "limit", "marker", "start"])]
        }
        "/os-migrations" if get => &[
            (59, MIGRATIONS_259),
            (66, MIGRATIONS_266),
            (80, MIGRATIONS_280),
        ],
        _ => return None,
    })
}

/// The parameters `path` takes at `mv`, or None when it takes any.
pub(super) fn allowed(
    method: &Method,
    path: &str,
    mv: Microversion,
) -> Option<&'static [&'static str]> {
    stages(method, path)?
        .iter()
        .rev()
        .find(|(since, _)| mv.at_least(*since))
        .map(|(_, keys)| *keys)
}

/// The route's path below the API version (`/v2.1/servers/{id}` -> `/servers/{id}`).
fn route_path(matched: &str) -> &str {
    for root in ["/v2.1", "/v2"] {
        if let Some(at) = matched.find(root) {
            let rest = &matched[at + root.len()..];
            if rest.is_empty() || rest.starts_with('/') {
                return rest;
            }
        }
    }
    matched
}

/// Route middleware: refuses unknown query parameters where the route's schema
/// at the request's version is strict.
pub(super) async fn layer(req: Request, next: Next) -> Response {
    let mv = req
        .extensions()
        .get::<Microversion>()
        .copied()
        .unwrap_or(super::microversion::MIN);
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| route_path(m.as_str()).to_owned());
    if let (Some(path), Some(query)) = (path, req.uri().query())
        && let Some(keys) = allowed(req.method(), &path, mv)
    {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let prefixes: &[&str] = if keys == SERVER_LIST { &["_"] } else { &[] };
        if let Err(e) = crate::http::validate::known_query_params(
            pairs.iter().map(|(k, _)| k.as_str()),
            keys,
            prefixes,
        ) {
            return e.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_microversion() {
        let get = Method::GET;
        assert_eq!(allowed(&get, "/servers/{id}", Microversion(2, 101)), None);
        assert_eq!(
            allowed(&get, "/servers/{id}", Microversion(2, 102)),
            Some(&[][..])
        );
        assert_eq!(allowed(&get, "/os-migrations", Microversion(2, 58)), None);
        assert!(
            allowed(&get, "/os-migrations", Microversion(2, 80))
                .is_some_and(|k| k.contains(&"user_id"))
        );
        assert!(
            allowed(&get, "/os-migrations", Microversion(2, 79))
                .is_some_and(|k| !k.contains(&"user_id"))
        );
        assert!(
            allowed(&get, "/flavors", Microversion(2, 101)).is_some_and(|k| !k.contains(&"name"))
        );
        assert!(
            allowed(&get, "/flavors", Microversion(2, 102)).is_some_and(|k| k.contains(&"name"))
        );
        assert_eq!(
            allowed(&Method::POST, "/servers", Microversion(2, 102)),
            None
        );
        assert_eq!(route_path("/v2.1/servers/{id}"), "/servers/{id}");
        assert_eq!(route_path("/compute/v2/flavors"), "/flavors");
    }
}
