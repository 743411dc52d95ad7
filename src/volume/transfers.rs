//! Volume transfers: the owner offers an available volume (it waits in
//! `awaiting-transfer`) and hands the auth key to another project, which accepts it
//! and becomes the owner (with the snapshots, unless `no_snapshots`). Each step is
//! one transaction, so a crash leaves either the offer or its result.

use sha2::{Digest, Sha256};

use super::model::{Event, SnapshotStatus, Transfer, VolumeStatus};
use super::{
    VolumeService, caller_project, may_change, quotas, sees, sql, store, volume_not_found,
};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};

/// Cinder's `volume_transfer_key_length` and salt length.
const KEY_LEN: usize = 16;
const SALT_LEN: usize = 8;

pub(super) fn transfer_not_found(id: &str) -> ApiError {
    ApiError::Missing(format!("Transfer {id} could not be found."))
}

/// Random letters and digits, as Cinder's transfer keys.
fn random_string(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

fn key_hash(salt: &str, key: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}{key}").as_bytes()))
}

/// A transfer the caller may see (its source project, or an admin), or 404.
fn visible_tx(c: &rusqlite::Connection, ctx: &RequestContext, id: &str) -> ApiResult<Transfer> {
    match store::transfer_get(c, id).map_err(sql)? {
        Some(t) if sees(ctx, &t.source_project_id) => Ok(t),
        _ => Err(transfer_not_found(id)),
    }
}

/// A new transfer with its one-time auth key (shown once, at create).
pub(crate) struct Offer {
    pub transfer: Transfer,
    pub auth_key: String,
}

impl VolumeService {
    pub(crate) async fn transfer_create(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        name: Option<String>,
        no_snapshots: bool,
    ) -> ApiResult<Offer> {
        caller_project(ctx)?;
        let ctx = ctx.clone();
        let offer = self
            .write(move |c| {
                let v = match store::volume_get(c, &volume_id).map_err(sql)? {
                    Some(v) if sees(&ctx, &v.project_id) => v,
                    _ => return Err(volume_not_found(&volume_id)),
                };
                may_change(&ctx, &v.project_id)?;
                if v.status != VolumeStatus::Available {
                    return Err(ApiError::bad_request(format!(
                        "Invalid volume: status must be available, but current status is: {}.",
                        v.status.as_str()
                    )));
                }
                if !no_snapshots {
                    let snaps = store::snapshots_of_volume(c, &v.id).map_err(sql)?;
                    if snaps.iter().any(|s| s.status != SnapshotStatus::Available) {
                        return Err(ApiError::bad_request(
                            "Invalid snapshot: snapshot status must be available.",
                        ));
                    }
                }
                let to = v
                    .status
                    .transition(Event::TransferStart)
                    .map_err(|r| ApiError::bad_request(r.to_string()))?;
                store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
                let auth_key = random_string(KEY_LEN);
                let salt = random_string(SALT_LEN);
                let t = Transfer {
                    id: uuid::Uuid::new_v4().to_string(),
                    volume_id: v.id,
                    name,
                    source_project_id: v.project_id,
                    crypt_hash: key_hash(&salt, &auth_key),
                    salt,
                    no_snapshots,
                    created_at: store::now(),
                };
                store::transfer_insert(c, &t).map_err(sql)?;
                Ok(Offer {
                    transfer: t,
                    auth_key,
                })
            })
            .await?;
        tracing::info!(transfer = %offer.transfer.id, volume = %offer.transfer.volume_id, "volume transfer offered");
        Ok(offer)
    }

    pub(crate) async fn transfer_get(
        &self,
        ctx: &RequestContext,
        id: String,
    ) -> ApiResult<Transfer> {
        let ctx = ctx.clone();
        self.read(move |c| visible_tx(c, &ctx, &id)).await
    }

    pub(crate) async fn transfer_list(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> ApiResult<Vec<Transfer>> {
        let own = caller_project(ctx)?;
        if !ctx.can_read() {
            return Err(ApiError::forbidden());
        }
        let scope = if ctx.allowed(crate::http::policy::VOLUME_ADMIN_CONTEXT) && all_projects {
            None
        } else {
            Some(own)
        };
        self.read(move |c| store::transfer_list(c, scope.as_deref()).map_err(sql))
            .await
    }

    /// Withdraws an offer: the volume is available to its owner again.
    pub(crate) async fn transfer_delete(&self, ctx: &RequestContext, id: String) -> ApiResult<()> {
        let ctx = ctx.clone();
        let tid = id.clone();
        self.write(move |c| {
            let t = visible_tx(c, &ctx, &tid)?;
            may_change(&ctx, &t.source_project_id)?;
            if let Some(v) = store::volume_get(c, &t.volume_id).map_err(sql)?
                && let Ok(to) = v.status.transition(Event::TransferEnd)
            {
                store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
            }
            store::transfer_delete(c, &t.id).map_err(sql)
        })
        .await?;
        tracing::info!(transfer = %id, "volume transfer withdrawn");
        Ok(())
    }

    /// Accepts a transfer with its auth key: the caller's project becomes the owner,
    /// within its quota (413 otherwise).
    pub(crate) async fn transfer_accept(
        &self,
        ctx: &RequestContext,
        id: String,
        auth_key: String,
    ) -> ApiResult<Transfer> {
        let project = caller_project(ctx)?;
        may_change(ctx, &project)?;
        let user = ctx.user.id.clone();
        let t = self
            .write(move |c| {
                let t = store::transfer_get(c, &id)
                    .map_err(sql)?
                    .ok_or_else(|| transfer_not_found(&id))?;
                let given = key_hash(&t.salt, &auth_key);
                // Constant-time comparison of the two digests.
                let same = given.len() == t.crypt_hash.len()
                    && given
                        .bytes()
                        .zip(t.crypt_hash.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0;
                if !same {
                    return Err(ApiError::bad_request(format!(
                        "Invalid auth key: Attempt to transfer {id} with invalid auth key."
                    )));
                }
                let v = store::volume_get(c, &t.volume_id)
                    .map_err(sql)?
                    .ok_or_else(|| volume_not_found(&t.volume_id))?;
                let snaps = if t.no_snapshots {
                    Vec::new()
                } else {
                    store::snapshots_of_volume(c, &v.id).map_err(sql)?
                };
                let snap_gb: i64 = snaps.iter().map(|s| s.size).sum();
                quotas::check_tx(
                    c,
                    &project,
                    &v.type_name,
                    1,
                    snaps.len() as i64,
                    v.size + snap_gb,
                    v.size,
                )?;
                let to = v
                    .status
                    .transition(Event::TransferEnd)
                    .map_err(|r| ApiError::bad_request(r.to_string()))?;
                store::volume_set_state(c, &v.id, to, None, None).map_err(sql)?;
                store::volume_give(c, &v.id, &project, &user, t.no_snapshots).map_err(sql)?;
                store::transfer_delete(c, &t.id).map_err(sql)?;
                Ok(t)
            })
            .await?;
        tracing::info!(transfer = %t.id, volume = %t.volume_id, "volume transfer accepted");
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashes_salted() {
        let a = random_string(KEY_LEN);
        let b = random_string(KEY_LEN);
        assert_eq!(a.len(), KEY_LEN);
        assert_ne!(a, b);
        assert_ne!(key_hash("s1", &a), key_hash("s2", &a));
        assert_eq!(key_hash("s1", &a), key_hash("s1", &a));
    }
}
