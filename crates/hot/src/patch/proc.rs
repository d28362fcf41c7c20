//! Access to another process through /proc: reading and writing its memory (every write
//! checked against the [`Bounds`] a patcher may write), taking turns on its lock, and turning
//! a refusal into an explanation.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::denial::Facts;
use super::{LOCK_WAIT, Target};
use crate::{Error, Result};

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

impl Target {
    /// Waits its turn behind any other patcher of this host (or the host itself).
    pub(super) fn lock(&self) -> Result<Lock<'_>> {
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

    pub(super) fn read_u64(&self, address: u64) -> Result<u64> {
        let mut bytes = [0u8; 8];
        read_exact(&self.mem, address, &mut bytes, self.pid)?;
        Ok(u64::from_ne_bytes(bytes))
    }

    pub(super) fn write(&self, address: u64, bytes: &[u8]) -> Result<()> {
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
pub(super) struct Lock<'f>(&'f File);

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

pub(super) fn read_exact(mem: &File, address: u64, buf: &mut [u8], pid: u32) -> Result<()> {
    mem.read_exact_at(buf, address)
        .map_err(|cause| Error::MemRead {
            pid,
            address,
            len: buf.len(),
            cause,
        })
}

/// Whether process `pid` is gone or a zombie: its memory can no longer be read.
pub(super) fn has_exited(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // `pid (comm) S ...`: the command may hold spaces and parentheses; the state follows the
    // last `)`.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, None | Some('Z' | 'X' | 'x'))
}

/// The process that thread `tid` belongs to (its thread group), from `/proc/TID/status`: a
/// process's id is its first thread's, and other threads' ids open the same /proc entries.
pub(crate) fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// An error met reading `path` of process `pid`: permission faults are explained.
pub(super) fn proc_error(pid: u32, path: &Path, cause: io::Error) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_thread_is_traced_to_its_process() {
        let me = std::process::id();
        assert_eq!(thread_group(me), Some(me));
        let (tx, rx) = std::sync::mpsc::channel();
        let (_stop, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
            let _ = wait.recv();
        });
        let tid = rx.recv().unwrap();
        assert_ne!(tid, me);
        assert_eq!(thread_group(tid), Some(me));
        assert!(!has_exited(me));
        drop(_stop);
        thread.join().unwrap();
        assert!(has_exited(u32::MAX));
    }

    #[test]
    fn forced_writes_refusal_names_the_setting() {
        assert!(force_refusal("quiet proc_mem.force_override=never ro").contains("=never"));
        assert!(force_refusal("proc_mem.force_override=ptrace").contains("tracer"));
        assert!(force_refusal("quiet").contains("CONFIG_PROC_MEM_NO_FORCE"));
    }
}
