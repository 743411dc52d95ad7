//! What a server is on this host: its directory, root disk (a qcow2 overlay on a
//! cached base image), config drive, and the `VmSpec` a driver runs.

use std::path::{Path, PathBuf};

use super::ComputeService;
use super::model::Server;
use crate::http::context::{NamedRef, RequestContext, Scope};
use crate::http::error::{ApiError, ApiResult};
use crate::image::model::Image;
use crate::network::instance::InstanceNic;
use crate::virt::{BootSource, DiskFormat, DiskKind, DiskSpec, NicSpec, VmSpec};

const GIB: u64 = 1 << 30;

/// Files of one server under `<state>/instances/<id>/`.
pub(crate) struct InstancePaths {
    pub dir: PathBuf,
    pub disk: PathBuf,
    /// The root disk as it was before a resize, kept until confirm/revert.
    pub disk_before_resize: PathBuf,
    /// The rescue image's disk, booted first while the server is RESCUE.
    pub rescue_disk: PathBuf,
    pub config_drive: PathBuf,
    pub kernel: PathBuf,
    pub ramdisk: PathBuf,
}

/// A disk backed by a file on this host; a CD-ROM is read-only.
fn host_disk(id: &str, path: &std::path::Path, format: DiskFormat, kind: DiskKind) -> DiskSpec {
    DiskSpec {
        id: id.into(),
        path: path.to_path_buf(),
        format,
        kind,
        read_only: kind == DiskKind::Cdrom,
        iscsi: None,
    }
}

impl ComputeService {
    pub(crate) fn paths(&self, id: &str) -> InstancePaths {
        let dir = self.inner.config.instances_dir.join(id);
        InstancePaths {
            disk: dir.join("disk"),
            disk_before_resize: dir.join("disk.resize-orig"),
            rescue_disk: dir.join("disk.rescue"),
            config_drive: dir.join("disk.config"),
            kernel: dir.join("kernel"),
            ramdisk: dir.join("ramdisk"),
            dir,
        }
    }

    /// The VM as the driver runs it, from the server record and its NICs.
    pub(crate) fn vm_spec(&self, s: &Server, nics: &[InstanceNic]) -> VmSpec {
        let p = self.paths(&s.id);
        let mut volumes = self.volume_disks(&s.id);
        super::assisted_snapshots::apply_overlays(s, &mut volumes);
        // A volume-backed server boots its root volume (`/dev/vda`, first).
        let root_volume = s
            .boot_volume()
            .and_then(|b| volumes.iter().position(|d| d.id == b.volume_id))
            .map(|i| volumes.remove(i));
        let mut disks = vec![
            root_volume
                .unwrap_or_else(|| host_disk("root", &p.disk, DiskFormat::Qcow2, DiskKind::Disk)),
        ];
        if s.vm_state == super::model::VmState::Rescued && p.rescue_disk.exists() {
            // Nova's rescue: the rescue image boots, the original disk comes second.
            disks[0].id = "disk".into();
            let rescue = host_disk("rescue", &p.rescue_disk, DiskFormat::Qcow2, DiskKind::Disk);
            disks.insert(0, rescue);
        }
        if s.config_drive && p.config_drive.exists() {
            disks.push(host_disk(
                "config",
                &p.config_drive,
                DiskFormat::Raw,
                DiskKind::Cdrom,
            ));
        }
        disks.extend(volumes);
        let boot = if p.kernel.exists() {
            BootSource::Kernel {
                kernel: p.kernel.clone(),
                initrd: p.ramdisk.exists().then(|| p.ramdisk.clone()),
                cmdline: "root=/dev/vda console=tty0 console=ttyS0".into(),
            }
        } else {
            BootSource::Firmware
        };
        VmSpec {
            instance_id: s.id.clone(),
            name: s.instance_name.clone(),
            vcpus: s.flavor.vcpus.max(1) as u32,
            memory_mb: s.flavor.ram.max(64) as u64,
            disks,
            nics: nics
                .iter()
                .map(|n| NicSpec {
                    port_id: n.port.std.id.clone(),
                    tap: crate::dataplane::plan::tap_name(&n.port.std.id),
                    mac: n.port.mac_address.clone(),
                })
                .collect(),
            boot,
            run_dir: p.dir,
            netns: self.inner.config.netns.clone(),
        }
    }

    /// Creates the root disk: the image cached once under `_base` (images are
    /// immutable once active), and a qcow2 overlay grown to the flavor's size.
    /// Written to a temp name and renamed, so a crash never leaves half a disk.
    pub(crate) async fn prepare_root_disk(
        &self,
        s: &Server,
        image: &Image,
        target: &Path,
    ) -> ApiResult<()> {
        let base = self.cached_base(image).await?;
        let fmt = base_format(image);
        let tmp = target.with_extension("tmp");
        crate::fsutil::discard_async(&tmp).await;
        let mut args = vec![
            "create".to_owned(),
            "-q".into(),
            "-f".into(),
            "qcow2".into(),
            "-F".into(),
            fmt.into(),
            "-b".into(),
            base.display().to_string(),
            tmp.display().to_string(),
        ];
        let image_bytes = image.virtual_size.or(image.size).unwrap_or(0).max(0) as u64;
        let flavor_bytes = s.flavor.disk.max(0) as u64 * GIB;
        if flavor_bytes > image_bytes {
            args.push(flavor_bytes.to_string());
        }
        run_tool("qemu-img", &args).await?;
        tokio::fs::rename(&tmp, target).await.map_err(io_err)?;
        Ok(())
    }

    /// Makes the base file of an image ahead of a build (image pre-caching).
    pub(crate) async fn cache_image(&self, image: &Image) -> ApiResult<()> {
        self.cached_base(image).await.map(drop)
    }

    /// `<instances>/_base/<image id>`: a hard link to the image file (a copy
    /// across filesystems), or a qcow2 conversion for formats QEMU cannot back on.
    async fn cached_base(&self, image: &Image) -> ApiResult<PathBuf> {
        let base_dir = self.inner.config.instances_dir.join("_base");
        tokio::fs::create_dir_all(&base_dir).await.map_err(io_err)?;
        let base = base_dir.join(&image.id);
        if base.exists() {
            return Ok(base);
        }
        let src = self.inner.image.file_path(&image.id);
        // A temp name per call: concurrent builds of one image each make their own
        // and the last atomic rename wins (the contents are the same).
        let tmp = base_dir.join(format!(
            ".tmp-{}-{}",
            image.id,
            uuid::Uuid::new_v4().simple()
        ));
        if matches!(image.disk_format.as_deref(), Some("qcow2" | "raw")) {
            if tokio::fs::hard_link(&src, &tmp).await.is_err() {
                tokio::fs::copy(&src, &tmp).await.map_err(io_err)?;
            }
        } else {
            let args = [
                "convert",
                "-q",
                "-O",
                "qcow2",
                &src.display().to_string(),
                &tmp.display().to_string(),
            ]
            .map(str::to_owned);
            run_tool("qemu-img", &args).await?;
        }
        tokio::fs::rename(&tmp, &base).await.map_err(io_err)?;
        Ok(base)
    }

    /// Copies an aki/ari image referenced by the boot image into the instance dir
    /// (direct kernel boot).
    pub(crate) async fn copy_boot_file(&self, image_id: &str, dest: &Path) -> ApiResult<()> {
        let src = self.inner.image.file_path(image_id);
        let tmp = dest.with_extension("tmp");
        tokio::fs::copy(&src, &tmp).await.map_err(io_err)?;
        tokio::fs::rename(&tmp, dest).await.map_err(io_err)?;
        Ok(())
    }
}

/// The format of the cached base: as uploaded for qcow2/raw, converted otherwise.
fn base_format(image: &Image) -> &'static str {
    match image.disk_format.as_deref() {
        Some("raw") => "raw",
        _ => "qcow2",
    }
}

pub(crate) fn io_err(e: std::io::Error) -> ApiError {
    ApiError::Internal(e.into())
}

/// Runs a host tool (qemu-img), returning stdout; a failure carries stderr.
pub(crate) async fn run_tool(program: &str, args: &[String]) -> ApiResult<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "{program} {} failed: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The rights a background task acts with for a server's owner, as Nova keeps
/// the request context of a build: the owner, member of the server's project.
pub(crate) fn owner_context(s: &Server) -> RequestContext {
    let now = chrono::Utc::now();
    RequestContext {
        user: NamedRef {
            id: s.user_id.clone(),
            name: String::new(),
        },
        user_domain: NamedRef {
            id: "default".into(),
            name: "Default".into(),
        },
        scope: Scope::Project {
            project: NamedRef {
                id: s.project_id.clone(),
                name: String::new(),
            },
            domain: NamedRef {
                id: "default".into(),
                name: "Default".into(),
            },
        },
        roles: vec![
            NamedRef {
                id: String::new(),
                name: "member".into(),
            },
            NamedRef {
                id: String::new(),
                name: "reader".into(),
            },
        ],
        methods: vec![],
        audit_ids: vec![],
        issued_at: now,
        expires_at: now + chrono::Duration::hours(1),
        application_credential: None,
        trust: None,
    }
}
