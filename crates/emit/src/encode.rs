//! The encoders: [`Assembler`] appends NASM's shortest encoding of each instruction to a byte
//! vector. Jumps are recorded apart and laid out by [`crate::layout`].
//!
//! Encoding notes, for a reader new to x86-64: an instruction on 64-bit registers starts with a
//! REX prefix `0100WRXB` (W: 64-bit operand; R, X, B: the fourth bit of the ModRM reg field, of
//! the SIB index and of the ModRM rm or SIB base, which is how r8–r15 are reached), then the
//! opcode, then ModRM `mod:2 reg:3 rm:3` (mod 11: rm is a register; otherwise memory, with rm
//! 100 meaning "a SIB byte follows" and mod 00 with rm 101 meaning "rip-relative").

use std::sync::atomic::{AtomicU32, Ordering};

use crate::inst::{AluOp, Inst, ShiftOp, UnaryOp};
use crate::layout::{Bound, Jump, Program};
use crate::operand::{Mem, Reg, Reg::*, Src};
use crate::{Error, Result};

/// Gives each assembler its own number, so that a label from another one is caught.
static NEXT_ASSEMBLER: AtomicU32 = AtomicU32::new(0);

/// Builds machine code one instruction at a time. Methods that cannot fail return `&mut Self`
/// for chaining: `a.mov(Rax, Rdi).add(Rax, Rsi).ret();`.
#[derive(Debug)]
pub struct Assembler {
    pub(crate) id: u32,
    pub(crate) code: Vec<u8>,
    pub(crate) labels: Vec<Option<Bound>>,
    pub(crate) jumps: Vec<Jump>,
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

pub(crate) fn fits_i8(v: i64) -> bool {
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
}
