//! Live patching of an unmodified running process: a function's new version, given as a
//! relocatable object, is linked against the process's live image, placed in memory mapped
//! inside the process next to the function, and entered by a `jmp` written over the function's
//! first five bytes while every thread is stopped.
//!
//! The steps, and the modules that take them:
//! 1. [`image`]: read the live image (the files mapped, their load slides, their symbols) and
//!    find the function (`NAME`, or `FILE:NAME` for one file's).
//! 2. [`link`]: lay the patch object out and size it.
//! 3. [`place`] through [`ptrace`]: stop every thread, run `mmap` in the process for two blocks
//!    near the function (read+execute, read+write; `MAP_FIXED_NOREPLACE` at a hint in a gap
//!    within rel32's reach), and let it go.
//! 4. [`link`]: resolve every relocation against the live image; [`thunk`]: the entry that
//!    keeps caller-saved registers. The bytes are checked as raw code is, then written through
//!    `/proc/PID/mem` (which reaches read-only pages), only inside the blocks just mapped
//!    ([`mem`]).
//! 5. Stop every thread again, make sure none is inside the five bytes (single-stepping one
//!    out, a bounded number of times), write the jump, read it back, and let them go: the
//!    pause. [`record`] keeps the original bytes, for `--undo` and for a later patch of the
//!    same function.
//!
//! After any failure before the jump, the blocks are unmapped again and nothing else was
//! written; the process keeps running.

mod error;
mod image;
mod link;
mod mem;
mod place;
mod ptrace;
mod record;
mod store;
mod thunk;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use error::LiveError;
pub use image::{Defined, Image, Loaded, find_function};
pub use link::{Resolved, relocation_name};
pub use record::{Patched, Record};
pub use thunk::Returns;

use link::PatchObject;
use mem::{open_mem, process_of, read_mem, write_mem};
use place::{clear_entry, jump, map_blocks, unmap_blocks};
use ptrace::Stopped;

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
    /// What the function returns, which the thunk hands back; `None`: from the DWARF of the
    /// file that defines it, else a 64-bit integer.
    pub returns: Option<Returns>,
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
    /// Where the return kind came from: `option`, `DWARF` or `default`.
    pub returns_from: Option<String>,
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

use polylink_exec::hex;

/// Opens a patch object through polylink-inspect's door for files: regular ones only, mapped
/// (the layout bounds what is copied out of it).
fn read_patch(path: &Path) -> Result<polylink_inspect::symbols::Input, LiveError> {
    polylink_inspect::symbols::load(path).map_err(|fault| LiveError::PatchFile {
        path: path.display().to_string(),
        why: fault.to_string(),
    })
}

/// For the tests of Ctrl-C: with `POLYLINK_LIVE_TEST_HOLD_MS` set, waits that long after the
/// patch's memory is mapped and before anything is written there, saying so on stderr.
fn hold_for_tests() {
    let Some(ms) = std::env::var("POLYLINK_LIVE_TEST_HOLD_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
    else {
        return;
    };
    eprintln!("polylink: holding for {ms} ms after mapping");
    std::thread::sleep(Duration::from_millis(ms));
}

/// What the function at link-time address `address` of file `path` returns, from the file's
/// DWARF; `None` when it has none for it.
fn returned_by(path: &str, address: u64) -> Option<Returns> {
    use polylink_inspect::dwarf::Returned;
    let input = polylink_inspect::symbols::load(Path::new(path)).ok()?;
    Some(
        match polylink_inspect::dwarf::returned(input.data(), address)? {
            Returned::Nothing => Returns::Void,
            Returned::Int | Returned::Memory => Returns::Int,
            Returned::IntPair => Returns::IntPair,
            Returned::Float => Returns::Float,
            Returned::FloatPair => Returns::FloatPair,
            Returned::IntAndFloat => Returns::IntAndFloat,
            Returned::X87 => Returns::X87,
        },
    )
}

/// Patches function `options.function` of process `options.pid` with the object
/// `options.patch`.
pub fn apply(options: &Options) -> Result<Report, LiveError> {
    let started = Instant::now();
    // Ctrl-C takes back what was done, up to the jump; after it, the patch finishes.
    let interrupts = ptrace::Interrupts::catch();
    let pid = process_of(options.pid)?;
    let image = Image::read(pid)?;
    let (loaded, function) = find_function(&image, &options.function, !options.via_got)?;
    let (returns, returns_from) = match options.returns {
        Some(returns) => (returns, "option"),
        None if !options.preserve || options.via_got => (Returns::Int, "default"),
        None => match returned_by(&loaded.path, function.address.wrapping_sub(loaded.bias)) {
            Some(returns) => (returns, "DWARF"),
            None => (Returns::Int, "default"),
        },
    };
    let (file, function) = (loaded.path.clone(), function.clone());
    let mut record = Record::load(pid)?;
    let bytes = read_patch(&options.patch)?;
    let shown = options.patch.display().to_string();
    let object = PatchObject::parse(&shown, bytes.data())?;
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
        Some(size) => thunk::len(returns, size).map_err(|e| LiveError::Thunk(e.to_string()))?,
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

    if interrupts.seen() {
        return Err(LiveError::Interrupted { pid });
    }
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
    hold_for_tests();
    let installed = install(
        options,
        &image,
        &object,
        &plan,
        &mem,
        &sites,
        &entry_name,
        code_base,
        data_base,
        xsave.map(|size| (size, returns)),
        &interrupts,
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
        returns: xsave.map(|_| returns),
        returns_from: xsave.map(|_| returns_from.to_owned()),
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
    sites: &[(u64, usize)],
    entry_name: &str,
    code_base: u64,
    data_base: Option<u64>,
    thunk: Option<(u32, Returns)>,
    interrupts: &ptrace::Interrupts,
) -> Result<Installed, LiveError> {
    let pid = image.pid;
    let mut linked = object.link(plan, code_base, data_base.unwrap_or(0), entry_name, image)?;
    let thunk_at = match thunk {
        Some((size, returns)) => {
            let bytes = thunk::assemble(code_base, linked.entry, returns, size)
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
    // The last point where Ctrl-C takes the patch back (the caller unmaps the blocks).
    if interrupts.seen() {
        return Err(LiveError::Interrupted { pid });
    }
    if options.via_got {
        // An aligned 8-byte store per cell, made by one thread of the process while the others
        // run on: a caller reads the old pointer or the new one.
        let cells: Vec<u64> = sites.iter().map(|&(cell, _)| cell).collect();
        let held = store::swap_cells(pid, mem, &allowed, &cells, target)?;
        let threads = ptrace::task_ids(pid).map_or(0, |t| t.len());
        let new = target.to_le_bytes().to_vec();
        return Ok((linked, thunk_at, vec![new; sites.len()], held, threads));
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
            let original =
                <[u8; 8]>::try_from(p.original.as_slice()).map_err(|_| LiveError::Write {
                    pid,
                    address: p.address,
                    len: p.original.len(),
                    why: "the record keeps a GOT cell's old value that is not 8 bytes".into(),
                })?;
            let value = u64::from_le_bytes(original);
            pause += store::swap_cells(pid, &mem, site, &[p.address], value)?;
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
