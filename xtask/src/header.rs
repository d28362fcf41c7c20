//! `cargo xtask header`: generates `rust-lib/include/polylink.h` from rust-lib's source with
//! cbindgen used as a library, and checks that the committed header is current.
//!
//! The check compares in memory: `cbindgen --verify` rewrites the file before it reports a
//! difference.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::fsutil;

/// The header, relative to the source tree.
pub const HEADER: &str = "rust-lib/include/polylink.h";

/// The header cbindgen makes from rust-lib's source and `rust-lib/cbindgen.toml`.
pub fn generate(root: &Path) -> Result<Vec<u8>> {
    let crate_dir = root.join("rust-lib");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|e| anyhow!("rust-lib/cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .context("cbindgen could not generate the header from rust-lib/src")?;
    let mut header = Vec::new();
    bindings.write(&mut header);
    Ok(header)
}

/// Fails, naming the first differing line, when the committed header is not what
/// [`generate`] makes.
pub fn check(root: &Path) -> Result<()> {
    let fresh = generate(root)?;
    let path = root.join(HEADER);
    let committed =
        std::fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
    if committed == fresh {
        return Ok(());
    }
    let line = committed
        .split(|&b| b == b'\n')
        .zip(fresh.split(|&b| b == b'\n'))
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| {
            committed
                .iter()
                .chain(&fresh)
                .filter(|&&b| b == b'\n')
                .count()
                / 2
        })
        + 1;
    bail!(
        "{HEADER} is stale: it differs from what cbindgen generates from rust-lib/src \
         (first at line {line}); run `cargo xtask header`"
    )
}

/// Writes the header when it changed; returns whether it did.
pub fn write(root: &Path) -> Result<bool> {
    let fresh = generate(root)?;
    let path = root.join(HEADER);
    if std::fs::read(&path).is_ok_and(|old| old == fresh) {
        return Ok(false);
    }
    fsutil::write_atomic(&path, &fresh)?;
    Ok(true)
}

/// `cargo xtask header [--check]`.
pub fn task(root: &Path, check_only: bool) -> Result<()> {
    if check_only {
        return check(root);
    }
    let state = if write(root)? {
        "written"
    } else {
        "already current"
    };
    crate::build::progress("Finished", &format!("{HEADER} {state}"));
    Ok(())
}
