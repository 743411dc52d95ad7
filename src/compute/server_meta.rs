//! Server metadata and tags: small documents on the server row, changed in one
//! transaction each.

use std::collections::BTreeMap;

use super::servers::{check_metadata, check_tags, visible};
use super::{ComputeService, may_change, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

pub(crate) enum MetaOp {
    Get,
    Replace(BTreeMap<String, String>),
    Merge(BTreeMap<String, String>),
    Delete(String),
}

impl ComputeService {
    /// `/servers/{id}/metadata[/{key}]`: returns the metadata after the change.
    pub(crate) async fn server_metadata(
        &self,
        ctx: &RequestContext,
        id: String,
        op: MetaOp,
    ) -> ApiResult<BTreeMap<String, String>> {
        let ctx = ctx.clone();
        if let MetaOp::Get = op {
            return self
                .read(move |c| Ok(visible(c, &ctx, &id)?.metadata))
                .await;
        }
        self.write(move |c| {
            let mut s = visible(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            if s.locked && !ctx.allowed(crate::http::policy::COMPUTE_ADMIN_CONTEXT) {
                return Err(ApiError::Conflict(format!("Instance {} is locked", s.id)));
            }
            match op {
                MetaOp::Get => {}
                MetaOp::Replace(m) => {
                    check_metadata(&m)?;
                    s.metadata = m;
                }
                MetaOp::Merge(m) => {
                    let mut merged = s.metadata.clone();
                    merged.extend(m);
                    check_metadata(&merged)?;
                    s.metadata = merged;
                }
                MetaOp::Delete(k) => {
                    if s.metadata.remove(&k).is_none() {
                        return Err(ApiError::Missing("Metadata item was not found".into()));
                    }
                }
            }
            store::server_put(c, &mut s)?;
            Ok(s.metadata)
        })
        .await
    }

    /// Replaces all tags, or adds/removes one; returns the tags after the change.
    pub(crate) async fn server_tags(
        &self,
        ctx: &RequestContext,
        id: String,
        replace: Option<Vec<String>>,
        one: Option<(String, bool)>,
    ) -> ApiResult<Vec<String>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let mut s = visible(c, &ctx, &id)?;
            may_change(&ctx, &s.project_id)?;
            if let Some(tags) = replace {
                check_tags(&tags)?;
                let mut uniq: Vec<String> = Vec::new();
                for t in tags {
                    if !uniq.contains(&t) {
                        uniq.push(t);
                    }
                }
                s.tags = uniq;
            }
            if let Some((tag, add)) = one {
                if add {
                    check_tags(std::slice::from_ref(&tag))?;
                    if !s.tags.contains(&tag) {
                        s.tags.push(tag);
                    }
                    check_tags(&s.tags)?;
                } else {
                    s.tags.retain(|t| *t != tag);
                }
            }
            store::server_put(c, &mut s)?;
            Ok(s.tags)
        })
        .await
    }
}
