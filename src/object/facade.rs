//! What the rest of onestack may call on object storage: reading an object on a
//! caller's behalf, with the same access checks as a Swift GET (Heat's
//! `template_url` and `get_file` URLs of this cloud's object store).

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use futures_util::StreamExt;

use super::ObjectService;
use super::api::Call;
use super::api::access::{Op, authorize};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

impl ObjectService {
    /// The bytes of `/v1/AUTH_<project>/<container>/<name>` as `ctx` may read
    /// them (its project's reader or member, or a container ACL naming it), at
    /// most `max` bytes. A refusal is a 403, a missing object a 404; an object
    /// that is too large a 400.
    pub(crate) async fn object_read_as(
        &self,
        ctx: &RequestContext,
        project: &str,
        container: &str,
        name: &str,
        max: u64,
    ) -> ApiResult<Vec<u8>> {
        let account = format!("AUTH_{project}");
        let ct = self.container_find(&account, container).await?;
        let call = Call {
            method: Method::GET,
            headers: HeaderMap::new(),
            query: vec![],
            ctx: Some(Arc::new(ctx.clone())),
            path: format!("/object-storage/v1/{account}/{container}/{name}"),
            request_id: String::new(),
            body: std::sync::Mutex::new(None),
        };
        if authorize(&call, project, ct.as_ref().map(|c| &c.meta), Op::ObjectRead).is_err() {
            return Err(ApiError::Forbidden(format!(
                "Not allowed to read {container}/{name}"
            )));
        }
        let missing = || ApiError::Missing(format!("Object {container}/{name} not found"));
        if ct.is_none() {
            return Err(missing());
        }
        let object = self
            .object_find(&account, container, name)
            .await?
            .ok_or_else(missing)?;
        let body = self.object_body(object).await?;
        if body.size > max {
            return Err(ApiError::typed(
                StatusCode::BAD_REQUEST,
                "RequestLimitExceeded",
                format!("Object {container}/{name} is larger than {max} bytes"),
            ));
        }
        let mut stream = self.stream(body.pieces);
        let mut out = Vec::with_capacity(body.size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::Internal(e.into()))?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
