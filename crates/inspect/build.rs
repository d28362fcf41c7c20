//! Links libiberty's C++ demangler, as GCC ships it inside `libsupc++.a` (its member
//! `cp-demangle.o`, the very code `nm -C` runs), when the C compiler knows where that archive
//! is. Without it, `nm -C` asks `c++filt` instead; `cfg(polylink_libiberty)` tells which.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(polylink_libiberty)");
    println!("cargo::rerun-if-env-changed=CC");
    println!("cargo::rerun-if-env-changed=POLYLINK_NO_LIBIBERTY");
    if std::env::var_os("POLYLINK_NO_LIBIBERTY").is_some() {
        return;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.starts_with("x86_64-") || !target.contains("linux") {
        return;
    }
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler();
    let asked = polylink_cmd::Cmd::new(compiler.path().display().to_string())
        .arg("-print-file-name=libsupc++.a")
        .output(false);
    let Ok(output) = asked else {
        println!("cargo::warning=no C compiler to find libsupc++.a: nm -C will ask c++filt");
        return;
    };
    let said = String::from_utf8_lossy(&output.stdout);
    let archive = PathBuf::from(said.trim());
    // The compiler echoes the bare name when it does not know the file.
    let (Some(dir), true) = (archive.parent(), archive.is_absolute() && archive.is_file()) else {
        println!(
            "cargo::warning=libsupc++.a not found (install g++): nm -C will ask c++filt, which is \
             slower"
        );
        return;
    };
    println!("cargo::rerun-if-changed={}", archive.display());
    println!("cargo::rustc-link-search=native={}", dir.display());
    println!("cargo::rustc-link-lib=static=supc++");
    println!("cargo::rustc-cfg=polylink_libiberty");
}
