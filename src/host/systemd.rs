//! The systemd unit and the client files DevStack leaves behind
//! (`/etc/openstack/clouds.yaml`, openrc files), written only when they differ.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::dataplane::cmd::run_sync;

pub(crate) const UNIT_NAME: &str = "onestack.service";

/// The unit: after the network is online, restarted on failure. `KillMode=process`
/// stops only the control plane, so instances' VMM processes (and dnsmasq) survive
/// a service restart and are re-adopted by the reconciler. `ExecStartPre` puts back
/// the host networking that a reboot loses (br-ex, its address, the NAT table).
pub(crate) fn unit_text(binary: &Path, state_dir: &Path, profile: &Path) -> String {
    let bin = binary.display();
    let state = state_dir.display();
    let profile = profile.display();
    format!(
        "[Unit]\n\
         Description=onestack, an OpenStack-compatible cloud in one process\n\
         Documentation=https://docs.openstack.org/api-quick-start/\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStartPre={bin} --state-dir {state} host-restore\n\
         ExecStart={bin} --state-dir {state} up --profile {profile}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         KillMode=process\n\
         TimeoutStopSec=60\n\
         LimitNOFILE=65536\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// Whether systemd runs this machine (PID 1), as `sd_booted()` decides.
pub(crate) fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Writes `path` with `mode` when its content differs; returns whether it changed.
pub(crate) fn write_if_changed(
    path: &Path,
    data: &str,
    mode: u32,
    dry_run: bool,
) -> anyhow::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let same = std::fs::read(path).is_ok_and(|b| b == data.as_bytes())
        && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode);
    if same {
        return Ok(false);
    }
    if !dry_run {
        let dir = path.parent().context("a file needs a directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        crate::fsutil::write_atomic(path, data.as_bytes(), mode)?;
    }
    Ok(true)
}

/// `systemctl daemon-reload` and a restart when the unit or profile changed, then
/// enable and start the unit when it is not yet. Returns the commands it ran.
pub(crate) fn enable(restart: bool) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let sc = |args: &[&str]| -> Vec<String> {
        std::iter::once("systemctl")
            .chain(args.iter().copied())
            .map(String::from)
            .collect()
    };
    let run = |argv: Vec<String>, done: &mut Vec<String>| -> anyhow::Result<()> {
        run_sync(&argv, None)?;
        done.push(argv.join(" "));
        Ok(())
    };
    if restart {
        run(sc(&["daemon-reload"]), &mut done)?;
    }
    if run_sync(&sc(&["is-enabled", "--quiet", UNIT_NAME]), None).is_err() {
        run(sc(&["enable", UNIT_NAME]), &mut done)?;
    }
    if restart {
        run(sc(&["restart", UNIT_NAME]), &mut done)?;
    } else if run_sync(&sc(&["is-active", "--quiet", UNIT_NAME]), None).is_err() {
        run(sc(&["start", UNIT_NAME]), &mut done)?;
    }
    Ok(done)
}

/// Stops and disables the unit (when systemd runs) and removes its file.
pub(crate) fn remove(unit_dir: &Path) -> anyhow::Result<Vec<String>> {
    remove_unit(unit_dir, UNIT_NAME)
}

/// Stops and disables the unit `name` (when systemd runs) and removes its file.
pub(crate) fn remove_unit(unit_dir: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let path = unit_dir.join(name);
    if systemd_booted() && path.exists() {
        for args in [
            ["disable", "--now"].as_slice(),
            ["daemon-reload"].as_slice(),
        ] {
            let mut argv = vec!["systemctl".to_string()];
            argv.extend(args.iter().map(|s| s.to_string()));
            if args[0] == "disable" {
                argv.push(name.into());
            }
            if let Err(e) = run_sync(&argv, None) {
                tracing::warn!(error = %e, "systemctl");
            }
            done.push(argv.join(" "));
        }
    }
    match std::fs::remove_file(&path) {
        Ok(()) => done.push(format!("removed {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    Ok(done)
}

/// `<etc>/systemd/system` unless overridden.
pub fn default_unit_dir(etc: &Path) -> PathBuf {
    etc.join("systemd/system")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_has_the_restart_rules() {
        let u = unit_text(
            Path::new("/usr/local/bin/onestack"),
            Path::new("/var/lib/onestack"),
            Path::new("/var/lib/onestack/profile.toml"),
        );
        for line in [
            "After=network-online.target",
            "Wants=network-online.target",
            "Restart=on-failure",
            "KillMode=process",
            "ExecStart=/usr/local/bin/onestack --state-dir /var/lib/onestack up --profile /var/lib/onestack/profile.toml",
        ] {
            assert!(u.lines().any(|l| l == line), "{line} missing:\n{u}");
        }
    }

    #[test]
    fn writes_once() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("a/b");
        assert!(write_if_changed(&p, "x", 0o600, false).expect("write"));
        assert!(!write_if_changed(&p, "x", 0o600, false).expect("write"));
        assert!(write_if_changed(&p, "x", 0o644, false).expect("mode"));
        assert!(write_if_changed(&p, "y", 0o644, true).expect("dry"));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "x");
    }
}
