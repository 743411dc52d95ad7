//! The OS packages onestack runs: installed with apt when missing, and only then.

use crate::dataplane::cmd::run_sync;

use super::preflight::OsRelease;

/// Always needed. `genisoimage` makes config drives; `tgt` exports volumes over
/// iSCSI and `qemu-block-extra` is QEMU's iSCSI initiator (libiscsi) that opens
/// them; `lvm2` and `thin-provisioning-tools` run the LVM volume backend.
pub(crate) const PACKAGES: &[&str] = &[
    "qemu-utils",
    "dnsmasq-base",
    "nftables",
    "iproute2",
    "genisoimage",
    "tgt",
    "lvm2",
    "thin-provisioning-tools",
];

/// Installed when the distribution ships it.
pub(crate) const OPTIONAL: &[&str] = &["cloud-hypervisor"];

fn installed(pkg: &str) -> bool {
    let argv: Vec<String> = ["dpkg-query", "-W", "-f=${Status}", pkg]
        .map(String::from)
        .to_vec();
    run_sync(&argv, None).is_ok_and(|s| s.contains("install ok installed"))
}

fn available(pkg: &str) -> bool {
    let argv: Vec<String> = ["apt-cache", "show", pkg].map(String::from).to_vec();
    run_sync(&argv, None).is_ok_and(|s| !s.trim().is_empty())
}

/// What `ensure` would install, in the order it would.
pub(crate) fn missing() -> Vec<String> {
    let mut m: Vec<String> = PACKAGES
        .iter()
        .filter(|p| !installed(p))
        .map(|p| p.to_string())
        .collect();
    for p in ["qemu-system-x86", "qemu-block-extra"] {
        if !installed(p) {
            m.push(p.into());
        }
    }
    m.extend(
        OPTIONAL
            .iter()
            .filter(|p| !installed(p) && available(p))
            .map(|p| p.to_string()),
    );
    m
}

/// Installs what is missing. On Debian 12, qemu-system-x86 comes from
/// bookworm-backports, to match the backported qemu-utils (the plain bookworm one
/// conflicts with it); the suite is added reusing the configured Debian mirror.
pub(crate) fn ensure(os: &OsRelease) -> anyhow::Result<Vec<String>> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    let apt = |args: &[&str]| -> anyhow::Result<String> {
        let mut argv = vec!["apt-get".to_string(), "-y".into(), "-q".into()];
        argv.extend(args.iter().map(|s| s.to_string()));
        run_sync(&argv, None)?;
        Ok(argv.join(" "))
    };
    let bookworm = os.id == "debian" && os.version_id == "12";
    if bookworm && missing.iter().any(|p| p == "qemu-system-x86") && ensure_backports()? {
        done.push("added bookworm-backports to apt sources".into());
    }
    done.push(apt(&["update"])?);
    let (plain, backported): (Vec<&String>, Vec<&String>) = missing.iter().partition(|p| {
        !(bookworm
            && matches!(
                p.as_str(),
                "qemu-system-x86" | "qemu-utils" | "qemu-block-extra"
            ))
    });
    if !plain.is_empty() {
        let mut args = vec!["install", "--no-install-recommends"];
        args.extend(plain.iter().map(|s| s.as_str()));
        done.push(apt(&args)?);
    }
    if !backported.is_empty() {
        let mut args = vec![
            "install",
            "--no-install-recommends",
            "-t",
            "bookworm-backports",
        ];
        args.extend(backported.iter().map(|s| s.as_str()));
        done.push(apt(&args)?);
    }
    Ok(done)
}

/// What `install --horizon` needs besides: a Python that makes venvs.
pub(crate) const HORIZON: &[&str] = &["python3-venv"];

/// Installs what of `HORIZON` is missing; returns the commands it ran.
pub(crate) fn ensure_horizon() -> anyhow::Result<Vec<String>> {
    let missing: Vec<&str> = HORIZON.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let mut argv: Vec<String> = ["apt-get", "-y", "-q", "install", "--no-install-recommends"]
        .map(String::from)
        .to_vec();
    argv.extend(missing.iter().map(|s| s.to_string()));
    run_sync(&argv, None)?;
    Ok(vec![argv.join(" ")])
}

/// Adds `bookworm-backports` with the mirror of the existing Debian source, unless
/// a source already names it. Returns whether it added it.
fn ensure_backports() -> anyhow::Result<bool> {
    let mut texts = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        texts.extend(
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()),
        );
    }
    let all = texts.join("\n");
    if all.contains("bookworm-backports") {
        return Ok(false);
    }
    let uri = mirror(&all).unwrap_or_else(|| "http://deb.debian.org/debian".into());
    crate::fsutil::write_atomic(
        std::path::Path::new("/etc/apt/sources.list.d/onestack-backports.list"),
        format!("deb {uri} bookworm-backports main\n").as_bytes(),
        0o644,
    )?;
    Ok(true)
}

/// The Debian mirror URI of a sources.list (`deb URI bookworm main`) or deb822
/// (`URIs: URI`) text, skipping the security archive.
pub(crate) fn mirror(sources: &str) -> Option<String> {
    sources.lines().map(str::trim).find_map(|l| {
        let uri = if let Some(rest) = l.strip_prefix("URIs:") {
            rest.split_whitespace().next()
        } else if l.starts_with("deb ") {
            l.split_whitespace().find(|w| w.contains("://"))
        } else {
            None
        }?;
        (!uri.contains("security")).then(|| uri.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror() {
        let deb822 = "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(
            mirror(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror("deb [arch=amd64] http://ftp.fr.debian.org/debian bookworm main\n").as_deref(),
            Some("http://ftp.fr.debian.org/debian")
        );
        assert_eq!(mirror("# nothing\n"), None);
    }
}
