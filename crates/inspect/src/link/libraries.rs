//! `missing-library`: a symbol no input defines, but a library of the system's search path
//! that the command does not name does (`cos` without `-lm`). The libraries looked at are the
//! ones people forget, read from ld's own search directories.

use std::path::{Path, PathBuf};

use super::problems::{Problem, shown};
use crate::symbols::{self, Table};
use crate::{Result, System};

/// The system libraries a link most often leaves out, as `-l` names: those of C and C++ code,
/// and those a Rust staticlib needs (`rustc --print native-static-libs`: libgcc_s for
/// unwinding, libc).
const CANDIDATES: [&str; 11] = [
    "m", "stdc++", "z", "crypt", "atomic", "dl", "rt", "pthread", "resolv", "gcc_s", "c",
];

/// Turns `undefined` problems whose symbol a candidate library defines into `missing-library`,
/// or `missing-native-libs` when a Rust staticlib needs it.
pub fn name_missing(problems: &mut [Problem], system: &dyn System) -> Result<()> {
    if !problems.iter().any(|p| p.kind == "undefined") {
        return Ok(());
    }
    let dirs = system.ld_search_dirs()?;
    let mut libraries: Vec<(&str, Vec<String>)> = Vec::new();
    for name in CANDIDATES {
        if let Some(path) = shared_object(&dirs, name) {
            libraries.push((name, defined_names(&path)));
        }
    }
    for p in problems.iter_mut().filter(|p| p.kind == "undefined") {
        let Some(sym) = p.symbol.clone() else {
            continue;
        };
        let Some((name, _)) = libraries.iter().find(|(_, defined)| defined.contains(&sym)) else {
            continue;
        };
        // A Rust staticlib's member (`….rcgu.o`) needs what rustc's native libraries give.
        *p = if p.message.contains(".rcgu.o") {
            Problem::new(
                "missing-native-libs",
                Some(&sym),
                format!(
                    "the Rust staticlib needs {} from lib{name}, one of the native libraries \
                     `rustc --print native-static-libs` names, and the command does not name it",
                    shown(&sym)
                ),
                format!(
                    "add `-l{name}`, and the rest of what `rustc --print native-static-libs` \
                     lists for the staticlib, after it"
                ),
            )
        } else {
            Problem::new(
                "missing-library",
                Some(&sym),
                format!(
                    "{} is defined in the system library lib{name}, which the command does not name ({})",
                    shown(&sym),
                    p.message
                ),
                format!("add `-l{name}` after the inputs that need it"),
            )
        };
    }
    Ok(())
}

/// The versioned shared object of `-lNAME` in the search directories (`libm.so.6`): the
/// unversioned name is often a linker script.
fn shared_object(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let prefix = format!("lib{name}.so.");
    dirs.iter().find_map(|dir| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        found.sort();
        found.into_iter().next()
    })
}

fn defined_names(path: &Path) -> Vec<String> {
    let Ok(input) = symbols::load(path) else {
        return Vec::new();
    };
    let Ok(Some(symbols)) = symbols::read_elf(input.data(), Table::Dynamic) else {
        return Vec::new();
    };
    symbols
        .iter()
        .filter(|s| s.is_definition())
        .map(|s| String::from_utf8_lossy(s.name).into_owned())
        .collect()
}
