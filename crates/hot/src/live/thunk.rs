//! The thunk a live patch is entered through: it keeps every register a callee may clobber
//! (the general ones, and all vector state through XSAVE: xmm0–xmm15 with their upper halves,
//! and whatever else the OS has enabled), except the function's return registers.
//!
//! gcc -O2's `-fipa-ra` lets a caller keep values in caller-saved registers across a call to a
//! locally bound function it knows leaves them alone; a replacement that calls printf would
//! clobber them. Through the thunk, the replacement may.
//!
//! Stack arguments (past the sixth integer one) are copied: eight 8-byte slots above the return
//! address, which the caller's frame always holds.

use iced_x86::code_asm::*;

/// Where the function returns its value, which the thunk hands back instead of restoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Returns {
    /// A 64-bit integer or pointer, in rax.
    Int,
    /// Two, in rax and rdx (a 16-byte struct of integers).
    IntPair,
    /// A float or double, in xmm0.
    Float,
    /// Two, in xmm0 and xmm1.
    FloatPair,
    /// One of each, in rax and xmm0 (a 16-byte struct of an integer and a double).
    #[serde(rename = "int-float")]
    IntAndFloat,
    /// `long double`, on the x87 stack: the thunk leaves the x87 state as the patch left it
    /// (no caller keeps anything there across a call).
    X87,
    Void,
}

impl std::str::FromStr for Returns {
    type Err = String;

    fn from_str(s: &str) -> Result<Returns, String> {
        Ok(match s {
            "int" => Returns::Int,
            "int-pair" => Returns::IntPair,
            "float" => Returns::Float,
            "float-pair" => Returns::FloatPair,
            "int-float" => Returns::IntAndFloat,
            "x87" => Returns::X87,
            "void" => Returns::Void,
            other => {
                return Err(format!(
                    "{other:?} is no return kind: int, int-pair, float, float-pair, int-float, \
                     x87 or void"
                ));
            }
        })
    }
}

impl std::fmt::Display for Returns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Returns::Int => "int",
            Returns::IntPair => "int-pair",
            Returns::Float => "float",
            Returns::FloatPair => "float-pair",
            Returns::IntAndFloat => "int-float",
            Returns::X87 => "x87",
            Returns::Void => "void",
        })
    }
}

/// Stack-argument slots copied for the replacement.
const STACK_ARGS: i32 = 8;

/// The general registers kept, in push order, with their slots below rbp.
const KEPT: [AsmRegister64; 9] = [rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11];

/// The bytes of a thunk at `at` that calls `patch`, with an XSAVE area of `xsave` bytes.
pub fn assemble(at: u64, patch: u64, returns: Returns, xsave: u32) -> Result<Vec<u8>, IcedError> {
    let slot = |register: AsmRegister64| {
        let index = KEPT.iter().position(|r| *r == register).unwrap_or(0) as i32;
        rbp - 8 * (index + 1)
    };
    let mut a = CodeAssembler::new(64)?;
    a.push(rbp)?;
    a.mov(rbp, rsp)?;
    for register in KEPT {
        a.push(register)?;
    }
    a.sub(rsp, xsave as i32)?;
    a.and(rsp, -64)?;
    // XRSTOR faults unless the area's header (64 bytes at 512) is zero where XSAVE does not
    // write it; the stack holds whatever it held.
    for i in 0..8 {
        a.mov(qword_ptr(rsp + 512 + 8 * i), 0)?;
    }
    // XSAVE's mask is edx:eax: everything the OS has enabled.
    a.mov(eax, -1)?;
    a.mov(edx, -1)?;
    a.xsave64(ptr(rsp))?;
    a.sub(rsp, 8 * STACK_ARGS)?;
    for i in 0..STACK_ARGS {
        a.mov(r11, qword_ptr(rbp + 16 + 8 * i))?;
        a.mov(qword_ptr(rsp + 8 * i), r11)?;
    }
    // The arguments as the caller left them (al counts a variadic call's vector registers).
    a.mov(rax, qword_ptr(slot(rax)))?;
    a.mov(rdx, qword_ptr(slot(rdx)))?;
    a.mov(r11, qword_ptr(slot(r11)))?;
    a.call(patch)?;
    a.add(rsp, 8 * STACK_ARGS)?;
    // The return registers go where the restore takes them from.
    if matches!(
        returns,
        Returns::Int | Returns::IntPair | Returns::IntAndFloat
    ) {
        a.mov(qword_ptr(slot(rax)), rax)?;
    }
    if returns == Returns::IntPair {
        a.mov(qword_ptr(slot(rdx)), rdx)?;
    }
    if matches!(
        returns,
        Returns::Float | Returns::FloatPair | Returns::IntAndFloat
    ) {
        // XMM0 and XMM1 sit at 160 and 176 in XSAVE's legacy area; bit 1 of XSTATE_BV (at
        // 512) says that area holds the SSE state, so XRSTOR loads it rather than zeros.
        a.movdqu(xmmword_ptr(rsp + 160), xmm0)?;
        if returns == Returns::FloatPair {
            a.movdqu(xmmword_ptr(rsp + 176), xmm1)?;
        }
        a.or(byte_ptr(rsp + 512), 2)?;
    }
    // Everything back, but for x87 results the x87 state (bit 0 of the mask).
    a.mov(eax, if returns == Returns::X87 { -2 } else { -1 })?;
    a.mov(edx, -1)?;
    a.xrstor64(ptr(rsp))?;
    a.lea(rsp, ptr(rbp - 8 * KEPT.len() as i32))?;
    for register in KEPT.iter().rev() {
        a.pop(*register)?;
    }
    a.pop(rbp)?;
    a.ret()?;
    a.assemble(at)
}

/// The thunk's length, which does not depend on where it goes (its one call is rel32).
pub fn len(returns: Returns, xsave: u32) -> Result<usize, IcedError> {
    Ok(assemble(0x1000_0000, 0x1000_1000, returns, xsave)?.len())
}
