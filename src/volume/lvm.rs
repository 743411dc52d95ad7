//! The LVM backend (DevStack's `lvmdriver-1`): each volume a thin logical volume
//! `volume-<id>` in the thin pool of the volume group the profile names, each
//! snapshot a thin snapshot `_snapshot-<id>`, so creating, snapshotting and
//! cloning cost no copy.
//!
//! Every operation is a plan of commands (`lvcreate`, `lvremove`, `lvextend`,
//! `lvrename`, `qemu-img`, `dd`) built by a pure function and unit-tested, run by
//! a `Runner`: the host's in production, a recorder in tests. Steps check first
//! (`lvs`), so a plan a crash interrupted is finished by running it again. Live
//! LVM needs the kernel's device-mapper; where it is missing the backend refuses
//! to open, naming the reason.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::{Backend, GIB};

/// One command: program and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cmd {
    pub program: String,
    pub args: Vec<String>,
}

fn cmd(program: &str, args: &[&str]) -> Cmd {
    Cmd {
        program: program.to_owned(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

/// Runs commands; the host's runs them for real.
pub(crate) trait Runner: Send + Sync {
    /// Runs `c`; its stdout, or an error with its stderr.
    fn run(&self, c: &Cmd) -> io::Result<String>;
}

/// Runs commands on this host.
pub(crate) struct HostRunner;

impl Runner for HostRunner {
    fn run(&self, c: &Cmd) -> io::Result<String> {
        let out = std::process::Command::new(&c.program)
            .args(&c.args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| io::Error::other(format!("{}: {e}", c.program)))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "{} {} failed: {}",
                c.program,
                c.args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Names and command plans for one volume group and thin pool.
#[derive(Debug, Clone)]
pub(crate) struct Plans {
    pub vg: String,
    pub pool: String,
}

impl Plans {
    pub(crate) fn volume_lv(id: &str) -> String {
        format!("volume-{id}")
    }

    pub(crate) fn snapshot_lv(id: &str) -> String {
        format!("_snapshot-{id}")
    }

    /// `vg/lv`.
    pub(crate) fn full(&self, lv: &str) -> String {
        format!("{}/{lv}", self.vg)
    }

    /// The device a hypervisor or tgt opens.
    pub(crate) fn device(&self, lv: &str) -> PathBuf {
        PathBuf::from(format!("/dev/{}/{lv}", self.vg))
    }

    /// Asks whether `lv` exists (exit 0 with its name) and its size in bytes.
    pub(crate) fn lv_size(&self, lv: &str) -> Cmd {
        cmd(
            "lvs",
            &[
                "--noheadings",
                "--nosuffix",
                "--units",
                "b",
                "-o",
                "lv_size",
                &self.full(lv),
            ],
        )
    }

    /// A thin volume of `size_gib` in the pool (Cinder's `lvcreate -T -V`).
    pub(crate) fn create(&self, id: &str, size_gib: u64) -> Vec<Cmd> {
        vec![cmd(
            "lvcreate",
            &[
                "-T",
                "-V",
                &format!("{size_gib}g"),
                "-n",
                &Self::volume_lv(id),
                &self.full(&self.pool),
            ],
        )]
    }

    /// A thin snapshot `new` of `origin`, activated (thin snapshots skip
    /// activation by default) and grown to `size_gib` when larger.
    pub(crate) fn clone_lv(&self, origin: &str, new: &str, size_gib: Option<u64>) -> Vec<Cmd> {
        let mut plan = vec![
            cmd("lvcreate", &["-s", "-n", new, &self.full(origin)]),
            cmd("lvchange", &["-ay", "-K", &self.full(new)]),
        ];
        if let Some(s) = size_gib {
            plan.push(self.extend_lv(new, s));
        }
        plan
    }

    /// Grows `lv` to `size_gib` (`-r` is not used: the volume holds the
    /// tenant's file system, not ours).
    pub(crate) fn extend_lv(&self, lv: &str, size_gib: u64) -> Cmd {
        cmd("lvextend", &["-L", &format!("{size_gib}g"), &self.full(lv)])
    }

    pub(crate) fn remove(&self, lv: &str) -> Cmd {
        cmd("lvremove", &["-f", &self.full(lv)])
    }

    pub(crate) fn rename(&self, from: &str, to: &str) -> Cmd {
        cmd("lvrename", &[&self.vg, from, to])
    }

    /// Writes an image into the (already created) volume, as raw.
    pub(crate) fn write_image(&self, id: &str, image: &Path, format: &str) -> Cmd {
        let dev = self.device(&Self::volume_lv(id));
        cmd(
            "qemu-img",
            &[
                "convert",
                "-q",
                "-n",
                "-f",
                format,
                "-O",
                "raw",
                &image.display().to_string(),
                &dev.display().to_string(),
            ],
        )
    }

    /// Copies a file (a backup) onto the volume's device.
    pub(crate) fn write_file(&self, id: &str, source: &Path) -> Cmd {
        let dev = self.device(&Self::volume_lv(id));
        cmd(
            "dd",
            &[
                &format!("if={}", source.display()),
                &format!("of={}", dev.display()),
                "bs=1M",
                "conv=sparse,fsync",
                "status=none",
            ],
        )
    }

    /// Total and free bytes of the thin pool's data (`vgs` of the group).
    pub(crate) fn capacity(&self) -> Cmd {
        cmd(
            "vgs",
            &[
                "--noheadings",
                "--nosuffix",
                "--units",
                "b",
                "-o",
                "vg_size,vg_free",
                &self.vg,
            ],
        )
    }
}

/// Thin volumes in a volume group.
pub(crate) struct LvmBackend {
    plans: Plans,
    runner: Arc<dyn Runner>,
}

/// Why live LVM cannot run on this host, if it cannot (no device-mapper).
pub(crate) fn unavailable_reason() -> Option<String> {
    let misc = std::fs::read_to_string("/proc/misc").unwrap_or_default();
    let dm = Path::new("/dev/mapper/control").exists()
        || misc.lines().any(|l| l.trim().ends_with("device-mapper"));
    (!dm).then(|| {
        "the kernel has no device-mapper (/dev/mapper/control), which LVM thin volumes need"
            .to_owned()
    })
}

impl LvmBackend {
    /// Opens the backend on `vg`/`pool`, checking that the pool exists.
    pub(crate) fn open(vg: &str, pool: &str, runner: Arc<dyn Runner>) -> io::Result<LvmBackend> {
        if let Some(why) = unavailable_reason() {
            return Err(io::Error::other(format!(
                "the LVM volume backend cannot run here: {why}"
            )));
        }
        let b = LvmBackend::with_runner(vg, pool, runner);
        b.size_of(pool)?.ok_or_else(|| {
            io::Error::other(format!(
                "the thin pool {vg}/{pool} does not exist (onestack install --volume-group makes it)"
            ))
        })?;
        Ok(b)
    }

    /// Without the checks (tests drive it with a recording runner).
    pub(crate) fn with_runner(vg: &str, pool: &str, runner: Arc<dyn Runner>) -> LvmBackend {
        LvmBackend {
            plans: Plans {
                vg: vg.to_owned(),
                pool: pool.to_owned(),
            },
            runner,
        }
    }

    fn run_all(&self, plan: &[Cmd]) -> io::Result<()> {
        for c in plan {
            self.runner.run(c)?;
        }
        Ok(())
    }

    /// The size of `lv` in bytes, or None when it does not exist.
    fn size_of(&self, lv: &str) -> io::Result<Option<u64>> {
        match self.runner.run(&self.plans.lv_size(lv)) {
            Ok(out) => Ok(out.trim().parse().ok()),
            Err(e) if e.to_string().contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exists(&self, lv: &str) -> io::Result<bool> {
        Ok(self.size_of(lv)?.is_some())
    }
}

impl Backend for LvmBackend {
    fn create(&self, id: &str, size_gib: u64) -> io::Result<()> {
        let lv = Plans::volume_lv(id);
        if self.exists(&lv)? {
            return self.extend(id, size_gib);
        }
        self.run_all(&self.plans.create(id, size_gib))
    }

    fn create_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()> {
        let lv = Plans::volume_lv(id);
        if self.exists(&lv)? {
            return self.extend(id, size_gib);
        }
        // The source is a device of this group: clone it by a thin snapshot.
        let origin = source
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| source.starts_with(format!("/dev/{}", self.plans.vg)))
            .ok_or_else(|| {
                io::Error::other(format!(
                    "{} is not a volume of group {}",
                    source.display(),
                    self.plans.vg
                ))
            })?;
        self.run_all(&self.plans.clone_lv(origin, &lv, Some(size_gib)))
    }

    fn create_from_image(
        &self,
        id: &str,
        size_gib: u64,
        image: &Path,
        format: &str,
    ) -> io::Result<()> {
        // Created anew each attempt: a crash mid-write leaves a volume of
        // unknown content, which goes first.
        let lv = Plans::volume_lv(id);
        if self.exists(&lv)? {
            self.runner.run(&self.plans.remove(&lv))?;
        }
        let mut plan = self.plans.create(id, size_gib);
        plan.push(self.plans.write_image(id, image, format));
        self.run_all(&plan)
    }

    fn reimage(&self, id: &str, _size_gib: u64, image: &Path, format: &str) -> io::Result<()> {
        // As Cinder's LVM driver: the image is written over the logical volume.
        self.run_all(&[self.plans.write_image(id, image, format)])
    }

    fn snapshot(&self, volume: &str, snapshot: &str) -> io::Result<()> {
        let snap = Plans::snapshot_lv(snapshot);
        if self.exists(&snap)? {
            return Ok(());
        }
        self.run_all(&self.plans.clone_lv(&Plans::volume_lv(volume), &snap, None))
    }

    fn snapshot_delete(&self, snapshot: &str) -> io::Result<()> {
        let snap = Plans::snapshot_lv(snapshot);
        if !self.exists(&snap)? {
            return Ok(());
        }
        self.runner.run(&self.plans.remove(&snap)).map(drop)
    }

    fn snapshot_path(&self, snapshot: &str) -> PathBuf {
        self.plans.device(&Plans::snapshot_lv(snapshot))
    }

    fn extend(&self, id: &str, size_gib: u64) -> io::Result<()> {
        let lv = Plans::volume_lv(id);
        match self.size_of(&lv)? {
            Some(have) if have >= size_gib * GIB => Ok(()),
            Some(_) => self
                .runner
                .run(&self.plans.extend_lv(&lv, size_gib))
                .map(drop),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no logical volume {}", self.plans.full(&lv)),
            )),
        }
    }

    fn delete(&self, id: &str) -> io::Result<()> {
        let lv = Plans::volume_lv(id);
        if !self.exists(&lv)? {
            return Ok(());
        }
        self.runner.run(&self.plans.remove(&lv)).map(drop)
    }

    fn local_path(&self, id: &str) -> PathBuf {
        self.plans.device(&Plans::volume_lv(id))
    }

    fn restore_from(&self, id: &str, size_gib: u64, source: &Path) -> io::Result<()> {
        self.create(id, size_gib)?;
        self.runner
            .run(&self.plans.write_file(id, source))
            .map(drop)
    }

    fn adopt(&self, id: &str, name: &str, snapshot: bool) -> io::Result<()> {
        let target = if snapshot {
            Plans::snapshot_lv(id)
        } else {
            Plans::volume_lv(id)
        };
        if !self.exists(name)? && self.exists(&target)? {
            return Ok(());
        }
        self.runner.run(&self.plans.rename(name, &target)).map(drop)
    }

    fn unmanaged_size(&self, name: &str) -> io::Result<Option<u64>> {
        self.size_of(name)
    }

    fn capacity_gib(&self) -> io::Result<(u64, u64)> {
        let out = self.runner.run(&self.plans.capacity())?;
        let mut it = out.split_whitespace().filter_map(|s| s.parse::<u64>().ok());
        match (it.next(), it.next()) {
            (Some(total), Some(free)) => Ok((total / GIB, free / GIB)),
            _ => Err(io::Error::other(format!(
                "vgs gave no sizes for {}: {out:?}",
                self.plans.vg
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records every command; answers `lvs` from a set of existing LVs.
    struct Recorder {
        ran: Mutex<Vec<String>>,
        lvs: Mutex<std::collections::HashMap<String, u64>>,
    }

    impl Recorder {
        fn new(existing: &[(&str, u64)]) -> Arc<Recorder> {
            Arc::new(Recorder {
                ran: Mutex::new(Vec::new()),
                lvs: Mutex::new(existing.iter().map(|(n, s)| (n.to_string(), *s)).collect()),
            })
        }
        fn ran(&self) -> Vec<String> {
            self.ran.lock().unwrap().clone()
        }
    }

    impl Runner for Recorder {
        fn run(&self, c: &Cmd) -> io::Result<String> {
            let line = format!("{} {}", c.program, c.args.join(" "));
            if c.program == "lvs" {
                let name = c.args.last().cloned().unwrap_or_default();
                return match self.lvs.lock().unwrap().get(&name) {
                    Some(s) => Ok(format!("  {s}\n")),
                    None => Err(io::Error::other(format!(
                        "Failed to find logical volume \"{name}\" not found"
                    ))),
                };
            }
            if c.program == "vgs" {
                return Ok("  10737418240 4294967296\n".into());
            }
            self.ran.lock().unwrap().push(line);
            Ok(String::new())
        }
    }

    fn backend(existing: &[(&str, u64)]) -> (LvmBackend, Arc<Recorder>) {
        let r = Recorder::new(existing);
        (LvmBackend::with_runner("vg0", "pool0", r.clone()), r)
    }

    #[test]
    fn create_is_a_thin_lv_in_the_pool_and_idempotent() {
        let (b, r) = backend(&[]);
        b.create("a", 2).unwrap();
        assert_eq!(r.ran(), ["lvcreate -T -V 2g -n volume-a vg0/pool0"]);
        let (b, r) = backend(&[("vg0/volume-a", 2 * GIB)]);
        b.create("a", 2).unwrap();
        assert!(r.ran().is_empty(), "an existing volume is not made again");
        assert_eq!(b.local_path("a"), PathBuf::from("/dev/vg0/volume-a"));
    }

    #[test]
    fn snapshots_and_clones_are_thin_snapshots_activated() {
        let (b, r) = backend(&[("vg0/volume-v", GIB)]);
        b.snapshot("v", "s").unwrap();
        assert_eq!(
            r.ran(),
            [
                "lvcreate -s -n _snapshot-s vg0/volume-v",
                "lvchange -ay -K vg0/_snapshot-s"
            ]
        );
        assert_eq!(b.snapshot_path("s"), PathBuf::from("/dev/vg0/_snapshot-s"));
        let (b, r) = backend(&[("vg0/_snapshot-s", GIB)]);
        b.create_from("w", 3, Path::new("/dev/vg0/_snapshot-s"))
            .unwrap();
        assert_eq!(
            r.ran(),
            [
                "lvcreate -s -n volume-w vg0/_snapshot-s",
                "lvchange -ay -K vg0/volume-w",
                "lvextend -L 3g vg0/volume-w"
            ]
        );
        assert!(
            b.create_from("x", 1, Path::new("/elsewhere/f")).is_err(),
            "only this group's devices are cloned"
        );
    }

    #[test]
    fn extend_grows_only_and_delete_skips_missing() {
        let (b, r) = backend(&[("vg0/volume-a", 2 * GIB)]);
        b.extend("a", 2).unwrap();
        b.extend("a", 1).unwrap();
        b.extend("a", 5).unwrap();
        b.delete("a").unwrap();
        b.delete("gone").unwrap();
        b.snapshot_delete("gone").unwrap();
        assert_eq!(
            r.ran(),
            ["lvextend -L 5g vg0/volume-a", "lvremove -f vg0/volume-a"]
        );
        assert!(b.extend("gone", 1).is_err());
    }

    #[test]
    fn image_restore_adopt_and_capacity_plans() {
        let (b, r) = backend(&[("vg0/volume-i", GIB), ("vg0/legacy", 3 * GIB)]);
        b.create_from_image("i", 1, Path::new("/img/cirros.qcow2"), "qcow2")
            .unwrap();
        b.restore_from("r", 1, Path::new("/backups/b1")).unwrap();
        b.adopt("m", "legacy", false).unwrap();
        assert_eq!(
            r.ran(),
            [
                "lvremove -f vg0/volume-i",
                "lvcreate -T -V 1g -n volume-i vg0/pool0",
                "qemu-img convert -q -n -f qcow2 -O raw /img/cirros.qcow2 /dev/vg0/volume-i",
                "lvcreate -T -V 1g -n volume-r vg0/pool0",
                "dd if=/backups/b1 of=/dev/vg0/volume-r bs=1M conv=sparse,fsync status=none",
                "lvrename vg0 legacy volume-m",
            ]
        );
        assert_eq!(b.unmanaged_size("legacy").unwrap(), Some(3 * GIB));
        assert_eq!(b.unmanaged_size("nope").unwrap(), None);
        assert_eq!(b.capacity_gib().unwrap(), (10, 4));
    }

    /// Live LVM: needs device-mapper, which this machine's kernel lacks.
    #[test]
    fn live_lvm_needs_device_mapper() {
        if let Some(why) = unavailable_reason() {
            eprintln!("SKIP: live LVM volume test: {why}");
            return;
        }
        eprintln!(
            "SKIP: live LVM volume test: device-mapper is present, but the test needs a \
             volume group made by `onestack install` (not made by unit tests)"
        );
    }
}
