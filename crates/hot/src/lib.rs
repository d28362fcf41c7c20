//! Hot-swappable functions: callers reach each function through a table of named slots (as
//! calls through a GOT), so a new version lands anywhere in memory and only its slot changes.
//!
//! - A slot holds the address of its current code. A swap seals the new code into fresh
//!   pages first, then switches the slot with a release store; a caller loads it with an
//!   acquire load, so it sees either the old code or the new one, each complete.
//! - The old code is never unmapped while a thread may still run it. Every call runs pinned to
//!   crossbeam-epoch's current epoch, and a swap retires the old mapping with `defer`: it is
//!   reclaimed only after every thread pinned when it was retired has unpinned (a grace
//!   period). [`HotTable::stats`] counts what was retired and what was reclaimed.
//!
//! Each slot is laid out as C would lay it out ([`Slot`], `#[repr(C)]`): a NUL-padded name and
//! the entry address.

mod error;
pub mod live;
pub mod patch;
pub mod shared;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_epoch as epoch;

use polylink_exec::{SealedCode, call_int_at};

pub use error::{Error, Result};

/// A slot name's bytes at most (NUL-padded in the slot).
pub const NAME_LEN: usize = 32;

/// One slot as it lies in memory: the NUL-padded name, and the address callers jump to.
#[derive(Debug)]
#[repr(C)]
pub struct Slot {
    pub name: [u8; NAME_LEN],
    pub entry: AtomicUsize,
}

/// The signature of every hot function: up to six integers in, one out.
pub use polylink_exec::IntSignature as HotSignature;

/// How many versions were retired, and how many of them were reclaimed (unmapped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub swaps: usize,
    pub retired: usize,
    pub reclaimed: usize,
}

/// A code version that counts itself reclaimed when dropped.
#[derive(Debug)]
struct Version {
    _code: SealedCode,
    reclaimed: Arc<AtomicUsize>,
}

impl Drop for Version {
    fn drop(&mut self) {
        self.reclaimed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A table of named hot slots, with the code each one currently runs.
#[derive(Debug)]
pub struct HotTable {
    slots: Box<[Slot]>,
    /// The code each slot runs, owned here until it is retired.
    owners: Box<[Mutex<Option<Version>>]>,
    swaps: AtomicUsize,
    retired: AtomicUsize,
    reclaimed: Arc<AtomicUsize>,
}

/// A slot found by name, to call it or swap it without looking it up each time.
#[derive(Clone, Copy, Debug)]
pub struct SlotRef<'t> {
    table: &'t HotTable,
    index: usize,
}

impl HotTable {
    /// A table with one empty slot per name (1 to [`NAME_LEN`] bytes each, no two alike).
    pub fn new(names: &[&str]) -> Result<HotTable> {
        let mut slots = Vec::with_capacity(names.len());
        for (i, &name) in names.iter().enumerate() {
            if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
                return Err(Error::SlotName {
                    name: name.to_owned(),
                    len: name.len(),
                    limit: NAME_LEN,
                });
            }
            if names[..i].contains(&name) {
                return Err(Error::DuplicateSlot {
                    name: name.to_owned(),
                });
            }
            let mut padded = [0u8; NAME_LEN];
            padded[..name.len()].copy_from_slice(name.as_bytes());
            slots.push(Slot {
                name: padded,
                entry: AtomicUsize::new(0),
            });
        }
        Ok(HotTable {
            owners: slots.iter().map(|_| Mutex::new(None)).collect(),
            slots: slots.into(),
            swaps: AtomicUsize::new(0),
            retired: AtomicUsize::new(0),
            reclaimed: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The slot named `name`.
    pub fn slot(&self, name: &str) -> Result<SlotRef<'_>> {
        find_slot(&self.slots, name).map(|index| SlotRef { table: self, index })
    }

    pub fn stats(&self) -> Stats {
        Stats {
            swaps: self.swaps.load(Ordering::Relaxed),
            retired: self.retired.load(Ordering::Relaxed),
            reclaimed: self.reclaimed.load(Ordering::Relaxed),
        }
    }

    /// Gives retired code every chance to be reclaimed now: pins and flushes until nothing
    /// is left to reclaim, or `rounds` pass. Retired code still in use by another thread's
    /// pinned call stays.
    pub fn collect(&self, rounds: usize) -> Stats {
        for _ in 0..rounds {
            let stats = self.stats();
            if stats.reclaimed == stats.retired {
                break;
            }
            epoch::pin().flush();
        }
        self.stats()
    }
}

impl SlotRef<'_> {
    pub fn name(&self) -> &str {
        // Names are checked UTF-8 when the table is made.
        std::str::from_utf8(slot_name(&self.table.slots[self.index].name)).unwrap_or("?")
    }

    /// The address callers jump to now (0 while the slot is empty).
    pub fn entry(&self) -> usize {
        self.table.slots[self.index].entry.load(Ordering::Acquire)
    }

    /// Calls the slot's current code with `args` in rdi, rsi, … (unused ones zero); `None`
    /// while the slot is empty. The call runs pinned, so the code it runs cannot be reclaimed
    /// under it, whatever another thread swaps meanwhile.
    pub fn call(&self, args: &[u64]) -> Result<Option<u64>> {
        if args.len() > 6 {
            return Err(polylink_exec::Error::TooManyArguments { count: args.len() }.into());
        }
        let _pinned = epoch::pin();
        let entry = self.entry();
        if entry == 0 {
            return Ok(None);
        }
        // SAFETY: a non-zero entry is the start of sealed code that `swap`'s caller promised
        // is a HotSignature function sound for any integers. It stays mapped while we are
        // pinned: its owner is dropped only through `defer`, after every pin that could have
        // loaded this entry has ended.
        Ok(Some(unsafe { call_int_at(entry, args) }?))
    }

    /// Switches the slot to `code` (its first byte is the entry) and retires the code it ran
    /// before, which is reclaimed after the grace period. Returns the old and new entries.
    ///
    /// # Safety
    /// `code` must be a function with the [`HotSignature`] contract, sound for any six
    /// integers, as for [`SealedCode::int_function`].
    pub unsafe fn swap(&self, code: SealedCode) -> (usize, usize) {
        let table = self.table;
        let new = code.address();
        let version = Version {
            _code: code,
            reclaimed: Arc::clone(&table.reclaimed),
        };
        let guard = epoch::pin();
        let mut owner = table.owners[self.index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old_entry = table.slots[self.index].entry.swap(new, Ordering::AcqRel);
        let old = owner.replace(version);
        drop(owner);
        table.swaps.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = old {
            table.retired.fetch_add(1, Ordering::Relaxed);
            // Dropped (unmapped) once no thread pinned now can still be running it.
            guard.defer(move || drop(old));
        }
        (old_entry, new)
    }
}

impl Drop for HotTable {
    fn drop(&mut self) {
        // With `&mut self`, no call is running through this table; the current code of each
        // slot is dropped with `owners`. Retired code still waits for its grace period.
        for slot in self.slots.iter() {
            slot.entry.store(0, Ordering::Release);
        }
    }
}

/// The index of the slot named `name`; the error lists the slots there are.
fn find_slot(slots: &[Slot], name: &str) -> Result<usize> {
    slots
        .iter()
        .position(|s| slot_name(&s.name) == name.as_bytes())
        .ok_or_else(|| Error::NoSlot {
            name: name.to_owned(),
            known: slots
                .iter()
                .map(|s| String::from_utf8_lossy(slot_name(&s.name)).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A slot's name without its NUL padding.
fn slot_name(padded: &[u8; NAME_LEN]) -> &[u8] {
    let len = padded.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    &padded[..len]
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes on one machine, so a patcher's
/// switch and a host's first call of the new code can be subtracted.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
