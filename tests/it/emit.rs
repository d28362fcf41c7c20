//! The emitter, proven: every form, register combination and edge immediate encoded as NASM
//! encodes the same text, and decoded back by iced-x86 to the same instruction; jumps laid out
//! as NASM lays them out; functions written with it run and give the right answers.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use polylink_emit::text::{Statement, assemble, parse};
use polylink_emit::{
    AluOp, Assembler, Cond, Imm32, Index, Inst, Mem, Program, Reg, Scale, ShiftOp, Src, UnaryOp,
    examples,
};
use polylink_exec::hex;
use polylink_tests::{Lcg, nasm};

/// Immediates at the edges of each encoding: 0, ±1, the i8 limits and one past them, the i32
/// limits, and values in between.
const IMM32: [i32; 13] = [
    0,
    1,
    -1,
    127,
    -128,
    128,
    -129,
    255,
    0x1234,
    -0x8000,
    0x7fff_ffff,
    -0x8000_0000,
    0x1234_5678,
];

/// For `mov`: the 32-bit edges, and values that need the zero-extending or the 64-bit form.
const IMM64: [i64; 10] = [
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    -0x8000_0001,
    i64::MAX,
    i64::MIN,
    0x1234_5678_9abc_def0,
    -2,
    0x7fff_ffff,
    -0x8000_0000,
];

const DISPS: [i32; 9] = [0, 1, -1, 127, -128, 128, -129, i32::MAX, i32::MIN];

fn index_regs() -> impl Iterator<Item = Index> {
    Reg::ALL.into_iter().filter_map(Index::new)
}

/// Every register-only and immediate form with every register (pair).
fn register_forms() -> Vec<Inst> {
    let mut out = vec![Inst::Ret, Inst::Nop];
    for d in Reg::ALL {
        for s in Reg::ALL {
            out.push(Inst::Mov(d, s));
            out.push(Inst::Test(d, Src::Reg(s)));
            out.push(Inst::Imul(d, s));
            out.extend(AluOp::ALL.map(|op| Inst::Alu(op, d, Src::Reg(s))));
        }
        for v in IMM32 {
            out.push(Inst::MovImm(d, v.into()));
            out.push(Inst::MovImm32(d, v));
            out.push(Inst::MovImm64(d, v.into()));
            for src in [Src::Imm(v), Src::from(Imm32(v))] {
                out.push(Inst::Test(d, src));
                out.extend(AluOp::ALL.map(|op| Inst::Alu(op, d, src)));
            }
        }
        for v in IMM64 {
            out.push(Inst::MovImm(d, v));
            out.push(Inst::MovImm64(d, v));
        }
        out.extend(UnaryOp::ALL.map(|op| Inst::Unary(op, d)));
        for count in [0, 1, 2, 31, 32, 63] {
            out.extend(ShiftOp::ALL.map(|op| Inst::Shift(op, d, count)));
        }
        out.extend([Inst::Push(d), Inst::Pop(d), Inst::Call(d)]);
    }
    out
}

/// Loads, stores and `lea` with every register and base, every displacement size, and every
/// index and scale.
fn memory_forms() -> Vec<Inst> {
    let mut out = Vec::new();
    let mut all =
        |r: Reg, m: Mem| out.extend([Inst::Load(r, m), Inst::Store(m, r), Inst::Lea(r, m)]);
    for r in Reg::ALL {
        for base in Reg::ALL {
            for disp in DISPS {
                all(r, Mem::at(base, disp));
            }
            for index in index_regs() {
                all(r, Mem::base(base).index(index, Scale::S8));
            }
        }
    }
    for base in Reg::ALL {
        for index in index_regs() {
            for scale in Scale::ALL {
                for disp in [0, -128, 128] {
                    all(Reg::R9, Mem::base(base).index(index, scale).disp(disp));
                }
            }
        }
    }
    out
}

/// Assembles `lines` with NASM in one run and returns the bytes.
fn nasm_bytes(name: &str, lines: &[String]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("bits 64\n{}\n", lines.join("\n"));
    std::fs::read(nasm(dir.path(), name, "bin", &source)).unwrap()
}

/// Each instruction's bytes from the emitter, against NASM's for its text, one by one, and each
/// decoded back with iced-x86 to the instruction it was meant to be. One NASM run for all.
fn check_against_nasm(name: &str, insts: &[Inst]) {
    let ours: Vec<Vec<u8>> = insts
        .iter()
        .map(|inst| {
            let mut a = Assembler::new();
            a.inst(inst).unwrap_or_else(|e| panic!("{inst}: {e}"));
            a.finish().unwrap().into_bytes()
        })
        .collect();
    let texts: Vec<String> = insts.iter().map(Inst::to_string).collect();
    let theirs = nasm_bytes(name, &texts);
    let mut at = 0;
    for ((inst, text), bytes) in insts.iter().zip(&texts).zip(&ours) {
        let nasm = theirs
            .get(at..at + bytes.len())
            .unwrap_or(&theirs[at.min(theirs.len())..]);
        assert_eq!(
            hex(bytes),
            hex(nasm),
            "`{text}`: the emitter's bytes (left) differ from NASM's (right, at offset {at})"
        );
        at += bytes.len();
        check_decodes_to(inst, text, bytes);
        let parsed = parse(text).unwrap_or_else(|e| panic!("`{text}` does not parse: {e}"));
        assert_eq!(
            parsed.iter().map(|l| &l.statement).collect::<Vec<_>>(),
            [&Statement::Inst(inst.clone())],
            "`{text}` parses back to another instruction"
        );
    }
    assert_eq!(at, theirs.len(), "NASM wrote more bytes than the emitter");
}

/// An operand as iced-x86 decodes it: registers by name, immediates as 64-bit values.
#[derive(Debug, PartialEq)]
enum Op {
    Reg(String),
    Imm(i64),
    Mem {
        base: String,
        index: Option<(String, u32)>,
        disp: i64,
    },
}

fn reg(r: Reg) -> Op {
    Op::Reg(r.name().into())
}

/// The name iced-x86 gives the low 32 bits of `r` (`eax`, `r9d`).
fn reg32(r: Reg) -> Op {
    let name = match r.number() {
        n @ 0..=7 => ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"][n as usize].into(),
        n => format!("r{n}d"),
    };
    Op::Reg(name)
}

fn mem(m: &Mem) -> Op {
    Op::Mem {
        base: m.base.name().into(),
        index: m
            .index
            .map(|(i, s)| (i.reg().name().to_string(), u32::from(s.factor()))),
        disp: m.disp.into(),
    }
}

fn src(s: &Src) -> Op {
    match *s {
        Src::Reg(r) => reg(r),
        Src::Imm(v) | Src::Imm32(v) => Op::Imm(v.into()),
    }
}

fn expected(inst: &Inst) -> (Mnemonic, Vec<Op>) {
    use Mnemonic as M;
    let alu = |op: AluOp| match op {
        AluOp::Add => M::Add,
        AluOp::Or => M::Or,
        AluOp::And => M::And,
        AluOp::Sub => M::Sub,
        AluOp::Xor => M::Xor,
        AluOp::Cmp => M::Cmp,
    };
    match inst {
        Inst::Mov(d, s) => (M::Mov, vec![reg(*d), reg(*s)]),
        // The zero-extending `mov r32, imm32` is what NASM picks for 0 to 2^32-1.
        Inst::MovImm(d, v) if u32::try_from(*v).is_ok() => (M::Mov, vec![reg32(*d), Op::Imm(*v)]),
        Inst::MovImm(d, v) | Inst::MovImm64(d, v) => (M::Mov, vec![reg(*d), Op::Imm(*v)]),
        Inst::MovImm32(d, v) => (M::Mov, vec![reg(*d), Op::Imm((*v).into())]),
        Inst::Load(d, m) => (M::Mov, vec![reg(*d), mem(m)]),
        Inst::Store(m, s) => (M::Mov, vec![mem(m), reg(*s)]),
        Inst::Lea(d, m) => (M::Lea, vec![reg(*d), mem(m)]),
        Inst::Alu(op, d, s) => (alu(*op), vec![reg(*d), src(s)]),
        Inst::Test(d, s) => (M::Test, vec![reg(*d), src(s)]),
        Inst::Unary(op, r) => {
            let m = match op {
                UnaryOp::Inc => M::Inc,
                UnaryOp::Dec => M::Dec,
                UnaryOp::Not => M::Not,
                UnaryOp::Neg => M::Neg,
            };
            (m, vec![reg(*r)])
        }
        Inst::Imul(d, s) => (M::Imul, vec![reg(*d), reg(*s)]),
        Inst::Shift(op, r, n) => {
            let m = match op {
                ShiftOp::Shl => M::Shl,
                ShiftOp::Shr => M::Shr,
                ShiftOp::Sar => M::Sar,
            };
            (m, vec![reg(*r), Op::Imm((*n).into())])
        }
        Inst::Push(r) => (M::Push, vec![reg(*r)]),
        Inst::Pop(r) => (M::Pop, vec![reg(*r)]),
        Inst::Call(r) => (M::Call, vec![reg(*r)]),
        Inst::Ret => (M::Ret, vec![]),
        Inst::Nop => (M::Nop, vec![]),
    }
}

fn register_name(r: Register) -> String {
    format!("{r:?}").to_lowercase()
}

fn decoded_operands(d: &Instruction) -> Vec<Op> {
    (0..d.op_count())
        .map(|i| match d.op_kind(i) {
            OpKind::Register => Op::Reg(register_name(d.op_register(i))),
            OpKind::Memory => Op::Mem {
                base: register_name(d.memory_base()),
                index: (d.memory_index() != Register::None)
                    .then(|| (register_name(d.memory_index()), d.memory_index_scale())),
                disp: d.memory_displacement64() as i64,
            },
            // A shift by 1 (`D1 /4`) has its count implied; iced shows it as an 8-bit immediate.
            OpKind::Immediate8 | OpKind::Immediate8to64 | OpKind::Immediate32to64 => {
                Op::Imm(d.immediate(i) as i64)
            }
            OpKind::Immediate32 => Op::Imm(d.immediate(i) as u32 as i64),
            OpKind::Immediate64 => Op::Imm(d.immediate(i) as i64),
            other => panic!("unexpected operand kind {other:?} in {d}"),
        })
        .collect()
}

fn check_decodes_to(inst: &Inst, text: &str, bytes: &[u8]) {
    let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let decoded = decoder.decode();
    assert!(
        !decoded.is_invalid() && decoded.len() == bytes.len(),
        "`{text}`: {} does not decode to one instruction (iced-x86: {decoded}, {} bytes)",
        hex(bytes),
        decoded.len()
    );
    let (mnemonic, operands) = expected(inst);
    assert_eq!(
        (decoded.mnemonic(), decoded_operands(&decoded)),
        (mnemonic, operands),
        "`{text}`: {} decodes to `{decoded}`",
        hex(bytes)
    );
}

#[test]
fn register_and_immediate_forms_match_nasm_byte_for_byte() {
    let forms = register_forms();
    assert!(forms.len() > 5000, "{} forms", forms.len());
    check_against_nasm("registers", &forms);
}

#[test]
fn memory_forms_match_nasm_byte_for_byte() {
    let forms = memory_forms();
    assert!(forms.len() > 20000, "{} forms", forms.len());
    check_against_nasm("memory", &forms);
}

/// Snippets of jumps over runs of `nop`, each with its own labels: forward and backward, at the
/// distances where rel8 turns into rel32, in every spelling of every condition, and random
/// tangles where lengthening one jump pushes another out of reach.
fn jump_snippets() -> Vec<String> {
    let nops = |n: usize| vec!["nop"; n].join("\n");
    let mut out = Vec::new();
    let mut mnemonics = vec!["jmp".to_string()];
    mnemonics.extend(Cond::NAMES.iter().map(|(name, _)| format!("j{name}")));
    for (i, m) in mnemonics.iter().enumerate() {
        for gap in [0, 1, 125, 126, 127, 128, 129, 130] {
            out.push(format!("{m} f{i}_{gap}\n{}\nf{i}_{gap}:", nops(gap)));
            out.push(format!("b{i}_{gap}:\n{}\n{m} b{i}_{gap}", nops(gap)));
        }
    }
    let mut rng = Lcg(7);
    for s in 0..60 {
        let labels = 1 + rng.below(6);
        let mut lines = Vec::new();
        for l in 0..labels {
            for _ in 0..rng.below(8) {
                let target = rng.below(labels);
                let m = &mnemonics[rng.below(mnemonics.len())];
                lines.push(format!("{m} r{s}_{target}"));
                lines.push(nops(rng.below(70)));
            }
            lines.push(format!("r{s}_{l}:"));
        }
        out.push(lines.join("\n"));
    }
    out
}

#[test]
fn jumps_choose_rel8_or_rel32_as_nasm_does() {
    let snippets = jump_snippets();
    let ours: Vec<Vec<u8>> = snippets
        .iter()
        .map(|s| {
            assemble(s)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .program
                .into_bytes()
        })
        .collect();
    let theirs = nasm_bytes("jumps", &snippets);
    let mut at = 0;
    for (snippet, bytes) in snippets.iter().zip(&ours) {
        let end = (at + bytes.len()).min(theirs.len());
        assert!(
            bytes[..] == theirs[at..end],
            "the emitter lays out this snippet (at offset {at}) unlike NASM:\n{snippet}\nours:  {}\nnasm:  {}",
            hex(bytes),
            hex(&theirs[at..end])
        );
        at += bytes.len();
    }
    assert_eq!(at, theirs.len());
    // Both sizes were exercised.
    let all: Vec<u8> = ours.concat();
    assert!(all.windows(2).any(|w| w == [0x0f, 0x85]) && all.contains(&0xeb));
}

#[test]
fn jump_targets_decode_to_their_labels() {
    let mut a = Assembler::new();
    let top = a.here();
    let exit = a.label();
    a.jcc(Cond::L, exit).unwrap();
    for _ in 0..200 {
        a.nop();
    }
    a.jmp(top).unwrap();
    a.bind(exit).unwrap().ret();
    let code = a.finish().unwrap().into_bytes();
    let decoded: Vec<Instruction> = Decoder::with_ip(64, &code, 0, DecoderOptions::NONE)
        .into_iter()
        .collect();
    let (first, jmp) = (&decoded[0], &decoded[201]);
    assert_eq!((first.mnemonic(), first.len()), (Mnemonic::Jl, 6), "rel32");
    assert_eq!(first.near_branch_target(), code.len() as u64 - 1);
    assert_eq!(
        (jmp.mnemonic(), jmp.near_branch_target()),
        (Mnemonic::Jmp, 0)
    );
}

#[test]
fn emitter_faults_are_errors_not_panics() {
    let mut a = Assembler::new();
    let l = a.label();
    a.jmp(l).unwrap();
    assert_eq!(
        a.finish().unwrap_err().to_string(),
        "label 0 is jumped to but never bound"
    );
    let mut a = Assembler::new();
    let l = a.here();
    assert_eq!(a.bind(l).unwrap_err().to_string(), "label 0 is bound twice");
    let mut other = Assembler::new();
    let foreign = other.label();
    assert!(
        a.jmp(foreign)
            .unwrap_err()
            .to_string()
            .contains("another assembler")
    );
    assert!(
        a.shl(Reg::Rax, 64)
            .unwrap_err()
            .to_string()
            .contains("shift count 64 is out of range")
    );
    assert_eq!(
        "rxx"
            .parse::<Reg>()
            .unwrap_err()
            .to_string()
            .split(':')
            .next(),
        Some("unknown register `rxx`")
    );
    assert!(Index::try_from(Reg::Rsp).is_err());
    assert_eq!(
        Reg::ARGS.map(Reg::name),
        ["rdi", "rsi", "rdx", "rcx", "r8", "r9"]
    );
}

fn call(program: &Program, args: &[u64]) -> u64 {
    let sealed = program.seal().unwrap();
    // SAFETY: the programs under test take and return integers only.
    let function = unsafe { sealed.int_function(0) }.unwrap();
    function.call(args).unwrap()
}

#[test]
fn the_two_small_examples_run() {
    assert_eq!(call(&examples::return_zero(), &[7, 8]), 0);
    let add = examples::add_two();
    assert_eq!(hex(add.code()), "48 89 f8 48 01 f0 c3");
    assert_eq!(call(&add, &[40, 2]), 42);
    assert_eq!(call(&add, &[u64::MAX, 2]), 1);
    let mut both = examples::return_zero();
    both.append(&add);
    assert_eq!(both.len(), 4 + 7);
}

#[test]
fn a_loop_sums_one_to_n() {
    let sum = examples::sum_to_n().unwrap();
    for n in [0u64, 1, 2, 10, 1000, 100_000] {
        assert_eq!(call(&sum, &[n]), n * (n + 1) / 2, "n = {n}");
    }
}

#[test]
fn fibonacci_keeps_callee_saved_registers() {
    let fib = examples::fibonacci().unwrap();
    let (mut a, mut b) = (0u64, 1u64);
    for n in 0..=100 {
        assert_eq!(call(&fib, &[n]), a, "fib({n})");
        (a, b) = (b, a.wrapping_add(b));
    }
    assert!(preserves_callee_saved(&fib, &[20]));
}

#[test]
fn fill_words_sets_every_byte() {
    let fill = examples::fill_words().unwrap();
    let sealed = fill.seal().unwrap();
    // SAFETY: fill_words writes `count` 8-byte words at `dst`, which `buf` holds.
    let f = unsafe { sealed.function::<unsafe extern "C" fn(*mut u8, u64, u64) -> *mut u8>(0) }
        .unwrap();
    for (count, byte) in [(0usize, 0xabu64), (1, 0x01), (37, 0x5a), (512, 0x1ff)] {
        let mut buf = vec![0x11u8; 8 * count + 8];
        // SAFETY: buf has 8 * count + 8 bytes.
        let ret = unsafe { f.call((buf.as_mut_ptr(), byte, count as u64)) };
        assert_eq!(ret, buf.as_mut_ptr());
        assert!(
            buf[..8 * count].iter().all(|&b| b == byte as u8),
            "count {count}"
        );
        assert!(
            buf[8 * count..].iter().all(|&b| b == 0x11),
            "wrote past the end"
        );
    }
}

extern "C" fn triple(x: u64) -> u64 {
    x * 3
}

#[test]
fn a_call_through_a_register_reaches_rust() {
    let program = examples::call_through();
    assert_eq!(
        call(&program, &[triple as *const () as usize as u64, 14]),
        42
    );
}

#[test]
fn a_text_function_using_r8_to_r15_runs() {
    // The sum of six arguments, moved through r10-r15 (r12-r15 saved and restored), with lea and
    // a shift on the way: (a + b + c + d + e + f) * 4 / 4.
    let text = "push r12; push r13; push r14; push r15
        mov r10, rdi; mov r11, rsi; mov r12, rdx; mov r13, rcx; mov r14, r8; mov r15, r9
        lea rax, [r10 + r11*1]; add rax, r12; add rax, r13; add rax, r14; add rax, r15
        shl rax, 2; shr rax, 2
        pop r15; pop r14; pop r13; pop r12; ret";
    let program = assemble(text).unwrap().program;
    assert_eq!(call(&program, &[1, 2, 3, 4, 5, 6]), 21);
    assert!(preserves_callee_saved(&program, &[1, 2, 3, 4, 5, 6]));
}

#[test]
fn the_callee_saved_check_catches_a_clobber() {
    let clobbers = assemble("mov rbx, rdi; mov rax, rdi; ret").unwrap().program;
    assert!(!preserves_callee_saved(&clobbers, &[1]));
}

/// Calls `f` from emitted code that puts known values in rbx, rbp and r12-r15 first and checks
/// them after; true when `f` gave them all back.
fn preserves_callee_saved(f: &Program, args: &[u64]) -> bool {
    let callee_saved = [Reg::Rbx, Reg::Rbp, Reg::R12, Reg::R13, Reg::R14, Reg::R15];
    let value = |i: usize| 0x1111_1111_1111_1111i64.wrapping_mul(i as i64 + 1);
    let mut a = Assembler::new();
    // wrapper(f, flag, a0..a3): saves the six, aligns the stack, keeps `flag` at [rsp].
    for r in callee_saved {
        a.push(r);
    }
    a.sub(Reg::Rsp, 8).store(Mem::base(Reg::Rsp), Reg::Rsi);
    a.mov(Reg::Rax, Reg::Rdi);
    for (to, from) in Reg::ARGS.iter().zip(&Reg::ARGS[2..]) {
        a.mov(*to, *from);
    }
    for (i, r) in callee_saved.into_iter().enumerate() {
        a.mov_imm64(r, value(i));
    }
    a.call(Reg::Rax).load(Reg::R11, Mem::base(Reg::Rsp));
    let bad = a.label();
    for (i, r) in callee_saved.into_iter().enumerate() {
        a.mov_imm64(Reg::R10, value(i)).cmp(r, Reg::R10);
        a.jcc(Cond::Ne, bad).unwrap();
    }
    a.mov_imm(Reg::R10, 1).store(Mem::base(Reg::R11), Reg::R10);
    a.bind(bad).unwrap().add(Reg::Rsp, 8);
    for r in callee_saved.into_iter().rev() {
        a.pop(r);
    }
    a.ret();
    let wrapper = a.finish().unwrap();
    let (wrapper, f) = (wrapper.seal().unwrap(), f.seal().unwrap());
    let mut flag = 0u64;
    let mut regs = [0u64; 6];
    regs[0] = f.address() as u64;
    regs[1] = &raw mut flag as u64;
    regs[2..2 + args.len().min(4)].copy_from_slice(&args[..args.len().min(4)]);
    // SAFETY: the wrapper calls `f` with integer arguments and writes only `flag`.
    let function = unsafe { wrapper.int_function(0) }.unwrap();
    function.call(&regs).unwrap();
    flag == 1
}

#[test]
fn the_measured_mix_is_the_same_bytes_from_both_encoders() {
    use polylink_routines::measure::{MIX_PER_ROUND, emit_mix, iced_mix};
    let ours = emit_mix(32).unwrap().into_bytes();
    let iced = iced_mix(32).unwrap();
    assert_eq!(hex(&ours), hex(&iced));
    let decoded = Decoder::with_ip(64, &ours, 0, DecoderOptions::NONE)
        .into_iter()
        .filter(|i| !i.is_invalid())
        .count();
    assert_eq!(decoded, 32 * MIX_PER_ROUND);
}
