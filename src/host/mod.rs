//! Host setup: `onestack install` turns a fresh Ubuntu/Debian machine (typically a
//! VirtualBox VM) into a cloud host — preflight, OS packages, NIC roles, the
//! external network (br-ex and its NAT), the effective profile, client files and
//! the systemd unit — idempotently; `onestack uninstall` undoes it.
//!
//! One job per file: `preflight` (OS, memory, disk, KVM), `packages` (apt),
//! `nics` (NIC roles), `plan` (the external network choice), `apply` (host
//! changes), `systemd` (unit and client files), `test_image` (the bootable guest).

pub(crate) mod apply;
pub(crate) mod horizon;
pub(crate) mod nics;
pub(crate) mod packages;
pub(crate) mod plan;
pub(crate) mod preflight;
pub mod systemd;
pub mod test_image;
pub(crate) mod volume_group;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::dataplane::cmd::Ns;
use crate::identity::bootstrap::Credentials;
use crate::profile::{Cidr, Profile};
use crate::state::{self, CloudInfo};
use apply::Host;
use plan::SetupPlan;

/// What `install` applied, kept in the state directory for `host-restore` (at
/// boot, from the unit) and `uninstall`.
pub(crate) const RECORD_FILE: &str = "host-setup.json";
/// The effective profile `install` writes and the unit passes to `up`.
pub(crate) const PROFILE_FILE: &str = "profile.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Installed {
    pub(crate) plan: SetupPlan,
    /// The namespace playing the host (tests), None in production.
    pub(crate) netns: Option<String>,
    /// Whether `install` created the bridge (then `uninstall` deletes it).
    pub(crate) created_bridge: bool,
    /// The base profile given (built-in name or file), which a later `install`
    /// without `--profile` keeps.
    #[serde(default)]
    pub(crate) profile: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub state_dir: PathBuf,
    /// Base profile (built-in name or file) the effective profile derives from;
    /// None: the one the last `install` used, else `default`.
    pub profile: Option<String>,
    pub dry_run: bool,
    pub netns: Option<String>,
    /// Root of `openstack/clouds.yaml` and the openrc files (`/etc`).
    pub etc_dir: PathBuf,
    /// Where the unit goes (`/etc/systemd/system`).
    pub unit_dir: PathBuf,
    pub no_packages: bool,
    /// Do not build the test image the profile names.
    pub no_image: bool,
    /// The `onestack` binary the unit runs.
    pub binary: PathBuf,
    /// Also set up the real Horizon (see `horizon`), served at `/horizon`.
    pub horizon: bool,
}

/// The printed report and the number of changes made (0 on a provisioned host).
#[derive(Debug, Clone)]
pub struct InstallReport {
    pub text: String,
}

/// Size of the loop file behind the `lvm` backend's volume group (DevStack's
/// VOLUME_BACKING_FILE_SIZE is 24G); sparse, so it costs what volumes hold.
const VOLUME_GROUP_GIB: u64 = 24;

/// `onestack install`.
pub fn install(o: &InstallOptions) -> anyhow::Result<InstallReport> {
    let mut rep = Progress::default();
    let pre = preflight::run(&o.state_dir);
    rep.out += "Preflight:\n";
    for l in &pre.lines {
        let _ = writeln!(rep.out, "  {l}");
    }
    install_packages(o, &pre.os, &mut rep)?;
    let previous: Option<Installed> = state::read_json(&o.state_dir, RECORD_FILE).unwrap_or(None);
    let base = base_profile(o, previous.as_ref(), &mut rep.out);
    let mut profile = Profile::load(&base)?;
    let ns = Ns::from_option(o.netns.as_deref());
    let observed = nics::observe(&ns, &nics::lease_dirs())?;
    let nic_list = nics::classify(&observed);
    let plan = plan::choose(&observed, nic_list, &profile.network.external_bridge)?;
    effective_profile(&mut profile, &plan, o.netns.as_deref())?;
    install_volume_group(o, &profile, &mut rep)?;
    free_tenant_ranges(&observed, &plan, &mut profile.network, &mut rep.out);
    let _ = write!(rep.out, "{}", plan.describe(&profile.public_url()));
    install_test_image(o, &profile, &mut rep)?;

    let bridge_existed = observed.links.iter().any(|l| l.name == plan.bridge);
    let mut host = Host::new(ns, o.dry_run);
    apply::apply(&mut host, &plan).context("applying the host networking plan")?;
    rep.changes.extend(host.changes);

    let record = Installed {
        plan: plan.clone(),
        netns: o.netns.clone(),
        created_bridge: previous.as_ref().is_some_and(|p| p.created_bridge) || !bridge_existed,
        profile: Some(base.clone()),
    };
    let restart = write_record_and_unit(o, previous.as_ref(), &record, &profile, &base, &mut rep)?;
    if !o.dry_run {
        write_client_files(o, &profile, &mut rep.changes)?;
    }
    let manage_service = start_service(o, restart, &mut rep)?;
    if o.horizon {
        install_horizon(o, &profile, manage_service, &mut rep)?;
    }
    let verb = if o.dry_run { "would make" } else { "made" };
    let _ = writeln!(rep.out, "Changes: {verb} {}", rep.changes.len());
    for c in &rep.changes {
        let _ = writeln!(rep.out, "  {c}");
    }
    if !o.dry_run {
        let _ = writeln!(
            rep.out,
            "Credentials: {}/openstack/clouds.yaml (clouds onestack, onestack-admin), `onestack openrc --user admin`",
            o.etc_dir.display()
        );
    }
    Ok(InstallReport { text: rep.out })
}

/// What an install has printed and changed so far.
#[derive(Default)]
struct Progress {
    out: String,
    changes: Vec<String>,
}

/// The OS packages: installed, or listed on a dry run, or skipped.
fn install_packages(
    o: &InstallOptions,
    os: &preflight::OsRelease,
    rep: &mut Progress,
) -> anyhow::Result<()> {
    if o.no_packages {
        rep.out += "Packages: skipped (--no-packages)\n";
    } else if o.dry_run {
        let m = packages::missing();
        let _ = writeln!(
            rep.out,
            "Packages: would install {}",
            if m.is_empty() {
                "nothing".into()
            } else {
                m.join(" ")
            }
        );
    } else {
        rep.changes.extend(packages::ensure(os)?);
    }
    Ok(())
}

/// The base profile: the one given, else the last install's, else `default`.
fn base_profile(o: &InstallOptions, previous: Option<&Installed>, out: &mut String) -> String {
    let base = o
        .profile
        .clone()
        .or_else(|| previous.and_then(|p| p.profile.clone()))
        .unwrap_or_else(|| "default".into());
    if o.profile.is_none() && base != "default" {
        let _ = writeln!(
            out,
            "Profile: {base} (as the last install; --profile changes it)"
        );
    }
    base
}

/// The `lvm` backend's group on a loop file, attached again at every boot.
fn install_volume_group(
    o: &InstallOptions,
    profile: &Profile,
    rep: &mut Progress,
) -> anyhow::Result<()> {
    if profile.volume.backend != crate::profile::VolumeBackend::Lvm {
        return Ok(());
    }
    let done = volume_group::ensure(
        &o.state_dir,
        &o.unit_dir,
        VOLUME_GROUP_GIB,
        &profile.volume.volume_group,
        &profile.volume.thin_pool,
        o.dry_run,
    )?;
    for d in &done {
        let _ = writeln!(rep.out, "Volume group: {d}");
    }
    if !o.dry_run {
        rep.changes.extend(done);
    }
    Ok(())
}

/// Moves the tenant ranges off the host's own networks.
fn free_tenant_ranges(
    observed: &nics::Observed,
    plan: &SetupPlan,
    net: &mut crate::profile::NetworkSection,
    out: &mut String,
) {
    for (key, range) in [
        (
            "ipv4_addrs_safe_to_use",
            Some(&mut net.ipv4_addrs_safe_to_use),
        ),
        ("fixed_range", net.fixed_range.as_mut()),
    ] {
        let Some(range) = range else { continue };
        let (addr, prefix) =
            plan::free_fixed_range(observed, &plan.bridge, (range.addr, range.prefix));
        if (addr, prefix) != (range.addr, range.prefix) {
            let _ = writeln!(
                out,
                "Tenant range ({key}): {}/{} overlaps the host's networks; using {addr}/{prefix}",
                range.addr, range.prefix
            );
            range.addr = addr;
            range.prefix = prefix;
        }
    }
}

/// The test image the profile names: built when missing, unless skipped.
fn install_test_image(
    o: &InstallOptions,
    profile: &Profile,
    rep: &mut Progress,
) -> anyhow::Result<()> {
    let image_missing = test_image::missing(&profile.image);
    if image_missing.is_empty() {
        return Ok(());
    }
    if o.no_image {
        rep.out += "Test image: skipped (--no-image); `up` says how to add one\n";
    } else if o.dry_run {
        let names: Vec<String> = image_missing
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let _ = writeln!(
            rep.out,
            "Test image: would build it from distribution packages for {}",
            names.join(", ")
        );
    } else {
        rep.changes
            .extend(test_image::ensure(&profile.image).context("the test image")?);
    }
    Ok(())
}

/// Writes a file when its text changed, counting it as a change.
fn write_file(
    changes: &mut Vec<String>,
    path: &Path,
    text: &str,
    mode: u32,
    dry_run: bool,
) -> anyhow::Result<()> {
    if systemd::write_if_changed(path, text, mode, dry_run)? {
        changes.push(format!("write {}", path.display()));
    }
    Ok(())
}

/// The install record, the effective profile and the unit; whether the running
/// cloud needs a restart (a new unit or a new effective profile).
fn write_record_and_unit(
    o: &InstallOptions,
    previous: Option<&Installed>,
    record: &Installed,
    profile: &Profile,
    base: &str,
    rep: &mut Progress,
) -> anyhow::Result<bool> {
    let profile_path = o.state_dir.join(PROFILE_FILE);
    let profile_text = format!(
        "# Written by `onestack install` from profile `{}` and the host's networks; `install` rewrites it.\n{}",
        base,
        toml::to_string(profile).context("serializing the effective profile")?
    );
    if !o.dry_run {
        std::fs::create_dir_all(&o.state_dir)
            .with_context(|| format!("creating {}", o.state_dir.display()))?;
        // The record is bookkeeping, not a host change: it does not count.
        if previous != Some(record) {
            state::write_json(&o.state_dir, RECORD_FILE, record)?;
        }
    }
    write_file(
        &mut rep.changes,
        &profile_path,
        &profile_text,
        0o644,
        o.dry_run,
    )?;
    let unit = systemd::unit_text(&o.binary, &o.state_dir, &profile_path);
    let unit_path = o.unit_dir.join(systemd::UNIT_NAME);
    let restart = std::fs::read_to_string(&unit_path).ok().as_deref() != Some(unit.as_str())
        || std::fs::read_to_string(&profile_path).ok().as_deref() != Some(profile_text.as_str());
    write_file(&mut rep.changes, &unit_path, &unit, 0o644, o.dry_run)?;
    Ok(restart)
}

/// The passwords, `cloud.json`, `clouds.yaml` and the openrc files.
fn write_client_files(
    o: &InstallOptions,
    profile: &Profile,
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (_, created) = Credentials::resolve(&o.state_dir, profile)?;
    if created {
        changes.push("generate admin and demo passwords".into());
    }
    let cloud_file = o.state_dir.join(state::CLOUD_FILE);
    let info = serde_json::to_string_pretty(&CloudInfo::of(profile))?;
    write_file(changes, &cloud_file, &info, 0o600, false)?;
    let os_dir = o.etc_dir.join("openstack");
    let clouds = crate::cli::clouds_yaml(&o.state_dir)?;
    write_file(changes, &os_dir.join("clouds.yaml"), &clouds, 0o600, false)?;
    for user in ["admin", "demo"] {
        let path = os_dir.join(format!("{user}-openrc.sh"));
        let text = crate::cli::openrc(&o.state_dir, user)?;
        write_file(changes, &path, &text, 0o600, false)?;
    }
    Ok(())
}

/// Enables (and restarts when asked) the unit where this install manages it,
/// else says why not; whether it manages the service.
fn start_service(o: &InstallOptions, restart: bool, rep: &mut Progress) -> anyhow::Result<bool> {
    let manage_service = !o.dry_run
        && o.netns.is_none()
        && systemd::systemd_booted()
        && o.unit_dir == Path::new("/etc/systemd/system");
    if manage_service {
        rep.changes.extend(systemd::enable(restart)?);
        return Ok(true);
    }
    let _ = writeln!(
        rep.out,
        "Service: not started here ({}); it would run: systemctl daemon-reload && systemctl enable --now {}",
        if o.dry_run {
            "dry run"
        } else if o.netns.is_some() {
            "--netns"
        } else if !systemd::systemd_booted() {
            "systemd is not PID 1"
        } else {
            "unit written outside /etc/systemd/system"
        },
        systemd::UNIT_NAME
    );
    Ok(false)
}

/// The real Horizon (`--horizon`): its packages, venv, settings and unit,
/// started or restarted when this install manages services.
fn install_horizon(
    o: &InstallOptions,
    profile: &Profile,
    manage_service: bool,
    rep: &mut Progress,
) -> anyhow::Result<()> {
    if !o.no_packages && !o.dry_run {
        rep.changes.extend(packages::ensure_horizon()?);
    }
    let hz = horizon::HorizonOptions {
        state_dir: o.state_dir.clone(),
        venv: o.state_dir.join(horizon::DIR).join("venv"),
        python: "python3".into(),
        keystone_url: format!("{}/identity/v3", profile.public_url()),
        region: profile.cloud.region.clone(),
        bind: horizon::DEFAULT_BIND.parse().context("Horizon's address")?,
        unit_dir: Some(o.unit_dir.clone()),
        dry_run: o.dry_run,
    };
    let done = horizon::setup(&hz).context("setting up Horizon")?;
    let unit_changed = done.iter().any(|c| c.ends_with(horizon::UNIT_NAME));
    let settings_changed = done.iter().any(|c| c.contains("local_settings"));
    rep.changes.extend(done);
    if manage_service && (unit_changed || settings_changed || !horizon_active()) {
        rep.changes.extend(horizon::enable()?);
    }
    let _ = writeln!(
        rep.out,
        "Horizon: {}/horizon/ (gunicorn on {}, unit {})",
        profile.public_url(),
        hz.bind,
        horizon::UNIT_NAME
    );
    Ok(())
}

/// Whether Horizon's unit is running.
fn horizon_active() -> bool {
    let argv: Vec<String> = ["systemctl", "is-active", "--quiet", horizon::UNIT_NAME]
        .iter()
        .map(|s| s.to_string())
        .collect();
    crate::dataplane::cmd::run_sync(&argv, None).is_ok()
}

/// Makes `profile` describe the chosen external network.
fn effective_profile(
    profile: &mut Profile,
    plan: &SetupPlan,
    netns: Option<&str>,
) -> anyhow::Result<()> {
    let range: Cidr = plan
        .floating_range
        .clone()
        .try_into()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let n = &mut profile.network;
    n.floating_range = range;
    n.public_gateway = plan.public_gateway;
    n.floating_pool_start = Some(plan.pool_start);
    n.floating_pool_end = Some(plan.pool_end);
    n.external_bridge = plan.bridge.clone();
    n.host_netns = netns.unwrap_or_default().to_owned();
    // The host table masquerades the floating range out of the uplink only; the
    // dataplane's broader rule (any device but the bridge) would also catch frames
    // bridged to taps and veths under br_netfilter and break floating IPs.
    if !plan.nat.is_empty() {
        n.masquerade = false;
    }
    // A namespace standing in for the host: name the router/DHCP namespaces after
    // it, so they are told apart (and cleaned up) with it.
    if let Some(ns) = netns
        && n.namespace_prefix.is_empty()
    {
        n.namespace_prefix = format!("{ns}-");
    }
    if profile.cloud.public_host.is_empty() && profile.cloud.listen.ip().is_unspecified() {
        profile.cloud.public_host = plan.public_host.clone();
    }
    Ok(())
}

/// `onestack host-restore` (the unit's ExecStartPre): re-applies the recorded
/// plan, since a reboot loses bridges, addresses and nft tables.
pub fn restore(state_dir: &Path) -> anyhow::Result<String> {
    let Some(rec) = state::read_json::<Installed>(state_dir, RECORD_FILE)? else {
        return Ok("no host setup recorded (run `onestack install`)\n".into());
    };
    let mut host = Host::new(Ns::from_option(rec.netns.as_deref()), false);
    apply::apply(&mut host, &rec.plan)?;
    Ok(format!(
        "host networking restored: {} changes\n",
        host.changes.len()
    ))
}

#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub state_dir: PathBuf,
    pub etc_dir: PathBuf,
    pub unit_dir: PathBuf,
    pub purge: bool,
}

/// `onestack uninstall`: the unit, the cloud's host networking, our bridge, NIC
/// addresses back, our nft table, the client files; with `purge` the state too.
/// Keeps going past failures and reports them all at the end.
pub async fn uninstall(o: &UninstallOptions) -> anyhow::Result<String> {
    let mut t = Teardown::default();
    // Horizon's unit (`install --horizon`) first: it needs the cloud.
    t.lines(systemd::remove_unit(&o.unit_dir, horizon::UNIT_NAME));
    t.lines(systemd::remove(&o.unit_dir));
    t.text(crate::cli::stop(&o.state_dir));
    // Their taps and bridges go with the host networking below.
    t.text(crate::cli::stop_instances(&o.state_dir));
    t.text(crate::cli::purge_network(&o.state_dir).await);
    revert_host_setup(&o.state_dir, &mut t);
    let os_dir = o.etc_dir.join("openstack");
    for f in ["clouds.yaml", "admin-openrc.sh", "demo-openrc.sh"] {
        let p = os_dir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {
                let _ = writeln!(t.out, "removed {}", p.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => t.errors.push(format!("{}: {e}", p.display())),
        }
    }
    if o.purge {
        t.text(crate::cli::reset(&o.state_dir, true));
    }
    if t.errors.is_empty() {
        Ok(t.out)
    } else {
        anyhow::bail!(
            "{}uninstall finished with errors:\n  {}",
            t.out,
            t.errors.join("\n  ")
        )
    }
}

/// What an uninstall has done and what failed, so far.
#[derive(Default)]
struct Teardown {
    out: String,
    errors: Vec<String>,
}

impl Teardown {
    /// A step that reports in text.
    fn text(&mut self, r: anyhow::Result<String>) {
        match r {
            Ok(t) => self.out += &t,
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }

    /// A step that reports one line per change.
    fn lines(&mut self, r: anyhow::Result<Vec<String>>) {
        match r {
            Ok(done) => done.iter().for_each(|d| {
                let _ = writeln!(self.out, "{d}");
            }),
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }
}

/// Reverts the host networking `install` recorded, then the record.
fn revert_host_setup(state_dir: &Path, t: &mut Teardown) {
    match state::read_json::<Installed>(state_dir, RECORD_FILE) {
        Ok(Some(rec)) => {
            let mut host = Host::new(Ns::from_option(rec.netns.as_deref()), false);
            t.errors
                .extend(apply::revert(&mut host, &rec.plan, rec.created_bridge));
            for c in &host.changes {
                let _ = writeln!(t.out, "{c}");
            }
            if let Err(e) = std::fs::remove_file(state_dir.join(RECORD_FILE)) {
                t.errors.push(format!("removing {RECORD_FILE}: {e}"));
            }
        }
        Ok(None) => t.out += "no host setup recorded\n",
        Err(e) => t.errors.push(format!("{e:#}")),
    }
}
