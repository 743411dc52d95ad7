//! Assisted volume snapshots (api-ref: compute "Assisted volume snapshots",
//! `os-assisted-volume-snapshots`, admin or service): Nova's half of the
//! snapshot protocol of file-based Cinder drivers. Create puts a qcow2 overlay
//! (`new_file`, in the volume file's directory) over the attached volume's
//! file, as libvirt's driver does with an external snapshot: the running
//! guest switches to it (QMP `blockdev-snapshot-sync`), a stopped one starts on
//! it. Delete merges layers back as `delete_info` says: `block-commit` of
//! `file_to_merge` into `merge_target_file`, or with `merge_target_file` null a
//! `block-stream` down to `file_to_merge`; with neither (tempest's form), the
//! newest overlay is committed into the file below it.
//!
//! The chain is the server's `volume_overlays` (volume id → overlay files,
//! oldest first); the guest is always (re)built on its newest file, and the
//! overlays are merged back into the volume's own file before a detach or when
//! the server goes, so block storage always finds the volume's data there.
//!
//! Limits: while an overlay exists, block storage's own copies of the volume
//! (its snapshots, backups, uploads, clones of the in-use volume) read the
//! volume's file without the overlay's newer writes, as they would read a
//! Cinder NFS volume's base file. A create is safe across kill -9 (the empty
//! overlay is recorded before the guest moves to it); a delete is recorded
//! after QEMU's merge, so a crash between the two leaves the record naming a
//! merged overlay, which the next guest start would read stale.

use std::path::{Path, PathBuf};

use super::model::Server;
use super::runtime::run_tool;
use super::{ComputeService, store};
use crate::http::context::RequestContext;
use crate::http::error::{ApiError, ApiResult};
use crate::virt::{DiskFormat, DiskMerge, DiskSpec, PowerState};
use crate::volume::attachments::GuestVolume;

/// `create_info` of a create (Nova's schema: `snapshot_id`, `type` qcow2,
/// `new_file`, optional `id`).
#[derive(Debug, Clone)]
pub(crate) struct CreateInfo {
    pub snapshot_id: String,
    pub new_file: String,
    pub id: Option<String>,
}

/// What a delete merges (`delete_info`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteInfo {
    pub volume_id: String,
    /// `type`: only `qcow2` is known.
    pub kind: Option<String>,
    pub file_to_merge: Option<String>,
    /// Absent: not given; `Some(None)`: given as null (stream).
    pub merge_target_file: Option<Option<String>>,
}

/// Points the guest's attached volumes at the newest overlay of each (the
/// guest is built on that file; its backing chain leads to the volume's).
pub(super) fn apply_overlays(s: &Server, disks: &mut [DiskSpec]) {
    for d in disks.iter_mut().filter(|d| d.iscsi.is_none()) {
        if let Some(top) = s.volume_overlays.get(&d.id).and_then(|c| c.last())
            && let Some(dir) = d.path.parent()
        {
            d.path = dir.join(top);
            d.format = DiskFormat::Qcow2;
        }
    }
}

/// Nova's 400 for a volume no server has attached (`VolumeBDMNotFound`).
fn no_bdm(volume_id: &str) -> ApiError {
    ApiError::bad_request(format!(
        "No volume Block Device Mapping with id {volume_id}."
    ))
}

/// A plain file name in the volume's directory (never a path elsewhere).
fn file_in(dir: &Path, name: &str) -> ApiResult<PathBuf> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0');
    if !plain {
        return Err(ApiError::bad_request(format!(
            "Invalid input: '{name}' is not a file name in the volume's directory."
        )));
    }
    Ok(dir.join(name))
}

impl ComputeService {
    /// The server the volume is attached to (Nova's block device mapping by
    /// volume id) and the attached volume as the guest has it.
    async fn assisted_target(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        op: &str,
    ) -> ApiResult<(Server, GuestVolume)> {
        let vol = self.volume()?.clone();
        let v = vol
            .volume_get(ctx, volume_id.to_owned())
            .await
            .map_err(|_| no_bdm(volume_id))?;
        let servers: Vec<String> = v
            .attachments
            .iter()
            .filter(|a| a.by_compute)
            .filter_map(|a| a.instance_uuid.clone())
            .collect();
        let server_id = match servers.as_slice() {
            [] => return Err(no_bdm(volume_id)),
            [one] => one.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Volume {volume_id} is attached to multiple instances; the operation is not supported for multiattach volumes."
                )));
            }
        };
        let sid = server_id.clone();
        let s = self
            .read(move |c| store::server_get(c, &sid))
            .await?
            .ok_or_else(|| no_bdm(volume_id))?;
        if let Some(t) = s.task_state {
            return Err(ApiError::bad_request(format!(
                "Cannot '{op}' instance {} while it is in task_state {}",
                s.id,
                t.as_str()
            )));
        }
        let g = vol
            .guest_volumes(s.id.clone())
            .await?
            .into_iter()
            .find(|g| g.volume_id == volume_id)
            .ok_or_else(|| no_bdm(volume_id))?;
        if g.iscsi.is_some() {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {volume_id} is not file-backed here (it is exported over iSCSI)."
            )));
        }
        Ok((s, g))
    }

    async fn guest_running(&self, s: &Server) -> ApiResult<bool> {
        let nics = self.server_nics(s).await?;
        let spec = self.vm_spec(s, &nics);
        Ok(matches!(
            self.inner.hypervisor.power_state(&spec).await,
            Ok(PowerState::Running | PowerState::Paused)
        ))
    }

    /// `POST /os-assisted-volume-snapshots`: the volume gets a qcow2 overlay
    /// and the guest writes there from now on. Returns the `id` of
    /// `create_info` (None when not given, as Nova answers).
    pub(crate) async fn assisted_snapshot_create(
        &self,
        ctx: &RequestContext,
        volume_id: String,
        info: CreateInfo,
    ) -> ApiResult<Option<String>> {
        let (s, g) = self
            .assisted_target(ctx, &volume_id, "volume_snapshot_create")
            .await?;
        let lock = self.server_lock(&s.id);
        let _held = lock.lock().await;
        let dir = g
            .path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| no_bdm(&volume_id))?;
        let new = file_in(&dir, &info.new_file)?;
        let chain = s
            .volume_overlays
            .get(&volume_id)
            .cloned()
            .unwrap_or_default();
        if new.exists() || new == g.path || chain.contains(&info.new_file) {
            return Err(ApiError::bad_request(format!(
                "Invalid input: {} already exists in the volume's directory.",
                info.new_file
            )));
        }
        let (top, top_format) = match chain.last() {
            Some(f) => (dir.join(f), "qcow2"),
            None => (g.path.clone(), "raw"),
        };
        // The overlay is made (empty) and recorded before the guest moves to it:
        // a crash in between leaves a guest whose next start reads the same data.
        create_overlay(&top, top_format, &new).await?;
        let running = self.guest_running(&s).await?;
        let (vid, file) = (volume_id.clone(), info.new_file.clone());
        let recorded = self
            .mutate(&s.id, move |s| {
                s.volume_overlays.entry(vid).or_default().push(file);
                Ok(s.clone())
            })
            .await;
        let recorded = match recorded {
            Ok(r) => r,
            Err(e) => {
                crate::fsutil::discard_async(&new).await;
                return Err(e);
            }
        };
        if running {
            self.guest_take_overlay(&recorded, &volume_id, &info.new_file, &new)
                .await?;
        }
        tracing::info!(server = %s.id, volume = %volume_id, snapshot = %info.snapshot_id,
            overlay = %new.display(), running, "assisted volume snapshot taken");
        Ok(info.id)
    }

    /// Points the running guest's disk at the recorded overlay; when the guest
    /// does not take it, the record and the file are undone.
    async fn guest_take_overlay(
        &self,
        recorded: &Server,
        volume_id: &str,
        file: &str,
        new: &Path,
    ) -> ApiResult<()> {
        let nics = self.server_nics(recorded).await?;
        let spec = self.vm_spec(recorded, &nics);
        let Err(e) = self
            .inner
            .hypervisor
            .snapshot_disk(&spec, volume_id, new)
            .await
        else {
            return Ok(());
        };
        tracing::warn!(server = %recorded.id, volume = %volume_id, error = %e, "overlay not taken by the guest; undone");
        let (vid, file) = (volume_id.to_owned(), file.to_owned());
        self.mutate(&recorded.id, move |s| {
            forget_overlay(s, &vid, &file);
            Ok(())
        })
        .await?;
        crate::fsutil::discard_async(new).await;
        Err(super::actions::virt(e))
    }

    /// `DELETE /os-assisted-volume-snapshots/{id}?delete_info=...`: merges the
    /// layers `delete_info` names (see the module's doc).
    pub(crate) async fn assisted_snapshot_delete(
        &self,
        ctx: &RequestContext,
        snapshot_id: String,
        info: DeleteInfo,
    ) -> ApiResult<()> {
        if let Some(k) = info.kind.as_deref().filter(|k| *k != "qcow2") {
            return Err(ApiError::bad_request(format!(
                "Unknown delete_info type {k}"
            )));
        }
        let volume_id = info.volume_id.clone();
        let (s, g) = self
            .assisted_target(ctx, &volume_id, "volume_snapshot_delete")
            .await?;
        let lock = self.server_lock(&s.id);
        let _held = lock.lock().await;
        let chain = s
            .volume_overlays
            .get(&volume_id)
            .cloned()
            .unwrap_or_default();
        let Some(top_name) = chain.last().cloned() else {
            // Nothing stacked on the volume: libvirt's driver finds no such file
            // and the snapshot is left to block storage.
            tracing::warn!(volume = %volume_id, snapshot = %snapshot_id, "assisted snapshot delete: the volume has no overlay");
            return Ok(());
        };
        let dir = g
            .path
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| no_bdm(&volume_id))?;
        let layers = volume_layers(&g.path, &chain);
        let (merge, removed) = match &info.merge_target_file {
            Some(None) => stream_plan(&info, &layers, &dir)?,
            target => commit_plan(&info, target, &top_name, &layers, &dir)?,
        };
        let running = self.guest_running(&s).await?;
        if running {
            let nics = self.server_nics(&s).await?;
            let spec = self.vm_spec(&s, &nics);
            self.inner
                .hypervisor
                .merge_disk(&spec, &volume_id, &merge)
                .await
                .map_err(super::actions::virt)?;
        } else {
            merge_offline(&merge, &layers, &dir).await?;
        }
        self.forget_merged(&s.id, &volume_id, &removed, &dir)
            .await?;
        tracing::info!(server = %s.id, volume = %volume_id, snapshot = %snapshot_id,
            merged = ?removed, running, "assisted volume snapshot deleted");
        Ok(())
    }

    /// Takes the merged layers off the server's record, then removes their files
    /// (a file left behind is only litter).
    async fn forget_merged(
        &self,
        server_id: &str,
        volume_id: &str,
        removed: &[String],
        dir: &Path,
    ) -> ApiResult<()> {
        let (vid, gone) = (volume_id.to_owned(), removed.to_vec());
        self.mutate(server_id, move |s| {
            for f in &gone {
                forget_overlay(s, &vid, f);
            }
            Ok(())
        })
        .await?;
        for f in removed {
            if let Err(e) = tokio::fs::remove_file(dir.join(f)).await {
                tracing::warn!(file = %f, error = %e, "removing a merged overlay");
            }
        }
        Ok(())
    }

    /// Folds every overlay of `volume_id` back into the volume's own file (before
    /// a detach, or once the server is gone): with the guest running, one
    /// active commit; else `qemu-img commit`. The record goes after.
    pub(super) async fn flatten_overlays(
        &self,
        s: &Server,
        volume_id: &str,
        guest_path: &Path,
        running: bool,
    ) -> ApiResult<()> {
        let Some(chain) = s.volume_overlays.get(volume_id).filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let Some(dir) = guest_path.parent() else {
            return Ok(());
        };
        let top = chain.last().map(|t| dir.join(t)).unwrap_or_default();
        if running {
            let nics = self.server_nics(s).await?;
            let spec = self.vm_spec(s, &nics);
            self.inner
                .hypervisor
                .merge_disk(
                    &spec,
                    volume_id,
                    &DiskMerge::Commit {
                        top: top.clone(),
                        base: guest_path.to_path_buf(),
                        active: true,
                    },
                )
                .await
                .map_err(super::actions::virt)?;
        } else {
            commit_file(&top, guest_path).await?;
        }
        let vid = volume_id.to_owned();
        self.mutate(&s.id, move |s| {
            s.volume_overlays.remove(&vid);
            Ok(())
        })
        .await?;
        for f in chain {
            crate::fsutil::discard_async(dir.join(f)).await;
        }
        tracing::info!(server = %s.id, volume = volume_id, layers = chain.len(), "volume overlays merged back");
        Ok(())
    }
}

/// `qemu-img commit` of `top` (and whatever lies between) into `base`.
async fn commit_file(top: &Path, base: &Path) -> ApiResult<()> {
    run_tool(
        "qemu-img",
        &[
            "commit".into(),
            "-q".into(),
            "-b".into(),
            base.to_string_lossy().into_owned(),
            top.to_string_lossy().into_owned(),
        ],
    )
    .await
    .map(drop)
}

/// A merge on a stopped guest's files: `qemu-img commit` (then the layer above
/// is pointed at the base), or a `qemu-img rebase` that pulls the data up.
async fn merge_offline(merge: &DiskMerge, layers: &[String], dir: &Path) -> ApiResult<()> {
    let fmt = |p: &Path| {
        if layers.first().is_some_and(|b| dir.join(b) == p) {
            "raw"
        } else {
            "qcow2"
        }
    };
    match merge {
        DiskMerge::Commit { top, base, active } => {
            commit_file(top, base).await?;
            if !active {
                let name = top.file_name().map(|n| n.to_string_lossy().into_owned());
                let above = layers
                    .iter()
                    .position(|l| Some(l) == name.as_ref())
                    .and_then(|i| layers.get(i + 1));
                if let Some(above) = above {
                    run_tool(
                        "qemu-img",
                        &[
                            "rebase".into(),
                            "-q".into(),
                            "-u".into(),
                            "-b".into(),
                            base.to_string_lossy().into_owned(),
                            "-F".into(),
                            fmt(base).into(),
                            dir.join(above).to_string_lossy().into_owned(),
                        ],
                    )
                    .await?;
                }
            }
            Ok(())
        }
        DiskMerge::Stream { base } => {
            let top = layers.last().map(|t| dir.join(t)).unwrap_or_default();
            run_tool(
                "qemu-img",
                &[
                    "rebase".into(),
                    "-q".into(),
                    "-b".into(),
                    base.to_string_lossy().into_owned(),
                    "-F".into(),
                    fmt(base).into(),
                    top.to_string_lossy().into_owned(),
                ],
            )
            .await
            .map(drop)
        }
    }
}

/// Drops overlay `file` from the record of `volume_id`.
fn forget_overlay(s: &mut Server, volume_id: &str, file: &str) {
    if let Some(c) = s.volume_overlays.get_mut(volume_id) {
        c.retain(|f| f != file);
        if c.is_empty() {
            s.volume_overlays.remove(volume_id);
        }
    }
}

/// Makes an empty qcow2 overlay `new` on `top` (of format `top_format`).
async fn create_overlay(top: &Path, top_format: &str, new: &Path) -> ApiResult<()> {
    run_tool(
        "qemu-img",
        &[
            "create".into(),
            "-q".into(),
            "-f".into(),
            "qcow2".into(),
            "-b".into(),
            top.to_string_lossy().into_owned(),
            "-F".into(),
            top_format.into(),
            new.to_string_lossy().into_owned(),
        ],
    )
    .await?;
    Ok(())
}

/// Every layer of a volume by file name, bottom (the volume's own file) to top.
fn volume_layers(volume_path: &Path, chain: &[String]) -> Vec<String> {
    let base_name = volume_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut layers = vec![base_name];
    layers.extend(chain.iter().cloned());
    layers
}

/// The 400 for a `delete_info` file that is not a layer of the volume.
fn not_in_chain(what: &str, name: &str, volume_id: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input: {what} {name} is not in the chain of volume {volume_id}."
    ))
}

/// Stream (`merge_target_file` null): the layers between `file_to_merge` and the
/// top are pulled into the top and go.
fn stream_plan(
    info: &DeleteInfo,
    layers: &[String],
    dir: &Path,
) -> ApiResult<(DiskMerge, Vec<String>)> {
    let volume_id = &info.volume_id;
    let base = info.file_to_merge.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input: the data of volume {volume_id} must stay in its own file; a stream needs file_to_merge."
        ))
    })?;
    let b = layers
        .iter()
        .position(|l| *l == base)
        .ok_or_else(|| not_in_chain("file_to_merge", &base, volume_id))?;
    if b + 1 >= layers.len() {
        return Err(not_in_chain("file_to_merge", &base, volume_id));
    }
    Ok((
        DiskMerge::Stream {
            base: dir.join(&base),
        },
        layers[b + 1..layers.len() - 1].to_vec(),
    ))
}

/// Commit `file_to_merge` (default: the top) into the file below it, which must be
/// `merge_target_file` when that is given.
fn commit_plan(
    info: &DeleteInfo,
    target: &Option<Option<String>>,
    top_name: &str,
    layers: &[String],
    dir: &Path,
) -> ApiResult<(DiskMerge, Vec<String>)> {
    let volume_id = &info.volume_id;
    let top = info
        .file_to_merge
        .clone()
        .unwrap_or_else(|| top_name.to_owned());
    let t = layers
        .iter()
        .position(|l| *l == top)
        .filter(|t| *t > 0)
        .ok_or_else(|| not_in_chain("file_to_merge", &top, volume_id))?;
    let base = layers[t - 1].clone();
    if let Some(Some(want)) = target
        && *want != base
    {
        return Err(not_in_chain("merge_target_file", want, volume_id));
    }
    Ok((
        DiskMerge::Commit {
            top: dir.join(&top),
            base: dir.join(&base),
            active: t == layers.len() - 1,
        },
        vec![top],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_file_must_be_a_plain_name_in_the_directory() {
        let d = Path::new("/v");
        assert_eq!(
            file_in(d, "new_file").unwrap(),
            PathBuf::from("/v/new_file")
        );
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b"] {
            assert!(file_in(d, bad).is_err(), "{bad}");
        }
    }
}
