//! Templates and files given by URL (`template_url`, a `get_file` naming a URL or
//! a path relative to `template_url`): read from this cloud's own object store,
//! in-process, as the caller (a Swift GET's access checks). Any other URL is
//! refused with Heat's 400; nothing is fetched from outside the cloud.

use serde_json::Value;

use super::stacks::StackCreate;
use crate::cloud::Cloud;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Heat's `max_template_size` (bytes), also the limit of a fetched file.
const MAX_TEMPLATE_BYTES: u64 = 524_288;

/// The `(project, container, object)` of a URL of this cloud's object store
/// (`<public URL>/object-storage/v1/AUTH_<project>/<container>/<object>`).
fn object_of(public: &str, url: &str) -> Option<(String, String, String)> {
    let rest = url
        .strip_prefix(public.trim_end_matches('/'))?
        .strip_prefix("/object-storage/v1/AUTH_")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (project, rest) = rest.split_once('/')?;
    let (container, object) = rest.split_once('/')?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let (container, object) = (decode(container)?, decode(object)?);
    if project.is_empty() || container.is_empty() || object.is_empty() {
        return None;
    }
    Some((project.to_owned(), container, object))
}

/// Reads `url` from the object store as `ctx`; `what` names it in Heat's
/// message ("template" or the `get_file` path).
async fn fetch(cloud: &Cloud, ctx: &RequestContext, url: &str, what: &str) -> ApiResult<String> {
    let public = cloud.profile.public_url();
    let refuse = |why: String| {
        ApiError::bad_request(format!(
            "Could not retrieve {what}: Failed to retrieve {what} from {url}: {why}"
        ))
    };
    let Some((project, container, object)) = object_of(&public, url) else {
        return Err(refuse(format!(
            "only objects of this cloud's object store ({public}/object-storage/v1/...) can be read"
        )));
    };
    let bytes = cloud
        .object
        .object_read_as(ctx, &project, &container, &object, MAX_TEMPLATE_BYTES)
        .await
        .map_err(|e| refuse(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| refuse("the object is not UTF-8 text".into()))
}

/// Every `get_file` argument of a value.
fn get_files(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::String(p)) = m.get("get_file")
            {
                out.push(p.clone());
            }
            m.values().for_each(|x| get_files(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| get_files(x, out)),
        _ => {}
    }
}

fn is_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| u.has_host())
}

/// Fills a request's template from its `template_url`, and its `files` with
/// what its `get_file`s name by URL (absolute, or relative to `template_url`)
/// and it did not send. A request without URLs is unchanged.
pub(super) async fn resolve(
    cloud: &Cloud,
    ctx: &RequestContext,
    req: &mut StackCreate,
) -> ApiResult<()> {
    if req.template.is_none()
        && let Some(url) = req.template_url.clone()
    {
        req.template = Some(Value::String(fetch(cloud, ctx, &url, "template").await?));
    }
    let raw = match &req.template {
        Some(Value::String(text)) => super::template::parse_text(text)?,
        Some(v) => v.clone(),
        None => return Ok(()),
    };
    let mut paths = Vec::new();
    get_files(&raw, &mut paths);
    let base = req
        .template_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    for p in paths {
        if req.files.contains_key(&p) {
            continue;
        }
        let url = if is_url(&p) {
            p.clone()
        } else if let Some(joined) = base.as_ref().and_then(|b| b.join(&p).ok()) {
            joined.to_string()
        } else {
            // Not a URL: the template's own check names the missing file.
            continue;
        };
        let text = fetch(cloud, ctx, &url, &p).await?;
        req.files.insert(p, Value::String(text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_of_this_cloud_only() {
        let public = "http://127.0.0.1:8080";
        assert_eq!(
            object_of(
                public,
                "http://127.0.0.1:8080/object-storage/v1/AUTH_p1/tpl/a%20b.yaml"
            ),
            Some(("p1".into(), "tpl".into(), "a b.yaml".into()))
        );
        assert_eq!(
            object_of(
                public,
                "http://127.0.0.1:8080/object-storage/v1/AUTH_p1/tpl/dir/x.yaml?x=1"
            ),
            Some(("p1".into(), "tpl".into(), "dir/x.yaml".into()))
        );
        assert_eq!(
            object_of(public, "http://example.com/object-storage/v1/AUTH_p1/c/o"),
            None
        );
        assert_eq!(
            object_of(public, "http://127.0.0.1:8080/image/v2/images"),
            None
        );
        assert_eq!(
            object_of(public, "http://127.0.0.1:8080/object-storage/v1/AUTH_p1/c"),
            None
        );
        assert_eq!(object_of(public, "file:///etc/passwd"), None);
    }

    #[test]
    fn get_file_paths_are_found() {
        let v = serde_json::json!({"a": {"get_file": "x.sh"}, "b": [{"get_file": "http://h/y"}]});
        let mut out = Vec::new();
        get_files(&v, &mut out);
        out.sort();
        assert_eq!(out, vec!["http://h/y".to_owned(), "x.sh".to_owned()]);
    }
}
