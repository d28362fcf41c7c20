//! Another process's memory through `/proc/PID/mem`: read, and written only inside the ranges
//! the patcher may write (the blocks mapped for a patch, the entry bytes, the GOT cells), each
//! write read back.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::LiveError;

/// The process a pid names (a thread's id names its process), refused when its main thread is
/// gone: the process then has no memory to reach through `/proc/PID`.
pub(super) fn process_of(pid: u32) -> Result<u32, LiveError> {
    if std::fs::metadata(format!("/proc/{pid}")).is_err() {
        return Err(LiveError::NoProcess { pid });
    }
    let pid = crate::patch::thread_group(pid).unwrap_or(pid);
    super::ptrace::refuse_exited(pid)?;
    Ok(pid)
}

/// Opens /proc/PID/mem for reading and writing.
pub(super) fn open_mem(pid: u32) -> Result<File, LiveError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|cause| LiveError::from_proc(pid, "open its memory", cause))
}

pub(super) fn read_mem(
    mem: &File,
    pid: u32,
    address: u64,
    len: usize,
) -> Result<Vec<u8>, LiveError> {
    let mut bytes = vec![0; len];
    mem.read_exact_at(&mut bytes, address)
        .map_err(|cause| LiveError::Proc {
            pid,
            what: format!("read {len} bytes at {address:#x}"),
            cause,
        })?;
    Ok(bytes)
}

/// Refuses a write of `len` bytes at `address` unless it lies inside one of `allowed`: the
/// blocks mapped for the patch, the function's entry bytes, the GOT cells.
pub(super) fn check_allowed(
    pid: u32,
    allowed: &[std::ops::Range<u64>],
    address: u64,
    len: usize,
) -> Result<(), LiveError> {
    let end = address.saturating_add(len as u64);
    if allowed.iter().any(|r| r.start <= address && end <= r.end) {
        return Ok(());
    }
    Err(LiveError::Write {
        pid,
        address,
        len,
        why: format!(
            "outside the patch's blocks and the function's entry ({})",
            allowed
                .iter()
                .map(|r| format!("{:#x}..{:#x}", r.start, r.end))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Writes `bytes` at `address`, which must lie inside one of `allowed`: the blocks mapped for
/// the patch, or the function's five entry bytes. Nothing else is ever written.
pub(super) fn write_mem(
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
    check_allowed(pid, allowed, address, bytes.len())?;
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
