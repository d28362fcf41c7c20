//! polylink's orchestrator and inspector, as a library: `main.rs` only parses the command line
//! and dispatches here, and the tests read the build manifest through [`manifest`].
//!
//! **Invariant:** only this crate (and build scripts) start external tools, all of them through
//! [`cmd::Cmd`].

pub mod build;
pub mod checksec;
pub mod cmd;
pub mod compare;
pub mod fsutil;
pub mod header;
pub mod hot_reload;
pub mod link_demo;
pub mod link_order;
pub mod manifest;
pub mod nm;
pub mod nm_speed;
pub mod plan;
pub mod platform;
pub mod symbols;
pub mod tools;

use std::path::{Path, PathBuf};

/// The source tree this xtask was built from.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
