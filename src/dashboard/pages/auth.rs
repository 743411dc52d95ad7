//! Login, logout and the project switcher. A login always starts a new session id
//! (no fixation); the Keystone token stays server-side.

use axum::Form;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::super::session::{self, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session};
use super::super::view::{FormData, list, s};
use super::super::{Dash, PageError, PageResult, render, store};
use super::Posted;

/// `GET /dashboard/auth/login`: the form, with a fresh pre-login CSRF cookie.
pub(super) async fn login_page(State(d): State<Dash>, headers: HeaderMap) -> Response {
    if d.session(&headers).await.is_ok() {
        return Redirect::to("/dashboard/project/overview").into_response();
    }
    login_form(StatusCode::OK, None, "", "Default")
}

fn login_form(status: StatusCode, error: Option<&str>, username: &str, domain: &str) -> Response {
    let csrf = session::random_secret();
    let mut resp = render(
        status,
        "login.html",
        minijinja::context! { csrf => csrf, error => error, username => username, domain => domain },
    );
    if let Ok(v) = session::set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Issues a token (password, or rescoping `token` to `project_id`) through the
/// identity API; returns the token and the token body.
async fn issue(
    d: &Dash,
    identity: Value,
    scope: Option<Value>,
) -> Result<(String, Value), PageError> {
    let mut auth = json!({"identity": identity});
    if let Some(sc) = scope {
        auth["scope"] = sc;
    }
    let (_, h, body) = d
        .backend
        .send(
            None,
            Method::POST,
            "/identity/v3/auth/tokens",
            Body::from(json!({"auth": auth}).to_string()),
            Some("application/json"),
        )
        .await
        .map_err(PageError::Api)?;
    let token = h
        .get(crate::http::SUBJECT_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| PageError::Internal("the identity API issued no token".into()))?;
    Ok((token.to_owned(), body))
}

/// A new session from a project-scoped token body; the old one (if any) is dropped
/// in the same transaction. Returns the response setting the new cookie.
async fn start_session(
    d: &Dash,
    token: String,
    body: &Value,
    domain: &str,
    old: Option<String>,
) -> PageResult {
    let t = &body["token"];
    let expires = chrono::DateTime::parse_from_rfc3339(s(t, "expires_at"))
        .map(|e| e.timestamp())
        .unwrap_or_else(|_| chrono::Utc::now().timestamp() + 3600);
    let id = session::random_secret();
    let sess = Session {
        id_hash: session::id_hash(&id),
        csrf: session::random_secret(),
        token,
        user_id: s(&t["user"], "id").to_owned(),
        user_name: s(&t["user"], "name").to_owned(),
        domain_name: domain.to_owned(),
        project_id: s(&t["project"], "id").to_owned(),
        project_name: s(&t["project"], "name").to_owned(),
        is_admin: list(t, "roles").iter().any(|r| s(r, "name") == "admin"),
        created_at: chrono::Utc::now().timestamp(),
        expires_at: expires,
    };
    let max_age = (expires - sess.created_at).max(0);
    let user = sess.user_name.clone();
    d.cloud
        .db
        .write(move |tx| {
            if let Some(old) = old {
                store::session_delete(tx, &old)?;
            }
            store::sessions_purge(tx, sess.created_at)?;
            store::session_insert(tx, &sess)?;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    tracing::info!(user = %user, "dashboard login");
    let mut resp = Redirect::to("/dashboard/project/overview").into_response();
    for c in [
        session::set_cookie(SESSION_COOKIE, &id, max_age),
        session::set_cookie(LOGIN_CSRF_COOKIE, "", 0),
    ] {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// `POST /dashboard/auth/login`: password login, then the session scoped to the
/// user's own project (the one named after the user, else the first).
pub(super) async fn login(
    State(d): State<Dash>,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = FormData(f);
    let expected = session::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !session::csrf_matches(&expected, f.get("csrf")) {
        return Err(PageError::Csrf);
    }
    let (user, domain) = (f.get("username"), f.get("domain"));
    let domain = if domain.is_empty() { "Default" } else { domain };
    let password =
        f.0.iter()
            .find(|(k, _)| k == "password")
            .map_or("", |(_, v)| v.as_str());
    let identity = json!({"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": domain}, "password": password}}});
    let unscoped = match issue(&d, identity, None).await {
        Ok((t, _)) => t,
        Err(PageError::Api(e)) if e.status.is_client_error() => {
            return Ok(login_form(
                StatusCode::UNAUTHORIZED,
                Some("Invalid credentials. Check the user name, password and domain."),
                user,
                domain,
            ));
        }
        Err(e) => return Err(e),
    };
    let projects = d
        .backend
        .get(&unscoped, "/identity/v3/auth/projects")
        .await?;
    let mut projects: Vec<&Value> = list(&projects, "projects").iter().collect();
    projects.sort_by_key(|p| (s(p, "name") != user, s(p, "name").to_owned()));
    let Some(project) = projects.first() else {
        return Ok(login_form(
            StatusCode::FORBIDDEN,
            Some("You are not authorized for any projects."),
            user,
            domain,
        ));
    };
    let (token, body) = issue(
        &d,
        json!({"methods": ["token"], "token": {"id": unscoped}}),
        Some(json!({"project": {"id": s(project, "id")}})),
    )
    .await?;
    let old = session::cookie(&headers, SESSION_COOKIE).map(|c| session::id_hash(&c));
    start_session(&d, token, &body, domain, old).await
}

/// `POST /dashboard/auth/switch`: rescopes to another of the user's projects,
/// under a new session id.
pub(super) async fn switch_project(
    State(d): State<Dash>,
    Posted { sess, form: f }: Posted,
) -> PageResult {
    let project = f.required("project_id", "Project")?;
    let (token, body) = issue(
        &d,
        json!({"methods": ["token"], "token": {"id": sess.token}}),
        Some(json!({"project": {"id": project}})),
    )
    .await?;
    start_session(
        &d,
        token,
        &body,
        &sess.domain_name,
        Some(sess.id_hash.clone()),
    )
    .await
}

/// `POST /dashboard/auth/logout`: ends the session server-side and revokes its token.
pub(super) async fn logout(State(d): State<Dash>, Posted { sess, .. }: Posted) -> PageResult {
    let key = sess.id_hash.clone();
    d.cloud
        .db
        .write(move |tx| store::session_delete(tx, &key).map_err(anyhow::Error::from))
        .await?;
    let revoke = axum::http::Request::builder()
        .method(Method::DELETE)
        .uri("/identity/v3/auth/tokens")
        .header(crate::http::AUTH_TOKEN_HEADER, &sess.token)
        .header(crate::http::SUBJECT_TOKEN_HEADER, &sess.token)
        .body(Body::empty());
    if let Ok(req) = revoke
        && let Err(e) = d.backend.raw(req).await
    {
        tracing::warn!(error = %e, "revoking the dashboard token at logout");
    }
    let mut resp = Redirect::to("/dashboard/auth/login").into_response();
    if let Ok(v) = session::set_cookie(SESSION_COOKIE, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}
