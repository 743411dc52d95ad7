//! Keystone v3: authentication with Fernet tokens, the identity and assignment
//! backends, the catalog, and application credentials.

pub(crate) mod api;
mod assignment;
mod auth;
pub(crate) mod bootstrap;
mod catalog;
mod credentials;
mod extensions;
pub(crate) mod facade;
pub(crate) mod model;
pub(crate) mod oauth1;
pub(crate) mod password;
pub(crate) mod registration;
mod resources;
pub(crate) mod store;
pub(crate) mod store_ext;
pub(crate) mod store_oauth1;
pub mod token;
mod trusts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use token::TokenProvider;

pub(crate) use auth::AuthRequest;

/// Settings the identity service reads from the profile.
#[derive(Debug, Clone)]
pub(crate) struct IdentityConfig {
    pub token_expiration: chrono::Duration,
}

/// The identity service. Cloning is cheap; every clone shares state.
#[derive(Clone)]
pub(crate) struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    tokens: TokenProvider,
    config: IdentityConfig,
    /// Bumped after every identity write; cached validations from an older
    /// generation are recomputed, so a revocation or role change takes effect at once.
    generation: AtomicU64,
    cache: Mutex<HashMap<String, CachedToken>>,
    catalog: CatalogCache,
    credential_keys: std::sync::OnceLock<Result<token::CredentialKeys, String>>,
}

type CatalogCache = Mutex<Option<(u64, Arc<Vec<catalog::CatalogEntry>>)>>;

struct CachedToken {
    generation: u64,
    context: Arc<RequestContext>,
}

const TOKEN_CACHE_LIMIT: usize = 50_000;

impl Identity {
    pub(crate) fn new(db: Db, tokens: TokenProvider, config: IdentityConfig) -> Identity {
        Identity {
            inner: Arc::new(Inner {
                db,
                tokens,
                config,
                generation: AtomicU64::new(1),
                cache: Mutex::new(HashMap::new()),
                catalog: Mutex::new(None),
                credential_keys: std::sync::OnceLock::new(),
            }),
        }
    }

    pub(crate) fn tokens(&self) -> &TokenProvider {
        &self.inner.tokens
    }

    fn inner_catalog(&self) -> &CatalogCache {
        &self.inner.catalog
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    /// Runs a write transaction and invalidates cached token validations.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let out = self.inner.db.write(f).await;
        if out.is_ok() {
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        out
    }

    fn cache_get(&self, token: &str) -> Option<Arc<RequestContext>> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.get(token)?;
        (hit.generation == self.generation() && hit.context.expires_at > chrono::Utc::now())
            .then(|| hit.context.clone())
    }

    fn cache_put(&self, token: &str, generation: u64, context: Arc<RequestContext>) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TOKEN_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            token.to_owned(),
            CachedToken {
                generation,
                context,
            },
        );
    }

    /// The id of a project by name, for services that act for the bootstrap projects.
    pub(crate) async fn project_id_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> ApiResult<Option<String>> {
        let (d, n) = (domain_id.to_owned(), name.to_owned());
        Ok(self
            .read(move |c| store::project_by_name(c, &d, &n))
            .await?
            .map(|p| p.id))
    }
}

/// Requires that a looked-up row exists.
fn found<T>(v: Option<T>, kind: &'static str, id: &str) -> ApiResult<T> {
    v.ok_or_else(|| ApiError::not_found(kind, id))
}
