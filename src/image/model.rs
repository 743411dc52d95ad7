//! Glance domain types and the image status state machine.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;

/// Image status, as Glance names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ImageStatus {
    Queued,
    Saving,
    Uploading,
    Importing,
    Active,
    Deactivated,
    Killed,
}

impl ImageStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
            ImageStatus::Active => "active",
            ImageStatus::Deactivated => "deactivated",
            ImageStatus::Killed => "killed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// The one place that decides which status changes are legal; anything else is
    /// a 409 as Glance answers.
    pub(crate) fn transition(self, to: ImageStatus) -> Result<ImageStatus, ApiError> {
        use ImageStatus::*;
        let ok = matches!(
            (self, to),
            (Queued, Saving)
                | (Saving, Active)
                | (Saving, Queued)
                | (Queued, Uploading)
                | (Queued, Importing)
                | (Uploading, Importing)
                | (Uploading, Queued)
                | (Importing, Active)
                | (Importing, Queued)
                | (Active, Deactivated)
                | (Deactivated, Active)
                | (Active, Active)
                | (Deactivated, Deactivated)
        );
        if ok {
            Ok(to)
        } else {
            Err(ApiError::Conflict(format!(
                "Image status transition from {} to {} is not allowed",
                self.as_str(),
                to.as_str()
            )))
        }
    }
}

impl fmt::Display for ImageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub(crate) const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];
pub(crate) const VISIBILITIES: &[&str] = &["public", "private", "shared", "community"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Image {
    pub id: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub status: ImageStatus,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    /// Custom properties (`hw_*`, `os_distro`, anything a user sets): strings.
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub image_id: String,
    pub member_id: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Task {
    pub id: String,
    pub task_type: String,
    pub status: String,
    pub owner: String,
    pub image_id: Option<String>,
    pub input: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub message: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    /// The `x-openstack-request-id` of the request that started the task.
    pub request_id: Option<String>,
    pub user_id: Option<String>,
}

/// Checksums and sizes computed while the bytes streamed in.
#[derive(Debug, Clone)]
pub(crate) struct ImageData {
    pub size: i64,
    pub virtual_size: i64,
    pub checksum: String,
    pub os_hash_value: String,
}

pub(crate) const HASH_ALGO: &str = "sha512";

#[cfg(test)]
mod tests {
    use super::ImageStatus::*;

    #[test]
    fn only_legal_transitions_pass() {
        assert!(Queued.transition(Saving).is_ok());
        assert!(Saving.transition(Active).is_ok());
        assert!(Active.transition(Deactivated).is_ok());
        assert!(
            Active.transition(Saving).is_err(),
            "re-upload of an active image"
        );
        assert!(Queued.transition(Active).is_err(), "no data yet");
        assert!(Deactivated.transition(Saving).is_err());
        assert!(Queued.transition(Deactivated).is_err());
    }
}
