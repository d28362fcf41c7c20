//! The text front end: instructions in NASM syntax, for the subset the emitter encodes.
//!
//! Statements are separated by newlines or `;` (so `;` does not start a comment, as it does in
//! NASM). A statement is an optional `label:` and an optional instruction. Registers are the
//! 64-bit ones; immediates are decimal, `0x` hexadecimal or `0b` binary, optionally negative,
//! with NASM's `strict dword` / `strict qword` to force a 4- or 8-byte encoding; memory operands
//! are `[base + index*scale + disp]` with an optional `qword`. `db` emits bytes. Anything else is
//! refused with its line, column and the reason.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

mod lex;
mod parser;

use crate::{Assembler, Cond, Inst, Label, Program};
use crate::{Error, Result};
use lex::lex;
use parser::Parser;

/// A statement of the text, before labels are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    Inst(Inst),
    /// `name:`
    Label(String),
    /// `jmp name` (no condition) or `j<cc> name`.
    Jump(Option<Cond>, String),
    /// `db 1, 2, 3`
    Bytes(Vec<u8>),
}

/// A statement and where it starts (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub statement: Statement,
    pub line: usize,
    pub column: usize,
}

/// What [`assemble`] made of a text.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub program: Program,
    /// Instructions and `db` statements, not counting labels.
    pub statements: usize,
}

/// A label of the text: the emitter's label, where it was defined, where it was first used.
type LabelUse = (Label, Option<(usize, usize)>, (usize, usize));

/// Parses and encodes a text.
pub fn assemble(text: &str) -> Result<Assembled> {
    let statements = parse(text)?;
    let mut asm = Assembler::with_capacity(text.len());
    let mut labels: HashMap<&str, LabelUse> = HashMap::new();
    let mut count = 0;
    for located in &statements {
        let at = (located.line, located.column);
        let fail = |reason: String| syntax(at.0, at.1, reason);
        match &located.statement {
            Statement::Label(name) => {
                let entry = labels
                    .entry(name.as_str())
                    .or_insert_with(|| (asm.label(), None, at));
                if let Some((line, column)) = entry.1 {
                    return Err(fail(format!(
                        "label `{name}` is defined twice, first at {line}:{column}"
                    )));
                }
                entry.1 = Some(at);
                asm.bind(entry.0)?;
                continue;
            }
            Statement::Jump(cond, name) => {
                let label = match labels.entry(name.as_str()) {
                    Entry::Occupied(e) => e.get().0,
                    Entry::Vacant(e) => e.insert((asm.label(), None, at)).0,
                };
                match cond {
                    None => asm.jmp(label)?,
                    Some(cond) => asm.jcc(*cond, label)?,
                };
            }
            Statement::Inst(inst) => {
                asm.inst(inst).map_err(|e| fail(e.to_string()))?;
            }
            Statement::Bytes(bytes) => {
                asm.raw(bytes);
            }
        }
        count += 1;
    }
    let mut undefined: Vec<_> = labels
        .iter()
        .filter(|(_, (_, defined, _))| defined.is_none())
        .map(|(name, (_, _, used))| (*used, *name))
        .collect();
    undefined.sort();
    if let Some(&((line, column), name)) = undefined.first() {
        return Err(syntax(
            line,
            column,
            format!("label `{name}` is used but never defined"),
        ));
    }
    Ok(Assembled {
        program: asm.finish()?,
        statements: count,
    })
}

pub(crate) fn syntax(line: usize, column: usize, reason: String) -> Error {
    Error::Syntax {
        line,
        column,
        reason,
    }
}

/// Splits a text into statements and parses each one.
pub fn parse(text: &str) -> Result<Vec<Located>> {
    let mut out = Vec::new();
    for (l, line) in text.lines().enumerate() {
        let mut start = 0;
        for piece in line.split(';') {
            let column = start + 1;
            start += piece.chars().count() + 1;
            let tokens = lex(piece, l + 1, column)?;
            Parser {
                tokens: &tokens,
                pos: 0,
                line: l + 1,
                end_column: column + piece.chars().count(),
            }
            .statement(&mut out)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reg::*;
    use crate::{Index, Mem, Scale};

    fn hex(text: &str) -> String {
        polylink_exec::hex(assemble(text).unwrap().program.code())
    }

    fn error(text: &str) -> String {
        assemble(text).unwrap_err().to_string()
    }

    #[test]
    fn add_is_seven_bytes() {
        assert_eq!(
            hex("mov rax, rdi; add rax, rsi; ret"),
            "48 89 f8 48 01 f0 c3"
        );
    }

    #[test]
    fn statements_split_on_newlines_and_semicolons() {
        let parsed = parse("nop\n\n  ret ; nop;").unwrap();
        let at: Vec<_> = parsed.iter().map(|l| (l.line, l.column)).collect();
        assert_eq!(at, [(1, 1), (3, 3), (3, 9)]);
    }

    #[test]
    fn memory_operands_take_nasm_order() {
        let mem = |text: &str| match &parse(&format!("lea rax, {text}")).unwrap()[0].statement {
            Statement::Inst(Inst::Lea(_, m)) => *m,
            other => panic!("{other:?}"),
        };
        assert_eq!(mem("[rdi]"), Mem::base(Rdi));
        assert_eq!(
            mem("[rax + rsp]"),
            Mem::base(Rsp).index(Index::RAX, Scale::S1)
        );
        assert_eq!(
            mem("[8*rsi + rdi - 16]"),
            Mem::base(Rdi).index(Index::RSI, Scale::S8).disp(-16)
        );
        assert_eq!(mem("[r12*2]"), Mem::base(R12).index(Index::R12, Scale::S1));
        assert_eq!(mem("qword [rbp + 0x10 - 8]"), Mem::at(Rbp, 8));
    }

    #[test]
    fn errors_name_the_place_and_the_fault() {
        let cases = [
            ("mov rax, rxx", "1:10: unknown"),
            ("nop\nmov eax, 1", "2:5: register `eax` is not supported"),
            (
                "add rax, 0x80000000",
                "1:10: immediate 2147483648 does not fit",
            ),
            ("shl rax, 64", "1:10: shift count 64 is out of range"),
            ("lea rax, [rdi + rsp*2]", "1:17: rsp cannot be an index"),
            ("lea rax, [rdi + rsi*3]", "1:17: scale 3 is not"),
            (
                "jmp nowhere",
                "1:1: label `nowhere` is used but never defined",
            ),
            (
                "a: nop; a: ret",
                "1:9: label `a` is defined twice, first at 1:1",
            ),
            (
                "movq rax, rdi",
                "1:1: unknown or unsupported instruction `movq`",
            ),
            (
                "mov [rax], [rdi]",
                "1:12: x86-64 has no memory-to-memory mov",
            ),
            (
                "push 5",
                "1:1: `push` does not take an immediate; supported: reg",
            ),
            ("ret rax", "1:1: `ret` does not take a register"),
            ("mov rax, rdi # copy", "1:14: unexpected character `#`"),
            (
                "mov rax, rdi rsi",
                "1:14: unexpected `rsi` after the operands",
            ),
            ("mov rax,", "1:9: expected an operand"),
            (
                "lea rax, [rdi + 0x100000000]",
                "1:10: displacement 4294967296 does not fit",
            ),
        ];
        for (text, want) in cases {
            let got = error(text);
            assert!(
                got.starts_with(want),
                "{text:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert!(error("nop ; é").starts_with("1:7: unexpected character `é`"));
        assert!(error("é ; bogus").starts_with("1:1: unexpected character"));
        assert!(error("nop ;é; bogus").starts_with("1:6: unexpected"));
        assert!(error("nop; ret ;  bogus").starts_with("1:13: unknown or unsupported"));
    }

    #[test]
    fn a_64_bit_pattern_reads_as_its_signed_value() {
        assert_eq!(hex("add rax, 0xffffffffffffffff"), "48 83 c0 ff");
        assert_eq!(hex("mov rax, 0xffffffffffffffff"), "48 c7 c0 ff ff ff ff");
    }
}
