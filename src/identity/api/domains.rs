//! `/v3/domains` (Identity API v3: Domains): envelope, view and filters; the
//! handlers are the generic ones of `crud.rs`.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::crud::{collection, create, delete, list, show, update};
use super::self_link;
use crate::cloud::Cloud;
use crate::identity::model::Domain;
use crate::identity::resources::DomainInput;

pub(super) fn routes() -> Router<Cloud> {
    Router::new()
        .route("/v3/domains", get(list::<Domain>).post(create::<Domain>))
        .route(
            "/v3/domains/{domain_id}",
            get(show::<Domain>)
                .patch(update::<Domain>)
                .delete(delete::<Domain>),
        )
}

#[derive(Deserialize)]
pub(crate) struct Body {
    domain: DomainInput,
}

pub(super) fn view(h: &HeaderMap, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": d.tags, "options": {}, "links": self_link(h, &format!("domains/{}", d.id)),
    })
}

collection! {
    Domain, "domain", "domains", Body { domain }, identity: crate::identity::Identity,
    view: view, filters: ["name", "enabled", "id"],
    [domain_list, domain_create, domain_get, domain_delete], update: domain_update
}
