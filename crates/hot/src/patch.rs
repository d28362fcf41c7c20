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

mod denial;
mod find;
mod proc;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::shared::{UNIT, offsets};
use crate::{Error, Result};
use polylink_exec::raw;

pub use denial::{Denial, Facts};
pub(crate) use find::load_bias;
pub use find::{HeaderFault, Mapping, TableHeader};
use proc::read_exact;
pub(crate) use proc::thread_group;
pub use proc::{Bounds, force_refusal};

/// `POLYLINK_PAUSE_AFTER_SWITCH_MS=N` makes the patcher wait N ms between the switch and
/// reading it back, so that a test can have the host exit in between, as a host that crashes in
/// its new code does on a busy machine.
fn pause_after_switch() {
    let ms = std::env::var("POLYLINK_PAUSE_AFTER_SWITCH_MS").ok();
    if let Some(ms) = ms.and_then(|ms| ms.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// How long a patcher waits for another one to finish with the same host.
const LOCK_WAIT: Duration = Duration::from_secs(2);

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
    /// The thread id the target was named by, when it was not the process's own id.
    pub thread: Option<u32>,
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

/// What a patch did, as [`Target::install`] returns it, `polylink patch --json` prints it and
/// `cargo xtask hot-reload` reads it back: the host, where its table and the slot are, what the
/// slot ran before and after, and how long each part took (microseconds).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub pid: u32,
    /// The thread id the host was named by, when it was not the process's own id.
    #[serde(default)]
    pub thread: Option<u32>,
    pub exe: PathBuf,
    pub table: u64,
    pub bias: u64,
    pub region: u64,
    pub slot: String,
    pub slot_address: u64,
    pub before: u64,
    pub after: u64,
    pub unit: usize,
    pub used: usize,
    pub units: usize,
    pub bytes: usize,
    pub resolve_us: f64,
    pub write_us: f64,
    pub switch_us: f64,
    /// CLOCK_MONOTONIC just before the switch, in nanoseconds: the same clock in every process.
    pub switched_at_ns: u64,
}

impl Target {
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
    pub unsafe fn install(&self, name: &str, code: &[u8]) -> Result<Report> {
        polylink_exec::check_code(name, code)?;
        // SAFETY: passed on to our caller; the code was checked.
        unsafe { self.install_unchecked(name, code) }
    }

    /// [`Self::install`] without checking that `code` is a whole function this CPU can run
    /// (only its size is checked): wrong code kills the host with a signal when it is called.
    ///
    /// # Safety
    /// As for [`Self::install`].
    pub unsafe fn install_unchecked(&self, name: &str, code: &[u8]) -> Result<Report> {
        let slot = self.slot(name)?.clone();
        raw::check_size(name, code)?;
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

        let exited_before = |error: Error| match proc::has_exited(self.pid) {
            true => Error::ExitedBeforeSwitch {
                pid: self.pid,
                slot: name.to_owned(),
            },
            false => error,
        };
        let started = Instant::now();
        let after = region + (used * UNIT) as u64;
        self.write(after, code).map_err(exited_before)?;
        let mut back = vec![0u8; code.len()];
        read_exact(&self.mem, after, &mut back, self.pid).map_err(exited_before)?;
        if back != code {
            return Err(Error::WriteLost {
                pid: self.pid,
                address: after,
            });
        }
        self.write(
            self.bounds.table.start + offsets::USED as u64,
            &((used + need) as u64).to_ne_bytes(),
        )
        .map_err(exited_before)?;
        let write = started.elapsed();

        // Old and new entry differ in byte 1 only (the unit's number); that byte is the switch.
        // The checks in `open` make this so; it is checked again because the switch relies on it.
        if before & !0xff00 != after & !0xff00 {
            return Err(Error::EntryOutsideRegion {
                entry: before as usize,
                region: region as usize,
            });
        }
        // Taken before the write the host reacts to, so that the time to its first call of the
        // new code can never come out negative.
        let switched_at_ns = crate::monotonic_ns();
        let started = Instant::now();
        self.write(entry_at + 1, &[(after >> 8) as u8])
            .map_err(exited_before)?;
        let switch = started.elapsed();
        pause_after_switch();
        // The host may call the new code, and end, at once: that is not a failed patch.
        let now = self
            .read_u64(entry_at)
            .map_err(|error| match proc::has_exited(self.pid) {
                true => Error::InstalledThenExited {
                    pid: self.pid,
                    slot: name.to_owned(),
                    entry: after,
                },
                false => error,
            })?;
        if now != after {
            return Err(Error::WriteLost {
                pid: self.pid,
                address: entry_at,
            });
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Ok(Report {
            pid: self.pid,
            thread: self.thread,
            exe: self.exe.clone(),
            table: self.table,
            bias: self.bias,
            region,
            slot: slot.name,
            slot_address: slot.address,
            before,
            after: now,
            unit: used,
            used: used + need,
            units: self.units,
            bytes: code.len(),
            resolve_us: us(self.resolve),
            write_us: us(write),
            switch_us: us(switch),
            switched_at_ns,
        })
    }
}
