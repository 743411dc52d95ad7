//! Quota editing for admins: a project's quotas of compute, networking and block
//! storage, and the defaults every project starts from (the `default` quota class
//! of compute and block storage; networking's defaults are its configuration and
//! are shown, not edited). Each form is one PUT to its service with the values as
//! typed: the service validates them and its refusal (a value below -1, a
//! limit under what is in use, an unknown key) is shown in its own words.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use serde_json::{Map, Value, json};

use super::super::view::{Cell, Field, Form as UiForm, FormData, Table};
use super::super::{Dash, PageError, PageResult};
use super::admin::admin_session;
use super::{Posted, back, page, segment};
use crate::profile::ServiceName;

/// One service's quota API: its name in the forms, its title, where a project's
/// set is read and written, and the JSON key of the set.
struct QuotaApi {
    service: &'static str,
    title: &'static str,
    name: ServiceName,
    /// `{}` is replaced by the project's id.
    project_path: &'static str,
    key: &'static str,
    /// The default quota class (None: not editable through the API).
    class_path: Option<&'static str>,
    class_key: &'static str,
}

const APIS: [QuotaApi; 3] = [
    QuotaApi {
        service: "compute",
        title: "Compute",
        name: ServiceName::Compute,
        project_path: "/compute/v2.1/os-quota-sets/{}",
        key: "quota_set",
        class_path: Some("/compute/v2.1/os-quota-class-sets/default"),
        class_key: "quota_class_set",
    },
    QuotaApi {
        service: "network",
        title: "Network",
        name: ServiceName::Network,
        project_path: "/networking/v2.0/quotas/{}",
        key: "quota",
        class_path: None,
        class_key: "",
    },
    QuotaApi {
        service: "volume",
        title: "Volume",
        name: ServiceName::Volume,
        project_path: "/volume/v3/os-quota-sets/{}",
        key: "quota_set",
        class_path: Some("/volume/v3/os-quota-class-sets/default"),
        class_key: "quota_class_set",
    },
];

fn api(service: &str) -> Result<&'static QuotaApi, PageError> {
    APIS.iter()
        .find(|a| a.service == service)
        .ok_or_else(|| PageError::BadInput(format!("'{service}' is not a quota service.")))
}

/// A form of one service's limits, a number field per limit the service reports.
fn quota_form(id: &str, title: &str, action: &str, service: &str, set: &Value) -> UiForm {
    let mut fields = vec![Field::text("service", "").kind("hidden").value(service)];
    if let Some(m) = set.as_object() {
        for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "id") {
            // Block storage's per-type limits (`volumes_lvm`) read as the others.
            fields.push(
                Field::text(k, k)
                    .kind("number")
                    .value(v.as_i64().map_or_else(|| v.to_string(), |n| n.to_string())),
            );
        }
    }
    UiForm::new(id, title, action, "Save", fields)
}

/// The posted limits as the service is to get them: whole numbers as numbers,
/// anything else as typed (the service refuses it and says why).
fn limits(f: &FormData) -> Map<String, Value> {
    f.0.iter()
        .filter(|(k, _)| k != "csrf" && k != "service")
        .map(|(k, v)| {
            let v = v.trim();
            let value = v.parse::<i64>().map_or_else(|_| json!(v), Value::from);
            (k.clone(), value)
        })
        .collect()
}

/// `GET /dashboard/admin/projects/{id}/quotas`: a form per served service.
pub(super) async fn project_quotas(
    State(d): State<Dash>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let seg = segment(&id)?;
    let t = &sess.token;
    let project = d
        .backend
        .get(t, format!("/identity/v3/projects/{seg}"))
        .await?;
    let here = format!("/dashboard/admin/projects/{seg}/quotas");
    let served: Vec<&QuotaApi> = APIS.iter().filter(|a| d.serves(a.name)).collect();
    let sets = futures_util::future::join_all(
        served
            .iter()
            .map(|a| d.backend.get(t, a.project_path.replace("{}", &seg))),
    )
    .await;
    let mut forms = vec![];
    for (a, set) in served.iter().zip(sets) {
        let set = set?;
        forms.push(quota_form(
            &format!("{}-quotas", a.service),
            &format!("{} Quotas", a.title),
            &here,
            a.service,
            &set[a.key],
        ));
    }
    let title = format!(
        "Quotas of project {}",
        project["project"]["name"].as_str().unwrap_or(&id)
    );
    Ok(page(
        &d,
        &sess,
        "admin-projects",
        &title,
        "panel.html",
        json!({"forms": forms, "tables": [], "open_forms": true}),
    )
    .await)
}

/// `POST /dashboard/admin/projects/{id}/quotas`: one service's limits.
pub(super) async fn project_quotas_update(
    State(d): State<Dash>,
    Path(id): Path<String>,
    p: Posted,
) -> PageResult {
    let (sess, f) = super::admin_edit::admin_post(p)?;
    let seg = segment(&id)?;
    let a = api(f.get("service"))?;
    d.backend
        .call(
            &sess.token,
            Method::PUT,
            &a.project_path.replace("{}", &seg),
            Some(json!({ a.key: limits(&f) })),
        )
        .await?;
    back(&format!("/dashboard/admin/projects/{seg}/quotas"))
}

/// `GET /dashboard/admin/defaults`: the default quotas (what a new project gets),
/// editable for compute and block storage.
pub(super) async fn defaults(State(d): State<Dash>, headers: HeaderMap) -> PageResult {
    let sess = admin_session(&d, &headers).await?;
    let t = &sess.token;
    let p = &sess.project_id;
    let mut forms = vec![];
    let mut tables = vec![];
    for a in APIS.iter().filter(|a| d.serves(a.name)) {
        if let Some(path) = a.class_path {
            let v = d.backend.get(t, path).await?;
            forms.push(quota_form(
                &format!("{}-defaults", a.service),
                &format!("{} Default Quotas", a.title),
                "/dashboard/admin/defaults",
                a.service,
                &v[a.class_key],
            ));
        } else {
            // Networking's defaults are its configuration: read, not edited.
            let v = d
                .backend
                .get(t, format!("/networking/v2.0/quotas/{p}/default"))
                .await?;
            let mut tb = Table::new(
                &format!("{}-defaults", a.service),
                &format!("{} Default Quotas (from the configuration)", a.title),
                vec!["Quota", "Limit"],
            );
            if let Some(m) = v[a.key].as_object() {
                for (k, lim) in m.iter().filter(|(k, _)| k.as_str() != "id") {
                    let shown = match lim.as_i64() {
                        Some(-1) => "unlimited".to_owned(),
                        _ => lim.to_string(),
                    };
                    tb.row(k, vec![Cell::from(k.as_str()), Cell::from(shown)], vec![]);
                }
            }
            tables.push(tb);
        }
    }
    Ok(page(
        &d,
        &sess,
        "admin-defaults",
        "Default Quotas",
        "panel.html",
        json!({"forms": forms, "tables": tables, "open_forms": true}),
    )
    .await)
}

/// `POST /dashboard/admin/defaults`: one service's default quota class.
pub(super) async fn defaults_update(State(d): State<Dash>, p: Posted) -> PageResult {
    let (sess, f) = super::admin_edit::admin_post(p)?;
    let a = api(f.get("service"))?;
    let Some(path) = a.class_path else {
        return Err(PageError::BadInput(format!(
            "The {} default quotas are the service's configuration.",
            a.title
        )));
    };
    d.backend
        .call(
            &sess.token,
            Method::PUT,
            path,
            Some(json!({ a.class_key: limits(&f) })),
        )
        .await?;
    back("/dashboard/admin/defaults")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_keep_what_was_typed_for_the_service_to_judge() {
        let f = FormData(vec![
            ("csrf".into(), "x".into()),
            ("service".into(), "compute".into()),
            ("instances".into(), " 12 ".into()),
            ("cores".into(), "-1".into()),
            ("ram".into(), "lots".into()),
        ]);
        let m = limits(&f);
        assert_eq!(m.len(), 3);
        assert_eq!(m["instances"], json!(12));
        assert_eq!(m["cores"], json!(-1));
        assert_eq!(m["ram"], json!("lots"));
        assert!(api("compute").is_ok() && api("nope").is_err());
    }
}
