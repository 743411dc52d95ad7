//! Crash-safe file writes: temp file, fsync, rename, fsync of the directory.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Replaces `path` with `data` so that a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .context("a file to write atomically needs a parent directory")?;
    let name = path.file_name().context("file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        discard(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Removes a file a step leaves behind (a temp file, a disk of a deleted guest):
/// already gone is fine; any other failure is logged with its cause, as the
/// caller has nothing better to do than go on.
pub fn discard(path: impl AsRef<Path>) {
    let path = path.as_ref();
    warn_unless_gone(std::fs::remove_file(path), path);
}

/// `discard` for a directory tree.
pub fn discard_dir(path: impl AsRef<Path>) {
    let path = path.as_ref();
    warn_unless_gone(std::fs::remove_dir_all(path), path);
}

/// `discard` off the async threads.
pub async fn discard_async(path: impl AsRef<Path>) {
    let path = path.as_ref();
    warn_unless_gone(tokio::fs::remove_file(path).await, path);
}

fn warn_unless_gone(removed: std::io::Result<()>, path: &Path) {
    if let Err(e) = removed
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove it");
    }
}

/// Makes a state file owner-only (0600), or a state directory (0700), whatever the
/// umask gave it; a missing path is left alone.
pub fn make_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    if meta.permissions().mode() & 0o777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("creds");
        write_atomic(&p, b"one", 0o600).expect("first");
        write_atomic(&p, b"two", 0o600).expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "no temp files left");
    }
}
