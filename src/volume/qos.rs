//! QoS specs (admin): named sets of limits for a consumer (front-end: the
//! hypervisor; back-end: the storage; or both), associated with volume types.
//! They are recorded and shown as Cinder does; the file backend applies none of
//! them itself (as Cinder's LVM driver, which reports `QoS_support: false`).

use std::collections::BTreeMap;

use super::model::QosSpecs;
use super::{VolumeService, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

pub(super) const CONSUMERS: [&str; 3] = ["front-end", "back-end", "both"];

pub(super) fn qos_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("QoS Specs {id} could not be found."))
}

fn type_missing(id: &str) -> ApiError {
    ApiError::Missing(format!("Volume type {id} could not be found."))
}

fn check_consumer(consumer: &str) -> ApiResult<()> {
    if CONSUMERS.contains(&consumer) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid input received: Valid consumer of QoS specs are: ['front-end', 'back-end', 'both'], not {consumer}."
        )))
    }
}

fn get_tx(c: &rusqlite::Connection, id: &str) -> ApiResult<QosSpecs> {
    store::qos_get(c, id)
        .map_err(sql)?
        .ok_or_else(|| qos_not_found(id))
}

impl VolumeService {
    pub(crate) async fn qos_create(
        &self,
        ctx: &RequestContext,
        name: String,
        consumer: Option<String>,
        specs: BTreeMap<String, String>,
    ) -> ApiResult<QosSpecs> {
        ctx.require_admin()?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid input received: QoS specs name must be 1 to 255 characters.",
            ));
        }
        let consumer = consumer.unwrap_or_else(|| "back-end".into());
        check_consumer(&consumer)?;
        let q = QosSpecs {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            consumer,
            specs,
            created_at: store::now(),
        };
        self.write(move |c| {
            if store::qos_name_taken(c, &q.name).map_err(sql)? {
                return Err(ApiError::Conflict(format!(
                    "QoS Specs {} already exists.",
                    q.name
                )));
            }
            store::qos_put(c, &q).map_err(sql)?;
            Ok(q)
        })
        .await
    }

    pub(crate) async fn qos_list(&self, ctx: &RequestContext) -> ApiResult<Vec<QosSpecs>> {
        ctx.require_admin()?;
        self.read(|c| store::qos_list(c).map_err(sql)).await
    }

    pub(crate) async fn qos_get(&self, ctx: &RequestContext, id: String) -> ApiResult<QosSpecs> {
        ctx.require_admin()?;
        self.read(move |c| get_tx(c, &id)).await
    }

    /// Sets keys (`consumer` changes the consumer); answers what was set.
    pub(crate) async fn qos_set_keys(
        &self,
        ctx: &RequestContext,
        id: String,
        set: BTreeMap<String, String>,
    ) -> ApiResult<BTreeMap<String, String>> {
        ctx.require_admin()?;
        if let Some(consumer) = set.get("consumer") {
            check_consumer(consumer)?;
        }
        self.write(move |c| {
            let mut q = get_tx(c, &id)?;
            for (k, v) in &set {
                if k == "consumer" {
                    q.consumer = v.clone();
                } else {
                    q.specs.insert(k.clone(), v.clone());
                }
            }
            store::qos_put(c, &q).map_err(sql)?;
            Ok(set)
        })
        .await
    }

    /// Removes keys; an absent key is Cinder's 404.
    pub(crate) async fn qos_unset_keys(
        &self,
        ctx: &RequestContext,
        id: String,
        keys: Vec<String>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let mut q = get_tx(c, &id)?;
            for k in &keys {
                if q.specs.remove(k).is_none() {
                    return Err(ApiError::Missing(format!(
                        "QoS spec {k} could not be found in QoS specs {id}."
                    )));
                }
            }
            store::qos_put(c, &q).map_err(sql)
        })
        .await
    }

    /// Deletes QoS specs; associated ones only with `force` (which disassociates).
    pub(crate) async fn qos_delete(
        &self,
        ctx: &RequestContext,
        id: String,
        force: bool,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let q = get_tx(c, &id)?;
            if !force && !store::qos_types(c, &q.id).map_err(sql)?.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "QoS Specs {} is still associated with entities.",
                    q.id
                )));
            }
            store::qos_delete(c, &q.id).map_err(sql)
        })
        .await
    }

    /// (id, name) of the types associated with QoS specs `id`.
    pub(crate) async fn qos_associations(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Vec<(String, String)>> {
        ctx.require_admin()?;
        self.read(move |c| {
            let q = get_tx(c, &id)?;
            store::qos_types(c, &q.id).map_err(sql)
        })
        .await
    }

    /// Associates a type; a type has at most one QoS specs (Cinder's 400 otherwise).
    pub(crate) async fn qos_associate(
        &self,
        ctx: &RequestContext,
        id: String,
        type_id: String,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let q = get_tx(c, &id)?;
            let t = store::type_find(c, &type_id)
                .map_err(sql)?
                .ok_or_else(|| type_missing(&type_id))?;
            match store::type_qos(c, &t.id).map_err(sql)? {
                Some(other) if other != q.id => Err(ApiError::bad_request(format!(
                    "Invalid volume type: Type {} is already associated with another qos specs: {other}",
                    t.id
                ))),
                _ => store::type_set_qos(c, &t.id, Some(&q.id)).map_err(sql),
            }
        })
        .await
    }

    /// Disassociates one type (`Some`) or every type (`None`).
    pub(crate) async fn qos_disassociate(
        &self,
        ctx: &RequestContext,
        id: String,
        type_id: Option<String>,
    ) -> ApiResult<()> {
        ctx.require_admin()?;
        self.write(move |c| {
            let q = get_tx(c, &id)?;
            let types = match type_id {
                Some(tid) => {
                    let t = store::type_find(c, &tid)
                        .map_err(sql)?
                        .ok_or_else(|| type_missing(&tid))?;
                    vec![t.id]
                }
                None => store::qos_types(c, &q.id)
                    .map_err(sql)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect(),
            };
            for t in types {
                if store::type_qos(c, &t).map_err(sql)?.as_deref() == Some(q.id.as_str()) {
                    store::type_set_qos(c, &t, None).map_err(sql)?;
                }
            }
            Ok(())
        })
        .await
    }
}
