//! polylink's orchestrator, as a library: this repository's chores (build-all and its plan,
//! header, compare, the demos, nm-speed). `main.rs` only dispatches here, and the tests read
//! the build manifest through [`manifest`].
//!
//! **Invariant:** external tools are started only through [`cmd::Cmd`] (polylink-cmd).

pub mod build;
pub mod compare;
pub mod fsutil;
pub mod header;
pub mod hot_reload;
pub mod link_demo;
pub mod link_speed;
pub mod live_speed;
pub mod manifest;
pub mod nm_speed;
pub mod plan;
pub mod platform;
pub mod timing;
pub mod tools;

/// The one door for external programs, shared with the `polylink` command.
pub use polylink_cmd as cmd;
/// The inspectors build-all and the demos use, from the `polylink` command's library.
pub use polylink_inspect::{checksec, link_order, nm, symbols};

use std::path::{Path, PathBuf};

/// What every task is given: the source tree it works on, and whether to echo each command it
/// runs (and say why each build step runs or is fresh).
#[derive(Clone, Debug)]
pub struct Ctx {
    pub root: PathBuf,
    pub verbose: bool,
}

/// The source tree this xtask was built from.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
