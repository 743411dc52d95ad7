//! Object storage (Swift v1): accounts (one per project, created on first use),
//! containers and objects with metadata in SQLite and bytes in files (`blobs.rs`),
//! large objects, versioning, expiry and quotas. The Swift API (`api/`) is its one
//! front-end and `s3/` (Swift's s3api, S3 on the same rows and files) the other.
//!
//! Rooms: `api/` (routes, Swift's wire format, ACLs and temp URLs), `model.rs`
//! (types, names, limits), `store.rs` (all SQL), `blobs.rs` (files), `containers.rs`
//! and `objects.rs` (the service logic), `tasks.rs` (the expirer, the reaper and the
//! start-up sweep).

pub(crate) mod api;
pub(crate) mod blobs;
mod containers;
mod facade;
pub(crate) mod model;
pub(crate) mod objects;
pub(crate) mod registration;
pub(crate) mod s3;
pub(crate) mod store;
pub(crate) mod sync;
pub(crate) mod tar;
pub(crate) mod tasks;

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use rusqlite::{Connection, Transaction};

use crate::db::Db;
use crate::http::error::{ApiError, ApiResult};
use blobs::Blobs;

pub(crate) use objects::{ObjectBody, Piece, PutInput};

/// The object storage service.
#[derive(Clone)]
pub(crate) struct ObjectService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    blobs: Blobs,
}

impl ObjectService {
    /// Opens the file store in `state_dir/objects` (emptying its temp directory).
    pub(crate) fn open(db: Db, state_dir: &Path) -> anyhow::Result<ObjectService> {
        Ok(ObjectService {
            inner: Arc::new(Inner {
                db,
                blobs: Blobs::open(state_dir)?,
            }),
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.read(f).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        self.inner.db.write(f).await
    }

    pub(crate) fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }
}

/// The 500 of a failed SQL statement.
pub(crate) fn sql(e: rusqlite::Error) -> ApiError {
    ApiError::Internal(e.into())
}

/// Swift's 404 (its body is the generic one).
pub(crate) fn not_found() -> ApiError {
    ApiError::Missing("The resource could not be found.".into())
}

/// The code of an SLO manifest whose segments do not match what they name (Swift
/// answers 400 with an `Errors:` list; S3's multipart completion turns it into
/// `InvalidPart`).
pub(crate) const SLO_SEGMENT_ERRORS: &str = "swift.slo_segment_errors";

/// A fault with a status the shared error type has no variant for (411, 422, 499).
pub(crate) fn status(code: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::typed(code, "swift", message)
}

/// Seconds since the epoch, the unit of `X-Delete-At`.
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
