//! Where volume data lives, behind one trait. The default backend keeps each volume
//! as a sparse raw file in the state directory (`volumes/volume-<id>`), which QEMU
//! and cloud-hypervisor attach directly.
//!
//! Every operation is idempotent, so a task interrupted by a crash is finished by
//! running the same step again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub(super) const GIB: u64 = 1 << 30;

/// Storage for volumes.
pub(super) trait Backend: Send + Sync {
    /// Makes a blank volume of `size_gib`, or finds the one a previous attempt made.
    fn create(&self, id: &str, size_gib: u64) -> io::Result<()>;
    /// Makes a volume of `size_gib` holding a copy of the file at `source` (a
    /// snapshot or another volume), or finds the one a previous attempt made.
    fn create_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()>;
    /// Makes a volume of `size_gib` from an image file in `format`, converted to
    /// raw (`qemu-img convert`), or finds the one a previous attempt made.
    fn create_from_image(
        &self,
        id: &str,
        size_gib: u64,
        image: &Path,
        format: &str,
    ) -> io::Result<()>;
    /// Rewrites volume `id` (of `size_gib`) with an image file in `format`,
    /// converted to raw, in place (`os-reimage`): whatever consumer holds the
    /// volume open (an iSCSI target) keeps the same file. Running it again
    /// after a crash writes the image again.
    fn reimage(&self, id: &str, size_gib: u64, image: &Path, format: &str) -> io::Result<()>;
    /// Copies volume `volume` to snapshot `snapshot` (a complete copy or none).
    fn snapshot(&self, volume: &str, snapshot: &str) -> io::Result<()>;
    /// Removes a snapshot; a missing one is already removed.
    fn snapshot_delete(&self, snapshot: &str) -> io::Result<()>;
    /// Where a snapshot's data lives.
    fn snapshot_path(&self, snapshot: &str) -> PathBuf;
    /// Grows a volume to `size_gib` (never shrinks).
    fn extend(&self, id: &str, size_gib: u64) -> io::Result<()>;
    /// Removes a volume; a missing one is already removed.
    fn delete(&self, id: &str) -> io::Result<()>;
    /// The path a hypervisor opens, and its format.
    fn local_path(&self, id: &str) -> PathBuf;
    /// Replaces a volume's data with a copy of `source` (a backup), at least
    /// `size_gib` long.
    fn restore_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()>;
    /// Takes over storage this service does not manage (`manage`): the file `name`
    /// in the backend's directory becomes volume `id` (a snapshot's with
    /// `snapshot`). Done already when `name` is gone and the target exists.
    fn adopt(&self, id: &str, name: &str, snapshot: bool) -> io::Result<()>;
    /// The size in bytes of unmanaged storage `name`, if it exists.
    fn unmanaged_size(&self, name: &str) -> io::Result<Option<u64>>;
    /// (total, free) GiB of the storage, as the scheduler's pool stats report it.
    fn capacity_gib(&self) -> io::Result<(u64, u64)>;
}

/// Sparse raw files in one directory.
pub(super) struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    pub(super) fn open(dir: &Path) -> io::Result<FileBackend> {
        std::fs::create_dir_all(dir)?;
        // Volumes hold tenants' data: owner-only, whatever the umask gave.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        // A temp file a crash left behind is an unfinished create: its task redoes it.
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(FileBackend {
            dir: dir.to_owned(),
        })
    }

    fn tmp_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("volume-{id}.tmp"))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    /// Copies `source` to `dest` through a temp file (holes stay holes), growing it
    /// to at least `min_len`; `dest` appears only complete.
    fn copy_into(&self, source: &Path, dest: &Path, min_len: u64) -> io::Result<()> {
        if dest.exists() {
            return Ok(());
        }
        copy_whole(source, dest, min_len)
    }
}

/// Writes an image file in `format` as raw data onto the existing `dest`
/// (`qemu-img convert -n`: no new file, zeros not written), then syncs it.
pub(super) fn convert_into(image: &Path, format: &str, dest: &Path) -> io::Result<()> {
    let out = std::process::Command::new("qemu-img")
        .args([
            "convert",
            "-q",
            "-n",
            "--target-is-zero",
            "-f",
            format,
            "-O",
            "raw",
        ])
        .arg(image)
        .arg(dest)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "qemu-img convert of the image failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    OpenOptions::new().write(true).open(dest)?.sync_all()
}

/// Copies `source` to `dest` (replacing it) through `dest.tmp`, sparse, owner-only,
/// at least `min_len` long; `dest` appears only complete, and the directory entry is
/// synced. Running it again after a crash redoes the copy.
pub(super) fn copy_whole(source: &Path, dest: &Path, min_len: u64) -> io::Result<()> {
    let tmp = dest.with_extension("tmp");
    let mut src = File::open(source)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    sparse_copy(&mut src, &mut out)?;
    if out.metadata()?.len() < min_len {
        out.set_len(min_len)?;
    }
    out.sync_all()?;
    std::fs::rename(&tmp, dest)?;
    if let Some(dir) = dest.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Copies a file's data regions only (SEEK_DATA/SEEK_HOLE), so a sparse volume
/// stays sparse and a copy costs what the volume holds, not its size.
fn sparse_copy(src: &mut File, out: &mut File) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let len = src.metadata()?.len();
    out.set_len(len)?;
    let mut pos = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while pos < len {
        let data = match rustix::fs::seek(&*src, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) => d,
            // ENXIO: no data after pos.
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = rustix::fs::seek(&*src, rustix::fs::SeekFrom::Hole(data))
            .map_err(io::Error::from)?
            .min(len);
        src.seek(SeekFrom::Start(data))?;
        out.seek(SeekFrom::Start(data))?;
        let mut left = hole - data;
        while left > 0 {
            let n = (left as usize).min(buf.len());
            src.read_exact(&mut buf[..n])?;
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        pos = hole;
    }
    Ok(())
}

impl Backend for FileBackend {
    fn adopt(&self, id: &str, name: &str, snapshot: bool) -> io::Result<()> {
        let target = if snapshot {
            self.snapshot_path(id)
        } else {
            self.local_path(id)
        };
        let source = self.dir.join(name);
        if !source.exists() && target.exists() {
            return Ok(());
        }
        std::fs::rename(&source, &target)?;
        self.sync_dir()
    }

    fn unmanaged_size(&self, name: &str) -> io::Result<Option<u64>> {
        match std::fs::metadata(self.dir.join(name)) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn restore_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()> {
        copy_whole(source, &self.local_path(id), size_gib * GIB)
    }

    fn capacity_gib(&self) -> io::Result<(u64, u64)> {
        let st = rustix::fs::statvfs(&self.dir)?;
        Ok((
            st.f_blocks * st.f_frsize / GIB,
            st.f_bavail * st.f_frsize / GIB,
        ))
    }

    fn create(&self, id: &str, size_gib: u64) -> io::Result<()> {
        let path = self.local_path(id);
        if path.exists() {
            return self.extend(id, size_gib);
        }
        let tmp = self.tmp_path(id);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_len(size_gib * GIB)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        self.sync_dir()
    }

    fn create_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()> {
        self.copy_into(source, &self.local_path(id), size_gib * GIB)?;
        self.extend(id, size_gib)
    }

    fn create_from_image(
        &self,
        id: &str,
        size_gib: u64,
        image: &Path,
        format: &str,
    ) -> io::Result<()> {
        let dest = self.local_path(id);
        if !dest.exists() {
            let tmp = self.tmp_path(id);
            let out = std::process::Command::new("qemu-img")
                .args(["convert", "-q", "-f", format, "-O", "raw"])
                .arg(image)
                .arg(&tmp)
                .stdin(std::process::Stdio::null())
                .output()?;
            if !out.status.success() {
                crate::fsutil::discard(&tmp);
                return Err(io::Error::other(format!(
                    "qemu-img convert of the image failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let f = OpenOptions::new().write(true).open(&tmp)?;
            // qemu-img created it with the umask's mode.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            if f.metadata()?.len() < size_gib * GIB {
                f.set_len(size_gib * GIB)?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &dest)?;
            self.sync_dir()?;
        }
        self.extend(id, size_gib)
    }

    fn reimage(&self, id: &str, size_gib: u64, image: &Path, format: &str) -> io::Result<()> {
        let dest = self.local_path(id);
        // Emptied first (all holes), so nothing of the old data outlives the
        // image and the copy stays sparse; same inode throughout.
        let f = OpenOptions::new().write(true).open(&dest)?;
        f.set_len(0)?;
        f.set_len(size_gib * GIB)?;
        f.sync_all()?;
        convert_into(image, format, &dest)
    }

    fn snapshot(&self, volume: &str, snapshot: &str) -> io::Result<()> {
        self.copy_into(&self.local_path(volume), &self.snapshot_path(snapshot), 0)
    }

    fn snapshot_delete(&self, snapshot: &str) -> io::Result<()> {
        let p = self.snapshot_path(snapshot);
        for p in [p.clone(), p.with_extension("tmp")] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.sync_dir()
    }

    fn snapshot_path(&self, snapshot: &str) -> PathBuf {
        self.dir.join(format!("snapshot-{snapshot}"))
    }

    fn extend(&self, id: &str, size_gib: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.local_path(id))?;
        if f.metadata()?.len() < size_gib * GIB {
            f.set_len(size_gib * GIB)?;
            f.sync_all()?;
        }
        Ok(())
    }

    fn delete(&self, id: &str) -> io::Result<()> {
        for p in [self.local_path(id), self.tmp_path(id)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.sync_dir()
    }

    fn local_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("volume-{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_sparse_idempotent_and_extend_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = FileBackend::open(dir.path()).expect("open");
        b.create("a", 10).expect("create");
        b.create("a", 10).expect("create again");
        let md = std::fs::metadata(b.local_path("a")).expect("stat");
        assert_eq!(md.len(), 10 * GIB);
        use std::os::unix::fs::MetadataExt;
        assert!(md.blocks() * 512 < GIB, "a new volume takes no space");
        assert_eq!(md.mode() & 0o777, 0o600, "a volume is owner-only");
        let dmode = std::fs::metadata(dir.path()).expect("stat dir").mode();
        assert_eq!(dmode & 0o777, 0o700, "the volume directory is owner-only");
        b.extend("a", 12).expect("extend");
        b.extend("a", 11).expect("never shrinks");
        assert_eq!(
            std::fs::metadata(b.local_path("a")).expect("stat").len(),
            12 * GIB
        );
        b.delete("a").expect("delete");
        b.delete("a").expect("delete again");
        assert!(!b.local_path("a").exists());
    }

    #[test]
    fn snapshots_and_clones_copy_data_and_keep_holes() {
        use std::io::{Seek, SeekFrom, Write};
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let b = FileBackend::open(dir.path()).expect("open");
        b.create("v", 2).expect("create");
        let mut f = OpenOptions::new()
            .write(true)
            .open(b.local_path("v"))
            .expect("open");
        f.seek(SeekFrom::Start(GIB + 4096)).expect("seek");
        f.write_all(b"hello").expect("write");
        f.sync_all().expect("sync");
        b.snapshot("v", "s").expect("snapshot");
        b.create_from("w", 3, &b.snapshot_path("s")).expect("clone");
        let mut w = File::open(b.local_path("w")).expect("open");
        assert_eq!(w.metadata().expect("stat").len(), 3 * GIB);
        w.seek(SeekFrom::Start(GIB + 4096)).expect("seek");
        let mut got = [0u8; 5];
        std::io::Read::read_exact(&mut w, &mut got).expect("read");
        assert_eq!(&got, b"hello");
        let md = std::fs::metadata(b.local_path("w")).expect("stat");
        assert!(md.blocks() * 512 < 16 << 20, "the clone stays sparse");
        b.snapshot_delete("s").expect("delete");
        b.snapshot_delete("s").expect("delete again");
        assert!(!b.snapshot_path("s").exists());
    }

    #[test]
    fn leftover_temp_files_are_cleared_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("volume-x.tmp"), b"half").expect("write");
        let b = FileBackend::open(dir.path()).expect("open");
        assert!(!dir.path().join("volume-x.tmp").exists());
        assert!(!b.local_path("x").exists());
    }
}
