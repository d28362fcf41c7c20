//! Patching a running host's hot table from outside: find the table, check it, write new code
//! into the host's reserved region, then switch the slot.
//!
//! - The table is found the way a debugger finds a variable: the host's executable, read
//!   through `/proc/PID/exe`, names [`TABLE_SYMBOL`]'s link-time address; `/proc/PID/maps`
//!   says where the executable was loaded (address randomisation moves it on every run); the
//!   sum is the table's address in the host.
//! - Memory is read and written through `/proc/PID/mem`. The kernel writes there even into
//!   read-only pages (as a debugger's breakpoints do), so the region stays read+execute in the
//!   host and is never writable there.
//! - Nothing is read from the host without being checked (magic, version, sizes, that the
//!   region is the private read+execute mapping the host made), and every write is checked
//!   against the two ranges that may be written: the table and the region ([`Bounds`]).
//! - Patchers of one host take turns: each holds an exclusive `flock` while it hands out units,
//!   on a memfd the host keeps open for that alone (the table names its descriptor, and
//!   `/proc/PID/fd/N` opens the same file); the host's own reloads take the same lock.
//! - The switch writes the one byte of the entry that changes (see [`super::shared`]).

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use object::{Object, ObjectSegment, ObjectSymbol};

use super::shared::{
    LOCK_NAME, MAGIC, MAX_UNITS, REGION_ALIGN, TABLE_SYMBOL, UNIT, VERSION, offsets,
};
use super::{NAME_LEN, slot_name};
use crate::{Error, Result, cpu, raw};

/// How long a patcher waits for another one to finish with the same host.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub range: Range<u64>,
    pub perms: String,
    pub offset: u64,
    pub dev: (u32, u32),
    pub inode: u64,
    pub path: String,
}

impl Mapping {
    /// Parses one line, `start-end perms offset major:minor inode [path]`.
    pub fn parse(line: &str) -> Option<Mapping> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?.to_owned();
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let inode = fields.next()?.parse().ok()?;
        Some(Mapping {
            range: u64::from_str_radix(start, 16).ok()?..u64::from_str_radix(end, 16).ok()?,
            perms,
            offset,
            dev: (
                u32::from_str_radix(major, 16).ok()?,
                u32::from_str_radix(minor, 16).ok()?,
            ),
            inode,
            path: fields.collect::<Vec<_>>().join(" "),
        })
    }

    fn covers(&self, range: &Range<u64>) -> bool {
        self.range.start <= range.start && range.end <= self.range.end
    }
}

/// The ranges of a host a patcher may write; every write is checked against them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub table: Range<u64>,
    pub region: Range<u64>,
}

impl Bounds {
    /// Refuses `len` bytes at `address` unless they lie wholly in the table or the region.
    pub fn check(&self, address: u64, len: usize) -> Result<()> {
        let range = address..address.saturating_add(len as u64);
        let inside = |r: &Range<u64>| r.start <= range.start && range.end <= r.end;
        if len > 0 && (inside(&self.table) || inside(&self.region)) {
            Ok(())
        } else {
            Err(Error::OutsideTarget {
                address,
                len,
                table: self.table.clone(),
                region: self.region.clone(),
            })
        }
    }
}

/// A slot of a host's table, as read from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSlot {
    pub name: String,
    /// The slot's address in the host.
    pub address: u64,
}

/// A host whose table was found and checked, open for patching.
#[derive(Debug)]
pub struct Target {
    pid: u32,
    exe: PathBuf,
    /// The host's lock memfd, opened through /proc/PID/fd, and that path.
    lock_file: File,
    lock_path: PathBuf,
    mem: File,
    /// The table's address in the host, and the load bias that placed it there.
    pub table: u64,
    pub bias: u64,
    pub slots: Vec<RemoteSlot>,
    pub units: usize,
    bounds: Bounds,
    /// How long finding and checking the table took.
    pub resolve: Duration,
}

/// What a patch did: where the slot is, what it ran before and what it runs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    pub slot: String,
    pub slot_address: u64,
    pub before: u64,
    pub after: u64,
    /// The unit the new code starts at, and how many units of the region are used now.
    pub unit: usize,
    pub used: usize,
    pub units: usize,
    pub len: usize,
    /// Writing the code (and reading it back), and the one-byte switch.
    pub write: Duration,
    pub switch: Duration,
    /// CLOCK_MONOTONIC, in nanoseconds, just after the switch: the same clock in every process.
    pub switched_at_ns: u64,
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes on one machine.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Target {
    /// Finds process `pid`'s hot table and checks it, writing nothing.
    pub fn open(pid: u32) -> Result<Target> {
        let started = Instant::now();
        let proc = PathBuf::from(format!("/proc/{pid}"));
        if let Err(cause) = std::fs::metadata(&proc) {
            return Err(match cause.kind() {
                io::ErrorKind::NotFound => Error::NoProcess { pid },
                _ => proc_error(pid, &proc, cause),
            });
        }
        let exe_link = proc.join("exe");
        let exe = std::fs::read_link(&exe_link).map_err(|cause| match cause.kind() {
            io::ErrorKind::NotFound => Error::NoExecutable { pid },
            _ => proc_error(pid, &exe_link, cause),
        })?;
        let exe_file = File::open(&exe_link).map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let not_host = |reason: String| Error::NotHost {
            pid,
            exe: exe.clone(),
            reason,
        };
        // SAFETY: the mapping is only read. The file is a running program's executable, which
        // the kernel refuses to open for writing (ETXTBSY); were it changed anyway, we would
        // read wrong numbers, which the checks against the host's own memory below refuse.
        let image = unsafe { memmap2::Mmap::map(&exe_file) }
            .map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let elf = object::File::parse(&*image).map_err(|e| {
            not_host(format!(
                "its executable is not an ELF file object reads: {e}"
            ))
        })?;
        let symbol = elf.symbol_by_name(TABLE_SYMBOL).ok_or_else(|| {
            not_host(if elf.symbol_table().is_none() {
                format!("its executable has no symbol table (stripped?), so no {TABLE_SYMBOL}")
            } else {
                format!("its executable defines no symbol {TABLE_SYMBOL}")
            })
        })?;
        let table_size = symbol.size();
        if table_size < offsets::SLOTS as u64 {
            return Err(not_host(format!(
                "{TABLE_SYMBOL} is {table_size} bytes, smaller than a table's header"
            )));
        }

        let maps_path = proc.join("maps");
        let maps = std::fs::read_to_string(&maps_path)
            .map_err(|cause| proc_error(pid, &maps_path, cause))?;
        let maps: Vec<Mapping> = maps.lines().filter_map(Mapping::parse).collect();
        let meta = exe_file
            .metadata()
            .map_err(|cause| proc_error(pid, &exe_link, cause))?;
        let ours = |m: &&Mapping| {
            m.inode == meta.ino()
                && m.dev == (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()))
        };
        let bias = load_bias(&elf, maps.iter().filter(ours))
            .ok_or_else(|| not_host("its segments are not where /proc/PID/maps puts it".into()))?;
        let table = bias.wrapping_add(symbol.address());
        let table_range = table..table + table_size;
        if !maps
            .iter()
            .any(|m| m.covers(&table_range) && m.perms.starts_with("rw"))
        {
            return Err(not_host(format!(
                "{TABLE_SYMBOL} at {table:#x} is not in writable memory"
            )));
        }

        let mem_path = proc.join("mem");
        let mem = File::options()
            .read(true)
            .write(true)
            .open(&mem_path)
            .map_err(|cause| proc_error(pid, &mem_path, cause))?;
        let mut header = [0u8; offsets::SLOTS];
        read_exact(&mem, table, &mut header, pid)?;
        let u32_at = |at: usize| u32::from_ne_bytes(header[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(header[at..at + 8].try_into().unwrap());
        if header[offsets::MAGIC..offsets::MAGIC + 8] != MAGIC {
            return Err(not_host(format!(
                "the {table_size} bytes at {TABLE_SYMBOL} ({table:#x}) do not start with the magic {:?}",
                String::from_utf8_lossy(&MAGIC)
            )));
        }
        let version = u32_at(offsets::VERSION);
        if version != VERSION || u32_at(offsets::UNIT) as usize != UNIT {
            return Err(Error::TableVersion {
                pid,
                found: version,
                expected: VERSION,
            });
        }
        let count = u32_at(offsets::SLOT_COUNT) as usize;
        let needed = offsets::SLOTS + count * offsets::SLOT_SIZE;
        if table_size < needed as u64 {
            return Err(not_host(format!(
                "{TABLE_SYMBOL} is {table_size} bytes, too small for the {count} slots it says it has"
            )));
        }
        let region = u64_at(offsets::REGION);
        let units = u32_at(offsets::UNITS) as usize;
        if region == 0 {
            return Err(Error::NotReserved { pid });
        }
        let region_range = region..region + (units * UNIT) as u64;
        let private_rx =
            |m: &&Mapping| m.covers(&region_range) && m.perms == "r-xp" && m.inode == 0;
        if units == 0
            || units > MAX_UNITS
            || !region.is_multiple_of(REGION_ALIGN as u64)
            || !maps.iter().any(|m| private_rx(&m))
        {
            return Err(not_host(format!(
                "its region ({units} units at {region:#x}) is not a private read+execute mapping of at most {MAX_UNITS} units at a multiple of {REGION_ALIGN:#x}"
            )));
        }

        let lock_fd = i32::from_ne_bytes(
            header[offsets::LOCK_FD..offsets::LOCK_FD + 4]
                .try_into()
                .unwrap(),
        );
        let lock_path = proc.join(format!("fd/{lock_fd}"));
        let lock_target = std::fs::read_link(&lock_path).unwrap_or_default();
        if lock_fd < 0
            || !lock_target
                .to_string_lossy()
                .starts_with(&format!("/memfd:{LOCK_NAME}"))
        {
            return Err(not_host(format!(
                "its table's lock descriptor {lock_fd} is not its {LOCK_NAME} memfd"
            )));
        }
        let lock_file =
            File::open(&lock_path).map_err(|cause| proc_error(pid, &lock_path, cause))?;

        let mut names = vec![0u8; count * offsets::SLOT_SIZE];
        read_exact(&mem, table + offsets::SLOTS as u64, &mut names, pid)?;
        let slots = names
            .chunks(offsets::SLOT_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                let name: &[u8; NAME_LEN] =
                    chunk[offsets::SLOT_NAME..][..NAME_LEN].try_into().unwrap();
                RemoteSlot {
                    name: String::from_utf8_lossy(slot_name(name)).into_owned(),
                    address: table + (offsets::SLOTS + i * offsets::SLOT_SIZE) as u64,
                }
            })
            .collect();
        Ok(Target {
            pid,
            exe,
            lock_file,
            lock_path,
            mem,
            table,
            bias,
            slots,
            units,
            bounds: Bounds {
                table: table..table + needed as u64,
                region: region_range,
            },
            resolve: started.elapsed(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn exe(&self) -> &Path {
        &self.exe
    }

    pub fn region(&self) -> u64 {
        self.bounds.region.start
    }

    /// The slot named `name`.
    pub fn slot(&self, name: &str) -> Result<&RemoteSlot> {
        self.slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::NoSlot {
                name: name.to_owned(),
                known: self
                    .slots
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The address slot `name` runs now.
    pub fn entry(&self, name: &str) -> Result<u64> {
        let slot = self.slot(name)?;
        self.read_u64(slot.address + offsets::SLOT_ENTRY as u64)
    }

    /// Writes `code` into the next free units of the region and switches slot `name` to it.
    ///
    /// # Safety
    /// `code` must be a function with the [`super::HotSignature`] contract, sound for any six
    /// integers: the host will call it.
    pub unsafe fn install(&self, name: &str, code: &[u8]) -> Result<Patch> {
        let slot = self.slot(name)?.clone();
        raw::check_size(name, code)?;
        cpu::check(name, code)?;
        let _turn = self.lock()?;
        let entry_at = slot.address + offsets::SLOT_ENTRY as u64;
        let before = self.read_u64(entry_at)?;
        let used = self.read_u64(self.bounds.table.start + offsets::USED as u64)? as usize;
        let region = self.bounds.region.start;
        let in_use = region..region + (used * UNIT) as u64;
        if !in_use.contains(&before) || !(before - region).is_multiple_of(UNIT as u64) {
            return Err(Error::EntryOutsideRegion {
                entry: before as usize,
                region: region as usize,
            });
        }
        let need = super::shared::units_for(code.len());
        if used + need > self.units {
            return Err(Error::RegionFull {
                need,
                used,
                units: self.units,
            });
        }

        let started = Instant::now();
        let after = region + (used * UNIT) as u64;
        self.write(after, code)?;
        let mut back = vec![0u8; code.len()];
        read_exact(&self.mem, after, &mut back, self.pid)?;
        if back != code {
            return Err(Error::WriteLost {
                pid: self.pid,
                address: after,
            });
        }
        self.write(
            self.bounds.table.start + offsets::USED as u64,
            &((used + need) as u64).to_ne_bytes(),
        )?;
        let write = started.elapsed();

        // Old and new entry differ in byte 1 only (the unit's number); that byte is the switch.
        // The checks in `open` make this so; it is checked again because the switch relies on it.
        if before & !0xff00 != after & !0xff00 {
            return Err(Error::EntryOutsideRegion {
                entry: before as usize,
                region: region as usize,
            });
        }
        let started = Instant::now();
        self.write(entry_at + 1, &[(after >> 8) as u8])?;
        let switch = started.elapsed();
        let switched_at_ns = monotonic_ns();
        let now = self.read_u64(entry_at)?;
        if now != after {
            return Err(Error::WriteLost {
                pid: self.pid,
                address: entry_at,
            });
        }
        Ok(Patch {
            slot: slot.name,
            slot_address: slot.address,
            before,
            after: now,
            unit: used,
            used: used + need,
            units: self.units,
            len: code.len(),
            write,
            switch,
            switched_at_ns,
        })
    }

    /// Waits its turn behind any other patcher of this host (or the host itself).
    fn lock(&self) -> Result<Lock<'_>> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(
                &self.lock_file,
                rustix::fs::FlockOperation::NonBlockingLockExclusive,
            ) {
                Ok(()) => return Ok(Lock(&self.lock_file)),
                Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(Error::Busy {
                        pid: self.pid,
                        lock: self.lock_path.clone(),
                        waited: LOCK_WAIT,
                    });
                }
                Err(errno) => return Err(proc_error(self.pid, &self.lock_path, errno.into())),
            }
        }
    }

    fn read_u64(&self, address: u64) -> Result<u64> {
        let mut bytes = [0u8; 8];
        read_exact(&self.mem, address, &mut bytes, self.pid)?;
        Ok(u64::from_ne_bytes(bytes))
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<()> {
        self.bounds.check(address, bytes.len())?;
        match self.mem.write_at(bytes, address) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(n) => Err(Error::MemWrite {
                pid: self.pid,
                address,
                why: format!("only {n} of {} bytes were written", bytes.len()),
            }),
            Err(cause) if cause.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
                Err(Error::MemWrite {
                    pid: self.pid,
                    address,
                    why: force_refusal(&cmdline),
                })
            }
            Err(cause) => Err(proc_error(
                self.pid,
                Path::new(&format!("/proc/{}/mem", self.pid)),
                cause,
            )),
        }
    }
}

/// The flock held while units are handed out; released when dropped.
struct Lock<'f>(&'f File);

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

/// Where the executable was loaded: the first mapping of it (the lowest), less the page-aligned
/// address of the loadable segment that starts at the mapping's file offset.
fn load_bias<'m>(
    elf: &object::File<'_>,
    mut mappings: impl Iterator<Item = &'m Mapping>,
) -> Option<u64> {
    let page = rustix::param::page_size() as u64;
    let first = mappings.next()?;
    elf.segments()
        .find(|s| s.file_range().0 & !(page - 1) == first.offset)
        .map(|s| first.range.start.wrapping_sub(s.address() & !(page - 1)))
}

fn read_exact(mem: &File, address: u64, buf: &mut [u8], pid: u32) -> Result<()> {
    mem.read_exact_at(buf, address)
        .map_err(|cause| Error::MemRead {
            pid,
            address,
            len: buf.len(),
            cause,
        })
}

/// An error met reading `path` of process `pid`: permission faults are explained.
fn proc_error(pid: u32, path: &Path, cause: io::Error) -> Error {
    match cause.kind() {
        io::ErrorKind::PermissionDenied => Error::Denied {
            pid,
            path: path.to_path_buf(),
            why: Facts::gather(pid).denial().to_string(),
        },
        io::ErrorKind::NotFound => Error::NoProcess { pid },
        _ => Error::Proc {
            path: path.to_path_buf(),
            cause,
        },
    }
}

/// Why the kernel refused to write through a read-only mapping, from its command line.
pub fn force_refusal(cmdline: &str) -> String {
    let setting = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("proc_mem.force_override="));
    match setting {
        Some("never") => {
            "the kernel was booted with proc_mem.force_override=never, so /proc/PID/mem \
             writes never reach read-only memory such as code"
                .into()
        }
        Some("ptrace") => {
            "the kernel was booted with proc_mem.force_override=ptrace, so /proc/PID/mem \
             writes reach read-only memory such as code only for a process's active ptrace tracer"
                .into()
        }
        _ => "the kernel refused to write through /proc/PID/mem into read-only memory; it was \
             probably built with CONFIG_PROC_MEM_NO_FORCE or CONFIG_PROC_MEM_FORCE_PTRACE \
             (see proc_mem.force_override)"
            .into(),
    }
}

/// What decides whether this process may write another's memory: the kernel's ptrace access
/// check, in its order (credentials, dumpable, then the Yama LSM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub our_uid: u32,
    /// Whether we hold CAP_SYS_PTRACE, which overrides the first two checks.
    pub capable: bool,
    /// The target's real, effective and saved uids (from /proc/PID/status).
    pub target_uids: Vec<u32>,
    /// Who owns the files in /proc/PID (status, mem, …): the process's uid while it is
    /// dumpable, root when it is not. (The directory itself keeps the process's uid.)
    pub proc_owner: Option<u32>,
    /// kernel.yama.ptrace_scope, when Yama is there.
    pub ptrace_scope: Option<u8>,
    /// Whether the target descends from us (Yama's scope 1 lets us reach those only).
    pub descendant: bool,
}

/// Why access was denied, as far as this process can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    OtherUser { uid: u32, ours: u32 },
    NotDumpable,
    PtraceScope { scope: u8 },
    Unknown,
}

impl Facts {
    pub fn gather(pid: u32) -> Facts {
        let ours = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let theirs = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let capable = status_field(&ours, "CapEff:")
            .and_then(|caps| u64::from_str_radix(caps, 16).ok())
            .is_some_and(|caps| caps & (1 << 19) != 0); // CAP_SYS_PTRACE
        let target_uids = theirs
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|uids| {
                let uids = uids.split_ascii_whitespace().take(3);
                uids.filter_map(|u| u.parse().ok()).collect()
            })
            .unwrap_or_default();
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Facts {
            // The kernel compares the filesystem uid, which is the effective uid here.
            our_uid: rustix::process::geteuid().as_raw(),
            capable,
            target_uids,
            proc_owner: std::fs::metadata(format!("/proc/{pid}/status"))
                .ok()
                .map(|m| m.uid()),
            ptrace_scope: scope,
            descendant: descends_from(pid, std::process::id()),
        }
    }

    /// The first check the kernel would fail.
    pub fn denial(&self) -> Denial {
        if !self.capable
            && let Some(&uid) = self.target_uids.iter().find(|&&u| u != self.our_uid)
        {
            return Denial::OtherUser {
                uid,
                ours: self.our_uid,
            };
        }
        let uid = self.target_uids.first().copied();
        if !self.capable && self.proc_owner.is_some() && self.proc_owner != uid {
            return Denial::NotDumpable;
        }
        match self.ptrace_scope {
            Some(scope @ 1) if !self.descendant && !self.capable => Denial::PtraceScope { scope },
            Some(scope @ 2) if !self.capable => Denial::PtraceScope { scope },
            Some(scope @ 3..) => Denial::PtraceScope { scope },
            _ => Denial::Unknown,
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::OtherUser { uid, ours } => write!(
                f,
                "it runs as another user ({}, you are {}): only its own user, or root with \
                 CAP_SYS_PTRACE, may reach its memory",
                user(*uid),
                user(*ours)
            ),
            Denial::NotDumpable => write!(
                f,
                "it is not dumpable (it called prctl(PR_SET_DUMPABLE, 0), or changed its \
                 credentials): only a process with CAP_SYS_PTRACE may reach its memory"
            ),
            Denial::PtraceScope { scope: 1 } => write!(
                f,
                "ptrace is restricted (kernel.yama.ptrace_scope = 1): a process may reach only \
                 its own descendants; start the host from the patcher, have the host name the \
                 patcher with prctl(PR_SET_PTRACER), or run with CAP_SYS_PTRACE"
            ),
            Denial::PtraceScope { scope: 2 } => write!(
                f,
                "ptrace is restricted (kernel.yama.ptrace_scope = 2): only a process with \
                 CAP_SYS_PTRACE may reach another's memory"
            ),
            Denial::PtraceScope { scope } => write!(
                f,
                "ptrace is disabled (kernel.yama.ptrace_scope = {scope}): no process may reach \
                 another's memory until reboot"
            ),
            Denial::Unknown => write!(
                f,
                "neither its user, its dumpable flag nor Yama explains it: a security module \
                 (SELinux, AppArmor) or the container's policy may"
            ),
        }
    }
}

/// `uid 1000 (alice)`, with the name from /etc/passwd when there is one.
fn user(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse() == Ok(uid)).then(|| name.to_owned())
    });
    match name {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

fn status_field<'s>(status: &'s str, key: &str) -> Option<&'s str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_ascii_whitespace().next())
}

/// Whether `pid`'s chain of parents reaches `ancestor`.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut pid = pid;
    for _ in 0..4096 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        match status_field(&status, "PPid:").and_then(|p| p.parse::<u32>().ok()) {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse() {
        let m = Mapping::parse(
            "55d0c3a00000-55d0c3a1e000 r--p 00000000 fd:01 1234567   /usr/bin/prog (deleted)",
        )
        .unwrap();
        assert_eq!(m.range, 0x55d0c3a00000..0x55d0c3a1e000);
        assert_eq!(
            (m.perms.as_str(), m.offset, m.dev, m.inode),
            ("r--p", 0, (0xfd, 1), 1234567)
        );
        assert_eq!(m.path, "/usr/bin/prog (deleted)");
        let anon = Mapping::parse("7f0000000000-7f0000010000 r-xp 00000000 00:00 0").unwrap();
        assert_eq!((anon.inode, anon.path.as_str()), (0, ""));
        assert_eq!(Mapping::parse("garbage"), None);
    }

    #[test]
    fn writes_outside_the_table_and_region_are_refused() {
        let b = Bounds {
            table: 0x1000..0x1078,
            region: 0x10000..0x20000,
        };
        b.check(0x1000, 0x78).unwrap();
        b.check(0x1021, 1).unwrap();
        b.check(0x10000, 0x10000).unwrap();
        for (address, len) in [
            (0x0fff, 2),
            (0x1077, 2),
            (0xffff, 1),
            (0x1ffff, 2),
            (0x5000, 1),
            (0x1000, 0),
            (u64::MAX, 8),
        ] {
            let err = b.check(address, len).unwrap_err();
            assert!(matches!(err, Error::OutsideTarget { .. }), "{err}");
        }
    }

    fn facts() -> Facts {
        Facts {
            our_uid: 1000,
            capable: false,
            target_uids: vec![1000, 1000, 1000],
            proc_owner: Some(1000),
            ptrace_scope: None,
            descendant: false,
        }
    }

    #[test]
    fn denials_follow_the_kernels_order() {
        let f = facts();
        assert_eq!(f.denial(), Denial::Unknown);
        let other = Facts {
            target_uids: vec![0, 0, 0],
            proc_owner: Some(0),
            ..f.clone()
        };
        assert_eq!(other.denial(), Denial::OtherUser { uid: 0, ours: 1000 });
        let setuid = Facts {
            target_uids: vec![1000, 0, 0],
            ..f.clone()
        };
        assert_eq!(setuid.denial(), Denial::OtherUser { uid: 0, ours: 1000 });
        let undumpable = Facts {
            proc_owner: Some(0),
            ..f.clone()
        };
        assert_eq!(undumpable.denial(), Denial::NotDumpable);
        let yama = Facts {
            ptrace_scope: Some(1),
            ..f.clone()
        };
        assert_eq!(yama.denial(), Denial::PtraceScope { scope: 1 });
        let child = Facts {
            descendant: true,
            ..yama.clone()
        };
        assert_eq!(child.denial(), Denial::Unknown);
        let admin_only = Facts {
            ptrace_scope: Some(2),
            descendant: true,
            ..f.clone()
        };
        assert_eq!(admin_only.denial(), Denial::PtraceScope { scope: 2 });
        let root = Facts {
            capable: true,
            ..admin_only.clone()
        };
        assert_eq!(root.denial(), Denial::Unknown);
        let none = Facts {
            capable: true,
            ptrace_scope: Some(3),
            ..f
        };
        assert_eq!(none.denial(), Denial::PtraceScope { scope: 3 });
        assert!(
            Denial::PtraceScope { scope: 1 }
                .to_string()
                .contains("PR_SET_PTRACER")
        );
    }

    #[test]
    fn forced_writes_refusal_names_the_setting() {
        assert!(force_refusal("quiet proc_mem.force_override=never ro").contains("=never"));
        assert!(force_refusal("proc_mem.force_override=ptrace").contains("tracer"));
        assert!(force_refusal("quiet").contains("CONFIG_PROC_MEM_NO_FORCE"));
    }
}
