//! Side-by-side figures, measured in one run: on a shared, noisy machine ratios between
//! variants measured together mean something, and absolute times do not. Each variant runs in
//! several interleaved rounds and keeps its best round, the least disturbed one.

use std::hint::black_box;
use std::time::Instant;

use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};

use polylink_emit::{Assembler, Index, Mem, Program, Reg, Scale, examples};
use polylink_exec::{CodeBuffer, ModuleBuilder};
pub use polylink_routines_report::{CallCosts, CopyRow, EmitCosts, Figures, SealCosts};

use crate::{Error, Result, RoutineSet};

/// The sizes the copies are measured at: 4 KiB (L1), 1 MiB (L2), 256 MiB (memory).
pub const COPY_SIZES: [usize; 3] = [4 << 10, 1 << 20, 256 << 20];

const ROUNDS: usize = 7;

/// Measures everything; `sizes` replaces [`COPY_SIZES`] when given.
pub fn measure(routines: &RoutineSet<'_>, sizes: &[usize]) -> Result<Figures> {
    let emitted = examples::add_two().seal()?;
    // SAFETY: add_two is `u64 f(u64, u64)` and touches no memory.
    let emitted_add = unsafe { emitted.function::<unsafe extern "C" fn(u64, u64) -> u64>(0) }?;
    // SAFETY: as above; the pointer is used only while `emitted` is alive, in this function.
    let add = |a, b| unsafe { emitted_add.call((a, b)) };
    Ok(Figures {
        calls: call_costs(routines, add),
        copies: sizes
            .iter()
            .map(|&size| copy_row(routines, size))
            .collect::<Result<_>>()?,
        seal: seal_costs(1000)?,
        emit: emit_costs(10_000)?,
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

fn call_costs(embedded: &RoutineSet<'_>, emitted: impl Fn(u64, u64) -> u64) -> CallCosts {
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
            1 => per_call(crate::linked_add),
            2 => per_call(|a, b| embedded.add(a, b)),
            _ => per_call(&emitted),
        })
    });
    let [native_ns, linked_ns, embedded_ns, emitted_ns] = timed.expect("timing calls cannot fail");
    CallCosts {
        native_ns,
        linked_ns,
        embedded_ns,
        emitted_ns,
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
    let add = crate::routine("add").expect("add is a routine").bytes;
    let names: Vec<String> = (0..functions).map(|i| format!("add{i}")).collect();
    let [one_mapping_each_us, shared_mapping_us] = best_of(|variant| {
        let start = Instant::now();
        if variant == 0 {
            let sealed = (0..functions)
                .map(|_| CodeBuffer::from_code(add)?.seal())
                .collect::<Result<Vec<_>, polylink_exec::Error>>()?;
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
