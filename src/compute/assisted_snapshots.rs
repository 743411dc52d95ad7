//! Assisted volume snapshots (os-assisted-volume-snapshots).
