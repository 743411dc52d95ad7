//! Who may do what, as Swift's keystoneauth and tempurl middlewares decide: the
//! project's operators (admin, member) own its account, its readers read it, a
//! `ResellerAdmin` reaches every account; others only through container ACLs
//! (`X-Container-Read/Write`: `project:user` pairs by id or name, `*` wildcards,
//! role names, `.r:` referrers and `.rlistings`) or a temp URL signed with an
//! account or container key.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use hmac::{Hmac, Mac};

use super::{Call, fault};
use crate::http::context::RequestContext;
use crate::object::model::Meta;

/// Roles that own a project's account (DevStack's `operator_roles`).
const OPERATOR_ROLES: &[&str] = &["admin", "member", "swiftoperator"];
const READER_ROLES: &[&str] = &["reader"];
pub(crate) const RESELLER_ADMIN_ROLE: &str = "ResellerAdmin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    AccountRead,
    AccountWrite,
    ContainerRead,
    ContainerWrite,
    ObjectRead,
    ObjectWrite,
}

impl Op {
    fn is_read(self) -> bool {
        matches!(self, Op::AccountRead | Op::ContainerRead | Op::ObjectRead)
    }
}

fn in_project(ctx: &RequestContext, project: &str) -> bool {
    ctx.project_id() == Some(project)
}

/// Full control of the account.
pub(crate) fn is_owner(ctx: &RequestContext, project: &str) -> bool {
    ctx.has_role(RESELLER_ADMIN_ROLE)
        || (in_project(ctx, project) && OPERATOR_ROLES.iter().any(|r| ctx.has_role(r)))
}

/// Whether an ACL element names the caller.
fn acl_names(ctx: &RequestContext, element: &str) -> bool {
    let project = match &ctx.scope {
        crate::http::context::Scope::Project { project, .. } => Some(project),
        _ => None,
    };
    match element.split_once(':') {
        Some((p, u)) => {
            let p_ok = p == "*" || project.is_some_and(|pr| pr.id == p || pr.name == p);
            let u_ok = u == "*" || ctx.user.id == u || ctx.user.name == u;
            p_ok && u_ok
        }
        None => ctx.has_role(element),
    }
}

/// Split an ACL header into its elements.
pub(crate) fn acl_elements(acl: &str) -> impl Iterator<Item = &str> {
    acl.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// Whether a `.r:` referrer element admits the request's `Referer`.
fn referrer_admits(element: &str, referer: Option<&str>) -> Option<bool> {
    let r = element
        .strip_prefix(".r:")
        .or_else(|| element.strip_prefix(".referrer:"))?;
    if r.starts_with('-') {
        // A refusal never grants; `authorize` checks it against the referrer.
        return Some(false);
    }
    if r == "*" {
        return Some(true);
    }
    let host = referer.and_then(host_of).unwrap_or_default();
    Some(host == r || (r.starts_with('.') && host.ends_with(r)))
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

/// Checks `op` on the account of `project` (and `container`'s ACLs); the refusal
/// is 401 for an anonymous caller and 403 for a known one.
pub(crate) fn authorize(
    call: &Call,
    project: &str,
    container: Option<&Meta>,
    op: Op,
) -> Result<(), Response> {
    let head = call.is_head();
    if let Some(ctx) = &call.ctx {
        if is_owner(ctx, project) {
            return Ok(());
        }
        if op.is_read() && in_project(ctx, project) && READER_ROLES.iter().any(|r| ctx.has_role(r))
        {
            return Ok(());
        }
    }
    if let Some(meta) = container {
        let referer = call.header("referer");
        let (key, listing) = match op {
            Op::ObjectRead => ("x-container-read", false),
            Op::ContainerRead => ("x-container-read", true),
            Op::ObjectWrite => ("x-container-write", false),
            _ => ("", false),
        };
        if let Some(acl) = meta.get(key) {
            let elements: Vec<&str> = acl_elements(acl).collect();
            let rlistings = elements.contains(&".rlistings");
            let denied = elements.iter().any(|e| {
                e.starts_with(".r:-")
                    && referrer_admits(&e.replace(".r:-", ".r:"), referer.as_deref()) == Some(true)
            });
            for e in &elements {
                if let Some(ok) = referrer_admits(e, referer.as_deref()) {
                    if ok && !denied && (!listing || rlistings) && op != Op::ObjectWrite {
                        return Ok(());
                    }
                    continue;
                }
                if e.starts_with('.') {
                    continue;
                }
                if let Some(ctx) = &call.ctx
                    && acl_names(ctx, e)
                {
                    return Ok(());
                }
            }
        }
    }
    Err(fault(
        if call.ctx.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        },
        None,
        head,
    ))
}

/// Checks an ACL header value as Swift does before storing it.
pub(crate) fn check_acl(header: &str, value: &str) -> Result<(), String> {
    for e in acl_elements(value) {
        if let Some(r) = e
            .strip_prefix(".r:")
            .or_else(|| e.strip_prefix(".referrer:"))
        {
            if header == "x-container-write" {
                return Err(format!("Referrers not allowed in write ACL: {value:?}"));
            }
            if r.is_empty() || r == "-" {
                return Err(format!(
                    "No host/domain value after referrer designation in ACL: {value:?}"
                ));
            }
        } else if e.starts_with('.') && e != ".rlistings" {
            return Err(format!("Unknown designator {e:?} in ACL: {value:?}"));
        }
    }
    Ok(())
}

type HmacSha1 = Hmac<sha1::Sha1>;
type HmacSha256 = Hmac<sha2::Sha256>;
type HmacSha512 = Hmac<sha2::Sha512>;

pub(super) fn hmac_hex(digest: &str, key: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    Some(match digest {
        "sha1" => HmacSha1::new_from_slice(key)
            .ok()?
            .chain_update(msg)
            .finalize()
            .into_bytes()
            .to_vec(),
        "sha256" => HmacSha256::new_from_slice(key)
            .ok()?
            .chain_update(msg)
            .finalize()
            .into_bytes()
            .to_vec(),
        "sha512" => HmacSha512::new_from_slice(key)
            .ok()?
            .chain_update(msg)
            .finalize()
            .into_bytes()
            .to_vec(),
        _ => return None,
    })
}

/// The digest and raw signature of `temp_url_sig`: hex (its length names the
/// digest) or `<digest>:<base64>`.
pub(super) fn parse_sig(sig: &str) -> Option<(&'static str, Vec<u8>)> {
    use base64::Engine;
    if let Some((d, b64)) = sig.split_once(':') {
        let d = match d {
            "sha1" => "sha1",
            "sha256" => "sha256",
            "sha512" => "sha512",
            _ => return None,
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(b64))
            .ok()?;
        return Some((d, raw));
    }
    let d = match sig.len() {
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    Some((d, hex::decode(sig).ok()?))
}

/// A temp URL: `temp_url_sig` and `temp_url_expires` (and optional
/// `temp_url_prefix`) checked against the keys; true when it grants this request.
/// `paths` are the object path forms a client may have signed (with and without
/// our `/object-storage` prefix).
pub(crate) fn tempurl_grants(call: &Call, paths: &[String], object: &str, keys: &[String]) -> bool {
    let (Some(sig), Some(expires)) = (call.q("temp_url_sig"), call.q("temp_url_expires")) else {
        return false;
    };
    let Ok(exp) = expires.parse::<i64>() else {
        return false;
    };
    if exp < chrono::Utc::now().timestamp() || keys.is_empty() {
        return false;
    }
    let Some((digest, raw)) = parse_sig(sig) else {
        return false;
    };
    let prefix = call.q("temp_url_prefix");
    if let Some(p) = prefix
        && !object.starts_with(p)
    {
        return false;
    }
    let methods: &[&str] = match call.method {
        Method::HEAD => &["HEAD", "GET", "PUT"],
        Method::GET => &["GET"],
        Method::PUT => &["PUT"],
        Method::POST => &["POST"],
        Method::DELETE => &["DELETE"],
        _ => return false,
    };
    for path in paths {
        let signed_path = match prefix {
            Some(p) => {
                let base = path.strip_suffix(object).unwrap_or(path);
                format!("prefix:{base}{p}")
            }
            None => path.clone(),
        };
        for m in methods {
            let msg = format!("{m}\n{expires}\n{signed_path}");
            for k in keys {
                if hmac_hex(digest, k.as_bytes(), msg.as_bytes())
                    .is_some_and(|mac| constant_eq(&mac, &raw))
                {
                    return true;
                }
            }
        }
    }
    false
}

pub(super) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_checks() {
        assert!(check_acl("x-container-read", ".r:*,.rlistings").is_ok());
        assert!(check_acl("x-container-write", ".r:*").is_err());
        assert!(check_acl("x-container-read", ".r:").is_err());
        assert!(check_acl("x-container-read", ".bogus").is_err());
        assert!(check_acl("x-container-read", "p:u").is_ok());
    }

    #[test]
    fn referrers() {
        assert_eq!(referrer_admits(".r:*", None), Some(true));
        assert_eq!(
            referrer_admits(".r:example.com", Some("http://example.com/x")),
            Some(true)
        );
        assert_eq!(
            referrer_admits(".r:.example.com", Some("http://a.example.com/")),
            Some(true)
        );
        assert_eq!(referrer_admits(".r:example.com", None), Some(false));
        assert_eq!(referrer_admits("p:u", None), None);
    }

    #[test]
    fn signatures_parse() {
        let (d, raw) = parse_sig(&"ab".repeat(20)).expect("sha1");
        assert_eq!((d, raw.len()), ("sha1", 20));
        assert_eq!(parse_sig(&"ab".repeat(32)).expect("sha256").0, "sha256");
        assert!(parse_sig("xyz").is_none());
        let mac = hmac_hex("sha1", b"key", b"GET\n1\n/v1/AUTH_a/c/o").expect("mac");
        assert_eq!(mac.len(), 20);
    }
}
