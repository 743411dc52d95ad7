//! Where volume data lives, behind one trait. The default backend keeps each volume
//! as a sparse raw file in the state directory (`volumes/volume-<id>`), which QEMU
//! and cloud-hypervisor attach directly.
//!
//! Every operation is idempotent, so a task interrupted by a crash is finished by
//! running the same step again.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

pub const GIB: u64 = 1 << 30;

/// Storage for volumes.
pub trait Backend: Send + Sync {
    /// Makes a blank volume of `size_gib`, or finds the one a previous attempt made.
    fn create(&self, id: &str, size_gib: u64) -> io::Result<()>;
    /// Grows a volume to `size_gib` (never shrinks).
    fn extend(&self, id: &str, size_gib: u64) -> io::Result<()>;
    /// Removes a volume; a missing one is already removed.
    fn delete(&self, id: &str) -> io::Result<()>;
    /// The path a hypervisor opens, and its format.
    fn local_path(&self, id: &str) -> PathBuf;
}

/// Sparse raw files in one directory.
pub struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    pub fn open(dir: &Path) -> io::Result<FileBackend> {
        std::fs::create_dir_all(dir)?;
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
}

impl Backend for FileBackend {
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
            .open(&tmp)?;
        f.set_len(size_gib * GIB)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        self.sync_dir()
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
    fn leftover_temp_files_are_cleared_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("volume-x.tmp"), b"half").expect("write");
        let b = FileBackend::open(dir.path()).expect("open");
        assert!(!dir.path().join("volume-x.tmp").exists());
        assert!(!b.local_path("x").exists());
    }
}
