//! The parser of the text front end: one statement's tokens into a [`Statement`], with the
//! operand forms each mnemonic accepts.

use super::lex::{Tok, Token};
use super::{Located, Statement, syntax};
use crate::{AluOp, Cond, Imm32, Index, Inst, Mem, Reg, Scale, ShiftOp, Src, UnaryOp};
use crate::{Error, Result};

/// An operand as written, before the mnemonic says what it may be.
#[derive(Clone, Debug)]
enum Operand<'t> {
    Reg(Reg),
    Imm { value: i128, size: ImmSize },
    Mem(Mem),
    Name(&'t str),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ImmSize {
    /// No size given: the shortest encoding.
    Any,
    /// `dword` or `qword` without `strict`.
    Hint(u8),
    /// `strict dword` or `strict qword`.
    Strict(u8),
}

pub(super) struct Parser<'a, 't> {
    pub(super) tokens: &'a [Token<'t>],
    pub(super) pos: usize,
    pub(super) line: usize,
    /// The column just past the statement, for "expected … at the end".
    pub(super) end_column: usize,
}

impl<'t> Parser<'_, 't> {
    fn column(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end_column, |t| t.1)
    }

    fn error(&self, column: usize, reason: impl Into<String>) -> Error {
        syntax(self.line, column, reason.into())
    }

    fn peek(&self) -> Option<&Tok<'t>> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn next(&mut self) -> Option<Tok<'t>> {
        let tok = self.tokens.get(self.pos).map(|t| t.0.clone());
        self.pos += tok.is_some() as usize;
        tok
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Tok::Punct(punct)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    pub(super) fn statement(mut self, out: &mut Vec<Located>) -> Result<()> {
        let Some(&(Tok::Word(first), column)) = self.tokens.first() else {
            return match self.tokens.first() {
                None => Ok(()),
                Some(&(_, column)) => Err(self.error(column, "expected an instruction or a label")),
            };
        };
        let line = self.line;
        let at = |statement| Located {
            statement,
            line,
            column,
        };
        self.pos = 1;
        if self.eat(':') {
            out.push(at(Statement::Label(first.to_string())));
            let Some(&(Tok::Word(_), _)) = self.tokens.get(self.pos) else {
                return match self.tokens.get(self.pos) {
                    None => Ok(()),
                    Some(_) => Err(self.error(self.column(), "expected an instruction")),
                };
            };
            let rest = Parser {
                tokens: &self.tokens[self.pos..],
                pos: 0,
                line: self.line,
                end_column: self.end_column,
            };
            return rest.statement(out);
        }
        let mnemonic = first.to_ascii_lowercase();
        if mnemonic == "bits" {
            return match self.next() {
                Some(Tok::Number(64)) => self.end(),
                _ => Err(self.error(column, "only `bits 64` is supported")),
            };
        }
        if forms(&mnemonic).is_empty() {
            return Err(self.error(
                column,
                format!("unknown or unsupported instruction `{mnemonic}`"),
            ));
        }
        let mut operands = Vec::new();
        if self.peek().is_some() {
            loop {
                let column = self.column();
                operands.push((self.operand()?, column));
                if !self.eat(',') {
                    break;
                }
            }
        }
        self.end()?;
        let statement = self.instruction(&mnemonic, column, &operands)?;
        out.push(at(statement));
        Ok(())
    }

    fn end(&self) -> Result<()> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some((tok, column)) => Err(self.error(
                *column,
                format!("unexpected {} after the operands", describe(tok)),
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand<'t>> {
        let column = self.column();
        let strict = self.eat_word("strict");
        let size = ["byte", "word", "dword", "qword"]
            .iter()
            .position(|s| self.eat_word(s))
            .map(|i| 1u8 << i);
        if self.eat('[') {
            if strict || size.is_some_and(|s| s != 8) {
                return Err(self.error(column, "memory operands are always `qword`"));
            }
            return self.memory(column).map(Operand::Mem);
        }
        match self.peek() {
            Some(Tok::Number(_) | Tok::Punct('-' | '+')) => {
                let value = self.signed_number()?;
                let size = match (strict, size) {
                    (_, Some(s)) if s < 4 => {
                        return Err(self.error(
                            column,
                            "byte and word immediates are not supported: use dword or qword",
                        ));
                    }
                    (false, None) => ImmSize::Any,
                    (false, Some(s)) => ImmSize::Hint(s),
                    (true, Some(s)) => ImmSize::Strict(s),
                    (true, None) => return Err(self.error(column, "`strict` needs a size")),
                };
                Ok(Operand::Imm { value, size })
            }
            Some(&Tok::Word(word)) if !strict && size.is_none() => {
                self.pos += 1;
                match register(word) {
                    Ok(Some(reg)) => Ok(Operand::Reg(reg)),
                    Ok(None) => Ok(Operand::Name(word)),
                    Err(reason) => Err(self.error(column, reason)),
                }
            }
            Some(tok) => Err(self.error(
                self.column(),
                format!("expected an operand, found {}", describe(tok)),
            )),
            None => Err(self.error(self.column(), "expected an operand")),
        }
    }

    fn signed_number(&mut self) -> Result<i128> {
        let negative = if self.eat('-') {
            true
        } else {
            self.eat('+');
            false
        };
        match self.next() {
            Some(Tok::Number(n)) => Ok(if negative { -n } else { n }),
            _ => Err(self.error(self.column(), "expected a number")),
        }
    }

    /// `[base + index*scale + disp]`, after the `[`.
    fn memory(&mut self, column: usize) -> Result<Mem> {
        // Registers as written: (register, explicit scale, column).
        let mut regs: Vec<(Reg, Option<i128>, usize)> = Vec::new();
        let mut disp: i128 = 0;
        let mut negative = false;
        loop {
            let term_column = self.column();
            match self.next() {
                Some(Tok::Word(word)) => {
                    let reg = match register(word) {
                        Ok(Some(reg)) => reg,
                        Ok(None) => {
                            return Err(self.error(
                                term_column,
                                format!("unknown register `{word}` in a memory operand"),
                            ));
                        }
                        Err(reason) => return Err(self.error(term_column, reason)),
                    };
                    if negative {
                        return Err(self.error(term_column, "a register cannot be subtracted"));
                    }
                    let scale = if self.eat('*') {
                        match self.next() {
                            Some(Tok::Number(n)) => Some(n),
                            _ => {
                                return Err(self.error(self.column(), "expected a scale after `*`"));
                            }
                        }
                    } else {
                        None
                    };
                    regs.push((reg, scale, term_column));
                }
                Some(Tok::Number(n)) => {
                    if self.eat('*') {
                        match self.next() {
                            Some(Tok::Word(word)) => match register(word) {
                                Ok(Some(reg)) if !negative => {
                                    regs.push((reg, Some(n), term_column));
                                }
                                _ => {
                                    return Err(self.error(
                                        term_column,
                                        "expected a register after the scale",
                                    ));
                                }
                            },
                            _ => {
                                return Err(
                                    self.error(term_column, "expected a register after the scale")
                                );
                            }
                        }
                    } else {
                        disp += if negative { -n } else { n };
                    }
                }
                _ => return Err(self.error(term_column, "expected a register or a number")),
            }
            if self.eat(']') {
                break;
            }
            negative = if self.eat('-') {
                true
            } else if self.eat('+') {
                false
            } else {
                return Err(self.error(self.column(), "expected `+`, `-` or `]`"));
            };
        }
        let disp = i32::try_from(disp).map_err(|_| {
            self.error(
                column,
                format!("displacement {disp} does not fit in 32 bits (signed)"),
            )
        })?;
        self.address(regs, disp, column)
    }

    /// Which register is the base and which the index, as NASM decides: a register with an
    /// explicit scale is the index; of two without, the first is the base, unless the second is
    /// rsp, which can only be a base; `[r*2]` alone is `[r + r*1]`.
    fn address(
        &self,
        regs: Vec<(Reg, Option<i128>, usize)>,
        disp: i32,
        column: usize,
    ) -> Result<Mem> {
        let index = |reg: Reg, factor: i128, at: usize| -> Result<(Index, Scale)> {
            let scale = i64::try_from(factor)
                .ok()
                .and_then(Scale::from_factor)
                .ok_or_else(|| self.error(at, format!("scale {factor} is not 1, 2, 4 or 8")))?;
            let index =
                Index::new(reg).ok_or_else(|| self.error(at, Error::RspIndex.to_string()))?;
            Ok((index, scale))
        };
        let (base, index) = match regs.as_slice() {
            [] => return Err(self.error(column, "a memory operand needs a base register")),
            [(base, None, _)] => (*base, None),
            [(reg, Some(2), at)] => (*reg, Some(index(*reg, 1, *at)?)),
            [(_, Some(_), at)] => {
                return Err(self.error(
                    *at,
                    "a memory operand needs a base register: [index*scale] alone is not supported",
                ));
            }
            [(base, None, _), (idx, Some(f), at)] | [(idx, Some(f), at), (base, None, _)] => {
                (*base, Some(index(*idx, *f, *at)?))
            }
            [(Reg::Rsp, None, _), (other, None, at)] | [(other, None, at), (Reg::Rsp, None, _)] => {
                (Reg::Rsp, Some(index(*other, 1, *at)?))
            }
            [(base, None, _), (idx, None, at)] => (*base, Some(index(*idx, 1, *at)?)),
            [_, (_, Some(_), at)] => {
                return Err(self.error(*at, "only one register can be scaled"));
            }
            [_, _, (_, _, at), ..] => {
                return Err(self.error(*at, "a memory operand has at most two registers"));
            }
        };
        Ok(Mem { base, index, disp })
    }

    fn instruction(
        &self,
        mnemonic: &str,
        column: usize,
        operands: &[(Operand<'t>, usize)],
    ) -> Result<Statement> {
        use Operand as O;
        let inst = |inst| Ok(Statement::Inst(inst));
        let wrong = || -> Result<Statement> {
            let forms = forms(mnemonic);
            let written = operands
                .iter()
                .map(|(o, _)| kind(o))
                .collect::<Vec<_>>()
                .join(", ");
            let written = if written.is_empty() {
                "no operands".to_string()
            } else {
                written
            };
            Err(self.error(
                column,
                format!("`{mnemonic}` does not take {written}; supported: {forms}"),
            ))
        };
        let jump = mnemonic == "jmp"
            || mnemonic
                .strip_prefix('j')
                .and_then(Cond::from_suffix)
                .is_some();
        if !jump
            && let Some((O::Name(name), at)) =
                operands.iter().find(|(o, _)| matches!(o, O::Name(_)))
        {
            return Err(self.error(
                *at,
                format!("unknown register `{name}` (a label can only be a jump target)"),
            ));
        }
        if let Some(op) = AluOp::ALL.into_iter().find(|op| op.mnemonic() == mnemonic) {
            return match operands {
                [(O::Reg(d), _), (O::Reg(s), _)] => inst(Inst::Alu(op, *d, Src::Reg(*s))),
                [(O::Reg(d), _), (O::Imm { value, size }, at)] => {
                    inst(Inst::Alu(op, *d, self.src(*value, *size, *at)?))
                }
                _ => wrong(),
            };
        }
        if let Some(op) = UnaryOp::ALL
            .into_iter()
            .find(|op| op.mnemonic() == mnemonic)
        {
            return match operands {
                [(O::Reg(r), _)] => inst(Inst::Unary(op, *r)),
                _ => wrong(),
            };
        }
        let shift = match mnemonic {
            "sal" => Some(ShiftOp::Shl),
            _ => ShiftOp::ALL
                .into_iter()
                .find(|op| op.mnemonic() == mnemonic),
        };
        if let Some(op) = shift {
            return match operands {
                [(O::Reg(r), _), (O::Imm { value, size }, at)] => {
                    if *size != ImmSize::Any {
                        return Err(self.error(*at, "a shift count takes no size"));
                    }
                    match u8::try_from(*value) {
                        Ok(n) if n <= 63 => inst(Inst::Shift(op, *r, n)),
                        _ => Err(self.error(
                            *at,
                            format!(
                                "shift count {value} is out of range: a 64-bit register shifts by 0 to 63"
                            ),
                        )),
                    }
                }
                _ => wrong(),
            };
        }
        if let Some(cond) = mnemonic.strip_prefix('j').and_then(Cond::from_suffix) {
            return match operands {
                [(O::Name(name), _)] => Ok(Statement::Jump(Some(cond), name.to_string())),
                _ => wrong(),
            };
        }
        match (mnemonic, operands) {
            ("mov", [(O::Reg(d), _), (O::Reg(s), _)]) => inst(Inst::Mov(*d, *s)),
            ("mov", [(O::Reg(d), _), (O::Imm { value, size }, at)]) => {
                inst(self.mov_imm(*d, *value, *size, *at)?)
            }
            ("mov", [(O::Reg(d), _), (O::Mem(m), _)]) => inst(Inst::Load(*d, *m)),
            ("mov", [(O::Mem(m), _), (O::Reg(s), _)]) => inst(Inst::Store(*m, *s)),
            ("mov", [(O::Mem(_), _), (O::Mem(_), at)]) => Err(self.error(
                *at,
                "x86-64 has no memory-to-memory mov: load into a register first",
            )),
            ("test", [(O::Reg(d), _), (O::Reg(s), _)]) => inst(Inst::Test(*d, Src::Reg(*s))),
            ("test", [(O::Reg(d), _), (O::Imm { value, size }, at)]) => {
                inst(Inst::Test(*d, self.src(*value, *size, *at)?))
            }
            ("imul", [(O::Reg(d), _), (O::Reg(s), _)]) => inst(Inst::Imul(*d, *s)),
            ("lea", [(O::Reg(d), _), (O::Mem(m), _)]) => inst(Inst::Lea(*d, *m)),
            ("push", [(O::Reg(r), _)]) => inst(Inst::Push(*r)),
            ("pop", [(O::Reg(r), _)]) => inst(Inst::Pop(*r)),
            ("call", [(O::Reg(r), _)]) => inst(Inst::Call(*r)),
            ("ret", []) => inst(Inst::Ret),
            ("nop", []) => inst(Inst::Nop),
            ("jmp", [(O::Name(name), _)]) => Ok(Statement::Jump(None, name.to_string())),
            ("db", [_, ..]) => operands
                .iter()
                .map(|(o, at)| match o {
                    O::Imm {
                        value,
                        size: ImmSize::Any,
                    } if (-128..=255).contains(value) => Ok(*value as u8),
                    _ => Err(self.error(*at, "`db` takes numbers from -128 to 255")),
                })
                .collect::<Result<Vec<u8>>>()
                .map(Statement::Bytes),
            _ => wrong(),
        }
    }

    /// An immediate of a two-operand instruction: 32 bits, sign-extended to 64.
    fn src(&self, value: i128, size: ImmSize, at: usize) -> Result<Src> {
        let v = self.imm32(value, at)?;
        Ok(match size {
            ImmSize::Strict(_) => Src::from(Imm32(v)),
            ImmSize::Any | ImmSize::Hint(_) => Src::Imm(v),
        })
    }

    /// A value that must fit in a sign-extended 32-bit immediate. A 64-bit pattern such as
    /// 0xffffffffffffffff is read as the signed value it stands for (-1), as NASM reads it.
    fn imm32(&self, value: i128, at: usize) -> Result<i32> {
        self.imm64(value, at).and_then(|v| {
            i32::try_from(v).map_err(|_| {
                self.error(
                    at,
                    format!(
                        "immediate {value} does not fit in 32 bits sign-extended (-0x80000000 to 0x7fffffff): only mov takes a 64-bit immediate"
                    ),
                )
            })
        })
    }

    fn imm64(&self, value: i128, at: usize) -> Result<i64> {
        if let Ok(v) = i64::try_from(value) {
            Ok(v)
        } else if let Ok(v) = u64::try_from(value) {
            Ok(v as i64)
        } else {
            Err(self.error(at, format!("immediate {value} does not fit in 64 bits")))
        }
    }

    fn mov_imm(&self, dst: Reg, value: i128, size: ImmSize, at: usize) -> Result<Inst> {
        Ok(match size {
            // NASM reads `mov r64, dword v` as the sign-extended form, strict or not.
            ImmSize::Hint(4) | ImmSize::Strict(4) => Inst::MovImm32(dst, self.imm32(value, at)?),
            ImmSize::Strict(_) => Inst::MovImm64(dst, self.imm64(value, at)?),
            ImmSize::Any | ImmSize::Hint(_) => Inst::MovImm(dst, self.imm64(value, at)?),
        })
    }
}

/// A register named `word`, `Ok(None)` if it is no register name, or an error for a register
/// the emitter does not encode (8-, 16- and 32-bit, vector, segment).
fn register(word: &str) -> Result<Option<Reg>, String> {
    if let Ok(reg) = word.parse::<Reg>() {
        return Ok(Some(reg));
    }
    let lower = word.to_ascii_lowercase();
    let partial = [
        "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "ax", "cx", "dx", "bx", "sp", "bp",
        "si", "di", "al", "cl", "dl", "bl", "ah", "ch", "dh", "bh", "spl", "bpl", "sil", "dil",
        "rip",
    ];
    let numbered = lower
        .strip_prefix('r')
        .map(|r| r.trim_end_matches(['d', 'w', 'b']))
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (8..=15).contains(&n));
    let vector = ["xmm", "ymm", "zmm", "mm", "k", "cr", "dr"]
        .iter()
        .any(|p| {
            lower
                .strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
    if partial.contains(&lower.as_str()) || numbered || vector {
        return Err(format!(
            "register `{word}` is not supported: the emitter encodes the 64-bit general registers only"
        ));
    }
    Ok(None)
}

fn kind(operand: &Operand<'_>) -> &'static str {
    match operand {
        Operand::Reg(_) => "a register",
        Operand::Imm { .. } => "an immediate",
        Operand::Mem(_) => "memory",
        Operand::Name(_) => "a label",
    }
}

fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Number(n) => format!("`{n}`"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}

/// The operand forms of a mnemonic, for messages; empty for an unknown mnemonic.
fn forms(mnemonic: &str) -> &'static str {
    match mnemonic {
        "mov" => "reg, reg | reg, imm | reg, [mem] | [mem], reg",
        "add" | "or" | "and" | "sub" | "xor" | "cmp" | "test" => "reg, reg | reg, imm32",
        "inc" | "dec" | "not" | "neg" | "push" | "pop" | "call" => "reg",
        "imul" => "reg, reg",
        "shl" | "sal" | "shr" | "sar" => "reg, imm (0 to 63)",
        "lea" => "reg, [mem]",
        "ret" | "nop" => "no operands",
        "jmp" => "label",
        "db" => "numbers",
        m if m.strip_prefix('j').and_then(Cond::from_suffix).is_some() => "label",
        _ => "",
    }
}
