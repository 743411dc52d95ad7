//! `FakeHypervisor`: an in-memory driver for other modules' unit tests. It keeps a
//! per-instance state machine, records every call, and fails on request so
//! multi-step operations can be tested for clean rollback.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Hypervisor, HypervisorKind, NicSpec, PowerState, VirtError, VirtResult, VmSpec};

/// What the fake knows about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVm {
    pub state: PowerState,
    /// Port ids of attached NICs, in attach order.
    pub nics: Vec<String>,
    pub pid: Option<u32>,
    pub boots: u32,
}

/// One recorded call: the operation name and the instance id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    pub instance_id: String,
}

#[derive(Default)]
struct Inner {
    vms: HashMap<String, FakeVm>,
    calls: Vec<Call>,
    /// op -> number of upcoming calls of that op that fail.
    fail_next: HashMap<&'static str, u32>,
    next_pid: u32,
}

#[derive(Default)]
pub struct FakeHypervisor {
    inner: Mutex<Inner>,
}

impl FakeHypervisor {
    pub fn new() -> FakeHypervisor {
        FakeHypervisor::default()
    }

    /// Makes the next call of `op` ("launch", "shutdown", "destroy", "reboot",
    /// "pause", "unpause", "suspend", "attach_nic", "detach_nic", "power_state")
    /// fail with `VirtError::Failed`, before changing any state.
    pub fn fail_next(&self, op: &'static str) {
        *self.lock().fail_next.entry(op).or_default() += 1;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The operations called for `instance_id`, in order.
    pub fn ops_for(&self, instance_id: &str) -> Vec<&'static str> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.instance_id == instance_id)
            .map(|c| c.op)
            .collect()
    }

    pub fn vm(&self, instance_id: &str) -> Option<FakeVm> {
        self.lock().vms.get(instance_id).cloned()
    }

    /// Simulates a host reboot or VMM crash: the process is gone, saved state stays.
    pub fn lose_process(&self, instance_id: &str) {
        if let Some(vm) = self.lock().vms.get_mut(instance_id) {
            if vm.state != PowerState::Suspended {
                vm.state = PowerState::NoState;
            }
            vm.pid = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the call, applies an injected failure, then runs `f` on the state.
    fn step<T>(
        &self,
        op: &'static str,
        spec: &VmSpec,
        f: impl FnOnce(&mut Inner) -> VirtResult<T>,
    ) -> VirtResult<T> {
        let mut inner = self.lock();
        inner.calls.push(Call {
            op,
            instance_id: spec.instance_id.clone(),
        });
        if let Some(n) = inner.fail_next.get_mut(op)
            && *n > 0
        {
            *n -= 1;
            return Err(VirtError::Failed {
                op,
                message: "injected failure".into(),
            });
        }
        f(&mut inner)
    }
}

fn running(inner: &mut Inner, spec: &VmSpec) -> VirtResult<FakeVm> {
    match inner.vms.get(&spec.instance_id) {
        Some(vm) if vm.pid.is_some() => Ok(vm.clone()),
        _ => Err(VirtError::NotRunning(spec.instance_id.clone())),
    }
}

fn set(inner: &mut Inner, spec: &VmSpec, f: impl FnOnce(&mut FakeVm)) {
    if let Some(vm) = inner.vms.get_mut(&spec.instance_id) {
        f(vm);
    }
}

#[async_trait]
impl Hypervisor for FakeHypervisor {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Fake
    }

    async fn launch(&self, spec: &VmSpec) -> VirtResult<()> {
        self.step("launch", spec, |inner| {
            if running(inner, spec).is_ok() {
                return Ok(());
            }
            inner.next_pid += 1;
            let pid = 10_000 + inner.next_pid;
            let vm = inner.vms.entry(spec.instance_id.clone()).or_insert(FakeVm {
                state: PowerState::NoState,
                nics: Vec::new(),
                pid: None,
                boots: 0,
            });
            if vm.state != PowerState::Suspended {
                vm.nics = spec.nics.iter().map(|n| n.port_id.clone()).collect();
                vm.boots += 1;
            }
            vm.state = PowerState::Running;
            vm.pid = Some(pid);
            Ok(())
        })
    }

    async fn power_state(&self, spec: &VmSpec) -> VirtResult<PowerState> {
        self.step("power_state", spec, |inner| {
            Ok(inner
                .vms
                .get(&spec.instance_id)
                .map_or(PowerState::NoState, |vm| vm.state))
        })
    }

    async fn shutdown(&self, spec: &VmSpec, _grace: Duration) -> VirtResult<()> {
        self.step("shutdown", spec, |inner| {
            set(inner, spec, |vm| {
                if vm.pid.is_some() {
                    vm.state = PowerState::NoState;
                    vm.pid = None;
                }
            });
            Ok(())
        })
    }

    async fn destroy(&self, spec: &VmSpec) -> VirtResult<()> {
        self.step("destroy", spec, |inner| {
            inner.vms.remove(&spec.instance_id);
            Ok(())
        })
    }

    async fn reboot(&self, spec: &VmSpec, _hard: bool) -> VirtResult<()> {
        self.step("reboot", spec, |inner| {
            let alive = running(inner, spec).is_ok();
            if !alive {
                inner.next_pid += 1;
            }
            let pid = 10_000 + inner.next_pid;
            let vm = inner.vms.entry(spec.instance_id.clone()).or_insert(FakeVm {
                state: PowerState::NoState,
                nics: spec.nics.iter().map(|n| n.port_id.clone()).collect(),
                pid: None,
                boots: 0,
            });
            vm.state = PowerState::Running;
            vm.pid.get_or_insert(pid);
            vm.boots += 1;
            Ok(())
        })
    }

    async fn pause(&self, spec: &VmSpec) -> VirtResult<()> {
        self.step("pause", spec, |inner| {
            running(inner, spec)?;
            set(inner, spec, |vm| vm.state = PowerState::Paused);
            Ok(())
        })
    }

    async fn unpause(&self, spec: &VmSpec) -> VirtResult<()> {
        self.step("unpause", spec, |inner| {
            running(inner, spec)?;
            set(inner, spec, |vm| vm.state = PowerState::Running);
            Ok(())
        })
    }

    async fn suspend(&self, spec: &VmSpec) -> VirtResult<()> {
        self.step("suspend", spec, |inner| {
            if inner
                .vms
                .get(&spec.instance_id)
                .is_some_and(|vm| vm.state == PowerState::Suspended)
            {
                return Ok(());
            }
            running(inner, spec)?;
            set(inner, spec, |vm| {
                vm.state = PowerState::Suspended;
                vm.pid = None;
            });
            Ok(())
        })
    }

    async fn attach_nic(&self, spec: &VmSpec, nic: &NicSpec) -> VirtResult<()> {
        self.step("attach_nic", spec, |inner| {
            running(inner, spec)?;
            set(inner, spec, |vm| {
                if !vm.nics.contains(&nic.port_id) {
                    vm.nics.push(nic.port_id.clone());
                }
            });
            Ok(())
        })
    }

    async fn detach_nic(&self, spec: &VmSpec, port_id: &str) -> VirtResult<()> {
        self.step("detach_nic", spec, |inner| {
            running(inner, spec)?;
            set(inner, spec, |vm| vm.nics.retain(|p| p != port_id));
            Ok(())
        })
    }

    async fn pid(&self, spec: &VmSpec) -> Option<u32> {
        self.lock().vms.get(&spec.instance_id).and_then(|vm| vm.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BootSource;

    fn spec() -> VmSpec {
        VmSpec {
            instance_id: "i-1".into(),
            name: "instance-00000001".into(),
            vcpus: 1,
            memory_mb: 64,
            disks: vec![],
            nics: vec![NicSpec {
                port_id: "p1".into(),
                tap: "tap1".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
            boot: BootSource::Firmware,
            run_dir: "/nonexistent".into(),
            netns: None,
        }
    }

    #[tokio::test]
    async fn walks_the_state_machine() {
        let h = FakeHypervisor::new();
        let s = spec();
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::NoState);
        assert!(matches!(h.pause(&s).await, Err(VirtError::NotRunning(_))));
        h.launch(&s).await.unwrap();
        let pid = h.pid(&s).await.unwrap();
        h.launch(&s).await.unwrap();
        assert_eq!(h.pid(&s).await, Some(pid), "launch adopts");
        h.pause(&s).await.unwrap();
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::Paused);
        h.unpause(&s).await.unwrap();
        h.attach_nic(
            &s,
            &NicSpec {
                port_id: "p2".into(),
                tap: "t".into(),
                mac: "m".into(),
            },
        )
        .await
        .unwrap();
        h.detach_nic(&s, "p1").await.unwrap();
        assert_eq!(h.vm("i-1").unwrap().nics, ["p2"]);
        h.suspend(&s).await.unwrap();
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::Suspended);
        assert_eq!(h.pid(&s).await, None);
        h.launch(&s).await.unwrap();
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::Running);
        assert_eq!(h.vm("i-1").unwrap().boots, 1, "resume is not a boot");
        h.shutdown(&s, Duration::from_secs(1)).await.unwrap();
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::NoState);
        h.destroy(&s).await.unwrap();
        h.destroy(&s).await.unwrap();
        assert!(h.vm("i-1").is_none());
    }

    #[tokio::test]
    async fn injected_failures_hit_once_and_change_nothing() {
        let h = FakeHypervisor::new();
        let s = spec();
        h.fail_next("launch");
        assert!(matches!(
            h.launch(&s).await,
            Err(VirtError::Failed { op: "launch", .. })
        ));
        assert!(h.vm("i-1").is_none());
        h.launch(&s).await.unwrap();
        assert_eq!(h.ops_for("i-1"), ["launch", "launch"]);
        h.lose_process("i-1");
        assert_eq!(h.power_state(&s).await.unwrap(), PowerState::NoState);
    }
}
