//! User messages (3.3+): when an asynchronous operation fails for a reason the
//! owner can act on (no backend fits the volume type, ...), a message says so.
//! Messages are kept for Cinder's default `message_ttl`, 30 days.

use super::model::Message;
use super::{VolumeService, caller_project, may_change, sees, sql, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Cinder's `message_ttl`, in days.
const TTL_DAYS: i64 = 30;

/// Cinder's event id and text for "the scheduler found no backend".
pub(super) const NO_VALID_BACKEND: (&str, &str) = (
    "VOLUME_VOLUME_001_002",
    "schedule allocate volume: Could not find any available weighted backend.",
);

pub(super) fn message_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Message {id} could not be found."))
}

/// Records an error message about a volume for its project (inside the caller's
/// transaction, so the message exists exactly when the failure is recorded).
pub(super) fn record_tx(
    c: &rusqlite::Connection,
    project: &str,
    volume: &str,
    (event_id, text): (&str, &str),
) -> ApiResult<()> {
    let now = chrono::Utc::now();
    let m = Message {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.to_owned(),
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        resource_type: "VOLUME".into(),
        resource_uuid: Some(volume.to_owned()),
        event_id: event_id.to_owned(),
        message_level: "ERROR".into(),
        user_message: text.to_owned(),
        created_at: now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        expires_at: Some(
            (now + chrono::Duration::days(TTL_DAYS))
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string(),
        ),
    };
    store::message_insert(c, &m).map_err(sql)
}

fn visible_tx(c: &rusqlite::Connection, ctx: &RequestContext, id: &str) -> ApiResult<Message> {
    match store::message_get(c, id).map_err(sql)? {
        Some(m) if sees(ctx, &m.project_id) => Ok(m),
        _ => Err(message_not_found(id)),
    }
}

impl VolumeService {
    /// The caller project's messages (an admin's: every project's), unexpired.
    pub(crate) async fn message_list(&self, ctx: &RequestContext) -> ApiResult<Vec<Message>> {
        let own = caller_project(ctx)?;
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let scope = (!ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT)).then_some(own);
        let now = store::now();
        let all = self
            .read(move |c| store::message_list(c, scope.as_deref()).map_err(sql))
            .await?;
        Ok(all
            .into_iter()
            .filter(|m| m.expires_at.as_deref().is_none_or(|e| e > now.as_str()))
            .collect())
    }

    pub(crate) async fn message_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Message> {
        let ctx = ctx.clone();
        self.read(move |c| visible_tx(c, &ctx, &id)).await
    }

    pub(crate) async fn message_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let m = visible_tx(c, &ctx, &id)?;
            may_change(&ctx, &m.project_id)?;
            store::message_delete(c, &m.id).map_err(sql)
        })
        .await
    }
}
