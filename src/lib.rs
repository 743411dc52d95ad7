//! onestack: a single-process, restart-safe OpenStack-compatible cloud for one machine.

pub mod bytestream;
pub mod cli;
pub mod cloud;
pub mod compute;
pub mod daemon;
pub mod dashboard;
pub mod dataplane;
pub mod db;
pub mod fsutil;
pub mod host;
pub mod http;
pub mod identity;
pub mod image;
pub mod lab;
pub mod logged;
pub mod network;
pub mod object;
pub mod orchestration;
pub mod placement;
pub mod profile;
pub mod reconcile;
pub mod services;
pub mod state;
pub mod virt;
pub mod volume;
