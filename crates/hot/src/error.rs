//! The error type of hot code: each message names the slot, table, process or file and the
//! fault, with the system's own error text inline.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no hot slot named {name:?} (the table has: {known})")]
    NoSlot { name: String, known: String },
    #[error("hot slot name {name:?} is {len} bytes; a slot name holds 1 to {limit}")]
    SlotName {
        name: String,
        len: usize,
        limit: usize,
    },
    #[error("hot slot {name:?} is named twice")]
    DuplicateSlot { name: String },
    #[error("a patch region holds 1 to {limit} units; {units} asked")]
    RegionUnits { units: usize, limit: usize },
    #[error("the hot table's patch region is already reserved")]
    RegionReserved,
    #[error("hot slot {name:?} was given no first code")]
    NoFirstCode { name: String },
    #[error(
        "no room left in the patch region: the code needs {need} units of 256 bytes, and {used} of its {units} are used"
    )]
    RegionFull {
        need: usize,
        used: usize,
        units: usize,
    },
    #[error(
        "slot entry {entry:#x} is not the start of a unit in use in the patch region at {region:#x}"
    )]
    EntryOutsideRegion { entry: usize, region: usize },
    #[error("no such process: {pid}")]
    NoProcess { pid: u32 },
    #[error(
        "the code was installed: slot {slot:?} of process {pid} was switched to {entry:#x}; then \
         the process exited, before the switch could be read back (if the new code crashed it, \
         its parent saw the signal)"
    )]
    InstalledThenExited { pid: u32, slot: String, entry: u64 },
    #[error(
        "process {pid} exited while the code was being written, before slot {slot:?} was \
         switched: nothing was installed"
    )]
    ExitedBeforeSwitch { pid: u32, slot: String },
    #[error("process {pid} has no executable (a kernel thread, or a process that has exited)")]
    NoExecutable { pid: u32 },
    #[error("process {pid} ({}) is not a polylink host: {reason}", .exe.display())]
    NotHost {
        pid: u32,
        exe: PathBuf,
        reason: String,
    },
    #[error(
        "process {pid} has a hot table of version {found}; this patcher knows version {expected}"
    )]
    TableVersion { pid: u32, found: u32, expected: u32 },
    #[error("process {pid} has a hot table but has not reserved its patch region yet")]
    NotReserved { pid: u32 },
    #[error("permission denied opening {} (process {pid}): {why}", .path.display())]
    Denied {
        pid: u32,
        path: PathBuf,
        why: String,
    },
    #[error("could not read {}: {cause}", .path.display())]
    Proc { path: PathBuf, cause: io::Error },
    #[error("could not read {len} bytes at {address:#x} in process {pid}: {cause}")]
    MemRead {
        pid: u32,
        address: u64,
        len: usize,
        cause: io::Error,
    },
    #[error("could not write at {address:#x} in process {pid}: {why}")]
    MemWrite { pid: u32, address: u64, why: String },
    #[error("the bytes written at {address:#x} in process {pid} did not read back the same")]
    WriteLost { pid: u32, address: u64 },
    #[error(
        "refused to write {len} bytes at {address:#x}: outside the table ({:#x}..{:#x}) and the region ({:#x}..{:#x})",
        .table.start, .table.end, .region.start, .region.end
    )]
    OutsideTarget {
        address: u64,
        len: usize,
        table: std::ops::Range<u64>,
        region: std::ops::Range<u64>,
    },
    #[error(
        "another patcher of process {pid} has held its hot table's lock ({}) for {waited:?}; try again", .lock.display()
    )]
    Busy {
        pid: u32,
        lock: PathBuf,
        waited: std::time::Duration,
    },
    #[error("could not make the hot table's lock (memfd_create): {cause}")]
    LockFile { cause: io::Error },
    /// The code itself: empty, too large, needing a CPU feature this CPU lacks, or the
    /// executable memory it goes into.
    #[error(transparent)]
    Exec(#[from] polylink_exec::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
