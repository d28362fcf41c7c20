//! nm's work on every core: archive members, or slices of a large table, each on a thread,
//! results in order; each worker started on a CPU of its own.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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
    let queue = Queue::new(items);
    let work = || queue.work(&f);
    let body = |_rank: usize| work();
    // SAFETY: the crew is joined below (or, should this thread unwind, when dropped), never
    // leaked.
    let crew = unsafe { start(threads, &body) };
    let firstly = first();
    let mut done = work();
    for theirs in crew.join() {
        done.extend(theirs);
    }
    done.sort_unstable_by_key(|(index, _)| *index);
    (firstly, done.into_iter().map(|(_, r)| r).collect())
}

/// Work in two rounds on `threads` threads, this one among them, which are started once: in
/// the first, every thread takes `items` one at a time, as [`in_parallel`] does; once all are
/// done, the second round gives every thread all the results, in the items' order: this
/// thread calls `here` with them (and the number of other threads), the others `there` (with
/// their rank, from 1). Returns what
/// `here` returned, and what each other thread's `there` did (fewer when threads could not
/// be started).
pub(super) fn in_two_rounds<T: Send, R: Send + Sync, S: Send, M>(
    threads: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync,
    there: impl Fn(usize, &[&R]) -> S + Sync,
    here: impl FnOnce(&[&R], usize) -> M,
) -> (M, Vec<S>) {
    let count = items.len();
    let queue = Queue::new(items);
    let results: Vec<OnceLock<R>> = (0..count).map(|_| OnceLock::new()).collect();
    let finished = AtomicUsize::new(0);
    let abandoned = AtomicBool::new(false);
    // What the other threads' second rounds gave, by rank; and how many threads are done
    // with all of this.
    let theirs: Vec<Mutex<Option<S>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let released = AtomicUsize::new(0);
    // Round one, then the wait for the other threads' last items: `None` when a thread
    // panicked (which its join then raises again).
    let round_one = || -> Option<Vec<&R>> {
        for (index, result) in queue.work(&f) {
            // Each index is taken once, so each slot is set once.
            let _ = results[index].set(result);
            finished.fetch_add(1, Ordering::Release);
        }
        wait_until(|| finished.load(Ordering::Acquire) == count, &abandoned)?;
        results.iter().map(OnceLock::get).collect()
    };
    let body = |rank: usize| {
        {
            let _mark = Abandon(&abandoned);
            if let Some(results) = round_one() {
                let done = there(rank, &results);
                if let Some(slot) = theirs.get(rank) {
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(done);
                }
            }
        }
        // The thread's last touch of what it borrows: from here on, this thread need not be
        // waited for.
        released.fetch_add(1, Ordering::Release);
    };
    // SAFETY: the crew is let go below only once every thread has released what it borrows,
    // and is otherwise joined (or, should this thread unwind, joined when dropped); never
    // leaked.
    let mut crew = unsafe { start(threads, &body) };
    let others = crew.workers.len();
    let mine = {
        let _mark = Abandon(&abandoned);
        round_one().map(|results| here(&results, others))
    };
    // A thread that has finished is let go rather than joined: the wake-up from a join can
    // take as long as a tenth of a small run on a VM. One that never started is cancelled.
    let working = crew.cancel_waiting();
    let all_released = wait_until(|| released.load(Ordering::Acquire) == working, &abandoned);
    match (mine, all_released) {
        (Some(mine), Some(())) => {
            crew.let_go();
            let theirs = theirs
                .into_iter()
                .filter_map(|slot| slot.into_inner().unwrap_or_else(PoisonError::into_inner))
                .collect();
            (mine, theirs)
        }
        _ => {
            // A thread panicked: joining it raises the panic again.
            crew.join();
            unreachable!("a thread gave up without panicking")
        }
    }
}

/// Waits until `done` holds, spinning at first (the others are on their last items, and a
/// wait that gave up the CPU could last a whole time slice of another process); `None` when
/// a thread has `abandoned` the work.
fn wait_until(done: impl Fn() -> bool, abandoned: &AtomicBool) -> Option<()> {
    let waiting = Instant::now();
    while !done() {
        if abandoned.load(Ordering::Acquire) {
            return None;
        }
        match waiting.elapsed() < SPIN_FOR {
            true => std::hint::spin_loop(),
            false => std::thread::sleep(Duration::from_micros(50)),
        }
    }
    Some(())
}

/// How long a thread that waits for the others spins before it sleeps.
const SPIN_FOR: Duration = Duration::from_millis(2);

/// Marks the work as abandoned when the thread holding it unwinds, so that the others stop
/// waiting for it.
struct Abandon<'a>(&'a AtomicBool);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

/// Items taken one at a time by any number of threads.
struct Queue<T> {
    slots: Vec<Mutex<Option<T>>>,
    next: AtomicUsize,
}

impl<T> Queue<T> {
    fn new(items: Vec<T>) -> Self {
        Queue {
            slots: items.into_iter().map(|i| Mutex::new(Some(i))).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// `f` of each item this thread takes, with the item's index, until none is left.
    fn work<R>(&self, f: &impl Fn(T) -> R) -> Vec<(usize, R)> {
        let mut done = Vec::new();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.slots.get(index) else {
                return done;
            };
            let item = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(item) = item {
                done.push((index, f(item)));
            }
        }
    }
}

/// Threads started by [`start`]; dropping it joins them (but for those it cancels first:
/// [`Crew::cancel_waiting`]).
struct Crew<'a, X> {
    /// Each thread's gate ([`WAITING`], [`RUNNING`] or [`CANCELLED`]) and handle.
    workers: Vec<(Arc<AtomicU8>, Joined<Option<X>>)>,
    /// What the threads borrow.
    borrows: PhantomData<&'a ()>,
}

/// A thread's gate: not yet at work, at work (and touching what it borrows), or cancelled
/// before it was (it then returns at once).
const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;

impl<X> Crew<'_, X> {
    /// Cancels the threads that have not started on their work, and lets them go unjoined:
    /// they will touch nothing they borrow. On a VM, a new thread's CPU can take milliseconds
    /// to wake; by then this thread may have done all the work, and would otherwise wait for
    /// a thread with nothing left to do. Returns how many threads are at work.
    fn cancel_waiting(&mut self) -> usize {
        let mut working = 0;
        for (gate, worker) in &mut self.workers {
            match gate.compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire) {
                // A handle dropped unjoined detaches its thread.
                Ok(_) => drop(worker.0.take()),
                Err(_) => working += usize::from(worker.0.is_some()),
            }
        }
        working
    }

    /// Lets the threads end on their own, unjoined: only once none touches what it borrows.
    fn let_go(mut self) {
        for (_, worker) in &mut self.workers {
            drop(worker.0.take());
        }
    }

    /// Joins every thread at work, in order (cancelling those that have not started), raising
    /// again a panic of one.
    fn join(mut self) -> Vec<X> {
        self.cancel_waiting();
        self.workers
            .iter_mut()
            .filter_map(|(_, worker)| worker.0.take())
            .filter_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    }
}

impl<X> Drop for Crew<'_, X> {
    fn drop(&mut self) {
        // The threads at work are joined by their handles' own drop.
        self.cancel_waiting();
    }
}

/// Starts `threads - 1` threads, the `k`th running `body(k)`, each queued on a CPU of its own
/// ([`Placement`]). Where the system refuses a thread, fewer run.
///
/// # Safety
///
/// The crew must not be leaked (`mem::forget`): the threads borrow what `body` borrows for
/// `'a`, and only dropping or joining the crew ends them (or cancelling those that have not
/// started, which then touch nothing borrowed).
unsafe fn start<'a, X: Send + 'a>(
    threads: usize,
    body: &'a (impl Fn(usize) -> X + Sync + 'a),
) -> Crew<'a, X> {
    let placement = Placement::new().map(Arc::new);
    let mut workers = Vec::with_capacity(threads);
    for k in 1..threads {
        let sent = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(AtomicU8::new(WAITING));
        let worker = {
            let (placement, sent, gate) = (placement.clone(), sent.clone(), gate.clone());
            move || {
                if let Some(placement) = placement {
                    placement.arrive(&sent);
                }
                // Cancelled before it started: it touches nothing it borrows.
                gate.compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                    .ok()?;
                Some(body(k))
            }
        };
        // SAFETY: the thread borrows `body` for `'a`, and its `Joined` guard, pushed at once
        // into the crew, joins it when dropped: the caller keeps the crew from being leaked,
        // and the crew's lifetime keeps it from outliving `'a`.
        let Ok(handle) = (unsafe { std::thread::Builder::new().spawn_unchecked(worker) }) else {
            // Too many threads for the system: the threads started (and this one) do it all.
            break;
        };
        let handle = Joined(Some(handle));
        if let (Some(placement), Some(thread)) = (&placement, &handle.0) {
            placement.send(thread, k);
        }
        sent.store(true, Ordering::Release);
        workers.push((gate, handle));
    }
    Crew {
        workers,
        borrows: PhantomData,
    }
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
    fn arrive(&self, sent: &AtomicBool) {
        let deadline = std::time::Instant::now() + SEND_AT_MOST;
        while !sent.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rounds_see_every_result_in_order_on_every_thread() {
        for threads in [1, 2, 4] {
            let items: Vec<u64> = (0..40).collect();
            let (mine, theirs) = in_two_rounds(
                threads,
                items,
                |i| i * i,
                |rank, results: &[&u64]| (rank, results.iter().copied().sum::<u64>()),
                |results: &[&u64], others| {
                    let squares: Vec<u64> = results.iter().map(|&&r| r).collect();
                    (squares, others)
                },
            );
            let squares: Vec<u64> = (0..40).map(|i| i * i).collect();
            assert_eq!(mine.0, squares);
            assert_eq!(mine.1, threads - 1);
            // Only the threads that started before the work was done take part.
            let sum = squares.iter().sum::<u64>();
            let ranks: Vec<usize> = theirs.iter().map(|&(rank, _)| rank).collect();
            assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
            assert!(ranks.iter().all(|r| (1..threads).contains(r)), "{ranks:?}");
            assert!(theirs.iter().all(|&(_, s)| s == sum));
        }
    }

    #[test]
    fn a_panic_in_either_round_is_raised_not_waited_for() {
        for (in_first, threads) in [(true, 2), (false, 2), (true, 3), (false, 3)] {
            let caught = std::panic::catch_unwind(|| {
                in_two_rounds(
                    threads,
                    (0..8).collect(),
                    |i: u32| {
                        if in_first && i == 7 {
                            panic!("item {i}");
                        }
                        // Long enough for the other threads to start and take part.
                        std::thread::sleep(std::time::Duration::from_millis(40));
                        i
                    },
                    |rank, _: &[&u32]| {
                        if !in_first {
                            panic!("rank {rank}");
                        }
                    },
                    |_: &[&u32], _| (),
                )
            });
            assert!(caught.is_err(), "in the first round: {in_first}");
        }
    }
}
