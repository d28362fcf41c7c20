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
    use std::sync::atomic::{AtomicUsize, Ordering};
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
    let (firstly, mut done): (F, Vec<(usize, R)>) = std::thread::scope(|scope| {
        let placed = OnOtherCpus::start();
        let workers: Vec<_> = (1..threads)
            .map(|k| {
                let _on = placed.as_ref().map(|p| p.next(k));
                scope.spawn(work)
            })
            .collect();
        drop(placed);
        let firstly = first();
        let mut done = work();
        for worker in workers {
            done.extend(
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        (firstly, done)
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    (firstly, done.into_iter().map(|(_, r)| r).collect())
}

/// Starts each worker on a CPU of its own, other than the caller's. A new thread otherwise
/// waits on its parent's CPU until the scheduler balances the load, milliseconds later on a
/// small VM: longer than nm's whole run. A thread takes its CPU set from its parent, so the
/// caller moves itself to the worker's CPU for the spawn ([`OnOtherCpus::next`]), and back
/// to its own CPU when done (dropping the guard); its own set is restored when the last guard
/// goes.
struct OnOtherCpus {
    old: rustix::thread::CpuSet,
    here: usize,
    others: Vec<usize>,
}

/// While alive, the caller runs on one CPU, for one spawn.
struct SpawnOn<'p>(&'p OnOtherCpus);

impl OnOtherCpus {
    fn start() -> Option<OnOtherCpus> {
        let old = rustix::thread::sched_getaffinity(None).ok()?;
        let here = rustix::thread::sched_getcpu();
        let others: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| c != here && old.is_set(c))
            .collect();
        (!others.is_empty()).then_some(OnOtherCpus { old, here, others })
    }

    /// Moves the caller to the CPU of worker `k` (1-based), for its spawn.
    fn next(&self, k: usize) -> SpawnOn<'_> {
        let mut set = rustix::thread::CpuSet::new();
        set.set(self.others[(k - 1) % self.others.len()]);
        let _ = rustix::thread::sched_setaffinity(None, &set);
        SpawnOn(self)
    }
}

impl Drop for SpawnOn<'_> {
    /// Back to the caller's own CPU.
    fn drop(&mut self) {
        let mut set = rustix::thread::CpuSet::new();
        set.set(self.0.here);
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
}

impl Drop for OnOtherCpus {
    fn drop(&mut self) {
        let _ = rustix::thread::sched_setaffinity(None, &self.old);
    }
}

/// The CPUs this process may run on, up to 8. (Not `available_parallelism`, which also reads
/// the cgroup's quota files: three more opens, a good part of a small run.)
pub(super) fn threads() -> usize {
    rustix::thread::sched_getaffinity(None).map_or(1, |set| set.count().clamp(1, 8) as usize)
}
