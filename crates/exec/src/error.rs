//! The error type of executable memory: each message names the thing and the fault, and
//! includes the system's own error text (so the cause fields are not `source`s, which would
//! print it twice in a chain).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not map {len} bytes of writable memory: {cause}")]
    Map { len: usize, cause: io::Error },
    /// mprotect to read+execute failed; SELinux's `execmem` denial looks like this.
    #[error("could not make {len} bytes of code executable (mprotect read+execute): {cause}")]
    Seal { len: usize, cause: io::Error },
    #[error("could not make {len} bytes of code writable again (mprotect read+write): {cause}")]
    Unseal { len: usize, cause: io::Error },
    #[error("code buffer is full: {len} bytes do not fit in the {free} bytes left of {capacity}")]
    Full {
        len: usize,
        free: usize,
        capacity: usize,
    },
    #[error("code buffer capacity must be at least 1 byte")]
    ZeroCapacity,
    #[error("code buffer alignment {align} is not a power of two")]
    Alignment { align: usize },
    #[error("could not read raw code {}: {cause}", .path.display())]
    Read { path: PathBuf, cause: io::Error },
    #[error("{} is {what}, not a regular file of raw code", .path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("raw code is 0 bytes: {name}")]
    Empty { name: String },
    #[error("raw code is {len} bytes, more than the limit of {limit} bytes: {name}")]
    TooLarge {
        name: String,
        len: u64,
        limit: usize,
    },
    #[error("{name} needs the CPU feature {feature}, which this CPU does not have")]
    MissingCpuFeature { name: String, feature: String },
    #[error("{name} uses the CPU feature {feature}, which polylink cannot check for")]
    UncheckableCpuFeature { name: String, feature: String },
    #[error(
        "{count} arguments given: machine code is called with at most 6 (rdi, rsi, rdx, rcx, r8, r9)"
    )]
    TooManyArguments { count: usize },
    #[error("no entry named {name} in this module")]
    NoEntry { name: String },
    #[error("an entry named {name} is already in this module")]
    DuplicateEntry { name: String },
    #[error("{name} is {what}: {hint}")]
    NotCode {
        name: String,
        what: &'static str,
        hint: &'static str,
    },
    #[error("{name} does not decode as x86-64 code at offset {offset} (bytes {bytes})")]
    Undecodable {
        name: String,
        offset: usize,
        bytes: String,
    },
    #[error("{name} traps at offset {offset}: `{instruction}` {why}")]
    Trap {
        name: String,
        offset: usize,
        instruction: String,
        why: &'static str,
    },
    #[error(
        "{name} can run past its end: {after}, and the code stops there; a function ends with \
         `ret` or `jmp`"
    )]
    NoReturn { name: String, after: String },
    #[error("offset {offset} is outside the {len} bytes of code")]
    OutOfBounds { offset: usize, len: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
