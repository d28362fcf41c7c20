//! The hot table another process can patch: a `#[repr(C)]` static with a magic value, a
//! version, named slots and a reserved region of executable memory for new code.
//!
//! A host program declares the table under the symbol [`TABLE_SYMBOL`], so that a patcher finds
//! it in the host's symbol table:
//!
//! ```ignore
//! #[unsafe(export_name = "POLYLINK_HOT_TABLE")]
//! static TABLE: SharedTable<2> = SharedTable::new(["step", "mix"]);
//! ```
//!
//! At start the host calls [`SharedTable::reserve`] with every slot's first code. From then on,
//! code is only ever added to the region, in units of [`UNIT`] bytes handed out in order, and
//! never moved or freed: a thread may run any version for as long as it likes. The region holds
//! [`MAX_UNITS`] units at most and lies at a multiple of `UNIT * MAX_UNITS` (64 KiB), so any two
//! entries differ in their unit's number only, which is byte 1 of the entry. That is what makes
//! a switch from another process safe: the kernel copies bytes into another process's memory
//! with no promise of an 8-byte atomic store (`rep movsb` on CPUs with fast short strings), but
//! a single byte is always written whole, so a caller reading the entry meanwhile sees either
//! the old address or the new one ([`super::patch`] does the writing).

use std::mem::{offset_of, size_of};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::{NAME_LEN, Slot, find_slot, slot_name};
use crate::{Error, Result};
use polylink_exec::{CodeBuffer, PAD, call_int_at};

/// The symbol a host exports its table under.
pub const TABLE_SYMBOL: &str = "POLYLINK_HOT_TABLE";
/// The table's first eight bytes.
pub const MAGIC: [u8; 8] = *b"PLHOTTAB";
/// The layout version described here; a patcher refuses any other.
pub const VERSION: u32 = 1;
/// Bytes per unit of the region; every entry starts on a unit.
pub const UNIT: usize = 256;
/// Units in a region at most: a unit's number must fit the entry's byte 1.
pub const MAX_UNITS: usize = 256;
/// The region's alignment, so that only byte 1 of an entry ever changes.
pub const REGION_ALIGN: usize = UNIT * MAX_UNITS;
/// The name of the memfd whose `flock` patchers and the host take turns with.
pub const LOCK_NAME: &str = "polylink-hot-lock";

/// The table's header as it lies in memory (all fields native-endian).
#[derive(Debug)]
#[repr(C)]
pub struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub slot_count: u32,
    /// Bytes per unit ([`UNIT`]).
    pub unit: u32,
    /// Units in the region; 0 until it is reserved.
    pub units: AtomicU32,
    /// The region's address; 0 until it is reserved.
    pub region: AtomicU64,
    /// Units handed out so far, from the region's start.
    pub used: AtomicU64,
    /// A descriptor the host keeps open on a memfd, [`LOCK_NAME`], for no other purpose than
    /// an exclusive `flock` held while units are handed out; -1 until the region is reserved.
    /// A patcher opens it as `/proc/PID/fd/N`, the same file.
    pub lock_fd: AtomicI32,
}

/// Where each field lies, from the table's start, for a patcher reading another process.
pub mod offsets {
    use super::*;
    pub const MAGIC: usize = offset_of!(Header, magic);
    pub const VERSION: usize = offset_of!(Header, version);
    pub const SLOT_COUNT: usize = offset_of!(Header, slot_count);
    pub const UNIT: usize = offset_of!(Header, unit);
    pub const UNITS: usize = offset_of!(Header, units);
    pub const REGION: usize = offset_of!(Header, region);
    pub const USED: usize = offset_of!(Header, used);
    pub const LOCK_FD: usize = offset_of!(Header, lock_fd);
    /// The first slot; slot `i` lies at `SLOTS + i * SLOT_SIZE`.
    pub const SLOTS: usize = size_of::<Header>();
    pub const SLOT_SIZE: usize = size_of::<Slot>();
    pub const SLOT_NAME: usize = offset_of!(Slot, name);
    pub const SLOT_ENTRY: usize = offset_of!(Slot, entry);
}

// The layout is an interface between processes: these are the numbers version 1 promises.
const _: () = {
    assert!(offsets::VERSION == 8 && offsets::SLOT_COUNT == 12 && offsets::UNIT == 16);
    assert!(offsets::UNITS == 20 && offsets::REGION == 24 && offsets::USED == 32);
    assert!(offsets::LOCK_FD == 40 && offsets::SLOTS == 48);
    assert!(offsets::SLOT_SIZE == 40 && offsets::SLOT_ENTRY == 32);
    assert!(size_of::<usize>() == 8 && MAX_UNITS <= 256);
};

/// A hot table with `N` named slots, to be placed in a static under [`TABLE_SYMBOL`].
#[derive(Debug)]
#[repr(C)]
pub struct SharedTable<const N: usize> {
    header: Header,
    slots: [Slot; N],
}

/// Where the region went, and how much of it the first code took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub region: usize,
    pub units: usize,
    pub used: usize,
}

impl<const N: usize> SharedTable<N> {
    /// A table with a slot per name. Names are 1 to [`NAME_LEN`] bytes without NUL, no two
    /// alike; in a `static`, a wrong name fails the build.
    pub const fn new(names: [&str; N]) -> SharedTable<N> {
        let mut slots = [const {
            Slot {
                name: [0; NAME_LEN],
                entry: AtomicUsize::new(0),
            }
        }; N];
        let mut i = 0;
        while i < N {
            let name = names[i].as_bytes();
            assert!(
                !name.is_empty() && name.len() <= NAME_LEN,
                "a slot name holds 1 to 32 bytes"
            );
            let mut b = 0;
            while b < name.len() {
                assert!(name[b] != 0, "a slot name holds no NUL");
                slots[i].name[b] = name[b];
                b += 1;
            }
            let mut j = 0;
            while j < i {
                assert!(
                    !same_name(&slots[i].name, &slots[j].name),
                    "a slot is named twice"
                );
                j += 1;
            }
            i += 1;
        }
        SharedTable {
            header: Header {
                magic: MAGIC,
                version: VERSION,
                slot_count: N as u32,
                unit: UNIT as u32,
                units: AtomicU32::new(0),
                region: AtomicU64::new(0),
                used: AtomicU64::new(0),
                lock_fd: AtomicI32::new(-1),
            },
            slots,
        }
    }

    /// Maps the region (`units` units), places each slot's first code in it, makes it
    /// read+execute and points each slot at its code. `first` gives code for every slot, by
    /// name. Call it once, before any call through the table; the region lives as long as the
    /// process.
    pub fn reserve(&'static self, units: usize, first: &[(&str, &[u8])]) -> Result<Reserved> {
        if !(1..=MAX_UNITS).contains(&units) {
            return Err(Error::RegionUnits {
                units,
                limit: MAX_UNITS,
            });
        }
        if self.header.region.load(Ordering::Acquire) != 0 {
            return Err(Error::RegionReserved);
        }
        // Every slot gets code, each exactly once; each version is checked like any sealed code.
        let mut codes: [Option<&[u8]>; N] = [None; N];
        for &(name, code) in first {
            if codes[self.slot(name)?].replace(code).is_some() {
                return Err(Error::DuplicateSlot {
                    name: name.to_owned(),
                });
            }
        }
        let mut order = Vec::with_capacity(N);
        for (slot, code) in self.slots.iter().zip(codes) {
            let name = std::str::from_utf8(slot_name(&slot.name)).unwrap_or("?");
            let code = code.ok_or_else(|| Error::NoFirstCode {
                name: name.to_owned(),
            })?;
            polylink_exec::raw::check_size(name, code)?;
            polylink_exec::check_code(name, code)?;
            order.push((slot, code));
        }
        let need: usize = order.iter().map(|(_, code)| units_for(code.len())).sum();
        if need > units {
            return Err(Error::RegionFull {
                need,
                used: 0,
                units,
            });
        }

        // The region is built whole, then copied into a buffer at a multiple of REGION_ALIGN,
        // checked and sealed once; it is never unmapped, so an entry into it stays valid.
        let len = units * UNIT;
        let mut bytes = vec![PAD; len];
        let mut next = 0;
        let mut offsets = Vec::with_capacity(N);
        for (slot, code) in order {
            bytes[next * UNIT..next * UNIT + code.len()].copy_from_slice(code);
            offsets.push((slot, next * UNIT));
            next += units_for(code.len());
        }
        let mut buffer = CodeBuffer::aligned(len, REGION_ALIGN)?;
        buffer.push(&bytes)?;
        // The region is int3 with functions in it, each checked above: not one function.
        let region = buffer.seal_unchecked()?.leak();
        let entries = offsets
            .into_iter()
            .map(|(slot, offset)| (slot, region + offset));
        for (slot, entry) in entries {
            slot.entry.store(entry, Ordering::Release);
        }
        // Kept open for the life of the process: patchers reach it through /proc/PID/fd.
        let lock = rustix::fs::memfd_create(LOCK_NAME, rustix::fs::MemfdFlags::CLOEXEC).map_err(
            |errno| Error::LockFile {
                cause: errno.into(),
            },
        )?;
        self.header
            .lock_fd
            .store(lock.into_raw_fd(), Ordering::Release);
        self.header.used.store(next as u64, Ordering::Release);
        self.header.units.store(units as u32, Ordering::Release);
        // Published last: a patcher refuses a table whose region is still 0.
        self.header.region.store(region as u64, Ordering::Release);
        Ok(Reserved {
            region,
            units,
            used: next,
        })
    }

    /// The index of the slot named `name`.
    pub fn slot(&self, name: &str) -> Result<usize> {
        find_slot(&self.slots, name)
    }

    /// The address slot `index` runs now (0 before [`SharedTable::reserve`]).
    pub fn entry(&self, index: usize) -> usize {
        self.slots[index].entry.load(Ordering::Acquire)
    }

    /// The descriptor of the lock patchers take turns with (-1 before [`SharedTable::reserve`]).
    pub fn lock_fd(&self) -> i32 {
        self.header.lock_fd.load(Ordering::Acquire)
    }

    /// The table's own address, as a patcher computes it from the symbol table.
    pub fn address(&'static self) -> usize {
        self as *const Self as usize
    }

    /// Calls the code at `entry`, which [`SharedTable::entry`] returned, with `args` in rdi,
    /// rsi, … (unused ones zero). Loading the entry apart from calling it lets a caller see
    /// which version it runs.
    pub fn call_entry(&self, entry: usize, args: &[u64]) -> Result<u64> {
        if args.len() > 6 {
            return Err(polylink_exec::Error::TooManyArguments { count: args.len() }.into());
        }
        let region = self.header.region.load(Ordering::Acquire) as usize;
        let units = self.header.units.load(Ordering::Acquire) as usize;
        if region == 0 || !(region..region + units * UNIT).contains(&entry) {
            return Err(Error::EntryOutsideRegion { entry, region });
        }
        // SAFETY: `entry` lies in the region, which is never unmapped and where code is only
        // ever added. Whoever put it there (the host through `reserve`, or a patcher) vouched
        // that it is a HotSignature function sound for any six integers; the region's first
        // code was CPU-checked by `reserve`, a patcher's by `patch`.
        Ok(unsafe { call_int_at(entry, args) }?)
    }
}

/// Units `len` bytes of code take.
pub const fn units_for(len: usize) -> usize {
    len.div_ceil(UNIT)
}

const fn same_name(a: &[u8; NAME_LEN], b: &[u8; NAME_LEN]) -> bool {
    let mut i = 0;
    while i < NAME_LEN {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
