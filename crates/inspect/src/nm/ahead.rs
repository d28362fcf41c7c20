//! Demangling ahead: with `-C`, the names of one large symbol table demangled on the other
//! cores straight from the table, while this thread reads and sorts the symbols; each line
//! then takes its name's spelling by the symbol's index instead of demangling it.
//!
//! Demangling is most of `nm -C`'s work, and needs nothing but the names, which an entry's
//! first field leads to ([`SymbolNames`]): the work can start before the symbols are read.
//! What is kept is exactly what [`Demangler::demangle_name`] makes of each name, so a line
//! is spelled as it would be without it.

use super::demangle::{Demangler, may_demangle};
use super::line::Spelled;
use crate::symbols::SymbolNames;

/// The spellings of one symbol table's names, in pieces demangled apart.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    /// The pieces, in the table's order, each of `per_piece` symbols (the last of fewer).
    pieces: Vec<Demangled>,
    per_piece: usize,
}

/// One piece of a symbol table: its symbols `start..end` and their spellings.
#[derive(Debug, Default)]
pub(super) struct Demangled {
    start: usize,
    end: usize,
    /// For each symbol of the piece: where its spelling ends in `text` (it starts where the
    /// previous symbol's ends), with [`PLAIN`] set when its name does not demangle.
    ends: Vec<u32>,
    /// The spellings, one after another.
    text: Vec<u8>,
}

/// In [`Demangled::ends`]: a name that does not demangle (the end is then the previous one).
const PLAIN: u32 = 1 << 31;

/// The symbol table's pieces, not yet demangled: about `count` of them, each with room for
/// what it will hold, taken here, so that the threads that demangle them need not grow their
/// own heaps (each step of which, in a process with threads running on two CPUs, holds up the
/// other thread's page faults).
pub(super) fn pieces(names: &SymbolNames<'_>, count: usize) -> (Vec<Demangled>, usize) {
    let per_piece = names.len().div_ceil(count.max(1)).max(1);
    let pieces = (0..names.len())
        .step_by(per_piece)
        .map(|start| {
            let end = (start + per_piece).min(names.len());
            Demangled {
                start,
                end,
                ends: Vec::with_capacity(end - start),
                // Most names of a large table are C++ names of some 60 bytes, and a demangled
                // name is rarely three times as long as its mangled one.
                text: Vec::with_capacity((end - start) * 128),
            }
        })
        .collect();
    (pieces, per_piece)
}

/// Demangles the names of `piece`'s symbols, as `demangler` spells them.
pub(super) fn demangle(
    names: &SymbolNames<'_>,
    mut piece: Demangled,
    demangler: Demangler<'_>,
) -> Demangled {
    for index in piece.start..piece.end {
        let name = names.name(index).unwrap_or_default();
        let demangled = may_demangle(name) && demangler.demangle_name(&mut piece.text, name);
        // Past 2 GiB of spellings, the ends no longer say where they are: nothing is known.
        let Ok(end) = u32::try_from(piece.text.len()) else {
            piece.ends.clear();
            break;
        };
        if end >= PLAIN {
            piece.ends.clear();
            break;
        }
        piece.ends.push(if demangled { end } else { end | PLAIN });
    }
    piece
}

impl Ahead {
    /// The pieces [`pieces`] cut, each demangled by [`demangle`], in order.
    pub(super) fn new(pieces: Vec<Demangled>, per_piece: usize) -> Self {
        Ahead { pieces, per_piece }
    }

    /// The spelling of symbol `index`'s name: `None` when it is not known (a synthetic
    /// symbol, or a piece that could not say).
    pub(super) fn spelled(&self, index: u32) -> Spelled<'_> {
        let index = usize::try_from(index).ok()?;
        let piece = self.pieces.get(index / self.per_piece)?;
        let at = index.checked_sub(piece.start)?;
        let end = *piece.ends.get(at)?;
        if end & PLAIN != 0 {
            return Some(None);
        }
        let start = match at {
            0 => 0,
            _ => piece.ends[at - 1] & !PLAIN,
        };
        piece.text.get(start as usize..end as usize).map(Some)
    }
}
