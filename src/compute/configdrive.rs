//! The config drive: an ISO 9660 image (Rock Ridge + Joliet) labelled `config-2`
//! holding the metadata files, made the way Nova makes it (`genisoimage` with Nova's
//! options, or `xorriso -as mkisofs` when genisoimage is missing). The image is
//! written to a temp file beside `out`, fsynced and renamed, so a crash never
//! leaves a half-written drive under the final name.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The volume label cloud-init looks for.
pub(crate) const LABEL: &str = "config-2";

/// Builds the config drive of `files` (relative path, content) at `out`.
pub(crate) async fn build(files: &[(String, Vec<u8>)], out: &Path) -> anyhow::Result<()> {
    let files = files.to_vec();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || build_blocking(&files, &out))
        .await
        .context("config drive task")?
}

fn build_blocking(files: &[(String, Vec<u8>)], out: &Path) -> anyhow::Result<()> {
    let dir = out
        .parent()
        .context("the config drive path needs a parent directory")?;
    let name = out
        .file_name()
        .context("config drive file name")?
        .to_string_lossy();
    let tag = uuid::Uuid::new_v4().simple();
    let tree = dir.join(format!(".{name}.tree-{tag}"));
    let tmp = dir.join(format!(".{name}.tmp-{tag}"));
    let result = (|| {
        write_tree(&tree, files)?;
        make_iso(&tree, &tmp)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("fsync {}", tmp.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("rename to {}", out.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("fsync {}", dir.display()))
    })();
    crate::fsutil::discard_dir(&tree);
    if result.is_err() {
        crate::fsutil::discard(&tmp);
    }
    result
}

/// Writes each file under `root`, refusing paths that would leave it.
fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    for (rel, data) in files {
        let rel_path = Path::new(rel);
        if rel.is_empty()
            || !rel_path
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            bail!("config drive path {rel:?} is not a plain relative path");
        }
        let path: PathBuf = root.join(rel_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, data).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// The ISO tool available here: genisoimage (Nova's default), else xorriso.
pub(crate) fn iso_tool() -> Option<Vec<String>> {
    if find_program("genisoimage").is_some() {
        return Some(vec!["genisoimage".into()]);
    }
    find_program("xorriso").map(|_| vec!["xorriso".into(), "-as".into(), "mkisofs".into()])
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn make_iso(tree: &Path, iso: &Path) -> anyhow::Result<()> {
    let tool = iso_tool().context("neither genisoimage nor xorriso is installed")?;
    let publisher = format!("OpenStack Compute (onestack {})", env!("CARGO_PKG_VERSION"));
    let (prog, pre) = tool.split_first().context("iso tool")?;
    let out = Command::new(prog)
        .args(pre)
        .arg("-o")
        .arg(iso)
        .args([
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-publisher",
            &publisher,
            "-quiet",
            "-J",
            "-r",
            "-V",
            LABEL,
        ])
        .arg(tree)
        .output()
        .with_context(|| format!("run {prog}"))?;
    if !out.status.success() {
        bail!(
            "{prog} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_a_labelled_iso_cloud_init_can_read() {
        if iso_tool().is_none() {
            eprintln!("SKIPPED: neither genisoimage nor xorriso is installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("disk.config");
        let files = vec![
            (
                "openstack/latest/meta_data.json".to_string(),
                br#"{"uuid": "u1"}"#.to_vec(),
            ),
            ("ec2/latest/user-data".to_string(), b"#!/bin/sh\n".to_vec()),
        ];
        build(&files, &out).await.unwrap();
        let iso = std::fs::read(&out).unwrap();
        // Primary volume descriptor at sector 16; the volume id starts at byte 40 of it.
        assert_eq!(&iso[32769..32774], b"CD001");
        assert_eq!(&iso[32808..32808 + LABEL.len()], LABEL.as_bytes());
        assert_eq!(iso[32808 + LABEL.len()], b' ');
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "only the image is left: {leftovers:?}");
        if find_program("isoinfo").is_none() {
            eprintln!("SKIPPED part: isoinfo is not installed (genisoimage package)");
            return;
        }
        let listing = Command::new("isoinfo")
            .args(["-R", "-l", "-i"])
            .arg(&out)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("Directory listing of /openstack/latest/")
                && listing.contains("meta_data.json"),
            "{listing}"
        );
        let cat = Command::new("isoinfo")
            .args(["-R", "-x", "/openstack/latest/meta_data.json", "-i"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(cat.stdout, br#"{"uuid": "u1"}"#);
    }

    #[tokio::test]
    async fn refuses_paths_leaving_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("disk.config");
        let files = vec![("../escape".to_string(), b"x".to_vec())];
        assert!(build(&files, &out).await.is_err());
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
