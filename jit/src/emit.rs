//! An x86-64 emitter: machine code built instruction by instruction at run time.
//!
//! An [`Assembler`] appends encoded instructions to a byte buffer; [`Assembler::finish`] lays
//! out the jumps and returns a [`Program`], which seals into executable memory. Every method
//! writes the encoding NASM chooses for the same text (its shortest form), so the bytes can be
//! checked against `nasm -f bin` byte for byte; the tests do that for every form and register.
//!
//! The types rule out what cannot be encoded: registers are an enum, an index register is an
//! [`Index`] (which has no `rsp`), a memory operand is a [`Mem`] that only loads, stores and
//! `lea` accept, and an immediate is an `i32` wherever the instruction sign-extends 32 bits.
//! What a type cannot rule out (a shift count over 63, a label bound twice or never bound) is
//! an [`Error`], never a panic.
//!
//! Encoding notes, for a reader new to x86-64: an instruction on 64-bit registers starts with a
//! REX prefix `0100WRXB` (W: 64-bit operand; R, X, B: the fourth bit of the ModRM reg field, of
//! the SIB index and of the ModRM rm or SIB base, which is how r8–r15 are reached), then the
//! opcode, then ModRM `mod:2 reg:3 rm:3` (mod 11: rm is a register; otherwise memory, with rm
//! 100 meaning "a SIB byte follows" and mod 00 with rm 101 meaning "rip-relative").

pub mod examples;
pub mod text;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::exec::{CodeBuffer, SealedCode};
use crate::{Error, Result};

/// The 16 general-purpose 64-bit registers, numbered as the encoding numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reg {
    Rax = 0,
    Rcx,
    Rdx,
    Rbx,
    Rsp,
    Rbp,
    Rsi,
    Rdi,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
}

use Reg::*;

const REG_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

impl Reg {
    /// All registers in encoding order.
    pub const ALL: [Reg; 16] = [
        Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
    ];

    /// Where the System V AMD64 ABI passes the first six integer arguments, in order.
    pub const ARGS: [Reg; 6] = [Rdi, Rsi, Rdx, Rcx, R8, R9];

    /// The registers a function must give back unchanged (besides rsp).
    pub const CALLEE_SAVED: [Reg; 6] = [Rbx, Rbp, R12, R13, R14, R15];

    /// The register holding argument `n` (0-based), if it is passed in a register.
    pub fn arg(n: usize) -> Option<Reg> {
        Reg::ARGS.get(n).copied()
    }

    /// The register's number, 0–15.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The NASM name, such as `rax` or `r12`.
    pub fn name(self) -> &'static str {
        REG_NAMES[self as usize]
    }

    /// The low three bits, which go in ModRM or SIB.
    fn low(self) -> u8 {
        self as u8 & 7
    }

    /// The fourth bit, which goes in REX.R, REX.X or REX.B.
    fn high(self) -> u8 {
        self as u8 >> 3
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Reg {
    type Err = Error;

    /// Parses a 64-bit register name, in any case.
    fn from_str(name: &str) -> Result<Reg> {
        REG_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Reg::ALL[i])
            .ok_or_else(|| Error::UnknownRegister { name: name.into() })
    }
}

/// A register that can scale an index in a memory operand: any but rsp, whose number in the SIB
/// index field means "no index".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Index(Reg);

/// `Index::RAX` and so on: each index register as a constant, checked when compiled.
macro_rules! index_consts {
    ($($name:ident = $reg:ident),*) => {
        impl Index {
            $(pub const $name: Index = Index($reg);)*
        }
    };
}

index_consts!(
    RAX = Rax,
    RCX = Rcx,
    RDX = Rdx,
    RBX = Rbx,
    RBP = Rbp,
    RSI = Rsi,
    RDI = Rdi,
    R8 = R8,
    R9 = R9,
    R10 = R10,
    R11 = R11,
    R12 = R12,
    R13 = R13,
    R14 = R14,
    R15 = R15
);

impl Index {
    /// `reg` as an index, or `None` for rsp.
    pub const fn new(reg: Reg) -> Option<Index> {
        match reg {
            Rsp => None,
            reg => Some(Index(reg)),
        }
    }

    pub fn reg(self) -> Reg {
        self.0
    }
}

impl TryFrom<Reg> for Index {
    type Error = Error;

    fn try_from(reg: Reg) -> Result<Index> {
        Index::new(reg).ok_or(Error::RspIndex)
    }
}

/// How much a memory operand's index is multiplied by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scale {
    S1 = 0,
    S2 = 1,
    S4 = 2,
    S8 = 3,
}

impl Scale {
    pub const ALL: [Scale; 4] = [Scale::S1, Scale::S2, Scale::S4, Scale::S8];

    pub fn factor(self) -> u8 {
        1 << self as u8
    }

    /// The scale for a factor of 1, 2, 4 or 8.
    pub fn from_factor(factor: i64) -> Option<Scale> {
        Scale::ALL
            .into_iter()
            .find(|s| i64::from(s.factor()) == factor)
    }
}

/// A memory operand `[base + index*scale + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    pub base: Reg,
    pub index: Option<(Index, Scale)>,
    pub disp: i32,
}

impl Mem {
    /// `[base]`.
    pub fn base(base: Reg) -> Mem {
        Mem {
            base,
            index: None,
            disp: 0,
        }
    }

    /// `[base + disp]`.
    pub fn at(base: Reg, disp: i32) -> Mem {
        Mem::base(base).disp(disp)
    }

    pub fn disp(self, disp: i32) -> Mem {
        Mem { disp, ..self }
    }

    pub fn index(self, index: Index, scale: Scale) -> Mem {
        Mem {
            index: Some((index, scale)),
            ..self
        }
    }
}

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.base)?;
        if let Some((index, scale)) = self.index {
            write!(f, " + {}*{}", index.reg(), scale.factor())?;
        }
        match self.disp {
            0 => {}
            d if d < 0 => write!(f, " - {}", -i64::from(d))?,
            d => write!(f, " + {d}")?,
        }
        f.write_str("]")
    }
}

/// A source operand of the two-operand arithmetic instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    Reg(Reg),
    /// An immediate, sign-extended to 64 bits, in the shortest encoding (1 byte when it fits).
    Imm(i32),
    /// An immediate always encoded in 4 bytes (NASM's `strict qword`).
    Imm32(i32),
}

impl From<Reg> for Src {
    fn from(reg: Reg) -> Src {
        Src::Reg(reg)
    }
}

impl From<i32> for Src {
    fn from(imm: i32) -> Src {
        Src::Imm(imm)
    }
}

/// An immediate encoded in 4 bytes even when 1 would do: `a.add(Rax, Imm32(1))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Imm32(pub i32);

impl From<Imm32> for Src {
    fn from(imm: Imm32) -> Src {
        Src::Imm32(imm.0)
    }
}

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
    fn encoding(self) -> (u8, u8) {
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

/// A position in the code that jumps can target before or after it is bound. It belongs to the
/// assembler that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    owner: u32,
    index: u32,
}

impl Label {
    /// The label's number in its assembler, in the order they were made (for messages).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Gives each assembler its own number, so that a label from another one is caught.
static NEXT_ASSEMBLER: AtomicU32 = AtomicU32::new(0);

/// Where a label was bound: a position in `code` (which holds no jump bytes) and how many jumps
/// come before it.
#[derive(Clone, Copy, Debug)]
struct Bound {
    at: usize,
    jumps_before: usize,
}

/// A jump whose size is chosen at [`Assembler::finish`]: it sits between `code[..at]` and
/// `code[at..]`.
#[derive(Clone, Copy, Debug)]
struct Jump {
    at: usize,
    label: u32,
    cond: Option<Cond>,
}

impl Jump {
    fn size(&self, long: bool) -> usize {
        match (long, self.cond) {
            (false, _) => 2,
            (true, None) => 5,
            (true, Some(_)) => 6,
        }
    }
}

/// Builds machine code one instruction at a time. Methods that cannot fail return `&mut Self`
/// for chaining: `a.mov(Rax, Rdi).add(Rax, Rsi).ret();`.
#[derive(Debug)]
pub struct Assembler {
    id: u32,
    code: Vec<u8>,
    labels: Vec<Option<Bound>>,
    jumps: Vec<Jump>,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler::new()
    }
}

/// The REX prefix with W set: `0100 1RXB`.
fn rex_w(r: Reg, b: Reg) -> u8 {
    0x48 | r.high() << 2 | b.high()
}

fn modrm(md: u8, reg: u8, rm: u8) -> u8 {
    md << 6 | (reg & 7) << 3 | (rm & 7)
}

fn fits_i8(v: i64) -> bool {
    i8::try_from(v).is_ok()
}

/// `a.add(dst, src)` and its five siblings, each [`Assembler::alu`] with its [`AluOp`].
macro_rules! alu_methods {
    ($($name:ident = $op:ident),*) => {
        impl Assembler {
            $(
                #[doc = concat!("`", stringify!($name), " dst, src`")]
                pub fn $name(&mut self, dst: Reg, src: impl Into<Src>) -> &mut Self {
                    self.alu(AluOp::$op, dst, src)
                }
            )*
        }
    };
}

alu_methods!(
    add = Add,
    or = Or,
    and = And,
    sub = Sub,
    xor = Xor,
    cmp = Cmp
);

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::with_capacity(64)
    }

    /// An assembler with room for `bytes` bytes before it grows.
    pub fn with_capacity(bytes: usize) -> Assembler {
        Assembler {
            id: NEXT_ASSEMBLER.fetch_add(1, Ordering::Relaxed),
            code: Vec::with_capacity(bytes),
            labels: Vec::new(),
            jumps: Vec::new(),
        }
    }

    /// How many bytes are emitted so far, with every jump counted at its short size of 2.
    pub fn len(&self) -> usize {
        self.code.len() + 2 * self.jumps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code.is_empty() && self.jumps.is_empty()
    }

    /// Appends bytes as they are (NASM's `db`).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.code.extend_from_slice(bytes);
        self
    }

    /// Appends a finished program's bytes. Its jumps are already resolved and relative, so they
    /// stay right wherever it lands.
    pub fn append(&mut self, program: &Program) -> &mut Self {
        self.raw(program.code())
    }

    /// Emits one instruction given as data.
    pub fn inst(&mut self, inst: &Inst) -> Result<&mut Self> {
        Ok(match *inst {
            Inst::Mov(d, s) => self.mov(d, s),
            Inst::MovImm(d, v) => self.mov_imm(d, v),
            Inst::MovImm32(d, v) => self.mov_imm32(d, v),
            Inst::MovImm64(d, v) => self.mov_imm64(d, v),
            Inst::Load(d, m) => self.load(d, m),
            Inst::Store(m, s) => self.store(m, s),
            Inst::Lea(d, m) => self.lea(d, m),
            Inst::Alu(op, d, s) => self.alu(op, d, s),
            Inst::Test(d, s) => self.test(d, s),
            Inst::Unary(op, r) => self.unary(op, r),
            Inst::Imul(d, s) => self.imul(d, s),
            Inst::Shift(op, r, n) => self.shift(op, r, n)?,
            Inst::Push(r) => self.push(r),
            Inst::Pop(r) => self.pop(r),
            Inst::Call(r) => self.call(r),
            Inst::Ret => self.ret(),
            Inst::Nop => self.nop(),
        })
    }

    /// `op r/m64, r64` with a register destination: REX.W, opcode, ModRM(11, src, dst).
    fn rr(&mut self, opcode: u8, dst: Reg, src: Reg) -> &mut Self {
        self.raw(&[rex_w(src, dst), opcode, modrm(3, src.low(), dst.low())])
    }

    /// REX.W, opcode, ModRM(11, digit, reg): an opcode extension in the reg field.
    fn digit(&mut self, opcode: u8, digit: u8, reg: Reg) -> &mut Self {
        self.raw(&[0x48 | reg.high(), opcode, modrm(3, digit, reg.low())])
    }

    /// REX.W, opcode, then ModRM/SIB/displacement for `reg` and `mem`.
    fn rm(&mut self, opcode: u8, reg: Reg, mem: Mem) -> &mut Self {
        let mut buf = [0u8; 8];
        let (index, scale) = match mem.index {
            Some((index, scale)) => (Some(index.reg()), scale as u8),
            None => (None, 0),
        };
        let x = index.map_or(0, Reg::high);
        buf[0] = 0x48 | reg.high() << 2 | x << 1 | mem.base.high();
        buf[1] = opcode;
        // rbp and r13 as a base with mod 00 would mean rip-relative or "no base": they always
        // carry a displacement, of 0 if need be.
        let md = if mem.disp == 0 && mem.base.low() != 5 {
            0
        } else if fits_i8(mem.disp.into()) {
            1
        } else {
            2
        };
        let mut len = 3;
        // rsp and r12 as a base share rm 100, "a SIB byte follows": they always take a SIB byte.
        if index.is_some() || mem.base.low() == 4 {
            buf[2] = modrm(md, reg.low(), 4);
            let index_bits = index.map_or(4, Reg::low);
            buf[3] = scale << 6 | index_bits << 3 | mem.base.low();
            len = 4;
        } else {
            buf[2] = modrm(md, reg.low(), mem.base.low());
        }
        match md {
            1 => {
                buf[len] = mem.disp as u8;
                len += 1;
            }
            2 => {
                buf[len..len + 4].copy_from_slice(&mem.disp.to_le_bytes());
                len += 4;
            }
            _ => {}
        }
        self.raw(&buf[..len])
    }

    /// `mov dst, src`
    pub fn mov(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.rr(0x89, dst, src)
    }

    /// `mov dst, imm` in the shortest encoding of the 64-bit value, as NASM chooses: `mov r32,
    /// imm32` (which zero-extends) for 0 to 2^32-1, the sign-extended `mov r64, imm32` for the
    /// other values that fit in 32 bits, and `mov r64, imm64` for the rest.
    pub fn mov_imm(&mut self, dst: Reg, imm: i64) -> &mut Self {
        if let Ok(v) = u32::try_from(imm) {
            let op = 0xb8 + dst.low();
            let [a, b, c, d] = v.to_le_bytes();
            if dst.high() == 1 {
                self.raw(&[0x41, op, a, b, c, d])
            } else {
                self.raw(&[op, a, b, c, d])
            }
        } else if let Ok(v) = i32::try_from(imm) {
            self.mov_imm32(dst, v)
        } else {
            self.mov_imm64(dst, imm)
        }
    }

    /// `mov dst, imm32`, sign-extended to 64 bits: `REX.W C7 /0 id`, 7 bytes.
    pub fn mov_imm32(&mut self, dst: Reg, imm: i32) -> &mut Self {
        let [a, b, c, d] = imm.to_le_bytes();
        self.raw(&[0x48 | dst.high(), 0xc7, modrm(3, 0, dst.low()), a, b, c, d])
    }

    /// `mov dst, imm64` (movabs): `REX.W B8+r io`, 10 bytes.
    pub fn mov_imm64(&mut self, dst: Reg, imm: i64) -> &mut Self {
        let mut buf = [0u8; 10];
        buf[0] = 0x48 | dst.high();
        buf[1] = 0xb8 + dst.low();
        buf[2..].copy_from_slice(&imm.to_le_bytes());
        self.raw(&buf)
    }

    /// `mov dst, [mem]`: a 64-bit load.
    pub fn load(&mut self, dst: Reg, mem: Mem) -> &mut Self {
        self.rm(0x8b, dst, mem)
    }

    /// `mov [mem], src`: a 64-bit store.
    pub fn store(&mut self, mem: Mem, src: Reg) -> &mut Self {
        self.rm(0x89, src, mem)
    }

    /// `lea dst, [mem]`: the address, computed without touching memory.
    pub fn lea(&mut self, dst: Reg, mem: Mem) -> &mut Self {
        self.rm(0x8d, dst, mem)
    }

    /// `op dst, src` for add, or, and, sub, xor and cmp.
    pub fn alu(&mut self, op: AluOp, dst: Reg, src: impl Into<Src>) -> &mut Self {
        let n = op as u8;
        match src.into() {
            Src::Reg(src) => self.rr(8 * n + 1, dst, src),
            Src::Imm(v) if fits_i8(v.into()) => {
                self.raw(&[0x48 | dst.high(), 0x83, modrm(3, n, dst.low()), v as u8])
            }
            Src::Imm(v) | Src::Imm32(v) => self.imm32_form(8 * n + 5, (0x81, n), dst, v),
        }
    }

    /// `op r64, imm32`: the one-byte-shorter form without ModRM when `dst` is rax, as NASM picks,
    /// else `opcode /digit id`.
    fn imm32_form(
        &mut self,
        rax_opcode: u8,
        (opcode, digit): (u8, u8),
        dst: Reg,
        v: i32,
    ) -> &mut Self {
        let [a, b, c, d] = v.to_le_bytes();
        if dst == Rax {
            self.raw(&[0x48, rax_opcode, a, b, c, d])
        } else {
            self.raw(&[
                0x48 | dst.high(),
                opcode,
                modrm(3, digit, dst.low()),
                a,
                b,
                c,
                d,
            ])
        }
    }

    /// `test dst, src`: the flags of `dst & src`. It has no 1-byte immediate form.
    pub fn test(&mut self, dst: Reg, src: impl Into<Src>) -> &mut Self {
        match src.into() {
            Src::Reg(src) => self.rr(0x85, dst, src),
            Src::Imm(v) | Src::Imm32(v) => self.imm32_form(0xa9, (0xf7, 0), dst, v),
        }
    }

    pub fn unary(&mut self, op: UnaryOp, reg: Reg) -> &mut Self {
        let (opcode, digit) = op.encoding();
        self.digit(opcode, digit, reg)
    }

    pub fn inc(&mut self, reg: Reg) -> &mut Self {
        self.unary(UnaryOp::Inc, reg)
    }

    pub fn dec(&mut self, reg: Reg) -> &mut Self {
        self.unary(UnaryOp::Dec, reg)
    }

    pub fn not(&mut self, reg: Reg) -> &mut Self {
        self.unary(UnaryOp::Not, reg)
    }

    pub fn neg(&mut self, reg: Reg) -> &mut Self {
        self.unary(UnaryOp::Neg, reg)
    }

    /// `imul dst, src`: the low 64 bits of the signed (and so also the unsigned) product.
    pub fn imul(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.raw(&[rex_w(dst, src), 0x0f, 0xaf, modrm(3, dst.low(), src.low())])
    }

    /// Shifts `reg` by `count`, 0 to 63; a larger count is refused rather than masked, as the CPU
    /// would silently do.
    pub fn shift(&mut self, op: ShiftOp, reg: Reg, count: u8) -> Result<&mut Self> {
        if count > 63 {
            return Err(Error::ShiftCount { count });
        }
        let n = op as u8;
        Ok(if count == 1 {
            self.digit(0xd1, n, reg)
        } else {
            self.raw(&[0x48 | reg.high(), 0xc1, modrm(3, n, reg.low()), count])
        })
    }

    pub fn shl(&mut self, reg: Reg, count: u8) -> Result<&mut Self> {
        self.shift(ShiftOp::Shl, reg, count)
    }

    pub fn shr(&mut self, reg: Reg, count: u8) -> Result<&mut Self> {
        self.shift(ShiftOp::Shr, reg, count)
    }

    pub fn sar(&mut self, reg: Reg, count: u8) -> Result<&mut Self> {
        self.shift(ShiftOp::Sar, reg, count)
    }

    /// An opcode with the register in its low 3 bits, and REX.B (no W) for r8–r15.
    fn plus_reg(&mut self, opcode: u8, reg: Reg) -> &mut Self {
        if reg.high() == 1 {
            self.raw(&[0x41, opcode + reg.low()])
        } else {
            self.raw(&[opcode + reg.low()])
        }
    }

    pub fn push(&mut self, reg: Reg) -> &mut Self {
        self.plus_reg(0x50, reg)
    }

    pub fn pop(&mut self, reg: Reg) -> &mut Self {
        self.plus_reg(0x58, reg)
    }

    /// `call reg`: `FF /2`; 64-bit already, so REX only for r8–r15.
    pub fn call(&mut self, reg: Reg) -> &mut Self {
        if reg.high() == 1 {
            self.raw(&[0x41, 0xff, modrm(3, 2, reg.low())])
        } else {
            self.raw(&[0xff, modrm(3, 2, reg.low())])
        }
    }

    pub fn ret(&mut self) -> &mut Self {
        self.raw(&[0xc3])
    }

    pub fn nop(&mut self) -> &mut Self {
        self.raw(&[0x90])
    }

    /// A new label, not yet bound to a position.
    pub fn label(&mut self) -> Label {
        let index = self.labels.len() as u32;
        self.labels.push(None);
        Label {
            owner: self.id,
            index,
        }
    }

    /// Checks that `label` is one of ours and returns its number.
    fn own(&self, label: Label) -> Result<usize> {
        if label.owner != self.id {
            return Err(Error::ForeignLabel {
                label: label.index(),
            });
        }
        Ok(label.index())
    }

    /// Binds `label` to the current position: jumps to it land on the next instruction.
    pub fn bind(&mut self, label: Label) -> Result<&mut Self> {
        let i = self.own(label)?;
        if self.labels[i].is_some() {
            return Err(Error::LabelBoundTwice { label: i });
        }
        self.labels[i] = Some(self.position());
        Ok(self)
    }

    /// The current position, as a label bound here records it.
    fn position(&self) -> Bound {
        Bound {
            at: self.code.len(),
            jumps_before: self.jumps.len(),
        }
    }

    /// A new label bound here, for the top of a loop.
    pub fn here(&mut self) -> Label {
        let label = self.label();
        self.labels[label.index()] = Some(self.position());
        label
    }

    fn jump(&mut self, cond: Option<Cond>, label: Label) -> Result<&mut Self> {
        self.own(label)?;
        self.jumps.push(Jump {
            at: self.code.len(),
            label: label.index,
            cond,
        });
        Ok(self)
    }

    /// `jmp label`, rel8 when the label is near enough and rel32 otherwise.
    pub fn jmp(&mut self, label: Label) -> Result<&mut Self> {
        self.jump(None, label)
    }

    /// `j<cond> label`, rel8 when the label is near enough and rel32 otherwise.
    pub fn jcc(&mut self, cond: Cond, label: Label) -> Result<&mut Self> {
        self.jump(Some(cond), label)
    }

    /// Lays out the jumps and returns the finished code. Every jump starts short and is
    /// lengthened while its displacement does not fit in a byte; lengthening only moves code
    /// apart, so this ends, with the shortest layout NASM also finds.
    pub fn finish(self) -> Result<Program> {
        if self.jumps.is_empty() {
            return Ok(Program { code: self.code });
        }
        let targets = self
            .jumps
            .iter()
            .map(|j| {
                self.labels[j.label as usize].ok_or(Error::UnboundLabel {
                    label: j.label as usize,
                })
            })
            .collect::<Result<Vec<Bound>>>()?;
        let mut long = vec![false; self.jumps.len()];
        // before[i]: the bytes of the jumps before jump i, in the current layout.
        let mut before = vec![0usize; self.jumps.len() + 1];
        loop {
            for (i, jump) in self.jumps.iter().enumerate() {
                before[i + 1] = before[i] + jump.size(long[i]);
            }
            let mut changed = false;
            for (i, jump) in self.jumps.iter().enumerate() {
                if !long[i] && !fits_i8(displacement(jump, i, long[i], &targets[i], &before)) {
                    long[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut code = Vec::with_capacity(self.code.len() + before[self.jumps.len()]);
        let mut done = 0;
        for (i, jump) in self.jumps.iter().enumerate() {
            code.extend_from_slice(&self.code[done..jump.at]);
            done = jump.at;
            let disp = displacement(jump, i, long[i], &targets[i], &before);
            match (long[i], jump.cond) {
                (false, None) => code.extend_from_slice(&[0xeb, disp as u8]),
                (false, Some(c)) => code.extend_from_slice(&[0x70 + c as u8, disp as u8]),
                (true, None) => {
                    code.push(0xe9);
                    code.extend_from_slice(&(disp as i32).to_le_bytes());
                }
                (true, Some(c)) => {
                    code.extend_from_slice(&[0x0f, 0x80 + c as u8]);
                    code.extend_from_slice(&(disp as i32).to_le_bytes());
                }
            }
        }
        code.extend_from_slice(&self.code[done..]);
        Ok(Program { code })
    }
}

/// The displacement of jump `i`: from the end of the jump to its label, in the layout `before`.
fn displacement(jump: &Jump, i: usize, long: bool, target: &Bound, before: &[usize]) -> i64 {
    let end = jump.at + before[i] + jump.size(long);
    let target = target.at + before[target.jumps_before];
    target as i64 - end as i64
}

/// Finished machine code: every jump resolved, ready to seal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    code: Vec<u8>,
}

impl Program {
    /// The bytes, as `nasm -f bin` would write them.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    pub fn len(&self) -> usize {
        self.code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// Appends another program's bytes to this one.
    pub fn append(&mut self, other: &Program) {
        self.code.extend_from_slice(&other.code);
    }

    /// Copies the code into executable memory, after checking that this CPU has every feature it
    /// uses.
    pub fn seal(&self) -> Result<SealedCode> {
        CodeBuffer::from_code(&self.code)?.seal()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.code
    }
}
