//! Interoperable image import: stage the bytes (`PUT .../stage`), then import them
//! with `glance-direct`; the import runs as a persisted task that start-up resumes.

use crate::logged::OrLog;
use axum::body::Body;
use serde_json::json;

use super::model::*;
use super::{ImageService, check_format, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;

pub const IMPORT_METHODS: &[&str] = &["glance-direct"];
const TASK_TYPE: &str = "api_image_import";

impl ImageService {
    /// `PUT /v2/images/{id}/stage`: queued -> uploading, bytes kept in staging.
    pub async fn image_stage(&self, ctx: &RequestContext, id: String, body: Body) -> ApiResult<()> {
        let image = self.visible_image(ctx, id.clone()).await?;
        super::check_owner(ctx, &image)?;
        let limit = self
            .upload_limit(image.owner.clone().unwrap_or_default(), id.clone())
            .await?;
        self.move_status(id.clone(), ImageStatus::Uploading).await?;
        let dest = self.inner.files.staging_path(&id);
        if let Err(e) = self.inner.files.receive(&id, body, &dest, limit).await {
            self.inner.files.remove(&id).await;
            self.move_status(id.clone(), ImageStatus::Queued)
                .await
                .or_log(&id, "putting the image back to queued after a failed stage");
            return Err(e);
        }
        Ok(())
    }

    /// `POST /v2/images/{id}/import`: uploading -> importing, then a background task
    /// verifies the staged bytes and activates the image.
    pub async fn image_import(
        &self,
        ctx: &RequestContext,
        id: String,
        method: String,
        request_id: String,
    ) -> ApiResult<Task> {
        let image = self.visible_image(ctx, id.clone()).await?;
        super::check_owner(ctx, &image)?;
        if !IMPORT_METHODS.contains(&method.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Import method {method} is not supported by this cloud; supported: {}.",
                IMPORT_METHODS.join(", ")
            )));
        }
        if image.status != ImageStatus::Uploading {
            return Err(ApiError::Conflict(format!(
                "Image {id} has no staged data: status is {}, expected uploading.",
                image.status
            )));
        }
        let now = store::now();
        let task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            task_type: TASK_TYPE.into(),
            status: "processing".into(),
            owner: image.owner.clone().unwrap_or_default(),
            image_id: Some(id.clone()),
            input: json!({"image_id": id, "import_req": {"method": {"name": method}}, "backend": ["local"]}),
            result: None,
            message: String::new(),
            created_at: now.clone(),
            updated_at: now,
            expires_at: None,
            request_id: Some(request_id),
            user_id: Some(ctx.user.id.clone()),
        };
        let record = task.clone();
        self.write(move |c| {
            let mut image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            image.status = image.status.transition(ImageStatus::Importing)?;
            image.updated_at = store::now();
            store::image_update(c, &image)?;
            store::task_upsert(c, &record)
        })
        .await?;
        let svc = self.clone();
        let run = task.clone();
        tokio::spawn(async move { svc.run_import(run).await });
        Ok(task)
    }

    /// Finishes an import task: digest the staged file, check its format, move it
    /// into place, activate the image and record the task's outcome.
    pub async fn run_import(&self, mut task: Task) {
        let Some(id) = task.image_id.clone() else {
            return;
        };
        let outcome = self.import_staged(&id).await;
        task.updated_at = store::now();
        match &outcome {
            Ok(()) => {
                task.status = "success".into();
                task.result = Some(json!({"image_id": id}));
            }
            Err(e) => {
                tracing::warn!(image = %id, error = %e, "image import failed");
                task.status = "failure".into();
                task.message = e.to_string();
                self.inner.files.remove(&id).await;
                self.move_status(id.clone(), ImageStatus::Queued)
                    .await
                    .or_log(
                        &id,
                        "putting the image back to queued after a failed import",
                    );
            }
        }
        let record = task.clone();
        if let Err(e) = self.write(move |c| store::task_upsert(c, &record)).await {
            tracing::error!(task = %task.id, error = %e, "could not record import task outcome");
        }
    }

    async fn import_staged(&self, id: &str) -> ApiResult<()> {
        let staged = self.inner.files.staging_path(id);
        let received = super::ImageFiles::digest_file(&staged).await.map_err(|e| {
            ApiError::bad_request(format!("The staged data could not be read: {e}"))
        })?;
        let iid = id.to_owned();
        let image = self
            .read(move |c| store::image_get(c, &iid)?.ok_or_else(|| store::not_found(&iid)))
            .await?;
        check_format(&image, &received.detected)?;
        let dest = self.inner.files.path(id);
        tokio::fs::rename(&staged, &dest)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        self.finish_data(id.to_owned(), received.data, ImageStatus::Active)
            .await
    }

    /// Resumes imports that a crash interrupted.
    pub async fn resume_imports(&self, image_ids: Vec<String>) {
        let tasks = self
            .read(|c| store::tasks_in_status(c, "processing"))
            .await
            .unwrap_or_default();
        for id in image_ids {
            let task = tasks
                .iter()
                .find(|t| t.image_id.as_deref() == Some(id.as_str()))
                .cloned();
            if let Some(task) = task {
                tracing::info!(image = %id, task = %task.id, "resuming interrupted image import");
                self.run_import(task).await;
            }
        }
    }

    /// `GET /v2/tasks/{id}`: the owner or an admin.
    pub async fn task_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Task> {
        let task = self
            .read(move |c| {
                store::task_get(c, &id)?.ok_or_else(|| {
                    ApiError::Missing(format!("Task with identifier {id} not found"))
                })
            })
            .await?;
        if policy::IMAGE_OWNER.allows(ctx, Some(&task.owner)) {
            Ok(task)
        } else {
            Err(ApiError::Missing(format!(
                "Task with identifier {} not found",
                task.id
            )))
        }
    }

    /// `GET /v2/tasks` (admin: all; others: their project's) and
    /// `GET /v2/images/{id}/tasks`.
    pub async fn task_list(
        &self,
        ctx: &RequestContext,
        image_id: Option<String>,
    ) -> ApiResult<Vec<Task>> {
        if let Some(id) = &image_id {
            self.visible_image(ctx, id.clone()).await?;
        }
        let mut tasks = self.read(store::task_list).await?;
        tasks.retain(|t| {
            policy::IMAGE_OWNER.allows(ctx, Some(&t.owner))
                && image_id
                    .as_ref()
                    .is_none_or(|id| t.image_id.as_ref() == Some(id))
        });
        Ok(tasks)
    }
}
