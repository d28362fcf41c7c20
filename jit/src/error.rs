//! The one error type of the jit library: each message names the thing and the fault, and
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
    #[error("code buffer capacity must be at least 1 byte")]
    ZeroCapacity,
    #[error("could not read raw code {}: {cause}", .path.display())]
    Read { path: PathBuf, cause: io::Error },
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
    #[error("{routine} refuses its arguments: {fault}")]
    Contract {
        routine: &'static str,
        fault: String,
    },
    #[error("offset {offset} is outside the {len} bytes of code")]
    OutOfBounds { offset: usize, len: usize },
    #[error(
        "unknown register `{name}`: the emitter knows the 64-bit registers rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi and r8 to r15"
    )]
    UnknownRegister { name: String },
    #[error("rsp cannot be an index register: its number in the SIB byte means \"no index\"")]
    RspIndex,
    #[error("shift count {count} is out of range: a 64-bit register shifts by 0 to 63")]
    ShiftCount { count: u8 },
    #[error("label {label} is bound twice")]
    LabelBoundTwice { label: usize },
    #[error("label {label} is jumped to but never bound")]
    UnboundLabel { label: usize },
    #[error("label {label} belongs to another assembler")]
    ForeignLabel { label: usize },
    #[error("iced-x86 refused an instruction of the measured mix: {cause}")]
    IcedMix { cause: String },
    /// A statement of `emit::text` that is not in the supported subset of NASM syntax.
    #[error("{line}:{column}: {reason}")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
