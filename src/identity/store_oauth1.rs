//! SQL for OAuth 1.0a delegation (OS-OAUTH1): consumers, request tokens and access
//! tokens, and nothing else. Secrets arrive and leave sealed.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::store::ts;
use crate::http::error::ApiResult;

fn parse_ts(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn ids(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn ids_text(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// A consumer: a third party that may ask users for delegated access.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    pub id: String,
    pub description: Option<String>,
    pub extra: Map<String, Value>,
    pub sealed_secret: String,
}

fn consumer_row(r: &Row) -> rusqlite::Result<Consumer> {
    let extra: String = r.get(2)?;
    Ok(Consumer {
        id: r.get(0)?,
        description: r.get(1)?,
        extra: serde_json::from_str(&extra).unwrap_or_default(),
        sealed_secret: r.get(3)?,
    })
}

const CONSUMER_COLS: &str = "id, description, extra, sealed_secret";

pub(crate) fn consumer_insert(c: &Connection, x: &Consumer) -> ApiResult<()> {
    c.execute(
        "INSERT INTO oauth1_consumers (id, description, extra, sealed_secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            x.id,
            x.description,
            Value::Object(x.extra.clone()).to_string(),
            x.sealed_secret,
            ts(Utc::now())
        ],
    )?;
    Ok(())
}

pub(crate) fn consumer_get(c: &Connection, id: &str) -> ApiResult<Option<Consumer>> {
    Ok(c.query_row(
        &format!("SELECT {CONSUMER_COLS} FROM oauth1_consumers WHERE id = ?1"),
        [id],
        consumer_row,
    )
    .optional()?)
}

pub(crate) fn consumer_list(c: &Connection) -> ApiResult<Vec<Consumer>> {
    let mut st = c.prepare(&format!(
        "SELECT {CONSUMER_COLS} FROM oauth1_consumers ORDER BY id"
    ))?;
    let rows = st.query_map([], consumer_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn consumer_update(c: &Connection, x: &Consumer) -> ApiResult<()> {
    c.execute(
        "UPDATE oauth1_consumers SET description = ?2, extra = ?3 WHERE id = ?1",
        params![
            x.id,
            x.description,
            Value::Object(x.extra.clone()).to_string()
        ],
    )?;
    Ok(())
}

/// Deletes the consumer and, by cascade, its request and access tokens.
pub(crate) fn consumer_delete(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.execute("DELETE FROM oauth1_consumers WHERE id = ?1", [id])? > 0)
}

/// A request token; `authorizing_user_id`, `role_ids` and `verifier` are set once a
/// user authorizes it.
#[derive(Debug, Clone)]
pub(crate) struct RequestToken {
    pub id: String,
    pub consumer_id: String,
    pub sealed_secret: String,
    pub requested_project_id: String,
    pub authorizing_user_id: Option<String>,
    pub role_ids: Vec<String>,
    pub verifier: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) fn request_token_insert(c: &Connection, t: &RequestToken) -> ApiResult<()> {
    c.execute(
        "INSERT INTO oauth1_request_tokens
           (id, consumer_id, sealed_secret, requested_project_id, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            t.id,
            t.consumer_id,
            t.sealed_secret,
            t.requested_project_id,
            t.expires_at.map(ts)
        ],
    )?;
    Ok(())
}

pub(crate) fn request_token_get(c: &Connection, id: &str) -> ApiResult<Option<RequestToken>> {
    Ok(c.query_row(
        "SELECT id, consumer_id, sealed_secret, requested_project_id, authorizing_user_id,
                role_ids, verifier, expires_at
         FROM oauth1_request_tokens WHERE id = ?1",
        [id],
        |r| {
            Ok(RequestToken {
                id: r.get(0)?,
                consumer_id: r.get(1)?,
                sealed_secret: r.get(2)?,
                requested_project_id: r.get(3)?,
                authorizing_user_id: r.get(4)?,
                role_ids: ids(r.get(5)?),
                verifier: r.get(6)?,
                expires_at: parse_ts(r.get(7)?),
            })
        },
    )
    .optional()?)
}

/// Records the authorization of a request token that no one has authorized yet;
/// false when it is gone or already authorized.
pub(crate) fn request_token_authorize(
    c: &Connection,
    id: &str,
    user_id: &str,
    role_ids: &[String],
    verifier: &str,
) -> ApiResult<bool> {
    Ok(c.execute(
        "UPDATE oauth1_request_tokens SET authorizing_user_id = ?2, role_ids = ?3, verifier = ?4
         WHERE id = ?1 AND authorizing_user_id IS NULL",
        params![id, user_id, ids_text(role_ids), verifier],
    )? > 0)
}

pub(crate) fn request_token_delete(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.execute("DELETE FROM oauth1_request_tokens WHERE id = ?1", [id])? > 0)
}

/// An access token: the consumer acts for `authorizing_user_id` on `project_id`
/// with `role_ids`.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub id: String,
    pub consumer_id: String,
    pub sealed_secret: String,
    pub authorizing_user_id: String,
    pub project_id: String,
    pub role_ids: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

const ACCESS_COLS: &str =
    "id, consumer_id, sealed_secret, authorizing_user_id, project_id, role_ids, expires_at";

fn access_row(r: &Row) -> rusqlite::Result<AccessToken> {
    Ok(AccessToken {
        id: r.get(0)?,
        consumer_id: r.get(1)?,
        sealed_secret: r.get(2)?,
        authorizing_user_id: r.get(3)?,
        project_id: r.get(4)?,
        role_ids: ids(r.get(5)?),
        expires_at: parse_ts(r.get(6)?),
    })
}

pub(crate) fn access_token_insert(c: &Connection, t: &AccessToken) -> ApiResult<()> {
    c.execute(
        &format!(
            "INSERT INTO oauth1_access_tokens ({ACCESS_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            t.id,
            t.consumer_id,
            t.sealed_secret,
            t.authorizing_user_id,
            t.project_id,
            ids_text(&t.role_ids),
            t.expires_at.map(ts)
        ],
    )?;
    Ok(())
}

pub(crate) fn access_token_get(c: &Connection, id: &str) -> ApiResult<Option<AccessToken>> {
    Ok(c.query_row(
        &format!("SELECT {ACCESS_COLS} FROM oauth1_access_tokens WHERE id = ?1"),
        [id],
        access_row,
    )
    .optional()?)
}

pub(crate) fn access_tokens_of_user(c: &Connection, user_id: &str) -> ApiResult<Vec<AccessToken>> {
    let mut st = c.prepare(&format!(
        "SELECT {ACCESS_COLS} FROM oauth1_access_tokens WHERE authorizing_user_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([user_id], access_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn access_token_delete(c: &Connection, id: &str) -> ApiResult<bool> {
    Ok(c.execute("DELETE FROM oauth1_access_tokens WHERE id = ?1", [id])? > 0)
}
