//! Moving the calling thread into a network namespace, for the sockets that must be
//! opened inside one (metadata listeners, gratuitous ARP, route-change netlink).
//! Only the calling thread moves, so callers use a dedicated thread that ends once
//! its socket is open and never hand a moved thread back to a pool.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Moves the calling thread into the namespace `file` (an open `/run/netns/<name>`).
pub fn enter(file: &File) -> std::io::Result<()> {
    // SAFETY: setns(2) on a valid namespace fd; it changes only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the namespace at `path` and moves the calling thread into it.
pub fn enter_path(path: &Path) -> std::io::Result<()> {
    enter(&File::open(path)?)
}
