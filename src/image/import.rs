//! Interoperable image import: stage the bytes (`PUT .../stage`) and import them
//! with `glance-direct`, or have the cloud fetch them from a URL with `web-download`
//! (also reached through Glance's older `POST /v2/tasks` of type `import`). Each
//! import runs as a persisted task that start-up resumes.

use crate::bytestream::ByteStream;
use crate::logged::OrLog;
use serde_json::{Value, json};

use super::model::*;
use super::{ImageCreate, ImageService, check_format, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::http::policy;
use crate::profile::ImageSection;

pub(super) const IMPORT_METHODS: &[&str] = &["glance-direct", "web-download"];
const TASK_TYPE: &str = "api_image_import";
/// Glance's older task type: create an image from `image_properties` and fill it
/// from `import_from`.
const LEGACY_TASK_TYPE: &str = "import";
/// The store id an import lands in (`GET /v2/info/stores`).
const STORE: &str = "local";

/// A new import task of the caller's on `image`, owned by the image's owner.
fn import_task(
    ctx: &RequestContext,
    image: &Image,
    task_type: &str,
    status: &str,
    input: Value,
    request_id: String,
) -> Task {
    let now = store::now();
    Task {
        id: uuid::Uuid::new_v4().to_string(),
        task_type: task_type.into(),
        status: status.into(),
        owner: image.owner.clone().unwrap_or_default(),
        image_id: Some(image.id.clone()),
        input,
        result: None,
        message: String::new(),
        created_at: now.clone(),
        updated_at: now,
        expires_at: None,
        request_id: Some(request_id),
        user_id: Some(ctx.user.id.clone()),
    }
}

/// `POST /v2/tasks` as the service takes it: Glance's older `import` task.
pub(crate) struct TaskCreate {
    /// `input.import_from`: the URL the image is filled from.
    pub(crate) import_from: String,
    /// `input.image_properties`: the image to make.
    pub(crate) image: ImageCreate,
    /// The input as sent, which the task shows back.
    pub(crate) input: Value,
}

impl TaskCreate {
    /// Reads a task's `type` and `input` with Glance's messages: the type must be
    /// `import`, the input an object with `import_from` (a string),
    /// `import_from_format` and `image_properties` (an object).
    pub(crate) fn from_body(task_type: &str, input: Value) -> ApiResult<Self> {
        if task_type != LEGACY_TASK_TYPE {
            return Err(ApiError::bad_request(format!(
                "Invalid type value: {task_type}. Task type must be one of: {LEGACY_TASK_TYPE}."
            )));
        }
        let Some(fields) = input.as_object() else {
            return Err(ApiError::bad_request(
                "Invalid input: it must be an object.",
            ));
        };
        for field in ["import_from", "import_from_format", "image_properties"] {
            if !fields.contains_key(field) {
                return Err(ApiError::bad_request(format!(
                    "Input does not contain '{field}' field"
                )));
            }
        }
        let import_from = fields
            .get("import_from")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("Invalid input: import_from must be a string."))?
            .to_owned();
        let Some(properties) = fields.get("image_properties").and_then(Value::as_object) else {
            return Err(ApiError::bad_request(
                "Invalid input: image_properties must be an object.",
            ));
        };
        let image = ImageCreate::from_body(properties.clone());
        Ok(TaskCreate {
            import_from,
            image,
            input,
        })
    }
}

impl ImageService {
    /// `PUT /v2/images/{id}/stage`: queued -> uploading, bytes kept in staging.
    pub(crate) async fn image_stage(
        &self,
        ctx: &RequestContext,
        id: String,
        body: ByteStream,
    ) -> ApiResult<()> {
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
    pub(crate) async fn image_import(
        &self,
        ctx: &RequestContext,
        id: String,
        method: String,
        uri: Option<String>,
        request_id: String,
    ) -> ApiResult<Task> {
        let image = self.visible_image(ctx, id.clone()).await?;
        super::check_owner(ctx, &image)?;
        let method_req = self.import_method(&image, &method, uri)?;
        let input =
            json!({"image_id": id, "import_req": {"method": method_req}, "backend": [STORE]});
        let task = import_task(ctx, &image, TASK_TYPE, "processing", input, request_id);
        self.import_start(task).await
    }

    /// The `method` of an import request (Glance's `import_req.method`), once the
    /// image is in the state that method starts from and a web-download's URI
    /// passes the import filter.
    fn import_method(&self, image: &Image, method: &str, uri: Option<String>) -> ApiResult<Value> {
        let id = &image.id;
        match method {
            "glance-direct" => {
                if image.status != ImageStatus::Uploading {
                    return Err(ApiError::Conflict(format!(
                        "Image {id} has no staged data: status is {}, expected uploading.",
                        image.status
                    )));
                }
                Ok(json!({"name": method}))
            }
            "web-download" => {
                if image.status != ImageStatus::Queued {
                    return Err(ApiError::Conflict(format!(
                        "Image needs to be in 'queued' state to use 'web-download' method: {id} is {}.",
                        image.status
                    )));
                }
                let uri = uri.filter(|u| !u.is_empty()).ok_or_else(|| {
                    ApiError::bad_request(
                        "URI for web-download import method needs to be specified.",
                    )
                })?;
                self.check_import_uri(&uri, "URI for web-download")?;
                Ok(json!({"name": method, "uri": uri}))
            }
            _ => Err(ApiError::bad_request(format!(
                "Import method {method} is not supported by this cloud; supported: {}.",
                IMPORT_METHODS.join(", ")
            ))),
        }
    }

    /// Moves the task's image to `importing` and records the task, in one
    /// transaction, then runs the import in the background.
    async fn import_start(&self, task: Task) -> ApiResult<Task> {
        let record = task.clone();
        let id = task.image_id.clone().unwrap_or_default();
        self.write(move |c| {
            let mut image = store::image_get(c, &id)?.ok_or_else(|| store::not_found(&id))?;
            start_importing(&mut image)?;
            store::image_update(c, &image)?;
            store::task_upsert(c, &record)
        })
        .await?;
        let svc = self.clone();
        let run = task.clone();
        tokio::spawn(async move { svc.run_import(run).await });
        Ok(task)
    }

    /// Finishes an import task: fetch the data (web-download and `import` tasks),
    /// digest the staged file, check its format, move it into place, activate the
    /// image and record the task's outcome. A failure puts the image back to
    /// `queued` with `os_glance_failed_import` naming the store, as Glance does.
    pub(crate) async fn run_import(&self, mut task: Task) {
        let Some(id) = task.image_id.clone() else {
            return;
        };
        if task.status != "processing" {
            task.status = "processing".into();
            task.updated_at = store::now();
            let record = task.clone();
            self.write(move |c| store::task_upsert(c, &record))
                .await
                .or_log(&task.id, "recording an import task as processing");
        }
        let outcome = match source_url(&task) {
            Some(url) => match self.fetch_to_staging(&id, &url).await {
                Ok(()) => self.import_staged(&id).await,
                Err(e) => Err(e),
            },
            None => self.import_staged(&id).await,
        };
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
                let iid = id.clone();
                self.write(move |c| {
                    let Some(mut image) = store::image_get(c, &iid)? else {
                        return Ok(());
                    };
                    image.status = image.status.transition(ImageStatus::Queued)?;
                    image
                        .properties
                        .insert("os_glance_failed_import".into(), json!(STORE));
                    image
                        .properties
                        .insert("os_glance_importing_to_stores".into(), json!(""));
                    image.updated_at = store::now();
                    store::image_update(c, &image)
                })
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

    /// Fetches a web-download's or an `import` task's URL into the image's staging
    /// file, streamed, within the project's quota and the size cap. Every redirect
    /// hop must pass the import filter too. A staging file already there is a
    /// complete earlier fetch (it is renamed into place only once written and
    /// synced), so an import resumed after a crash does not fetch again.
    async fn fetch_to_staging(&self, id: &str, url: &str) -> ApiResult<()> {
        let staged = self.inner.files.staging_path(id);
        if tokio::fs::try_exists(&staged).await.unwrap_or(false) {
            return Ok(());
        }
        self.check_import_uri(url, "URI")?;
        let iid = id.to_owned();
        let owner = self
            .read(move |c| {
                let image = store::image_get(c, &iid)?.ok_or_else(|| store::not_found(&iid))?;
                Ok(image.owner.unwrap_or_default())
            })
            .await?;
        let limit = self.upload_limit(owner, id.to_owned()).await?;
        let filter = ImportFilter::from(&self.inner.config);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else if filter.allows(attempt.url().as_str()) {
                    attempt.follow()
                } else {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirect to {to} does not pass filtering"))
                }
            }))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| ApiError::Internal(e.into()))?;
        let failed = |e: reqwest::Error| {
            ApiError::bad_request(format!("Could not fetch {url}: {}", error_chain(&e)))
        };
        let response = client.get(url).send().await.map_err(failed)?;
        let response = response.error_for_status().map_err(failed)?;
        if let Some(len) = response.content_length()
            && len > limit.max(0) as u64
        {
            return Err(ApiError::PayloadTooLarge(format!(
                "Image exceeds the storage quota or size limit: {len} bytes at {url}, at most {limit} allowed."
            )));
        }
        tracing::info!(image = %id, %url, "fetching image data");
        self.inner
            .files
            .receive(id, response.bytes_stream(), &staged, limit)
            .await?;
        Ok(())
    }

    /// Glance's import filter (`[import_filtering_opts]`) on a URL: 400 when it
    /// does not pass.
    fn check_import_uri(&self, uri: &str, what: &str) -> ApiResult<()> {
        if ImportFilter::from(&self.inner.config).allows(uri) {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "{what} does not pass filtering: {uri}"
            )))
        }
    }

    /// `POST /v2/tasks` (Glance's older import, admin only as Glance's
    /// `tasks_api_access`). `req` is the request as the API read it, or why its
    /// body was refused: Glance answers 403 to a caller without access whatever
    /// the body says. The image is made from the properties and filled from the
    /// URL by the same task as a web-download.
    pub(crate) async fn task_create(
        &self,
        ctx: &RequestContext,
        req: ApiResult<TaskCreate>,
        request_id: String,
    ) -> ApiResult<Task> {
        policy::ADMIN.enforce(ctx, None)?;
        let TaskCreate {
            import_from: url,
            image,
            input,
        } = req?;
        self.check_import_uri(&url, "import_from")?;
        let image = self.image_create(ctx, image).await?;
        let task = import_task(ctx, &image, LEGACY_TASK_TYPE, "pending", input, request_id);
        self.import_start(task).await
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
    pub(crate) async fn resume_imports(&self, image_ids: Vec<String>) {
        let tasks = self
            .read(|c| {
                let mut tasks = store::tasks_in_status(c, "processing")?;
                tasks.extend(store::tasks_in_status(c, "pending")?);
                Ok(tasks)
            })
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
    pub(crate) async fn task_get(&self, ctx: &RequestContext, id: String) -> ApiResult<Task> {
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
    pub(crate) async fn task_list(
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

/// An image entering `importing`: an earlier failed import's marks are cleared.
fn start_importing(image: &mut Image) -> ApiResult<()> {
    image.status = image.status.transition(ImageStatus::Importing)?;
    image.properties.remove("os_glance_failed_import");
    image
        .properties
        .insert("os_glance_importing_to_stores".into(), json!(STORE));
    image.updated_at = store::now();
    Ok(())
}

/// The URL a task fetches from: an `import` task's `import_from`, a web-download's
/// `uri`; `None` for glance-direct (its data is staged already).
fn source_url(task: &Task) -> Option<String> {
    let url = if task.task_type == LEGACY_TASK_TYPE {
        task.input.get("import_from")
    } else {
        let method = task.input.pointer("/import_req/method")?;
        if method.get("name").and_then(Value::as_str) != Some("web-download") {
            return None;
        }
        method.get("uri")
    };
    url.and_then(Value::as_str).map(str::to_owned)
}

/// An error with its causes ("error sending request: dns error: ..."), for the
/// task's message.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Glance's `validate_import_uri`: scheme, host and port each checked against an
/// allowed list (which, when not empty, wins) or else a disallowed one. A URL
/// without a port is checked as its scheme's default port, where Glance skips the
/// check: the same outcome with Glance's default ports (80, 443), and a narrowed
/// list cannot be bypassed by leaving the port out.
#[derive(Clone)]
struct ImportFilter {
    allowed_schemes: Vec<String>,
    disallowed_schemes: Vec<String>,
    allowed_hosts: Vec<String>,
    disallowed_hosts: Vec<String>,
    allowed_ports: Vec<u16>,
    disallowed_ports: Vec<u16>,
}

impl From<&ImageSection> for ImportFilter {
    fn from(c: &ImageSection) -> Self {
        ImportFilter {
            allowed_schemes: c.import_allowed_schemes.clone(),
            disallowed_schemes: c.import_disallowed_schemes.clone(),
            allowed_hosts: c.import_allowed_hosts.clone(),
            disallowed_hosts: c.import_disallowed_hosts.clone(),
            allowed_ports: c.import_allowed_ports.clone(),
            disallowed_ports: c.import_disallowed_ports.clone(),
        }
    }
}

impl ImportFilter {
    fn allows(&self, uri: &str) -> bool {
        fn passes<T: PartialEq + ?Sized, U: std::borrow::Borrow<T>>(
            value: &T,
            allowed: &[U],
            disallowed: &[U],
        ) -> bool {
            if allowed.is_empty() {
                !disallowed.iter().any(|d| d.borrow() == value)
            } else {
                allowed.iter().any(|a| a.borrow() == value)
            }
        }
        let Ok(url) = url::Url::parse(uri) else {
            return false;
        };
        // Only what the client can fetch: an allowed list naming other schemes
        // does not make them fetchable.
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let scheme_ok = passes::<str, String>(
            url.scheme(),
            &self.allowed_schemes,
            &self.disallowed_schemes,
        );
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return false,
        };
        let host_ok = passes::<str, String>(&host, &self.allowed_hosts, &self.disallowed_hosts);
        let port_ok = url
            .port_or_known_default()
            .is_some_and(|p| passes::<u16, u16>(&p, &self.allowed_ports, &self.disallowed_ports));
        scheme_ok && host_ok && port_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(hosts: &[&str], ports: &[u16]) -> ImportFilter {
        let defaults = ImageSection::default();
        let c = ImageSection {
            import_allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            import_allowed_ports: if ports.is_empty() {
                defaults.import_allowed_ports.clone()
            } else {
                ports.to_vec()
            },
            ..defaults
        };
        ImportFilter::from(&c)
    }

    #[test]
    fn glance_defaults_allow_http_and_https_on_their_ports_only() {
        let f = filter(&[], &[]);
        assert!(f.allows("http://example.org/cirros.qcow2"));
        assert!(f.allows("https://example.org:443/cirros.qcow2"));
        assert!(f.allows("http://example.org:80/x"));
        assert!(!f.allows("http://example.org:8080/x"));
        assert!(!f.allows("ftp://example.org/x"));
        assert!(!f.allows("file:///etc/passwd"));
        assert!(!f.allows("not a url"));
        assert!(!f.allows(""));
    }

    #[test]
    fn allowed_hosts_and_ports_narrow_the_filter() {
        let f = filter(&["127.0.0.1"], &[8000]);
        assert!(f.allows("http://127.0.0.1:8000/img"));
        assert!(!f.allows("http://127.0.0.1:80/img"));
        assert!(!f.allows("http://127.0.0.1/img"), "no port is port 80");
        assert!(!f.allows("http://does-not.exist/no/possible/way"));
        let c = ImageSection {
            import_disallowed_hosts: vec!["10.0.0.1".into()],
            import_allowed_ports: vec![],
            import_disallowed_ports: vec![22],
            ..ImageSection::default()
        };
        let f = ImportFilter::from(&c);
        assert!(!f.allows("http://10.0.0.1/x"));
        assert!(f.allows("http://10.0.0.2:8080/x"));
        assert!(!f.allows("http://10.0.0.2:22/x"));
    }

    #[test]
    fn the_source_url_comes_from_the_task_input() {
        let mut t = Task {
            id: "t".into(),
            task_type: TASK_TYPE.into(),
            status: "pending".into(),
            owner: String::new(),
            image_id: Some("i".into()),
            input: json!({"import_req": {"method": {"name": "web-download", "uri": "http://h/x"}}}),
            result: None,
            message: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            expires_at: None,
            request_id: None,
            user_id: None,
        };
        assert_eq!(source_url(&t).as_deref(), Some("http://h/x"));
        t.input = json!({"import_req": {"method": {"name": "glance-direct"}}});
        assert_eq!(source_url(&t), None);
        t.task_type = LEGACY_TASK_TYPE.into();
        t.input = json!({"import_from": "http://h/y"});
        assert_eq!(source_url(&t).as_deref(), Some("http://h/y"));
    }
}
