//! Side-by-side figures, measured in one run: on a shared, noisy machine ratios between
//! variants measured together mean something, and absolute times do not. Each variant runs in
//! several interleaved rounds and keeps its best round, the least disturbed one.

use std::hint::black_box;
use std::time::Instant;

use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};

use polylink_emit::{Assembler, Index, Mem, Program, Reg, Scale, examples};
use polylink_exec::{CodeBuffer, ModuleBuilder, Placement, near_callers};
pub use polylink_routines_report::{CallCost, CallCosts, CopyRow, EmitCosts, Figures, SealCosts};

use crate::{Error, Result, RoutineSet, linked};

/// The sizes the copies are measured at: from a cache line to far beyond the caches.
pub const COPY_SIZES: [usize; 6] = [64, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20];

/// The (source, destination) offsets from a 64-byte boundary each size is copied at: aligned,
/// each side off by one, both off by different amounts, and both at the last byte of a line.
pub const COPY_OFFSETS: [(usize, usize); 5] = [(0, 0), (1, 0), (0, 1), (17, 45), (63, 63)];

const ROUNDS: usize = 7;

/// Rounds of the call timings, and calls per round: many short rounds, interleaved, so that a
/// disturbance of this shared machine spoils a few rounds of every variant, not all of one.
pub const CALL_ROUNDS: usize = 61;
pub const CALLS_PER_ROUND: u64 = 200_000;

/// Measures everything; `sizes` replaces [`COPY_SIZES`] when given.
pub fn measure(routines: &RoutineSet<'_>, sizes: &[usize]) -> Result<Figures> {
    Ok(Figures {
        calls: call_costs(routines)?,
        copies: sizes
            .iter()
            .map(|&size| copy_rows(routines, size))
            .collect::<Result<Vec<_>>>()?
            .concat(),
        seal: seal_costs(1000)?,
        emit: emit_costs(10_000)?,
    })
}

/// The best of [`ROUNDS`] interleaved rounds of `N` variants: `run(i)` measures variant `i`
/// once and returns a figure where smaller is better.
fn best_of<const N: usize>(run: impl FnMut(usize) -> Result<f64>) -> Result<[f64; N]> {
    best_of_rounds(ROUNDS, run)
}

/// Rounds of the sealing timings: each is short (a millisecond or so), and a mapping's cost
/// varies with what the kernel is doing, so many are taken.
const SEAL_ROUNDS: usize = 31;

/// [`best_of`] with `rounds` rounds.
fn best_of_rounds<const N: usize>(
    rounds: usize,
    mut run: impl FnMut(usize) -> Result<f64>,
) -> Result<[f64; N]> {
    let mut best = [f64::INFINITY; N];
    for _ in 0..rounds {
        for (variant, b) in best.iter_mut().enumerate() {
            *b = b.min(run(variant)?);
        }
    }
    Ok(best)
}

/// `add` as Rust compiles it, called through a pointer like the others.
#[inline(never)]
extern "C" fn native_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Times a call of each variant of `add` in [`CALL_ROUNDS`] rounds of [`CALLS_PER_ROUND`]
/// calls, the variants interleaved and their order turned each round.
fn call_costs(routines: &RoutineSet<'_>) -> Result<CallCosts> {
    use crate::call_loops::*;
    let emitted = examples::add_two().seal()?;
    let add = crate::routine("add").expect("add is a routine").bytes;
    let mut far = CodeBuffer::placed(add.len(), 0, Placement::Anywhere)?;
    far.push(add)?;
    let far = far.seal()?;
    let emitted_code = emitted;
    // SAFETY: every one of these is `u64 add(u64, u64)`, touching no memory; the sealed code
    // outlives the pointers' use, in this function.
    let (emitted, far) = unsafe {
        (
            emitted_code.function::<AddFn>(0)?.as_fn(),
            far.function::<AddFn>(0)?.as_fn(),
        )
    };
    let targets: [AddFn; 5] = [
        native_add,
        linked::pl_asm_add,
        routines.add_fn(),
        emitted,
        far,
    ];
    let loops: [unsafe extern "C" fn(AddFn, u64) -> u64; 5] = [
        pl_call_loop_native,
        pl_call_loop_linked,
        pl_call_loop_embedded,
        pl_call_loop_emitted,
        pl_call_loop_far,
    ];
    let mut samples = [[0f64; 5]; CALL_ROUNDS];
    for (lp, &target) in loops.iter().zip(&targets) {
        // SAFETY: as above.
        black_box(unsafe { lp(black_box(target), 10_000) });
    }
    for (round, sample) in samples.iter_mut().enumerate() {
        for k in 0..5 {
            let variant = (round + k) % 5;
            let target = black_box(targets[variant]);
            let start = Instant::now();
            // SAFETY: as above.
            black_box(unsafe { loops[variant](target, CALLS_PER_ROUND) });
            sample[variant] = start.elapsed().as_nanos() as f64 / CALLS_PER_ROUND as f64;
        }
    }
    let cost = |variant: usize| {
        let mut s: Vec<f64> = samples.iter().map(|round| round[variant]).collect();
        s.sort_by(f64::total_cmp);
        CallCost {
            best_ns: s[0],
            median_ns: s[CALL_ROUNDS / 2],
            p90_ns: s[CALL_ROUNDS * 9 / 10],
            near: near_callers(targets[variant] as usize),
        }
    };
    Ok(CallCosts {
        rounds: CALL_ROUNDS,
        calls_per_round: CALLS_PER_ROUND,
        native: cost(0),
        linked: cost(1),
        embedded: cost(2),
        emitted: cost(3),
        far: cost(4),
    })
}

/// A buffer of `size` bytes starting `offset` bytes past a 64-byte boundary, every page
/// touched.
struct Placed {
    storage: Vec<u8>,
    start: usize,
    size: usize,
}

impl Placed {
    fn new(size: usize, offset: usize, fill: u8) -> Placed {
        let storage = vec![fill; size + 128];
        let base = storage.as_ptr().addr();
        let start = base.next_multiple_of(64) - base + offset;
        Placed {
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

/// The rounds of a copy timing.
const COPY_ROUNDS: usize = 5;

/// Copies at `size` bytes, one row per pair of [`COPY_OFFSETS`]: glibc's memcpy, the baseline
/// and the fast copy, interleaved, the best of [`COPY_ROUNDS`] rounds.
fn copy_rows(routines: &RoutineSet<'_>, size: usize) -> Result<Vec<CopyRow>> {
    // About 64 MiB copied per timing (so a small copy is timed over many calls), at least one.
    let reps = ((64usize << 20) / size).clamp(1, 1 << 20);
    let mut rows = Vec::new();
    for (src_offset, dst_offset) in COPY_OFFSETS {
        let src = Placed::new(size, src_offset, 0x5a);
        let mut dst = Placed::new(size, dst_offset, 0);
        // The baseline copies 32-byte-aligned buffers only.
        let aligned = src_offset % 32 == 0 && dst_offset % 32 == 0;
        let [memcpy, baseline, fast] = best_of_rounds(COPY_ROUNDS, |variant| {
            if variant == 1 && !aligned {
                return Ok(f64::INFINITY);
            }
            let start = Instant::now();
            for _ in 0..reps {
                let (d, s) = (black_box(dst.get_mut()), black_box(src.get()));
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
        rows.push(CopyRow {
            size,
            src_offset,
            dst_offset,
            memcpy_gbps: gbps(memcpy),
            baseline_gbps: aligned.then(|| gbps(baseline)),
            fast_gbps: gbps(fast),
        });
    }
    Ok(rows)
}

fn seal_costs(functions: usize) -> Result<SealCosts> {
    let add = crate::routine("add").expect("add is a routine").bytes;
    let names: Vec<String> = (0..functions).map(|i| format!("add{i}")).collect();
    let [one_mapping_each_us, shared_mapping_us] = best_of_rounds(SEAL_ROUNDS, |variant| {
        let start = Instant::now();
        if variant == 0 {
            let sealed = (0..functions)
                .map(|_| CodeBuffer::from_code(add)?.seal())
                .collect::<Result<Vec<_>, polylink_exec::Error>>()?;
            let elapsed = start.elapsed();
            drop(sealed);
            Ok(elapsed.as_secs_f64() * 1e6 / functions as f64)
        } else {
            let mut builder = ModuleBuilder::with_capacity(functions, functions * add.len());
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

/// Instructions in one round of [`emit_mix`] and [`iced_mix`].
pub const MIX_PER_ROUND: usize = 10;

/// The registers of round `i`: a destination, a source and an index, rotating through all 16
/// (15 for the index, which cannot be rsp) so that every REX combination occurs.
fn mix_regs(i: usize) -> (usize, usize, usize) {
    (i % 16, (i + 5) % 16, (i + 9) % 15)
}

const INDEX: [Index; 15] = [
    Index::RAX,
    Index::RCX,
    Index::RDX,
    Index::RBX,
    Index::RBP,
    Index::RSI,
    Index::RDI,
    Index::R8,
    Index::R9,
    Index::R10,
    Index::R11,
    Index::R12,
    Index::R13,
    Index::R14,
    Index::R15,
];

/// A common instruction mix, `rounds` times: mov, add imm8, lea with an index, load, store,
/// imul, shl, cmp imm32, push and mov imm64.
pub fn emit_mix(rounds: usize) -> Result<Program> {
    let mut a = Assembler::with_capacity(rounds * 48);
    for i in 0..rounds {
        let (d, s, x) = mix_regs(black_box(i));
        let (d, s, x) = (Reg::ALL[d], Reg::ALL[s], INDEX[x]);
        a.mov(d, s)
            .add(d, 8)
            .lea(d, Mem::base(s).index(x, Scale::S8).disp(16))
            .load(d, Mem::at(s, 8))
            .store(Mem::at(s, 8), d)
            .imul(d, s)
            .shl(d, 3)?
            .cmp(d, 1000)
            .push(d)
            .mov_imm64(d, 0x1234_5678_9abc_def0);
    }
    Ok(a.finish()?)
}

/// The same mix through iced-x86's encoder; the bytes are the same as [`emit_mix`]'s.
pub fn iced_mix(rounds: usize) -> Result<Vec<u8>> {
    let regs = [
        Register::RAX,
        Register::RCX,
        Register::RDX,
        Register::RBX,
        Register::RSP,
        Register::RBP,
        Register::RSI,
        Register::RDI,
        Register::R8,
        Register::R9,
        Register::R10,
        Register::R11,
        Register::R12,
        Register::R13,
        Register::R14,
        Register::R15,
    ];
    let index: [Register; 15] = INDEX.map(|x| regs[x.reg() as usize]);
    let fail = |e: iced_x86::IcedError| Error::IcedMix {
        cause: e.to_string(),
    };
    let mut enc = Encoder::try_with_capacity(64, rounds * 48).map_err(fail)?;
    for i in 0..rounds {
        let (d, s, x) = mix_regs(black_box(i));
        let (d, s, x) = (regs[d], regs[s], index[x]);
        let at = |disp: i64| MemoryOperand::with_base_displ_size(s, disp, 1);
        let cmp = if d == Register::RAX {
            Instruction::with2(Code::Cmp_RAX_imm32, d, 1000)
        } else {
            Instruction::with2(Code::Cmp_rm64_imm32, d, 1000)
        };
        let mix = [
            Instruction::with2(Code::Mov_rm64_r64, d, s),
            Instruction::with2(Code::Add_rm64_imm8, d, 8),
            Instruction::with2(
                Code::Lea_r64_m,
                d,
                MemoryOperand::with_base_index_scale_displ_size(s, x, 8, 16, 1),
            ),
            Instruction::with2(Code::Mov_r64_rm64, d, at(8)),
            Instruction::with2(Code::Mov_rm64_r64, at(8), d),
            Instruction::with2(Code::Imul_r64_rm64, d, s),
            Instruction::with2(Code::Shl_rm64_imm8, d, 3),
            cmp,
            Instruction::with1(Code::Push_r64, d),
            Instruction::with2(Code::Mov_r64_imm64, d, 0x1234_5678_9abc_def0u64),
        ];
        for instruction in mix {
            enc.encode(&instruction.map_err(fail)?, 0).map_err(fail)?;
        }
    }
    Ok(enc.take_buffer())
}

/// Times [`emit_mix`] against [`iced_mix`], `rounds` rounds each, best of interleaved runs.
pub fn emit_costs(rounds: usize) -> Result<EmitCosts> {
    let instructions = rounds * MIX_PER_ROUND;
    let [polylink, iced] = best_of(|variant| {
        let start = Instant::now();
        if variant == 0 {
            black_box(emit_mix(black_box(rounds))?);
        } else {
            black_box(iced_mix(black_box(rounds))?);
        }
        Ok(start.elapsed().as_nanos() as f64 / instructions as f64)
    })?;
    Ok(EmitCosts {
        instructions,
        polylink_ns: polylink,
        iced_ns: iced,
    })
}
