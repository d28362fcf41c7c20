//! GOT cells swapped by a thread of the process itself: one aligned 8-byte `mov`, run by one
//! borrowed thread while the others run on, so that a caller reads the old pointer or the new
//! one, never a mix.
//!
//! A write through `/proc/PID/mem` is no such store: the kernel copies the bytes with its
//! `memcpy`, which on a CPU with FSRM is `rep movsb`, and a thread calling through the cell
//! meanwhile was seen to jump to the old pointer's high bytes joined to the new one's low byte.
//! So the store is an instruction `mov [REG1], REG2` found in the process's code, which one
//! stopped thread is pointed at with the cell's address and the new value in those registers,
//! and single-stepped over. A cell on a read-only page (a GOT under RELRO) is made writable for
//! the store with `mprotect` run by the same thread, and made read-only again.

use std::fs::File;
use std::ops::Range;
use std::time::Duration;

use super::LiveError;
use super::image::{find_in_code, find_syscall};
use super::mem::{check_allowed, read_mem};
use super::ptrace::{Regs, Stopped};
use crate::patch::Mapping;

/// An instruction `mov qword [address], value` in the process's code: where it is, and the
/// numbers (0 for rax to 7 for rdi) of its two registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Store {
    at: u64,
    address: u8,
    value: u8,
}

impl Store {
    /// The store `bytes` encode: `REX.W 89 /r` with a plain register address (mod 00, neither
    /// rsp nor rbp), two different registers, neither of them rsp or rbp.
    fn decode(at: u64, bytes: &[u8]) -> Option<Store> {
        let [0x48, 0x89, modrm, ..] = *bytes else {
            return None;
        };
        let (mode, value, address) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
        let plain = |r: u8| r != 4 && r != 5;
        (mode == 0 && plain(value) && plain(address) && value != address).then_some(Store {
            at,
            address,
            value,
        })
    }

    /// Finds one in the executable mappings `maps` lists.
    fn find(mem: &File, maps: &[Mapping]) -> Option<Store> {
        let at = find_in_code(mem, code(maps), 3, |w| Store::decode(0, w).is_some())?;
        let bytes = read_mem(mem, 0, at, 3).ok()?;
        Store::decode(at, &bytes)
    }
}

/// The executable mappings, files first (the vsyscall page cannot be read).
fn code(maps: &[Mapping]) -> impl Iterator<Item = Range<u64>> + '_ {
    let (files, others): (Vec<&Mapping>, Vec<&Mapping>) = maps
        .iter()
        .filter(|m| m.perms.contains('x') && m.path != "[vsyscall]")
        .partition(|m| m.path.starts_with('/'));
    files.into_iter().chain(others).map(|m| m.range.clone())
}

/// Sets general register number `n` (0 rax, 1 rcx, 2 rdx, 3 rbx, 6 rsi, 7 rdi) to `value`.
fn set_register(regs: &mut Regs, n: u8, value: u64) {
    match n {
        0 => regs.rax = value,
        1 => regs.rcx = value,
        2 => regs.rdx = value,
        3 => regs.rbx = value,
        6 => regs.rsi = value,
        7 => regs.rdi = value,
        _ => unreachable!("Store::decode accepts no register {n}"),
    }
}

/// The `PROT_*` bits a mapping's permissions (`r-xp`) stand for.
fn protection(perms: &str) -> u64 {
    let mut prot = 0;
    for (flag, bit) in [
        ('r', libc::PROT_READ),
        ('w', libc::PROT_WRITE),
        ('x', libc::PROT_EXEC),
    ] {
        if perms.contains(flag) {
            prot |= bit;
        }
    }
    prot as u64
}

/// Writes `value` into each 8-byte cell of `cells` (each inside `allowed`) in process `pid`,
/// with one atomic store each made by one of its threads; reads each back. How long the thread
/// was held.
pub(super) fn swap_cells(
    pid: u32,
    mem: &File,
    allowed: &[Range<u64>],
    cells: &[u64],
    value: u64,
) -> Result<Duration, LiveError> {
    let maps = super::image::read_maps(pid)?;
    let page = rustix::param::page_size() as u64;
    let mut plan = Vec::new();
    for &cell in cells {
        check_allowed(pid, allowed, cell, 8)?;
        let fail = |why: &str| LiveError::Write {
            pid,
            address: cell,
            len: 8,
            why: why.into(),
        };
        if cell % 8 != 0 {
            return Err(fail(
                "a GOT cell must be 8-byte aligned to be swapped in one store",
            ));
        }
        let mapping = maps
            .iter()
            .find(|m| m.range.contains(&cell))
            .ok_or_else(|| fail("no mapping holds it"))?;
        plan.push((cell, protection(&mapping.perms)));
    }
    let store = Store::find(mem, &maps).ok_or(LiveError::NoStore { pid })?;
    let read_only = |prot: u64| prot & libc::PROT_WRITE as u64 == 0;
    let syscall = if plan.iter().any(|&(_, prot)| read_only(prot)) {
        Some(find_syscall(mem, code(&maps)).ok_or(LiveError::NoSyscall { pid })?)
    } else {
        None
    };
    let mut held = Stopped::one(pid)?;
    let tid = held.tids().next().ok_or(LiveError::NoProcess { pid })?;
    for &(cell, prot) in &plan {
        let cell_page = cell & !(page - 1);
        let protect = |held: &mut Stopped, prot: u64| -> Result<(), LiveError> {
            let Some(syscall) = syscall else {
                return Ok(());
            };
            let r = held.syscall(
                tid,
                syscall,
                libc::SYS_mprotect,
                [cell_page, page, prot, 0, 0, 0],
            )?;
            if r < 0 {
                return Err(LiveError::Write {
                    pid,
                    address: cell,
                    len: 8,
                    why: format!(
                        "mprotect of its read-only page: {}",
                        std::io::Error::from_raw_os_error(-r as i32)
                    ),
                });
            }
            Ok(())
        };
        if read_only(prot) {
            protect(&mut held, prot | libc::PROT_WRITE as u64)?;
        }
        let stored = held.run(tid, store.at, 3, "run an 8-byte store", |regs| {
            set_register(regs, store.address, cell);
            set_register(regs, store.value, value);
        });
        if read_only(prot) {
            protect(&mut held, prot)?;
        }
        stored?;
    }
    let pause = held.since.elapsed();
    drop(held);
    for &cell in cells {
        if read_mem(mem, pid, cell, 8)? != value.to_le_bytes() {
            return Err(LiveError::Write {
                pid,
                address: cell,
                len: 8,
                why: "the cell did not read back the value stored".into(),
            });
        }
    }
    Ok(pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_register_stores_are_taken() {
        // mov [rdi], rsi
        assert_eq!(
            Store::decode(9, &[0x48, 0x89, 0x37]),
            Some(Store {
                at: 9,
                address: 7,
                value: 6
            })
        );
        // mov [rax], rdx
        assert!(Store::decode(0, &[0x48, 0x89, 0x10]).is_some());
        // mov [rsp], rax (SIB), mov [rip+d], rax, mov [rdi+8], rsi, mov [rax], rax
        for modrm in [0x04, 0x05, 0x77, 0x00] {
            assert_eq!(Store::decode(0, &[0x48, 0x89, modrm]), None, "{modrm:#x}");
        }
        // a 32-bit store, an extended register
        assert_eq!(Store::decode(0, &[0x89, 0x37, 0]), None);
        assert_eq!(Store::decode(0, &[0x49, 0x89, 0x37]), None);
        assert_eq!(Store::decode(0, &[0x48, 0x89]), None);
    }

    #[test]
    fn permissions_become_protection_bits() {
        assert_eq!(protection("r--p"), libc::PROT_READ as u64);
        assert_eq!(
            protection("rw-p"),
            (libc::PROT_READ | libc::PROT_WRITE) as u64
        );
        assert_eq!(protection("---p"), 0);
    }
}
