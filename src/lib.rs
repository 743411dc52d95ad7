//! onestack: a single-process, restart-safe OpenStack-compatible cloud for one machine.

pub(crate) mod bytestream;
pub mod cli;
pub(crate) mod cloud;
pub mod compute;
pub mod daemon;
pub(crate) mod dashboard;
pub(crate) mod db;
pub mod host;
pub(crate) mod http;
pub mod identity;
pub(crate) mod image;
pub mod lab;
pub(crate) mod network;
pub(crate) mod object;
pub(crate) mod orchestration;
pub(crate) mod placement;
pub mod profile;
pub(crate) mod reconcile;
pub(crate) mod services;
pub(crate) mod state;
pub(crate) mod volume;

// Leaf modules built as crates of their own (crates/), kept at their old paths.
pub(crate) use onestack_common::{fsutil, logged};
pub use onestack_dataplane as dataplane;
pub use onestack_virt as virt;
