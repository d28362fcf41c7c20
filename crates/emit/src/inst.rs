//! Instructions as data: the operation families that share an encoding, condition codes, and
//! [`Inst`], one value per emitter method, for the text front end and for tests that enumerate
//! every form.

use std::fmt;

use crate::operand::{Mem, Reg, Src};

/// The arithmetic instructions that share one encoding scheme: `op r/m64, r64` is opcode
/// `8*n + 1`, `op rax, imm32` is `8*n + 5`, and the immediate forms are `81 /n` and `83 /n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AluOp {
    Add = 0,
    Or = 1,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

impl AluOp {
    pub const ALL: [AluOp; 6] = [
        AluOp::Add,
        AluOp::Or,
        AluOp::And,
        AluOp::Sub,
        AluOp::Xor,
        AluOp::Cmp,
    ];

    pub fn mnemonic(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Sub => "sub",
            AluOp::Xor => "xor",
            AluOp::Cmp => "cmp",
        }
    }
}

/// One-operand instructions on a register: `inc`/`dec` are `FF /0` and `/1`, `not`/`neg` are
/// `F7 /2` and `/3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Inc,
    Dec,
    Not,
    Neg,
}

impl UnaryOp {
    pub const ALL: [UnaryOp; 4] = [UnaryOp::Inc, UnaryOp::Dec, UnaryOp::Not, UnaryOp::Neg];

    pub fn mnemonic(self) -> &'static str {
        match self {
            UnaryOp::Inc => "inc",
            UnaryOp::Dec => "dec",
            UnaryOp::Not => "not",
            UnaryOp::Neg => "neg",
        }
    }

    /// (opcode, ModRM reg field)
    pub(crate) fn encoding(self) -> (u8, u8) {
        match self {
            UnaryOp::Inc => (0xff, 0),
            UnaryOp::Dec => (0xff, 1),
            UnaryOp::Not => (0xf7, 2),
            UnaryOp::Neg => (0xf7, 3),
        }
    }
}

/// Shifts by an immediate: `C1 /n ib`, or `D1 /n` for a count of 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ShiftOp {
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

impl ShiftOp {
    pub const ALL: [ShiftOp; 3] = [ShiftOp::Shl, ShiftOp::Shr, ShiftOp::Sar];

    pub fn mnemonic(self) -> &'static str {
        match self {
            ShiftOp::Shl => "shl",
            ShiftOp::Shr => "shr",
            ShiftOp::Sar => "sar",
        }
    }
}

/// The condition of a conditional jump, numbered as the encoding numbers it (`jcc rel8` is
/// `70+cc`, `jcc rel32` is `0F 80+cc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cond {
    O = 0,
    No,
    B,
    Ae,
    E,
    Ne,
    Be,
    A,
    S,
    Ns,
    P,
    Np,
    L,
    Ge,
    Le,
    G,
}

impl Cond {
    pub const ALL: [Cond; 16] = [
        Cond::O,
        Cond::No,
        Cond::B,
        Cond::Ae,
        Cond::E,
        Cond::Ne,
        Cond::Be,
        Cond::A,
        Cond::S,
        Cond::Ns,
        Cond::P,
        Cond::Np,
        Cond::L,
        Cond::Ge,
        Cond::Le,
        Cond::G,
    ];

    /// Every NASM spelling of every condition: `jz` is `je`, `jnae` and `jc` are `jb`, and so on.
    pub const NAMES: [(&'static str, Cond); 30] = [
        ("o", Cond::O),
        ("no", Cond::No),
        ("b", Cond::B),
        ("c", Cond::B),
        ("nae", Cond::B),
        ("ae", Cond::Ae),
        ("nb", Cond::Ae),
        ("nc", Cond::Ae),
        ("e", Cond::E),
        ("z", Cond::E),
        ("ne", Cond::Ne),
        ("nz", Cond::Ne),
        ("be", Cond::Be),
        ("na", Cond::Be),
        ("a", Cond::A),
        ("nbe", Cond::A),
        ("s", Cond::S),
        ("ns", Cond::Ns),
        ("p", Cond::P),
        ("pe", Cond::P),
        ("np", Cond::Np),
        ("po", Cond::Np),
        ("l", Cond::L),
        ("nge", Cond::L),
        ("ge", Cond::Ge),
        ("nl", Cond::Ge),
        ("le", Cond::Le),
        ("ng", Cond::Le),
        ("g", Cond::G),
        ("nle", Cond::G),
    ];

    /// The condition of a `j<suffix>` mnemonic, such as `z` for `jz`.
    pub fn from_suffix(suffix: &str) -> Option<Cond> {
        Cond::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(suffix))
            .map(|&(_, cond)| cond)
    }

    /// The first NASM spelling, such as `e` for [`Cond::E`].
    pub fn suffix(self) -> &'static str {
        Cond::NAMES
            .iter()
            .find(|&&(_, c)| c == self)
            .map(|&(name, _)| name)
            .unwrap_or("?")
    }
}

/// One instruction without a label operand: the emitter's methods as data, for the text front
/// end and for tests that enumerate every form. `Display` writes it in NASM syntax, with
/// `strict` where the encoding is not NASM's shortest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Inst {
    /// `mov r64, r64`
    Mov(Reg, Reg),
    /// `mov r64, imm` in its shortest encoding.
    MovImm(Reg, i64),
    /// `mov r64, strict dword imm`: 32 bits sign-extended, always `C7 /0`.
    MovImm32(Reg, i32),
    /// `mov r64, strict qword imm`: all 64 bits, always `B8+r`.
    MovImm64(Reg, i64),
    /// `mov r64, [mem]`
    Load(Reg, Mem),
    /// `mov [mem], r64`
    Store(Mem, Reg),
    Lea(Reg, Mem),
    Alu(AluOp, Reg, Src),
    Test(Reg, Src),
    Unary(UnaryOp, Reg),
    /// `imul r64, r64`
    Imul(Reg, Reg),
    Shift(ShiftOp, Reg, u8),
    Push(Reg),
    Pop(Reg),
    /// `call r64`
    Call(Reg),
    Ret,
    Nop,
}

impl fmt::Display for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inst::Mov(d, s) => write!(f, "mov {d}, {s}"),
            Inst::MovImm(d, v) => write!(f, "mov {d}, {v}"),
            Inst::MovImm32(d, v) => write!(f, "mov {d}, strict dword {v}"),
            Inst::MovImm64(d, v) => write!(f, "mov {d}, strict qword {v}"),
            Inst::Load(d, m) => write!(f, "mov {d}, {m}"),
            Inst::Store(m, s) => write!(f, "mov {m}, {s}"),
            Inst::Lea(d, m) => write!(f, "lea {d}, {m}"),
            Inst::Alu(op, d, s) => write!(f, "{} {d}, {}", op.mnemonic(), SrcText(*s)),
            Inst::Test(d, s) => write!(f, "test {d}, {}", SrcText(*s)),
            Inst::Unary(op, r) => write!(f, "{} {r}", op.mnemonic()),
            Inst::Imul(d, s) => write!(f, "imul {d}, {s}"),
            Inst::Shift(op, r, n) => write!(f, "{} {r}, {n}", op.mnemonic()),
            Inst::Push(r) => write!(f, "push {r}"),
            Inst::Pop(r) => write!(f, "pop {r}"),
            Inst::Call(r) => write!(f, "call {r}"),
            Inst::Ret => f.write_str("ret"),
            Inst::Nop => f.write_str("nop"),
        }
    }
}

/// A source operand as NASM reads it. NASM spells a 4-byte immediate of a 64-bit operation
/// `strict qword` (the operand size), not `strict dword` (the immediate's size).
struct SrcText(Src);

impl fmt::Display for SrcText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Src::Reg(r) => write!(f, "{r}"),
            Src::Imm(v) => write!(f, "{v}"),
            Src::Imm32(v) => write!(f, "strict qword {v}"),
        }
    }
}
