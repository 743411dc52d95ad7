//! Block storage domain types, and `VolumeStatus::transition`, the one place that
//! decides which status a volume moves to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A volume's status, as Cinder names it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum VolumeStatus {
    Creating,
    Available,
    Reserved,
    Attaching,
    InUse,
    Detaching,
    Deleting,
    Extending,
    Maintenance,
    Error,
    ErrorDeleting,
    ErrorExtending,
    /// Offered to another project (a pending volume transfer).
    AwaitingTransfer,
    /// Being copied to a backup.
    BackingUp,
    /// Being overwritten by a backup's data.
    RestoringBackup,
    ErrorRestoring,
    /// Being copied to a Glance image.
    Uploading,
    /// Being rewritten with an image's data (`os-reimage`).
    Downloading,
}

impl VolumeStatus {
    pub(crate) const ALL: [VolumeStatus; 18] = [
        VolumeStatus::Creating,
        VolumeStatus::Available,
        VolumeStatus::Reserved,
        VolumeStatus::Attaching,
        VolumeStatus::InUse,
        VolumeStatus::Detaching,
        VolumeStatus::Deleting,
        VolumeStatus::Extending,
        VolumeStatus::Maintenance,
        VolumeStatus::Error,
        VolumeStatus::ErrorDeleting,
        VolumeStatus::ErrorExtending,
        VolumeStatus::AwaitingTransfer,
        VolumeStatus::BackingUp,
        VolumeStatus::RestoringBackup,
        VolumeStatus::ErrorRestoring,
        VolumeStatus::Uploading,
        VolumeStatus::Downloading,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            VolumeStatus::Creating => "creating",
            VolumeStatus::Available => "available",
            VolumeStatus::Reserved => "reserved",
            VolumeStatus::Attaching => "attaching",
            VolumeStatus::InUse => "in-use",
            VolumeStatus::Detaching => "detaching",
            VolumeStatus::Deleting => "deleting",
            VolumeStatus::Extending => "extending",
            VolumeStatus::Maintenance => "maintenance",
            VolumeStatus::Error => "error",
            VolumeStatus::ErrorDeleting => "error_deleting",
            VolumeStatus::ErrorExtending => "error_extending",
            VolumeStatus::AwaitingTransfer => "awaiting-transfer",
            VolumeStatus::BackingUp => "backing-up",
            VolumeStatus::RestoringBackup => "restoring-backup",
            VolumeStatus::ErrorRestoring => "error_restoring",
            VolumeStatus::Uploading => "uploading",
            VolumeStatus::Downloading => "downloading",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<VolumeStatus> {
        VolumeStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What happens to a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The backend made the volume's storage.
    Created,
    CreateFailed,
    ExtendStart,
    /// The backend grew the storage; `attached` says where the volume returns to.
    Extended {
        attached: bool,
    },
    ExtendFailed,
    DeleteStart {
        /// `force`: an admin deletes whatever the status (not while attached).
        force: bool,
    },
    DeleteFailed,
    /// An admin's `os-reset_status`.
    Reset(VolumeStatus),
    /// An attachment is reserved for a consumer (Cinder's `attachment_create`
    /// without a connector, or `os-reserve`).
    Reserve,
    /// The consumer starts connecting (a connector was given, or `os-attach`).
    AttachStart,
    /// The consumer connected the volume.
    Attached,
    /// A reservation or attach is dropped; `others`: attachments remain.
    Unreserve {
        others: bool,
    },
    /// The consumer begins disconnecting (`os-begin_detaching`).
    DetachStart,
    /// A begun detach is undone (`os-roll_detaching`).
    DetachRollback,
    /// An attachment is removed; `others`: attachments remain.
    Detached {
        others: bool,
    },
    /// A transfer is offered (`awaiting-transfer`).
    TransferStart,
    /// The transfer is accepted or withdrawn.
    TransferEnd,
    /// A backup starts copying the volume; `force` allows an in-use volume.
    BackupStart {
        force: bool,
    },
    /// An upload to an image starts; `force` allows an in-use volume.
    UploadStart {
        force: bool,
    },
    /// A backup or upload finished (or failed: the volume itself is intact);
    /// `attached` says where the volume returns to.
    CopyDone {
        attached: bool,
    },
    /// A backup's data starts overwriting the volume.
    RestoreStart,
    Restored,
    RestoreFailed,
    /// The compute service takes the only attachment of an in-use volume back
    /// to `reserved` before a reimage (Nova swaps in a new attachment without a
    /// connector and deletes the old one).
    ReimageReserve,
    /// `os-reimage` starts; `reserved` (`reimage_reserved`) also allows a
    /// reserved volume.
    ReimageStart {
        reserved: bool,
    },
    /// The image's data is in; the volume returns to the status it had.
    Reimaged {
        back_to: VolumeStatus,
    },
    ReimageFailed,
}

/// A refused move: the action and the status that forbids it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub action: &'static str,
    pub needs: &'static str,
    pub current: VolumeStatus,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Invalid volume: Volume status must be {} to {}, but current status is: {}.",
            self.needs,
            self.action,
            self.current.as_str()
        )
    }
}

impl VolumeStatus {
    /// The status after `event`, or why the event is not allowed now.
    pub(crate) fn transition(self, event: Event) -> Result<VolumeStatus, Refused> {
        use VolumeStatus as S;
        let refuse = |action, needs| Refused {
            action,
            needs,
            current: self,
        };
        match (event, self) {
            (Event::Created, S::Creating) => Ok(S::Available),
            (Event::Created, _) => Err(refuse("finish creating", "creating")),
            (Event::CreateFailed, S::Creating) => Ok(S::Error),
            (Event::CreateFailed, _) => Err(refuse("fail creating", "creating")),
            (Event::ExtendStart, S::Available | S::InUse) => Ok(S::Extending),
            (Event::ExtendStart, _) => Err(refuse("extend", "available or in-use")),
            (Event::Extended { attached }, S::Extending) => {
                Ok(if attached { S::InUse } else { S::Available })
            }
            (Event::ExtendFailed, S::Extending) => Ok(S::ErrorExtending),
            (Event::Extended { .. } | Event::ExtendFailed, _) => {
                Err(refuse("finish extending", "extending"))
            }
            (
                Event::DeleteStart { .. },
                S::Available | S::Error | S::ErrorExtending | S::ErrorRestoring,
            ) => Ok(S::Deleting),
            // A forced delete also takes what a crash or a failed operation left.
            // (Not attached: `volume_delete` refuses an attached volume first.)
            (
                Event::DeleteStart { force: true },
                S::Creating
                | S::ErrorDeleting
                | S::Deleting
                | S::Maintenance
                | S::Extending
                | S::Reserved
                | S::Attaching
                | S::Detaching,
            ) => Ok(S::Deleting),
            (Event::DeleteStart { .. }, _) => Err(refuse(
                "delete",
                "available or error or error_restoring or error_extending or error_managing \
                 and must not be migrating, attached, belong to a group, have snapshots, \
                 awaiting a transfer, or be disassociated from snapshots after volume transfer",
            )),
            (Event::DeleteFailed, S::Deleting) => Ok(S::ErrorDeleting),
            (Event::DeleteFailed, _) => Err(refuse("fail deleting", "deleting")),
            (Event::Reset(to), _) => Ok(to),
            (Event::Reserve, S::Available) => Ok(S::Reserved),
            // A multiattach volume takes further attachments while in use.
            (Event::Reserve, S::InUse) => Ok(S::InUse),
            (Event::Reserve, _) => Err(refuse("reserve", "available")),
            (Event::AttachStart, S::Available | S::Reserved) => Ok(S::Attaching),
            (Event::AttachStart, S::InUse | S::Attaching) => Ok(self),
            (Event::AttachStart, _) => Err(refuse("attach", "available or reserved")),
            (Event::Attached, S::Reserved | S::Attaching | S::InUse | S::Available) => Ok(S::InUse),
            (Event::Attached, _) => Err(refuse("attach", "attaching or reserved")),
            (Event::Unreserve { others }, S::Reserved | S::Attaching | S::InUse | S::Available) => {
                Ok(if others { S::InUse } else { S::Available })
            }
            (Event::Unreserve { .. }, _) => Err(refuse("unreserve", "reserved or attaching")),
            (Event::DetachStart, S::InUse) => Ok(S::Detaching),
            (Event::DetachStart, _) => Err(refuse("begin detaching", "in-use")),
            (Event::DetachRollback, S::Detaching) => Ok(S::InUse),
            (Event::DetachRollback, _) => Ok(self),
            (
                Event::Detached { others },
                S::InUse | S::Detaching | S::Attaching | S::Reserved | S::Available | S::Error,
            ) => Ok(if others { S::InUse } else { S::Available }),
            (Event::Detached { .. }, _) => Err(refuse("detach", "in-use or detaching")),
            (Event::TransferStart, S::Available) => Ok(S::AwaitingTransfer),
            (Event::TransferStart, _) => Err(refuse("transfer", "available")),
            (Event::TransferEnd, S::AwaitingTransfer) => Ok(S::Available),
            (Event::TransferEnd, _) => Err(refuse("finish a transfer", "awaiting-transfer")),
            (Event::BackupStart { .. }, S::Available) => Ok(S::BackingUp),
            (Event::BackupStart { force: true }, S::InUse) => Ok(S::BackingUp),
            (Event::BackupStart { .. }, _) => Err(refuse(
                "back up",
                "available or in-use (in-use only with force)",
            )),
            (Event::UploadStart { .. }, S::Available) => Ok(S::Uploading),
            (Event::UploadStart { force: true }, S::InUse) => Ok(S::Uploading),
            (Event::UploadStart { .. }, _) => Err(refuse(
                "upload to an image",
                "available or in-use (in-use only with force)",
            )),
            (Event::CopyDone { attached }, S::BackingUp | S::Uploading) => {
                Ok(if attached { S::InUse } else { S::Available })
            }
            (Event::CopyDone { .. }, _) => Err(refuse("finish copying", "backing-up or uploading")),
            (Event::RestoreStart, S::Available) => Ok(S::RestoringBackup),
            (Event::RestoreStart, _) => Err(refuse("restore a backup", "available")),
            (Event::Restored, S::RestoringBackup) => Ok(S::Available),
            (Event::RestoreFailed, S::RestoringBackup) => Ok(S::ErrorRestoring),
            (Event::Restored | Event::RestoreFailed, _) => {
                Err(refuse("finish restoring", "restoring-backup"))
            }
            (Event::ReimageReserve, S::InUse | S::Reserved) => Ok(S::Reserved),
            (Event::ReimageReserve, _) => Err(refuse("reserve for a reimage", "in-use")),
            (Event::ReimageStart { .. }, S::Available | S::Error) => Ok(S::Downloading),
            (Event::ReimageStart { reserved: true }, S::Reserved) => Ok(S::Downloading),
            (Event::ReimageStart { reserved }, _) => Err(refuse(
                "reimage",
                if reserved {
                    "available or error or reserved"
                } else {
                    "available or error"
                },
            )),
            (Event::Reimaged { back_to }, S::Downloading) => Ok(back_to),
            (Event::ReimageFailed, S::Downloading) => Ok(S::Error),
            (Event::Reimaged { .. } | Event::ReimageFailed, _) => {
                Err(refuse("finish reimaging", "downloading"))
            }
        }
    }
}

/// A volume row.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    pub status: VolumeStatus,
    pub attach_status: String,
    pub availability_zone: String,
    pub type_id: String,
    pub type_name: String,
    pub bootable: bool,
    pub multiattach: bool,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image_id: Option<String>,
    pub task: Option<Task>,
    pub error_reason: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    #[expect(
        dead_code,
        reason = "stored with the row as Cinder stores it; the volume API does not show it"
    )]
    pub launched_at: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub image_metadata: BTreeMap<String, String>,
    pub admin_metadata: BTreeMap<String, String>,
    /// The volume's attachments, oldest first.
    pub attachments: Vec<Attachment>,
    /// The generic volume group it belongs to (3.13+).
    pub group_id: Option<String>,
}

impl Volume {
    /// A new detached volume with a fresh id and no source, task, metadata,
    /// attachment or group: what a create, a manage and a restore share before
    /// each sets its own fields.
    pub(crate) fn detached(
        (project_id, user_id): (String, String),
        size: i64,
        status: VolumeStatus,
        availability_zone: String,
        (type_id, type_name): (String, String),
        created_at: String,
    ) -> Volume {
        Volume {
            id: uuid::Uuid::new_v4().to_string(),
            project_id,
            user_id,
            name: None,
            description: None,
            size,
            status,
            attach_status: "detached".into(),
            availability_zone,
            type_id,
            type_name,
            bootable: false,
            multiattach: false,
            snapshot_id: None,
            source_volid: None,
            image_id: None,
            task: None,
            error_reason: None,
            created_at,
            updated_at: None,
            launched_at: None,
            metadata: BTreeMap::new(),
            image_metadata: BTreeMap::new(),
            admin_metadata: BTreeMap::new(),
            attachments: Vec::new(),
            group_id: None,
        }
    }
}

/// One consumer's hold on a volume (Cinder's volume attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachment {
    pub id: String,
    pub volume_id: String,
    pub instance_uuid: Option<String>,
    /// Guest device name (`/dev/vdb`).
    pub mountpoint: Option<String>,
    /// `rw` or `ro`.
    pub attach_mode: String,
    /// `reserved`, `attaching`, `attached` or `detaching`.
    pub status: String,
    /// The connector the consumer gave, as JSON.
    pub connector: Option<serde_json::Value>,
    /// Made by the compute service, which plugs it into the guest.
    pub by_compute: bool,
    pub created_at: String,
    pub attached_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The multi-step operation a volume is in, persisted before its first step so
/// `tasks::recover` can finish or undo it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Task {
    /// Make the backing storage of `size` GiB: blank, or a copy of `source`.
    Create {
        size: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
    },
    /// Grow the backing storage to `new_size` GiB; `attached` is where it returns.
    Extend { new_size: i64, attached: bool },
    /// Remove the backing storage, then the row.
    Delete,
    /// Copy the data into Glance image `image_id` (queued) in `disk_format`.
    Upload {
        image_id: String,
        disk_format: String,
    },
    /// Rewrite the volume with image `image_id`'s data (in `format`), then
    /// record `image_metadata` as its `volume_image_metadata` and return to
    /// `previous` (Cinder's `previous_status`).
    Reimage {
        image_id: String,
        format: String,
        previous: String,
        #[serde(default)]
        image_metadata: BTreeMap<String, String>,
    },
}

/// What a new volume is copied from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Source {
    Snapshot {
        id: String,
    },
    Volume {
        id: String,
    },
    /// A Glance image's data file, in `format` (qcow2, raw, ...).
    Image {
        id: String,
        format: String,
    },
    /// Storage in the backend this service did not manage (`manage`), by name.
    Existing {
        name: String,
    },
}

/// A snapshot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotStatus {
    Creating,
    Available,
    Deleting,
    Error,
    ErrorDeleting,
}

/// What happens to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotEvent {
    Created,
    CreateFailed,
    DeleteStart { force: bool },
    DeleteFailed,
    Reset(SnapshotStatus),
}

impl SnapshotStatus {
    pub(crate) const ALL: [SnapshotStatus; 5] = [
        SnapshotStatus::Creating,
        SnapshotStatus::Available,
        SnapshotStatus::Deleting,
        SnapshotStatus::Error,
        SnapshotStatus::ErrorDeleting,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::Error => "error",
            SnapshotStatus::ErrorDeleting => "error_deleting",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<SnapshotStatus> {
        SnapshotStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The status after `event`, or Cinder's refusal message.
    pub(crate) fn transition(self, event: SnapshotEvent) -> Result<SnapshotStatus, String> {
        use SnapshotStatus as S;
        match (event, self) {
            (SnapshotEvent::Created, S::Creating) => Ok(S::Available),
            (SnapshotEvent::CreateFailed, S::Creating) => Ok(S::Error),
            (SnapshotEvent::DeleteStart { .. }, S::Available | S::Error) => Ok(S::Deleting),
            (
                SnapshotEvent::DeleteStart { force: true },
                S::Creating | S::ErrorDeleting | S::Deleting,
            ) => Ok(S::Deleting),
            (SnapshotEvent::DeleteFailed, S::Deleting) => Ok(S::ErrorDeleting),
            (SnapshotEvent::Reset(to), _) => Ok(to),
            (SnapshotEvent::DeleteStart { .. }, _) => Err(format!(
                "Invalid snapshot: Snapshot status must be available or error to delete, but current status is: {}.",
                self.as_str()
            )),
            (_, _) => Err(format!(
                "Invalid snapshot: unexpected status {} for this step.",
                self.as_str()
            )),
        }
    }
}

/// A snapshot row.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    pub status: SnapshotStatus,
    pub metadata: BTreeMap<String, String>,
    /// `create` or `delete` while that step is under way.
    pub task: Option<String>,
    #[expect(
        dead_code,
        reason = "stored with the row; the snapshot API does not show it"
    )]
    pub error_reason: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// The progress its creator reported (`os-update_snapshot_status`), if any.
    pub progress: Option<String>,
    /// The group snapshot it was made as part of (3.14+).
    pub group_snapshot_id: Option<String>,
}

/// A volume type with its extra specs.
#[derive(Debug, Clone)]
pub(crate) struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
    pub created_at: String,
    #[expect(
        dead_code,
        reason = "stored with the row; the volume type API does not show it"
    )]
    pub updated_at: Option<String>,
    /// The QoS specs the type is associated with.
    pub qos_specs_id: Option<String>,
}

/// A group type (3.11+) with its group specs.
#[derive(Debug, Clone)]
pub(crate) struct GroupType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub group_specs: BTreeMap<String, String>,
    pub created_at: String,
}

/// Cinder's group and group-snapshot statuses (`GroupStatus`,
/// `GroupSnapshotStatus`); what admins may reset a group to.
pub(crate) const GROUP_STATUSES: &[&str] = &[
    "error",
    "available",
    "creating",
    "deleting",
    "deleted",
    "updating",
    "in-use",
    "error_deleting",
];
pub(crate) const GROUP_SNAPSHOT_STATUSES: &[&str] = &[
    "error",
    "available",
    "creating",
    "deleting",
    "deleted",
    "updating",
    "error_deleting",
];

/// A generic volume group (3.13+).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub availability_zone: String,
    pub group_type_id: String,
    /// The volume types its volumes may have, in the order given at create.
    pub volume_types: Vec<String>,
    pub group_snapshot_id: Option<String>,
    pub source_group_id: Option<String>,
    pub created_at: String,
    #[expect(
        dead_code,
        reason = "stored with the row; the group API does not show it"
    )]
    pub updated_at: Option<String>,
}

/// A snapshot of every volume of a group at once (3.14+).
#[derive(Debug, Clone)]
pub(crate) struct GroupSnapshot {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub group_id: String,
    pub group_type_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub created_at: String,
    #[expect(
        dead_code,
        reason = "stored with the row; the group API does not show it"
    )]
    pub updated_at: Option<String>,
}

/// A pending volume transfer; only the auth key's salted hash is kept.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub source_project_id: String,
    pub salt: String,
    pub crypt_hash: String,
    pub no_snapshots: bool,
    pub created_at: String,
}

/// QoS specs: key/value limits for a consumer (front-end, back-end or both).
#[derive(Debug, Clone)]
pub(crate) struct QosSpecs {
    pub id: String,
    pub name: String,
    pub consumer: String,
    pub specs: BTreeMap<String, String>,
    pub created_at: String,
}

/// A user message (3.3): why an asynchronous operation failed.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub id: String,
    pub project_id: String,
    pub request_id: String,
    pub resource_type: String,
    pub resource_uuid: Option<String>,
    pub event_id: String,
    pub message_level: String,
    pub user_message: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// A backup's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupStatus {
    Creating,
    Available,
    Deleting,
    Restoring,
    Error,
    ErrorDeleting,
}

impl BackupStatus {
    pub(crate) const ALL: [BackupStatus; 6] = [
        BackupStatus::Creating,
        BackupStatus::Available,
        BackupStatus::Deleting,
        BackupStatus::Restoring,
        BackupStatus::Error,
        BackupStatus::ErrorDeleting,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Creating => "creating",
            BackupStatus::Available => "available",
            BackupStatus::Deleting => "deleting",
            BackupStatus::Restoring => "restoring",
            BackupStatus::Error => "error",
            BackupStatus::ErrorDeleting => "error_deleting",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<BackupStatus> {
        BackupStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a restore gives back besides the data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackedUpMeta {
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub image_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub bootable: bool,
}

/// A backup row.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub id: String,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    pub status: BackupStatus,
    pub availability_zone: String,
    pub container: Option<String>,
    pub is_incremental: bool,
    pub parent_id: Option<String>,
    pub object_count: i64,
    pub metadata: BTreeMap<String, String>,
    pub volume_meta: BackedUpMeta,
    /// `create`, `restore:<volume id>` or `delete` while that step is under way.
    pub task: Option<String>,
    pub fail_reason: Option<String>,
    pub data_timestamp: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Whether an incremental backup has this one as its parent.
    pub has_dependents: bool,
}

/// Cinder's built-in type, which always exists.
pub(crate) const DEFAULT_TYPE_NAME: &str = "__DEFAULT__";
/// DevStack's LVM backend type, the cloud's default volume type.
pub(crate) const DEVSTACK_TYPE_NAME: &str = "lvmdriver-1";
/// The availability zone of every volume (Cinder's storage_availability_zone).
pub(crate) const ZONE: &str = "nova";
/// The volume backend name (DevStack's `lvmdriver-1` section).
pub(crate) const BACKEND_NAME: &str = "lvmdriver-1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_extend_delete_paths() {
        use VolumeStatus as S;
        assert_eq!(S::Creating.transition(Event::Created), Ok(S::Available));
        assert_eq!(S::Creating.transition(Event::CreateFailed), Ok(S::Error));
        assert_eq!(
            S::Available.transition(Event::ExtendStart),
            Ok(S::Extending)
        );
        assert_eq!(S::InUse.transition(Event::ExtendStart), Ok(S::Extending));
        assert_eq!(
            S::Extending.transition(Event::Extended { attached: true }),
            Ok(S::InUse)
        );
        assert_eq!(
            S::Extending.transition(Event::Extended { attached: false }),
            Ok(S::Available)
        );
        assert_eq!(
            S::Extending.transition(Event::ExtendFailed),
            Ok(S::ErrorExtending)
        );
        assert!(S::Available.transition(Event::ExtendFailed).is_err());
        assert_eq!(
            S::Error.transition(Event::DeleteStart { force: false }),
            Ok(S::Deleting)
        );
        assert_eq!(
            S::Deleting.transition(Event::DeleteFailed),
            Ok(S::ErrorDeleting)
        );
    }

    #[test]
    fn in_use_and_busy_volumes_refuse_delete() {
        use VolumeStatus as S;
        for s in [S::InUse, S::Attaching, S::Reserved, S::Detaching] {
            let e = s
                .transition(Event::DeleteStart { force: false })
                .expect_err("refused");
            assert!(e.to_string().contains("must be available"), "{e}");
        }
        assert!(
            S::InUse
                .transition(Event::DeleteStart { force: true })
                .is_err()
        );
        // An admin's force delete takes a volume a reset left attaching (Cinder
        // refuses only an attached one, which `volume_delete` checks).
        for s in [S::Attaching, S::Reserved, S::Detaching] {
            assert_eq!(
                s.transition(Event::DeleteStart { force: true }),
                Ok(S::Deleting)
            );
        }
        assert!(
            S::Creating
                .transition(Event::DeleteStart { force: false })
                .is_err()
        );
        assert_eq!(
            S::Creating.transition(Event::DeleteStart { force: true }),
            Ok(S::Deleting)
        );
        let e = S::Creating
            .transition(Event::ExtendStart)
            .expect_err("refused");
        assert_eq!(
            e.to_string(),
            "Invalid volume: Volume status must be available or in-use to extend, but current status is: creating."
        );
    }

    #[test]
    fn snapshot_moves() {
        use SnapshotStatus as S;
        assert_eq!(
            S::Creating.transition(SnapshotEvent::Created),
            Ok(S::Available)
        );
        assert_eq!(
            S::Available.transition(SnapshotEvent::DeleteStart { force: false }),
            Ok(S::Deleting)
        );
        assert!(
            S::Creating
                .transition(SnapshotEvent::DeleteStart { force: false })
                .is_err()
        );
        assert_eq!(
            S::Deleting.transition(SnapshotEvent::DeleteFailed),
            Ok(S::ErrorDeleting)
        );
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in VolumeStatus::ALL {
            assert_eq!(VolumeStatus::parse(s.as_str()), Some(s));
        }
    }
}
