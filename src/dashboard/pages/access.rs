//! The API access page: the catalog's endpoints as the user sees them, and the
//! user's openrc and clouds.yaml to download (without the password, which the
//! openrc asks for, as Horizon's does).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::super::session::Session;
use super::super::view::{Cell, Table, list, s};
use super::super::{Dash, PageError, PageResult};
use super::panel;

/// What both files are made of, read from the user's catalog and project.
struct Access {
    auth_url: String,
    region: String,
    project_domain_id: String,
}

async fn access(d: &Dash, sess: &Session) -> Result<(Access, Value), PageError> {
    let t = &sess.token;
    let (catalog, projects) = tokio::join!(
        d.backend.get(t, "/identity/v3/auth/catalog"),
        d.backend.get(t, "/identity/v3/auth/projects"),
    );
    let catalog = catalog?;
    let identity = list(&catalog, "catalog")
        .iter()
        .find(|c| s(c, "type") == "identity")
        .and_then(|c| {
            list(c, "endpoints")
                .iter()
                .find(|e| s(e, "interface") == "public")
        });
    let auth_url = identity.map_or(String::new(), |e| {
        format!("{}/v3", s(e, "url").trim_end_matches('/'))
    });
    let region = identity.map_or("RegionOne", |e| s(e, "region")).to_owned();
    let project_domain_id = list(&projects.unwrap_or_default(), "projects")
        .iter()
        .find(|p| s(p, "id") == sess.project_id)
        .map_or("default", |p| s(p, "domain_id"))
        .to_owned();
    Ok((
        Access {
            auth_url,
            region,
            project_domain_id,
        },
        catalog,
    ))
}

/// `GET /dashboard/project/api-access`.
pub(super) async fn api_access(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = d.session(&headers).await?;
    let (_, catalog) = access(&d, &sess).await?;
    let mut t = Table::new(
        "endpoints",
        "API Endpoints",
        vec!["Service", "Type", "Public endpoint"],
    );
    let mut services: Vec<&Value> = list(&catalog, "catalog").iter().collect();
    services.sort_by_key(|c| s(c, "type"));
    for c in services {
        let url = list(c, "endpoints")
            .iter()
            .find(|e| s(e, "interface") == "public")
            .map_or("", |e| s(e, "url"));
        t.row(
            s(c, "id"),
            vec![
                Cell::from(s(c, "name")),
                Cell::from(s(c, "type")),
                Cell::from(url),
            ],
            vec![],
        );
    }
    let notice = json!({
        "title": "Use the API from your machine",
        "text": "Download an openrc file (source it; it asks for your password) or a clouds.yaml (add your password) for this user and project.",
        "links": [
            {"id": "download-openrc", "href": "/dashboard/project/api-access/openrc", "label": "Download OpenStack RC file"},
            {"id": "download-clouds-yaml", "href": "/dashboard/project/api-access/clouds.yaml", "label": "Download clouds.yaml"},
        ],
    });
    panel(
        &d,
        &sess,
        "api-access",
        "API Access",
        vec![],
        vec![t],
        Some(notice),
    )
    .await
}

/// A value in single quotes for a POSIX shell (a `'` closes, escapes and reopens).
fn shq(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn openrc(sess: &Session, a: &Access) -> String {
    let lines = [
        "#!/usr/bin/env bash".to_owned(),
        "# OpenStack RC file from the onestack dashboard: source it in a shell.".to_owned(),
        format!("export OS_AUTH_URL={}", shq(&a.auth_url)),
        format!("export OS_PROJECT_ID={}", shq(&sess.project_id)),
        format!("export OS_PROJECT_NAME={}", shq(&sess.project_name)),
        format!("export OS_PROJECT_DOMAIN_ID={}", shq(&a.project_domain_id)),
        format!("export OS_USERNAME={}", shq(&sess.user_name)),
        format!("export OS_USER_DOMAIN_NAME={}", shq(&sess.domain_name)),
        "unset OS_TENANT_ID OS_TENANT_NAME".to_owned(),
        "echo \"Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: \"".to_owned(),
        "read -sr OS_PASSWORD_INPUT".to_owned(),
        "export OS_PASSWORD=$OS_PASSWORD_INPUT".to_owned(),
        format!("export OS_REGION_NAME={}", shq(&a.region)),
        "export OS_INTERFACE=public".to_owned(),
        "export OS_IDENTITY_API_VERSION=3".to_owned(),
    ];
    lines.join("\n") + "\n"
}

fn clouds_yaml(sess: &Session, a: &Access) -> String {
    let doc = json!({"clouds": {"onestack": {
        "auth": {
            "auth_url": a.auth_url,
            "username": sess.user_name,
            "user_domain_name": sess.domain_name,
            "project_id": sess.project_id,
            "project_name": sess.project_name,
            "project_domain_id": a.project_domain_id,
        },
        "region_name": a.region,
        "interface": "public",
        "identity_api_version": 3,
    }}});
    let body = serde_yaml_ng::to_string(&doc).unwrap_or_default();
    format!("# clouds.yaml from the onestack dashboard: add `password:` under auth.\n{body}")
}

/// `GET /dashboard/project/api-access/{file}`: `openrc` or `clouds.yaml`.
pub(super) async fn api_access_file(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> PageResult {
    let sess = d.session(&headers).await?;
    let (a, _) = access(&d, &sess).await?;
    let (body, name) = match file.as_str() {
        "openrc" => (
            openrc(&sess, &a),
            format!("{}-openrc.sh", safe(&sess.project_name)),
        ),
        "clouds.yaml" => (clouds_yaml(&sess, &a), "clouds.yaml".to_owned()),
        _ => {
            return Err(PageError::BadInput(format!(
                "No such file '{file}': openrc or clouds.yaml."
            )));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// A project name reduced to what is safe in a file name.
fn safe(name: &str) -> String {
    let out: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    if out.is_empty() {
        "project".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_values_are_quoted() {
        assert_eq!(shq("demo"), "'demo'");
        assert_eq!(shq("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(safe("a b/../c"), "ab..c");
        assert_eq!(safe("///"), "project");
    }
}
