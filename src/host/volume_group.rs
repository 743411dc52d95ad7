//! The LVM volume group of the `lvm` volume backend, on a sparse loop file in the
//! state directory (DevStack's `stack-volumes-lvmdriver-1-backing-file`), kept
//! across reboots: a oneshot unit attaches the loop device before LVM activation
//! (DevStack lost the group at every reboot until it grew such a unit).
//!
//! The commands are a pure plan (unit-tested); `ensure` runs the plan only when
//! the group is missing. Live LVM needs device-mapper in the kernel.

use std::path::{Path, PathBuf};

use crate::dataplane::cmd::run_sync;

pub(crate) const UNIT_NAME: &str = "onestack-volume-group.service";

/// The loop file behind volume group `vg`.
pub(crate) fn backing_file(state_dir: &Path, vg: &str) -> PathBuf {
    state_dir.join(format!("{vg}-backing-file"))
}

/// Commands making `vg` with thin pool `pool` on a sparse `size_gib` loop file;
/// `{loop}` in an argument stands for the device `losetup` printed.
pub(crate) fn plan(file: &Path, size_gib: u64, vg: &str, pool: &str) -> Vec<Vec<String>> {
    let f = file.display().to_string();
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        v(&["truncate", "-s", &format!("{size_gib}G"), &f]),
        v(&["losetup", "--find", "--show", &f]),
        v(&["pvcreate", "{loop}"]),
        v(&["vgcreate", vg, "{loop}"]),
        // Thin pool over most of the group; the rest holds its metadata's spare.
        v(&["lvcreate", "-T", "-l", "95%FREE", "-n", pool, vg]),
    ]
}

/// The unit that attaches the loop file again at boot, before LVM activates
/// volume groups, then activates this one.
pub(crate) fn unit_text(file: &Path, vg: &str) -> String {
    let f = file.display();
    format!(
        "[Unit]\n\
         Description=onestack: loop device of LVM volume group {vg}\n\
         DefaultDependencies=no\n\
         After=systemd-udevd.service\n\
         Before=lvm2-activation-early.service lvm2-activation.service local-fs-pre.target onestack.service\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart=/bin/sh -c 'losetup -j {f} | grep -q . || losetup --find {f}'\n\
         ExecStartPost=/sbin/vgchange -ay {vg}\n\
         \n\
         [Install]\n\
         WantedBy=local-fs-pre.target\n"
    )
}

/// Whether `vg` exists.
pub(crate) fn exists(vg: &str) -> bool {
    run_sync(&["vgs".to_string(), vg.to_string()], None).is_ok()
}

/// Makes the group and its thin pool when missing (`dry_run`: only says so) and
/// writes the boot unit; returns what it did.
pub(crate) fn ensure(
    state_dir: &Path,
    unit_dir: &Path,
    size_gib: u64,
    vg: &str,
    pool: &str,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(why) = crate::volume::lvm::unavailable_reason() {
        anyhow::bail!("the lvm volume backend cannot run on this host: {why}");
    }
    let file = backing_file(state_dir, vg);
    if !exists(vg) {
        let mut dev = String::new();
        for step in plan(&file, size_gib, vg, pool) {
            let argv: Vec<String> = step.iter().map(|a| a.replace("{loop}", &dev)).collect();
            if dry_run {
                done.push(format!("would run: {}", argv.join(" ")));
                continue;
            }
            let out = run_sync(&argv, None)?;
            if argv[0] == "losetup" {
                dev = out.trim().to_owned();
            }
            done.push(argv.join(" "));
        }
    }
    let unit = unit_dir.join(UNIT_NAME);
    if super::systemd::write_if_changed(&unit, &unit_text(&file, vg), 0o644, dry_run)? {
        done.push(format!("wrote {}", unit.display()));
        if !dry_run && super::systemd::systemd_booted() {
            run_sync(&["systemctl", "enable", UNIT_NAME].map(String::from), None)?;
            done.push(format!("systemctl enable {UNIT_NAME}"));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_makes_a_loop_pv_vg_and_thin_pool() {
        let f = backing_file(Path::new("/var/lib/onestack"), "vg1");
        let p = plan(&f, 24, "vg1", "vg1-pool");
        let lines: Vec<String> = p.iter().map(|s| s.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "truncate -s 24G /var/lib/onestack/vg1-backing-file",
                "losetup --find --show /var/lib/onestack/vg1-backing-file",
                "pvcreate {loop}",
                "vgcreate vg1 {loop}",
                "lvcreate -T -l 95%FREE -n vg1-pool vg1",
            ]
        );
    }

    #[test]
    fn the_unit_attaches_the_loop_before_lvm_activation() {
        let u = unit_text(Path::new("/s/vg1-backing-file"), "vg1");
        assert!(u.contains("DefaultDependencies=no"));
        assert!(u.contains("Before=lvm2-activation-early.service lvm2-activation.service"));
        assert!(u.contains(
            "losetup -j /s/vg1-backing-file | grep -q . || losetup --find /s/vg1-backing-file"
        ));
        assert!(u.contains("ExecStartPost=/sbin/vgchange -ay vg1"));
    }
}
