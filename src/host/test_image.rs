//! The bootable test guest `install` puts where the profile's `[image]
//! bootstrap_*` paths say (DevStack downloads CirrOS; onestack builds its own from
//! the distribution's packages, since nothing but packages is fetched).
//!
//! The build is `scripts/build-test-image.sh`, compiled into the binary so an
//! installed `onestack` needs no source tree: it is written to a temporary
//! directory and run with bash, and its outputs are copied into place (0644).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::profile::ImageSection;

/// The build script, as in the source tree.
const BUILD_SCRIPT: &str = include_str!("../../scripts/build-test-image.sh");

/// One file the profile wants and the build output that provides it.
struct Wanted {
    dest: PathBuf,
    built: &'static str,
}

/// The files the profile names (disk, and kernel and initramfs when set).
fn wanted(image: &ImageSection) -> Vec<Wanted> {
    [
        (&image.bootstrap_image, "test-image.qcow2"),
        (&image.bootstrap_kernel, "vmlinux"),
        (&image.bootstrap_ramdisk, "initrd.img"),
    ]
    .into_iter()
    .filter(|(path, _)| !path.is_empty())
    .map(|(path, built)| Wanted {
        dest: PathBuf::from(path),
        built,
    })
    .collect()
}

/// The wanted files that are not in place.
fn absent(image: &ImageSection) -> Vec<Wanted> {
    wanted(image)
        .into_iter()
        .filter(|w| !w.dest.is_file())
        .collect()
}

/// The files the profile names that are not in place.
pub(crate) fn missing(image: &ImageSection) -> Vec<PathBuf> {
    absent(image).into_iter().map(|w| w.dest).collect()
}

/// Builds the test guest and puts each missing file in place. Returns the changes
/// made (none when every file is there). The disk is only ever built by this
/// step, so a user's own image at the same path is never replaced.
pub fn ensure(image: &ImageSection) -> anyhow::Result<Vec<String>> {
    let todo = absent(image);
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let work = tempdir()?;
    let result = build_into(&work, &todo);
    if let Err(e) = std::fs::remove_dir_all(&work) {
        tracing::warn!(dir = %work.display(), error = %e, "could not remove the image build directory");
    }
    result
}

fn build_into(work: &Path, todo: &[Wanted]) -> anyhow::Result<Vec<String>> {
    let scripts = work.join("scripts");
    std::fs::create_dir_all(&scripts).context("creating the image build directory")?;
    let script = scripts.join("build-test-image.sh");
    std::fs::write(&script, BUILD_SCRIPT).context("writing the image build script")?;
    let out = work.join("out");
    tracing::info!("building the test image from distribution packages");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .context("running bash for the image build")?;
    anyhow::ensure!(
        status.success(),
        "building the test image failed ({status}); its output is above. Run it by hand: scripts/build-test-image.sh"
    );
    let mut changes = Vec::new();
    for w in todo {
        let from = out.join(w.built);
        let dir = w
            .dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Copied beside the destination and renamed, so a reader never sees half a file.
        let partial = dir.join(format!(".{}.partial", w.built));
        std::fs::copy(&from, &partial)
            .with_context(|| format!("copying {} to {}", from.display(), partial.display()))?;
        set_mode(&partial, 0o644)?;
        std::fs::rename(&partial, &w.dest)
            .with_context(|| format!("putting {} in place", w.dest.display()))?;
        changes.push(format!("install test image file {}", w.dest.display()));
    }
    Ok(changes)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// A fresh private directory under the system's temporary directory.
fn tempdir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!(
            "onestack-image-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!("no free temporary directory under {}", base.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_named_files_are_wanted_and_present_ones_are_not_missing() {
        let dir = std::env::temp_dir().join(format!("onestack-ti-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let disk = dir.join("disk.qcow2");
        std::fs::write(&disk, b"x").expect("write");
        let image = ImageSection {
            bootstrap_image: disk.to_string_lossy().into_owned(),
            bootstrap_kernel: dir.join("vmlinux").to_string_lossy().into_owned(),
            bootstrap_ramdisk: String::new(),
            ..ImageSection::default()
        };
        assert_eq!(wanted(&image).len(), 2);
        assert_eq!(missing(&image), vec![dir.join("vmlinux")]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn the_script_is_the_source_trees() {
        assert!(BUILD_SCRIPT.starts_with("#!/usr/bin/env bash"));
        assert!(BUILD_SCRIPT.contains("test-image.qcow2"));
    }
}
