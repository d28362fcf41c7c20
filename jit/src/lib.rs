//! polylink-jit: raw machine code run from executable memory.
//!
//! Raw code (the headerless bytes of `nasm -f bin`, or bytes made at run time) is written into
//! a [`exec::CodeBuffer`], sealed into read+execute [`exec::SealedCode`] after a CPU capability
//! check ([`cpu`]), and called through a function pointer that borrows it, with arguments in
//! rdi, rsi, … as the System V ABI says.

pub mod cpu;
pub mod emit;
mod error;
pub mod exec;
pub mod hot;
pub mod measure;
pub mod raw;
pub mod routines;

pub use error::{Error, Result};

/// Bytes as `polylink-jit` prints them: lowercase hex pairs separated by single spaces.
pub fn hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(" ")
}
