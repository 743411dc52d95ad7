//! The service side of iSCSI exports (`target_helper = "tgtadm"`): a row per
//! exported volume in `volume_exports` (its IQN, CHAP user and CHAP secret sealed
//! with the credential keys), made when a consumer connects and dropped when the
//! volume's last attachment goes; tgtd is then converged to the rows. At start the
//! rows are the truth tgtd's targets are rebuilt from (`recover_exports`).

use std::sync::Arc;

use rusqlite::Connection;

use super::iscsi::{Export, LUN, Tgt, chap_secret, chap_user};
use super::{VolumeService, sql, store};
use crate::http::error::{ApiError, ApiResult};
use crate::virt::IscsiDisk;

/// The settings key of this cloud's IQN prefix.
pub(super) const IQN_PREFIX_KEY: &str = "volume.iqn_prefix";

/// This cloud's IQN prefix, drawn once and kept in the settings table, so two
/// clouds on one host (or one tgtd) never share a target name.
pub(super) fn iqn_prefix(c: &Connection) -> rusqlite::Result<String> {
    if let Some(p) = crate::db::settings::get(c, IQN_PREFIX_KEY)? {
        return Ok(p);
    }
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let p = format!("{}:os-{}", super::iscsi::IQN_BASE, &tag[..12]);
    crate::db::settings::put(c, IQN_PREFIX_KEY, &p)?;
    Ok(p)
}

/// The iSCSI side of the service: tgtd and the keys that seal CHAP secrets.
pub(super) struct Exporter {
    pub tgt: Arc<Tgt>,
    pub keys: crate::identity::token::CredentialKeys,
}

impl VolumeService {
    fn exporter(&self) -> Option<&Exporter> {
        self.inner.exporter.as_ref()
    }

    fn disk_of_row(&self, x: &Exporter, row: &store::ExportRow) -> ApiResult<IscsiDisk> {
        let password = x.keys.unseal(&row.chap_secret).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "the CHAP secret of volume {}'s export cannot be decrypted with the credential keys",
                row.volume_id
            ))
        })?;
        Ok(IscsiDisk {
            portal: x.tgt.portal(),
            target: row.target_iqn.clone(),
            lun: LUN,
            user: row.chap_user.clone(),
            password,
        })
    }

    /// In a write transaction: the volume's export, made (with a fresh CHAP
    /// secret) when it has none; None without iSCSI.
    pub(crate) fn export_ensure_tx(
        &self,
        c: &Connection,
        volume_id: &str,
    ) -> ApiResult<Option<IscsiDisk>> {
        let Some(x) = self.exporter() else {
            return Ok(None);
        };
        let row = match store::export_get(c, volume_id).map_err(sql)? {
            Some(r) => r,
            None => {
                let r = store::ExportRow {
                    volume_id: volume_id.to_owned(),
                    target_iqn: x.tgt.iqn(volume_id),
                    chap_user: chap_user(volume_id),
                    chap_secret: x.keys.seal(&chap_secret()),
                };
                store::export_insert(c, &r).map_err(sql)?;
                r
            }
        };
        self.disk_of_row(x, &row).map(Some)
    }

    /// The volume's export if it has one.
    pub(crate) fn export_read_tx(
        &self,
        c: &Connection,
        volume_id: &str,
    ) -> ApiResult<Option<IscsiDisk>> {
        let Some(x) = self.exporter() else {
            return Ok(None);
        };
        match store::export_get(c, volume_id).map_err(sql)? {
            Some(row) => self.disk_of_row(x, &row).map(Some),
            None => Ok(None),
        }
    }

    /// Converges tgtd to the export rows (targets of this cloud only); errors
    /// are logged and returned as one 500.
    pub(crate) async fn sync_exports(&self) -> ApiResult<usize> {
        let Some(x) = self.exporter() else {
            return Ok(0);
        };
        let me = self.clone();
        let wanted = self
            .read(move |c| {
                let Some(x) = me.exporter() else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for row in store::export_list(c).map_err(sql)? {
                    let d = me.disk_of_row(x, &row)?;
                    out.push(Export {
                        volume_id: row.volume_id.clone(),
                        iqn: row.target_iqn,
                        user: row.chap_user,
                        password: d.password,
                        path: me.inner.backend.local_path(&row.volume_id),
                    });
                }
                Ok(out)
            })
            .await?;
        let tgt = x.tgt.clone();
        // A tgtd that died meanwhile is started again (ours) before converging.
        let res = tokio::task::spawn_blocking(move || {
            tgt.ensure_daemon().map_err(|e| vec![e])?;
            tgt.reconcile(&wanted)
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
        res.map_err(|errors| {
            for e in &errors {
                tracing::error!(error = %e, "converging iSCSI targets");
            }
            ApiError::Internal(anyhow::anyhow!(
                "{} iSCSI target operations failed: {}",
                errors.len(),
                errors[0]
            ))
        })
    }

    /// At start: tgtd runs (ours is started or adopted), export rows of volumes
    /// no longer attached go, and tgtd gets exactly the remaining exports back.
    pub(crate) async fn recover_exports(&self) -> ApiResult<usize> {
        let Some(x) = self.exporter() else {
            return Ok(0);
        };
        let tgt = x.tgt.clone();
        tokio::task::spawn_blocking(move || tgt.ensure_daemon())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| {
                tracing::error!(error = %e, "tgtd is not available");
                ApiError::Internal(anyhow::anyhow!("tgtd: {e}"))
            })?;
        self.write(|c| {
            for row in store::export_list(c).map_err(sql)? {
                export_release_tx(c, &row.volume_id)?;
            }
            Ok(())
        })
        .await?;
        self.sync_exports().await
    }
}

/// Drops the volume's export row once no attachment remains (tgtd follows at the
/// next `sync_exports`).
pub(crate) fn export_release_tx(c: &Connection, volume_id: &str) -> ApiResult<()> {
    if store::attachments_of_volume(c, volume_id)
        .map_err(sql)?
        .is_empty()
    {
        store::export_delete(c, volume_id).map_err(sql)?;
    }
    Ok(())
}
