//! Live patching of an unmodified running process: a function's new version, given as a
//! relocatable object, is linked against the process's live image, placed in memory mapped
//! inside the process next to the function, and entered by a `jmp` written over the function's
//! first five bytes while every thread is stopped.
//!
//! The steps, and the modules that take them:
//! 1. [`image`]: read the live image (the files mapped, their load slides, their symbols) and
//!    find the function (`NAME`, or `FILE:NAME` for one file's).
//! 2. [`link`]: lay the patch object out and size it.
//! 3. [`ptrace`]: stop every thread, run `mmap` in the process for two blocks near the
//!    function (read+execute, read+write; `MAP_FIXED_NOREPLACE` at a hint in a gap within
//!    rel32's reach), and let it go.
//! 4. [`link`]: resolve every relocation against the live image; [`thunk`]: the entry that
//!    keeps caller-saved registers. The bytes are checked as raw code is, then written through
//!    `/proc/PID/mem` (which reaches read-only pages), only inside the blocks just mapped.
//! 5. Stop every thread again, make sure none is inside the five bytes (single-stepping one
//!    out, a bounded number of times), write the jump, read it back, and let them go: the
//!    pause. [`record`] keeps the original bytes, for `--undo` and for a later patch of the
//!    same function.
//!
//! After any failure before the jump, the blocks are unmapped again and nothing else was
//! written; the process keeps running.

mod image;
mod link;
mod ptrace;
mod record;
mod thunk;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use image::{Defined, Image, Loaded};
pub use link::{Resolved, relocation_name};
pub use record::{Patched, Record};
pub use thunk::Returns;

use link::PatchObject;
use ptrace::Stopped;

/// Why a live patch was refused or failed; each names the process, function, file or symbol.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no such process: {pid}")]
    NoProcess { pid: u32 },
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
    #[error("process {pid}: no `syscall` instruction found in its code, to run mmap with")]
    NoSyscall { pid: u32 },
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

/// What `polylink live-patch` is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub pid: u32,
    /// `NAME` or `FILE:NAME`.
    pub function: String,
    pub patch: PathBuf,
    /// The patch's symbol to enter (default: the function's name).
    pub entry: Option<String>,
    /// Enter through the register-keeping thunk.
    pub preserve: bool,
    pub returns: Returns,
    /// Skip the code check (the user vouches for the bytes).
    pub unchecked: bool,
    /// Swap the executable's GOT cell for the function instead of jumping at its entry.
    pub via_got: bool,
}

/// A file of the process, with its load slide.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slide {
    pub file: String,
    pub slide: u64,
}

/// What a live patch did: everything the user is told.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub pid: u32,
    pub function: String,
    pub file: String,
    pub address: u64,
    /// The load slide of each file the patch used.
    pub slides: Vec<Slide>,
    /// The blocks mapped: code (read+execute) and data (read+write, when the patch has data).
    pub code: (u64, u64),
    pub data: Option<(u64, u64)>,
    /// The patch's entry, and the thunk's address when it is entered through one.
    pub entry: u64,
    pub thunk: Option<u64>,
    pub returns: Option<Returns>,
    pub resolved: Vec<Resolved>,
    /// `entry` or `got`, and where the redirect was written: the function's entry, or each
    /// GOT cell.
    pub via: String,
    pub sites: Vec<u64>,
    /// The bytes there before (the function's own, an earlier patch's jump, or the cell's
    /// pointer) and after, sites apart by ` | `.
    pub old_bytes: String,
    pub new_bytes: String,
    /// The thread count, and how long they were stopped for the jump, and for the mapping.
    pub threads: usize,
    pub pause_us: f64,
    pub map_pause_us: f64,
    pub total_us: f64,
}

/// What `--undo` did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Undone {
    pub pid: u32,
    pub function: String,
    pub address: u64,
    pub restored: String,
    pub pause_us: f64,
    pub total_us: f64,
}

/// How many times a thread inside the entry is stepped on before giving up.
const ENTRY_TRIES: usize = 64;

/// The largest patch object read.
const MAX_PATCH: u64 = 64 << 20;

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The process a pid names (a thread's id names its process).
fn process_of(pid: u32) -> Result<u32, LiveError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|cause| LiveError::from_proc(pid, "read its status", cause))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(pid))
}

/// Opens /proc/PID/mem for reading and writing.
fn open_mem(pid: u32) -> Result<File, LiveError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|cause| LiveError::from_proc(pid, "open its memory", cause))
}

fn read_mem(mem: &File, pid: u32, address: u64, len: usize) -> Result<Vec<u8>, LiveError> {
    let mut bytes = vec![0; len];
    mem.read_exact_at(&mut bytes, address)
        .map_err(|cause| LiveError::Proc {
            pid,
            what: format!("read {len} bytes at {address:#x}"),
            cause,
        })?;
    Ok(bytes)
}

/// Writes `bytes` at `address`, which must lie inside one of `allowed`: the blocks mapped for
/// the patch, or the function's five entry bytes. Nothing else is ever written.
fn write_mem(
    mem: &File,
    pid: u32,
    allowed: &[std::ops::Range<u64>],
    address: u64,
    bytes: &[u8],
) -> Result<(), LiveError> {
    let fail = |why: String| LiveError::Write {
        pid,
        address,
        len: bytes.len(),
        why,
    };
    let end = address.saturating_add(bytes.len() as u64);
    if !allowed.iter().any(|r| r.start <= address && end <= r.end) {
        return Err(fail(format!(
            "outside the patch's blocks and the function's entry ({})",
            allowed
                .iter()
                .map(|r| format!("{:#x}..{:#x}", r.start, r.end))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    match mem.write_at(bytes, address) {
        Ok(n) if n == bytes.len() => {}
        Ok(n) => return Err(fail(format!("only {n} bytes were written"))),
        Err(e) if e.raw_os_error() == Some(libc::EIO) => {
            let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
            return Err(fail(crate::patch::force_refusal(&cmdline)));
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    if read_mem(mem, pid, address, bytes.len())? != bytes {
        return Err(fail("the bytes did not read back the same".into()));
    }
    Ok(())
}

/// The closest name to `wanted` among `names`, lld's way: one edit, or another case.
pub(crate) fn suggest<'n>(wanted: &str, names: impl Iterator<Item = &'n str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for name in names {
        if name == wanted {
            continue;
        }
        let distance = if name.eq_ignore_ascii_case(wanted) {
            0
        } else if name.len().abs_diff(wanted.len()) <= 1 {
            edit_distance(name.as_bytes(), wanted.as_bytes())
        } else {
            continue;
        };
        if distance <= 1 && best.is_none_or(|(d, n)| (distance, name) < (d, n)) {
            best = Some((distance, name));
        }
    }
    best.map(|(_, n)| n.to_owned())
}

fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Finds `which` (`NAME` or `FILE:NAME`) in the image: the one function it names.
pub fn find_function<'i>(
    image: &'i Image,
    which: &str,
    at_entry: bool,
) -> Result<(&'i Loaded, &'i Defined), LiveError> {
    let pid = image.pid;
    let (file, name) = match which.rsplit_once(':') {
        Some((file, name)) if !file.is_empty() => {
            let loaded = image.file(file).ok_or_else(|| LiveError::NoFile {
                pid,
                file: file.to_owned(),
                known: image
                    .files
                    .iter()
                    .map(|f| {
                        Path::new(&f.path)
                            .file_name()
                            .map_or(f.path.clone(), |n| n.to_string_lossy().into_owned())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            (Some(loaded), name)
        }
        _ => (None, which),
    };
    let found = image.definitions(name, file);
    match found.as_slice() {
        [] => Err(LiveError::NoFunction {
            pid,
            name: which.to_owned(),
            suggestion: suggest(name, image.names()),
        }),
        [(loaded, defined)] => {
            if !defined.function {
                return Err(LiveError::NotFunction {
                    name: which.to_owned(),
                    file: loaded.path.clone(),
                    address: defined.address,
                });
            }
            if at_entry && defined.size != 0 && defined.size < 5 {
                return Err(LiveError::TooShort {
                    name: which.to_owned(),
                    file: loaded.path.clone(),
                    address: defined.address,
                    size: defined.size,
                });
            }
            Ok((loaded, defined))
        }
        several => Err(LiveError::Ambiguous {
            pid,
            name: name.to_owned(),
            found: several
                .iter()
                .map(|(l, d)| {
                    format!(
                        "  {} at {:#x} in {} ({}{})",
                        d.name,
                        d.address,
                        l.path,
                        if d.global { "global" } else { "local" },
                        if d.from_symtab {
                            ", .symtab"
                        } else {
                            ", .dynsym"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// Gaps in the address space within `reach` of `near`, closest first, as page-aligned starts
/// for `len` bytes.
fn hints(maps: &[crate::patch::Mapping], near: u64, len: u64) -> Vec<u64> {
    let page = rustix::param::page_size() as u64;
    let reach: u64 = 0x7000_0000; // under 2 GiB, leaving room for the block itself
    let low = near.saturating_sub(reach).max(0x10000);
    let high = near.saturating_add(reach).min(0x7fff_ffff_f000);
    let mut ranges: Vec<(u64, u64)> = maps.iter().map(|m| (m.range.start, m.range.end)).collect();
    ranges.sort_unstable();
    let mut gaps = Vec::new();
    let mut previous_end = low;
    for (start, end) in ranges.into_iter().chain(std::iter::once((high, high))) {
        let gap_start = previous_end.max(low).next_multiple_of(page);
        let gap_end = start.min(high);
        if gap_end > gap_start && gap_end - gap_start >= len + 2 * page {
            // A guard page on each side keeps the block off its neighbours.
            let first = gap_start + page;
            let last = (gap_end - page - len) & !(page - 1);
            let hint = if near < first {
                first
            } else if near > last {
                last
            } else {
                (near & !(page - 1)).clamp(first, last)
            };
            gaps.push(hint);
        }
        previous_end = previous_end.max(end);
    }
    gaps.sort_by_key(|&h| h.abs_diff(near));
    gaps
}

const PROT_RX: u64 = (libc::PROT_READ | libc::PROT_EXEC) as u64;
const PROT_RW: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;
const MAP_FLAGS: u64 = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;

/// Maps `lens` bytes (code, then data) in the process near `near`, both within rel32 reach of
/// it. Their addresses.
fn map_blocks(
    stopped: &mut Stopped,
    image: &Image,
    syscall: u64,
    near: u64,
    code_len: u64,
    data_len: u64,
) -> Result<(u64, Option<u64>), LiveError> {
    let pid = image.pid;
    let page = rustix::param::page_size() as u64;
    let code_len = code_len.next_multiple_of(page);
    let data_len = data_len.next_multiple_of(page);
    let tid = stopped.tids().next().ok_or(LiveError::NoProcess { pid })?;
    let total = code_len + data_len;
    let mut last = String::from("no gap in the address space is large enough");
    for hint in hints(&image.maps, near, total).into_iter().take(16) {
        let code = stopped.syscall(
            tid,
            syscall,
            libc::SYS_mmap,
            [hint, code_len, PROT_RX, MAP_FLAGS, u64::MAX, 0],
        )?;
        if code < 0 {
            last = format!(
                "mmap at {hint:#x}: {}",
                std::io::Error::from_raw_os_error(-code as i32)
            );
            continue;
        }
        let code = code as u64;
        if code != hint {
            // An old kernel without MAP_FIXED_NOREPLACE takes the hint as a hint only.
            let _ = stopped.syscall(tid, syscall, libc::SYS_munmap, [code, code_len, 0, 0, 0, 0]);
            last = format!("mmap placed the block at {code:#x}, not at {hint:#x}");
            continue;
        }
        if data_len == 0 {
            return Ok((code, None));
        }
        let data_hint = code + code_len;
        let data = stopped.syscall(
            tid,
            syscall,
            libc::SYS_mmap,
            [data_hint, data_len, PROT_RW, MAP_FLAGS, u64::MAX, 0],
        )?;
        if data == data_hint as i64 {
            return Ok((code, Some(data_hint)));
        }
        if data > 0 {
            let _ = stopped.syscall(
                tid,
                syscall,
                libc::SYS_munmap,
                [data as u64, data_len, 0, 0, 0, 0],
            );
        }
        let _ = stopped.syscall(tid, syscall, libc::SYS_munmap, [code, code_len, 0, 0, 0, 0]);
        last = format!("the data block could not follow the code block at {data_hint:#x}");
    }
    Err(LiveError::NoRoom {
        pid,
        len: total,
        near,
        why: last,
    })
}

/// Unmaps blocks mapped for a patch that will not be installed.
fn unmap_blocks(pid: u32, syscall: u64, blocks: &[(u64, u64)]) {
    if let Ok(mut stopped) = Stopped::all(pid) {
        let first = stopped.tids().next();
        if let Some(tid) = first {
            for &(start, len) in blocks {
                let _ = stopped.syscall(tid, syscall, libc::SYS_munmap, [start, len, 0, 0, 0, 0]);
            }
        }
    }
}

/// Makes sure no thread is inside `entry..entry + 5` (past its first byte), stepping any that
/// is; a thread in a system call that would restart there counts as there.
fn clear_entry(stopped: &mut Stopped, entry: u64, name: &str) -> Result<(), LiveError> {
    let inside = |regs: &ptrace::Regs| {
        let restarting =
            (regs.orig_rax as i64) >= 0 && matches!(-(regs.rax as i64), 512 | 513 | 514 | 516);
        let rips = [
            regs.rip,
            if restarting {
                regs.rip.wrapping_sub(2)
            } else {
                regs.rip
            },
        ];
        rips.iter().any(|&rip| rip > entry && rip < entry + 5)
    };
    let tids: Vec<u32> = stopped.tids().collect();
    for tid in tids {
        let mut regs = stopped.get_regs(tid)?;
        let mut tries = 0;
        while inside(&regs) {
            if tries == ENTRY_TRIES {
                return Err(LiveError::ThreadInEntry {
                    pid: stopped.pid,
                    tid,
                    name: name.to_owned(),
                    rip: regs.rip,
                    tries,
                });
            }
            regs = stopped.step(tid)?;
            tries += 1;
        }
    }
    Ok(())
}

/// `jmp rel32` from `from` to `to`.
fn jump(from: u64, to: u64) -> Option<[u8; 5]> {
    let rel = i32::try_from(to.wrapping_sub(from + 5) as i64).ok()?;
    let mut bytes = [0xe9, 0, 0, 0, 0];
    bytes[1..].copy_from_slice(&rel.to_le_bytes());
    Some(bytes)
}

/// Reads a patch object: a regular file, no larger than [`MAX_PATCH`].
fn read_patch(path: &Path) -> Result<Vec<u8>, LiveError> {
    let shown = path.display().to_string();
    let fail = |why: String| LiveError::PatchFile {
        path: shown.clone(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.is_dir() {
        return Err(fail("is a directory".into()));
    }
    if !meta.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    if meta.len() > MAX_PATCH {
        return Err(fail(format!(
            "is {} bytes; a patch object may be {MAX_PATCH}",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    use std::io::Read as _;
    File::open(path)
        .and_then(|f| f.take(MAX_PATCH).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    Ok(bytes)
}

/// Patches function `options.function` of process `options.pid` with the object
/// `options.patch`.
pub fn apply(options: &Options) -> Result<Report, LiveError> {
    let started = Instant::now();
    let pid = process_of(options.pid)?;
    let image = Image::read(pid)?;
    let (file, function) = find_function(&image, &options.function, !options.via_got)?;
    let (file, function) = (file.path.clone(), function.clone());
    let mut record = Record::load(pid)?;
    let bytes = read_patch(&options.patch)?;
    let shown = options.patch.display().to_string();
    let object = PatchObject::parse(&shown, &bytes)?;
    // A call through the GOT is a call through the ABI: no caller keeps registers across it.
    let xsave = match options.preserve && !options.via_got {
        true => Some(ptrace::xsave_size().ok_or(LiveError::NoXsave)?),
        false => None,
    };
    // Where the redirect goes: the entry's five bytes, or each GOT cell of the executable's
    // for the function (8 bytes each).
    let sites: Vec<(u64, usize)> = match options.via_got {
        false => vec![(function.address, 5)],
        true => {
            let exe = image.files.iter().find(|f| f.executable);
            let cells: Vec<(u64, usize)> = exe
                .into_iter()
                .flat_map(|f| f.got_cells.iter())
                .filter(|(name, _)| *name == function.name)
                .map(|&(_, cell)| (cell, 8))
                .collect();
            if cells.is_empty() || cells.iter().any(|(cell, _)| cell % 8 != 0) {
                return Err(LiveError::NoGotCell {
                    pid,
                    name: function.name.clone(),
                    exe: exe.map(|f| f.path.clone()).unwrap_or_default(),
                });
            }
            cells
        }
    };
    let thunk_len = match xsave {
        Some(size) => {
            thunk::len(options.returns, size).map_err(|e| LiveError::Thunk(e.to_string()))?
        }
        None => 0,
    };
    let plan = object.plan(thunk_len, &image)?;
    let (code_len, data_len) = plan.sizes();
    let mem = open_mem(pid)?;
    let entry_name = options
        .entry
        .clone()
        .unwrap_or_else(|| function.name.clone());
    // Whatever was patched before, undo goes back to the true original.
    let mut current = Vec::new();
    for &(site, len) in &sites {
        let now = read_mem(&mem, pid, site, len)?;
        if let Some(earlier) = record.patches.iter().find(|p| p.address == site)
            && now != earlier.written
        {
            return Err(LiveError::Changed {
                pid,
                name: options.function.clone(),
                found: hex(&now),
                written: hex(&earlier.written),
            });
        }
        current.push(now);
    }
    let syscall = image
        .syscall_instruction(&mem)
        .ok_or(LiveError::NoSyscall { pid })?;

    // Room for the patch, mapped by the process itself, near the function.
    let map_started = Instant::now();
    let (code_base, data_base) = {
        let mut stopped = Stopped::all(pid)?;
        map_blocks(
            &mut stopped,
            &image,
            syscall,
            sites[0].0,
            code_len as u64,
            data_len as u64,
        )?
    };
    let map_pause = map_started.elapsed();
    let page = rustix::param::page_size() as u64;
    let mut blocks = vec![(code_base, (code_len as u64).next_multiple_of(page))];
    if let Some(data) = data_base {
        blocks.push((data, (data_len as u64).next_multiple_of(page)));
    }
    let installed = install(
        options,
        &image,
        &object,
        &plan,
        &mem,
        syscall,
        &sites,
        &entry_name,
        code_base,
        data_base,
        xsave,
    );
    let (linked, thunk_at, new_bytes, pause, threads) = match installed {
        Ok(done) => done,
        Err(e) => {
            unmap_blocks(pid, syscall, &blocks);
            return Err(e);
        }
    };
    for ((&(site, _), now), written) in sites.iter().zip(&current).zip(&new_bytes) {
        let (original, mut all_blocks) = match record.patches.iter().position(|p| p.address == site)
        {
            Some(i) => {
                let p = record.patches.remove(i);
                (p.original, p.blocks)
            }
            None => (now.clone(), Vec::new()),
        };
        all_blocks.extend(blocks.iter().copied());
        record.patches.push(Patched {
            function: options.function.clone(),
            file: file.clone(),
            address: site,
            original,
            written: written.clone(),
            patch: shown.clone(),
            blocks: all_blocks,
            via: if options.via_got { "got" } else { "entry" }.into(),
        });
    }
    record.save()?;
    let mut used: Vec<&str> = vec![file.as_str()];
    for r in &linked.resolved {
        if r.from.starts_with('/') && !used.contains(&r.from.as_str()) {
            used.push(&r.from);
        }
    }
    let slides = used
        .iter()
        .filter_map(|path| image.files.iter().find(|f| f.path == *path))
        .map(|f| Slide {
            file: f.path.clone(),
            slide: f.bias,
        })
        .collect();
    Ok(Report {
        pid,
        function: options.function.clone(),
        file,
        address: function.address,
        slides,
        code: (code_base, code_len as u64),
        data: data_base.map(|d| (d, data_len as u64)),
        entry: linked.entry,
        thunk: thunk_at,
        returns: xsave.map(|_| options.returns),
        resolved: linked.resolved,
        via: if options.via_got { "got" } else { "entry" }.into(),
        sites: sites.iter().map(|(site, _)| *site).collect(),
        old_bytes: current
            .iter()
            .map(|b| hex(b))
            .collect::<Vec<_>>()
            .join(" | "),
        new_bytes: new_bytes
            .iter()
            .map(|b| hex(b))
            .collect::<Vec<_>>()
            .join(" | "),
        threads,
        pause_us: pause.as_secs_f64() * 1e6,
        map_pause_us: map_pause.as_secs_f64() * 1e6,
        total_us: started.elapsed().as_secs_f64() * 1e6,
    })
}

type Installed = (link::Linked, Option<u64>, Vec<Vec<u8>>, Duration, usize);

/// Links, checks and writes the patch into its blocks, then redirects the function.
#[allow(clippy::too_many_arguments)]
fn install(
    options: &Options,
    image: &Image,
    object: &PatchObject<'_>,
    plan: &link::Plan,
    mem: &File,
    _syscall: u64,
    sites: &[(u64, usize)],
    entry_name: &str,
    code_base: u64,
    data_base: Option<u64>,
    xsave: Option<u32>,
) -> Result<Installed, LiveError> {
    let pid = image.pid;
    let mut linked = object.link(plan, code_base, data_base.unwrap_or(0), entry_name, image)?;
    let thunk_at = match xsave {
        Some(size) => {
            let bytes = thunk::assemble(code_base, linked.entry, options.returns, size)
                .map_err(|e| LiveError::Thunk(e.to_string()))?;
            linked.code[plan.thunk.clone()].copy_from_slice(&bytes);
            linked
                .functions
                .push((plan.thunk.clone(), "the register-keeping thunk".into()));
            Some(code_base)
        }
        None => None,
    };
    if !options.unchecked {
        polylink_exec::check_named_functions(&linked.code, &linked.functions)?;
    }
    let mut allowed: Vec<std::ops::Range<u64>> = sites
        .iter()
        .map(|&(site, len)| site..site + len as u64)
        .collect();
    allowed.push(code_base..code_base + linked.code.len() as u64);
    if let Some(data) = data_base {
        allowed.push(data..data + linked.data.len() as u64);
    }
    // Only the new blocks are written here; nothing runs them yet.
    write_mem(mem, pid, &allowed, code_base, &linked.code)?;
    if let Some(data) = data_base
        && !linked.data.is_empty()
    {
        write_mem(mem, pid, &allowed, data, &linked.data)?;
    }
    let target = thunk_at.unwrap_or(linked.entry);
    if options.via_got {
        // An aligned 8-byte store per cell, with no thread stopped: a caller reads the old
        // pointer or the new one.
        let new = target.to_le_bytes().to_vec();
        let started = Instant::now();
        for &(cell, _) in sites {
            write_mem(mem, pid, &allowed, cell, &new)?;
        }
        let threads = ptrace::task_ids(pid).map_or(0, |t| t.len());
        return Ok((
            linked,
            thunk_at,
            vec![new; sites.len()],
            started.elapsed(),
            threads,
        ));
    }
    let entry = sites[0].0;
    let new_bytes = jump(entry, target).ok_or_else(|| LiveError::NoRoom {
        pid,
        len: 0,
        near: entry,
        why: format!("the patch at {target:#x} is out of a jump's reach"),
    })?;
    let mut stopped = Stopped::all(pid)?;
    let since = stopped.since;
    let threads = stopped.tids().count();
    clear_entry(&mut stopped, entry, &options.function)?;
    write_mem(mem, pid, &allowed, entry, &new_bytes)?;
    drop(stopped);
    Ok((
        linked,
        thunk_at,
        vec![new_bytes.to_vec()],
        since.elapsed(),
        threads,
    ))
}

/// Puts back the original bytes of `function` in process `pid`: its entry (with every thread
/// stopped), or each GOT cell swapped for it (without).
pub fn undo(pid: u32, function: &str) -> Result<Undone, LiveError> {
    let started = Instant::now();
    let pid = process_of(pid)?;
    let mut record = Record::load(pid)?;
    let patched: Vec<Patched> = record
        .patches
        .iter()
        .filter(|p| p.function == function)
        .cloned()
        .collect();
    if patched.is_empty() {
        return Err(LiveError::NotPatched {
            pid,
            name: function.to_owned(),
            patched: record.patches.iter().map(|p| p.function.clone()).collect(),
        });
    }
    let mem = open_mem(pid)?;
    for p in &patched {
        let current = read_mem(&mem, pid, p.address, p.written.len())?;
        if current != p.written {
            return Err(LiveError::Changed {
                pid,
                name: function.to_owned(),
                found: hex(&current),
                written: hex(&p.written),
            });
        }
    }
    let mut pause = Duration::ZERO;
    for p in &patched {
        let range = p.address..p.address + p.original.len() as u64;
        let site = std::slice::from_ref(&range);
        if p.via == "got" {
            write_mem(&mem, pid, site, p.address, &p.original)?;
            continue;
        }
        let stopped = Stopped::all(pid)?;
        let since = stopped.since;
        write_mem(&mem, pid, site, p.address, &p.original)?;
        drop(stopped);
        pause += since.elapsed();
    }
    record.patches.retain(|p| p.function != function);
    record.save()?;
    Ok(Undone {
        pid,
        function: function.to_owned(),
        address: patched[0].address,
        restored: patched
            .iter()
            .map(|p| hex(&p.original))
            .collect::<Vec<_>>()
            .join(" | "),
        pause_us: pause.as_secs_f64() * 1e6,
        total_us: started.elapsed().as_secs_f64() * 1e6,
    })
}

/// The door for the fuzz targets: a patch object's bytes parsed, laid out and linked against
/// an empty image at fixed addresses (every undefined symbol then fails to resolve, as it
/// should), writing nothing anywhere.
pub mod fuzzing {
    use super::{Image, link::PatchObject};

    /// Parses, plans and links `bytes` as a patch object whose entry is `entry`.
    pub fn link_object(bytes: &[u8], entry: &str) {
        let image = Image {
            pid: 0,
            files: Vec::new(),
            maps: Vec::new(),
        };
        let Ok(object) = PatchObject::parse("fuzz.o", bytes) else {
            return;
        };
        let Ok(plan) = object.plan(64, &image) else {
            return;
        };
        let (code, data) = plan.sizes();
        // Sizes come from section headers: a huge claim is refused here, as mmap would refuse
        // it in a real process.
        if code > 1 << 24 || data > 1 << 24 {
            return;
        }
        let _ = object.link(&plan, 0x5555_0000_0000, 0x5555_1000_0000, entry, &image);
    }
}

/// The live patches in force in process `pid`.
pub fn list(pid: u32) -> Result<Record, LiveError> {
    Record::load(process_of(pid)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_one_edit_away() {
        let names = ["scale", "compute", "printf"];
        assert_eq!(suggest("scal", names.into_iter()).as_deref(), Some("scale"));
        assert_eq!(
            suggest("Compute", names.into_iter()).as_deref(),
            Some("compute")
        );
        assert_eq!(suggest("xyz", names.into_iter()), None);
    }

    #[test]
    fn jumps_reach_only_within_32_bits() {
        assert_eq!(jump(0x1000, 0x1005), Some([0xe9, 0, 0, 0, 0]));
        assert_eq!(jump(0x1000, 0x1000), Some([0xe9, 0xfb, 0xff, 0xff, 0xff]));
        assert_eq!(jump(0x1000, 0x1_0000_1000), None);
    }

    #[test]
    fn hints_are_in_gaps_near_the_function() {
        let map = |start: u64, end: u64| crate::patch::Mapping {
            range: start..end,
            perms: "r-xp".into(),
            offset: 0,
            dev: (0, 0),
            inode: 1,
            path: String::new(),
        };
        let maps = [
            map(0x5555_0000_0000, 0x5555_0010_0000),
            map(0x5555_0020_0000, 0x5555_0030_0000),
        ];
        let hints = hints(&maps, 0x5555_0000_1000, 0x2000);
        assert!(!hints.is_empty());
        for h in &hints {
            assert!(h.abs_diff(0x5555_0000_1000) < 0x8000_0000);
            assert!(
                maps.iter()
                    .all(|m| *h + 0x2000 <= m.range.start || *h >= m.range.end),
                "{h:#x}"
            );
        }
    }
}
