//! The real Horizon as an install option (`onestack install --horizon`, or
//! `onestack horizon` on its own): Horizon from PyPI in its own venv, configured
//! against this cloud's Keystone, its static files collected and compressed
//! offline, run by gunicorn under its own systemd unit on a loopback port; the
//! cloud's listener forwards `/horizon` to it (see `dashboard::horizon`).
//!
//! Everything Horizon keeps lives under `<state>/horizon/`: its settings (a
//! `local` package put first on `PYTHONPATH`, so the venv stays as pip left it and
//! one venv can serve several clouds), the secret key (0600, kept across runs),
//! file-backed sessions (no memcached; a restart keeps everyone logged in) and the
//! static files. `upstream` there names the address the cloud forwards to.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::systemd::write_if_changed;

/// The unit `install --horizon` writes beside onestack's.
pub(crate) const UNIT_NAME: &str = "onestack-horizon.service";
/// Horizon's directory in the state directory.
pub(crate) const DIR: &str = "horizon";
/// The file (in `DIR`) holding the address `/horizon` is forwarded to.
pub(crate) const UPSTREAM_FILE: &str = "upstream";
/// Where gunicorn listens unless told otherwise.
pub(crate) const DEFAULT_BIND: &str = "127.0.0.1:8091";
/// What the venv holds, pinned: the release tried against onestack, the WSGI
/// server and the static-file middleware. scripts/horizon-venv.sh installs the
/// same list and writes the same stamp, so a venv it made is reused as is.
pub(crate) const REQUIREMENTS: &[&str] = &[
    "horizon==27.0.0",
    "heat-dashboard==16.0.0",
    "gunicorn==27.0.1",
    "whitenoise==6.12.0",
];
/// The unprivileged system user Horizon's unit runs as (made by the setup when it
/// runs as root): Horizon is a Django app with a secret key and the users'
/// sessions, and nothing in it needs root, so a flaw in it reaches only its own
/// files.
pub(crate) const USER: &str = "onestack-horizon";
/// The venv's record of what was installed into it.
pub(crate) const STAMP: &str = ".onestack-horizon-requirements";

#[derive(Debug, Clone)]
pub(crate) struct HorizonOptions {
    pub(crate) state_dir: PathBuf,
    /// The venv (created when missing; pip runs only when its stamp differs).
    pub(crate) venv: PathBuf,
    /// The Python that creates the venv.
    pub(crate) python: String,
    /// Keystone as Horizon calls it (`http://HOST/identity/v3`).
    pub(crate) keystone_url: String,
    /// The region Horizon picks endpoints of.
    pub(crate) region: String,
    /// Where gunicorn listens (loopback: the cloud's listener fronts it).
    pub(crate) bind: SocketAddr,
    /// Where the unit goes; None: no unit (the caller runs Horizon itself).
    pub(crate) unit_dir: Option<PathBuf>,
    pub(crate) dry_run: bool,
}

/// The stamp text a venv with `REQUIREMENTS` carries.
pub(crate) fn stamp_text() -> String {
    REQUIREMENTS.iter().map(|r| format!("{r}\n")).collect()
}

/// The settings Horizon reads (`local/local_settings.py`): Keystone's URL, no
/// memcached (file sessions, a per-process cache), the secret key from its file,
/// offline-compressed static files, served under `/horizon`.
pub(crate) fn settings_text(o: &HorizonOptions) -> String {
    let home = o.state_dir.join(DIR);
    let py = |p: &Path| format!("{:?}", p.display().to_string());
    format!(
        "# Written by `onestack horizon`; it rewrites this file.\n\
         WEBROOT = '/horizon/'\n\
         DEBUG = False\n\
         ALLOWED_HOSTS = ['*']\n\
         OPENSTACK_KEYSTONE_URL = {keystone:?}\n\
         OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'\n\
         OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = 'Default'\n\
         OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False\n\
         OPENSTACK_API_VERSIONS = {{'identity': 3}}\n\
         OPENSTACK_ENDPOINT_TYPE = 'publicURL'\n\
         REGION_NAME = {region:?}\n\
         TIME_ZONE = 'UTC'\n\
         SESSION_ENGINE = 'django.contrib.sessions.backends.file'\n\
         SESSION_FILE_PATH = {sessions}\n\
         CACHES = {{'default': {{'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}}}\n\
         with open({secret}, encoding='utf-8') as _f:\n    SECRET_KEY = _f.read().strip()\n\
         STATIC_ROOT = {static}\n\
         COMPRESS_OFFLINE = True\n\
         COMPRESS_ENABLED = True\n\
         OPENSTACK_NEUTRON_NETWORK = {{'enable_router': True, 'enable_quotas': True, \
         'enable_ipv6': False, 'enable_distributed_router': False, 'enable_ha_router': False, \
         'enable_fip_topology_check': True}}\n\
         # The heat-dashboard plugin's panels (Project > Orchestration), enabled from\n\
         # its own `enabled` files, as if they were in openstack_dashboard/local/enabled.\n\
         import importlib.util as _ilu\n\
         import openstack_dashboard.local.enabled as _local_enabled\n\
         _heat = _ilu.find_spec('heat_dashboard')\n\
         if _heat is not None:\n    \
         _local_enabled.__path__.append(_heat.submodule_search_locations[0] + '/enabled')\n\
         LOGGING = {{'version': 1, 'disable_existing_loggers': False, \
         'handlers': {{'console': {{'class': 'logging.StreamHandler'}}}}, \
         'root': {{'handlers': ['console'], 'level': 'WARNING'}}}}\n",
        keystone = o.keystone_url,
        region = o.region,
        sessions = py(&home.join("sessions")),
        secret = py(&home.join("secret_key")),
        static = py(&home.join("static")),
    )
}

/// The WSGI entry gunicorn loads: Horizon's application with its collected static
/// files served by WhiteNoise (Django serves none with DEBUG off).
const WSGI: &str = "# Written by `onestack horizon`.\n\
import os\n\
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'openstack_dashboard.settings')\n\
from django.conf import settings\n\
from openstack_dashboard.wsgi import application as _django\n\
from whitenoise import WhiteNoise\n\
# gunicorn strips SCRIPT_NAME (/horizon) from the path: static files are under static/.\n\
application = WhiteNoise(_django, root=settings.STATIC_ROOT, prefix='static/', max_age=3600)\n";

/// The environment Horizon's processes run with.
pub(crate) fn environment(state_dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "PYTHONPATH".into(),
            state_dir.join(DIR).join("conf").display().to_string(),
        ),
        (
            "DJANGO_SETTINGS_MODULE".into(),
            "openstack_dashboard.settings".into(),
        ),
        ("SCRIPT_NAME".into(), "/horizon".into()),
    ]
}

/// The command that serves Horizon: gunicorn with two workers on `bind`, its
/// control socket in Horizon's directory (not one shared per user).
pub(crate) fn serve_command(o: &HorizonOptions) -> Vec<String> {
    let home = o.state_dir.join(DIR);
    vec![
        o.venv.join("bin/gunicorn").display().to_string(),
        "--chdir".into(),
        home.join("conf").display().to_string(),
        "--bind".into(),
        o.bind.to_string(),
        "--workers".into(),
        "2".into(),
        "--timeout".into(),
        "120".into(),
        "--control-socket".into(),
        home.join("run/gunicorn.ctl").display().to_string(),
        "onestack_horizon_wsgi:application".into(),
    ]
}

/// The unit: after onestack, restarted whenever it stops (sessions and the key are
/// files, so a restart loses nothing).
pub(crate) fn unit_text(o: &HorizonOptions) -> String {
    let mut env = String::new();
    for (k, v) in environment(&o.state_dir) {
        let _ = writeln!(env, "Environment=\"{k}={v}\"");
    }
    format!(
        "[Unit]\n\
         Description=Horizon (the OpenStack dashboard) for onestack, at /horizon\n\
         Wants=network-online.target\n\
         After=network-online.target onestack.service\n\
         \n\
         [Service]\n\
         Type=simple\n\
         User={USER}\n\
         Group={USER}\n\
         NoNewPrivileges=yes\n\
         PrivateTmp=yes\n\
         ProtectSystem=full\n\
         {env}\
         ExecStart={cmd}\n\
         Restart=always\n\
         RestartSec=3\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        cmd = serve_command(o).join(" "),
    )
}

/// Runs `argv` with Horizon's environment, failing with its output's tail.
fn run(argv: &[String], env: &[(String, String)], what: &str) -> anyhow::Result<()> {
    let (bin, args) = argv.split_first().context("an empty command")?;
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .with_context(|| format!("{what}: starting {bin}"))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Creates the venv and installs `REQUIREMENTS` unless its stamp says they are in.
fn ensure_venv(o: &HorizonOptions, changes: &mut Vec<String>) -> anyhow::Result<()> {
    let stamp = o.venv.join(STAMP);
    let python = o.venv.join("bin/python");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&stamp_text()) {
        return Ok(());
    }
    changes.push(format!(
        "install {} into {}",
        REQUIREMENTS.join(" "),
        o.venv.display()
    ));
    if o.dry_run {
        return Ok(());
    }
    if !python.exists() {
        run(
            &[
                o.python.clone(),
                "-m".into(),
                "venv".into(),
                o.venv.display().to_string(),
            ],
            &[],
            "creating Horizon's venv (python3-venv)",
        )?;
    }
    let mut pip = vec![
        python.display().to_string(),
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--quiet".into(),
        "--disable-pip-version-check".into(),
    ];
    pip.extend(REQUIREMENTS.iter().map(|r| r.to_string()));
    run(&pip, &[], "installing Horizon from PyPI")?;
    write_if_changed(&stamp, &stamp_text(), 0o644, false)?;
    Ok(())
}

/// Sets Horizon up (see the module's doc) and returns the changes made; a second
/// run with the same options changes nothing.
pub(crate) fn setup(o: &HorizonOptions) -> anyhow::Result<Vec<String>> {
    let mut changes = Vec::new();
    ensure_venv(o, &mut changes)?;
    let home = o.state_dir.join(DIR);
    let settings_changed = write_settings(o, &home, &mut changes)?;
    if !o.dry_run {
        for dir in ["sessions", "run"] {
            std::fs::create_dir_all(home.join(dir))
                .with_context(|| format!("creating {}", home.join(dir).display()))?;
        }
    }
    if o.unit_dir.is_some() {
        own_files(o, &mut changes)?;
    }
    // Static files: collected and compressed offline when the settings changed (or
    // were never applied), as a packaged Horizon does at install time.
    let marker = home.join("static/.onestack-compressed");
    if settings_changed || !marker.exists() {
        changes.push("collect and compress Horizon's static files".into());
        if !o.dry_run {
            compress_static(o)?;
            write_if_changed(&marker, "", 0o644, false)?;
        }
    }
    write_file(
        o,
        &mut changes,
        home.join(UPSTREAM_FILE),
        &format!("{}\n", o.bind),
        0o644,
    )?;
    if let Some(dir) = &o.unit_dir {
        write_file(o, &mut changes, dir.join(UNIT_NAME), &unit_text(o), 0o644)?;
    }
    Ok(changes)
}

/// Writes `text` to `path` unless it is there already (nothing on a dry run),
/// records the write, and says whether the file changed.
fn write_file(
    o: &HorizonOptions,
    changes: &mut Vec<String>,
    path: PathBuf,
    text: &str,
    mode: u32,
) -> anyhow::Result<bool> {
    let changed = write_if_changed(&path, text, mode, o.dry_run)?;
    if changed {
        changes.push(format!("write {}", path.display()));
    }
    Ok(changed)
}

/// Django's settings, the WSGI entry and the secret key; says whether the
/// settings changed (the static files are then compressed again).
fn write_settings(
    o: &HorizonOptions,
    home: &Path,
    changes: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let conf = home.join("conf");
    let mut settings_changed = write_file(o, changes, conf.join("local/__init__.py"), "", 0o644)?;
    settings_changed |= write_file(
        o,
        changes,
        conf.join("local/local_settings.py"),
        &settings_text(o),
        0o644,
    )?;
    write_file(
        o,
        changes,
        conf.join("onestack_horizon_wsgi.py"),
        WSGI,
        0o644,
    )?;
    let key = home.join("secret_key");
    if !key.exists() {
        let secret = crate::dashboard::session::random_secret();
        write_file(o, changes, key, &format!("{secret}\n"), 0o600)?;
    }
    Ok(settings_changed)
}

/// Django's `collectstatic` then `compress`, in Horizon's environment.
fn compress_static(o: &HorizonOptions) -> anyhow::Result<()> {
    let env = environment(&o.state_dir);
    let python = o.venv.join("bin/python").display().to_string();
    for (args, what) in [
        (
            ["collectstatic", "--noinput", "--clear"].as_slice(),
            "collecting Horizon's static files",
        ),
        (
            ["compress", "--force"].as_slice(),
            "compressing Horizon's static files",
        ),
    ] {
        let mut argv = vec![python.clone(), "-m".into(), "django".into()];
        argv.extend(args.iter().map(|a| a.to_string()));
        run(&argv, &env, what)?;
    }
    Ok(())
}

/// The uid and gid of `name`, when it exists.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout);
    let mut f = line.trim().split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// As root: makes `USER` (a system user with no shell and no home of its own) and
/// gives it what Horizon writes: the sessions, the secret key (0600, so only it
/// reads it) and gunicorn's control socket's directory. The settings, the WSGI
/// file and the static files stay root's, which Horizon only reads. Not as root
/// (a test, a user's own cloud) the files stay the caller's and the unit's `User=`
/// is for the machine that installs it.
fn own_files(o: &HorizonOptions, changes: &mut Vec<String>) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let home = o.state_dir.join(DIR);
    if user_ids(USER).is_none() {
        changes.push(format!("create the system user {USER}"));
        if o.dry_run {
            return Ok(());
        }
        create_user(&home)?;
    }
    let (uid, gid) = user_ids(USER).with_context(|| format!("the user {USER} is missing"))?;
    // Sessions written while Horizon ran as root (before it had its own user) go
    // to it too, so those logged in stay logged in.
    let sessions: Vec<PathBuf> = std::fs::read_dir(home.join("sessions"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    for path in [
        home.join("sessions"),
        home.join("run"),
        home.join("secret_key"),
    ]
    .into_iter()
    .chain(sessions)
    {
        give(o, &path, (uid, gid), changes)?;
    }
    Ok(())
}

/// `useradd` for `USER`: a system user with its own group, no shell, and
/// Horizon's directory as its home (not created by useradd).
fn create_user(home: &Path) -> anyhow::Result<()> {
    run(
        &[
            "useradd".into(),
            "--system".into(),
            "--user-group".into(),
            "--no-create-home".into(),
            "--home-dir".into(),
            home.display().to_string(),
            "--shell".into(),
            "/usr/sbin/nologin".into(),
            USER.into(),
        ],
        &[],
        "creating Horizon's system user",
    )
}

/// Gives `path` to `USER` unless it is its already.
fn give(
    o: &HorizonOptions,
    path: &Path,
    (uid, gid): (u32, u32),
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        // A dry run made none of them: each would be made, then given.
        Err(e) if o.dry_run && e.kind() == std::io::ErrorKind::NotFound => {
            changes.push(format!("give {} to {USER}", path.display()));
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.uid() != uid || meta.gid() != gid {
        changes.push(format!("give {} to {USER}", path.display()));
        if !o.dry_run {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", path.display()))?;
        }
    }
    Ok(())
}

/// `systemctl daemon-reload`, then enable and (re)start Horizon's unit.
pub(crate) fn enable() -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for args in [
        vec!["daemon-reload"],
        vec!["enable", UNIT_NAME],
        vec!["restart", UNIT_NAME],
    ] {
        let mut argv = vec!["systemctl".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        crate::dataplane::cmd::run_sync(&argv, None)?;
        done.push(argv.join(" "));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> HorizonOptions {
        HorizonOptions {
            state_dir: "/var/lib/onestack".into(),
            venv: "/var/lib/onestack/horizon/venv".into(),
            python: "python3".into(),
            keystone_url: "http://10.0.2.15/identity/v3".into(),
            region: "RegionOne".into(),
            bind: DEFAULT_BIND.parse().expect("addr"),
            unit_dir: None,
            dry_run: false,
        }
    }

    #[test]
    fn settings_name_keystone_and_no_memcached() {
        let s = settings_text(&opts());
        for line in [
            "OPENSTACK_KEYSTONE_URL = \"http://10.0.2.15/identity/v3\"",
            "WEBROOT = '/horizon/'",
            "SESSION_ENGINE = 'django.contrib.sessions.backends.file'",
            "SESSION_FILE_PATH = \"/var/lib/onestack/horizon/sessions\"",
            "COMPRESS_OFFLINE = True",
        ] {
            assert!(s.lines().any(|l| l == line), "{line} missing:\n{s}");
        }
        assert!(!s.contains("memcache"), "no memcached:\n{s}");
    }

    #[test]
    fn the_unit_restarts_and_runs_gunicorn_on_loopback() {
        let u = unit_text(&opts());
        for line in [
            "Restart=always",
            "After=network-online.target onestack.service",
            "Environment=\"SCRIPT_NAME=/horizon\"",
            "Environment=\"PYTHONPATH=/var/lib/onestack/horizon/conf\"",
            "User=onestack-horizon",
            "NoNewPrivileges=yes",
        ] {
            assert!(u.lines().any(|l| l == line), "{line} missing:\n{u}");
        }
        assert!(u.contains(
            "ExecStart=/var/lib/onestack/horizon/venv/bin/gunicorn --chdir /var/lib/onestack/horizon/conf --bind 127.0.0.1:8091"
        ));
    }

    #[test]
    fn the_stamp_matches_the_script() {
        let script = include_str!("../../scripts/horizon-venv.sh");
        for r in REQUIREMENTS {
            assert!(script.contains(r), "scripts/horizon-venv.sh lacks {r}");
        }
    }
}
