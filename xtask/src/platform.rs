//! Everything specific to Linux on x86-64, in one place: another target is an added file here,
//! not edits across the build.

use std::path::Path;

/// The object format NASM writes for linked code (`nasm -f elf64`).
pub const NASM_OBJECT_FORMAT: &str = "elf64";

/// The oldest NASM polylink accepts.
pub const NASM_MIN_VERSION: (u32, u32) = (2, 14);

/// The program interpreter of a dynamically linked x86-64 executable. Plain `ld` must be told,
/// or it writes a path that does not exist (`/lib/ld64.so.1`).
pub const DYNAMIC_LINKER: &str = "/lib64/ld-linux-x86-64.so.2";

/// The target triple the `cc` crate is asked about.
pub const TARGET_TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// How to install a missing tool, named by the Debian package that carries it.
pub fn install_hint(package: &str) -> String {
    format!("install it with `sudo apt-get install {package}` (Debian, Ubuntu)")
}

/// Whether this process runs as root: the effective user id from /proc/self/status.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            uids.split_whitespace().nth(1).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Whether packages come from apt: Debian and its derivatives.
pub fn is_debian_like() -> bool {
    Path::new("/etc/debian_version").exists()
}
