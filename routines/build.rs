//! Assembles every routine in `asm/routines/` twice: `-f elf64` into a static library this
//! crate links (the linked path), and `-f bin` into OUT_DIR for `include_bytes!` (the embedded
//! path). The routine list is the directory's `.asm` files.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const ROUTINES_DIR: &str = "../asm/routines";

fn main() -> ExitCode {
    println!("cargo::rerun-if-changed={ROUTINES_DIR}");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut sources: Vec<PathBuf> = match std::fs::read_dir(ROUTINES_DIR) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "asm"))
            .collect(),
        Err(e) => return fail(&format!("could not list {ROUTINES_DIR}: {e}")),
    };
    sources.sort();

    // nasm-rs prints only the search path; the library name is ours to give. Its `parallel`
    // feature stays off: with it, a file that fails to assemble is reported as a success.
    if let Err(e) = nasm_rs::Build::new()
        .files(&sources)
        .compile("polylink_routines")
    {
        return fail(&format!("could not assemble the routines as elf64: {e}"));
    }
    println!("cargo::rustc-link-lib=static=polylink_routines");

    for source in &sources {
        if let Err(e) = assemble_raw(source, &out_dir) {
            return fail(&e);
        }
    }
    ExitCode::SUCCESS
}

/// `nasm -f bin -o OUT_DIR/NAME.bin SOURCE`: the raw bytes, no headers.
fn assemble_raw(source: &Path, out_dir: &Path) -> Result<(), String> {
    let stem = source.file_stem().unwrap_or_default().to_string_lossy();
    let out = out_dir.join(format!("{stem}.bin"));
    #[allow(clippy::disallowed_methods)] // Build scripts start their tools (ARCHITECTURE.md).
    let output = Command::new("nasm")
        .args(["-f", "bin", "-o"])
        .arg(&out)
        .arg(source)
        .output()
        .map_err(|e| format!("could not start nasm: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`nasm -f bin -o {} {}` failed ({}):\n{}",
            out.display(),
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    eprintln!("help: polylink needs nasm 2.14 or newer: apt-get install nasm");
    ExitCode::FAILURE
}
