//! Stopping every thread of another process with ptrace, reading their registers, running one
//! system call in it, and letting it go: the only module of the live patcher that talks to the
//! kernel's ptrace interface, and with it nearly all of its `unsafe`.
//!
//! - Threads are seized (`PTRACE_SEIZE`, which sends no signal) and interrupted
//!   (`PTRACE_INTERRUPT`) one by one, from `/proc/PID/task`, until a pass finds no new thread.
//! - A signal that arrives while a thread is held is kept and handed back when it is let go.
//! - While any thread is held, this process blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT: Ctrl-C
//!   then ends it only after every thread is back as it was ([`Stopped`]'s `Drop` detaches).
//! - For a whole patch, [`Interrupts`] turns those signals into a flag the patcher reads at the
//!   points where it can still take back what it did: Ctrl-C then unmaps the patch's blocks,
//!   or, once the jump is written, lets the patch finish.
//! - A system call runs in the target by pointing a stopped thread at a `syscall` instruction
//!   already in its code, with the call's registers, and single-stepping it; the thread's
//!   registers are then put back, the interrupted system call's restart state included.

use std::time::Instant;

use crate::live::LiveError;

/// The general registers of a stopped thread.
pub type Regs = libc::user_regs_struct;

/// Set by the handler [`Interrupts`] installs.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The signals that end a command-line tool when its user gives up on it.
const ENDING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// While alive, SIGINT, SIGTERM, SIGHUP and SIGQUIT only set a flag ([`Interrupts::seen`]);
/// dropped, the earlier handlers are back.
pub struct Interrupts {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl Interrupts {
    pub fn catch() -> Interrupts {
        INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut old = Vec::new();
        for signal in ENDING {
            // SAFETY: sigaction is plain data; the handler only stores to an atomic, which is
            // async-signal-safe; the old action is kept to be put back.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note_interrupt as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut previous) == 0 {
                    old.push((signal, previous));
                }
            }
        }
        Interrupts { old }
    }

    /// Whether one of the signals arrived since [`Interrupts::catch`].
    pub fn seen(&self) -> bool {
        INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for (signal, previous) in &self.old {
            // SAFETY: puts back the action `catch` found.
            unsafe {
                libc::sigaction(*signal, previous, std::ptr::null_mut());
            }
        }
    }
}

/// Every thread of a process, stopped and held, until dropped.
pub struct Stopped {
    pub pid: u32,
    /// Each thread held, with the signal to hand back when it is let go (0: none).
    threads: Vec<(u32, i32)>,
    /// The signal mask before the hold began.
    old_mask: libc::sigset_t,
    /// When the first thread was stopped.
    pub since: Instant,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `ptrace(request, tid, addr, data)`, the error as errno.
fn ptrace(request: libc::c_uint, tid: u32, addr: u64, data: u64) -> Result<libc::c_long, i32> {
    // SAFETY: requests that take no pointer (SEIZE, INTERRUPT, SINGLESTEP, DETACH) pass plain
    // numbers; GETREGS and SETREGS are called only from `get_regs` and `set_regs`, with the
    // address of a live `user_regs_struct`, which is what the kernel reads or fills.
    let r = unsafe {
        libc::ptrace(
            request,
            tid as libc::pid_t,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    };
    if r == -1 { Err(errno()) } else { Ok(r) }
}

/// Waits for thread `tid` (seized by us) to stop; its wait status.
fn wait_stop(tid: u32) -> Result<i32, i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live int for the kernel to fill.
        let r = unsafe { libc::waitpid(tid as libc::pid_t, &mut status, libc::__WALL) };
        if r == -1 {
            match errno() {
                libc::EINTR => continue,
                e => return Err(e),
            }
        }
        return Ok(status);
    }
}

fn is_stopped(status: i32) -> bool {
    libc::WIFSTOPPED(status)
}

/// The signal a stop carries that is the thread's own (not ptrace's event or step trap).
fn own_signal(status: i32) -> i32 {
    let event = status >> 16;
    let signal = libc::WSTOPSIG(status);
    if event != 0 || signal == libc::SIGTRAP {
        0
    } else {
        signal
    }
}

/// Blocks the signals that would end this process mid-patch; the old mask.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; the calls fill and read the sets given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in ENDING {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: `old` is the mask `block_signals` saved.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
}

/// The thread ids of process `pid`, from /proc/PID/task.
pub fn task_ids(pid: u32) -> std::io::Result<Vec<u32>> {
    let mut tids: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

impl Stopped {
    /// Seizes and stops every thread of `pid`.
    pub fn all(pid: u32) -> Result<Stopped, LiveError> {
        let mut stopped = Stopped {
            pid,
            threads: Vec::new(),
            old_mask: block_signals(),
            since: Instant::now(),
        };
        // Threads may start while the others are being stopped; a pass that finds none new
        // ends it (a stopped thread starts no other).
        for _ in 0..100 {
            let tids = task_ids(pid).map_err(|cause| LiveError::Proc {
                pid,
                what: "list its threads".into(),
                cause,
            })?;
            let new: Vec<u32> = tids
                .into_iter()
                .filter(|t| !stopped.threads.iter().any(|(held, _)| held == t))
                .collect();
            if new.is_empty() {
                return Ok(stopped);
            }
            for tid in new {
                match ptrace(libc::PTRACE_SEIZE, tid, 0, 0) {
                    Ok(_) => {}
                    // The thread exited meanwhile.
                    Err(libc::ESRCH) if tid != pid => continue,
                    Err(libc::ESRCH) => return Err(LiveError::NoProcess { pid }),
                    Err(e) => return Err(LiveError::Attach { pid, tid, errno: e }),
                }
                if stopped.threads.is_empty() {
                    stopped.since = Instant::now();
                }
                stopped.threads.push((tid, 0));
                if let Err(e) = ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) {
                    return Err(LiveError::Attach { pid, tid, errno: e });
                }
                let status =
                    wait_stop(tid).map_err(|e| LiveError::Attach { pid, tid, errno: e })?;
                if !is_stopped(status) {
                    // It exited: it needs no letting go.
                    stopped.threads.retain(|(t, _)| *t != tid);
                    if tid == pid {
                        return Err(LiveError::NoProcess { pid });
                    }
                    continue;
                }
                let signal = own_signal(status);
                if let Some(held) = stopped.threads.iter_mut().find(|(t, _)| *t == tid) {
                    held.1 = signal;
                }
            }
        }
        Err(LiveError::Threads { pid })
    }

    /// The threads held.
    pub fn tids(&self) -> impl Iterator<Item = u32> + '_ {
        self.threads.iter().map(|(tid, _)| *tid)
    }

    pub fn get_regs(&self, tid: u32) -> Result<Regs, LiveError> {
        // SAFETY: user_regs_struct is plain data.
        let mut regs: Regs = unsafe { std::mem::zeroed() };
        ptrace(libc::PTRACE_GETREGS, tid, 0, (&raw mut regs) as u64).map_err(|e| {
            LiveError::Ptrace {
                pid: self.pid,
                tid,
                what: "read registers",
                errno: e,
            }
        })?;
        Ok(regs)
    }

    pub fn set_regs(&self, tid: u32, regs: &Regs) -> Result<(), LiveError> {
        ptrace(libc::PTRACE_SETREGS, tid, 0, (&raw const *regs) as u64).map_err(|e| {
            LiveError::Ptrace {
                pid: self.pid,
                tid,
                what: "write registers",
                errno: e,
            }
        })?;
        Ok(())
    }

    /// Runs one instruction of thread `tid`, keeping any signal that arrives instead for later.
    /// Its registers after.
    pub fn step(&mut self, tid: u32) -> Result<Regs, LiveError> {
        let pid = self.pid;
        let before = self.get_regs(tid)?.rip;
        for _ in 0..16 {
            ptrace(libc::PTRACE_SINGLESTEP, tid, 0, 0).map_err(|e| LiveError::Ptrace {
                pid,
                tid,
                what: "single-step",
                errno: e,
            })?;
            let status = wait_stop(tid).map_err(|e| LiveError::Ptrace {
                pid,
                tid,
                what: "wait",
                errno: e,
            })?;
            if !is_stopped(status) {
                self.threads.retain(|(t, _)| *t != tid);
                return Err(LiveError::NoProcess { pid });
            }
            let signal = own_signal(status);
            if signal != 0
                && let Some(held) = self.threads.iter_mut().find(|(t, _)| *t == tid)
            {
                held.1 = signal;
            }
            let regs = self.get_regs(tid)?;
            if regs.rip != before || signal == 0 {
                return Ok(regs);
            }
        }
        Err(LiveError::Ptrace {
            pid,
            tid,
            what: "single-step (signals kept arriving)",
            errno: libc::EAGAIN,
        })
    }

    /// Runs system call `nr` with `args` in thread `tid`, through the `syscall` instruction at
    /// `at` in its code, and puts the thread's registers back. The call's return value.
    pub fn syscall(
        &mut self,
        tid: u32,
        at: u64,
        nr: i64,
        args: [u64; 6],
    ) -> Result<i64, LiveError> {
        let saved = self.get_regs(tid)?;
        let mut regs = saved;
        regs.rip = at;
        regs.rax = nr as u64;
        // No system call is being restarted: the kernel must not rewind to one.
        regs.orig_rax = u64::MAX;
        (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9) =
            (args[0], args[1], args[2], args[3], args[4], args[5]);
        self.set_regs(tid, &regs)?;
        let result = self.step(tid);
        let restored = self.set_regs(tid, &saved);
        let after = result?;
        restored?;
        if after.rip != at + 2 {
            return Err(LiveError::Ptrace {
                pid: self.pid,
                tid,
                what: "run a system call (the thread did not step over `syscall`)",
                errno: libc::EFAULT,
            });
        }
        Ok(after.rax as i64)
    }
}

impl Drop for Stopped {
    /// Lets every thread go, each with the signal it was stopped with, then unblocks the
    /// signals that were blocked (a Ctrl-C held meanwhile is delivered now).
    fn drop(&mut self) {
        for &(tid, signal) in &self.threads {
            let _ = ptrace(libc::PTRACE_DETACH, tid, 0, signal as u64);
        }
        restore_signals(&self.old_mask);
    }
}

/// The size of the XSAVE area this CPU uses for the state the OS has enabled, when it has
/// XSAVE.
pub fn xsave_size() -> Option<u32> {
    if !std::arch::is_x86_feature_detected!("xsave") {
        return None;
    }
    // CPUID leaf 0xD, sub-leaf 0: EBX is the size for the features enabled in XCR0.
    let leaf = std::arch::x86_64::__cpuid_count(0xd, 0);
    Some(leaf.ebx)
}
