//! iSCSI export of volumes by the userspace tgt daemon (DevStack's `tgtadm` target
//! helper): one target per exported volume, LUN 1 backed by the volume's file or
//! block device, CHAP on every target, and QEMU's own initiator (libiscsi) on the
//! other side, so the host needs no kernel initiator.
//!
//! tgtd keeps its targets in memory only, so the database is the truth: the
//! exports are rebuilt from it at start (`reconcile`), after a crash of onestack,
//! of tgtd, or a reboot. Every target this cloud makes carries its own IQN prefix
//! (`iqn.2010-10.org.openstack:<cloud>`), and only such targets are ever changed or
//! removed, so two clouds sharing one tgtd never touch each other's. With
//! `tgt_managed` the cloud runs a tgtd of its own (own management channel and
//! portal), recorded by pid file and ended only by that pid.
//!
//! The command plans are pure functions (unit-tested); `Tgt` runs them. A CHAP
//! secret is passed to `tgtadm` only as an argument and never appears in a log
//! or an error.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The IQN namespace Cinder uses (`iscsi_target_prefix`).
pub(crate) const IQN_BASE: &str = "iqn.2010-10.org.openstack";

/// Cinder's tgt driver puts the volume on LUN 1 (LUN 0 is tgt's controller).
pub(crate) const LUN: u32 = 1;

/// One volume as tgtd should export it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Export {
    pub volume_id: String,
    pub iqn: String,
    pub user: String,
    pub password: String,
    /// The file or block device behind the LUN.
    pub path: PathBuf,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("volume_id", &self.volume_id)
            .field("iqn", &self.iqn)
            .field("user", &self.user)
            .field("password", &"***")
            .field("path", &self.path)
            .finish()
    }
}

/// A target as `tgtadm --mode target --op show` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listed {
    pub tid: u32,
    pub iqn: String,
    /// Backing store of LUN 1, if the target has one.
    pub lun_path: Option<String>,
    pub accounts: Vec<String>,
    pub acls: Vec<String>,
}

/// The IQN of volume `volume_id`'s target under this cloud's `prefix`.
pub(crate) fn target_iqn(prefix: &str, volume_id: &str) -> String {
    format!("{prefix}:volume-{volume_id}")
}

/// Parses `tgtadm --mode target --op show`.
pub(crate) fn parse_targets(show: &str) -> Vec<Listed> {
    #[derive(PartialEq)]
    enum Section {
        Other,
        Luns,
        Accounts,
        Acls,
    }
    let mut out: Vec<Listed> = Vec::new();
    let mut section = Section::Other;
    let mut lun: Option<u32> = None;
    for line in show.lines() {
        if let Some(rest) = line.strip_prefix("Target ") {
            if let Some((tid, iqn)) = rest.split_once(": ")
                && let Ok(tid) = tid.trim().parse()
            {
                out.push(Listed {
                    tid,
                    iqn: iqn.trim().to_owned(),
                    ..Listed::default()
                });
            }
            section = Section::Other;
            lun = None;
            continue;
        }
        let Some(t) = out.last_mut() else { continue };
        let text = line.trim();
        let indent = line.len() - line.trim_start().len();
        if indent == 4 {
            section = match text {
                "LUN information:" => Section::Luns,
                "Account information:" => Section::Accounts,
                "ACL information:" => Section::Acls,
                _ => Section::Other,
            };
            continue;
        }
        match section {
            Section::Luns => {
                if let Some(n) = text.strip_prefix("LUN: ") {
                    lun = n.trim().parse().ok();
                } else if let Some(p) = text.strip_prefix("Backing store path: ")
                    && lun == Some(LUN)
                {
                    t.lun_path = Some(p.trim().to_owned());
                }
            }
            Section::Accounts if !text.is_empty() => t.accounts.push(text.to_owned()),
            Section::Acls if !text.is_empty() => t.acls.push(text.to_owned()),
            _ => {}
        }
    }
    out
}

/// The lowest target id no listed target uses.
pub(crate) fn free_tid(listed: &[Listed]) -> u32 {
    (1..)
        .find(|t| !listed.iter().any(|l| l.tid == *t))
        .unwrap_or(1)
}

/// One `tgtadm` call: its arguments after `--lld iscsi`, and whether they carry
/// the CHAP secret (then they are never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub args: Vec<String>,
    pub secret: bool,
    /// An "already exists" answer counts as done (a step a crash interrupted).
    pub exists_ok: bool,
}

fn step(args: &[&str]) -> Step {
    Step {
        args: args.iter().map(|s| s.to_string()).collect(),
        secret: false,
        exists_ok: false,
    }
}

/// What makes `e` exported, given what tgtd lists now: the target, LUN 1 on the
/// volume, the CHAP account bound to it, and initiators from any address (CHAP
/// guards the target, as with Cinder's tgt driver). Steps already done are
/// skipped, so a half-made export is completed.
pub(crate) fn plan_export(e: &Export, listed: &[Listed]) -> Vec<Step> {
    let mut plan = Vec::new();
    let (tid, have) = match listed.iter().find(|l| l.iqn == e.iqn) {
        Some(l) => (l.tid, Some(l)),
        None => (free_tid(listed), None),
    };
    let tid_s = tid.to_string();
    let path = e.path.display().to_string();
    if have.is_none() {
        plan.push(target_new(&tid_s, &e.iqn));
    }
    match have.and_then(|l| l.lun_path.as_deref()) {
        Some(p) if p == path => {}
        Some(_) => {
            // Backed by something else (a stale export): replace the LUN.
            plan.push(lun_delete(&tid_s));
            plan.push(lun_new(&tid_s, &path));
        }
        None => plan.push(lun_new(&tid_s, &path)),
    }
    if !have.is_some_and(|l| l.accounts.contains(&e.user)) {
        plan.extend(account_bound(&tid_s, &e.user, &e.password));
    }
    if !have.is_some_and(|l| l.acls.iter().any(|a| a == "ALL")) {
        plan.push(step(&[
            "--mode",
            "target",
            "--op",
            "bind",
            "--tid",
            &tid_s,
            "--initiator-address",
            "ALL",
        ]));
    }
    plan
}

fn target_new(tid: &str, iqn: &str) -> Step {
    step(&[
        "--mode",
        "target",
        "--op",
        "new",
        "--tid",
        tid,
        "--targetname",
        iqn,
    ])
}

fn lun_delete(tid: &str) -> Step {
    step(&[
        "--mode",
        "logicalunit",
        "--op",
        "delete",
        "--tid",
        tid,
        "--lun",
        &LUN.to_string(),
    ])
}

/// The CHAP account (its password kept out of logs; one left from before is
/// fine) and its binding to the target.
fn account_bound(tid: &str, user: &str, password: &str) -> [Step; 2] {
    let new = Step {
        args: [
            "--mode",
            "account",
            "--op",
            "new",
            "--user",
            user,
            "--password",
            password,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        secret: true,
        exists_ok: true,
    };
    let bind = step(&[
        "--mode", "account", "--op", "bind", "--tid", tid, "--user", user,
    ]);
    [new, bind]
}

fn lun_new(tid: &str, path: &str) -> Step {
    step(&[
        "--mode",
        "logicalunit",
        "--op",
        "new",
        "--tid",
        tid,
        "--lun",
        &LUN.to_string(),
        "--backing-store",
        path,
        "--bstype",
        "rdwr",
    ])
}

/// What removes target `l` (even with initiators logged in: the volume is being
/// detached) and its CHAP accounts.
pub(crate) fn plan_unexport(l: &Listed) -> Vec<Step> {
    let tid = l.tid.to_string();
    let mut plan = vec![step(&[
        "--mode", "target", "--op", "delete", "--force", "--tid", &tid,
    ])];
    for a in &l.accounts {
        plan.push(step(&["--mode", "account", "--op", "delete", "--user", a]));
    }
    plan
}

/// The CHAP user name of a volume's export (unique per volume, so deleting one
/// never touches another's account in a shared tgtd).
pub(crate) fn chap_user(volume_id: &str) -> String {
    let clean: String = volume_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("os-{}", &clean[..clean.len().min(20)])
}

/// A fresh CHAP secret (tgt accepts 12 to 16 characters in its interop mode; 16).
pub(crate) fn chap_secret() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// How this cloud reaches its tgtd.
#[derive(Debug, Clone)]
pub(crate) struct TgtConfig {
    pub portal: SocketAddr,
    pub control_port: u16,
    pub managed: bool,
    /// `iqn.2010-10.org.openstack:<cloud>`: every target of this cloud.
    pub iqn_prefix: String,
    /// Network namespace the guests (and so a managed tgtd) run in.
    pub netns: Option<String>,
    /// Where a managed tgtd's pid file and log live (`<state>/tgt`).
    pub dir: PathBuf,
}

/// The tgt daemon as this cloud uses it.
pub(crate) struct Tgt {
    cfg: TgtConfig,
    /// One tgtadm sequence at a time: a plan is computed from a listing.
    lock: std::sync::Mutex<()>,
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

impl Tgt {
    pub(crate) fn new(cfg: TgtConfig) -> Tgt {
        Tgt {
            cfg,
            lock: std::sync::Mutex::new(()),
        }
    }

    pub(crate) fn portal(&self) -> String {
        self.cfg.portal.to_string()
    }

    pub(crate) fn iqn(&self, volume_id: &str) -> String {
        target_iqn(&self.cfg.iqn_prefix, volume_id)
    }

    fn pid_file(&self) -> PathBuf {
        self.cfg.dir.join("tgtd.pid")
    }

    /// Runs one `tgtadm` step; its stdout, or an error naming the step (without
    /// the secret).
    fn run(&self, s: &Step) -> io::Result<String> {
        let out = Command::new("tgtadm")
            .arg("--control-port")
            .arg(self.cfg.control_port.to_string())
            .args(["--lld", "iscsi"])
            .args(&s.args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| other(format!("tgtadm: {e}")))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if s.exists_ok && err.contains("already exists") {
            return Ok(String::new());
        }
        let shown: Vec<&str> = if s.secret {
            s.args.iter().take(4).map(String::as_str).collect()
        } else {
            s.args.iter().map(String::as_str).collect()
        };
        Err(other(format!("tgtadm {} failed: {err}", shown.join(" "))))
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let text = self.run(&step(&["--mode", "target", "--op", "show"]))?;
        Ok(parse_targets(&text))
    }

    /// This cloud's targets only.
    fn ours(&self, listed: Vec<Listed>) -> Vec<Listed> {
        let prefix = format!("{}:", self.cfg.iqn_prefix);
        listed
            .into_iter()
            .filter(|l| l.iqn.starts_with(&prefix))
            .collect()
    }

    /// Makes sure tgtd answers: adopts the managed one a previous run started
    /// (its pid file and command line), or starts it; an unmanaged one must
    /// already run.
    pub(crate) fn ensure_daemon(&self) -> io::Result<()> {
        if self.list().is_ok() {
            return Ok(());
        }
        if !self.cfg.managed {
            return Err(other(format!(
                "no tgtd answers on control port {} (tgt_managed = false: start the tgt service)",
                self.cfg.control_port
            )));
        }
        if let Some(pid) = self.managed_pid() {
            tracing::warn!(pid, "our tgtd runs but does not answer; waiting for it");
        } else {
            self.spawn()?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.list() {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(other(format!(
                        "tgtd did not come up: {e}; see {}",
                        self.cfg.dir.join("tgtd.log").display()
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The pid of the tgtd this cloud started, if it still runs (a tgtd on our
    /// management channel, so an unrelated process is never taken for it).
    pub(crate) fn managed_pid(&self) -> Option<u32> {
        managed_pid(&self.pid_file(), self.cfg.control_port)
    }

    fn spawn(&self) -> io::Result<()> {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(&self.cfg.dir)?;
        std::fs::set_permissions(
            &self.cfg.dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.cfg.dir.join("tgtd.log"))?;
        let mut cmd = match &self.cfg.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tgtd"]);
                c
            }
            None => Command::new("tgtd"),
        };
        // Foreground, so its log goes to our file; its own process group, so it
        // outlives us like the guests do (attached disks keep working while
        // onestack restarts).
        cmd.arg("-f")
            .arg("-C")
            .arg(self.cfg.control_port.to_string())
            .arg("--iscsi")
            .arg(format!("portal={}", self.cfg.portal))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| other(format!("starting tgtd: {e}")))?;
        // In the foreground tgtd writes no pid file: we record its pid (`ip netns
        // exec` execs it, so the pid is tgtd's).
        crate::fsutil::write_atomic(&self.pid_file(), child.id().to_string().as_bytes(), 0o600)
            .map_err(|e| other(format!("recording tgtd's pid: {e}")))?;
        tracing::info!(pid = child.id(), portal = %self.cfg.portal, control_port = self.cfg.control_port, "tgtd started");
        // Reaped when it ends, so no zombie is taken for a live tgtd.
        std::thread::spawn(move || {
            if let Err(e) = child.wait() {
                tracing::warn!(error = %e, "reaping tgtd");
            }
        });
        Ok(())
    }

    /// Exports `e` (idempotent; completes a half-made export). The caller holds
    /// the lock.
    fn export_one(&self, e: &Export) -> io::Result<()> {
        let listed = self.list()?;
        for s in plan_export(e, &listed) {
            self.run(&s)?;
        }
        Ok(())
    }

    /// Makes tgtd hold exactly `wanted` among this cloud's targets; every error
    /// is collected and the rest still applied.
    pub(crate) fn reconcile(&self, wanted: &[Export]) -> Result<usize, Vec<io::Error>> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut errors = Vec::new();
        let listed = match self.list() {
            Ok(l) => l,
            Err(e) => return Err(vec![e]),
        };
        for l in self.ours(listed) {
            if !wanted.iter().any(|w| w.iqn == l.iqn) {
                tracing::info!(target = %l.iqn, "removing an export no volume needs");
                for s in plan_unexport(&l) {
                    if let Err(e) = self.run(&s) {
                        errors.push(e);
                    }
                }
            }
        }
        for w in wanted {
            if let Err(e) = self.export_one(w) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(wanted.len())
        } else {
            Err(errors)
        }
    }
}

/// The pid in `pid_file` if that process is a live `tgtd -f -C <control_port>`.
pub(crate) fn managed_pid(pid_file: &Path, control_port: u16) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let port = control_port.to_string();
    let ours = args.first().is_some_and(|a| a.ends_with(b"tgtd"))
        && args
            .windows(2)
            .any(|w| w[0] == b"-C" && w[1] == port.as_bytes());
    ours.then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Target 1: iqn.2010-10.org.openstack:c1:volume-a
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            Backing store type: null
            Backing store path: None
        LUN: 1
            Type: disk
            Backing store type: rdwr
            Backing store path: /s/volumes/volume-a
            Backing store flags: 
    Account information:
        os-a
    ACL information:
        ALL
Target 3: iqn.2010-10.org.openstack:other:volume-b
    System information:
        Driver: iscsi
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
    Account information:
    ACL information:
";

    fn export(id: &str, path: &str) -> Export {
        Export {
            volume_id: id.into(),
            iqn: target_iqn("iqn.2010-10.org.openstack:c1", id),
            user: chap_user(id),
            password: "s3cr3ts3cr3ts3cr".into(),
            path: path.into(),
        }
    }

    #[test]
    fn show_output_is_parsed() {
        let l = parse_targets(SHOW);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].tid, 1);
        assert_eq!(l[0].iqn, "iqn.2010-10.org.openstack:c1:volume-a");
        assert_eq!(l[0].lun_path.as_deref(), Some("/s/volumes/volume-a"));
        assert_eq!(l[0].accounts, vec!["os-a"]);
        assert_eq!(l[0].acls, vec!["ALL"]);
        assert_eq!(l[1].tid, 3);
        assert_eq!(l[1].lun_path, None);
        assert!(l[1].accounts.is_empty() && l[1].acls.is_empty());
        assert_eq!(free_tid(&l), 2);
        assert!(parse_targets("").is_empty());
    }

    #[test]
    fn a_new_export_is_target_lun_chap_and_acl() {
        let e = export("x", "/s/volumes/volume-x");
        let plan = plan_export(&e, &parse_targets(SHOW));
        let ops: Vec<String> = plan.iter().map(|s| s.args[1..4].join(" ")).collect();
        assert_eq!(
            ops,
            [
                "target --op new",
                "logicalunit --op new",
                "account --op new",
                "account --op bind",
                "target --op bind"
            ]
        );
        assert!(
            plan.iter().all(|s| s.args.contains(&"2".to_string())
                || s.args[1] == "account" && s.args[3] == "new")
        );
        assert!(plan[1].args.ends_with(&[
            "--backing-store".into(),
            "/s/volumes/volume-x".into(),
            "--bstype".into(),
            "rdwr".into()
        ]));
        assert!(plan[1].args.contains(&"1".to_string()), "LUN 1");
        let secret: Vec<&Step> = plan.iter().filter(|s| s.secret).collect();
        assert_eq!(secret.len(), 1, "only the account step carries the secret");
        assert!(secret[0].args.contains(&e.password));
        assert!(
            plan.iter()
                .filter(|s| !s.secret)
                .all(|s| !s.args.contains(&e.password))
        );
    }

    #[test]
    fn a_complete_export_plans_nothing_and_a_half_one_is_completed() {
        let listed = parse_targets(SHOW);
        let e = export("a", "/s/volumes/volume-a");
        assert_eq!(e.user, "os-a");
        assert!(plan_export(&e, &listed).is_empty());
        // A crash after the target and the LUN: CHAP and the ACL follow.
        let mut half = listed.clone();
        half[0].accounts.clear();
        half[0].acls.clear();
        let plan = plan_export(&e, &half);
        assert_eq!(plan.len(), 3);
        assert!(
            plan.iter()
                .all(|s| s.args.contains(&"1".to_string()) || s.args[3] == "new")
        );
        // Backed by another path: the LUN is replaced.
        let moved = export("a", "/dev/vg/volume-a");
        let plan = plan_export(&moved, &listed);
        assert_eq!(plan[0].args[1..4].join(" "), "logicalunit --op delete");
        assert_eq!(plan[1].args[1..4].join(" "), "logicalunit --op new");
    }

    #[test]
    fn only_this_clouds_targets_are_ours() {
        let tgt = Tgt::new(TgtConfig {
            portal: "127.0.0.1:3260".parse().expect("addr"),
            control_port: 0,
            managed: false,
            iqn_prefix: "iqn.2010-10.org.openstack:c1".into(),
            netns: None,
            dir: PathBuf::from("/nonexistent"),
        });
        let mut listed = parse_targets(SHOW);
        listed.push(Listed {
            tid: 4,
            iqn: "iqn.2010-10.org.openstack:c10:volume-z".into(),
            ..Listed::default()
        });
        let ours: Vec<String> = tgt.ours(listed).into_iter().map(|l| l.iqn).collect();
        assert_eq!(ours, ["iqn.2010-10.org.openstack:c1:volume-a"]);
        assert_eq!(tgt.iqn("v"), "iqn.2010-10.org.openstack:c1:volume-v");
    }

    #[test]
    fn unexport_forces_the_target_and_drops_its_accounts() {
        let l = &parse_targets(SHOW)[0];
        let plan = plan_unexport(l);
        assert_eq!(
            plan[0].args,
            [
                "--mode", "target", "--op", "delete", "--force", "--tid", "1"
            ]
        );
        assert_eq!(
            plan[1].args,
            ["--mode", "account", "--op", "delete", "--user", "os-a"]
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_chap_names_fit() {
        let e = export("0b8f4c6e-1111-2222-3333-444455556666", "/p");
        assert!(!format!("{e:?}").contains(&e.password));
        assert_eq!(e.user, "os-0b8f4c6e111122223333");
        let s = chap_secret();
        assert_eq!(s.len(), 16);
        assert_ne!(s, chap_secret());
    }
}
