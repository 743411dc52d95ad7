//! onestack: a single-process, restart-safe OpenStack-compatible cloud for one machine.

pub mod cli;
pub mod cloud;
pub mod compute;
pub mod daemon;
pub mod dashboard;
pub mod db;
pub mod host;
pub mod http;
pub mod identity;
pub mod image;
pub mod lab;
pub mod network;
pub mod object;
pub mod orchestration;
pub mod placement;
pub mod profile;
pub mod reconcile;
pub mod services;
pub mod state;
pub mod volume;

// Leaf modules built as crates of their own (crates/), kept at their old paths.
pub use onestack_common::{fsutil, logged};
pub use onestack_dataplane as dataplane;
pub use onestack_virt as virt;
