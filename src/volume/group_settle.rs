//! Settling a group or a group snapshot on what its members became: a create
//! from a source is available once every member is (error when one is not), a
//! delete goes once every member is gone (`error_deleting` when one could not
//! go). Groups and group snapshots settle alike; `GroupKind` says which records
//! and members a step reads. A background poll settles a request's work, and
//! `recover_groups` at start settles what a crash interrupted.

use std::time::Duration;

use rusqlite::Connection;

use super::group_store as gstore;
use super::{VolumeService, sql, store};
use crate::http::error::ApiResult;

/// A group (its members are volumes) or a group snapshot (its members are
/// snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Group,
    GroupSnapshot,
}

impl GroupKind {
    /// The record as logs name it.
    fn label(self) -> &'static str {
        match self {
            GroupKind::Group => "group",
            GroupKind::GroupSnapshot => "group snapshot",
        }
    }

    /// True when the record still has `status`: what a settling step waits on.
    fn is_in(self, c: &Connection, id: &str, status: &str) -> ApiResult<bool> {
        Ok(match self {
            GroupKind::Group => gstore::group_get(c, id)
                .map_err(sql)?
                .is_some_and(|g| g.status == status),
            GroupKind::GroupSnapshot => gstore::snapshot_get(c, id)
                .map_err(sql)?
                .is_some_and(|s| s.status == status),
        })
    }

    /// The statuses of the record's members.
    fn member_statuses(self, c: &Connection, id: &str) -> ApiResult<Vec<String>> {
        match self {
            GroupKind::Group => gstore::group_volume_statuses(c, id).map_err(sql),
            GroupKind::GroupSnapshot => {
                let members = gstore::snapshot_members(c, id).map_err(sql)?;
                Ok(members.into_iter().map(|(_, _, st)| st).collect())
            }
        }
    }

    pub(super) fn set_status(self, c: &Connection, id: &str, status: &str) -> ApiResult<()> {
        gstore::status_set(c, self, id, status, &store::now()).map_err(sql)
    }

    fn delete(self, c: &Connection, id: &str) -> ApiResult<()> {
        let done = match self {
            GroupKind::Group => gstore::group_delete(c, id),
            GroupKind::GroupSnapshot => gstore::snapshot_delete(c, id),
        };
        done.map_err(sql)
    }
}

/// What a settling step waits for.
#[derive(Debug, Clone)]
pub(super) enum Settle {
    /// A group made from a source, or a group snapshot: available once its
    /// members are made.
    Create(GroupKind, String),
    /// A group or group snapshot being deleted: gone once its members are.
    Delete(GroupKind, String),
}

/// One settling step; true when there is nothing more to wait for.
fn settle_tx(c: &Connection, what: &Settle) -> ApiResult<bool> {
    match what {
        Settle::Create(kind, id) => settle_create(c, *kind, id),
        Settle::Delete(kind, id) => settle_delete(c, *kind, id),
    }
}

/// Where a create waiting on its members stands (groups and group snapshots
/// alike): `None` while one is still creating; then available when all are,
/// error otherwise.
fn create_outcome(members: &[String]) -> Option<&'static str> {
    if members.iter().any(|s| s == "creating") {
        return None;
    }
    Some(if members.iter().all(|s| s == "available") {
        "available"
    } else {
        "error"
    })
}

/// Where a delete waiting on its members stands.
#[derive(Debug, PartialEq, Eq)]
enum DeleteOutcome {
    /// Every member is gone: the group (snapshot) goes too.
    Gone,
    /// A member is still deleting.
    Waiting,
    /// A member's delete failed: the group (snapshot) stays, as Cinder leaves it.
    Failed,
}

fn delete_outcome(members: &[String]) -> DeleteOutcome {
    if members.is_empty() {
        DeleteOutcome::Gone
    } else if members.iter().any(|s| s == "deleting") {
        DeleteOutcome::Waiting
    } else {
        DeleteOutcome::Failed
    }
}

/// A creating record becomes available once every member is, or error once
/// any member ends otherwise.
fn settle_create(c: &Connection, kind: GroupKind, id: &str) -> ApiResult<bool> {
    if !kind.is_in(c, id, "creating")? {
        return Ok(true);
    }
    let Some(to) = create_outcome(&kind.member_statuses(c, id)?) else {
        return Ok(false);
    };
    kind.set_status(c, id, to)?;
    tracing::info!(%id, status = to, "{} create settled", kind.label());
    Ok(true)
}

/// A deleting record goes once its members are gone.
fn settle_delete(c: &Connection, kind: GroupKind, id: &str) -> ApiResult<bool> {
    if !kind.is_in(c, id, "deleting")? {
        return Ok(true);
    }
    match delete_outcome(&kind.member_statuses(c, id)?) {
        DeleteOutcome::Waiting => return Ok(false),
        DeleteOutcome::Gone => {
            kind.delete(c, id)?;
            tracing::info!(%id, "{} deleted", kind.label());
        }
        DeleteOutcome::Failed => {
            kind.set_status(c, id, "error_deleting")?;
            tracing::warn!(%id, "a member of the {} could not be deleted", kind.label());
        }
    }
    Ok(true)
}

impl VolumeService {
    /// Runs the members' tasks (volumes' for a group, snapshots' for a group
    /// snapshot), then settles the record once they are done.
    pub(super) fn spawn_settling(&self, what: Settle, members: Vec<String>) {
        let (Settle::Create(kind, _) | Settle::Delete(kind, _)) = &what;
        for id in members {
            match kind {
                GroupKind::Group => self.spawn_task(id),
                GroupKind::GroupSnapshot => self.spawn_snapshot_task(id),
            }
        }
        self.spawn_settle(what);
    }

    /// Waits (in the background) for a group's or group snapshot's members to
    /// finish their tasks, then settles it. The tasks always end (done or error),
    /// so this ends too; a crash meanwhile is picked up by `recover_groups`.
    fn spawn_settle(&self, what: Settle) {
        let svc = self.clone();
        tokio::spawn(async move {
            loop {
                let step = what.clone();
                match svc.write(move |c| settle_tx(c, &step)).await {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(?what, error = %e, "could not settle a group");
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    /// Start-up: groups and group snapshots a crash left `creating` or `deleting`
    /// settle once their members' tasks (resumed before this) are done.
    pub(super) async fn recover_groups(&self) -> ApiResult<usize> {
        let pending = self.read(interrupted_tx).await?;
        let n = pending.len();
        for what in pending {
            tracing::info!(?what, "settling an interrupted group operation");
            self.spawn_settle(what);
        }
        Ok(n)
    }
}

/// What a crash left to settle: groups made from a source still creating,
/// group snapshots still creating, and both still deleting.
fn interrupted_tx(c: &Connection) -> ApiResult<Vec<Settle>> {
    use GroupKind::{Group, GroupSnapshot};
    let mut out = Vec::new();
    for g in gstore::groups_in_status(c, "creating").map_err(sql)? {
        if g.group_snapshot_id.is_some() || g.source_group_id.is_some() {
            out.push(Settle::Create(Group, g.id));
        }
    }
    for g in gstore::groups_in_status(c, "deleting").map_err(sql)? {
        out.push(Settle::Delete(Group, g.id));
    }
    for s in gstore::snapshots_in_status(c, "creating").map_err(sql)? {
        out.push(Settle::Create(GroupSnapshot, s.id));
    }
    for s in gstore::snapshots_in_status(c, "deleting").map_err(sql)? {
        out.push(Settle::Delete(GroupSnapshot, s.id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn create_waits_for_creating_members_then_needs_all_available() {
        assert_eq!(create_outcome(&strs(&["available", "creating"])), None);
        assert_eq!(
            create_outcome(&strs(&["available", "available"])),
            Some("available")
        );
        assert_eq!(
            create_outcome(&strs(&["available", "error"])),
            Some("error")
        );
    }

    #[test]
    fn delete_goes_when_empty_waits_while_deleting_else_failed() {
        assert_eq!(delete_outcome(&[]), DeleteOutcome::Gone);
        assert_eq!(
            delete_outcome(&strs(&["deleting", "error_deleting"])),
            DeleteOutcome::Waiting
        );
        assert_eq!(
            delete_outcome(&strs(&["error_deleting"])),
            DeleteOutcome::Failed
        );
    }
}
