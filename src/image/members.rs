//! Image members: sharing a `shared` image with other projects, who accept or
//! reject it (Image API v2: Image members).

use super::model::*;
use super::{ImageService, check_owner, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy::{self, Target};

const MEMBER_STATUSES: &[&str] = &["pending", "accepted", "rejected"];

impl ImageService {
    /// `POST /v2/images/{id}/members`: only the owner shares, only shared images.
    pub(crate) async fn member_create(
        &self,
        ctx: &RequestContext,
        image_id: String,
        member_id: String,
    ) -> ApiResult<Member> {
        let image = self.visible_image(ctx, image_id.clone()).await?;
        check_owner(ctx, &image)?;
        if image.visibility != "shared" {
            return Err(ApiError::Forbidden(format!(
                "Image members can only be added to images with visibility 'shared', not '{}'.",
                image.visibility
            )));
        }
        if member_id.is_empty() || member_id.len() > 255 {
            return Err(ApiError::bad_request("Invalid member id."));
        }
        let now = store::now();
        let m = Member {
            image_id,
            member_id,
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        let out = m.clone();
        self.write(move |c| store::member_insert(c, &m)).await?;
        Ok(out)
    }

    /// `GET /v2/images/{id}/members`: the owner sees all; a member only itself.
    pub(crate) async fn member_list(
        &self,
        ctx: &RequestContext,
        image_id: String,
    ) -> ApiResult<Vec<Member>> {
        let image = self.visible_image(ctx, image_id.clone()).await?;
        if image.visibility != "shared" {
            return Err(ApiError::Forbidden(
                "Only shared images have members.".into(),
            ));
        }
        let owner = policy::IMAGE_OWNER.allows_target(
            ctx,
            Target {
                project: image.owner.as_deref(),
                ..Target::default()
            },
        );
        let me = ctx.project_id().map(str::to_owned);
        let mut list = self.read(move |c| store::member_list(c, &image_id)).await?;
        if !owner {
            list.retain(|m| Some(&m.member_id) == me.as_ref());
        }
        Ok(list)
    }

    pub(crate) async fn member_get(
        &self,
        ctx: &RequestContext,
        image_id: String,
        member_id: String,
    ) -> ApiResult<Member> {
        self.member_list(ctx, image_id.clone())
            .await?
            .into_iter()
            .find(|m| m.member_id == member_id)
            .ok_or_else(|| {
                ApiError::Missing(format!("{member_id} is not a member of image {image_id}."))
            })
    }

    /// `PUT /v2/images/{id}/members/{member_id}`: only the member project decides.
    pub(crate) async fn member_update(
        &self,
        ctx: &RequestContext,
        image_id: String,
        member_id: String,
        status: String,
    ) -> ApiResult<Member> {
        self.visible_image(ctx, image_id.clone()).await?;
        if !MEMBER_STATUSES.contains(&status.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid status '{status}': it must be pending, accepted or rejected."
            )));
        }
        if ctx.project_id() != Some(member_id.as_str()) || !ctx.can_write() {
            return Err(ApiError::Forbidden(
                "Only the member project may change its membership status.".into(),
            ));
        }
        self.write(move |c| {
            let mut m = store::member_get(c, &image_id, &member_id)?.ok_or_else(|| {
                ApiError::Missing(format!("{member_id} is not a member of image {image_id}."))
            })?;
            m.status = status;
            m.updated_at = store::now();
            store::member_update(c, &m)?;
            Ok(m)
        })
        .await
    }

    /// `DELETE /v2/images/{id}/members/{member_id}`: the owner's call.
    pub(crate) async fn member_delete(
        &self,
        ctx: &RequestContext,
        image_id: String,
        member_id: String,
    ) -> ApiResult<()> {
        let image = self.visible_image(ctx, image_id.clone()).await?;
        check_owner(ctx, &image)?;
        self.write(move |c| {
            if store::member_delete(c, &image_id, &member_id)? {
                Ok(())
            } else {
                Err(ApiError::Missing(format!(
                    "{member_id} is not a member of image {image_id}."
                )))
            }
        })
        .await
    }
}
