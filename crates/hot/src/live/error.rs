//! The live patcher's error: each refusal names the process, function, file, symbol or
//! relocation, and the fault; a ptrace refusal is explained as the patcher of hosts explains a
//! permission refusal.

use std::path::PathBuf;

/// Why a live patch was refused or failed; each names the process, function, file or symbol.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no such process: {pid}")]
    NoProcess { pid: u32 },
    #[error("{}", exited(*.pid, *.threads))]
    Exited { pid: u32, threads: usize },
    #[error("process {pid}: could not {what}: {cause}")]
    Proc {
        pid: u32,
        what: String,
        cause: std::io::Error,
    },
    #[error("permission denied to {what} of process {pid}: {why}")]
    Denied { pid: u32, what: String, why: String },
    #[error("could not attach to thread {tid} of process {pid}: {}", attach_reason(*.errno, *.pid))]
    Attach { pid: u32, tid: u32, errno: i32 },
    #[error("process {pid}: threads kept starting while the others were being stopped")]
    Threads { pid: u32 },
    #[error("thread {tid} of process {pid}: could not {what}: {}", std::io::Error::from_raw_os_error(*.errno))]
    Ptrace {
        pid: u32,
        tid: u32,
        what: &'static str,
        errno: i32,
    },
    #[error(
        "{path} changed on disk since the process mapped it; patch a process whose files are as it loaded them"
    )]
    FileChanged { path: String },
    #[error("process {pid} defines no function {name}{}", suggestion.as_deref().map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    NoFunction {
        pid: u32,
        name: String,
        suggestion: Option<String>,
    },
    #[error("process {pid} has no file {file} loaded (its files: {known})")]
    NoFile {
        pid: u32,
        file: String,
        known: String,
    },
    #[error("{name} is defined more than once in process {pid}:\n{found}\nname one as FILE:{name}")]
    Ambiguous {
        pid: u32,
        name: String,
        found: String,
    },
    #[error(
        "{name} ({file}, at {address:#x}) is {size} bytes, shorter than the 5-byte jump that redirects it; if the program calls it through its GOT, use --via got"
    )]
    TooShort {
        name: String,
        file: String,
        address: u64,
        size: u64,
    },
    #[error("{name} is not a function but data ({file}, at {address:#x})")]
    NotFunction {
        name: String,
        file: String,
        address: u64,
    },
    #[error("{path} is not a patch object: {why}")]
    NotRelocatable { path: String, why: String },
    #[error("{path} has no function {entry} to enter (it defines: {})", if .defined.is_empty() { "none".to_owned() } else { .defined.join(", ") })]
    NoEntry {
        path: String,
        entry: String,
        defined: Vec<String>,
    },
    #[error("{path}: undefined symbol: {symbol}: nothing in the process defines it{}", suggestion.as_deref().map(|s| format!("\n>>> did you mean: {s}")).unwrap_or_default())]
    Undefined {
        path: String,
        symbol: String,
        suggestion: Option<String>,
    },
    #[error("{path}: relocation {relocation} against {symbol} is not supported: {why}")]
    Unsupported {
        path: String,
        relocation: String,
        symbol: String,
        why: String,
    },
    #[error(
        "no room in process {pid} for {len} bytes within a 32-bit displacement of {near:#x}: {why}"
    )]
    NoRoom {
        pid: u32,
        len: u64,
        near: u64,
        why: String,
    },
    #[error(
        "interrupted before the jump was written: the patch's memory in process {pid} is unmapped again and nothing else was changed"
    )]
    Interrupted { pid: u32 },
    #[error("process {pid}: no `syscall` instruction found in its code, to run mmap with")]
    NoSyscall { pid: u32 },
    #[error(
        "process {pid}: no 8-byte store `mov [REG], REG` found in its code, for one of its threads to swap the GOT cell with"
    )]
    NoStore { pid: u32 },
    #[error(
        "{exe} (process {pid}) has no GOT cell for {name}: it does not call {name} through its GOT or PLT; patch its entry instead (without --via got)"
    )]
    NoGotCell { pid: u32, name: String, exe: String },
    #[error("this CPU has no XSAVE, which the register-keeping thunk needs; use --no-preserve")]
    NoXsave,
    #[error("could not assemble the thunk: {0}")]
    Thunk(String),
    #[error(
        "thread {tid} of process {pid} stayed inside the first 5 bytes of {name} (at {rip:#x}) after {tries} tries; nothing was changed"
    )]
    ThreadInEntry {
        pid: u32,
        tid: u32,
        name: String,
        rip: u64,
        tries: usize,
    },
    #[error("could not write {len} bytes at {address:#x} in process {pid}: {why}")]
    Write {
        pid: u32,
        address: u64,
        len: usize,
        why: String,
    },
    #[error(
        "{name} in process {pid} has changed since polylink patched it (it holds {found}, polylink wrote {written}); refusing to touch it"
    )]
    Changed {
        pid: u32,
        name: String,
        found: String,
        written: String,
    },
    #[error("process {pid} has no live patch of {name}{}", if .patched.is_empty() { String::new() } else { format!(" (patched: {})", .patched.join(", ")) })]
    NotPatched {
        pid: u32,
        name: String,
        patched: Vec<String>,
    },
    #[error("the record of live patches {}: {why}", .path.display())]
    Record { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    PatchFile { path: String, why: String },
    /// The patch's bytes failed the code check.
    #[error(transparent)]
    Code(#[from] polylink_exec::Error),
}

impl LiveError {
    /// An error met reading /proc/PID/…: a refusal is explained as the patcher of hosts
    /// explains it.
    pub(crate) fn from_proc(pid: u32, what: &str, cause: std::io::Error) -> LiveError {
        match cause.kind() {
            std::io::ErrorKind::NotFound => LiveError::NoProcess { pid },
            std::io::ErrorKind::PermissionDenied => LiveError::Denied {
                pid,
                what: what.to_owned(),
                why: crate::patch::Facts::gather(pid).denial().to_string(),
            },
            _ => LiveError::Proc {
                pid,
                what: what.to_owned(),
                cause,
            },
        }
    }
}

/// Why PTRACE_SEIZE failed, explained.
fn attach_reason(errno: i32, pid: u32) -> String {
    match errno {
        libc::EPERM => {
            let facts = crate::patch::Facts::gather(pid);
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let traced = status
                .lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .map(str::trim)
                .filter(|t| *t != "0");
            let seccomp = status
                .lines()
                .find_map(|l| l.strip_prefix("Seccomp:"))
                .map(str::trim)
                .filter(|s| *s != "0");
            match (traced, seccomp) {
                (Some(tracer), _) => format!("it is already traced by process {tracer}"),
                (_, Some(mode)) if facts.denial() == crate::patch::Denial::Unknown => format!(
                    "ptrace not permitted (the process runs under seccomp mode {mode}, which may \
                     forbid it; or this process's own sandbox does)"
                ),
                _ => format!("ptrace not permitted: {}", facts.denial()),
            }
        }
        e => std::io::Error::from_raw_os_error(e).to_string(),
    }
}

/// Why a process whose main thread has exited cannot be patched.
fn exited(pid: u32, threads: usize) -> String {
    if threads > 1 {
        let others = match threads - 1 {
            1 => "1 other thread runs".to_owned(),
            n => format!("{n} other threads run"),
        };
        format!(
            "process {pid}: its main thread has exited (pthread_exit) while {others} on; the kernel then shows no memory map and no memory under /proc/{pid}, so it cannot be patched live"
        )
    } else {
        format!("process {pid} has exited (a zombie its parent has not reaped)")
    }
}
