//! Labels and jump layout: a jump is recorded with its label while code is emitted, and
//! [`Assembler::finish`] chooses each jump's size (short until its displacement does not fit)
//! and writes the finished [`Program`].

use polylink_exec::{CodeBuffer, SealedCode};

use crate::encode::Assembler;
use crate::encode::fits_i8;
use crate::inst::Cond;
use crate::{Error, Result};

/// A position in the code that jumps can target before or after it is bound. It belongs to the
/// assembler that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub(crate) owner: u32,
    pub(crate) index: u32,
}

impl Label {
    /// The label's number in its assembler, in the order they were made (for messages).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Where a label was bound: a position in `code` (which holds no jump bytes) and how many jumps
/// come before it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bound {
    pub(crate) at: usize,
    pub(crate) jumps_before: usize,
}

/// A jump whose size is chosen at [`Assembler::finish`]: it sits between `code[..at]` and
/// `code[at..]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jump {
    pub(crate) at: usize,
    pub(crate) label: u32,
    pub(crate) cond: Option<Cond>,
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

impl Assembler {
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
    pub(crate) fn own(&self, label: Label) -> Result<usize> {
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
    pub(crate) fn position(&self) -> Bound {
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
        Ok(CodeBuffer::from_code(&self.code)?.seal()?)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.code
    }
}
