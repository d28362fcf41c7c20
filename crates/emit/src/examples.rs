//! Functions written with the emitter: the two smallest (return 0, add two arguments) and a few
//! real ones with loops, callee-saved registers and r8–r15, which the tests run.

use crate::Reg::*;
use crate::Result;
use crate::{Assembler, Cond, Index, Mem, Program, Scale};

/// `u64 f(void)`: returns 0.
pub fn return_zero() -> Program {
    let mut a = Assembler::new();
    a.xor(Rax, Rax).ret();
    finished(a)
}

/// `u64 f(u64 a, u64 b)`: returns `a + b`, wrapping. The same 7 bytes as `asm/routines/add.asm`.
pub fn add_two() -> Program {
    let mut a = Assembler::new();
    a.mov(Rax, Rdi).add(Rax, Rsi).ret();
    finished(a)
}

/// A program without jumps cannot fail to finish.
fn finished(a: Assembler) -> Program {
    a.finish()
        .unwrap_or_else(|e| unreachable!("a program without labels finishes: {e}"))
}

/// `u64 f(u64 n)`: 1 + 2 + … + n, wrapping, with a loop that counts down in r9 and sums in r8.
pub fn sum_to_n() -> Result<Program> {
    let mut a = Assembler::new();
    let done = a.label();
    a.xor(R8, R8).mov(R9, Rdi).test(R9, R9).jcc(Cond::E, done)?;
    let top = a.here();
    a.add(R8, R9).dec(R9).jcc(Cond::Ne, top)?;
    a.bind(done)?.mov(Rax, R8).ret();
    a.finish()
}

/// `u64 f(u64 n)`: the n-th Fibonacci number (fib(0) = 0, fib(1) = 1), wrapping. It keeps its
/// state in rbx, r12 and r13, which it must save and restore for its caller.
pub fn fibonacci() -> Result<Program> {
    let mut a = Assembler::new();
    let done = a.label();
    a.push(Rbx).push(R12).push(R13);
    a.xor(R12, R12).mov_imm(R13, 1).mov(Rbx, Rdi);
    a.test(Rbx, Rbx).jcc(Cond::E, done)?;
    let top = a.here();
    a.lea(Rax, Mem::base(R12).index(Index::R13, Scale::S1))
        .mov(R12, R13)
        .mov(R13, Rax)
        .dec(Rbx)
        .jcc(Cond::Ne, top)?;
    a.bind(done)?.mov(Rax, R12).pop(R13).pop(R12).pop(Rbx).ret();
    a.finish()
}

/// `u8 *f(u8 *dst, u64 byte, u64 count)`: fills `count` 8-byte words at `dst` with `byte` and
/// returns `dst`. The emitter stores 64 bits at a time, so the byte is first copied into all
/// eight bytes of a register by multiplying it by 0x0101010101010101.
pub fn fill_words() -> Result<Program> {
    let mut a = Assembler::new();
    let done = a.label();
    a.mov(Rax, Rdi).test(Rdx, Rdx).jcc(Cond::E, done)?;
    a.and(Rsi, 0xff)
        .mov_imm64(R10, 0x0101_0101_0101_0101)
        .imul(Rsi, R10)
        .xor(Rcx, Rcx);
    let top = a.here();
    a.store(Mem::base(Rdi).index(Index::RCX, Scale::S8), Rsi)
        .inc(Rcx)
        .cmp(Rcx, Rdx)
        .jcc(Cond::B, top)?;
    a.bind(done)?.ret();
    a.finish()
}

/// `u64 f(u64 (*g)(u64), u64 x)`: returns `g(x)`, calling through a register. The push of rbx
/// both keeps the stack 16-byte aligned at the call, as the ABI requires, and saves the
/// register that holds `g` across it.
pub fn call_through() -> Program {
    let mut a = Assembler::new();
    a.push(Rbx)
        .mov(Rbx, Rdi)
        .mov(Rdi, Rsi)
        .call(Rbx)
        .pop(Rbx)
        .ret();
    finished(a)
}
