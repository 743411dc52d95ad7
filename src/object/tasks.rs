//! Background work of the object service: the expirer (objects past `X-Delete-At`),
//! the reaper (files no row references, unlinked after the commit that dropped
//! them), and the start-up sweep of files a crash left between rename and commit.

use std::time::Duration;

use super::{ObjectService, now_secs, sql, store};
use crate::http::error::ApiResult;

/// How often the expirer looks for expired objects; they are hidden from reads at
/// once, this only frees their space.
pub(crate) const EXPIRER_INTERVAL: Duration = Duration::from_secs(2);

impl ObjectService {
    /// Unlinks the files queued for reaping; a failure leaves them queued.
    pub(crate) async fn reap(&self) {
        let queued = match self.read(|c| store::reap_list(c).map_err(sql)).await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(error = %e, "reading the object reap list");
                return;
            }
        };
        for blob in queued {
            if let Err(e) = self.blobs().remove(&blob).await {
                tracing::warn!(error = %e, %blob, "unlinking an object file");
                continue;
            }
            let b = blob.clone();
            if let Err(e) = self
                .write(move |tx| store::reap_done(tx, &b).map_err(sql))
                .await
            {
                tracing::warn!(error = %e, %blob, "clearing an object file from the reap list");
            }
        }
    }

    /// Deletes up to 1000 expired objects; returns how many.
    pub(crate) async fn expire_once(&self) -> ApiResult<usize> {
        let n = self
            .write(|tx| {
                let rows = store::expired(tx, now_secs(), 1000).map_err(sql)?;
                for (a, c, o) in &rows {
                    store::object_remove(tx, a, c, o).map_err(sql)?;
                }
                Ok(rows.len())
            })
            .await?;
        self.reap().await;
        Ok(n)
    }

    /// The expirer loop, for the daemon's lifetime.
    pub(crate) async fn run_expirer(self) {
        loop {
            match self.expire_once().await {
                Ok(0) => tokio::time::sleep(EXPIRER_INTERVAL).await,
                Ok(n) => tracing::info!(objects = n, "expired objects deleted"),
                Err(e) => {
                    tracing::warn!(error = %e, "object expirer");
                    tokio::time::sleep(EXPIRER_INTERVAL).await;
                }
            }
        }
    }

    /// At start: unlinks queued files and files no row names (a crash after a
    /// PUT's rename and before its commit: the PUT was never acknowledged).
    pub(crate) async fn recover(&self) -> anyhow::Result<()> {
        self.reap().await;
        let referenced = self
            .read(|c| store::all_blobs(c).map_err(sql))
            .await
            .map_err(|e| anyhow::anyhow!("listing object files: {e}"))?;
        let blobs = self.blobs().clone();
        let on_disk = tokio::task::spawn_blocking(move || blobs.list()).await??;
        let mut swept = 0;
        for f in on_disk.iter().filter(|f| !referenced.contains(*f)) {
            self.blobs().remove(f).await?;
            swept += 1;
        }
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed object files of unacknowledged uploads"
            );
        }
        Ok(())
    }
}
