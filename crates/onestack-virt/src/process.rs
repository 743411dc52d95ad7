//! VMM process bookkeeping shared by the drivers: pid files, liveness through
//! /proc, recognising our own process after a restart, and stopping it by pid.

use std::path::Path;
use std::time::{Duration, Instant};

/// The pid recorded in `path`, if the file exists and holds a number.
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// True when `pid` names a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state letter follows the parenthesised command name, which may contain spaces.
    match stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
    {
        Some(state) => state != "Z" && state != "X",
        None => false,
    }
}

/// True when the live process `pid` has `needle` somewhere in its command line: a
/// pid file can outlive its process and the pid be reused by something else.
pub fn cmdline_contains(pid: u32, needle: &str) -> bool {
    if !alive(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => raw
            .split(|b| *b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(needle)),
        Err(_) => false,
    }
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return Err(std::io::Error::other(format!("pid {pid} out of range")));
    };
    if raw <= 1 {
        return Err(std::io::Error::other(format!(
            "refusing to signal pid {pid}"
        )));
    }
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    let rc = unsafe { libc::kill(raw, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Waits until `pid` is gone or `timeout` passes; true when it is gone.
pub async fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGKILL and wait for the process to disappear.
pub async fn kill_and_wait(pid: u32) -> std::io::Result<()> {
    signal(pid, libc::SIGKILL)?;
    if wait_exit(pid, Duration::from_secs(10)).await {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "pid {pid} survived SIGKILL for 10 s"
        )))
    }
}

/// Resident set size of `pid` in KiB (`VmRSS` in /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Removes a file, treating "not there" as success.
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_recognised() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert!(!cmdline_contains(me, "no-such-argument-3f1c"));
        assert!(!alive(u32::MAX - 1));
    }

    #[test]
    fn refuses_to_signal_init() {
        assert!(signal(1, libc::SIGKILL).is_err());
        assert!(signal(0, libc::SIGKILL).is_err());
    }
}

/// The version a VMM binary prints for `--version`, as Nova encodes hypervisor
/// versions (major * 1,000,000 + minor * 1,000 + micro); None when it cannot run.
pub fn binary_version(binary: &Path) -> Option<u64> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The first `X.Y[.Z]` number in `text` (`QEMU emulator version 10.0.2 (...)`,
/// `cloud-hypervisor v40.0.0`), encoded as `binary_version` says.
pub fn parse_version(text: &str) -> Option<u64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| w.contains('.'))
        .find_map(|w| {
            let mut parts = w.split('.').map(|p| p.parse::<u64>().ok());
            let major = parts.next()??;
            let minor = parts.next()??;
            let micro = parts.next().flatten().unwrap_or(0);
            Some(major * 1_000_000 + minor.min(999) * 1_000 + micro.min(999))
        })
}

#[cfg(test)]
mod version_tests {
    use super::parse_version;

    #[test]
    fn versions_as_nova_encodes_them() {
        assert_eq!(
            parse_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1~bpo12+1)\n"),
            Some(10_000_002)
        );
        assert_eq!(parse_version("cloud-hypervisor v40.0\n"), Some(40_000_000));
        assert_eq!(parse_version("no version here"), None);
    }
}
