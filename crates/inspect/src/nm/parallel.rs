//! nm's work on every core: archive members, or slices of a large table, each on a thread,
//! results in order; each worker started on a CPU of its own.

/// `f` of every item on `threads` threads, results in the items' order. Items are taken one at
/// a time, so that one large item does not hold up the rest.
pub(super) fn in_parallel<T: Send, R: Send>(
    threads: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    in_parallel_after(threads, items, f, || ()).1
}

/// [`in_parallel`], with the calling thread as one of the `threads`: it first does `first`
/// while the others start on the items, then joins them.
pub(super) fn in_parallel_after<T: Send, R: Send, F>(
    threads: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
    first: impl FnOnce() -> F,
) -> (F, Vec<R>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Mutex, PoisonError};
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(index) else {
                return done;
            };
            let item = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(item) = item {
                done.push((index, f(item)));
            }
        }
    };
    let placement = Placement::new();
    let sent: Vec<AtomicBool> = (0..threads).map(|_| AtomicBool::new(false)).collect();
    let mut workers = Vec::with_capacity(threads);
    for (k, arrived) in sent.iter().enumerate().skip(1) {
        let placement = &placement;
        let worker = move || {
            if let Some(placement) = placement {
                placement.arrive(arrived);
            }
            work()
        };
        // SAFETY: the thread borrows only what is declared before `workers` (the items, the
        // counter, `f`, the placement), and its `Joined` guard, pushed at once, joins it when
        // dropped: when it is taken below, or when this function unwinds; in both cases
        // before what it borrows is dropped, since `workers` is declared after all of it.
        let Ok(handle) = (unsafe { std::thread::Builder::new().spawn_unchecked(worker) }) else {
            // Too many threads for the system: the threads started (and this one) do it all.
            break;
        };
        let handle = Joined(Some(handle));
        if let (Some(placement), Some(thread)) = (&placement, &handle.0) {
            placement.send(thread, k);
        }
        arrived.store(true, Ordering::Release);
        workers.push(handle);
    }
    let firstly = first();
    let mut done = work();
    for mut worker in workers {
        if let Some(handle) = worker.0.take() {
            done.extend(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
    }
    done.sort_unstable_by_key(|(index, _)| *index);
    (firstly, done.into_iter().map(|(_, r)| r).collect())
}

/// A worker thread, joined when dropped: a thread that borrows the caller's data must end
/// before that data does, even when the caller unwinds.
struct Joined<T>(Option<std::thread::JoinHandle<T>>);

impl<T> Drop for Joined<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

/// Where workers go: each to a CPU of its own, other than the caller's. A new thread otherwise
/// waits on its parent's CPU until the scheduler balances the load, milliseconds later on a
/// small VM: longer than nm's whole run. The caller sets the new thread's CPU before it has
/// run ([`Placement::send`]), so that the kernel queues it there; once running, the worker lets
/// itself run anywhere again ([`Placement::free`]), and stays where it is unless that CPU gets
/// busy. The caller never changes CPU (moving it to the worker's CPU and back, to start the
/// thread there, cost up to a millisecond whenever one of the two CPUs was busy).
struct Placement {
    old: rustix::thread::CpuSet,
    others: Vec<usize>,
}

impl Placement {
    fn new() -> Option<Placement> {
        let old = rustix::thread::sched_getaffinity(None).ok()?;
        let here = rustix::thread::sched_getcpu();
        let others: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| c != here && old.is_set(c))
            .collect();
        (!others.is_empty()).then_some(Placement { old, others })
    }

    /// Queues worker `k` (1-based) on its CPU. Best effort: where the kernel refuses, the
    /// worker starts where the scheduler puts it.
    fn send<T>(&self, worker: &std::thread::JoinHandle<T>, k: usize) {
        use std::os::unix::thread::JoinHandleExt;

        /// glibc's `cpu_set_t`: 1024 CPUs, one bit each.
        type CpuSet = [u64; 16];
        unsafe extern "C" {
            fn pthread_setaffinity_np(
                thread: std::os::unix::thread::RawPthread,
                size: usize,
                set: *const CpuSet,
            ) -> std::ffi::c_int;
        }
        let cpu = self.others[(k - 1) % self.others.len()];
        let mut set: CpuSet = [0; 16];
        let Some(word) = set.get_mut(cpu / 64) else {
            return;
        };
        *word |= 1 << (cpu % 64);
        // SAFETY: the thread is not yet joined (its handle is borrowed, and joining takes it),
        // so its `pthread_t` is valid; and `set` is a `cpu_set_t` of the size given, read only
        // for the length of the call.
        let _ = unsafe {
            pthread_setaffinity_np(worker.as_pthread_t(), size_of::<CpuSet>(), &raw const set)
        };
    }

    /// Called by a new worker first: waits until the caller has sent it to its CPU (`sent`),
    /// handing the CPU back should the worker have started on the caller's CPU before that,
    /// then lets itself run on every CPU the process may use again.
    fn arrive(&self, sent: &std::sync::atomic::AtomicBool) {
        let deadline = std::time::Instant::now() + SEND_AT_MOST;
        while !sent.load(std::sync::atomic::Ordering::Acquire)
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        let _ = rustix::thread::sched_setaffinity(None, &self.old);
    }
}

/// How long a new worker waits, at most, for the caller to send it to its CPU.
const SEND_AT_MOST: std::time::Duration = std::time::Duration::from_millis(5);

/// The CPUs this process may run on, up to 8. (Not `available_parallelism`, which also reads
/// the cgroup's quota files: three more opens, a good part of a small run.)
pub(super) fn threads() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count().clamp(1, 8) as usize)
}
