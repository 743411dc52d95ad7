//! Container routes (`/v1/AUTH_<project>/<container>`): PUT (create or update),
//! HEAD, GET (the object listing), POST (metadata, ACLs, versioning, quotas) and
//! DELETE (409 while not empty).

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::access::{Op, authorize, check_acl, is_owner};
use super::view::{self, Format};
use super::{Call, error, fault, finish, project_of};
use crate::cloud::Cloud;
use crate::object::containers::MetaChanges;
use crate::object::model::Container;

/// Every method on a container.
pub(super) async fn container(
    State(cloud): State<Cloud>,
    Path((account, name)): Path<(String, String)>,
    req: Request,
) -> Response {
    let call = Call::from_request(req);
    if super::bulk::is_extract(&call) {
        return super::bulk::extract(&cloud, &account, &name, call);
    }
    let resp = handle(&cloud, &account, &name, &call).await;
    finish(resp, &call)
}

/// The metadata changes a request's headers ask for: `X-<Kind>-Meta-*` set (or
/// cleared by an empty value), `X-Remove-<Kind>-Meta-*` removed, and for containers
/// the system headers Swift stores beside them.
pub(super) fn meta_changes(call: &Call, kind: &str) -> Result<MetaChanges, Response> {
    let set = format!("x-{kind}-meta-");
    let remove = format!("x-remove-{kind}-meta-");
    let system: &[&str] = if kind == "container" {
        &[
            "x-container-read",
            "x-container-write",
            "x-versions-location",
            "x-history-location",
            "x-container-sync-to",
            "x-container-sync-key",
        ]
    } else {
        // Account quotas (Swift's `account_quotas`): first-class headers beside the
        // older `X-Account-Meta-Quota-Bytes`.
        &["x-account-quota-bytes", "x-account-quota-count"]
    };
    let mut out = Vec::new();
    for (name, value) in &call.headers {
        let n = name.as_str();
        let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
        if n.starts_with(&set) || system.contains(&n) {
            if n == "x-container-sync-to" && !v.is_empty() {
                crate::object::sync::parse_sync_to(&v)
                    .map_err(|m| fault(StatusCode::BAD_REQUEST, Some(&m), call.is_head()))?;
            }
            if n == "x-container-read" || n == "x-container-write" {
                check_acl(n, &v)
                    .map_err(|m| fault(StatusCode::BAD_REQUEST, Some(&m), call.is_head()))?;
            }
            out.push((n.to_owned(), Some(v)));
        } else if let Some(rest) = n.strip_prefix(&remove) {
            out.push((format!("{set}{rest}"), None));
        } else if let Some(rest) = n.strip_prefix("x-remove-")
            && system.contains(&format!("x-{rest}").as_str())
        {
            out.push((format!("x-{rest}"), None));
        }
    }
    let sets = |k: &str| {
        out.iter()
            .any(|(n, v)| n == k && v.as_deref().is_some_and(|v| !v.is_empty()))
    };
    if sets("x-versions-location") && sets("x-history-location") {
        return Err(fault(
            StatusCode::BAD_REQUEST,
            Some("Only one of X-Versions-Location or X-History-Location may be specified"),
            call.is_head(),
        ));
    }
    // Setting one versioning mode clears the other.
    if sets("x-versions-location") {
        out.push(("x-history-location".into(), None));
    } else if sets("x-history-location") {
        out.push(("x-versions-location".into(), None));
    }
    Ok(out)
}

async fn handle(cloud: &Cloud, account: &str, name: &str, call: &Call) -> Response {
    let head = call.is_head();
    let Some(project) = project_of(account) else {
        return super::no_such_account(call);
    };
    let svc = &cloud.object;
    let existing = match svc.container_find(account, name).await {
        Ok(c) => c,
        Err(e) => return error(e, head),
    };
    if existing.is_some() && super::formpost::is_formpost(call) {
        return super::formpost::formpost(cloud, account, name, "", call).await;
    }
    // A static web site answers its anonymous visitors before the listing ACL does:
    // its pages are objects, each read through the read ACL.
    if let Some(ct) = &existing
        && super::staticweb::applies(call)
        && let Some(r) = super::staticweb::container(cloud, account, project, ct, call).await
    {
        return r;
    }
    let op = match call.method {
        Method::GET | Method::HEAD => Op::ContainerRead,
        _ => Op::ContainerWrite,
    };
    if let Err(r) = authorize(call, project, existing.as_ref().map(|c| &c.meta), op) {
        return r;
    }
    match call.method {
        Method::PUT => container_create(cloud, account, name, call).await,
        Method::POST => container_update(cloud, account, name, call).await,
        Method::DELETE => match svc.container_delete(account, name).await {
            Ok(()) => super::empty(StatusCode::NO_CONTENT),
            Err(e) => error(e, head),
        },
        _ => {
            let Some(ct) = existing else {
                return fault(StatusCode::NOT_FOUND, None, head);
            };
            let owner = call.ctx.as_deref().is_some_and(|c| is_owner(c, project));
            container_show(cloud, account, name, &ct, call, owner).await
        }
    }
}

/// `PUT`: creates the container (201) or updates its metadata (202).
async fn container_create(cloud: &Cloud, account: &str, name: &str, call: &Call) -> Response {
    let changes = match meta_changes(call, "container") {
        Ok(c) => c,
        Err(r) => return r,
    };
    match cloud.object.container_create(account, name, changes).await {
        Ok(true) => super::empty(StatusCode::CREATED),
        Ok(false) => super::empty(StatusCode::ACCEPTED),
        Err(e) => error(e, call.is_head()),
    }
}

/// `POST`: metadata, ACLs, versioning and quotas.
async fn container_update(cloud: &Cloud, account: &str, name: &str, call: &Call) -> Response {
    let changes = match meta_changes(call, "container") {
        Ok(c) => c,
        Err(r) => return r,
    };
    match cloud.object.container_update(account, name, changes).await {
        Ok(()) => super::empty(StatusCode::NO_CONTENT),
        Err(e) => error(e, call.is_head()),
    }
}

/// `HEAD` and `GET`: the container's headers, and on GET its object listing.
async fn container_show(
    cloud: &Cloud,
    account: &str,
    name: &str,
    ct: &Container,
    call: &Call,
    owner: bool,
) -> Response {
    let head = call.is_head();
    let format = Format::of(call);
    let mut resp = if head {
        view::listing_head(format)
    } else {
        let q = match view::list_query(call) {
            Ok(q) => q,
            Err(r) => return r,
        };
        match cloud.object.object_list(account, name, q).await {
            Ok(list) => view::object_listing(name, &list, format, false),
            Err(e) => return error(e, head),
        }
    };
    view::container_headers(resp.headers_mut(), ct, owner);
    resp
}
