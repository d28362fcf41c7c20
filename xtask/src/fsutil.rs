//! Writing files so that a reader never sees half of one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The temporary name an output is written under before it is renamed into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path);
    std::fs::write(&temp, bytes).with_context(|| format!("could not write {}", temp.display()))?;
    rename(&temp, path)
}

/// Copies `from` to `to` through a temporary file and a rename, keeping permissions.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let temp = temp_path(to);
    std::fs::copy(from, &temp)
        .with_context(|| format!("could not copy {} to {}", from.display(), temp.display()))?;
    rename(&temp, to)
}

/// Renames a finished temporary file into place.
pub fn rename(temp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(temp, path)
        .with_context(|| format!("could not rename {} to {}", temp.display(), path.display()))
}
