//! The `onestack` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::identity::bootstrap::Credentials;
use crate::profile::Profile;
use crate::state::{self, CloudInfo, RuntimeInfo};

#[derive(Parser, Debug)]
#[command(
    name = "onestack",
    version,
    about = "A one-process OpenStack cloud for one machine"
)]
pub struct Cli {
    /// State directory (database, keys, blobs). Default: /var/lib/onestack as root,
    /// else ~/.local/share/onestack.
    #[arg(long, global = true, env = "ONESTACK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the cloud in the foreground.
    Up {
        /// A built-in profile name (default, minimal, teaching) or a path to a profile
        /// file. Default: the profile `onestack install` wrote into the state
        /// directory, else `default`.
        #[arg(long)]
        profile: Option<String>,
        /// Listen address, overriding the profile's (e.g. 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Build the bootable test guest (registered as `cirros`) from distribution
    /// packages and put it where the profile's [image] bootstrap_* paths say; a
    /// no-op when it is there. `install` does this too.
    BuildImage {
        /// As for `up`: a built-in profile name or a file. Default: the installed
        /// profile, else `default`.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Whether the cloud is up, its services and object counts.
    Status,
    /// Print shell exports for the openstack CLI (redirected to a file, the file is
    /// made 0600: it holds a password).
    Openrc {
        /// admin or demo.
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// Print a clouds.yaml with the onestack, onestack-admin and onestack-system-admin clouds.
    CloudsYaml,
    /// Rotate the Fernet token keys (a running cloud picks them up within 10 s).
    FernetRotate,
    /// Stop a running cloud (SIGTERM, then wait), optionally removing its host networking.
    Down {
        /// Also remove every bridge, namespace, nftables table and dnsmasq onestack made.
        #[arg(long)]
        purge_network: bool,
    },
    /// Set this machine up as a cloud host: packages, external network (br-ex, NAT),
    /// effective profile, clouds.yaml/openrc and the systemd unit. Idempotent.
    Install {
        /// Base profile (built-in name: default, minimal, teaching; or a file) for
        /// the effective profile. Default: the last install's, else `default`.
        #[arg(long)]
        profile: Option<String>,
        /// Print the plan and the changes it would make; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Treat this network namespace as the host (tests, simulated VMs).
        #[arg(long)]
        netns: Option<String>,
        /// Root for openstack/clouds.yaml and the openrc files.
        #[arg(long, env = "ONESTACK_ETC_DIR", default_value = "/etc")]
        etc_dir: PathBuf,
        /// Where onestack.service goes. Default: <etc-dir>/systemd/system.
        #[arg(long, env = "ONESTACK_UNIT_DIR")]
        unit_dir: Option<PathBuf>,
        /// Do not install OS packages.
        #[arg(long)]
        no_packages: bool,
        /// Do not build the bootable test image (`cirros`) the profile names when it
        /// is missing (it is built from distribution packages, as scripts/build-test-image.sh does).
        #[arg(long)]
        no_image: bool,
        /// Also install the real Horizon from PyPI into its own venv, configured
        /// against this cloud, run by onestack-horizon.service and served at /horizon.
        #[arg(long)]
        horizon: bool,
    },
    /// Set up the real Horizon (PyPI, its own venv) against this cloud: settings,
    /// static files, the onestack-horizon.service unit; the cloud serves it at
    /// /horizon. Idempotent. `install --horizon` runs this too.
    Horizon {
        /// The venv (created when missing). Default: <state>/horizon/venv.
        #[arg(long)]
        venv: Option<PathBuf>,
        /// Where Horizon's gunicorn listens.
        #[arg(long, default_value = crate::host::horizon::DEFAULT_BIND)]
        bind: SocketAddr,
        /// Keystone's v3 URL as Horizon calls it. Default: the cloud's, from its state.
        #[arg(long)]
        keystone_url: Option<String>,
        /// Where onestack-horizon.service goes. Default: <etc-dir>/systemd/system.
        #[arg(long, env = "ONESTACK_UNIT_DIR")]
        unit_dir: Option<PathBuf>,
        #[arg(long, env = "ONESTACK_ETC_DIR", default_value = "/etc")]
        etc_dir: PathBuf,
        /// Write no unit and start nothing (the caller runs Horizon).
        #[arg(long)]
        no_unit: bool,
    },
    /// Undo `install`: unit, bridges, NAT table, NIC addresses back, client files.
    Uninstall {
        /// Also delete the state directory (database, images, disks).
        #[arg(long)]
        purge: bool,
        /// Root of the openstack/clouds.yaml and openrc files `install` wrote.
        #[arg(long, env = "ONESTACK_ETC_DIR", default_value = "/etc")]
        etc_dir: PathBuf,
        /// Where `install` put onestack.service. Default: <etc-dir>/systemd/system.
        #[arg(long, env = "ONESTACK_UNIT_DIR")]
        unit_dir: Option<PathBuf>,
    },
    /// Re-apply the host networking recorded by `install` (run by the unit at boot).
    HostRestore,
    /// Classroom setups on a running cloud.
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Delete the whole state directory.
    Reset {
        /// Confirm that everything in the state directory may be deleted.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// One project, user (member), private network and router per student, with
    /// quotas from the profile's [lab] section; prints the credentials and writes
    /// one clouds.yaml per student.
    Create {
        /// How many students (each gets <prefix>1 .. <prefix>N).
        #[arg(long)]
        students: u32,
        /// Name prefix of the students' users and projects.
        #[arg(long, default_value = "student")]
        prefix: String,
        /// Profile whose [lab] section gives quotas and the private range.
        #[arg(long, default_value = "teaching")]
        profile: String,
        /// Where `<name>/clouds.yaml` files go. Default: <state>/lab.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

impl Cli {
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(state::default_dir)
    }
}

struct Account {
    user: &'static str,
    project: Option<&'static str>,
    password: String,
}

fn load_account(dir: &Path, user: &str) -> anyhow::Result<(CloudInfo, Account)> {
    let info: CloudInfo = state::read_json(dir, state::CLOUD_FILE)?.with_context(|| {
        format!(
            "{} has no cloud yet: run `onestack up` with it first",
            dir.display()
        )
    })?;
    let creds = Credentials::load(dir)?.context("the state directory has no credentials file")?;
    let account = match user {
        "admin" => Account {
            user: "admin",
            project: Some("admin"),
            password: creds.admin_password,
        },
        "demo" => Account {
            user: "demo",
            project: Some("demo"),
            password: creds.demo_password,
        },
        other => {
            anyhow::bail!("unknown user `{other}`: onestack knows the passwords of admin and demo")
        }
    };
    Ok((info, account))
}

/// Quotes a value for a POSIX shell only when it needs it.
fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@,+=".contains(c))
    {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

pub fn openrc(dir: &Path, user: &str) -> anyhow::Result<String> {
    let (info, acct) = load_account(dir, user)?;
    let mut vars = vec![
        ("OS_AUTH_URL", info.auth_url),
        ("OS_AUTH_TYPE", "password".to_owned()),
        ("OS_IDENTITY_API_VERSION", "3".to_owned()),
        ("OS_REGION_NAME", info.region),
        ("OS_USERNAME", acct.user.to_owned()),
        ("OS_PASSWORD", acct.password),
        ("OS_USER_DOMAIN_NAME", "Default".to_owned()),
    ];
    if let Some(p) = acct.project {
        vars.push(("OS_PROJECT_NAME", p.to_owned()));
        vars.push(("OS_PROJECT_DOMAIN_NAME", "Default".to_owned()));
    }
    Ok(vars
        .into_iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(&v)))
        .collect())
}

pub fn clouds_yaml(dir: &Path) -> anyhow::Result<String> {
    let (info, admin) = load_account(dir, "admin")?;
    let (_, demo) = load_account(dir, "demo")?;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let cloud = |name: &str, a: &Account, scope: &str| {
        format!(
            "  {name}:\n    auth:\n      auth_url: {}\n      username: {}\n      password: {}\n      user_domain_id: default\n{scope}    region_name: {}\n    identity_api_version: 3\n",
            q(&info.auth_url),
            q(a.user),
            q(&a.password),
            q(&info.region),
        )
    };
    let project = |p: &str| format!("      project_name: {p}\n      project_domain_id: default\n");
    Ok(format!(
        "clouds:\n{}{}{}",
        cloud("onestack", &demo, &project("demo")),
        cloud("onestack-admin", &admin, &project("admin")),
        cloud("onestack-system-admin", &admin, "      system_scope: all\n"),
    ))
}

/// A plain HTTP GET over loopback, enough for `status` to see the API answer.
fn probe(listen: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(addr) = listen.parse::<SocketAddr>() else {
        return false;
    };
    let addr = if addr.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), addr.port())
    } else {
        addr
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
    else {
        return false;
    };
    if s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .is_err()
    {
        return false;
    }
    let req = format!("GET /identity/v3 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Makes standard output private (0600) when it is a file the shell just made for
/// credentials (`onestack clouds-yaml > ~/.config/openstack/clouds.yaml`), which
/// it would otherwise create 0644 under the usual umask.
pub fn private_stdout() {
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let file = std::fs::File::from(fd);
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.permissions().mode() & 0o077 != 0
        && let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(0o600))
    {
        tracing::warn!(error = %e, "could not make the credentials file 0600");
    }
}

/// `status`'s exit code: up and answering.
pub const STATUS_UP: u8 = 0;
/// Running, but not answering on its address.
pub const STATUS_NOT_ANSWERING: u8 = 1;
/// Not running (LSB's "program is not running").
pub const STATUS_NOT_RUNNING: u8 = 3;

/// The `status` report and its exit code (`STATUS_*`).
pub fn status(dir: &Path) -> anyhow::Result<(String, u8)> {
    let mut out = String::new();
    let code = process_status(dir, &mut out)?;
    dataplane_status(dir, &mut out)?;
    compute_status(dir, &mut out)?;
    let db_path = dir.join(state::DB_FILE);
    if db_path.exists() {
        resource_counts(&db_path, &mut out)?;
    }
    Ok((out, code))
}

/// Whether the cloud's process runs and answers; the status's exit code.
fn process_status(dir: &Path, out: &mut String) -> anyhow::Result<u8> {
    let runtime: Option<RuntimeInfo> = state::read_json(dir, state::RUNTIME_FILE)?;
    let Some(r) = runtime.filter(|r| state::pid_alive(r.pid)) else {
        *out += &format!(
            "onestack is not running (state directory {})\n",
            dir.display()
        );
        return Ok(STATUS_NOT_RUNNING);
    };
    let (code, answering) = if probe(&r.listen) {
        (STATUS_UP, "answering")
    } else {
        (STATUS_NOT_ANSWERING, "NOT answering")
    };
    *out += &format!(
        "onestack is up (pid {}, {} on {}, since {})\n",
        r.pid, answering, r.listen, r.started_at
    );
    *out += &format!("services: {}\n", r.services.join(", "));
    Ok(code)
}

/// The last dataplane converge, with its first errors.
fn dataplane_status(dir: &Path, out: &mut String) -> anyhow::Result<()> {
    let Some(d) =
        state::read_json::<crate::reconcile::DataplaneStatus>(dir, crate::reconcile::STATUS_FILE)?
    else {
        return Ok(());
    };
    *out += &format!(
        "dataplane: converged at {} in {} ms ({}, {}, {} wired of which {} of instances), {}\n",
        d.converged_at,
        d.millis,
        counted(d.networks, "network"),
        counted(d.routers, "router"),
        counted(d.wired_ports, "port"),
        d.ports,
        counted(d.errors.len(), "error")
    );
    for e in d.errors.iter().take(10) {
        *out += &format!("  error: {e}\n");
    }
    Ok(())
}

/// The hypervisor, and what the instance restore at the last start did.
fn compute_status(dir: &Path, out: &mut String) -> anyhow::Result<()> {
    let Some(c) = state::read_json::<state::ComputeStatus>(dir, state::COMPUTE_STATUS_FILE)? else {
        return Ok(());
    };
    *out += &format!("compute: {} ({})\n", c.hypervisor, c.reason);
    *out += &match (&c.recovery, &c.recovered_at) {
        (Some(r), Some(at)) => format!(
            "instance restore at last start ({at}): {} adopted, {} restarted, {} builds resumed, {} tasks finished, {} errors\n",
            r.adopted,
            r.restarted,
            r.resumed_builds,
            r.finished_tasks,
            r.errors.len()
        ),
        _ => format!(
            "instance restore at last start ({}): not finished\n",
            c.started_at
        ),
    };
    if let Some(r) = &c.recovery {
        for e in r.errors.iter().take(10) {
            *out += &format!("  error: {e}\n");
        }
    }
    Ok(())
}

/// How many of each resource the database holds, read-only.
fn resource_counts(db_path: &Path, out: &mut String) -> anyhow::Result<()> {
    let conn =
        rusqlite::Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let counts = crate::identity::facade::counts(&conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (what, n) in counts {
        *out += &format!("{what}: {n}\n");
    }
    let err = |e: crate::http::error::ApiError| anyhow::anyhow!("{e}");
    *out += &format!(
        "images: {}\n",
        crate::image::facade::count(&conn).map_err(err)?
    );
    for (kind, n) in crate::network::facade::counts(&conn).map_err(err)? {
        *out += &format!("{kind}s: {n}\n");
    }
    let per_status = crate::compute::facade::status_counts(&conn).map_err(err)?;
    let total: i64 = per_status.iter().map(|(_, n)| n).sum();
    let detail: Vec<String> = per_status
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    if detail.is_empty() {
        *out += "servers: 0\n";
    } else {
        *out += &format!("servers: {total} ({})\n", detail.join(", "));
    }
    Ok(())
}

pub fn reset(dir: &Path, yes: bool) -> anyhow::Result<String> {
    anyhow::ensure!(
        yes,
        "reset deletes everything in {}; pass --yes to confirm",
        dir.display()
    );
    let runtime: Option<RuntimeInfo> = state::read_json(dir, state::RUNTIME_FILE).unwrap_or(None);
    if let Some(r) = runtime.filter(|r| state::pid_alive(r.pid)) {
        anyhow::bail!("onestack is running (pid {}); stop it before reset", r.pid);
    }
    let mut out = stop_instances(dir)?;
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            out += &format!("removed {}\n", dir.display());
            Ok(out)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(format!("{} does not exist\n", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// Ends the instances' VMM processes (they outlive `onestack` by design, so that a
/// restart adopts them): every `qemu.pid`/`vmm.pid` under `<state>/instances`,
/// checked against the instance id in the process's command line so that no
/// unrelated process is touched. For `reset` and `uninstall`, which take their
/// disks or their networking away.
pub fn stop_instances(dir: &Path) -> anyhow::Result<String> {
    let Ok(dirs) = std::fs::read_dir(dir.join("instances")) else {
        return Ok(String::new());
    };
    let mut out = String::new();
    for d in dirs.flatten() {
        let id = d.file_name().to_string_lossy().into_owned();
        for pidfile in ["qemu.pid", "vmm.pid"] {
            let Some(pid) = std::fs::read_to_string(d.path().join(pidfile))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !state::pid_alive(pid) || !String::from_utf8_lossy(&cmdline).contains(&id) {
                continue;
            }
            let status = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()?;
            anyhow::ensure!(status.success(), "could not stop instance {id} (pid {pid})");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while state::pid_alive(pid) {
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "instance {id} (pid {pid}) did not stop within 20 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            out += &format!("stopped instance {id} (pid {pid})\n");
        }
    }
    Ok(out)
}

/// Stops the cloud recorded in the state directory and waits for it to exit.
pub fn stop(dir: &Path) -> anyhow::Result<String> {
    let runtime: Option<RuntimeInfo> = state::read_json(dir, state::RUNTIME_FILE)?;
    let Some(r) = runtime.filter(|r| state::pid_alive(r.pid)) else {
        return Ok("onestack is not running\n".into());
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &r.pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "could not signal pid {}", r.pid);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state::pid_alive(r.pid) {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "pid {} did not stop within 30 s",
            r.pid
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(format!("stopped onestack (pid {})\n", r.pid))
}

/// Removes the host networking of the cloud recorded in the state directory.
pub async fn purge_network(dir: &Path) -> anyhow::Result<String> {
    let info: Option<CloudInfo> = state::read_json(dir, state::CLOUD_FILE)?;
    let Some(net) = info.and_then(|i| i.network) else {
        return Ok("no host networking recorded\n".into());
    };
    let dataplane = crate::dataplane::Dataplane::new(crate::reconcile::dataplane_config(dir, &net));
    let errors = dataplane.teardown().await;
    if errors.is_empty() {
        Ok(
            "removed onestack's bridges, namespaces, nftables tables and dnsmasq processes\n"
                .into(),
        )
    } else {
        anyhow::bail!(
            "host networking removed with errors:\n  {}",
            errors.join("\n  ")
        )
    }
}

pub fn fernet_rotate(dir: &Path) -> anyhow::Result<String> {
    let n = crate::identity::token::rotate(&dir.join(state::FERNET_DIR))?;
    Ok(format!("key {n} is now the primary Fernet key\n"))
}

pub fn load_profile(name: &str) -> anyhow::Result<Profile> {
    Ok(Profile::load(name)?)
}

/// What `up` starts with: the profile named, else the one `install` wrote into the
/// state directory, else `default`. When `install` set this machine up, its host
/// networking (bridge, NIC, NAT table) is re-applied first, as the unit's
/// `host-restore` does after a reboot, so a start by hand is the same start.
pub fn up_profile(dir: &Path, named: Option<&str>) -> anyhow::Result<Profile> {
    let installed = dir.join(crate::host::PROFILE_FILE);
    let recorded = dir.join(crate::host::RECORD_FILE).exists();
    if recorded {
        let text = crate::host::restore(dir).with_context(|| {
            format!(
                "re-applying the host networking `onestack install` set up (state directory {}); \
                 run `sudo onestack --state-dir {} host-restore` to see why, or `sudo onestack install` again",
                dir.display(),
                dir.display()
            )
        })?;
        tracing::info!("{}", text.trim_end());
    }
    match named {
        Some(name) => {
            if recorded && Path::new(name) != installed {
                tracing::warn!(
                    profile = name,
                    installed = %installed.display(),
                    "starting with a profile other than the one `onestack install` wrote"
                );
            }
            load_profile(name)
        }
        None if installed.exists() => {
            tracing::info!(profile = %installed.display(), "using the installed profile");
            load_profile(&installed.to_string_lossy())
        }
        None => load_profile("default"),
    }
}

/// The profile `up` would start with (named, else the installed one, else
/// `default`), without re-applying any host networking.
pub fn chosen_profile(dir: &Path, named: Option<&str>) -> anyhow::Result<Profile> {
    let installed = dir.join(crate::host::PROFILE_FILE);
    match named {
        Some(name) => load_profile(name),
        None if installed.exists() => load_profile(&installed.to_string_lossy()),
        None => load_profile("default"),
    }
}

/// `onestack horizon`: sets the real Horizon up against the cloud whose state is in
/// `dir` (Keystone's URL and region from its `cloud.json` unless given) and, with
/// the unit in /etc/systemd/system on a systemd machine, starts it.
pub fn horizon(
    dir: &Path,
    venv: Option<PathBuf>,
    bind: SocketAddr,
    keystone_url: Option<String>,
    unit_dir: Option<PathBuf>,
    etc_dir: &Path,
    no_unit: bool,
) -> anyhow::Result<String> {
    use crate::host::horizon;
    let info: Option<CloudInfo> = state::read_json(dir, state::CLOUD_FILE)?;
    let keystone_url = match (keystone_url, &info) {
        (Some(u), _) => u,
        (None, Some(i)) => format!("{}/v3", i.auth_url.trim_end_matches('/')),
        (None, None) => anyhow::bail!(
            "no cloud in {} (start it with `onestack up` or pass --keystone-url)",
            dir.display()
        ),
    };
    let unit_dir = (!no_unit)
        .then(|| unit_dir.unwrap_or_else(|| crate::host::systemd::default_unit_dir(etc_dir)));
    let o = horizon::HorizonOptions {
        state_dir: dir.to_owned(),
        venv: venv.unwrap_or_else(|| dir.join(horizon::DIR).join("venv")),
        python: "python3".into(),
        keystone_url,
        region: info.map_or_else(|| "RegionOne".to_owned(), |i| i.region),
        bind,
        unit_dir: unit_dir.clone(),
        dry_run: false,
    };
    let mut changes = horizon::setup(&o)?;
    if unit_dir.as_deref() == Some(Path::new("/etc/systemd/system"))
        && crate::host::systemd::systemd_booted()
    {
        changes.extend(horizon::enable()?);
    }
    let mut out = format!(
        "Horizon: served at /horizon by the cloud, from gunicorn on {} ({})\n",
        o.bind,
        match &unit_dir {
            Some(d) => format!("unit {}", d.join(horizon::UNIT_NAME).display()),
            None => format!("run: {}", horizon::serve_command(&o).join(" ")),
        }
    );
    out += &format!("Changes: made {}\n", changes.len());
    for c in changes {
        out += &format!("  {c}\n");
    }
    Ok(out)
}

/// `1 port`, `5 ports`: counts in `status` read as English.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1, "port"), "1 port");
        assert_eq!(counted(0, "error"), "0 errors");
        assert_eq!(counted(5, "port"), "5 ports");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("http://h:80/identity"), "http://h:80/identity");
        assert_eq!(shell_quote("a b'c"), "'a b'\\''c'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn openrc_and_clouds_yaml_from_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        state::write_json(
            dir.path(),
            state::CLOUD_FILE,
            &CloudInfo {
                auth_url: "http://127.0.0.1:5000/identity".into(),
                region: "RegionOne".into(),
                public_url: "http://127.0.0.1:5000".into(),
                network: None,
            },
        )
        .expect("cloud.json");
        let creds = Credentials {
            admin_password: "adm pw".into(),
            demo_password: "demopw".into(),
        };
        crate::fsutil::write_atomic(
            &dir.path().join("credentials.json"),
            &serde_json::to_vec(&creds).expect("json"),
            0o600,
        )
        .expect("creds");
        let rc = openrc(dir.path(), "admin").expect("openrc");
        assert!(rc.contains("export OS_PASSWORD='adm pw'\n"), "{rc}");
        assert!(rc.contains("export OS_AUTH_URL=http://127.0.0.1:5000/identity\n"));
        assert!(openrc(dir.path(), "nobody").is_err());
        let y = clouds_yaml(dir.path()).expect("yaml");
        assert!(
            y.contains("onestack-admin:")
                && y.contains("\"demopw\"")
                && y.contains("system_scope: all")
        );
    }
}
