//! The dashboard: a Horizon-like web UI at `/dashboard`, server-rendered from
//! templates embedded in the binary. Every page acts with the logged-in user's own
//! token through the API router (see `backend`), so the services' policy decides
//! what a user sees and may do; the UI adds no authority of its own.

pub(crate) mod backend;
pub(crate) mod horizon;
mod pages;
pub(crate) mod session;
mod store;
mod topology;
mod view;

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Environment;

use crate::cloud::Cloud;
use backend::{ApiFailure, Backend};
use session::Session;

/// What every dashboard handler holds.
#[derive(Clone)]
pub(crate) struct Dash {
    pub cloud: Cloud,
    pub backend: Backend,
}

/// Serves the dashboard under `/dashboard` beside the API router it acts through.
pub(crate) fn mount(api: Router, cloud: Cloud) -> Router {
    // The real Horizon, when set up, behind the same listener.
    let horizon = Router::new()
        .route("/horizon", axum::routing::any(horizon::forward))
        .route("/horizon/{*rest}", axum::routing::any(horizon::forward))
        .with_state(horizon::Upstream(cloud.state_dir.clone()));
    let dash = Dash {
        cloud,
        backend: Backend::new(api.clone()),
    };
    let ui = pages::routes()
        .with_state(dash)
        .layer(from_fn(crate::http::request_id));
    Router::new()
        .nest("/dashboard", ui)
        .merge(horizon)
        .merge(api)
}

/// The templates, compiled once; they are part of the binary.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("panel.html", include_str!("templates/panel.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("error.html", include_str!("templates/error.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("launch.html", include_str!("templates/launch.html")),
        ("instance.html", include_str!("templates/instance.html")),
        ("topology.html", include_str!("templates/topology.html")),
        ("images.html", include_str!("templates/images.html")),
        ("objects.html", include_str!("templates/objects.html")),
        ("stack.html", include_str!("templates/stack.html")),
    ] {
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "dashboard template does not compile");
        }
    }
    env
});

/// Renders a template to an HTML response with `status`.
pub(crate) fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let html = TEMPLATES.get_template(name).and_then(|t| t.render(ctx));
    match html {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                // No framing by other sites (clickjacking of the action buttons).
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a dashboard page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No (live) session: back to the login page.
    Login,
    /// A form without the session's CSRF token.
    Csrf,
    /// What a service refused, shown as its message with its status.
    Api(ApiFailure),
    /// Bad form input caught before any service call.
    BadInput(String),
    Internal(String),
}

impl From<ApiFailure> for PageError {
    fn from(e: ApiFailure) -> Self {
        if e.status == StatusCode::UNAUTHORIZED {
            PageError::Login
        } else {
            PageError::Api(e)
        }
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::Internal(format!("{e:#}"))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Login => return Redirect::to("/dashboard/auth/login").into_response(),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The form was not submitted from this dashboard (missing or wrong CSRF token). Reload the page and try again.".to_owned(),
            ),
            PageError::Api(e) => {
                let title = match e.status {
                    StatusCode::FORBIDDEN => "Forbidden",
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::CONFLICT => "Conflict",
                    s if s.is_client_error() => "Request refused",
                    _ => "Error",
                };
                (e.status, title, e.message)
            }
            PageError::BadInput(m) => (StatusCode::BAD_REQUEST, "Invalid input", m),
            PageError::Internal(m) => {
                tracing::error!(error = %m, "dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error",
                    "Something went wrong on the server; its log has the details.".to_owned(),
                )
            }
        };
        render(
            status,
            "error.html",
            minijinja::context! { title, message, status => status.as_u16() },
        )
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

impl Dash {
    /// The live session the request's cookie names.
    pub(crate) async fn session(&self, headers: &HeaderMap) -> Result<Session, PageError> {
        let Some(id) = session::cookie(headers, session::SESSION_COOKIE) else {
            return Err(PageError::Login);
        };
        let key = session::id_hash(&id);
        let now = chrono::Utc::now().timestamp();
        let found = self
            .cloud
            .db
            .read(move |c| store::session_get(c, &key, now).map_err(anyhow::Error::from))
            .await?;
        found.ok_or(PageError::Login)
    }

    /// Whether a service's panels show: it is in the catalog (enabled and served).
    pub(crate) fn serves(&self, name: crate::profile::ServiceName) -> bool {
        self.cloud.profile.services.enabled.contains(&name)
            && crate::services::spec(name).is_some_and(|s| s.implemented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for name in [
            "base.html",
            "login.html",
            "panel.html",
            "macros.html",
            "error.html",
            "overview.html",
            "launch.html",
            "instance.html",
            "topology.html",
            "images.html",
            "objects.html",
            "stack.html",
        ] {
            assert!(
                TEMPLATES.get_template(name).is_ok(),
                "{name} does not compile"
            );
        }
    }

    #[test]
    fn the_topology_renders() {
        let nets = serde_json::json!({"networks": [{"id": "n", "name": "private"}]});
        let servers =
            serde_json::json!({"servers": [{"id": "s", "name": "a-very-long-instance-name"}]});
        let empty = serde_json::json!({});
        let pic = topology::layout(&nets, &empty, &empty, &empty, &servers, &empty);
        let html = TEMPLATES
            .get_template("topology.html")
            .and_then(|t| {
                t.render(minijinja::context! { topo => minijinja::Value::from_serialize(&pic) })
            })
            .expect("render");
        assert!(
            html.contains("<svg") && html.contains("private") && html.contains("a-very-long-inst")
        );
    }

    #[test]
    fn values_are_escaped() {
        let resp = render(
            StatusCode::BAD_REQUEST,
            "error.html",
            minijinja::context! { title => "t", message => "<script>x</script>", status => 400 },
        );
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
        let html = TEMPLATES
            .get_template("error.html")
            .and_then(|t| t.render(minijinja::context! { title => "t", message => "<script>x</script>", status => 400 }))
            .expect("render");
        assert!(!html.contains("<script>x"), "user text must be escaped");
        assert!(html.contains("&lt;script&gt;"));
    }
}
