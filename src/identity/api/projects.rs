//! `/v3/projects` (Identity API v3: Projects): envelope, view and filters; the
//! handlers are the generic ones of `crud.rs`.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::self_link;
use crate::cloud::Cloud;
use crate::identity::model::Project;
use crate::identity::resources::ProjectInput;

pub fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/projects", get(list::<Project>).post(create::<Project>))
        .route(
            "/v3/projects/{project_id}",
            get(show::<Project>)
                .patch(update::<Project>)
                .delete(delete::<Project>),
        )
}

#[derive(Deserialize)]
pub(super) struct Body {
    project: ProjectInput,
}

/// Top-level projects report their domain as parent, as Keystone does.
pub fn view(h: &HeaderMap, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
        "is_domain": false, "tags": p.tags, "options": {},
        "links": self_link(h, &format!("projects/{}", p.id)),
    })
}

collection! {
    Project, "project", "projects", Body { project }, view,
    filters: ["name", "domain_id", "enabled", "parent_id", "is_domain", "id"],
    [project_list, project_create, project_get, project_update, project_delete]
}
