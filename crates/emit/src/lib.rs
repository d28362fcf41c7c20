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

mod encode;
mod error;
pub mod examples;
mod inst;
mod layout;
mod operand;
pub mod text;

pub use encode::Assembler;
pub use error::{Error, Result};
pub use inst::{AluOp, Cond, Inst, ShiftOp, UnaryOp};
pub use layout::{Label, Program};
pub use operand::{Imm32, Index, Mem, Reg, Scale, Src};
