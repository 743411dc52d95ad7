//! Small host helpers every onestack crate uses: crash-safe file writes and removal
//! (`fsutil`), and best-effort results that are logged, never dropped (`logged`).

pub mod fsutil;
pub mod logged;
