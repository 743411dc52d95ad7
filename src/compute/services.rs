//! The compute services this process stands in for (nova-conductor, nova-scheduler,
//! nova-compute) and their operator-set state: an operator may disable a service or
//! force it down (os-services), and a disabled or forced-down nova-compute takes no
//! new servers, as Nova's ComputeFilter would decide. The state is persisted so it
//! survives restarts, and mirrored into Placement as the COMPUTE_STATUS_DISABLED trait.

use serde::{Deserialize, Serialize};

use super::ComputeService;
use super::store::catalog as store;
use crate::db::Db;
use crate::http::error::{ApiError, ApiResult};

/// The trait Nova puts on a disabled compute node's resource provider.
pub(crate) const DISABLED_TRAIT: &str = "COMPUTE_STATUS_DISABLED";

/// One compute service: its binary, availability zone and pre-2.53 integer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServiceKind {
    pub binary: &'static str,
    pub zone: &'static str,
    pub legacy_id: i64,
}

/// The three services of this one host.
pub(crate) const SERVICES: &[ServiceKind] = &[
    ServiceKind {
        binary: "nova-conductor",
        zone: "internal",
        legacy_id: 1,
    },
    ServiceKind {
        binary: "nova-scheduler",
        zone: "internal",
        legacy_id: 2,
    },
    ServiceKind {
        binary: "nova-compute",
        zone: "nova",
        legacy_id: 3,
    },
];

pub(crate) const COMPUTE_BINARY: &str = "nova-compute";

/// What an operator set on a service; the default is enabled and up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceState {
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    /// When the operator last changed it (RFC 3339), if ever.
    pub updated_at: Option<String>,
}

/// A change to a service's state (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceChange {
    pub disabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub forced_down: Option<bool>,
}

impl ServiceState {
    /// Applies `change` as Nova validates it: a reason only with status disabled,
    /// forced_down only on nova-compute, a reason of at most 255 characters.
    pub(crate) fn apply(&mut self, binary: &str, change: &ServiceChange) -> ApiResult<()> {
        if change.forced_down.is_some() && binary != COMPUTE_BINARY {
            return Err(ApiError::bad_request(
                "Updating 'forced_down' is only supported for nova-compute services.",
            ));
        }
        if let Some(Some(reason)) = &change.disabled_reason {
            if change.disabled != Some(true) {
                return Err(ApiError::bad_request(
                    "Specifying 'disabled_reason' with status 'enabled' is invalid.",
                ));
            }
            let len = reason.chars().count();
            if len == 0 || len > 255 {
                return Err(ApiError::bad_request(
                    "The string containing the reason for disabling the service contains invalid characters or is too long.",
                ));
            }
        }
        if let Some(disabled) = change.disabled {
            self.disabled = disabled;
            self.disabled_reason = if disabled {
                change.disabled_reason.clone().flatten()
            } else {
                None
            };
        }
        if let Some(down) = change.forced_down {
            self.forced_down = down;
        }
        self.updated_at = Some(chrono::Utc::now().to_rfc3339());
        Ok(())
    }

    /// Whether the scheduler may place new servers on this service's host.
    pub(crate) fn schedulable(&self) -> bool {
        !self.disabled && !self.forced_down
    }
}

fn meta_key(binary: &str) -> String {
    format!("service:{binary}")
}

fn decode(raw: Option<String>) -> ServiceState {
    raw.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// The service kind named `binary`, if it is one of ours.
pub(crate) fn kind(binary: &str) -> Option<ServiceKind> {
    SERVICES.iter().copied().find(|k| k.binary == binary)
}

/// Whether nova-compute is disabled, read before the async runtime serves
/// requests (start-up registration in Placement).
pub(crate) fn compute_disabled_blocking(db: &Db) -> ApiResult<bool> {
    let raw = db.read_blocking(|c| store::meta_get(c, &meta_key(COMPUTE_BINARY)))?;
    Ok(decode(raw).disabled)
}

impl ComputeService {
    /// The state of one service.
    pub(crate) async fn service_state(&self, binary: &str) -> ApiResult<ServiceState> {
        let key = meta_key(binary);
        let raw = self.read(move |c| store::meta_get(c, &key)).await?;
        Ok(decode(raw))
    }

    /// Changes one service's state, persists it, and mirrors nova-compute's
    /// enabled/disabled status into Placement.
    pub(crate) async fn service_update(
        &self,
        binary: &str,
        change: ServiceChange,
    ) -> ApiResult<ServiceState> {
        let key = meta_key(binary);
        let name = binary.to_owned();
        let state = self
            .write(move |c| {
                let mut st = decode(store::meta_get(c, &key)?);
                st.apply(&name, &change)?;
                let json = serde_json::to_string(&st)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("service state: {e}")))?;
                store::meta_put(c, &key, &json)?;
                Ok(st)
            })
            .await?;
        if binary == COMPUTE_BINARY {
            self.inner
                .placement
                .provider_trait_set(
                    &self.inner.config.provider_uuid,
                    DISABLED_TRAIT,
                    state.disabled,
                )
                .await?;
        }
        tracing::info!(
            binary,
            disabled = state.disabled,
            forced_down = state.forced_down,
            "compute service state changed"
        );
        Ok(state)
    }

    /// The scheduler's host check: `Err(Conflict)` with the reason when
    /// nova-compute takes no new servers.
    pub(crate) async fn ensure_schedulable(&self) -> ApiResult<()> {
        let st = self.service_state(COMPUTE_BINARY).await?;
        if st.schedulable() {
            return Ok(());
        }
        let why = if st.forced_down {
            "is forced down"
        } else {
            "is disabled"
        };
        Err(ApiError::Conflict(format!(
            "There are not enough hosts available: the compute service on host {} {why}.",
            self.inner.config.host
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(disabled: Option<bool>, reason: Option<&str>, down: Option<bool>) -> ServiceChange {
        ServiceChange {
            disabled,
            disabled_reason: reason.map(|r| Some(r.to_owned())),
            forced_down: down,
        }
    }

    #[test]
    fn disable_with_reason_then_enable_clears_the_reason() {
        let mut st = ServiceState::default();
        st.apply(
            "nova-compute",
            &change(Some(true), Some("maintenance"), None),
        )
        .expect("disable");
        assert!(st.disabled && !st.schedulable());
        assert_eq!(st.disabled_reason.as_deref(), Some("maintenance"));
        st.apply("nova-compute", &change(Some(false), None, None))
            .expect("enable");
        assert!(!st.disabled && st.schedulable());
        assert_eq!(st.disabled_reason, None);
    }

    #[test]
    fn nova_rules_for_reasons_and_forced_down() {
        let mut st = ServiceState::default();
        let e = st
            .apply("nova-compute", &change(Some(false), Some("x"), None))
            .expect_err("reason with enabled");
        assert!(e.to_string().contains("disabled_reason"), "{e}");
        let e = st
            .apply("nova-scheduler", &change(None, None, Some(true)))
            .expect_err("forced_down on the scheduler");
        assert!(e.to_string().contains("nova-compute"), "{e}");
        let long = "r".repeat(256);
        assert!(
            st.apply("nova-compute", &change(Some(true), Some(&long), None))
                .is_err()
        );
        assert_eq!(
            st,
            ServiceState::default(),
            "a refused change applies nothing"
        );
        st.apply("nova-compute", &change(None, None, Some(true)))
            .expect("force down");
        assert!(st.forced_down && !st.disabled && !st.schedulable());
    }

    #[test]
    fn undecodable_state_reads_as_enabled() {
        assert_eq!(decode(Some("not json".into())), ServiceState::default());
        assert_eq!(decode(None), ServiceState::default());
    }
}
