//! Static web sites from a container, as Swift's `staticweb` middleware: for an
//! anonymous GET or HEAD (or one with `X-Web-Mode: true`) a container with
//! `X-Container-Meta-Web-Index` serves that object for its "directories",
//! `-Web-Listings: true` serves HTML listings (styled by `-Web-Listings-CSS`), and
//! `-Web-Error` names the page (`404<name>`, `401<name>`) served with an error;
//! directory markers (`-Web-Directory-Type`, `application/directory` by default) are
//! directories, not pages.
//! Every object read still goes through the container's read ACL; listings need
//! `.rlistings` as any anonymous listing does.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::access::{Op, authorize};
use super::view::{PATH_SET, put_header};
use super::{Call, fault};
use crate::cloud::Cloud;
use crate::object::model::{self, Container, Entry, ListQuery};

/// Whether static web answers this request at all.
pub(super) fn applies(call: &Call) -> bool {
    matches!(call.method, Method::GET | Method::HEAD)
        && (call.ctx.is_none() || call.header("x-web-mode").is_some_and(|v| model_true(&v)))
}

/// Swift's `config_true_value`.
fn model_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

struct Site<'a> {
    index: Option<&'a str>,
    listings: bool,
    css: Option<&'a str>,
    error: Option<&'a str>,
    /// The content type of directory marker objects (`-Web-Directory-Type`).
    dir_type: &'a str,
}

fn site(ct: &Container) -> Site<'_> {
    let get = |k: &str| ct.meta.get(k).map(String::as_str).filter(|v| !v.is_empty());
    Site {
        index: get("x-container-meta-web-index"),
        listings: get("x-container-meta-web-listings").is_some_and(model_true),
        css: get("x-container-meta-web-listings-css"),
        error: get("x-container-meta-web-error"),
        dir_type: get("x-container-meta-web-directory-type").unwrap_or("application/directory"),
    }
}

fn quote(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SET).to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// `301` to the same path with a slash: relative to the last path segment, so it
/// holds behind any prefix the cloud is mounted under.
fn redirect_with_slash(last_segment: &str) -> Response {
    let mut r = super::empty(StatusCode::MOVED_PERMANENTLY);
    put_header(
        r.headers_mut(),
        "location",
        &format!("{}/", quote(last_segment)),
    );
    r
}

/// An anonymous GET of a container: the index page, the listing, or `None` when the
/// container is no web site (the ordinary container GET answers).
pub(super) async fn container(
    cloud: &Cloud,
    account: &str,
    project: &str,
    ct: &Container,
    call: &Call,
) -> Option<Response> {
    let s = site(ct);
    if s.index.is_none() && !s.listings {
        if call.ctx.is_some() {
            // `X-Web-Mode` on a container that is no site.
            return Some(fault(StatusCode::NOT_FOUND, None, call.is_head()));
        }
        return None;
    }
    if !call.path.ends_with('/') {
        return Some(redirect_with_slash(&ct.name));
    }
    if let Some(index) = s.index {
        match page(cloud, account, project, ct, index, call).await {
            Ok(r) => return Some(r),
            Err(status) if status != StatusCode::NOT_FOUND => {
                return Some(error_page(cloud, account, project, ct, status, call).await);
            }
            Err(_) => {}
        }
    }
    Some(listing(cloud, account, project, ct, "", call).await)
}

/// An anonymous GET of an object in a web site: `None` when the object is there
/// (the ordinary GET answers), else the directory's index, its listing, a redirect
/// to the directory's slash form or the error page.
pub(super) async fn object(
    cloud: &Cloud,
    account: &str,
    project: &str,
    ct: &Container,
    name: &str,
    call: &Call,
) -> Option<Response> {
    let s = site(ct);
    if s.index.is_none() && !s.listings && s.error.is_none() {
        return None;
    }
    let found = cloud
        .object
        .object_find(account, &ct.name, name)
        .await
        .ok()
        .flatten();
    if let Some(o) = &found {
        // A directory marker is no page.
        let marker = o.content_type == s.dir_type && o.size <= 1;
        if !marker {
            return None;
        }
    }
    if s.index.is_none() && !s.listings {
        return Some(error_page(cloud, account, project, ct, StatusCode::NOT_FOUND, call).await);
    }
    let dir = if name.ends_with('/') {
        name.to_owned()
    } else {
        format!("{name}/")
    };
    if let Some(index) = s.index {
        match page(cloud, account, project, ct, &format!("{dir}{index}"), call).await {
            Ok(r) if name.ends_with('/') => return Some(r),
            Ok(_) => {
                let last = name.rsplit('/').next().unwrap_or(name);
                return Some(redirect_with_slash(last));
            }
            Err(status) if status != StatusCode::NOT_FOUND => {
                return Some(error_page(cloud, account, project, ct, status, call).await);
            }
            Err(_) => {}
        }
    }
    if !name.ends_with('/') {
        // A "directory" (objects below `name/`) gets its slash; anything else is 404.
        if !has_entries_below(cloud, account, ct, &dir).await {
            return Some(
                error_page(cloud, account, project, ct, StatusCode::NOT_FOUND, call).await,
            );
        }
        let last = name.rsplit('/').next().unwrap_or(name);
        return Some(redirect_with_slash(last));
    }
    Some(listing(cloud, account, project, ct, &dir, call).await)
}

/// Whether any object lies below `dir` (a "directory" of the site).
async fn has_entries_below(cloud: &Cloud, account: &str, ct: &Container, dir: &str) -> bool {
    let q = ListQuery {
        limit: 1,
        marker: None,
        end_marker: None,
        prefix: Some(dir.to_owned()),
        delimiter: Some('/'),
        reverse: false,
    };
    cloud
        .object
        .object_list(account, &ct.name, q)
        .await
        .is_ok_and(|l| !l.is_empty())
}

/// GET of one object of the site, through the read ACL; the refusal's status.
async fn page(
    cloud: &Cloud,
    account: &str,
    project: &str,
    ct: &Container,
    name: &str,
    call: &Call,
) -> Result<Response, StatusCode> {
    authorize(call, project, Some(&ct.meta), Op::ObjectRead).map_err(|r| r.status())?;
    match cloud.object.object_find(account, &ct.name, name).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(StatusCode::NOT_FOUND),
        Err(e) => return Err(e.status()),
    }
    super::object::get(cloud, account, &ct.name, name, call, false)
        .await
        .or_else(|r| {
            if r.status().is_client_error() && r.status() != StatusCode::RANGE_NOT_SATISFIABLE {
                Err(r.status())
            } else {
                Ok(r)
            }
        })
}

/// The error: the site's `<status><web-error>` page with the error's status, or
/// Swift's own fault.
async fn error_page(
    cloud: &Cloud,
    account: &str,
    project: &str,
    ct: &Container,
    status: StatusCode,
    call: &Call,
) -> Response {
    let head = call.is_head();
    let Some(error) = site(ct).error else {
        return fault(status, None, head);
    };
    if !matches!(status.as_u16(), 401 | 404) {
        return fault(status, None, head);
    }
    let name = format!("{}{error}", status.as_u16());
    match page(cloud, account, project, ct, &name, call).await {
        Ok(mut r) if r.status() == StatusCode::OK => {
            *r.status_mut() = status;
            r
        }
        _ => fault(status, None, head),
    }
}

/// Swift's `human_readable`: sizes with a binary suffix.
fn human(n: u64) -> String {
    let mut v = n as f64;
    let mut i = 0;
    let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    while v >= 1024.0 && i < suffixes.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let v = (v + 0.5).floor() as u64;
    format!("{v}{}", suffixes[i])
}

/// The HTML listing of `prefix` (empty for the container's root).
async fn listing(
    cloud: &Cloud,
    account: &str,
    project: &str,
    ct: &Container,
    prefix: &str,
    call: &Call,
) -> Response {
    let head = call.is_head();
    let s = site(ct);
    if !s.listings {
        let mut r = error_page(cloud, account, project, ct, StatusCode::NOT_FOUND, call).await;
        if s.error.is_none() {
            r = html(StatusCode::NOT_FOUND, listing_disabled(&call.path), head);
        }
        return r;
    }
    if let Err(r) = authorize(call, project, Some(&ct.meta), Op::ContainerRead) {
        return error_page(cloud, account, project, ct, r.status(), call).await;
    }
    let q = ListQuery {
        limit: model::LISTING_LIMIT,
        marker: None,
        end_marker: None,
        prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        delimiter: Some('/'),
        reverse: false,
    };
    let list = match cloud.object.object_list(account, &ct.name, q).await {
        Ok(l) => l,
        Err(e) => return super::error(e, head),
    };
    if !prefix.is_empty() && list.is_empty() {
        return error_page(cloud, account, project, ct, StatusCode::NOT_FOUND, call).await;
    }
    let label = html_escape(&call.path);
    let mut body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n \"http://www.w3.org/TR/html4/loose.dtd\">\n<html>\n <head>\n  <title>Listing of {label}</title>\n"
    );
    body.push_str(&listing_style(s.css, prefix));
    body.push_str(&format!(
        " </head>\n <body>\n  <h1 id=\"title\">Listing of {label}</h1>\n  <table id=\"listing\">\n   <tr id=\"heading\">\n    <th class=\"colname\">Name</th>\n    <th class=\"colsize\">Size</th>\n    <th class=\"coldate\">Date</th>\n   </tr>\n"
    ));
    if !prefix.is_empty() {
        body.push_str("   <tr id=\"parent\" class=\"item\">\n    <td class=\"colname\"><a href=\"../\">../</a></td>\n    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n");
    }
    listing_rows(&mut body, &list, prefix);
    body.push_str("  </table>\n </body>\n</html>\n");
    html(StatusCode::OK, body, head)
}

/// Swift's page for a container whose listings are off.
fn listing_disabled(path: &str) -> String {
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n \"http://www.w3.org/TR/html4/loose.dtd\">\n<html>\n <head>\n  <title>Listing of {}</title>\n </head>\n <body>\n  <h1>Web Listing Disabled</h1>\n  <p>The owner of this web site has disabled web listing.</p>\n  <p>If you are the owner of this web site, you can enable web listing by setting X-Container-Meta-Web-Listings.</p>\n </body>\n</html>\n",
        html_escape(path)
    )
}

/// A listing's style: the container's `-Web-Listings-CSS` (relative to the
/// container's root, or absolute), else Swift's own.
fn listing_style(css: Option<&str>, prefix: &str) -> String {
    match css {
        Some(css) => {
            let href = if css.starts_with('/') || css.contains("://") {
                const CSS_SET: &percent_encoding::AsciiSet = &PATH_SET.remove(b':');
                percent_encoding::utf8_percent_encode(css, CSS_SET).to_string()
            } else {
                format!("{}{}", "../".repeat(prefix.matches('/').count()), quote(css))
            };
            format!("  <link rel=\"stylesheet\" type=\"text/css\" href=\"{href}\" />\n")
        }
        None => "  <style type=\"text/css\">\n   h1 {font-size: 1em; font-weight: bold;}\n   th {text-align: left; padding: 0px 1em 0px 1em;}\n   td {padding: 0px 1em 0px 1em;}\n   a {text-decoration: none;}\n  </style>\n".to_owned(),
    }
}

/// A listing's rows: the subdirectories, then the objects with their types,
/// sizes and dates.
fn listing_rows(body: &mut String, list: &[Entry<model::Object>], prefix: &str) {
    for e in list {
        if let Entry::Subdir(d) = e {
            let d = d.strip_prefix(prefix).unwrap_or(d);
            body.push_str(&format!(
                "   <tr class=\"item subdir\">\n    <td class=\"colname\"><a href=\"{}\">{}</a></td>\n    <td class=\"colsize\">&nbsp;</td>\n    <td class=\"coldate\">&nbsp;</td>\n   </tr>\n",
                quote(d),
                html_escape(d)
            ));
        }
    }
    for e in list {
        if let Entry::Item(o) = e {
            let n = o.name.strip_prefix(prefix).unwrap_or(&o.name);
            let types: Vec<String> = o
                .content_type
                .split('/')
                .map(|t| format!("type-{}", html_escape(&t.to_ascii_lowercase())))
                .collect();
            let date = model::iso_date(o.ts);
            let date = date.split('.').next().unwrap_or(&date).replace('T', " ");
            body.push_str(&format!(
                "   <tr class=\"item {}\">\n    <td class=\"colname\"><a href=\"{}\">{}</a></td>\n    <td class=\"colsize\">{}</td>\n    <td class=\"coldate\">{}</td>\n   </tr>\n",
                types.join(" "),
                quote(n),
                html_escape(n),
                human(o.size),
                html_escape(&date)
            ));
        }
    }
}

fn html(status: StatusCode, body: String, head: bool) -> Response {
    let len = body.len();
    let mut r = if head {
        Response::new(axum::body::Body::empty())
    } else {
        Response::new(axum::body::Body::from(body))
    };
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_swift_writes_them() {
        assert_eq!(human(0), "0");
        assert_eq!(human(1023), "1023");
        assert_eq!(human(1024), "1Ki");
        assert_eq!(human(3 * 1024 * 1024), "3Mi");
    }
}
