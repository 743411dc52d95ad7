//! Account routes (`/v1/AUTH_<project>`): HEAD and GET (usage, metadata, the
//! container listing), POST (metadata, temp URL keys, `?bulk-delete`).

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde_json::json;

use super::access::{Op, authorize, is_owner};
use super::container::meta_changes;
use super::view::{self, Format};
use super::{Call, error, fault, finish, project_of};
use crate::cloud::Cloud;
use crate::object::model;
use crate::object::objects::BulkResult;

/// Every method on an account.
pub(super) async fn account(
    State(cloud): State<Cloud>,
    Path(account): Path<String>,
    req: Request,
) -> Response {
    let call = Call::from_request(req);
    if super::bulk::is_extract(&call) {
        return super::bulk::extract(&cloud, &account, "", call);
    }
    let resp = handle(&cloud, &account, call.method.clone(), &call).await;
    finish(resp, &call)
}

async fn handle(cloud: &Cloud, account: &str, method: Method, call: &Call) -> Response {
    let head = call.is_head();
    let Some(project) = project_of(account) else {
        return super::no_such_account(call);
    };
    // Accounts are made on first use and never removed through the API (Swift's
    // `allow_account_management = false`); DELETE is only the bulk delete.
    let bulk = call.query.iter().any(|(k, _)| k == "bulk-delete");
    let read = matches!(method, Method::GET | Method::HEAD);
    let op = if read {
        Op::AccountRead
    } else {
        Op::AccountWrite
    };
    if let Err(r) = authorize(call, project, None, op) {
        return r;
    }
    if method == Method::PUT || (method == Method::DELETE && !bulk) {
        return fault(StatusCode::METHOD_NOT_ALLOWED, None, head);
    }
    if bulk && matches!(method, Method::POST | Method::DELETE) {
        return bulk_delete(cloud, account, call).await;
    }
    if method == Method::POST {
        return account_update(cloud, account, call).await;
    }
    let owner = call.ctx.as_deref().is_some_and(|c| is_owner(c, project));
    account_show(cloud, account, call, owner).await
}

/// `POST /`: metadata and quota changes.
async fn account_update(cloud: &Cloud, account: &str, call: &Call) -> Response {
    let changes = match meta_changes(call, "account") {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = check_quota_changes(call, &changes) {
        return r;
    }
    match cloud.object.account_update(account, changes).await {
        Ok(()) => super::empty(StatusCode::NO_CONTENT),
        Err(e) => error(e, call.is_head()),
    }
}

/// `HEAD /` and `GET /`: the account's usage and metadata, and on GET its
/// container listing.
async fn account_show(cloud: &Cloud, account: &str, call: &Call, owner: bool) -> Response {
    let head = call.is_head();
    let svc = &cloud.object;
    let acct = match svc.account_show(account).await {
        Ok(a) => a,
        Err(e) => return error(e, head),
    };
    let format = Format::of(call);
    let q = match view::list_query(call) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let mut resp = if head {
        view::listing_head(format)
    } else {
        match svc.container_list(account, q).await {
            Ok(list) => view::container_listing(account, &list, format, false),
            Err(e) => return error(e, head),
        }
    };
    view::account_headers(resp.headers_mut(), &acct, owner);
    resp
}

/// Quotas on an account are set (or removed) only by a reseller admin, and are whole
/// numbers.
fn check_quota_changes(
    call: &Call,
    changes: &crate::object::containers::MetaChanges,
) -> Result<(), Response> {
    let quotas: Vec<_> = changes
        .iter()
        .filter(|(k, _)| model::ACCOUNT_QUOTA_KEYS.contains(&k.as_str()))
        .collect();
    if quotas.is_empty() {
        return Ok(());
    }
    let reseller = call
        .ctx
        .as_deref()
        .is_some_and(|c| c.has_role(super::access::RESELLER_ADMIN_ROLE));
    if !reseller {
        return Err(fault(StatusCode::FORBIDDEN, None, false));
    }
    for (k, v) in quotas {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty())
            && v.parse::<u64>().is_err()
        {
            return Err(fault(
                StatusCode::BAD_REQUEST,
                Some(&format!("Invalid {k}: {v}")),
                false,
            ));
        }
    }
    Ok(())
}

/// `POST /?bulk-delete`: a newline-separated list of URL-encoded paths.
async fn bulk_delete(cloud: &Cloud, account: &str, call: &Call) -> Response {
    let body = match bulk_delete_body(call).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let paths = match bulk_delete_paths(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match cloud.object.bulk_delete(account, paths).await {
        Ok(out) => bulk_delete_report(&out, Format::of(call)),
        Err(e) => error(e, false),
    }
}

/// The whole request body, refused past 10 MiB as Swift's bulk middleware does.
async fn bulk_delete_body(call: &Call) -> Result<Vec<u8>, Response> {
    const MAX_BODY: usize = 10 * 1024 * 1024;
    let mut body = Vec::new();
    let mut stream = call_body(call);
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(fault(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        Some("Your request is too large."),
                        false,
                    ));
                }
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err(fault(StatusCode::BAD_REQUEST, Some("Invalid body"), false)),
        }
    }
}

/// The decoded paths of the body, one a line, at most `MAX_BULK_DELETES`.
fn bulk_delete_paths(body: &[u8]) -> Result<Vec<String>, Response> {
    let text = String::from_utf8_lossy(body);
    let paths: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            percent_encoding::percent_decode_str(l)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if paths.len() > model::MAX_BULK_DELETES {
        return Err(fault(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(&format!(
                "Maximum Bulk Deletes: {} per request",
                model::MAX_BULK_DELETES
            )),
            false,
        ));
    }
    Ok(paths)
}

/// The bulk delete's report: counts, status and errors, as JSON or plain text.
fn bulk_delete_report(out: &BulkResult, format: Format) -> Response {
    let status = if out.errors.is_empty() {
        "200 OK"
    } else {
        "400 Bad Request"
    };
    let text = match format {
        Format::Json => {
            let errors: Vec<_> = out
                .errors
                .iter()
                .map(|(p, s)| {
                    json!([
                        p,
                        format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
                    ])
                })
                .collect();
            json!({
                "Number Deleted": out.deleted, "Number Not Found": out.not_found,
                "Response Body": "", "Response Status": status, "Errors": errors,
            })
            .to_string()
        }
        _ => format!(
            "Number Deleted: {}\nNumber Not Found: {}\nResponse Body: \nResponse Status: {status}\nErrors:\n{}",
            out.deleted,
            out.not_found,
            out.errors
                .iter()
                .map(|(p, s)| format!("{p}, {}\n", s.as_u16()))
                .collect::<String>()
        ),
    };
    let ct = if format == Format::Json {
        "application/json"
    } else {
        "text/plain"
    };
    ([(header::CONTENT_TYPE, ct)], text).into_response()
}

/// The request body as a byte stream (the `Call` keeps it; bulk requests read it
/// once).
fn call_body(call: &Call) -> crate::object::blobs::ByteStream {
    super::take_body(call)
}
