//! The machine-readable record of what build-all produced, written beside the outputs as
//! `manifest.json`, so tests and reports never guess paths.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Everything one build-all run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The source tree that was built.
    pub root: PathBuf,
    /// Where the outputs are.
    pub out_dir: PathBuf,
    /// What rustc said the Rust staticlib needs from the system, in its order.
    pub native_static_libs: Vec<String>,
    pub staticlibs: Vec<Artifact>,
    pub objects: Vec<Artifact>,
    /// Raw code from `nasm -f bin`: no headers, to be loaded at run time.
    pub raw_bins: Vec<Artifact>,
    pub programs: Vec<Program>,
}

/// A built file and the source or package it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub path: PathBuf,
    pub from: String,
}

/// A linked program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub name: String,
    pub path: PathBuf,
    /// The symbol the program starts at: `main` (after the C runtime) or `_start`.
    pub entry: String,
    /// "cc" (the C compiler as link driver), "ld", or "cargo".
    pub linker: String,
    /// The linker's inputs in the order they were given, relative to the source tree where they
    /// lie inside it; for cargo, the sources its build links.
    pub inputs: Vec<String>,
    /// The whole link command, as run; empty for cargo.
    pub link_command: Vec<String>,
    /// What the linker wrote to stderr (warnings); `None` for cargo.
    pub link_stderr: Option<String>,
    pub uses_libc: bool,
    pub static_link: bool,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the build manifest {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("the build manifest {} is malformed", path.display()))
    }

    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    pub fn object(&self, name: &str) -> Option<&Artifact> {
        self.objects.iter().find(|o| o.name == name)
    }

    pub fn raw_bin(&self, name: &str) -> Option<&Artifact> {
        self.raw_bins.iter().find(|o| o.name == name)
    }

    pub fn staticlib(&self, name: &str) -> Option<&Artifact> {
        self.staticlibs.iter().find(|o| o.name == name)
    }
}
