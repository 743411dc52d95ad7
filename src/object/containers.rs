//! Accounts and containers: show (with usage), metadata updates, listings, create
//! and delete (refused while the container holds objects).

use super::model::{self, Account, Container, Entry, ListQuery, Meta};
use super::{ObjectService, not_found, sql, store};
use crate::http::error::{ApiError, ApiResult};

/// Metadata changes from a request: a header set to a value, or removed (`None`, an
/// empty value or an `X-Remove-...` header).
pub(super) type MetaChanges = Vec<(String, Option<String>)>;

/// Applies `changes` to `meta` and checks the user metadata under `prefix`.
pub(super) fn apply_changes(meta: &mut Meta, changes: &MetaChanges, prefix: &str) -> ApiResult<()> {
    for (k, v) in changes {
        match v {
            Some(v) if !v.is_empty() => {
                meta.insert(k.clone(), v.clone());
            }
            _ => {
                meta.remove(k);
            }
        }
    }
    model::check_meta(meta, prefix).map_err(ApiError::BadRequest)
}

impl ObjectService {
    /// Account usage and metadata; an account never written shows as empty (Swift's
    /// `account_autocreate`).
    pub(crate) async fn account_show(&self, account: &str) -> ApiResult<Account> {
        let a = account.to_owned();
        let found = self
            .read(move |c| store::account_get(c, &a).map_err(sql))
            .await?;
        Ok(found.unwrap_or_else(|| {
            let ts = model::now_ts();
            Account {
                account: account.to_owned(),
                created_at: ts,
                put_ts: ts,
                meta: Meta::new(),
                container_count: 0,
                object_count: 0,
                bytes_used: 0,
            }
        }))
    }

    /// Account POST: metadata and temp URL keys.
    pub(crate) async fn account_update(
        &self,
        account: &str,
        changes: MetaChanges,
    ) -> ApiResult<()> {
        let a = account.to_owned();
        self.write(move |tx| {
            store::account_ensure(tx, &a, model::now_ts()).map_err(sql)?;
            let mut meta = store::account_get(tx, &a)
                .map_err(sql)?
                .map(|x| x.meta)
                .unwrap_or_default();
            apply_changes(&mut meta, &changes, "x-account-meta-")?;
            store::account_set_meta(tx, &a, &meta).map_err(sql)
        })
        .await
    }

    pub(crate) async fn container_list(
        &self,
        account: &str,
        q: ListQuery,
    ) -> ApiResult<Vec<Entry<Container>>> {
        let a = account.to_owned();
        self.read(move |c| store::container_list(c, &a, &q).map_err(sql))
            .await
    }

    /// Container PUT: creates it (true) or updates its metadata (false).
    pub(crate) async fn container_create(
        &self,
        account: &str,
        name: &str,
        changes: MetaChanges,
    ) -> ApiResult<bool> {
        model::check_container_name(name).map_err(ApiError::BadRequest)?;
        let (a, n) = (account.to_owned(), name.to_owned());
        self.write(move |tx| {
            let ts = model::now_ts();
            store::account_ensure(tx, &a, ts).map_err(sql)?;
            let existing = store::container_get(tx, &a, &n).map_err(sql)?;
            let mut meta = existing
                .as_ref()
                .map(|c| c.meta.clone())
                .unwrap_or_default();
            apply_changes(&mut meta, &changes, "x-container-meta-")?;
            if existing.is_some() {
                store::container_set_meta(tx, &a, &n, &meta).map_err(sql)?;
                Ok(false)
            } else {
                store::container_insert(tx, &a, &n, ts, &meta).map_err(sql)
            }
        })
        .await
    }

    pub(crate) async fn container_show(&self, account: &str, name: &str) -> ApiResult<Container> {
        let (a, n) = (account.to_owned(), name.to_owned());
        self.read(move |c| store::container_get(c, &a, &n).map_err(sql))
            .await?
            .ok_or_else(not_found)
    }

    /// The container if it exists (for ACL checks before a listing or an object call).
    pub(crate) async fn container_find(
        &self,
        account: &str,
        name: &str,
    ) -> ApiResult<Option<Container>> {
        let (a, n) = (account.to_owned(), name.to_owned());
        self.read(move |c| store::container_get(c, &a, &n).map_err(sql))
            .await
    }

    pub(crate) async fn container_update(
        &self,
        account: &str,
        name: &str,
        changes: MetaChanges,
    ) -> ApiResult<()> {
        let (a, n) = (account.to_owned(), name.to_owned());
        self.write(move |tx| {
            let ct = store::container_get(tx, &a, &n)
                .map_err(sql)?
                .ok_or_else(not_found)?;
            let mut meta = ct.meta;
            apply_changes(&mut meta, &changes, "x-container-meta-")?;
            store::container_set_meta(tx, &a, &n, &meta).map_err(sql)
        })
        .await
    }

    /// Container DELETE: 409 while it holds objects.
    pub(crate) async fn container_delete(&self, account: &str, name: &str) -> ApiResult<()> {
        let (a, n) = (account.to_owned(), name.to_owned());
        self.write(move |tx| {
            store::container_get(tx, &a, &n)
                .map_err(sql)?
                .ok_or_else(not_found)?;
            if store::container_has_objects(tx, &a, &n).map_err(sql)? {
                return Err(ApiError::Conflict(
                    "There was a conflict when trying to complete your request.".into(),
                ));
            }
            store::container_delete(tx, &a, &n).map_err(sql)
        })
        .await
    }
}
