//! Operands: the 16 registers, index registers (which exclude rsp), scales, memory operands and
//! sources (a register or a sign-extended 32-bit immediate).

use std::fmt;
use std::str::FromStr;

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
    pub(crate) fn low(self) -> u8 {
        self as u8 & 7
    }

    /// The fourth bit, which goes in REX.R, REX.X or REX.B.
    pub(crate) fn high(self) -> u8 {
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
