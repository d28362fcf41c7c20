//! Where a patch goes and how the function is reached: gaps near the function for the blocks,
//! `mmap` and `munmap` run inside the process, threads stepped out of the entry, and the jump.

use super::LiveError;
use super::image::Image;
use super::ptrace::{self, Stopped};

/// How many times a thread inside the entry is stepped on before giving up.
const ENTRY_TRIES: usize = 64;

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
pub(super) fn map_blocks(
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
pub(super) fn unmap_blocks(pid: u32, syscall: u64, blocks: &[(u64, u64)]) {
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
pub(super) fn clear_entry(stopped: &mut Stopped, entry: u64, name: &str) -> Result<(), LiveError> {
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
pub(super) fn jump(from: u64, to: u64) -> Option<[u8; 5]> {
    let rel = i32::try_from(to.wrapping_sub(from + 5) as i64).ok()?;
    let mut bytes = [0xe9, 0, 0, 0, 0];
    bytes[1..].copy_from_slice(&rel.to_le_bytes());
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
