//! Port `status` that follows the dataplane: after each converge the reconciler
//! hands over what the host showed for every wired port, and ports whose device
//! is on its bridge, up and with carrier (a VMM opened the tap) become ACTIVE,
//! the others DOWN, as Neutron's L2 agent reports them.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::model::Port;
use super::{NetworkService, store};
use crate::http::error::ApiResult;

const ACTIVE: &str = "ACTIVE";
const DOWN: &str = "DOWN";

/// Port id -> new status, for each port whose status differs from what the host
/// showed. Ports the host did not report on (not wired by the dataplane) keep the
/// status the API gave them.
pub(super) fn status_changes<'a>(
    current: impl IntoIterator<Item = (&'a str, &'a str)>,
    observed: &BTreeMap<String, bool>,
) -> BTreeMap<String, &'static str> {
    current
        .into_iter()
        .filter_map(|(id, status)| {
            let want = if *observed.get(id)? { ACTIVE } else { DOWN };
            (status != want).then(|| (id.to_owned(), want))
        })
        .collect()
}

/// The changed ports, updated as Neutron does: new status, next revision.
fn changed_ports(c: &Connection, observed: &BTreeMap<String, bool>) -> ApiResult<Vec<Port>> {
    let ports = store::list::<Port>(c)?;
    let changes = status_changes(
        ports.iter().map(|p| (p.std.id.as_str(), p.status.as_str())),
        observed,
    );
    Ok(ports
        .into_iter()
        .filter_map(|mut p| {
            let want = changes.get(&p.std.id)?;
            p.status = (*want).to_owned();
            p.std.touch();
            Some(p)
        })
        .collect())
}

impl NetworkService {
    /// Writes back the port status the dataplane observed (port id -> up), in one
    /// transaction and only when some port changed. Returns how many changed.
    /// It does not wake the reconciler: a status is an outcome, not an intent.
    pub(crate) async fn port_status_sync(
        &self,
        observed: BTreeMap<String, bool>,
    ) -> ApiResult<usize> {
        if observed.is_empty() {
            return Ok(0);
        }
        let observed = std::sync::Arc::new(observed);
        let seen = observed.clone();
        if self
            .read(move |c| changed_ports(c, &seen))
            .await?
            .is_empty()
        {
            return Ok(0);
        }
        self.inner
            .db
            .write(move |tx| {
                let changed = changed_ports(tx, &observed)?;
                for p in &changed {
                    store::put(tx, p)?;
                }
                Ok(changed.len())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reported_ports_that_differ_change() {
        let current = [("a", DOWN), ("b", ACTIVE), ("c", ACTIVE), ("d", ACTIVE)];
        let observed = BTreeMap::from([
            ("a".to_string(), true),
            ("b".to_string(), true),
            ("c".to_string(), false),
        ]);
        let got = status_changes(current, &observed);
        assert_eq!(
            got,
            BTreeMap::from([("a".to_string(), ACTIVE), ("c".to_string(), DOWN)])
        );
        assert!(status_changes([("a", ACTIVE)], &observed).is_empty());
    }
}
