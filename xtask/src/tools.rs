//! The external tools a build needs, checked before it starts: nasm (2.14 or newer), a C
//! compiler and ld. A missing one is named with the command that installs it; as root on a
//! Debian-like system build-all installs nasm itself, after saying so, unless
//! `POLYLINK_NO_INSTALL=1`.

use crate::Ctx;
use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, CmdError};
use crate::platform;

/// The C compiler and the flags the `cc` crate chose for this platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CCompiler {
    pub program: String,
    pub flags: Vec<String>,
}

/// Asks the `cc` crate which C compiler and flags fit this platform (honouring `CC` and
/// `CFLAGS`), as a build script would.
pub fn c_compiler() -> Result<CCompiler> {
    let out_dir = std::env::temp_dir();
    let tool = cc::Build::new()
        .target(platform::TARGET_TRIPLE)
        .host(platform::TARGET_TRIPLE)
        .opt_level(2)
        .debug(false)
        .out_dir(out_dir)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .try_get_compiler()
        .context("the cc crate found no C compiler")?;
    Ok(CCompiler {
        program: tool.path().to_string_lossy().into_owned(),
        flags: tool
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
    })
}

/// Parses the version out of `nasm -v` ("NASM version 2.16.01 compiled on …").
pub fn parse_nasm_version(text: &str) -> Option<(u32, u32)> {
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Checks every tool and reports all problems at once.
pub fn check(ctx: &Ctx, cc: &str) -> Result<()> {
    let mut problems = Vec::new();
    if let Err(problem) = check_nasm(ctx) {
        problems.push(format!("{problem:#}"));
    }
    let probes = [
        Cmd::new(cc)
            .arg("--version")
            .install_hint(platform::install_hint("gcc")),
        Cmd::new("ld")
            .arg("-v")
            .install_hint(platform::install_hint("binutils")),
    ];
    for probe in probes {
        if let Err(e) = probe.run(ctx.verbose) {
            problems.push(e.to_string());
        }
    }
    if !problems.is_empty() {
        bail!(
            "the build needs tools this machine lacks:\n  - {}",
            problems.join("\n  - ")
        );
    }
    Ok(())
}

/// Checks that nasm is there and new enough (installing it where build-all would).
pub fn check_nasm(ctx: &Ctx) -> Result<()> {
    let probe = Cmd::new("nasm")
        .arg("-v")
        .install_hint(platform::install_hint("nasm"));
    let output = match probe.run(ctx.verbose) {
        Err(CmdError::NotFound { .. }) if may_install() => {
            install_nasm(ctx)?;
            probe.run(ctx.verbose)?
        }
        result => result?,
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = parse_nasm_version(&text) else {
        bail!("could not read a version from `nasm -v`: {}", text.trim());
    };
    let min = platform::NASM_MIN_VERSION;
    if version < min {
        bail!(
            "nasm {}.{} is too old: polylink needs {}.{} or newer; {}",
            version.0,
            version.1,
            min.0,
            min.1,
            platform::install_hint("nasm")
        );
    }
    Ok(())
}

fn may_install() -> bool {
    std::env::var_os("POLYLINK_NO_INSTALL").is_none_or(|v| v != "1")
        && platform::is_root()
        && platform::is_debian_like()
}

fn install_nasm(ctx: &Ctx) -> Result<()> {
    eprintln!(
        "{:>12} nasm with `apt-get install -y nasm`: it is missing, and this is root on a \
         Debian-like system (POLYLINK_NO_INSTALL=1 turns this off)",
        "Installing"
    );
    let install = Cmd::new("apt-get")
        .args(["install", "-y", "nasm"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    if install.run(ctx.verbose).is_err() {
        // A fresh machine may have no package lists yet.
        Cmd::new("apt-get").arg("update").run(ctx.verbose)?;
        install.run(ctx.verbose).context("installing nasm failed")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nasm_versions_are_read_from_its_banner() {
        assert_eq!(
            parse_nasm_version("NASM version 2.16.01 compiled on May 12 2023"),
            Some((2, 16))
        );
        assert_eq!(parse_nasm_version("NASM version 2.13.02"), Some((2, 13)));
        assert_eq!(parse_nasm_version("nasm: something else"), None);
    }
}
