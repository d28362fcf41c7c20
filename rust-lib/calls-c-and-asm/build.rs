//! Compiles `c/callee.c` with the cc crate and assembles `asm/callee.asm` with nasm-rs into
//! static libraries that this crate's binary links.

use std::process::ExitCode;

const C_SOURCE: &str = "../../c/callee.c";
const ASM_SOURCE: &str = "../../asm/callee.asm";

fn main() -> ExitCode {
    println!("cargo::rerun-if-changed={C_SOURCE}");
    println!("cargo::rerun-if-changed={ASM_SOURCE}");

    cc::Build::new().file(C_SOURCE).compile("callee_c");

    // nasm-rs prints only the search path; the library name is ours to give. Its `parallel`
    // feature stays off: with it, a file that fails to assemble is reported as a success.
    if let Err(e) = nasm_rs::Build::new().file(ASM_SOURCE).compile("callee_asm") {
        eprintln!("error: could not assemble asm/callee.asm: {e}");
        eprintln!("help: polylink needs nasm 2.14 or newer: apt-get install nasm");
        return ExitCode::FAILURE;
    }
    println!("cargo::rustc-link-lib=static=callee_asm");
    ExitCode::SUCCESS
}
