//! The driver used when no VMM can run on this host (QEMU not installed, say): the
//! compute API still serves flavors, keypairs and the rest, and every instance
//! operation fails with the reason, so a build ends in ERROR with a clear fault.

use async_trait::async_trait;

use super::{Hypervisor, HypervisorKind, NicSpec, PowerState, VirtError, VirtResult, VmSpec};

pub struct Unavailable {
    pub kind: HypervisorKind,
    pub reason: String,
}

impl Unavailable {
    fn err<T>(&self) -> VirtResult<T> {
        Err(VirtError::Unavailable(self.reason.clone()))
    }
}

#[async_trait]
impl Hypervisor for Unavailable {
    fn kind(&self) -> HypervisorKind {
        self.kind
    }
    async fn launch(&self, _: &VmSpec) -> VirtResult<()> {
        self.err()
    }
    async fn power_state(&self, _: &VmSpec) -> VirtResult<PowerState> {
        Ok(PowerState::NoState)
    }
    async fn shutdown(&self, _: &VmSpec, _: std::time::Duration) -> VirtResult<()> {
        Ok(())
    }
    async fn destroy(&self, _: &VmSpec) -> VirtResult<()> {
        Ok(())
    }
    async fn reboot(&self, _: &VmSpec, _: bool) -> VirtResult<()> {
        self.err()
    }
    async fn pause(&self, _: &VmSpec) -> VirtResult<()> {
        self.err()
    }
    async fn unpause(&self, _: &VmSpec) -> VirtResult<()> {
        self.err()
    }
    async fn suspend(&self, _: &VmSpec) -> VirtResult<()> {
        self.err()
    }
    async fn attach_nic(&self, _: &VmSpec, _: &NicSpec) -> VirtResult<()> {
        self.err()
    }
    async fn detach_nic(&self, _: &VmSpec, _: &str) -> VirtResult<()> {
        self.err()
    }
    async fn pid(&self, _: &VmSpec) -> Option<u32> {
        None
    }
}
