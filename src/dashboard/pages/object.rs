//! Project pages of the object store (Swift): containers (create, delete, public
//! toggle) and a container's objects, browsed as folders by the `/` delimiter
//! (upload, download, delete, new folder). Every call goes through the Swift API
//! as the user, so its ACLs and policy decide.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::IntoResponse;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::session::Session;
use super::super::view::{Action, Cell, Field, Form as UiForm, Table, link, s, text};
use super::super::{Dash, PageError, PageResult};
use super::{Posted, back, page, script_session};

/// What Swift's public-read ACL is: anyone may read objects and list the container.
const PUBLIC_READ: &str = ".r:*,.rlistings";

/// Everything but the unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn account(sess: &Session) -> String {
    format!("/object-storage/v1/AUTH_{}", sess.project_id)
}

/// A container name as one escaped path segment; Swift's own rules (no `/`, at
/// most 256 bytes) are checked here so a bad name cannot reach another path.
fn container_seg(name: &str) -> Result<String, PageError> {
    if name.is_empty() || name.len() > 256 || name.contains('/') {
        return Err(PageError::BadInput(format!(
            "'{name}' is not a valid container name (1 to 256 bytes, no '/')."
        )));
    }
    Ok(utf8_percent_encode(name, SEGMENT).to_string())
}

/// An object name as escaped path segments (its `/`s kept).
fn object_path(name: &str) -> Result<String, PageError> {
    if name.is_empty() || name.len() > 1024 {
        return Err(PageError::BadInput(
            "An object name is 1 to 1024 bytes.".into(),
        ));
    }
    Ok(name
        .split('/')
        .map(|p| utf8_percent_encode(p, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/"))
}

/// A query string value, escaped.
fn q(v: &str) -> String {
    utf8_percent_encode(v, SEGMENT).to_string()
}

/// Whether a container's read ACL makes it public.
fn is_public(read_acl: &str) -> bool {
    read_acl.split(',').any(|r| r.trim() == ".r:*")
}

/// `GET /dashboard/project/containers`.
pub(super) async fn containers(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let acct = account(&sess);
    let v = d
        .backend
        .get(&sess.token, format!("{acct}?format=json"))
        .await?;
    let names: Vec<&str> = v
        .as_array()
        .map_or(vec![], |a| a.iter().map(|c| s(c, "name")).collect());
    // The listing carries no ACLs: one HEAD per container, all at once.
    let heads =
        futures_util::future::join_all(names.iter().map(|n| container_public(&d, &sess, n))).await;
    let table = containers_table(&v, heads);
    let create = UiForm::new(
        "container-create",
        "Create Container",
        "/dashboard/project/containers",
        "Create Container",
        vec![
            Field::text("name", "Container name").required(),
            Field::text("public", "Public (anyone may read and list it)").kind("checkbox"),
        ],
    );
    super::panel(
        &d,
        &sess,
        "containers",
        "Containers",
        vec![create],
        vec![table],
        None,
    )
    .await
}

/// Whether a container's read ACL (read with a HEAD) makes it public; false when
/// it cannot be read.
async fn container_public(d: &Dash, sess: &Session, name: &str) -> bool {
    let Ok(c) = container_seg(name) else {
        return false;
    };
    let path = format!("{}/{c}", account(sess));
    d.backend
        .send(Some(&sess.token), Method::HEAD, &path, Body::empty(), None)
        .await
        .ok()
        .and_then(|(_, h, _)| {
            h.get("x-container-read")
                .and_then(|v| v.to_str().ok())
                .map(is_public)
        })
        .unwrap_or(false)
}

/// The account's containers, each with its access toggle and Delete.
fn containers_table(v: &Value, public: Vec<bool>) -> Table {
    let mut table = Table::new(
        "containers",
        "Containers",
        vec!["Name", "Objects", "Size", "Access"],
    );
    table.empty = "No containers yet: create one.".into();
    for (c, public) in v
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .zip(public)
    {
        let name = s(c, "name");
        let Ok(seg) = container_seg(name) else {
            continue;
        };
        let base = format!("/dashboard/project/containers/{seg}");
        let toggle = if public {
            Action::new("Make private", format!("{base}/access")).field("public", "0")
        } else {
            Action::new("Make public", format!("{base}/access")).field("public", "1")
        };
        table.row(
            name,
            vec![
                link(name, format!("{base}/")),
                Cell::from(text(c, "count")),
                Cell::from(super::storage::human_size(
                    c.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                )),
                Cell::from(if public { "public" } else { "private" }),
            ],
            vec![
                toggle,
                Action::new("Delete", format!("{base}/delete")).danger(),
            ],
        );
    }
    table
}

/// `POST /dashboard/project/containers`.
pub(super) async fn container_create(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let seg = container_seg(f.required("name", "Container name")?)?;
    let acl: &[(&str, &str)] = if f.get("public") == "1" {
        &[("x-container-read", PUBLIC_READ)]
    } else {
        &[]
    };
    container_call(&d, &sess, Method::PUT, &seg, acl).await
}

/// `POST /dashboard/project/containers/{container}/delete`: Swift refuses a
/// container that still holds objects (409), and that refusal is shown.
pub(super) async fn container_delete(
    State(d): State<Dash>,
    Path(container): Path<String>,
    Posted { sess, .. }: Posted,
) -> PageResult {
    let seg = container_seg(&container)?;
    d.backend
        .delete(&sess.token, &format!("{}/{seg}", account(&sess)))
        .await?;
    back("/dashboard/project/containers")
}

/// `POST /dashboard/project/containers/{container}/access`: public read (and
/// listing) on or off, as Horizon's "Public Access" checkbox.
pub(super) async fn container_access(
    State(d): State<Dash>,
    Path(container): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let seg = container_seg(&container)?;
    let acl: &[(&str, &str)] = if f.get("public") == "1" {
        &[("x-container-read", PUBLIC_READ)]
    } else {
        &[("x-remove-container-read", "1")]
    };
    container_call(&d, &sess, Method::POST, &seg, acl).await
}

/// A bodiless container request with `headers` (its ACL), then the containers page.
async fn container_call(
    d: &Dash,
    sess: &Session,
    method: Method,
    seg: &str,
    headers: &[(&str, &str)],
) -> PageResult {
    d.backend
        .exchange(
            Some(&sess.token),
            method,
            &format!("{}/{seg}", account(sess)),
            headers,
            Body::empty(),
            None,
        )
        .await?;
    back("/dashboard/project/containers")
}

#[derive(Deserialize, Default)]
pub(super) struct Browse {
    #[serde(default)]
    prefix: String,
}

/// `GET /dashboard/project/containers/{container}/?prefix=`: one folder level of
/// the container (Swift's `delimiter=/` listing: subdirs, then objects).
pub(super) async fn container_objects(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(container): Path<String>,
    Query(b): Query<Browse>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let seg = container_seg(&container)?;
    let v = d
        .backend
        .get(
            &sess.token,
            format!(
                "{}/{seg}?format=json&delimiter=/&prefix={}",
                account(&sess),
                q(&b.prefix)
            ),
        )
        .await?;
    let here = format!("/dashboard/project/containers/{seg}");
    let table = objects_table(&v, &here, &b.prefix);
    let crumbs = breadcrumbs(&container, &here, &b.prefix);
    let folder = UiForm::new(
        "folder-create",
        "Create Folder",
        &format!("{here}/folder"),
        "Create Folder",
        vec![
            Field::text("name", "Folder name").required(),
            Field::text("prefix", "").kind("hidden").value(&b.prefix),
        ],
    );
    Ok(page(
        &d,
        &sess,
        "containers",
        &format!("Container {container}"),
        "objects.html",
        json!({
            "forms": [folder], "tables": [table], "crumbs": crumbs,
            "upload_url": format!("{here}/upload"), "prefix": b.prefix,
        }),
    )
    .await)
}

/// One folder level: subfolders (links one level down), then objects (download
/// links, each with Delete); the folder's own marker object is left out.
fn objects_table(v: &Value, here: &str, prefix: &str) -> Table {
    let mut table = Table::new(
        "objects",
        "Objects",
        vec!["Name", "Size", "Type", "Last modified"],
    );
    table.empty = "This folder is empty.".into();
    for o in v.as_array().map_or(&[][..], Vec::as_slice) {
        if let Some(dir) = o.get("subdir").and_then(Value::as_str) {
            let label = dir.strip_prefix(prefix).unwrap_or(dir);
            table.row(
                dir,
                vec![
                    link(label, format!("{here}/?prefix={}", q(dir))),
                    Cell::from(""),
                    Cell::from("folder"),
                    Cell::from(""),
                ],
                vec![],
            );
            continue;
        }
        let name = s(o, "name");
        let label = name.strip_prefix(prefix).unwrap_or(name);
        if label.is_empty() {
            continue;
        }
        table.row(
            name,
            vec![
                link(label, format!("{here}/download?name={}", q(name))),
                Cell::from(super::storage::human_size(
                    o.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                )),
                Cell::from(s(o, "content_type")),
                Cell::from(s(o, "last_modified")),
            ],
            vec![
                Action::new("Delete", format!("{here}/objects/delete"))
                    .field("name", name)
                    .field("prefix", prefix)
                    .danger(),
            ],
        );
    }
    table
}

/// The path above this folder, each part a link.
fn breadcrumbs(container: &str, here: &str, prefix: &str) -> Vec<Value> {
    let mut crumbs = vec![json!({"label": container, "href": format!("{here}/")})];
    let mut acc = String::new();
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        acc.push_str(part);
        acc.push('/');
        crumbs.push(json!({"label": part, "href": format!("{here}/?prefix={}", q(&acc))}));
    }
    crumbs
}

#[derive(Deserialize)]
pub(super) struct ObjectName {
    name: String,
}

/// `PUT /dashboard/project/containers/{container}/upload?name=` (script,
/// `X-CSRF-Token`): the file's bytes to Swift as the object `name`.
pub(super) async fn object_upload(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(container): Path<String>,
    Query(o): Query<ObjectName>,
    body: Body,
) -> PageResult {
    let sess = script_session(&d, &headers).await?;
    let path = format!(
        "{}/{}/{}",
        account(&sess),
        container_seg(&container)?,
        object_path(&o.name)?
    );
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    // Swift wants the length of an upload that is not chunked: the browser's own.
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let extra: &[(&str, &str)] = if length.is_empty() {
        &[("transfer-encoding", "chunked")]
    } else {
        &[("content-length", &length)]
    };
    d.backend
        .exchange(
            Some(&sess.token),
            Method::PUT,
            &path,
            extra,
            body,
            Some(&ct),
        )
        .await?;
    Ok(axum::Json(json!({"name": o.name})).into_response())
}

/// `GET /dashboard/project/containers/{container}/download?name=`: the object, as
/// an attachment, streamed from Swift to the browser (never held whole here).
pub(super) async fn object_download(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(container): Path<String>,
    Query(o): Query<ObjectName>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let path = format!(
        "{}/{}/{}",
        account(&sess),
        container_seg(&container)?,
        object_path(&o.name)?
    );
    let (parts, body) = d
        .backend
        .stream(
            Some(&sess.token),
            Method::GET,
            &path,
            &[],
            Body::empty(),
            None,
        )
        .await?;
    Ok(attachment(&parts.headers, body, &o.name))
}

/// A download answer: the service's body as it streams, its type, length, ETag and
/// modification time, and a `Content-Disposition` naming the file (the last part of
/// `name`, cut to safe characters).
pub(super) fn attachment(from: &HeaderMap, body: Body, name: &str) -> axum::response::Response {
    let file: String = name
        .rsplit('/')
        .next()
        .unwrap_or("download")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        if file.is_empty() { "download" } else { &file }
    );
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        from.get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    for name in [header::CONTENT_LENGTH, header::ETAG, header::LAST_MODIFIED] {
        if let Some(v) = from.get(&name) {
            h.insert(name, v.clone());
        }
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Ok(v) = disposition.parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The folder page to return to after a change under `prefix`.
fn folder_url(container_seg: &str, prefix: &str) -> String {
    format!(
        "/dashboard/project/containers/{container_seg}/?prefix={}",
        q(prefix)
    )
}

/// `POST /dashboard/project/containers/{container}/objects/delete`.
pub(super) async fn object_delete(
    State(d): State<Dash>,
    Path(container): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let seg = container_seg(&container)?;
    let name = object_path(f.required("name", "Object")?)?;
    d.backend
        .delete(&sess.token, &format!("{}/{seg}/{name}", account(&sess)))
        .await?;
    back(&folder_url(&seg, f.get("prefix")))
}

/// `POST /dashboard/project/containers/{container}/folder`: a folder is a
/// zero-byte `application/directory` object named `prefix/name/`, as Horizon makes.
pub(super) async fn folder_create(
    State(d): State<Dash>,
    Path(container): Path<String>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let seg = container_seg(&container)?;
    let name = f.required("name", "Folder name")?.trim_matches('/');
    if name.is_empty() {
        return Err(PageError::BadInput("Folder name is required.".into()));
    }
    let prefix = f.get("prefix");
    let object = object_path(&format!("{prefix}{name}/"))?;
    d.backend
        .exchange(
            Some(&sess.token),
            Method::PUT,
            &format!("{}/{seg}/{object}", account(&sess)),
            &[("content-length", "0")],
            Body::empty(),
            Some("application/directory"),
        )
        .await?;
    back(&folder_url(&seg, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_into_one_path() {
        assert_eq!(
            container_seg("my files").ok().as_deref(),
            Some("my%20files")
        );
        assert!(container_seg("a/b").is_err());
        assert!(container_seg("").is_err());
        assert_eq!(
            object_path("dir/a b?.txt").ok().as_deref(),
            Some("dir/a%20b%3F.txt")
        );
        assert_eq!(q("a/b&c"), "a%2Fb%26c");
    }

    #[test]
    fn public_is_the_referrer_wildcard() {
        assert!(is_public(PUBLIC_READ));
        assert!(is_public(".rlistings, .r:*"));
        assert!(!is_public("demo:demo"));
        assert!(!is_public(""));
    }
}
