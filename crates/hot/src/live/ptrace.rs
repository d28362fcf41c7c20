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

/// Threads of a process (every one, or one), stopped and held, until dropped.
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
    // address of a live `user_regs_struct`, and GETSIGINFO only from `faulted`, with the
    // address of a live `siginfo_t`: what the kernel reads or fills.
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

/// Refuses process `pid` when its main thread has exited and waits to be reaped (state Z or X):
/// it is a zombie, or its other threads run on without it ([`LiveError::Exited`]).
pub fn refuse_exited(pid: u32) -> Result<(), LiveError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/stat")).unwrap_or_default();
    // `TID (COMM) STATE …`, where COMM may hold anything, parentheses too.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if !matches!(state, Some("Z" | "X")) {
        return Ok(());
    }
    let threads = task_ids(pid).map_or(0, |t| t.len());
    Err(LiveError::Exited { pid, threads })
}

impl Stopped {
    fn new(pid: u32) -> Stopped {
        Stopped {
            pid,
            threads: Vec::new(),
            old_mask: block_signals(),
            since: Instant::now(),
        }
    }

    /// Seizes and stops every thread of `pid`.
    pub fn all(pid: u32) -> Result<Stopped, LiveError> {
        let mut stopped = Stopped::new(pid);
        // Threads may start while the others are being stopped; a pass that finds none new
        // ends it (a stopped thread starts no other).
        for _ in 0..100 {
            let new: Vec<u32> = stopped
                .task_ids()?
                .into_iter()
                .filter(|t| !stopped.threads.iter().any(|(held, _)| held == t))
                .collect();
            if new.is_empty() {
                return Ok(stopped);
            }
            for tid in new {
                stopped.hold(tid)?;
            }
        }
        Err(LiveError::Threads { pid })
    }

    /// Seizes and stops one thread of `pid`, the first that is there to stop; the others run
    /// on.
    pub fn one(pid: u32) -> Result<Stopped, LiveError> {
        let mut stopped = Stopped::new(pid);
        for tid in stopped.task_ids()? {
            if stopped.hold(tid)? {
                return Ok(stopped);
            }
        }
        Err(LiveError::NoProcess { pid })
    }

    fn task_ids(&self) -> Result<Vec<u32>, LiveError> {
        task_ids(self.pid).map_err(|cause| LiveError::Proc {
            pid: self.pid,
            what: "list its threads".into(),
            cause,
        })
    }

    /// Seizes and stops thread `tid`: whether it is held (false: it exited meanwhile).
    fn hold(&mut self, tid: u32) -> Result<bool, LiveError> {
        let pid = self.pid;
        // A main thread that has exited while others run on never stops: waiting for it would
        // wait for the whole process to end.
        if tid == pid {
            refuse_exited(pid)?;
        }
        match ptrace(libc::PTRACE_SEIZE, tid, 0, 0) {
            Ok(_) => {}
            Err(libc::ESRCH) if tid != pid => return Ok(false),
            Err(libc::ESRCH) => return Err(LiveError::NoProcess { pid }),
            Err(e) => return Err(LiveError::Attach { pid, tid, errno: e }),
        }
        if self.threads.is_empty() {
            self.since = Instant::now();
        }
        self.threads.push((tid, 0));
        if let Err(e) = ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) {
            return Err(LiveError::Attach { pid, tid, errno: e });
        }
        let status = wait_stop(tid).map_err(|e| LiveError::Attach { pid, tid, errno: e })?;
        if !is_stopped(status) {
            // It exited: it needs no letting go.
            self.threads.retain(|(t, _)| *t != tid);
            if tid == pid {
                return Err(LiveError::NoProcess { pid });
            }
            return Ok(false);
        }
        let signal = own_signal(status);
        if let Some(held) = self.threads.iter_mut().find(|(t, _)| *t == tid) {
            held.1 = signal;
        }
        Ok(true)
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

    /// Runs one instruction of thread `tid`, keeping any signal that arrives instead for later;
    /// a fault of the instruction itself is an error, and its signal is dropped (delivered, it
    /// would end the process). Its registers after.
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
            let regs = self.get_regs(tid)?;
            if signal != 0 && regs.rip == before && FAULTS.contains(&signal) && faulted(tid) {
                return Err(LiveError::Ptrace {
                    pid,
                    tid,
                    what: "run one instruction (it faulted)",
                    errno: libc::EFAULT,
                });
            }
            if signal != 0
                && let Some(held) = self.threads.iter_mut().find(|(t, _)| *t == tid)
            {
                held.1 = signal;
            }
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

    /// Runs the instruction of `len` bytes at `at` in thread `tid`, with the thread's registers
    /// as `set` changes them, then puts its registers back, the interrupted system call's
    /// restart state included. Its registers just after the instruction; `what` names the
    /// instruction when the thread did not step over it.
    pub fn run(
        &mut self,
        tid: u32,
        at: u64,
        len: u64,
        what: &'static str,
        set: impl FnOnce(&mut Regs),
    ) -> Result<Regs, LiveError> {
        let saved = self.get_regs(tid)?;
        let mut regs = saved;
        regs.rip = at;
        // No system call is being restarted: the kernel must not rewind to one.
        regs.orig_rax = u64::MAX;
        set(&mut regs);
        self.set_regs(tid, &regs)?;
        let result = self.step(tid);
        let restored = self.set_regs(tid, &saved);
        let after = result?;
        restored?;
        if after.rip != at + len {
            return Err(LiveError::Ptrace {
                pid: self.pid,
                tid,
                what,
                errno: libc::EFAULT,
            });
        }
        Ok(after)
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
        let what = "run a system call (the thread did not step over `syscall`)";
        let after = self.run(tid, at, 2, what, |regs| {
            regs.rax = nr as u64;
            (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9) =
                (args[0], args[1], args[2], args[3], args[4], args[5]);
        })?;
        Ok(after.rax as i64)
    }
}

/// The signals an instruction raises when it faults.
const FAULTS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// Whether the signal thread `tid` is stopped with came from the kernel for what the thread
/// ran (a positive `si_code`), not from another process.
fn faulted(tid: u32) -> bool {
    // SAFETY: siginfo_t is plain data.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETSIGINFO, tid, 0, (&raw mut info) as u64).is_ok() && info.si_code > 0
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
