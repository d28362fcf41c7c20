//! Side-by-side figures, measured in one run: on a shared, noisy machine ratios between
//! variants measured together mean something, and absolute times do not. Each variant runs in
//! several interleaved rounds and keeps its best round, the least disturbed one.

use std::hint::black_box;
use std::time::Instant;

use crate::Result;
use crate::exec::{CodeBuffer, ModuleBuilder};
use crate::routines::{self, RoutineSet};

/// Nanoseconds per call of `add`: inlined Rust, the linked routine (a direct call), and the
/// embedded routine (a call through a pointer into sealed memory).
#[derive(Clone, Copy, Debug)]
pub struct CallCosts {
    pub native_ns: f64,
    pub linked_ns: f64,
    pub embedded_ns: f64,
}

/// Copy throughput at one size, in GB/s (10^9 bytes per second).
#[derive(Clone, Copy, Debug)]
pub struct CopyRow {
    pub size: usize,
    pub memcpy_gbps: f64,
    pub baseline_gbps: f64,
    pub fast_gbps: f64,
}

/// Microseconds per function to seal small functions: one mapping each, or one shared.
#[derive(Clone, Copy, Debug)]
pub struct SealCosts {
    pub functions: usize,
    pub one_mapping_each_us: f64,
    pub shared_mapping_us: f64,
}

#[derive(Clone, Debug)]
pub struct Figures {
    pub calls: CallCosts,
    pub copies: Vec<CopyRow>,
    pub seal: SealCosts,
}

/// The sizes the copies are measured at: 4 KiB (L1), 1 MiB (L2), 256 MiB (memory).
pub const COPY_SIZES: [usize; 3] = [4 << 10, 1 << 20, 256 << 20];

const ROUNDS: usize = 7;

/// Measures everything; `sizes` replaces [`COPY_SIZES`] when given.
pub fn measure(routines: &RoutineSet<'_>, sizes: &[usize]) -> Result<Figures> {
    Ok(Figures {
        calls: call_costs(routines),
        copies: sizes
            .iter()
            .map(|&size| copy_row(routines, size))
            .collect::<Result<_>>()?,
        seal: seal_costs(1000)?,
    })
}

/// The best of [`ROUNDS`] interleaved rounds of `N` variants: `run(i)` measures variant `i`
/// once and returns a figure where smaller is better.
fn best_of<const N: usize>(mut run: impl FnMut(usize) -> Result<f64>) -> Result<[f64; N]> {
    let mut best = [f64::INFINITY; N];
    for _ in 0..ROUNDS {
        for (variant, b) in best.iter_mut().enumerate() {
            *b = b.min(run(variant)?);
        }
    }
    Ok(best)
}

fn call_costs(embedded: &RoutineSet<'_>) -> CallCosts {
    const CALLS: u64 = 2_000_000;
    // Each call's result feeds the next, so calls cannot overlap or be skipped.
    fn per_call(f: impl Fn(u64, u64) -> u64) -> f64 {
        let start = Instant::now();
        let mut acc = 0u64;
        for i in 0..CALLS {
            acc = f(black_box(acc), black_box(i));
        }
        black_box(acc);
        start.elapsed().as_nanos() as f64 / CALLS as f64
    }
    let timed = best_of(|variant| {
        Ok(match variant {
            0 => per_call(|a, b| a.wrapping_add(b)),
            1 => per_call(routines::linked_add),
            _ => per_call(|a, b| embedded.add(a, b)),
        })
    });
    let [native_ns, linked_ns, embedded_ns] = timed.expect("timing calls cannot fail");
    CallCosts {
        native_ns,
        linked_ns,
        embedded_ns,
    }
}

/// A buffer of `size` bytes starting at a 64-byte boundary, every page touched.
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    size: usize,
}

impl Aligned {
    fn new(size: usize, fill: u8) -> Aligned {
        let storage = vec![fill; size + 64];
        let start = storage.as_ptr().addr().next_multiple_of(64) - storage.as_ptr().addr();
        Aligned {
            storage,
            start,
            size,
        }
    }
    fn get(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.size]
    }
    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.size]
    }
}

fn copy_row(routines: &RoutineSet<'_>, size: usize) -> Result<CopyRow> {
    let src = Aligned::new(size, 0x5a);
    let mut dst = Aligned::new(size, 0);
    // About 1 GiB copied per round, at least one copy.
    let reps = ((1usize << 30) / size).max(1);
    let [memcpy, baseline, fast] = best_of(|variant| {
        let start = Instant::now();
        for _ in 0..reps {
            let (d, s) = (dst.get_mut(), black_box(src.get()));
            match variant {
                0 => d.copy_from_slice(s),
                1 => routines.copy_avx_baseline(d, s)?,
                _ => routines.copy_fast(d, s)?,
            }
        }
        black_box(dst.get());
        Ok(start.elapsed().as_secs_f64() / (reps * size) as f64)
    })?;
    let gbps = |seconds_per_byte: f64| 1e-9 / seconds_per_byte;
    Ok(CopyRow {
        size,
        memcpy_gbps: gbps(memcpy),
        baseline_gbps: gbps(baseline),
        fast_gbps: gbps(fast),
    })
}

fn seal_costs(functions: usize) -> Result<SealCosts> {
    let add = routines::routine("add").expect("add is a routine").bytes;
    let names: Vec<String> = (0..functions).map(|i| format!("add{i}")).collect();
    let [one_mapping_each_us, shared_mapping_us] = best_of(|variant| {
        let start = Instant::now();
        if variant == 0 {
            let sealed = (0..functions)
                .map(|_| CodeBuffer::from_code(add)?.seal())
                .collect::<Result<Vec<_>>>()?;
            let elapsed = start.elapsed();
            drop(sealed);
            Ok(elapsed.as_secs_f64() * 1e6 / functions as f64)
        } else {
            let mut builder = ModuleBuilder::new();
            for name in &names {
                builder.add(name, add);
            }
            let module = builder.build()?;
            let elapsed = start.elapsed();
            drop(module);
            Ok(elapsed.as_secs_f64() * 1e6 / functions as f64)
        }
    })?;
    Ok(SealCosts {
        functions,
        one_mapping_each_us,
        shared_mapping_us,
    })
}
