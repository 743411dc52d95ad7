//! Unix socket paths that fit `sun_path` (108 bytes with the terminating NUL on
//! Linux). A deep state directory — a home directory, a test's temporary directory —
//! makes `<state>/instances/<uuid>/serial.sock` longer than that, and QEMU or
//! cloud-hypervisor then refuse to start. The sockets of such a run directory are
//! reached through a short symlink to it, `<root>/<16 hex digits of the SHA-256 of
//! the run directory>`, so the socket files still live, and go, with the instance.
//! The link's name depends only on the run directory: a restarted onestack computes
//! the same path and adopts the running VMM through it.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `sun_path`'s size, NUL included.
const SUN_PATH_MAX: usize = 108;

/// The longest socket file name a driver uses (`serial.sock`, `qmp.sock`, `ch.sock`).
const MAX_NAME: usize = 16;

/// The path through which `name` in `run_dir` is bound and connected.
pub fn socket_path(run_dir: &Path, name: &str) -> PathBuf {
    debug_assert!(name.len() <= MAX_NAME, "socket name {name} too long");
    if fits(run_dir) {
        run_dir.join(name)
    } else {
        short_dir(run_dir).join(name)
    }
}

/// Makes (or repairs) the short link when `run_dir` needs one; called before a VMM
/// binds its sockets. Links live on a tmpfs (`/run` as root), which a reboot clears
/// along with the VMMs, and are made again at the next launch.
pub fn prepare(run_dir: &Path) -> io::Result<()> {
    if fits(run_dir) {
        return Ok(());
    }
    let link = short_dir(run_dir);
    if std::fs::read_link(&link).is_ok_and(|target| target == run_dir) {
        return Ok(());
    }
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    remove_link(&link)?;
    std::os::unix::fs::symlink(run_dir, &link)
}

/// Removes the short link of `run_dir`, if it has one (its instance is gone).
pub fn release(run_dir: &Path) -> io::Result<()> {
    if fits(run_dir) {
        return Ok(());
    }
    remove_link(&short_dir(run_dir))
}

fn remove_link(link: &Path) -> io::Result<()> {
    match std::fs::remove_file(link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether every socket of `run_dir` fits `sun_path` directly.
fn fits(run_dir: &Path) -> bool {
    run_dir.as_os_str().len() + 1 + MAX_NAME < SUN_PATH_MAX
}

fn short_dir(run_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(run_dir.as_os_str().as_bytes());
    link_root().join(hex::encode(&digest[..8]))
}

/// `/run/onestack/sockets` for root (the daemon); a per-user directory under the
/// temporary directory otherwise, where `/run` is not writable.
fn link_root() -> PathBuf {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        PathBuf::from("/run/onestack/sockets")
    } else {
        std::env::temp_dir().join(format!("onestack-{}-sockets", uid.as_raw()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_run_dirs_keep_their_own_paths() {
        let dir = Path::new("/var/lib/onestack/instances/0d1e5b8a-3c2f-4e7a-9b1c-2d3e4f5a6b7c");
        assert_eq!(socket_path(dir, "qmp.sock"), dir.join("qmp.sock"));
        prepare(dir).expect("nothing to prepare");
        release(dir).expect("nothing to release");
    }

    #[test]
    fn long_run_dirs_are_reached_through_a_short_link() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run_dir = tmp.path().join("a".repeat(60)).join("b".repeat(40));
        std::fs::create_dir_all(&run_dir).expect("run dir");
        let sock = socket_path(&run_dir, "serial.sock");
        assert!(sock.as_os_str().len() < SUN_PATH_MAX, "{}", sock.display());
        assert_eq!(sock, socket_path(&run_dir, "serial.sock"), "deterministic");
        assert_ne!(
            short_dir(&run_dir),
            short_dir(&run_dir.join("c")),
            "one link per run directory"
        );

        prepare(&run_dir).expect("link");
        prepare(&run_dir).expect("idempotent");
        let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind via the link");
        assert!(
            run_dir.join("serial.sock").exists(),
            "the socket lives in the run dir"
        );
        std::os::unix::net::UnixStream::connect(&sock).expect("connect via the link");
        drop(listener);

        release(&run_dir).expect("release");
        assert!(std::fs::symlink_metadata(short_dir(&run_dir)).is_err());
        release(&run_dir).expect("release is idempotent");
    }
}
